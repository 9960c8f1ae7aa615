#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    quire_core::telemetry::init();
    let app = quire_http::App::from_env().await?;
    quire_http::event::run(quire_http::pipeline::service(app, quire_fn_attachments::routes())).await
}
