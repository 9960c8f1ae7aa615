use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    quire_core::telemetry::init();
    let ingest = std::sync::Arc::new(quire_fn_attachment_ingest::Ingest::from_env().await?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let ingest = ingest.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(quire_fn_attachment_ingest::queue::handle(&ingest, event.payload).await)
        }
    }))
    .await
}
