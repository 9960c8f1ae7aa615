#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    quire::telemetry::init();
    let app = quire::App::from_env().await?;
    lambda_http::run(quire::pipeline::service(app, quire_fn_health::routes())).await
}
