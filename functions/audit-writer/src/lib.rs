//! The audit writer: the single writer of the audit chains (AUD-2, AUD-7). Triggered by the
//! data table's stream, filtered to outbox inserts; one ordered invocation per shard.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use quire::App;

/// Appends the batch's outbox events; records that could not be appended are reported so that
/// Lambda retries from them (appending is idempotent, so retries cannot duplicate entries).
pub async fn handle(app: &App, event: Event) -> DynamoDbEventResponse {
    let failed = app.store.append_stream_records(&event.records).await;
    let mut response = DynamoDbEventResponse::default();
    for sequence_number in failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence_number);
        response.batch_item_failures.push(failure);
    }
    response
}
