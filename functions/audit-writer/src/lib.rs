//! The audit writer: the single writer of the audit chains (AUD-1, AUD-2, AUD-7). Two triggers,
//! one code path ([`quire_store::Store::append_outbox`]):
//!
//! - the data table's stream, filtered to outbox inserts, one ordered invocation per shard;
//! - a schedule (template.yaml: `ReconcileSchedule`, every 5 minutes) that appends outbox items
//!   older than the input's `olderThanSeconds`, whose stream records were lost (dead-lettered
//!   batches, stream expiry). Replaying the dead-letter queue is therefore a matter of running
//!   the reconciler: `aws lambda invoke --function-name <AuditWriterFunction> --payload
//!   '{"reconcile":{"olderThanSeconds":0}}' out.json` (docs/operations.md).

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use quire_store::Store;
use serde::Deserialize;
use std::time::Duration;

/// What invokes the writer.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    /// The schedule's input: `{"reconcile": {"olderThanSeconds": 300}}`.
    Reconcile { reconcile: ReconcileRequest },
    /// A batch of the data table's stream.
    Stream(Event),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconcileRequest {
    /// Outbox items younger than this are left to the stream.
    pub older_than_seconds: u64,
}

/// Runs one invocation; the answer is the stream batch response or the reconciler's report.
pub async fn invoke(store: &Store, invocation: Invocation) -> Result<serde_json::Value, quire_store::StoreError> {
    match invocation {
        Invocation::Stream(event) => Ok(serde_json::to_value(handle(store, event).await).unwrap_or_default()),
        Invocation::Reconcile { reconcile } => {
            let report = store
                .reconcile(Duration::from_secs(reconcile.older_than_seconds))
                .await?;
            tracing::info!(?report, "reconciler run");
            Ok(serde_json::to_value(report).unwrap_or_default())
        }
    }
}

/// Appends the batch's outbox events; records that could not be appended are reported so that
/// Lambda retries from them (appending is idempotent, so retries cannot duplicate entries).
pub async fn handle(store: &Store, event: Event) -> DynamoDbEventResponse {
    quire_store::batch_item_failures(store.append_stream_records(&event.records).await)
}
