//! Controlled documents: the values a document is made of, each a type that cannot hold an
//! invalid value (parse, don't validate), and the record as stored.

use quire_store::{Collection, Record};
use serde::{Deserialize, Serialize};

/// 1 to 200 characters on one line, no control characters, not blank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentTitle(String);

impl TryFrom<String> for DocumentTitle {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let count = value.chars().count();
        if value.trim().is_empty() || count > 200 {
            return Err("title: must be 1 to 200 characters and not blank".into());
        }
        if quire_core::text::has_forbidden_chars(&value, false) {
            return Err("title: must be a single line without control characters".into());
        }
        Ok(DocumentTitle(value))
    }
}

impl From<DocumentTitle> for String {
    fn from(title: DocumentTitle) -> String {
        title.0
    }
}

/// The document's text: up to 100 000 characters; line breaks and tabs allowed, other control
/// characters not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentBody(String);

pub const MAX_BODY_CHARS: usize = 100_000;

impl TryFrom<String> for DocumentBody {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.chars().count() > MAX_BODY_CHARS {
            return Err(format!("body: must be at most {MAX_BODY_CHARS} characters"));
        }
        if quire_core::text::has_forbidden_chars(&value, true) {
            return Err("body: must not contain control characters other than line breaks and tabs".into());
        }
        Ok(DocumentBody(value))
    }
}

impl From<DocumentBody> for String {
    fn from(body: DocumentBody) -> String {
        body.0
    }
}

/// The kinds of controlled document a QMS keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    Sop,
    WorkInstruction,
    Policy,
    Form,
    Specification,
    Record,
}

/// A reason for change: one type for every route that takes one.
pub use quire_core::text::Reason;

/// Lifecycle state (DOC-1). Only drafts exist until the review workflow arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Draft,
    InReview,
    Approved,
    Effective,
    Superseded,
    Obsolete,
}

/// A document id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentId(uuid::Uuid);

impl DocumentId {
    pub fn generate() -> Self {
        DocumentId(uuid::Uuid::now_v7())
    }

    /// Any text that is not a hyphenated UUID is no document of anyone's: the caller gets a 404.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 36)
            .then(|| uuid::Uuid::try_parse(text).ok())
            .flatten()
            .map(DocumentId)
    }
}

impl std::fmt::Display for DocumentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    pub id: String,
    pub title: DocumentTitle,
    #[serde(rename = "type")]
    pub kind: DocumentType,
    pub body: DocumentBody,
    pub status: DocumentStatus,
    pub version: u64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl Record for Document {
    const COLLECTION: Collection = Collection::Documents;
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_single_line_and_bounded() {
        assert!(DocumentTitle::try_from("SOP-001 Cleaning".to_owned()).is_ok());
        assert!(DocumentTitle::try_from("  ".to_owned()).is_err());
        assert!(DocumentTitle::try_from("a\nb".to_owned()).is_err());
        assert!(DocumentTitle::try_from("x".repeat(201)).is_err());
        assert!(DocumentTitle::try_from("é".repeat(200)).is_ok());
    }

    #[test]
    fn bodies_allow_paragraphs_only() {
        assert!(DocumentBody::try_from("one\n\ttwo".to_owned()).is_ok());
        assert!(DocumentBody::try_from("bell\u{7}".to_owned()).is_err());
        assert!(DocumentBody::try_from("x".repeat(MAX_BODY_CHARS + 1)).is_err());
    }

    #[test]
    fn ids_are_uuids() {
        let id = DocumentId::generate().to_string();
        assert!(DocumentId::parse(&id).is_some());
        assert!(DocumentId::parse("../x").is_none());
        assert!(DocumentId::parse(&id.replace('-', "")).is_none());
    }
}
