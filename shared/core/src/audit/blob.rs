//! Content-addressed blobs (AUD-1, AUD-2): keeps every audit entry small however large the
//! records it describes.
//!
//! Before an event is committed, every string inside its `before` and `after` values longer than
//! [`INLINE_MAX_BYTES`] is replaced by a reference `{"$sha256": "<64 hex>", "$bytes": N}` and the
//! string itself is stored once, under its SHA-256, in the tenant's blob partition. The chain
//! hashes the reference, so it commits to the digest; a reader resolves references and checks
//! each blob against its digest (`docs/audit-format.md`, "Blobs"). Member names beginning with
//! `$` are reserved for references: a value that holds one cannot be recorded.

use super::canonical::NotCanonical;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest string kept inline in an entry, in UTF-8 bytes.
pub const INLINE_MAX_BYTES: usize = 1024;
/// Largest canonical entry content (`{seq, prevHash, event}` in JCS), in bytes.
pub const ENTRY_MAX_BYTES: usize = 16 * 1024;

const DIGEST: &str = "$sha256";
const BYTES: &str = "$bytes";

/// A string moved out of an entry: its lower-case hex SHA-256 and the string itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub sha256: String,
    pub content: String,
}

/// SHA-256 of the UTF-8 bytes of `content`, lower-case hex.
pub fn digest(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Replaces long strings in `value` by references, appending each new blob to `blobs` (once
/// per digest). Refuses a value with a member name that begins with `$`.
pub fn externalise(value: &mut Value, blobs: &mut Vec<Blob>) -> Result<(), NotCanonical> {
    match value {
        Value::String(s) if s.len() > INLINE_MAX_BYTES => {
            let content = std::mem::take(s);
            let sha256 = digest(&content);
            *value = reference(&sha256, content.len());
            if !blobs.iter().any(|b| b.sha256 == sha256) {
                blobs.push(Blob { sha256, content });
            }
        }
        Value::Array(items) => {
            for item in items {
                externalise(item, blobs)?;
            }
        }
        Value::Object(members) => {
            if let Some(name) = members.keys().find(|k| k.starts_with('$')) {
                return Err(NotCanonical(format!("member name `{name}` is reserved")));
            }
            for item in members.values_mut() {
                externalise(item, blobs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn reference(sha256: &str, bytes: usize) -> Value {
    let mut members = Map::new();
    members.insert(DIGEST.into(), Value::String(sha256.to_owned()));
    members.insert(BYTES.into(), Value::from(bytes as u64));
    Value::Object(members)
}

/// A blob reference found in an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub sha256: String,
    pub bytes: u64,
}

/// The reference `value` is, if it is one: exactly the two reserved members, a 64-hex digest.
fn as_reference(value: &Value) -> Option<Reference> {
    let members = value.as_object()?;
    let sha256 = members.get(DIGEST)?.as_str()?;
    let bytes = members.get(BYTES)?.as_u64()?;
    (members.len() == 2 && sha256.len() == 64 && sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then(
        || Reference {
            sha256: sha256.to_owned(),
            bytes,
        },
    )
}

/// Every reference inside `value`, in document order.
pub fn references(value: &Value, out: &mut Vec<Reference>) {
    if let Some(reference) = as_reference(value) {
        out.push(reference);
        return;
    }
    match value {
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        Value::Object(members) => members.values().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// Replaces every reference inside `value` whose blob is in `blobs` and matches it
/// ([`check`]) by the blob's text: the value as it was recorded, for people to read. A
/// reference whose blob is missing or does not match stays as it is.
pub fn internalise(value: &mut Value, blobs: &std::collections::BTreeMap<String, String>) {
    if let Some(reference) = as_reference(value) {
        if let Some(content) = blobs.get(&reference.sha256) {
            if check(&reference, Some(content)).is_ok() {
                *value = Value::String(content.clone());
            }
        }
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| internalise(v, blobs)),
        Value::Object(members) => members.values_mut().for_each(|v| internalise(v, blobs)),
        _ => {}
    }
}

/// Checks a stored blob against the reference that names it.
pub fn check(reference: &Reference, content: Option<&str>) -> Result<(), String> {
    match content {
        None => Err(format!("blob {} is missing", reference.sha256)),
        Some(text) if text.len() as u64 != reference.bytes || digest(text) != reference.sha256 => {
            Err(format!("blob {} does not match its digest", reference.sha256))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Resolved for reading, a value is what was recorded again; a blob that is missing or
    /// does not match its digest leaves its reference.
    ///
    /// Proves: AUD-2
    #[test]
    fn references_resolve_to_the_recorded_text_only_from_matching_blobs() {
        let long = "y".repeat(INLINE_MAX_BYTES + 7);
        let original = json!({"body": long, "list": [long, 1], "short": "s"});
        let mut value = original.clone();
        let mut blobs = Vec::new();
        externalise(&mut value, &mut blobs).unwrap();
        let stored: std::collections::BTreeMap<String, String> =
            blobs.iter().map(|b| (b.sha256.clone(), b.content.clone())).collect();
        let mut read = value.clone();
        internalise(&mut read, &stored);
        assert_eq!(read, original);
        let mut missing = value.clone();
        internalise(&mut missing, &Default::default());
        assert_eq!(missing, value);
        let forged = stored
            .keys()
            .map(|k| (k.clone(), "z".repeat(INLINE_MAX_BYTES + 7)))
            .collect();
        let mut unchanged = value.clone();
        internalise(&mut unchanged, &forged);
        assert_eq!(unchanged, value);
    }

    /// Proves: AUD-2
    #[test]
    fn long_strings_become_references_once() {
        let long = "x".repeat(INLINE_MAX_BYTES + 1);
        let mut value = json!({"title": "short", "body": long, "copies": [long, "y"]});
        let mut blobs = Vec::new();
        externalise(&mut value, &mut blobs).unwrap();
        assert_eq!(blobs.len(), 1);
        assert_eq!(blobs[0].content, long);
        assert_eq!(value["title"], "short");
        let reference = json!({"$sha256": digest(&long), "$bytes": long.len()});
        assert_eq!(value["body"], reference);
        assert_eq!(value["copies"][0], reference);
        let mut found = Vec::new();
        references(&value, &mut found);
        assert_eq!(found.len(), 2);
        assert!(check(&found[0], Some(&long)).is_ok());
        assert!(check(&found[0], Some(&format!("{}y", &long[1..]))).is_err());
        assert!(check(&found[0], None).is_err());
        // At the limit a string stays inline.
        let mut edge = json!("é".repeat(INLINE_MAX_BYTES / 2));
        externalise(&mut edge, &mut blobs).unwrap();
        assert!(edge.is_string());
    }

    #[test]
    fn reserved_member_names_are_refused() {
        let mut forged = json!({"a": {"$sha256": "00", "$bytes": 1}});
        assert!(externalise(&mut forged, &mut Vec::new()).is_err());
    }
}
