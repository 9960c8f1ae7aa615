//! Layer 2: security headers on every response, errors included (HTTP-1).

use crate::problem::Problem;
use http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::{Body, Response};
use tower::util::MapResultLayer;

/// The exact headers of HTTP-1. An API serves no documents, so everything a browser could
/// do with a response is switched off.
pub const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("cache-control", "no-store"),
];

type Outcome = Result<Response<Body>, lambda_http::Error>;

/// Stamps the headers on whatever the inner layers produced. An inner error would reach API
/// Gateway as a bare 502, so it becomes a problem response first.
fn secure(outcome: Outcome) -> Outcome {
    let mut response = outcome.unwrap_or_else(|error| Problem::internal(error).into_response());
    stamp_security_headers(response.headers_mut());
    Ok(response)
}

/// Sets every header of [`SECURITY_HEADERS`], replacing any value already there.
pub fn stamp_security_headers(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
}

pub fn layer() -> MapResultLayer<fn(Outcome) -> Outcome> {
    MapResultLayer::new(secure as fn(Outcome) -> Outcome)
}
