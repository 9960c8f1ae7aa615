//! Layer 1: correlation id (HTTP-3), request span and one access log line per request.

use crate::context::CorrelationId;
use futures::future::BoxFuture;
use http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tracing::Instrument;

pub const HEADER: &str = "x-correlation-id";

#[derive(Clone)]
pub struct CorrelationLayer;

impl<S> Layer<S> for CorrelationLayer {
    type Service = Correlation<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Correlation { inner }
    }
}

#[derive(Clone)]
pub struct Correlation<S> {
    inner: S,
}

/// An id is kept only if it is short and plain, so it cannot inject into logs. API Gateway's
/// own request ids are base64 (`JKJaXmPLvHcESHA=`), hence `+`, `/` and `=`.
pub(crate) fn acceptable(id: &str) -> bool {
    (8..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b))
}

/// The request's correlation id: the client's `X-Correlation-Id` if plain, else API Gateway's
/// request id, else a new UUID.
pub(crate) fn correlation_id(req: &Request) -> String {
    // Chosen at the edge already (`quire_http::event`): one id for the whole request.
    if let Some(CorrelationId(id)) = req.extensions().get::<CorrelationId>() {
        return id.clone();
    }
    if let Some(id) = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
    {
        return id.to_owned();
    }
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(id) = ctx.request_id.as_deref().filter(|id| acceptable(id)) {
            return id.to_owned();
        }
    }
    uuid::Uuid::new_v4().to_string()
}

impl<S> Service<Request> for Correlation<S>
where
    S: Service<Request, Response = Response<Body>, Error = lambda_http::Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = lambda_http::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, lambda_http::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = correlation_id(&req);
        req.extensions_mut().insert(CorrelationId(id.clone()));
        let span = tracing::info_span!("request", correlation_id = %id, method = %req.method(), path = %req.uri().path(), viewer = tracing::field::Empty);
        let inner = self.inner.clone();
        let started = Instant::now();
        Box::pin(
            async move {
                let mut response = inner.oneshot(req).await?;
                if let Ok(value) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert(HEADER, value);
                }
                tracing::info!(
                    status = response.status().as_u16(),
                    latency_us = started.elapsed().as_micros() as u64,
                    "request served"
                );
                Ok(response)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    /// Proves: HTTP-3
    #[test]
    fn keeps_plain_ids_and_api_gateway_ids_only() {
        assert!(acceptable("JKJaXmPLvHcESHA="));
        assert!(acceptable("c3ef4b44-0b0a-49b7-aedc-e1d43955919d"));
        assert!(!acceptable("short"));
        assert!(!acceptable("evil\"}{injected"));
        assert!(!acceptable("line\nbreak-0001"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
