//! An attachment as Quire keeps it: what the member declared when asking to upload, and where
//! the file stands. No storage and no HTTP here.

use quire_core::files::FileName;
use quire_store::{Collection, Record};
use serde::{Deserialize, Serialize};

/// Where an uploaded file stands: waiting for ingest, kept, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentStatus {
    /// Declared; the file is uploaded to quarantine and not yet checked.
    Pending,
    /// Checked, encrypted and part of its version.
    Accepted,
    /// Refused by ingest, with the reason.
    Rejected,
}

/// A file attached to a document's version (FILE-1..3), stored by its id
/// (`ORG#<org>#ATTACHMENT`, `<attachmentId>`). Its events are its document's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attachment {
    /// A UUIDv7: it names the stored object and is bound into its encryption context.
    pub id: String,
    pub document_id: String,
    /// The version the file belongs to: the document's draft when it was declared.
    pub version_number: u32,
    /// The sanitised name (FILE-2): what is listed and what a download is called.
    #[schema(value_type = String)]
    pub file_name: FileName,
    /// The name as the member sent it, recorded on one line (`FileName::recorded`: invisible
    /// and control characters escaped), never used as a name.
    pub sent_name: String,
    /// The declared media type: the one Quire accepts for the name's extension.
    pub media_type: String,
    /// The declared size in bytes: the upload must be exactly that.
    pub declared_size: u64,
    pub status: AttachmentStatus,
    /// Bytes of the file as ingest found it.
    #[serde(default)]
    pub size: Option<u64>,
    /// SHA-256 (hex) of the file's bytes, as ingest found them (accepted or not).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Why ingest refused the file.
    #[serde(default)]
    pub refusal: Option<AttachmentRefusal>,
    /// The S3 version id of the accepted file's ciphertext, as its upload answered it. Reads
    /// name it, so that another object written to the key later (a failed attempt's ciphertext
    /// left behind) is never served and never blocks an acceptance; none for a file accepted
    /// before it was recorded, or in an unversioned bucket (the key's current object is read).
    /// Where the bytes are kept is the store's business: the API does not show it
    /// ([`Attachment::shown`]).
    #[serde(default)]
    #[schema(ignore)]
    pub object_version: Option<String>,
    /// When the upload's presigned URL stops working (RFC 3339, UTC).
    pub upload_expires_at: String,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    /// Incremented on every change.
    pub version: u64,
}

/// Why ingest refused a file: a stable code (`too-large`, `size-mismatch`, `executable`,
/// `type-mismatch`, `package`, `version-not-draft`) and one line for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRefusal {
    pub code: String,
    pub reason: String,
}

impl Attachment {
    /// The attachment as the API answers it: every field but where its bytes are kept
    /// (`objectVersion`).
    pub fn shown(&self) -> serde_json::Value {
        let mut shown = serde_json::to_value(self).unwrap_or_default();
        if let Some(fields) = shown.as_object_mut() {
            fields.remove("objectVersion");
        }
        shown
    }
}

impl Record for Attachment {
    const COLLECTION: Collection = Collection::Attachments;
    fn id(&self) -> String {
        self.id.clone()
    }
    /// An attachment's events are its document's: one target, one history.
    fn target_id(&self) -> String {
        self.document_id.clone()
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// An attachment id from a path: a hyphenated UUID, or nobody's (404).
pub fn parse_id(text: &str) -> Option<String> {
    (text.len() == 36)
        .then(|| uuid::Uuid::try_parse(text).ok())
        .flatten()
        .map(|id| id.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hyphenated_uuids_only() {
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        assert_eq!(parse_id(&id).as_deref(), Some(id.as_str()));
        for bad in ["", "x", &id.to_uppercase().replace('-', ""), "../../etc/passwd"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
