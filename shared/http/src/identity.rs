//! Identity checks shared by every route that takes a password (sign-in today; re-authentication
//! for electronic signatures later): the guarded password check (AUTHN-5, AUTHN-9, RATE-4,
//! RATE-5), the limited password-reset request (RATE-2) and the guarded reset, and the identity
//! events they record (AUD-4).
//!
//! Order of a password check, so that a flood can neither guess nor flood the audit trail:
//!
//! 1. **The client's address** is counted against [`RateLimit::SIGN_IN_FAILURES_PER_ADDRESS`]
//!    before anything else: over the limit, a 429 with `Retry-After`, and only the window's first
//!    refusal is recorded (`rate-limit.tripped`, in the platform's trail: an address is no
//!    account).
//! 2. **The account's attempt** is reserved (`quire_store::attempts`): a locked account is
//!    refused with the answer a wrong password gets, and is not recorded again (its lock was).
//! 3. **Cognito** judges the password. Every judged attempt is one entry in the account's trail
//!    (`sign-in.succeeded`, `sign-in.challenged` when Cognito asks for another step, or
//!    `sign-in.failed` with the internal reason, `sign-in.locked` when
//!    it starts a lock, `sign-in.unlocked` first when it is the first attempt after one); an
//!    email that names no member is recorded in the platform's trail (`quire_store::accounts`).
//!    A sign-in that cannot be recorded is refused (503) and its tokens are not handed out.

use crate::context::RequestCtx;
use crate::problem::Problem;
use crate::App;
use aws_sdk_cognitoidentityprovider::operation::confirm_forgot_password::ConfirmForgotPasswordError;
use aws_sdk_cognitoidentityprovider::operation::forgot_password::ForgotPasswordError;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::{InitiateAuthError, InitiateAuthOutput};
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use quire_core::audit::Action;
use quire_core::password::{NewPassword, Violation};
use quire_store::accounts::Account;
use quire_store::attempts::{Failed, Reservation, Subject};
use quire_store::limits::{Limited, RateLimit, Slot};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A sign-in email: printable ASCII with one `@`, at most 128 characters (Cognito's username
/// limit), compared lower-cased. ASCII only, so that the lockout's notion of "the same account"
/// (`Subject::account`) is exactly Cognito's case-insensitive one: Unicode case folding and
/// normalisation could make two spellings one user with two attempt counts.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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

/// A password as typed: 1 to 256 characters, never logged, never echoed (no `Debug`).
#[derive(serde::Deserialize)]
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

/// Cognito quotas are per second: a client that waits this long finds capacity again.
const COGNITO_RETRY_AFTER_SECONDS: u64 = 1;

/// Checks `email`'s password through Cognito (`InitiateAuth`, `USER_PASSWORD_AUTH`), guarded and
/// recorded as the module documentation says. Returns Cognito's answer (tokens or a challenge).
///
/// Errors: 429 `too-many-requests` (the address's limit, with `Retry-After`), 401
/// `invalid-credentials` (wrong password, unknown email, locked account: one answer), 429 for
/// Cognito's own quota, 503 when Cognito or the store is unavailable.
pub async fn check_password(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    password: &Password,
) -> Result<InitiateAuthOutput, Problem> {
    let address = address(ctx)?;
    let slot = within_limit(
        app,
        ctx,
        RateLimit::SIGN_IN_FAILURES_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    // Reserved before Cognito sees the password: of any number of racing attempts, no more
    // than the policy's limit are judged. A refused one keeps its place in the address's count.
    let subject = Subject::account(email.as_str());
    let attempt = match app.store.reserve_attempt(&subject, app.config.sign_in_lockout).await? {
        Reservation::Granted(attempt) => attempt,
        Reservation::Refused => return Err(Problem::invalid_credentials()),
    };
    let account = app.store.account(email.as_str()).await?;
    let mut events: Vec<(Action, Value)> = Vec::new();
    if let Some(ended) = attempt.ended_lock() {
        events.push((Action::SignInUnlocked, json!({ "lockedUntil": rfc3339(ended) })));
    }
    let number = attempt.number();
    let result = app
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(&app.config.user_pool_client_id)
        .auth_parameters("USERNAME", email.as_str())
        .auth_parameters("PASSWORD", &password.0)
        .send()
        .await;
    match result {
        Ok(out) => {
            // The password was right; a session exists only with tokens. A challenge (a new
            // password, MFA) is recorded as such, not as a sign-in.
            match (&out.authentication_result, &out.challenge_name) {
                (Some(_), _) => events.push((Action::SignInSucceeded, json!({ "attempt": number }))),
                (None, challenge) => events.push((
                    Action::SignInChallenged,
                    json!({ "attempt": number, "challenge": challenge.as_ref().map(|c| c.as_str()).unwrap_or("none") }),
                )),
            }
            if let Err(error) = app.store.record_identity_events(&account, ctx.origin(), &events).await {
                // Not recorded, not signed in: the tokens Cognito issued are not handed out, and
                // neither the attempt nor the address's request counts.
                app.store.attempt_not_judged(attempt).await.map_err(unrecorded)?;
                app.store.give_back(slot).await.map_err(unrecorded)?;
                return Err(unrecorded(error));
            }
            // Recorded: a failure to clear the counts must not lose the sign-in.
            if let Err(error) = app.store.attempt_succeeded(attempt).await {
                tracing::error!(%error, "the sign-in's attempt count was not cleared");
            }
            if let Err(error) = app.store.give_back(slot).await {
                tracing::error!(%error, "the sign-in's address count was not cleared");
            }
            Ok(out)
        }
        Err(error) => {
            let error = error.into_service_error();
            match refusal_reason(&error, account.is_known()) {
                Some(reason) => {
                    events.push((Action::SignInFailed, json!({ "attempt": number, "reason": reason })));
                    if let Failed::Locked { until } = app.store.attempt_failed(attempt).await? {
                        tracing::warn!(
                            account = subject.key_part(),
                            "sign-in locked after consecutive failures"
                        );
                        events.push((
                            Action::SignInLocked,
                            json!({ "lockedUntil": rfc3339(until), "failures": number }),
                        ));
                    }
                    app.store
                        .record_identity_events(&account, ctx.origin(), &events)
                        .await
                        .map_err(unrecorded)?;
                    Err(Problem::invalid_credentials())
                }
                None => {
                    // Cognito did not judge the password: an outage must not lock anyone, nor
                    // count against the address.
                    app.store.attempt_not_judged(attempt).await?;
                    app.store.give_back(slot).await?;
                    if !events.is_empty() {
                        app.store
                            .record_identity_events(&account, ctx.origin(), &events)
                            .await
                            .map_err(unrecorded)?;
                    }
                    Err(not_judged(error))
                }
            }
        }
    }
}

/// Asks Cognito to send `email` a password-reset code (`ForgotPassword`), limited per address
/// ([`RateLimit::PASSWORD_RESETS_PER_ADDRESS`]) and then per email
/// ([`RateLimit::PASSWORD_RESETS_PER_EMAIL`]), and records the request
/// (`password.reset.requested`, with whether a code was sent) in the account's trail, or the
/// platform's for an email that names no one. Whether a code was sent is never told (AUTHN-9):
/// `Ok(())` for every email Cognito accepted the request for.
///
/// Errors: 429 `too-many-requests` (either limit, with `Retry-After`; or Cognito's quota), 503
/// when Cognito or the store is unavailable.
pub async fn request_password_reset(app: &App, ctx: &RequestCtx, email: &Email) -> Result<(), Problem> {
    let address = address(ctx)?;
    let _counted = within_limit(
        app,
        ctx,
        RateLimit::PASSWORD_RESETS_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    let account = app.store.account(email.as_str()).await?;
    let _counted = within_limit(
        app,
        ctx,
        RateLimit::PASSWORD_RESETS_PER_EMAIL,
        &Subject::account(email.as_str()),
        &account,
    )
    .await?;
    let sent = app
        .cognito
        .forgot_password()
        .client_id(&app.config.user_pool_client_id)
        .username(email.as_str())
        .send()
        .await;
    let outcome = match sent {
        // Cognito answers alike for an unknown user (PreventUserExistenceErrors); the trail
        // knows which it was.
        Ok(_) if account.is_known() => "code-sent",
        Ok(_) => "unknown-account",
        Err(error) => match error.into_service_error() {
            ForgotPasswordError::UserNotFoundException(_) => "unknown-account",
            ForgotPasswordError::InvalidParameterException(_) => "no-verified-email",
            ForgotPasswordError::NotAuthorizedException(_) => "not-allowed",
            ForgotPasswordError::LimitExceededException(_) | ForgotPasswordError::TooManyRequestsException(_) => {
                return Err(Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS))
            }
            other => return Err(Problem::unavailable(other)),
        },
    };
    app.store
        .record_identity_event(
            &account,
            ctx.origin(),
            Action::PasswordResetRequested,
            &json!({ "outcome": outcome }),
        )
        .await
        .map_err(unrecorded)?;
    Ok(())
}

/// A reset code as Cognito emails it: six ASCII digits.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ResetCode(String);

impl TryFrom<String> for ResetCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(ResetCode(value))
        } else {
            Err("code: must be the 6 digits of the reset code".into())
        }
    }
}

/// Sets `email`'s password to `new` with a reset code (`ConfirmForgotPassword`), guarded like
/// a sign-in: refused codes are counted per address
/// ([`RateLimit::PASSWORD_RESET_FAILURES_PER_ADDRESS`]) and per account (five in a row lock the
/// account's resets for the sign-in lockout's length, `Subject::password_reset`), and each
/// judged attempt is recorded (`password.reset` or `password.reset.failed`) in the account's
/// trail, or the platform's.
///
/// Errors: 400 `invalid-code` (wrong, used or expired code, unknown email, locked resets: one
/// answer), 400 `weak-password` when Cognito refuses a password the policy allows, 429 (the
/// address's limit or Cognito's quota), 503. Cognito's change and the trail's entry cannot be
/// one transaction: a reset whose entry cannot be committed is answered 503 and logged as an
/// error, though the password did change.
pub async fn reset_password(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    code: &ResetCode,
    new: &NewPassword,
) -> Result<(), Problem> {
    let address = address(ctx)?;
    let slot = within_limit(
        app,
        ctx,
        RateLimit::PASSWORD_RESET_FAILURES_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    let attempt = match app
        .store
        .reserve_attempt(&Subject::password_reset(email.as_str()), app.config.sign_in_lockout)
        .await?
    {
        Reservation::Granted(attempt) => attempt,
        Reservation::Refused => return Err(Problem::invalid_code()),
    };
    let account = app.store.account(email.as_str()).await?;
    let number = attempt.number();
    let result = app
        .cognito
        .confirm_forgot_password()
        .client_id(&app.config.user_pool_client_id)
        .username(email.as_str())
        .confirmation_code(&code.0)
        .password(new.expose())
        .send()
        .await;
    let error = match result {
        Ok(_) => {
            let recorded = app
                .store
                .record_identity_event(
                    &account,
                    ctx.origin(),
                    Action::PasswordReset,
                    &json!({ "attempt": number }),
                )
                .await;
            if let Err(error) = app.store.attempt_succeeded(attempt).await {
                tracing::error!(%error, "the reset's attempt count was not cleared");
            }
            if let Err(error) = app.store.give_back(slot).await {
                tracing::error!(%error, "the reset's address count was not cleared");
            }
            if let Err(error) = recorded {
                tracing::error!(%error, "a password reset Cognito made has no audit entry");
                return Err(unrecorded(error));
            }
            return Ok(());
        }
        Err(error) => error.into_service_error(),
    };
    let reason = match &error {
        ConfirmForgotPasswordError::CodeMismatchException(_) => "wrong-code",
        ConfirmForgotPasswordError::ExpiredCodeException(_) => "expired-code",
        ConfirmForgotPasswordError::UserNotFoundException(_) => "unknown-account",
        ConfirmForgotPasswordError::NotAuthorizedException(_) => "not-allowed",
        ConfirmForgotPasswordError::InvalidPasswordException(_) => {
            app.store.attempt_not_judged(attempt).await?;
            app.store.give_back(slot).await?;
            return Err(Problem::weak_password(&[Violation::NotAccepted]));
        }
        ConfirmForgotPasswordError::TooManyFailedAttemptsException(_)
        | ConfirmForgotPasswordError::LimitExceededException(_)
        | ConfirmForgotPasswordError::TooManyRequestsException(_) => {
            app.store.attempt_not_judged(attempt).await?;
            app.store.give_back(slot).await?;
            return Err(Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS));
        }
        _ => {
            app.store.attempt_not_judged(attempt).await?;
            app.store.give_back(slot).await?;
            return Err(Problem::unavailable(error));
        }
    };
    // Cognito says "wrong code" for an email that names no one, too: the trail says which.
    let reason = if account.is_known() { reason } else { "unknown-account" };
    let mut outcome = json!({ "attempt": number, "reason": reason });
    if let Failed::Locked { until } = app.store.attempt_failed(attempt).await? {
        outcome["lockedUntil"] = json!(rfc3339(until));
    }
    app.store
        .record_identity_event(&account, ctx.origin(), Action::PasswordResetFailed, &outcome)
        .await
        .map_err(unrecorded)?;
    Err(Problem::invalid_code())
}

/// The client's address as the edge established it. Every request has one (the edge layer
/// refuses a request without it); none here is Quire's fault, not a shared bucket.
fn address(ctx: &RequestCtx) -> Result<&str, Problem> {
    ctx.source_ip
        .as_deref()
        .ok_or_else(|| Problem::internal("a public identity route without the viewer's address"))
}

/// A store failure while recording an identity event: the request is refused as unavailable
/// (503, retry later), never answered as if it had been recorded.
fn unrecorded(error: quire_store::StoreError) -> Problem {
    Problem::unavailable(error)
}

/// Counts one request of `subject` under `limit`. Over the limit: a 429 with `Retry-After`, and
/// the window's trip recorded about `whom` (the only refusal of the window that is: RATE-5).
async fn within_limit(
    app: &App,
    ctx: &RequestCtx,
    limit: RateLimit,
    subject: &Subject,
    whom: &Account,
) -> Result<Slot, Problem> {
    match app.store.count_request(limit, subject).await? {
        Limited::Allowed(slot) => Ok(slot),
        Limited::Refused(refusal) => {
            if refusal.trip {
                let outcome = json!({
                    "limit": limit.name,
                    "max": limit.max,
                    "windowSeconds": limit.window.as_secs(),
                    "windowEndsAt": rfc3339(UNIX_EPOCH + Duration::from_secs(refusal.window_ends)),
                });
                app.store
                    .record_identity_event(whom, ctx.origin(), Action::RateLimitTripped, &outcome)
                    .await
                    .map_err(unrecorded)?;
            }
            Err(Problem::too_many_requests(refusal.retry_after.as_secs()))
        }
    }
}

/// Why Cognito refused a password it judged, as the trail records it (never returned), or
/// `None` when it did not judge it.
fn refusal_reason(error: &InitiateAuthError, known: bool) -> Option<&'static str> {
    Some(match error {
        InitiateAuthError::NotAuthorizedException(_) if known => "wrong-password",
        InitiateAuthError::NotAuthorizedException(_) | InitiateAuthError::UserNotFoundException(_) if !known => {
            "unknown-account"
        }
        InitiateAuthError::UserNotFoundException(_) => "unknown-to-identity-provider",
        InitiateAuthError::UserNotConfirmedException(_) => "email-not-confirmed",
        InitiateAuthError::PasswordResetRequiredException(_) => "password-reset-required",
        _ => return None,
    })
}

/// How a refusal Cognito did not judge reaches the client.
fn not_judged(error: InitiateAuthError) -> Problem {
    match error {
        // Cognito's request quota for the user pool: the client should slow down (429), not
        // read it as an outage.
        InitiateAuthError::TooManyRequestsException(_) => Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS),
        other => Problem::unavailable(other),
    }
}

/// A time as the trail writes it: UTC, RFC 3339, seconds.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cognitoidentityprovider::types::error::{
        NotAuthorizedException, TooManyRequestsException, UserNotFoundException,
    };

    /// Cognito's refusals: judged ones are failures with the reason kept for the trail, and the
    /// same for an unknown account and a wrong password as far as the client sees; its quota is
    /// a 429 with `Retry-After`.
    ///
    /// Proves: AUTHN-9
    #[test]
    fn cognito_refusals_are_judged_or_not() {
        let wrong = InitiateAuthError::NotAuthorizedException(NotAuthorizedException::builder().build());
        let unknown = InitiateAuthError::UserNotFoundException(UserNotFoundException::builder().build());
        assert_eq!(refusal_reason(&wrong, true), Some("wrong-password"));
        assert_eq!(refusal_reason(&wrong, false), Some("unknown-account"));
        assert_eq!(refusal_reason(&unknown, false), Some("unknown-account"));
        assert_eq!(refusal_reason(&unknown, true), Some("unknown-to-identity-provider"));
        let quota = InitiateAuthError::TooManyRequestsException(TooManyRequestsException::builder().build());
        assert_eq!(refusal_reason(&quota, true), None);
        let problem = not_judged(quota);
        assert_eq!(problem.status(), http::StatusCode::TOO_MANY_REQUESTS);
        let response = problem.into_response();
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }
}
