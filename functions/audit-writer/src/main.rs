use lambda_runtime::{service_fn, LambdaEvent};
use quire_fn_audit_writer::Invocation;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    quire::telemetry::init();
    let app = quire::App::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Invocation>| {
        let app = app.clone();
        async move { Ok::<_, lambda_runtime::Error>(Box::pin(quire_fn_audit_writer::invoke(&app, event.payload)).await?) }
    }))
    .await
}
