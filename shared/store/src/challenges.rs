//! Sign-ins waiting for their second factor (AUTHN-7).
//!
//! When a password is right and Cognito asks for the TOTP code (`SOFTWARE_TOKEN_MFA`), Quire
//! holds the challenge: a record beside the member's sessions, written in the transaction that
//! records `sign-in.challenged`, named by the digest of Cognito's challenge session (the session
//! itself is a credential and is never stored). An answer (`POST /auth/mfa`) is judged only for
//! a held, unused, unexpired challenge of the member its email names, so:
//!
//! - a challenge session a client obtained from Cognito directly (round Quire's lockout and rate
//!   limits) is refused before Cognito sees a code;
//! - the session a right code starts counts from the password's check, so a revocation made
//!   while the member typed the code covers it;
//! - a challenge starts at most one session: the answer that starts it marks it used in the
//!   transaction that records `sign-in.succeeded`.

use super::{keys, Store, StoreError};
use crate::accounts::Account;
use crate::sessions::{millis_since_epoch, now_millis};
use quire_core::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a held challenge can be answered: Cognito's challenge session lasts as long
/// (the app client's `AuthSessionValidity`, 3 minutes in template.yaml).
pub const CHALLENGE_VALIDITY: Duration = Duration::from_secs(3 * 60);

/// The stored challenge. Times in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChallengeRecord {
    org_id: OrgId,
    user_id: UserId,
    /// When the password was sent to Cognito.
    started_at: u64,
    /// The challenge cannot be answered from then on.
    until: u64,
    /// When an answer started a session with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    used_at: Option<u64>,
    /// DynamoDB TTL (seconds): a day after `until`. Quire never relies on the deletion.
    expires_at: u64,
}

/// A challenge to hold for the account's member: Cognito's session, from the password's check.
/// No `Debug`: the session is a credential.
#[derive(Clone, Copy)]
pub struct HoldChallenge<'a> {
    /// Cognito's challenge session (`Session` of `InitiateAuth`'s answer).
    pub session: &'a str,
    /// When the password was sent to Cognito.
    pub started_at: SystemTime,
}

/// A held challenge an answer names, as [`Store::pending_challenge`] found it.
#[derive(Debug, Clone)]
pub struct PendingChallenge {
    key: keys::Key,
    record: ChallengeRecord,
}

impl PendingChallenge {
    /// When the password was sent to Cognito: the start of the session the answer starts.
    pub fn started_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.record.started_at)
    }

    pub fn user(&self) -> &UserId {
        &self.record.user_id
    }

    pub(crate) fn key(&self) -> &keys::Key {
        &self.key
    }

    /// The record as the answer that starts a session leaves it.
    pub(crate) fn used(&self) -> ChallengeRecord {
        ChallengeRecord {
            used_at: Some(now_millis()),
            ..self.record.clone()
        }
    }
}

/// The condition under which an answer uses a challenge: held, and not used yet.
pub(crate) const UNUSED: &str = "attribute_exists(pk) AND attribute_not_exists(usedAt)";

/// SHA-256 (base64url, no padding) of a challenge session: its name in the key.
fn digest(session: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, session.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl ChallengeRecord {
    /// The record and key of `hold` for `user` of `org`.
    pub(crate) fn hold(org: &OrgId, user: &UserId, hold: &HoldChallenge<'_>) -> (keys::Key, ChallengeRecord) {
        let started_at = millis_since_epoch(hold.started_at);
        let until = started_at + CHALLENGE_VALIDITY.as_millis() as u64;
        let record = ChallengeRecord {
            org_id: org.clone(),
            user_id: user.clone(),
            started_at,
            until,
            used_at: None,
            expires_at: (until + 24 * 3600 * 1000) / 1000,
        };
        (keys::challenge(org, user, &digest(hold.session)), record)
    }

    /// Whether an answer of `user` of `org` may be judged at `now`.
    fn answerable(&self, org: &OrgId, user: &UserId, now: u64) -> bool {
        self.org_id == *org && self.user_id == *user && self.used_at.is_none() && now < self.until
    }
}

impl Store {
    /// The challenge `session` names for `account`'s member, if Quire's sign-in held it and it
    /// is unused and unexpired (one read). `None` for an account that names no member.
    pub async fn pending_challenge(
        &self,
        account: &Account,
        session: &str,
    ) -> Result<Option<PendingChallenge>, StoreError> {
        let Some((org, user)) = account.member() else {
            return Ok(None);
        };
        let key = keys::challenge(org, user, &digest(session));
        let Some(item) = self.read(&self.data_table, &key).await? else {
            return Ok(None);
        };
        let record: ChallengeRecord = super::from_item(item)?;
        Ok(record
            .answerable(org, user, now_millis())
            .then_some(PendingChallenge { key, record }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A challenge is answerable by its own member, once, until its validity ends: not a
    /// millisecond longer.
    ///
    /// Proves: AUTHN-7
    #[test]
    fn a_challenge_is_answerable_once_by_its_member_until_it_expires() {
        let (org, user) = (OrgId::parse("acme").unwrap(), UserId::parse("u1").unwrap());
        let started_at = UNIX_EPOCH + Duration::from_secs(1_000);
        let (key, record) = ChallengeRecord::hold(
            &org,
            &user,
            &HoldChallenge {
                session: "cognito-session",
                started_at,
            },
        );
        let start = 1_000_000;
        let end = start + CHALLENGE_VALIDITY.as_millis() as u64;
        assert!(record.answerable(&org, &user, start));
        assert!(record.answerable(&org, &user, end - 1));
        assert!(!record.answerable(&org, &user, end));
        assert!(!record.answerable(&org, &UserId::parse("u2").unwrap(), start));
        assert!(!record.answerable(&OrgId::parse("globex").unwrap(), &user, start));
        let pending = PendingChallenge {
            key: key.clone(),
            record,
        };
        assert_eq!(pending.started_at(), started_at);
        assert!(!pending.used().answerable(&org, &user, start));
        // Named by the session's digest: another session names another challenge, and the
        // session is nowhere in the key.
        let (other, _) = ChallengeRecord::hold(
            &org,
            &user,
            &HoldChallenge {
                session: "cognito-session-2",
                started_at,
            },
        );
        assert_ne!(key, other);
        assert!(!format!("{key:?}").contains("cognito-session"));
    }
}
