//! Organisations and memberships: who belongs where, with which role and status. Read on every
//! request by the tenant layer (two reads: the user's directory entry, then organisation,
//! membership and session together), written by onboarding and provisioning with their audit
//! events.

use super::{keys, AuditContext, Store, StoreError};
use crate::passwords::PasswordRecord;
use crate::sessions::{now_millis, Revocation, SessionId, SessionRecord, SessionRefused};
use crate::tenant::{Caller, TenantScope};
use quire_core::audit::{Action, Actor, Origin, Target};
use quire_core::documents::DocumentTypes;
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::{Matrix, Permission, Role};
use serde::{Deserialize, Serialize};

/// An organisation's status as stored (ORG-1); what it means at a given moment is its
/// [`Lifecycle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrgStatus {
    /// Registered through the API; active once its Owner confirms their email (AUTHN-6).
    Pending,
    Active,
    /// On trial until its `trialEndsAt`; then read-only for [`TRIAL_GRACE`], then locked.
    Trial,
    /// Read-only: suspended by the platform's operators (billing).
    Suspended,
    Closed,
}

/// How long an ended trial stays readable before it locks (ORG-1): 14 days.
pub const TRIAL_GRACE: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

/// What an organisation's status means at a moment (ORG-1): which of its members' requests are
/// served. Every member may still act on their own account (sign out, read `/auth/me`) in all
/// but a closed organisation, whose members are refused everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Awaiting its Owner's confirmation: nothing but one's own account.
    Pending,
    /// Everything its members' roles allow.
    Active,
    /// On trial: everything, until `ends_at`.
    Trial { ends_at: std::time::SystemTime },
    /// Its trial ended: read-only until `locks_at` ([`TRIAL_GRACE`] after the end).
    TrialEnded { locks_at: std::time::SystemTime },
    /// Its trial ended more than [`TRIAL_GRACE`] ago, or it is on trial with no readable end:
    /// nothing but one's own account.
    Locked,
    /// Read-only.
    Suspended,
    /// Refused everything.
    Closed,
}

impl Lifecycle {
    /// Whether its data may be read but not changed.
    pub fn read_only(self) -> bool {
        matches!(self, Lifecycle::TrialEnded { .. } | Lifecycle::Suspended)
    }

    /// Whether it serves everything its members' roles allow (active, or on trial before its
    /// end): what taking new members needs.
    pub fn serves_everything(self) -> bool {
        matches!(self, Lifecycle::Active | Lifecycle::Trial { .. })
    }

    /// Whether its records are served at all, to be read (active, on trial, or read-only):
    /// what a platform operator's break-glass session needs (RBAC-6).
    pub fn serves_reads(self) -> bool {
        self.serves_everything() || self.read_only()
    }

    /// Whether its members are admitted at all (signed in, their sessions refreshed).
    pub fn admits_members(self) -> bool {
        self != Lifecycle::Closed
    }

    /// The status's name in the API: `pending`, `active`, `trial`, `trial-ended`, `locked`,
    /// `suspended`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Pending => "pending",
            Lifecycle::Active => "active",
            Lifecycle::Trial { .. } => "trial",
            Lifecycle::TrialEnded { .. } => "trial-ended",
            Lifecycle::Locked => "locked",
            Lifecycle::Suspended => "suspended",
            Lifecycle::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    Active,
    Suspended,
    Removed,
}

/// An organisation's record (`keys::organisation`), read on every request by the tenant layer
/// and changed by its administrators (`crate::organisation`) and its registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organisation {
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
    /// The email domains whose people may join it with a code (AUTHN-10); empty: any. Read as
    /// [`Organisation::join_domains`].
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "lenient_list")]
    pub(crate) join_domains: Vec<String>,
    /// Its subscription's status as the platform's operators set it (ORG-1): `Active` or
    /// `Suspended`; absent is active. Read as [`Organisation::plan`].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_text")]
    pub(crate) subscription: Option<String>,
    /// The modules of its plan as the platform's operators set them (ORG-2); absent is every
    /// module. Read as [`Organisation::plan`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_modules"
    )]
    pub(crate) modules: Option<Vec<String>>,
    /// The grants of Admin, User and Viewer as the organisation adjusted them (RBAC-1), by role
    /// name; a role not named has the default's. Read as [`Organisation::matrix`].
    #[serde(
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty",
        deserialize_with = "lenient_matrix"
    )]
    pub(crate) role_permissions: std::collections::BTreeMap<String, Vec<Permission>>,
    /// Whether its members sign in only through its identity provider (AUTHN-10): a password
    /// sign-in is refused after the right password. A stored value that is not a boolean reads
    /// as `true` (fails closed). Read as [`Organisation::sso_only`].
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "lenient_flag"
    )]
    pub(crate) sso_only: bool,
    /// Whether an administrator impersonating a member may write as them (RBAC-5); absent,
    /// impersonation only reads. A stored value other than `true` reads as `false` (fails
    /// closed). Read as [`Organisation::impersonation_writes`].
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "strict_true"
    )]
    pub(crate) impersonation_writes: bool,
    /// Its identity provider as configured at Cognito (AUTHN-10), never its client secret; one
    /// that does not read is none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_provider"
    )]
    pub(crate) identity_provider: Option<IdentityProvider>,
    /// Its document types (DOC-1) as it set them, kept as stored so that a value that does not
    /// read never makes the record (read on every request) unreadable; read as
    /// [`Organisation::document_types`]. Absent: [`DocumentTypes::seeded`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) document_types: Option<serde_json::Value>,
    /// When a trial ends, in milliseconds since the Unix epoch (status `Trial` only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_millis"
    )]
    pub(crate) trial_ends_at: Option<u64>,
    /// Counts the record's changes from 1 (a record written before versions were kept reads as
    /// 1): every change is conditioned on the version it was made against, so one made against
    /// a stale read is refused (`ETag` and `If-Match` on `/organisation`).
    #[serde(default = "first_version", deserialize_with = "lenient_version")]
    pub(crate) version: u64,
}

fn first_version() -> u64 {
    1
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

/// A stored text read whatever was stored (present: `default` covers absent): anything but a
/// string, `NULL` and binary included, reads as a text no status has (so a subscription that
/// does not read is suspended: fails closed).
fn lenient_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(Some(match Stored::deserialize(deserializer)? {
        Stored::Text(text) => text,
        Stored::Other(_) => "<not a string>".to_owned(),
    }))
}

/// A stored list of module names read whatever was stored (present: `default` covers
/// absent): anything but a list of strings, `NULL` included, reads as a list no module is on
/// (a plan that does not read includes only the platform's own routes: fails closed).
fn lenient_modules<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Names(Vec<String>),
        Other(serde::de::IgnoredAny),
    }
    Ok(Some(match Stored::deserialize(deserializer)? {
        Stored::Names(names) => names,
        Stored::Other(_) => vec!["<not a list of strings>".to_owned()],
    }))
}

/// A stored moment read as milliseconds whatever was stored: a non-negative integer before the
/// year 10000 (what RFC 3339 can write), else none (a trial without a readable end is locked:
/// fails closed).
fn lenient_millis<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    const YEAR_10000_MS: u64 = 253_402_300_800_000;
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .filter(|ms| *ms < YEAR_10000_MS))
}

/// A stored permission matrix read whatever was stored, failing closed: a map of the names
/// Admin, User and Viewer to lists of permission names is read with a name no build knows
/// dropped (the role holds less); anything else (`NULL`, another shape, another role name, a
/// list of anything but strings) makes all three hold nothing, leaving the Owner, whose grants
/// are fixed, to mend it. The record stays readable.
fn lenient_matrix<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, Vec<Permission>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Names(std::collections::BTreeMap<String, Vec<String>>),
        Other(serde::de::IgnoredAny),
    }
    let adjustable = [Role::Admin, Role::User, Role::Viewer];
    let nothing = adjustable.iter().map(|r| (r.as_str().to_owned(), Vec::new())).collect();
    let Stored::Names(stored) = Stored::deserialize(deserializer)? else {
        return Ok(nothing);
    };
    if !stored.keys().all(|name| adjustable.iter().any(|r| r.as_str() == name)) {
        return Ok(nothing);
    }
    Ok(stored
        .into_iter()
        .map(|(role, names)| {
            let known = names.iter().filter_map(|name| Permission::named(name)).collect();
            (role, known)
        })
        .collect())
}

/// A stored flag read whatever was stored: anything but `false` (a string, a number, `NULL`)
/// reads as `true`, so a damaged SSO-only setting refuses passwords (fails closed).
fn lenient_flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value != Some(serde_json::Value::Bool(false)))
}

/// A flag that opens something, read whatever was stored: only `true` is on.
fn strict_true<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value == Some(serde_json::Value::Bool(true)))
}

/// A stored identity provider read whatever was stored: one that does not read is none.
fn lenient_provider<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<IdentityProvider>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// An organisation's identity provider as its record keeps it (AUTHN-10): what Quire configured
/// at Cognito under [`IdentityProvider::name`], without the client secret, which only Cognito
/// holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityProvider {
    /// Cognito's `ProviderName`: [`IdentityProvider::name_for`] the organisation.
    name: String,
    /// `OIDC` or `SAML`.
    #[serde(rename = "type")]
    kind: String,
    /// OIDC: the issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// OIDC: Quire's client id at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// OIDC: the scopes asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    /// OIDC: when the client secret was last sent to Cognito (milliseconds since the Unix
    /// epoch): the secret is never kept, so that a new one is still a recorded change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret_set_at: Option<u64>,
    /// SAML: the provider's metadata URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata_url: Option<String>,
}

impl IdentityProvider {
    /// The `ProviderName` of `org`'s provider at Cognito: its id's letters and digits (a UUID's
    /// 32 hex digits), within Cognito's 32 characters and unique per organisation.
    pub fn name_for(org: &OrgId) -> String {
        org.as_str()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(32)
            .collect()
    }

    /// An OpenID Connect provider whose client secret is set now (the caller checked the
    /// values).
    pub fn oidc(name: String, issuer: String, client_id: String, scopes: Vec<String>) -> Self {
        IdentityProvider {
            name,
            kind: "OIDC".into(),
            issuer: Some(issuer),
            client_id: Some(client_id),
            scopes,
            client_secret_set_at: Some(crate::sessions::now_millis()),
            metadata_url: None,
        }
    }

    /// A SAML 2.0 provider (the caller checked the URL).
    pub fn saml(name: String, metadata_url: String) -> Self {
        IdentityProvider {
            name,
            kind: "SAML".into(),
            issuer: None,
            client_id: None,
            scopes: Vec::new(),
            client_secret_set_at: None,
            metadata_url: Some(metadata_url),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `OIDC` or `SAML`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// When the OIDC client secret was last sent to Cognito.
    pub fn client_secret_set_at(&self) -> Option<std::time::SystemTime> {
        self.client_secret_set_at
            .map(|millis| std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis))
    }

    pub fn metadata_url(&self) -> Option<&str> {
        self.metadata_url.as_deref()
    }
}

/// A stored version read whatever was stored: a number that is not a whole one (or anything
/// else) reads as 0, a version no change can name, so the record stays readable and no change
/// is made against it; an absent one is 1 (`#[serde(default)]`).
fn lenient_version<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.as_ref().and_then(serde_json::Value::as_u64).unwrap_or(0))
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
    /// A new organisation's record: no settings of its own, version 1.
    pub(crate) fn new(org_id: OrgId, name: &str, status: OrgStatus) -> Self {
        Organisation {
            org_id,
            name: name.to_owned(),
            status,
            session_idle_minutes: None,
            session_max_hours: None,
            ip_allowlist: Vec::new(),
            join_domains: Vec::new(),
            subscription: None,
            modules: None,
            sso_only: false,
            impersonation_writes: false,
            identity_provider: None,
            document_types: None,
            role_permissions: std::collections::BTreeMap::new(),
            trial_ends_at: None,
            version: first_version(),
        }
    }

    /// Its permission matrix (RBAC-1): the default with the roles it adjusted.
    pub fn matrix(&self) -> Matrix {
        Matrix::with(
            self.role_permissions
                .iter()
                .filter_map(|(name, grants)| Role::named(name).map(|role| (role, grants.clone()))),
        )
    }

    /// What its status means at `now` (ORG-1).
    pub fn lifecycle(&self, now: std::time::SystemTime) -> Lifecycle {
        match self.status {
            OrgStatus::Pending => Lifecycle::Pending,
            OrgStatus::Active => Lifecycle::Active,
            OrgStatus::Suspended => Lifecycle::Suspended,
            OrgStatus::Closed => Lifecycle::Closed,
            OrgStatus::Trial => {
                let Some(ends_at) = self
                    .trial_ends_at
                    .map(|millis| std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis))
                else {
                    return Lifecycle::Locked;
                };
                let locks_at = ends_at + TRIAL_GRACE;
                if now < ends_at {
                    Lifecycle::Trial { ends_at }
                } else if now < locks_at {
                    Lifecycle::TrialEnded { locks_at }
                } else {
                    Lifecycle::Locked
                }
            }
        }
    }

    pub fn id(&self) -> &OrgId {
        &self.org_id
    }

    /// Its status as stored (what it means now: [`Organisation::lifecycle`]).
    pub fn status(&self) -> OrgStatus {
        self.status
    }

    /// When its trial ends (status `Trial`), as stored and readable.
    pub fn trial_ends_at(&self) -> Option<std::time::SystemTime> {
        self.trial_ends_at
            .map(|millis| std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The idle session limit it set, in minutes, as stored (the bounds apply when it is used).
    pub fn session_idle_minutes(&self) -> Option<u32> {
        self.session_idle_minutes
    }

    /// The absolute session limit it set, in hours, as stored.
    pub fn session_max_hours(&self) -> Option<u32> {
        self.session_max_hours
    }

    /// Whether its members sign in only through its identity provider (AUTHN-10).
    pub fn sso_only(&self) -> bool {
        self.sso_only
    }

    /// Whether an administrator impersonating a member may write as them (RBAC-5).
    pub fn impersonation_writes(&self) -> bool {
        self.impersonation_writes
    }

    /// Its document types (DOC-1): the seeded ones until it sets its own; `None` when what is
    /// stored does not read as a list of types (no document can then be created until an
    /// administrator sets them again).
    pub fn document_types(&self) -> Option<DocumentTypes> {
        match &self.document_types {
            None => Some(DocumentTypes::seeded()),
            Some(stored) => serde_json::from_value(stored.clone()).ok(),
        }
    }

    /// Its identity provider as configured at Cognito, if it has one.
    pub fn identity_provider(&self) -> Option<&IdentityProvider> {
        self.identity_provider.as_ref()
    }

    /// The IP allowlist's entries as stored (canonical when written through the API).
    pub fn ip_allowlist(&self) -> &[String] {
        &self.ip_allowlist
    }

    /// What its subscription lets it use (ORG-1, ORG-2).
    pub fn plan(&self) -> Plan {
        Plan {
            subscription_suspended: self.subscription.as_deref().is_some_and(|s| s != "Active"),
            modules: self.modules.clone(),
        }
    }

    /// The email domains that may join it as stored (a list that does not read shows as it is).
    pub fn join_domains_stored(&self) -> &[String] {
        &self.join_domains
    }

    /// The email domains that may join it (AUTHN-10); a stored list that does not read allows
    /// no one.
    pub fn join_domains(&self) -> quire_core::invitation::JoinDomains {
        quire_core::invitation::JoinDomains::stored(&self.join_domains)
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether its members are admitted now (anything but closed: [`Lifecycle`]).
    pub(crate) fn admits_members(&self) -> bool {
        self.lifecycle(std::time::SystemTime::now()).admits_members()
    }

    /// The session limits of the organisation's members: `default` with what it set.
    pub(crate) fn session_policy(&self, default: crate::sessions::SessionPolicy) -> crate::sessions::SessionPolicy {
        default.of_organisation(self.session_idle_minutes, self.session_max_hours)
    }
}

/// What an organisation's subscription lets it use, as the platform's operators set it on its
/// record and the tenant layer read it with the caller (no extra read).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Billing (ORG-1): a suspended subscription changes nothing but the changes that contain
    /// a compromise; reads go on. A status that does not read is suspended (fails closed).
    subscription_suspended: bool,
    /// The modules (ORG-2) by name; `None`: every module (a record from before plans).
    modules: Option<Vec<String>>,
}

impl Plan {
    /// The platform's own routes (sign-in, members, the organisation) are in every plan.
    pub const PLATFORM: &'static str = "Platform";

    pub fn subscription_suspended(&self) -> bool {
        self.subscription_suspended
    }

    /// The subscription's name in the API: `active` or `suspended`.
    pub fn subscription_name(&self) -> &'static str {
        if self.subscription_suspended {
            "suspended"
        } else {
            "active"
        }
    }

    /// Whether the module named `module` is in the plan: the platform's always, others when
    /// listed (or when the plan lists none, from before plans).
    pub fn includes(&self, module: &str) -> bool {
        module == Self::PLATFORM
            || self
                .modules
                .as_ref()
                .is_none_or(|listed| listed.iter().any(|m| m == module))
    }

    /// The modules listed, `None` for every module.
    pub fn modules(&self) -> Option<&[String]> {
        self.modules.as_deref()
    }
}

/// A person's membership of an organisation (`keys::member`): read on every request by the
/// tenant layer, changed by its administrators (`crate::members`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
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
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn status(&self) -> MemberStatus {
        self.status
    }

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
        let lifecycle = org.lifecycle(std::time::SystemTime::now());
        if !lifecycle.admits_members() || !member.is_active() || member.user_id != *user || member.org_id != org.org_id
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
        let matrix = org.matrix();
        let plan = org.plan();
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
            lifecycle,
            matrix,
            plan,
        )
        .with_mfa_enrolled_at(mfa_enrolled_at)
        .with_impersonation_writes(org.impersonation_writes)))
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
        self.create_organisation_as(OrgId::generate(), name, actor, origin)
            .await
    }

    /// The platform operators' own organisation (RBAC-6, [`OrgId::operators`]), made by
    /// provisioning (audited as `organisation.created` in its own trail) unless it exists:
    /// its scope, for adding operators with [`Store::add_member`].
    pub async fn provision_operators(&self, actor: Actor, origin: Origin) -> Result<TenantScope, StoreError> {
        match self
            .create_organisation_as(OrgId::operators(), "Quire platform operators", actor, origin)
            .await
        {
            Err(StoreError::AlreadyExists) => Ok(TenantScope::new(OrgId::operators())),
            made => made,
        }
    }

    async fn create_organisation_as(
        &self,
        org_id: OrgId,
        name: &str,
        actor: Actor,
        origin: Origin,
    ) -> Result<TenantScope, StoreError> {
        let scope = TenantScope::new(org_id.clone());
        let record = Organisation::new(org_id.clone(), name, OrgStatus::Active);
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

    /// An active organisation's record as DynamoDB would hold it, with `attribute` set to
    /// `value` if given: read as the store reads it (it must stay readable).
    fn stored_with(attribute: &str, value: Option<aws_sdk_dynamodb::types::AttributeValue>) -> Organisation {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        let mut item: crate::Item = [
            ("orgId", A::S("acme".into())),
            ("name", A::S("Acme".into())),
            ("status", A::S("Active".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(value) = value {
            item.insert(attribute.to_owned(), value);
        }
        crate::from_item(item).expect("readable")
    }

    /// A trial's edges, to the millisecond: open before its end, read-only from it, locked
    /// from 14 days later; a trial without a readable end is locked; the other statuses mean
    /// what they say whatever the time.
    ///
    /// Proves: ORG-1
    #[test]
    fn a_trial_ends_read_only_and_locks_fourteen_days_later() {
        use std::time::{Duration, UNIX_EPOCH};
        let end_ms = 1_800_000_000_000u64;
        let end = UNIX_EPOCH + Duration::from_millis(end_ms);
        let ms = Duration::from_millis(1);
        let mut org = Organisation::new(OrgId::parse("acme").unwrap(), "Acme", OrgStatus::Trial);
        org.trial_ends_at = Some(end_ms);
        let locks_at = end + TRIAL_GRACE;
        assert_eq!(org.lifecycle(end - ms), Lifecycle::Trial { ends_at: end });
        assert_eq!(org.lifecycle(end), Lifecycle::TrialEnded { locks_at });
        assert_eq!(org.lifecycle(locks_at - ms), Lifecycle::TrialEnded { locks_at });
        assert_eq!(org.lifecycle(locks_at), Lifecycle::Locked);
        org.trial_ends_at = None;
        assert_eq!(org.lifecycle(UNIX_EPOCH), Lifecycle::Locked);
        let stored: Organisation = serde_json::from_value(serde_json::json!({
            "orgId": "acme", "name": "Acme", "status": "Trial", "trialEndsAt": "tomorrow",
        }))
        .expect("readable");
        assert_eq!(stored.lifecycle(UNIX_EPOCH), Lifecycle::Locked);
        // Past what RFC 3339 can write (the account page shows the end): unreadable, locked.
        for (ends, readable) in [
            (253_402_300_799_999u64, true),
            (253_402_300_800_000, false),
            (u64::MAX, false),
        ] {
            let stored: Organisation = serde_json::from_value(serde_json::json!({
                "orgId": "acme", "name": "Acme", "status": "Trial", "trialEndsAt": ends,
            }))
            .expect("readable");
            assert_eq!(stored.trial_ends_at.is_some(), readable, "{ends}");
        }
        // A version that is not a whole number reads as 0: readable, and no change can name it.
        for (version, read) in [
            (serde_json::json!(7), 7),
            (serde_json::json!("7"), 0),
            (serde_json::json!(-1), 0),
        ] {
            let stored: Organisation = serde_json::from_value(serde_json::json!({
                "orgId": "acme", "name": "Acme", "status": "Active", "version": version,
            }))
            .expect("readable");
            assert_eq!(stored.version, read);
        }
        for (status, lifecycle) in [
            (OrgStatus::Pending, Lifecycle::Pending),
            (OrgStatus::Active, Lifecycle::Active),
            (OrgStatus::Suspended, Lifecycle::Suspended),
            (OrgStatus::Closed, Lifecycle::Closed),
        ] {
            let mut org = org.clone();
            org.status = status;
            org.trial_ends_at = Some(end_ms);
            assert_eq!(org.lifecycle(locks_at + ms), lifecycle);
        }
        assert!(Lifecycle::Suspended.read_only() && Lifecycle::TrialEnded { locks_at }.read_only());
        assert!(!Lifecycle::Locked.read_only() && !Lifecycle::Active.read_only());
        assert!(!Lifecycle::Closed.admits_members() && Lifecycle::Locked.admits_members());
    }

    /// A stored matrix that does not read grants Admin, User and Viewer nothing (the Owner's
    /// grants are fixed), and leaves the organisation readable; an unknown permission name is
    /// dropped; an absent matrix is the default.
    ///
    /// Proves: RBAC-1
    #[test]
    fn a_bad_stored_matrix_is_readable_and_grants_nothing() {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        use quire_core::rbac::Permission::*;
        let read = |value: Option<A>| stored_with("rolePermissions", value).matrix();
        let map = |entries: Vec<(&str, A)>| A::M(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let names = |names: &[&str]| A::L(names.iter().map(|n| A::S((*n).into())).collect());
        assert_eq!(read(None), Matrix::default());
        let stored = read(Some(map(vec![("User", names(&["DocumentRead", "Teleport"]))])));
        assert_eq!(stored.permissions(Role::User), [DocumentRead]);
        assert_eq!(stored.permissions(Role::Admin), Role::Admin.permissions());
        for bad in [
            A::Null(true),
            A::S("User".into()),
            A::N("1".into()),
            A::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1])),
            A::L(vec![A::S("DocumentRead".into())]),
            map(vec![("User", A::S("DocumentRead".into()))]),
            map(vec![("User", A::L(vec![A::N("1".into())]))]),
            map(vec![("User", A::L(vec![map(vec![("DocumentRead", A::Null(true))])]))]),
            map(vec![("user", names(&["DocumentRead"]))]),
            map(vec![("Owner", names(&["DocumentRead"]))]),
            map(vec![("User", A::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1])))]),
        ] {
            let matrix = read(Some(bad.clone()));
            for role in [Role::Admin, Role::User, Role::Viewer] {
                assert!(matrix.permissions(role).is_empty(), "{bad:?}: {role:?}");
            }
            assert_eq!(matrix.permissions(Role::Owner), Role::Owner.permissions(), "{bad:?}");
        }
    }

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
            let org = stored_with("ipAllowlist", value);
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

    /// A plan reads whatever was stored: absent is an active subscription with every module (a
    /// record from before plans); anything else that is not what the operators write is a
    /// suspended subscription, and a plan of the platform's routes only.
    ///
    /// Proves: ORG-1, ORG-2
    #[test]
    fn a_plan_that_does_not_read_is_suspended_and_holds_no_module() {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        let absent = stored_with("subscription", None).plan();
        assert!(!absent.subscription_suspended() && absent.includes("Audit"));
        assert!(!stored_with("subscription", Some(A::S("Active".into())))
            .plan()
            .subscription_suspended());
        let listed = stored_with("modules", Some(A::L(vec![A::S("Documents".into())]))).plan();
        assert!(listed.includes("Documents") && !listed.includes("Audit") && listed.includes("Platform"));
        let odd = [
            A::Null(true),
            A::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1, 2])),
            A::N("1".into()),
            A::S(String::new()),
            A::S("active".into()),
            A::M([("a".to_owned(), A::S("b".into()))].into_iter().collect()),
        ];
        for bad in odd.clone() {
            assert!(
                stored_with("subscription", Some(bad.clone()))
                    .plan()
                    .subscription_suspended(),
                "{bad:?}"
            );
        }
        for bad in odd
            .into_iter()
            .chain([A::L(vec![A::N("1".into())]), A::S("Documents".into())])
        {
            let plan = stored_with("modules", Some(bad.clone())).plan();
            assert!(!plan.includes("Documents") && !plan.includes("Audit"), "{bad:?}");
            assert!(plan.includes("Platform"), "{bad:?}");
        }
    }

    /// SSO-only as stored: absent or `false` is off; anything else, `true` or damaged, is on
    /// (a password is refused: fails closed).
    ///
    /// Proves: AUTHN-10
    #[test]
    fn sso_only_that_does_not_read_is_on() {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        assert!(!stored_with("ssoOnly", None).sso_only());
        assert!(!stored_with("ssoOnly", Some(A::Bool(false))).sso_only());
        for on in [A::Bool(true), A::S("false".into()), A::N("0".into()), A::Null(true)] {
            assert!(stored_with("ssoOnly", Some(on.clone())).sso_only(), "{on:?}");
        }
        let damaged = stored_with("identityProvider", Some(A::S("x".into())));
        assert!(damaged.identity_provider().is_none());
    }

    /// Write impersonation is open only when the record says exactly `true` (RBAC-5).
    ///
    /// Proves: RBAC-5
    #[test]
    fn impersonation_writes_only_when_stored_true() {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        assert!(stored_with("impersonationWrites", Some(A::Bool(true))).impersonation_writes());
        for off in [A::Bool(false), A::S("true".into()), A::N("1".into()), A::Null(true)] {
            assert!(
                !stored_with("impersonationWrites", Some(off.clone())).impersonation_writes(),
                "{off:?}"
            );
        }
        assert!(!stored_with("impersonationWrites", None).impersonation_writes());
    }
}
