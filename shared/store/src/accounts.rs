//! Sign-in accounts and their identity events (AUTHN-5, AUTHN-9, AUD-4): which trail an event
//! about an email belongs to.
//!
//! An email that names a member is that member's organisation's account: its sign-ins, locks
//! and limits are recorded in the organisation's trail, as made by the member. An email that
//! names no one is recorded in the platform's trail ([`OrgId::platform`]), so that guessing at
//! emails cannot write into any customer's trail. The account directory (`keys::account`,
//! written beside each membership) maps an email's digest to its user and organisation.
//!
//! An [`Account`] lets its holder record identity events and nothing else: it carries the
//! trail's scope privately, so an unauthenticated request never obtains a [`TenantScope`].

use super::{keys, AuditContext, Store, StoreError};
use crate::attempts::Subject;
use crate::challenges::{ChallengeKind, ChallengeRecord, HoldChallenge, PendingChallenge, UNUSED};
use crate::sessions::{millis_since_epoch, NewSession, SessionId, SessionPolicy, SessionRecord};
use crate::tenant::TenantScope;
use quire_core::audit::{Action, Actor, Origin, Target};
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::Role;
use serde::{Deserialize, Serialize};

/// The account directory's entry of an email.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountEntry {
    pub(crate) user_id: UserId,
    pub(crate) org_id: OrgId,
}

/// Whom an identity event is about, and the trail it is recorded in.
#[derive(Debug, Clone)]
pub struct Account {
    pub(crate) trail: TenantScope,
    /// The member, for what only they could have done (a right password or code).
    pub(crate) actor: Actor,
    /// Whoever typed the email, for everything else: a wrong guess is not the member's act.
    pub(crate) typed: Actor,
    pub(crate) target: Target,
    /// The member the email names, if any.
    user: Option<UserId>,
    /// Their role, if they are still a member.
    role: Option<Role>,
    /// Whether that membership is active (not deactivated).
    member_active: bool,
    /// When they enrolled their authenticator (`crate::mfa`), if they did.
    mfa_enrolled_at: Option<std::time::SystemTime>,
    /// Their organisation's status, if the email names a member (`Pending` awaits its Owner's
    /// email confirmation: `crate::registration`).
    status: Option<crate::directory::OrgStatus>,
    /// The session limits their organisation set (idle minutes, absolute hours), if it did.
    session_limits: Option<(Option<u32>, Option<u32>)>,
    /// Their organisation's IP allowlist as stored (ORG-3).
    ip_allowlist: Vec<String>,
    /// Whether their organisation signs in only through its identity provider (AUTHN-10).
    sso_only: bool,
}

/// The session a sign-in starts (`crate::sessions`): written in the transaction that records
/// `sign-in.succeeded`, for the user Cognito's token names.
#[derive(Debug, Clone, Copy)]
pub struct StartSession<'a> {
    pub user: &'a UserId,
    pub id: &'a SessionId,
    pub policy: SessionPolicy,
    /// When the password was sent to Cognito: the session's start, so that a revocation made
    /// while Cognito answered covers it.
    pub started_at: std::time::SystemTime,
    /// The refresh token Cognito issued with the session: the session keeps its digest.
    pub refresh_token: Option<&'a str>,
    /// The TOTP challenge the sign-in answered (AUTHN-7), if it did: the session has passed a
    /// second factor, and the challenge is used in the same transaction (a challenge starts one
    /// session at most: [`StoreError::Conflict`] when another answer used it first). A
    /// challenge of another kind is [`StoreError::Corrupt`].
    pub second_factor: Option<&'a PendingChallenge>,
}

impl Account {
    /// Whether the email names a member (the event goes to their organisation's trail).
    pub fn is_known(&self) -> bool {
        !self.trail.org_id().is_platform()
    }

    /// Whether the email names a member whose role must pass a second factor (AUTHN-7).
    pub fn requires_mfa(&self) -> bool {
        self.is_known() && self.role.is_some_and(Role::requires_mfa)
    }

    /// When the member the email names enrolled their authenticator, if they did.
    pub fn mfa_enrolled_at(&self) -> Option<std::time::SystemTime> {
        self.mfa_enrolled_at.filter(|_| self.is_known())
    }

    /// Whether the email names the Owner of a registration not yet confirmed (AUTHN-6).
    pub fn registration_pending(&self) -> bool {
        self.is_known() && self.status == Some(crate::directory::OrgStatus::Pending) && self.role == Some(Role::Owner)
    }

    /// The organisation the email's member belongs to, if it names one and it is closed (a
    /// registration that expired unconfirmed, `crate::registration`): its email may register
    /// anew.
    pub fn closed_organisation(&self) -> Option<&OrgId> {
        self.member()
            .map(|(org, _)| org)
            .filter(|_| self.status == Some(crate::directory::OrgStatus::Closed))
    }

    /// Whom an event about this account names outside its organisation (in the platform's
    /// trail): the email's digest, never the member's id, which would tell the platform's
    /// readers whose account it is.
    pub(crate) fn target_outside(&self) -> Target {
        Target::new("account", Subject::account(&self.typed.email).key_part())
    }

    /// The limits of a session the member starts (AUTHN-8): `default` (the deployment's) with
    /// what their organisation set.
    pub fn session_policy(&self, default: SessionPolicy) -> SessionPolicy {
        match self.session_limits.filter(|_| self.is_known()) {
            Some((idle_minutes, max_hours)) => default.of_organisation(idle_minutes, max_hours),
            None => default,
        }
    }

    /// Whether a request from `viewer` may act on the member's account: inside their
    /// organisation's IP allowlist, or the organisation set none (ORG-3). A stored list that
    /// does not parse allows nothing; an email that names no member is not restricted.
    pub fn address_allowed(&self, viewer: Option<std::net::IpAddr>) -> bool {
        let (list, _) = quire_core::network::IpAllowlist::stored(&self.ip_allowlist);
        !self.is_known() || !list.is_restricted() || viewer.is_some_and(|v| list.allows(v))
    }

    /// Whether the email names a member of an organisation whose members sign in only through
    /// its identity provider (AUTHN-10): their right password signs them in to nothing.
    pub fn sso_required(&self) -> bool {
        self.is_known() && self.sso_only
    }

    /// Whether the email names a member whose membership was deactivated (or is gone): their
    /// password may be right at Cognito, and still no session of theirs is served.
    pub fn member_deactivated(&self) -> bool {
        self.is_known() && !self.member_active
    }

    /// Whether the email names a member of an active organisation.
    pub fn organisation_active(&self) -> bool {
        self.is_known() && self.status == Some(crate::directory::OrgStatus::Active)
    }

    /// The organisation of the member the email names, if it names one.
    pub fn organisation(&self) -> Option<&OrgId> {
        self.member().map(|(org, _)| org)
    }

    /// The member the email names (their Cognito username: the `sub`), if it names one.
    pub fn user(&self) -> Option<&UserId> {
        self.member().map(|(_, user)| user)
    }

    /// The member's organisation and user, if the email names one.
    pub(crate) fn member(&self) -> Option<(&OrgId, &UserId)> {
        self.user
            .as_ref()
            .filter(|_| self.is_known())
            .map(|u| (self.trail.org_id(), u))
    }

    /// Someone registering a new organisation with `email` (AUTHN-6): whoever they are, what
    /// their registration records before it creates anything goes to the platform's trail, so
    /// that registering with a member's email writes nothing into that member's organisation's.
    pub fn registrant(email: &str) -> Self {
        Account {
            trail: TenantScope::new(OrgId::platform()),
            actor: anonymous(email),
            typed: anonymous(email),
            target: Target::new("account", Subject::account(email).key_part()),
            user: None,
            role: None,
            member_active: false,
            mfa_enrolled_at: None,
            status: None,
            session_limits: None,
            ip_allowlist: Vec::new(),
            sso_only: false,
        }
    }

    /// No account: a client known only by its address (a rate limit per address). Its events
    /// go to the platform's trail.
    pub fn client(address: &str) -> Self {
        Account {
            trail: TenantScope::new(OrgId::platform()),
            actor: anonymous(""),
            typed: anonymous(""),
            target: Target::new("address", address),
            user: None,
            role: None,
            member_active: false,
            mfa_enrolled_at: None,
            status: None,
            session_limits: None,
            ip_allowlist: Vec::new(),
            sso_only: false,
        }
    }
}

/// Someone not signed in, named only by the email they typed (if any).
pub(crate) fn anonymous(email: &str) -> Actor {
    Actor {
        user_id: "anonymous".into(),
        display_name: String::new(),
        email: quire_core::text::sanitize_line(email, 128),
        role: "Anonymous".into(),
        impersonator: None,
    }
}

impl Store {
    /// The account an email names: one read of the account directory and, for a member, one of
    /// the membership (who they are, as the entry records them) with their enrolment record and
    /// their organisation. An email that names no one
    /// is an account of the platform's trail, recorded as typed.
    pub async fn account(&self, email: &str) -> Result<Account, StoreError> {
        let subject = Subject::account(email);
        let entry = match self.read(&self.data_table, &keys::account(&subject)).await? {
            Some(item) => Some(super::from_item::<AccountEntry>(item)?),
            None => None,
        };
        let Some(entry) = entry.filter(|e| !e.org_id.is_platform()) else {
            return Ok(Account {
                trail: TenantScope::new(OrgId::platform()),
                actor: anonymous(email),
                typed: anonymous(email),
                target: Target::new("account", subject.key_part()),
                user: None,
                role: None,
                member_active: false,
                mfa_enrolled_at: None,
                status: None,
                session_limits: None,
                ip_allowlist: Vec::new(),
                sso_only: false,
            });
        };
        // The membership, the enrolment record (`crate::mfa`) and the organisation (pending a
        // registration's confirmation or not) in one read.
        let member_key = keys::member(&entry.org_id, &entry.user_id);
        let mfa_key = keys::mfa(&entry.org_id, &entry.user_id);
        let org_key = keys::organisation(&entry.org_id);
        let mut found = self
            .batch_read(&[member_key.clone(), mfa_key.clone(), org_key.clone()])
            .await?;
        let organisation = found
            .remove(&org_key)
            .map(super::from_item::<crate::directory::Organisation>)
            .transpose()?
            .filter(|org| org.org_id == entry.org_id);
        let status = organisation.as_ref().map(|org| org.status);
        let session_limits = organisation
            .as_ref()
            .map(|org| (org.session_idle_minutes, org.session_max_hours));
        let sso_only = organisation.as_ref().is_some_and(|org| org.sso_only);
        let ip_allowlist = organisation.map(|org| org.ip_allowlist).unwrap_or_default();
        let member = found
            .remove(&member_key)
            .map(super::from_item::<crate::directory::Membership>)
            .transpose()?;
        let mfa_enrolled_at = found
            .remove(&mfa_key)
            .map(super::from_item::<crate::mfa::MfaRecord>)
            .transpose()?
            .and_then(|m| m.enrolled_at_for(&entry.org_id, &entry.user_id));
        let role = member.as_ref().map(|m| m.role);
        let member_active = member.as_ref().is_some_and(|m| m.is_active());
        let actor = match member {
            Some(member) => member.actor(),
            // The directory names a user whose membership is gone: still their organisation's
            // account, recorded by id.
            None => Actor {
                user_id: entry.user_id.to_string(),
                ..anonymous(email)
            },
        };
        Ok(Account {
            trail: TenantScope::new(entry.org_id),
            actor,
            typed: anonymous(email),
            target: Target::new("user", entry.user_id.as_str()),
            user: Some(entry.user_id),
            role,
            member_active,
            mfa_enrolled_at,
            status,
            session_limits,
            ip_allowlist,
            sso_only,
        })
    }

    /// Records an identity event ([`Action::IDENTITY`]) about `account` in its trail, with
    /// `outcome` as the entry's `after`: one transaction holding only the outbox item.
    pub async fn record_identity_event(
        &self,
        account: &Account,
        origin: Origin,
        action: Action,
        outcome: &impl Serialize,
    ) -> Result<(), StoreError> {
        self.record_identity_events(
            account,
            origin,
            &[(action, serde_json::to_value(outcome).map_err(corrupt)?)],
            None,
        )
        .await
    }

    /// A password reset Cognito made (`password.reset`, `after` = `outcome`), recorded as the
    /// member's act, with every session they started until now revoked in the same transaction
    /// (`sessions.revoked`, AUTHN-2): a reset is how an account is taken back. The password's age
    /// counts from the reset (AUTHN-4). `identity_provider`
    /// is what Cognito's sign-out of their refresh tokens found. For an email that names no
    /// member, the reset alone, in the platform's trail.
    pub async fn record_password_reset(
        &self,
        account: &Account,
        origin: Origin,
        outcome: &serde_json::Value,
        identity_provider: &str,
    ) -> Result<(), StoreError> {
        let Some(user) = account.user.as_ref().filter(|_| account.is_known()) else {
            return self
                .record_identity_event(account, origin, Action::PasswordReset, outcome)
                .await;
        };
        let audit = AuditContext::for_route(account.actor.clone(), origin, &Action::IDENTITY);
        // The reset sets the password: its age counts from now.
        let password = crate::passwords::PasswordRecord::now(account.trail.org_id(), user);
        self.revoke_sessions_after(&account.trail, user, audit, identity_provider, |tx| {
            tx.event(Action::PasswordReset, account.target.clone(), outcome)
                .put_beside(password.key(), &password)
        })
        .await
    }

    /// Several identity events about one account, in order (a failure and the lock it starts).
    /// Their actor is the member only for what proves the credential (`sign-in.succeeded`,
    /// `sign-in.challenged`, `mfa.challenge.passed`, `password.reset`, and `password.changed`
    /// by a new-password challenge); otherwise whoever typed the email, so a guess
    /// is never recorded as the member's act. Events of one actor commit in one transaction.
    ///
    /// With `session`, the `sign-in.succeeded` among the events starts it: the session is
    /// written in that event's transaction, and the event records it (`after.session`). The
    /// session must be the account's member's ([`StoreError::Corrupt`] otherwise: Cognito and
    /// the account directory disagree).
    pub async fn record_identity_events(
        &self,
        account: &Account,
        origin: Origin,
        events: &[(Action, serde_json::Value)],
        session: Option<StartSession<'_>>,
    ) -> Result<(), StoreError> {
        self.record_sign_in_step(account, origin, events, session, None, NewPasswordSet::No)
            .await
    }

    /// Records the answer to a new-password challenge (`NEW_PASSWORD_REQUIRED`): Cognito set
    /// the password the member chose in place of their temporary one. Identity events as
    /// [`Store::record_identity_events`] records them; the `password.changed` among them (which
    /// must be there) writes the new time the password's age counts from (`crate::passwords`)
    /// in its transaction, its outcome gains that time (`changedAt`), and it uses `answered`
    /// (`None` when another answer used it: the change is recorded all the same). With
    /// `session`, the `sign-in.succeeded` that follows starts it, in the same transaction.
    ///
    /// Errors: [`StoreError::Conflict`] when another answer used the challenge first;
    /// [`StoreError::Corrupt`] for a challenge of another kind or member, or events without
    /// their `password.changed`.
    pub async fn record_new_password(
        &self,
        account: &Account,
        origin: Origin,
        events: &[(Action, serde_json::Value)],
        answered: Option<&PendingChallenge>,
        session: Option<StartSession<'_>>,
    ) -> Result<(), StoreError> {
        if answered.is_some_and(|c| c.kind() != ChallengeKind::NewPasswordRequired) {
            return Err(StoreError::Corrupt("a new password answering another challenge".into()));
        }
        self.record_sign_in_step(account, origin, events, session, None, NewPasswordSet::Set(answered))
            .await
    }

    /// Records a refused answer to a new-password challenge (`password.change.failed`, and the
    /// lock or unlock of the account's count it reports) as [`Store::record_identity_events`]
    /// records identity events, with the actions the new-password answer declares
    /// ([`Action::NEW_PASSWORD`]).
    pub async fn record_new_password_refused(
        &self,
        account: &Account,
        origin: Origin,
        events: &[(Action, serde_json::Value)],
    ) -> Result<(), StoreError> {
        self.record_sign_in_step(account, origin, events, None, None, NewPasswordSet::Refused)
            .await
    }

    /// Identity events as [`Store::record_identity_events`] records them, the
    /// `sign-in.challenged` among them holding `challenge` for the account's member's answer
    /// (`crate::challenges`) in its transaction. [`StoreError::Corrupt`] for an account that
    /// names no member.
    pub async fn record_challenge(
        &self,
        account: &Account,
        origin: Origin,
        events: &[(Action, serde_json::Value)],
        challenge: HoldChallenge<'_>,
    ) -> Result<(), StoreError> {
        let Some((org, user)) = account.member() else {
            return Err(StoreError::Corrupt(
                "a challenge for an email that names no member".into(),
            ));
        };
        if !events.iter().any(|(a, _)| *a == Action::SignInChallenged) {
            return Err(StoreError::Corrupt("a challenge without its sign-in".into()));
        }
        let held = ChallengeRecord::hold(org, user, &challenge);
        self.record_sign_in_step(account, origin, events, None, Some(held), NewPasswordSet::No)
            .await
    }

    /// Identity events in order, each run of one actor in one transaction, with what the run's
    /// events write: the session `sign-in.succeeded` starts (and the TOTP challenge it used),
    /// the challenge `sign-in.challenged` holds, the password record and used challenge of
    /// `password.changed` (only ever an answer to a new-password challenge here).
    async fn record_sign_in_step(
        &self,
        account: &Account,
        origin: Origin,
        events: &[(Action, serde_json::Value)],
        session: Option<StartSession<'_>>,
        challenge: Option<(keys::Key, ChallengeRecord)>,
        new_password: NewPasswordSet<'_>,
    ) -> Result<(), StoreError> {
        // What the step may record: the new-password answer's actions, or the sign-in's.
        let (set, new_password, allowed): (bool, Option<&PendingChallenge>, &[Action]) = match new_password {
            NewPasswordSet::No => (false, None, &Action::IDENTITY),
            NewPasswordSet::Refused => (false, None, &Action::NEW_PASSWORD),
            NewPasswordSet::Set(answered) => (true, answered, &Action::NEW_PASSWORD),
        };
        // `password.changed` is recorded here exactly when a new password was set: checked
        // before anything commits.
        if set != events.iter().any(|(a, _)| *a == Action::PasswordChanged) {
            return Err(StoreError::Corrupt(
                "a password change recorded without its new password, or the reverse".into(),
            ));
        }
        let answered = session.and_then(|s| s.second_factor);
        if answered.is_some_and(|c| c.kind() != ChallengeKind::SoftwareTokenMfa) {
            return Err(StoreError::Corrupt(
                "a second factor answering another challenge".into(),
            ));
        }
        if answered
            .into_iter()
            .chain(new_password)
            .any(|c| Some(c.user()) != account.user.as_ref())
        {
            return Err(StoreError::Corrupt("an answer to another member's challenge".into()));
        }
        let password = match (set, account.member()) {
            (true, Some((org, user))) => Some(crate::passwords::PasswordRecord::now(org, user)),
            (true, None) => return Err(StoreError::Corrupt("a new password for no member".into())),
            (false, _) => None,
        };
        let started = match session {
            None => None,
            Some(start) if account.user.as_ref() == Some(start.user) && account.is_known() => Some(NewSession {
                record: SessionRecord::start(
                    account.trail.org_id(),
                    start.user,
                    start.id,
                    start.policy,
                    millis_since_epoch(start.started_at),
                    start.refresh_token,
                    start.second_factor.map(|_| crate::sessions::now_millis()),
                ),
            }),
            Some(_) => {
                return Err(StoreError::Corrupt(
                    "a session for a user the account directory does not name".into(),
                ))
            }
        };
        if started.is_some() && !events.iter().any(|(a, _)| *a == Action::SignInSucceeded) {
            return Err(StoreError::Corrupt("a session without its sign-in".into()));
        }
        // Whose the refresh token is, before the sign-in commits (a pointer to a session never
        // recorded leads a refresh nowhere); the session was checked to be the member's above.
        if let (Some(new), Some(token)) = (&started, session.and_then(|s| s.refresh_token)) {
            self.remember_refresh_token(new.user(), token).await?;
        }
        let mut rest = events;
        while let Some((first, _)) = rest.first() {
            let by_member = proves_credential(*first);
            let run = rest
                .iter()
                .take_while(|(a, _)| proves_credential(*a) == by_member)
                .count();
            let actor = if by_member { &account.actor } else { &account.typed };
            let mut tx = self.transaction(
                &account.trail,
                AuditContext::for_route(actor.clone(), origin.clone(), allowed),
            );
            for (action, outcome) in &rest[..run] {
                match (&started, action) {
                    (Some(new), Action::SignInSucceeded) => {
                        debug_assert_eq!(Some(new.user()), account.user.as_ref());
                        let mut outcome = outcome.clone();
                        outcome["session"] = new.summary();
                        if let Some(used) = answered {
                            tx = tx.put_beside_if(used.key().clone(), &used.used(), UNUSED, Vec::new());
                        }
                        tx = tx
                            .insert(new.key(), new.record(), None)
                            .event(*action, account.target.clone(), &outcome);
                    }
                    (_, Action::SignInChallenged) => {
                        if let Some((key, record)) = &challenge {
                            tx = tx.insert(key.clone(), record, None);
                        }
                        tx = tx.event(*action, account.target.clone(), outcome);
                    }
                    (_, Action::PasswordChanged) => {
                        let Some(password) = &password else {
                            return Err(StoreError::Corrupt("a password change without its record".into()));
                        };
                        let mut outcome = outcome.clone();
                        outcome["changedAt"] = password.changed_at_rfc3339().into();
                        if let Some(used) = new_password {
                            tx = tx.put_beside_if(used.key().clone(), &used.used(), UNUSED, Vec::new());
                        }
                        tx = tx
                            .put_beside(password.key(), password)
                            .event(*action, account.target.clone(), &outcome);
                    }
                    _ => tx = tx.event(*action, account.target.clone(), outcome),
                }
            }
            tx.commit().await?;
            rest = &rest[run..];
        }
        Ok(())
    }
}

/// Whether an account's events record a new password Cognito set (the answer to a
/// new-password challenge), and the challenge it used if it is still unused.
#[derive(Clone, Copy)]
enum NewPasswordSet<'a> {
    No,
    /// An answer to a new-password challenge that set nothing.
    Refused,
    Set(Option<&'a PendingChallenge>),
}

/// Events only the holder of the credential can cause (a new password answers a challenge
/// that only the right temporary password obtains).
fn proves_credential(action: Action) -> bool {
    matches!(
        action,
        Action::SignInSucceeded
            | Action::SignInChallenged
            | Action::PasswordReset
            | Action::MfaChallengePassed
            | Action::PasswordChanged
    )
}

fn corrupt(error: serde_json::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}
