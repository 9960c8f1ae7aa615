//! When each member's password was last set (AUTHN-4): Quire's own record, because Cognito does
//! not say. Written with the change that sets a password (joining, a reset, a change) and read
//! with the caller on every request, in the tenant layer's `BatchGetItem`, so the password-expiry
//! layer costs no round trip.

use super::{keys, AuditContext, Store, StoreError};
use crate::sessions::now_millis;
use crate::tenant::Caller;
use quire_core::audit::{Action, Target};
use quire_core::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The stored record: when the password was set, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordRecord {
    pub(crate) org_id: OrgId,
    pub(crate) user_id: UserId,
    pub(crate) changed_at: u64,
}

impl PasswordRecord {
    pub(crate) fn now(org: &OrgId, user: &UserId) -> Self {
        PasswordRecord {
            org_id: org.clone(),
            user_id: user.clone(),
            changed_at: now_millis(),
        }
    }

    pub(crate) fn key(&self) -> keys::Key {
        keys::password(&self.org_id, &self.user_id)
    }

    /// When it was set, as its entries say it (RFC 3339, UTC, whole seconds).
    pub(crate) fn changed_at_rfc3339(&self) -> String {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(self.changed_at)).to_string()
    }

    /// When it was set, if the record is this member's.
    pub(crate) fn changed_at_for(&self, org: &OrgId, user: &UserId) -> Option<SystemTime> {
        (self.org_id == *org && self.user_id == *user).then(|| UNIX_EPOCH + Duration::from_millis(self.changed_at))
    }
}

impl Store {
    /// Records that the caller changed their password, proving the current one
    /// (`password.changed`): the new time the password-expiry layer counts from, with its entry,
    /// after `before` (the unlock the attempt reported), in one transaction.
    pub async fn record_password_change(
        &self,
        caller: &Caller,
        audit: AuditContext,
        before: &[(Action, serde_json::Value)],
    ) -> Result<(), StoreError> {
        let record = PasswordRecord::now(caller.org_id(), &caller.user_id);
        let mut tx = self.transaction(caller.scope(), audit);
        for (action, outcome) in before {
            tx = tx.event(*action, Target::new("user", caller.user_id.as_str()), outcome);
        }
        tx.put_beside(record.key(), &record)
            .event(
                Action::PasswordChanged,
                Target::new("user", caller.user_id.as_str()),
                &serde_json::json!({ "changedAt": record.changed_at_rfc3339() }),
            )
            .commit()
            .await
    }

    /// Records events of the caller's own account that change no record of theirs (a refused
    /// password change, the lock it started), in order, in one transaction.
    pub async fn record_own_account_events(
        &self,
        caller: &Caller,
        audit: AuditContext,
        events: &[(Action, serde_json::Value)],
    ) -> Result<(), StoreError> {
        let mut tx = self.transaction(caller.scope(), audit);
        for (action, outcome) in events {
            tx = tx.event(*action, Target::new("user", caller.user_id.as_str()), outcome);
        }
        tx.commit().await
    }
}
