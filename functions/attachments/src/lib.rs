//! The attachments function: files attached to a document's draft (FILE-1..3).
//!
//! A member declares a file (`POST /documents/{id}/attachments` {fileName, contentType, size})
//! and gets a presigned `PUT` to the bucket's quarantine prefix, valid 15 minutes, with the
//! content type and length signed into it (S3 refuses another type or size on AWS), and
//! `If-None-Match: *` (S3 refuses a second upload to the key). The
//! declaration is checked first: a name is sanitised (FILE-2, the name as sent recorded
//! beside it), its extension must be an accepted type's (`quire_core::files::ACCEPTED`), the
//! declared media type that type's, the size within the limit; the document's latest version
//! must be a draft. The attachment is recorded `pending` with its `attachment.requested`
//! entry. Ingest (`quire-fn-attachment-ingest`) checks the uploaded bytes before anything is
//! kept.
//!
//! | route | what |
//! |---|---|
//! | `POST /documents/{id}/attachments` | declare a file, get its upload |
//! | `GET /attachments/{id}` | an attachment's record and status |
//! | `GET /attachments/{id}/content` | an accepted file's bytes, or a range of them (`quire_http::download`), each download recorded (FILE-3) |

pub mod domain;

use aws_sdk_s3::presigning::PresigningConfig;
use domain::{Attachment, AttachmentStatus};
use http::{header, HeaderValue, Method, StatusCode};
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::files::{FileName, FileType};
use quire_core::rbac::Permission::{DocumentEdit, DocumentRead};
use quire_fn_documents::domain::VersionStatus;
use quire_http::json::{ok, parse_body, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Largest file accepted (100 MiB), declared and uploaded.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// How long an upload's presigned URL works.
pub const UPLOAD_VALIDITY: Duration = Duration::from_secs(15 * 60);

/// Longest file name accepted as sent, in bytes (the stored one is cut to 255).
const MAX_SENT_NAME_BYTES: usize = 1024;

/// A declaration's body.
const DECLARATION_LIMIT: usize = 4 * 1024;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::POST,
            "/documents/{id}/attachments",
            Access::Requires(DocumentEdit),
            Module::Documents,
            Effect::Writes(&[Action::AttachmentRequested]),
            declare,
        )
        .request_schema::<NewAttachment>()
        .response_schema::<Declared>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field): a name without an \
             accepted extension (the 400 lists them), a content type other than the \
             extension's, a size over the limit",
        )
        .problem(
            "409",
            "the document's latest version is not a draft: a change after approval needs a new \
             version (`conflict`)",
        )
        .accepts_body(DECLARATION_LIMIT),
        Route::new(
            Method::GET,
            "/attachments/{id}",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            get,
        )
        .response_schema::<Attachment>(),
        Route::new(
            Method::GET,
            "/attachments/{id}/content",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Records(&[Action::AttachmentDownloaded, Action::AttachmentIntegrityFailed]),
            content,
        )
        .serves_file()
        .problem(
            "400",
            "the file is larger than one response carries and no `Range` was sent \
             (`range-required`, with `size` and `limit`)",
        )
        .problem(
            "409",
            "the file is not downloadable: still pending or rejected (`conflict`), or its stored \
             copy failed its integrity check (`integrity-failed`, recorded)",
        )
        .problem(
            "416",
            "the `Range` is not one byte range within the file (`range-not-satisfiable`, \
             `Content-Range: bytes */<size>`)",
        ),
    ])
    .expect("attachments route table")
}

/// A file a member is about to upload.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewAttachment {
    /// The file's name (sanitised on the way in; at most 1024 bytes as sent).
    file_name: String,
    /// The media type of the name's extension (`application/pdf` for `.pdf`).
    content_type: String,
    /// Bytes, 0 to 104 857 600.
    size: u64,
}

/// How to upload a declared file.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Upload {
    /// The presigned URL.
    url: String,
    /// Always `PUT`.
    method: String,
    /// Headers the upload must send exactly as given (they are signed into the URL).
    headers: BTreeMap<String, String>,
    /// When the URL stops working (RFC 3339, UTC).
    expires_at: String,
}

/// The attachment, pending, and its upload.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Declared {
    /// The attachment, as `GET /attachments/{id}` answers it.
    #[schema(value_type = Attachment)]
    attachment: serde_json::Value,
    upload: Upload,
}

/// Declares a file for the document's draft and answers its presigned upload; see the crate
/// documentation.
async fn declare(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: NewAttachment = parse_body(&req)?;
    if input.file_name.is_empty() || input.file_name.len() > MAX_SENT_NAME_BYTES {
        return Err(Problem::invalid_body(
            format!("fileName: must be 1 to {MAX_SENT_NAME_BYTES} bytes"),
            Some("fileName"),
        ));
    }
    let sanitised = FileName::sanitise(&input.file_name);
    // The type is judged by the name's own extension, before any cut to length.
    let Some(kind) = sanitised.extension.as_deref().and_then(FileType::of_extension) else {
        return Err(Problem::invalid_body(
            format!(
                "fileName: the extension must be one of {}",
                FileType::accepted_extensions().join(", ")
            ),
            Some("fileName"),
        ));
    };
    if input.content_type != kind.media_type {
        return Err(Problem::invalid_body(
            format!(
                "contentType: a file named .{} is {}",
                sanitised.extension.as_deref().unwrap_or_default(),
                kind.media_type
            ),
            Some("contentType"),
        ));
    }
    if input.size > MAX_FILE_BYTES {
        return Err(Problem::invalid_body(
            format!("size: at most {MAX_FILE_BYTES} bytes"),
            Some("size"),
        ));
    }
    let bucket = app
        .config
        .attachments_bucket
        .as_deref()
        .ok_or_else(|| Problem::internal("QUIRE_ATTACHMENTS_BUCKET is not set"))?;
    let document = quire_fn_documents::load(&app, &ctx).await?;
    let draft = quire_fn_documents::load_version(&app, &ctx, &document, document.latest_version).await?;
    if draft.status != VersionStatus::Draft {
        return Err(Problem::conflict(
            "files are attached to a draft; a change after approval needs a new version",
        ));
    }
    // Attaching is authoring: the member (and an impersonating administrator) may then not
    // review or approve the version. The version and the document are written conditioned on
    // what was read, so a submission racing the declaration leaves one of the two a 409.
    let me = caller.user_id.to_string();
    let at = quire_core::audit::timestamp_now();
    let mut version = draft.record().clone();
    for author in quire_fn_documents::authors_of(caller) {
        if !version.authors.contains(&author) {
            version.authors.push(author);
        }
    }
    version.updated_at.clone_from(&at);
    version.updated_by.clone_from(&me);
    version.version = draft.version + 1;
    let next = quire_fn_documents::touched(&document, &caller.user_id, &version);
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let attachment_id =
        quire_core::ids::AttachmentId::parse(&id).map_err(|_| Problem::internal("a new attachment id is not an id"))?;
    let object = quire_store::quarantine_object(caller.scope(), &attachment_id);
    let presigning = PresigningConfig::expires_in(UPLOAD_VALIDITY).map_err(Problem::internal)?;
    let length = i64::try_from(input.size).map_err(Problem::internal)?;
    let presigned = app
        .s3
        .put_object()
        .bucket(bucket)
        .key(&object)
        .content_type(kind.media_type)
        .content_length(length)
        // Once: S3 refuses a second PUT to the key (a conditional write, RFC 9110 §13.1.2), so
        // the upload ingest judges is the only one there ever is.
        .if_none_match("*")
        .presigned(presigning)
        .await
        .map_err(|error| {
            tracing::error!(error = %aws_sdk_s3::error::DisplayErrorContext(&error), "an upload could not be presigned");
            Problem::unavailable("the upload could not be prepared")
        })?;
    let expires_at = humantime::format_rfc3339_seconds(SystemTime::now() + UPLOAD_VALIDITY).to_string();
    let attachment = Attachment {
        id: id.clone(),
        document_id: document.id.clone(),
        version_number: draft.version_number,
        file_name: sanitised.name,
        sent_name: FileName::recorded(&input.file_name),
        media_type: kind.media_type.to_owned(),
        declared_size: input.size,
        status: AttachmentStatus::Pending,
        size: None,
        sha256: None,
        refusal: None,
        object_version: None,
        upload_expires_at: expires_at.clone(),
        created_at: at.clone(),
        created_by: me.clone(),
        updated_at: at,
        version: 1,
    };
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .create(&attachment, Action::AttachmentRequested)
        .replace_derived(&draft, &version)
        .replace_derived(&document, &next)
        .commit()
        .await
        .map_err(|error| match error {
            quire_store::StoreError::Conflict => {
                Problem::conflict("the document changed meanwhile; nothing was attached: read it again")
            }
            other => Problem::from(other),
        })?;
    let headers = presigned
        .headers()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    let declared = Declared {
        attachment: attachment.shown(),
        upload: Upload {
            url: presigned.uri().to_owned(),
            method: presigned.method().to_owned(),
            headers,
            expires_at,
        },
    };
    let mut response = respond(StatusCode::CREATED, &declared)?;
    if let Ok(location) = HeaderValue::from_str(&format!("/attachments/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// An accepted file's bytes: the range the request selects (`quire_http::download::select`),
/// decrypted from its one stored copy with one KMS `Decrypt`, only the frames that hold the
/// range (`decrypt_range_from_s3`). A whole file is checked against its recorded SHA-256 as
/// well; a range is authenticated frame by frame. Recorded before anything is sent: a download
/// that cannot be recorded is not served (`attachment.downloaded`, with the bytes served), and
/// a stored copy that fails its check is recorded (`attachment.integrity-failed`) and answered
/// 409, never served in part.
async fn content(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let stored = load(&app, &ctx).await?;
    let attachment = stored.record();
    let (size, sha256) = match (attachment.status, attachment.size, &attachment.sha256) {
        (AttachmentStatus::Accepted, Some(size), Some(sha256)) => (size, sha256),
        (AttachmentStatus::Accepted, ..) => {
            return Err(Problem::internal("an accepted attachment without its size or SHA-256"))
        }
        (AttachmentStatus::Pending, ..) => {
            return Err(Problem::conflict("the file has not been uploaded and checked yet"))
        }
        (AttachmentStatus::Rejected, ..) => {
            return Err(Problem::conflict("the file was refused; see the attachment's refusal"))
        }
    };
    let selected = quire_http::download::select(req.headers(), size)?;
    let (Some(bucket), Some(envelope)) = (&app.config.attachments_bucket, &app.envelope) else {
        return Err(Problem::internal(
            "the attachments function has no bucket or envelope key",
        ));
    };
    let attachment_id = quire_core::ids::AttachmentId::parse(&attachment.id).map_err(Problem::internal)?;
    let object = quire_store::ObjectKey::attachment(caller.scope(), &attachment_id);
    let wanted = selected.bytes.end.saturating_sub(selected.bytes.start);
    let mut body = Vec::with_capacity(usize::try_from(wanted).unwrap_or(0));
    // The version ingest stored and recorded: never whatever else was written to the key since.
    let read = quire_crypto::s3::decrypt_range_from_s3(
        envelope,
        &app.s3,
        bucket,
        &object,
        attachment.object_version.as_deref(),
        selected.bytes.clone(),
        &mut body,
    )
    .await;
    let target = quire_core::audit::Target::new("document", &attachment.document_id);
    let failure = match read {
        // Fewer bytes than the record's size promises: the stored file is shorter.
        Ok(summary) if summary.plaintext_len != wanted || body.len() as u64 != wanted => Some("length"),
        Ok(_)
            if selected.bytes == (0..size) && hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)) != *sha256 =>
        {
            Some("sha256")
        }
        Ok(_) => None,
        Err(error) => match integrity_class(&error) {
            Some(class) => {
                tracing::error!(attachment_id = %attachment.id, %error, "a stored attachment failed its integrity check");
                Some(class)
            }
            None => return Err(Problem::unavailable(error)),
        },
    };
    if let Some(class) = failure {
        app.store
            .transaction(caller.scope(), ctx.audit_context()?)
            .event(
                Action::AttachmentIntegrityFailed,
                target,
                &serde_json::json!({"attachmentId": attachment.id, "sha256": sha256, "failure": class}),
            )
            .commit()
            .await?;
        return Err(Problem::integrity_failed());
    }
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .event(
            Action::AttachmentDownloaded,
            target,
            &serde_json::json!({
                "attachmentId": attachment.id,
                "fileName": attachment.file_name.as_str(),
                "size": size,
                "sha256": sha256,
                // Behind CloudFront, the range the edge asked for (it may ask for more than its
                // viewer did, and serve the viewer's part); none for an empty file.
                "range": (wanted > 0).then(|| serde_json::json!({
                    "first": selected.bytes.start,
                    "last": selected.bytes.end - 1,
                })),
                "bytes": wanted,
            }),
        )
        .commit()
        .await?;
    let described = quire_http::download::Described {
        media_type: &attachment.media_type,
        file_name: attachment.file_name.as_str(),
        size,
        sha256_hex: sha256,
    };
    Ok(quire_http::download::response(&selected, &described, body))
}

/// Whether a failed read means the stored copy is not what was stored (and how), rather than
/// a dependency that failed (a retry may succeed).
fn integrity_class(error: &quire_crypto::CryptoError) -> Option<&'static str> {
    use quire_crypto::CryptoError as E;
    match error {
        E::Authentication => Some("authentication"),
        E::ContextMismatch => Some("context"),
        E::Truncated => Some("truncated"),
        E::Malformed(_) | E::Unsupported(_) | E::InvalidInput(_) => Some("malformed"),
        E::NoUsableKey => Some("key"),
        E::Io(io) if io.kind() == std::io::ErrorKind::NotFound => Some("missing"),
        E::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => Some("changed"),
        E::Kms(_) | E::Io(_) | E::Internal(_) => None,
    }
}

/// An attachment of the caller's organisation: 404 for any other id (TEN-3).
async fn get(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    ok(&load(&app, &ctx).await?.record().shown())
}

/// The attachment the path's `{id}` names in the caller's organisation; any other id, another
/// tenant's included, or any text that is not an attachment id, is 404 (TEN-3).
async fn load(app: &App, ctx: &RequestCtx) -> Result<quire_store::Stored<Attachment>, Problem> {
    let id = domain::parse_id(ctx.param("id")?).ok_or_else(Problem::not_found)?;
    app.store
        .get::<Attachment>(ctx.caller()?.scope(), &id)
        .await?
        .ok_or_else(Problem::not_found)
}
