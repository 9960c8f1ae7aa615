//! The storage seam: every DynamoDB call Quire makes goes through [`Store`]. Tenant data is
//! reachable only with a [`TenantScope`]; each write commits its audit outbox item in the same
//! `TransactWriteItems` (AUD-1), so a change without its audit record cannot commit.

mod audit_log;
mod cursor;
mod directory;
pub mod keys;
pub mod size;
mod transaction;
mod verification;

pub use audit_log::{AuditPage, Reconciled, QUARANTINE_METRIC};
pub use directory::{MemberStatus, NewMember, OrgStatus};
pub use keys::Collection;
pub use transaction::{AuditContext, Stored, Transaction};
pub use verification::{ChainCheck, JobStatus, Slice, SliceBudget, VerificationJob, Verified, QUICK_CHECK_ENTRIES};

use crate::audit::{AuditEvent, NotRecordable};
use crate::config::Config;
use crate::problem::Problem;
use crate::tenant::TenantScope;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cursor::CursorSealer;
use keys::Key;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use tokio::sync::OnceCell;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the item already exists")]
    AlreadyExists,
    #[error("the item changed since it was read")]
    Conflict,
    #[error("stored item is not readable: {0}")]
    Corrupt(String),
    /// The change cannot be recorded in the audit trail (refused before anything committed).
    #[error(transparent)]
    NotRecordable(#[from] NotRecordable),
    /// The change exceeds DynamoDB's item or transaction limits (refused before it was sent).
    #[error("the change is too large to store: {0}")]
    TooLarge(String),
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

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Problem::conflict("the record was changed by someone else; read it again"),
            StoreError::AlreadyExists => Problem::conflict("the record already exists"),
            StoreError::NotRecordable(why) => Problem::not_recordable(why.to_string()),
            StoreError::TooLarge(_) => Problem::not_recordable("the change is too large to store and record"),
            other => Problem::internal(other),
        }
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
    fn id(&self) -> &str;
    /// Incremented on every change; used for optimistic concurrency.
    fn version(&self) -> u64;
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

    pub fn from_query(req: &lambda_http::Request) -> Result<Self, Problem> {
        use lambda_http::RequestExt;
        let query = req.query_string_parameters();
        for (name, _) in query.iter() {
            if name != "limit" && name != "cursor" {
                return Err(Problem::invalid_parameter(
                    name,
                    format!("unknown query parameter `{name}`"),
                ));
            }
        }
        let limit = match query.first("limit") {
            None => None,
            Some(text) => match text.parse::<i32>() {
                Ok(n) if (1..=Self::MAX_LIMIT).contains(&n) => Some(n),
                _ => {
                    return Err(Problem::invalid_parameter(
                        "limit",
                        format!("limit must be an integer from 1 to {}", Self::MAX_LIMIT),
                    ))
                }
            },
        };
        Ok(PageRequest {
            limit,
            cursor: query.first("cursor").map(str::to_owned),
        })
    }

    fn limit(&self) -> i32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
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

pub(crate) fn to_item<T: Serialize>(value: &T, key: &Key) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.extend(key.to_map());
    Ok(item)
}

pub(crate) fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    item.remove("pk");
    item.remove("sk");
    item.remove(RECORD_KIND);
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
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
    pub async fn list<R: Record>(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<R>, Problem> {
        let partition = keys::collection(scope, R::COLLECTION);
        let (items, next) = self.query_page(&self.data_table, &partition, None, false, page).await?;
        Ok(Page {
            items: items.into_iter().map(from_item).collect::<Result<_, _>>()?,
            next,
        })
    }

    /// One page of a partition, with sealed cursors in and out.
    async fn query_page(
        &self,
        table: &str,
        partition: &str,
        sk_prefix: Option<&str>,
        ascending: bool,
        page: &PageRequest,
    ) -> Result<(Vec<Item>, Option<String>), Problem> {
        let sealer = self.cursor_sealer().await?;
        let start = match &page.cursor {
            None => None,
            Some(cursor) => Some(
                sealer
                    .open(partition, cursor)
                    .ok_or_else(Problem::invalid_cursor)?
                    .to_map(),
            ),
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
            .limit(page.limit())
            .set_exclusive_start_key(start);
        if let Some(prefix) = sk_prefix {
            query = query.expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()));
        }
        let out = query.send().await.map_err(|e| Problem::from(StoreError::aws(e)))?;
        let next = match out.last_evaluated_key.as_ref().and_then(Key::from_map) {
            Some(last) => Some(sealer.seal(partition, &last).map_err(Problem::internal)?),
            None => None,
        };
        Ok((out.items.unwrap_or_default(), next))
    }

    /// The cursor sealing key: unwrapped once per cold start; created on first use ever, with a
    /// conditional put so that concurrent first uses agree on one key.
    async fn cursor_sealer(&self) -> Result<&CursorSealer, Problem> {
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
            .map_err(Problem::from)
    }
}
