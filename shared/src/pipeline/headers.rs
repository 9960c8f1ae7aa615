//! Layer 3: security headers on every response, errors included (HTTP-1).

use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue};
use lambda_http::{Body, Request, Response};
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt};

/// The exact headers of HTTP-1. An API serves no documents, so everything a browser could
/// do with a response is switched off.
pub const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("permissions-policy", "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()"),
    ("cache-control", "no-store"),
];

#[derive(Clone)]
pub struct SecurityHeadersLayer;

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders { inner }
    }
}

#[derive(Clone)]
pub struct SecurityHeaders<S> {
    inner: S,
}

impl<S> Service<Request> for SecurityHeaders<S>
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

    fn call(&mut self, req: Request) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            // An inner error would reach API Gateway as a bare 502; answer a problem instead.
            let mut response = match inner.oneshot(req).await {
                Ok(response) => response,
                Err(error) => crate::problem::Problem::internal(error).into_response(),
            };
            let headers = response.headers_mut();
            for (name, value) in SECURITY_HEADERS {
                headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
            }
            Ok(response)
        })
    }
}
