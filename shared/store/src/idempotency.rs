//! Idempotency keys (IETF draft-ietf-httpapi-idempotency-key-header): a create sent again with
//! the same key is made once. The key is remembered beside the record it created, in the same
//! transaction, so there is never a record without its key or a key without its record; racing
//! requests with one key resolve to whichever committed first.
//!
//! A key is scoped to the organisation and the user who sent it (another user's identical key is
//! another key) and remembered for [`KEPT_FOR`] with the answer's body (the record as created),
//! so a repeat gets the answer the first request got even if the record changed since. DynamoDB's TTL deletes it some time after
//! `expiresAt`; until then an expired key is treated as absent, on reading and on writing.

use crate::epoch_seconds;
use crate::keys;
use crate::tenant::TenantScope;
use crate::transaction::Transaction;
use crate::{from_item, Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use quire_core::ids::UserId;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a key is remembered: 24 hours.
pub const KEPT_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// A client's idempotency key: 1 to 255 visible ASCII characters other than `"` and `,`,
/// given bare or as the draft's quoted sf-string (`"8e03978e-40d5-43e8"`); the quotes are not
/// part of the key. A comma is refused because API Gateway joins a repeated header with one:
/// two keys must not become a third.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Errors: `None` for an empty, over-long or non-visible-ASCII key.
    pub fn parse(header: &str) -> Option<Self> {
        let key = header
            .strip_prefix('"')
            .and_then(|k| k.strip_suffix('"'))
            .unwrap_or(header);
        let valid =
            (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b',');
        valid.then(|| IdempotencyKey(key.to_owned()))
    }

    /// What the store keys it by: its SHA-256, so the sort key has a fixed shape.
    pub(crate) fn digest(&self) -> String {
        hash(&[self.0.as_bytes()])
    }
}

/// The request a key came with, as a SHA-256 over the member it acts as (the signed-in one,
/// or the one an administrator impersonates, RBAC-5), its method, path and body bytes: the same
/// key with another request is a client error, not a replay.
pub fn fingerprint(acting_as: &str, method: &str, path: &str, body: &[u8]) -> String {
    hash(&[acting_as.as_bytes(), method.as_bytes(), path.as_bytes(), body])
}

/// SHA-256 over the parts, each preceded by its length (8 bytes, big-endian), so no two lists
/// of parts hash alike by moving bytes from one part to the next.
fn hash(parts: &[&[u8]]) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(context.finish().as_ref())
}

/// What a key was last used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recall {
    /// Not used (or expired): go ahead, and remember it with the change.
    New,
    /// Used with this same request: answer again with this body (the record as created).
    Replay(serde_json::Value),
    /// Used with another request.
    Reused,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Remembered {
    fingerprint: String,
    /// The body of the first answer (the record it created).
    response: serde_json::Value,
    /// Seconds since the Unix epoch.
    expires_at: u64,
}

impl Store {
    /// What `key` of `user` was used for, compared with this request's `fingerprint`
    /// (strongly consistent read).
    pub async fn recall(
        &self,
        scope: &TenantScope,
        user: &UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<Recall, StoreError> {
        let remembered: Option<Remembered> = self
            .read(&self.data_table, &keys::idempotency(scope, user, &key.digest()))
            .await?
            .map(from_item)
            .transpose()?;
        Ok(match remembered.filter(|r| r.expires_at >= epoch_seconds()) {
            None => Recall::New,
            Some(r) if r.fingerprint == fingerprint => Recall::Replay(r.response),
            Some(_) => Recall::Reused,
        })
    }
}

impl Transaction<'_> {
    /// Remembers `key` of `user` with the record this transaction creates and the body of the
    /// answer. If the key is in use (and not expired) the whole change fails with
    /// [`StoreError::Conflict`]: ask [`Store::recall`] what it was used for.
    pub fn remember(self, user: &UserId, key: &IdempotencyKey, fingerprint: &str, response: &impl Serialize) -> Self {
        let now = epoch_seconds();
        let response = match serde_json::to_value(response) {
            Ok(value) => value,
            Err(error) => return self.fail(StoreError::Corrupt(error.to_string())),
        };
        let remembered = Remembered {
            fingerprint: fingerprint.to_owned(),
            response,
            expires_at: now.saturating_add(KEPT_FOR.as_secs()),
        };
        let key = keys::idempotency(self.scope(), user, &key.digest());
        self.put_beside_if(
            key,
            &remembered,
            "attribute_not_exists(pk) OR expiresAt < :now",
            vec![(":now", AttributeValue::N(now.to_string()))],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: HTTP-6
    #[test]
    fn keys_are_visible_ascii_bare_or_quoted() {
        for good in [
            "a",
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            "\"quoted-key\"",
            &"k".repeat(255),
        ] {
            assert!(IdempotencyKey::parse(good).is_some(), "{good}");
        }
        assert_eq!(IdempotencyKey::parse("\"k\""), IdempotencyKey::parse("k"));
        for bad in [
            "",
            "\"\"",
            "with space",
            "tab\tkey",
            "é",
            "new\nline",
            "\"a\"b\"",
            &"k".repeat(256),
        ] {
            assert!(IdempotencyKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = fingerprint("u1", "POST", "/documents", b"{\"title\":\"a\"}");
        assert_eq!(a, fingerprint("u1", "POST", "/documents", b"{\"title\":\"a\"}"));
        assert_ne!(a, fingerprint("u1", "POST", "/documents", b"{\"title\":\"b\"}"));
        assert_ne!(a, fingerprint("u1", "POST", "/documentsx", b"{\"title\":\"a\"}"));
        assert_ne!(a, fingerprint("u2", "POST", "/documents", b"{\"title\":\"a\"}"));
        // Lengths keep path and body apart.
        assert_ne!(
            fingerprint("u1", "POST", "/a", b"\nb"),
            fingerprint("u1", "POST", "/a\n", b"b")
        );
    }
}
