//! Chain storage: reading and verifying a tenant's chain, and the single writer's append
//! (AUD-2, AUD-5, AUD-7). Only the audit-writer function holds IAM rights to write the audit
//! table; the append below is what it runs.

use super::keys::{self, Key};
use super::{from_item, size, to_item, Item, Page, PageRequest, Store, StoreError};
use crate::audit::chain::{self, Entry, Head, Verification, Verifier};
use crate::audit::AuditEvent;
use crate::problem::Problem;
use crate::tenant::{OrgId, TenantScope};
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use std::collections::BTreeMap;
use std::time::Duration;

/// Entries per transaction: each needs a put and an outbox delete, plus one head update, and a
/// transaction holds at most 100 items.
const ENTRIES_PER_TRANSACTION: usize = (size::MAX_TRANSACTION_ACTIONS - 1) / 2;
/// Bytes per transaction: AWS's 4 MB for the items a transaction touches (entries written,
/// outbox items deleted, the head), less room for the head and for rounding in our count.
const TRANSACTION_BYTES: usize = size::MAX_TRANSACTION_BYTES - 64 * 1024;
/// Attempts of one append under contention (another writer moved the head) before giving up;
/// the stream redelivers the batch after that.
const MAX_ATTEMPTS: u32 = 200;

/// An outbox event not yet appended, and the size of its outbox item.
struct Pending {
    event: AuditEvent,
    outbox_bytes: usize,
}

/// One transaction's worth of appends: entry items in order, the outbox items they consume,
/// and the head after them.
struct Batch {
    entries: Vec<Item>,
    outbox_ids: Vec<String>,
    head: Head,
}

fn entry_from_item(item: Item) -> chain::StoredEntry {
    from_item::<Entry>(item).map_err(|e| e.to_string())
}

impl Store {
    pub async fn chain_head(&self, org: &OrgId) -> Result<Head, StoreError> {
        match self.read(&self.audit_table, &keys::chain_head(org)).await? {
            None => Ok(Head::genesis()),
            Some(item) => from_item(item),
        }
    }

    /// A page of the caller's chain, newest entry first.
    pub async fn audit_page(&self, scope: &TenantScope, page: &PageRequest) -> Result<Page<Entry>, Problem> {
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
        let items = items
            .into_iter()
            .map(|item| from_item(item).map_err(Problem::from))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// Re-walks the caller's whole chain in order, in constant memory, and checks it against the head.
    pub async fn verify_chain(&self, scope: &TenantScope) -> Result<Verification, StoreError> {
        let org = scope.org_id();
        let partition = keys::chain_partition(org);
        let mut verifier = Verifier::default();
        let mut start: Option<Item> = None;
        let mut walked: u64 = 0;
        // The head and its entries move together (one transaction), so entries never run past the
        // head; if the writer appended while we walked, the head is ahead: walk on to it.
        for _ in 0..5 {
            loop {
                let out = self
                    .ddb
                    .query()
                    .table_name(&self.audit_table)
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
                    .expression_attribute_values(":prefix", AttributeValue::S(keys::CHAIN_ENTRY_PREFIX.into()))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(StoreError::aws)?;
                for item in out.items.unwrap_or_default() {
                    walked += 1;
                    if !verifier.push(entry_from_item(item)) {
                        return Ok(verifier.finish(&self.chain_head(org).await?));
                    }
                }
                match out.last_evaluated_key {
                    Some(last) => start = Some(last),
                    None => break,
                }
            }
            let head = self.chain_head(org).await?;
            if head.seq <= walked {
                return Ok(verifier.finish(&head));
            }
            start = Some(keys::chain_entry(org, walked).to_map());
        }
        Ok(verifier.finish(&self.chain_head(org).await?))
    }

    /// The events of these outbox items that are still pending (not yet appended), in id order,
    /// each with the size of its outbox item (a delete counts towards a transaction's bytes).
    async fn pending_events(&self, org: &OrgId, event_ids: &[String]) -> Result<Vec<Pending>, StoreError> {
        let mut events = Vec::new();
        for chunk in event_ids.chunks(100) {
            let mut wanted = KeysAndAttributes::builder().consistent_read(true);
            for id in chunk {
                wanted = wanted.keys(keys::outbox(org, id).to_map());
            }
            let mut request = BTreeMap::from([(self.data_table.clone(), wanted.build().map_err(StoreError::aws)?)]);
            for _ in 0..10 {
                let out = self
                    .ddb
                    .batch_get_item()
                    .set_request_items(Some(request.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(StoreError::aws)?;
                for mut item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.data_table))
                    .unwrap_or_default()
                {
                    let outbox_bytes = size::item_size(&item);
                    let Some(AttributeValue::M(event)) = item.remove("event") else {
                        return Err(StoreError::Corrupt("outbox item without event".into()));
                    };
                    let event: AuditEvent =
                        serde_dynamo::from_item(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    if event.org_id != org.as_str() {
                        return Err(StoreError::Corrupt("outbox event of another organisation".into()));
                    }
                    events.push(Pending { event, outbox_bytes });
                }
                match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                    Some(rest) => request = rest.into_iter().collect(),
                    None => break,
                }
            }
        }
        events.sort_by(|a, b| a.event.event_id.cmp(&b.event.event_id));
        events.dedup_by(|a, b| a.event.event_id == b.event.event_id);
        Ok(events)
    }

    /// Appends the given outbox events of one organisation to its chain. Safe to run twice and
    /// concurrently: events already appended are skipped (their outbox items are gone), and the
    /// head only moves if it is still where this writer read it, so the chain cannot fork.
    pub async fn append_outbox(&self, org: &OrgId, event_ids: &[String]) -> Result<usize, StoreError> {
        let mut appended = 0;
        let mut attempts = 0;
        loop {
            let head = self.chain_head(org).await?;
            let pending = self.pending_events(org, event_ids).await?;
            if pending.is_empty() {
                return Ok(appended);
            }
            let batch = self.next_batch(org, &head, pending)?;
            let count = batch.entries.len();
            match self.append_batch(org, &head, batch).await {
                Ok(()) => {
                    appended += count;
                    attempts = 0;
                }
                Err(StoreError::Conflict) if attempts < MAX_ATTEMPTS => {
                    attempts += 1;
                    // Another writer moved the head or took these events: read again after a short, jittered pause.
                    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 20);
                    tokio::time::sleep(Duration::from_millis(2 + jitter)).await;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The longest run of pending events, in order, that fits one transaction by count and by
    /// bytes (AUD-7: a batch AWS would refuse would be refused again on every retry).
    fn next_batch(&self, org: &OrgId, head: &Head, pending: Vec<Pending>) -> Result<Batch, StoreError> {
        let mut outbox_ids = Vec::new();
        let mut budget = TRANSACTION_BYTES;
        let mut entries = Vec::new();
        let mut new_head = head.clone();
        for Pending { event, outbox_bytes } in pending.into_iter().take(ENTRIES_PER_TRANSACTION) {
            let (mut next, after) =
                chain::extend(&new_head, vec![event]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let entry = next.pop().ok_or_else(|| StoreError::Corrupt("no entry".into()))?;
            let item = to_item(&entry, &keys::chain_entry(org, entry.seq))?;
            let bytes = size::item_size(&item) + outbox_bytes;
            if bytes > budget && !entries.is_empty() {
                break;
            }
            budget = budget.saturating_sub(bytes);
            outbox_ids.push(entry.event.event_id);
            entries.push(item);
            new_head = after;
        }
        Ok(Batch {
            entries,
            outbox_ids,
            head: new_head,
        })
    }

    async fn append_batch(&self, org: &OrgId, head: &Head, batch: Batch) -> Result<(), StoreError> {
        let Batch {
            entries,
            outbox_ids,
            head: new_head,
        } = batch;
        let mut writes = Vec::with_capacity(entries.len() * 2 + 1);
        for item in entries {
            let put = Put::builder()
                .table_name(&self.audit_table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(StoreError::aws)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        for id in &outbox_ids {
            let delete = Delete::builder()
                .table_name(&self.data_table)
                .set_key(Some(keys::outbox(org, id).to_map()))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(StoreError::aws)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        let head_put = Put::builder()
            .table_name(&self.audit_table)
            .set_item(Some(to_item(&new_head, &keys::chain_head(org))?));
        let head_put = if head.seq == 0 {
            head_put.condition_expression("attribute_not_exists(pk)")
        } else {
            head_put
                .condition_expression("seq = :prev")
                .expression_attribute_values(":prev", AttributeValue::N(head.seq.to_string()))
        };
        writes.push(
            TransactWriteItem::builder()
                .put(head_put.build().map_err(StoreError::aws)?)
                .build(),
        );
        self.commit(writes, &[], StoreError::Conflict).await
    }

    /// Appends every pending outbox event of an organisation (recovery, and the local stack).
    pub async fn drain_outbox(&self, org: &OrgId) -> Result<usize, StoreError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.data_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::outbox_partition(org)))
                .projection_expression("pk, sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::aws)?;
            ids.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Key::from_map)
                    .map(|k| k.sk),
            );
            match out.last_evaluated_key {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        self.append_outbox(org, &ids).await
    }

    /// The audit writer's Lambda entry: appends the outbox inserts of a stream batch, per
    /// organisation, and returns the sequence numbers of records to retry (ReportBatchItemFailures).
    pub async fn append_stream_records(&self, records: &[EventRecord]) -> Vec<String> {
        let mut by_org: BTreeMap<String, (OrgId, Vec<String>, Vec<String>)> = BTreeMap::new();
        for record in records {
            if record.event_name != "INSERT"
                || !matches!(record.change.new_image.get("kind"), Some(serde_dynamo::AttributeValue::S(kind)) if kind == "outbox")
            {
                continue;
            }
            let (Some(serde_dynamo::AttributeValue::S(pk)), Some(serde_dynamo::AttributeValue::S(sk))) =
                (record.change.keys.get("pk"), record.change.keys.get("sk"))
            else {
                continue;
            };
            let Some(org) = keys::org_of_outbox(pk) else {
                continue;
            };
            let group = by_org
                .entry(org.to_string())
                .or_insert_with(|| (org, Vec::new(), Vec::new()));
            group.1.push(sk.clone());
            group.2.extend(record.change.sequence_number.clone());
        }
        let mut failed = Vec::new();
        for (_, (org, ids, sequence_numbers)) in by_org {
            if let Err(error) = self.append_outbox(&org, &ids).await {
                tracing::error!(org = %org, %error, "audit append failed; the batch will be retried");
                failed.extend(sequence_numbers);
            }
        }
        failed
    }
}
