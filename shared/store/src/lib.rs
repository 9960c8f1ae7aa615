//! # quire-store — the storage seam
//!
//! Every DynamoDB call Quire makes goes through [`Store`]. Tenant data is reachable only with a
//! [`TenantScope`], which only this crate makes ([`tenant`]); each write commits its audit
//! outbox item in the same `TransactWriteItems` (AUD-1), so a change without its audit record
//! cannot commit.
//!
//! | you are looking for | module |
//! |---|---|
//! | the tenant scope, the caller | [`tenant`] |
//! | guarded attempts: lockout after consecutive failures, atomic under races | [`attempts`] |
//! | rate limits: windowed counters, atomic under races, one trip per window | [`limits`] |
//! | sign-in accounts: which trail (an organisation's or the platform's) an identity event goes to | [`accounts`] |
//! | sessions: started by a sign-in, checked on every request, refreshed, signed out, revoked | [`sessions`] |
//! | when each member's password was set (its expiry) | `passwords` |
//! | every DynamoDB key and S3 object key | `keys` (private; [`ObjectKey`] is public) |
//! | how a change is written with its audit event | `transaction` ([`Store::transaction`]) |
//! | organisations and memberships | `directory` |
//! | an organisation's settings, as its administrators change them | [`organisation`] |
//! | an organisation's members, as its administrators manage them (the last-Owner rule) | [`members`] |
//! | invitations and joining with a code (pending until the joiner confirms their email) | [`invitations`] |
//! | registering an organisation: pending until its Owner confirms their email | [`registration`] |
//! | reading a tenant's chain, its blobs | `audit_log` |
//! | the chain's append, quarantine, reconciler (feature `chain-writer`) | `writer` |
//! | verification: quick check and jobs | `verification` |
//! | pagination cursors (AES-256-GCM under a KMS data key) | `cursor` |
//! | DynamoDB's item and transaction limits | [`size`] |
//! | helpers for tests (feature `testing`) | `testing` |

pub mod accounts;
pub mod attempts;
mod audit_log;
pub mod break_glass;
pub mod challenges;
mod cursor;
mod directory;
pub mod idempotency;
pub mod impersonation;
pub mod invitations;
mod keys;
pub mod limits;
pub mod members;
mod mfa;
pub mod numbering;
pub mod organisation;
mod passwords;
pub mod registration;
pub mod sessions;
pub mod size;
pub mod tenant;
#[cfg(feature = "testing")]
pub mod testing;

// The test helpers make a tenant scope for any organisation: never in an optimised build.
#[cfg(all(feature = "testing", not(debug_assertions)))]
compile_error!("quire-store's `testing` feature is for tests and must not be enabled in a release build");
mod transaction;
mod verification;
#[cfg(feature = "chain-writer")]
mod writer;

pub use audit_log::{AuditPage, Listed, PAGE_BLOB_BYTES};
pub use directory::{
    CallerRefused, IdentityProvider, Lifecycle, MemberStatus, Membership, NewMember, OrgStatus, Organisation, Plan,
};
pub use keys::{quarantine_object, upload_of, Collection, Index, ObjectKey, ObjectKind, QUARANTINE_PREFIX};
pub use transaction::{AuditContext, Stored, Transaction};
pub use verification::{
    ChainCheck, JobStatus, Requested, Slice, SliceBudget, VerificationJob, Verified, QUICK_CHECK_ENTRIES,
    QUICK_CHECK_TIME,
};
#[cfg(feature = "chain-writer")]
pub use writer::{Reconciled, QUARANTINE_METRIC};

use crate::tenant::TenantScope;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cursor::CursorSealer;
use keys::Key;
use quire_core::audit::{AuditEvent, NotRecordable};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use tokio::sync::OnceCell;

type Item = HashMap<String, AttributeValue>;

/// A session of an hour from the epoch, for callers made in tests.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn testing_session(id: &str) -> sessions::Session {
    let at = std::time::UNIX_EPOCH;
    sessions::Session {
        id: sessions::SessionId::parse(id).expect("a session id"),
        started_at: at,
        idle_until: at + std::time::Duration::from_secs(3600),
        absolute_until: at + std::time::Duration::from_secs(3600),
        second_factor_at: None,
        refresh_digest: None,
    }
}

/// Now, in whole seconds since the Unix epoch: the unit of DynamoDB TTL attributes
/// (`expiresAt`).
pub(crate) fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Where the store's tables and key are: read once per cold start from the environment
/// template.yaml sets (`QUIRE_DATA_TABLE`, `QUIRE_AUDIT_TABLE`, `QUIRE_KMS_KEY_ID`).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_table: String,
    pub audit_table: String,
    /// The customer-managed key that wraps the pagination-cursor sealing key.
    pub kms_key_id: String,
}

/// An environment variable the configuration needs is missing or empty.
#[derive(Debug, thiserror::Error)]
#[error("missing environment variable {0}")]
pub struct MissingVariable(pub &'static str);

/// One variable of the environment, required and not empty.
pub fn env_var(name: &'static str) -> Result<String, MissingVariable> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(MissingVariable(name))
}

impl StoreConfig {
    pub fn from_env() -> Result<Self, MissingVariable> {
        Ok(StoreConfig {
            data_table: env_var("QUIRE_DATA_TABLE")?,
            audit_table: env_var("QUIRE_AUDIT_TABLE")?,
            kms_key_id: env_var("QUIRE_KMS_KEY_ID")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the item already exists")]
    AlreadyExists,
    #[error("the item changed since it was read")]
    Conflict,
    /// Another transaction on the same items was in flight, twice: nothing was written, and the
    /// same request may succeed when sent again (DynamoDB `TransactionConflict`).
    #[error("another transaction on the same items was in progress")]
    Contended,
    #[error("stored item is not readable: {0}")]
    Corrupt(String),
    /// The change cannot be recorded in the audit trail (refused before anything committed).
    #[error(transparent)]
    NotRecordable(#[from] NotRecordable),
    /// The change exceeds DynamoDB's item or transaction limits (refused before it was sent).
    #[error("the change is too large to store: {0}")]
    TooLarge(String),
    /// A pagination cursor that is not one this listing issued (forged, expired, another
    /// tenant's or another listing's).
    #[error("the cursor is not valid for this listing")]
    InvalidCursor,
    /// A verification slice ended before it verified a single entry (its deadline had passed).
    #[error("the verification slice made no progress before its deadline")]
    NoProgress,
    #[error("storage call failed: {0}")]
    Aws(String),
}

impl StoreError {
    fn aws(error: impl std::error::Error) -> Self {
        // The full source chain: SDK errors put the useful part in their sources.
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        StoreError::Aws(text)
    }
}

/// The answer to a stream batch whose records with these sequence numbers failed: Lambda
/// retries from the first of them (`ReportBatchItemFailures`).
pub fn batch_item_failures(failed: Vec<String>) -> aws_lambda_events::event::streams::DynamoDbEventResponse {
    let mut response = aws_lambda_events::event::streams::DynamoDbEventResponse::default();
    for sequence_number in failed {
        let mut failure = aws_lambda_events::event::streams::DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence_number);
        response.batch_item_failures.push(failure);
    }
    response
}

/// A tenant record kept by the generic operations below.
pub trait Record: Serialize + DeserializeOwned + Send + Sync {
    const COLLECTION: Collection;
    /// Its sort key in its collection's partition.
    fn id(&self) -> String;
    /// The audit `target.id` of its events: its id, unless it is part of another record (a
    /// document's version names its document).
    fn target_id(&self) -> String {
        self.id()
    }
    /// The indexes it is listed by, each with its value there (`(Index::DocumentStatus,
    /// "draft")`): none by default. Values must not contain `#`.
    fn listed_by(&self) -> Vec<(Index, String)> {
        Vec::new()
    }
    /// Incremented on every change; used for optimistic concurrency.
    fn version(&self) -> u64;
}

/// A query parameter a listing does not accept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidParameter {
    pub name: String,
    pub detail: String,
}

/// A page request from the query string: `limit` (1..=100, default 50) and an opaque `cursor`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: Option<i32>,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const MAX_LIMIT: i32 = 100;
    pub const DEFAULT_LIMIT: i32 = 50;

    /// Reads the query string's parameters (name, value): only `limit` and `cursor`, each at
    /// most once (a repeated one is refused, whichever value comes first), `limit` 1 to
    /// [`PageRequest::MAX_LIMIT`]. The error names the parameter and says what is wrong.
    pub fn parse<'q>(parameters: impl IntoIterator<Item = (&'q str, &'q str)>) -> Result<Self, InvalidParameter> {
        let invalid = |name: &str, detail: String| InvalidParameter {
            name: name.to_owned(),
            detail,
        };
        // Names first, so a repeated parameter is named as such whatever its values.
        let parameters: Vec<(&str, &str)> = parameters.into_iter().collect();
        let (mut limit, mut cursor) = (None, None);
        for (name, value) in &parameters {
            let slot = match *name {
                "limit" => &mut limit,
                "cursor" => &mut cursor,
                other => return Err(invalid(other, format!("unknown query parameter `{other}`"))),
            };
            if slot.replace(*value).is_some() {
                return Err(invalid(name, format!("`{name}` given more than once")));
            }
        }
        let limit = match limit {
            None => None,
            Some(text) => match text.parse::<i32>() {
                Ok(n) if (1..=Self::MAX_LIMIT).contains(&n) => Some(n),
                _ => {
                    return Err(invalid(
                        "limit",
                        format!("limit must be an integer from 1 to {}", Self::MAX_LIMIT),
                    ))
                }
            },
        };
        Ok(PageRequest {
            limit,
            cursor: cursor.map(str::to_owned),
        })
    }

    pub(crate) fn limit(&self) -> i32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT)
    }
}

/// A page of a listing, in the order the listing names.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page, `null` after the last.
    pub next: Option<String>,
}

pub struct Store {
    ddb: Client,
    kms: aws_sdk_kms::Client,
    data_table: String,
    audit_table: String,
    kms_key_id: String,
    cursor: OnceCell<CursorSealer>,
}

/// The attribute naming what a record item is (its collection's `target_type`, `outbox` for
/// outbox items): what stream filters in template.yaml select on.
pub(crate) const RECORD_KIND: &str = "kind";

/// 16 hex digits from the system's random source: the id of a record a session holds
/// (an impersonation, a break-glass session) in the trails.
pub(crate) fn random_id() -> Result<String, StoreError> {
    let bytes: [u8; 8] = aws_lc_rs::rand::generate(&aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| StoreError::Corrupt("no random bytes".into()))?
        .expose();
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The condition that a slot holding one record at a time is as read: empty, or at
/// `stored_version` (a writer that raced this one wrote first, and this write fails).
pub(crate) type SlotCondition = (
    &'static str,
    Vec<(&'static str, AttributeValue)>,
    Vec<(&'static str, &'static str)>,
);

pub(crate) fn slot_as_read(stored_version: Option<u64>) -> SlotCondition {
    match stored_version {
        None => ("attribute_not_exists(pk)", vec![], vec![]),
        Some(version) => (
            "#version = :expected",
            vec![(":expected", AttributeValue::N(version.to_string()))],
            vec![("#version", "version")],
        ),
    }
}

pub(crate) fn to_item<T: Serialize>(value: &T, key: &Key) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.extend(key.to_map());
    Ok(item)
}

/// A unit enum's value (a status, a role) as DynamoDB stores it: its serialised name, for a
/// condition on it.
pub(crate) fn name_value<T: Serialize>(value: T) -> Result<AttributeValue, StoreError> {
    match serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))? {
        serde_json::Value::String(text) => Ok(AttributeValue::S(text)),
        _ => Err(StoreError::Corrupt("a name is a string".into())),
    }
}

pub(crate) fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    item.remove("pk");
    item.remove("sk");
    item.remove(RECORD_KIND);
    item.remove(keys::TARGET_ATTRIBUTE);
    for attribute in keys::Index::all_attributes() {
        item.remove(attribute);
    }
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// On AWS: the configuration from the environment template.yaml sets, credentials and
    /// endpoints from the standard AWS variables (`AWS_ENDPOINT_URL` reaches an emulator). For
    /// functions that need nothing but the store (the audit writer and verifier).
    pub async fn from_env() -> Result<Self, MissingVariable> {
        let config = StoreConfig::from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Store::new(&sdk, &config))
    }

    pub fn new(sdk: &aws_config::SdkConfig, config: &StoreConfig) -> Self {
        Store {
            ddb: Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            data_table: config.data_table.clone(),
            audit_table: config.audit_table.clone(),
            kms_key_id: config.kms_key_id.clone(),
            cursor: OnceCell::new(),
        }
    }

    /// The outbox item of an event: written with the change, consumed by the audit writer.
    fn outbox_item(&self, key: &Key, event: &AuditEvent) -> Result<Item, StoreError> {
        let mut item = key.to_map();
        item.insert(RECORD_KIND.into(), AttributeValue::S("outbox".into()));
        item.insert(
            keys::OUTBOX_SHARD_ATTRIBUTE.into(),
            AttributeValue::S(keys::outbox_shard(&event.event_id)),
        );
        item.insert(
            "event".into(),
            AttributeValue::M(serde_dynamo::to_item(event).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        );
        Ok(item)
    }

    /// One strongly consistent read of an item by key: every single-item read goes through here.
    async fn read(&self, table: &str, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(table)
            .set_key(Some(key.to_map()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws)?;
        Ok(out.item)
    }

    /// Items by key from the data table in one strongly consistent `BatchGetItem` (at most 100
    /// keys): the items found, by key. Keys DynamoDB left unprocessed (throttling) fail the
    /// read, so a missing item always means an absent one.
    async fn batch_read(&self, wanted: &[Key]) -> Result<HashMap<Key, Item>, StoreError> {
        let mut request = aws_sdk_dynamodb::types::KeysAndAttributes::builder().consistent_read(true);
        for key in wanted {
            request = request.keys(key.to_map());
        }
        let out = self
            .ddb
            .batch_get_item()
            .request_items(&self.data_table, request.build().map_err(StoreError::aws)?)
            .send()
            .await
            .map_err(StoreError::aws)?;
        if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(StoreError::Aws("a batch read was throttled".into()));
        }
        let mut found = HashMap::new();
        for item in out
            .responses
            .and_then(|mut r| r.remove(&self.data_table))
            .unwrap_or_default()
        {
            if let Some(key) = Key::from_map(&item).filter(|k| wanted.contains(k)) {
                found.insert(key, item);
            }
        }
        Ok(found)
    }

    /// A record as stored: what a replacement names as its `before`.
    pub async fn get<R: Record>(&self, scope: &TenantScope, id: &str) -> Result<Option<Stored<R>>, StoreError> {
        let key = keys::record(scope, R::COLLECTION, id);
        Ok(self
            .read(&self.data_table, &key)
            .await?
            .map(from_item)
            .transpose()?
            .map(Stored::new))
    }

    /// A page of records, newest id first (ids are time-ordered UUIDv7).
    pub async fn list<R: Record>(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<R>, StoreError> {
        let partition = keys::collection(scope, R::COLLECTION);
        let (items, next) = self.query_page(&self.data_table, &partition, None, false, page).await?;
        Ok(Page {
            items: items.into_iter().map(from_item).collect::<Result<_, _>>()?,
            next,
        })
    }

    /// A page of the records whose ids start with `prefix` (a document's versions), in id
    /// order, ascending or not.
    pub async fn list_under<R: Record>(
        &self,
        scope: &TenantScope,
        prefix: &str,
        ascending: bool,
        page: &PageRequest,
    ) -> Result<Page<R>, StoreError> {
        let partition = keys::collection(scope, R::COLLECTION);
        let (items, next) = self
            .query_page(&self.data_table, &partition, Some(prefix), ascending, page)
            .await?;
        Ok(Page {
            items: items.into_iter().map(from_item).collect::<Result<_, _>>()?,
            next,
        })
    }

    /// A page of the records listed in `index` under `value`, newest first; or, for
    /// [`Index::DocumentReviewDue`], those due before the day `value` (`YYYY-MM-DD`, not
    /// included), soonest first. `filters` (attribute name, value) narrow it further: a page may
    /// then hold fewer than its limit and still have a next one. Index reads are eventually
    /// consistent.
    pub async fn list_indexed<R: Record>(
        &self,
        scope: &TenantScope,
        index: Index,
        value: &str,
        filters: &[(&'static str, String)],
        page: &PageRequest,
    ) -> Result<Page<R>, StoreError> {
        let review = index == Index::DocumentReviewDue;
        let partition = index.partition(scope, value);
        // A cursor is this listing's alone: sealed to the partition, the day and the filters,
        // so that one of another listing (another day, other filters) is refused, never read
        // from a place the query's condition excludes.
        let mut listing = format!("{partition}?{value}");
        let mut sorted: Vec<String> = filters
            .iter()
            .map(|(name, wanted)| format!("{name}={wanted}"))
            .collect();
        sorted.sort();
        for filter in sorted {
            listing.push('&');
            listing.push_str(&filter);
        }
        let sealer = self.cursor_sealer().await?;
        let start = match &page.cursor {
            None => None,
            Some(cursor) => {
                // Sealed as (listing, sort value); DynamoDB wants the table's key with the
                // index's.
                let last = sealer.open(&listing, cursor).ok_or(StoreError::InvalidCursor)?;
                if review && last.sk.as_str() >= value {
                    return Err(StoreError::InvalidCursor);
                }
                let id = if review {
                    last.sk.rsplit_once('#').map(|(_, id)| id.to_owned())
                } else {
                    Some(last.sk.clone())
                }
                .ok_or(StoreError::InvalidCursor)?;
                let mut key = keys::record(scope, R::COLLECTION, &id).to_map();
                key.insert(index.partition_attribute().into(), AttributeValue::S(partition.clone()));
                if review {
                    key.insert(index.sort_attribute().into(), AttributeValue::S(last.sk));
                }
                Some(key)
            }
        };
        let mut query = self
            .ddb
            .query()
            .table_name(&self.data_table)
            .index_name(index.name())
            .expression_attribute_names("#p", index.partition_attribute())
            .expression_attribute_values(":p", AttributeValue::S(partition.clone()))
            .scan_index_forward(review)
            .limit(page.limit().saturating_add(1))
            .set_exclusive_start_key(start);
        query = if review {
            query
                .key_condition_expression("#p = :p AND #s < :before")
                .expression_attribute_names("#s", index.sort_attribute())
                .expression_attribute_values(":before", AttributeValue::S(value.to_owned()))
        } else {
            query.key_condition_expression("#p = :p")
        };
        let mut conditions = Vec::new();
        for (n, (name, wanted)) in filters.iter().enumerate() {
            let (placeholder, value_name) = (format!("#f{n}"), format!(":f{n}"));
            conditions.push(format!("{placeholder} = {value_name}"));
            query = query
                .expression_attribute_names(placeholder, *name)
                .expression_attribute_values(value_name, AttributeValue::S(wanted.clone()));
        }
        if !conditions.is_empty() {
            query = query.filter_expression(conditions.join(" AND "));
        }
        let out = query.send().await.map_err(StoreError::aws)?;
        let limit = usize::try_from(page.limit()).unwrap_or(PageRequest::DEFAULT_LIMIT as usize);
        let mut items = out.items.unwrap_or_default();
        let sort_of =
            |item: &Item| -> Option<String> { item.get(index.sort_attribute()).and_then(|v| v.as_s().ok()).cloned() };
        let last = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(sort_of)
        } else {
            out.last_evaluated_key.as_ref().and_then(sort_of)
        };
        let next = match last {
            Some(sort) => Some(
                sealer
                    .seal(&listing, &Key::new(listing.clone(), sort))
                    .map_err(StoreError::Corrupt)?,
            ),
            None => None,
        };
        Ok(Page {
            items: items.into_iter().map(from_item).collect::<Result<_, _>>()?,
            next,
        })
    }

    /// As [`Store::list_under`], each record with the id it is stored under: a record whose own
    /// id ([`Record::id`]) is another was copied there behind the store's back.
    pub async fn list_under_as_stored<R: Record>(
        &self,
        scope: &TenantScope,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<(String, R)>, StoreError> {
        let partition = keys::collection(scope, R::COLLECTION);
        let (items, next) = self
            .query_page(&self.data_table, &partition, Some(prefix), true, page)
            .await?;
        let items = items
            .into_iter()
            .map(|item| {
                let stored = Key::from_map(&item).map(|k| k.sk).unwrap_or_default();
                from_item(item).map(|record| (stored, record))
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// One page of a partition, with sealed cursors in and out.
    async fn query_page(
        &self,
        table: &str,
        partition: &str,
        sk_prefix: Option<&str>,
        ascending: bool,
        page: &PageRequest,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let sealer = self.cursor_sealer().await?;
        let start = match &page.cursor {
            None => None,
            Some(cursor) => {
                let last = sealer.open(partition, cursor).ok_or(StoreError::InvalidCursor)?;
                // A cursor of another listing of the same partition (another document's
                // versions) is not this listing's.
                if sk_prefix.is_some_and(|prefix| !last.sk.starts_with(prefix)) {
                    return Err(StoreError::InvalidCursor);
                }
                Some(last.to_map())
            }
        };
        let mut query = self
            .ddb
            .query()
            .table_name(table)
            .key_condition_expression(if sk_prefix.is_some() {
                "pk = :pk AND begins_with(sk, :prefix)"
            } else {
                "pk = :pk"
            })
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .scan_index_forward(ascending)
            .consistent_read(true)
            // One more than the page: DynamoDB names a last key whenever it stops at the limit,
            // even with nothing after it; the extra item tells whether a next page exists.
            .limit(page.limit().saturating_add(1))
            .set_exclusive_start_key(start);
        if let Some(prefix) = sk_prefix {
            query = query.expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()));
        }
        let out = query.send().await.map_err(StoreError::aws)?;
        let limit = usize::try_from(page.limit()).unwrap_or(PageRequest::DEFAULT_LIMIT as usize);
        let mut items = out.items.unwrap_or_default();
        let last = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(Key::from_map)
        } else {
            // Fewer came back: the end, or DynamoDB's 1 MB page cut (then it names where it stopped).
            out.last_evaluated_key.as_ref().and_then(Key::from_map)
        };
        let next = match last {
            Some(last) => Some(sealer.seal(partition, &last).map_err(StoreError::Corrupt)?),
            None => None,
        };
        Ok((items, next))
    }

    /// The cursor sealing key: unwrapped once per cold start; created on first use ever, with a
    /// conditional put so that concurrent first uses agree on one key.
    async fn cursor_sealer(&self) -> Result<&CursorSealer, StoreError> {
        self.cursor
            .get_or_try_init(|| async {
                let key = keys::cursor_key();
                for _ in 0..3 {
                    let item = self.read(&self.data_table, &key).await?;
                    if let Some(wrapped) = item.as_ref().and_then(|i| i.get("wrapped")).and_then(|v| v.as_b().ok()) {
                        let plain = self
                            .kms
                            .decrypt()
                            .ciphertext_blob(wrapped.clone())
                            .encryption_context("purpose", "quire-cursor-key")
                            .send()
                            .await
                            .map_err(StoreError::aws)?;
                        let bytes = plain
                            .plaintext
                            .ok_or_else(|| StoreError::Corrupt("KMS returned no plaintext".into()))?;
                        return CursorSealer::new(bytes.as_ref()).map_err(StoreError::Corrupt);
                    }
                    let fresh = self
                        .kms
                        .generate_data_key()
                        .key_id(&self.kms_key_id)
                        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                        .encryption_context("purpose", "quire-cursor-key")
                        .send()
                        .await
                        .map_err(StoreError::aws)?;
                    let wrapped = fresh
                        .ciphertext_blob
                        .ok_or_else(|| StoreError::Corrupt("KMS returned no ciphertext".into()))?;
                    let mut item = key.to_map();
                    item.insert("wrapped".into(), AttributeValue::B(wrapped));
                    // Lost the race to another instance? Loop and use its key.
                    let _ = self
                        .ddb
                        .put_item()
                        .table_name(&self.data_table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .send()
                        .await;
                }
                Err(StoreError::Aws("cursor key could not be established".into()))
            })
            .await
    }
}
