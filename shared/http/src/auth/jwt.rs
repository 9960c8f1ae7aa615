//! Verification of Cognito access tokens (AUTHN-1), in our own code as well as
//! at API Gateway: defence in depth, and the authorizer does not check `token_use`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;

/// Leeway for `exp`, `nbf` and `iat` against our clock.
pub const CLOCK_SKEW_SECONDS: i64 = 60;
/// Cognito access tokens are 1–2 KiB; refuse to parse anything far larger.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// An unknown `kid` triggers a JWKS refetch at most this often.
const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
const MAX_SUB_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// Exact `iss`, e.g. `https://cognito-idp.<region>.amazonaws.com/<poolId>`.
    pub issuer: String,
    /// The app client id the token must name in `client_id`.
    pub client_id: String,
    /// Configured, never derived from `iss`: locally the JWKS lives on the emulator.
    pub jwks_url: String,
}

/// What a verified Cognito access token tells us. Nothing else from the token is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub sub: String,
    pub username: Option<String>,
    pub jti: Option<String>,
    /// Cognito's `origin_jti`: the same for every access token of one sign-in, across
    /// refreshes. Quire's session id (`quire_store::sessions`).
    pub origin_jti: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub auth_time: Option<i64>,
    pub groups: Vec<String>,
    /// The OAuth scopes the token grants (its space-separated `scope` claim).
    pub scopes: Vec<String>,
}

/// Why a token was refused. The Display text is safe to show a client.
/// Every variant means 401, except `JwksUnavailable` (our fault: 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("token too large")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    #[error("token has no key id")]
    MissingKeyId,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong token issuer")]
    WrongIssuer,
    #[error("token issued for another client")]
    WrongClient,
    #[error("not an access token")]
    WrongTokenUse,
    #[error("invalid token subject")]
    InvalidSubject,
    #[error("signing keys unavailable")]
    JwksUnavailable,
}

/// Verifies bearer tokens against one user pool and app client.
/// Send + Sync; share one per cold start in an `Arc`.
pub struct JwtVerifier {
    config: JwtConfig,
    jwks: JwksCache,
    validation: Validation,
}

/// The header members we act on. `jku`, `x5u`, `x5c` and `jwk` are deliberately
/// absent: keys come only from the configured JWKS.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Strict claims: the time claims must be JSON integers, so `"exp": "9999999999"`
/// fails to deserialize (CVE-2026-25537 class) instead of being skipped.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    iss: Option<String>,
    client_id: Option<String>,
    token_use: Option<String>,
    exp: i64,
    iat: i64,
    nbf: Option<i64>,
    auth_time: Option<i64>,
    username: Option<String>,
    jti: Option<String>,
    origin_jti: Option<String>,
    scope: Option<String>,
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
}

impl JwtVerifier {
    /// Fetches the JWKS lazily, on the first `verify`.
    pub fn new(config: JwtConfig) -> Self {
        Self::new_with_refetch_interval(config, REFETCH_INTERVAL)
    }

    /// Test hook: a shorter refetch interval keeps throttling tests fast.
    pub(crate) fn new_with_refetch_interval(config: JwtConfig, refetch_interval: Duration) -> Self {
        // Signature and algorithm only: jsonwebtoken's time checks read the system
        // clock, so the claims are checked below, against `now_unix`.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let jwks = JwksCache::new(config.jwks_url.clone(), refetch_interval);
        Self {
            config,
            jwks,
            validation,
        }
    }

    /// Verifies `Authorization: Bearer <jwt>` at the current system time.
    pub async fn verify(&self, authorization_header: Option<&str>) -> Result<VerifiedToken, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.verify_at(authorization_header, now).await
    }

    /// Verifies at `now_unix` (seconds), which alone decides the time checks.
    pub async fn verify_at(
        &self,
        authorization_header: Option<&str>,
        now_unix: i64,
    ) -> Result<VerifiedToken, AuthError> {
        let token = bearer_token(authorization_header)?;
        let header = parse_header(token)?;
        // Before any key lookup: only RS256 is ever accepted, so `none`, HS256
        // keyed with our public key, and friends never reach a verifier.
        if header.alg != "RS256" {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        if header.crit.is_some() {
            // RFC 7515 §4.1.11: extensions we don't understand must be refused.
            return Err(AuthError::Malformed);
        }
        let kid = header.kid.filter(|k| !k.is_empty()).ok_or(AuthError::MissingKeyId)?;
        let key = self.jwks.key(&kid).await?;

        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "token rejected by jsonwebtoken");
                match e.kind() {
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    ErrorKind::InvalidAlgorithm => AuthError::UnsupportedAlgorithm,
                    _ => AuthError::Malformed,
                }
            })?
            .claims;
        self.check_claims(claims, now_unix)
    }

    fn check_claims(&self, c: Claims, now: i64) -> Result<VerifiedToken, AuthError> {
        if c.iss.as_deref() != Some(self.config.issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
        // Access tokens name the app client in `client_id`; ID tokens use `aud`.
        if c.client_id.as_deref() != Some(self.config.client_id.as_str()) {
            return Err(AuthError::WrongClient);
        }
        if c.token_use.as_deref() != Some("access") {
            return Err(AuthError::WrongTokenUse);
        }
        // Saturating: an attacker-chosen i64::MAX must not overflow.
        if c.exp.saturating_add(CLOCK_SKEW_SECONDS) <= now {
            return Err(AuthError::Expired);
        }
        if c.nbf.is_some_and(|nbf| nbf.saturating_sub(CLOCK_SKEW_SECONDS) > now)
            || c.iat.saturating_sub(CLOCK_SKEW_SECONDS) > now
        {
            return Err(AuthError::NotYetValid);
        }
        let sub = c.sub.unwrap_or_default();
        if sub.is_empty() || sub.chars().count() > MAX_SUB_CHARS || sub.chars().any(char::is_control) {
            return Err(AuthError::InvalidSubject);
        }
        Ok(VerifiedToken {
            sub,
            username: c.username,
            jti: c.jti,
            origin_jti: c.origin_jti,
            issued_at: c.iat,
            expires_at: c.exp,
            auth_time: c.auth_time,
            groups: c.groups,
            scopes: c
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// The JWT from `Bearer <jwt>` (scheme case-insensitive), size-checked.
fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let (scheme, token) = header
        .map(str::trim)
        .and_then(|h| h.split_once(' '))
        .ok_or(AuthError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = token.trim_start();
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge);
    }
    Ok(token)
}

/// Decodes the JOSE header of a compact JWS with exactly three segments.
fn parse_header(token: &str) -> Result<Header, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(AuthError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}
