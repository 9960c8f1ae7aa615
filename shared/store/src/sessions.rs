//! Sessions (AUTHN-2, AUTHN-8): Quire's own record of every sign-in, which decides whether an
//! access token is still good, beside Cognito's signature and expiry.
//!
//! - **One session per sign-in.** A session is named by Cognito's `origin_jti`, which every
//!   access token of one sign-in carries, refreshes included. It is written in the transaction
//!   that records `sign-in.succeeded`, so a token whose sign-in was not recorded has no session,
//!   and a token Cognito issued to a client that went round Quire's sign-in (and so round its
//!   lockout and rate limits) is refused.
//! - **Checked on every request, written on few.** The tenant layer reads the session and the
//!   member's revocation mark in the same `BatchGetItem` as the organisation and membership
//!   ([`Store::load_caller`]: two round trips in all). Only signing in, refreshing, signing out
//!   and revoking write, each with its audit event.
//! - **Idle and absolute ends.** A session ends [`SessionPolicy::idle`] after its sign-in or last
//!   refresh and at the latest [`SessionPolicy::absolute`] after its sign-in; each refresh
//!   slides the idle end, never past the absolute one. A refresh that finds its session past
//!   either end ends it (`session.expired`) and is refused.
//! - **Revocation.** Signing out ends one session at once (`session.signed-out`). Revoking a
//!   member's sessions (their own, or by an administrator) marks every session the member
//!   started until now as revoked (`sessions.revoked`): one write, however many sessions.
//!
//! Times are milliseconds since the Unix epoch, from the function's clock.

use super::{keys, AuditContext, Store, StoreError};
use crate::directory::Membership;
use crate::tenant::TenantScope;
use quire_core::audit::{Action, Origin, Target};
use quire_core::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A session's id: Cognito's `origin_jti`, a UUID. At most 64 characters of ASCII letters,
/// digits and `-`, so it is safe in a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// `None` for anything that is not a plausible `origin_jti`.
    pub fn parse(text: &str) -> Option<Self> {
        let valid =
            !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        valid.then(|| SessionId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The session a request's token belongs to, as the tenant layer found it (AUTHN-8): what a
/// client needs to show when it must sign in again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub started_at: SystemTime,
    /// Without a refresh, the session ends then.
    pub idle_until: SystemTime,
    /// The session ends then, refreshed or not.
    pub absolute_until: SystemTime,
    /// When the session passed a second factor (AUTHN-7): its sign-in answered Cognito's TOTP
    /// challenge, or the member enrolled an authenticator in it. `None`: the password alone.
    pub second_factor_at: Option<SystemTime>,
    /// SHA-256 of the refresh token Cognito issued with the session, if it issued one.
    pub(crate) refresh_digest: Option<Vec<u8>>,
}

impl Session {
    /// Whether the session passed a second factor: what the admin MFA gate asks.
    pub fn second_factor(&self) -> bool {
        self.second_factor_at.is_some()
    }

    /// Whether `token` is the refresh token of this session (compared by digest, in constant
    /// time): what sign-out checks before it asks Cognito to revoke a token in its name.
    pub fn issued_refresh_token(&self, token: &str) -> bool {
        self.refresh_digest.as_deref().is_some_and(|digest| {
            aws_lc_rs::constant_time::verify_slices_are_equal(digest, refresh_digest(token).as_ref()).is_ok()
        })
    }
}

/// SHA-256 of a refresh token: the session keeps this, never the token.
fn refresh_digest(token: &str) -> aws_lc_rs::digest::Digest {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
}

/// Which member a refresh token was issued to (`keys::refresh_token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshOwner {
    user_id: UserId,
    /// DynamoDB TTL (seconds): once no refresh token of the sign-in can be valid, and a day more.
    expires_at: u64,
}

fn refresh_owner_key(token: &str) -> keys::Key {
    use base64::Engine;
    keys::refresh_token(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(refresh_digest(token).as_ref()))
}

/// How long a session lives (AUTHN-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Without a refresh for this long, a session ends.
    pub idle: Duration,
    /// A session ends this long after its sign-in, refreshed or not.
    pub absolute: Duration,
}

impl SessionPolicy {
    /// 8 hours idle, 12 hours at most.
    pub const DEFAULT: SessionPolicy = SessionPolicy {
        idle: Duration::from_secs(8 * 3600),
        absolute: Duration::from_secs(12 * 3600),
    };

    /// The idle limits an organisation may set (AUTHN-8): 15 minutes to 12 hours.
    pub const IDLE_BOUNDS: (Duration, Duration) = (Duration::from_secs(15 * 60), Duration::from_secs(12 * 3600));
    /// The absolute limits an organisation may set (AUTHN-8): 1 hour to 24 hours.
    pub const ABSOLUTE_BOUNDS: (Duration, Duration) = (Duration::from_secs(3600), Duration::from_secs(24 * 3600));

    /// `self` (the deployment's policy) with what an organisation set in its place: an idle
    /// limit in minutes and an absolute one in hours, each brought within its bounds
    /// ([`SessionPolicy::IDLE_BOUNDS`], [`SessionPolicy::ABSOLUTE_BOUNDS`]: a stored value out
    /// of them was not written through the API, and is not trusted), the idle limit never
    /// longer than the absolute one.
    pub fn of_organisation(self, idle_minutes: Option<u32>, max_hours: Option<u32>) -> SessionPolicy {
        let within = |value: Duration, (low, high): (Duration, Duration)| value.clamp(low, high);
        let idle = idle_minutes.map_or(self.idle, |m| {
            within(Duration::from_secs(u64::from(m) * 60), Self::IDLE_BOUNDS)
        });
        let absolute = max_hours.map_or(self.absolute, |h| {
            within(Duration::from_secs(u64::from(h) * 3600), Self::ABSOLUTE_BOUNDS)
        });
        SessionPolicy {
            idle: idle.min(absolute),
            absolute,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    SignedOut,
    Expired,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ended {
    at: u64,
    reason: EndReason,
}

/// The stored session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionRecord {
    org_id: OrgId,
    user_id: UserId,
    session_id: String,
    started_at: u64,
    refreshed_at: u64,
    idle_until: u64,
    absolute_until: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended: Option<Ended>,
    /// SHA-256 (base64url) of the session's refresh token, so sign-out revokes only its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_sha256: Option<String>,
    /// When the session passed a second factor (AUTHN-7), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    second_factor_at: Option<u64>,
    version: u64,
    /// DynamoDB TTL (seconds): a day after the absolute end. Quire never relies on the deletion.
    expires_at: u64,
}

/// A member's revocation mark: every session started at or before `before` is revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Revocation {
    org_id: OrgId,
    user_id: UserId,
    before: u64,
    /// DynamoDB TTL (seconds): once no session it covers can be alive, and a day more.
    expires_at: u64,
}

impl crate::Transaction<'_> {
    /// Moves `user`'s revocation mark to now, with its `sessions.revoked` entry: every session
    /// of theirs started until now refuses its next request. `stored` is the mark as read; the
    /// write is conditioned on none later having been written since (the mark only moves
    /// forward: one that finds a later mark, a clock behind or the same millisecond, records
    /// that mark's time), else the change fails with [`StoreError::Conflict`].
    /// `identity_provider` is what Cognito's sign-out of the member's refresh tokens found.
    pub(crate) fn revocation(self, user: &UserId, stored: Option<&Revocation>, identity_provider: &str) -> Self {
        let org = self.scope().org_id().clone();
        let before = now_millis().max(stored.map_or(0, |m| m.before));
        let mark = Revocation {
            org_id: org.clone(),
            user_id: user.clone(),
            before,
            expires_at: (before + LONGEST_SESSION_MS + KEEP_MS) / 1000,
        };
        self.put_beside_if(
            keys::revocation(&org, user),
            &mark,
            "attribute_not_exists(pk) OR #before <= :before",
            vec![(":before", crate::attempts::number(before))],
        )
        .with_names(vec![("#before", "before")])
        .event(
            Action::SessionsRevoked,
            Target::new("user", user.as_str()),
            &serde_json::json!({
                "revokedBefore": rfc3339(before),
                "identityProvider": identity_provider,
            }),
        )
    }
}

/// Why a session does not admit a request or a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefused {
    /// No session of this member has this id: the token's sign-in did not go through Quire.
    Unknown,
    /// Signed out or revoked.
    Revoked,
    /// Past its idle or absolute end.
    Expired,
}

/// Which end a session passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Limit {
    Idle,
    Absolute,
}

/// What a refresh found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The session lives on; its idle end moved.
    Granted,
    /// Refused; an expiry was recorded by this refresh or an earlier one.
    Refused(SessionRefused),
    /// Refused, nothing written: the request came from outside the organisation's IP
    /// allowlist (ORG-3).
    AddressNotAllowed,
}

pub(crate) fn now_millis() -> u64 {
    millis_since_epoch(SystemTime::now())
}

pub(crate) fn millis_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The time `ms` milliseconds after the Unix epoch: how the store keeps times.
pub(crate) fn at_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

impl SessionRecord {
    /// A session of `user` of `org` that started at `now`, with its refresh token's digest;
    /// `second_factor_at` when its sign-in passed a second factor.
    pub(crate) fn start(
        org: &OrgId,
        user: &UserId,
        id: &SessionId,
        policy: SessionPolicy,
        now: u64,
        refresh_token: Option<&str>,
        second_factor_at: Option<u64>,
    ) -> Self {
        let absolute_until = now + millis(policy.absolute);
        SessionRecord {
            expires_at: (absolute_until + KEEP_MS) / 1000,
            org_id: org.clone(),
            user_id: user.clone(),
            session_id: id.0.clone(),
            started_at: now,
            refreshed_at: now,
            idle_until: (now + millis(policy.idle)).min(absolute_until),
            absolute_until,
            ended: None,
            refresh_sha256: refresh_token.map(|t| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(refresh_digest(t).as_ref())
            }),
            second_factor_at,
            version: 1,
        }
    }

    /// Which end the session has passed at `now`, if any.
    fn passed(&self, now: u64) -> Option<Limit> {
        if now >= self.absolute_until {
            Some(Limit::Absolute)
        } else if now >= self.idle_until {
            Some(Limit::Idle)
        } else {
            None
        }
    }

    /// Whether the session admits a request of `user` in `org` at `now`, given the member's
    /// revocation mark.
    pub(crate) fn admits(
        &self,
        org: &OrgId,
        user: &UserId,
        revocation: Option<&Revocation>,
        now: u64,
    ) -> Result<(), SessionRefused> {
        if self.org_id != *org || self.user_id != *user {
            return Err(SessionRefused::Unknown);
        }
        let revoked = revocation.is_some_and(|r| r.org_id == *org && r.user_id == *user && self.started_at <= r.before);
        match &self.ended {
            // An expiry a refresh recorded answers as the expiry it was.
            Some(Ended {
                reason: EndReason::Expired,
                ..
            }) if !revoked => return Err(SessionRefused::Expired),
            Some(_) => return Err(SessionRefused::Revoked),
            None if revoked => return Err(SessionRefused::Revoked),
            None => {}
        }
        match self.passed(now) {
            Some(_) => Err(SessionRefused::Expired),
            None => Ok(()),
        }
    }

    /// The session as a caller's.
    pub(crate) fn view(&self, id: &SessionId) -> Session {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        use base64::Engine;
        Session {
            id: id.clone(),
            started_at: at(self.started_at),
            idle_until: at(self.idle_until),
            absolute_until: at(self.absolute_until),
            second_factor_at: self.second_factor_at.map(at),
            refresh_digest: self
                .refresh_sha256
                .as_ref()
                .and_then(|d| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(d).ok()),
        }
    }

    /// What the audit trail records of the session.
    fn summary(&self) -> serde_json::Value {
        let mut summary = serde_json::json!({
            "session": self.session_id,
            "startedAt": rfc3339(self.started_at),
            "idleUntil": rfc3339(self.idle_until),
            "absoluteUntil": rfc3339(self.absolute_until),
        });
        if let Some(at) = self.second_factor_at {
            summary["secondFactorAt"] = rfc3339(at).into();
        }
        summary
    }

    /// The session under `policy` as it stands now: an absolute limit lowered since the session
    /// started (its organisation changed it) brings both ends in; a raised one extends nothing.
    fn bounded(&self, policy: SessionPolicy) -> Self {
        let absolute_until = self
            .absolute_until
            .min(self.started_at.saturating_add(millis(policy.absolute)));
        SessionRecord {
            absolute_until,
            idle_until: self.idle_until.min(absolute_until),
            ..self.clone()
        }
    }

    /// The session refreshed at `now`: its idle end slides, never past the absolute one.
    fn slid(&self, now: u64, policy: SessionPolicy) -> Self {
        SessionRecord {
            refreshed_at: now,
            idle_until: (now + millis(policy.idle)).min(self.absolute_until),
            ..self.next()
        }
    }

    fn next(&self) -> Self {
        SessionRecord {
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// What a sign-in's transaction writes beside `sign-in.succeeded`: the new session and what the
/// event records of it.
pub(crate) struct NewSession {
    pub(crate) record: SessionRecord,
}

impl NewSession {
    pub(crate) fn key(&self) -> keys::Key {
        keys::session(&self.record.org_id, &self.record.user_id, &self.record.session_id)
    }

    pub(crate) fn record(&self) -> &SessionRecord {
        &self.record
    }

    pub(crate) fn summary(&self) -> serde_json::Value {
        self.record.summary()
    }

    pub(crate) fn user(&self) -> &UserId {
        &self.record.user_id
    }
}

/// The condition under which a session is replaced: still the version that was read.
const SAME_VERSION: &str = "attribute_exists(pk) AND #version = :version";

/// How often a change of a session is tried against a racing one before it gives up
/// ([`StoreError::Contended`]): each try reads the session again.
const TRIES: usize = 3;

/// How long after its last use an item of this module stays for DynamoDB's TTL to delete: a day
/// past the latest moment it can matter.
const KEEP_MS: u64 = 24 * 3600 * 1000;

/// The longest absolute limit any configuration allows: a revocation mark older than this
/// covers no live session.
const LONGEST_SESSION_MS: u64 = 24 * 3600 * 1000;

/// What a sign-out or a refresh does to a session it read.
enum Change {
    Replace(Box<SessionRecord>, Action, serde_json::Value),
    Refuse(SessionRefused),
}

impl Store {
    /// Remembers that `token` was issued to `user` (one `PutItem`, before the sign-in's
    /// transaction: a pointer to a session that was never recorded leads a refresh nowhere).
    pub(crate) async fn remember_refresh_token(&self, user: &UserId, token: &str) -> Result<(), StoreError> {
        let owner = RefreshOwner {
            user_id: user.clone(),
            expires_at: (now_millis() + LONGEST_SESSION_MS + KEEP_MS) / 1000,
        };
        self.ddb
            .put_item()
            .table_name(&self.data_table)
            .set_item(Some(super::to_item(&owner, &refresh_owner_key(token))?))
            .send()
            .await
            .map_err(StoreError::aws)?;
        Ok(())
    }

    /// The member a refresh token was issued to by Quire's sign-in, if it was (one read).
    pub async fn refresh_token_owner(&self, token: &str) -> Result<Option<UserId>, StoreError> {
        match self.read(&self.data_table, &refresh_owner_key(token)).await? {
            Some(item) => Ok(Some(super::from_item::<RefreshOwner>(item)?.user_id)),
            None => Ok(None),
        }
    }

    /// Signs the caller's session out (`session.signed-out`, AUTHN-2): it refuses every request
    /// from now on. A refresh racing it is read again and the sign-out retried, so it never
    /// answers "already ended" while the session lives; [`StoreError::Conflict`] only when the
    /// session did end meanwhile (or is gone).
    ///
    /// `refresh_token` is what became of the session's refresh token at Cognito (`revoked`, or
    /// `not-given` when the client did not send it), recorded with the entry.
    pub async fn sign_out(
        &self,
        caller: &crate::tenant::Caller,
        audit: AuditContext,
        refresh_token: &str,
    ) -> Result<(), StoreError> {
        let scope = caller.scope();
        let key = keys::session(scope.org_id(), &caller.user_id, caller.session().id.as_str());
        self.change_session(scope, &key, audit, None, None, |current, now| match &current.ended {
            Some(_) => Change::Refuse(SessionRefused::Revoked),
            None => {
                let ended = SessionRecord {
                    ended: Some(Ended {
                        at: now,
                        reason: EndReason::SignedOut,
                    }),
                    ..current.next()
                };
                let mut outcome = current.summary();
                outcome["endedAt"] = rfc3339(now).into();
                outcome["refreshToken"] = refresh_token.into();
                Change::Replace(Box::new(ended), Action::SessionSignedOut, outcome)
            }
        })
        .await?
        .map_or(Ok(()), |_| Err(StoreError::Conflict))
    }

    /// Records that the caller enrolled a TOTP authenticator (`mfa.enrolled`, AUTHN-7): Cognito
    /// verified a code of it. The member's enrolment record (`crate::mfa`) and the entry are
    /// written with the caller's session, which has passed a second factor from now on (the
    /// admin MFA gate opens), in one transaction. `Ok(false)` when the session ended meanwhile:
    /// the enrolment is recorded all the same, without it.
    pub async fn record_mfa_enrolled(
        &self,
        caller: &crate::tenant::Caller,
        audit: AuditContext,
    ) -> Result<bool, StoreError> {
        let scope = caller.scope();
        let key = keys::session(scope.org_id(), &caller.user_id, caller.session().id.as_str());
        let record = crate::mfa::MfaRecord::now(scope.org_id(), &caller.user_id);
        let beside = (
            record.key(),
            serde_json::to_value(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        let refused = self
            .change_session(
                scope,
                &key,
                audit.clone(),
                None,
                Some(beside),
                |current, now| match &current.ended {
                    Some(_) => Change::Refuse(SessionRefused::Revoked),
                    None => {
                        let enrolled = SessionRecord {
                            second_factor_at: Some(now),
                            ..current.next()
                        };
                        let outcome = record.outcome(Some(enrolled.summary()));
                        Change::Replace(Box::new(enrolled), Action::MfaEnrolled, outcome)
                    }
                },
            )
            .await?;
        match refused {
            None => Ok(true),
            Some(_) => self
                .record_mfa_enrolment(scope, &caller.user_id, audit)
                .await
                .map(|()| false),
        }
    }

    /// Revokes every session `user` of the scope's organisation started until now
    /// (`sessions.revoked`, AUTHN-2): each refuses its next request. The caller is the member
    /// themself or holds `UserManage` (the route decides); `identity_provider` is what Cognito's
    /// sign-out of the member's refresh tokens found, recorded with the entry. `Ok(false)`, with
    /// nothing written, when the organisation has no such member.
    ///
    /// The mark only moves forward: a revocation never undoes a later one, and one that finds a
    /// later mark (a clock behind, or the same millisecond) records that mark's time.
    pub async fn revoke_sessions(
        &self,
        scope: &TenantScope,
        user: &UserId,
        audit: AuditContext,
        identity_provider: &str,
    ) -> Result<bool, StoreError> {
        if self.member(scope.org_id(), user).await?.is_none() {
            return Ok(false);
        }
        self.revoke_sessions_after(scope, user, audit, identity_provider, |tx| tx)
            .await
            .map(|()| true)
    }

    /// The revocation mark of `user` with its `sessions.revoked` entry, after what `first` adds
    /// to the same transaction (a password reset's own entry).
    pub(crate) async fn revoke_sessions_after(
        &self,
        scope: &TenantScope,
        user: &UserId,
        audit: AuditContext,
        identity_provider: &str,
        first: impl Fn(crate::Transaction<'_>) -> crate::Transaction<'_>,
    ) -> Result<(), StoreError> {
        for _ in 0..TRIES {
            let stored = self.revocation_mark(scope.org_id(), user).await?;
            let committed = first(self.transaction(scope, audit.clone()))
                .revocation(user, stored.as_ref(), identity_provider)
                .commit()
                .await;
            match committed {
                Err(StoreError::Conflict) => continue,
                other => return other,
            }
        }
        Err(StoreError::Contended)
    }

    /// `user`'s revocation mark as stored, if they have one.
    pub(crate) async fn revocation_mark(&self, org: &OrgId, user: &UserId) -> Result<Option<Revocation>, StoreError> {
        self.read(&self.data_table, &keys::revocation(org, user))
            .await?
            .map(super::from_item::<Revocation>)
            .transpose()
    }

    /// Refreshes a session (AUTHN-8) for the user a token Cognito just issued names: granted,
    /// its idle end slides (`session.refreshed`); past an end, the session ends
    /// (`session.expired`, once) and the refresh is refused; signed out, revoked or unknown,
    /// refused without a record (the end was recorded when it happened). The member must still
    /// be active in an active organisation, or the session is [`SessionRefused::Unknown`]. A
    /// racing change of the session (another refresh, a sign-out) is read again and judged anew.
    ///
    /// `viewer` is the request's address: outside the organisation's IP allowlist (ORG-3), the
    /// refresh is refused before anything is written ([`Refreshed::AddressNotAllowed`]).
    pub async fn refresh_session(
        &self,
        user: &UserId,
        id: &SessionId,
        policy: SessionPolicy,
        viewer: Option<std::net::IpAddr>,
        origin: Origin,
    ) -> Result<Refreshed, StoreError> {
        let Some(org) = self.organisation_of(user).await? else {
            return Ok(Refreshed::Refused(SessionRefused::Unknown));
        };
        let key = keys::session(&org, user, id.as_str());
        let org_key = keys::organisation(&org);
        let member_key = keys::member(&org, user);
        let revocation_key = keys::revocation(&org, user);
        let mut found = self
            .batch_read(&[org_key.clone(), member_key.clone(), revocation_key.clone(), key.clone()])
            .await?;
        let organisation = found
            .remove(&org_key)
            .map(super::from_item::<crate::directory::Organisation>)
            .transpose()?
            .filter(|o| o.org_id == org);
        let active = organisation.as_ref().is_some_and(|o| o.admits_members());
        if let Some(o) = &organisation {
            let (allowlist, _) = quire_core::network::IpAllowlist::stored(&o.ip_allowlist);
            if allowlist.is_restricted() && !viewer.is_some_and(|v| allowlist.allows(v)) {
                return Ok(Refreshed::AddressNotAllowed);
            }
        }
        // The organisation's own limits, as its sessions started with them.
        let policy = organisation.map_or(policy, |o| o.session_policy(policy));
        let member = found
            .remove(&member_key)
            .map(super::from_item::<Membership>)
            .transpose()?
            .filter(|m| m.is_active() && m.user_id == *user && m.org_id == org);
        let (true, Some(member)) = (active, member) else {
            return Ok(Refreshed::Refused(SessionRefused::Unknown));
        };
        let revocation = found
            .remove(&revocation_key)
            .map(super::from_item::<Revocation>)
            .transpose()?;
        let Some(first) = found.remove(&key) else {
            return Ok(Refreshed::Refused(SessionRefused::Unknown));
        };
        let scope = TenantScope::new(org.clone());
        let audit = AuditContext::for_route(member.actor(), origin, &Action::OWN_ACCOUNT);
        let refused = self
            .change_session(&scope, &key, audit, Some(first), None, |current, now| {
                let current = &current.bounded(policy);
                match current.admits(&org, user, revocation.as_ref(), now) {
                    // Recorded when it ended.
                    Err(SessionRefused::Expired) if current.ended.is_some() => Change::Refuse(SessionRefused::Expired),
                    Err(SessionRefused::Expired) => {
                        let mut outcome = current.summary();
                        outcome["limit"] = serde_json::to_value(current.passed(now)).unwrap_or_default();
                        let ended = SessionRecord {
                            ended: Some(Ended {
                                at: now,
                                reason: EndReason::Expired,
                            }),
                            ..current.next()
                        };
                        Change::Replace(Box::new(ended), Action::SessionExpired, outcome)
                    }
                    Err(refused) => Change::Refuse(refused),
                    Ok(()) => {
                        let slid = current.slid(now, policy);
                        let outcome = slid.summary();
                        Change::Replace(Box::new(slid), Action::SessionRefreshed, outcome)
                    }
                }
            })
            .await?;
        Ok(match refused {
            None => Refreshed::Granted,
            Some(refused) => Refreshed::Refused(refused),
        })
    }

    /// Reads the session at `key` (the first time, `first` if the caller read it already), lets
    /// `decide` judge it, and writes what it decided with its event, conditioned on the version
    /// read; a racing change makes it read and judge again.
    /// `Some(refusal)` when `decide` refused or there is no session; an expiry that was
    /// recorded is still refused ([`SessionRefused::Expired`]) once committed.
    /// `beside`, when given, is written in the same transaction as a replacement.
    async fn change_session(
        &self,
        scope: &TenantScope,
        key: &keys::Key,
        audit: AuditContext,
        mut first: Option<super::Item>,
        beside: Option<(keys::Key, serde_json::Value)>,
        decide: impl Fn(&SessionRecord, u64) -> Change,
    ) -> Result<Option<SessionRefused>, StoreError> {
        for _ in 0..TRIES {
            let item = match first.take() {
                Some(item) => item,
                None => match self.read(&self.data_table, key).await? {
                    Some(item) => item,
                    None => return Ok(Some(SessionRefused::Unknown)),
                },
            };
            let current: SessionRecord = super::from_item(item)?;
            let (next, action, outcome) = match decide(&current, now_millis()) {
                Change::Refuse(refused) => return Ok(Some(refused)),
                Change::Replace(next, action, outcome) => (next, action, outcome),
            };
            let mut tx = self.transaction(scope, audit.clone());
            if let Some((key, value)) = &beside {
                tx = tx.put_beside(key.clone(), value);
            }
            let committed = tx
                .put_beside_if(
                    key.clone(),
                    &next,
                    SAME_VERSION,
                    vec![(":version", crate::attempts::number(current.version))],
                )
                .with_names(vec![("#version", "version")])
                .event(action, Target::new("user", current.user_id.as_str()), &outcome)
                .commit()
                .await;
            match committed {
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other),
                Ok(()) if action == Action::SessionExpired => return Ok(Some(SessionRefused::Expired)),
                Ok(()) => return Ok(None),
            }
        }
        Err(StoreError::Contended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SessionPolicy {
        SessionPolicy {
            idle: Duration::from_secs(10),
            absolute: Duration::from_secs(25),
        }
    }

    fn session(now: u64) -> SessionRecord {
        let policy = policy();
        SessionRecord::start(
            &OrgId::parse("acme").unwrap(),
            &UserId::parse("u1").unwrap(),
            &SessionId::parse("0b5e2f7c-1d3a-4b6e-8f90-123456789abc").unwrap(),
            policy,
            now,
            Some("refresh-token-1"),
            None,
        )
    }

    /// A lowered absolute limit brings a running session's ends in; a raised one extends
    /// nothing.
    ///
    /// Proves: AUTHN-8
    #[test]
    fn a_lowered_absolute_limit_bounds_a_running_session() {
        let s = session(1_000_000);
        let lowered = s.bounded(SessionPolicy {
            idle: Duration::from_secs(10),
            absolute: Duration::from_secs(5),
        });
        assert_eq!(lowered.absolute_until, 1_005_000);
        assert_eq!(lowered.idle_until, 1_005_000);
        let raised = s.bounded(SessionPolicy {
            idle: Duration::from_secs(10),
            absolute: Duration::from_secs(3600),
        });
        assert_eq!(
            (raised.absolute_until, raised.idle_until),
            (s.absolute_until, s.idle_until)
        );
        assert!(lowered
            .admits(
                &OrgId::parse("acme").unwrap(),
                &UserId::parse("u1").unwrap(),
                None,
                1_005_000
            )
            .is_err());
    }

    /// An organisation's limits replace the deployment's, each brought within its bounds (15
    /// minutes to 12 hours idle, 1 to 24 hours at most), the idle one never past the absolute
    /// one; what it did not set stays the deployment's.
    ///
    /// Proves: AUTHN-8
    #[test]
    fn an_organisations_limits_hold_within_their_bounds() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let of = |idle, max| SessionPolicy::DEFAULT.of_organisation(idle, max);
        assert_eq!(of(None, None), SessionPolicy::DEFAULT);
        assert_eq!(
            of(Some(15), Some(1)),
            SessionPolicy {
                idle: minutes(15),
                absolute: minutes(60)
            }
        );
        assert_eq!(of(Some(14), None).idle, minutes(15));
        assert_eq!(of(Some(0), None).idle, minutes(15));
        assert_eq!(of(Some(12 * 60 + 1), None).idle, minutes(12 * 60));
        assert_eq!(of(None, Some(0)).absolute, minutes(60));
        assert_eq!(of(None, Some(25)).absolute, minutes(24 * 60));
        assert_eq!(of(None, Some(24)).absolute, minutes(24 * 60));
        assert_eq!(of(Some(u32::MAX), Some(u32::MAX)).absolute, minutes(24 * 60));
        // Idle 12 hours under an absolute 2 hours: the absolute one wins.
        assert_eq!(
            of(Some(12 * 60), Some(2)),
            SessionPolicy {
                idle: minutes(120),
                absolute: minutes(120)
            }
        );
        // Only the idle limit set: the deployment's absolute limit stays.
        assert_eq!(of(Some(30), None).absolute, SessionPolicy::DEFAULT.absolute);
    }

    /// Each limit refuses from its very millisecond on, and not one millisecond before.
    ///
    /// Proves: AUTHN-8
    #[test]
    fn a_session_ends_at_its_idle_or_absolute_limit() {
        let (org, user) = (OrgId::parse("acme").unwrap(), UserId::parse("u1").unwrap());
        let s = session(1_000_000);
        assert_eq!(s.admits(&org, &user, None, 1_000_000 + 9_999), Ok(()));
        assert_eq!(
            s.admits(&org, &user, None, 1_000_000 + 10_000),
            Err(SessionRefused::Expired)
        );
        assert_eq!(s.passed(1_000_000 + 10_000), Some(Limit::Idle));
        // Refreshed, the idle end slides from the refresh; refreshed late, the absolute end caps it.
        let early = s.slid(1_004_000, policy());
        assert_eq!((early.idle_until, early.absolute_until), (1_014_000, 1_025_000));
        assert_eq!(early.version, s.version + 1);
        let slid = s.slid(1_020_000, policy());
        assert_eq!(slid.idle_until, 1_025_000);
        assert_eq!(slid.admits(&org, &user, None, 1_024_999), Ok(()));
        assert_eq!(slid.passed(1_025_000), Some(Limit::Absolute));
    }

    /// Proves: AUTHN-2
    #[test]
    fn a_revocation_mark_ends_the_sessions_started_until_then_only() {
        let (org, user) = (OrgId::parse("acme").unwrap(), UserId::parse("u1").unwrap());
        let s = session(5_000);
        let mark = |before| Revocation {
            org_id: org.clone(),
            user_id: user.clone(),
            before,
            expires_at: 0,
        };
        assert_eq!(
            s.admits(&org, &user, Some(&mark(5_000)), 6_000),
            Err(SessionRefused::Revoked)
        );
        assert_eq!(s.admits(&org, &user, Some(&mark(4_999)), 6_000), Ok(()));
        // Another member's mark revokes nothing of this one's; another member's session is none
        // of theirs.
        let other = UserId::parse("u2").unwrap();
        let others = Revocation {
            user_id: other.clone(),
            ..mark(9_000)
        };
        assert_eq!(s.admits(&org, &user, Some(&others), 6_000), Ok(()));
        assert_eq!(s.admits(&org, &other, None, 6_000), Err(SessionRefused::Unknown));
        let signed_out = SessionRecord {
            ended: Some(Ended {
                at: 5_500,
                reason: EndReason::SignedOut,
            }),
            ..s.clone()
        };
        assert_eq!(
            signed_out.admits(&org, &user, None, 6_000),
            Err(SessionRefused::Revoked)
        );
        let expired = SessionRecord {
            ended: Some(Ended {
                at: 5_500,
                reason: EndReason::Expired,
            }),
            ..s.clone()
        };
        assert_eq!(expired.admits(&org, &user, None, 6_000), Err(SessionRefused::Expired));
        assert_eq!(
            expired.admits(&org, &user, Some(&mark(5_000)), 6_000),
            Err(SessionRefused::Revoked)
        );
    }

    /// Proves: AUTHN-2
    #[test]
    fn a_session_knows_its_own_refresh_token_only() {
        let s = session(1_000).view(&SessionId::parse("s").unwrap());
        assert!(s.issued_refresh_token("refresh-token-1"));
        assert!(!s.issued_refresh_token("refresh-token-2"));
        assert!(!s.issued_refresh_token(""));
        let without = SessionRecord {
            refresh_sha256: None,
            ..session(1_000)
        };
        assert!(!without
            .view(&SessionId::parse("s").unwrap())
            .issued_refresh_token("refresh-token-1"));
    }

    #[test]
    fn a_session_id_is_a_plausible_origin_jti_only() {
        assert!(SessionId::parse("0b5e2f7c-1d3a-4b6e-8f90-123456789abc").is_some());
        for bad in ["", "a#b", "a/b", "é", &"a".repeat(65)] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
    }
}
