//! For tests only (feature `testing`): a tenant scope for any organisation, and the raw keys of
//! the items tests read or tamper with as an attacker with database access would. Tests build
//! no key themselves (a guardrail test checks it); they ask here, so a change of key layout
//! changes one place.

use crate::keys::{self, Collection};
use crate::tenant::TenantScope;
use quire_core::ids::{OrgId, UserId};

/// A scope for `org`, as if a member of it were calling.
pub fn scope(org: &OrgId) -> TenantScope {
    TenantScope::new(org.clone())
}

/// `(pk, sk)` of an item.
pub type RawKey = (String, String);

fn raw(key: keys::Key) -> RawKey {
    (key.pk, key.sk)
}

/// The partition of the organisation's outbox (data table).
pub fn outbox_partition(org: &OrgId) -> String {
    keys::outbox_partition(org)
}

/// The partition of the organisation's attachments (data table).
pub fn attachments_partition(org: &OrgId) -> String {
    keys::collection(&scope(org), Collection::Attachments)
}

/// An attachment record (data table).
pub fn attachment(org: &OrgId, id: &str) -> RawKey {
    raw(keys::record(&scope(org), Collection::Attachments, id))
}

/// The attempt count of a subject (data table, `crate::attempts`).
pub fn attempts(subject: &crate::attempts::Subject) -> RawKey {
    raw(keys::attempts(subject))
}

/// An outbox item (data table).
pub fn outbox(org: &OrgId, event_id: &str) -> RawKey {
    raw(keys::outbox(org, event_id))
}

/// Entry `seq` of the organisation's chain (audit table).
pub fn chain_entry(org: &OrgId, seq: u64) -> RawKey {
    raw(keys::chain_entry(org, seq))
}

/// `(attribute, value)` that puts an entry in one target's history (the audit table's
/// `ByTarget` index).
pub fn target_index(org: &OrgId, target_type: &str, target_id: &str) -> (&'static str, String) {
    (
        keys::TARGET_ATTRIBUTE,
        keys::target_entries(org, target_type, target_id),
    )
}

/// The head of the organisation's chain (audit table).
pub fn chain_head(org: &OrgId) -> RawKey {
    raw(keys::chain_head(org))
}

/// An audit blob (data table).
pub fn blob(org: &OrgId, sha256: &str) -> RawKey {
    raw(keys::blob(org, sha256))
}

/// The organisation item (data table).
pub fn organisation(org: &OrgId) -> RawKey {
    raw(keys::organisation(org))
}

/// An organisation's invitation (`crate::invitations`).
pub fn invitation(org: &OrgId, id: &quire_core::invitation::InvitationId) -> RawKey {
    raw(keys::invitation(org, id))
}

/// A membership item (data table).
pub fn member(org: &OrgId, user: &UserId) -> RawKey {
    raw(keys::member(org, user))
}

/// The impersonation `user` started in their session `session` (data table).
pub fn impersonation(org: &OrgId, user: &UserId, session: &str) -> RawKey {
    raw(keys::impersonation(org, user, session))
}

/// A document record (data table).
pub fn document(org: &OrgId, id: &str) -> RawKey {
    raw(keys::record(&scope(org), Collection::Documents, id))
}

/// Version `number` of the document `id` (data table).
pub fn document_version(org: &OrgId, id: &str, number: u32) -> RawKey {
    raw(keys::record(
        &scope(org),
        Collection::DocumentVersions,
        &format!("{id}#{number:06}"),
    ))
}

/// The counter of the document number prefix `prefix` (data table).
pub fn number_counter(org: &OrgId, prefix: &str) -> RawKey {
    raw(keys::number_counter(&scope(org), prefix))
}

/// Signature `signature` of version `number` of the document `id` (data table).
pub fn document_signature(org: &OrgId, id: &str, number: u32, signature: &str) -> RawKey {
    raw(keys::record(
        &scope(org),
        Collection::DocumentSignatures,
        &format!("{id}#{number:06}#{signature}"),
    ))
}

/// The remembered idempotency key `key` of `user` (data table).
pub fn idempotency(org: &OrgId, user: &UserId, key: &str) -> RawKey {
    let key = crate::idempotency::IdempotencyKey::parse(key).expect("a valid idempotency key");
    raw(keys::idempotency(&scope(org), user, &key.digest()))
}

/// What every key of every tenant's partitions starts with: for tests that check no response
/// leaks a key.
pub const TENANT_KEY_PREFIX: &str = keys::TENANT_PREFIX;

/// A caller of `org` with `role`, as the tenant layer would resolve one.
pub fn caller(org: &OrgId, user: &UserId, role: quire_core::rbac::Role) -> crate::tenant::Caller {
    crate::tenant::Caller::new(
        user.clone(),
        format!("{user}@test"),
        user.to_string(),
        role,
        org.clone(),
        crate::testing_session("test-session"),
        Some(std::time::SystemTime::now()),
        Default::default(),
        crate::directory::Lifecycle::Active,
        Default::default(),
        Default::default(),
    )
}

/// When `user`'s password was set (data table): what a test moves ninety days back.
pub fn password(org: &OrgId, user: &UserId) -> RawKey {
    raw(keys::password(org, user))
}

/// When `user` enrolled their authenticator (data table).
pub fn mfa(org: &OrgId, user: &UserId) -> RawKey {
    raw(keys::mfa(org, user))
}

/// The break-glass session `operator` opened into `org` in their session `session` (data table).
pub fn break_glass(org: &OrgId, operator: &UserId, session: &str) -> RawKey {
    raw(keys::break_glass(org, operator, session))
}

/// The session `id` of `user` (data table): what a test moves past its end.
pub fn session(org: &OrgId, user: &UserId, id: &str) -> RawKey {
    raw(keys::session(org, user, id))
}

/// An item of the organisation's chain partition (audit table) under the entry key prefix
/// followed by `rest`: what a forger would add beside the real entries.
pub fn chain_item(org: &OrgId, rest: &str) -> RawKey {
    (
        keys::chain_partition(org),
        format!("{}{rest}", keys::CHAIN_ENTRY_PREFIX),
    )
}
