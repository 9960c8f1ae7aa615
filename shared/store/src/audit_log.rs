//! Chain storage, read side: the chain head, pages of a tenant's chain with the blobs their
//! entries reference, single blobs (AUD-2, AUD-5). The append is in `writer` (feature
//! `chain-writer`); only the audit-writer function holds IAM rights to write the audit table.

use super::keys::{self, Key};
use super::{from_item, Item, PageRequest, Store, StoreError};
use crate::tenant::TenantScope;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use quire_core::audit::blob;
use quire_core::audit::chain::{self, Entry, Head};
use quire_core::ids::OrgId;
use std::collections::BTreeMap;

/// A page of a tenant's chain and the blobs its entries reference.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<Listed>,
    /// The cursor of the next page, `null` after the last.
    pub next: Option<String>,
    /// Blob digest → content, for the references in `items` whose blob is stored, up to
    /// [`PAGE_BLOB_BYTES`] in all.
    pub blobs: BTreeMap<String, String>,
    /// Digests referenced in `items` whose content did not fit the page's budget.
    #[serde(rename = "blobsOmitted")]
    pub blobs_omitted: Vec<String>,
}

/// One item of a page: an entry, or the place of one that cannot be read as stored. One bad
/// item does not hide the others; the chain fails verification at it (`GET /audit/verify`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Listed {
    Entry(Box<Entry>),
    /// `{"seq": 7, "unreadable": true, "detail": "..."}`; `seq` is null when even the item's key
    /// is not an entry's.
    Unreadable {
        seq: Option<u64>,
        unreadable: bool,
        detail: &'static str,
    },
}

impl Listed {
    /// Its sequence number, if it has one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Listed::Entry(entry) => Some(entry.seq),
            Listed::Unreadable { seq, .. } => *seq,
        }
    }

    fn read(item: Item) -> Self {
        let seq = Key::from_map(&item).and_then(|k| keys::entry_seq(&k.sk));
        match from_item::<Entry>(item) {
            Ok(entry) => Listed::Entry(Box::new(entry)),
            Err(error) => {
                tracing::error!(?seq, %error, "an audit entry cannot be read as stored");
                Listed::Unreadable {
                    seq,
                    unreadable: true,
                    detail: "this entry cannot be read as stored; the chain fails verification here",
                }
            }
        }
    }

    /// The entry, unless it is unreadable.
    pub fn entry(&self) -> Option<&Entry> {
        match self {
            Listed::Entry(entry) => Some(entry),
            Listed::Unreadable { .. } => None,
        }
    }
}

/// Most blob content sent with one page of the trail, in bytes.
pub const PAGE_BLOB_BYTES: u64 = 1024 * 1024;

/// Checks every blob an entry references against its digest.
pub(super) fn blobs_hold(entry: &Entry, blobs: &BTreeMap<String, String>) -> Result<(), String> {
    for reference in entry.event.blob_references() {
        blob::check(&reference, blobs.get(&reference.sha256).map(String::as_str))?;
    }
    Ok(())
}

pub(super) fn entry_from_item(item: Item) -> chain::StoredEntry {
    from_item::<Entry>(item).map_err(|e| e.to_string())
}

impl Store {
    pub(crate) async fn chain_head(&self, org: &OrgId) -> Result<Head, StoreError> {
        match self.read(&self.audit_table, &keys::chain_head(org)).await? {
            None => Ok(Head::genesis()),
            Some(item) => from_item(item),
        }
    }

    /// A page of the caller's chain, newest entry first, with the blobs its entries reference
    /// (`blobs`: digest → content; a client checks each against its digest).
    pub async fn audit_page(&self, scope: &TenantScope, page: &PageRequest) -> Result<AuditPage, StoreError> {
        let partition = keys::chain_partition(scope.org_id());
        let (items, next) = self
            .query_page(
                &self.audit_table,
                &partition,
                Some(keys::CHAIN_ENTRY_PREFIX),
                false,
                page,
            )
            .await?;
        self.with_blobs(scope, items, next).await
    }

    /// A page of the scope's entries about one target (`target.type`, `target.id`), oldest
    /// first, with the blobs they reference, from the audit table's `ByTarget` index: no scan of
    /// the chain. The index is eventually consistent: an entry just appended may show a moment
    /// later. An entry indexed under this target whose own target is another is left out (the
    /// index attribute is not hashed; a page may then hold fewer than its limit).
    pub async fn target_history(
        &self,
        scope: &TenantScope,
        target_type: &str,
        target_id: &str,
        page: &PageRequest,
    ) -> Result<AuditPage, StoreError> {
        let partition = keys::target_entries(scope.org_id(), target_type, target_id);
        let sealer = self.cursor_sealer().await?;
        let start = match &page.cursor {
            None => None,
            Some(cursor) => {
                // Sealed as (index partition, entry sort key); DynamoDB wants the table's key
                // with the index's.
                let last = sealer.open(&partition, cursor).ok_or(StoreError::InvalidCursor)?;
                let mut key = Key::new(keys::chain_partition(scope.org_id()), last.sk).to_map();
                key.insert(keys::TARGET_ATTRIBUTE.into(), AttributeValue::S(partition.clone()));
                Some(key)
            }
        };
        let limit = page.limit();
        let out = self
            .ddb
            .query()
            .table_name(&self.audit_table)
            .index_name(keys::TARGET_INDEX)
            .key_condition_expression("#target = :target")
            .expression_attribute_names("#target", keys::TARGET_ATTRIBUTE)
            .expression_attribute_values(":target", AttributeValue::S(partition.clone()))
            .scan_index_forward(true)
            .limit(limit.saturating_add(1))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::aws)?;
        let mut items = out.items.unwrap_or_default();
        let wanted = usize::try_from(limit).unwrap_or(PageRequest::DEFAULT_LIMIT as usize);
        let last = if items.len() > wanted {
            items.truncate(wanted);
            items.last().and_then(Key::from_map)
        } else {
            out.last_evaluated_key.as_ref().and_then(Key::from_map)
        };
        let next = match last {
            Some(last) => Some(
                sealer
                    .seal(&partition, &Key::new(partition.clone(), last.sk))
                    .map_err(StoreError::Corrupt)?,
            ),
            None => None,
        };
        let mut page = self.with_blobs(scope, items, next).await?;
        // The index attribute is outside the entry's hash: an entry whose own target is another
        // was put under this one behind the writer's back, and is not this target's history.
        page.items.retain(|listed| {
            listed.entry().is_none_or(|entry| {
                let own = entry.event.target.kind == target_type && entry.event.target.id == target_id;
                if !own {
                    tracing::error!(seq = entry.seq, "an audit entry is indexed under a target not its own");
                }
                own
            })
        });
        Ok(page)
    }

    /// Entry `seq` of the scope's chain, as stored: `None` if there is none; an error if it
    /// does not read.
    pub async fn chain_entry(&self, scope: &TenantScope, seq: u64) -> Result<Option<Entry>, StoreError> {
        self.read(&self.audit_table, &keys::chain_entry(scope.org_id(), seq))
            .await?
            .map(from_item)
            .transpose()
    }

    /// Entries `from..=to` of the scope's chain, oldest first, at most `limit` (1 to 1 000),
    /// read consistently, each as stored or marked unreadable as in a page; with every blob
    /// they reference that is stored (digest → content; not budgeted: the caller bounds what
    /// it keeps). Fewer than asked when entries are missing: a reader goes on from the last
    /// `seq` it got.
    pub async fn chain_slice(
        &self,
        scope: &TenantScope,
        from: u64,
        to: u64,
        limit: i32,
    ) -> Result<(Vec<Listed>, BTreeMap<String, String>), StoreError> {
        let org = scope.org_id();
        let items = self.chain_items(org, from, to, limit.clamp(1, 1_000)).await?;
        let items: Vec<Listed> = items.into_iter().map(Listed::read).collect();
        let digests = items
            .iter()
            .filter_map(Listed::entry)
            .flat_map(|e| e.event.blob_references())
            .map(|r| r.sha256);
        let blobs = self.blobs(org, digests).await?;
        Ok((items, blobs))
    }

    /// The stored items of entries `from..=to` of `org`'s chain, oldest first, at most `limit`,
    /// read consistently.
    pub(super) async fn chain_items(
        &self,
        org: &OrgId,
        from: u64,
        to: u64,
        limit: i32,
    ) -> Result<Vec<Item>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.audit_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(keys::chain_partition(org)))
            .expression_attribute_values(":from", AttributeValue::S(keys::chain_entry(org, from).sk))
            .expression_attribute_values(":to", AttributeValue::S(keys::chain_entry(org, to).sk))
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::aws)?;
        Ok(out.items.unwrap_or_default())
    }

    /// The scope's chain head: its last sequence number and hash (0 and the genesis hash for
    /// an empty chain).
    pub async fn chain_tip(&self, scope: &TenantScope) -> Result<Head, StoreError> {
        self.chain_head(scope.org_id()).await
    }

    /// Items of a chain as a page, with the blobs they reference up to the page's budget.
    async fn with_blobs(
        &self,
        scope: &TenantScope,
        items: Vec<Item>,
        next: Option<String>,
    ) -> Result<AuditPage, StoreError> {
        let items: Vec<Listed> = items.into_iter().map(Listed::read).collect();
        // Blobs travel with the page up to a budget (a Lambda response holds 6 MB); the rest are
        // listed and read one by one (`GET /audit/blobs/{sha256}`).
        let mut budget = PAGE_BLOB_BYTES;
        let (mut included, mut omitted) = (Vec::new(), Vec::new());
        for reference in items
            .iter()
            .filter_map(Listed::entry)
            .flat_map(|e| e.event.blob_references())
        {
            if included.contains(&reference.sha256) || omitted.contains(&reference.sha256) {
                continue;
            }
            match budget.checked_sub(reference.bytes) {
                Some(rest) => {
                    budget = rest;
                    included.push(reference.sha256);
                }
                None => omitted.push(reference.sha256),
            }
        }
        let blobs = self.blobs(scope.org_id(), included).await?;
        Ok(AuditPage {
            items,
            next,
            blobs,
            blobs_omitted: omitted,
        })
    }

    /// The stored blobs of these digests (missing ones are absent from the map).
    async fn blobs(
        &self,
        org: &OrgId,
        digests: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut digests: Vec<String> = digests.into_iter().collect();
        digests.sort();
        digests.dedup();
        let wanted = digests.iter().map(|d| keys::blob(org, d)).collect();
        let mut found = BTreeMap::new();
        for mut item in self.batch_get_data(wanted).await? {
            // Taken, not copied: a page's blobs can be large.
            if let (Some(key), Some(AttributeValue::S(content))) = (Key::from_map(&item), item.remove("content")) {
                found.insert(key.sk, content);
            }
        }
        Ok(found)
    }

    /// One blob of the caller's audit trail, by its digest: `None` if the tenant has none.
    pub async fn audit_blob(&self, scope: &TenantScope, sha256: &str) -> Result<Option<String>, StoreError> {
        Ok(self.blobs(scope.org_id(), [sha256.to_owned()]).await?.remove(sha256))
    }

    /// The stored blobs the entries of one page reference.
    pub(super) async fn entry_blobs(
        &self,
        org: &OrgId,
        stored: &[chain::StoredEntry],
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let digests = stored
            .iter()
            .flatten()
            .flat_map(|e| e.event.blob_references())
            .map(|r| r.sha256);
        self.blobs(org, digests).await
    }

    /// Strongly consistent reads of data-table items by key, 100 keys per `BatchGetItem`, with
    /// unprocessed keys asked again a bounded number of times (then an error: the caller retries).
    pub(super) async fn batch_get_data(&self, wanted: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        for chunk in wanted.chunks(100) {
            let mut keys_wanted = KeysAndAttributes::builder().consistent_read(true);
            for key in chunk {
                keys_wanted = keys_wanted.keys(key.to_map());
            }
            let mut request =
                BTreeMap::from([(self.data_table.clone(), keys_wanted.build().map_err(StoreError::aws)?)]);
            let mut rounds = 0;
            loop {
                let out = self
                    .ddb
                    .batch_get_item()
                    .set_request_items(Some(request.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(StoreError::aws)?;
                items.extend(
                    out.responses
                        .and_then(|mut r| r.remove(&self.data_table))
                        .unwrap_or_default(),
                );
                match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                    Some(_) if rounds == 10 => {
                        return Err(StoreError::Aws("reads still throttled after 10 rounds".into()))
                    }
                    Some(rest) => request = rest.into_iter().collect(),
                    None => break,
                }
                rounds += 1;
            }
        }
        Ok(items)
    }
}
