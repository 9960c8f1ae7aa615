//! Registering an organisation (AUTHN-6, AUTHN-9, RATE-1): Cognito's `SignUp` makes the Owner's
//! user, unconfirmed, and Quire writes the organisation, `Pending`, with its Owner in one
//! transaction (`quire_store::registration`). The code Cognito emails confirms the email
//! (`ConfirmSignUp`), and the organisation becomes active; until then Cognito refuses the
//! Owner's sign-in and Quire refuses every request of the organisation.
//!
//! No answer tells whether an email has an account: a registration with a taken email is
//! answered as a new one (and creates nothing); a confirmation for an email with nothing pending
//! is answered as a wrong code; a request for a new code is answered alike for every email.
//! Confirming takes the registration's password as well as the emailed code: the code proves
//! the email, the password that the confirmer is who registered.
//!
//! Guards, as for the password routes: registrations count against the client's address
//! ([`RateLimit::REGISTRATIONS_PER_ADDRESS`], every well-formed attempt, taken emails
//! included); refused confirmations against the address and the account (five in a row lock
//! the account's confirmations for the sign-in lockout's length); requests for new codes per
//! address and per email.

use super::{
    address, guard_code, rfc3339, secret_refused, stored, unrecorded, within_limit, Email, EmailedCode, Password,
};
use super::{Problem, RequestCtx, COGNITO_RETRY_AFTER_SECONDS};
use crate::App;
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::operation::admin_delete_user::AdminDeleteUserError;
use aws_sdk_cognitoidentityprovider::operation::admin_get_user::AdminGetUserError;
use aws_sdk_cognitoidentityprovider::operation::confirm_sign_up::ConfirmSignUpError;
use aws_sdk_cognitoidentityprovider::operation::resend_confirmation_code::ResendConfirmationCodeError;
use aws_sdk_cognitoidentityprovider::operation::sign_up::SignUpError;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, UserStatusType};
use quire_core::audit::Action;
use quire_core::ids::{OrgId, UserId};
use quire_core::password::{NewPassword, PasswordVerifier, Violation};
use quire_core::rbac::Role;
use quire_store::accounts::Account;
use quire_store::attempts::{Failed, Subject};
use quire_store::limits::RateLimit;
use quire_store::registration::{Confirmation, Registration};
use quire_store::NewMember;
use serde_json::json;
use std::time::{Duration, SystemTime};

/// Single-line text a person typed as a name: 1 to `MAX` characters with at least one letter
/// or digit, a plain line (`quire_core::text::is_plain_line`: no control, bidirectional,
/// line- or paragraph-separator or invisible characters); surrounding white space trimmed.
fn name_text<const MAX: usize>(field: &str, value: String) -> Result<String, String> {
    let value = value.trim().to_owned();
    if !value.chars().any(char::is_alphanumeric) || value.chars().count() > MAX {
        return Err(format!(
            "{field}: must be 1 to {MAX} characters with at least one letter or digit"
        ));
    }
    if !quire_core::text::is_plain_line(&value) {
        return Err(format!("{field}: must be a single line without control characters"));
    }
    Ok(value)
}

/// An organisation's name: 1 to 120 characters on one line.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct OrganisationName(String);

impl TryFrom<String> for OrganisationName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::named("organisationName", value)
    }
}

impl OrganisationName {
    /// The name in a field called `field` (errors start with it).
    pub fn named(field: &str, value: String) -> Result<Self, String> {
        name_text::<120>(field, value).map(OrganisationName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name as others see it: 1 to 100 characters on one line.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct DisplayName(String);

impl DisplayName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        name_text::<100>("displayName", value).map(DisplayName)
    }
}

/// What a registration names: the new organisation, its Owner and their password (checked
/// against the policy by the route, AUTHN-3).
pub struct NewRegistration<'a> {
    pub organisation: &'a OrganisationName,
    pub email: &'a Email,
    pub display_name: &'a DisplayName,
    pub password: &'a NewPassword,
}

/// Registers a new organisation (module documentation): counted against the client's address
/// first, then Cognito's `SignUp` (with the organisation's id as the user's `custom:org_id`),
/// then the organisation, `Pending`, with its Owner in one transaction. An email Cognito or
/// Quire's account directory already holds creates nothing and is recorded as
/// `registration.refused` in the platform's trail; the answer is the same (AUTHN-9). A user
/// Cognito made for a registration that could not be written is deleted again.
///
/// An email held by a registration left unconfirmed longer than the registration validity
/// (`Config::registration_validity`), or by a Cognito user that has no registration (one whose
/// registration was never written), registers anew: the old registration is closed
/// (`registration.expired`) and its Cognito user deleted first (`reclaim`).
///
/// Errors: 429 `too-many-requests` (the address's limit, with `Retry-After`; Cognito's quota,
/// whatever the email), 400 `weak-password` (Cognito refused a password the policy allows), 400
/// `invalid-body` (Cognito refused the email), 503.
pub async fn register(app: &App, ctx: &RequestCtx, new: NewRegistration<'_>) -> Result<(), Problem> {
    let email = new.email;
    let secret_hash = app.client.secret_hash(&app.cognito, email.as_str()).await?;
    let address = address(ctx)?;
    let _counted = within_limit(
        app,
        ctx,
        RateLimit::REGISTRATIONS_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    let org = OrgId::generate();
    // Argon2id is CPU-bound: off the async threads.
    let password = new.password.clone();
    let verifier = tokio::task::spawn_blocking(move || PasswordVerifier::new(&password))
        .await
        .map_err(Problem::internal)?;
    // A registration that expired earlier (its organisation closed) leaves its account entry
    // for the next one to take over.
    let account = app.store.account(email.as_str()).await?;
    let mut replaces = account.closed_organisation().cloned();
    let mut reclaimed = false;
    let user = loop {
        match sign_up(app, (email, new.display_name, new.password), &org, secret_hash.clone()).await {
            Ok(user) => break user,
            Err(SignUpError::UsernameExistsException(_)) if !reclaimed => {
                match reclaim(app, ctx, email, &account).await? {
                    Some(expired) => {
                        reclaimed = true;
                        replaces = replaces.or(expired);
                    }
                    None => return refused(app, ctx, email, "email-taken").await,
                }
            }
            Err(SignUpError::UsernameExistsException(_)) => return refused(app, ctx, email, "email-taken").await,
            Err(other) => return Err(sign_up_refused(other)),
        }
    };
    let registration = Registration {
        org: &org,
        name: &new.organisation.0,
        owner: NewMember {
            user: &user,
            email: email.as_str(),
            display_name: &new.display_name.0,
            role: Role::Owner,
        },
        verifier: &verifier,
        replaces: replaces.as_ref(),
    };
    match app.store.register_organisation(registration, ctx.origin()).await {
        Ok(()) => Ok(()),
        Err(error) => {
            // Cognito made a user Quire has no organisation for: it goes again, so the email
            // can register later; left behind, it would hold the email and confirm to nothing.
            if let Err(delete) = delete_user(app, user.as_str()).await {
                tracing::error!(
                    error = %DisplayErrorContext(&delete),
                    "a user Cognito made for an unwritten registration was not deleted"
                );
            }
            match error {
                // Quire's directory holds the email (Cognito did not): taken all the same.
                quire_store::StoreError::AlreadyExists => refused(app, ctx, email, "email-taken").await,
                other => Err(stored(other)),
            }
        }
    }
}

/// The answer to a `SignUp` Cognito refused for another reason than a taken email.
pub(super) fn sign_up_refused(error: SignUpError) -> Problem {
    match error {
        SignUpError::InvalidPasswordException(_) => {
            Problem::weak_password(&[Violation::NotAccepted]).with("field", "password")
        }
        SignUpError::InvalidParameterException(e) => {
            tracing::warn!(message = e.message().unwrap_or_default(), "SignUp refused a parameter");
            Problem::invalid_body(
                "email: must be an email address the identity provider accepts",
                Some("email"),
            )
        }
        SignUpError::TooManyRequestsException(_) | SignUpError::LimitExceededException(_) => {
            Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS)
        }
        SignUpError::NotAuthorizedException(e) => {
            // The secret refused, or sign-up not allowed in the pool: Quire's configuration.
            if !secret_refused(&e) {
                tracing::error!(
                    message = e.message().unwrap_or_default(),
                    "Cognito does not allow SignUp"
                );
            }
            Problem::unavailable("the identity provider refused the sign-up")
        }
        other => Problem::unavailable(other),
    }
}

/// Cognito's `SignUp` of a person joining `org` (a registration's Owner, or a member joining
/// with a code): their `sub`, or Cognito's refusal. Cognito emails them a confirmation code.
pub(super) async fn sign_up(
    app: &App,
    (email, display_name, password): (&Email, &DisplayName, &NewPassword),
    org: &OrgId,
    secret_hash: Option<String>,
) -> Result<UserId, SignUpError> {
    let attribute = |name: &str, value: &str| AttributeType::builder().name(name).value(value).build();
    let attributes = [
        attribute("email", email.as_str()),
        attribute("name", &display_name.0),
        attribute("custom:org_id", org.as_str()),
    ]
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .map_err(SignUpError::unhandled)?;
    let out = app
        .cognito
        .sign_up()
        .client_id(app.client.id())
        .set_secret_hash(secret_hash)
        .username(email.as_str())
        .password(password.expose())
        .set_user_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| e.into_service_error())?;
    UserId::parse(&out.user_sub).map_err(|_| SignUpError::unhandled("Cognito gave a user an invalid sub"))
}

pub(super) async fn delete_user(
    app: &App,
    username: &str,
) -> Result<(), aws_sdk_cognitoidentityprovider::error::SdkError<AdminDeleteUserError>> {
    app.cognito
        .admin_delete_user()
        .user_pool_id(&app.config.user_pool_id)
        .username(username)
        .send()
        .await
        .map(|_| ())
}

/// Frees an email Cognito holds for a new registration, if what holds it is an unconfirmed
/// user and the registration validity has passed (`Config::registration_validity`): either
/// the Owner of a registration never confirmed, counted from its record (its organisation is
/// closed first, `registration.expired`, so that no confirmation can activate it any more:
/// confirmations stop a margin before the validity ends; the new registration takes over the
/// account entry: `Some(Some(org))`), or a user with no registration, counted from Cognito's
/// creation date (a registration whose transaction never committed, or whose organisation was
/// closed before its user could be deleted: `Some(closed organisation)`). `None`: the email
/// stays taken (an active member's, a confirmed user's, a registration within its validity).
/// The user is looked up by the email, so a user left from an earlier reclaim is found too.
///
/// Errors: 503 when Cognito or the store cannot say or do it; what was done is finished by the
/// next registration of the email.
pub(super) async fn reclaim(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    account: &Account,
) -> Result<Option<Option<OrgId>>, Problem> {
    if account.organisation_active() {
        return Ok(None);
    }
    let found = match app
        .cognito
        .admin_get_user()
        .user_pool_id(&app.config.user_pool_id)
        .username(email.as_str())
        .send()
        .await
    {
        Ok(found) => found,
        Err(error) => {
            return match error.into_service_error() {
                AdminGetUserError::UserNotFoundException(_) => Ok(None),
                other => Err(Problem::unavailable(other)),
            }
        }
    };
    if found.user_status() != Some(&UserStatusType::Unconfirmed) {
        return Ok(None);
    }
    let validity = app.config.registration_validity;
    let since = |time: SystemTime| SystemTime::now().duration_since(time).unwrap_or_default();
    let registration_of_found =
        account.registration_pending() && account.user().map(|u| u.as_str()) == Some(found.username());
    // An identity no organisation's trail knows: its end is recorded in the platform's, once
    // it is deleted.
    let mut orphan = None;
    let replaced = if registration_of_found {
        let Some(pending) = app.store.pending_registration(account).await.map_err(stored)? else {
            return Ok(None);
        };
        let age = since(pending.registered_at());
        if age < validity {
            return Ok(None);
        }
        let outcome = json!({ "unconfirmedForSeconds": age.as_secs() });
        if !app
            .store
            .expire_registration(account, ctx.origin(), &outcome)
            .await
            .map_err(stored)?
        {
            // Confirmed meanwhile: taken.
            return Ok(None);
        }
        account.organisation().cloned()
    } else {
        let created = found
            .user_create_date()
            .and_then(|d| SystemTime::try_from(*d).ok())
            .unwrap_or_else(SystemTime::now);
        if since(created) < validity || account.registration_pending() {
            return Ok(None);
        }
        orphan = Some(json!({ "identity": "deleted", "unconfirmedForSeconds": since(created).as_secs() }));
        account.closed_organisation().cloned()
    };
    tracing::warn!(
        account = Subject::account(email.as_str()).key_part(),
        "an unconfirmed identity is deleted for a new registration of its email"
    );
    if let Err(error) = delete_user(app, found.username()).await {
        match error.into_service_error() {
            // Deleted by a racing registration of the same email.
            AdminDeleteUserError::UserNotFoundException(_) => {}
            other => return Err(Problem::unavailable(other)),
        }
    }
    if let Some(outcome) = orphan {
        app.store
            .record_registration_event(
                &Account::registrant(email.as_str()),
                ctx.origin(),
                Action::RegistrationExpired,
                &outcome,
            )
            .await
            .map_err(unrecorded)?;
    }
    Ok(Some(replaced))
}

/// A registration that created nothing, recorded in the platform's trail and answered as an
/// accepted one.
async fn refused(app: &App, ctx: &RequestCtx, email: &Email, reason: &str) -> Result<(), Problem> {
    app.store
        .record_registration_event(
            &Account::registrant(email.as_str()),
            ctx.origin(),
            Action::RegistrationRefused,
            &json!({ "reason": reason }),
        )
        .await
        .map_err(unrecorded)
}

/// Confirms the email of a registration's Owner (AUTHN-6): `code` proves the email, and
/// `password` proves the confirmer is who registered. Without the password, whoever registered
/// someone else's email could have its owner confirm it (a new code is theirs to ask for) and
/// then sign in as the Owner of an organisation recorded under that verified email.
///
/// Guarded like a reset code: refused attempts count per address
/// ([`RateLimit::CONFIRMATION_FAILURES_PER_ADDRESS`]) and per account (five in a row lock the
/// account's confirmations, `Subject::confirmation`). The password is checked against the
/// registration's Argon2id verifier (Cognito answers an unconfirmed user's sign-in alike
/// whatever the password), then Cognito checks the code (`ConfirmSignUp`); a right pair
/// activates the organisation (`registration.confirmed`, the Owner's act). A registration past
/// its validity (less a margin: `confirmation_margin`) confirms no more. A refused attempt is
/// `registration.confirm.failed`, in the registration's trail, or the platform's for an email
/// with no registration pending (answered as a wrong code, without asking Cognito).
///
/// Errors: 400 `invalid-code` (wrong code or password, expired code or registration, nothing
/// pending, locked: one answer), 429 (the address's limit, with `Retry-After`), 503. Cognito's
/// confirmation and the activation cannot be one transaction: when the activation fails after
/// Cognito confirmed (503), the same request again finds Cognito holding the user confirmed
/// and, the password proved, activates.
pub async fn confirm_registration(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    code: &EmailedCode,
    password: &Password,
) -> Result<(), Problem> {
    let secret = app.client.secret(&app.cognito).await?;
    let (slot, attempt) = guard_code(
        app,
        ctx,
        RateLimit::CONFIRMATION_FAILURES_PER_ADDRESS,
        &Subject::confirmation(email.as_str()),
        Problem::invalid_confirmation,
    )
    .await?;
    let number = attempt.number();
    let judged = match app.store.account(email.as_str()).await {
        Ok(account) if account.registration_pending() => {
            let judged = confirm_pending(app, &account, code, password, secret).await;
            judged.map(|reason| (account, None, reason))
        }
        Ok(account) if may_await_join(&account) => match app.store.pending_join(email.as_str()).await {
            Ok(Some(join)) => {
                let judged = confirm_join(app, &join, code, password, secret).await;
                judged.map(|reason| (account, Some(join), reason))
            }
            Ok(None) => {
                let reason = nothing_pending(&account);
                Ok((account, None, Some(reason)))
            }
            Err(error) => Err(stored(error)),
        },
        Ok(account) => {
            let reason = nothing_pending(&account);
            Ok((account, None, Some(reason)))
        }
        Err(error) => Err(stored(error)),
    };
    let (account, join, reason) = match judged {
        Ok(judged) => judged,
        Err(problem) => {
            // Nothing was judged: neither the account nor the address is charged.
            app.store.attempt_not_judged(attempt).await?;
            app.store.give_back(slot).await?;
            return Err(problem);
        }
    };
    if let (None, Some(join)) = (reason, &join) {
        if let Err(error) = app.store.attempt_succeeded(attempt).await {
            tracing::error!(%error, "the confirmation's attempt count was not cleared");
        }
        if let Err(error) = app.store.give_back(slot).await {
            tracing::error!(%error, "the confirmation's address count was not cleared");
        }
        return super::join::complete(app, ctx, email, join, account.closed_organisation()).await;
    }
    let Some(reason) = reason else {
        let activated = app
            .store
            .confirm_registration(&account, ctx.origin(), &json!({ "attempt": number }))
            .await;
        if let Err(error) = app.store.attempt_succeeded(attempt).await {
            tracing::error!(%error, "the confirmation's attempt count was not cleared");
        }
        if let Err(error) = app.store.give_back(slot).await {
            tracing::error!(%error, "the confirmation's address count was not cleared");
        }
        return match activated {
            Ok(Confirmation::Activated) => Ok(()),
            // Not pending any more: activated by a racing confirmation (the answer it got is
            // this one's too), or closed as expired meanwhile (refused, not "confirmed").
            Ok(Confirmation::NothingPending) => match app.store.account(email.as_str()).await {
                Ok(now) if now.organisation_active() => Ok(()),
                Ok(_) => Err(Problem::invalid_confirmation()),
                Err(error) => Err(stored(error)),
            },
            Err(error) => {
                tracing::error!(%error, "Cognito confirmed a registration Quire did not activate");
                Err(unrecorded(error))
            }
        };
    };
    let mut outcome = json!({ "attempt": number, "reason": reason });
    if let Failed::Locked { until } = app.store.attempt_failed(attempt).await? {
        outcome["lockedUntil"] = json!(rfc3339(until));
    }
    app.store
        .record_registration_event(&account, ctx.origin(), Action::RegistrationConfirmFailed, &outcome)
        .await
        .map_err(unrecorded)?;
    Err(Problem::invalid_confirmation())
}

/// Whether `account`'s email may await a join's confirmation (ORG-4): it names no member, or
/// only the Owner of a registration that expired unconfirmed (whose account entry a join
/// takes over, as a new registration does).
fn may_await_join(account: &Account) -> bool {
    !account.is_known() || account.closed_organisation().is_some()
}

/// Why an email with no registration pending was not acted on, as the trail records it.
fn nothing_pending(account: &Account) -> &'static str {
    if account.is_known() {
        "nothing-pending"
    } else {
        "unknown-account"
    }
}

/// How long before the registration validity ends confirmations stop, so that a confirmation
/// under way never meets the expiry of its registration (`reclaim`): longer than a function
/// runs (10 s) plus clock skew, and a tenth of the validity at most (tests shorten it).
fn confirmation_margin(validity: Duration) -> Duration {
    (validity / 10).min(Duration::from_secs(60))
}

/// The verdict on a confirmation of a pending registration: `None` when the password is the
/// registrant's (Quire's verifier, `quire_store::registration`: Cognito answers an unconfirmed
/// user's sign-in alike whatever the password, so it cannot tell) and Cognito accepts the code
/// (`ConfirmSignUp`, for the user the registration names), or holds the user confirmed already
/// (an activation that failed: its code was proved then); otherwise the refusal's reason for
/// the trail. `Err` when nothing was judged.
async fn confirm_pending(
    app: &App,
    account: &Account,
    code: &EmailedCode,
    password: &Password,
    secret: Option<&crate::app_client::ClientSecret>,
) -> Result<Option<&'static str>, Problem> {
    let (Some(user), Some(pending)) = (
        account.user(),
        app.store.pending_registration(account).await.map_err(stored)?,
    ) else {
        return Ok(Some("nothing-pending"));
    };
    let made_at = pending.registered_at();
    confirm_identity(
        app,
        user,
        made_at,
        move |typed| pending.verifies(typed),
        code,
        password,
        secret,
    )
    .await
}

/// The verdict on a confirmation of a pending join (ORG-4), as [`confirm_pending`] judges a
/// registration's: the password against the join's verifier, then the code at Cognito.
async fn confirm_join(
    app: &App,
    join: &quire_store::invitations::PendingJoin,
    code: &EmailedCode,
    password: &Password,
    secret: Option<&crate::app_client::ClientSecret>,
) -> Result<Option<&'static str>, Problem> {
    let verifier = join.verifier().clone();
    let check = move |typed: &str| verifier.verifies(typed);
    confirm_identity(app, join.user(), join.joined_at(), check, code, password, secret).await
}

/// The verdict on confirming the email of `user`, whose registration or join was made at
/// `made_at`: refused past the registration validity (less its margin), then `verifies` the
/// password (on a blocking thread: Argon2id), then Cognito the code (`ConfirmSignUp`).
async fn confirm_identity(
    app: &App,
    user: &UserId,
    made_at: SystemTime,
    verifies: impl FnOnce(&str) -> bool + Send + 'static,
    code: &EmailedCode,
    password: &Password,
    secret: Option<&crate::app_client::ClientSecret>,
) -> Result<Option<&'static str>, Problem> {
    let age = SystemTime::now().duration_since(made_at).unwrap_or_default();
    let validity = app.config.registration_validity;
    if age + confirmation_margin(validity) >= validity {
        return Ok(Some("expired-registration"));
    }
    let typed = password.0.clone();
    let verified = tokio::task::spawn_blocking(move || verifies(&typed))
        .await
        .map_err(Problem::internal)?;
    if !verified {
        return Ok(Some("wrong-password"));
    }
    let confirmed = app
        .cognito
        .confirm_sign_up()
        .client_id(app.client.id())
        .set_secret_hash(secret.map(|s| s.secret_hash(user.as_str(), app.client.id())))
        .username(user.as_str())
        .confirmation_code(&code.0)
        .send()
        .await;
    Ok(match confirmed.map_err(|e| e.into_service_error()) {
        Ok(_) => None,
        Err(ConfirmSignUpError::CodeMismatchException(_)) => Some("wrong-code"),
        Err(ConfirmSignUpError::ExpiredCodeException(_)) => Some("expired-code"),
        // Cognito's own limit on one user's codes: judged, and answered as a wrong code, so
        // that only a pending registration's confirmation does not answer otherwise.
        Err(ConfirmSignUpError::TooManyFailedAttemptsException(_) | ConfirmSignUpError::LimitExceededException(_)) => {
            Some("identity-provider-limit")
        }
        Err(ConfirmSignUpError::UserNotFoundException(_)) => Some("unknown-to-identity-provider"),
        // "User cannot be confirmed. Current status is CONFIRMED": confirmed by an earlier
        // request whose activation failed; the password was proved just now.
        Err(ConfirmSignUpError::NotAuthorizedException(e)) if !secret_refused(&e) => None,
        Err(ConfirmSignUpError::TooManyRequestsException(_)) => {
            return Err(Problem::too_many_requests(COGNITO_RETRY_AFTER_SECONDS))
        }
        Err(other) => return Err(Problem::unavailable(other)),
    })
}

/// Asks Cognito to email a registration's Owner a new confirmation code
/// (`ResendConfirmationCode`), limited per address
/// ([`RateLimit::CONFIRMATION_CODES_PER_ADDRESS`]) and then per email
/// ([`RateLimit::CONFIRMATION_CODES_PER_EMAIL`]), and records the request
/// (`registration.code.requested`, with whether a code was sent) in the registration's trail,
/// or the platform's for an email with none pending. Cognito is asked only for a pending
/// registration; whether a code was sent is never told (AUTHN-9), Cognito's own limits on a
/// user's codes included.
///
/// Errors: 429 `too-many-requests` (either of Quire's limits, with `Retry-After`), 503.
pub async fn resend_confirmation(app: &App, ctx: &RequestCtx, email: &Email) -> Result<(), Problem> {
    let secret_hash = app.client.secret_hash(&app.cognito, email.as_str()).await?;
    let address = address(ctx)?;
    let _counted = within_limit(
        app,
        ctx,
        RateLimit::CONFIRMATION_CODES_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    // The per-email limit's trip is recorded in the platform's trail: the email may be a
    // member's, and this request is anonymous.
    let _counted = within_limit(
        app,
        ctx,
        RateLimit::CONFIRMATION_CODES_PER_EMAIL,
        &Subject::confirmation(email.as_str()),
        &Account::registrant(email.as_str()),
    )
    .await?;
    let account = app.store.account(email.as_str()).await?;
    let join_pending = may_await_join(&account) && app.store.pending_join(email.as_str()).await?.is_some();
    let outcome = if account.registration_pending() || join_pending {
        let sent = app
            .cognito
            .resend_confirmation_code()
            .client_id(app.client.id())
            .set_secret_hash(secret_hash)
            .username(email.as_str())
            .send()
            .await;
        match sent.map_err(|e| e.into_service_error()) {
            Ok(_) => "code-sent",
            Err(ResendConfirmationCodeError::UserNotFoundException(_)) => "unknown-to-identity-provider",
            // Cognito holds the user confirmed: a confirmation whose activation failed, which
            // the next confirmation finishes.
            Err(ResendConfirmationCodeError::InvalidParameterException(_)) => "confirmed-at-identity-provider",
            Err(
                ResendConfirmationCodeError::LimitExceededException(_)
                | ResendConfirmationCodeError::TooManyRequestsException(_)
                | ResendConfirmationCodeError::CodeDeliveryFailureException(_),
            ) => "identity-provider-limit",
            Err(other) => return Err(Problem::unavailable(other)),
        }
    } else {
        nothing_pending(&account)
    };
    app.store
        .record_registration_event(
            &account,
            ctx.origin(),
            Action::RegistrationCodeRequested,
            &json!({ "outcome": outcome }),
        )
        .await
        .map_err(unrecorded)
}
