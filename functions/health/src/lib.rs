//! Liveness: a public route that touches nothing.

use http::Method;
use lambda_http::Request;
use quire::json::ok;
use quire::route::HandlerResult;
use quire::{Access, App, Module, RequestCtx, Route, Router};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![Route::new(
        Method::GET,
        "/health",
        Access::Public,
        Module::Platform,
        health,
    )])
    .expect("health route table")
}

async fn health(_app: Arc<App>, _ctx: RequestCtx, _req: Request) -> HandlerResult {
    ok(&serde_json::json!({ "status": "ok" }))
}
