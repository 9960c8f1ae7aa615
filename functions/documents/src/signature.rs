//! Electronic signatures (DOC-4, DOC-5; 21 CFR Part 11 §11.50, §11.70, §11.100, §11.200):
//! what a signature means, the record that keeps it, the content it is bound to, and the checks
//! that tell a valid one from a copied or outlived one. No storage and no HTTP here.

use crate::domain::{ApprovalRoute, Document, DocumentVersion, StepRole, VersionStatus};
use quire_store::{Collection, Record};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a signer attests (§11.50(a)(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    /// An author of the version vouches for its content (while it is in review).
    Authored,
    /// A reviewer on the route has reviewed it.
    Reviewed,
    /// An approver on the route approves it; the last signature of a route approves the version.
    Approved,
    /// A reviewer or approver on the route rejects it (with a reason): it returns to draft.
    Rejected,
    /// A holder of `DocumentApprove` releases an approved version for use; making it effective
    /// is the transition.
    Released,
}

impl Meaning {
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Authored => "authored",
            Meaning::Reviewed => "reviewed",
            Meaning::Approved => "approved",
            Meaning::Rejected => "rejected",
            Meaning::Released => "released",
        }
    }
}

/// A signature as stored: never changed or removed once written (a withdrawal would be a new
/// record). `contentSha256` binds it to the version's content (§11.70).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Signature {
    /// A UUIDv7: signatures of a version sort by time.
    pub id: String,
    pub document_id: String,
    pub version_number: u32,
    /// The signer's user id (Cognito `sub`) and printed name when they signed (§11.50(a)(1)).
    pub signer_id: String,
    pub printed_name: String,
    pub meaning: Meaning,
    /// Required with `rejected`; optional otherwise.
    pub reason: Option<String>,
    /// UTC, RFC 3339 with milliseconds (§11.50(a)(2)).
    pub signed_at: String,
    /// SHA-256 (hex) of the version's canonical content when it was signed ([`content_sha256`]).
    pub content_sha256: String,
    /// The content form that hash is of ([`CONTENT_FORM`] when signed; 1 for signatures made
    /// before files were content): a signature is always checked in its own form.
    #[serde(default = "first_form")]
    pub content_form: u32,
    /// How the signer proved who they were at that moment: `password`, and `totp` where they
    /// have an authenticator (§11.200(a)(1)).
    pub components: Vec<String>,
    /// Always 1: a signature never changes.
    pub version: u64,
}

impl Signature {
    /// Its id in the signatures' partition: document, version, signature.
    pub fn key(document_id: &str, version_number: u32, id: &str) -> String {
        format!("{}{id}", Self::version_prefix(document_id, version_number))
    }

    /// What the ids of a version's signatures start with.
    pub fn version_prefix(document_id: &str, version_number: u32) -> String {
        format!("{}#", DocumentVersion::key(document_id, version_number))
    }

    /// The manifestation every display of the signed version shows (§11.50): printed name, UTC
    /// date and time, meaning; and whether it was given to the content the version holds now
    /// (`current`: its canonical content's SHA-256), which a signature of an earlier round of
    /// review, before a rejection and rework, was not.
    /// Its manifestation on `version` (§11.50): `contentMatches` compares the version's content
    /// now, hashed in the signature's own form, with what was signed.
    pub fn manifestation(&self, document: &Document, version: &DocumentVersion) -> Manifestation {
        let current = content_sha256_in(self.content_form, document, version);
        Manifestation {
            signature_id: self.id.clone(),
            printed_name: self.printed_name.clone(),
            signed_at: self.signed_at.clone(),
            meaning: self.meaning,
            content_matches: current.is_ok_and(|now| now == self.content_sha256),
            text: format!("{} — {} — {}", self.printed_name, self.signed_at, self.meaning.as_str()),
        }
    }
}

impl Record for Signature {
    const COLLECTION: Collection = Collection::DocumentSignatures;
    fn id(&self) -> String {
        Signature::key(&self.document_id, self.version_number, &self.id)
    }
    /// A signature's event is its document's: one target, one history.
    fn target_id(&self) -> String {
        self.document_id.clone()
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// A signature as every display of its version shows it (§11.50).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifestation {
    pub signature_id: String,
    pub printed_name: String,
    pub signed_at: String,
    pub meaning: Meaning,
    /// Whether it was given to the content the version holds now; `false` for a signature of
    /// an earlier round of review (the version was rejected or recalled and edited since).
    pub content_matches: bool,
    /// `<printed name> — <UTC time> — <meaning>`, as a reader sees it.
    pub text: String,
}

/// The form of the content a signature is bound to: 2 adds the version's attached files.
pub const CONTENT_FORM: u32 = 2;

fn first_form() -> u32 {
    1
}

/// SHA-256 (hex) of a version's canonical content (§11.70): the RFC 8785 JSON of
/// `{"form", "documentId", "number", "type", "versionNumber", "title", "body", "attachments"}`
/// (each accepted file by id, name, media type, size and SHA-256). Naming the
/// document and the version, it differs for every version of every document even where their
/// text is the same, so a signature copied elsewhere never matches.
pub fn content_sha256(document: &Document, version: &DocumentVersion) -> Result<String, String> {
    content_sha256_in(CONTENT_FORM, document, version)
}

/// [`content_sha256`] in content form `form`: form 1 is the text alone, so it can hash only a
/// version without files (it would say nothing of them); form 2 adds the files.
pub fn content_sha256_in(form: u32, document: &Document, version: &DocumentVersion) -> Result<String, String> {
    let mut content = serde_json::json!({
        "form": form,
        "documentId": version.document_id,
        "number": document.number,
        "type": document.kind,
        "versionNumber": version.version_number,
        "title": version.title,
        "body": version.body,
    });
    match form {
        1 if !version.attachments.is_empty() => {
            return Err("the version holds files, which content form 1 does not cover".into())
        }
        1 => {}
        CONTENT_FORM => {
            content["attachments"] = serde_json::to_value(&version.attachments).map_err(|e| e.to_string())?
        }
        other => return Err(format!("content form {other} is not known")),
    }
    let bytes = quire_core::audit::canonical::to_vec(&content).map_err(|e| e.0)?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Why a signature of `meaning` by `signer` may not be given on `version` now; `None` when it
/// may, with the route step it completes (reviewers and approvers).
///
/// `content` is the SHA-256 of the version's content now: `authored` and `released` are given
/// once per content (a version reworked after a rejection is authored again).
pub fn judge(
    version: &DocumentVersion,
    signer: &str,
    meaning: Meaning,
    signed: &[Signature],
    content: &str,
) -> Result<Option<usize>, String> {
    let given = |m: Meaning| {
        signed
            .iter()
            .any(|s| s.signer_id == signer && s.meaning == m && s.content_sha256 == content)
    };
    let status = version.status;
    if status == VersionStatus::Draft {
        return Err("a draft is not signed: submit it for review first".into());
    }
    let is_author = version.authors.iter().any(|a| a == signer);
    match meaning {
        Meaning::Authored => {
            if status != VersionStatus::InReview {
                return Err(format!(
                    "an author signs while the version is in review, not {}",
                    status.as_str()
                ));
            }
            if !is_author {
                return Err("only an author of the version signs it as authored".into());
            }
            if given(Meaning::Authored) {
                return Err("you have signed this content as authored already".into());
            }
            Ok(None)
        }
        Meaning::Reviewed | Meaning::Approved | Meaning::Rejected => {
            if is_author {
                return Err("an author of the version can never review or approve it".into());
            }
            if status != VersionStatus::InReview {
                return Err(format!(
                    "reviews and approvals are signed while the version is in review, not {}",
                    status.as_str()
                ));
            }
            let route = version.route.as_ref().ok_or("the version has no route")?;
            step_for(route, signer, meaning).map(Some)
        }
        Meaning::Released => {
            if status != VersionStatus::Approved {
                return Err(format!(
                    "a release is signed on an approved version, not {}",
                    status.as_str()
                ));
            }
            if is_author {
                return Err("an author of the version can never approve it for use".into());
            }
            if given(Meaning::Released) {
                return Err("you have signed this version as released already".into());
            }
            Ok(None)
        }
    }
}

/// The route step `signer` completes with `meaning`: their open step whose role the meaning
/// fits (a rejection fits either).
fn step_for(route: &ApprovalRoute, signer: &str, meaning: Meaning) -> Result<usize, String> {
    let open = route.open_for(signer);
    let fits = |role: StepRole| match meaning {
        Meaning::Reviewed => role == StepRole::Reviewer,
        Meaning::Approved => role == StepRole::Approver,
        _ => true,
    };
    if let Some(step) = open.iter().copied().find(|i| fits(route.steps[*i].role)) {
        return Ok(step);
    }
    let mine: Vec<&crate::domain::RouteStep> = route.steps.iter().filter(|s| s.user_id == signer).collect();
    Err(if mine.is_empty() {
        "you are not on this version's route".into()
    } else if mine.iter().all(|s| s.signature_id.is_some()) {
        "you have signed your step of this route already".into()
    } else if !open.is_empty() {
        format!(
            "your step on this route is not one a signature meaning {} completes",
            meaning.as_str()
        )
    } else {
        "the route is sequential and an earlier signer has not signed yet".into()
    })
}

/// One check of a signature's verification, and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// `place` (the record names the version it is stored under), `content` (the version's
    /// content hashes as signed), `audit` (the trail records this very signature, in an entry
    /// whose hash and link hold).
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// The checks that need no audit trail: place and content.
pub fn check_binding(
    signature: &Signature,
    stored_as: &str,
    document: &Document,
    version: &DocumentVersion,
) -> Vec<Check> {
    let place = signature.id == stored_as
        && signature.document_id == version.document_id
        && signature.version_number == version.version_number;
    let place = Check {
        check: "place",
        ok: place,
        detail: if place {
            "the signature names the version it is stored with".into()
        } else {
            format!(
                "the signature record says it is signature {} of document {} version {}, but is stored as \
                 signature {stored_as} of document {} version {}",
                signature.id,
                signature.document_id,
                signature.version_number,
                version.document_id,
                version.version_number
            )
        },
    };
    let content = match content_sha256_in(signature.content_form, document, version) {
        Ok(now) if now == signature.content_sha256 => Check {
            check: "content",
            ok: true,
            detail: format!("the version's content hashes to {now}, as signed"),
        },
        Ok(now) => Check {
            check: "content",
            ok: false,
            detail: format!(
                "the version's content hashes to {now}, not to {} as signed: it changed after signing, or the signature is of other content",
                signature.content_sha256
            ),
        },
        Err(why) => Check {
            check: "content",
            ok: false,
            detail: format!("the version's content cannot be hashed: {why}"),
        },
    };
    vec![place, content]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn version(status: VersionStatus, route: Option<ApprovalRoute>) -> DocumentVersion {
        DocumentVersion {
            document_id: "d".into(),
            version_number: 1,
            title: DocumentTitle::try_from("T".to_owned()).unwrap(),
            body: DocumentBody::try_from("B".to_owned()).unwrap(),
            status,
            reason_for_change: None,
            authors: vec!["author".into()],
            route,
            attachments: Vec::new(),
            created_at: String::new(),
            created_by: "author".into(),
            updated_at: String::new(),
            updated_by: "author".into(),
            version: 1,
        }
    }

    fn route(order: RouteOrder) -> ApprovalRoute {
        let step = |user: &str, role| RouteStep {
            user_id: user.into(),
            role,
            signature_id: None,
        };
        ApprovalRoute {
            order,
            steps: vec![step("r1", StepRole::Reviewer), step("a1", StepRole::Approver)],
            submitted_at: String::new(),
            submitted_by: "author".into(),
        }
    }

    /// Proves: DOC-3, DOC-4
    #[test]
    fn who_signs_what_and_when() {
        use Meaning::{Approved, Authored, Rejected, Released, Reviewed};
        use VersionStatus::{Draft, Effective, InReview};
        let parallel = version(InReview, Some(route(RouteOrder::Parallel)));
        let sequential = version(InReview, Some(route(RouteOrder::Sequential)));
        assert!(judge(&version(Draft, None), "a1", Approved, &[], "h")
            .unwrap_err()
            .contains("draft"));
        assert_eq!(judge(&parallel, "a1", Approved, &[], "h"), Ok(Some(1)));
        assert_eq!(judge(&parallel, "r1", Reviewed, &[], "h"), Ok(Some(0)));
        assert_eq!(judge(&parallel, "r1", Rejected, &[], "h"), Ok(Some(0)));
        assert!(judge(&parallel, "r1", Approved, &[], "h")
            .unwrap_err()
            .contains("not one"));
        assert!(judge(&parallel, "x", Approved, &[], "h")
            .unwrap_err()
            .contains("not on"));
        assert!(judge(&parallel, "author", Approved, &[], "h")
            .unwrap_err()
            .contains("never"));
        assert_eq!(judge(&parallel, "author", Authored, &[], "h"), Ok(None));
        assert!(judge(&parallel, "r1", Authored, &[], "h").is_err());
        assert!(judge(&sequential, "a1", Approved, &[], "h")
            .unwrap_err()
            .contains("earlier signer"));
        assert_eq!(judge(&sequential, "r1", Reviewed, &[], "h"), Ok(Some(0)));
        let mut reviewed = sequential.clone();
        reviewed.route.as_mut().unwrap().steps[0].signature_id = Some("s".into());
        assert_eq!(judge(&reviewed, "a1", Approved, &[], "h"), Ok(Some(1)));
        assert!(judge(&reviewed, "r1", Reviewed, &[], "h")
            .unwrap_err()
            .contains("already"));
        assert!(judge(&version(VersionStatus::Approved, None), "x", Released, &[], "h").is_ok());
        assert!(judge(&version(Effective, None), "x", Released, &[], "h").is_err());
        assert!(judge(&version(VersionStatus::Approved, None), "a1", Approved, &[], "h").is_err());
        assert!(
            judge(&version(VersionStatus::Approved, None), "author", Released, &[], "h")
                .unwrap_err()
                .contains("never")
        );
        // Authored once per content: reworked content is authored again.
        let authored = Signature {
            id: "s".into(),
            document_id: "d".into(),
            version_number: 1,
            signer_id: "author".into(),
            printed_name: "A".into(),
            meaning: Authored,
            reason: None,
            signed_at: String::new(),
            content_sha256: "h".into(),
            content_form: CONTENT_FORM,
            components: vec![],
            version: 1,
        };
        let once = std::slice::from_ref(&authored);
        assert!(judge(&parallel, "author", Authored, once, "h").is_err());
        assert_eq!(judge(&parallel, "author", Authored, once, "h2"), Ok(None));
    }

    fn document() -> Document {
        serde_json::from_value(serde_json::json!({
            "id": "d", "number": "SOP-0001", "type": "sop", "title": "T", "owner": "o",
            "reviewIntervalMonths": 24, "latestVersion": 2, "status": "draft",
            "effectiveVersion": null, "reviewDue": null, "createdAt": "", "createdBy": "",
            "updatedAt": "", "updatedBy": "", "version": 1
        }))
        .unwrap()
    }

    /// A signature is checked in the content form it was made in: one made before files were
    /// content still matches its unchanged version, and matches no version that holds files.
    #[test]
    fn signatures_are_checked_in_their_own_form() {
        let document = document();
        let one = version(VersionStatus::InReview, None);
        let first = content_sha256_in(1, &document, &one).unwrap();
        let second = content_sha256(&document, &one).unwrap();
        assert_ne!(first, second, "the forms hash differently");
        let stored = serde_json::json!({
            "id": "s", "documentId": "d", "versionNumber": 1, "signerId": "r", "printedName": "R",
            "meaning": "reviewed", "reason": null, "signedAt": "", "contentSha256": first,
            "components": ["password"], "version": 1
        });
        let old: Signature = serde_json::from_value(stored).expect("a signature of form 1 reads");
        assert_eq!(old.content_form, 1);
        assert!(old.manifestation(&document, &one).content_matches);
        let checked = check_binding(&old, "s", &document, &one);
        assert!(checked.iter().all(|c| c.ok), "{checked:?}");
        let mut with_file = one.clone();
        with_file.attachments.push(AttachedFile {
            attachment_id: "a".into(),
            file_name: "f.pdf".into(),
            media_type: "application/pdf".into(),
            size: 1,
            sha256: "0".repeat(64),
        });
        assert!(!old.manifestation(&document, &with_file).content_matches);
        assert!(content_sha256_in(1, &document, &with_file).is_err());
        assert!(content_sha256_in(3, &document, &one).is_err());
        let mut new = old.clone();
        new.content_form = CONTENT_FORM;
        new.content_sha256 = content_sha256(&document, &with_file).unwrap();
        assert!(new.manifestation(&document, &with_file).content_matches);
        assert!(
            !new.manifestation(&document, &one).content_matches,
            "the file is content"
        );
    }

    /// Proves: DOC-5
    #[test]
    fn content_hashes_name_their_document_and_version() {
        let document = document();
        let one = version(VersionStatus::InReview, None);
        let mut two = one.clone();
        two.version_number = 2;
        let a = content_sha256(&document, &one).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, content_sha256(&document, &two).unwrap(), "same text, other version");
        let mut edited = one.clone();
        edited.body = DocumentBody::try_from("B ".to_owned()).unwrap();
        assert_ne!(a, content_sha256(&document, &edited).unwrap());
        assert_eq!(a, content_sha256(&document, &one.clone()).unwrap());
    }
}
