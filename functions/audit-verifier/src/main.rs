use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    quire_core::telemetry::init();
    let store = std::sync::Arc::new(quire_store::Store::from_env().await?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| {
        let store = store.clone();
        async move {
            let until = quire_fn_audit_verifier::slice_end(event.context.deadline);
            Ok::<_, lambda_runtime::Error>(
                Box::pin(quire_fn_audit_verifier::handle(&store, event.payload, until)).await,
            )
        }
    }))
    .await
}
