//! The function's event: a batch of messages from the ingest queue (template.yaml
//! `AttachmentIngestQueueMapping`), each the body of an S3 notification. A message whose
//! ingest must be retried is reported as a batch item failure (`ReportBatchItemFailures`):
//! SQS delivers it again after its visibility timeout, at most [`MAX_RECEIVES`] times, and
//! then moves it to the dead-letter queue.

use crate::handler::{ingest_notification, Attempt, Ingest, Retry};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// Deliveries of one message before SQS moves it to the dead-letter queue: the ingest
/// queue's `RedrivePolicy.maxReceiveCount` in template.yaml (a guardrail test holds the two
/// equal). The last delivery rejects an upload it still cannot judge ([`Attempt::Final`]).
pub const MAX_RECEIVES: u32 = 5;

/// What the last delivery keeps of the invocation's time to write its rejection.
pub const REJECTION_MARGIN: std::time::Duration = std::time::Duration::from_secs(15);

/// Handles a batch; the answer names the messages to deliver again. `deadline`: when the
/// invocation ends (Lambda's context), so that a last delivery rejects in time.
pub async fn handle(ingest: &Ingest, event: SqsEvent, deadline: Option<std::time::Instant>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        // SQS's own count of this message's deliveries, this one included.
        let receives = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse::<u32>().ok())
            .unwrap_or(1);
        let attempt = if receives >= MAX_RECEIVES {
            Attempt::Final(deadline.map(|d| {
                d.saturating_duration_since(std::time::Instant::now())
                    .saturating_sub(REJECTION_MARGIN)
            }))
        } else {
            Attempt::Retryable
        };
        let body = message.body.as_deref().unwrap_or_default();
        match ingest_notification(ingest, body, &message_id, attempt).await {
            Ok(outcomes) => {
                for outcome in outcomes {
                    tracing::info!(%message_id, ?outcome, "upload ingested");
                }
            }
            Err(Retry(cause)) => {
                tracing::warn!(%message_id, receives, %cause, "ingest will be retried");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}
