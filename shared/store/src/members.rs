//! An organisation's members as its administrators manage them (`functions/members`; RBAC-1,
//! RBAC-4, TEN-6): listing and reading memberships, changing a member's role, deactivating and
//! reactivating a member.
//!
//! A change is judged ([`MemberChange`] against the membership as read and the caller's role,
//! `quire_core::rbac::Matrix::may_assign` in the organisation's matrix) and written in one transaction:
//! - the membership, conditioned on the role and status it was judged with;
//! - its event (`member.role.changed`, `member.deactivated`, `member.reactivated`) with the
//!   membership before and after and the reason;
//! - the member's revocation mark with `sessions.revoked`: every session of theirs ends at its
//!   next request (TEN-6), a session started while they were deactivated included;
//! - a condition that the caller's own membership is still the one their request was admitted
//!   with (role, active): a caller demoted or deactivated meanwhile changes no one;
//! - when the change takes an Owner away (an active Owner demoted or deactivated), a condition
//!   that another Owner is still active (the caller, when an Owner changes another member). Of
//!   two Owners demoting each other at once, one change is made: the last active Owner cannot
//!   be taken away, under races too.
//!
//! A change that loses a race is judged again against what is stored now.

use super::{keys, AuditContext, Page, PageRequest, Store, StoreError};
use crate::directory::{MemberStatus, Membership};
use crate::tenant::{Caller, TenantScope};
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::audit::{Action, Target};
use quire_core::ids::UserId;
use quire_core::rbac::{AssignRefused, Matrix, Role};

/// What an administrator does to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Role(Role),
    Deactivate,
    Reactivate,
}

impl MemberChange {
    fn action(self) -> Action {
        match self {
            MemberChange::Role(_) => Action::MemberRoleChanged,
            MemberChange::Deactivate => Action::MemberDeactivated,
            MemberChange::Reactivate => Action::MemberReactivated,
        }
    }
}

/// Why a change of a member is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRefused {
    /// The organisation has no such member (or they were removed).
    NotFound,
    /// RBAC-1: only an Owner changes Owners; nobody gives more than they hold.
    NotPermitted(AssignRefused),
    /// The last active Owner cannot be demoted or deactivated.
    LastOwner,
    /// A member cannot deactivate themself (another administrator must).
    Oneself,
    /// The caller's own role or status changed since their request was admitted: it was
    /// judged by a role they may no longer hold.
    CallerChanged,
    /// The organisation is read-only (ORG-1), or its subscription suspended: only a change that
    /// gives no one more access is made (a demotion, a deactivation).
    ReadOnly,
}

/// A change judged against what is stored, before it is made.
#[derive(Debug, Clone)]
pub enum Judged {
    /// It would change the membership.
    Changes,
    /// The member already has that role or status: nothing to write.
    Unchanged(Membership),
}

/// What [`Store::change_member`] did.
#[derive(Debug, Clone)]
pub enum MemberChanged {
    /// Written, with its events.
    Changed(Membership),
    /// The member already had that role or status: nothing was written or recorded.
    Unchanged(Membership),
}

/// A change judged against the membership as read (`current`) and the caller's own membership
/// as read (`caller_now`, which must still be what admitted their request): the membership it
/// makes, if any.
fn judge(
    caller: &Caller,
    caller_now: &Membership,
    current: &Membership,
    change: MemberChange,
) -> Result<Option<Membership>, MemberRefused> {
    if current.status == MemberStatus::Removed {
        return Err(MemberRefused::NotFound);
    }
    if caller_now.role != caller.role || caller_now.status != MemberStatus::Active {
        return Err(MemberRefused::CallerChanged);
    }
    let next = match change {
        MemberChange::Role(role) => {
            caller
                .matrix
                .may_assign(caller.role, current.role, role)
                .map_err(MemberRefused::NotPermitted)?;
            Membership {
                role,
                ..current.clone()
            }
        }
        MemberChange::Deactivate | MemberChange::Reactivate => {
            caller
                .matrix
                .may_assign(caller.role, current.role, current.role)
                .map_err(MemberRefused::NotPermitted)?;
            if change == MemberChange::Deactivate && current.user_id == caller.user_id {
                return Err(MemberRefused::Oneself);
            }
            let status = if change == MemberChange::Deactivate {
                MemberStatus::Suspended
            } else {
                MemberStatus::Active
            };
            Membership {
                status,
                ..current.clone()
            }
        }
    };
    if next.role == current.role && next.status == current.status {
        return Ok(None);
    }
    // Read-only (ORG-1), or its subscription suspended (billing): no more access for anyone.
    if (caller.lifecycle.read_only() || caller.plan.subscription_suspended())
        && gives_more(&caller.matrix, current, &next)
    {
        return Err(MemberRefused::ReadOnly);
    }
    Ok(Some(next))
}

/// Whether going from `current` to `next` gives the member access they did not have: active
/// again, or a role holding a permission their role did not.
fn gives_more(matrix: &Matrix, current: &Membership, next: &Membership) -> bool {
    next.status == MemberStatus::Active
        && (current.status != MemberStatus::Active
            || matrix
                .permissions(next.role)
                .iter()
                .any(|p| !matrix.grants(current.role, *p)))
}

/// Whether going from `current` to `next` leaves the organisation one active Owner fewer.
fn takes_an_owner_away(current: &Membership, next: &Membership) -> bool {
    current.role == Role::Owner
        && current.status == MemberStatus::Active
        && (next.role != Role::Owner || next.status != MemberStatus::Active)
}

/// How often a change is judged again after losing a race.
const TRIES: usize = 3;

impl Store {
    /// A page of the scope's members, by user id.
    pub async fn list_members(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<Membership>, StoreError> {
        let partition = keys::members(scope.org_id());
        let (items, next) = self.query_page(&self.data_table, &partition, None, true, page).await?;
        let members = items
            .into_iter()
            .map(super::from_item::<Membership>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items: members
                .into_iter()
                .filter(|m| m.org_id == *scope.org_id() && m.status != MemberStatus::Removed)
                .collect(),
            next,
        })
    }

    /// The scope's member `user`, whatever their status but removed.
    pub async fn find_member(&self, scope: &TenantScope, user: &UserId) -> Result<Option<Membership>, StoreError> {
        Ok(self
            .member(scope.org_id(), user)
            .await?
            .filter(|m| m.status != MemberStatus::Removed && m.user_id == *user && m.org_id == *scope.org_id()))
    }

    /// Judges `change` of `user` by `caller` against what is stored, without writing: whether
    /// [`Store::change_member`] would now refuse it, or find nothing to change.
    pub async fn check_member_change(
        &self,
        caller: &Caller,
        user: &UserId,
        change: MemberChange,
    ) -> Result<Result<Judged, MemberRefused>, StoreError> {
        let (current, next) = match self.read_and_judge(caller, user, change).await? {
            Ok((current, Some(next))) => (current, next),
            Ok((current, None)) => return Ok(Ok(Judged::Unchanged(current))),
            Err(refused) => return Ok(Err(refused)),
        };
        if takes_an_owner_away(&current, &next)
            && caller.user_id == *user
            && self.other_active_owner(caller.scope(), user).await?.is_none()
        {
            return Ok(Err(MemberRefused::LastOwner));
        }
        Ok(Ok(Judged::Changes))
    }

    /// Reads the member `user` and the caller's own membership as stored now, and judges
    /// `change` by them: the membership as read and the one the change makes, if any.
    async fn read_and_judge(
        &self,
        caller: &Caller,
        user: &UserId,
        change: MemberChange,
    ) -> Result<Result<(Membership, Option<Membership>), MemberRefused>, StoreError> {
        // Both memberships in one consistent `BatchGetItem`.
        let org = caller.scope().org_id();
        let (member_key, caller_key) = (keys::member(org, user), keys::member(org, &caller.user_id));
        // BatchGetItem refuses a key given twice: a change of oneself reads one.
        let wanted = if *user == caller.user_id {
            vec![member_key.clone()]
        } else {
            vec![member_key.clone(), caller_key.clone()]
        };
        let mut found = self.batch_read(&wanted).await?;
        let mut membership = |key: &keys::Key, of: &UserId| -> Result<Option<Membership>, StoreError> {
            Ok(found
                .remove(key)
                .map(super::from_item::<Membership>)
                .transpose()?
                .filter(|m| m.status != MemberStatus::Removed && m.user_id == *of && m.org_id == *org))
        };
        let Some(current) = membership(&member_key, user)? else {
            return Ok(Err(MemberRefused::NotFound));
        };
        let caller_now = if *user == caller.user_id {
            Some(current.clone())
        } else {
            membership(&caller_key, &caller.user_id)?
        };
        let Some(caller_now) = caller_now else {
            return Ok(Err(MemberRefused::CallerChanged));
        };
        Ok(judge(caller, &caller_now, &current, change).map(|next| (current, next)))
    }

    /// Makes `change` of `user` as `caller` with `reason`, recorded as `audit`'s, with
    /// `identity_provider` (what the identity provider's sign-out of the member found) in its
    /// `sessions.revoked`.
    ///
    /// Errors: [`StoreError::Contended`] after losing [`TRIES`] races.
    pub async fn change_member(
        &self,
        caller: &Caller,
        audit: AuditContext,
        user: &UserId,
        change: MemberChange,
        reason: &str,
        identity_provider: &str,
    ) -> Result<Result<MemberChanged, MemberRefused>, StoreError> {
        let scope = caller.scope();
        let org = scope.org_id();
        for _ in 0..TRIES {
            let (current, next) = match self.read_and_judge(caller, user, change).await? {
                Ok((current, Some(next))) => (current, next),
                Ok((current, None)) => return Ok(Ok(MemberChanged::Unchanged(current))),
                Err(refused) => return Ok(Err(refused)),
            };
            let mut tx = self
                .transaction(scope, audit.clone())
                .put_beside_if(
                    keys::member(org, user),
                    &next,
                    "#role = :role AND #status = :status",
                    vec![
                        (":role", super::name_value(current.role)?),
                        (":status", super::name_value(current.status)?),
                    ],
                )
                .with_names(vec![("#role", "role"), ("#status", "status")])
                .images(change.action(), Target::new("user", user.as_str()), &current, &next)
                .because(reason);
            // Whose membership must still be an active one of a given role at commit: the
            // caller's (their authority), which, when an Owner changes someone else, is also the
            // other active Owner a change taking one away needs; for a change of oneself (the
            // membership's own condition binds the caller), another Owner when one is taken
            // away. DynamoDB allows one operation per item in a transaction: never two here.
            let checked = if *user != caller.user_id {
                if takes_an_owner_away(&current, &next) && caller.role != Role::Owner {
                    return Ok(Err(MemberRefused::NotPermitted(AssignRefused::OwnersOnly)));
                }
                Some((caller.user_id.clone(), caller.role))
            } else if takes_an_owner_away(&current, &next) {
                match self.other_active_owner(scope, user).await? {
                    Some(other) => Some((other, Role::Owner)),
                    None => return Ok(Err(MemberRefused::LastOwner)),
                }
            } else {
                None
            };
            if let Some((member, role)) = checked {
                tx = tx
                    .check(
                        keys::member(org, &member),
                        "#role = :checkedRole AND #status = :active",
                        vec![
                            (":checkedRole", super::name_value(role)?),
                            (":active", super::name_value(MemberStatus::Active)?),
                        ],
                    )
                    .with_names(vec![("#role", "role"), ("#status", "status")]);
            }
            let mark = self.revocation_mark(org, user).await?;
            tx = tx.revocation(user, mark.as_ref(), identity_provider);
            match tx.commit().await {
                // The membership, the other Owner or the mark changed since they were read.
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other),
                Ok(()) => return Ok(Ok(MemberChanged::Changed(next))),
            }
        }
        Err(StoreError::Contended)
    }

    /// An active Owner of the scope's organisation other than `except`, if there is one.
    async fn other_active_owner(&self, scope: &TenantScope, except: &UserId) -> Result<Option<UserId>, StoreError> {
        let partition = keys::members(scope.org_id());
        let mut start = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.data_table)
                .key_condition_expression("pk = :pk")
                .filter_expression("#role = :owner AND #status = :active")
                .expression_attribute_names("#role", "role")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
                .expression_attribute_values(":owner", super::name_value(Role::Owner)?)
                .expression_attribute_values(":active", super::name_value(MemberStatus::Active)?)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::aws)?;
            for item in out.items.unwrap_or_default() {
                let member: Membership = super::from_item(item)?;
                if member.user_id != *except && member.org_id == *scope.org_id() {
                    return Ok(Some(member.user_id));
                }
            }
            match out.last_evaluated_key {
                Some(last) => start = Some(last),
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Lifecycle;
    use quire_core::ids::OrgId;

    fn member(user: &str, role: Role, status: MemberStatus) -> Membership {
        Membership {
            org_id: OrgId::parse("acme").unwrap(),
            user_id: UserId::parse(user).unwrap(),
            email: format!("{user}@acme.test"),
            display_name: user.to_owned(),
            role,
            status,
        }
    }

    fn caller(user: &str, role: Role, lifecycle: Lifecycle) -> Caller {
        Caller::new(
            UserId::parse(user).unwrap(),
            format!("{user}@acme.test"),
            user.to_owned(),
            role,
            OrgId::parse("acme").unwrap(),
            crate::testing_session("s1"),
            None,
            Default::default(),
            lifecycle,
            Default::default(),
            Default::default(),
        )
    }

    /// The judgement of each kind of change, its refusals and what it leaves unchanged.
    ///
    /// Proves: RBAC-1, ORG-1
    #[test]
    fn changes_are_judged_by_the_callers_role_as_stored_and_the_organisations_state() {
        use MemberStatus::{Active, Removed, Suspended};
        let admin = caller("admin", Role::Admin, Lifecycle::Active);
        let admin_now = member("admin", Role::Admin, Active);
        let user = member("user", Role::User, Active);
        let other_admin = member("admin2", Role::Admin, Active);
        let owner = member("owner", Role::Owner, Active);
        let judged = |c: &Caller, now: &Membership, current: &Membership, change| judge(c, now, current, change);

        let next = judged(&admin, &admin_now, &other_admin, MemberChange::Role(Role::Viewer)).unwrap();
        assert_eq!(next.map(|m| m.role), Some(Role::Viewer));
        assert_eq!(
            judged(&admin, &admin_now, &owner, MemberChange::Deactivate),
            Err(MemberRefused::NotPermitted(AssignRefused::OwnersOnly))
        );
        assert_eq!(
            judged(&admin, &admin_now, &user, MemberChange::Role(Role::Owner)),
            Err(MemberRefused::NotPermitted(AssignRefused::OwnersOnly))
        );
        assert_eq!(
            judged(&admin, &admin_now, &user, MemberChange::Role(Role::User)),
            Ok(None)
        );
        assert_eq!(judged(&admin, &admin_now, &user, MemberChange::Reactivate), Ok(None));
        assert_eq!(
            judged(
                &admin,
                &admin_now,
                &member("gone", Role::User, Removed),
                MemberChange::Reactivate
            ),
            Err(MemberRefused::NotFound)
        );
        assert_eq!(
            judged(&admin, &admin_now, &admin_now, MemberChange::Deactivate),
            Err(MemberRefused::Oneself)
        );
        // Judged by the caller's role as stored now, not as their request was admitted.
        for now in [
            member("admin", Role::User, Active),
            member("admin", Role::Admin, Suspended),
        ] {
            assert_eq!(
                judged(&admin, &now, &user, MemberChange::Role(Role::Viewer)),
                Err(MemberRefused::CallerChanged)
            );
        }
        // Read-only: what takes access away is made, what gives it is not.
        for lifecycle in [
            Lifecycle::Suspended,
            Lifecycle::TrialEnded {
                locks_at: std::time::UNIX_EPOCH,
            },
        ] {
            let admin = caller("admin", Role::Admin, lifecycle);
            assert!(judged(&admin, &admin_now, &user, MemberChange::Role(Role::Viewer)).is_ok());
            assert!(judged(&admin, &admin_now, &user, MemberChange::Deactivate).is_ok());
            assert_eq!(
                judged(&admin, &admin_now, &user, MemberChange::Role(Role::Admin)),
                Err(MemberRefused::ReadOnly)
            );
            assert_eq!(
                judged(
                    &admin,
                    &admin_now,
                    &member("user", Role::User, Suspended),
                    MemberChange::Reactivate
                ),
                Err(MemberRefused::ReadOnly)
            );
        }
    }

    /// Only a change that leaves an active Owner less active, or less an Owner, takes one away.
    ///
    /// Proves: RBAC-1
    #[test]
    fn only_an_active_owner_demoted_or_deactivated_is_taken_away() {
        use MemberStatus::{Active, Suspended};
        let owner = member("o", Role::Owner, Active);
        assert!(takes_an_owner_away(&owner, &member("o", Role::Admin, Active)));
        assert!(takes_an_owner_away(&owner, &member("o", Role::Owner, Suspended)));
        assert!(!takes_an_owner_away(&owner, &owner));
        let inactive = member("o", Role::Owner, Suspended);
        assert!(!takes_an_owner_away(&inactive, &member("o", Role::Admin, Suspended)));
        assert!(!takes_an_owner_away(
            &member("a", Role::Admin, Active),
            &member("a", Role::Viewer, Active)
        ));
    }
}
