//! The organisation function: an organisation's own settings, read by its Owners and Admins and
//! changed by its Owners (`GET` and `PATCH /organisation`): its name, its members' session
//! limits (AUTHN-8) and its IP allowlist (ORG-3). Storage is `quire_store::organisation`.

pub mod domain;

use domain::{check_limits, OrganisationPatch, Refused};
use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::rbac::Permission::{OrganisationManage, OrganisationRead};
use quire_http::conditional::{require_match, with_etag};
use quire_http::json::{ok, parse_body};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::organisation::OrganisationChanged;
use quire_store::{Organisation, StoreError};
use serde::Serialize;
use std::sync::Arc;

/// Largest accepted `PATCH /organisation` body: 100 of the longest IPv6 ranges, a name and a
/// reason, with room to spare.
pub const BODY_LIMIT: usize = 16 * 1024;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::GET,
            "/organisation",
            Access::Requires(OrganisationRead),
            Module::Platform,
            Effect::Reads,
            get,
        )
        .response_schema::<OrganisationView>(),
        Route::new(
            Method::PATCH,
            "/organisation",
            Access::Requires(OrganisationManage),
            Module::Platform,
            Effect::Writes(&[Action::OrganisationUpdated]),
            update,
        )
        .request_schema::<OrganisationPatch>()
        .response_schema::<OrganisationView>()
        .problem(
            "400",
            "the body is malformed, names no setting, or a value is out of bounds (`invalid-body`, \
             naming the field), or `If-Match` does not parse (`bad-request`)",
        )
        .problem(
            "409",
            "the IP allowlist excludes the address this request comes from and `confirmLockout` is \
             not `true` (`lockout-not-confirmed`)",
        )
        .accepts_body(BODY_LIMIT)
        .while_read_only(),
    ])
    .expect("organisation route table")
}

/// The organisation's settings. `ETag` carries `version`, which a `PATCH` names in `If-Match`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct OrganisationView {
    id: String,
    name: String,
    /// What its status means now (ORG-1): `active`, `trial`, `trial-ended` (read-only),
    /// `suspended` (read-only), `locked` or `pending`.
    status: &'static str,
    /// The idle session limit it set, in minutes; `null`: the deployment's default.
    session_idle_minutes: Option<u32>,
    /// The absolute session limit it set, in hours; `null`: the deployment's default.
    session_max_hours: Option<u32>,
    /// The CIDR ranges its members' requests may come from; empty: anywhere.
    ip_allowlist: Vec<String>,
    /// Counts the settings' changes from 1.
    version: u64,
}

impl OrganisationView {
    fn of(record: &Organisation) -> Self {
        OrganisationView {
            id: record.id().to_string(),
            name: record.name().to_owned(),
            status: record.lifecycle(std::time::SystemTime::now()).as_str(),
            session_idle_minutes: record.session_idle_minutes(),
            session_max_hours: record.session_max_hours(),
            ip_allowlist: record.ip_allowlist().to_vec(),
            version: record.version(),
        }
    }
}

fn answer(record: &Organisation) -> HandlerResult {
    Ok(with_etag(ok(&OrganisationView::of(record))?, record.version()))
}

async fn get(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let record = app.store.organisation(caller.scope()).await?;
    answer(&record)
}

fn refused(refused: Refused) -> Problem {
    Problem::invalid_body(refused.detail, refused.field)
}

/// Changes the settings the body names, against the version in `If-Match` (428 without, 412
/// when stale), recording `organisation.updated` with the reason. A change to what is already
/// set writes nothing and answers as a read would.
async fn update(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: OrganisationPatch = parse_body(&req)?;
    let change = input.change().map_err(refused)?;
    let current = app.store.organisation(caller.scope()).await?;
    require_match(&req, current.version())?;
    // Only a change of the limits is checked against them (a stored pair is not the caller's).
    if change.session_idle_minutes.is_some() || change.session_max_hours.is_some() {
        check_limits(
            change.session_idle_minutes.unwrap_or(current.session_idle_minutes()),
            change.session_max_hours.unwrap_or(current.session_max_hours()),
            change.session_idle_minutes.is_some(),
        )
        .map_err(refused)?;
    }
    // ORG-3: whoever saves a list must still be allowed by it, or say they mean it.
    if let Some(list) = &change.ip_allowlist {
        let keeps_sender = ctx.viewer().is_some_and(|viewer| list.allows(viewer));
        if list.is_restricted() && !keeps_sender && !input.confirm_lockout {
            return Err(Problem::lockout_not_confirmed());
        }
    }
    let changed = app
        .store
        .change_organisation(
            caller.scope(),
            ctx.audit_context()?,
            &current,
            &change,
            input.reason.as_str(),
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict => Problem::precondition_failed(),
            other => other.into(),
        })?;
    match changed {
        OrganisationChanged::Changed(record) | OrganisationChanged::Unchanged(record) => answer(&record),
    }
}
