//! The auth function: password login through Cognito, guarded by the sign-in lockout (AUTHN-5:
//! `quire_store::attempts`). MFA, refresh and the other sign-in flows (AUTHN-2..9 in
//! docs/requirements.md) build on this route.

use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use http::Method;
use lambda_http::Request;
use quire_http::json::{ok, parse_body};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::attempts::{Failed, Reservation, Subject};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![Route::new(
        Method::POST,
        "/auth/login",
        Access::Public,
        Module::Platform,
        // Sign-in events reach the trail with the identity work (AUD-4); today it records
        // nothing, and writes only the account's attempt count (security state, not a record).
        Effect::Reads,
        login,
    )
    .request_schema::<Login>()
    .response_schema::<Tokens>()
    .problem(
        "401",
        "the email or password is not correct, or the account is locked after consecutive \
         failures (`invalid-credentials`: the same answer for each, and for an unknown email)",
    )
    .accepts_body(4 * 1024)])
    .expect("auth route table")
}

/// An email address for sign-in: printable ASCII with one `@`, at most 128 characters (Cognito's
/// username limit), compared lower-cased. ASCII only, so that the lockout's notion of "the same
/// account" (`Subject::account`) is exactly Cognito's case-insensitive one: Unicode case folding
/// and normalisation could make two spellings one user with two attempt counts.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let valid = value.len() <= 128
            && value.bytes().all(|b| b.is_ascii_graphic())
            && value.split('@').count() == 2
            && value.split('@').all(|part| !part.is_empty());
        if valid {
            Ok(Email(value.to_lowercase()))
        } else {
            Err("email: must be an email address (printable ASCII, at most 128 characters)".into())
        }
    }
}

/// A password as typed; never logged, never echoed. Bounded so a client cannot send megabytes.
#[derive(Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl TryFrom<String> for Password {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.is_empty() || value.len() > 256 {
            return Err("password: must be 1 to 256 characters".into());
        }
        Ok(Password(value))
    }
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

async fn login(app: Arc<App>, _ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: Login = parse_body(&req)?;
    // Reserved before Cognito sees the password: of any number of racing attempts, no more
    // than the policy's limit are judged, and a locked account is refused with the answer a
    // wrong password gets, whether or not the account exists (AUTHN-5, AUTHN-9).
    let subject = Subject::account(&input.email.0);
    let attempt = match app.store.reserve_attempt(&subject, app.config.sign_in_lockout).await? {
        Reservation::Granted(attempt) => attempt,
        Reservation::Refused => return Err(Problem::invalid_credentials()),
    };
    let result = app
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(&app.config.user_pool_client_id)
        .auth_parameters("USERNAME", &input.email.0)
        .auth_parameters("PASSWORD", &input.password.0)
        .send()
        .await;
    match result {
        Ok(out) => {
            // Cognito has issued the tokens: a failure to clear the count must not lose them.
            if let Err(error) = app.store.attempt_succeeded(attempt).await {
                tracing::error!(%error, "the sign-in's attempt count was not cleared");
            }
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
        Err(error) => {
            let problem = login_refused(error.into_service_error());
            if problem == Problem::invalid_credentials() {
                // Lock and unlock reach the audit trail with the sign-in events (AUD-4); until
                // then a lock is a warning in the function's log.
                if app.store.attempt_failed(attempt).await? == Failed::Locked {
                    tracing::warn!(
                        account = subject.key_part(),
                        "sign-in locked after consecutive failures"
                    );
                }
            } else {
                // Cognito did not judge the password: an outage must not lock anyone.
                app.store.attempt_not_judged(attempt).await?;
            }
            Err(problem)
        }
    }
}

/// How Cognito's refusal of a sign-in reaches the client.
fn login_refused(error: InitiateAuthError) -> Problem {
    match error {
        // The same answer for an unknown account and a wrong password (AUTHN-9).
        InitiateAuthError::NotAuthorizedException(_)
        | InitiateAuthError::UserNotFoundException(_)
        | InitiateAuthError::UserNotConfirmedException(_)
        | InitiateAuthError::PasswordResetRequiredException(_) => Problem::invalid_credentials(),
        // Cognito's request quota for the user pool: the client should slow down (429), not
        // read it as an outage.
        InitiateAuthError::TooManyRequestsException(_) => Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS),
        other => Problem::unavailable(other),
    }
}

/// Cognito quotas are per second: a client that waits this long finds capacity again.
const COGNITO_RETRY_AFTER_SECONDS: u64 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cognitoidentityprovider::types::error::{
        NotAuthorizedException, TooManyRequestsException, UserNotFoundException,
    };

    /// Proves: AUTHN-9
    #[test]
    fn cognito_refusals_map_to_their_statuses() {
        let problem = login_refused(InitiateAuthError::TooManyRequestsException(
            TooManyRequestsException::builder().build(),
        ));
        assert_eq!(problem.status(), http::StatusCode::TOO_MANY_REQUESTS);
        let response = problem.into_response();
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let wrong = login_refused(InitiateAuthError::NotAuthorizedException(
            NotAuthorizedException::builder().build(),
        ));
        let unknown = login_refused(InitiateAuthError::UserNotFoundException(
            UserNotFoundException::builder().build(),
        ));
        assert_eq!(wrong, unknown);
        assert_eq!(wrong.status(), http::StatusCode::UNAUTHORIZED);
    }
}
