//! Organisations and memberships: who belongs where, with which role and status. Read on every
//! request by the tenant layer (two reads: the user's directory entry, then organisation,
//! membership and session together), written by onboarding and provisioning with their audit
//! events.

use super::{keys, AuditContext, Store, StoreError};
use crate::passwords::PasswordRecord;
use crate::sessions::{now_millis, Revocation, SessionId, SessionRecord, SessionRefused};
use crate::tenant::{Caller, TenantScope};
use quire_core::audit::{Action, Actor, Origin, Target};
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::Role;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrgStatus {
    /// Registered through the API; active once its Owner confirms their email (AUTHN-6).
    Pending,
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
pub(crate) struct Organisation {
    pub(crate) org_id: OrgId,
    pub(crate) name: String,
    pub(crate) status: OrgStatus,
    /// The organisation's idle session limit in minutes, if it set one (AUTHN-8).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_count")]
    pub(crate) session_idle_minutes: Option<u32>,
    /// The organisation's absolute session limit in hours, if it set one (AUTHN-8).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_count")]
    pub(crate) session_max_hours: Option<u32>,
    /// The CIDR ranges its members' requests may come from (ORG-3); empty: anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "lenient_list")]
    pub(crate) ip_allowlist: Vec<String>,
}

/// A stored limit read as a count whatever number was stored (negative: 0; fractional: rounded
/// down; beyond `u32`: `u32::MAX`; the bounds then apply), or none for anything but a number:
/// a bad value must not make the organisation's record, read on every request, unreadable.
fn lenient_count<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value
        .as_ref()
        .and_then(serde_json::Value::as_f64)
        .filter(|n| n.is_finite())
        .map(|n| n.clamp(0.0, f64::from(u32::MAX)) as u32))
}

/// A stored list of strings read whatever was stored: anything else (a `NULL` included) reads
/// as one entry no range parses, so the list it makes allows nothing (fails closed) and the
/// record stays readable. An absent attribute is an empty list (`#[serde(default)]`).
fn lenient_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Strings(Vec<String>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Stored::deserialize(deserializer)? {
        Stored::Strings(entries) => entries,
        Stored::Other(_) => vec!["<not a list of strings>".to_owned()],
    })
}

impl Organisation {
    pub(crate) fn is_active(&self) -> bool {
        self.status == OrgStatus::Active
    }

    /// The session limits of the organisation's members: `default` with what it set.
    pub(crate) fn session_policy(&self, default: crate::sessions::SessionPolicy) -> crate::sessions::SessionPolicy {
        default.of_organisation(self.session_idle_minutes, self.session_max_hours)
    }
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

impl NewMember<'_> {
    /// The joining member as the audit trail records them.
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            user_id: self.user.to_string(),
            display_name: self.display_name.to_owned(),
            email: self.email.to_owned(),
            role: self.role.as_str().to_owned(),
            impersonator: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryEntry {
    pub(crate) user_id: UserId,
    pub(crate) org_id: OrgId,
}

/// Why a verified token does not make a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerRefused {
    /// No active membership in an active organisation.
    NotMember,
    /// The token's session does not admit requests (signed out, revoked, expired, unknown).
    Session(SessionRefused),
}

impl Membership {
    pub(crate) fn is_active(&self) -> bool {
        self.status == MemberStatus::Active
    }

    /// The member as the audit trail records them, as they are now.
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            user_id: self.user_id.to_string(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            role: self.role.as_str().to_owned(),
            impersonator: None,
        }
    }
}

impl Store {
    /// The caller behind a verified `sub` and its session (the token's `origin_jti`): an active
    /// member of an active organisation whose session admits requests now (`crate::sessions`).
    /// Two round trips: the user's directory entry, then organisation, membership, session,
    /// revocation mark, password date and enrolment record in one consistent `BatchGetItem`.
    pub async fn load_caller(
        &self,
        user: &UserId,
        session: &SessionId,
    ) -> Result<Result<Caller, CallerRefused>, StoreError> {
        let Some(org_id) = self.organisation_of(user).await? else {
            return Ok(Err(CallerRefused::NotMember));
        };
        let org_key = keys::organisation(&org_id);
        let member_key = keys::member(&org_id, user);
        let session_key = keys::session(&org_id, user, session.as_str());
        let revocation_key = keys::revocation(&org_id, user);
        let password_key = keys::password(&org_id, user);
        let mfa_key = keys::mfa(&org_id, user);
        let mut found = self
            .batch_read(&[
                org_key.clone(),
                member_key.clone(),
                session_key.clone(),
                revocation_key.clone(),
                password_key.clone(),
                mfa_key.clone(),
            ])
            .await?;
        let org = found
            .remove(&org_key)
            .map(super::from_item::<Organisation>)
            .transpose()?;
        let member = found
            .remove(&member_key)
            .map(super::from_item::<Membership>)
            .transpose()?;
        let (Some(org), Some(member)) = (org, member) else {
            return Ok(Err(CallerRefused::NotMember));
        };
        if org.status != OrgStatus::Active
            || !member.is_active()
            || member.user_id != *user
            || member.org_id != org.org_id
        {
            return Ok(Err(CallerRefused::NotMember));
        }
        let Some(record) = found
            .remove(&session_key)
            .map(super::from_item::<SessionRecord>)
            .transpose()?
        else {
            return Ok(Err(CallerRefused::Session(SessionRefused::Unknown)));
        };
        let revocation = found
            .remove(&revocation_key)
            .map(super::from_item::<Revocation>)
            .transpose()?;
        if let Err(refused) = record.admits(&org.org_id, user, revocation.as_ref(), now_millis()) {
            return Ok(Err(CallerRefused::Session(refused)));
        }
        let password_changed_at = found
            .remove(&password_key)
            .map(super::from_item::<PasswordRecord>)
            .transpose()?
            .and_then(|p| p.changed_at_for(&org.org_id, user));
        let mfa_enrolled_at = found
            .remove(&mfa_key)
            .map(super::from_item::<crate::mfa::MfaRecord>)
            .transpose()?
            .and_then(|m| m.enrolled_at_for(&org.org_id, user));
        let (ip_allowlist, broken) = quire_core::network::IpAllowlist::stored(&org.ip_allowlist);
        if let Some(error) = broken {
            tracing::error!(org = %org.org_id, %error, "the organisation's IP allowlist does not parse: every request is refused");
        }
        Ok(Ok(Caller::new(
            member.user_id,
            member.email,
            member.display_name,
            member.role,
            org.org_id,
            record.view(session),
            password_changed_at,
            ip_allowlist,
        )
        .with_mfa_enrolled_at(mfa_enrolled_at)))
    }

    /// The organisation the user directory names for a `sub` (one consistent read); never the
    /// platform's, of which no one is a member.
    pub(crate) async fn organisation_of(&self, user: &UserId) -> Result<Option<OrgId>, StoreError> {
        let Some(item) = self.read(&self.data_table, &keys::user(user)).await? else {
            return Ok(None);
        };
        let entry: DirectoryEntry = super::from_item(item)?;
        Ok(Some(entry.org_id).filter(|org| !org.is_platform() && entry.user_id == *user))
    }

    /// Whether the scope's organisation has `user` as a member, whatever their status.
    pub async fn has_member(&self, scope: &TenantScope, user: &UserId) -> Result<bool, StoreError> {
        Ok(self.member(scope.org_id(), user).await?.is_some())
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
            session_idle_minutes: None,
            session_max_hours: None,
            ip_allowlist: Vec::new(),
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
        // The sign-in email is Cognito's username: one account per email, across organisations.
        let account = crate::accounts::AccountEntry {
            user_id: new.user.clone(),
            org_id: scope.org_id().clone(),
        };
        self.transaction(scope, AuditContext::new(actor, origin))
            .join(new)
            .insert(
                keys::account(&crate::attempts::Subject::account(new.email)),
                &account,
                None,
            )
            .commit()
            .await
    }
}

impl crate::transaction::Transaction<'_> {
    /// Writes `new` as an active member of the transaction's organisation (`member.added`), with
    /// their user directory entry and their password's date (joining sets the password, so its
    /// age counts from now). The account directory entry is the caller's: how it may be written
    /// depends on the way in (`Store::add_member`, `Store::register_organisation`).
    pub(crate) fn join(self, new: NewMember<'_>) -> Self {
        let org_id = self.scope().org_id().clone();
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
        let password = PasswordRecord::now(&org_id, user);
        self.insert(keys::user(user), &entry, None)
            .put_beside(password.key(), &password)
            .insert(
                keys::member(&org_id, user),
                &member,
                Some((Action::MemberAdded, Target::new("user", user.as_str()))),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bad stored session limit leaves the organisation readable (and the bounds then apply).
    ///
    /// Proves: AUTHN-8
    #[test]
    fn a_bad_stored_session_limit_leaves_the_organisation_readable() {
        let read = |idle: serde_json::Value, max: serde_json::Value| {
            let stored = serde_json::json!({
                "orgId": "acme", "name": "Acme", "status": "Active",
                "sessionIdleMinutes": idle, "sessionMaxHours": max,
            });
            let org: Organisation = serde_json::from_value(stored).expect("readable");
            (org.session_idle_minutes, org.session_max_hours)
        };
        assert_eq!(read((-5).into(), 2.7.into()), (Some(0), Some(2)));
        assert_eq!(read(1e30.into(), "soon".into()), (Some(u32::MAX), None));
        assert_eq!(read(30.into(), serde_json::Value::Null), (Some(30), None));
    }

    /// An IP allowlist stored as anything but a list of strings leaves the organisation
    /// readable, and allows nothing (ORG-3 fails closed); an absent one is empty.
    ///
    /// Proves: ORG-3
    #[test]
    fn a_bad_stored_ip_allowlist_is_readable_and_allows_nothing() {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        let read = |value: Option<A>| {
            let mut item: crate::Item = [
                ("orgId", A::S("acme".into())),
                ("name", A::S("Acme".into())),
                ("status", A::S("Active".into())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            if let Some(value) = value {
                item.insert("ipAllowlist".into(), value);
            }
            let org: Organisation = crate::from_item(item).expect("readable");
            quire_core::network::IpAllowlist::stored(&org.ip_allowlist).0
        };
        let anywhere: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        assert!(!read(None).is_restricted());
        let listed = read(Some(A::L(vec![A::S("198.51.100.0/24".into())])));
        assert!(listed.allows(anywhere));
        for bad in [
            A::Null(true),
            A::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1, 2])),
            A::Bs(vec![aws_sdk_dynamodb::primitives::Blob::new(vec![1])]),
            A::Ns(vec!["1".into()]),
            A::N("7".into()),
            A::S("198.51.100.0/24".into()),
            A::M([("a".to_owned(), A::S("b".into()))].into_iter().collect()),
            A::L(vec![A::N("1".into())]),
            A::L(vec![A::S("198.51.100.0/24".into()), A::Null(true)]),
        ] {
            let list = read(Some(bad.clone()));
            assert!(list.is_restricted() && !list.allows(anywhere), "{bad:?}");
        }
    }
}
