//! Impersonation (RBAC-5): an administrator acting as a member of their own organisation, to
//! see what the member sees, for at most [`MAX_MINUTES`], with a reason.
//!
//! - **Bound to the administrator's session.** An impersonation is stored beside the
//!   administrator's sessions, under the session it was started in (`keys::impersonation`): at
//!   most one per session, and it ends when the session does (sign-out, revocation, its limits),
//!   as the tenant layer refuses the session first. A request names the member it acts as
//!   (`Quire-Impersonate`, `quire_http::pipeline::impersonation`); the store looks the
//!   impersonation up under the verified token's own user and session, so the name alone grants
//!   nothing.
//! - **Within the administrator's grants.** Never an Owner, never oneself, never a member whose
//!   role holds a permission the administrator's does not ([`judge`]); judged when it starts and
//!   again on every request, with the member's membership and the organisation's matrix as they
//!   are then: a member promoted or deactivated meanwhile, or an administrator who lost
//!   [`Permission::Impersonate`], ends it, recorded with the cause ([`Store::impersonate`]).
//! - **Read-only unless the organisation allows more.** It writes only if the organisation
//!   allowed write impersonation when it started and still does (`impersonationWrites`).
//! - **Nothing in flight.** A change made in it is conditioned on the impersonation still
//!   acting as read and the administrator's membership as judged
//!   (`AuditContext::for_caller`).
//! - **Audited.** `impersonation.started` (with the reason) and `impersonation.ended` (with
//!   the cause); every entry of a change made in it names the member as `actor` and the
//!   administrator as `actor.impersonator`.
//!
//! Times are milliseconds since the Unix epoch, from the function's clock.

use super::{keys, AuditContext, Store, StoreError};
use crate::directory::Membership;
use crate::sessions::at_millis as time;
use crate::tenant::Caller;
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::audit::{Action, Target};
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::{Matrix, Permission, Role};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The longest an impersonation may last, in minutes.
pub const MAX_MINUTES: u32 = 60;

/// An impersonation as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Impersonation {
    org_id: OrgId,
    /// The administrator, and the session it was started in.
    impersonator: UserId,
    session_id: String,
    /// 16 hex digits, random: names this impersonation in the trail.
    impersonation_id: String,
    /// The member acted as.
    user_id: UserId,
    reason: String,
    started_at: u64,
    until: u64,
    writes: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended_at: Option<u64>,
    /// Why it ended: `ended` (`DELETE /impersonation`), `ran-out`, or what the request that found
    /// it no longer allowed saw ([`ImpersonationRefused::cause`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_cause: Option<String>,
    version: u64,
    /// DynamoDB TTL (seconds): a day after its end. Quire never relies on the deletion.
    expires_at: u64,
}

impl Impersonation {
    pub fn id(&self) -> &str {
        &self.impersonation_id
    }

    /// The member acted as.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The administrator acting.
    pub fn impersonator(&self) -> &UserId {
        &self.impersonator
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn started_at(&self) -> SystemTime {
        time(self.started_at)
    }

    /// When it ends unless ended before.
    pub fn until(&self) -> SystemTime {
        time(self.until)
    }

    /// Whether it was started allowed to write (the organisation's setting then).
    pub fn writes(&self) -> bool {
        self.writes
    }

    /// When it was recorded as ended, if it was.
    pub fn ended_at(&self) -> Option<SystemTime> {
        self.ended_at.map(time)
    }

    /// Why it ended, if it was recorded as ended.
    pub fn end_cause(&self) -> Option<&str> {
        self.end_cause.as_deref()
    }

    /// Whether it still acts at `now` (milliseconds): not ended, not past its end.
    fn is_live(&self, now: u64) -> bool {
        self.ended_at.is_none() && now < self.until
    }

    /// Whether it is the one stored for `caller`'s organisation, user and session (a record
    /// under another's key is not trusted).
    fn belongs_to(&self, org: &OrgId, impersonator: &UserId, session: &str) -> bool {
        self.org_id == *org && self.impersonator == *impersonator && self.session_id == session
    }

    /// What the trail records: everything but the storage's own attributes.
    fn recorded(&self) -> serde_json::Value {
        serde_json::json!({
            "impersonationId": self.impersonation_id,
            "userId": self.user_id,
            "impersonator": self.impersonator,
            "session": self.session_id,
            "startedAt": self.started_at,
            "until": self.until,
            "writes": self.writes,
            "endedAt": self.ended_at,
            "cause": self.end_cause,
        })
    }
}

/// Why an impersonation may not start, or no longer acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpersonationRefused {
    /// The organisation has no such member.
    NotFound,
    /// One does not impersonate oneself.
    Oneself,
    /// The member is deactivated.
    Inactive,
    /// An Owner is never impersonated.
    Owner,
    /// The member's role holds a permission the administrator's does not.
    BeyondOwnGrants,
    /// The session has an impersonation that has not ended: end it first.
    AlreadyActive,
    /// The length is not 1 to [`MAX_MINUTES`] minutes.
    OutOfBounds,
    /// The administrator's own role or status, or the member's, changed meanwhile.
    Changed,
    /// The session has no impersonation of that member that still acts: it ended, ran out, or
    /// was never started in this session.
    NotActive,
    /// The administrator's role no longer holds [`Permission::Impersonate`].
    NotPermitted,
}

impl ImpersonationRefused {
    /// How the impersonation's end records a refusal that ends it.
    pub fn cause(self) -> &'static str {
        use ImpersonationRefused::*;
        match self {
            NotFound => "member-gone",
            Oneself => "oneself",
            Inactive => "member-deactivated",
            Owner => "member-is-owner",
            BeyondOwnGrants => "member-holds-more",
            NotPermitted => "not-permitted",
            AlreadyActive | OutOfBounds | Changed | NotActive => "refused",
        }
    }
}

/// Whether `by` (of role `by_role`) may act as `member` in `matrix` (RBAC-5): never oneself,
/// never a deactivated member, never an Owner, never a member whose role holds a permission
/// `by_role` does not. The permission to impersonate is the route's (and the layer's) check.
pub fn judge(matrix: &Matrix, by: &UserId, by_role: Role, member: &Membership) -> Result<(), ImpersonationRefused> {
    if member.user_id == *by {
        return Err(ImpersonationRefused::Oneself);
    }
    if !member.is_active() {
        return Err(ImpersonationRefused::Inactive);
    }
    if member.role == Role::Owner {
        return Err(ImpersonationRefused::Owner);
    }
    if matrix
        .permissions(member.role)
        .iter()
        .any(|p| !matrix.grants(by_role, *p))
    {
        return Err(ImpersonationRefused::BeyondOwnGrants);
    }
    Ok(())
}

fn impersonation_key(caller: &Caller) -> keys::Key {
    keys::impersonation(caller.org_id(), caller.principal(), caller.session().id.as_str())
}

impl Store {
    /// Starts `caller` acting as `member` for `minutes` (1 to [`MAX_MINUTES`]), recorded as
    /// `impersonation.started` with `reason`, written only if the caller's session has no live
    /// impersonation and both memberships are as judged. Nothing is written when refused.
    pub async fn start_impersonation(
        &self,
        caller: &Caller,
        audit: AuditContext,
        member: &UserId,
        minutes: u32,
        reason: &str,
    ) -> Result<Result<Impersonation, ImpersonationRefused>, StoreError> {
        if caller.acting().is_some() {
            return Ok(Err(ImpersonationRefused::AlreadyActive));
        }
        if !(1..=MAX_MINUTES).contains(&minutes) {
            return Ok(Err(ImpersonationRefused::OutOfBounds));
        }
        let org = caller.org_id().clone();
        let key = impersonation_key(caller);
        let member_key = keys::member(&org, member);
        let mut found = self.batch_read(&[key.clone(), member_key.clone()]).await?;
        let Some(target) = found
            .remove(&member_key)
            .map(super::from_item::<Membership>)
            .transpose()?
            .filter(|m| m.org_id == org && m.user_id == *member)
        else {
            return Ok(Err(ImpersonationRefused::NotFound));
        };
        if let Err(refused) = judge(&caller.matrix, &caller.user_id, caller.role, &target) {
            return Ok(Err(refused));
        }
        let now = crate::sessions::now_millis();
        let stored = found.remove(&key).map(super::from_item::<Impersonation>).transpose()?;
        if stored.as_ref().is_some_and(|s| s.is_live(now)) {
            return Ok(Err(ImpersonationRefused::AlreadyActive));
        }
        let until = now.saturating_add(u64::from(minutes) * 60_000);
        let impersonation = Impersonation {
            org_id: org.clone(),
            impersonator: caller.user_id.clone(),
            session_id: caller.session().id.as_str().to_owned(),
            impersonation_id: super::random_id()?,
            user_id: member.clone(),
            reason: reason.to_owned(),
            started_at: now,
            until,
            writes: caller.impersonation_writes,
            ended_at: None,
            end_cause: None,
            version: stored.as_ref().map_or(1, |s| s.version + 1),
            expires_at: until / 1000 + 86_400,
        };
        // The slot is free, or holds what was read (ended or run out): a start racing another
        // in the same session writes once.
        let (condition, values, names) = super::slot_as_read(stored.as_ref().map(|s| s.version));
        let committed = self
            .transaction(caller.scope(), audit)
            .put_beside_if(key, &impersonation, condition, values)
            .with_names(names)
            .event(
                Action::ImpersonationStarted,
                Target::new("user", member.as_str()),
                &impersonation.recorded(),
            )
            .because(reason)
            .check(
                member_key,
                "#role = :role AND #status = :active",
                vec![
                    (":role", super::name_value(target.role)?),
                    (":active", super::name_value(crate::MemberStatus::Active)?),
                ],
            )
            .with_names(vec![("#role", "role"), ("#status", "status")])
            .caller_unchanged(caller)?
            .commit()
            .await;
        match committed {
            Ok(()) => Ok(Ok(impersonation)),
            Err(StoreError::Conflict) => Ok(Err(ImpersonationRefused::Changed)),
            Err(other) => Err(other),
        }
    }

    /// The impersonation of `caller`'s session that still acts, if any.
    pub async fn live_impersonation(&self, caller: &Caller) -> Result<Option<Impersonation>, StoreError> {
        Ok(self
            .stored_impersonation(caller)
            .await?
            .filter(|s| s.is_live(crate::sessions::now_millis())))
    }

    async fn stored_impersonation(&self, caller: &Caller) -> Result<Option<Impersonation>, StoreError> {
        Ok(self
            .read(&self.data_table, &impersonation_key(caller))
            .await?
            .map(super::from_item::<Impersonation>)
            .transpose()?
            .filter(|s| s.belongs_to(caller.org_id(), caller.principal(), caller.session().id.as_str())))
    }

    /// Ends the impersonation of `caller`'s session, recorded as `impersonation.ended` (cause
    /// `ended`): the impersonation as ended, or `None` when none was acting (nothing is
    /// written).
    pub async fn end_impersonation(
        &self,
        caller: &Caller,
        audit: AuditContext,
    ) -> Result<Option<Impersonation>, StoreError> {
        let Some(current) = self.live_impersonation(caller).await? else {
            return Ok(None);
        };
        match self.record_end(caller, audit, &current, "ended").await? {
            Some(ended) => Ok(Some(ended)),
            // Ended by a request racing this one: it is ended either way.
            None => self.stored_impersonation(caller).await,
        }
    }

    /// Writes `current`'s end with `cause`, recorded as `impersonation.ended` (before and after),
    /// if it is still as read: the impersonation as ended, or `None` when another request
    /// changed it first.
    async fn record_end(
        &self,
        caller: &Caller,
        audit: AuditContext,
        current: &Impersonation,
        cause: &str,
    ) -> Result<Option<Impersonation>, StoreError> {
        let mut ended = current.clone();
        ended.ended_at = Some(crate::sessions::now_millis().max(current.started_at));
        ended.end_cause = Some(cause.to_owned());
        ended.version = current.version + 1;
        let committed = self
            .transaction(caller.scope(), audit)
            .put_beside_if(
                impersonation_key(caller),
                &ended,
                "#version = :expected",
                vec![(":expected", AttributeValue::N(current.version.to_string()))],
            )
            .with_names(vec![("#version", "version")])
            .images(
                Action::ImpersonationEnded,
                Target::new("user", current.user_id.as_str()),
                &current.recorded(),
                &ended.recorded(),
            )
            .commit()
            .await;
        match committed {
            Ok(()) => Ok(Some(ended)),
            Err(StoreError::Conflict) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `caller` acting as `member` for this request (RBAC-5), if their session has an
    /// impersonation of that member that has not ended, has not run out, and that the caller
    /// may still make ([`Permission::Impersonate`], and [`judge`] with the membership and
    /// matrix as they are now). One consistent `BatchGetItem` of the impersonation and the
    /// membership. An impersonation found run out or no longer allowed is ended there and then,
    /// recorded as `impersonation.ended` with its cause (from `origin`, by the administrator),
    /// so it cannot come back when the member or the role changes again.
    pub async fn impersonate(
        &self,
        caller: &Caller,
        member: &UserId,
        origin: quire_core::audit::Origin,
    ) -> Result<Result<Caller, ImpersonationRefused>, StoreError> {
        if caller.acting().is_some() {
            return Ok(Err(ImpersonationRefused::AlreadyActive));
        }
        let org = caller.org_id().clone();
        let key = impersonation_key(caller);
        let member_key = keys::member(&org, member);
        let mut found = self.batch_read(&[key.clone(), member_key.clone()]).await?;
        let unended = found
            .remove(&key)
            .map(super::from_item::<Impersonation>)
            .transpose()?
            .filter(|s| {
                s.belongs_to(&org, &caller.user_id, caller.session().id.as_str())
                    && s.ended_at.is_none()
                    && s.user_id == *member
            });
        let Some(impersonation) = unended else {
            return Ok(Err(ImpersonationRefused::NotActive));
        };
        let end = |cause: &'static str| {
            let audit = AuditContext::new(caller.actor(), origin.clone());
            let impersonation = impersonation.clone();
            async move { self.record_end(caller, audit, &impersonation, cause).await }
        };
        if !impersonation.is_live(crate::sessions::now_millis()) {
            end("ran-out").await?;
            return Ok(Err(ImpersonationRefused::NotActive));
        }
        let target = found
            .remove(&member_key)
            .map(super::from_item::<Membership>)
            .transpose()?
            .filter(|m| m.org_id == org && m.user_id == *member);
        let judged = if !caller.grants(Permission::Impersonate) {
            Err(ImpersonationRefused::NotPermitted)
        } else {
            match &target {
                None => Err(ImpersonationRefused::NotFound),
                Some(target) => judge(&caller.matrix, &caller.user_id, caller.role, target),
            }
        };
        match (judged, target) {
            (Ok(()), Some(target)) => {
                let writes = impersonation.writes && caller.impersonation_writes;
                Ok(Ok(caller.acting_as(&target, writes, impersonation.version)))
            }
            (Err(refused), _) => {
                end(refused.cause()).await?;
                Ok(Err(refused))
            }
            (Ok(()), None) => Err(StoreError::Corrupt("a member judged without a membership".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemberStatus;

    fn member(id: &str, role: Role, status: MemberStatus) -> Membership {
        Membership {
            org_id: OrgId::parse("acme").unwrap(),
            user_id: UserId::parse(id).unwrap(),
            email: format!("{id}@acme.test"),
            display_name: id.to_owned(),
            role,
            status,
        }
    }

    /// Who may be impersonated, by whom, in the default matrix and in an adjusted one.
    ///
    /// Proves: RBAC-5
    #[test]
    fn never_oneself_an_owner_a_deactivated_member_or_more_rights() {
        let admin = UserId::parse("admin").unwrap();
        let default = Matrix::default();
        let judged = |matrix: &Matrix, role, status| judge(matrix, &admin, Role::Admin, &member("m", role, status));
        assert_eq!(judged(&default, Role::User, MemberStatus::Active), Ok(()));
        assert_eq!(judged(&default, Role::Viewer, MemberStatus::Active), Ok(()));
        // Another Admin holds what this one holds: no more.
        assert_eq!(judged(&default, Role::Admin, MemberStatus::Active), Ok(()));
        assert_eq!(
            judged(&default, Role::Owner, MemberStatus::Active),
            Err(ImpersonationRefused::Owner)
        );
        assert_eq!(
            judged(&default, Role::User, MemberStatus::Suspended),
            Err(ImpersonationRefused::Inactive)
        );
        assert_eq!(
            judge(
                &default,
                &admin,
                Role::Admin,
                &member("admin", Role::User, MemberStatus::Active)
            ),
            Err(ImpersonationRefused::Oneself)
        );
        // A matrix where Admins lost a grant Users keep: Users now hold more than Admins.
        let adjusted = Matrix::with([
            (Role::Admin, vec![Permission::DocumentRead, Permission::Impersonate]),
            (Role::User, vec![Permission::DocumentRead, Permission::DocumentCreate]),
        ]);
        assert_eq!(
            judged(&adjusted, Role::User, MemberStatus::Active),
            Err(ImpersonationRefused::BeyondOwnGrants)
        );
        assert_eq!(judged(&adjusted, Role::Viewer, MemberStatus::Active), Ok(()));
    }

    #[test]
    fn an_impersonation_acts_until_its_end_unless_ended() {
        let mut stored = Impersonation {
            org_id: OrgId::parse("acme").unwrap(),
            impersonator: UserId::parse("admin").unwrap(),
            session_id: "s1".into(),
            impersonation_id: "00".repeat(8),
            user_id: UserId::parse("m").unwrap(),
            reason: "support".into(),
            started_at: 1_000,
            until: 61_000,
            writes: false,
            ended_at: None,
            end_cause: None,
            version: 1,
            expires_at: 0,
        };
        assert!(stored.is_live(1_000) && stored.is_live(60_999));
        assert!(!stored.is_live(61_000));
        stored.ended_at = Some(2_000);
        assert!(!stored.is_live(2_001));
        let org = OrgId::parse("acme").unwrap();
        assert!(stored.belongs_to(&org, &UserId::parse("admin").unwrap(), "s1"));
        assert!(!stored.belongs_to(&org, &UserId::parse("admin").unwrap(), "s2"));
        assert!(!stored.belongs_to(&org, &UserId::parse("other").unwrap(), "s1"));
    }
}
