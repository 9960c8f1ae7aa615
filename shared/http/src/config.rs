//! Configuration read once per cold start from the environment `template.yaml` sets.
//! The same names are set by the local stack, so one binary runs in both places.

use crate::auth::JwtConfig;
use quire_store::attempts::LockoutPolicy;
use quire_store::{env_var as var, MissingVariable, StoreConfig};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Missing(#[from] MissingVariable),
    #[error("environment variable {0} must be a whole number of at least 1")]
    Invalid(&'static str),
}

/// An optional positive whole number from the environment.
fn positive(name: &'static str) -> Result<Option<u64>, ConfigError> {
    match var(name) {
        Err(_) => Ok(None),
        Ok(text) => match text.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ConfigError::Invalid(name)),
        },
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_table: String,
    pub audit_table: String,
    /// The customer-managed key that wraps the pagination-cursor sealing key.
    pub kms_key_id: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub jwt_issuer: String,
    /// Configured, never derived from `iss`: locally the issuer names AWS while the keys live on the emulator.
    pub jwks_url: String,
    /// `QUIRE_ORIGIN_SECRET_ID`: the Secrets Manager secret CloudFront presents
    /// (`pipeline::edge`). Absent or empty: no edge, requests come straight from API Gateway.
    pub origin_secret_id: Option<String>,
    /// `QUIRE_ORIGIN_SECRET_VERSION`: the secret version the template pins for CloudFront
    /// (`EdgeOriginSecretVersion`), accepted beside the current and previous values.
    pub origin_secret_version: Option<String>,
    /// Sign-in lockout (AUTHN-5): `QUIRE_LOCKOUT_FAILURES` consecutive failures (default 5)
    /// lock an account for `QUIRE_LOCKOUT_SECONDS` (default 900).
    pub sign_in_lockout: LockoutPolicy,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let store = StoreConfig::from_env()?;
        Ok(Config {
            data_table: store.data_table,
            audit_table: store.audit_table,
            kms_key_id: store.kms_key_id,
            user_pool_id: var("QUIRE_USER_POOL_ID")?,
            user_pool_client_id: var("QUIRE_USER_POOL_CLIENT_ID")?,
            jwt_issuer: var("QUIRE_JWT_ISSUER")?,
            jwks_url: var("QUIRE_JWKS_URL")?,
            origin_secret_id: var("QUIRE_ORIGIN_SECRET_ID").ok(),
            origin_secret_version: var("QUIRE_ORIGIN_SECRET_VERSION").ok(),
            sign_in_lockout: LockoutPolicy {
                max_failures: match positive("QUIRE_LOCKOUT_FAILURES")? {
                    Some(n) => u32::try_from(n).map_err(|_| ConfigError::Invalid("QUIRE_LOCKOUT_FAILURES"))?,
                    None => LockoutPolicy::SIGN_IN.max_failures,
                },
                lock: positive("QUIRE_LOCKOUT_SECONDS")?
                    .map(Duration::from_secs)
                    .unwrap_or(LockoutPolicy::SIGN_IN.lock),
            },
        })
    }

    /// What the store needs of it.
    pub fn store(&self) -> StoreConfig {
        StoreConfig {
            data_table: self.data_table.clone(),
            audit_table: self.audit_table.clone(),
            kms_key_id: self.kms_key_id.clone(),
        }
    }

    pub fn jwt(&self) -> JwtConfig {
        JwtConfig {
            issuer: self.jwt_issuer.clone(),
            client_id: self.user_pool_client_id.clone(),
            jwks_url: self.jwks_url.clone(),
        }
    }
}
