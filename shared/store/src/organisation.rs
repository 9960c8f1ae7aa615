//! An organisation's settings as its administrators read and change them (`GET` and `PATCH
//! /organisation`, `PUT /organisation/roles/{role}`, `PUT /organisation/identity-provider`):
//! its name, its members' session limits (AUTHN-8), its IP allowlist (ORG-3), its join domains,
//! SSO-only and identity provider (AUTHN-10) and its permission matrix (RBAC-1); and its terms
//! as the platform's operators set them ([`Store::operate_organisation`], RBAC-6). The record is the one the tenant layer reads on every request
//! ([`crate::Store::load_caller`]), so a change applies to every member's next request (the
//! session limits at a session's next refresh).
//!
//! A change is one conditional write of the record, at the version it was made against, with
//! its `organisation.updated` event (`before` and `after`: the record as read and as written)
//! and reason, in one transaction. A change that changes nothing writes nothing.

use super::{keys, AuditContext, Store, StoreError};
use crate::directory::{OrgStatus, Organisation};
use crate::tenant::{Caller, TenantScope};
use crate::Stored;
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::audit::{Action, Target};
use quire_core::ids::OrgId;
use quire_core::network::IpAllowlist;
use quire_core::rbac::Matrix;

/// What a change sets; `None` leaves a setting as it is. A session limit of `Some(None)` goes
/// back to the deployment's default. The caller has checked the values' bounds.
#[derive(Debug, Clone, Default)]
pub struct OrganisationChange {
    pub name: Option<String>,
    pub session_idle_minutes: Option<Option<u32>>,
    pub session_max_hours: Option<Option<u32>>,
    /// Stored in its canonical form ([`IpAllowlist::entries`]); an empty list allows anywhere.
    pub ip_allowlist: Option<IpAllowlist>,
    /// The permission matrix (RBAC-1), its adjusted roles stored; the caller has checked the
    /// adjustment's bounds (`Matrix::adjust`).
    pub matrix: Option<Matrix>,
    /// The email domains that may join (AUTHN-10); an empty list lets any.
    pub join_domains: Option<quire_core::invitation::JoinDomains>,
    /// Whether members sign in only through the identity provider (AUTHN-10); the caller has
    /// checked that one is configured before turning it on.
    pub sso_only: Option<bool>,
    /// The identity provider as configured at Cognito (AUTHN-10).
    pub identity_provider: Option<crate::directory::IdentityProvider>,
    /// Whether an administrator impersonating a member may write as them (RBAC-5).
    pub impersonation_writes: Option<bool>,
    /// The organisation's document types (DOC-1), in place of the seeded ones.
    pub document_types: Option<quire_core::documents::DocumentTypes>,
}

impl OrganisationChange {
    /// `current` with this change applied, at the next version.
    fn applied_to(&self, current: &Organisation) -> Organisation {
        let mut next = current.clone();
        if let Some(name) = &self.name {
            next.name.clone_from(name);
        }
        if let Some(idle) = self.session_idle_minutes {
            next.session_idle_minutes = idle;
        }
        if let Some(max) = self.session_max_hours {
            next.session_max_hours = max;
        }
        if let Some(list) = &self.ip_allowlist {
            next.ip_allowlist = list.entries();
        }
        if let Some(domains) = &self.join_domains {
            next.join_domains = domains.entries().to_vec();
        }
        if let Some(sso_only) = self.sso_only {
            next.sso_only = sso_only;
        }
        if let Some(writes) = self.impersonation_writes {
            next.impersonation_writes = writes;
        }
        if let Some(types) = &self.document_types {
            next.document_types = serde_json::to_value(types).ok();
        }
        if let Some(provider) = &self.identity_provider {
            next.identity_provider = Some(provider.clone());
        }
        if let Some(matrix) = &self.matrix {
            next.role_permissions = matrix
                .adjusted()
                .map(|(role, grants)| (role.as_str().to_owned(), grants))
                .collect();
        }
        next
    }
}

/// What [`Store::change_organisation`] did.
#[derive(Debug, Clone)]
pub enum OrganisationChanged {
    /// Written at the next version, with its event.
    Changed(Organisation),
    /// Every setting already had its value: nothing was written or recorded.
    Unchanged(Organisation),
}

/// A condition expression with its values.
pub(crate) type Condition = (String, Vec<(&'static str, AttributeValue)>);

/// The attribute names [`as_read`]'s condition uses.
pub(crate) const AS_READ_NAMES: [(&str, &str); 5] = [
    ("#version", "version"),
    ("#status", "status"),
    ("#trialEndsAt", "trialEndsAt"),
    ("#subscription", "subscription"),
    ("#modules", "modules"),
];

/// A condition that an organisation's record is still `current` as read: its version (a record
/// written before versions were kept has none stored and reads as 1), status, trial end and
/// plan (subscription and modules, which the platform's operators set), with its values
/// (names: [`AS_READ_NAMES`]). A change made against a stale read never writes back a status,
/// a suspension or a plan it did not see.
pub(crate) fn as_read(current: &Organisation) -> Result<Condition, StoreError> {
    let mut condition = String::from("attribute_exists(pk)");
    let mut values = vec![(":status", super::name_value(current.status)?)];
    condition.push_str(if current.version == 1 {
        " AND (attribute_not_exists(#version) OR #version = :expected)"
    } else {
        " AND #version = :expected"
    });
    values.push((":expected", AttributeValue::N(current.version.to_string())));
    condition.push_str(" AND #status = :status");
    match current.trial_ends_at {
        Some(ends) => {
            condition.push_str(" AND #trialEndsAt = :trialEndsAt");
            values.push((":trialEndsAt", AttributeValue::N(ends.to_string())));
        }
        None => condition.push_str(" AND attribute_not_exists(#trialEndsAt)"),
    }
    match &current.subscription {
        Some(status) => {
            condition.push_str(" AND #subscription = :subscription");
            values.push((":subscription", AttributeValue::S(status.clone())));
        }
        None => condition.push_str(" AND attribute_not_exists(#subscription)"),
    }
    match &current.modules {
        Some(modules) => {
            condition.push_str(" AND #modules = :modules");
            values.push((
                ":modules",
                AttributeValue::L(modules.iter().cloned().map(AttributeValue::S).collect()),
            ));
        }
        None => condition.push_str(" AND attribute_not_exists(#modules)"),
    }
    Ok((condition, values))
}

impl Store {
    /// The caller's organisation's record, read consistently.
    ///
    /// Errors: [`StoreError::Corrupt`] when it is missing or names another organisation (the
    /// tenant layer read it a moment ago).
    pub async fn organisation(&self, scope: &TenantScope) -> Result<Stored<Organisation>, StoreError> {
        let org = scope.org_id();
        self.read(&self.data_table, &keys::organisation(org))
            .await?
            .map(super::from_item::<Organisation>)
            .transpose()?
            .filter(|record| record.org_id == *org)
            .map(Stored::new)
            .ok_or_else(|| StoreError::Corrupt("the caller's organisation has no record".into()))
    }

    /// Applies `change` to `current` (as read by [`Store::organisation`]) if the stored record
    /// is still at its version, recording `organisation.updated` with `reason` as `audit`'s.
    ///
    /// Errors: [`StoreError::Conflict`] when the record changed since it was read.
    pub async fn change_organisation(
        &self,
        scope: &TenantScope,
        audit: AuditContext,
        current: &Stored<Organisation>,
        change: &OrganisationChange,
        reason: &str,
    ) -> Result<OrganisationChanged, StoreError> {
        let org = scope.org_id();
        if current.org_id != *org {
            return Err(StoreError::Corrupt("a change of another organisation's record".into()));
        }
        let next = change.applied_to(current);
        self.write_organisation(audit, current, next, Action::OrganisationUpdated, reason, false)
            .await
    }

    /// Writes `next` over `current` at the next version with its event `action` and `reason`
    /// (and its copy in the platform's trail when `in_platform_trail`), unless it changes
    /// nothing.
    async fn write_organisation(
        &self,
        audit: AuditContext,
        current: &Stored<Organisation>,
        mut next: Organisation,
        action: Action,
        reason: &str,
        in_platform_trail: bool,
    ) -> Result<OrganisationChanged, StoreError> {
        if next == *current.record() {
            return Ok(OrganisationChanged::Unchanged(next));
        }
        let org = current.org_id.clone();
        next.version = current.version + 1;
        // The whole record is written: it must still be the one read, its status, trial end and
        // plan above all, which are an operator's to set, and the settings, which are the
        // Owner's. Every writer of the record moves its version on; the status is checked as
        // well, so that an edit that did not (made outside Quire) is not undone either. A record
        // written before versions were kept has none stored and reads as version 1.
        let (condition, values) = as_read(current.record())?;
        let mut change = self.transaction(&TenantScope::new(org.clone()), audit);
        if in_platform_trail {
            change = change.also_in_platform_trail();
        }
        change
            .put_beside_if(keys::organisation(&org), &next, condition, values)
            .with_names(AS_READ_NAMES.to_vec())
            .images(
                action,
                Target::new("organisation", org.as_str()),
                current.record(),
                &next,
            )
            .because(reason)
            .commit()
            .await?;
        Ok(OrganisationChanged::Changed(next))
    }
}

/// What a platform operator sets on an organisation (RBAC-6): its terms, which its own
/// administrators cannot change. `None` leaves a term as it is. The caller has checked the
/// values (no status of `Pending`, which only registration sets; a trial's end with `Trial`).
#[derive(Debug, Clone, Default)]
pub struct OperatorChange {
    /// Its status (ORG-1) with, for `Trial`, the trial's end in milliseconds since the Unix
    /// epoch (any other status clears it).
    pub status: Option<(OrgStatus, Option<u64>)>,
    /// Whether its subscription is suspended (ORG-1 billing).
    pub subscription_suspended: Option<bool>,
    /// The modules of its plan by name (ORG-2); `Some(None)`: every module.
    pub modules: Option<Option<Vec<String>>>,
    /// Turns SSO-only off (AUTHN-10): the way back for an organisation whose identity provider
    /// shuts its members out. Turning it on is its Owner's.
    pub sso_only_off: bool,
    /// Clears the IP allowlist (ORG-3): the way back for an organisation whose list shuts every
    /// member out. Setting ranges is its Owner's.
    pub ip_allowlist_cleared: bool,
}

impl OperatorChange {
    /// `current` with this change applied (the version is the caller's to move).
    fn applied_to(&self, current: &Organisation) -> Organisation {
        let mut next = current.clone();
        if let Some((status, trial_ends_at)) = self.status {
            next.status = status;
            next.trial_ends_at = trial_ends_at.filter(|_| status == OrgStatus::Trial);
        }
        // No subscription stored is an active one: setting it active changes nothing.
        match self.subscription_suspended {
            Some(false) if current.subscription.is_none() => {}
            Some(suspended) => next.subscription = Some(if suspended { "Suspended" } else { "Active" }.to_owned()),
            None => {}
        }
        if let Some(modules) = &self.modules {
            next.modules.clone_from(modules);
        }
        if self.sso_only_off {
            next.sso_only = false;
        }
        if self.ip_allowlist_cleared {
            next.ip_allowlist = Vec::new();
        }
        next
    }
}

impl Store {
    /// An organisation's record as a platform operator reads it (RBAC-6), read consistently:
    /// `None` for no such organisation, and for the platform's trail and the operators' own
    /// organisation, which are no customer's.
    ///
    /// Errors: [`StoreError::Corrupt`] when `operator` is not a member of the operators'
    /// organisation.
    pub async fn operated_organisation(
        &self,
        operator: &Caller,
        org: &OrgId,
    ) -> Result<Option<Stored<Organisation>>, StoreError> {
        if !operator.is_operator() {
            return Err(StoreError::Corrupt(
                "only a platform operator reads another organisation".into(),
            ));
        }
        if org.is_platform() || org.is_operators() {
            return Ok(None);
        }
        Ok(self
            .read(&self.data_table, &keys::organisation(org))
            .await?
            .map(super::from_item::<Organisation>)
            .transpose()?
            .filter(|record| record.org_id == *org)
            .map(Stored::new))
    }

    /// Applies a platform operator's `change` to `current` (as read by
    /// [`Store::operated_organisation`]) if the stored record is still as read (its version,
    /// status, trial end and plan: [`as_read`]), recording `operator.organisation.changed` with
    /// `reason` in the organisation's trail and in the platform's, in one transaction. A
    /// change that changes nothing writes nothing.
    ///
    /// Errors: [`StoreError::Conflict`] when the record changed since it was read, or awaits
    /// its Owner's confirmation (`Pending`: only its registration changes it, AUTHN-6);
    /// [`StoreError::Corrupt`] when `operator` is not a platform operator.
    pub async fn operate_organisation(
        &self,
        operator: &Caller,
        audit: AuditContext,
        current: &Stored<Organisation>,
        change: &OperatorChange,
        reason: &str,
    ) -> Result<OrganisationChanged, StoreError> {
        let org = &current.org_id;
        if current.status == OrgStatus::Pending {
            return Err(StoreError::Conflict);
        }
        if !operator.is_operator() || org.is_platform() || org.is_operators() {
            return Err(StoreError::Corrupt(
                "only a platform operator changes a customer's terms".into(),
            ));
        }
        let next = change.applied_to(current);
        self.write_organisation(audit, current, next, Action::OperatorOrganisationChanged, reason, true)
            .await
    }
}
