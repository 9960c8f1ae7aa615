//! Who is calling, for which organisation: the [`TenantScope`] every tenant key is derived from
//! (TEN-1, TEN-2), and the authenticated [`Caller`].
//!
//! Neither can be made outside this crate for an arbitrary organisation: a scope comes from a
//! caller the store resolved from a verified user id and an active membership
//! ([`crate::Store::load_caller`]), from creating an organisation
//! ([`crate::Store::create_organisation`]), or, inside the store, from the organisation a stream
//! record names (the audit writer and verifier). Tests get one from `quire_store::testing`
//! (feature `testing`).

use crate::sessions::Session;
use quire_core::audit::Actor;
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::Role;

/// The authenticated caller, built by the store from the verified token's `sub` and Quire's own
/// membership record; never from anything else the client sends.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    scope: TenantScope,
    session: Session,
}

impl Caller {
    pub(crate) fn new(
        user_id: UserId,
        email: String,
        display_name: String,
        role: Role,
        org: OrgId,
        session: Session,
    ) -> Self {
        Caller {
            user_id,
            email,
            display_name,
            role,
            scope: TenantScope { org },
            session,
        }
    }

    /// The session the request's token belongs to (`crate::sessions`), which admitted it.
    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn org_id(&self) -> &OrgId {
        &self.scope.org
    }

    /// The only door to tenant data.
    pub fn scope(&self) -> &TenantScope {
        &self.scope
    }

    /// The caller as the audit trail records them, as they are now (names and roles change later;
    /// the entry does not).
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user_id.to_string(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            role: self.role.as_str().to_owned(),
            impersonator: None,
        }
    }
}

/// Proof of which tenant's items code may touch. Every key of tenant data is derived from it
/// inside the store, so a handler cannot name another tenant's partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    org: OrgId,
}

impl TenantScope {
    /// Only the store makes scopes (see the module documentation).
    pub(crate) fn new(org: OrgId) -> Self {
        TenantScope { org }
    }

    pub fn org_id(&self) -> &OrgId {
        &self.org
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_is_recorded_as_they_are() {
        let caller = Caller::new(
            UserId::parse("u1").unwrap(),
            "owner@acme.test".into(),
            "Acme Owner".into(),
            Role::Owner,
            OrgId::parse("acme").unwrap(),
            crate::testing_session("s1"),
        );
        let actor = caller.actor();
        assert_eq!((actor.user_id.as_str(), actor.role.as_str()), ("u1", "Owner"));
        assert_eq!(caller.scope().org_id().as_str(), "acme");
    }
}
