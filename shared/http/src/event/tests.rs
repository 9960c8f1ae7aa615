//! The event adapter against hostile events: what API Gateway passes through from a client
//! (header values, paths, bodies) must neither panic nor reach routing.

use super::*;
use crate::pipeline::headers::SECURITY_HEADERS;
use serde_json::json;

/// The request target the service saw, as its body.
async fn echo(req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(Response::new(Body::from(format!("{} {}", req.method(), req.uri()))))
}

fn event(path: &str, headers: Value) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "limit=5",
        "headers": headers,
        "requestContext": {
            "http": { "method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "t" },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_777_638_896_000u64,
        },
        "isBase64Encoded": false,
    })
}

fn body(response: &ApiGatewayV2httpResponse) -> String {
    match &response.body {
        Some(Body::Text(text)) => text.clone(),
        Some(Body::Binary(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    }
}

fn assert_problem(response: &ApiGatewayV2httpResponse, status: i64, what: &str) {
    assert_eq!(response.status_code, status, "{what}: {}", body(response));
    assert_eq!(
        response.headers.get("content-type").map(|v| v.as_bytes()),
        Some(crate::problem::PROBLEM_JSON.as_bytes()),
        "{what}"
    );
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            response.headers.get(name).map(|v| v.as_bytes()),
            Some(value.as_bytes()),
            "{what}: {name}"
        );
    }
}

/// Header values a client can send through API Gateway, chosen against URL assembly: lists,
/// spaces, fragments, paths, queries, userinfo, ports, schemes, encodings, non-ASCII, length.
const HOSTILE_VALUES: [&str; 15] = [
    "a, b",
    "a b",
    "x#fragment",
    "",
    "localhost/audit/verify?",
    "localhost/documents/other?x=",
    "user:pw@evil.example",
    "evil.example:99999",
    "https://evil.example/path",
    "..%2f..%2f",
    "%00",
    "é",
    "\u{202e}",
    "[::1",
    "https",
];

/// Every header lambda_http or Quire reads on the way in.
const READ_HEADERS: [&str; 9] = [
    "host",
    "x-forwarded-proto",
    "x-forwarded-for",
    "x-forwarded-port",
    "authorization",
    "content-type",
    "user-agent",
    "x-correlation-id",
    "cookie",
];

/// Proves: HTTP-2
#[tokio::test]
async fn the_path_comes_from_the_event_never_from_host_or_forwarded_headers() {
    let event = event(
        "/audit",
        json!({ "host": "evil.example/audit/verify?", "x-forwarded-proto": "https://other.example/documents#" }),
    );
    let response = handle(tower::service_fn(echo), event).await;
    assert_eq!(response.status_code, 200);
    assert_eq!(body(&response), "GET /audit?limit=5");
}

/// Proves: HTTP-2
#[tokio::test]
async fn no_header_value_panics_or_changes_the_path() {
    for name in READ_HEADERS {
        for value in HOSTILE_VALUES {
            let response = handle(tower::service_fn(echo), event("/documents/a", json!({ name: value }))).await;
            let what = format!("{name}: {value:?}");
            assert_eq!(response.status_code, 200, "{what}: {}", body(&response));
            assert_eq!(body(&response), "GET /documents/a?limit=5", "{what}");
        }
        // Control characters are no header value (RFC 9110 §5.5): refused, not a panic.
        for value in ["line\nbreak", "nul\0", "cr\r", "del\u{7f}"] {
            let response = handle(tower::service_fn(echo), event("/documents/a", json!({ name: value }))).await;
            assert_problem(&response, 400, &format!("{name}: {value:?}"));
        }
    }
}

/// Proves: HTTP-2, HTTP-4
#[tokio::test]
async fn an_unreadable_event_is_a_400_problem_not_a_panic() {
    let cases: Vec<(&str, Value)> = vec![
        ("malformed header name", event("/health", json!({ "bad name": "x" }))),
        ("header value not a string", event("/health", json!({ "host": 7 }))),
        ("headers not an object", event("/health", json!(["host"]))),
        ("path not origin-form", event("https://evil.example/health", json!({}))),
        ("authority-form path", event("evil.example:443", json!({}))),
        ("asterisk path", event("*", json!({}))),
        ("empty path", event("", json!({}))),
        ("missing request context", json!({ "rawPath": "/health" })),
        ("not an object", json!("GET /health")),
        ("bad method", {
            let mut e = event("/health", json!({}));
            e["requestContext"]["http"]["method"] = json!("GE T");
            e
        }),
        ("body not base64", {
            let mut e = event("/health", json!({}));
            e["body"] = json!("%%% not base64 %%%");
            e["isBase64Encoded"] = json!(true);
            e
        }),
    ];
    for (what, event) in cases {
        let response = handle(tower::service_fn(echo), event).await;
        assert_problem(&response, 400, what);
        assert!(!body(&response).contains("evil"), "{what}: the answer echoes the input");
    }
}

/// Proves: HTTP-1, HTTP-4
#[tokio::test]
async fn a_panic_in_the_pipeline_is_a_500_problem_with_the_security_headers() {
    async fn panics(_req: Request) -> Result<Response<Body>, lambda_http::Error> {
        panic!("a handler bug");
    }
    let response = handle(tower::service_fn(panics), event("/health", json!({}))).await;
    assert_problem(&response, 500, "panic");
    assert!(!body(&response).contains("handler bug"), "the panic message leaked");
}

/// API Gateway hands over `rawPath` decoded: what a client encoded stays in the path.
///
/// Proves: HTTP-2
#[tokio::test]
async fn a_decoded_raw_path_stays_a_path() {
    for (raw, seen) in [
        ("/health?x", "GET /health%3Fx?limit=5"),
        ("/health#x", "GET /health%23x?limit=5"),
        ("/documents/a b", "GET /documents/a%20b?limit=5"),
        ("/documents/a\nb", "GET /documents/a%0Ab?limit=5"),
        ("/documents/100%", "GET /documents/100%25?limit=5"),
        ("/documents/é", "GET /documents/%C3%A9?limit=5"),
        ("/documents/a/b", "GET /documents/a/b?limit=5"),
    ] {
        let response = handle(tower::service_fn(echo), event(raw, json!({}))).await;
        assert_eq!(body(&response), seen, "{raw:?}");
    }
}

/// An answer made at the edge carries API Gateway's request id as its correlation id.
///
/// Proves: HTTP-3
#[tokio::test]
async fn edge_answers_carry_the_request_id() {
    let response = handle(tower::service_fn(echo), event("", json!({}))).await;
    assert_eq!(
        response.headers.get("x-correlation-id").map(|v| v.as_bytes()),
        Some(&b"JKJaXmPLvHcESHA="[..])
    );
}

/// Proves: HTTP-2
#[tokio::test]
async fn a_base64_body_is_decoded_and_repeated_headers_stay_one_value() {
    async fn body_of(req: Request) -> Result<Response<Body>, lambda_http::Error> {
        let accept = req.headers().get_all("accept").iter().count();
        let text = match req.body() {
            Body::Binary(bytes) => format!("binary {} {accept}", String::from_utf8_lossy(bytes)),
            Body::Text(text) => format!("text {text} {accept}"),
            _ => format!("empty {accept}"),
        };
        Ok(Response::new(Body::from(text)))
    }
    let mut e = event("/health", json!({ "accept": "a/b,c/d" }));
    e["body"] = json!("aGVsbG8=");
    e["isBase64Encoded"] = json!(true);
    assert_eq!(body(&handle(tower::service_fn(body_of), e).await), "binary hello 1");
}

#[test]
fn a_response_becomes_a_payload_2_answer() {
    let mut response = Response::new(Body::Binary(vec![0, 159, 146, 150]));
    *response.status_mut() = http::StatusCode::CREATED;
    response
        .headers_mut()
        .append(SET_COOKIE, HeaderValue::from_static("a=1"));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/octet-stream"));
    let event = response_event(response);
    assert_eq!(event.status_code, 201);
    assert!(event.is_base64_encoded);
    assert_eq!(event.cookies, vec!["a=1".to_owned()]);
    assert!(!event.headers.contains_key(SET_COOKIE));
    let json = serde_json::to_value(&event).expect("serialises");
    assert_eq!(json["body"], "AJ+Slg==");
}
