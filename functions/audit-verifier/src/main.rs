use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    quire::telemetry::init();
    let app = quire::App::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| {
        let app = app.clone();
        async move {
            let until = quire_fn_audit_verifier::slice_end(event.context.deadline);
            Ok::<_, lambda_runtime::Error>(Box::pin(quire_fn_audit_verifier::handle(&app, event.payload, until)).await)
        }
    }))
    .await
}
