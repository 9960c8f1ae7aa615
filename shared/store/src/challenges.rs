//! Sign-ins waiting for a step after the password: the TOTP code (AUTHN-7) or a new password.
//!
//! When a password is right and Cognito asks for the TOTP code (`SOFTWARE_TOKEN_MFA`) or for a
//! new password (`NEW_PASSWORD_REQUIRED`: the member's password is the temporary one they were
//! invited with), Quire holds the challenge: a record beside the member's sessions, written in
//! the transaction that records `sign-in.challenged`, named by the digest of Cognito's challenge
//! session (the session itself is a credential and is never stored), and of one
//! [`ChallengeKind`]. An answer (`POST /auth/mfa`, `POST /auth/password/new`) is judged only
//! for a held, unused, unexpired challenge of its kind of the member its email names, so:
//!
//! - a challenge session a client obtained from Cognito directly (round Quire's lockout and rate
//!   limits) is refused before Cognito sees a code;
//! - the session a right code starts counts from the password's check, so a revocation made
//!   while the member typed the code covers it;
//! - a challenge is answered at most once: the answer marks it used in the transaction that
//!   records what it did (`sign-in.succeeded`; `password.changed` for a new password).

use super::{keys, Store, StoreError};
use crate::accounts::Account;
use crate::sessions::{millis_since_epoch, now_millis};
use quire_core::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a held challenge can be answered: Cognito's challenge session lasts as long
/// (the app client's `AuthSessionValidity`, 3 minutes in template.yaml).
pub const CHALLENGE_VALIDITY: Duration = Duration::from_secs(3 * 60);

/// What a held challenge asks for, as Cognito names it (`ChallengeNameType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengeKind {
    /// `SOFTWARE_TOKEN_MFA`: the code of the member's TOTP authenticator (AUTHN-7).
    #[serde(rename = "SOFTWARE_TOKEN_MFA")]
    SoftwareTokenMfa,
    /// `NEW_PASSWORD_REQUIRED`: a password of the member's own in place of the temporary one.
    #[serde(rename = "NEW_PASSWORD_REQUIRED")]
    NewPasswordRequired,
}

/// Challenges held before the kind was recorded were all TOTP challenges.
fn software_token_mfa() -> ChallengeKind {
    ChallengeKind::SoftwareTokenMfa
}

/// The stored challenge. Times in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChallengeRecord {
    org_id: OrgId,
    user_id: UserId,
    /// Stored as `challenge`: `kind` is the store's own attribute (every item's record kind).
    #[serde(rename = "challenge", default = "software_token_mfa")]
    kind: ChallengeKind,
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
    pub kind: ChallengeKind,
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

    pub fn kind(&self) -> ChallengeKind {
        self.record.kind
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
            kind: hold.kind,
            started_at,
            until,
            used_at: None,
            expires_at: (until + 24 * 3600 * 1000) / 1000,
        };
        (keys::challenge(org, user, &digest(hold.session)), record)
    }

    /// Whether an answer of `kind` by `user` of `org` may be judged at `now`.
    fn answerable(&self, kind: ChallengeKind, org: &OrgId, user: &UserId, now: u64) -> bool {
        self.kind == kind && self.org_id == *org && self.user_id == *user && self.used_at.is_none() && now < self.until
    }
}

impl Store {
    /// The challenge `session` names for `account`'s member, if Quire's sign-in held it, it
    /// asks for `kind`, and it is unused and unexpired (one read). `None` for an account that
    /// names no member.
    pub async fn pending_challenge(
        &self,
        account: &Account,
        kind: ChallengeKind,
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
            .answerable(kind, org, user, now_millis())
            .then_some(PendingChallenge { key, record }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A challenge is answerable by its own member, once, with an answer of its kind, until its
    /// validity ends: not a millisecond longer.
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
                kind: ChallengeKind::SoftwareTokenMfa,
                session: "cognito-session",
                started_at,
            },
        );
        let start = 1_000_000;
        let end = start + CHALLENGE_VALIDITY.as_millis() as u64;
        let mfa = ChallengeKind::SoftwareTokenMfa;
        assert!(record.answerable(mfa, &org, &user, start));
        assert!(record.answerable(mfa, &org, &user, end - 1));
        assert!(!record.answerable(mfa, &org, &user, end));
        assert!(!record.answerable(mfa, &org, &UserId::parse("u2").unwrap(), start));
        assert!(!record.answerable(mfa, &OrgId::parse("globex").unwrap(), &user, start));
        // A TOTP challenge's session cannot set a password, nor the reverse.
        assert!(!record.answerable(ChallengeKind::NewPasswordRequired, &org, &user, start));
        let pending = PendingChallenge {
            key: key.clone(),
            record,
        };
        assert_eq!(pending.started_at(), started_at);
        assert!(!pending.used().answerable(mfa, &org, &user, start));
        // Named by the session's digest: another session names another challenge, and the
        // session is nowhere in the key.
        let (other, _) = ChallengeRecord::hold(
            &org,
            &user,
            &HoldChallenge {
                kind: ChallengeKind::SoftwareTokenMfa,
                session: "cognito-session-2",
                started_at,
            },
        );
        assert_ne!(key, other);
        assert!(!format!("{key:?}").contains("cognito-session"));
    }

    /// The kind is stored under Cognito's name, as `challenge` (the store keeps every item's
    /// record kind as `kind`, which would overwrite it), and a record stored before kinds were
    /// recorded reads as the TOTP challenge it was.
    ///
    /// Proves: AUTHN-7
    #[test]
    fn a_record_without_a_kind_is_a_totp_challenge() {
        let (_, record) = ChallengeRecord::hold(
            &OrgId::parse("acme").unwrap(),
            &UserId::parse("u1").unwrap(),
            &HoldChallenge {
                kind: ChallengeKind::NewPasswordRequired,
                session: "cognito-session",
                started_at: UNIX_EPOCH,
            },
        );
        let item = crate::to_item(
            &record,
            &keys::challenge(&OrgId::parse("acme").unwrap(), &UserId::parse("u1").unwrap(), "d"),
        )
        .unwrap();
        assert_eq!(
            item.get("challenge").and_then(|v| v.as_s().ok()).map(String::as_str),
            Some("NEW_PASSWORD_REQUIRED"),
            "the kind survives the store's own attributes"
        );
        let back: ChallengeRecord = crate::from_item(item).unwrap();
        assert_eq!(back.kind, ChallengeKind::NewPasswordRequired);
        let mut stored = serde_json::to_value(&record).unwrap();
        assert_eq!(stored["challenge"], "NEW_PASSWORD_REQUIRED");
        stored.as_object_mut().unwrap().remove("challenge");
        let old: ChallengeRecord = serde_json::from_value(stored).unwrap();
        assert_eq!(old.kind, ChallengeKind::SoftwareTokenMfa);
    }
}
