//! Layer 4: the request filter (HTTP-2). Refuses what no route should ever see, before any
//! token is verified or any table read: scanner signatures, a body on a route that takes none
//! (400), oversized bodies (413), bodies that are not JSON (415), malformed JSON (400),
//! control or bidi-override characters (400), and an `Idempotency-Key` on a route that does
//! not honour one (400).
//! Unknown fields are refused where the body is parsed into the route's type (see `body`).

use super::stage::Stage;
use crate::conditional::IDEMPOTENCY_KEY;
use crate::problem::Problem;
use crate::route::Matched;
use http::header::{CONTENT_TYPE, USER_AGENT};
use lambda_http::{Body, Request, RequestExt};
use quire_core::text::has_forbidden_chars;
use serde_json::Value;

/// User agents of automated scanners; such traffic is refused outright.
const SCANNER_AGENTS: [&str; 10] = [
    "sqlmap",
    "nikto",
    "nuclei",
    "masscan",
    "zgrab",
    "acunetix",
    "nessus",
    "openvas",
    "wpscan",
    "dirbuster",
];

#[derive(Clone)]
pub struct RequestFilter;

/// The bytes of a request body, whichever way the event carried it.
pub(crate) fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

fn is_json(req: &Request) -> bool {
    let Some(value) = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    // Parameters per RFC 9110 §8.3.1: case-insensitive names, values as tokens or quoted strings.
    let utf8 = |p: &str| {
        p.split_once('=').is_some_and(|(name, value)| {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            name.trim().eq_ignore_ascii_case("charset") && value.eq_ignore_ascii_case("utf-8")
        })
    };
    media.eq_ignore_ascii_case("application/json") && parts.all(|p| p.is_empty() || utf8(p))
}

/// True when any string or key in the document holds a forbidden character. Line breaks are
/// allowed in values (document bodies have paragraphs), never in keys.
fn json_has_forbidden_chars(value: &Value) -> bool {
    match value {
        Value::String(s) => has_forbidden_chars(s, true),
        Value::Array(items) => items.iter().any(json_has_forbidden_chars),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| has_forbidden_chars(k, false) || json_has_forbidden_chars(v)),
        _ => false,
    }
}

/// Percent-decodes (RFC 3986 §2.1) and looks for forbidden characters, so `%0a` counts as the
/// line break it stands for, wherever it sits in the text.
fn percent_decoded_has_forbidden_chars(raw: &str) -> bool {
    has_forbidden_chars(&percent_encoding::percent_decode_str(raw).decode_utf8_lossy(), false)
}

impl Stage for RequestFilter {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let agent = req
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if SCANNER_AGENTS.iter().any(|s| agent.contains(s)) {
            return Err(Problem::request_refused());
        }
        if percent_decoded_has_forbidden_chars(req.uri().path())
            || req.uri().query().is_some_and(percent_decoded_has_forbidden_chars)
        {
            return Err(Problem::control_characters("URL"));
        }
        if req.query_string_parameters_ref().is_some_and(|q| {
            q.iter()
                .any(|(k, v)| has_forbidden_chars(k, false) || has_forbidden_chars(v, false))
        }) {
            return Err(Problem::control_characters("query"));
        }
        let route = req.extensions().get::<Matched>().map(|m| &m.route);
        // A key the route would ignore would let the client believe a retry is safe.
        if req.headers().contains_key(IDEMPOTENCY_KEY) && !route.is_some_and(|r| r.takes_idempotency_key) {
            return Err(Problem::bad_request(
                "this route does not take Idempotency-Key: a repeated request would be made again",
            ));
        }
        let accepted = route.map(|r| r.query).unwrap_or_default();
        if let Some(unknown) = req
            .query_string_parameters_ref()
            .and_then(|q| q.iter().map(|(k, _)| k).find(|k| !accepted.contains(k)))
        {
            // The name is the client's: echoed only short (control characters were refused above).
            return Err(Problem::invalid_parameter(
                &quire_core::text::sanitize_line(unknown, 64),
                if accepted.is_empty() {
                    "this route takes no query parameters".to_owned()
                } else {
                    format!("this route takes only {}", accepted.join(", "))
                },
            ));
        }
        let limit = route.map(|r| r.body_limit).unwrap_or(0);
        let body = body_bytes(req.body());
        // A route that takes no body (every GET among them) refuses one as a bad request: its
        // size is not the problem.
        if limit == 0 && !body.is_empty() {
            return Err(Problem::invalid_body("this route takes no request body", None));
        }
        if body.len() > limit {
            return Err(Problem::payload_too_large(limit));
        }
        if !body.is_empty() {
            if !is_json(&req) {
                return Err(Problem::unsupported_media_type());
            }
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| Problem::invalid_body(format!("malformed JSON: {e}"), None))?;
            if json_has_forbidden_chars(&value) {
                return Err(Problem::control_characters("body"));
            }
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: HTTP-2
    #[test]
    fn json_media_types_are_read_as_rfc_9110_writes_them() {
        let with = |value: &str| {
            let req: Request = http::Request::builder()
                .header(CONTENT_TYPE, value)
                .body(Body::Empty)
                .unwrap();
            is_json(&req)
        };
        for accepted in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/json; CHARSET = \"UTF-8\"",
        ] {
            assert!(with(accepted), "{accepted}");
        }
        for refused in [
            "text/plain",
            "application/json; charset=latin1",
            "application/json; charset=\"utf-8",
            "application/json; boundary=x",
            "application/jsonx",
        ] {
            assert!(!with(refused), "{refused}");
        }
    }

    #[test]
    fn finds_encoded_controls() {
        assert!(percent_decoded_has_forbidden_chars("/documents/%00"));
        assert!(percent_decoded_has_forbidden_chars("/documents/a%0d%0aSet-Cookie"));
        assert!(!percent_decoded_has_forbidden_chars("/documents/abc%20def"));
        assert!(!percent_decoded_has_forbidden_chars("/x%"));
        assert!(!percent_decoded_has_forbidden_chars("/x%2"));
    }

    #[test]
    fn finds_controls_in_nested_json() {
        let v: Value = serde_json::from_str(r#"{"a":[{"b":"x\u0007"}]}"#).unwrap();
        assert!(json_has_forbidden_chars(&v));
        let v: Value = serde_json::from_str(r#"{"a\nb":"x"}"#).unwrap();
        assert!(json_has_forbidden_chars(&v));
        let v: Value = serde_json::from_str(r#"{"body":"para one\n\npara two"}"#).unwrap();
        assert!(!json_has_forbidden_chars(&v));
    }

    /// An encoded control character is found wherever it sits, the last bytes included.
    ///
    /// Proves: HTTP-2
    #[test]
    fn percent_encoded_control_characters_are_found_anywhere() {
        for raw in [
            "/documents/a%0a",
            "%0A/documents",
            "/a%0d%0ab",
            "x=%00",
            "/a%E2%80%AEb",
            "/a%7f",
        ] {
            assert!(percent_decoded_has_forbidden_chars(raw), "{raw}");
        }
        for raw in ["/documents/a", "/a%20b", "/a%2", "/a%zz", "limit=5&cursor=abc%3D"] {
            assert!(!percent_decoded_has_forbidden_chars(raw), "{raw}");
        }
    }
}
