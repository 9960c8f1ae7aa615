//! Sealed pagination cursors (TEN-5). A cursor is AES-256-GCM over the last evaluated key,
//! with the partition it pages through as associated data: a cursor forged, altered, older than
//! a day, or minted for another tenant or listing fails to open and the request is a 400.
//!
//! The sealing key is a KMS data key, created once per deployment, stored wrapped in the data
//! table and unwrapped once per cold start, so every function instance opens every cursor.

use super::keys::Key;
use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

const MAX_AGE_SECONDS: u64 = 24 * 3600;

pub(crate) struct CursorSealer {
    key: RandomizedNonceKey,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    pk: String,
    sk: String,
    /// Issue time (seconds since the epoch): cursors expire after a day.
    iat: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl CursorSealer {
    pub fn new(key_bytes: &[u8]) -> Result<Self, String> {
        RandomizedNonceKey::new(&AES_256_GCM, key_bytes)
            .map(|key| CursorSealer { key })
            .map_err(|_| "cursor key must be 32 bytes".to_owned())
    }

    pub fn seal(&self, partition: &str, last: &Key) -> Result<String, String> {
        let mut data = serde_json::to_vec(&Payload {
            pk: last.pk.clone(),
            sk: last.sk.clone(),
            iat: now(),
        })
        .map_err(|e| e.to_string())?;
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(partition.as_bytes()), &mut data)
            .map_err(|_| "seal failed".to_owned())?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&data);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a cursor for `partition`; `None` for anything that is not a fresh cursor of ours for it.
    pub fn open(&self, partition: &str, cursor: &str) -> Option<Key> {
        if cursor.len() > 1024 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if bytes.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(partition.as_bytes()), &mut sealed)
            .ok()?;
        let payload: Payload = serde_json::from_slice(plain).ok()?;
        let fresh = now().saturating_sub(payload.iat) <= MAX_AGE_SECONDS;
        (payload.pk == partition && fresh).then_some(Key {
            pk: payload.pk,
            sk: payload.sk,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: TEN-5
    #[test]
    fn cursors_open_only_for_their_partition() {
        let sealer = CursorSealer::new(&[7u8; 32]).unwrap();
        let last = Key {
            pk: "ORG#a#DOC".into(),
            sk: "d9".into(),
        };
        let cursor = sealer.seal("ORG#a#DOC", &last).unwrap();
        assert_eq!(sealer.open("ORG#a#DOC", &cursor), Some(last));
        assert_eq!(sealer.open("ORG#b#DOC", &cursor), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        let n = bytes.len();
        bytes[n - 20] ^= 1;
        assert_eq!(sealer.open("ORG#a#DOC", &URL_SAFE_NO_PAD.encode(bytes)), None);
        assert_eq!(sealer.open("ORG#a#DOC", "not a cursor"), None);
        let other = CursorSealer::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open("ORG#a#DOC", &cursor), None);
    }
}
