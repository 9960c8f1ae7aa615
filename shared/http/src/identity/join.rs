//! Joining an organisation with a code (ORG-4, RATE-3): whoever holds an open invitation's code
//! joins with its role once they confirm their email with the code Cognito sends (`POST
//! /auth/confirm`, as a registration's Owner does). Until then the organisation sees nothing:
//! the join waits outside every tenant (`quire_store::invitations`).
//!
//! Guards:
//! - every well-formed join counts against the client's address
//!   ([`RateLimit::JOINS_PER_ADDRESS`]): each may make Cognito send an email;
//! - refused codes count per client address and per invitation (`Subject::join_address`,
//!   `Subject::join_code`, [`LockoutPolicy::JOIN_CODE`]): an attempt is reserved against both
//!   before the code is read, so that of any number of racing attempts no more than five are
//!   judged; the refusal that fills the count of five (attempts in flight count until they
//!   end) starts a fifteen-minute cooldown in which the code, right or wrong, is answered 429
//!   with `Retry-After`. A join that is accepted (a taken email's too)
//!   or that nothing judged (an outage) gives its reservations back and clears nothing: no
//!   code, right or of one's own, wipes guesses at others'; only a cooldown, or 30 days
//!   without an attempt, forgets them.
//!
//! No answer tells whether an email has an account (AUTHN-9): a join with a taken email is
//! answered as a join and recorded in the platform's trail; an email held by an identity left
//! unconfirmed past the registration validity is freed first, as for a registration.

use super::registration::{delete_user, reclaim, sign_up, sign_up_refused};
use super::{address, rfc3339, stored, unrecorded, within_limit, DisplayName, Email};
use crate::{App, Problem, RequestCtx};
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::operation::sign_up::SignUpError;
use quire_core::invitation::JoinCode;
use quire_core::password::{NewPassword, PasswordVerifier};
use quire_store::accounts::Account;
use quire_store::attempts::{Attempt, Failed, LockoutPolicy, Reservation, Subject};
use quire_store::invitations::{JoinRefusal, Joiner, PendingJoin};
use quire_store::limits::RateLimit;
use serde_json::json;
use std::time::SystemTime;

/// What a join names.
pub struct NewJoin<'a> {
    pub code: &'a JoinCode,
    pub email: &'a Email,
    pub display_name: &'a DisplayName,
    /// Checked against the policy by the route (AUTHN-3).
    pub password: &'a NewPassword,
}

/// The two reservations a join holds: the address's and the invitation's.
struct Guarded {
    by_address: Attempt,
    by_code: Attempt,
}

impl Guarded {
    /// Accepted, or nothing was judged: both reservations are given back; earlier refusals
    /// stay counted.
    async fn release(self, app: &App) {
        for attempt in [self.by_address, self.by_code] {
            if let Err(error) = app.store.attempt_not_judged(attempt).await {
                tracing::error!(%error, "a join's reservation was not given back");
            }
        }
    }

    /// The code was refused: counted against both (each reported, whatever the other's
    /// report did); the end of a cooldown either started.
    async fn failed(self, app: &App) -> Result<Option<SystemTime>, Problem> {
        let mut locked_until = None;
        let mut error = None;
        for attempt in [self.by_address, self.by_code] {
            match app.store.attempt_failed(attempt).await {
                Ok(Failed::Locked { until }) => locked_until = locked_until.max(Some(until)),
                Ok(Failed::Counted) => {}
                Err(e) => error = error.or(Some(e)),
            }
        }
        match error {
            Some(error) => Err(error.into()),
            None => Ok(locked_until),
        }
    }
}

/// `Retry-After` when as many attempts as the limit are in flight and none has failed yet.
const IN_FLIGHT_RETRY_SECONDS: u64 = 2;

/// Reserves an attempt of `subject`, or answers 429 with the cooldown's end.
async fn reserve(app: &App, subject: &Subject) -> Result<Attempt, Problem> {
    let policy = LockoutPolicy::JOIN_CODE;
    match app.store.reserve_attempt(subject, policy).await? {
        Reservation::Granted(attempt) => Ok(attempt),
        // Locked: until the cooldown ends. Full of attempts in flight: their outcomes free
        // the places in moments (or one starts a cooldown, which the next try is told).
        Reservation::Refused { locked_until } => {
            let wait = locked_until
                .and_then(|until| until.duration_since(SystemTime::now()).ok())
                .map_or(IN_FLIGHT_RETRY_SECONDS, |wait| wait.as_secs().max(1));
            Err(Problem::too_many_requests(wait))
        }
    }
}

/// Joins `new.email` into the organisation of `new.code`'s invitation, pending its email's
/// confirmation (module documentation): the guards, the invitation read and judged, Cognito's
/// `SignUp` (the user's `custom:org_id` is the organisation; Cognito emails a code), then the
/// pending join. A Cognito user made for a join that could not be recorded is deleted again.
///
/// Errors: 400 `invalid-join-code` (one answer for a wrong, expired, used-up or revoked code,
/// one whose maker's authority changed and an organisation that takes no members now), 403
/// `email-not-invited` (the code is right and bound to another email), 403
/// `email-domain-not-allowed` (the code is right and the organisation lets only other email
/// domains join), 429 `too-many-requests`
/// (the address's limit or a cooldown, with `Retry-After`; or Cognito's quota), 400
/// `weak-password`, 503.
pub async fn join(app: &App, ctx: &RequestCtx, new: NewJoin<'_>) -> Result<(), Problem> {
    let code = new.code;
    let secret_hash = app.client.secret_hash(&app.cognito, new.email.as_str()).await?;
    let address = address(ctx)?;
    let _counted = within_limit(
        app,
        ctx,
        RateLimit::JOINS_PER_ADDRESS,
        &Subject::address(address),
        &Account::client(address),
    )
    .await?;
    let by_address = reserve(app, &Subject::join_address(address)).await?;
    let by_code = match reserve(app, &Subject::join_code(code.org(), code.invitation())).await {
        Ok(attempt) => attempt,
        Err(problem) => {
            if let Err(error) = app.store.attempt_not_judged(by_address).await {
                tracing::error!(%error, "a join's reservation was not given back");
            }
            return Err(problem);
        }
    };
    let guarded = Guarded { by_address, by_code };
    let open = match app.store.open_invitation(code, new.email.as_str()).await {
        Ok(Ok(open)) => open,
        Ok(Err(refusal)) => return refuse(app, ctx, &new, refusal, guarded).await,
        Err(error) => {
            guarded.release(app).await;
            return Err(stored(error));
        }
    };
    let password = new.password.clone();
    let verifier = match tokio::task::spawn_blocking(move || PasswordVerifier::new(&password)).await {
        Ok(verifier) => verifier,
        Err(error) => {
            guarded.release(app).await;
            return Err(Problem::internal(error));
        }
    };
    let identity = (new.email, new.display_name, new.password);
    let mut reclaimed = false;
    let user = loop {
        match sign_up(app, identity, code.org(), secret_hash.clone()).await {
            Ok(user) => break user,
            Err(SignUpError::UsernameExistsException(_)) if !reclaimed => {
                let account = match app.store.account(new.email.as_str()).await {
                    Ok(account) => account,
                    Err(error) => {
                        guarded.release(app).await;
                        return Err(stored(error));
                    }
                };
                match reclaim(app, ctx, new.email, &account).await {
                    Ok(Some(_)) => reclaimed = true,
                    Ok(None) => {
                        guarded.release(app).await;
                        return email_taken(app, ctx, &new).await;
                    }
                    Err(problem) => {
                        guarded.release(app).await;
                        return Err(problem);
                    }
                }
            }
            Err(SignUpError::UsernameExistsException(_)) => {
                guarded.release(app).await;
                return email_taken(app, ctx, &new).await;
            }
            Err(other) => {
                guarded.release(app).await;
                return Err(sign_up_refused(other));
            }
        }
    };
    let joiner = Joiner {
        user: &user,
        email: new.email.as_str(),
        display_name: new.display_name.as_str(),
        verifier: &verifier,
    };
    match app.store.record_pending_join(code, &open, joiner, ctx.origin()).await {
        Ok(()) => {
            guarded.release(app).await;
            Ok(())
        }
        Err(error) => {
            // Cognito made a user Quire keeps no join for: it goes again, so the email can join
            // or register later.
            if let Err(delete) = delete_user(app, user.as_str()).await {
                tracing::error!(
                    error = %DisplayErrorContext(&delete),
                    "a user Cognito made for an unrecorded join was not deleted"
                );
            }
            guarded.release(app).await;
            Err(unrecorded(error))
        }
    }
}

/// Makes the joiner of `join`, whose email and password `POST /auth/confirm` just proved, a
/// member (`quire_store::invitations`), taking over the account entry of `replaces` (an
/// expired registration of the same email) if there is one. When the invitation no longer joins anyone (its uses
/// spent by others who confirmed first, revoked, expired, its maker's authority changed, the
/// organisation not taking members), the joiner's Cognito user is deleted, so the email is free
/// to join again with another code, and the refusal is recorded in the organisation's trail.
///
/// Errors: 409 `invitation-closed`, 503.
pub(super) async fn complete(
    app: &App,
    ctx: &RequestCtx,
    email: &Email,
    join: &PendingJoin,
    replaces: Option<&quire_core::ids::OrgId>,
) -> Result<(), Problem> {
    match app.store.complete_join(join, replaces, ctx.origin()).await {
        Ok(Ok(())) => {
            forget(app, join).await;
            Ok(())
        }
        Ok(Err(refusal)) => {
            // Its identity goes, so that the email can join again; the pending join only once
            // it has (kept, a confirmation sent again tries again).
            match delete_user(app, join.user().as_str()).await {
                Ok(()) => forget(app, join).await,
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_user_not_found_exception()) =>
                {
                    forget(app, join).await
                }
                Err(error) => tracing::error!(
                    error = %DisplayErrorContext(&error),
                    "the user of a join its invitation refused at confirmation was not deleted"
                ),
            }
            app.store
                .record_confirmed_join_refusal(join, email.as_str(), ctx.origin(), refusal.reason())
                .await
                .map_err(unrecorded)?;
            Err(Problem::invitation_closed())
        }
        Err(error) => {
            tracing::error!(%error, "Cognito confirmed a joiner Quire did not make a member");
            Err(unrecorded(error))
        }
    }
}

/// Forgets a pending join that was made or refused (best effort: TTL removes one left over).
async fn forget(app: &App, join: &PendingJoin) {
    if let Err(error) = app.store.forget_pending_join(join).await {
        tracing::warn!(%error, "a finished join's pending record was not deleted");
    }
}

/// A refused join: counted (a cooldown may start), recorded, answered.
async fn refuse(
    app: &App,
    ctx: &RequestCtx,
    new: &NewJoin<'_>,
    refusal: JoinRefusal,
    guarded: Guarded,
) -> Result<(), Problem> {
    let mut outcome = json!({ "reason": refusal.reason() });
    // Every refusal counts, a right secret's too: a shared code cannot flood the
    // organisation's trail with refusals it records.
    if let Some(until) = guarded.failed(app).await? {
        outcome["lockedUntil"] = json!(rfc3339(until));
    }
    app.store
        .record_join_refusal(
            new.code,
            new.email.as_str(),
            refusal.secret_proved(),
            ctx.origin(),
            &outcome,
        )
        .await
        .map_err(unrecorded)?;
    Err(match refusal {
        JoinRefusal::EmailNotInvited => Problem::email_not_invited(),
        JoinRefusal::EmailDomainNotAllowed => Problem::email_domain_not_allowed(),
        _ => Problem::invalid_join_code(),
    })
}

/// A join with an email that has an account: nothing is written but its record, in the
/// platform's trail (the email may be any organisation's member's), and it is answered as a
/// join.
async fn email_taken(app: &App, ctx: &RequestCtx, new: &NewJoin<'_>) -> Result<(), Problem> {
    app.store
        .record_join_refusal(
            new.code,
            new.email.as_str(),
            false,
            ctx.origin(),
            &json!({ "reason": "email-taken" }),
        )
        .await
        .map_err(unrecorded)
}
