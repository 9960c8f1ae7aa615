//! The innermost service: hands the request and its context to the matched route's handler.

use super::edge::Viewer;
use crate::app::App;
use crate::context::{CorrelationId, RequestCtx};
use crate::problem::Problem;
use crate::route::Matched;
use futures::future::BoxFuture;
use http::header::USER_AGENT;
use lambda_http::{Body, Request, Response};
use quire_store::tenant::Caller;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

#[derive(Clone)]
pub struct Dispatch {
    app: Arc<App>,
}

impl Dispatch {
    pub fn new(app: Arc<App>) -> Self {
        Dispatch { app }
    }
}

impl Service<Request> for Dispatch {
    type Response = Response<Body>;
    type Error = lambda_http::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, lambda_http::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let app = self.app.clone();
        Box::pin(async move {
            let Some(matched) = req.extensions().get::<Matched>().cloned() else {
                return Ok(Problem::internal("dispatch without a matched route").into_response());
            };
            let ctx = RequestCtx {
                correlation_id: req
                    .extensions()
                    .get::<CorrelationId>()
                    .map(|c| c.0.clone())
                    .unwrap_or_default(),
                source_ip: req.extensions().get::<Viewer>().map(|v| v.0.to_string()),
                user_agent: req
                    .headers()
                    .get(USER_AGENT)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
                params: matched.params.clone(),
                caller: req.extensions().get::<Caller>().cloned(),
                effect: matched.route.effect,
            };
            Ok(matched
                .route
                .call(app, ctx, req)
                .await
                .unwrap_or_else(Problem::into_response))
        })
    }
}
