//! The edge of every API function: an API Gateway HTTP API event (payload format 2.0) in, its
//! response out. The Lambda runtime ([`run`]) and the local gateway ([`handle`]) both go through
//! here, so a request is read the same way on both paths.
//!
//! Why not `lambda_http::run`: lambda_http builds the request URL from the client's `Host` and
//! `X-Forwarded-Proto` headers and `unwrap`s the result, so a crafted header either panics the
//! function (the client gets no answer) or changes the path the router sees, and with it which
//! route runs (HTTP-2, HTTP-4). Here:
//!
//! - the request URI is origin-form, `rawPath` `?` `rawQueryString`, both set by API Gateway from
//!   the request line; no header takes part in routing (the API has only the `$default` stage,
//!   so `rawPath` carries no stage prefix);
//! - the method is `requestContext.http.method`;
//! - anything in the event that cannot be read (a header the `http` crate refuses, a body that
//!   is not the base64 it claims to be, a path that is not origin-form) is a 400 problem;
//! - a panic anywhere in the pipeline is a 500 problem, never a dropped connection.
//!
//! HTTP APIs hand the function `rawPath` percent-decoded (a client's `/a%3Fb` arrives as
//! `/a?b`), so before it becomes a URI every byte that is not allowed in a path segment
//! (RFC 3986 §3.3) is percent-encoded again, `%` included: a decoded `?` or `#` stays part of
//! the path instead of starting a query or a fragment, and the request filter sees control
//! characters as the client sent them.
//!
//! Every answer made here carries the security headers (HTTP-1) and a correlation id (HTTP-3),
//! as the pipeline's own do.

// A panic must unwind to be caught and answered (see `respond`).
#[cfg(panic = "abort")]
compile_error!("quire-http needs panic = \"unwind\": a panic must become a 500 problem, not a dropped invocation");

use crate::context::CorrelationId;
use crate::pipeline::correlation::{self, acceptable};
use crate::pipeline::headers::stamp_security_headers;
use crate::problem::Problem;
use base64::Engine;
use futures::FutureExt;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Context, LambdaEvent, Request, RequestExt, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use tower::{Service, ServiceExt};

/// What is percent-encoded in a decoded `rawPath`: everything RFC 3986 §3.3 does not allow in
/// a path segment, except `/` (non-ASCII is always encoded).
const NOT_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Serves a function on the Lambda runtime: each invocation's payload goes through [`request`]
/// and the service, and the answer back as an [`ApiGatewayV2httpResponse`].
pub async fn run<S>(service: S) -> Result<(), lambda_http::Error>
where
    S: Service<Request, Response = Response<Body>, Error = lambda_http::Error> + Clone + Send + 'static,
    S::Future: Send,
{
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event: LambdaEvent<Value>| {
        let service = service.clone();
        async move { Ok::<_, lambda_http::Error>(serve(service, event.payload, event.context).await) }
    }))
    .await
}

/// One event through one service, as [`run`] does it without the runtime: what the local gateway
/// calls. The event is the JSON API Gateway would send.
pub async fn handle<S>(service: S, event: Value) -> ApiGatewayV2httpResponse
where
    S: Service<Request, Response = Response<Body>, Error = lambda_http::Error>,
{
    serve(service, event, Context::default()).await
}

/// An event through the service, or answered at the edge when it cannot be read.
async fn serve<S>(service: S, event: Value, context: Context) -> ApiGatewayV2httpResponse
where
    S: Service<Request, Response = Response<Body>, Error = lambda_http::Error>,
{
    let id = event_request_id(&event);
    match request(event) {
        Ok(req) => respond(service, req.with_lambda_context(context)).await,
        Err(problem) => answer(problem, id),
    }
}

/// API Gateway's request id, for an event that cannot be read further; else a new UUID.
fn event_request_id(event: &Value) -> String {
    event
        .pointer("/requestContext/requestId")
        .and_then(Value::as_str)
        .filter(|id| acceptable(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Reads an API Gateway HTTP API event (payload format 2.0) into a request.
///
/// Errors: a 400 problem when the event's headers, path, method or body cannot be read.
pub fn request(mut event: Value) -> Result<Request, Problem> {
    // Headers first, by hand: the event type's own deserializer refuses the whole event on one
    // bad value, and the client should learn that a header, not "the request", was unreadable.
    let headers = headers(event.as_object_mut().and_then(|e| e.remove("headers")))?;
    // Cookies are a header in payload 2.0 (`cookies`); no route reads them.
    if let Some(event) = event.as_object_mut() {
        event.remove("cookies");
    }
    let event: ApiGatewayV2httpRequest =
        serde_json::from_value(event).map_err(|_| Problem::bad_request("the request could not be read"))?;
    let raw_path = event.raw_path.clone().unwrap_or_default();
    let mut target = utf8_percent_encode(&raw_path, NOT_PATH).to_string();
    if let Some(query) = event.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(query);
    }
    // Origin-form only (RFC 9110 §7.1, RFC 9112 §3.2.1): an absolute or authority form could
    // carry a host into the URI.
    if !raw_path.starts_with('/') {
        return Err(Problem::bad_request("the request path could not be read"));
    }
    let uri = http::uri::PathAndQuery::try_from(target)
        .map(http::Uri::from)
        .map_err(|_| Problem::bad_request("the request path could not be read"))?;
    let body = match event.body.as_deref() {
        None => Body::Empty,
        Some(text) if event.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Body::from)
            .map_err(|_| Problem::invalid_body("the body is not the base64 it is declared to be", None))?,
        Some(text) => Body::from(text),
    };
    let query: QueryMap = event
        .raw_query_string
        .as_deref()
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    let mut req = http::Request::new(body);
    *req.method_mut() = event.request_context.http.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req
        .with_raw_http_path(raw_path)
        .with_query_string_parameters(query)
        .with_path_parameters(event.path_parameters)
        .with_stage_variables(event.stage_variables)
        .with_request_context(RequestContext::ApiGatewayV2(event.request_context)))
}

/// Payload 2.0 headers: one string per name, repeated headers already joined with commas by
/// API Gateway.
fn headers(raw: Option<Value>) -> Result<HeaderMap, Problem> {
    let mut headers = HeaderMap::new();
    let Some(raw) = raw.filter(|v| !v.is_null()) else {
        return Ok(headers);
    };
    let Value::Object(raw) = raw else {
        return Err(Problem::bad_request("the request headers could not be read"));
    };
    for (name, value) in raw {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Problem::bad_request("a request header name is malformed"))?;
        let value = value
            .as_str()
            .and_then(|v| HeaderValue::from_str(v).ok())
            .ok_or_else(|| Problem::bad_request(format!("the value of the header {name} is malformed")))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Runs the service on a request. A panic becomes a 500 problem: the panic is logged, and the
/// client gets an answer with the security headers instead of a dropped connection.
pub async fn respond<S>(service: S, req: Request) -> ApiGatewayV2httpResponse
where
    S: Service<Request, Response = Response<Body>, Error = lambda_http::Error>,
{
    let mut req = req;
    let id = correlation::correlation_id(&req);
    req.extensions_mut().insert(CorrelationId(id.clone()));
    let span = tracing::info_span!("edge", correlation_id = %id);
    let outcome = AssertUnwindSafe(service.oneshot(req)).catch_unwind().await;
    let _entered = span.enter();
    match outcome {
        Ok(Ok(response)) => response_event(response),
        Ok(Err(error)) => answer(Problem::internal(error), id),
        Err(_) => answer(Problem::internal("the request pipeline panicked"), id),
    }
}

/// A problem answered at the edge, with the headers the pipeline would have put on it.
fn answer(problem: Problem, correlation_id: String) -> ApiGatewayV2httpResponse {
    let mut response = problem.into_response();
    stamp_security_headers(response.headers_mut());
    if let Ok(id) = http::HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(correlation::HEADER, id);
    }
    response_event(response)
}

/// A response as API Gateway reads it (payload 2.0): `Set-Cookie` goes to `cookies`, a binary
/// body is base64 with `isBase64Encoded`.
pub fn response_event(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut headers = parts.headers;
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    headers.remove(SET_COOKIE);
    let mut event = ApiGatewayV2httpResponse::default();
    event.status_code = i64::from(parts.status.as_u16());
    event.headers = headers;
    event.is_base64_encoded = matches!(body, Body::Binary(_));
    event.body = match body {
        Body::Empty => None,
        body => Some(body),
    };
    event.cookies = cookies;
    event
}

#[cfg(test)]
mod tests;
