//! Canonical JSON for hashing: RFC 8785 (JCS) for the values audit entries hold. Object keys
//! sorted by UTF-16 code units, no insignificant whitespace, strings escaped as JCS says,
//! integers only (a float has no single canonical text we want an auditor to reproduce, so
//! it is refused). Independent of serde_json's map ordering features.

use serde_json::Value;
use std::fmt;

#[derive(Debug, PartialEq, Eq)]
pub struct NotCanonical(pub String);

impl fmt::Display for NotCanonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value cannot be canonicalised: {}", self.0)
    }
}

impl std::error::Error for NotCanonical {}

pub fn to_vec(value: &Value) -> Result<Vec<u8>, NotCanonical> {
    let mut out = Vec::with_capacity(512);
    write(value, &mut out)?;
    Ok(out)
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            // JCS prints numbers as ECMAScript does; for integers within ±2^53 that is the plain decimal.
            const MAX_SAFE: u64 = (1 << 53) - 1;
            match (n.as_u64(), n.as_i64()) {
                (Some(u), _) if u <= MAX_SAFE => out.extend_from_slice(u.to_string().as_bytes()),
                (None, Some(i)) if i.unsigned_abs() <= MAX_SAFE => out.extend_from_slice(i.to_string().as_bytes()),
                _ => return Err(NotCanonical(format!("number {n} is not an integer within ±2^53"))),
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| jcs_order(a.0, b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// JCS string escaping: `"` and `\` escaped, the short escapes for \b \f \n \r \t, other
/// characters below U+0020 as \u00xx (lower-case hex), everything else as UTF-8. Escapes concern
/// ASCII bytes only, so runs of other bytes (multi-byte UTF-8 included) are copied whole.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        out.extend_from_slice(escape);
        run_start = i + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// Member order of JCS: UTF-16 code units, which for ASCII names is plain byte order.
fn jcs_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        String::from_utf8(to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        assert_eq!(
            canon(json!({"b": 1, "a": [true, null, "x"], "A": {"z": 0, "y": -5}})),
            r#"{"A":{"y":-5,"z":0},"a":[true,null,"x"],"b":1}"#
        );
    }

    #[test]
    fn escapes_like_jcs() {
        assert_eq!(canon(json!("a\"b\\c\n\u{1}é€😀/")), "\"a\\\"b\\\\c\\n\\u0001é€😀/\"");
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        // U+1F600 (surrogates D83D..) sorts before U+FF21 in UTF-16, after it in UTF-8/code points.
        assert_eq!(
            canon(json!({"\u{ff21}": 1, "\u{1f600}": 2})),
            "{\"\u{1f600}\":2,\"\u{ff21}\":1}"
        );
    }

    #[test]
    fn refuses_floats_and_unsafe_integers() {
        assert!(to_vec(&json!(1.5)).is_err());
        assert!(to_vec(&json!(9007199254740992u64)).is_err());
        assert!(to_vec(&json!(9007199254740991u64)).is_ok());
        assert!(to_vec(&json!(-9007199254740991i64)).is_ok());
    }
}

/// Reading what entries hold as strictly as the format pins it (docs/audit-format.md, "Entry
/// format"): `serde(deserialize_with)` helpers for the members of an event.
pub mod strict {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;
    use serde_json::{Map, Number, Value};
    use std::fmt;

    /// A member that must be present and may be `null`: absent is not null, so deleting a
    /// `null` member is tampering that verification catches (serde would read it as `None`).
    pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer)
    }

    /// How deep a value may nest: a scalar is depth 0, each object or array around it adds
    /// one. What Quire stores cannot be deeper (DynamoDB nests attributes at most 32 levels),
    /// and both verifiers refuse deeper values alike, whatever their JSON reader could manage.
    pub const MAX_DEPTH: usize = 32;

    /// A present, possibly `null`, JSON value read by [`value`]'s rules.
    pub fn nullable_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
        Ok(Some(deserializer.deserialize_any(Strict { depth: 0 })?).filter(|v| !v.is_null()))
    }

    /// Any JSON value, refusing a duplicate member name (JSON parsers disagree on which one
    /// wins), any number that is not an integer (a fraction, an exponent, `-0`), and nesting
    /// deeper than [`MAX_DEPTH`].
    pub fn value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(Strict { depth: 0 })
    }

    /// `depth`: the objects and arrays around the value being read.
    #[derive(Clone, Copy)]
    struct Strict {
        depth: usize,
    }

    impl Strict {
        /// The reader for what an object or array at this depth holds.
        fn inner<E: de::Error>(self) -> Result<Strict, E> {
            if self.depth >= MAX_DEPTH {
                return Err(E::custom(format!("nests deeper than {MAX_DEPTH} levels")));
            }
            Ok(Strict { depth: self.depth + 1 })
        }
    }

    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value with integer numbers and unique member names")
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Number(Number::from(v)))
        }
        // serde_json reads `-0`, fractions and exponents as floats.
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            Err(E::custom(format!(
                "{v} is not an integer (the format holds integers only, never -0)"
            )))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let inner = self.inner()?;
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(inner)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let inner = self.inner()?;
            let mut members = Map::new();
            while let Some(name) = map.next_key::<String>()? {
                if members.contains_key(&name) {
                    return Err(de::Error::custom(format!("duplicate member {name:?}")));
                }
                let value = map.next_value_seed(inner)?;
                members.insert(name, value);
            }
            Ok(Value::Object(members))
        }
    }
}
