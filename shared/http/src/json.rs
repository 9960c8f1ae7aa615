//! Reading request bodies into typed values and writing JSON responses.

use crate::problem::Problem;
use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// For `#[serde(default, deserialize_with = "quire_http::json::present")]`: a field that, when
/// present, must hold a value (`null` is refused as the wrong type); absent is `None`.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// For `#[serde(default, deserialize_with = "quire_http::json::nullable")]`: a field that, when
/// present, holds a value or `null` (`Some(None)`); absent is `None`.
pub fn nullable<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Parses the body into `T`. Route types use `#[serde(deny_unknown_fields)]` and newtypes, so
/// an unknown field, a missing field or an invalid value is a 400 that names the field.
pub fn parse_body<T: DeserializeOwned>(req: &Request) -> Result<T, Problem> {
    let bytes: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.is_empty() {
        return Err(Problem::invalid_body("a JSON body is required", None));
    }
    // Every body is an object (the contract's `type: object`): serde would fill a struct from
    // an array by position, and name the Rust type when given null or a string.
    let first = bytes.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(Problem::invalid_body("the body must be a JSON object", None));
    }
    // The path says which field a wrong type or value is in, which serde's message does not.
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes)).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = match field_of(&message) {
            Some(field) => Some(field),
            None if path != "." && path != "?" => Some(path),
            None => None,
        };
        // Drop serde's " at line 1 column 42" position suffix: it helps nobody reading a 400.
        let detail = message.split(" at line ").next().unwrap_or(&message).to_owned();
        Problem::invalid_body(detail, field.as_deref())
    })
}

/// The field a serde message is about: "unknown field `x`", "missing field `x`", or our own
/// newtype messages, which start with "<field>: ".
fn field_of(message: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    let (head, _) = message.split_once(": ")?;
    head.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        .then(|| head.to_owned())
}

/// The page a listing asks for, from the query string (`limit`, `cursor`; see
/// [`quire_store::PageRequest::parse`]): anything else, or either twice, is a 400 naming it.
pub fn page_request(req: &Request) -> Result<quire_store::PageRequest, Problem> {
    use lambda_http::RequestExt;
    let query = req.query_string_parameters();
    quire_store::PageRequest::parse(query.iter())
        .map_err(|invalid| Problem::invalid_parameter(&invalid.name, invalid.detail))
}

/// The query parameters `names` (each at most once), by name, and the page a listing asks for
/// (`limit`, `cursor`, see [`quire_store::PageRequest::parse`]) from the rest: any other
/// parameter, or one given twice, is a 400 naming it.
pub fn query(
    req: &Request,
    names: &[&'static str],
) -> Result<
    (
        std::collections::BTreeMap<&'static str, String>,
        quire_store::PageRequest,
    ),
    Problem,
> {
    use lambda_http::RequestExt;
    let query = req.query_string_parameters();
    let mut found = std::collections::BTreeMap::new();
    let mut rest = Vec::new();
    for (name, value) in query.iter() {
        match names.iter().find(|n| **n == name) {
            Some(known) => {
                if found.insert(*known, value.to_owned()).is_some() {
                    return Err(Problem::invalid_parameter(
                        name,
                        format!("`{name}` given more than once"),
                    ));
                }
            }
            None => rest.push((name, value)),
        }
    }
    let page = quire_store::PageRequest::parse(rest)
        .map_err(|invalid| Problem::invalid_parameter(&invalid.name, invalid.detail))?;
    Ok((found, page))
}

pub fn respond<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<Body>, Problem> {
    let text = serde_json::to_string(value).map_err(Problem::internal)?;
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// A time as the API shows it: RFC 3339 in UTC, to the second (`2026-12-01T23:17:58Z`).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

pub fn ok<T: Serialize>(value: &T) -> Result<Response<Body>, Problem> {
    respond(StatusCode::OK, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field() {
        assert_eq!(
            field_of("unknown field `orgId`, expected one of `title`"),
            Some("orgId".into())
        );
        assert_eq!(field_of("missing field `reason`"), Some("reason".into()));
        assert_eq!(field_of("title: must be 1 to 200 characters"), Some("title".into()));
        assert_eq!(field_of("expected value"), None);
    }
}
