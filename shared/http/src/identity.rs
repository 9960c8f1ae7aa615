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
//!
//! A member with a TOTP authenticator (AUTHN-7) is asked for its code after a right password:
//! the challenge is held (`quire_store::challenges`) and answered through
//! [`answer_mfa_challenge`], guarded like the password (the same address limit and account
//! lockout: a wrong code is a failed attempt). An Owner or Admin without one gets a session the
//! admin MFA gate (`pipeline::mfa`) holds to enrolment: [`associate_authenticator`], then
//! [`verify_authenticator`].
//!
//! A member invited with a temporary password is asked for a password of their own after it
//! (Cognito's `NEW_PASSWORD_REQUIRED`): the challenge is held alike and answered through
//! [`answer_new_password`], guarded alike; the new password is checked against the policy
//! first and recorded as `password.changed` with the session it starts.
//!
//! Registering an organisation and confirming its Owner's email (AUTHN-6, RATE-1) are in
//! `registration` ([`register`], [`confirm_registration`], [`resend_confirmation`]).

use crate::auth::AuthError;
use crate::context::RequestCtx;
use crate::problem::Problem;
use crate::App;
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cognitoidentityprovider::operation::admin_user_global_sign_out::AdminUserGlobalSignOutError;
use aws_sdk_cognitoidentityprovider::operation::associate_software_token::AssociateSoftwareTokenError;
use aws_sdk_cognitoidentityprovider::operation::change_password::ChangePasswordError;
use aws_sdk_cognitoidentityprovider::operation::confirm_forgot_password::ConfirmForgotPasswordError;
use aws_sdk_cognitoidentityprovider::operation::forgot_password::ForgotPasswordError;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::{InitiateAuthError, InitiateAuthOutput};
use aws_sdk_cognitoidentityprovider::operation::respond_to_auth_challenge::RespondToAuthChallengeError;
use aws_sdk_cognitoidentityprovider::operation::set_user_mfa_preference::SetUserMFAPreferenceError;
use aws_sdk_cognitoidentityprovider::operation::verify_software_token::VerifySoftwareTokenError;
use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, AuthenticationResultType, ChallengeNameType, SoftwareTokenMfaSettingsType,
    VerifySoftwareTokenResponseType,
};
use quire_core::audit::Action;
use quire_core::ids::UserId;
use quire_core::password::{NewPassword, Violation};
use quire_store::accounts::{Account, StartSession};
use quire_store::attempts::{Failed, Reservation, Subject};
use quire_store::challenges::{ChallengeKind, HoldChallenge};
use quire_store::limits::{Limited, RateLimit, Slot};
use quire_store::sessions::{Refreshed, SessionId, SessionRefused};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod join;
mod provider;
mod registration;
pub use join::{join, NewJoin};
pub use provider::{configure_identity_provider, identity_provider_configured};
pub use registration::{
    confirm_registration, register, resend_confirmation, DisplayName, NewRegistration, OrganisationName,
};

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

/// What a right password led to.
pub enum SignIn {
    /// Tokens of a new session. `mfa_setup`: the member's role needs a second factor and they
    /// have none: the admin MFA gate holds the session to enrolment (AUTHN-7).
    Tokens {
        tokens: AuthenticationResultType,
        mfa_setup: bool,
    },
    /// Cognito asks for the member's TOTP code: `session` is Cognito's challenge session, held
    /// by Quire for `quire_store::challenges::CHALLENGE_VALIDITY`; [`answer_mfa_challenge`]
    /// answers it.
    MfaChallenge { session: String },
    /// Cognito asks for a password of the member's own in place of the temporary one they were
    /// invited with (`NEW_PASSWORD_REQUIRED`): held like the TOTP challenge;
    /// [`answer_new_password`] answers it.
    NewPasswordChallenge { session: String },
}

/// A credential check of an account under way: its place in the address's failure count, its
/// reserved attempt, the account the email names, and what to record before its outcome (the
/// end of a lock this attempt found).
struct Guarded {
    slot: Slot,
    subject: Subject,
    attempt: quire_store::attempts::Attempt,
    account: Account,
    events: Vec<(Action, Value)>,
}

/// Guards a credential check of `email` (steps 1 and 2 of the module documentation): the
/// address's failures under [`RateLimit::SIGN_IN_FAILURES_PER_ADDRESS`], then the account's
/// attempt reserved before anything is judged, so that of any number of racing attempts no more
/// than the lockout's limit are. A locked account is answered `refused()`, which the answers of
/// a wrong credential must equal; the refusal keeps its place in the address's count.
async fn guard(app: &App, ctx: &RequestCtx, email: &Email, refused: fn() -> Problem) -> Result<Guarded, Problem> {
    let address = address(ctx)?;
    let slot = within_limit(
        app,
        ctx,
        RateLimit::SIGN_IN_FAILURES_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    let subject = Subject::account(email.as_str());
    let attempt = match app.store.reserve_attempt(&subject, app.config.sign_in_lockout).await? {
        Reservation::Granted(attempt) => attempt,
        Reservation::Refused { .. } => return Err(refused()),
    };
    let account = app.store.account(email.as_str()).await?;
    let mut events: Vec<(Action, Value)> = Vec::new();
    if let Some(ended) = attempt.ended_lock() {
        events.push((Action::SignInUnlocked, json!({ "lockedUntil": rfc3339(ended) })));
    }
    Ok(Guarded {
        slot,
        subject,
        attempt,
        account,
        events,
    })
}

/// Guards a check of an emailed code (a reset or confirmation code) for `subject`: the
/// address's refused codes under `limit`, then the account's attempt reserved before anything
/// is judged (a locked account is answered `refused()`, which a wrong code's answer must equal).
async fn guard_code(
    app: &App,
    ctx: &RequestCtx,
    limit: RateLimit,
    subject: &Subject,
    refused: fn() -> Problem,
) -> Result<(Slot, quire_store::attempts::Attempt), Problem> {
    let address = address(ctx)?;
    let slot = within_limit(app, ctx, limit, &Subject::address(address), &Account::client(address)).await?;
    match app.store.reserve_attempt(subject, app.config.sign_in_lockout).await? {
        Reservation::Granted(attempt) => Ok((slot, attempt)),
        Reservation::Refused { .. } => Err(refused()),
    }
}

/// Revokes at Cognito the tokens of a sign-in Quire did not hand out (it could not be recorded,
/// or skipped a second factor), so they do not live on there. Best effort: Quire refuses them in
/// any case, as no session of its names them.
async fn discard(app: &App, tokens: Option<&AuthenticationResultType>) {
    let Some(refresh) = tokens.and_then(|t| t.refresh_token()) else {
        return;
    };
    if let Err(error) = revoke_refresh_token(app, refresh).await {
        tracing::warn!(%error, "the tokens of a refused sign-in were not revoked at Cognito");
    }
}

/// Revokes a refresh token at Cognito (`RevokeToken`, with the app client's secret), and with
/// it the access tokens it issued.
///
/// Errors: what Cognito said, or why it could not be asked (the token stays valid there).
async fn revoke_refresh_token(app: &App, token: &str) -> Result<(), String> {
    let secret = app
        .client
        .secret(&app.cognito)
        .await
        .map_err(|p| p.detail().to_owned())?;
    app.cognito
        .revoke_token()
        .client_id(app.client.id())
        .set_client_secret(secret.map(|s| s.expose().to_owned()))
        .token(token)
        .send()
        .await
        .map(|_| ())
        .map_err(|error| DisplayErrorContext(&error).to_string())
}

/// A Cognito call's `AuthParameters` or `ChallengeResponses`: `entries`, and `SECRET_HASH` for a
/// client with a secret (`crate::app_client`).
fn parameters<const N: usize>(
    entries: [(&str, &str); N],
    secret_hash: Option<String>,
) -> std::collections::HashMap<String, String> {
    entries
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .chain(secret_hash.map(|hash| ("SECRET_HASH".to_owned(), hash)))
        .collect()
}

/// The answer to a right credential Cognito asks a step of that Quire does not hold a
/// challenge for.
const UNOFFERED_STEP: &str = "this account needs a sign-in step this API does not offer yet";

/// Cognito quotas are per second: a client that waits this long finds capacity again.
const COGNITO_RETRY_AFTER_SECONDS: u64 = 1;

/// Checks `email`'s password through Cognito (`InitiateAuth`, `USER_PASSWORD_AUTH`), guarded and
/// recorded as the module documentation says. Returns the session's tokens, or the TOTP or
/// new-password challenge Cognito asks for (held for its answer). A right password that leads
/// to a challenge neither counts as a failure nor clears the account's count: the answer is
/// the attempt that decides.
///
/// Errors: 429 `too-many-requests` (the address's limit, with `Retry-After`), 401
/// `invalid-credentials` (wrong password, unknown email, locked account: one answer), 401
/// `unauthorized` (Cognito asks for a step this API does not offer), 429 for Cognito's own
/// quota, 503 when Cognito or the store is unavailable.
pub async fn check_password(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    password: &Password,
) -> Result<SignIn, Problem> {
    // Before anything is counted: a secret Cognito cannot be asked for judges nothing.
    let secret_hash = app.client.secret_hash(&app.cognito, email.as_str()).await?;
    let Guarded {
        slot,
        subject,
        attempt,
        account,
        mut events,
    } = guard(app, ctx, email, Problem::invalid_credentials).await?;
    let number = attempt.number();
    // A session starts when its password is sent: a revocation made while Cognito answers
    // covers it.
    let started_at = SystemTime::now();
    let result = app
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(app.client.id())
        .set_auth_parameters(Some(parameters(
            [("USERNAME", email.as_str()), ("PASSWORD", &password.0)],
            secret_hash,
        )))
        .send()
        .await;
    match result {
        Ok(out) => {
            // A right password that must not sign in, refused not judged and recorded, its
            // tokens revoked: from outside the organisation's IP allowlist (ORG-3; told only to
            // whoever knew the password, as a wrong one is answered as wrong whatever the
            // address), of a deactivated member, or with tokens and no challenge for a member who enrolled an
            // authenticator (Cognito's state changed round Quire: their factor turned off with
            // an access token).
            let skipped = out.authentication_result.is_some() && account.mfa_enrolled_at().is_some();
            let refusal = if !account.address_allowed(ctx.viewer()) {
                Some(("address-not-allowed", Problem::ip_not_allowed()))
            } else if account.sso_required() {
                // AUTHN-10: told only to whoever knew the password, as for the allowlist.
                Some(("sso-required", Problem::sso_required()))
            } else if account.member_deactivated() {
                // Deactivated (RBAC-4, TEN-6): no session of theirs would be served, and one
                // started now would come alive on reactivation.
                Some(("member-deactivated", Problem::not_member()))
            } else if skipped {
                tracing::error!(
                    account = subject.key_part(),
                    "Cognito issued tokens without the second factor Quire's record requires"
                );
                Some(("second-factor-skipped", Problem::invalid_credentials()))
            } else {
                None
            };
            if let Some((reason, problem)) = refusal {
                discard(app, out.authentication_result.as_ref()).await;
                events.push((Action::SignInFailed, json!({ "attempt": number, "reason": reason })));
                app.store.attempt_not_judged(attempt).await?;
                app.store.give_back(slot).await?;
                app.store
                    .record_identity_events(&account, ctx.origin(), &events, None)
                    .await
                    .map_err(unrecorded)?;
                return Err(problem);
            }
            // The password was right; a session exists only with tokens. A challenge (a new
            // password, MFA) is recorded as such, not as a sign-in.
            match (&out.authentication_result, &out.challenge_name) {
                (Some(_), _) => events.push((Action::SignInSucceeded, json!({ "attempt": number }))),
                (None, challenge) => events.push((
                    Action::SignInChallenged,
                    json!({ "attempt": number, "challenge": challenge.as_ref().map(|c| c.as_str()).unwrap_or("none") }),
                )),
            }
            // A TOTP or new-password challenge of a member is held for its answer.
            let kind = match out.challenge_name {
                Some(ChallengeNameType::SoftwareTokenMfa) => Some(ChallengeKind::SoftwareTokenMfa),
                Some(ChallengeNameType::NewPasswordRequired) => Some(ChallengeKind::NewPasswordRequired),
                _ => None,
            };
            let challenge = out
                .session
                .as_deref()
                .filter(|_| out.authentication_result.is_none() && account.is_known())
                .zip(kind);
            // Tokens start a session, written with the sign-in's entry; a member's only.
            let recorded = match (session_of(app, out.authentication_result.as_ref()).await, challenge) {
                (Ok(None), Some((session, kind))) => app
                    .store
                    .record_challenge(
                        &account,
                        ctx.origin(),
                        &events,
                        HoldChallenge {
                            kind,
                            session,
                            started_at,
                        },
                    )
                    .await
                    .map_err(unrecorded),
                (Ok(session), _) => {
                    let start = session
                        .as_ref()
                        .filter(|_| account.is_known())
                        .map(|(user, id)| StartSession {
                            user,
                            id,
                            policy: account.session_policy(app.config.sessions),
                            started_at,
                            refresh_token: out.authentication_result.as_ref().and_then(|t| t.refresh_token()),
                            second_factor: None,
                        });
                    app.store
                        .record_identity_events(&account, ctx.origin(), &events, start)
                        .await
                        .map_err(unrecorded)
                }
                (Err(problem), _) => Err(problem),
            };
            if let Err(problem) = recorded {
                // Not recorded, not signed in: the tokens Cognito issued are not handed out, and
                // neither the attempt nor the address's request counts.
                discard(app, out.authentication_result.as_ref()).await;
                app.store.attempt_not_judged(attempt).await.map_err(unrecorded)?;
                app.store.give_back(slot).await.map_err(unrecorded)?;
                return Err(problem);
            }
            // Recorded: a failure to clear the counts must not lose the sign-in. A challenge
            // leaves the account's count as it was: its code decides.
            let cleared = match out.authentication_result {
                Some(_) => app.store.attempt_succeeded(attempt).await,
                None => app.store.attempt_not_judged(attempt).await,
            };
            if let Err(error) = cleared {
                tracing::error!(%error, "the sign-in's attempt count was not cleared");
            }
            if let Err(error) = app.store.give_back(slot).await {
                tracing::error!(%error, "the sign-in's address count was not cleared");
            }
            let challenge = challenge.map(|(session, kind)| (session.to_owned(), kind));
            match (out.authentication_result, challenge) {
                (Some(tokens), _) => Ok(SignIn::Tokens {
                    tokens,
                    mfa_setup: account.requires_mfa(),
                }),
                (None, Some((session, ChallengeKind::SoftwareTokenMfa))) => Ok(SignIn::MfaChallenge { session }),
                (None, Some((session, ChallengeKind::NewPasswordRequired))) => {
                    Ok(SignIn::NewPasswordChallenge { session })
                }
                (None, None) => Err(Problem::unauthorized(UNOFFERED_STEP)),
            }
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
                        .record_identity_events(&account, ctx.origin(), &events, None)
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
                            .record_identity_events(&account, ctx.origin(), &events, None)
                            .await
                            .map_err(unrecorded)?;
                    }
                    Err(not_judged(error))
                }
            }
        }
    }
}

/// A TOTP code as an authenticator app shows it (RFC 6238, Cognito's 6 digits). No `Debug`:
/// a current code is a credential.
#[derive(Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct TotpCode(String);

impl TryFrom<String> for TotpCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if six_digits(&value) {
            Ok(TotpCode(value))
        } else {
            Err("code: must be the 6 digits the authenticator shows".into())
        }
    }
}

/// Cognito's challenge session as the client holds it: opaque to Quire, 20 to 2 048
/// characters (Cognito's bounds) of the alphabet its sessions use, never logged (no `Debug`).
#[derive(serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ChallengeSession(String);

impl TryFrom<String> for ChallengeSession {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'.' | b'+' | b'/');
        if value.len() < 20 || value.len() > 2048 || !value.bytes().all(allowed) {
            return Err("session: must be the session the sign-in answered with".into());
        }
        Ok(ChallengeSession(value))
    }
}

/// Answers the TOTP challenge a sign-in of `email` was given (AUTHN-7), guarded like the
/// password: the address's failures ([`RateLimit::SIGN_IN_FAILURES_PER_ADDRESS`]) and the
/// account's lockout count the code as an attempt. Only a challenge Quire's sign-in held
/// (`quire_store::challenges`) is sent to Cognito (`RespondToAuthChallenge`,
/// `SOFTWARE_TOKEN_MFA`). A right code starts a session that has passed a second factor, from
/// the password's check, recorded as `mfa.challenge.passed` and `sign-in.succeeded` with the
/// challenge used in the same transaction; a wrong one is `mfa.challenge.failed` (and
/// `sign-in.locked` when it starts a lock). A challenge Quire does not hold (made up,
/// another's, used or expired) is recorded as failed and counted like a wrong code; one that
/// Cognito no longer knows counts against the address only: it judged nothing.
///
/// Errors: 401 `invalid-credentials` (wrong code, unknown or expired challenge, locked account:
/// one answer), 403 `ip-not-allowed` (a held challenge answered from outside the organisation's
/// IP allowlist, ORG-3: not counted), 429 (the address's limit, with `Retry-After`; Cognito's
/// quota), 503.
pub async fn answer_mfa_challenge(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    session: &ChallengeSession,
    code: &TotpCode,
) -> Result<AuthenticationResultType, Problem> {
    let (tokens, _) = answer_challenge(app, ctx, email, session, Answer::Totp(code)).await?;
    Ok(tokens)
}

/// Answers the new-password challenge a sign-in of `email` was given (`NEW_PASSWORD_REQUIRED`:
/// the member signed in with the temporary password they were invited with), guarded like the
/// TOTP answer (the address's failures, the account's lockout: a locked account gets the answer
/// an unknown challenge gets). `new` was checked against the policy (AUTHN-3) first. Only a
/// challenge Quire's sign-in held is sent to Cognito (`RespondToAuthChallenge`,
/// `NEW_PASSWORD_REQUIRED`). Cognito's acceptance is recorded as `password.changed` (the
/// password's age counts from it, AUTHN-4) and `sign-in.succeeded` with the session it starts,
/// in one transaction with the challenge used; the account's failure count is cleared, as the
/// right temporary password earned. A challenge Quire does not hold is `password.change.failed`
/// and counted like a wrong code; one that Cognito no longer knows counts against the address
/// only.
///
/// Returns the session's tokens, and whether the admin MFA gate holds them to enrolment (an
/// Owner or Admin, who must enrol an authenticator next). When the sign-in cannot be completed
/// though Cognito set the password (Cognito asks another step; its tokens skip a second factor
/// Quire's record requires; the session cannot be recorded), the change is recorded and the
/// answer is a 401 `unauthorized` telling the member to sign in with the new password.
///
/// Errors: 401 `invalid-credentials` (unknown, used or expired challenge; locked account), 400
/// `weak-password` (Cognito refused the password: `recently-used`, one of the member's last 5,
/// counted against the lockout, or `not-accepted`; each recorded as `password.change.failed`),
/// 403 `ip-not-allowed` (answered from outside the organisation's IP allowlist, not counted),
/// 429 (the address's limit, with `Retry-After`; Cognito's quota), 503.
pub async fn answer_new_password(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    session: &ChallengeSession,
    new: &NewPassword,
) -> Result<(AuthenticationResultType, bool), Problem> {
    answer_challenge(app, ctx, email, session, Answer::NewPassword(new)).await
}

/// An answer to a held challenge (`quire_store::challenges`).
#[derive(Clone, Copy)]
enum Answer<'a> {
    Totp(&'a TotpCode),
    NewPassword(&'a NewPassword),
}

impl Answer<'_> {
    fn kind(self) -> ChallengeKind {
        match self {
            Answer::Totp(_) => ChallengeKind::SoftwareTokenMfa,
            Answer::NewPassword(_) => ChallengeKind::NewPasswordRequired,
        }
    }

    fn cognito_name(self) -> ChallengeNameType {
        match self {
            Answer::Totp(_) => ChallengeNameType::SoftwareTokenMfa,
            Answer::NewPassword(_) => ChallengeNameType::NewPasswordRequired,
        }
    }

    /// Cognito's `ChallengeResponses` entry of the answer.
    fn response(&self) -> (&'static str, &str) {
        match self {
            Answer::Totp(code) => ("SOFTWARE_TOKEN_MFA_CODE", &code.0),
            Answer::NewPassword(new) => ("NEW_PASSWORD", new.expose()),
        }
    }

    /// The entry of a refused answer.
    fn failed(self) -> Action {
        match self {
            Answer::Totp(_) => Action::MfaChallengeFailed,
            Answer::NewPassword(_) => Action::PasswordChangeFailed,
        }
    }

    /// The answer every refusal gets (a locked account's included).
    fn refused(self) -> fn() -> Problem {
        match self {
            Answer::Totp(_) => Problem::invalid_mfa_answer,
            Answer::NewPassword(_) => Problem::invalid_new_password_answer,
        }
    }
}

/// Answers a challenge Quire's sign-in held, as [`answer_mfa_challenge`] and
/// [`answer_new_password`] say.
async fn answer_challenge(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    session: &ChallengeSession,
    answer: Answer<'_>,
) -> Result<(AuthenticationResultType, bool), Problem> {
    let secret = app.client.secret(&app.cognito).await?;
    let Guarded {
        slot,
        subject,
        attempt,
        account,
        mut events,
    } = guard(app, ctx, email, answer.refused()).await?;
    let number = attempt.number();
    let Some(challenge) = app.store.pending_challenge(&account, answer.kind(), &session.0).await? else {
        // A guess at a session: counted like a wrong code, so that made-up sessions write no
        // more into the account's trail than wrong passwords can.
        events.push((
            answer.failed(),
            json!({ "attempt": number, "reason": "unknown-challenge" }),
        ));
        if let Failed::Locked { until } = app.store.attempt_failed(attempt).await? {
            events.push((
                Action::SignInLocked,
                json!({ "lockedUntil": rfc3339(until), "failures": number }),
            ));
        }
        record_refusal(app, ctx, &account, answer, &events).await?;
        return Err(answer.refused()());
    };
    // ORG-3: the challenge was held for a password checked inside the organisation's allowlist;
    // its answer must come from inside it too (the held session proves the password, so the
    // answer tells nothing to whoever does not know it). AUTHN-10: a challenge held before the
    // organisation turned SSO-only completes no password sign-in after. Not counted, nothing
    // sent to Cognito.
    let refusal = if !account.address_allowed(ctx.viewer()) {
        Some(("address-not-allowed", Problem::ip_not_allowed()))
    } else if account.sso_required() {
        Some(("sso-required", Problem::sso_required()))
    } else {
        None
    };
    if let Some((reason, problem)) = refusal {
        events.push((answer.failed(), json!({ "attempt": number, "reason": reason })));
        release(app, attempt, slot).await;
        record_refusal(app, ctx, &account, answer, &events).await?;
        return Err(problem);
    }
    let answered = app
        .cognito
        .respond_to_auth_challenge()
        .client_id(app.client.id())
        .challenge_name(answer.cognito_name())
        .session(&session.0)
        // The member's Cognito username (their `sub`): what Cognito binds the challenge to and
        // checks the secret hash of.
        .set_challenge_responses(Some(parameters(
            [("USERNAME", challenge.user().as_str()), answer.response()],
            secret.map(|s| s.secret_hash(challenge.user().as_str(), app.client.id())),
        )))
        .send()
        .await;
    let error = match answered {
        Ok(out) => {
            let tokens = out.authentication_result;
            match answer {
                Answer::Totp(_) => {
                    events.push((
                        Action::MfaChallengePassed,
                        json!({ "attempt": number, "method": "totp" }),
                    ));
                    events.push((
                        Action::SignInSucceeded,
                        json!({ "attempt": number, "secondFactor": "totp" }),
                    ));
                }
                Answer::NewPassword(_) => {
                    // Cognito set the password: from here on it is recorded, whatever else.
                    events.push((
                        Action::PasswordChanged,
                        json!({ "attempt": number, "via": "new-password-challenge" }),
                    ));
                    // Tokens without the second factor Quire's record says the member has (it
                    // was turned off round Quire), or no tokens (Cognito asks another step):
                    // the password is set, the sign-in is not completed.
                    let skipped = tokens.is_some() && account.mfa_enrolled_at().is_some();
                    if skipped || tokens.is_none() {
                        if skipped {
                            tracing::error!(
                                account = subject.key_part(),
                                "Cognito issued tokens without the second factor Quire's record requires"
                            );
                            events.push((
                                Action::SignInFailed,
                                json!({ "attempt": number, "reason": "second-factor-skipped" }),
                            ));
                        }
                        discard(app, tokens.as_ref()).await;
                        // Recorded first: nothing may return before the change is.
                        let problem = new_password_set(app, ctx, &account, &events, Some(&challenge)).await;
                        release(app, attempt, slot).await;
                        return Err(problem);
                    }
                    events.push((Action::SignInSucceeded, json!({ "attempt": number })));
                }
            }
            // Whether the store was asked to record: then the runs of events before the
            // member's own (an unlock) were committed unless they were what failed.
            let mut stored = false;
            let recorded = match session_of(app, tokens.as_ref()).await {
                Ok(started) => {
                    stored = true;
                    let start = started.as_ref().map(|(user, id)| StartSession {
                        user,
                        id,
                        policy: account.session_policy(app.config.sessions),
                        started_at: challenge.started_at(),
                        refresh_token: tokens.as_ref().and_then(|t| t.refresh_token()),
                        second_factor: matches!(answer, Answer::Totp(_)).then_some(&challenge),
                    });
                    match (answer, start) {
                        (Answer::Totp(_), None) => Err(Problem::unauthorized(UNOFFERED_STEP)),
                        (Answer::Totp(_), Some(start)) => app
                            .store
                            .record_identity_events(&account, ctx.origin(), &events, Some(start))
                            .await
                            .map_err(|error| match error {
                                // Another answer used the challenge first.
                                quire_store::StoreError::Conflict => answer.refused()(),
                                other => unrecorded(other),
                            }),
                        (Answer::NewPassword(_), start) => app
                            .store
                            .record_new_password(&account, ctx.origin(), &events, Some(&challenge), start)
                            .await
                            .map_err(unrecorded),
                    }
                }
                Err(problem) => Err(problem),
            };
            if let Err(problem) = recorded {
                discard(app, tokens.as_ref()).await;
                if let Answer::NewPassword(_) = answer {
                    // The password is set all the same: recorded without the session, before
                    // anything else may fail.
                    events.retain(|(action, _)| *action != Action::SignInSucceeded);
                    if stored {
                        events.drain(..first_change(&events));
                    }
                    let problem = new_password_set(app, ctx, &account, &events, Some(&challenge)).await;
                    release(app, attempt, slot).await;
                    return Err(problem);
                }
                app.store.attempt_not_judged(attempt).await.map_err(unrecorded)?;
                app.store.give_back(slot).await.map_err(unrecorded)?;
                return Err(problem);
            }
            if let Err(error) = app.store.attempt_succeeded(attempt).await {
                tracing::error!(%error, "the sign-in's attempt count was not cleared");
            }
            if let Err(error) = app.store.give_back(slot).await {
                tracing::error!(%error, "the sign-in's address count was not cleared");
            }
            let mfa_setup = matches!(answer, Answer::NewPassword(_)) && account.requires_mfa();
            return tokens
                .map(|tokens| (tokens, mfa_setup))
                .ok_or_else(|| Problem::internal("a recorded sign-in without tokens"));
        }
        Err(error) => error.into_service_error(),
    };
    // What the refusal was, whether it judged the account's credential (a wrong code; a recent
    // password, which counts in case Cognito checks the history before the session: decision
    // 37), and its answer.
    let refused = answer.refused()();
    let (reason, judged, problem) = match &error {
        RespondToAuthChallengeError::CodeMismatchException(_)
        | RespondToAuthChallengeError::ExpiredCodeException(_)
            if matches!(answer, Answer::Totp(_)) =>
        {
            ("wrong-code", true, refused)
        }
        RespondToAuthChallengeError::PasswordHistoryPolicyViolationException(_) => (
            "recently-used",
            true,
            Problem::weak_password(&[Violation::RecentlyUsed]),
        ),
        // Quire's policy passed it; Cognito's own checks did not.
        RespondToAuthChallengeError::InvalidPasswordException(_) => {
            ("not-accepted", false, Problem::weak_password(&[Violation::NotAccepted]))
        }
        // Cognito no longer knows the session (expired, used), or its user or factor is gone or
        // barred: nothing was judged, and a new sign-in is the way on.
        RespondToAuthChallengeError::NotAuthorizedException(_) if !secret_refused(&error) => {
            ("expired-challenge", false, refused)
        }
        RespondToAuthChallengeError::UserNotFoundException(_)
        | RespondToAuthChallengeError::SoftwareTokenMfaNotFoundException(_)
        | RespondToAuthChallengeError::PasswordResetRequiredException(_) => ("expired-challenge", false, refused),
        // What the emulator answers for a session it does not know; on AWS, a client or pool
        // that does not exist, which is Quire's configuration: logged.
        RespondToAuthChallengeError::ResourceNotFoundException(_) => {
            tracing::warn!(error = %DisplayErrorContext(&error), "RespondToAuthChallenge: resource not found");
            ("expired-challenge", false, refused)
        }
        _ => {
            app.store.attempt_not_judged(attempt).await?;
            app.store.give_back(slot).await?;
            if !events.is_empty() {
                record_refusal(app, ctx, &account, answer, &events).await?;
            }
            return Err(match error {
                RespondToAuthChallengeError::TooManyRequestsException(_) => {
                    Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS)
                }
                other => Problem::unavailable(other),
            });
        }
    };
    events.push((answer.failed(), json!({ "attempt": number, "reason": reason })));
    if judged {
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
    } else {
        app.store.attempt_not_judged(attempt).await?;
    }
    record_refusal(app, ctx, &account, answer, &events).await?;
    Err(problem)
}

/// Records a refused answer's events in the account's trail, with the actions its route
/// declares.
async fn record_refusal(
    app: &App,
    ctx: &RequestCtx,
    account: &Account,
    answer: Answer<'_>,
    events: &[(Action, Value)],
) -> Result<(), Problem> {
    let recorded = match answer {
        Answer::Totp(_) => {
            app.store
                .record_identity_events(account, ctx.origin(), events, None)
                .await
        }
        Answer::NewPassword(_) => {
            app.store
                .record_new_password_refused(account, ctx.origin(), events)
                .await
        }
    };
    recorded.map_err(unrecorded)
}

/// What a new password Cognito set answers when the sign-in cannot be completed (Cognito asks
/// another step, its tokens skip the member's second factor, or the session cannot be
/// recorded): the change is recorded with `events` (`password.changed` and what refused the
/// sign-in), using `answered` if it is still unused and without it otherwise (another answer
/// used it), and the member is told to sign in with the new password. A change that cannot be
/// recorded at all is logged as an error: Cognito's change and the trail cannot be one
/// transaction.
async fn new_password_set(
    app: &App,
    ctx: &RequestCtx,
    account: &Account,
    events: &[(Action, Value)],
    answered: Option<&quire_store::challenges::PendingChallenge>,
) -> Problem {
    let mut recorded = app
        .store
        .record_new_password(account, ctx.origin(), events, answered, None)
        .await;
    // Another answer used the challenge: the runs before the change committed (the member's
    // run is the one that failed); the change is recorded without the challenge.
    if answered.is_some() && matches!(recorded, Err(quire_store::StoreError::Conflict)) {
        recorded = app
            .store
            .record_new_password(account, ctx.origin(), &events[first_change(events)..], None, None)
            .await;
    }
    if let Err(error) = recorded {
        tracing::error!(%error, "a password Cognito set from a new-password challenge has no audit entry");
    }
    Problem::unauthorized(NEW_PASSWORD_SET)
}

/// Where `password.changed` is among `events` (0 if it is not).
fn first_change(events: &[(Action, Value)]) -> usize {
    events
        .iter()
        .position(|(action, _)| *action == Action::PasswordChanged)
        .unwrap_or(0)
}

/// Gives an attempt and the address's count back uncounted once what had to be recorded is:
/// a failure is logged, not answered.
async fn release(app: &App, attempt: quire_store::attempts::Attempt, slot: Slot) {
    if let Err(error) = app.store.attempt_not_judged(attempt).await {
        tracing::error!(%error, "an attempt was not given back");
    }
    if let Err(error) = app.store.give_back(slot).await {
        tracing::error!(%error, "an address's count was not given back");
    }
}

/// See [`new_password_set`].
const NEW_PASSWORD_SET: &str =
    "the new password is set, but this sign-in could not be completed: sign in with the new password";

/// Starts enrolling a TOTP authenticator for the caller (AUTHN-7): Cognito makes a new secret
/// (`AssociateSoftwareToken`, with the caller's access token) for the caller's authenticator app.
/// Nothing changes until [`verify_authenticator`] proves a code of it; a new call replaces a
/// secret not yet verified. Returns the secret (RFC 4648 base32, as Cognito gives it).
///
/// Errors: 403 `mfa-required` (the caller has an authenticator and this session has not passed
/// it: replacing one takes the current one), 401 `token-revoked` (Cognito refuses the access
/// token: it was revoked there), 503.
pub async fn associate_authenticator(app: &App, ctx: &RequestCtx, access_token: &str) -> Result<String, Problem> {
    may_enrol(ctx.caller()?)?;
    let associated = app
        .cognito
        .associate_software_token()
        .access_token(access_token)
        .send()
        .await;
    match associated {
        Ok(out) => out
            .secret_code
            .ok_or_else(|| Problem::internal("Cognito associated no secret")),
        Err(error) => Err(match error.into_service_error() {
            AssociateSoftwareTokenError::NotAuthorizedException(_) => Problem::token_revoked(),
            other => Problem::unavailable(other),
        }),
    }
}

/// Finishes enrolling the caller's TOTP authenticator (AUTHN-7): Cognito checks `code` against
/// the secret [`associate_authenticator`] made (`VerifySoftwareToken`), then makes TOTP the
/// caller's enabled and preferred second factor (`SetUserMFAPreference`), so that every later
/// sign-in is challenged for a code. The caller's session has passed a second factor from now
/// on, recorded as `mfa.enrolled`.
///
/// Errors: 400 `invalid-code` (the code is not the authenticator's current one, or no
/// enrolment was started), 401 `token-revoked` (Cognito refuses the access token, or the session
/// ended meanwhile), 429 (Cognito's quota), 503. Cognito's enrolment and the entry cannot be one
/// transaction: an enrolment whose entry cannot be committed is answered 503 and logged as an
/// error; every later sign-in is challenged all the same.
pub async fn verify_authenticator(
    app: &App,
    ctx: &RequestCtx,
    access_token: &str,
    code: &TotpCode,
) -> Result<(), Problem> {
    let caller = ctx.caller()?;
    may_enrol(caller)?;
    let verified = app
        .cognito
        .verify_software_token()
        .access_token(access_token)
        .user_code(&code.0)
        .friendly_device_name("quire")
        .send()
        .await;
    let verified = match verified {
        Ok(out) => out,
        Err(error) => {
            return Err(match error.into_service_error() {
                VerifySoftwareTokenError::CodeMismatchException(_)
                | VerifySoftwareTokenError::EnableSoftwareTokenMfaException(_)
                | VerifySoftwareTokenError::SoftwareTokenMfaNotFoundException(_)
                | VerifySoftwareTokenError::InvalidParameterException(_) => Problem::invalid_totp_code(),
                VerifySoftwareTokenError::NotAuthorizedException(_) => Problem::token_revoked(),
                VerifySoftwareTokenError::TooManyRequestsException(_) => {
                    Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS)
                }
                other => Problem::unavailable(other),
            })
        }
    };
    // Cognito may answer without an error and still refuse (`ERROR`): only `SUCCESS` enrols.
    if verified.status != Some(VerifySoftwareTokenResponseType::Success) {
        return Err(Problem::invalid_totp_code());
    }
    set_totp(app, access_token, true).await?;
    match app.store.record_mfa_enrolled(caller, ctx.audit_context()?).await {
        Ok(true) => Ok(()),
        // Enrolled and recorded; the session ended meanwhile, so its next request is refused.
        Ok(false) => {
            tracing::warn!("an authenticator was enrolled from a session that ended meanwhile");
            Ok(())
        }
        Err(error) => {
            tracing::error!(%error, "an authenticator Cognito enrolled has no audit entry");
            Err(unrecorded(error))
        }
    }
}

/// Why a member re-authenticates: named in the entry of a refusal, and choosing the limit it
/// counts against.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// Turning a second factor off (`"purpose": "mfa.disable"`), under
    /// [`RateLimit::REAUTHENTICATIONS_PER_MEMBER`].
    MfaDisable,
    /// An electronic signature (`"purpose": "document.signature"`), under
    /// [`RateLimit::SIGNATURES_PER_MEMBER`]; the value (the document, version and meaning being
    /// signed) is recorded with a refusal as `signing`, so that a failed attempt names what it
    /// tried to sign.
    DocumentSignature(Value),
}

impl Purpose {
    fn name(&self) -> &'static str {
        match self {
            Purpose::MfaDisable => "mfa.disable",
            Purpose::DocumentSignature(_) => "document.signature",
        }
    }

    fn limit(&self) -> RateLimit {
        match self {
            Purpose::MfaDisable => RateLimit::REAUTHENTICATIONS_PER_MEMBER,
            Purpose::DocumentSignature(_) => RateLimit::SIGNATURES_PER_MEMBER,
        }
    }

    /// What a refusal's entry records: the attempt's number, the reason, the purpose and, for a
    /// signature, what was being signed.
    fn refused(&self, attempt: u64, reason: &str) -> Value {
        let mut after = json!({ "attempt": attempt, "reason": reason, "purpose": self.name() });
        if let Purpose::DocumentSignature(signing) = self {
            after["signing"] = signing.clone();
        }
        after
    }
}

/// Re-authenticates the signed-in caller for an act that needs a fresh proof of who they are
/// ([`Purpose`]: turning a second factor off; an electronic signature): their password now and, if they
/// have an authenticator, its current code, checked by Cognito (`InitiateAuth`
/// `USER_PASSWORD_AUTH`, then `RespondToAuthChallenge` `SOFTWARE_TOKEN_MFA`). Guarded like the
/// password change: reserved against the account's lockout (a locked account gets the answer a
/// wrong password gets), a wrong password or code recorded as `reauthentication.failed` with
/// `purpose` (and `sign-in.locked` when it starts a lock) and counted, a success clearing the
/// count. The tokens the check makes Cognito issue are revoked at once: a re-authentication
/// starts no session. Cognito's answer of tokens without a TOTP challenge for a member Quire's
/// record says has an authenticator is refused (the code cannot be proved) and recorded.
///
/// Every re-authentication counts against the member's limit for its purpose
/// ([`Purpose::limit`]) first, whatever its outcome: refusals the lockout does not count
/// (Cognito not judging, a factor turned off round Quire) are limited too; the window's trip
/// is recorded once (`rate-limit.tripped`).
///
/// Errors: 429 `too-many-requests` (the member's limit, with `Retry-After`), 400
/// `reauthentication-failed` (wrong password or code, locked account: one answer; a right
/// password that needs another step; tokens that skipped the member's second factor), 503
/// (Cognito did not judge: an outage or its quota).
pub async fn reauthenticate(
    app: &App,
    ctx: &RequestCtx,
    purpose: Purpose,
    password: &Password,
    code: Option<&TotpCode>,
) -> Result<(), Problem> {
    let caller = ctx.caller()?;
    let secret = app.client.secret(&app.cognito).await?;
    within_own_limit(app, ctx, purpose.limit(), &Subject::reauthentication(&caller.user_id)).await?;
    let (attempt, events) = reserve_own_attempt(app, caller, Problem::reauthentication_failed).await?;
    let number = attempt.number();
    let hash = |name: &str| secret.as_ref().map(|s| s.secret_hash(name, app.client.id()));
    let checked = app
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(app.client.id())
        // By the member's username (their `sub`), not their email: the proof is of this user.
        .set_auth_parameters(Some(parameters(
            [("USERNAME", caller.user_id.as_str()), ("PASSWORD", &password.0)],
            hash(caller.user_id.as_str()),
        )))
        .send()
        .await;
    // What Cognito said: the tokens of a proof to discard, or why it refused (`None`: it
    // judged nothing).
    let outcome: Result<Option<AuthenticationResultType>, Option<&'static str>> = match checked {
        Ok(out) => match (out.authentication_result, out.challenge_name, out.session, code) {
            (Some(tokens), _, _, _) if caller.mfa_enrolled_at.is_some() => {
                tracing::error!("Cognito issued tokens without the second factor Quire's record requires");
                discard(app, Some(&tokens)).await;
                Err(Some("second-factor-skipped"))
            }
            (Some(tokens), _, _, _) => Ok(Some(tokens)),
            (None, Some(ChallengeNameType::SoftwareTokenMfa), Some(session), Some(code)) => {
                let answered = app
                    .cognito
                    .respond_to_auth_challenge()
                    .client_id(app.client.id())
                    .challenge_name(ChallengeNameType::SoftwareTokenMfa)
                    .session(session)
                    .set_challenge_responses(Some(parameters(
                        [
                            ("USERNAME", caller.user_id.as_str()),
                            ("SOFTWARE_TOKEN_MFA_CODE", &code.0),
                        ],
                        hash(caller.user_id.as_str()),
                    )))
                    .send()
                    .await;
                match answered {
                    // Tokens, or nothing proved (Cognito asks yet another step).
                    Ok(out) => match out.authentication_result {
                        Some(tokens) => Ok(Some(tokens)),
                        None => Err(Some("step-not-offered")),
                    },
                    Err(error) => match error.into_service_error() {
                        RespondToAuthChallengeError::CodeMismatchException(_)
                        | RespondToAuthChallengeError::ExpiredCodeException(_) => Err(Some("wrong-code")),
                        other => {
                            tracing::warn!(error = %DisplayErrorContext(&other), "re-authentication: the code was not judged");
                            Err(None)
                        }
                    },
                }
            }
            // The member has an authenticator and gave no code.
            (None, Some(ChallengeNameType::SoftwareTokenMfa), _, None) => Err(Some("code-missing")),
            // A right password that needs a step a re-authentication does not take.
            (None, Some(_), _, _) => Err(Some("step-not-offered")),
            _ => Err(None),
        },
        Err(error) => match refusal_reason(&error.into_service_error(), true) {
            Some(reason) => Err(Some(reason)),
            None => Err(None),
        },
    };
    match outcome {
        Ok(tokens) => {
            discard(app, tokens.as_ref()).await;
            if let Err(error) = app.store.attempt_succeeded(attempt).await {
                tracing::error!(%error, "the re-authentication's attempt count was not cleared");
            }
            if !events.is_empty() {
                app.store
                    .record_own_account_events(caller, ctx.audit_context()?, &events)
                    .await
                    .map_err(unrecorded)?;
            }
            Ok(())
        }
        Err(Some(reason)) => {
            let judged = matches!(reason, "wrong-password" | "wrong-code");
            let refused = (Action::ReauthenticationFailed, purpose.refused(number, reason));
            own_credential_refused(app, ctx, attempt, judged, events, refused).await?;
            Err(Problem::reauthentication_failed())
        }
        Err(None) => {
            own_attempt_not_judged(app, ctx, attempt, &events).await?;
            Err(Problem::unavailable("Cognito did not judge the re-authentication"))
        }
    }
}

/// Makes TOTP the access token's user's enabled and preferred second factor at Cognito, or
/// turns it off (`SetUserMFAPreference`). Errors: 401 `token-revoked` (Cognito refuses the
/// token), 503.
async fn set_totp(app: &App, access_token: &str, on: bool) -> Result<(), Problem> {
    app.cognito
        .set_user_mfa_preference()
        .access_token(access_token)
        .software_token_mfa_settings(
            SoftwareTokenMfaSettingsType::builder()
                .enabled(on)
                .preferred_mfa(on)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|error| match error.into_service_error() {
            SetUserMFAPreferenceError::NotAuthorizedException(_) => Problem::token_revoked(),
            other => Problem::unavailable(other),
        })
}

/// Counts a request of the signed-in caller against `limit` for `subject`: over it, a 429 with
/// `Retry-After`, and the window's first refusal recorded in the caller's trail
/// (`rate-limit.tripped`, as [`within_limit`] records it for an account).
async fn within_own_limit(app: &App, ctx: &RequestCtx, limit: RateLimit, subject: &Subject) -> Result<(), Problem> {
    match app.store.count_request(limit, subject).await? {
        Limited::Allowed(_) => Ok(()),
        Limited::Refused(refusal) => {
            if refusal.trip {
                let tripped = [(Action::RateLimitTripped, tripped(limit, &refusal))];
                app.store
                    .record_own_account_events(ctx.caller()?, ctx.audit_context()?, &tripped)
                    .await
                    .map_err(unrecorded)?;
            }
            Err(Problem::too_many_requests(refusal.retry_after.as_secs()))
        }
    }
}

/// What `rate-limit.tripped` records of a refused request's window.
fn tripped(limit: RateLimit, refusal: &quire_store::limits::Refusal) -> Value {
    json!({
        "limit": limit.name,
        "max": limit.max,
        "windowSeconds": limit.window.as_secs(),
        "windowEndsAt": rfc3339(UNIX_EPOCH + Duration::from_secs(refusal.window_ends)),
    })
}

/// Reserves an attempt of the caller's own credential against their account's lockout (a
/// password change, a re-authentication): the attempt, and the `sign-in.unlocked` it reports
/// when it is the first after a lock. A locked account is answered `refused()`, which a wrong
/// credential's answer must equal.
async fn reserve_own_attempt(
    app: &App,
    caller: &quire_store::tenant::Caller,
    refused: fn() -> Problem,
) -> Result<(quire_store::attempts::Attempt, Vec<(Action, Value)>), Problem> {
    let attempt = match app
        .store
        .reserve_attempt(&Subject::account(&caller.email), app.config.sign_in_lockout)
        .await?
    {
        Reservation::Granted(attempt) => attempt,
        Reservation::Refused { .. } => return Err(refused()),
    };
    let mut events: Vec<(Action, Value)> = Vec::new();
    if let Some(ended) = attempt.ended_lock() {
        events.push((Action::SignInUnlocked, json!({ "lockedUntil": rfc3339(ended) })));
    }
    Ok((attempt, events))
}

/// Gives an attempt of the caller's own credential back uncounted (Cognito judged nothing),
/// recording `events` (an unlock the attempt reported) if there are any.
async fn own_attempt_not_judged(
    app: &App,
    ctx: &RequestCtx,
    attempt: quire_store::attempts::Attempt,
    events: &[(Action, Value)],
) -> Result<(), Problem> {
    app.store.attempt_not_judged(attempt).await?;
    if !events.is_empty() {
        app.store
            .record_own_account_events(ctx.caller()?, ctx.audit_context()?, events)
            .await
            .map_err(unrecorded)?;
    }
    Ok(())
}

/// Records a refused credential of the caller's own after `events`: `refused` (its action and
/// outcome), counted against the account's lockout when `judged` (with `sign-in.locked` when
/// it starts a lock), in one transaction of the caller's trail.
async fn own_credential_refused(
    app: &App,
    ctx: &RequestCtx,
    attempt: quire_store::attempts::Attempt,
    judged: bool,
    mut events: Vec<(Action, Value)>,
    refused: (Action, Value),
) -> Result<(), Problem> {
    let number = attempt.number();
    events.push(refused);
    if !judged {
        app.store.attempt_not_judged(attempt).await?;
    } else if let Failed::Locked { until } = app.store.attempt_failed(attempt).await? {
        events.push((
            Action::SignInLocked,
            json!({ "lockedUntil": rfc3339(until), "failures": number }),
        ));
    }
    app.store
        .record_own_account_events(ctx.caller()?, ctx.audit_context()?, &events)
        .await
        .map_err(unrecorded)
}

/// Turns the caller's TOTP authenticator off (AUTHN-7), after a fresh re-authentication with
/// their password and the authenticator's current code ([`reauthenticate`]): Cognito stops
/// asking for it (`SetUserMFAPreference`, with the caller's access token), and Quire's record
/// of the enrolment is marked off with its entry (`mfa.disabled`). Never for a role that must
/// have a second factor (Owner, Admin): they can replace their authenticator by enrolling a
/// new one from a session that passed the current one.
///
/// Errors: 403 `mfa-mandatory` (the role must keep a second factor), 409 `no-authenticator`,
/// 400 `reauthentication-failed`, 401 `token-revoked` (Cognito refuses the access token), 503. Cognito's change and the entry cannot be one transaction: a change whose entry cannot
/// be committed is answered 503 and logged as an error, though the factor is off at Cognito.
pub async fn disable_authenticator(
    app: &App,
    ctx: &RequestCtx,
    access_token: &str,
    password: &Password,
    code: &TotpCode,
) -> Result<(), Problem> {
    let caller = ctx.caller()?;
    if caller.role.requires_mfa() {
        return Err(Problem::mfa_mandatory());
    }
    let Some(enrolled_at) = caller.mfa_enrolled_at else {
        return Err(Problem::no_authenticator());
    };
    reauthenticate(app, ctx, Purpose::MfaDisable, password, Some(code)).await?;
    if let Err(problem) = set_totp(app, access_token, false).await {
        // Cognito may have turned it off before failing to answer: on again, best effort.
        if let Err(again) = set_totp(app, access_token, true).await {
            tracing::warn!(detail = again.detail(), "an unanswered turn-off could not be undone");
        }
        return Err(problem);
    }
    let recorded = app
        .store
        .record_mfa_disabled(caller, enrolled_at, &["password", "totp"], ctx.audit_context()?)
        .await;
    let Err(error) = recorded else {
        return Ok(());
    };
    // Cognito's factor is off and Quire's record is not: left so, every sign-in of the member
    // would be refused as one that skipped its second factor. Unless Quire's record shows this
    // very enrolment turned off (another request did it, and recorded it), Cognito's factor is
    // turned back on: a factor on at Cognito and off in Quire's record still signs in.
    if let quire_store::StoreError::Conflict = error {
        if let Ok(true) = app.store.authenticator_disabled(caller, enrolled_at).await {
            return Ok(());
        }
    }
    tracing::error!(%error, "the authenticator's removal was not recorded; turning it back on at Cognito");
    if let Err(problem) = set_totp(app, access_token, true).await {
        tracing::error!(
            detail = problem.detail(),
            "an authenticator Cognito turned off has no audit entry and could not be turned back on"
        );
    }
    Err(match error {
        quire_store::StoreError::Conflict => {
            Problem::conflict("the authenticator changed while it was being turned off; it is still on")
        }
        other => unrecorded(other),
    })
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
    let secret_hash = app.client.secret_hash(&app.cognito, email.as_str()).await?;
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
        .client_id(app.client.id())
        .username(email.as_str())
        .set_secret_hash(secret_hash)
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
            ForgotPasswordError::NotAuthorizedException(e) if !secret_refused(&e) => "not-allowed",
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

/// A code as Cognito emails it (a password-reset or a sign-up confirmation code): six ASCII
/// digits.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct EmailedCode(String);

impl TryFrom<String> for EmailedCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if six_digits(&value) {
            Ok(EmailedCode(value))
        } else {
            Err("code: must be the 6 digits of the emailed code".into())
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
/// answer), 400 `weak-password` when Cognito refuses a password the policy allows (`recently-used`:
/// one of the member's last 5, counted and recorded like a wrong code; `not-accepted`), 429 (the
/// address's limit or Cognito's quota), 503. Cognito's change and the trail's entry cannot be
/// one transaction: a reset whose entry cannot be committed is answered 503 and logged as an
/// error, though the password did change.
pub async fn reset_password(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    code: &EmailedCode,
    new: &NewPassword,
) -> Result<(), Problem> {
    let secret_hash = app.client.secret_hash(&app.cognito, email.as_str()).await?;
    let (slot, attempt) = guard_code(
        app,
        ctx,
        RateLimit::PASSWORD_RESET_FAILURES_PER_ADDRESS,
        &Subject::password_reset(email.as_str()),
        Problem::invalid_code,
    )
    .await?;
    let account = app.store.account(email.as_str()).await?;
    let number = attempt.number();
    let result = app
        .cognito
        .confirm_forgot_password()
        .client_id(app.client.id())
        .username(email.as_str())
        .set_secret_hash(secret_hash)
        .confirmation_code(&code.0)
        .password(new.expose())
        .send()
        .await;
    let error = match result {
        Ok(_) => {
            // Whoever held the account's sessions must sign in again, with the new password:
            // Cognito's refresh tokens first, then Quire's sessions with the reset's entry. The
            // password has changed whatever happens here, so a failed sign-out at Cognito is
            // recorded as such and logged, not answered as if nothing had happened.
            let identity_provider = if account.is_known() {
                match app
                    .cognito
                    .admin_user_global_sign_out()
                    .user_pool_id(&app.config.user_pool_id)
                    .username(email.as_str())
                    .send()
                    .await
                {
                    Ok(_) => "signed-out",
                    Err(error) => {
                        tracing::error!(error = %DisplayErrorContext(&error), "a reset account's refresh tokens were not revoked at Cognito");
                        "not-signed-out"
                    }
                }
            } else {
                "no-such-user"
            };
            let recorded = app
                .store
                .record_password_reset(&account, ctx.origin(), &json!({ "attempt": number }), identity_provider)
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
        ConfirmForgotPasswordError::NotAuthorizedException(_) if !secret_refused(&error) => "not-allowed",
        // Counted and recorded like a wrong code, in case Cognito checks the history before
        // the code (decision 37); answered as what it is.
        ConfirmForgotPasswordError::PasswordHistoryPolicyViolationException(_) => "recently-used",
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
    Err(match reason {
        "recently-used" => Problem::weak_password(&[Violation::RecentlyUsed]),
        _ => Problem::invalid_code(),
    })
}

/// The user and session of the access token Cognito issued in `tokens`, if it issued any.
/// The token is verified like any bearer token: one parser for every token Quire reads.
async fn session_of(
    app: &App,
    tokens: Option<&AuthenticationResultType>,
) -> Result<Option<(UserId, SessionId)>, Problem> {
    let Some(access) = tokens.and_then(|t| t.access_token()) else {
        return Ok(None);
    };
    let token = app
        .verifier
        .verify(Some(&format!("Bearer {access}")))
        .await
        .map_err(|error| match error {
            AuthError::JwksUnavailable => Problem::unavailable(error),
            other => Problem::internal(format!("Cognito issued a token Quire refuses: {other}")),
        })?;
    let user =
        UserId::parse(&token.sub).map_err(|_| Problem::internal("Cognito issued a token with an invalid sub"))?;
    let id = token
        .origin_jti
        .as_deref()
        .and_then(SessionId::parse)
        .ok_or_else(|| Problem::internal("Cognito issued a token without a valid origin_jti"))?;
    Ok(Some((user, id)))
}

/// A refresh token as the client holds it: opaque to Quire, 1 to 4 096 characters of the
/// alphabet Cognito's API allows for tokens (`[A-Za-z0-9-_=.]`; Cognito's are JWE strings of
/// about 1 800), never logged (no `Debug`).
#[derive(serde::Deserialize)]
#[serde(try_from = "String")]
pub struct RefreshToken(String);

impl TryFrom<String> for RefreshToken {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'.');
        if value.is_empty() || value.len() > 4096 || !value.bytes().all(allowed) {
            return Err("refreshToken: must be 1 to 4096 characters of A-Z, a-z, 0-9, '-', '_', '=', '.'".into());
        }
        Ok(RefreshToken(value))
    }
}

/// Renews a session's access token (AUTHN-8): Cognito checks the refresh token
/// (`InitiateAuth`, `REFRESH_TOKEN_AUTH`), then Quire's session decides
/// (`Store::refresh_session`): a live session's idle end slides and the new tokens are handed
/// out; an expired one is ended, recorded, and refused; a signed-out, revoked or unknown one is
/// refused. Tokens of a refused refresh are never handed out.
///
/// Refused refreshes count against the client's address
/// ([`RateLimit::REFRESH_FAILURES_PER_ADDRESS`]; given back when granted).
///
/// Errors: 401 `unauthorized` (Cognito refused the refresh token), 401 `session-expired`, 401
/// `token-revoked`, 429 (the address's limit, with `Retry-After`; Cognito's quota), 503.
pub async fn refresh_session(
    app: &App,
    ctx: &RequestCtx,
    refresh: &RefreshToken,
) -> Result<InitiateAuthOutput, Problem> {
    let secret = app.client.secret(&app.cognito).await?;
    let address = address(ctx)?;
    let slot = within_limit(
        app,
        ctx,
        RateLimit::REFRESH_FAILURES_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    // Cognito checks a refresh's secret hash over the member's username, which the token alone
    // does not name: Quire's sign-in remembered whose it is. A token it did not issue is counted
    // and refused without asking Cognito.
    let owner = match app.store.refresh_token_owner(&refresh.0).await {
        Ok(owner) => owner,
        Err(error) => {
            app.store.give_back(slot).await?;
            return Err(stored(error));
        }
    };
    let Some(owner) = owner else {
        return Err(Problem::unauthorized("the refresh token is not valid; sign in again"));
    };
    let asked = app
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .client_id(app.client.id())
        .set_auth_parameters(Some(parameters(
            [("REFRESH_TOKEN", &refresh.0)],
            secret.map(|s| s.secret_hash(owner.as_str(), app.client.id())),
        )))
        .send()
        .await;
    let out = match asked {
        Ok(out) => out,
        Err(error) => {
            return Err(match error.into_service_error() {
                // Made up, expired, revoked at Cognito, or its user is gone or barred: counted.
                InitiateAuthError::NotAuthorizedException(ref e) if !secret_refused(e) => {
                    Problem::unauthorized("the refresh token is not valid; sign in again")
                }
                InitiateAuthError::UserNotFoundException(_)
                | InitiateAuthError::UserNotConfirmedException(_)
                | InitiateAuthError::PasswordResetRequiredException(_) => {
                    Problem::unauthorized("the refresh token is not valid; sign in again")
                }
                other => {
                    app.store.give_back(slot).await?;
                    not_judged(other)
                }
            });
        }
    };
    let Some((user, id)) = session_of(app, out.authentication_result.as_ref()).await? else {
        return Err(Problem::internal("Cognito answered a refresh without tokens"));
    };
    let decided = app
        .store
        .refresh_session(&user, &id, app.config.sessions, ctx.viewer(), ctx.origin())
        .await
        .map_err(unrecorded)?;
    match decided {
        Refreshed::Granted => {
            if let Err(error) = app.store.give_back(slot).await {
                tracing::error!(%error, "the refresh's address count was not cleared");
            }
            Ok(out)
        }
        Refreshed::Refused(SessionRefused::Expired) => Err(Problem::session_expired()),
        Refreshed::Refused(SessionRefused::Revoked | SessionRefused::Unknown) => Err(Problem::token_revoked()),
        Refreshed::AddressNotAllowed => Err(Problem::ip_not_allowed()),
    }
}

/// Revokes every session `user` of the caller's organisation started until now (AUTHN-2):
/// Cognito first (`AdminUserGlobalSignOut`: their refresh tokens stop working), then Quire's
/// revocation mark with its entry (`sessions.revoked`), which refuses their access tokens on the
/// next request. Both are idempotent, so a client retries a 503 as it is.
///
/// Errors: 404 `not-found` (no such member of the caller's organisation), 503.
pub async fn revoke_sessions(app: &App, ctx: &RequestCtx, user: &UserId) -> Result<(), Problem> {
    let caller = ctx.caller()?;
    if !app.store.has_member(caller.scope(), user).await.map_err(stored)? {
        return Err(Problem::not_found());
    }
    let identity_provider = sign_out_everywhere(app, user).await?;
    match app
        .store
        .revoke_sessions(caller.scope(), user, ctx.audit_context()?, identity_provider)
        .await
    {
        Ok(true) => Ok(()),
        // Removed from the organisation between the two reads.
        Ok(false) => Err(Problem::not_found()),
        Err(error) => Err(stored(error)),
    }
}

/// Ends every refresh token of `user` at Cognito (`AdminUserGlobalSignOut`), before Quire's
/// revocation mark ends their sessions: what it found, as `sessions.revoked` records it
/// (`signed-out`, or `no-such-user` when Cognito has no such user, so none of theirs is left).
///
/// Errors: 503 when Cognito cannot be asked.
pub async fn sign_out_everywhere(app: &App, user: &UserId) -> Result<&'static str, Problem> {
    // Cognito's username is the `sub`, which never changes (an email can).
    let signed_out = app
        .cognito
        .admin_user_global_sign_out()
        .user_pool_id(&app.config.user_pool_id)
        .username(user.as_str())
        .send()
        .await;
    match signed_out {
        Ok(_) => Ok("signed-out"),
        Err(error) => match error.into_service_error() {
            AdminUserGlobalSignOutError::UserNotFoundException(_) => Ok("no-such-user"),
            other => Err(Problem::unavailable(other)),
        },
    }
}

/// What became of the refresh token a sign-out was given, as the entry and the answer say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshTokenOutcome {
    /// Cognito revoked it and the access tokens it issued.
    Revoked,
    /// None was given.
    NotGiven,
    /// It is not this session's: Quire did not ask Cognito to revoke it.
    NotThisSession,
    /// Cognito refused to revoke it (or was unavailable): it stays valid there until it expires,
    /// and every token it yields is refused by Quire.
    NotRevoked,
}

impl RefreshTokenOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RefreshTokenOutcome::Revoked => "revoked",
            RefreshTokenOutcome::NotGiven => "not-given",
            RefreshTokenOutcome::NotThisSession => "not-this-session",
            RefreshTokenOutcome::NotRevoked => "not-revoked",
        }
    }
}

/// Signs the caller's session out (AUTHN-2): Quire's session ends with its entry
/// (`session.signed-out`), whatever Cognito answers, so this token and every token of the
/// session are refused on the next request, and the session's refresh token cannot renew it
/// through Quire. Given the session's own `refresh` token (checked against the digest the
/// session keeps), Cognito revokes it first (`RevokeToken`), and with it the access tokens it
/// issued, which Cognito's own user APIs then refuse too; what became of it is recorded and
/// returned. Without it, the refresh token stays valid at Cognito until it expires; any token
/// Cognito mints from it names the ended session and Quire refuses it.
///
/// Errors: 401 `token-revoked` (the session ended meanwhile), 503 (the store).
pub async fn sign_out(
    app: &App,
    ctx: &RequestCtx,
    refresh: Option<&RefreshToken>,
) -> Result<RefreshTokenOutcome, Problem> {
    let caller = ctx.caller()?;
    let outcome = match refresh {
        None => RefreshTokenOutcome::NotGiven,
        Some(token) if !caller.session().issued_refresh_token(&token.0) => RefreshTokenOutcome::NotThisSession,
        Some(token) => match revoke_refresh_token(app, &token.0).await {
            Ok(()) => RefreshTokenOutcome::Revoked,
            Err(error) => {
                tracing::warn!(%error, "a signed-out session's refresh token was not revoked at Cognito");
                RefreshTokenOutcome::NotRevoked
            }
        },
    };
    match app.store.sign_out(caller, ctx.audit_context()?, outcome.as_str()).await {
        Ok(()) => Ok(outcome),
        Err(quire_store::StoreError::Conflict) => Err(Problem::token_revoked()),
        Err(other) => Err(stored(other)),
    }
}

/// Whether the caller may enrol an authenticator: anyone without one, and, to replace one, only
/// from a session that passed it (AUTHN-7): a session held at the admin MFA gate cannot swap the
/// member's authenticator for one of its own.
fn may_enrol(caller: &quire_store::tenant::Caller) -> Result<(), Problem> {
    if caller.mfa_enrolled_at.is_some() && !caller.session().second_factor() {
        return Err(Problem::mfa_required());
    }
    Ok(())
}

/// A store failure of a change: one that may succeed on retry is 503, the rest as
/// `Problem::from` says.
fn stored(error: quire_store::StoreError) -> Problem {
    match error {
        quire_store::StoreError::Aws(_) => Problem::unavailable(error),
        other => Problem::from(other),
    }
}

/// Changes the caller's password (AUTHN-3, AUTHN-4): Cognito checks the current one
/// (`ChangePassword`, with the caller's access token) and sets `new`, which the route checked
/// against the policy first. The current password is a credential check like a sign-in: it is
/// reserved against the account's lockout count (a locked account gets the answer a wrong
/// password gets), a wrong one is recorded (`password.change.failed`, and `sign-in.locked` when
/// it starts a lock), a right one clears the count. A change is recorded as `password.changed`
/// with the new time the expiry counts from. Sessions are kept: the one that changed it goes on;
/// `POST /auth/sessions/revoke-mine` ends the others.
///
/// Errors: 400 `wrong-password` (wrong current password, or locked), 400 `weak-password` (Cognito
/// refused the new one: `recently-used`, one of the member's last 5, counted and recorded like a
/// wrong current password; `not-accepted`), 429 (Cognito's quota), 503. Cognito's change and the entry cannot be
/// one transaction: a change whose entry cannot be committed is answered 503 and logged as an
/// error, though the password did change.
pub async fn change_password(
    app: &App,
    ctx: &RequestCtx,
    access_token: &str,
    current: &Password,
    new: &NewPassword,
) -> Result<(), Problem> {
    let caller = ctx.caller()?;
    // Renewing a password with itself would restart its age and change nothing (AUTHN-4).
    if current.0 == new.expose() {
        return Err(Problem::weak_password(&[Violation::SameAsCurrent]));
    }
    let (attempt, events) = reserve_own_attempt(app, caller, Problem::wrong_password).await?;
    let number = attempt.number();
    let result = app
        .cognito
        .change_password()
        .access_token(access_token)
        .previous_password(&current.0)
        .proposed_password(new.expose())
        .send()
        .await;
    let error = match result {
        Ok(_) => {
            let recorded = app
                .store
                .record_password_change(caller, ctx.audit_context()?, &events)
                .await;
            if let Err(error) = app.store.attempt_succeeded(attempt).await {
                tracing::error!(%error, "the change's attempt count was not cleared");
            }
            if let Err(error) = recorded {
                tracing::error!(%error, "a password change Cognito made has no audit entry");
                return Err(unrecorded(error));
            }
            return Ok(());
        }
        Err(error) => error.into_service_error(),
    };
    let reason = match error {
        ChangePasswordError::NotAuthorizedException(_) => "wrong-password",
        // Counted and recorded like a wrong current password, in case Cognito checks the
        // history before it (decision 37); answered as what it is.
        ChangePasswordError::PasswordHistoryPolicyViolationException(_) => "recently-used",
        other => {
            own_attempt_not_judged(app, ctx, attempt, &events).await?;
            return Err(match other {
                ChangePasswordError::InvalidPasswordException(_) => Problem::weak_password(&[Violation::NotAccepted]),
                ChangePasswordError::LimitExceededException(_) | ChangePasswordError::TooManyRequestsException(_) => {
                    Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS)
                }
                other => Problem::unavailable(other),
            });
        }
    };
    let refused = (
        Action::PasswordChangeFailed,
        json!({ "attempt": number, "reason": reason }),
    );
    own_credential_refused(app, ctx, attempt, true, events, refused).await?;
    Err(match reason {
        "recently-used" => Problem::weak_password(&[Violation::RecentlyUsed]),
        _ => Problem::wrong_password(),
    })
}

/// Whether `value` is a code as Cognito issues them (reset codes, TOTP codes): six ASCII digits.
fn six_digits(value: &str) -> bool {
    value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit())
}

/// The access token a protected request carried (the authentication layer verified it), for
/// the Cognito calls that act with the user's own token.
pub fn bearer(req: &lambda_http::Request) -> Result<&str, Problem> {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| Problem::internal("a protected route without its bearer token"))
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
    // Records that contradict each other (Cognito and the account directory name different
    // users) will not mend on retry: 500, not 503.
    match error {
        quire_store::StoreError::Corrupt(_) => Problem::internal(error),
        other => Problem::unavailable(other),
    }
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
                let outcome = tripped(limit, &refusal);
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
    if secret_refused(error) {
        return None;
    }
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

/// Whether Cognito refused the app client's secret (`crate::app_client`) rather than judging a
/// credential: its `NotAuthorizedException` says so ("Unable to verify secret hash for client
/// …", "SecretHash does not match for the client …", "… configured with secret but SECRET_HASH
/// was not received"). That is Quire's configuration (a secret rotated or a client replaced):
/// never counted against anyone, answered 503, logged as an error.
fn secret_refused(error: &impl ProvideErrorMetadata) -> bool {
    let refused = error.code() == Some("NotAuthorizedException")
        && error.message().is_some_and(|message| {
            let message = message.to_ascii_lowercase();
            ["secret hash", "secrethash", "secret_hash", "client secret"]
                .iter()
                .any(|phrase| message.contains(phrase))
        });
    if refused {
        tracing::error!(
            message = error.message().unwrap_or_default(),
            "Cognito refused the app client's secret"
        );
    }
    refused
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
    use aws_sdk_cognitoidentityprovider::error::ErrorMetadata;
    use aws_sdk_cognitoidentityprovider::types::error::{
        NotAuthorizedException, TooManyRequestsException, UserNotFoundException,
    };

    fn not_authorized(message: &str) -> InitiateAuthError {
        InitiateAuthError::NotAuthorizedException(
            NotAuthorizedException::builder()
                .message(message)
                .meta(
                    ErrorMetadata::builder()
                        .code("NotAuthorizedException")
                        .message(message)
                        .build(),
                )
                .build(),
        )
    }

    /// Cognito refusing the app client's secret is Quire's configuration, not a wrong password:
    /// not judged (503, nothing counted), whatever Cognito's wording; a wrong password is judged.
    ///
    /// Proves: AUTHN-5
    #[test]
    fn a_refused_client_secret_is_not_a_wrong_password() {
        for message in [
            "Unable to verify secret hash for client 4a1b2c3d",
            "SecretHash does not match for the client: 4a1b2c3d",
            "Client 4a1b2c3d is configured with secret but SECRET_HASH was not received",
        ] {
            assert!(secret_refused(&not_authorized(message)), "{message}");
            assert_eq!(refusal_reason(&not_authorized(message), true), None, "{message}");
        }
        let wrong = not_authorized("Incorrect username or password.");
        assert!(!secret_refused(&wrong));
        assert_eq!(refusal_reason(&wrong, true), Some("wrong-password"));
    }

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
