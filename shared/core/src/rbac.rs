//! Roles, permissions and the default permission matrix (RBAC-1..4).
//!
//! A route declares one [`Permission`]; the authorisation layer grants it when the caller's
//! current role (read from the membership record on every request, RBAC-4) holds it.

use serde::{Deserialize, Serialize};

/// The Cognito group of the platform's operators (RBAC-6; template.yaml `OperatorsGroup`). An
/// operator's route needs both: this group in the verified token's `cognito:groups`, which only
/// the pool's administrators can grant, and an active membership of the operators'
/// organisation (`OrgId::operators`), which only provisioning writes.
pub const OPERATORS_GROUP: &str = "quire-operators";

/// How the audit trail names an operator's role: their membership of the operators'
/// organisation is an Owner's (so the admin MFA gate holds them, AUTHN-7), but in any trail
/// they act as the platform's operator.
pub const OPERATOR_ROLE: &str = "PlatformOperator";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Owner,
    Admin,
    User,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::User, Role::Viewer];

    /// The role a name names (`Owner`, `Admin`, `User`, `Viewer`: exactly [`Role::as_str`]).
    pub fn named(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }

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

    /// Whether the role may hold `permission` in any organisation's matrix: a Viewer never one
    /// that writes (RBAC-3); only a role that must pass a second factor one that administers
    /// the organisation (AUTHN-7: administering needs MFA, whatever the matrix says).
    pub fn may_hold(self, permission: Permission) -> bool {
        !(self == Role::Viewer && permission.writes()) && (self.requires_mfa() || !permission.administers())
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
                DocumentApprove,
                AuditRead,
                AuditVerify,
                AuditVerificationStart,
                UserManage,
                MemberRead,
                OrganisationRead,
                OrganisationManage,
                Impersonate,
            ],
            Role::Admin => &[
                DocumentRead,
                DocumentCreate,
                DocumentEdit,
                DocumentApprove,
                AuditRead,
                AuditVerify,
                AuditVerificationStart,
                UserManage,
                MemberRead,
                OrganisationRead,
                Impersonate,
            ],
            Role::User => &[DocumentRead, DocumentCreate, DocumentEdit, DocumentApprove],
            Role::Viewer => &[DocumentRead],
        }
    }
}

/// Everything a route can require. Write permissions are exactly those with `writes() == true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    DocumentRead,
    DocumentCreate,
    DocumentEdit,
    /// Reviewing, approving and rejecting documents with an electronic signature, being named
    /// on an approval route (DOC-3, DOC-4).
    DocumentApprove,
    AuditRead,
    /// Checking the audit chain and reading the full verifications' verdicts.
    AuditVerify,
    /// Starting a full verification of the audit chain (it writes a job and its entry).
    AuditVerificationStart,
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
    /// Acting as another member, within one's own grants (RBAC-5, `POST /impersonation`).
    Impersonate,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Permission::DocumentRead,
        Permission::DocumentCreate,
        Permission::DocumentEdit,
        Permission::DocumentApprove,
        Permission::AuditRead,
        Permission::AuditVerify,
        Permission::AuditVerificationStart,
        Permission::UserManage,
        Permission::MemberRead,
        Permission::OrganisationRead,
        Permission::OrganisationManage,
        Permission::Impersonate,
    ];

    /// The permission a name names (exactly [`Permission::as_str`]).
    pub fn named(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The permission's name, as the API and the stored matrix write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::DocumentRead => "DocumentRead",
            Permission::DocumentCreate => "DocumentCreate",
            Permission::DocumentEdit => "DocumentEdit",
            Permission::DocumentApprove => "DocumentApprove",
            Permission::AuditRead => "AuditRead",
            Permission::AuditVerify => "AuditVerify",
            Permission::AuditVerificationStart => "AuditVerificationStart",
            Permission::UserManage => "UserManage",
            Permission::MemberRead => "MemberRead",
            Permission::OrganisationRead => "OrganisationRead",
            Permission::OrganisationManage => "OrganisationManage",
            Permission::Impersonate => "Impersonate",
        }
    }

    /// Whether it administers the organisation (its members, its settings and matrix): held
    /// only by roles that must pass a second factor ([`Role::requires_mfa`]), in every matrix.
    pub fn administers(self) -> bool {
        matches!(
            self,
            Permission::UserManage | Permission::OrganisationManage | Permission::Impersonate
        )
    }

    /// Whether it signs electronically: an act of the signer alone (21 CFR Part 11
    /// §11.100(a), §11.200(a)(2)), never done as someone else (RBAC-5).
    pub fn signs(self) -> bool {
        self == Permission::DocumentApprove
    }

    pub fn writes(self) -> bool {
        matches!(
            self,
            Permission::DocumentCreate
                | Permission::DocumentEdit
                | Permission::DocumentApprove
                | Permission::AuditVerificationStart
                | Permission::UserManage
                | Permission::OrganisationManage
                | Permission::Impersonate
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

/// An organisation's permission matrix (RBAC-1): the default ([`Role::permissions`]), with the
/// grants of Admin, User and Viewer as the organisation adjusted them. The Owner's grants are
/// fixed. Read with the organisation's record on every request, so an adjustment applies to
/// every member's next request (RBAC-4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Matrix {
    /// The roles the organisation adjusted, with their grants in place of the default's.
    adjusted: std::collections::BTreeMap<Role, std::collections::BTreeSet<Permission>>,
}

/// Why a role's grants may not be set so (RBAC-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustRefused {
    /// The Owner's grants are fixed.
    OwnerFixed,
    /// The role may never hold the permission ([`Role::may_hold`]): a write one for a Viewer
    /// (RBAC-3), an administering one for a role without a second factor (AUTHN-7).
    NotForRole(Permission),
    /// Nobody grants a permission they do not hold.
    BeyondOwnGrants(Permission),
}

impl Matrix {
    /// The matrix with `adjusted` roles' grants in place of the default's: as stored, trusted
    /// only within the bounds (an Owner entry is ignored; a permission its role may never hold
    /// is dropped: [`Role::may_hold`]).
    pub fn with(adjusted: impl IntoIterator<Item = (Role, Vec<Permission>)>) -> Self {
        Matrix {
            adjusted: adjusted
                .into_iter()
                .filter(|(role, _)| *role != Role::Owner)
                .map(|(role, grants)| {
                    let grants = grants.into_iter().filter(|p| role.may_hold(*p)).collect();
                    (role, grants)
                })
                .collect(),
        }
    }

    /// Whether `role` holds `permission` in this matrix.
    pub fn grants(&self, role: Role, permission: Permission) -> bool {
        match self.adjusted.get(&role) {
            Some(grants) => grants.contains(&permission),
            None => role.grants(permission),
        }
    }

    /// `role`'s grants, in [`Permission::ALL`]'s order.
    pub fn permissions(&self, role: Role) -> Vec<Permission> {
        Permission::ALL.into_iter().filter(|p| self.grants(role, *p)).collect()
    }

    /// The adjusted roles and their grants, for storing.
    pub fn adjusted(&self) -> impl Iterator<Item = (Role, Vec<Permission>)> + '_ {
        self.adjusted.iter().map(|(role, grants)| {
            (
                *role,
                Permission::ALL.into_iter().filter(|p| grants.contains(p)).collect(),
            )
        })
    }

    /// This matrix with `role`'s grants set to `permissions` by a member of role `by` (RBAC-1):
    /// never the Owner's; never a permission the role may not hold ([`Role::may_hold`]); and
    /// `by` must hold here every permission the role grants now and every one it will grant:
    /// nobody gives, or takes from a role, what they do not hold.
    pub fn adjust(&self, role: Role, permissions: &[Permission], by: Role) -> Result<Matrix, AdjustRefused> {
        if role == Role::Owner {
            return Err(AdjustRefused::OwnerFixed);
        }
        for permission in permissions {
            if !role.may_hold(*permission) {
                return Err(AdjustRefused::NotForRole(*permission));
            }
        }
        let now = self.permissions(role);
        if let Some(beyond) = permissions.iter().chain(now.iter()).find(|p| !self.grants(by, **p)) {
            return Err(AdjustRefused::BeyondOwnGrants(*beyond));
        }
        let mut adjusted = self.adjusted.clone();
        adjusted.insert(role, permissions.iter().copied().collect());
        Ok(Matrix { adjusted })
    }

    /// Whether a member of role `by` may change a member of role `current` to role `next`
    /// (RBAC-1): only an Owner makes or changes Owners, and nobody gives, or takes from anyone,
    /// a role holding a permission they do not hold themselves, in this matrix.
    pub fn may_assign(&self, by: Role, current: Role, next: Role) -> Result<(), AssignRefused> {
        if (current == Role::Owner || next == Role::Owner) && by != Role::Owner {
            return Err(AssignRefused::OwnersOnly);
        }
        let within = |role: Role| self.permissions(role).iter().all(|p| self.grants(by, *p));
        if !within(next) || !within(current) {
            return Err(AssignRefused::BeyondOwnGrants);
        }
        Ok(())
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
                    DocumentApprove,
                    AuditRead,
                    AuditVerify,
                    AuditVerificationStart,
                    UserManage,
                    MemberRead,
                    OrganisationRead,
                    OrganisationManage,
                    Impersonate,
                ],
            ),
            (
                Role::Admin,
                vec![
                    DocumentRead,
                    DocumentCreate,
                    DocumentEdit,
                    DocumentApprove,
                    AuditRead,
                    AuditVerify,
                    AuditVerificationStart,
                    UserManage,
                    MemberRead,
                    OrganisationRead,
                    Impersonate,
                ],
            ),
            (
                Role::User,
                vec![DocumentRead, DocumentCreate, DocumentEdit, DocumentApprove],
            ),
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

    /// Role changes in the default matrix and in adjusted ones: only Owners touch Owners,
    /// nobody gives or takes more than they hold.
    ///
    /// Proves: RBAC-1
    #[test]
    fn roles_are_given_only_within_ones_own_grants() {
        use Role::*;
        let matrix = Matrix::default();
        // What the rule means for the default matrix, spelled out.
        assert_eq!(matrix.may_assign(Admin, User, Owner), Err(AssignRefused::OwnersOnly));
        assert_eq!(matrix.may_assign(Admin, Owner, Admin), Err(AssignRefused::OwnersOnly));
        assert_eq!(matrix.may_assign(Admin, Owner, Owner), Err(AssignRefused::OwnersOnly));
        assert_eq!(matrix.may_assign(Admin, User, Admin), Ok(()));
        assert_eq!(matrix.may_assign(Admin, Admin, Viewer), Ok(()));
        assert_eq!(matrix.may_assign(Owner, Owner, Viewer), Ok(()));
        assert_eq!(
            matrix.may_assign(User, Viewer, Admin),
            Err(AssignRefused::BeyondOwnGrants)
        );
        assert_eq!(
            matrix.may_assign(User, Admin, Viewer),
            Err(AssignRefused::BeyondOwnGrants)
        );
        assert_eq!(matrix.may_assign(User, Viewer, Viewer), Ok(()));
        // An adjusted matrix moves the bounds: a User who holds everything an Admin holds may
        // give Admin; an Admin who lost a grant may no longer give a role holding it.
        let all_but_owner: Vec<Permission> = Permission::ALL.into_iter().filter(|p| User.may_hold(*p)).collect();
        let users_hold_more = matrix.adjust(User, &all_but_owner, Owner).unwrap();
        assert_eq!(
            users_hold_more.may_assign(User, Viewer, Admin),
            Err(AssignRefused::BeyondOwnGrants)
        );
        assert_eq!(users_hold_more.may_assign(User, Viewer, User), Ok(()));
        let admins_hold_less = matrix
            .adjust(Admin, &[Permission::UserManage, Permission::MemberRead], Owner)
            .unwrap();
        assert_eq!(
            admins_hold_less.may_assign(Admin, Viewer, User),
            Err(AssignRefused::BeyondOwnGrants)
        );
        assert_eq!(
            admins_hold_less.may_assign(Admin, User, Viewer),
            Err(AssignRefused::BeyondOwnGrants)
        );
    }

    /// An adjustment's bounds: the Owner's grants are fixed, a Viewer never writes, nobody
    /// grants what they do not hold; a stored matrix is trusted only within them.
    ///
    /// Proves: RBAC-1, RBAC-3
    #[test]
    fn adjustments_stay_within_their_bounds() {
        use Permission::*;
        let matrix = Matrix::default();
        assert_eq!(
            matrix.adjust(Role::Owner, &[DocumentRead], Role::Owner),
            Err(AdjustRefused::OwnerFixed)
        );
        for write in Permission::ALL.into_iter().filter(|p| p.writes()) {
            assert_eq!(
                matrix.adjust(Role::Viewer, &[DocumentRead, write], Role::Owner),
                Err(AdjustRefused::NotForRole(write))
            );
        }
        // Administering needs a second factor: never to User or Viewer.
        for role in [Role::User, Role::Viewer] {
            for administering in [UserManage, OrganisationManage] {
                assert_eq!(
                    matrix.adjust(role, &[DocumentRead, administering], Role::Owner),
                    Err(AdjustRefused::NotForRole(administering))
                );
            }
        }
        // Nobody takes from a role what they do not hold: an Admin without DocumentCreate may
        // not strip it from Users.
        let admins_hold_less = matrix
            .adjust(Role::Admin, &[DocumentRead, OrganisationManage], Role::Owner)
            .unwrap();
        assert_eq!(
            admins_hold_less.adjust(Role::User, &[DocumentRead], Role::Admin),
            Err(AdjustRefused::BeyondOwnGrants(DocumentCreate))
        );
        assert_eq!(
            matrix.adjust(Role::User, &[AuditRead, AuditVerificationStart], Role::Admin),
            Ok(matrix
                .adjust(Role::User, &[AuditRead, AuditVerificationStart], Role::Owner)
                .unwrap())
        );
        assert_eq!(
            matrix.adjust(Role::Admin, &[OrganisationManage], Role::Admin),
            Err(AdjustRefused::BeyondOwnGrants(OrganisationManage))
        );
        let adjusted = matrix.adjust(Role::User, &[DocumentRead], Role::Admin).unwrap();
        assert!(!adjusted.grants(Role::User, DocumentCreate));
        assert!(adjusted.grants(Role::User, DocumentRead));
        assert!(
            adjusted.grants(Role::Admin, DocumentCreate),
            "other roles keep the default"
        );
        assert_eq!(
            adjusted.adjusted().collect::<Vec<_>>(),
            [(Role::User, vec![DocumentRead])]
        );
        let viewer_audits = matrix
            .adjust(Role::Viewer, &[DocumentRead, AuditRead], Role::Owner)
            .unwrap();
        assert_eq!(viewer_audits.permissions(Role::Viewer), [DocumentRead, AuditRead]);
        // As stored: an Owner entry is ignored, what a role may not hold dropped.
        let stored = Matrix::with([
            (Role::Owner, vec![DocumentRead]),
            (Role::Viewer, vec![DocumentRead, DocumentEdit]),
            (Role::User, vec![DocumentRead, UserManage, OrganisationManage]),
        ]);
        assert_eq!(stored.permissions(Role::Owner), Role::Owner.permissions());
        assert_eq!(stored.permissions(Role::Viewer), [DocumentRead]);
        assert_eq!(stored.permissions(Role::User), [DocumentRead]);
        // The default matrix is within the bounds too.
        for role in Role::ALL {
            assert!(role.permissions().iter().all(|p| role.may_hold(*p)), "{role:?}");
        }
    }

    /// A permission's name is its serialised name: one spelling in the API and the store.
    #[test]
    fn a_permissions_name_is_its_serialised_name() {
        for permission in Permission::ALL {
            assert_eq!(serde_json::to_value(permission).unwrap(), permission.as_str());
            assert_eq!(Permission::named(permission.as_str()), Some(permission));
        }
        for role in Role::ALL {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
            assert_eq!(Role::named(role.as_str()), Some(role));
        }
        assert_eq!(Role::named("owner"), None);
        assert_eq!(Permission::named("documentread"), None);
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
