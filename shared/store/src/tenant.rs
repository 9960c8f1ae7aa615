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
    /// When the password was last set; `None` when Quire has no record of it, which counts as
    /// expired (AUTHN-4 fails closed).
    pub password_changed_at: Option<std::time::SystemTime>,
    /// When the member enrolled their authenticator (AUTHN-7, `crate::mfa`), if they did.
    pub mfa_enrolled_at: Option<std::time::SystemTime>,
    /// Where the organisation's members' requests may come from (ORG-3).
    pub ip_allowlist: quire_core::network::IpAllowlist,
    /// What the organisation's status means as the request is served (ORG-1).
    pub lifecycle: crate::directory::Lifecycle,
    /// The organisation's permission matrix (RBAC-1): what each role grants there.
    pub matrix: quire_core::rbac::Matrix,
    /// What the organisation's subscription lets it use (ORG-1 billing, ORG-2 modules).
    pub plan: crate::directory::Plan,
    /// Whether the organisation lets an impersonating administrator write (RBAC-5).
    pub impersonation_writes: bool,
    /// The impersonation this request is made in, when an administrator acts as this member
    /// (RBAC-5): made only by [`crate::Store::impersonate`].
    acting: Option<Acting>,
    /// Whether this is a platform operator in a break-glass session into this organisation
    /// (RBAC-6): made only by [`crate::Store::break_glass`].
    break_glass: bool,
}

/// An administrator acting as the member a [`Caller`] is (RBAC-5).
#[derive(Debug, Clone)]
pub struct Acting {
    /// The administrator who signed in.
    pub impersonator: UserId,
    /// Whether the impersonation may write: it was started so, and the organisation still
    /// allows it.
    pub writes: bool,
    /// The administrator's role as judged, and the impersonation's version as read: what a
    /// change made in it is conditioned on ([`ActingGuard`]).
    impersonator_role: Role,
    version: u64,
}

/// What a change made while impersonating is conditioned on (RBAC-5): the impersonation still
/// as read and acting, the administrator's membership still as judged.
#[derive(Debug, Clone)]
pub(crate) struct ActingGuard {
    impersonation: crate::keys::Key,
    version: u64,
    impersonator: crate::keys::Key,
    impersonator_role: Role,
}

impl ActingGuard {
    pub(crate) fn checks(&self) -> Result<Vec<crate::transaction::Write>, crate::StoreError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let now = crate::sessions::now_millis();
        Ok(vec![
            crate::transaction::Write::check(
                self.impersonation.clone(),
                "#version = :impersonation AND attribute_not_exists(endedAt) AND #until > :now",
                vec![("#version", "version"), ("#until", "until")],
                vec![
                    (":impersonation", AttributeValue::N(self.version.to_string())),
                    (":now", AttributeValue::N(now.to_string())),
                ],
            ),
            crate::transaction::Write::check(
                self.impersonator.clone(),
                "#role = :impersonatorRole AND #status = :active",
                vec![("#role", "role"), ("#status", "status")],
                vec![
                    (":impersonatorRole", crate::name_value(self.impersonator_role)?),
                    (":active", crate::name_value(crate::MemberStatus::Active)?),
                ],
            ),
        ])
    }
}

impl Caller {
    // Every part is required: a default for one (the IP allowlist) would skip its check for
    // whoever forgot it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        user_id: UserId,
        email: String,
        display_name: String,
        role: Role,
        org: OrgId,
        session: Session,
        password_changed_at: Option<std::time::SystemTime>,
        ip_allowlist: quire_core::network::IpAllowlist,
        lifecycle: crate::directory::Lifecycle,
        matrix: quire_core::rbac::Matrix,
        plan: crate::directory::Plan,
    ) -> Self {
        Caller {
            user_id,
            email,
            display_name,
            role,
            scope: TenantScope { org },
            session,
            password_changed_at,
            mfa_enrolled_at: None,
            ip_allowlist,
            lifecycle,
            matrix,
            plan,
            impersonation_writes: false,
            acting: None,
            break_glass: false,
        }
    }

    /// This platform operator in `org` through a break-glass session (RBAC-6): their identity,
    /// session and second factor; the organisation's scope, lifecycle, matrix and plan; the
    /// read permissions of its Admin role ([`Caller::grants`]).
    pub(crate) fn in_break_glass(&self, org: &crate::directory::Organisation) -> Caller {
        let (ip_allowlist, _) = quire_core::network::IpAllowlist::stored(&org.ip_allowlist);
        Caller {
            role: Role::Admin,
            scope: TenantScope {
                org: org.org_id.clone(),
            },
            ip_allowlist,
            lifecycle: org.lifecycle(std::time::SystemTime::now()),
            matrix: org.matrix(),
            plan: org.plan(),
            impersonation_writes: false,
            acting: None,
            break_glass: true,
            ..self.clone()
        }
    }

    /// Whether this is a platform operator in a break-glass session (RBAC-6).
    pub fn in_break_glass_session(&self) -> bool {
        self.break_glass
    }

    pub(crate) fn with_impersonation_writes(self, impersonation_writes: bool) -> Self {
        Caller {
            impersonation_writes,
            ..self
        }
    }

    /// This caller acting as `member` of the same organisation (RBAC-5): the member's identity
    /// and role; the session, password and second factor stay the administrator's, who signed in.
    pub(crate) fn acting_as(&self, member: &crate::directory::Membership, writes: bool, version: u64) -> Caller {
        Caller {
            user_id: member.user_id.clone(),
            email: member.email.clone(),
            display_name: member.display_name.clone(),
            role: member.role,
            acting: Some(Acting {
                impersonator: self.user_id.clone(),
                writes,
                impersonator_role: self.role,
                version,
            }),
            ..self.clone()
        }
    }

    /// What a change made by this caller is conditioned on, when an administrator acts as them.
    pub(crate) fn acting_guard(&self) -> Option<ActingGuard> {
        self.acting.as_ref().map(|acting| ActingGuard {
            impersonation: crate::keys::impersonation(self.org_id(), &acting.impersonator, self.session.id.as_str()),
            version: acting.version,
            impersonator: crate::keys::member(self.org_id(), &acting.impersonator),
            impersonator_role: acting.impersonator_role,
        })
    }

    /// The impersonation this request is made in, if an administrator acts as this member.
    pub fn acting(&self) -> Option<&Acting> {
        self.acting.as_ref()
    }

    /// Who signed in: the impersonating administrator, or the member. What is theirs alone
    /// (idempotency keys) is kept under this id.
    pub fn principal(&self) -> &UserId {
        self.acting.as_ref().map_or(&self.user_id, |a| &a.impersonator)
    }

    pub(crate) fn with_mfa_enrolled_at(self, mfa_enrolled_at: Option<std::time::SystemTime>) -> Self {
        Caller {
            mfa_enrolled_at,
            ..self
        }
    }

    /// When the password expires (AUTHN-4): [`quire_core::password::MAX_AGE`] after it was set;
    /// `None` when Quire has no record of when it was set (then it counts as expired).
    pub fn password_expires_at(&self) -> Option<std::time::SystemTime> {
        self.password_changed_at.map(|t| t + quire_core::password::MAX_AGE)
    }

    /// Whether the password has expired at `now`.
    pub fn password_expired(&self, now: std::time::SystemTime) -> bool {
        self.password_expires_at().is_none_or(|expires| now >= expires)
    }

    /// Whether the caller's role grants `permission` in their organisation's matrix (RBAC-1); in
    /// a break-glass session (RBAC-6), only what the Admin role grants there that does not write.
    pub fn grants(&self, permission: quire_core::rbac::Permission) -> bool {
        if self.break_glass {
            return !permission.writes() && self.matrix.grants(Role::Admin, permission);
        }
        self.matrix.grants(self.role, permission)
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
        let role = if self.is_operator() || self.break_glass {
            quire_core::rbac::OPERATOR_ROLE
        } else {
            self.role.as_str()
        };
        Actor {
            user_id: self.user_id.to_string(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            role: role.to_owned(),
            impersonator: self.acting.as_ref().map(|a| a.impersonator.to_string()),
        }
    }

    /// Whether the caller is a member of the platform operators' organisation (RBAC-6). Their
    /// operator routes also need the operators' Cognito group (`pipeline::authz`).
    pub fn is_operator(&self) -> bool {
        self.scope.org.is_operators()
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
            None,
            Default::default(),
            crate::directory::Lifecycle::Active,
            Default::default(),
            Default::default(),
        );
        let actor = caller.actor();
        assert_eq!((actor.user_id.as_str(), actor.role.as_str()), ("u1", "Owner"));
        assert_eq!(caller.scope().org_id().as_str(), "acme");
    }

    /// Proves: AUTHN-4
    #[test]
    fn a_password_expires_ninety_days_after_it_was_set_and_an_unknown_age_is_expired() {
        use std::time::{Duration, UNIX_EPOCH};
        let set = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let caller = |changed| {
            Caller::new(
                UserId::parse("u1").unwrap(),
                "u1@acme.test".into(),
                "U1".into(),
                Role::User,
                OrgId::parse("acme").unwrap(),
                crate::testing_session("s1"),
                changed,
                Default::default(),
                crate::directory::Lifecycle::Active,
                Default::default(),
                Default::default(),
            )
        };
        let known = caller(Some(set));
        let day = Duration::from_secs(24 * 3600);
        assert!(!known.password_expired(set + 90 * day - Duration::from_secs(1)));
        assert!(known.password_expired(set + 90 * day));
        assert!(caller(None).password_expired(set));
    }
}
