//! The organisation function: an organisation's own settings, read by its Owners and Admins and
//! changed by those its matrix lets manage it, its Owners by default (`GET` and `PATCH
//! /organisation`): its name, its members' session limits (AUTHN-8), its IP allowlist (ORG-3,
//! an Owner's alone), the email domains that may join and SSO-only (AUTHN-10, an Owner's alone);
//! its permission matrix (`GET /organisation/roles`, `PUT /organisation/roles/{role}`, RBAC-1);
//! and its identity provider at Cognito (`PUT /organisation/identity-provider`, AUTHN-10, an
//! Owner's alone). Storage is `quire_store::organisation`; Cognito's side is
//! `quire_http::identity::configure_identity_provider`.

pub mod domain;

use domain::{check_limits, IdentityProviderPut, OrganisationPatch, Refused, RolePermissions};
use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::rbac::Permission::{OrganisationManage, OrganisationRead};
use quire_core::rbac::{AdjustRefused, Permission, Role};
use quire_http::conditional::{require_match, with_etag};
use quire_http::json::{ok, parse_body};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::organisation::{OrganisationChange, OrganisationChanged};
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
            "the body is malformed, names no setting, a value is out of bounds, or `ssoOnly` is \
             turned on with no identity provider (`invalid-body`, naming the field), or \
             `If-Match` does not parse (`bad-request`)",
        )
        .problem(
            "403",
            "only an Owner sets the IP allowlist, `ssoOnly` or `impersonationWrites` \
             (`role-not-grantable`), or any refusal of the pipeline",
        )
        .problem(
            "409",
            "the IP allowlist excludes the address this request comes from, or `ssoOnly` is turned \
             on, and `confirmLockout` is not `true` (`lockout-not-confirmed`); or `ssoOnly` is \
             turned on while Cognito does not hold the identity provider (`conflict`)",
        )
        .accepts_body(BODY_LIMIT)
        .while_read_only(),
        Route::new(
            Method::GET,
            "/organisation/roles",
            Access::Requires(OrganisationRead),
            Module::Platform,
            Effect::Reads,
            get_roles,
        )
        .response_schema::<RolesView>(),
        Route::new(
            Method::PUT,
            "/organisation/roles/{role}",
            Access::Requires(OrganisationManage),
            Module::Platform,
            Effect::Writes(&[Action::OrganisationUpdated]),
            put_role,
        )
        .request_schema::<RolePermissions>()
        .response_schema::<RolesView>()
        .problem(
            "400",
            "the body is malformed, names a permission twice or one that does not exist, or gives \
             a role a permission it may never hold: a write one to a Viewer, an administering one \
             (`UserManage`, `OrganisationManage`) to a User or Viewer (`invalid-body`, naming the \
             field), or `If-Match` does not parse (`bad-request`)",
        )
        .problem(
            "403",
            "the Owner's permissions are fixed, or the caller does not hold a permission the role \
             grants now or will grant (`role-not-grantable`), or any refusal of the pipeline",
        )
        .problem("404", "no such role (`not-found`)")
        .accepts_body(4 * 1024),
        Route::new(
            Method::PUT,
            "/organisation/identity-provider",
            Access::Requires(OrganisationManage),
            Module::Platform,
            Effect::Writes(&[Action::OrganisationUpdated]),
            put_identity_provider,
        )
        .request_schema::<IdentityProviderPut>()
        .response_schema::<OrganisationView>()
        .problem(
            "400",
            "the body is malformed, a field of the other type is given or one the type needs is \
             missing, or a value is out of bounds (`invalid-body`, naming the field), or \
             `If-Match` does not parse (`bad-request`)",
        )
        .problem(
            "403",
            "only an Owner sets the identity provider (`role-not-grantable`), or any refusal of the \
             pipeline",
        )
        .problem(
            "422",
            "Cognito refused the configuration (`identity-provider-refused`): the organisation's \
             record holds it, `ssoOnly` cannot be turned on until Cognito takes one",
        )
        .problem(
            "503",
            "Cognito did not answer (`unavailable`): the organisation's record holds the \
             configuration; send the request again with the record's new `ETag`",
        )
        .accepts_body(8 * 1024),
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
    /// The email domains whose people may join with a code; empty: any.
    join_domains: Vec<String>,
    /// Whether its members sign in only through its identity provider (a password sign-in is
    /// refused with 403 `sso-required`).
    sso_only: bool,
    /// Whether an administrator impersonating a member may write as them (RBAC-5); `false`:
    /// impersonation only reads.
    impersonation_writes: bool,
    /// Its document types (DOC-1): the seeded six until it sets its own; `null` when what is
    /// stored does not read (no document can be created until they are set again).
    document_types: Option<quire_core::documents::DocumentTypes>,
    /// Its identity provider (OIDC or SAML), as configured at Cognito; never its client secret.
    identity_provider: Option<ProviderView>,
    /// Its subscription, as the platform's operators set it: `active`, or `suspended` (its
    /// records can be read but not changed).
    subscription: &'static str,
    /// The modules of its plan, as the platform's operators set it (`Documents`, `Audit`; the
    /// platform's own routes are in every plan); `null`: every module.
    modules: Option<Vec<String>>,
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
            // As stored: a list that does not read shows as it is, not as the empty list that
            // would say anyone may join.
            join_domains: record.join_domains_stored().to_vec(),
            subscription: record.plan().subscription_name(),
            modules: record.plan().modules().map(<[String]>::to_vec),
            sso_only: record.sso_only(),
            impersonation_writes: record.impersonation_writes(),
            document_types: record.document_types(),
            identity_provider: record.identity_provider().map(ProviderView::of),
            version: record.version(),
        }
    }
}

/// An organisation's identity provider as shown: never its client secret.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProviderView {
    /// `OIDC` or `SAML`.
    #[serde(rename = "type")]
    kind: String,
    /// Its name among the user pool's identity providers.
    name: String,
    /// OIDC: the issuer.
    issuer: Option<String>,
    /// OIDC: Quire's client id at the provider.
    client_id: Option<String>,
    /// OIDC: the scopes asked for.
    scopes: Vec<String>,
    /// OIDC: when the client secret was last sent to Cognito (RFC 3339, UTC).
    client_secret_set_at: Option<String>,
    /// SAML: the metadata document's URL.
    metadata_url: Option<String>,
}

impl ProviderView {
    fn of(provider: &quire_store::IdentityProvider) -> Self {
        ProviderView {
            kind: provider.kind().to_owned(),
            name: provider.name().to_owned(),
            issuer: provider.issuer().map(str::to_owned),
            client_id: provider.client_id().map(str::to_owned),
            scopes: provider.scopes().to_vec(),
            client_secret_set_at: provider
                .client_secret_set_at()
                .map(|at| humantime::format_rfc3339_millis(at).to_string()),
            metadata_url: provider.metadata_url().map(str::to_owned),
        }
    }
}

/// Sets the organisation's identity provider (AUTHN-10), an Owner's alone, against the version
/// in `If-Match`: first in its record (recorded as `organisation.updated`, without the client
/// secret), then at Cognito (`quire_http::identity::configure_identity_provider`), so that
/// Cognito never holds a configuration the trail does not.
async fn put_identity_provider(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: IdentityProviderPut = parse_body(&req)?;
    let name = quire_store::IdentityProvider::name_for(caller.org_id());
    let (provider, secret) = input.provider(name).map_err(|detail| {
        let field = detail.split(':').next().unwrap_or_default().to_owned();
        Problem::invalid_body(detail, Some(&field))
    })?;
    let current = app.store.organisation(caller.scope()).await?;
    require_match(&req, current.version())?;
    if caller.role != Role::Owner {
        return Err(Problem::role_not_grantable("only an Owner sets the identity provider"));
    }
    let change = OrganisationChange {
        identity_provider: Some(provider.clone()),
        ..Default::default()
    };
    let record = commit(&app, &ctx, &current, &change, &input.reason).await?;
    quire_http::identity::configure_identity_provider(
        &app,
        &provider,
        secret.as_ref().map(domain::ClientSecret::expose),
    )
    .await?;
    answer(&record)
}

/// The organisation's permission matrix (RBAC-1). `ETag` carries the organisation's `version`,
/// which a `PUT` names in `If-Match`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RolesView {
    roles: Vec<RoleView>,
    /// The organisation's version (its settings and matrix change it).
    version: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RoleView {
    /// `Owner`, `Admin`, `User` or `Viewer`.
    role: &'static str,
    /// What the role grants here.
    permissions: Vec<&'static str>,
    /// Whether the organisation adjusted it (else the default's grants; the Owner's are fixed).
    adjusted: bool,
}

impl RolesView {
    fn of(record: &Organisation) -> Self {
        let matrix = record.matrix();
        let adjusted: Vec<Role> = matrix.adjusted().map(|(role, _)| role).collect();
        RolesView {
            roles: Role::ALL
                .into_iter()
                .map(|role| RoleView {
                    role: role.as_str(),
                    permissions: matrix.permissions(role).into_iter().map(Permission::as_str).collect(),
                    adjusted: adjusted.contains(&role),
                })
                .collect(),
            version: record.version(),
        }
    }
}

async fn get_roles(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let record = app.store.organisation(caller.scope()).await?;
    Ok(with_etag(ok(&RolesView::of(&record))?, record.version()))
}

/// Sets a role's grants (RBAC-1) against the version in `If-Match`, within the bounds
/// (`Matrix::adjust`, judged in the caller's role as the organisation grants it now), recorded
/// as `organisation.updated` with the reason. Applies on every member's next request.
async fn put_role(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let role = Role::named(ctx.param("role")?).ok_or_else(Problem::not_found)?;
    let input: RolePermissions = parse_body(&req)?;
    let current = app.store.organisation(caller.scope()).await?;
    require_match(&req, current.version())?;
    // The matrix as stored now (the caller's was read when their request was admitted; the
    // write is conditioned on this version): the caller must still manage the organisation in it.
    if !current.matrix().grants(caller.role, OrganisationManage) {
        return Err(Problem::forbidden("your role no longer grants OrganisationManage"));
    }
    let matrix = current
        .matrix()
        .adjust(role, &input.permissions, caller.role)
        .map_err(|refused| match refused {
            AdjustRefused::OwnerFixed => Problem::role_not_grantable("the Owner's permissions are fixed"),
            AdjustRefused::BeyondOwnGrants(p) => {
                Problem::role_not_grantable(format!("you do not hold {}, so you cannot grant it", p.as_str()))
            }
            AdjustRefused::NotForRole(p) => Problem::invalid_body(
                format!(
                    "permissions: a {} never holds {} (a Viewer writes nothing; only roles that must pass \
                     a second factor administer)",
                    role.as_str(),
                    p.as_str()
                ),
                Some("permissions"),
            ),
        })?;
    let change = OrganisationChange {
        matrix: Some(matrix),
        ..Default::default()
    };
    let record = commit(&app, &ctx, &current, &change, &input.reason).await?;
    Ok(with_etag(ok(&RolesView::of(&record))?, record.version()))
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
    // ORG-3: only an Owner sets the list (one who manages the organisation by delegation could
    // otherwise shut the Owners out), and must still be allowed by it, or say they mean it.
    if change.ip_allowlist.is_some() && caller.role != Role::Owner {
        return Err(Problem::role_not_grantable("only an Owner sets the IP allowlist"));
    }
    if let Some(list) = &change.ip_allowlist {
        let keeps_sender = ctx.viewer().is_some_and(|viewer| list.allows(viewer));
        if list.is_restricted() && !keeps_sender && !input.confirm_lockout {
            return Err(Problem::lockout_not_confirmed());
        }
    }
    // AUTHN-10: only an Owner turns SSO-only on or off; on needs an identity provider and the
    // Owner's word that their own next password sign-in will be refused.
    if let Some(sso_only) = change.sso_only {
        if caller.role != Role::Owner {
            return Err(Problem::role_not_grantable("only an Owner sets ssoOnly"));
        }
        if sso_only && !current.sso_only() {
            if current.identity_provider().is_none() {
                return Err(Problem::invalid_body(
                    "ssoOnly: configure the identity provider first (PUT /organisation/identity-provider)",
                    Some("ssoOnly"),
                ));
            }
            if !input.confirm_lockout {
                return Err(Problem::sso_lockout_not_confirmed());
            }
            // Cognito must hold the provider the record names (it may have refused it, or lost it).
            let provider = current
                .identity_provider()
                .ok_or_else(|| Problem::internal("checked above"))?;
            if !quire_http::identity::identity_provider_configured(&app, provider).await? {
                return Err(Problem::conflict(
                    "the identity provider is not configured at Cognito: send PUT /organisation/identity-provider again",
                ));
            }
        }
    }
    // RBAC-5: whether impersonation may write is an Owner's decision, like who may sign in.
    if change.impersonation_writes.is_some() && caller.role != Role::Owner {
        return Err(Problem::role_not_grantable("only an Owner sets impersonationWrites"));
    }
    answer(&commit(&app, &ctx, &current, &change, &input.reason).await?)
}

/// Makes `change` of `current` with `reason` (`Store::change_organisation`): the record as it
/// is afterwards. A record changed since `current` was read is a 412.
async fn commit(
    app: &App,
    ctx: &RequestCtx,
    current: &quire_store::Stored<Organisation>,
    change: &OrganisationChange,
    reason: &quire_core::text::Reason,
) -> Result<Organisation, Problem> {
    let changed = app
        .store
        .change_organisation(
            ctx.caller()?.scope(),
            ctx.audit_context()?,
            current,
            change,
            reason.as_str(),
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict => Problem::precondition_failed(),
            other => other.into(),
        })?;
    match changed {
        OrganisationChanged::Changed(record) | OrganisationChanged::Unchanged(record) => Ok(record),
    }
}
