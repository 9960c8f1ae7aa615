//! Registration (AUTHN-6): an organisation registered through the API exists from the first
//! request, `Pending`, with its Owner; it becomes `Active` when the Owner confirms their email.
//!
//! The organisation, the Owner's membership, the user directory entry, the account directory
//! entry, the password's date and the registration's own record (when it was made, and the
//! verifier of the registrant's password until it ends) are one transaction, with
//! `organisation.registered` and `member.added` as the first entries of the new trail: either
//! the whole organisation exists or nothing does, and the account directory's conditional
//! insert is what makes an email register one organisation at most. A pending organisation admits no request (`Store::load_caller`
//! refuses every organisation that is not active).

use super::{keys, AuditContext, Store, StoreError};
use crate::accounts::{Account, AccountEntry};
use crate::attempts::Subject;
use crate::directory::{NewMember, OrgStatus, Organisation};
use crate::tenant::TenantScope;
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::audit::{Action, Actor, Origin, Target};
use quire_core::ids::{OrgId, UserId};
use quire_core::password::PasswordVerifier;
use quire_core::rbac::Role;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// A new organisation and its Owner, as a registration names them. `org` is chosen before the
/// identity provider is asked (it is the user's `custom:org_id` there); `owner.user` is the
/// `sub` the identity provider gave the Owner; `owner.role` must be [`Role::Owner`].
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub org: &'a OrgId,
    /// The organisation's name as the registrant typed it (the route bounds and sanitises it).
    pub name: &'a str,
    pub owner: NewMember<'a>,
    /// The registrant's password verifier, kept until the registration is confirmed or expires.
    pub verifier: &'a PasswordVerifier,
    /// The expired registration of the same email this one replaces
    /// ([`Store::expire_registration`] closed it): its account directory entry is taken over.
    pub replaces: Option<&'a OrgId>,
}

/// A registration's own record beside its organisation (`keys::registration`): the verifier of
/// the password the registrant chose, until the registration ends (confirmed or expired).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationRecord {
    org_id: OrgId,
    user_id: UserId,
    /// Milliseconds since the Unix epoch.
    registered_at: u64,
    verifier: Option<PasswordVerifier>,
}

/// A registration awaiting its Owner's confirmation.
#[derive(Debug, Clone)]
pub struct PendingRegistration {
    registered_at: SystemTime,
    verifier: PasswordVerifier,
}

impl PendingRegistration {
    /// When the registration was written.
    pub fn registered_at(&self) -> SystemTime {
        self.registered_at
    }

    /// Whether `password` is the registrant's (Argon2id, CPU-bound: run it on a blocking
    /// thread from async code).
    pub fn verifies(&self, password: &str) -> bool {
        self.verifier.verifies(password)
    }
}

/// What a confirmation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The organisation was pending and is active from now, recorded as `registration.confirmed`.
    Activated,
    /// Nothing was pending: the organisation is active already, or the account is no
    /// registration's Owner. Nothing was written.
    NothingPending,
}

impl Store {
    /// Writes a registration in one transaction (module documentation), recorded as made by its
    /// Owner. Errors: [`StoreError::AlreadyExists`] when the email or the user is in the
    /// directories already (nothing is written), [`StoreError::Corrupt`] for an Owner of another
    /// role or the platform's id, otherwise the store's.
    pub async fn register_organisation(
        &self,
        registration: Registration<'_>,
        origin: Origin,
    ) -> Result<(), StoreError> {
        let Registration {
            org,
            name,
            owner,
            verifier,
            replaces,
        } = registration;
        if owner.role != Role::Owner || org.is_platform() {
            return Err(StoreError::Corrupt("a registration's first member is its Owner".into()));
        }
        let scope = TenantScope::new(org.clone());
        let organisation = Organisation::new(org.clone(), name, OrgStatus::Pending);
        let account = AccountEntry {
            user_id: owner.user.clone(),
            org_id: org.clone(),
        };
        let account_key = keys::account(&Subject::account(owner.email));
        let record = RegistrationRecord {
            org_id: org.clone(),
            user_id: owner.user.clone(),
            registered_at: crate::sessions::now_millis(),
            verifier: Some(verifier.clone()),
        };
        // The Owner chose the password at registration: `join` counts its age from now (AUTHN-4).
        let tx = self
            .transaction(&scope, AuditContext::new(owner.actor(), origin))
            .insert(
                keys::organisation(org),
                &organisation,
                Some((
                    Action::OrganisationRegistered,
                    Target::new("organisation", org.as_str()),
                )),
            )
            .join(owner)
            .insert(keys::registration(org), &record, None);
        let committed = match replaces {
            None => tx.insert(account_key.clone(), &account, None).commit().await,
            // The email's entry may name the expired registration only (or none).
            Some(expired) => tx
                .put_beside_if(
                    account_key.clone(),
                    &account,
                    "attribute_not_exists(pk) OR orgId = :expired",
                    vec![(":expired", AttributeValue::S(expired.to_string()))],
                )
                .commit()
                .await
                .map_err(|error| match error {
                    StoreError::Conflict => StoreError::AlreadyExists,
                    other => other,
                }),
        };
        match committed {
            // The SDK retries a transaction whose answer was lost: a retry of one that committed
            // finds its own items. The account directory names this user and organisation only
            // if this registration wrote it.
            Err(StoreError::AlreadyExists) => {
                let stored = self
                    .read(&self.data_table, &account_key)
                    .await?
                    .map(super::from_item::<AccountEntry>)
                    .transpose()?;
                match stored {
                    Some(entry) if entry.user_id == *owner.user && entry.org_id == *org => Ok(()),
                    _ => Err(StoreError::AlreadyExists),
                }
            }
            other => other,
        }
    }

    /// The registration `account`'s email awaits confirmation of, if it does: one consistent
    /// read of its record.
    pub async fn pending_registration(&self, account: &Account) -> Result<Option<PendingRegistration>, StoreError> {
        let Some((org, user)) = account.member().filter(|_| account.registration_pending()) else {
            return Ok(None);
        };
        let Some(item) = self.read(&self.data_table, &keys::registration(org)).await? else {
            return Ok(None);
        };
        let record: RegistrationRecord = super::from_item(item)?;
        Ok(record
            .verifier
            .filter(|_| record.org_id == *org && record.user_id == *user)
            .map(|verifier| PendingRegistration {
                registered_at: std::time::UNIX_EPOCH + std::time::Duration::from_millis(record.registered_at),
                verifier,
            }))
    }

    /// Closes the organisation of `account`'s registration if it is still pending: its Owner
    /// never confirmed the email within the registration's validity, and the email registers
    /// again (the caller deleted or is deleting the identity provider's user). `Pending` →
    /// `Closed` only if still pending, recorded as `registration.expired` by Quire itself in
    /// the organisation's trail, with `outcome`. `false` when it was not pending (confirmed
    /// meanwhile, or no registration): nothing is written.
    pub async fn expire_registration(
        &self,
        account: &Account,
        origin: Origin,
        outcome: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        self.end_pending(
            account,
            origin,
            Actor::system("registration expiry"),
            Action::RegistrationExpired,
            OrgStatus::Closed,
            outcome,
        )
        .await
    }

    /// Records a registration event ([`Action::REGISTRATION`]) about `account`, as made by
    /// whoever typed the email: one transaction holding only the outbox item. In the account's
    /// organisation's trail only for a pending registration; otherwise (an active member's
    /// email, or no one's) in the platform's, so that an anonymous request writes into an
    /// organisation's trail only when it acts on that organisation's own registration.
    pub async fn record_registration_event(
        &self,
        account: &Account,
        origin: Origin,
        action: Action,
        outcome: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let (trail, target) = if account.registration_pending() {
            (account.trail.clone(), account.target.clone())
        } else {
            (TenantScope::new(OrgId::platform()), account.target_outside())
        };
        let audit = AuditContext::for_route(account.typed.clone(), origin, &Action::REGISTRATION);
        self.transaction(&trail, audit)
            .event(action, target, outcome)
            .commit()
            .await
    }

    /// Activates the organisation of `account`'s registration, once the identity provider has
    /// confirmed the Owner's email: its status goes from `Pending` to `Active` only if it is
    /// still pending, with `registration.confirmed` (`after`: `outcome` and the status change)
    /// as the Owner's act, in one transaction. Idempotent: a second call finds nothing pending.
    pub async fn confirm_registration(
        &self,
        account: &Account,
        origin: Origin,
        outcome: &serde_json::Value,
    ) -> Result<Confirmation, StoreError> {
        // Only the holder of the emailed code and the password confirms: the Owner's act.
        let activated = self
            .end_pending(
                account,
                origin,
                account.actor.clone(),
                Action::RegistrationConfirmed,
                OrgStatus::Active,
                outcome,
            )
            .await?;
        Ok(if activated {
            Confirmation::Activated
        } else {
            Confirmation::NothingPending
        })
    }

    /// Moves the organisation of `account`'s pending registration to `to`, only if still
    /// pending, with `action` (target: the organisation; `after`: `outcome`, the Owner and the
    /// status change) as `actor`'s, in one transaction. `false` when it was not pending.
    async fn end_pending(
        &self,
        account: &Account,
        origin: Origin,
        actor: Actor,
        action: Action,
        to: OrgStatus,
        outcome: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let Some((org, user)) = account.member().filter(|_| account.registration_pending()) else {
            return Ok(false);
        };
        let Some(current) = self
            .read(&self.data_table, &keys::organisation(org))
            .await?
            .map(super::from_item::<Organisation>)
            .transpose()?
            .filter(|o| o.org_id == *org && o.status == OrgStatus::Pending)
        else {
            return Ok(false);
        };
        let ended = Organisation {
            status: to,
            version: current.version + 1,
            ..current
        };
        let mut outcome = outcome.clone();
        outcome["owner"] = serde_json::json!(user.as_str());
        outcome["status"] = serde_json::json!({ "before": OrgStatus::Pending, "after": to });
        // The verifier is of no use once the registration ends: it goes with the change.
        let spent = RegistrationRecord {
            org_id: org.clone(),
            user_id: user.clone(),
            registered_at: 0,
            verifier: None,
        };
        let audit = AuditContext::for_route(actor, origin, &Action::REGISTRATION);
        let committed = self
            .transaction(&TenantScope::new(org.clone()), audit)
            .put_beside(keys::registration(org), &spent)
            .put_beside_if(
                keys::organisation(org),
                &ended,
                "#status = :pending",
                vec![(":pending", AttributeValue::S("Pending".into()))],
            )
            .with_names(vec![("#status", "status")])
            .event(action, Target::new("organisation", org.as_str()), &outcome)
            .commit()
            .await;
        match committed {
            Ok(()) => Ok(true),
            // Another request ended it first.
            Err(StoreError::Conflict) => Ok(false),
            Err(other) => Err(other),
        }
    }
}
