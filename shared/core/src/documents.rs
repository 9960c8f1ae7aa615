//! An organisation's document types (DOC-1): what kinds of controlled document it keeps, the
//! prefix each numbers its documents with (`SOP-0001`) and how often each is reviewed. An
//! organisation setting (`PATCH /organisation` `documentTypes`); an organisation that never set
//! one has [`DocumentTypes::seeded`].

use serde::{Deserialize, Serialize};

/// A type's key, as clients name it (`"type": "sop"`): 1 to 32 of `a-z`, `0-9` and `_`,
/// starting with a letter. Matched exactly: `SOP` is not `sop`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentTypeKey(String);

impl TryFrom<String> for DocumentTypeKey {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let mut chars = value.chars();
        let starts = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        if !starts || value.len() > 32 || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err("type: must be 1 to 32 of a-z, 0-9 and _, starting with a letter".into());
        }
        Ok(DocumentTypeKey(value))
    }
}

impl From<DocumentTypeKey> for String {
    fn from(key: DocumentTypeKey) -> String {
        key.0
    }
}

impl DocumentTypeKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The prefix of a type's document numbers: 1 to 8 of `A-Z` and `0-9`, starting with a letter.
/// A number is the prefix, `-` and at least four digits (`SOP-0001`), so no number of one
/// prefix can be read as another's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct NumberPrefix(String);

impl TryFrom<String> for NumberPrefix {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let mut chars = value.chars();
        let starts = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        if !starts || value.len() > 8 || !chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
            return Err("prefix: must be 1 to 8 of A-Z and 0-9, starting with a letter".into());
        }
        Ok(NumberPrefix(value))
    }
}

impl From<NumberPrefix> for String {
    fn from(prefix: NumberPrefix) -> String {
        prefix.0
    }
}

impl NumberPrefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The document number `n` of this prefix: `SOP-0001`, `SOP-12345`.
    pub fn number(&self, n: u64) -> String {
        format!("{}-{n:04}", self.0)
    }
}

/// One document type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentTypeSetting {
    pub key: DocumentTypeKey,
    /// What people call it: 1 to 100 characters on one line.
    #[schema(value_type = String)]
    pub name: TypeName,
    pub prefix: NumberPrefix,
    /// Months between periodic reviews of an effective document of this type: 1 to 120.
    #[schema(value_type = u16, minimum = 1, maximum = 120)]
    pub review_interval_months: ReviewInterval,
}

/// A type's display name: 1 to 100 characters on one line, not blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TypeName(String);

impl TryFrom<String> for TypeName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.trim().is_empty() || value.chars().count() > 100 || !crate::text::is_plain_line(&value) {
            return Err("name: must be 1 to 100 characters on one line".into());
        }
        Ok(TypeName(value))
    }
}

impl From<TypeName> for String {
    fn from(name: TypeName) -> String {
        name.0
    }
}

/// Months between periodic reviews: 1 to 120.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct ReviewInterval(u16);

impl TryFrom<u16> for ReviewInterval {
    type Error = String;
    fn try_from(months: u16) -> Result<Self, String> {
        if !(1..=120).contains(&months) {
            return Err("reviewIntervalMonths: must be 1 to 120".into());
        }
        Ok(ReviewInterval(months))
    }
}

impl From<ReviewInterval> for u16 {
    fn from(interval: ReviewInterval) -> u16 {
        interval.0
    }
}

impl ReviewInterval {
    pub fn months(self) -> u16 {
        self.0
    }
}

/// An organisation's document types: 1 to 50, keys and prefixes each unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "Vec<DocumentTypeSetting>", into = "Vec<DocumentTypeSetting>")]
pub struct DocumentTypes(Vec<DocumentTypeSetting>);

pub const MAX_DOCUMENT_TYPES: usize = 50;

impl TryFrom<Vec<DocumentTypeSetting>> for DocumentTypes {
    type Error = String;
    fn try_from(types: Vec<DocumentTypeSetting>) -> Result<Self, String> {
        if types.is_empty() || types.len() > MAX_DOCUMENT_TYPES {
            return Err(format!("documentTypes: must list 1 to {MAX_DOCUMENT_TYPES} types"));
        }
        for (i, t) in types.iter().enumerate() {
            if types[..i].iter().any(|o| o.key == t.key) {
                return Err(format!("documentTypes: the key `{}` is listed twice", t.key.as_str()));
            }
            if types[..i].iter().any(|o| o.prefix == t.prefix) {
                return Err(format!(
                    "documentTypes: the prefix `{}` is listed twice",
                    t.prefix.as_str()
                ));
            }
        }
        Ok(DocumentTypes(types))
    }
}

impl From<DocumentTypes> for Vec<DocumentTypeSetting> {
    fn from(types: DocumentTypes) -> Self {
        types.0
    }
}

impl DocumentTypes {
    /// The types of an organisation that never set its own: SOP, work instruction, policy,
    /// form, specification and record.
    pub fn seeded() -> Self {
        let t = |key: &str, name: &str, prefix: &str, months: u16| DocumentTypeSetting {
            key: DocumentTypeKey(key.into()),
            name: TypeName(name.into()),
            prefix: NumberPrefix(prefix.into()),
            review_interval_months: ReviewInterval(months),
        };
        DocumentTypes(vec![
            t("sop", "Standard operating procedure", "SOP", 24),
            t("work_instruction", "Work instruction", "WI", 24),
            t("policy", "Policy", "POL", 36),
            t("form", "Form", "FRM", 36),
            t("specification", "Specification", "SPEC", 24),
            t("record", "Record", "REC", 60),
        ])
    }

    /// The type `key` names, exactly.
    pub fn find(&self, key: &str) -> Option<&DocumentTypeSetting> {
        self.0.iter().find(|t| t.key.as_str() == key)
    }

    /// Every key, in the organisation's order: what a 400 lists.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|t| t.key.as_str()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &DocumentTypeSetting> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_prefixes_are_plain_and_matched_exactly() {
        assert!(DocumentTypeKey::try_from("work_instruction".to_owned()).is_ok());
        for bad in ["", "SOP", "1sop", "s-op", "s op", &"a".repeat(33)] {
            assert!(DocumentTypeKey::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert!(NumberPrefix::try_from("SPEC2".to_owned()).is_ok());
        for bad in ["", "sop", "2SOP", "SO-P", "ABCDEFGHI"] {
            assert!(NumberPrefix::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        let seeded = DocumentTypes::seeded();
        assert!(seeded.find("sop").is_some());
        assert!(seeded.find("SOP").is_none());
        assert!(seeded.find("sop ").is_none());
        assert_eq!(
            seeded.keys(),
            ["sop", "work_instruction", "policy", "form", "specification", "record"]
        );
    }

    #[test]
    fn numbers_are_prefix_and_at_least_four_digits() {
        let prefix = NumberPrefix::try_from("SOP".to_owned()).unwrap();
        assert_eq!(prefix.number(1), "SOP-0001");
        assert_eq!(prefix.number(12345), "SOP-12345");
    }

    #[test]
    fn a_type_list_has_unique_keys_and_prefixes() {
        let mut types: Vec<DocumentTypeSetting> = DocumentTypes::seeded().into();
        assert!(DocumentTypes::try_from(types.clone()).is_ok());
        let mut twice = types.clone();
        twice[1].key = twice[0].key.clone();
        assert!(DocumentTypes::try_from(twice)
            .unwrap_err()
            .contains("`sop` is listed twice"));
        types[1].prefix = types[0].prefix.clone();
        assert!(DocumentTypes::try_from(types)
            .unwrap_err()
            .contains("`SOP` is listed twice"));
        assert!(DocumentTypes::try_from(vec![]).is_err());
        assert!(ReviewInterval::try_from(0).is_err() && ReviewInterval::try_from(121).is_err());
        let parsed: Result<DocumentTypes, _> = serde_json::from_value(serde_json::json!([
            {"key": "sop", "name": "SOP", "prefix": "SOP", "reviewIntervalMonths": 12, "extra": 1}
        ]));
        assert!(parsed.is_err(), "unknown fields are refused");
    }
}
