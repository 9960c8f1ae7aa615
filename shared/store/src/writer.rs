//! The single writer's append of outbox events to a tenant's chain, the quarantine of poison,
//! and the reconciler (AUD-1, AUD-7). Compiled only with the `chain-writer` feature: the
//! audit-writer function links it; no other function can call it.

use super::keys::{self, Key};
use super::transaction::OnCondition;
use super::{size, to_item, Item, Store, StoreError};
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use quire_core::audit::chain::{self, Head};
use quire_core::audit::AuditEvent;
use quire_core::ids::OrgId;
use std::collections::{BTreeMap, HashMap};
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

/// What one run of the reconciler did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciled {
    /// Organisations with outbox items older than the threshold.
    pub organisations: usize,
    /// Entries appended.
    pub appended: usize,
    /// Organisations whose append failed (retried on the next run).
    pub failed_organisations: usize,
}

/// An outbox item that cannot become an entry, and why.
struct Poison {
    event_id: String,
    item: Item,
    reason: String,
}

/// The metric counting quarantined outbox items.
pub const QUARANTINE_METRIC: &str = "AuditOutboxQuarantined";

/// Reads an outbox item as the event it must hold: this format version, this organisation, the
/// id its key names, hashable and within the entry bound. Anything else is poison.
fn appendable(org: &OrgId, item: Item) -> Result<Pending, Poison> {
    let event_id = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let outbox_bytes = size::item_size(&item);
    let verdict = (|| {
        let Some(AttributeValue::M(event)) = item.get("event") else {
            return Err("the outbox item holds no event".to_owned());
        };
        match event.get("v").and_then(|v| v.as_n().ok()) {
            Some(v) if v == &quire_core::audit::FORMAT_VERSION.to_string() => {}
            Some(v) => return Err(format!("unknown event format version {v}")),
            None => return Err("the event has no format version".to_owned()),
        }
        let event: AuditEvent =
            serde_dynamo::from_item(event.clone()).map_err(|e| format!("the event is unreadable: {e}"))?;
        if event.org_id != org.as_str() {
            return Err("the event belongs to another organisation".to_owned());
        }
        if event.event_id != event_id {
            return Err("the event id does not match the outbox key".to_owned());
        }
        event.check_bound().map_err(|e| e.to_string())?;
        Ok(event)
    })();
    match verdict {
        Ok(event) => Ok(Pending { event, outbox_bytes }),
        Err(reason) => Err(Poison { event_id, item, reason }),
    }
}

/// One transaction's worth of appends: entry items in order, the outbox items they consume,
/// and the head after them.
struct Batch {
    entries: Vec<Item>,
    outbox_ids: Vec<String>,
    head: Head,
}
impl Store {
    /// The outbox items of these ids that are still pending (not yet appended), in id order:
    /// the appendable events, and the poison the writer must set aside.
    async fn pending_events(
        &self,
        org: &OrgId,
        event_ids: &[String],
    ) -> Result<(Vec<Pending>, Vec<Poison>), StoreError> {
        let mut events = Vec::new();
        let mut poison = Vec::new();
        let wanted = event_ids.iter().map(|id| keys::outbox(org, id)).collect();
        for item in self.batch_get_data(wanted).await? {
            match appendable(org, item) {
                Ok(pending) => events.push(pending),
                Err(bad) => poison.push(bad),
            }
        }
        events.sort_by(|a, b| a.event.event_id.cmp(&b.event.event_id));
        events.dedup_by(|a, b| a.event.event_id == b.event.event_id);
        Ok((events, poison))
    }

    /// Moves an outbox item the writer cannot append to the tenant's quarantine partition, with
    /// the reason, in one transaction (AUD-7: poison never blocks the events after it). Counted
    /// in the `AuditOutboxQuarantined` metric, which has an alarm in template.yaml.
    async fn quarantine(&self, org: &OrgId, poison: Poison) -> Result<(), StoreError> {
        let Poison { event_id, item, reason } = poison;
        tracing::error!(org = %org, event_id = %event_id, %reason, "outbox item quarantined");
        let key = keys::quarantine(org, &event_id);
        let mut moved = key.to_map();
        moved.insert("reason".into(), AttributeValue::S(reason));
        moved.insert(
            "quarantinedAt".into(),
            AttributeValue::S(quire_core::audit::timestamp_now()),
        );
        let mut original = item;
        original.remove("pk");
        original.remove("sk");
        let original = AttributeValue::M(original);
        let mut kept = moved.clone();
        kept.insert("original".into(), original);
        if size::item_size(&kept) <= size::MAX_ITEM_BYTES {
            moved = kept;
        } else {
            moved.insert("originalTooLarge".into(), AttributeValue::Bool(true));
        }
        let put = Put::builder()
            .table_name(&self.data_table)
            .set_item(Some(moved))
            .build()
            .map_err(StoreError::aws)?;
        let delete = Delete::builder()
            .table_name(&self.data_table)
            .set_key(Some(keys::outbox(org, &event_id).to_map()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(StoreError::aws)?;
        let writes = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().delete(delete).build(),
        ];
        match self
            .send_transaction(writes, &[OnCondition::Changed, OnCondition::Changed])
            .await
        {
            Ok(()) => {
                quire_core::telemetry::count(QUARANTINE_METRIC, 1);
                Ok(())
            }
            // Another writer moved it first (and counted it): the outcome is the same.
            Err(StoreError::Conflict) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The items of the tenant's quarantine partition: `(event id, reason)`, oldest first.
    pub async fn quarantined(&self, org: &OrgId) -> Result<Vec<(String, String)>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.data_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::quarantine(org, "").pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                (text("sk"), text("reason"))
            })
            .collect())
    }

    /// Appends the given outbox events of one organisation to its chain. Safe to run twice and
    /// concurrently: events already appended are skipped (their outbox items are gone), and the
    /// head only moves if it is still where this writer read it, so the chain cannot fork.
    pub async fn append_outbox(&self, org: &OrgId, event_ids: &[String]) -> Result<usize, StoreError> {
        let mut appended = 0;
        let mut attempts = 0;
        loop {
            let head = self.chain_head(org).await?;
            let (pending, poison) = self.pending_events(org, event_ids).await?;
            for bad in poison {
                self.quarantine(org, bad).await?;
            }
            if pending.is_empty() {
                return Ok(appended);
            }
            let batch = Self::next_batch(org, &head, pending)?;
            let count = batch.entries.len();
            match self.append_batch(org, &head, batch).await {
                Ok(()) => {
                    appended += count;
                    attempts = 0;
                }
                Err(StoreError::Conflict | StoreError::Contended) if attempts < MAX_ATTEMPTS => {
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
    fn next_batch(org: &OrgId, head: &Head, pending: Vec<Pending>) -> Result<Batch, StoreError> {
        let mut outbox_ids = Vec::new();
        let mut budget = TRANSACTION_BYTES;
        let mut entries = Vec::new();
        let mut new_head = head.clone();
        for Pending { event, outbox_bytes } in pending.into_iter().take(ENTRIES_PER_TRANSACTION) {
            let (mut next, after) =
                chain::extend(&new_head, vec![event]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let entry = next.pop().ok_or_else(|| StoreError::Corrupt("no entry".into()))?;
            let mut item = to_item(&entry, &keys::chain_entry(org, entry.seq))?;
            // Indexed by its target (`GET /documents/{id}/history`), outside what is hashed.
            item.insert(
                keys::TARGET_ATTRIBUTE.into(),
                AttributeValue::S(keys::target_entries(
                    org,
                    &entry.event.target.kind,
                    &entry.event.target.id,
                )),
            );
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
        let on_condition = vec![OnCondition::Changed; writes.len()];
        self.send_transaction(writes, &on_condition).await
    }

    /// The reconciler (AUD-1, AUD-7): appends every outbox item older than `older_than`, of every
    /// organisation, with the same code as the stream-fed writer. Items get there when their
    /// stream record was lost (a batch sent to the dead-letter queue, stream retention of 24 h
    /// exceeded, a disabled mapping); younger ones are left to the stream. Found through the
    /// sparse `OutboxByAge` index, shard by shard, so no table scan is needed.
    pub async fn reconcile(&self, older_than: Duration) -> Result<Reconciled, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let cutoff = format!("{:013}", now.saturating_sub(older_than).as_millis());
        let mut by_org: HashMap<OrgId, Vec<String>> = HashMap::new();
        for shard in keys::OUTBOX_SHARDS {
            let query = self
                .ddb
                .query()
                .table_name(&self.data_table)
                .index_name(keys::OUTBOX_INDEX)
                .key_condition_expression("#shard = :shard AND sk < :cutoff")
                .expression_attribute_names("#shard", keys::OUTBOX_SHARD_ATTRIBUTE)
                .expression_attribute_values(":shard", AttributeValue::S(shard.to_string()))
                .expression_attribute_values(":cutoff", AttributeValue::S(cutoff.clone()));
            for key in self.query_keys(query).await? {
                if let Some(org) = keys::org_of_outbox(&key.pk) {
                    by_org.entry(org).or_default().push(key.sk);
                }
            }
        }
        let mut report = Reconciled::default();
        for (org, ids) in by_org {
            report.organisations += 1;
            match self.append_outbox(&org, &ids).await {
                Ok(appended) => report.appended += appended,
                Err(error) => {
                    tracing::error!(org = %org, %error, "reconciler could not append; the next run retries");
                    report.failed_organisations += 1;
                }
            }
        }
        Ok(report)
    }

    /// Appends every pending outbox event of an organisation (recovery, and the local stack).
    pub async fn drain_outbox(&self, org: &OrgId) -> Result<usize, StoreError> {
        let query = self
            .ddb
            .query()
            .table_name(&self.data_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::outbox_partition(org)))
            .projection_expression("pk, sk")
            .consistent_read(true);
        let ids: Vec<String> = self.query_keys(query).await?.into_iter().map(|k| k.sk).collect();
        self.append_outbox(org, &ids).await
    }

    /// The keys of every item a query matches, page after page.
    async fn query_keys(&self, query: QueryFluentBuilder) -> Result<Vec<Key>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::aws)?;
            found.extend(out.items.unwrap_or_default().iter().filter_map(Key::from_map));
            match out.last_evaluated_key {
                Some(last) => start = Some(last),
                None => return Ok(found),
            }
        }
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
