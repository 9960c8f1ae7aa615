use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    quire::telemetry::init();
    let app = quire::App::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let app = app.clone();
        async move { Ok::<_, lambda_runtime::Error>(quire_fn_audit_writer::handle(&app, event.payload).await) }
    }))
    .await
}
