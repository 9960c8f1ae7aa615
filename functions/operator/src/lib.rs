//! The operator function: what the platform's operators set on a customer's organisation
//! (RBAC-6): its lifecycle (ORG-1: status, trial end), its subscription (ORG-1 billing) and the
//! modules of its plan (ORG-2), which its own administrators cannot change; and SSO-only off
//! (AUTHN-10) and the IP allowlist cleared (ORG-3), the ways back for an organisation its
//! identity provider or its allowlist shuts out; and
//! break-glass sessions (`/operator/organisations/{orgId}/break-glass`), which open one
//! organisation's records to read for a while (`quire_store::break_glass`). `GET` and `PATCH
//! /operator/organisations/{orgId}`, for operators only (`Access::Operator`: the operators'
//! Cognito group and a membership of their own organisation). Every change is recorded with
//! its reason in the organisation's trail and in the platform's, in one transaction. Storage is
//! `quire_store::organisation` (`Store::operate_organisation`).

pub mod domain;

use domain::{Refused, TermsPatch};
use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::ids::OrgId;
use quire_core::text::Reason;
use quire_http::conditional::{require_match, with_etag};
use quire_http::json::{ok, parse_body, respond, rfc3339};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::break_glass::{BreakGlass, BreakGlassRefused, MAX_MINUTES};
use quire_store::organisation::OrganisationChanged;
use quire_store::{Organisation, StoreError, Stored};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::GET,
            "/operator/organisations/{orgId}",
            Access::Operator,
            Module::Platform,
            Effect::Reads,
            get,
        )
        .response_schema::<TermsView>()
        .problem("404", "no such organisation (`not-found`)"),
        Route::new(
            Method::PATCH,
            "/operator/organisations/{orgId}",
            Access::Operator,
            Module::Platform,
            Effect::Writes(&[Action::OperatorOrganisationChanged]),
            update,
        )
        .request_schema::<TermsPatch>()
        .response_schema::<TermsView>()
        .problem(
            "400",
            "the body is malformed, names no term, or a value is out of bounds (`invalid-body`, \
             naming the field), or `If-Match` does not parse (`bad-request`)",
        )
        .problem("404", "no such organisation (`not-found`)")
        .problem(
            "409",
            "the organisation awaits its Owner's confirmation (`conflict`): registration alone \
             changes it until then",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/operator/organisations/{orgId}/break-glass",
            Access::Operator,
            Module::Platform,
            Effect::Writes(&[Action::OperatorBreakGlassOpened]),
            open_break_glass,
        )
        .request_schema::<BreakGlassRequest>()
        .response_schema::<BreakGlassView>()
        .problem(
            "400",
            "the body is malformed or out of bounds (`invalid-body`, naming the field: minutes 1 \
             to 60)",
        )
        .problem(
            "403",
            "the session's second factor was passed more than 15 minutes ago: sign in again with \
             your code (`second-factor-too-old`), or any refusal of the pipeline",
        )
        .problem("404", "no such organisation (`not-found`)")
        .problem(
            "409",
            "the session has a break-glass session into it that has not ended, or the \
             organisation serves no records now: pending, locked or closed (`conflict`)",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::GET,
            "/operator/organisations/{orgId}/break-glass",
            Access::Operator,
            Module::Platform,
            Effect::Reads,
            current_break_glass,
        )
        .response_schema::<BreakGlassState>(),
        Route::new(
            Method::DELETE,
            "/operator/organisations/{orgId}/break-glass",
            Access::Operator,
            Module::Platform,
            Effect::Writes(&[Action::OperatorBreakGlassClosed]),
            close_break_glass,
        )
        .response_schema::<BreakGlassState>(),
    ])
    .expect("operator route table")
}

/// An organisation's terms as its operators see them. `ETag` carries `version` (the
/// organisation's, which its own settings move too), which a `PATCH` names in `If-Match`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TermsView {
    id: String,
    name: String,
    /// Its status as set: `pending`, `active`, `trial`, `suspended` or `closed`.
    status: &'static str,
    /// What the status means now (ORG-1): as `status`, or `trial-ended` (read-only) and
    /// `locked` for a trial past its end.
    lifecycle: &'static str,
    /// When its trial ends (RFC 3339, UTC), for a trial.
    trial_ends_at: Option<String>,
    /// `active`, or `suspended` (its records can be read but not changed).
    subscription: &'static str,
    /// The modules of its plan; `null`: every module.
    modules: Option<Vec<String>>,
    /// Whether its members sign in only through its identity provider (its Owner's to turn on).
    sso_only: bool,
    /// The CIDR ranges its members' requests may come from; empty: anywhere (its Owner's to set).
    ip_allowlist: Vec<String>,
    /// Counts the organisation's changes from 1.
    version: u64,
}

impl TermsView {
    fn of(record: &Organisation) -> Self {
        use quire_store::OrgStatus;
        TermsView {
            id: record.id().to_string(),
            name: record.name().to_owned(),
            status: match record.status() {
                OrgStatus::Pending => "pending",
                OrgStatus::Active => "active",
                OrgStatus::Trial => "trial",
                OrgStatus::Suspended => "suspended",
                OrgStatus::Closed => "closed",
            },
            lifecycle: record.lifecycle(std::time::SystemTime::now()).as_str(),
            trial_ends_at: record
                .trial_ends_at()
                .map(|at| humantime::format_rfc3339_millis(at).to_string()),
            subscription: record.plan().subscription_name(),
            modules: record.plan().modules().map(<[String]>::to_vec),
            sso_only: record.sso_only(),
            ip_allowlist: record.ip_allowlist().to_vec(),
            version: record.version(),
        }
    }
}

fn answer(record: &Organisation) -> HandlerResult {
    Ok(with_etag(ok(&TermsView::of(record))?, record.version()))
}

/// The organisation the path names, as the operator may read it: 404 for an id that does not
/// parse, no organisation, the platform's trail and the operators' own organisation.
async fn organisation(app: &App, ctx: &RequestCtx) -> Result<Stored<Organisation>, Problem> {
    let org = OrgId::parse(ctx.param("orgId")?).map_err(|_| Problem::not_found())?;
    app.store
        .operated_organisation(ctx.caller()?, &org)
        .await?
        .ok_or_else(Problem::not_found)
}

async fn get(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    answer(organisation(&app, &ctx).await?.record())
}

/// Sets the terms the body names, against the version in `If-Match` (428 without, 412 when
/// stale), recording `operator.organisation.changed` with the reason in the organisation's
/// trail and the platform's. Applies on the organisation's members' next request. A change to
/// what is already set writes nothing and answers as a read would.
async fn update(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: TermsPatch = parse_body(&req)?;
    let change = input
        .change()
        .map_err(|Refused { detail, field }| Problem::invalid_body(detail, field))?;
    let current = organisation(&app, &ctx).await?;
    require_match(&req, current.version())?;
    // A registration awaiting its Owner's email confirmation is the registration's alone
    // (AUTHN-6): confirming or expiring it writes the record back.
    if current.status() == quire_store::OrgStatus::Pending {
        return Err(Problem::conflict(
            "the organisation awaits its Owner's confirmation; its terms can be set once it is active",
        ));
    }
    let changed = app
        .store
        .operate_organisation(
            ctx.caller()?,
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BreakGlassRequest {
    /// How long, in minutes: 1 to 60.
    #[schema(minimum = 1, maximum = 60)]
    minutes: u32,
    /// Why (21 CFR Part 11 §11.10(e)): recorded with the opening, in the organisation's trail
    /// and the platform's.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    reason: Reason,
}

/// A break-glass session of the caller's session into an organisation (RBAC-6). Requests that
/// carry `Quire-Break-Glass: <organisationId>` are served in it, read-only, until it ends.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct BreakGlassView {
    /// 16 hex digits: names it in the trails.
    id: String,
    organisation_id: String,
    /// The operator's user id.
    operator: String,
    reason: String,
    /// RFC 3339, UTC.
    started_at: String,
    /// RFC 3339, UTC: it ends then unless closed before.
    until: String,
    /// RFC 3339, UTC; `null` unless it was closed.
    closed_at: Option<String>,
}

impl BreakGlassView {
    fn of(session: &BreakGlass) -> Self {
        BreakGlassView {
            id: session.id().to_owned(),
            organisation_id: session.org_id().to_string(),
            operator: session.operator().to_string(),
            reason: session.reason().to_owned(),
            started_at: rfc3339(session.started_at()),
            until: rfc3339(session.until()),
            closed_at: session.closed_at().map(rfc3339),
        }
    }
}

/// The session's break-glass session into the organisation: the one that still opens it
/// (`GET`), or the one just closed (`DELETE`); `null` when there is none.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct BreakGlassState {
    break_glass: Option<BreakGlassView>,
}

/// The organisation the path names; an id that does not parse names none (404).
fn path_org(ctx: &RequestCtx) -> Result<OrgId, Problem> {
    OrgId::parse(ctx.param("orgId")?).map_err(|_| Problem::not_found())
}

/// Opens the organisation to the caller's session, read-only, for the minutes asked, recording
/// `operator.break-glass.opened` with the reason in its trail and the platform's.
async fn open_break_glass(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: BreakGlassRequest = parse_body(&req)?;
    if !(1..=MAX_MINUTES).contains(&input.minutes) {
        return Err(Problem::invalid_body("minutes: must be 1 to 60", Some("minutes")));
    }
    let org = path_org(&ctx)?;
    let opened = app
        .store
        .open_break_glass(
            ctx.caller()?,
            ctx.audit_context()?,
            &org,
            input.minutes,
            input.reason.as_str(),
        )
        .await?;
    match opened {
        Ok(session) => respond(http::StatusCode::CREATED, &BreakGlassView::of(&session)),
        Err(BreakGlassRefused::NotFound) => Err(Problem::not_found()),
        Err(BreakGlassRefused::NotServing) => Err(Problem::conflict(
            "the organisation serves no records now: pending, locked or closed",
        )),
        Err(BreakGlassRefused::AlreadyOpen | BreakGlassRefused::Changed) => Err(Problem::conflict(
            "this session has a break-glass session into the organisation that has not ended: close it first",
        )),
        Err(BreakGlassRefused::SecondFactorTooOld) => Err(Problem::second_factor_too_old()),
        Err(BreakGlassRefused::OutOfBounds) => Err(Problem::invalid_body("minutes: must be 1 to 60", Some("minutes"))),
        Err(BreakGlassRefused::NotOpen) => Err(Problem::internal("a break-glass opening judged as a request")),
    }
}

async fn current_break_glass(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let open = app.store.open_break_glass_of(ctx.caller()?, &path_org(&ctx)?).await?;
    ok(&BreakGlassState {
        break_glass: open.as_ref().map(BreakGlassView::of),
    })
}

async fn close_break_glass(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let closed = app
        .store
        .close_break_glass(ctx.caller()?, ctx.audit_context()?, &path_org(&ctx)?)
        .await?;
    ok(&BreakGlassState {
        break_glass: closed.as_ref().map(BreakGlassView::of),
    })
}
