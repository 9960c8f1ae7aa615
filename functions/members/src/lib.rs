//! The members function: an organisation's members as its administrators manage them (RBAC-1,
//! RBAC-4, TEN-6): listing and reading memberships, changing a role, deactivating and
//! reactivating a member; and its invitations (ORG-4): making one (its join code shown once),
//! listing and revoking them. Storage and the rules a change is judged by are
//! `quire_store::members` and `quire_store::invitations`; ending a member's refresh tokens at
//! Cognito is `quire_http::identity::sign_out_everywhere`; joining with a code is the
//! registration function's `POST /auth/join`.

use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::ids::UserId;
use quire_core::invitation::InvitationId;
use quire_core::rbac::Permission::{Impersonate, MemberRead, UserManage};
use quire_core::rbac::{AssignRefused, Role};
use quire_core::text::Reason;
use quire_http::json::{ok, page_request, parse_body, respond, rfc3339};
use quire_http::route::HandlerResult;
use quire_http::{identity, Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::impersonation::{Impersonation, ImpersonationRefused, MAX_MINUTES};
use quire_store::invitations::{Invitation, InvitationRefused, InvitationState, NewInvitation, MAX_USES};
use quire_store::members::{Judged, MemberChange, MemberChanged, MemberRefused};
use quire_store::{Lifecycle, MemberStatus, Membership, Page};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest accepted request body: a role and a reason.
pub const BODY_LIMIT: usize = 4 * 1024;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::GET,
            "/members",
            Access::Requires(MemberRead),
            Module::Platform,
            Effect::Reads,
            list,
        )
        .pages()
        .response_schema::<Page<MemberView>>(),
        Route::new(
            Method::GET,
            "/members/{userId}",
            Access::Requires(MemberRead),
            Module::Platform,
            Effect::Reads,
            get,
        )
        .response_schema::<MemberView>(),
        Route::new(
            Method::PATCH,
            "/members/{userId}",
            Access::Requires(UserManage),
            Module::Platform,
            Effect::Writes(&[Action::MemberRoleChanged, Action::SessionsRevoked]),
            change_role,
        )
        .request_schema::<RoleChange>()
        .response_schema::<MemberView>()
        .problem(
            "403",
            "the role holds a permission the caller does not, or only an Owner may make or change \
             an Owner (`role-not-grantable`), or any refusal of the pipeline",
        )
        .problem(
            "409",
            "the member is the organisation's last active Owner (`last-owner`)",
        )
        .accepts_body(BODY_LIMIT)
        .while_read_only(),
        Route::new(
            Method::POST,
            "/members/{userId}/deactivate",
            Access::Requires(UserManage),
            Module::Platform,
            Effect::Writes(&[Action::MemberDeactivated, Action::SessionsRevoked]),
            deactivate,
        )
        .request_schema::<WithReason>()
        .response_schema::<MemberView>()
        .problem(
            "403",
            "only an Owner may deactivate an Owner, nobody a role holding what they do not \
             (`role-not-grantable`), or any refusal of the pipeline",
        )
        .problem(
            "409",
            "the member is the organisation's last active Owner (`last-owner`), or the caller \
             themself (`cannot-deactivate-self`)",
        )
        .accepts_body(BODY_LIMIT)
        .while_read_only(),
        Route::new(
            Method::POST,
            "/members/{userId}/reactivate",
            Access::Requires(UserManage),
            Module::Platform,
            Effect::Writes(&[Action::MemberReactivated, Action::SessionsRevoked]),
            reactivate,
        )
        .request_schema::<WithReason>()
        .response_schema::<MemberView>()
        .problem(
            "403",
            "only an Owner may reactivate an Owner, nobody a role holding what they do not \
             (`role-not-grantable`), or any refusal of the pipeline",
        )
        .accepts_body(BODY_LIMIT),
        Route::new(
            Method::POST,
            "/invitations",
            Access::Requires(UserManage),
            Module::Platform,
            Effect::Writes(&[Action::InvitationCreated]),
            create_invitation,
        )
        .request_schema::<InvitationRequest>()
        .response_schema::<CreatedInvitation>()
        .problem(
            "400",
            "the request is malformed or out of bounds (`invalid-body`, naming the field: uses 1 \
             to 100, expiresInHours 1 to 336)",
        )
        .problem(
            "403",
            "the role holds a permission the caller does not, or only an Owner may invite an Owner \
             (`role-not-grantable`), or any refusal of the pipeline",
        )
        .problem(
            "409",
            "the caller's own role or status changed while the request was made (`conflict`)",
        )
        .accepts_body(BODY_LIMIT),
        Route::new(
            Method::GET,
            "/invitations",
            Access::Requires(MemberRead),
            Module::Platform,
            Effect::Reads,
            list_invitations,
        )
        .pages()
        .response_schema::<Page<InvitationView>>(),
        Route::new(
            Method::DELETE,
            "/invitations/{invitationId}",
            Access::Requires(UserManage),
            Module::Platform,
            Effect::Writes(&[Action::InvitationRevoked]),
            revoke_invitation,
        )
        .response_schema::<InvitationView>()
        .problem(
            "403",
            "the invitation's role holds a permission the caller does not, or is an Owner's and \
             the caller is not (`role-not-grantable`), or any refusal of the pipeline",
        )
        .problem(
            "409",
            "the caller's own role or status changed while the request was made (`conflict`)",
        )
        // Revoking a leaked code contains a compromise: allowed while read-only (ORG-1).
        .while_read_only(),
        Route::new(
            Method::POST,
            "/impersonation",
            Access::Requires(Impersonate),
            Module::Platform,
            Effect::Writes(&[Action::ImpersonationStarted]),
            start_impersonation,
        )
        .request_schema::<ImpersonationRequest>()
        .response_schema::<ImpersonationView>()
        .problem(
            "400",
            "the request is malformed or out of bounds (`invalid-body`, naming the field: minutes \
             1 to 60)",
        )
        .problem(
            "403",
            "the member is an Owner, the caller, deactivated, or holds a permission the caller \
             does not (`impersonation-refused`), or any refusal of the pipeline",
        )
        .problem(
            "409",
            "the session has an impersonation that has not ended, or the caller's or the \
             member's role or status changed while the request was made (`conflict`)",
        )
        .accepts_body(BODY_LIMIT),
        // The session's own impersonation: reading and ending it are the signed-in member's,
        // whatever their role now (one who lost `Impersonate` can still end theirs).
        Route::new(
            Method::GET,
            "/impersonation",
            Access::Member,
            Module::Platform,
            Effect::Reads,
            current_impersonation,
        )
        .response_schema::<ImpersonationState>(),
        Route::new(
            Method::DELETE,
            "/impersonation",
            Access::Member,
            Module::Platform,
            Effect::Writes(&[Action::ImpersonationEnded]),
            end_impersonation,
        )
        .response_schema::<ImpersonationState>(),
    ])
    .expect("members route table")
}

/// A member of the organisation.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct MemberView {
    /// The Cognito `sub`.
    user_id: String,
    email: String,
    display_name: String,
    /// `Owner`, `Admin`, `User` or `Viewer`.
    role: &'static str,
    /// `active` or `deactivated` (refused on every request until reactivated).
    status: &'static str,
}

impl MemberView {
    fn of(member: &Membership) -> Self {
        MemberView {
            user_id: member.user_id().to_string(),
            email: member.email().to_owned(),
            display_name: member.display_name().to_owned(),
            role: member.role().as_str(),
            status: match member.status() {
                MemberStatus::Active => "active",
                MemberStatus::Suspended | MemberStatus::Removed => "deactivated",
            },
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    /// `Owner`, `Admin`, `User` or `Viewer`.
    #[schema(value_type = String)]
    #[serde(deserialize_with = "role_named")]
    role: Role,
    /// Why the role changes (21 CFR Part 11 §11.10(e)): recorded with the change.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    reason: Reason,
}

/// A role by its name, and nothing else (serde would also take an enum's map form,
/// `{"Admin": null}`).
fn role_named<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
    let name = String::deserialize(deserializer)?;
    Role::named(&name).ok_or_else(|| serde::de::Error::custom("role: must be one of Owner, Admin, User, Viewer"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WithReason {
    /// Why (21 CFR Part 11 §11.10(e)): recorded with the change.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    reason: Reason,
}

async fn list(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let page = app.store.list_members(caller.scope(), &page_request(&req)?).await?;
    ok(&Page {
        items: page.items.iter().map(MemberView::of).collect(),
        next: page.next,
    })
}

/// The member the path names: another organisation's, or no one's, is a 404 (TEN-3).
fn member_id(ctx: &RequestCtx) -> Result<UserId, Problem> {
    UserId::parse(ctx.param("userId")?).map_err(|_| Problem::not_found())
}

async fn get(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    match app.store.find_member(caller.scope(), &member_id(&ctx)?).await? {
        Some(member) => ok(&MemberView::of(&member)),
        None => Err(Problem::not_found()),
    }
}

async fn change_role(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: RoleChange = parse_body(&req)?;
    change(&app, &ctx, MemberChange::Role(input.role), &input.reason).await
}

async fn deactivate(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: WithReason = parse_body(&req)?;
    change(&app, &ctx, MemberChange::Deactivate, &input.reason).await
}

async fn reactivate(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: WithReason = parse_body(&req)?;
    change(&app, &ctx, MemberChange::Reactivate, &input.reason).await
}

/// Judges the change first, so that a refused one, or one that changes nothing, signs nobody
/// out at Cognito; then ends the member's refresh tokens there and makes it, judged again
/// against what is stored then (with the member's revocation mark: every change ends their
/// sessions, a reactivation those started while they were deactivated).
async fn change(app: &App, ctx: &RequestCtx, change: MemberChange, reason: &Reason) -> HandlerResult {
    let caller = ctx.caller()?;
    let user = member_id(ctx)?;
    match app.store.check_member_change(caller, &user, change).await? {
        Err(refused) => return Err(problem(caller, refused)),
        Ok(Judged::Unchanged(member)) => return ok(&MemberView::of(&member)),
        Ok(Judged::Changes) => {}
    }
    let identity_provider = identity::sign_out_everywhere(app, &user).await?;
    let made = app
        .store
        .change_member(
            caller,
            ctx.audit_context()?,
            &user,
            change,
            reason.as_str(),
            identity_provider,
        )
        .await;
    let member = match made {
        Ok(Ok(MemberChanged::Changed(member))) => return ok(&MemberView::of(&member)),
        Ok(Ok(MemberChanged::Unchanged(member))) => Ok(member),
        Ok(Err(refused)) => Err(problem(caller, refused)),
        Err(error) => Err(error.into()),
    };
    // Judged anew in a race, or not written: signed out at Cognito for nothing.
    tracing::warn!(member = %user, ?change, "a member was signed out at Cognito, but the change was not made");
    ok(&MemberView::of(&member?))
}

fn problem(caller: &quire_store::tenant::Caller, refused: MemberRefused) -> Problem {
    match refused {
        MemberRefused::NotFound => Problem::not_found(),
        MemberRefused::NotPermitted(AssignRefused::OwnersOnly) => {
            Problem::role_not_grantable("only an Owner may make, change, deactivate or reactivate an Owner")
        }
        MemberRefused::NotPermitted(AssignRefused::BeyondOwnGrants) => {
            Problem::role_not_grantable("the role holds a permission you do not hold")
        }
        MemberRefused::LastOwner => Problem::last_owner(),
        MemberRefused::Oneself => Problem::cannot_deactivate_self(),
        MemberRefused::CallerChanged => {
            Problem::conflict("your own role or status changed while this request was made; send it again")
        }
        MemberRefused::ReadOnly if matches!(caller.lifecycle, Lifecycle::TrialEnded { .. }) => Problem::trial_ended(),
        MemberRefused::ReadOnly if caller.lifecycle.read_only() => Problem::organisation_suspended(),
        MemberRefused::ReadOnly => Problem::subscription_suspended(),
    }
}

/// The longest an invitation may be valid, in hours (14 days).
const MAX_HOURS: u32 = 336;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InvitationRequest {
    /// The role the invitation gives: `Owner`, `Admin`, `User` or `Viewer`.
    #[schema(value_type = String)]
    #[serde(deserialize_with = "role_named")]
    role: Role,
    /// The only email that may join with it; absent, anyone holding the code may.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Email)]
    email: Option<identity::Email>,
    /// How many people may join with it: 1 to 100.
    #[schema(minimum = 1, maximum = 100)]
    uses: u32,
    /// How long it stays valid from now, in hours: 1 to 336 (14 days).
    #[schema(minimum = 1, maximum = 336)]
    expires_in_hours: u32,
}

/// An invitation as its organisation's administrators see it (never its code).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct InvitationView {
    /// 16 hex digits.
    id: String,
    /// `Owner`, `Admin`, `User` or `Viewer`.
    role: &'static str,
    /// The only email that may join with it; `null`: anyone holding the code may.
    email: Option<String>,
    uses: u32,
    used: u32,
    /// `open`, `used-up`, `expired` or `revoked`.
    state: InvitationState,
    /// RFC 3339, UTC.
    created_at: String,
    /// The user id of the administrator who made it.
    created_by: String,
    /// RFC 3339, UTC.
    expires_at: String,
    /// RFC 3339, UTC; `null` unless it was revoked.
    revoked_at: Option<String>,
}

impl InvitationView {
    fn of(invitation: &Invitation) -> Self {
        InvitationView {
            id: invitation.id().to_string(),
            role: invitation.role().as_str(),
            email: invitation.email().map(str::to_owned),
            uses: invitation.uses(),
            used: invitation.used(),
            state: invitation.state(std::time::SystemTime::now()),
            created_at: rfc3339(invitation.created_at()),
            created_by: invitation.created_by().to_owned(),
            expires_at: rfc3339(invitation.expires_at()),
            revoked_at: invitation.revoked_at().map(rfc3339),
        }
    }
}

/// A new invitation, with the code to hand out: shown here once, never again.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreatedInvitation {
    #[serde(flatten)]
    invitation: InvitationView,
    /// The join code (`<organisation>.<invitation>.<secret>`) for `POST /auth/join`. Quire keeps
    /// only the SHA-256 of its secret: it cannot be shown again.
    code: String,
}

async fn create_invitation(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: InvitationRequest = parse_body(&req)?;
    if !(1..=MAX_USES).contains(&input.uses) {
        return Err(Problem::invalid_body("uses: must be 1 to 100", Some("uses")));
    }
    if !(1..=MAX_HOURS).contains(&input.expires_in_hours) {
        return Err(Problem::invalid_body(
            "expiresInHours: must be 1 to 336",
            Some("expiresInHours"),
        ));
    }
    let caller = ctx.caller()?;
    let new = NewInvitation {
        role: input.role,
        email: input.email.as_ref().map(identity::Email::as_str),
        uses: input.uses,
        valid_for: std::time::Duration::from_secs(u64::from(input.expires_in_hours) * 3600),
    };
    match app.store.create_invitation(caller, ctx.audit_context()?, new).await? {
        Ok((invitation, code)) => respond(
            http::StatusCode::CREATED,
            &CreatedInvitation {
                invitation: InvitationView::of(&invitation),
                code: code.expose(),
            },
        ),
        Err(refused) => Err(invitation_problem(refused)),
    }
}

async fn list_invitations(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let page = app.store.list_invitations(caller.scope(), &page_request(&req)?).await?;
    ok(&Page {
        items: page.items.iter().map(InvitationView::of).collect(),
        next: page.next,
    })
}

async fn revoke_invitation(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    // Another organisation's invitation, or no one's, is a 404 (TEN-3).
    let id = InvitationId::parse(ctx.param("invitationId")?).map_err(|_| Problem::not_found())?;
    match app.store.revoke_invitation(caller, ctx.audit_context()?, &id).await? {
        Ok(invitation) => ok(&InvitationView::of(&invitation)),
        Err(refused) => Err(invitation_problem(refused)),
    }
}

fn invitation_problem(refused: InvitationRefused) -> Problem {
    match refused {
        InvitationRefused::NotFound => Problem::not_found(),
        InvitationRefused::NotPermitted(AssignRefused::OwnersOnly) => {
            Problem::role_not_grantable("only an Owner may invite an Owner or revoke an Owner's invitation")
        }
        InvitationRefused::NotPermitted(AssignRefused::BeyondOwnGrants) => {
            Problem::role_not_grantable("the role holds a permission you do not hold")
        }
        InvitationRefused::CallerChanged => {
            Problem::conflict("your own role or status changed while this request was made; send it again")
        }
        InvitationRefused::OutOfBounds => Problem::invalid_body("uses or expiresInHours out of bounds", None),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImpersonationRequest {
    /// The member to act as: their user id (Cognito `sub`).
    #[schema(value_type = String)]
    user_id: UserId,
    /// How long, in minutes: 1 to 60.
    #[schema(minimum = 1, maximum = 60)]
    minutes: u32,
    /// Why (21 CFR Part 11 §11.10(e)): recorded with the start.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    reason: Reason,
}

/// An impersonation of the caller's session (RBAC-5). Requests that carry
/// `Quire-Impersonate: <userId>` are served as the member until it ends.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ImpersonationView {
    /// 16 hex digits: names it in the audit trail.
    id: String,
    /// The member acted as.
    user_id: String,
    /// The administrator acting.
    impersonator: String,
    reason: String,
    /// RFC 3339, UTC.
    started_at: String,
    /// RFC 3339, UTC: it ends then unless ended before.
    until: String,
    /// Whether it may write (the organisation's `impersonationWrites` when it started; it must
    /// still allow it).
    writes: bool,
    /// RFC 3339, UTC; `null` unless it was recorded as ended.
    ended_at: Option<String>,
    /// Why it ended: `ended` (`DELETE /impersonation`), `ran-out`, `member-deactivated`,
    /// `member-is-owner`, `member-holds-more`, `member-gone` or `not-permitted`; `null` unless
    /// it ended.
    cause: Option<String>,
}

impl ImpersonationView {
    fn of(impersonation: &Impersonation) -> Self {
        ImpersonationView {
            id: impersonation.id().to_owned(),
            user_id: impersonation.user_id().to_string(),
            impersonator: impersonation.impersonator().to_string(),
            reason: impersonation.reason().to_owned(),
            started_at: rfc3339(impersonation.started_at()),
            until: rfc3339(impersonation.until()),
            writes: impersonation.writes(),
            ended_at: impersonation.ended_at().map(rfc3339),
            cause: impersonation.end_cause().map(str::to_owned),
        }
    }
}

/// The session's impersonation: the one that still acts (`GET`), or the one just ended
/// (`DELETE`); `null` when there is none.
#[derive(Serialize, utoipa::ToSchema)]
struct ImpersonationState {
    impersonation: Option<ImpersonationView>,
}

async fn start_impersonation(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: ImpersonationRequest = parse_body(&req)?;
    if !(1..=MAX_MINUTES).contains(&input.minutes) {
        return Err(Problem::invalid_body("minutes: must be 1 to 60", Some("minutes")));
    }
    let caller = ctx.caller()?;
    let started = app
        .store
        .start_impersonation(
            caller,
            ctx.audit_context()?,
            &input.user_id,
            input.minutes,
            input.reason.as_str(),
        )
        .await?;
    match started {
        Ok(impersonation) => respond(http::StatusCode::CREATED, &ImpersonationView::of(&impersonation)),
        Err(refused) => Err(impersonation_problem(refused)),
    }
}

async fn current_impersonation(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let live = app.store.live_impersonation(ctx.caller()?).await?;
    ok(&ImpersonationState {
        impersonation: live.as_ref().map(ImpersonationView::of),
    })
}

async fn end_impersonation(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let ended = app.store.end_impersonation(caller, ctx.audit_context()?).await?;
    ok(&ImpersonationState {
        impersonation: ended.as_ref().map(ImpersonationView::of),
    })
}

fn impersonation_problem(refused: ImpersonationRefused) -> Problem {
    use ImpersonationRefused::*;
    match refused {
        NotFound => Problem::not_found(),
        Oneself => Problem::impersonation_refused("you cannot impersonate yourself"),
        Inactive => Problem::impersonation_refused("the member is deactivated"),
        Owner => Problem::impersonation_refused("an Owner is never impersonated"),
        BeyondOwnGrants => Problem::impersonation_refused("the member's role holds a permission yours does not"),
        AlreadyActive => Problem::conflict(
            "this session has an impersonation that has not ended: end it with DELETE /impersonation first",
        ),
        Changed => Problem::conflict(
            "your own or the member's role or status changed while this request was made; send it again",
        ),
        OutOfBounds => Problem::invalid_body("minutes: must be 1 to 60", Some("minutes")),
        NotActive | NotPermitted => Problem::internal("an impersonation refused as if it were acting"),
    }
}
