//! Break-glass access (RBAC-6): a platform operator opening one customer organisation's
//! records to read, for support, for at most [`MAX_MINUTES`], with a reason.
//!
//! - **Opened by an operator, into one organisation.** Only the operators' routes open one
//!   (`POST /operator/organisations/{orgId}/break-glass`: the operators' organisation and
//!   Cognito group, and the admin MFA gate, which holds every operator). It is stored in the
//!   organisation's own partition (`keys::break_glass`), under the operator and the session it
//!   was opened in, so it ends with that session (the tenant layer refuses the session first).
//! - **Read-only, as the organisation's Admin reads.** A request carrying `Quire-Break-Glass:
//!   <orgId>` is served as the operator in that organisation with the read permissions of its
//!   Admin role (`Caller::grants`); a writing route is refused (`quire_http::pipeline::break_glass`).
//! - **Every request recorded twice.** Opening it, closing it and every request served in it are
//!   recorded in the organisation's trail and in the platform's, in one transaction
//!   (`Transaction::also_in_platform_trail`); a request is recorded before it is served, and is
//!   not served if it cannot be recorded.
//!
//! Times are milliseconds since the Unix epoch, from the function's clock.

use super::{keys, AuditContext, Store, StoreError};
use crate::directory::Organisation;
use crate::sessions::at_millis as time;
use crate::tenant::{Caller, TenantScope};
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::audit::{Action, Origin, Target};
use quire_core::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The longest a break-glass session may last, in minutes.
pub const MAX_MINUTES: u32 = 60;

/// How recently the operator's session must have passed its second factor to open one: an
/// operator signs in again with their code for break-glass, so a token taken from a session
/// signed in hours ago opens nothing (as `aws:MultiFactorAuthAge` bounds an AWS console
/// session's MFA).
pub const SECOND_FACTOR_WITHIN: Duration = Duration::from_secs(15 * 60);

/// A break-glass session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlass {
    /// The organisation opened.
    org_id: OrgId,
    /// The operator, and the session it was opened in.
    operator: UserId,
    session_id: String,
    /// 16 hex digits, random: names it in the trails.
    break_glass_id: String,
    reason: String,
    started_at: u64,
    until: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closed_at: Option<u64>,
    version: u64,
    /// DynamoDB TTL (seconds): a day after its end. Quire never relies on the deletion.
    expires_at: u64,
}

impl BreakGlass {
    pub fn id(&self) -> &str {
        &self.break_glass_id
    }

    pub fn org_id(&self) -> &OrgId {
        &self.org_id
    }

    pub fn operator(&self) -> &UserId {
        &self.operator
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn started_at(&self) -> SystemTime {
        time(self.started_at)
    }

    /// When it ends unless closed before.
    pub fn until(&self) -> SystemTime {
        time(self.until)
    }

    /// When the operator closed it, if they did.
    pub fn closed_at(&self) -> Option<SystemTime> {
        self.closed_at.map(time)
    }

    /// Whether it still opens the organisation at `now` (milliseconds).
    fn is_live(&self, now: u64) -> bool {
        self.closed_at.is_none() && now < self.until
    }

    /// Whether it is the one stored for `org`, `operator` and `session` (a record under another's
    /// key is not trusted).
    fn belongs_to(&self, org: &OrgId, operator: &UserId, session: &str) -> bool {
        self.org_id == *org && self.operator == *operator && self.session_id == session
    }

    /// What the trails record: everything but the storage's own attributes.
    fn recorded(&self) -> serde_json::Value {
        serde_json::json!({
            "breakGlassId": self.break_glass_id,
            "organisation": self.org_id,
            "operator": self.operator,
            "session": self.session_id,
            "startedAt": self.started_at,
            "until": self.until,
            "closedAt": self.closed_at,
        })
    }
}

/// Why a break-glass session may not open, or no longer opens the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakGlassRefused {
    /// No such customer organisation.
    NotFound,
    /// The organisation serves no records now: pending, locked or closed.
    NotServing,
    /// The session has a break-glass session into it that has not ended.
    AlreadyOpen,
    /// The length is not 1 to [`MAX_MINUTES`] minutes.
    OutOfBounds,
    /// Another request opened or closed one first.
    Changed,
    /// The operator's session passed its second factor longer ago than
    /// [`SECOND_FACTOR_WITHIN`], or never.
    SecondFactorTooOld,
    /// The session has no break-glass session into that organisation that still opens it.
    NotOpen,
}

fn key(operator: &Caller, org: &OrgId) -> keys::Key {
    keys::break_glass(org, &operator.user_id, operator.session().id.as_str())
}

/// The organisation's record out of a batch read, if it is `org`'s and serves records now
/// (`NotFound`, `NotServing` otherwise).
fn serving(
    found: &mut std::collections::HashMap<keys::Key, super::Item>,
    profile: &keys::Key,
    org: &OrgId,
) -> Result<Result<Organisation, BreakGlassRefused>, StoreError> {
    let Some(record) = found
        .remove(profile)
        .map(super::from_item::<Organisation>)
        .transpose()?
        .filter(|record| record.org_id == *org)
    else {
        return Ok(Err(BreakGlassRefused::NotFound));
    };
    if !record.lifecycle(SystemTime::now()).serves_reads() {
        return Ok(Err(BreakGlassRefused::NotServing));
    }
    Ok(Ok(record))
}

/// Only a platform operator opens another organisation.
fn operator_only(operator: &Caller) -> Result<(), StoreError> {
    if operator.is_operator() {
        Ok(())
    } else {
        Err(StoreError::Corrupt(
            "only a platform operator opens a break-glass session".into(),
        ))
    }
}

impl Store {
    /// Opens `org` to `operator` for `minutes` (1 to [`MAX_MINUTES`]), recorded as
    /// `operator.break-glass.opened` with `reason` in the organisation's trail and the
    /// platform's. The platform's trail and the operators' own organisation are no customer's
    /// (`NotFound`); a pending, locked or closed organisation serves no records (`NotServing`).
    ///
    /// Errors: [`StoreError::Corrupt`] when `operator` is not a platform operator.
    pub async fn open_break_glass(
        &self,
        operator: &Caller,
        audit: AuditContext,
        org: &OrgId,
        minutes: u32,
        reason: &str,
    ) -> Result<Result<BreakGlass, BreakGlassRefused>, StoreError> {
        operator_only(operator)?;
        if org.is_platform() || org.is_operators() {
            return Ok(Err(BreakGlassRefused::NotFound));
        }
        if !(1..=MAX_MINUTES).contains(&minutes) {
            return Ok(Err(BreakGlassRefused::OutOfBounds));
        }
        let fresh = operator
            .session()
            .second_factor_at
            .is_some_and(|at| at + SECOND_FACTOR_WITHIN > SystemTime::now());
        if !fresh {
            return Ok(Err(BreakGlassRefused::SecondFactorTooOld));
        }
        let key = key(operator, org);
        let profile = keys::organisation(org);
        let mut found = self.batch_read(&[key.clone(), profile.clone()]).await?;
        if let Err(refused) = serving(&mut found, &profile, org)? {
            return Ok(Err(refused));
        }
        let now = crate::sessions::now_millis();
        let stored = found.remove(&key).map(super::from_item::<BreakGlass>).transpose()?;
        if stored.as_ref().is_some_and(|s| s.is_live(now)) {
            return Ok(Err(BreakGlassRefused::AlreadyOpen));
        }
        let until = now.saturating_add(u64::from(minutes) * 60_000);
        let opened = BreakGlass {
            org_id: org.clone(),
            operator: operator.user_id.clone(),
            session_id: operator.session().id.as_str().to_owned(),
            break_glass_id: super::random_id()?,
            reason: reason.to_owned(),
            started_at: now,
            until,
            closed_at: None,
            version: stored.as_ref().map_or(1, |s| s.version + 1),
            expires_at: until / 1000 + 86_400,
        };
        let (condition, values, names) = super::slot_as_read(stored.as_ref().map(|s| s.version));
        let committed = self
            .transaction(&TenantScope::new(org.clone()), audit)
            .also_in_platform_trail()
            .put_beside_if(key, &opened, condition, values)
            .with_names(names)
            .event(
                Action::OperatorBreakGlassOpened,
                Target::new("organisation", org.as_str()),
                &opened.recorded(),
            )
            .because(reason)
            .commit()
            .await;
        match committed {
            Ok(()) => Ok(Ok(opened)),
            Err(StoreError::Conflict) => Ok(Err(BreakGlassRefused::Changed)),
            Err(other) => Err(other),
        }
    }

    /// The break-glass session of `operator`'s session into `org` that still opens it, if any.
    ///
    /// Errors: [`StoreError::Corrupt`] when `operator` is not a platform operator.
    pub async fn open_break_glass_of(&self, operator: &Caller, org: &OrgId) -> Result<Option<BreakGlass>, StoreError> {
        operator_only(operator)?;
        if org.is_platform() || org.is_operators() {
            return Ok(None);
        }
        Ok(self
            .stored_break_glass(operator, org)
            .await?
            .filter(|s| s.is_live(crate::sessions::now_millis())))
    }

    async fn stored_break_glass(&self, operator: &Caller, org: &OrgId) -> Result<Option<BreakGlass>, StoreError> {
        Ok(self
            .read(&self.data_table, &key(operator, org))
            .await?
            .map(super::from_item::<BreakGlass>)
            .transpose()?
            .filter(|s| s.belongs_to(org, &operator.user_id, operator.session().id.as_str())))
    }

    /// Closes the break-glass session of `operator`'s session into `org`, recorded as
    /// `operator.break-glass.closed` in the organisation's trail and the platform's: the session
    /// as closed, or `None` when none was open (nothing is written).
    ///
    /// Errors: [`StoreError::Corrupt`] when `operator` is not a platform operator.
    pub async fn close_break_glass(
        &self,
        operator: &Caller,
        audit: AuditContext,
        org: &OrgId,
    ) -> Result<Option<BreakGlass>, StoreError> {
        let Some(current) = self.open_break_glass_of(operator, org).await? else {
            return Ok(None);
        };
        let mut closed = current.clone();
        closed.closed_at = Some(crate::sessions::now_millis().max(current.started_at));
        closed.version = current.version + 1;
        let committed = self
            .transaction(&TenantScope::new(org.clone()), audit)
            .also_in_platform_trail()
            .put_beside_if(
                key(operator, org),
                &closed,
                "#version = :expected",
                vec![(":expected", AttributeValue::N(current.version.to_string()))],
            )
            .with_names(vec![("#version", "version")])
            .images(
                Action::OperatorBreakGlassClosed,
                Target::new("organisation", org.as_str()),
                &current.recorded(),
                &closed.recorded(),
            )
            .commit()
            .await;
        match committed {
            Ok(()) => Ok(Some(closed)),
            // Closed by a request racing this one: it is closed either way (unless one was
            // opened again since: then none was closed by this request).
            Err(StoreError::Conflict) => Ok(self
                .stored_break_glass(operator, org)
                .await?
                .filter(|s| s.closed_at.is_some())),
            Err(other) => Err(other),
        }
    }

    /// `operator` in `org` for this request (RBAC-6), if their session has a break-glass session
    /// into it that still opens it and the organisation serves records: the caller to serve the
    /// request as, after `request` (the route, e.g. `GET /documents/{id}`) and `target` (the
    /// path with its query) were recorded as `operator.break-glass.request` in the
    /// organisation's trail and the platform's, from `origin`. One consistent `BatchGetItem`,
    /// then that transaction. The record is not conditioned on the session: a request racing
    /// its closing, or the organisation's closing, may be served once more, and is recorded.
    ///
    /// Errors: [`StoreError::Corrupt`] when `operator` is not a platform operator.
    pub async fn break_glass(
        &self,
        operator: &Caller,
        org: &OrgId,
        origin: Origin,
        request: &str,
        target: &str,
    ) -> Result<Result<Caller, BreakGlassRefused>, StoreError> {
        operator_only(operator)?;
        if org.is_platform() || org.is_operators() {
            return Ok(Err(BreakGlassRefused::NotOpen));
        }
        let key = key(operator, org);
        let profile = keys::organisation(org);
        let mut found = self.batch_read(&[key.clone(), profile.clone()]).await?;
        let open = found
            .remove(&key)
            .map(super::from_item::<BreakGlass>)
            .transpose()?
            .filter(|s| {
                s.belongs_to(org, &operator.user_id, operator.session().id.as_str())
                    && s.is_live(crate::sessions::now_millis())
            });
        let Some(open) = open else {
            return Ok(Err(BreakGlassRefused::NotOpen));
        };
        let record = match serving(&mut found, &profile, org)? {
            Ok(record) => record,
            Err(refused) => return Ok(Err(refused)),
        };
        let inside = operator.in_break_glass(&record);
        self.transaction(inside.scope(), AuditContext::new(inside.actor(), origin))
            .also_in_platform_trail()
            .event(
                Action::OperatorBreakGlassRequest,
                Target::new("route", request),
                &serde_json::json!({
                    "breakGlassId": open.break_glass_id,
                    "organisation": org,
                    "path": target,
                }),
            )
            .commit()
            .await?;
        Ok(Ok(inside))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_glass_session_opens_until_its_end_unless_closed() {
        let mut stored = BreakGlass {
            org_id: OrgId::parse("acme").unwrap(),
            operator: UserId::parse("op").unwrap(),
            session_id: "s1".into(),
            break_glass_id: "00".repeat(8),
            reason: "support".into(),
            started_at: 1_000,
            until: 61_000,
            closed_at: None,
            version: 1,
            expires_at: 0,
        };
        assert!(stored.is_live(1_000) && stored.is_live(60_999));
        assert!(!stored.is_live(61_000));
        stored.closed_at = Some(2_000);
        assert!(!stored.is_live(2_001));
        let (org, op) = (OrgId::parse("acme").unwrap(), UserId::parse("op").unwrap());
        assert!(stored.belongs_to(&org, &op, "s1"));
        assert!(!stored.belongs_to(&org, &op, "s2"));
        assert!(!stored.belongs_to(&OrgId::parse("globex").unwrap(), &op, "s1"));
    }
}
