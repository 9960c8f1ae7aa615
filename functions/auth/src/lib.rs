//! The auth function: password sign-in through Cognito, guarded and recorded by
//! `quire_http::identity` (lockout AUTHN-5, rate limits RATE-4/RATE-5, identity events AUD-4);
//! password reset (AUTHN-3, RATE-2); sessions: refresh, sign-out and revocation (AUTHN-2,
//! AUTHN-8). MFA and the other sign-in flows (AUTHN-2..9 in docs/requirements.md) build on
//! these routes.

use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::ids::UserId;
use quire_core::password::NewPassword;
use quire_core::rbac::Permission;
use quire_http::identity::{
    bearer, change_password as change, check_password, refresh_session, request_password_reset,
    reset_password as reset, revoke_sessions, sign_out, Email, Password, RefreshToken, RefreshTokenOutcome, ResetCode,
};
use quire_http::json::{ok, parse_body, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::POST,
            "/auth/login",
            Access::Public,
            Module::Platform,
            // Records every judged attempt, locks, unlocks and rate-limit trips; writes the
            // account's attempt count and the address's request count beside them.
            Effect::Writes(&Action::IDENTITY),
            login,
        )
        .request_schema::<Login>()
        .response_schema::<Tokens>()
        .problem(
            "401",
            "the email or password is not correct, or the account is locked after consecutive \
         failures (`invalid-credentials`: the same answer for each, and for an unknown email)",
        )
        .problem(
            "429",
            "too many failed sign-ins from this address in the current window (`too-many-requests`, \
         with `Retry-After` in seconds), or Cognito's request quota",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/auth/password/forgot",
            Access::Public,
            Module::Platform,
            // Records the request and rate-limit trips; writes the limits' counts beside them.
            Effect::Writes(&Action::IDENTITY),
            forgot_password,
        )
        .request_schema::<ForgotPassword>()
        .response_schema::<Accepted>()
        .problem(
            "429",
            "too many reset codes asked for from this address (5) or for this email (3) in the \
         current 15-minute window (`too-many-requests`, with `Retry-After` in seconds), or \
         Cognito's request quota",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/auth/password/reset",
            Access::Public,
            Module::Platform,
            // Records every judged attempt and rate-limit trips; writes the counts beside them.
            Effect::Writes(&Action::IDENTITY),
            reset_password,
        )
        .request_schema::<ResetPassword>()
        .response_schema::<Reset>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field); the new password breaks \
             the policy (`weak-password`, with `violations` naming every rule it breaks); or the \
             code is wrong, used, expired or for no account, or resets of the account are locked \
             after consecutive wrong codes (`invalid-code`: one answer for each)",
        )
        .problem(
            "429",
            "too many refused codes from this address in the current 15-minute window \
             (`too-many-requests`, with `Retry-After` in seconds), or Cognito's request quota",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/auth/refresh",
            Access::Public,
            Module::Platform,
            // Slides the session's idle end, or ends an expired session; each with its entry.
            Effect::Writes(&[Action::SessionRefreshed, Action::SessionExpired]),
            refresh,
        )
        .request_schema::<Refresh>()
        .response_schema::<AccessToken>()
        .problem(
            "401",
            "the refresh token is not valid (`unauthorized`), its session was signed out or \
             revoked (`token-revoked`), or passed its idle or absolute limit (`session-expired`)",
        )
        .problem(
            "429",
            "too many refused refreshes from this address in the current 15-minute window \
             (`too-many-requests`, with `Retry-After` in seconds), or Cognito's request quota",
        )
        .accepts_body(8 * 1024),
        Route::new(
            Method::GET,
            "/auth/me",
            Access::Member,
            Module::Platform,
            Effect::Reads,
            me,
        )
        .response_schema::<Me>()
        .while_password_expired(),
        Route::new(
            Method::POST,
            "/auth/password/change",
            Access::Member,
            Module::Platform,
            // The change, or the refusal of a wrong current password and the lock or unlock of
            // the account's count it causes.
            Effect::Writes(&[
                Action::PasswordChanged,
                Action::PasswordChangeFailed,
                Action::SignInLocked,
                Action::SignInUnlocked,
            ]),
            change_password,
        )
        .request_schema::<ChangePassword>()
        .response_schema::<Status>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field); the new password breaks \
             the policy (`weak-password`, with `violations` naming every rule it breaks); or the \
             current password is wrong, or the account is locked after consecutive failures \
             (`wrong-password`: one answer for both)",
        )
        .accepts_body(4 * 1024)
        .while_password_expired(),
        Route::new(
            Method::POST,
            "/auth/logout",
            Access::Member,
            Module::Platform,
            // Ends the caller's session, recorded as `session.signed-out`.
            Effect::Writes(&[Action::SessionSignedOut]),
            logout,
        )
        .request_schema::<Logout>()
        .response_schema::<SignedOut>()
        .accepts_body(8 * 1024)
        .optional_body()
        .while_password_expired(),
        Route::new(
            Method::POST,
            "/auth/sessions/revoke-mine",
            Access::Member,
            Module::Platform,
            // Marks every session of the caller as revoked, recorded as `sessions.revoked`.
            Effect::Writes(&[Action::SessionsRevoked]),
            revoke_mine,
        )
        .response_schema::<Status>(),
        Route::new(
            Method::POST,
            "/auth/sessions/revoke",
            Access::Requires(Permission::UserManage),
            Module::Platform,
            // Marks every session of the member as revoked, recorded as `sessions.revoked`.
            Effect::Writes(&[Action::SessionsRevoked]),
            revoke,
        )
        .request_schema::<Revoke>()
        .response_schema::<Status>()
        .accepts_body(1024),
    ])
    .expect("auth route table")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    #[schema(value_type = String, format = Email)]
    email: Email,
    #[schema(value_type = String, format = Password)]
    password: Password,
}

/// Cognito's tokens for the session.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Tokens {
    /// The bearer token for every protected route (a JWT).
    access_token: String,
    refresh_token: Option<String>,
    /// Seconds until the access token expires.
    expires_in: i32,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Refresh {
    /// The refresh token the sign-in returned.
    #[schema(value_type = String)]
    refresh_token: RefreshToken,
}

/// A new access token for the same session.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AccessToken {
    /// The bearer token for every protected route (a JWT).
    access_token: String,
    /// Seconds until the access token expires.
    expires_in: i32,
}

async fn refresh(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: Refresh = parse_body(&req)?;
    let out = refresh_session(&app, &ctx, &input.refresh_token).await?;
    let tokens = out
        .authentication_result
        .ok_or_else(|| Problem::internal("a granted refresh without tokens"))?;
    ok(&AccessToken {
        access_token: tokens.access_token.unwrap_or_default(),
        expires_in: tokens.expires_in,
    })
}

/// Who the caller is and how long their session lasts: what a client needs to render the
/// account page and to know when it must sign in again.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Me {
    /// The Cognito `sub`.
    user_id: String,
    email: String,
    display_name: String,
    /// `Owner`, `Admin`, `User` or `Viewer`.
    role: &'static str,
    organisation_id: String,
    session: SessionView,
    password: PasswordView,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PasswordView {
    /// When the password was last set (RFC 3339, UTC); `null` if Quire has no record of it.
    changed_at: Option<String>,
    /// 90 days later (RFC 3339, UTC); `null` as above.
    expires_at: Option<String>,
    /// When true, only `POST /auth/password/change`, `GET /auth/me` and `POST /auth/logout`
    /// are open (403 `password-expired` elsewhere).
    expired: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SessionView {
    /// The session id (Cognito's `origin_jti`).
    id: String,
    /// RFC 3339, UTC.
    started_at: String,
    /// Without a refresh (`POST /auth/refresh`) the session ends then (RFC 3339, UTC).
    idle_until: String,
    /// The session ends then, refreshed or not (RFC 3339, UTC).
    absolute_until: String,
}

async fn me(_app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let session = caller.session();
    let time = |t| humantime::format_rfc3339_seconds(t).to_string();
    ok(&Me {
        user_id: caller.user_id.to_string(),
        email: caller.email.clone(),
        display_name: caller.display_name.clone(),
        role: caller.role.as_str(),
        organisation_id: caller.org_id().to_string(),
        session: SessionView {
            id: session.id.as_str().to_owned(),
            started_at: time(session.started_at),
            idle_until: time(session.idle_until),
            absolute_until: time(session.absolute_until),
        },
        password: PasswordView {
            changed_at: caller.password_changed_at.map(time),
            expires_at: caller.password_expires_at().map(time),
            expired: caller.password_expired(std::time::SystemTime::now()),
        },
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangePassword {
    #[schema(value_type = String, format = Password)]
    current_password: Password,
    /// Checked against the password policy before Cognito is called (AUTHN-3).
    #[schema(value_type = String, format = Password)]
    new_password: String,
}

async fn change_password(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: ChangePassword = parse_body(&req)?;
    let new = NewPassword::parse(input.new_password).map_err(|violations| Problem::weak_password(&violations))?;
    change(&app, &ctx, bearer(&req)?, &input.current_password, &new).await?;
    ok(&Status { status: "changed" })
}

/// What was done.
#[derive(Serialize, utoipa::ToSchema)]
struct Status {
    /// `signed-out`, `revoked` or `changed`.
    status: &'static str,
}

/// An optional body of `POST /auth/logout`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Logout {
    /// The session's refresh token: given, Cognito revokes it and the access tokens it issued.
    #[schema(value_type = Option<String>)]
    refresh_token: Option<RefreshToken>,
}

async fn logout(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let empty = match req.body() {
        lambda_http::Body::Empty => true,
        lambda_http::Body::Text(text) => text.is_empty(),
        lambda_http::Body::Binary(bytes) => bytes.is_empty(),
        _ => true,
    };
    let input: Option<Logout> = if empty { None } else { Some(parse_body(&req)?) };
    let refresh_token = sign_out(&app, &ctx, input.as_ref().and_then(|i| i.refresh_token.as_ref())).await?;
    ok(&SignedOut {
        status: "signed-out",
        refresh_token,
    })
}

/// The session ended.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SignedOut {
    /// Always `signed-out`.
    status: &'static str,
    /// What became of the refresh token the request gave: `revoked` at Cognito, `not-given`,
    /// `not-this-session` (not the session's own: left alone), or `not-revoked` (Cognito
    /// refused or failed: it stays valid there until it expires, and Quire refuses what it
    /// yields).
    refresh_token: RefreshTokenOutcome,
}

async fn revoke_mine(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let me = ctx.caller()?.user_id.clone();
    revoke_sessions(&app, &ctx, &me).await?;
    ok(&Status { status: "revoked" })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Revoke {
    /// The member whose sessions end: their user id (Cognito `sub`), in the caller's
    /// organisation.
    #[schema(value_type = String)]
    user_id: UserId,
}

async fn revoke(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: Revoke = parse_body(&req)?;
    revoke_sessions(&app, &ctx, &input.user_id).await?;
    ok(&Status { status: "revoked" })
}

async fn login(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: Login = parse_body(&req)?;
    let out = check_password(&app, &ctx, &input.email, &input.password).await?;
    match out.authentication_result {
        Some(tokens) => ok(&Tokens {
            access_token: tokens.access_token.unwrap_or_default(),
            refresh_token: tokens.refresh_token,
            expires_in: tokens.expires_in,
        }),
        // MFA and new-password challenges arrive with the identity flows.
        None => Err(Problem::unauthorized(
            "this account needs a sign-in step this API does not offer yet",
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ForgotPassword {
    #[schema(value_type = String, format = Email)]
    email: Email,
}

/// The request was taken; the same answer whether or not the email names an account (AUTHN-9).
#[derive(Serialize, utoipa::ToSchema)]
struct Accepted {
    /// Always `accepted`.
    status: &'static str,
    detail: &'static str,
}

/// What every accepted reset request is answered: nothing in it depends on the account.
const RESET_REQUESTED: Accepted = Accepted {
    status: "accepted",
    detail: "if the email names an account, a reset code valid for one hour was sent to it",
};

async fn forgot_password(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: ForgotPassword = parse_body(&req)?;
    request_password_reset(&app, &ctx, &input.email).await?;
    respond(http::StatusCode::ACCEPTED, &RESET_REQUESTED)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResetPassword {
    #[schema(value_type = String, format = Email)]
    email: Email,
    /// The 6 digits of the code Cognito emailed (valid for one hour, once).
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    code: ResetCode,
    /// Checked against the password policy before Cognito is called (AUTHN-3).
    #[schema(value_type = String, format = Password)]
    new_password: String,
}

/// The password was reset.
#[derive(Serialize, utoipa::ToSchema)]
struct Reset {
    /// Always `reset`.
    status: &'static str,
}

async fn reset_password(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: ResetPassword = parse_body(&req)?;
    // The policy first: a weak password is answered alike for every account and costs nothing.
    let new = NewPassword::parse(input.new_password).map_err(|violations| Problem::weak_password(&violations))?;
    reset(&app, &ctx, &input.email, &input.code, &new).await?;
    ok(&Reset { status: "reset" })
}
