//! Roles, permissions and the default permission matrix (RBAC-1..4).
//!
//! A route declares one [`Permission`]; the authorisation layer grants it when the caller's
//! current role (read from the membership record on every request, RBAC-4) holds it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Owner,
    Admin,
    User,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::User, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::User => "User",
            Role::Viewer => "Viewer",
        }
    }

    /// Whether a member of this role must pass a second factor before anything but enrolling
    /// one (AUTHN-7): the roles that administer the organisation.
    pub fn requires_mfa(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether the role holds `permission` in the default matrix.
    pub fn grants(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    /// The default matrix, every grant listed: a new permission belongs to no role until it is
    /// added here (RBAC-1). Viewer holds only read permissions (RBAC-3); reading and verifying
    /// the audit trail is for Owners and Admins.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Owner => &[
                DocumentRead,
                DocumentCreate,
                DocumentEdit,
                AuditRead,
                AuditVerify,
                UserManage,
                MemberRead,
                OrganisationRead,
                OrganisationManage,
            ],
            Role::Admin => &[
                DocumentRead,
                DocumentCreate,
                DocumentEdit,
                AuditRead,
                AuditVerify,
                UserManage,
                MemberRead,
                OrganisationRead,
            ],
            Role::User => &[DocumentRead, DocumentCreate, DocumentEdit],
            Role::Viewer => &[DocumentRead],
        }
    }
}

/// Everything a route can require. Write permissions are exactly those with `writes() == true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    DocumentRead,
    DocumentCreate,
    DocumentEdit,
    AuditRead,
    AuditVerify,
    /// Managing the organisation's members: their roles and status, revoking their sessions
    /// (AUTHN-2).
    UserManage,
    /// Reading the organisation's members: their roles and status.
    MemberRead,
    /// Reading the organisation's settings: its session limits and IP allowlist (ORG-3).
    OrganisationRead,
    /// Changing the organisation's settings (`PATCH /organisation`): an Owner's by default, as
    /// an IP allowlist or session limit binds every member, Owners included.
    OrganisationManage,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::DocumentRead,
        Permission::DocumentCreate,
        Permission::DocumentEdit,
        Permission::AuditRead,
        Permission::AuditVerify,
        Permission::UserManage,
        Permission::MemberRead,
        Permission::OrganisationRead,
        Permission::OrganisationManage,
    ];

    pub fn writes(self) -> bool {
        matches!(
            self,
            Permission::DocumentCreate
                | Permission::DocumentEdit
                | Permission::UserManage
                | Permission::OrganisationManage
        )
    }
}

/// Why a role may not be given (RBAC-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignRefused {
    /// Only an Owner makes an Owner, or changes or deactivates one.
    OwnersOnly,
    /// The role holds a permission the one giving it does not.
    BeyondOwnGrants,
}

impl Role {
    /// Whether a member of role `self` may change a member of role `current` to role `next`
    /// (RBAC-1): only an Owner makes or changes Owners, and nobody gives, or takes from anyone,
    /// a role holding a permission they do not hold themselves.
    pub fn may_assign(self, current: Role, next: Role) -> Result<(), AssignRefused> {
        if (current == Role::Owner || next == Role::Owner) && self != Role::Owner {
            return Err(AssignRefused::OwnersOnly);
        }
        let within = |role: Role| role.permissions().iter().all(|p| self.grants(*p));
        if !within(next) || !within(current) {
            return Err(AssignRefused::BeyondOwnGrants);
        }
        Ok(())
    }

    /// Whether a member of role `self` may deactivate or reactivate a member of role `target`
    /// (RBAC-1): only an Owner does so to an Owner, and nobody to a role holding a permission
    /// they do not hold.
    pub fn may_manage(self, target: Role) -> Result<(), AssignRefused> {
        self.may_assign(target, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: RBAC-3
    #[test]
    fn viewer_holds_no_write_permission() {
        for permission in Permission::ALL.into_iter().filter(|p| p.writes()) {
            assert!(!Role::Viewer.grants(permission), "{permission:?}");
        }
        assert!(Role::Viewer.grants(Permission::DocumentRead));
    }

    /// The whole default matrix, cell by cell: a grant added or lost anywhere fails here.
    #[test]
    fn the_default_matrix_is_exactly_this() {
        use Permission::*;
        let expected = [
            (
                Role::Owner,
                vec![
                    DocumentRead,
                    DocumentCreate,
                    DocumentEdit,
                    AuditRead,
                    AuditVerify,
                    UserManage,
                    MemberRead,
                    OrganisationRead,
                    OrganisationManage,
                ],
            ),
            (
                Role::Admin,
                vec![
                    DocumentRead,
                    DocumentCreate,
                    DocumentEdit,
                    AuditRead,
                    AuditVerify,
                    UserManage,
                    MemberRead,
                    OrganisationRead,
                ],
            ),
            (Role::User, vec![DocumentRead, DocumentCreate, DocumentEdit]),
            (Role::Viewer, vec![DocumentRead]),
        ];
        for (role, granted) in expected {
            for permission in Permission::ALL {
                assert_eq!(
                    role.grants(permission),
                    granted.contains(&permission),
                    "{role:?} {permission:?}"
                );
            }
        }
    }

    /// Every (giver, current, next) triple of the default matrix: only Owners touch Owners,
    /// nobody gives more than they hold.
    ///
    /// Proves: RBAC-1
    #[test]
    fn roles_are_given_only_within_ones_own_grants() {
        use Role::*;
        for giver in Role::ALL {
            for current in Role::ALL {
                for next in Role::ALL {
                    let expected = if (current == Owner || next == Owner) && giver != Owner {
                        Err(AssignRefused::OwnersOnly)
                    } else if [current, next]
                        .iter()
                        .any(|role| role.permissions().iter().any(|p| !giver.grants(*p)))
                    {
                        Err(AssignRefused::BeyondOwnGrants)
                    } else {
                        Ok(())
                    };
                    assert_eq!(
                        giver.may_assign(current, next),
                        expected,
                        "{giver:?} {current:?} {next:?}"
                    );
                }
            }
        }
        // What that means for the default matrix, spelled out.
        assert_eq!(Admin.may_assign(User, Owner), Err(AssignRefused::OwnersOnly));
        assert_eq!(Admin.may_assign(Owner, Admin), Err(AssignRefused::OwnersOnly));
        assert_eq!(Admin.may_assign(Owner, Owner), Err(AssignRefused::OwnersOnly));
        assert_eq!(Admin.may_assign(User, Admin), Ok(()));
        assert_eq!(Admin.may_assign(Admin, Viewer), Ok(()));
        assert_eq!(Owner.may_assign(Owner, Viewer), Ok(()));
        assert_eq!(User.may_assign(Viewer, Admin), Err(AssignRefused::BeyondOwnGrants));
        assert_eq!(Admin.may_manage(Owner), Err(AssignRefused::OwnersOnly));
        assert_eq!(Owner.may_manage(Owner), Ok(()));
        assert_eq!(Admin.may_manage(Admin), Ok(()));
    }

    #[test]
    fn default_matrix() {
        assert!(Permission::ALL.iter().all(|p| Role::Owner.grants(*p)));
        assert!(!Role::Admin.grants(Permission::OrganisationManage));
        assert!(Role::User.grants(Permission::DocumentEdit));
        assert!(!Role::User.grants(Permission::AuditRead));
        assert!(!Role::Viewer.grants(Permission::AuditVerify));
    }
}
