//! Organisations and memberships: who belongs where, with which role and status. Read on every
//! request by the tenant layer (two reads: the user's directory entry, then organisation and
//! membership together), written by onboarding and provisioning with their audit events.

use super::{keys, AuditContext, Store, StoreError};
use crate::tenant::{Caller, TenantScope};
use aws_sdk_dynamodb::types::KeysAndAttributes;
use quire_core::audit::{Action, Actor, Origin, Target};
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::Role;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrgStatus {
    Active,
    Suspended,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    Active,
    Suspended,
    Removed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Organisation {
    org_id: OrgId,
    name: String,
    status: OrgStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Membership {
    pub(crate) org_id: OrgId,
    pub(crate) user_id: UserId,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) role: Role,
    pub(crate) status: MemberStatus,
}

/// A person joining an organisation: their Cognito `sub`, contact and role.
#[derive(Debug, Clone, Copy)]
pub struct NewMember<'a> {
    pub user: &'a UserId,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryEntry {
    user_id: UserId,
    org_id: OrgId,
}

impl Store {
    /// The caller behind a verified `sub`, if they are an active member of an active organisation.
    pub async fn load_caller(&self, user: &UserId) -> Result<Option<Caller>, StoreError> {
        let Some(item) = self.read(&self.data_table, &keys::user(user)).await? else {
            return Ok(None);
        };
        let entry: DirectoryEntry = super::from_item(item)?;
        // No one is a member of the platform's trail.
        if entry.org_id.is_platform() {
            return Ok(None);
        }
        let (org_key, member_key) = (keys::organisation(&entry.org_id), keys::member(&entry.org_id, user));
        let wanted = KeysAndAttributes::builder()
            .keys(org_key.to_map())
            .keys(member_key.to_map())
            .consistent_read(true)
            .build()
            .map_err(StoreError::aws)?;
        let out = self
            .ddb
            .batch_get_item()
            .request_items(&self.data_table, wanted)
            .send()
            .await
            .map_err(StoreError::aws)?;
        if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(StoreError::Aws("membership read throttled".into()));
        }
        let (mut org, mut member) = (None, None);
        for item in out
            .responses
            .and_then(|mut r| r.remove(&self.data_table))
            .unwrap_or_default()
        {
            match keys::Key::from_map(&item) {
                Some(k) if k == org_key => org = Some(super::from_item::<Organisation>(item)?),
                Some(k) if k == member_key => member = Some(super::from_item::<Membership>(item)?),
                _ => {}
            }
        }
        let (Some(org), Some(member)) = (org, member) else {
            return Ok(None);
        };
        if org.status != OrgStatus::Active
            || member.status != MemberStatus::Active
            || member.user_id != *user
            || member.org_id != org.org_id
        {
            return Ok(None);
        }
        Ok(Some(Caller::new(
            member.user_id,
            member.email,
            member.display_name,
            member.role,
            org.org_id,
        )))
    }

    /// A membership as stored, whatever its status (one consistent read).
    pub(crate) async fn member(&self, org: &OrgId, user: &UserId) -> Result<Option<Membership>, StoreError> {
        match self.read(&self.data_table, &keys::member(org, user)).await? {
            Some(item) => Ok(Some(super::from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Creates an organisation (audited as `organisation.created`).
    pub async fn create_organisation(
        &self,
        name: &str,
        actor: Actor,
        origin: Origin,
    ) -> Result<TenantScope, StoreError> {
        let org_id = OrgId::generate();
        let scope = TenantScope::new(org_id.clone());
        let record = Organisation {
            org_id: org_id.clone(),
            name: name.to_owned(),
            status: OrgStatus::Active,
        };
        self.transaction(&scope, AuditContext::new(actor, origin))
            .insert(
                keys::organisation(&org_id),
                &record,
                Some((
                    Action::OrganisationCreated,
                    Target::new("organisation", org_id.as_str()),
                )),
            )
            .commit()
            .await?;
        Ok(scope)
    }

    /// Adds a user to an organisation (audited as `member.added`). A user belongs to one organisation.
    pub async fn add_member(
        &self,
        scope: &TenantScope,
        new: NewMember<'_>,
        actor: Actor,
        origin: Origin,
    ) -> Result<(), StoreError> {
        let org_id = scope.org_id().clone();
        let user = new.user;
        let member = Membership {
            org_id: org_id.clone(),
            user_id: user.clone(),
            email: new.email.to_owned(),
            display_name: new.display_name.to_owned(),
            role: new.role,
            status: MemberStatus::Active,
        };
        let entry = DirectoryEntry {
            user_id: user.clone(),
            org_id: org_id.clone(),
        };
        let account = crate::accounts::AccountEntry {
            user_id: user.clone(),
            org_id: org_id.clone(),
        };
        // The sign-in email is Cognito's username: one account per email, across organisations.
        self.transaction(scope, AuditContext::new(actor, origin))
            .insert(keys::user(user), &entry, None)
            .insert(
                keys::account(&crate::attempts::Subject::account(new.email)),
                &account,
                None,
            )
            .insert(
                keys::member(&org_id, user),
                &member,
                Some((Action::MemberAdded, Target::new("user", user.as_str()))),
            )
            .commit()
            .await
    }
}
