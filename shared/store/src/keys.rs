//! The only place DynamoDB keys are built (TEN-2). Tenant keys start with `ORG#<orgId>`; ids
//! cannot contain `#` (see [`quire_core::ids`]), so no id can reach into another partition.

use crate::tenant::TenantScope;
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::ids::{AttachmentId, ExportId, OrgId, UserId};
use std::collections::HashMap;

/// Kinds of tenant records stored by the generic record operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// Controlled documents: one record each, the summary of its versions.
    Documents,
    /// A document's versions (their content, status and route), by `<documentId>#<version>`.
    DocumentVersions,
    /// Electronic signatures of versions (never changed once written), by
    /// `<documentId>#<version>#<signatureId>`.
    DocumentSignatures,
    /// Full re-walks of the audit chain (`store::VerificationJob`).
    Verifications,
    /// Files attached to a document's version, by attachment id: what was declared, what
    /// ingest found, where it stands (pending, accepted, rejected).
    Attachments,
}

impl Collection {
    fn tag(self) -> &'static str {
        match self {
            Collection::Documents => "DOC",
            Collection::DocumentVersions => "DOCVERSION",
            Collection::DocumentSignatures => "DOCSIGNATURE",
            Collection::Verifications => "VERIFICATION",
            Collection::Attachments => "ATTACHMENT",
        }
    }

    /// What its items are (the `kind` attribute stream filters select on).
    pub fn kind(self) -> &'static str {
        match self {
            Collection::Documents => "document",
            Collection::DocumentVersions => "document-version",
            Collection::DocumentSignatures => "document-signature",
            Collection::Verifications => "audit-verification",
            Collection::Attachments => "attachment",
        }
    }

    /// The audit `target.type` of its records' events: a version's are its document's, so
    /// a document's history is the entries of one target.
    pub fn target_type(self) -> &'static str {
        match self {
            Collection::Documents
            | Collection::DocumentVersions
            | Collection::DocumentSignatures
            | Collection::Attachments => "document",
            Collection::Verifications => "audit-verification",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub(crate) fn new(pk: String, sk: impl Into<String>) -> Self {
        Key { pk, sk: sk.into() }
    }

    pub fn to_map(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(self.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(self.sk.clone())),
        ])
    }

    /// Platform items outside every tenant that a tenant's transaction may write beside its
    /// records: the user directory (a `sub` → its organisation) and the account directory (an
    /// email's digest → its user and organisation).
    pub fn is_platform(&self) -> bool {
        self.pk.starts_with("USER#") || self.pk.starts_with("ACCOUNT#")
    }

    /// A join awaiting confirmation (`pending_join`): written beside the platform's own trail
    /// only, never a tenant's.
    pub fn is_pending_join(&self) -> bool {
        self.pk.starts_with("JOIN#")
    }

    pub fn from_map(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        Some(Key {
            pk: item.get("pk")?.as_s().ok()?.clone(),
            sk: item.get("sk")?.as_s().ok()?.clone(),
        })
    }
}

/// What every key of a tenant's partitions starts with.
pub(crate) const TENANT_PREFIX: &str = "ORG#";

fn tenant(org: &OrgId) -> String {
    format!("{TENANT_PREFIX}{org}")
}

/// The organisation itself (name, status). A partition of its own, so that IAM can grant reading
/// it (`ORG#*#PROFILE`) without every partition of the organisation.
pub(crate) fn organisation(org: &OrgId) -> Key {
    Key::new(format!("{}#PROFILE", tenant(org)), "ORG")
}

/// A registration awaiting its Owner's confirmation (`crate::registration`): when it was made
/// and its password verifier. A partition of its own, so that IAM grants it to the registration
/// function alone.
pub(crate) fn registration(org: &OrgId) -> Key {
    Key::new(format!("{}#REGISTRATION", tenant(org)), "REGISTRATION")
}

/// An organisation's invitation (`crate::invitations`).
pub(crate) fn invitation(org: &OrgId, id: &quire_core::invitation::InvitationId) -> Key {
    Key::new(invitations(org), id.as_str())
}

/// The partition of an organisation's invitations, one item per invitation by id.
pub(crate) fn invitations(org: &OrgId) -> String {
    format!("{}#INVITATION", tenant(org))
}

pub(crate) fn member(org: &OrgId, user: &UserId) -> Key {
    Key::new(members(org), user.as_str())
}

/// The partition of an organisation's memberships, one item per member by user id.
pub(crate) fn members(org: &OrgId) -> String {
    format!("{}#MEMBER", tenant(org))
}

/// A member's sign-in state (`crate::sessions`, `crate::passwords`): one partition per member,
/// holding a session per sign-in,
/// named by Cognito's `origin_jti` (letters, digits and `-`: it cannot reach another key).
pub(crate) fn session(org: &OrgId, user: &UserId, id: &str) -> Key {
    Key::new(format!("{}#SESSION#{user}", tenant(org)), format!("S#{id}"))
}

/// When a member's password was last set (`crate::passwords`), beside their sessions: read in
/// the same `BatchGetItem`.
pub(crate) fn password(org: &OrgId, user: &UserId) -> Key {
    Key::new(format!("{}#SESSION#{user}", tenant(org)), "PASSWORD")
}

/// When a member enrolled their authenticator (`crate::mfa`), beside their sessions: read in the
/// same `BatchGetItem`.
pub(crate) fn mfa(org: &OrgId, user: &UserId) -> Key {
    Key::new(format!("{}#SESSION#{user}", tenant(org)), "MFA")
}

/// A sign-in waiting for its second factor (`crate::challenges`), beside the member's sessions,
/// named by the SHA-256 (base64url) of Cognito's challenge session: the session itself, a
/// bearer credential for the challenge, is never stored.
pub(crate) fn challenge(org: &OrgId, user: &UserId, digest: &str) -> Key {
    Key::new(format!("{}#SESSION#{user}", tenant(org)), format!("CHALLENGE#{digest}"))
}

/// The impersonation an administrator started in one of their sessions (`crate::impersonation`),
/// beside their sessions, named by the session's id: at most one per session.
pub(crate) fn impersonation(org: &OrgId, user: &UserId, session: &str) -> Key {
    Key::new(
        format!("{}#SESSION#{user}", tenant(org)),
        format!("IMPERSONATION#{session}"),
    )
}

/// A platform operator's break-glass session into an organisation (`crate::break_glass`), in the
/// organisation's own partition, named by the operator and the session it was opened in.
pub(crate) fn break_glass(org: &OrgId, operator: &UserId, session: &str) -> Key {
    Key::new(format!("{}#BREAK-GLASS", tenant(org)), format!("{operator}#{session}"))
}

/// A member's revocation mark: every session started until its time is revoked.
pub(crate) fn revocation(org: &OrgId, user: &UserId) -> Key {
    Key::new(format!("{}#SESSION#{user}", tenant(org)), "REVOKED")
}

/// The attempts counted against one subject (`crate::attempts`), outside every tenant: the
/// subject is named by a digest, never in clear.
pub(crate) fn attempts(subject: &crate::attempts::Subject) -> Key {
    Key::new(format!("ATTEMPTS#{}", subject.key_part()), "COUNT")
}

/// A join awaiting its email's confirmation (`crate::invitations`), outside every tenant, by
/// the email's digest (`Subject::account`): the organisation sees a join only once confirmed.
pub(crate) fn pending_join(subject: &crate::attempts::Subject) -> Key {
    Key::new(format!("JOIN#{}", subject.key_part()), "JOIN")
}

/// The account directory: which user and organisation a sign-in email names, by the email's
/// digest (`Subject::account`), so that an identity event about an email reaches the trail of the
/// account's organisation without the email in clear in a key.
pub(crate) fn account(subject: &crate::attempts::Subject) -> Key {
    Key::new(format!("ACCOUNT#{}", subject.key_part()), "ACCOUNT")
}

/// One window of a rate limit for one subject (`crate::limits`): the window's start, in seconds
/// since the epoch, is the sort key, so each window counts from zero.
pub(crate) fn limit_window(limit: &str, subject: &crate::attempts::Subject, start: u64) -> Key {
    Key::new(format!("LIMIT#{limit}#{}", subject.key_part()), format!("{start:012}"))
}

/// Which member a refresh token was issued to (`crate::sessions`), outside every tenant, named by
/// the token's SHA-256 (base64url): a refresh request names only the token, and Cognito wants
/// the member's username in its `SECRET_HASH`.
pub(crate) fn refresh_token(digest: &str) -> Key {
    Key::new(format!("REFRESH#{digest}"), "OWNER")
}

/// The user directory: which organisation a Cognito `sub` belongs to. Keyed by the user because
/// that is all a token tells us; it holds no tenant data beyond the organisation id.
pub(crate) fn user(user: &UserId) -> Key {
    Key::new(format!("USER#{user}"), "USER")
}

pub(crate) fn collection(scope: &TenantScope, collection: Collection) -> String {
    format!("{}#{}", tenant(scope.org_id()), collection.tag())
}

pub(crate) fn record(scope: &TenantScope, coll: Collection, id: &str) -> Key {
    Key::new(collection(scope, coll), id)
}

/// The organisation and record id a stream record of a collection's item names.
pub(crate) fn record_of(coll: Collection, key: &Key) -> Option<(OrgId, String)> {
    let org = key
        .pk
        .strip_prefix(TENANT_PREFIX)?
        .strip_suffix(&format!("#{}", coll.tag()))?;
    Some((OrgId::parse(org).ok()?, key.sk.clone()))
}

/// The data table's indexes a record may be listed by (template.yaml `DataTable`'s
/// `DocumentsBy*`), so that a filtered listing is a query, never a scan. Each partitions one
/// tenant's records by one value; a record names its values ([`crate::Record::listed_by`]) and
/// the store writes the index attributes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// By the latest version's state (`draft`, `effective`, …), newest document first.
    DocumentStatus,
    /// By type key (`sop`), newest first.
    DocumentType,
    /// By owner (user id), newest first.
    DocumentOwner,
    /// Effective documents by the day their periodic review is due (`YYYY-MM-DD`), soonest first.
    DocumentReviewDue,
}

impl Index {
    pub(crate) const ALL: [Index; 4] = [
        Index::DocumentStatus,
        Index::DocumentType,
        Index::DocumentOwner,
        Index::DocumentReviewDue,
    ];

    /// Its name in template.yaml.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Index::DocumentStatus => "DocumentsByStatus",
            Index::DocumentType => "DocumentsByType",
            Index::DocumentOwner => "DocumentsByOwner",
            Index::DocumentReviewDue => "DocumentsByReviewDue",
        }
    }

    /// The attribute holding a record's partition of the index.
    pub(crate) fn partition_attribute(self) -> &'static str {
        match self {
            Index::DocumentStatus => "byStatus",
            Index::DocumentType => "byType",
            Index::DocumentOwner => "byOwner",
            Index::DocumentReviewDue => "byReview",
        }
    }

    /// The attribute the index sorts by: the record's id, or for review dates the day and the
    /// id (`<YYYY-MM-DD>#<id>`, so that days sort and records of one day stay apart).
    pub(crate) fn sort_attribute(self) -> &'static str {
        match self {
            Index::DocumentReviewDue => "reviewKey",
            _ => "sk",
        }
    }

    /// The partition of records listed by `value` (by review date: one per tenant, the day goes
    /// in the sort key).
    pub(crate) fn partition(self, scope: &TenantScope, value: &str) -> String {
        let base = collection(scope, Collection::Documents);
        match self {
            Index::DocumentStatus => format!("{base}#STATUS#{value}"),
            Index::DocumentType => format!("{base}#TYPE#{value}"),
            Index::DocumentOwner => format!("{base}#OWNER#{value}"),
            Index::DocumentReviewDue => format!("{base}#REVIEW"),
        }
    }

    /// The index attributes of a record with id `id` listed by `value`.
    pub(crate) fn attributes(self, scope: &TenantScope, value: &str, id: &str) -> Vec<(&'static str, String)> {
        let mut attributes = vec![(self.partition_attribute(), self.partition(scope, value))];
        if self == Index::DocumentReviewDue {
            attributes.push((self.sort_attribute(), format!("{value}#{id}")));
        }
        attributes
    }

    /// Every attribute any index adds to an item: what a reader of records leaves out.
    pub(crate) fn all_attributes() -> impl Iterator<Item = &'static str> {
        Index::ALL
            .into_iter()
            .flat_map(|i| [i.partition_attribute(), i.sort_attribute()])
            .filter(|a| *a != "sk")
    }
}

/// The counter of a document number prefix (`crate::numbering`): the last number it gave.
pub(crate) fn number_counter(scope: &TenantScope, prefix: &str) -> Key {
    Key::new(format!("{}#NUMBER", tenant(scope.org_id())), prefix)
}

/// The claim of one document number (`SOP-0001`) by the record that holds it, beside the
/// counters: a number has a `-`, a prefix none, so no claim is a counter.
pub(crate) fn number_claim(scope: &TenantScope, number: &str) -> Key {
    Key::new(format!("{}#NUMBER", tenant(scope.org_id())), number)
}

/// The last link of the chain a full verification found valid (where the quick check starts).
pub(crate) fn verified(org: &OrgId) -> Key {
    Key::new(format!("{}#VERIFIED", tenant(org)), "THROUGH")
}

/// Which verification job of the organisation is active (one at a time).
pub(crate) fn verification_lock(org: &OrgId) -> Key {
    Key::new(format!("{}#VERIFYING", tenant(org)), "LOCK")
}

/// An idempotency key of a user (`crate::idempotency`), by its digest.
pub(crate) fn idempotency(scope: &TenantScope, user: &UserId, digest: &str) -> Key {
    Key::new(
        format!("{}#IDEMPOTENCY", tenant(scope.org_id())),
        format!("{user}#{digest}"),
    )
}

pub(crate) fn outbox_partition(org: &OrgId) -> String {
    format!("{}#OUTBOX", tenant(org))
}

pub(crate) fn outbox(org: &OrgId, event_id: &str) -> Key {
    Key::new(outbox_partition(org), event_id)
}

#[cfg(feature = "chain-writer")]
/// The sparse index over outbox items by age (template.yaml: `DataTable`'s `OutboxByAge`),
/// partitioned by a shard attribute and sorted by the event id, which starts with its time.
pub const OUTBOX_INDEX: &str = "OutboxByAge";
pub const OUTBOX_SHARD_ATTRIBUTE: &str = "outboxShard";
/// Shards of the index: the first hex digit of the event id's random part, so writes spread.
pub const OUTBOX_SHARDS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

/// The index shard of an event id (`<13 digits>-<uuid>`).
pub(crate) fn outbox_shard(event_id: &str) -> String {
    event_id
        .chars()
        .nth(14)
        .filter(|c| OUTBOX_SHARDS.contains(c))
        .unwrap_or('0')
        .to_string()
}

#[cfg(feature = "chain-writer")]
/// The organisation an outbox partition key belongs to (for stream records).
pub(crate) fn org_of_outbox(pk: &str) -> Option<OrgId> {
    OrgId::parse(pk.strip_prefix(TENANT_PREFIX)?.strip_suffix("#OUTBOX")?).ok()
}

/// Audit blobs (long values of entries), by the SHA-256 of their content.
pub(crate) fn blob(org: &OrgId, sha256: &str) -> Key {
    Key::new(format!("{}#BLOB", tenant(org)), sha256)
}

#[cfg(feature = "chain-writer")]
/// Outbox items the writer could not append, with the reason (never in the outbox partition,
/// so they block nothing).
pub(crate) fn quarantine(org: &OrgId, event_id: &str) -> Key {
    Key::new(format!("{}#QUARANTINE", tenant(org)), event_id)
}

/// True for keys of the organisation's own partitions (`ORG#<orgId>` and `ORG#<orgId>#…`).
pub(crate) fn belongs_to(key: &Key, org: &OrgId) -> bool {
    let own = tenant(org);
    key.pk == own
        || key
            .pk
            .strip_prefix(own.as_str())
            .is_some_and(|rest| rest.starts_with('#'))
}

pub(crate) fn chain_partition(org: &OrgId) -> String {
    format!("{}#AUDIT", tenant(org))
}

pub(crate) const CHAIN_ENTRY_PREFIX: &str = "ENTRY#";
/// Sorts after every key that starts with [`CHAIN_ENTRY_PREFIX`] (`$` follows `#`) and before
/// the head's.
pub(crate) const CHAIN_ENTRY_END: &str = "ENTRY$";

/// Zero-padded so that the sort key orders entries by sequence number.
pub(crate) fn chain_entry(org: &OrgId, seq: u64) -> Key {
    Key::new(chain_partition(org), format!("{CHAIN_ENTRY_PREFIX}{seq:020}"))
}

/// The sequence number a chain entry's sort key names.
/// The sequence number a chain entry's sort key names, if it is exactly an entry key (the
/// prefix and 20 digits): any other text under the prefix is not an entry.
pub(crate) fn entry_seq(sk: &str) -> Option<u64> {
    let digits = sk.strip_prefix(CHAIN_ENTRY_PREFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The audit table's index of entries by target (template.yaml `AuditTable`'s `ByTarget`).
pub(crate) const TARGET_INDEX: &str = "ByTarget";
pub(crate) const TARGET_ATTRIBUTE: &str = "targetKey";

/// The index partition of one target's entries: its organisation, type and id.
pub(crate) fn target_entries(org: &OrgId, target_type: &str, target_id: &str) -> String {
    format!("{}#TARGET#{target_type}#{target_id}", tenant(org))
}

pub(crate) fn chain_head(org: &OrgId) -> Key {
    Key::new(chain_partition(org), "HEAD")
}

/// Platform item: the KMS-wrapped key that seals pagination cursors.
pub(crate) fn cursor_key() -> Key {
    Key::new("SYSTEM".to_owned(), "CURSOR_KEY")
}

/// Where a presigned upload of attachment `id` lands, `quarantine/<orgId>/<attachmentId>`,
/// until ingest checks it (the bucket's lifecycle removes anything left there after a day).
pub fn quarantine_object(scope: &TenantScope, id: &AttachmentId) -> String {
    format!("{QUARANTINE_PREFIX}{}/{}", scope.org_id(), id.as_str())
}

/// The prefix of every upload's object.
pub const QUARANTINE_PREFIX: &str = "quarantine/";

/// The tenant and attachment an upload's object key names (the inverse of
/// [`quarantine_object`]): `None` for any other key. The key is trusted as far as it goes: only
/// a presigned URL Quire gave a member of that tenant writes there, and the attachment must
/// still be found in that tenant's partition (a key naming another tenant finds nothing).
pub fn upload_of(key: &str) -> Option<(TenantScope, AttachmentId)> {
    let rest = key.strip_prefix(QUARANTINE_PREFIX)?;
    let (org, id) = rest.split_once('/')?;
    if id.contains('/') {
        return None;
    }
    let org = OrgId::parse(org).ok()?;
    let id = AttachmentId::parse(id).ok()?;
    let scope = TenantScope::new(org);
    (quarantine_object(&scope, &id) == key).then_some((scope, id))
}

/// An S3 object of one tenant (TEN-4): its key, `tenants/<orgId>/attachments/<attachmentId>` or
/// `tenants/<orgId>/exports/<exportId>`, built from the same ids that build its KMS encryption
/// context, which it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    org: OrgId,
    kind: ObjectKind,
    id: String,
    key: String,
}

/// What an object of a tenant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Attachment,
    Export,
}

impl ObjectKey {
    /// An attachment's object, in the scope's tenant.
    pub fn attachment(scope: &TenantScope, id: &AttachmentId) -> Self {
        Self::new(scope.org_id(), ObjectKind::Attachment, id.as_str())
    }

    /// An export's object, in the scope's tenant.
    pub fn export(scope: &TenantScope, id: &ExportId) -> Self {
        Self::new(scope.org_id(), ObjectKind::Export, id.as_str())
    }

    fn new(org: &OrgId, kind: ObjectKind, id: &str) -> Self {
        let folder = match kind {
            ObjectKind::Attachment => "attachments",
            ObjectKind::Export => "exports",
        };
        ObjectKey {
            org: org.clone(),
            kind,
            id: id.to_owned(),
            key: format!("tenants/{org}/{folder}/{id}"),
        }
    }

    /// The S3 key.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    pub fn org_id(&self) -> &OrgId {
        &self.org
    }

    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// The attachment or export id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_name_their_tenant_and_attachment_and_nothing_else() {
        let org = OrgId::parse("o1").unwrap();
        let scope = TenantScope::new(org.clone());
        let id = AttachmentId::parse("0190aaaa-0000-7000-8000-000000000001").unwrap();
        let key = quarantine_object(&scope, &id);
        assert_eq!(key, "quarantine/o1/0190aaaa-0000-7000-8000-000000000001");
        let (found, found_id) = upload_of(&key).expect("its own key");
        assert_eq!((found.org_id(), found_id.as_str()), (&org, id.as_str()));
        for other in [
            "quarantine/o1",
            "quarantine/o1/",
            "quarantine//x",
            "quarantine/o1/a/b",
            "quarantine/o1/../x",
            "tenants/o1/attachments/x",
            "Quarantine/o1/x",
            "quarantine/o 1/x",
        ] {
            assert!(upload_of(other).is_none(), "{other}");
        }
    }

    /// Proves: TEN-2
    #[test]
    fn tenant_keys_start_with_the_tenant() {
        let org = OrgId::parse("o1").unwrap();
        let scope = TenantScope::new(org.clone());
        for key in [
            organisation(&org),
            member(&org, &UserId::parse("u1").unwrap()),
            record(&scope, Collection::Documents, "d1"),
            outbox(&org, "e1"),
            chain_entry(&org, 7),
            chain_head(&org),
            blob(&org, "ab"),
            verified(&org),
            verification_lock(&org),
            idempotency(&scope, &UserId::parse("u1").unwrap(), "d"),
        ] {
            assert!(key.pk.starts_with("ORG#o1#") || key.pk == "ORG#o1", "{key:?}");
            assert!(belongs_to(&key, &org), "{key:?}");
            assert!(!belongs_to(&key, &OrgId::parse("o").unwrap()), "{key:?}");
        }
        assert!(!belongs_to(&user(&UserId::parse("u1").unwrap()), &org));
        assert_eq!(chain_entry(&org, 7).sk, "ENTRY#00000000000000000007");
        assert_eq!(entry_seq(&chain_entry(&org, 7).sk), Some(7));
        for not_an_entry in [
            "ENTRY#7",
            "ENTRY#0000000000000000000x",
            "ENTRY#99999999999999999999",
            "HEAD",
        ] {
            assert_eq!(entry_seq(not_an_entry), None, "{not_an_entry}");
        }
        let object = ObjectKey::attachment(&scope, &AttachmentId::parse("a1").unwrap());
        assert_eq!(object.as_str(), "tenants/o1/attachments/a1");
        assert_eq!((object.org_id(), object.id()), (&org, "a1"));
    }

    /// Proves: TEN-2
    #[cfg(feature = "chain-writer")]
    #[test]
    fn writer_keys_stay_in_the_tenant() {
        let org = OrgId::parse("o1").unwrap();
        assert!(belongs_to(&quarantine(&org, "e1"), &org));
        assert_eq!(org_of_outbox(&outbox(&org, "e").pk), Some(org));
        assert_eq!(org_of_outbox("ORG#o1#DOC"), None);
    }
}
