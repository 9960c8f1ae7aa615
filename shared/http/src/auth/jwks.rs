//! The user pool's signing keys: fetched lazily, cached per cold start, refetched
//! on an unknown `kid` at most once per refetch interval.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::jwt::AuthError;

/// How long one JWKS fetch may take, connect to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A pool's JWKS is a few KiB; anything far bigger is not a JWKS.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// While no key has ever been loaded, every request fails anyway, so a failed
/// first fetch may be retried sooner than the normal interval.
const RETRY_WHEN_EMPTY: Duration = Duration::from_secs(1);

type KeyMap = HashMap<String, Arc<DecodingKey>>;

#[derive(Default)]
struct State {
    keys: Option<Arc<KeyMap>>,
    last_attempt: Option<Instant>,
}

pub(crate) struct JwksCache {
    url: String,
    refetch_interval: Duration,
    state: RwLock<State>,
    /// Serialises fetches so concurrent misses cause one request, not a stampede.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub(crate) fn new(url: String, refetch_interval: Duration) -> Self {
        Self {
            url,
            refetch_interval,
            state: RwLock::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for `kid`, fetching (or refetching) the JWKS when allowed.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, AuthError> {
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        // Cheap early answer for a flood of unknown kids: no lock, no fetch.
        if !self.may_fetch() {
            return Err(self.miss());
        }
        let _guard = self.fetch_lock.lock().await;
        // Another task may have fetched while we waited for the lock.
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        if !self.may_fetch() {
            return Err(self.miss());
        }
        let fetched = fetch(&self.url).await;
        {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            state.last_attempt = Some(Instant::now());
            match fetched {
                Ok(keys) => state.keys = Some(Arc::new(keys)),
                Err(reason) => tracing::warn!(url = %self.url, %reason, "JWKS fetch failed"),
            }
        }
        self.lookup(kid).ok_or_else(|| self.miss())
    }

    fn lookup(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.keys.as_ref()?.get(kid).cloned()
    }

    fn may_fetch(&self) -> bool {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let wait = if state.keys.is_some() {
            self.refetch_interval
        } else {
            RETRY_WHEN_EMPTY.min(self.refetch_interval)
        };
        state.last_attempt.is_none_or(|at| at.elapsed() >= wait)
    }

    /// With keys loaded, a missing kid is the token's fault; with none, ours.
    fn miss(&self) -> AuthError {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if state.keys.is_some() {
            AuthError::UnknownKey
        } else {
            AuthError::JwksUnavailable
        }
    }
}

/// Fetches and parses the JWKS. The error is for logs only, never for clients.
async fn fetch(url: &str) -> Result<KeyMap, String> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        // The URL is configuration; a redirect elsewhere is not a key source we chose.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let mut response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err("JWKS too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    let keys = parse_jwks(&body)?;
    if keys.is_empty() {
        return Err("JWKS has no usable RS256 signing key".into());
    }
    Ok(keys)
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// Only the members we use; others (x5c, x5u, ...) are ignored on purpose.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// Keeps RSA signing keys usable for RS256; skips everything else.
/// (Key size is enforced at verification: RS256 there accepts 2048–8192 bits.)
fn parse_jwks(body: &[u8]) -> Result<KeyMap, String> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| format!("JWKS JSON: {e}"))?;
    let mut keys = KeyMap::new();
    for jwk in set.keys {
        let usable = jwk.kty == "RSA"
            && jwk.use_.as_deref().is_none_or(|u| u == "sig")
            && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
        let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
            continue;
        };
        if !usable || kid.is_empty() {
            continue;
        }
        match DecodingKey::from_rsa_components(&n, &e) {
            // A duplicate kid keeps the first key: never let a later entry shadow it.
            Ok(key) => {
                keys.entry(kid).or_insert_with(|| Arc::new(key));
            }
            Err(err) => tracing::warn!(%kid, %err, "skipping malformed JWK"),
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_only_rs256_signing_keys() {
        // "AQAB" is e=65537; n is any base64url here, verification is not exercised.
        let body = br#"{"keys":[
            {"kty":"RSA","kid":"ok","use":"sig","alg":"RS256","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"no-alg","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"rs384","alg":"RS384","n":"sXch","e":"AQAB"},
            {"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"},
            {"kty":"RSA","kid":"no-n","e":"AQAB"},
            {"kty":"RSA","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"bad-b64","n":"!!","e":"AQAB"}
        ]}"#;
        let keys = parse_jwks(body).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["no-alg", "ok"]);
    }

    #[test]
    fn parse_rejects_non_jwks() {
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(br#"{"keys":{}}"#).is_err());
    }
}
