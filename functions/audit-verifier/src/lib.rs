//! The audit verifier: runs the full re-walks of the audit chain that `POST
//! /audit/verifications` requests (AUD-5), in slices.
//!
//! A job is a record in the data table; its insert, and each save of its progress, reaches this
//! function through the table's stream (template.yaml: `AuditVerifierStreamMapping`, filtered to
//! jobs still `queued` or `running`). Each invocation walks on from where the job stopped until
//! its time runs short, then saves its progress (which triggers the next slice) or records the
//! verdict with its audit entry ([`quire_store::Store::run_verification`]). So a chain of any
//! length is verified without an invocation ever timing out.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use quire_store::Store;
use std::time::{Duration, Instant};

/// Time kept back from the invocation's deadline to save progress and answer.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(30);

/// Runs one slice of each job in the batch, stopping at `until`; records that failed are
/// reported so that Lambda retries from them (a slice is safe to run again).
pub async fn handle(store: &Store, event: Event, until: Instant) -> DynamoDbEventResponse {
    quire_store::batch_item_failures(store.run_verification_records(&event.records, until).await)
}

/// The instant a slice must stop: the invocation's deadline (milliseconds since the Unix
/// epoch, from the Lambda context) less [`SAFETY_MARGIN`].
pub fn slice_end(deadline_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(SAFETY_MARGIN);
    Instant::now() + left
}
