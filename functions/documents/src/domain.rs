//! Controlled documents (DOC-1..3): the values a document is made of, each a type that cannot
//! hold an invalid value (parse, don't validate), the records as stored, and the lifecycle's
//! rules. No storage and no HTTP here.
//!
//! A document is two kinds of record:
//! - [`Document`]: its identity (number, type, owner) and a summary of its versions (the latest
//!   one's title and status, which version is effective, when its periodic review is due). Every
//!   change of the document writes it, conditioned on its `version`: it is what `ETag` and
//!   `If-Match` name, and what makes two racing changes of one document end with one winner.
//! - [`DocumentVersion`]: one version's content (title, body) and where it is in the lifecycle.
//!   Its content is fixed once it leaves Draft ([`VersionStatus::content_fixed`]).

use quire_core::documents::DocumentTypeKey;
use quire_store::{Collection, Index, Record};
use serde::{Deserialize, Serialize};

/// 1 to 200 characters on one line, no control characters, not blank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentTitle(String);

impl DocumentTitle {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DocumentTitle {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let count = value.chars().count();
        if value.trim().is_empty() || count > 200 {
            return Err("title: must be 1 to 200 characters and not blank".into());
        }
        // Shown in lists and manifestations: no line separators, bidi or invisible characters.
        if !quire_core::text::is_plain_line(&value) {
            return Err("title: must be a single line without control, bidi or invisible characters".into());
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

impl DocumentBody {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reason for change: one type for every route that takes one.
pub use quire_core::text::Reason;

/// Where a version is in its lifecycle (DOC-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Draft,
    InReview,
    Approved,
    Effective,
    Superseded,
    Obsolete,
}

impl VersionStatus {
    pub const ALL: [VersionStatus; 6] = [
        VersionStatus::Draft,
        VersionStatus::InReview,
        VersionStatus::Approved,
        VersionStatus::Effective,
        VersionStatus::Superseded,
        VersionStatus::Obsolete,
    ];

    /// Its name in the API (`in_review`).
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::InReview => "in_review",
            VersionStatus::Approved => "approved",
            VersionStatus::Effective => "effective",
            VersionStatus::Superseded => "superseded",
            VersionStatus::Obsolete => "obsolete",
        }
    }

    /// The states `POST …/transitions` may move a version in this state to:
    /// - a draft is submitted for review, or withdrawn (obsolete);
    /// - a version in review is recalled to draft (its route ends);
    /// - an approved version is made effective (the effective one before it is superseded in
    ///   the same change), or withdrawn;
    /// - an effective version is withdrawn (obsolete).
    ///
    /// Approval is not a transition: a version becomes approved when the last signature its
    /// route needs is given, and returns to draft when one is a rejection. Superseded comes
    /// only with its successor becoming effective. Superseded and obsolete are final.
    pub fn transitions(self) -> &'static [VersionStatus] {
        use VersionStatus::*;
        match self {
            Draft => &[InReview, Obsolete],
            InReview => &[Draft],
            Approved => &[Effective, Obsolete],
            Effective => &[Obsolete],
            Superseded | Obsolete => &[],
        }
    }

    /// Whether the version's content (title, body) can no longer change: every state after
    /// Draft (DOC-2). A version recalled to draft from review is editable again; one that was
    /// ever approved never returns to draft.
    pub fn content_fixed(self) -> bool {
        self != VersionStatus::Draft
    }

    /// Whether a new version may follow a latest version in this state: once it is out of
    /// drafting and review (approved, effective, superseded, or obsolete: withdrawn, approved
    /// or not), never while it is a draft or in review.
    /// Whether moving a version from `from` to this state is an approver's act (needs
    /// `DocumentApprove` besides `DocumentEdit`): putting it into effect, or withdrawing it once
    /// approved or effective.
    pub fn needs_approver(self, from: VersionStatus) -> bool {
        match self {
            VersionStatus::Effective => true,
            VersionStatus::Obsolete => matches!(from, VersionStatus::Approved | VersionStatus::Effective),
            _ => false,
        }
    }

    pub fn may_be_followed(self) -> bool {
        !matches!(self, VersionStatus::Draft | VersionStatus::InReview)
    }
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

/// A version number as a path names it: 1 to 999 999, digits only, no leading zero. Anything
/// else is no version of anyone's: the caller gets a 404.
pub fn parse_version_number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 6 || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The most versions a document has.
pub const MAX_VERSIONS: u32 = 999_999;

/// A controlled document: its identity and the summary of its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    pub id: String,
    /// Its number in the organisation (`SOP-0001`): its type's prefix and the next number of
    /// that prefix, given when it was created and never changed.
    pub number: String,
    /// Its type's key (`sop`), as the organisation's document types name it.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: DocumentTypeKey,
    /// The latest version's title.
    pub title: DocumentTitle,
    /// The user id of the member responsible for it (who created it, until reassigned).
    pub owner: String,
    /// Months between periodic reviews once a version is effective (from its type when created).
    pub review_interval_months: u16,
    /// The latest version's number and state.
    pub latest_version: u32,
    pub status: VersionStatus,
    /// The number of the version in effect, if one is.
    pub effective_version: Option<u32>,
    /// The day (UTC, `YYYY-MM-DD`) the effective version's periodic review is due: the interval
    /// after it became effective. `null` while no version is effective.
    pub review_due: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    /// Counts the document's changes from 1 (any change of any of its versions): `ETag`.
    pub version: u64,
}

impl Record for Document {
    const COLLECTION: Collection = Collection::Documents;
    fn id(&self) -> String {
        self.id.clone()
    }
    /// Listed by state, type and owner; by the day its review is due while a version is in
    /// effect.
    fn listed_by(&self) -> Vec<(Index, String)> {
        let mut indexes = vec![
            (Index::DocumentStatus, self.status.as_str().to_owned()),
            (Index::DocumentType, self.kind.as_str().to_owned()),
            (Index::DocumentOwner, self.owner.clone()),
        ];
        if let (Some(due), Some(_)) = (&self.review_due, self.effective_version) {
            indexes.push((Index::DocumentReviewDue, due.clone()));
        }
        indexes
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// One version of a document. Its schema is open (no `deny_unknown_fields`) so that the
/// version's displays can add to it (its signatures' manifestations, §11.50).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentVersion {
    pub document_id: String,
    /// 1 for the first version, then one more for each.
    pub version_number: u32,
    pub title: DocumentTitle,
    pub body: DocumentBody,
    pub status: VersionStatus,
    /// Why this version was made (every version after the first, DOC-2).
    pub reason_for_change: Option<String>,
    /// Its authors: the user ids of who made it and of everyone who edited it as a draft. None
    /// of them may review or approve it (DOC-3).
    pub authors: Vec<String>,
    /// Who reviews and approves it, from its submission for review (DOC-3); `null` for a
    /// draft never submitted, and again when recalled to draft.
    pub route: Option<ApprovalRoute>,
    /// The files accepted into it while it was a draft (FILE-1), part of its content: fixed
    /// with it, and in what a signature binds.
    #[serde(default)]
    pub attachments: Vec<AttachedFile>,
    /// Its author: who made it.
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    /// Counts this version's changes from 1.
    pub version: u64,
}

/// A file of a version's content: what identifies it and its bytes (the SHA-256 of the
/// plaintext), as ingest accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachedFile {
    pub attachment_id: String,
    /// The sanitised name (FILE-2).
    pub file_name: String,
    pub media_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
}

impl DocumentVersion {
    /// Its id in the versions' partition: the document's id and its number, zero-padded so
    /// that ids sort by number.
    pub fn key(document_id: &str, number: u32) -> String {
        format!("{document_id}#{number:06}")
    }

    /// What every version id of a document starts with.
    pub fn prefix(document_id: &str) -> String {
        format!("{document_id}#")
    }
}

impl Record for DocumentVersion {
    const COLLECTION: Collection = Collection::DocumentVersions;
    fn id(&self) -> String {
        DocumentVersion::key(&self.document_id, self.version_number)
    }
    /// A version's events are its document's: one target, one history.
    fn target_id(&self) -> String {
        self.document_id.clone()
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// Whether a route's signers sign in any order or one after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteOrder {
    /// Reviewers and approvers sign in any order.
    Parallel,
    /// Reviewers in the order listed, then approvers in the order listed.
    Sequential,
}

/// What a signer on a route is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepRole {
    Reviewer,
    Approver,
}

/// One signer of a route and whether they have signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteStep {
    pub user_id: String,
    pub role: StepRole,
    /// The signature that completed the step, once given.
    pub signature_id: Option<String>,
}

/// A version's approval route (DOC-3): reviewers first, then approvers, each a member who held
/// `DocumentApprove` when it was submitted, none its author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRoute {
    pub order: RouteOrder,
    pub steps: Vec<RouteStep>,
    pub submitted_at: String,
    pub submitted_by: String,
}

/// The most signers a route names (reviewers and approvers together).
pub const MAX_ROUTE_STEPS: usize = 20;

impl ApprovalRoute {
    /// The steps still waiting that `user` may sign now: in a parallel route any of theirs; in
    /// a sequential one only the first unsigned step, if it is theirs.
    pub fn open_for(&self, user: &str) -> Vec<usize> {
        let unsigned = self.steps.iter().enumerate().filter(|(_, s)| s.signature_id.is_none());
        match self.order {
            RouteOrder::Parallel => unsigned.filter(|(_, s)| s.user_id == user).map(|(i, _)| i).collect(),
            RouteOrder::Sequential => unsigned
                .take(1)
                .filter(|(_, s)| s.user_id == user)
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// Whether every step is signed: the version is approved.
    pub fn complete(&self) -> bool {
        self.steps.iter().all(|s| s.signature_id.is_some())
    }
}

/// The day a periodic review is due: `months` after `from` (an RFC 3339 time), as `YYYY-MM-DD`
/// (UTC). The 31st plus a month is the last day of the shorter month.
pub fn review_due(from: &str, months: u16) -> Option<String> {
    let day = chrono::DateTime::parse_from_rfc3339(from).ok()?.date_naive();
    day.checked_add_months(chrono::Months::new(u32::from(months)))
        .map(|due| due.format("%Y-%m-%d").to_string())
}

/// A line diff of two bodies: lines inserted and deleted, and the unified diff (three lines of
/// context, headed by `labels`).
#[derive(Debug, PartialEq, Eq)]
pub struct LineDiff {
    pub inserted: usize,
    pub deleted: usize,
    pub unified: String,
}

/// The line diff of `from` → `to` (`similar`'s Myers diff). A body's last line is compared
/// as if it ended with a line break: a reader sees lines, and a line appended to a body
/// without a final break is one inserted line, not the last one changed. Myers' diff is
/// quadratic at worst: past `deadline` it settles for a coarser, still correct, diff.
pub fn line_diff(from: &str, to: &str, labels: (&str, &str), deadline: std::time::Duration) -> LineDiff {
    let ended = |body: &str| {
        if body.is_empty() || body.ends_with('\n') {
            body.to_owned()
        } else {
            format!("{body}\n")
        }
    };
    let (from, to) = (ended(from), ended(to));
    let text = similar::TextDiff::configure()
        .timeout(deadline)
        .diff_lines(from.as_str(), to.as_str());
    let (mut inserted, mut deleted) = (0, 0);
    for change in text.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => inserted += 1,
            similar::ChangeTag::Delete => deleted += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    let unified = text
        .unified_diff()
        .context_radius(3)
        .header(labels.0, labels.1)
        .to_string();
    LineDiff {
        inserted,
        deleted,
        unified,
    }
}

/// A day as `reviewDue=before:<YYYY-MM-DD>` names it: exactly that form, a real date.
pub fn parse_day(text: &str) -> Option<String> {
    // Four-digit years only: chrono reads `+10000-01-01` too, which would not sort as a day.
    if text.len() != 10 || !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let canonical = day.format("%Y-%m-%d").to_string();
    (canonical == text).then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_single_line_and_bounded() {
        assert!(DocumentTitle::try_from("SOP-001 Cleaning".to_owned()).is_ok());
        assert!(DocumentTitle::try_from("  ".to_owned()).is_err());
        assert!(DocumentTitle::try_from("a\nb".to_owned()).is_err());
        for hidden in ["A\u{2028}B", "A\u{200B}B", "\u{FEFF}A", "A\u{202E}B"] {
            assert!(DocumentTitle::try_from(hidden.to_owned()).is_err(), "{hidden:?}");
        }
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

    #[test]
    fn version_numbers_are_plain_positive_integers() {
        assert_eq!(parse_version_number("1"), Some(1));
        assert_eq!(parse_version_number("999999"), Some(999_999));
        for bad in ["", "0", "01", "-1", "+1", "1.0", "1e3", "1000000", " 1", "١"] {
            assert_eq!(parse_version_number(bad), None, "{bad:?}");
        }
        assert_eq!(DocumentVersion::key("d", 12), "d#000012");
    }

    /// Every state's transitions lead to states, none to itself, none back out of a final
    /// state, and approval and supersession are never a client's transition.
    ///
    /// Proves: DOC-1
    #[test]
    fn the_lifecycle_is_the_documented_one() {
        use VersionStatus::*;
        let edges: Vec<(VersionStatus, VersionStatus)> = VersionStatus::ALL
            .into_iter()
            .flat_map(|from| from.transitions().iter().map(move |to| (from, *to)))
            .collect();
        assert_eq!(
            edges,
            [
                (Draft, InReview),
                (Draft, Obsolete),
                (InReview, Draft),
                (Approved, Effective),
                (Approved, Obsolete),
                (Effective, Obsolete),
            ]
        );
        assert!(edges.iter().all(|(from, to)| from != to));
        assert!(!edges.iter().any(|(_, to)| matches!(to, Approved | Superseded)));
        assert!(Superseded.transitions().is_empty() && Obsolete.transitions().is_empty());
        assert!(!Draft.content_fixed());
        assert!(VersionStatus::ALL
            .into_iter()
            .filter(|s| *s != Draft)
            .all(|s| s.content_fixed()));
    }

    #[test]
    fn reviews_fall_due_whole_months_later() {
        assert_eq!(review_due("2026-01-31T10:00:00.000Z", 1).as_deref(), Some("2026-02-28"));
        assert_eq!(
            review_due("2026-12-02T23:59:59.999Z", 24).as_deref(),
            Some("2028-12-02")
        );
        assert_eq!(review_due("not a time", 1), None);
        assert_eq!(parse_day("2026-02-28").as_deref(), Some("2026-02-28"));
        for bad in [
            "2026-02-30",
            "2026-2-28",
            "26-02-28",
            "2026-02-28T00:00:00Z",
            "",
            "+10000-01-01",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn line_diffs_count_lines_as_a_reader_sees_them() {
        let labels = ("v1", "v2");
        let deadline = std::time::Duration::from_millis(500);
        // A line appended to a body without a final break: one line inserted, none changed.
        let appended = line_diff("a\nb", "a\nb\nc", labels, deadline);
        assert_eq!((appended.inserted, appended.deleted), (1, 0));
        assert_eq!(appended.unified, "--- v1\n+++ v2\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
        let changed = line_diff("a\nb\n", "a\nB\n", labels, deadline);
        assert_eq!((changed.inserted, changed.deleted), (1, 1));
        assert_eq!(line_diff("", "", labels, deadline).unified, "");
        assert_eq!(line_diff("", "x", labels, deadline).inserted, 1);
    }
}
