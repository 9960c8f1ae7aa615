//! A stored file's bytes over HTTP: which bytes a request asks for (RFC 9110 §14, one byte
//! range at a time), and the headers that describe them. Used by every route that serves a
//! file (attachments, exports), so that they answer alike.
//!
//! A response carries at most [`MAX_RESPONSE_BYTES`]: through API Gateway a Lambda's buffered
//! response is capped at 6 MB, and a binary body travels base64-encoded (4 MiB becomes
//! 5 592 408 bytes). A larger file is read in ranges: a request without `Range` for it is a
//! 400 `range-required` naming the size and the limit, and a range larger than the limit is
//! answered with its first [`MAX_RESPONSE_BYTES`] (the `Content-Range` says which; RFC 9110
//! §14.4 lets a client read on from there).
//!
//! `If-Range` is not evaluated: a stored file never changes under its id, so whatever
//! validator a client holds for it is still current.

use crate::problem::Problem;
use base64::Engine;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::ops::Range;

/// Most bytes of a file one response carries (4 MiB).
pub const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// What to send of a file of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// 200 (the whole file) or 206 (a range of it).
    pub status: StatusCode,
    /// The bytes to send, end exclusive.
    pub bytes: Range<u64>,
}

/// The bytes of a file of `size` bytes that a request with `headers` asks for.
///
/// No `Range` (or one of another unit, which RFC 9110 §14.2 says to ignore): the whole file,
/// 200, if it fits one response; otherwise 400 `range-required`. One satisfiable byte range:
/// 206 with it, cut to [`MAX_RESPONSE_BYTES`]; a suffix longer than the file selects all of it
/// (§14.1.3). Several ranges, several `Range` fields, a malformed one or one that selects no
/// byte of the file: 416 with `Content-Range: bytes */<size>`.
///
/// # Errors
/// The problems above.
pub fn select(headers: &HeaderMap, size: u64) -> Result<Selected, Problem> {
    let mut values = headers.get_all(header::RANGE).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return whole(size),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(Problem::range_not_satisfiable(size)),
    };
    let text = value.to_str().map_err(|_| Problem::range_not_satisfiable(size))?;
    // The unit is case-insensitive (§14.1); another unit's ranges are not ours to judge.
    let Some((unit, _)) = text.split_once('=') else {
        return Err(Problem::range_not_satisfiable(size));
    };
    if unit.is_empty()
        || !unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(Problem::range_not_satisfiable(size));
    }
    if !unit.eq_ignore_ascii_case("bytes") {
        return whole(size);
    }
    let spec = format!("bytes={}", &text[unit.len() + 1..]);
    let parsed = http_range_header::parse_range_header(&spec).map_err(|_| Problem::range_not_satisfiable(size))?;
    let [range] = parsed.ranges.as_slice() else {
        return Err(Problem::range_not_satisfiable(size));
    };
    use http_range_header::{EndPosition, StartPosition};
    let (first, last) = match (range.start, range.end) {
        (StartPosition::FromLast(n), _) => (size.saturating_sub(n), size.checked_sub(1)),
        (StartPosition::Index(first), EndPosition::LastByte) => (first, size.checked_sub(1)),
        (StartPosition::Index(first), EndPosition::Index(last)) => {
            if last < first {
                return Err(Problem::range_not_satisfiable(size));
            }
            (first, size.checked_sub(1).map(|end| end.min(last)))
        }
    };
    match last {
        Some(last) if first <= last => Ok(Selected {
            status: StatusCode::PARTIAL_CONTENT,
            bytes: first..(last + 1).min(first.saturating_add(MAX_RESPONSE_BYTES)),
        }),
        _ => Err(Problem::range_not_satisfiable(size)),
    }
}

fn whole(size: u64) -> Result<Selected, Problem> {
    if size > MAX_RESPONSE_BYTES {
        return Err(Problem::range_required(size, MAX_RESPONSE_BYTES));
    }
    Ok(Selected {
        status: StatusCode::OK,
        bytes: 0..size,
    })
}

/// RFC 8187 `attr-char`: what a `filename*` value keeps unescaped.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` naming the file (RFC 6266 §4.3): `filename` with an ASCII
/// stand-in (anything else, `"` and `\` become `_`) for old clients, `filename*` with the name
/// in UTF-8, percent-encoded (RFC 8187 §3.2), which clients that know it prefer.
pub fn content_disposition(file_name: &str) -> HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(file_name, ATTR_CHAR);
    HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// What a served file is: its media type, name, whole size and SHA-256 (hex).
pub struct Described<'a> {
    pub media_type: &'a str,
    pub file_name: &'a str,
    pub size: u64,
    pub sha256_hex: &'a str,
}

/// The response carrying `body`, the bytes `selected` names of the file `described`:
/// `Content-Type` the file's, `Content-Disposition` ([`content_disposition`]),
/// `Content-Range` on a 206, `Accept-Ranges: bytes`, the strong `ETag` `"<sha256>"`, and
/// `Repr-Digest: sha-256=:<base64>:` (RFC 9530 §3: the digest of the whole file, on a 206
/// too). `X-Content-Type-Options: nosniff` and `Cache-Control: no-store` are added to every
/// answer by the pipeline.
pub fn response(selected: &Selected, described: &Described<'_>, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::Binary(body));
    *response.status_mut() = selected.status;
    let headers = response.headers_mut();
    let text = |value: String| HeaderValue::from_str(&value).ok();
    if let Some(value) = text(described.media_type.to_owned()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(described.file_name));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if selected.status == StatusCode::PARTIAL_CONTENT {
        let range = format!(
            "bytes {}-{}/{}",
            selected.bytes.start,
            selected.bytes.end - 1,
            described.size
        );
        if let Some(value) = text(range) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    if let Ok(digest) = hex::decode(described.sha256_hex) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
        if let Some(value) = text(format!("sha-256=:{encoded}:")) {
            headers.insert("repr-digest", value);
        }
    }
    if let Some(value) = text(format!("\"{}\"", described.sha256_hex)) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// A file made for one request (an export): its bytes and their SHA-256, which its audit
/// entry records before it is served.
pub struct Generated {
    pub body: Vec<u8>,
    /// SHA-256 of `body`, lower-case hex.
    pub sha256_hex: String,
}

impl Generated {
    /// `body`, hashed; refused with `422 export-too-large` over [`MAX_RESPONSE_BYTES`].
    pub fn new(body: Vec<u8>) -> Result<Self, Problem> {
        if body.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(Problem::export_too_large(MAX_RESPONSE_BYTES));
        }
        let sha256_hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
        Ok(Generated { body, sha256_hex })
    }

    /// Served whole: as [`response`] with status 200 (`Content-Disposition` naming
    /// `file_name`, `ETag`, `Repr-Digest`), without `Accept-Ranges`: it is made again for every
    /// request, so ranges of it are not served.
    pub fn into_response(self, media_type: &str, file_name: &str) -> Response<Body> {
        let size = self.body.len() as u64;
        let described = Described {
            media_type,
            file_name,
            size,
            sha256_hex: &self.sha256_hex,
        };
        let whole = Selected {
            status: StatusCode::OK,
            bytes: 0..size,
        };
        let mut response = response(&whole, &described, self.body);
        response.headers_mut().remove(header::ACCEPT_RANGES);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranged(value: &str, size: u64) -> Result<Selected, Problem> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        select(&headers, size)
    }

    fn partial(bytes: Range<u64>) -> Result<Selected, Problem> {
        Ok(Selected {
            status: StatusCode::PARTIAL_CONTENT,
            bytes,
        })
    }

    /// One byte range is served as RFC 9110 §14.1.2 defines it: a last position past the end
    /// is the end, a suffix counts from the end (all of a file shorter than it); a range larger
    /// than one response is cut to its first 4 MiB.
    ///
    /// Proves: HTTP-4
    #[test]
    fn a_byte_range_selects_what_rfc_9110_says() {
        assert_eq!(ranged("bytes=0-0", 10), partial(0..1));
        assert_eq!(ranged("bytes=2-5", 10), partial(2..6));
        assert_eq!(ranged("bytes=2-99", 10), partial(2..10));
        assert_eq!(ranged("bytes=9-", 10), partial(9..10));
        assert_eq!(ranged("bytes=-3", 10), partial(7..10));
        assert_eq!(ranged("bytes=-30", 10), partial(0..10));
        assert_eq!(ranged("BYTES=1-1", 10), partial(1..2));
        let big = 10 * MAX_RESPONSE_BYTES;
        assert_eq!(ranged("bytes=0-", big), partial(0..MAX_RESPONSE_BYTES));
        assert_eq!(ranged("bytes=5-", big), partial(5..5 + MAX_RESPONSE_BYTES));
        assert_eq!(ranged("bytes=-1", big), partial(big - 1..big));
    }

    /// No range: the whole file if one response carries it, else a 400 that names the limit;
    /// a range of another unit is ignored (§14.2).
    ///
    /// Proves: HTTP-4
    #[test]
    fn without_a_range_only_a_file_that_fits_is_sent_whole() {
        let ok = |bytes| {
            Ok(Selected {
                status: StatusCode::OK,
                bytes,
            })
        };
        assert_eq!(select(&HeaderMap::new(), 0), ok(0..0));
        assert_eq!(select(&HeaderMap::new(), MAX_RESPONSE_BYTES), ok(0..MAX_RESPONSE_BYTES));
        assert_eq!(ranged("items=0-1", 10), ok(0..10));
        let refused = select(&HeaderMap::new(), MAX_RESPONSE_BYTES + 1).unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.type_uri().ends_with("range-required"));
    }

    /// What selects no byte, or more than one range, or is not a range, is a 416 naming the
    /// size; nothing panics on hostile values.
    ///
    /// Proves: HTTP-4
    #[test]
    fn unsatisfiable_and_malformed_ranges_are_416() {
        for value in [
            "bytes=10-",
            "bytes=10-20",
            "bytes=5-2",
            "bytes=-0",
            "bytes=0-1,3-4",
            "bytes=0-1, 1-2",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes= 0-1",
            "bytes=+1-2",
            "bytes=01-2",
            "bytes=0-18446744073709551616",
            "bytes=18446744073709551615-",
            "bytes",
            "=0-1",
        ] {
            let refused = ranged(value, 10).unwrap_err();
            assert_eq!(refused.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{value}");
            let response = refused.into_response();
            assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */10", "{value}");
        }
        assert_eq!(
            ranged("bytes=0-", 0).unwrap_err().status(),
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        let mut two = HeaderMap::new();
        two.append(header::RANGE, HeaderValue::from_static("bytes=0-1"));
        two.append(header::RANGE, HeaderValue::from_static("bytes=2-3"));
        assert_eq!(
            select(&two, 10).unwrap_err().status(),
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        let mut opaque = HeaderMap::new();
        opaque.insert(header::RANGE, HeaderValue::from_bytes(b"bytes=\xff-1").unwrap());
        assert_eq!(
            select(&opaque, 10).unwrap_err().status(),
            StatusCode::RANGE_NOT_SATISFIABLE
        );
    }

    /// The name reaches every client intact (RFC 8187 `filename*`) and old ones get an ASCII
    /// stand-in; no quote, backslash or byte outside visible ASCII breaks the header.
    ///
    /// Proves: FILE-2
    #[test]
    fn the_disposition_names_the_file_in_both_forms() {
        assert_eq!(
            content_disposition("Line clearance.pdf"),
            "attachment; filename=\"Line clearance.pdf\"; filename*=UTF-8''Line%20clearance.pdf"
        );
        assert_eq!(
            content_disposition("Prüfbericht \"Q1\"\\x.pdf"),
            "attachment; filename=\"Pr_fbericht _Q1__x.pdf\"; filename*=UTF-8''Pr%C3%BCfbericht%20%22Q1%22%5Cx.pdf"
        );
        assert_eq!(
            content_disposition("報告書;a=b.pdf"),
            "attachment; filename=\"___;a=b.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A%E6%9B%B8%3Ba%3Db.pdf"
        );
    }
}
