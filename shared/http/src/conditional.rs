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
use headers::{ETag, HeaderMapExt};
use http::header::IF_MATCH;
use lambda_http::{Body, Request, Response};
use quire_store::idempotency::{fingerprint, IdempotencyKey};
use quire_store::tenant::Caller;

/// The request header of draft-ietf-httpapi-idempotency-key-header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request's `Idempotency-Key`, if it sent one, with the fingerprint of the request it came
/// with (the member it acts as, method, path, body bytes). The key is kept under whoever signed
/// in (`Caller::principal`); the fingerprint tells an administrator's request as themselves from
/// the same one made impersonating a member (RBAC-5).
///
/// Errors: 400 when the header is given twice or is not 1 to 255 visible ASCII characters.
pub fn idempotency_key(req: &Request, caller: &Caller) -> Result<Option<(IdempotencyKey, String)>, Problem> {
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
    let body = crate::pipeline::filter::body_bytes(req.body());
    Ok(Some((
        key,
        fingerprint(caller.user_id.as_str(), req.method().as_str(), req.uri().path(), body),
    )))
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
    let unreadable = || Problem::bad_request("the If-Match header is not `*` or a list of entity tags");
    // All field lines together, as one list (RFC 9110 §5.3); empty members are allowed (§5.6.1).
    let mut members = Vec::new();
    for value in req.headers().get_all(IF_MATCH) {
        members.extend(list_members(value.to_str().map_err(|_| unreadable())?).ok_or_else(unreadable)?);
    }
    if members.iter().all(|m| m == "*") && !members.is_empty() {
        return Err(Problem::precondition_required());
    }
    let tags: Vec<ETag> = members
        .iter()
        .map(|m| {
            if !is_entity_tag(m) {
                return Err(unreadable());
            }
            m.parse::<ETag>().map_err(|_| unreadable())
        })
        .collect::<Result<_, _>>()?;
    // `*` beside tags is not the grammar's (`"*" / #entity-tag`): caught by the parse above.
    let current = etag(current_version);
    if tags.iter().any(|tag| !tag.is_weak() && *tag == current) {
        Ok(())
    } else {
        Err(Problem::precondition_failed())
    }
}

/// Whether `member` is an entity tag as RFC 9110 §8.8.3 writes one: `W/` optionally, then an
/// opaque tag in double quotes whose characters are `%x21 / %x23-7E` (or obs-text); no space,
/// tab or other control character inside. The `headers` crate assumes as much (it panics on a
/// space inside the quotes in debug builds), so it is checked here first.
fn is_entity_tag(member: &str) -> bool {
    let opaque = member.strip_prefix("W/").unwrap_or(member);
    opaque.len() >= 2
        && opaque.starts_with('"')
        && opaque.ends_with('"')
        && opaque[1..opaque.len() - 1]
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
}

/// The members of a comma-separated field value, trimmed, empty ones dropped; a comma inside an
/// entity tag's quotes does not separate. `None` when a quote is left open.
fn list_members(value: &str) -> Option<Vec<String>> {
    let (mut members, mut current, mut quoted) = (Vec::new(), String::new(), false);
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => members.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return None;
    }
    members.push(current);
    Some(
        members
            .into_iter()
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect(),
    )
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
        assert_eq!(status(&["*", "*"], 3), 428);
        assert_eq!(status(&["\"3\","], 3), 200, "an empty member is allowed");
        assert_eq!(status(&[", \"3\""], 3), 200);
        assert_eq!(
            status(&["\"a,b\", \"3\""], 3),
            200,
            "a comma inside quotes does not separate"
        );
        assert_eq!(status(&["\"30\""], 3), 412);
        // An empty list names no version: nothing matches it.
        assert_eq!(status(&[""], 3), 412);
        assert_eq!(status(&[","], 3), 412);
        for malformed in [
            "3",
            "\"3",
            "\"3\" junk",
            "W/3",
            "\"3\", *",
            "\"3 \"",
            "\" 3\"",
            "\"1\t2\"",
            "\"1\", \"a b\"",
            "W/\"3 \"",
            "\"",
        ] {
            assert_eq!(status(&[malformed], 3), 400, "{malformed}");
        }
    }

    #[test]
    fn the_etag_is_the_quoted_version() {
        let response = with_etag(Response::new(Body::Empty), 42);
        assert_eq!(response.headers()["etag"], "\"42\"");
    }
}
