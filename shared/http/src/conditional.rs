//! Conditional requests (RFC 9110 §13) for versioned records. A record's `ETag` is its version
//! as a strong entity tag (`"3"`, §8.8.3); a change must name the version it was made against in
//! `If-Match` (§13.1.1), so an edit based on a stale read cannot overwrite a newer one.
//!
//! - no `If-Match` → 428 (RFC 6585 §3); `If-Match: *` → 428 as well: it names no version, so
//!   it cannot tell a stale edit from a current one;
//! - an `If-Match` that does not parse → 400;
//! - no listed tag equal to the current one under strong comparison (a weak `W/"3"` never
//!   matches) → 412.
//!
//! The check is made against the version the handler read; the write itself is conditional on
//! that same version, so a change landing in between is also a 412.
//!
//! Creates are made repeatable with `Idempotency-Key` ([`idempotency_key`], stored by
//! `quire_store::idempotency`).

use crate::problem::Problem;
use headers::{ETag, HeaderMapExt, IfMatch};
use http::header::IF_MATCH;
use lambda_http::{Body, Request, Response};
use quire_store::idempotency::{fingerprint, IdempotencyKey};

/// The request header of draft-ietf-httpapi-idempotency-key-header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request's `Idempotency-Key`, if it sent one, with the fingerprint of the request it came
/// with (method, path, body bytes).
///
/// Errors: 400 when the header is given twice or is not 1 to 255 visible ASCII characters.
pub fn idempotency_key(req: &Request) -> Result<Option<(IdempotencyKey, String)>, Problem> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let key = values
        .next()
        .is_none()
        .then(|| value.to_str().ok().and_then(IdempotencyKey::parse))
        .flatten()
        .ok_or_else(|| {
            Problem::bad_request("Idempotency-Key must be one value of 1 to 255 visible ASCII characters")
        })?;
    let body: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    Ok(Some((key, fingerprint(req.method().as_str(), req.uri().path(), body))))
}

/// The entity tag of version `version` of a record.
pub fn etag(version: u64) -> ETag {
    format!("\"{version}\"")
        .parse()
        .expect("a quoted decimal number is an entity tag")
}

/// Sets the `ETag` of the record version a response carries.
pub fn with_etag(mut response: Response<Body>, version: u64) -> Response<Body> {
    response.headers_mut().typed_insert(etag(version));
    response
}

/// Checks the request's `If-Match` against the current version of the record it changes.
///
/// Errors: 428 without a usable `If-Match`, 400 when it does not parse, 412 when it names
/// another version.
pub fn require_match(req: &Request, current_version: u64) -> Result<(), Problem> {
    if !req.headers().contains_key(IF_MATCH) {
        return Err(Problem::precondition_required());
    }
    // `headers` skips list members that are not entity tags; a client that sent one should
    // hear that its condition was unreadable, not that it failed.
    let readable = req.headers().get_all(IF_MATCH).iter().all(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .all(|member| member == "*" || member.parse::<ETag>().is_ok())
        })
    });
    if !readable {
        return Err(Problem::bad_request("the If-Match header is not a list of entity tags"));
    }
    let condition: IfMatch = req
        .headers()
        .typed_get()
        .ok_or_else(|| Problem::bad_request("the If-Match header is not a list of entity tags"))?;
    if condition.is_any() {
        return Err(Problem::precondition_required());
    }
    if !condition.precondition_passes(&etag(current_version)) {
        return Err(Problem::precondition_failed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> Request {
        let mut req = http::Request::new(Body::Empty);
        for value in values {
            req.headers_mut().append(IF_MATCH, value.parse().unwrap());
        }
        req
    }

    fn status(values: &[&str], current: u64) -> u16 {
        match require_match(&with(values), current) {
            Ok(()) => 200,
            Err(problem) => problem.status().as_u16(),
        }
    }

    /// Proves: HTTP-5
    #[test]
    fn if_match_is_required_and_compared_strongly() {
        assert_eq!(status(&[], 3), 428);
        assert_eq!(status(&["*"], 3), 428);
        assert_eq!(status(&["\"3\""], 3), 200);
        assert_eq!(status(&["\"1\", \"3\""], 3), 200);
        assert_eq!(status(&["\"1\"", "\"3\""], 3), 200);
        assert_eq!(status(&["\"2\""], 3), 412);
        assert_eq!(status(&["W/\"3\""], 3), 412);
        assert_eq!(status(&["\"30\""], 3), 412);
        for malformed in ["3", "\"3", "\"3\" junk", "W/3"] {
            assert_eq!(status(&[malformed], 3), 400, "{malformed}");
        }
    }

    #[test]
    fn the_etag_is_the_quoted_version() {
        let response = with_etag(Response::new(Body::Empty), 42);
        assert_eq!(response.headers()["etag"], "\"42\"");
    }
}
