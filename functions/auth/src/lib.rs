//! The auth function: password sign-in through Cognito, guarded and recorded by
//! `quire_http::identity` (lockout AUTHN-5, rate limits RATE-4/RATE-5, identity events AUD-4);
//! TOTP second factor: the sign-in's challenge, enrolment, and the admin gate's way out
//! (AUTHN-7); an invited member's first password (Cognito's new-password challenge); password
//! reset, change and expiry (AUTHN-3, AUTHN-4, RATE-2); sessions: refresh,
//! sign-out and revocation (AUTHN-2, AUTHN-8). Registering an organisation is the registration
//! function's (`functions/registration`): it writes what no sign-in may.

use http::Method;
use lambda_http::Request;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use quire_core::audit::Action;
use quire_core::ids::UserId;
use quire_core::password::NewPassword;
use quire_core::rbac::Permission;
use quire_http::identity::{
    answer_mfa_challenge, answer_new_password, associate_authenticator, bearer, change_password as change,
    check_password, disable_authenticator, refresh_session, request_password_reset, reset_password as reset,
    revoke_sessions, sign_out, verify_authenticator, ChallengeSession, Email, EmailedCode, Password, RefreshToken,
    RefreshTokenOutcome, SignIn, TotpCode,
};
use quire_http::json::{ok, parse_body, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::Lifecycle;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The 429 of every route a failed sign-in step counts against the address's limit.
const SIGN_IN_LIMITED: &str = "too many failed sign-ins from this address in the current window \
     (`too-many-requests`, with `Retry-After` in seconds), or Cognito's request quota";

/// The 403 of a challenge's answer (ORG-3).
const ANSWER_OUTSIDE_ALLOWLIST: &str = "refused by the request filter (`request-refused`), or the \
     answer came from outside the organisation's IP allowlist (`ip-not-allowed`)";

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
        .response_schema::<SignedIn>()
        .problem(
            "401",
            "the email or password is not correct, or the account is locked after consecutive \
         failures (`invalid-credentials`: the same answer for each, and for an unknown email)",
        )
        .problem("429", SIGN_IN_LIMITED)
        .problem(
            "403",
            "refused by the request filter (`request-refused`), or the password was right but the \
             request came from outside the organisation's IP allowlist (`ip-not-allowed`) or the \
             member is deactivated (`no-membership`)",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/auth/mfa",
            Access::Public,
            Module::Platform,
            // Records every judged answer, locks, unlocks and rate-limit trips; a right code
            // starts the session, written beside its entry.
            Effect::Writes(&Action::IDENTITY),
            mfa_answer,
        )
        .request_schema::<MfaAnswer>()
        .response_schema::<Tokens>()
        .problem(
            "401",
            "the code is not correct, the challenge is unknown, used or expired (3 minutes), or the \
             account is locked after consecutive failures (`invalid-credentials`: one answer)",
        )
        .problem("429", SIGN_IN_LIMITED)
        .problem("403", ANSWER_OUTSIDE_ALLOWLIST)
        .accepts_body(8 * 1024),
        Route::new(
            Method::POST,
            "/auth/password/new",
            Access::Public,
            Module::Platform,
            // Records the answer (`password.changed`, with the session it starts), a refused
            // one, locks, unlocks and rate-limit trips.
            Effect::Writes(&Action::NEW_PASSWORD),
            new_password,
        )
        .request_schema::<NewPasswordAnswer>()
        .response_schema::<Tokens>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field), or the new password \
             breaks the policy (`weak-password`, with `violations` naming every rule it breaks; \
             the rule `recently-used` for one of the member's last 5 passwords)",
        )
        .problem(
            "401",
            "the challenge is unknown, used or expired (3 minutes), or the account is locked \
             after consecutive failures (`invalid-credentials`: one answer); or the new password \
             was set but the sign-in could not be completed (`unauthorized`: sign in with it)",
        )
        .problem("429", SIGN_IN_LIMITED)
        .problem("403", ANSWER_OUTSIDE_ALLOWLIST)
        .accepts_body(8 * 1024),
        Route::new(
            Method::POST,
            "/auth/mfa/setup",
            Access::Member,
            Module::Platform,
            // Cognito keeps the new secret; nothing of Quire's changes until it is verified.
            Effect::Reads,
            mfa_setup,
        )
        .response_schema::<Authenticator>()
        .without_mfa()
        .while_password_expired(),
        Route::new(
            Method::POST,
            "/auth/mfa/verify",
            Access::Member,
            Module::Platform,
            // The enrolment, recorded as `mfa.enrolled` with the session it opens the gate for.
            Effect::Writes(&[Action::MfaEnrolled]),
            mfa_verify,
        )
        .request_schema::<MfaCode>()
        .response_schema::<Status>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field), or the code is not the \
             authenticator's current one or no enrolment was started (`invalid-code`)",
        )
        .accepts_body(1024)
        .without_mfa()
        .while_password_expired(),
        Route::new(
            Method::DELETE,
            "/auth/mfa",
            Access::Member,
            Module::Platform,
            // The authenticator turned off (`mfa.disabled`), or the refused re-authentication
            // and the lock or unlock of the account's count it causes, or the member's limit's
            // trip.
            Effect::Writes(&[
                Action::MfaDisabled,
                Action::ReauthenticationFailed,
                Action::SignInLocked,
                Action::SignInUnlocked,
                Action::RateLimitTripped,
            ]),
            mfa_disable,
        )
        .request_schema::<MfaDisable>()
        .response_schema::<Status>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field), or the password or code \
             is not correct, or the account is locked after consecutive failures \
             (`reauthentication-failed`: one answer for each)",
        )
        .problem(
            "403",
            "an Owner or Admin must keep a second factor (`mfa-mandatory`; `mfa-required` from a \
             session that has not passed it)",
        )
        .problem(
            "409",
            "the account has no authenticator (`no-authenticator`), or it changed while being \
             turned off and is still on (`conflict`)",
        )
        .problem(
            "429",
            "more than 10 re-authentications by this member in the current 15-minute window \
             (`too-many-requests`, with `Retry-After` in seconds)",
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
        .problem(
            "403",
            "refused by the request filter (`request-refused`), or from outside the \
             organisation's IP allowlist (`ip-not-allowed`)",
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
        .without_mfa()
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
        .without_mfa()
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
        .accepts_body(1024)
        .while_read_only(),
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
    /// `mfa-setup` when the role needs a second factor and the account has none (AUTHN-7):
    /// with these tokens only `POST /auth/mfa/setup`, `POST /auth/mfa/verify`, `GET /auth/me`
    /// and `POST /auth/logout` are open (403 `mfa-required` elsewhere) until an authenticator
    /// is enrolled. `null` otherwise.
    #[schema(value_type = Option<String>, example = "mfa-setup")]
    challenge: Option<&'static str>,
}

impl Tokens {
    fn of(tokens: aws_sdk_cognitoidentityprovider::types::AuthenticationResultType, mfa_setup: bool) -> Self {
        Tokens {
            access_token: tokens.access_token.unwrap_or_default(),
            refresh_token: tokens.refresh_token,
            expires_in: tokens.expires_in,
            challenge: mfa_setup.then_some("mfa-setup"),
        }
    }
}

/// The password was right: the session's tokens, or the step Cognito asks for next.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum SignedIn {
    Tokens(Tokens),
    Challenge(Challenge),
}

/// A step before the session: within 3 minutes, `mfa` (the account has a TOTP authenticator)
/// is answered with its code at `POST /auth/mfa`; `new-password` (the password was the
/// temporary one the member was invited with) with a password of their own at
/// `POST /auth/password/new`.
#[derive(Serialize, utoipa::ToSchema)]
struct Challenge {
    /// `mfa` or `new-password`.
    #[schema(example = "mfa")]
    challenge: &'static str,
    /// What the answer names: opaque, a credential for this sign-in only.
    session: String,
}

impl From<SignIn> for SignedIn {
    fn from(signed_in: SignIn) -> Self {
        match signed_in {
            SignIn::Tokens { tokens, mfa_setup } => SignedIn::Tokens(Tokens::of(tokens, mfa_setup)),
            SignIn::MfaChallenge { session } => SignedIn::Challenge(Challenge {
                challenge: "mfa",
                session,
            }),
            SignIn::NewPasswordChallenge { session } => SignedIn::Challenge(Challenge {
                challenge: "new-password",
                session,
            }),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewPasswordAnswer {
    /// The email the sign-in was for.
    #[schema(value_type = String, format = Email)]
    email: Email,
    /// The `session` of the sign-in's `new-password` challenge.
    #[schema(value_type = String)]
    session: ChallengeSession,
    /// Checked against the password policy before Cognito is called (AUTHN-3).
    #[schema(value_type = String, format = Password)]
    new_password: String,
}

async fn new_password(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: NewPasswordAnswer = parse_body(&req)?;
    let new = NewPassword::parse(input.new_password).map_err(|violations| Problem::weak_password(&violations))?;
    let (tokens, mfa_setup) = answer_new_password(&app, &ctx, &input.email, &input.session, &new).await?;
    ok(&Tokens::of(tokens, mfa_setup))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MfaAnswer {
    /// The email the sign-in was for (Cognito names the user of a challenge by it).
    #[schema(value_type = String, format = Email)]
    email: Email,
    /// The `session` of the sign-in's `mfa` challenge.
    #[schema(value_type = String)]
    session: ChallengeSession,
    /// The 6 digits the authenticator shows now.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    code: TotpCode,
}

async fn mfa_answer(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: MfaAnswer = parse_body(&req)?;
    let tokens = answer_mfa_challenge(&app, &ctx, &input.email, &input.session, &input.code).await?;
    ok(&Tokens::of(tokens, false))
}

/// A new TOTP secret for the caller's authenticator app (RFC 6238: SHA-1, 6 digits, 30 s).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Authenticator {
    /// The shared secret, RFC 4648 base32: what an authenticator app asks for when set up by
    /// hand. Shown once; Quire does not keep it.
    secret_code: String,
    /// The same as a key URI (`otpauth://totp/…`) for a QR code.
    otpauth_uri: String,
}

async fn mfa_setup(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let secret_code = associate_authenticator(&app, &ctx, bearer(&req)?).await?;
    let label = utf8_percent_encode(&format!("Quire:{}", caller.email), NON_ALPHANUMERIC).to_string();
    let otpauth_uri = format!(
        "otpauth://totp/{label}?secret={}&issuer=Quire&algorithm=SHA1&digits=6&period=30",
        utf8_percent_encode(&secret_code, NON_ALPHANUMERIC)
    );
    ok(&Authenticator {
        secret_code,
        otpauth_uri,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MfaCode {
    /// The 6 digits the newly set-up authenticator shows now.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    code: TotpCode,
}

/// A fresh re-authentication: the password now and the authenticator's current code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MfaDisable {
    #[schema(value_type = String, format = Password)]
    password: Password,
    /// The 6 digits the authenticator shows now.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    code: TotpCode,
}

async fn mfa_disable(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: MfaDisable = parse_body(&req)?;
    disable_authenticator(&app, &ctx, bearer(&req)?, &input.password, &input.code).await?;
    ok(&Status { status: "disabled" })
}

async fn mfa_verify(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: MfaCode = parse_body(&req)?;
    verify_authenticator(&app, &ctx, bearer(&req)?, &input.code).await?;
    ok(&Status { status: "enrolled" })
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
    organisation: LifecycleView,
    session: SessionView,
    password: PasswordView,
    mfa: MfaView,
}

/// What the organisation's status means now (ORG-1).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct LifecycleView {
    /// `pending`, `active`, `trial`, `trial-ended`, `locked` or `suspended`.
    status: &'static str,
    /// When true, the organisation's records can be read but not changed (`trial-ended`,
    /// `suspended`, or its subscription suspended).
    read_only: bool,
    /// `active`, or `suspended` (billing: its records can be read but not changed).
    subscription: &'static str,
    /// When a trial ends (RFC 3339, UTC); `null` unless on trial.
    trial_ends_at: Option<String>,
    /// When an ended trial locks (RFC 3339, UTC); `null` unless it ended.
    locks_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct MfaView {
    /// Whether the role needs a second factor (Owner, Admin): without one, only enrolment,
    /// `GET /auth/me` and `POST /auth/logout` are open.
    required: bool,
    /// When the member enrolled their authenticator (RFC 3339, UTC); `null` if they have none.
    enrolled_at: Option<String>,
    /// When this session passed a second factor: its sign-in's TOTP code, or an enrolment made
    /// in it (RFC 3339, UTC); `null` if it has not.
    second_factor_at: Option<String>,
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
        organisation: LifecycleView {
            status: caller.lifecycle.as_str(),
            read_only: caller.lifecycle.read_only() || caller.plan.subscription_suspended(),
            subscription: caller.plan.subscription_name(),
            trial_ends_at: match caller.lifecycle {
                Lifecycle::Trial { ends_at } => Some(time(ends_at)),
                _ => None,
            },
            locks_at: match caller.lifecycle {
                Lifecycle::TrialEnded { locks_at } => Some(time(locks_at)),
                _ => None,
            },
        },
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
        mfa: MfaView {
            required: caller.role.requires_mfa(),
            enrolled_at: caller.mfa_enrolled_at.map(time),
            second_factor_at: session.second_factor_at.map(time),
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
    /// `signed-out`, `revoked`, `changed`, `enrolled` or `disabled`.
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
    let signed_in = check_password(&app, &ctx, &input.email, &input.password).await?;
    ok(&SignedIn::from(signed_in))
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
    code: EmailedCode,
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
