//! Configuration read once per cold start from the environment `template.yaml` sets.
//! The same names are set by the local stack, so one binary runs in both places.

use crate::auth::JwtConfig;
use quire_store::attempts::LockoutPolicy;
use quire_store::sessions::SessionPolicy;
use quire_store::{env_var as var, MissingVariable, StoreConfig};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Missing(#[from] MissingVariable),
    #[error("environment variable {0} is out of its bounds (see quire_http::config)")]
    Invalid(&'static str),
}

/// The sign-in lockout from `QUIRE_LOCKOUT_FAILURES` (1 to 20, default 5) and
/// `QUIRE_LOCKOUT_SECONDS` (1 to 86 400, default 900): bounded, so configuration can neither
/// switch the lockout off nor make a lock outlive the attempt count's TTL.
pub fn lockout_from(failures: Option<&str>, seconds: Option<&str>) -> Result<LockoutPolicy, ConfigError> {
    let bounded = |text: Option<&str>, name: &'static str, max: u64| -> Result<Option<u64>, ConfigError> {
        text.map(|t| match t.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid(name)),
        })
        .transpose()
    };
    Ok(LockoutPolicy {
        max_failures: bounded(failures, "QUIRE_LOCKOUT_FAILURES", 20)?
            .map_or(LockoutPolicy::SIGN_IN.max_failures, |n| n as u32),
        lock: bounded(seconds, "QUIRE_LOCKOUT_SECONDS", 86_400)?
            .map_or(LockoutPolicy::SIGN_IN.lock, Duration::from_secs),
    })
}

/// The session policy from `QUIRE_SESSION_IDLE_SECONDS` (1 to 43 200, default 28 800: 8 hours)
/// and `QUIRE_SESSION_ABSOLUTE_SECONDS` (1 to 86 400, default 43 200: 12 hours), idle at most
/// absolute (AUTHN-8). Below the organisation bounds of docs/requirements.md only so that tests
/// need not wait; template.yaml sets neither, so AWS runs the defaults.
pub fn sessions_from(idle: Option<&str>, absolute: Option<&str>) -> Result<SessionPolicy, ConfigError> {
    let seconds = |text: Option<&str>, name: &'static str, max: u64| -> Result<Option<Duration>, ConfigError> {
        text.map(|t| match t.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(ConfigError::Invalid(name)),
        })
        .transpose()
    };
    let policy = SessionPolicy {
        idle: seconds(idle, "QUIRE_SESSION_IDLE_SECONDS", 43_200)?.unwrap_or(SessionPolicy::DEFAULT.idle),
        absolute: seconds(absolute, "QUIRE_SESSION_ABSOLUTE_SECONDS", 86_400)?
            .unwrap_or(SessionPolicy::DEFAULT.absolute),
    };
    if policy.idle > policy.absolute {
        return Err(ConfigError::Invalid("QUIRE_SESSION_IDLE_SECONDS"));
    }
    Ok(policy)
}

/// How long a registration may stay unconfirmed before its email may register again
/// (AUTHN-6): Cognito's confirmation codes live 24 hours, the default.
pub const REGISTRATION_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

/// The registration validity from `QUIRE_REGISTRATION_VALIDITY_SECONDS` (1 to 604 800: a week;
/// default 86 400). Below a day only so that tests need not wait; template.yaml does not set it.
pub fn registration_validity_from(seconds: Option<&str>) -> Result<Duration, ConfigError> {
    match seconds {
        None => Ok(REGISTRATION_VALIDITY),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=604_800).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(ConfigError::Invalid("QUIRE_REGISTRATION_VALIDITY_SECONDS")),
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
    /// Session idle and absolute limits (AUTHN-8): `QUIRE_SESSION_IDLE_SECONDS` (default 8
    /// hours) and `QUIRE_SESSION_ABSOLUTE_SECONDS` (default 12 hours).
    pub sessions: SessionPolicy,
    /// How long a registration may stay unconfirmed before a new registration of its email
    /// replaces it (AUTHN-6): `QUIRE_REGISTRATION_VALIDITY_SECONDS` (default 24 hours).
    pub registration_validity: Duration,
    /// `QUIRE_ATTACHMENTS_BUCKET`: the bucket of attachments and exports, for the functions that
    /// reach it (absent for the others).
    pub attachments_bucket: Option<String>,
    /// `QUIRE_S3_PATH_STYLE=true`: S3 addressed by path, as an emulator needs (virtual hosts
    /// on AWS).
    pub s3_path_style: bool,
    /// `QUIRE_KMS_KEY_ARN`: the envelope key of attachments and exports (CRY-1), as a key ARN,
    /// for the functions that read them (absent for the others).
    pub envelope_key_arn: Option<String>,
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
            sign_in_lockout: lockout_from(
                var("QUIRE_LOCKOUT_FAILURES").ok().as_deref(),
                var("QUIRE_LOCKOUT_SECONDS").ok().as_deref(),
            )?,
            sessions: sessions_from(
                var("QUIRE_SESSION_IDLE_SECONDS").ok().as_deref(),
                var("QUIRE_SESSION_ABSOLUTE_SECONDS").ok().as_deref(),
            )?,
            registration_validity: registration_validity_from(
                var("QUIRE_REGISTRATION_VALIDITY_SECONDS").ok().as_deref(),
            )?,
            attachments_bucket: var("QUIRE_ATTACHMENTS_BUCKET").ok().filter(|b| !b.is_empty()),
            s3_path_style: var("QUIRE_S3_PATH_STYLE").is_ok_and(|v| v == "true"),
            envelope_key_arn: match var("QUIRE_KMS_KEY_ARN").ok().filter(|a| !a.is_empty()) {
                Some(arn) if !(arn.starts_with("arn:") && arn.contains(":key/")) => {
                    return Err(ConfigError::Invalid("QUIRE_KMS_KEY_ARN"))
                }
                arn => arn,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: AUTHN-5
    #[test]
    fn the_lockout_is_configurable_within_bounds_only() {
        assert_eq!(lockout_from(None, None).unwrap(), LockoutPolicy::SIGN_IN);
        assert_eq!(
            lockout_from(Some("3"), Some("2")).unwrap(),
            LockoutPolicy {
                max_failures: 3,
                lock: Duration::from_secs(2)
            }
        );
        for (failures, seconds) in [
            (Some("0"), None),
            (Some("21"), None),
            (Some("-1"), None),
            (Some("five"), None),
            (None, Some("0")),
            (None, Some("86401")),
            (None, Some("18446744073709551615")),
        ] {
            assert!(lockout_from(failures, seconds).is_err(), "{failures:?} {seconds:?}");
        }
    }

    /// Proves: AUTHN-6
    #[test]
    fn the_registration_validity_is_configurable_within_bounds_only() {
        assert_eq!(registration_validity_from(None).unwrap(), REGISTRATION_VALIDITY);
        assert_eq!(registration_validity_from(Some("20")).unwrap(), Duration::from_secs(20));
        for bad in ["0", "604801", "-1", "a day", ""] {
            assert!(registration_validity_from(Some(bad)).is_err(), "{bad:?}");
        }
    }

    /// Proves: AUTHN-8
    #[test]
    fn the_session_limits_are_configurable_within_bounds_only() {
        assert_eq!(sessions_from(None, None).unwrap(), SessionPolicy::DEFAULT);
        assert_eq!(
            sessions_from(Some("3"), Some("8")).unwrap(),
            SessionPolicy {
                idle: Duration::from_secs(3),
                absolute: Duration::from_secs(8)
            }
        );
        for (idle, absolute) in [
            (Some("0"), None),
            (Some("43201"), None),
            (None, Some("86401")),
            (Some("9"), Some("8")),
            (Some("eight"), None),
        ] {
            assert!(sessions_from(idle, absolute).is_err(), "{idle:?} {absolute:?}");
        }
    }
}
