//! Configuration read once per cold start from the environment `template.yaml` sets.
//! The same names are set by the local stack, so one binary runs in both places.

use crate::auth::JwtConfig;

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
}

#[derive(Debug, thiserror::Error)]
#[error("missing environment variable {0}")]
pub struct MissingVariable(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Self, MissingVariable> {
        fn var(name: &'static str) -> Result<String, MissingVariable> {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(MissingVariable(name))
        }
        Ok(Config {
            data_table: var("QUIRE_DATA_TABLE")?,
            audit_table: var("QUIRE_AUDIT_TABLE")?,
            kms_key_id: var("QUIRE_KMS_KEY_ID")?,
            user_pool_id: var("QUIRE_USER_POOL_ID")?,
            user_pool_client_id: var("QUIRE_USER_POOL_CLIENT_ID")?,
            jwt_issuer: var("QUIRE_JWT_ISSUER")?,
            jwks_url: var("QUIRE_JWKS_URL")?,
        })
    }

    pub fn jwt(&self) -> JwtConfig {
        JwtConfig {
            issuer: self.jwt_issuer.clone(),
            client_id: self.user_pool_client_id.clone(),
            jwks_url: self.jwks_url.clone(),
        }
    }
}
