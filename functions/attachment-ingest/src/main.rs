use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    quire_core::telemetry::init();
    let ingest = std::sync::Arc::new(quire_fn_attachment_ingest::Ingest::from_env().await?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let ingest = ingest.clone();
        // The context's deadline is in milliseconds since the epoch.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let deadline = Instant::now() + Duration::from_millis(event.context.deadline.saturating_sub(now));
        async move {
            let answer = quire_fn_attachment_ingest::queue::handle(&ingest, event.payload, Some(deadline)).await;
            Ok::<_, lambda_runtime::Error>(answer)
        }
    }))
    .await
}
