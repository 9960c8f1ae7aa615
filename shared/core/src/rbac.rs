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
            ],
            Role::Admin => &[
                DocumentRead,
                DocumentCreate,
                DocumentEdit,
                AuditRead,
                AuditVerify,
                UserManage,
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
    /// Managing the organisation's members: today, revoking a member's sessions (AUTHN-2).
    UserManage,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::DocumentRead,
        Permission::DocumentCreate,
        Permission::DocumentEdit,
        Permission::AuditRead,
        Permission::AuditVerify,
        Permission::UserManage,
    ];

    pub fn writes(self) -> bool {
        matches!(
            self,
            Permission::DocumentCreate | Permission::DocumentEdit | Permission::UserManage
        )
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

    #[test]
    fn default_matrix() {
        assert!(Permission::ALL
            .iter()
            .all(|p| Role::Owner.grants(*p) && Role::Admin.grants(*p)));
        assert!(Role::User.grants(Permission::DocumentEdit));
        assert!(!Role::User.grants(Permission::AuditRead));
        assert!(!Role::Viewer.grants(Permission::AuditVerify));
    }
}
