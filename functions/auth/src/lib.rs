//! The auth function: password sign-in through Cognito, guarded and recorded by
//! `quire_http::identity` (lockout AUTHN-5, rate limits RATE-4/RATE-5, identity events AUD-4).
//! MFA, refresh and the other sign-in flows (AUTHN-2..9 in docs/requirements.md) build on this
//! route.

use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::password::NewPassword;
use quire_http::identity::{
    check_password, request_password_reset, reset_password as reset, Email, Password, ResetCode,
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
