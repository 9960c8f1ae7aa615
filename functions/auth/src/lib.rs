//! The auth function: password sign-in through Cognito, guarded and recorded by
//! `quire_http::identity` (lockout AUTHN-5, rate limits RATE-4/RATE-5, identity events AUD-4).
//! MFA, refresh and the other sign-in flows (AUTHN-2..9 in docs/requirements.md) build on this
//! route.

use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_http::identity::{check_password, Email, Password};
use quire_http::json::{ok, parse_body};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![Route::new(
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
    .accepts_body(4 * 1024)])
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
