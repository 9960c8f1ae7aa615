//! The ingest of one upload (FILE-1, FILE-3, CRY-1, TEN-4): an S3 notification of an object
//! created under `quarantine/` names the tenant and attachment ([`quire_store::upload_of`]);
//! the attachment must be found there and still pending. The object's size is checked before
//! anything is read; then it is copied to a scratch file while its SHA-256 is computed,
//! checked by [`crate::inspect::inspect`] and either
//! - **accepted:** encrypted (`quire_crypto::s3::encrypt_to_s3`) to
//!   `tenants/<orgId>/attachments/<attachmentId>` under the context `{orgId, attachmentId}`,
//!   then, in one transaction conditioned on what was read, the attachment made `accepted` with
//!   its size, SHA-256 and the object version stored (`attachment.accepted`), the file added to its version's content and
//!   the document record moved on; only into a version still the document's latest and a
//!   draft (otherwise refused, `version-not-draft`);
//! - or **rejected:** the attachment made `rejected` with the refusal's code and reason
//!   (`attachment.rejected`).
//!
//! Either way the quarantine object is deleted last. A notification delivered again finds the
//! attachment no longer pending and only deletes what is left; a change that raced the
//! acceptance (a submission, an edit) is a [`Retry`]: the next delivery judges again. On the
//! last delivery ([`Attempt::Final`]) an upload still not judged is rejected (`ingest-failed`)
//! rather than left pending for ever; an attachment whose upload is gone is rejected
//! (`missing`).

use crate::inspect::{inspect, Limits, Refusal};
use quire_core::audit::{Action, Actor, Origin};
use quire_core::files::FileType;
use quire_crypto::Envelope;
use quire_fn_attachments::domain::{Attachment, AttachmentRefusal, AttachmentStatus};
use quire_fn_documents::domain::{AttachedFile, Document, DocumentVersion, VersionStatus};
use quire_store::tenant::TenantScope;
use quire_store::{AuditContext, ObjectKey, Store, StoreError, Stored};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What ingest needs: the store, the bucket, the envelope engine, the limits, and a directory
/// for scratch files (Lambda's `/tmp`).
pub struct Ingest {
    pub store: Store,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub envelope: Envelope,
    pub limits: Limits,
    pub scratch: PathBuf,
}

impl Ingest {
    /// On AWS: the store's variables, `QUIRE_ATTACHMENTS_BUCKET`, `QUIRE_KMS_KEY_ARN` (the
    /// envelope key, as an ARN), `QUIRE_S3_PATH_STYLE=true` for an emulator; the default
    /// limits; scratch files in the system's temporary directory (Lambda's `/tmp`).
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = quire_store::StoreConfig::from_env()?;
        let bucket = quire_store::env_var("QUIRE_ATTACHMENTS_BUCKET")?;
        let key_arn = quire_store::env_var("QUIRE_KMS_KEY_ARN")?;
        let path_style = std::env::var("QUIRE_S3_PATH_STYLE").is_ok_and(|v| v == "true");
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let envelope = Envelope::new(aws_sdk_kms::Client::new(&sdk), key_arn)?;
        Ok(Ingest {
            store: Store::new(&sdk, &config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(path_style)
                    .build(),
            ),
            bucket,
            envelope,
            limits: Limits::default(),
            scratch: std::env::temp_dir(),
        })
    }
}

/// What one record of a notification came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted {
        attachment_id: String,
    },
    Rejected {
        attachment_id: String,
        code: &'static str,
    },
    /// Nothing to do (another bucket, another prefix, no such attachment, already ingested).
    Ignored(&'static str),
}

/// A failure worth another delivery (a store, S3 or KMS error; a change that raced this one).
#[derive(Debug)]
pub struct Retry(pub String);

/// Whether another delivery of the notification will follow a [`Retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A failure is retried (the message becomes visible again).
    Retryable,
    /// The last delivery before the dead-letter queue: an upload that still cannot be judged
    /// is rejected, `ingest-failed`, so that its attachment does not stay pending. Judging
    /// gets at most the given time (the invocation's time left, less what the rejection
    /// needs); `None`: no bound.
    Final(Option<std::time::Duration>),
}

/// The actions ingest records, and who records them.
const ACTIONS: &[Action] = &[Action::AttachmentAccepted, Action::AttachmentRejected];

/// An S3 event notification (the part read): `Records[].eventName`, `.s3.bucket.name`,
/// `.s3.object.key` (URL-encoded, `+` for a space). A test event (`s3:TestEvent`) has no
/// records.
#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<NotificationRecord>,
}

#[derive(Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Named,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
}

/// Ingests every upload a notification (the body of a queue message) names. `correlation_id`
/// is recorded as the entries' origin (the queue message's id).
pub async fn ingest_notification(
    ingest: &Ingest,
    body: &str,
    correlation_id: &str,
    attempt: Attempt,
) -> Result<Vec<Outcome>, Retry> {
    let Ok(notification) = serde_json::from_str::<Notification>(body) else {
        tracing::warn!("a message that is not an S3 notification was dropped");
        return Ok(vec![Outcome::Ignored("not an S3 notification")]);
    };
    let mut outcomes = Vec::new();
    for record in notification.records {
        outcomes.push(one(ingest, &record, correlation_id, attempt).await?);
    }
    Ok(outcomes)
}

async fn one(
    ingest: &Ingest,
    record: &NotificationRecord,
    correlation_id: &str,
    attempt: Attempt,
) -> Result<Outcome, Retry> {
    if !record.event_name.starts_with("ObjectCreated:") {
        return Ok(Outcome::Ignored("not an object created"));
    }
    if record.s3.bucket.name != ingest.bucket {
        return Ok(Outcome::Ignored("another bucket"));
    }
    let key = decode_key(&record.s3.object.key);
    let Some((scope, id)) = quire_store::upload_of(&key) else {
        return Ok(Outcome::Ignored("not an upload's key"));
    };
    let attachment = match ingest.store.get::<Attachment>(&scope, id.as_str()).await {
        Ok(Some(attachment)) => attachment,
        Ok(None) => {
            delete(ingest, &key).await;
            return Ok(Outcome::Ignored("no such attachment"));
        }
        Err(error) => return Err(retry("the attachment", error)),
    };
    if attachment.status != AttachmentStatus::Pending {
        delete(ingest, &key).await;
        return Ok(Outcome::Ignored("already ingested"));
    }
    let audit = AuditContext::for_route(
        Actor::system("attachment ingest"),
        Origin::new(None, None, correlation_id),
        ACTIONS,
    );
    let decide = async {
        match judge(ingest, &attachment, &key).await {
            Ok(Judged::Refused { refusal, size, sha256 }) => {
                reject(ingest, &scope, &audit, &attachment, refusal, size, sha256).await
            }
            Ok(Judged::Passed { file, size, sha256 }) => {
                accept(ingest, &scope, &audit, &attachment, &file.0, size, sha256).await
            }
            Err(retry) => Err(retry),
        }
    };
    let decided = match attempt {
        Attempt::Final(Some(budget)) => tokio::time::timeout(budget, decide)
            .await
            .unwrap_or_else(|_| Err(Retry("judging took longer than the last delivery allows".into()))),
        _ => decide.await,
    };
    let outcome = match (decided, attempt) {
        (Ok(outcome), _) => outcome,
        (Err(Retry(cause)), Attempt::Final(_)) => {
            // The cause is logged, not recorded: it may name internals the tenant must not see.
            tracing::error!(attachment_id = %attachment.id, message_id = %correlation_id, %cause, "an upload could not be judged on its last delivery");
            let refusal = (
                "ingest-failed",
                "the file could not be checked; declare the attachment again".to_owned(),
            );
            match reject(ingest, &scope, &audit, &attachment, refusal, None, None).await {
                Ok(outcome) => outcome,
                // Judged meanwhile (a duplicate delivery, or this delivery's own decision that
                // was in flight when its time ran out): settled, not a dead letter.
                Err(retry) => match ingest.store.get::<Attachment>(&scope, &attachment.id).await {
                    Ok(Some(now)) if now.status != AttachmentStatus::Pending => {
                        delete(ingest, &key).await;
                        return Ok(Outcome::Ignored("already ingested"));
                    }
                    _ => return Err(retry),
                },
            }
        }
        (Err(retry), Attempt::Retryable) => return Err(retry),
    };
    delete(ingest, &key).await;
    Ok(outcome)
}

/// A scratch file of one attempt: a name no other attempt uses, removed when dropped (on
/// every path out, an error's included), so no tenant's bytes stay behind in `/tmp`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(directory: &std::path::Path) -> Self {
        Scratch(directory.join(format!("quire-ingest-{}", uuid::Uuid::new_v4().simple())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A refused file, or one that passed (in a scratch file), with what was measured.
enum Judged {
    Refused {
        refusal: (&'static str, String),
        size: Option<u64>,
        sha256: Option<String>,
    },
    Passed {
        file: Scratch,
        size: u64,
        sha256: String,
    },
}

/// The upload's size first (nothing is read of a file too large or not as declared), then its
/// bytes, copied to a scratch file and hashed, then its content.
async fn judge(ingest: &Ingest, attachment: &Attachment, key: &str) -> Result<Judged, Retry> {
    let head = match ingest.s3.head_object().bucket(&ingest.bucket).key(key).send().await {
        Ok(head) => head,
        // Nothing under the upload's key (S3 is read-after-write consistent): a notification
        // of an object since removed. Only a pending attachment gets here.
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
            return Ok(Judged::Refused {
                refusal: ("missing", "no uploaded file was found".to_owned()),
                size: None,
                sha256: None,
            })
        }
        Err(e) => {
            return Err(Retry(format!(
                "S3 HeadObject: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )))
        }
    };
    // Without a length or an ETag nothing can be judged or pinned: S3 always sends both.
    let (Some(length), Some(e_tag)) = (head.content_length(), head.e_tag()) else {
        return Err(Retry("S3 HeadObject answered no length or ETag".into()));
    };
    let size = u64::try_from(length).map_err(|_| Retry("S3 HeadObject answered a negative length".into()))?;
    let refused = |refusal: Refusal, sha256: Option<String>| Judged::Refused {
        refusal: (refusal.code(), refusal.reason()),
        size: Some(size),
        sha256,
    };
    if size > ingest.limits.max_bytes {
        let limit = ingest.limits.max_bytes;
        return Ok(refused(Refusal::TooLarge { size, limit }, None));
    }
    if size != attachment.declared_size {
        let declared = attachment.declared_size;
        return Ok(refused(Refusal::SizeMismatch { declared, actual: size }, None));
    }
    let Some(kind) = FileType::of_media_type(&attachment.media_type) else {
        return Ok(Judged::Refused {
            refusal: (
                "type-no-longer-accepted",
                format!("{} is no longer an accepted type", attachment.media_type),
            ),
            size: Some(size),
            sha256: None,
        });
    };
    let file = Scratch::new(&ingest.scratch);
    let mut object = ingest
        .s3
        .get_object()
        .bucket(&ingest.bucket)
        .key(key)
        .if_match(e_tag)
        .send()
        .await
        .map_err(|e| Retry(format!("S3 GetObject: {}", aws_sdk_s3::error::DisplayErrorContext(&e))))?
        .body
        .into_async_read();
    let mut out = tokio::fs::File::create(&file.0)
        .await
        .map_err(|e| Retry(format!("scratch file: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut copied: u64 = 0;
    loop {
        let n = object
            .read(&mut buffer)
            .await
            .map_err(|e| Retry(format!("S3 body: {e}")))?;
        if n == 0 {
            break;
        }
        copied += n as u64;
        // The object changed under the If-Match (the emulator does not always refuse): never
        // read past what was judged by its size.
        if copied > size {
            return Err(Retry("the object grew while it was read".into()));
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])
            .await
            .map_err(|e| Retry(format!("scratch file: {e}")))?;
    }
    out.flush().await.map_err(|e| Retry(format!("scratch file: {e}")))?;
    drop(out);
    if copied != size {
        return Err(Retry("the object was shorter than its length".into()));
    }
    let sha256 = hex::encode(hasher.finalize());
    let (path, limits, declared) = (file.0.clone(), ingest.limits, attachment.declared_size);
    let checked = tokio::task::spawn_blocking(move || {
        let mut opened = std::fs::File::open(&path).map_err(|_| Refusal::Unreadable)?;
        inspect(&mut opened, copied, declared, kind, &limits)
    })
    .await
    .map_err(|e| Retry(format!("the check did not finish: {e}")))?;
    match checked {
        Ok(()) => Ok(Judged::Passed {
            file,
            size: copied,
            sha256,
        }),
        Err(Refusal::Unreadable) => Err(Retry("the scratch file could not be read".into())),
        Err(refusal) => Ok(refused(refusal, Some(sha256))),
    }
}

/// Encrypts the file into the tenant's prefix and records it, with the object version stored,
/// in its version, conditioned on the attachment, the version and the document as read; a
/// version no longer a draft refuses it. A change of the version or the document meanwhile
/// (another file accepted, a declaration) is read again and the record retried. The ciphertext
/// of an attempt known to record nothing is deleted; one whose record's outcome is unknown is
/// kept (a transaction may still be on its way), harmless as reads name the recorded version.
async fn accept(
    ingest: &Ingest,
    scope: &TenantScope,
    audit: &AuditContext,
    attachment: &Stored<Attachment>,
    file: &std::path::Path,
    size: u64,
    sha256: String,
) -> Result<Outcome, Retry> {
    let id = quire_core::ids::AttachmentId::parse(&attachment.id)
        .map_err(|_| Retry("a stored attachment id is not an id".into()))?;
    let object = ObjectKey::attachment(scope, &id);
    // The object version this attempt stored, once it did.
    let mut stored: Option<String> = None;
    for _ in 0..ACCEPT_ATTEMPTS {
        let (document, version) = draft_of(ingest, scope, attachment).await?;
        if version.status != VersionStatus::Draft || document.latest_version != version.version_number {
            if let Some(version_id) = &stored {
                forget(ingest, &object, version_id).await;
            }
            let refusal = (
                "version-not-draft",
                format!(
                    "version {} was no longer a draft when the file was checked",
                    version.version_number
                ),
            );
            return reject(ingest, scope, audit, attachment, refusal, Some(size), Some(sha256)).await;
        }
        let version_id = if let Some(version_id) = &stored {
            version_id.clone()
        } else {
            let mut plaintext = tokio::fs::File::open(file)
                .await
                .map_err(|e| Retry(format!("scratch file: {e}")))?;
            // Another delivery's ciphertext, or one an earlier attempt left, may be at the key:
            // each is a version of its own, and only the recorded one is ever read.
            let summary =
                quire_crypto::s3::encrypt_to_s3(&ingest.envelope, &mut plaintext, &ingest.s3, &ingest.bucket, &object)
                    .await
                    .map_err(|e| Retry(format!("encryption: {e}")))?;
            // Without a version id reads could not tell this ciphertext from another written
            // to the key: the bucket must be versioned (template.yaml).
            let Some(version_id) = summary.version_id else {
                return Err(Retry("S3 answered no version id: the bucket is not versioned".into()));
            };
            stored = Some(version_id.clone());
            version_id
        };
        let now = quire_core::audit::timestamp_now();
        let mut accepted = attachment.record().clone();
        accepted.status = AttachmentStatus::Accepted;
        accepted.size = Some(size);
        accepted.sha256 = Some(sha256.clone());
        accepted.object_version = Some(version_id.clone());
        accepted.updated_at.clone_from(&now);
        accepted.version = attachment.version + 1;
        let mut with_file = version.record().clone();
        with_file.attachments.push(AttachedFile {
            attachment_id: accepted.id.clone(),
            file_name: accepted.file_name.as_str().to_owned(),
            media_type: accepted.media_type.clone(),
            size,
            sha256: sha256.clone(),
        });
        with_file.updated_at.clone_from(&now);
        with_file.version = version.version + 1;
        let mut next = document.record().clone();
        next.updated_at = now;
        next.version = document.version + 1;
        let committed = ingest
            .store
            .transaction(scope, audit.clone())
            .replace(attachment, &accepted, Action::AttachmentAccepted)
            .replace_derived(&version, &with_file)
            .replace_derived(&document, &next)
            .commit()
            .await;
        match committed {
            Ok(()) => {
                return Ok(Outcome::Accepted {
                    attachment_id: accepted.id,
                })
            }
            Err(StoreError::Conflict) => {
                // A condition failed: on this attempt, or on the SDK's retry of an attempt that
                // had committed (then the attachment names this very version).
                let now = ingest
                    .store
                    .get::<Attachment>(scope, &attachment.id)
                    .await
                    .map_err(|e| retry("the attachment", e))?;
                match now {
                    Some(now)
                        if now.status == AttachmentStatus::Accepted
                            && now.object_version.as_deref() == Some(version_id.as_str()) =>
                    {
                        return Ok(Outcome::Accepted {
                            attachment_id: now.id.clone(),
                        })
                    }
                    // Another delivery judged it: this ciphertext is no record's.
                    Some(now) if now.version != attachment.version => {
                        forget(ingest, &object, &version_id).await;
                        return Err(Retry("another delivery judged the attachment".into()));
                    }
                    None => return Err(Retry("the attachment is gone".into())),
                    // The version or the document moved: read again and retry.
                    Some(_) => {}
                }
            }
            Err(other) => {
                // The commit may have happened, or may still (a transaction on its way when
                // the call timed out): this ciphertext is kept, as deleting it could delete an
                // accepted file's only copy. Left over, it is a version no record names.
                match ingest.store.get::<Attachment>(scope, &attachment.id).await {
                    Ok(Some(now))
                        if now.status == AttachmentStatus::Accepted
                            && now.object_version.as_deref() == Some(version_id.as_str()) =>
                    {
                        return Ok(Outcome::Accepted {
                            attachment_id: now.id.clone(),
                        })
                    }
                    // Judged by another delivery: this transaction, conditioned on the
                    // attachment as it was, cannot commit any more.
                    Ok(Some(now)) if now.status != AttachmentStatus::Pending => {
                        forget(ingest, &object, &version_id).await;
                    }
                    _ => tracing::warn!(attachment_id = %attachment.id, "a ciphertext of an unknown outcome was kept"),
                }
                return Err(retry("the acceptance", other));
            }
        }
    }
    if let Some(version_id) = &stored {
        forget(ingest, &object, version_id).await;
    }
    Err(Retry("the document kept changing while the file was accepted".into()))
}

/// Times the record of an acceptance is tried against a version or document that moved.
const ACCEPT_ATTEMPTS: usize = 3;

/// The attachment's version and its document, as they are now.
async fn draft_of(
    ingest: &Ingest,
    scope: &TenantScope,
    attachment: &Attachment,
) -> Result<(Stored<Document>, Stored<DocumentVersion>), Retry> {
    let document = ingest
        .store
        .get::<Document>(scope, &attachment.document_id)
        .await
        .map_err(|e| retry("the document", e))?
        .ok_or_else(|| Retry("the attachment's document is missing".into()))?;
    let version = ingest
        .store
        .get::<DocumentVersion>(
            scope,
            &DocumentVersion::key(&attachment.document_id, attachment.version_number),
        )
        .await
        .map_err(|e| retry("the version", e))?
        .ok_or_else(|| Retry("the attachment's version is missing".into()))?;
    Ok((document, version))
}

/// Deletes the object version this attempt stored, which no record names, and no other
/// (best effort: a version left is never served, as reads name the recorded one).
async fn forget(ingest: &Ingest, object: &ObjectKey, version_id: &str) {
    if let Err(error) = ingest
        .s3
        .delete_object()
        .bucket(&ingest.bucket)
        .key(object.as_str())
        .version_id(version_id)
        .send()
        .await
    {
        tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&error), "an unrecorded ciphertext was left");
    }
}

async fn reject(
    ingest: &Ingest,
    scope: &TenantScope,
    audit: &AuditContext,
    attachment: &Stored<Attachment>,
    (code, reason): (&'static str, String),
    size: Option<u64>,
    sha256: Option<String>,
) -> Result<Outcome, Retry> {
    let mut rejected = attachment.record().clone();
    rejected.status = AttachmentStatus::Rejected;
    rejected.size = size;
    rejected.sha256 = sha256;
    rejected.refusal = Some(AttachmentRefusal {
        code: code.to_owned(),
        reason,
    });
    rejected.updated_at = quire_core::audit::timestamp_now();
    rejected.version = attachment.version + 1;
    ingest
        .store
        .transaction(scope, audit.clone())
        .replace(attachment, &rejected, Action::AttachmentRejected)
        .commit()
        .await
        .map_err(|e| retry("the rejection", e))?;
    Ok(Outcome::Rejected {
        attachment_id: rejected.id,
        code,
    })
}

/// Deletes the quarantine object once its attachment is judged (every version the bucket
/// keeps of it is removed by its lifecycle rule). Best effort: a decision is never retried for
/// its clean-up, and what is left expires within a day.
async fn delete(ingest: &Ingest, key: &str) {
    if let Err(error) = ingest.s3.delete_object().bucket(&ingest.bucket).key(key).send().await {
        tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&error), "a judged upload was left in quarantine");
    }
}

fn retry(what: &str, error: StoreError) -> Retry {
    Retry(format!("{what}: {error}"))
}

/// An S3 event's object key: URL-encoded with `+` for a space.
fn decode_key(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::decode_key;

    /// S3 sends keys form-encoded: `+` for a space, `%2B` for a plus.
    #[test]
    fn notification_keys_decode_as_s3_encodes_them() {
        assert_eq!(decode_key("quarantine/o1/a+b%2Bc"), "quarantine/o1/a b+c");
        assert_eq!(decode_key("quarantine/o1/%C3%A9"), "quarantine/o1/é");
        let key = "quarantine/o1/0190aaaa-0000-7000-8000-000000000001";
        assert_eq!(decode_key(key), key);
        assert!(quire_store::upload_of(&decode_key(key)).is_some());
        assert!(quire_store::upload_of(&decode_key("quarantine/o1/x%2Fy")).is_none());
    }
}
