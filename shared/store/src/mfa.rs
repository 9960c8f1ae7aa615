//! Which members enrolled a second factor (AUTHN-7): Quire's own record, beside the member's
//! sessions, written with the `mfa.enrolled` entry and read with the caller in the tenant
//! layer's `BatchGetItem`, and with the membership when a sign-in finds its account
//! (`Store::account`): no extra round trip either way. Cognito holds the authenticator; this record is
//! what Quire relies on when Cognito's state could have been changed round Quire (a member's
//! access token can call Cognito's `SetUserMFAPreference` directly): a sign-in Cognito answers
//! with tokens and no challenge, for a member with this record, is refused
//! (`quire_http::identity::check_password`), and an authenticator cannot be replaced from a
//! session that has not passed the current one.

use super::{keys, AuditContext, Store, StoreError};
use crate::sessions::now_millis;
use crate::tenant::TenantScope;
use quire_core::audit::{Action, Target};
use quire_core::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The stored record: when the member's current authenticator was enrolled, and when they
/// turned it off if they did (then they have none), in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MfaRecord {
    pub(crate) org_id: OrgId,
    pub(crate) user_id: UserId,
    pub(crate) enrolled_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) disabled_at: Option<u64>,
}

impl MfaRecord {
    pub(crate) fn now(org: &OrgId, user: &UserId) -> Self {
        MfaRecord {
            org_id: org.clone(),
            user_id: user.clone(),
            enrolled_at: now_millis(),
            disabled_at: None,
        }
    }

    pub(crate) fn key(&self) -> keys::Key {
        keys::mfa(&self.org_id, &self.user_id)
    }

    /// When it was enrolled, if the record is this member's and the authenticator is on.
    pub(crate) fn enrolled_at_for(&self, org: &OrgId, user: &UserId) -> Option<SystemTime> {
        (self.org_id == *org && self.user_id == *user && self.disabled_at.is_none())
            .then(|| UNIX_EPOCH + Duration::from_millis(self.enrolled_at))
    }

    /// What the `mfa.enrolled` entry records, with the session it opened (if any).
    pub(crate) fn outcome(&self, session: Option<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({
            "method": "totp",
            "enrolledAt": humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(self.enrolled_at))
                .to_string(),
            "session": session,
        })
    }
}

impl Store {
    /// Records that `user` of the scope's organisation enrolled an authenticator, with no
    /// session to open (`mfa.enrolled`): the enrolment record and its entry in one transaction.
    /// For provisioning (the local demo users) and for an enrolment whose session ended while
    /// Cognito enrolled it (`Store::record_mfa_enrolled`).
    pub async fn record_mfa_enrolment(
        &self,
        scope: &TenantScope,
        user: &UserId,
        audit: AuditContext,
    ) -> Result<(), StoreError> {
        let record = MfaRecord::now(scope.org_id(), user);
        self.transaction(scope, audit)
            .put_beside(record.key(), &record)
            .event(
                Action::MfaEnrolled,
                Target::new("user", user.as_str()),
                &record.outcome(None),
            )
            .commit()
            .await
    }

    /// Whether the caller's enrolment of `enrolled_at` is recorded as turned off (one read of
    /// the enrolment record).
    pub async fn authenticator_disabled(
        &self,
        caller: &crate::tenant::Caller,
        enrolled_at: SystemTime,
    ) -> Result<bool, StoreError> {
        let key = keys::mfa(caller.org_id(), &caller.user_id);
        let Some(item) = self.read(&self.data_table, &key).await? else {
            return Ok(false);
        };
        let record: MfaRecord = super::from_item(item)?;
        Ok(record.org_id == *caller.org_id()
            && record.user_id == caller.user_id
            && record.enrolled_at == crate::sessions::millis_since_epoch(enrolled_at)
            && record.disabled_at.is_some())
    }

    /// Records that the caller turned their authenticator off (`mfa.disabled`), after the
    /// fresh re-authentication `reauthenticated` names (`password`, `totp`:
    /// `quire_http::identity::disable_authenticator`): the enrolment record marked off, and its
    /// entry with the session it was done from, in one transaction, only if the record is the
    /// one `enrolled_at` names and still on ([`StoreError::Conflict`] otherwise: a new
    /// enrolment or another removal came first).
    pub async fn record_mfa_disabled(
        &self,
        caller: &crate::tenant::Caller,
        enrolled_at: SystemTime,
        reauthenticated: &[&str],
        audit: AuditContext,
    ) -> Result<(), StoreError> {
        let enrolled = crate::sessions::millis_since_epoch(enrolled_at);
        let record = MfaRecord {
            org_id: caller.org_id().clone(),
            user_id: caller.user_id.clone(),
            enrolled_at: enrolled,
            disabled_at: Some(now_millis()),
        };
        let at = |millis: u64| humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis)).to_string();
        self.transaction(caller.scope(), audit)
            .put_beside_if(
                record.key(),
                &record,
                "enrolledAt = :enrolled AND attribute_not_exists(disabledAt)",
                vec![(
                    ":enrolled",
                    aws_sdk_dynamodb::types::AttributeValue::N(enrolled.to_string()),
                )],
            )
            .event(
                Action::MfaDisabled,
                Target::new("user", caller.user_id.as_str()),
                &serde_json::json!({
                    "method": "totp",
                    "enrolledAt": at(enrolled),
                    "disabledAt": at(record.disabled_at.unwrap_or_default()),
                    "session": caller.session().id.as_str(),
                    "reauthenticated": reauthenticated,
                }),
            )
            .commit()
            .await
    }
}
