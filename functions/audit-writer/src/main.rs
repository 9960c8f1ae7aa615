use lambda_runtime::{service_fn, LambdaEvent};
use quire_fn_audit_writer::Invocation;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    quire_core::telemetry::init();
    let store = std::sync::Arc::new(quire_store::Store::from_env().await?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Invocation>| {
        let store = store.clone();
        async move { Ok::<_, lambda_runtime::Error>(Box::pin(quire_fn_audit_writer::invoke(&store, event.payload)).await?) }
    }))
    .await
}
