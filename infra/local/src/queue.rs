//! Drives a queue-triggered function locally as its SQS event source mapping does on AWS
//! (`AttachmentIngestQueueMapping`): receives up to `BatchSize` messages with their system
//! attributes (`ApproximateReceiveCount` among them), hands them, as the Lambda event they
//! would be, to the function's own handler, and deletes those it did not report failed
//! (`ReportBatchItemFailures`). A failed message is made visible again after a short pause
//! rather than the queue's visibility timeout (12 minutes), so that a local retry is seen
//! within seconds; the queue's own `RedrivePolicy` (kept by the emulator) moves it to the
//! dead-letter queue after `maxReceiveCount` deliveries, as on AWS.

use crate::provision::QueueMapping;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// No long polling: the emulator serves one request at a time, and a waiting receive would
/// hold every other caller.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Seconds before a failed message is delivered again (AWS: the queue's visibility timeout).
const RETRY_AFTER_SECONDS: i32 = 1;

/// A function's handler as the driver calls it: the batch in, the failed messages out.
pub type QueueHandler = Arc<dyn Fn(SqsEvent) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + Send>> + Send + Sync>;

/// Polls the mapping's queue forever (until the task is dropped).
pub async fn run(client: Client, mapping: QueueMapping, region: String, handler: QueueHandler) {
    let source_arn = format!(
        "arn:aws:sqs:{region}:{}:{}",
        crate::provision::ACCOUNT_ID,
        mapping.queue_url.rsplit('/').next().unwrap_or_default()
    );
    loop {
        let received = client
            .receive_message()
            .queue_url(&mapping.queue_url)
            .max_number_of_messages(mapping.batch_size.clamp(1, 10))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                tracing::debug!(queue = %mapping.name, error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "receive failed");
                Vec::new()
            }
        };
        if messages.is_empty() {
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        let mut event = SqsEvent::default();
        for message in &messages {
            let mut record = SqsMessage::default();
            record.message_id.clone_from(&message.message_id);
            record.receipt_handle.clone_from(&message.receipt_handle);
            record.body.clone_from(&message.body);
            record.md5_of_body.clone_from(&message.md5_of_body);
            record.attributes = message
                .attributes
                .iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(source_arn.clone());
            record.aws_region = Some(region.clone());
            event.records.push(record);
        }
        // A panicking handler fails its batch, as a crashed invocation would, and the driver
        // goes on.
        let response = match tokio::spawn(handler(event)).await {
            Ok(response) => response,
            Err(error) => {
                tracing::error!(queue = %mapping.name, %error, "the handler failed; its batch is delivered again");
                let mut failed = SqsBatchResponse::default();
                for message in &messages {
                    let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
                    failure.item_identifier = message.message_id.clone().unwrap_or_default();
                    failed.batch_item_failures.push(failure);
                }
                failed
            }
        };
        for message in messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(&f.item_identifier) == message.message_id.as_ref());
            let Some(receipt) = message.receipt_handle else {
                continue;
            };
            let done = if failed {
                client
                    .change_message_visibility()
                    .queue_url(&mapping.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(RETRY_AFTER_SECONDS)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            } else {
                client
                    .delete_message()
                    .queue_url(&mapping.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            };
            if let Err(error) = done {
                tracing::warn!(queue = %mapping.name, %error, "a message could not be settled");
            }
        }
    }
}
