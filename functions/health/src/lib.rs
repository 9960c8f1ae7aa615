//! Liveness, the API's contract (`GET /openapi.json`), and the answer for every path no function
//! serves. Public routes that touch nothing.

use http::Method;
use lambda_http::Request;
use quire_http::json::ok;
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use std::sync::Arc;

pub fn routes() -> Router {
    let any = Method::from_bytes(quire_http::route::ANY.as_bytes()).expect("ANY is a valid method token");
    Router::new(vec![
        Route::new(
            Method::GET,
            "/health",
            Access::Public,
            Module::Platform,
            Effect::Reads,
            health,
        )
        .response_schema::<Health>(),
        Route::new(
            Method::GET,
            "/openapi.json",
            Access::Public,
            Module::Platform,
            Effect::Reads,
            openapi,
        ),
        // Every path no other route serves: a problem+json 404 with the security headers, instead
        // of API Gateway's bare one, so HTTP-1 holds for every response.
        Route::new(
            any.clone(),
            "/",
            Access::Public,
            Module::Platform,
            Effect::Reads,
            not_found,
        ),
        Route::new(
            any,
            "/{proxy+}",
            Access::Public,
            Module::Platform,
            Effect::Reads,
            not_found,
        ),
    ])
    .expect("health route table")
}

async fn health(_app: Arc<App>, _ctx: RequestCtx, _req: Request) -> HandlerResult {
    ok(&Health { status: "ok" })
}

/// The function answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// `docs/openapi.json`, generated from every function's route table (`quire_http::openapi`) and
/// checked against them by the tests, so what is served is what is deployed.
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

async fn openapi(_app: Arc<App>, _ctx: RequestCtx, _req: Request) -> HandlerResult {
    let mut response = lambda_http::Response::new(lambda_http::Body::Text(OPENAPI.to_owned()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn not_found(_app: Arc<App>, _ctx: RequestCtx, _req: Request) -> HandlerResult {
    Err(Problem::not_found())
}
