//! The documents function: controlled documents (DOC-1..5). Creating a document (numbered from
//! its type's counter), editing its draft, its versions and their lifecycle, the line diff of
//! two versions, electronic signatures and their verification, a document's history, and its
//! copy for inspection (`GET /documents/{id}/export`, [`export`]).
//!
//! Every change of a document writes its record ([`domain::Document`]) conditioned on the
//! version read, with the version record(s) it changes and their events, in one transaction:
//! of two changes racing on one document, one commits and the other is a 409 (or, with a stale
//! `If-Match`, a 412), and nothing of the loser is written.

pub mod domain;
pub mod export;
pub mod signature;

use domain::{
    ApprovalRoute, Document, DocumentBody, DocumentId, DocumentTitle, DocumentVersion, Reason, RouteOrder, RouteStep,
    StepRole, VersionStatus,
};
use http::{header, HeaderValue, Method, StatusCode};
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::ids::UserId;
use quire_core::rbac::Permission::{self, DocumentApprove, DocumentCreate, DocumentEdit, DocumentRead};
use quire_http::conditional::{idempotency_key, require_match, with_etag};
use quire_http::json::{ok, page_request, parse_body, query, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::idempotency::Recall;
use quire_store::{AuditPage, MemberStatus, Page, StoreError, Stored};
use serde::{Deserialize, Serialize};
use signature::{Check, Manifestation, Meaning, Signature};
use std::sync::Arc;

/// Largest accepted request body: a maximal document, with room for its before and after
/// images to fit one audit outbox item (DynamoDB items hold at most 400 KB).
pub const BODY_LIMIT: usize = 160 * 1024;

/// How long a diff may search for the smallest one before settling for a coarser one.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

/// The query a document listing reads: its page, and its filters.
const LIST_QUERY: &[&str] = &["limit", "cursor", "status", "type", "owner", "reviewDue"];

/// A transition's body: a reason and, for a submission, the route.
const TRANSITION_LIMIT: usize = 8 * 1024;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::POST,
            "/documents",
            Access::Requires(DocumentCreate),
            Module::Documents,
            Effect::Writes(&[Action::DocumentCreated, Action::DocumentVersionCreated]),
            create,
        )
        .request_schema::<NewDocument>()
        .response_schema::<Document>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field); an unknown `type` names \
             the organisation's types",
        )
        .problem(
            "409",
            "a request with the same `Idempotency-Key` was being committed at the same moment; \
             send it again (`conflict`)",
        )
        .accepts_body(BODY_LIMIT)
        .takes_idempotency_key(),
        Route::new(
            Method::GET,
            "/documents",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            list,
        )
        .pages()
        .reads_query(LIST_QUERY)
        .response_schema::<Page<Document>>()
        .problem(
            "400",
            "a filter is not one the listing takes (`invalid-parameter`, naming it): `status` one of \
             the lifecycle's states, `type` one of the organisation's types, `owner` a user id, \
             `reviewDue` `before:YYYY-MM-DD`; or the cursor is not this listing's",
        ),
        Route::new(
            Method::GET,
            "/documents/{id}",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            get,
        )
        .response_schema::<Document>(),
        Route::new(
            Method::PATCH,
            "/documents/{id}",
            Access::Requires(DocumentEdit),
            Module::Documents,
            Effect::Writes(&[Action::DocumentUpdated]),
            update,
        )
        .request_schema::<DocumentPatch>()
        .response_schema::<Document>()
        .problem(
            "409",
            "the latest version is not a draft: a change after approval needs a new version \
             (`conflict`)",
        )
        .accepts_body(BODY_LIMIT),
        Route::new(
            Method::GET,
            "/documents/{id}/versions",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            list_versions,
        )
        .pages()
        .response_schema::<Page<VersionView>>(),
        Route::new(
            Method::POST,
            "/documents/{id}/versions",
            Access::Requires(DocumentEdit),
            Module::Documents,
            Effect::Writes(&[Action::DocumentVersionCreated]),
            new_version,
        )
        .request_schema::<NewVersion>()
        .response_schema::<VersionView>()
        .problem(
            "409",
            "the latest version is a draft or in review (edit it, or recall it), or the document \
             changed meanwhile (`conflict`)",
        )
        .accepts_body(TRANSITION_LIMIT),
        Route::new(
            Method::GET,
            "/documents/{id}/versions/{v}",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            get_version,
        )
        .response_schema::<VersionView>(),
        Route::new(
            Method::GET,
            "/documents/{id}/versions/{v}/diff",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            diff,
        )
        .reads_query(&["against"])
        .response_schema::<VersionDiff>()
        .problem(
            "400",
            "`against` is missing or not a version number (`invalid-parameter`)",
        ),
        Route::new(
            Method::POST,
            "/documents/{id}/versions/{v}/transitions",
            Access::Requires(DocumentEdit),
            Module::Documents,
            Effect::Writes(&[Action::DocumentTransitioned]),
            transition,
        )
        .request_schema::<Transition>()
        .response_schema::<VersionView>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field): a submission for review \
             needs a route of members holding DocumentApprove, none an author of the version",
        )
        .problem(
            "403",
            "making a version effective, or withdrawing an approved or effective one, needs \
             DocumentApprove as well (`forbidden`)",
        )
        .problem(
            "409",
            "the version cannot move to that state (`transition-not-allowed`, with the states it \
             can move to in `allowed`), or the document changed meanwhile (`conflict`)",
        )
        .accepts_body(TRANSITION_LIMIT),
        Route::new(
            Method::POST,
            "/documents/{id}/versions/{v}/signatures",
            Access::Requires(DocumentApprove),
            Module::Documents,
            // The signature (`document.signed`) and the move it makes (`document.transitioned`);
            // or the refused re-authentication and the lock or unlock of the account's count it
            // causes, or the member's limit's trip.
            Effect::Writes(&[
                Action::DocumentSigned,
                Action::DocumentTransitioned,
                Action::ReauthenticationFailed,
                Action::SignInLocked,
                Action::SignInUnlocked,
                Action::RateLimitTripped,
            ]),
            sign,
        )
        .request_schema::<SignRequest>()
        .response_schema::<Signature>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field; a rejection needs a reason), or the password or code is not correct, or the account is locked after consecutive failures (`reauthentication-failed`: one answer for each)",
        )
        .problem(
            "409",
            "the signature may not be given now (`signature-not-allowed`: a draft, not the signer's step, signed already, an author approving), or the document changed meanwhile and nothing was signed (`conflict`)",
        )
        .problem(
            "429",
            "more than 60 signing re-authentications by this member in the current 15-minute window (`too-many-requests`, with `Retry-After` in seconds)",
        )
        .accepts_body(TRANSITION_LIMIT),
        Route::new(
            Method::POST,
            "/documents/{id}/versions/{v}/route/reassignments",
            Access::Requires(DocumentEdit),
            Module::Documents,
            Effect::Writes(&[Action::DocumentRouteReassigned]),
            reassign,
        )
        .request_schema::<Reassignment>()
        .response_schema::<VersionView>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field): the new signer must be \
             an active member holding DocumentApprove, not an author and not on the route",
        )
        .problem("403", "only an Owner reassigns a route's signer (`forbidden`)")
        .problem(
            "409",
            "the version is not in review, or `from` has no unsigned step on its route, or the \
             document changed meanwhile (`conflict`)",
        )
        .accepts_body(TRANSITION_LIMIT),
        Route::new(
            Method::GET,
            "/documents/{id}/versions/{v}/signatures",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            list_signatures,
        )
        .response_schema::<Vec<Signature>>(),
        Route::new(
            Method::GET,
            "/documents/{id}/versions/{v}/signatures/{sid}/verify",
            Access::Requires(DocumentRead),
            Module::Documents,
            Effect::Reads,
            verify_signature,
        )
        .response_schema::<SignatureVerdict>(),
        Route::new(
            Method::GET,
            "/documents/{id}/history",
            // Entries name actors, their emails and addresses: what reading the trail shows.
            Access::Requires(Permission::AuditRead),
            Module::Documents,
            Effect::Reads,
            history,
        )
        .pages()
        .response_schema::<AuditPage>(),
        Route::new(
            Method::GET,
            "/documents/{id}/export",
            // It holds the document's entries, as its history does.
            Access::Requires(Permission::AuditRead),
            Module::Documents,
            Effect::Records(&[Action::DocumentExported]),
            export_document,
        )
        .reads_query(EXPORT_QUERY)
        .response_schema::<export::DocumentExport>()
        .generates(&["application/pdf"])
        .problem(
            "422",
            "the copy would exceed 4 MiB, what one response carries (`export-too-large`, with \
             `limit`)",
        ),
    ])
    .expect("documents route table")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDocument {
    title: DocumentTitle,
    /// One of the organisation's document types' keys, exactly (`sop`).
    #[serde(rename = "type")]
    kind: String,
    body: DocumentBody,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DocumentPatch {
    title: Option<DocumentTitle>,
    body: Option<DocumentBody>,
    reason: Reason,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewVersion {
    /// Why the document changes (DOC-2): recorded with the new version.
    reason: Reason,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Transition {
    /// The state to move to: `in_review`, `draft`, `effective` or `obsolete`, as the version's
    /// state allows.
    to: VersionStatus,
    reason: Reason,
    /// With `to: in_review` only: who reviews and approves it.
    route: Option<RouteRequest>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RouteRequest {
    order: RouteOrder,
    /// User ids of the reviewers (may be empty), in signing order when sequential.
    #[serde(default)]
    reviewers: Vec<String>,
    /// User ids of the approvers (at least one), in signing order when sequential.
    approvers: Vec<String>,
}

/// A version with the manifestation of each of its signatures (§11.50), oldest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct VersionView {
    #[serde(flatten)]
    version: DocumentVersion,
    /// SHA-256 (hex) of the version's canonical content now: what a signature binds, and what a
    /// signer names when signing (`contentSha256`).
    content_sha256: String,
    signatures: Vec<Manifestation>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignRequest {
    meaning: Meaning,
    /// The `contentSha256` of the version as the signer read it: the signature is refused if
    /// the content is no longer that (it binds what the signer saw, nothing else).
    content_sha256: String,
    /// The signer's password, checked with Cognito now (§11.200(a)(1)).
    #[schema(value_type = String, format = Password)]
    password: quire_http::identity::Password,
    /// The current code of the signer's authenticator: required when they have one.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    totp: Option<quire_http::identity::TotpCode>,
    /// Why: required with `rejected`, recorded with any meaning.
    reason: Option<Reason>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Reassignment {
    /// The user id of the signer whose unsigned step is given away.
    from: String,
    /// The user id of the member who takes it.
    to: String,
    reason: Reason,
}

/// What a signature's verification found (DOC-5, §11.70): valid only if every check holds.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SignatureVerdict {
    signature_id: String,
    valid: bool,
    /// The sequence number of the audit entry that records the signature, once appended.
    audit_seq: Option<u64>,
    checks: Vec<Check>,
    manifestation: Manifestation,
}

/// The line diff of two versions' bodies (and titles).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct VersionDiff {
    document_id: String,
    /// The version compared (`{v}`) and the one it is compared against (`against`).
    version: u32,
    against: u32,
    /// The titles, when they differ.
    title: Option<TitleChange>,
    /// Lines only in `version`, lines only in `against`.
    inserted: usize,
    deleted: usize,
    /// The unified diff (`--- v<against>` / `+++ v<version>`, three lines of context).
    unified: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TitleChange {
    from: String,
    to: String,
}

/// Same clock and format as audit entries: UTC, RFC 3339, milliseconds.
fn now() -> String {
    quire_core::audit::timestamp_now()
}

/// Creates a document and its first version, a draft, numbered from its type's counter. With
/// an `Idempotency-Key`, a repeat of the same request answers as the first did (201, the same
/// document, nothing new recorded); the key with another body is 422.
async fn create(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: NewDocument = parse_body(&req)?;
    let types = app
        .store
        .organisation(caller.scope())
        .await?
        .record()
        .document_types()
        .ok_or_else(|| Problem::internal("the organisation's document types do not read"))?;
    let Some(kind) = types.find(&input.kind) else {
        return Err(Problem::invalid_body(
            format!("type: must be one of {}", types.keys().join(", ")),
            Some("type"),
        ));
    };
    let idempotency = idempotency_key(&req, caller)?;
    if let Some((key, fingerprint)) = &idempotency {
        match app
            .store
            .recall(caller.scope(), caller.principal(), key, fingerprint)
            .await?
        {
            Recall::New => {}
            recall => return answer_again(recall).await,
        }
    }
    // A number already held (a counter set back) is skipped: the next one is taken.
    for _ in 0..CREATE_ATTEMPTS {
        let number = app.store.take_number(caller.scope(), kind.prefix.as_str()).await?;
        let at = now();
        let id = DocumentId::generate().to_string();
        let me = caller.user_id.to_string();
        let document = Document {
            id: id.clone(),
            number: kind.prefix.number(number),
            kind: kind.key.clone(),
            title: input.title.clone(),
            owner: me.clone(),
            review_interval_months: kind.review_interval_months.months(),
            latest_version: 1,
            status: VersionStatus::Draft,
            effective_version: None,
            review_due: None,
            created_at: at.clone(),
            created_by: me.clone(),
            updated_at: at.clone(),
            updated_by: me.clone(),
            version: 1,
        };
        let first = DocumentVersion {
            document_id: id.clone(),
            version_number: 1,
            title: input.title.clone(),
            body: input.body.clone(),
            status: VersionStatus::Draft,
            reason_for_change: None,
            authors: authors_of(caller),
            route: None,
            attachments: Vec::new(),
            created_at: at.clone(),
            created_by: me.clone(),
            updated_at: at,
            updated_by: me,
            version: 1,
        };
        let mut change = app
            .store
            .transaction(caller.scope(), ctx.audit_context()?)
            .create(&document, Action::DocumentCreated)
            .create(&first, Action::DocumentVersionCreated)
            .claim_number(&document.number, &id);
        if let Some((key, fingerprint)) = &idempotency {
            change = change.remember(caller.principal(), key, fingerprint, &document);
        }
        match change.commit().await {
            Ok(()) => return created(&document),
            // The same key committed first, or the number is held.
            Err(StoreError::Conflict | StoreError::AlreadyExists) => {
                if let Some((key, fingerprint)) = &idempotency {
                    match app
                        .store
                        .recall(caller.scope(), caller.principal(), key, fingerprint)
                        .await?
                    {
                        Recall::New => {}
                        recall => return answer_again(recall).await,
                    }
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(Problem::conflict(
        "the request raced another with its key, or the type's next numbers are held; send it again",
    ))
}

/// How many numbers a creation takes before answering 409: each failed attempt found its
/// number held, or raced a request with its `Idempotency-Key`.
const CREATE_ATTEMPTS: u32 = 3;

/// Who authors content written by `caller`: the member, and the administrator impersonating
/// them if one is (RBAC-5). Neither may then review or approve it.
pub fn authors_of(caller: &quire_store::tenant::Caller) -> Vec<String> {
    let mut authors = vec![caller.user_id.to_string()];
    if caller.principal() != &caller.user_id {
        authors.push(caller.principal().to_string());
    }
    authors
}

/// The answer to a create: 201, `Location`, `ETag`, the document.
fn created(document: &Document) -> HandlerResult {
    let mut response = with_etag(respond(StatusCode::CREATED, document)?, document.version);
    if let Ok(location) = HeaderValue::from_str(&format!("/documents/{}", document.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// A create repeated with its key: the first answer again (the document as it was created); or
/// 422 if the key came with another request.
async fn answer_again(recall: Recall) -> HandlerResult {
    let Recall::Replay(first) = recall else {
        return Err(Problem::idempotency_key_reused());
    };
    let document: Document = serde_json::from_value(first)
        .map_err(|e| Problem::internal(format!("a remembered answer does not read as a document: {e}")))?;
    created(&document)
}

/// The organisation's documents, newest first; filtered by `status` (the latest version's),
/// `type`, `owner` and `reviewDue=before:<YYYY-MM-DD>` (effective documents whose periodic
/// review falls due before that day, soonest first), any together. Each filtered listing is a
/// query of one of the data table's indexes, the other filters applied to what it reads: a
/// page may hold fewer documents than its limit and still have a next one.
async fn list(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let (filters, page) = query(&req, &LIST_QUERY[2..])?;
    let status = match filters.get("status") {
        None => None,
        Some(text) => Some(
            VersionStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == text)
                .ok_or_else(|| {
                    Problem::invalid_parameter(
                        "status",
                        "`status` must be one of draft, in_review, approved, effective, superseded, obsolete",
                    )
                })?,
        ),
    };
    let kind = match filters.get("type") {
        None => None,
        Some(text) => {
            // Any type key: documents keep a type the organisation has since removed.
            let key = quire_core::documents::DocumentTypeKey::try_from(text.clone())
                .map_err(|_| Problem::invalid_parameter("type", "`type` must be a document type's key (`sop`)"))?;
            Some(key.as_str().to_owned())
        }
    };
    let owner = match filters.get("owner") {
        None => None,
        Some(text) => Some(
            UserId::parse(text)
                .map_err(|_| Problem::invalid_parameter("owner", "`owner` must be a user id"))?
                .to_string(),
        ),
    };
    let due_before = match filters.get("reviewDue") {
        None => None,
        Some(text) => Some(
            text.strip_prefix("before:")
                .and_then(domain::parse_day)
                .ok_or_else(|| Problem::invalid_parameter("reviewDue", "`reviewDue` must be before:YYYY-MM-DD"))?,
        ),
    };
    // The most selective index takes the key condition; the other filters narrow what it reads.
    let mut narrowing: Vec<(&'static str, String)> = Vec::new();
    let mut chosen: Option<(quire_store::Index, String)> = None;
    let mut take = |index: quire_store::Index, attribute: &'static str, value: Option<String>| {
        if let Some(value) = value {
            if chosen.is_none() {
                chosen = Some((index, value));
            } else {
                narrowing.push((attribute, value));
            }
        }
    };
    take(quire_store::Index::DocumentReviewDue, "", due_before);
    take(quire_store::Index::DocumentOwner, "owner", owner);
    take(quire_store::Index::DocumentType, "type", kind);
    take(
        quire_store::Index::DocumentStatus,
        "status",
        status.map(|s| s.as_str().to_owned()),
    );
    let page = match chosen {
        None => app.store.list::<Document>(caller.scope(), &page).await?,
        Some((index, value)) => {
            app.store
                .list_indexed::<Document>(caller.scope(), index, &value, &narrowing, &page)
                .await?
        }
    };
    ok(&page)
}

/// Reads a document of the caller's organisation. Another tenant's id, or no id at all, is
/// the same 404 (TEN-3): the scope makes the other tenant's item unreachable.
/// The path's document (`{id}`) in the caller's organisation: 404 for any other id (TEN-3).
pub async fn load(app: &App, ctx: &RequestCtx) -> Result<Stored<Document>, Problem> {
    let caller = ctx.caller()?;
    let id = DocumentId::parse(ctx.param("id")?).ok_or_else(Problem::not_found)?;
    app.store
        .get::<Document>(caller.scope(), &id.to_string())
        .await?
        .ok_or_else(Problem::not_found)
}

/// Version `number` of `document`: 404 if it has none so numbered.
pub async fn load_version(
    app: &App,
    ctx: &RequestCtx,
    document: &Document,
    number: u32,
) -> Result<Stored<DocumentVersion>, Problem> {
    if number == 0 || number > document.latest_version {
        return Err(Problem::not_found());
    }
    app.store
        .get::<DocumentVersion>(ctx.caller()?.scope(), &DocumentVersion::key(&document.id, number))
        .await?
        .ok_or_else(|| Problem::internal("a version the document counts is missing"))
}

/// The version the path's `{v}` names.
fn path_version(ctx: &RequestCtx) -> Result<u32, Problem> {
    domain::parse_version_number(ctx.param("v")?).ok_or_else(Problem::not_found)
}

/// The document with its version as `ETag`, for the `If-Match` of an edit.
async fn get(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let document = load(&app, &ctx).await?;
    Ok(with_etag(ok(document.record())?, document.version))
}

/// A change that fails because the document changed since it was read.
fn changed_meanwhile(error: StoreError) -> Problem {
    match error {
        StoreError::Conflict => Problem::conflict("the document changed meanwhile; read it again"),
        other => Problem::from(other),
    }
}

/// `document` as it is after a change by `caller` of its version `version`.
pub fn touched(document: &Document, caller: &UserId, version: &DocumentVersion) -> Document {
    let mut next = document.clone();
    if version.version_number == document.latest_version {
        next.title = version.title.clone();
        next.status = version.status;
    }
    next.updated_at.clone_from(&version.updated_at);
    next.updated_by = caller.to_string();
    next.version = document.version + 1;
    next
}

/// Edits the draft (the latest version while it is a draft, DOC-2): its title and body.
async fn update(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let document = load(&app, &ctx).await?;
    // The edit must name the version it was made against (RFC 9110 §13.1.1).
    require_match(&req, document.version)?;
    let patch: DocumentPatch = parse_body(&req)?;
    let draft = load_version(&app, &ctx, &document, document.latest_version).await?;
    if draft.status.content_fixed() {
        return Err(Problem::conflict(
            "only drafts can be edited; a change after approval needs a new version",
        ));
    }
    let mut after = draft.record().clone();
    if let Some(title) = patch.title {
        after.title = title;
    }
    if let Some(body) = patch.body {
        after.body = body;
    }
    if after == *draft.record() {
        // Nothing changes, so there is nothing to record.
        return Ok(with_etag(ok(document.record())?, document.version));
    }
    let me = caller.user_id.to_string();
    for author in authors_of(caller) {
        if !after.authors.contains(&author) {
            after.authors.push(author);
        }
    }
    after.updated_at = now();
    after.updated_by = me;
    after.version = draft.version + 1;
    let next = touched(&document, &caller.user_id, &after);
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .replace(&draft, &after, Action::DocumentUpdated)
        .because(patch.reason.as_str())
        .replace_derived(&document, &next)
        .commit()
        .await
        .map_err(|error| match error {
            // The document moved between the check above and the write.
            StoreError::Conflict => Problem::precondition_failed(),
            other => Problem::from(other),
        })?;
    Ok(with_etag(ok(&next)?, next.version))
}

/// A document's versions, first first.
async fn list_versions(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let document = load(&app, &ctx).await?;
    let page = app
        .store
        .list_under::<DocumentVersion>(
            caller.scope(),
            &DocumentVersion::prefix(&document.id),
            true,
            &page_request(&req)?,
        )
        .await?;
    let signed = signatures_of(&app, &ctx, &DocumentVersion::prefix(&document.id)).await?;
    let items = page
        .items
        .into_iter()
        .map(|version| view_with(&document, version, &signed))
        .collect::<Result<Vec<_>, _>>()?;
    ok(&Page { items, next: page.next })
}

async fn get_version(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let document = load(&app, &ctx).await?;
    let version = load_version(&app, &ctx, &document, path_version(&ctx)?).await?;
    let view = view(&app, &ctx, &document, version.into_record()).await?;
    Ok(with_etag(ok(&view)?, document.version))
}

/// A version as every display shows it: with its content's hash and its signatures'
/// manifestations (§11.50).
async fn view(
    app: &App,
    ctx: &RequestCtx,
    document: &Document,
    version: DocumentVersion,
) -> Result<VersionView, Problem> {
    let prefix = Signature::version_prefix(&document.id, version.version_number);
    let signed = signatures_of(app, ctx, &prefix).await?;
    view_with(document, version, &signed)
}

/// A version's view, its signatures taken from `signed` (which may hold other versions').
fn view_with(document: &Document, version: DocumentVersion, signed: &[Signature]) -> Result<VersionView, Problem> {
    let content_sha256 = signature::content_sha256(document, &version).map_err(Problem::internal)?;
    let mut shown: Vec<&str> = Vec::new();
    let mut signatures = Vec::new();
    // A record copied behind the API's back shows once, under its own id, and only with the
    // version it names.
    for signature in signed
        .iter()
        .filter(|s| s.version_number == version.version_number && s.document_id == version.document_id)
    {
        if !shown.contains(&signature.id.as_str()) {
            shown.push(&signature.id);
            signatures.push(signature.manifestation(document, &version));
        }
    }
    Ok(VersionView {
        version,
        content_sha256,
        signatures,
    })
}

/// Every signature whose id starts with `prefix` (a document's or a version's), oldest first
/// within a version.
async fn signatures_of(app: &App, ctx: &RequestCtx, prefix: &str) -> Result<Vec<Signature>, Problem> {
    let scope = ctx.caller()?.scope();
    let mut all = Vec::new();
    let mut page = quire_store::PageRequest {
        limit: Some(quire_store::PageRequest::MAX_LIMIT),
        cursor: None,
    };
    loop {
        let found = app
            .store
            .list_under_as_stored::<Signature>(scope, prefix, &page)
            .await?;
        // A record stored under an id that is not its own was copied there behind the API's
        // back: no display shows it (its verification says why it is invalid).
        all.extend(
            found
                .items
                .into_iter()
                .filter(|(stored, s)| *stored == quire_store::Record::id(s))
                .map(|(_, s)| s),
        );
        match found.next {
            Some(next) => page.cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// A new version (DOC-2): a draft copied from the latest version, with the reason for change.
async fn new_version(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: NewVersion = parse_body(&req)?;
    let document = load(&app, &ctx).await?;
    if !document.status.may_be_followed() {
        return Err(Problem::conflict(format!(
            "version {} is {}: edit it, or recall it to draft, instead of making a new version",
            document.latest_version,
            document.status.as_str()
        )));
    }
    if document.latest_version >= domain::MAX_VERSIONS {
        return Err(Problem::conflict("the document has as many versions as it can hold"));
    }
    let latest = load_version(&app, &ctx, &document, document.latest_version).await?;
    let at = now();
    let me = caller.user_id.to_string();
    let draft = DocumentVersion {
        document_id: document.id.clone(),
        version_number: document.latest_version + 1,
        title: latest.title.clone(),
        body: latest.body.clone(),
        // The files go on with the text: a new version starts as the last one's content.
        attachments: latest.attachments.clone(),
        status: VersionStatus::Draft,
        reason_for_change: Some(input.reason.as_str().to_owned()),
        authors: authors_of(caller),
        route: None,
        created_at: at.clone(),
        created_by: me.clone(),
        updated_at: at,
        updated_by: me,
        version: 1,
    };
    let mut next = touched(&document, &caller.user_id, &draft);
    next.latest_version = draft.version_number;
    next.title = draft.title.clone();
    next.status = draft.status;
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .create(&draft, Action::DocumentVersionCreated)
        .because(input.reason.as_str())
        .replace_derived(&document, &next)
        .commit()
        .await
        .map_err(|error| match error {
            StoreError::AlreadyExists => Problem::conflict("the document changed meanwhile; read it again"),
            other => changed_meanwhile(other),
        })?;
    let shown = view_with(&document, draft.clone(), &[])?;
    let mut response = with_etag(respond(StatusCode::CREATED, &shown)?, next.version);
    let location = format!("/documents/{}/versions/{}", document.id, draft.version_number);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The line diff of version `{v}` against version `against` (`similar`'s Myers diff).
async fn diff(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let (parameters, _) = query(&req, &["against"])?;
    let against = parameters
        .get("against")
        .ok_or_else(|| Problem::invalid_parameter("against", "`against`: the version to compare with is missing"))?;
    let against = domain::parse_version_number(against)
        .ok_or_else(|| Problem::invalid_parameter("against", "`against` must be a version number"))?;
    let document = load(&app, &ctx).await?;
    let version = load_version(&app, &ctx, &document, path_version(&ctx)?).await?;
    let other = load_version(&app, &ctx, &document, against).await?;
    let lines = domain::line_diff(
        other.body.as_str(),
        version.body.as_str(),
        (&format!("v{against}"), &format!("v{}", version.version_number)),
        DIFF_DEADLINE,
    );
    let (from, to): (String, String) = (other.title.clone().into(), version.title.clone().into());
    ok(&VersionDiff {
        document_id: document.id.clone(),
        version: version.version_number,
        against,
        title: (from != to).then_some(TitleChange { from, to }),
        inserted: lines.inserted,
        deleted: lines.deleted,
        unified: lines.unified,
    })
}

/// Moves a version in its lifecycle (DOC-1): only along [`VersionStatus::transitions`].
async fn transition(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: Transition = parse_body(&req)?;
    let document = load(&app, &ctx).await?;
    let current = load_version(&app, &ctx, &document, path_version(&ctx)?).await?;
    let from = current.status;
    if !from.transitions().contains(&input.to) {
        return Err(transition_not_allowed(&current, input.to));
    }
    if input.route.is_some() != (input.to == VersionStatus::InReview) {
        return Err(Problem::invalid_body(
            "route: a submission for review (`to: in_review`) names its route, and only it",
            Some("route"),
        ));
    }
    // Putting a version into effect, or withdrawing one that was approved, is an approver's act:
    // an organisation that takes DocumentApprove from a role leaves its members editing only.
    if input.to.needs_approver(from) && !caller.matrix.grants(caller.role, DocumentApprove) {
        return Err(Problem::forbidden(
            "making a version effective, or withdrawing an approved or effective one, needs DocumentApprove",
        ));
    }
    let at = now();
    let mut after = current.record().clone();
    after.status = input.to;
    after.updated_at.clone_from(&at);
    after.updated_by = caller.user_id.to_string();
    after.version = current.version + 1;
    let mut next = touched(&document, &caller.user_id, &after);
    let mut superseded = None;
    match input.to {
        VersionStatus::InReview => {
            let route = input.route.as_ref().ok_or_else(|| Problem::internal("checked above"))?;
            after.route = Some(check_route(&app, &ctx, route, &after, &at).await?);
        }
        VersionStatus::Draft => after.route = None,
        VersionStatus::Effective => {
            // An older approved version never replaces a newer one in effect.
            if after.version_number != document.latest_version {
                return Err(Problem::transition_not_allowed(
                    format!(
                        "version {} is not the latest (version {} is): only the latest version becomes \
                         effective; this one can move to obsolete",
                        after.version_number, document.latest_version
                    ),
                    vec![VersionStatus::Obsolete.as_str()],
                ));
            }
            if let Some(previous) = document.effective_version {
                let stored = load_version(&app, &ctx, &document, previous).await?;
                let mut retired = stored.record().clone();
                retired.status = VersionStatus::Superseded;
                retired.updated_at.clone_from(&at);
                retired.updated_by = caller.user_id.to_string();
                retired.version = stored.version + 1;
                superseded = Some((stored, retired));
            }
            next.effective_version = Some(after.version_number);
            next.review_due = domain::review_due(&at, document.review_interval_months);
        }
        VersionStatus::Obsolete => {
            if document.effective_version == Some(after.version_number) {
                next.effective_version = None;
                next.review_due = None;
            }
        }
        VersionStatus::Approved | VersionStatus::Superseded => {
            return Err(Problem::internal("not a client's transition"));
        }
    }
    let mut change = app
        .store
        .transaction(caller.scope(), ctx.audit_context()?)
        .replace(&current, &after, Action::DocumentTransitioned)
        .because(input.reason.as_str());
    if let Some((stored, retired)) = &superseded {
        let why = format!("superseded by version {}", after.version_number);
        change = change
            .replace(stored, retired, Action::DocumentTransitioned)
            .because(&why);
    }
    change
        .replace_derived(&document, &next)
        .commit()
        .await
        .map_err(changed_meanwhile)?;
    let shown = view(&app, &ctx, &next, after).await?;
    Ok(with_etag(ok(&shown)?, next.version))
}

/// 409 naming the states the version can move to.
fn transition_not_allowed(version: &DocumentVersion, to: VersionStatus) -> Problem {
    let allowed: Vec<&str> = version.status.transitions().iter().map(|s| s.as_str()).collect();
    let why = match to {
        VersionStatus::Approved => "; a version is approved by its route's signatures".to_owned(),
        VersionStatus::Superseded => "; a version is superseded when its successor becomes effective".to_owned(),
        _ => String::new(),
    };
    Problem::transition_not_allowed(
        format!(
            "version {} is {} and cannot move to {}{why}; it can move to: {}",
            version.version_number,
            version.status.as_str(),
            to.as_str(),
            if allowed.is_empty() {
                "nothing (final)".to_owned()
            } else {
                allowed.join(", ")
            }
        ),
        allowed,
    )
}

/// `user` as a signer a route may name (DOC-3): an active member whose role holds
/// `DocumentApprove` now. The 400 names `field`.
async fn eligible_signer(app: &App, ctx: &RequestCtx, user: &str, field: &str) -> Result<UserId, Problem> {
    let caller = ctx.caller()?;
    let not_eligible = || {
        Problem::invalid_body(
            format!("{field}: {user} is not an active member holding DocumentApprove"),
            Some(field),
        )
    };
    let id = UserId::parse(user).map_err(|_| not_eligible())?;
    let member = app
        .store
        .find_member(caller.scope(), &id)
        .await?
        .ok_or_else(not_eligible)?;
    if member.status() != MemberStatus::Active || !caller.matrix.grants(member.role(), Permission::DocumentApprove) {
        return Err(not_eligible());
    }
    Ok(id)
}

/// The route a submission names, checked (DOC-3): at least one approver; at most
/// [`domain::MAX_ROUTE_STEPS`] signers, each named once; each an active member whose role holds
/// `DocumentApprove` now; none an author of the version (who made or edited it).
async fn check_route(
    app: &App,
    ctx: &RequestCtx,
    request: &RouteRequest,
    version: &DocumentVersion,
    at: &str,
) -> Result<ApprovalRoute, Problem> {
    let caller = ctx.caller()?;
    let refuse = |detail: String| Problem::invalid_body(detail, Some("route"));
    if request.approvers.is_empty() {
        return Err(refuse("route.approvers: at least one approver".into()));
    }
    let named: Vec<(&String, StepRole)> = request
        .reviewers
        .iter()
        .map(|u| (u, StepRole::Reviewer))
        .chain(request.approvers.iter().map(|u| (u, StepRole::Approver)))
        .collect();
    if named.len() > domain::MAX_ROUTE_STEPS {
        return Err(refuse(format!(
            "route: at most {} reviewers and approvers together",
            domain::MAX_ROUTE_STEPS
        )));
    }
    let mut steps = Vec::with_capacity(named.len());
    for (i, (user, role)) in named.iter().enumerate() {
        if named[..i].iter().any(|(other, _)| other == user) {
            return Err(refuse(format!("route: {user} is named more than once")));
        }
        if version.authors.contains(user) {
            return Err(refuse(format!(
                "route: {user} is an author of this version and cannot review or approve it"
            )));
        }
        let id = eligible_signer(app, ctx, user, "route").await?;
        steps.push(RouteStep {
            user_id: id.to_string(),
            role: *role,
            signature_id: None,
        });
    }
    Ok(ApprovalRoute {
        order: request.order,
        steps,
        submitted_at: at.to_owned(),
        submitted_by: caller.user_id.to_string(),
    })
}

/// Signs a version electronically (DOC-4): the signer re-authenticates now, with their password
/// and, where they have an authenticator, its code; every signing uses every component
/// (§11.200(a)(1) asks it of the first in a session, and it is simplest to hold to always). A
/// refused re-authentication counts toward the sign-in lockout and is recorded
/// (`reauthentication.failed`, purpose `document.signature`); nothing is signed. The signature
/// binds the SHA-256 of the version's canonical content (§11.70). A route's last signature
/// approves the version, a rejection returns it to draft, in the same change.
async fn sign(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: SignRequest = parse_body(&req)?;
    if input.meaning == Meaning::Rejected && input.reason.is_none() {
        return Err(Problem::invalid_body("reason: a rejection says why", Some("reason")));
    }
    let document = load(&app, &ctx).await?;
    let current = load_version(&app, &ctx, &document, path_version(&ctx)?).await?;
    let me = caller.user_id.to_string();
    let prefix = Signature::version_prefix(&document.id, current.version_number);
    let signed = signatures_of(&app, &ctx, &prefix).await?;
    let content = signature::content_sha256(&document, &current).map_err(Problem::internal)?;
    // Decided before the re-authentication, so that a refusal costs no attempt.
    if input.content_sha256 != content {
        return Err(Problem::signature_not_allowed(format!(
            "the version's content is not the content you read: it hashes to {content} now; read it again"
        )));
    }
    let step =
        signature::judge(&current, &me, input.meaning, &signed, &content).map_err(Problem::signature_not_allowed)?;
    // A member of an SSO-only organisation proves who they are at its identity provider, which
    // Quire cannot ask at signing time yet; a password it turned off is no proof.
    if app.store.organisation(caller.scope()).await?.record().sso_only() {
        return Err(Problem::signature_not_allowed(
            "the organisation signs in only through its identity provider, and electronic signatures \
             re-authenticate with a password: not offered for SSO-only organisations yet",
        ));
    }
    // A refusal's entry names what was being signed: it is the account's event (the lockout
    // counts it), and the document's too.
    let signing = quire_http::identity::Purpose::DocumentSignature(serde_json::json!({
        "documentId": document.id,
        "number": document.number,
        "versionNumber": current.version_number,
        "meaning": input.meaning,
    }));
    quire_http::identity::reauthenticate(&app, &ctx, signing, &input.password, input.totp.as_ref()).await?;
    let at = now();
    let mut components = vec!["password".to_owned()];
    if caller.mfa_enrolled_at.is_some() {
        components.push("totp".to_owned());
    }
    let signature = Signature {
        id: uuid::Uuid::now_v7().hyphenated().to_string(),
        document_id: document.id.clone(),
        version_number: current.version_number,
        signer_id: me.clone(),
        printed_name: caller.display_name.clone(),
        meaning: input.meaning,
        reason: input.reason.as_ref().map(|r| r.as_str().to_owned()),
        signed_at: at.clone(),
        content_sha256: content,
        content_form: signature::CONTENT_FORM,
        components,
        version: 1,
    };
    let mut after = current.record().clone();
    let mut moved = None;
    if let Some(step) = step {
        let route = after
            .route
            .as_mut()
            .ok_or_else(|| Problem::internal("a step needs a route"))?;
        route.steps[step].signature_id = Some(signature.id.clone());
        if input.meaning == Meaning::Rejected {
            after.status = VersionStatus::Draft;
            after.route = None;
            moved = Some(format!("rejected by {}", caller.display_name));
        } else if route.complete() {
            after.status = VersionStatus::Approved;
            moved = Some("approved: every signature of its route is given".to_owned());
        }
        after.updated_at.clone_from(&at);
        after.updated_by.clone_from(&me);
        after.version = current.version + 1;
    }
    let mut next = touched(&document, &caller.user_id, &after);
    next.updated_at = at;
    let mut change = app
        .store
        .transaction(caller.scope(), ctx.audit_context()?)
        .create(&signature, Action::DocumentSigned);
    if let Some(reason) = &input.reason {
        change = change.because(reason.as_str());
    }
    change = match (&moved, step) {
        (Some(why), _) => change
            .replace(&current, &after, Action::DocumentTransitioned)
            .because(why),
        // A step signed, the route not finished: the version's route records it.
        (None, Some(_)) => change.replace_derived(&current, &after),
        (None, None) => change,
    };
    change
        .replace_derived(&document, &next)
        .commit()
        .await
        .map_err(|error| match error {
            StoreError::Conflict | StoreError::AlreadyExists => Problem::conflict(
                "the document changed while you signed (another signature or change came first); \
                 nothing was signed: read it and sign again",
            ),
            other => Problem::from(other),
        })?;
    let mut response = respond(StatusCode::CREATED, &signature)?;
    let location = format!(
        "/documents/{}/versions/{}/signatures/{}/verify",
        document.id, current.version_number, signature.id
    );
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// A version's signatures, oldest first.
async fn list_signatures(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let document = load(&app, &ctx).await?;
    let version = load_version(&app, &ctx, &document, path_version(&ctx)?).await?;
    let prefix = Signature::version_prefix(&document.id, version.version_number);
    ok(&signatures_of(&app, &ctx, &prefix).await?)
}

/// Verifies a signature (DOC-5, §11.70): the record names the version it is stored with, the
/// version's content hashes as signed, and the audit trail records this very signature in an
/// entry whose hash and link to the one before hold. Any failed check makes it invalid, and
/// says why. A signature whose entry the writer has not appended yet is not yet valid.
async fn verify_signature(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let document = load(&app, &ctx).await?;
    let version = load_version(&app, &ctx, &document, path_version(&ctx)?).await?;
    let sid = ctx.param("sid")?;
    if uuid::Uuid::try_parse(sid).is_err() || sid.len() != 36 {
        return Err(Problem::not_found());
    }
    let stored = app
        .store
        .get::<Signature>(
            caller.scope(),
            &Signature::key(&document.id, version.version_number, sid),
        )
        .await?
        .ok_or_else(Problem::not_found)?;
    let signature = stored.into_record();
    let mut checks = signature::check_binding(&signature, sid, &document, &version);
    let (audit, seq) = audit_check(&app, &ctx, &document.id, &signature).await?;
    checks.push(audit);
    ok(&SignatureVerdict {
        signature_id: sid.to_owned(),
        valid: checks.iter().all(|c| c.ok),
        audit_seq: seq,
        manifestation: signature.manifestation(&document, &version),
        checks,
    })
}

/// The audit check of a signature: its `document.signed` entry, found through the document's
/// history, records exactly this signature, hashes as it claims, and links to the entry before.
async fn audit_check(
    app: &App,
    ctx: &RequestCtx,
    document_id: &str,
    signature: &Signature,
) -> Result<(Check, Option<u64>), Problem> {
    let scope = ctx.caller()?.scope();
    // As the trail stores it: long values (a long reason) are blob references.
    let mut expected = serde_json::to_value(signature).map_err(Problem::internal)?;
    quire_core::audit::blob::externalise(&mut expected, &mut Vec::new()).map_err(|e| Problem::internal(e.0))?;
    let fail = |detail: String| Check {
        check: "audit",
        ok: false,
        detail,
    };
    let mut page = quire_store::PageRequest {
        limit: Some(quire_store::PageRequest::MAX_LIMIT),
        cursor: None,
    };
    loop {
        let found = app.store.target_history(scope, "document", document_id, &page).await?;
        for listed in &found.items {
            let quire_store::Listed::Entry(entry) = listed else {
                continue;
            };
            let event = &entry.event;
            if event.action != Action::DocumentSigned
                || event.after.as_ref().and_then(|a| a.get("id")) != Some(&serde_json::json!(signature.id))
            {
                continue;
            }
            if event.after.as_ref() != Some(&expected) {
                return Ok((
                    fail(format!(
                        "audit entry {} records this signature with other content than the signature record holds",
                        entry.seq
                    )),
                    Some(entry.seq),
                ));
            }
            let hash = quire_core::audit::chain::canonical_content(entry.seq, &entry.prev_hash, event)
                .map_err(|e| e.0)
                .and_then(|content| quire_core::audit::chain::link_hash(&entry.prev_hash, &content).map_err(|e| e.0));
            if hash.as_deref() != Ok(entry.hash.as_str()) {
                return Ok((
                    fail(format!(
                        "audit entry {} does not hash to the hash it records",
                        entry.seq
                    )),
                    Some(entry.seq),
                ));
            }
            let previous = match entry.seq {
                1 => Some(quire_core::audit::chain::GENESIS_HASH.to_owned()),
                n => app.store.chain_entry(scope, n - 1).await?.map(|e| e.hash),
            };
            if previous.as_deref() != Some(entry.prev_hash.as_str()) {
                return Ok((
                    fail(format!(
                        "audit entry {} does not link to the entry before it",
                        entry.seq
                    )),
                    Some(entry.seq),
                ));
            }
            // And the chain goes on from it: it is the head, or the entry after links to it. The
            // head first: the writer may append after it meanwhile, never before.
            let head = app.store.chain_tip(scope).await?;
            let following = if head.seq == entry.seq {
                head.hash == entry.hash
            } else {
                app.store
                    .chain_entry(scope, entry.seq + 1)
                    .await?
                    .is_some_and(|next| next.prev_hash == entry.hash)
            };
            if !following {
                return Ok((
                    fail(format!(
                        "the chain does not go on from audit entry {}: the entry after it, or the head, links elsewhere",
                        entry.seq
                    )),
                    Some(entry.seq),
                ));
            }
            return Ok((
                Check {
                    check: "audit",
                    ok: true,
                    detail: format!(
                        "audit entry {} records this signature, hashes as recorded, links to the entry before \
                         it and is linked to by the chain after it",
                        entry.seq
                    ),
                },
                Some(entry.seq),
            ));
        }
        match found.next {
            Some(next) => page.cursor = Some(next),
            None => {
                return Ok((
                    fail("no audit entry records this signature (yet: the trail may be a moment behind)".into()),
                    None,
                ))
            }
        }
    }
}

/// A document's history (AUD-9): the entries of its trail about it, oldest first, from the
/// trail's index by target, with the blobs they reference.
async fn history(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let document = load(&app, &ctx).await?;
    let page = app
        .store
        .target_history(caller.scope(), "document", &document.id, &page_request(&req)?)
        .await?;
    ok(&page)
}

/// Gives an unsigned step of a version's route to another signer (DOC-3): an Owner's act, for a
/// signer removed from the organisation (whose step blocks the route until then) or away. The
/// new signer must be eligible as at submission and not already on the route.
async fn reassign(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: Reassignment = parse_body(&req)?;
    let document = load(&app, &ctx).await?;
    let current = load_version(&app, &ctx, &document, path_version(&ctx)?).await?;
    if caller.role != quire_core::rbac::Role::Owner {
        return Err(Problem::forbidden("only an Owner reassigns a route's signer"));
    }
    let route = match (&current.route, current.status) {
        (Some(route), VersionStatus::InReview) => route,
        _ => return Err(Problem::conflict("only a version in review has a route to reassign")),
    };
    let Some(step) = route
        .steps
        .iter()
        .position(|s| s.user_id == input.from && s.signature_id.is_none())
    else {
        return Err(Problem::conflict(format!(
            "{} has no unsigned step on this route",
            input.from
        )));
    };
    if current.authors.contains(&input.to) {
        return Err(Problem::invalid_body(
            format!(
                "to: {} is an author of this version and cannot review or approve it",
                input.to
            ),
            Some("to"),
        ));
    }
    if route.steps.iter().any(|s| s.user_id == input.to) {
        return Err(Problem::invalid_body(
            format!("to: {} is on the route already", input.to),
            Some("to"),
        ));
    }
    let to = eligible_signer(&app, &ctx, &input.to, "to").await?;
    let mut after = current.record().clone();
    if let Some(route) = after.route.as_mut() {
        route.steps[step].user_id = to.to_string();
    }
    after.updated_at = now();
    after.updated_by = caller.user_id.to_string();
    after.version = current.version + 1;
    let next = touched(&document, &caller.user_id, &after);
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .replace(&current, &after, Action::DocumentRouteReassigned)
        .because(input.reason.as_str())
        .replace_derived(&document, &next)
        .commit()
        .await
        .map_err(changed_meanwhile)?;
    let shown = view(&app, &ctx, &next, after).await?;
    Ok(with_etag(ok(&shown)?, next.version))
}

/// The query of `GET /documents/{id}/export`.
const EXPORT_QUERY: &[&str] = &["format", "version"];

/// A version's copy for inspection (AUD-9, Part 11 §11.10(b)): `format=json`, the electronic
/// copy ([`export::DocumentExport`]), or `format=pdf`, the human-readable one
/// ([`export::pdf`]), of `version` (a number; the latest without one). Both hold the content,
/// the files, the signatures with their manifestations, and the document's audit entries
/// through the chain head read first (from the trail's index by target, which may lag an
/// append by a moment), with their hashes. At most 4 MiB (`422 export-too-large`). Recorded
/// (`document.exported`) before it is served.
async fn export_document(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let (mut found, _) = query(&req, EXPORT_QUERY)?;
    let pdf = match found.remove("format").as_deref() {
        Some("json") => false,
        Some("pdf") => true,
        _ => return Err(Problem::invalid_parameter("format", "`format` is `json` or `pdf`")),
    };
    let document = load(&app, &ctx).await?;
    let number = match found.remove("version") {
        None => document.latest_version,
        Some(text) => domain::parse_version_number(&text)
            .ok_or_else(|| Problem::invalid_parameter("version", "`version` is a version's number"))?,
    };
    let version = load_version(&app, &ctx, &document, number).await?.into_record();
    let head = app.store.chain_tip(caller.scope()).await?;
    let prefix = Signature::version_prefix(&document.id, version.version_number);
    let signed = signatures_of(&app, &ctx, &prefix).await?;
    let view = view_with(&document, version, &signed)?;
    let signatures: Vec<export::SignedCopy> = view
        .signatures
        .into_iter()
        .filter_map(|manifestation| {
            signed
                .iter()
                .find(|s| s.id == manifestation.signature_id)
                .map(|signature| export::SignedCopy {
                    signature: signature.clone(),
                    manifestation,
                })
        })
        .collect();
    let (entries, blobs) = document_entries(&app, &ctx, &document.id, head.seq).await?;
    // A signature is committed with its event; the trail appends it a moment later. A copy
    // never shows a signature without its entry.
    let recorded = |id: &str| {
        entries.iter().any(|listed| {
            listed.entry().is_some_and(|entry| {
                entry.event.action == Action::DocumentSigned
                    && entry
                        .event
                        .after
                        .as_ref()
                        .and_then(|a| a.get("id"))
                        .and_then(|v| v.as_str())
                        == Some(id)
            })
        })
    };
    if signatures
        .iter()
        .any(|s: &export::SignedCopy| !recorded(&s.signature.id))
    {
        return Err(Problem::not_yet_recorded());
    }
    let copy = export::DocumentExport {
        exported_at: quire_core::audit::timestamp_now(),
        org_id: caller.scope().org_id().to_string(),
        document: document.record().clone(),
        version: view.version,
        content_sha256: view.content_sha256,
        signatures,
        chain_head: head,
        entries,
        blobs,
    };
    let (body, extension, media_type) = if pdf {
        let acted = caller
            .acting()
            .map(|acting| format!(", acted by {}", acting.impersonator))
            .unwrap_or_default();
        let by = format!(
            "{} <{}> ({}{acted})",
            caller.display_name,
            caller.email,
            caller.role.as_str()
        );
        (export::pdf(&copy, &by), "pdf", "application/pdf")
    } else {
        (
            serde_json::to_vec(&copy).map_err(Problem::internal)?,
            "json",
            "application/json",
        )
    };
    let file = quire_http::download::Generated::new(body)?;
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .event(
            Action::DocumentExported,
            quire_core::audit::Target::new("document", &document.id),
            &serde_json::json!({
                "format": extension,
                "versionNumber": copy.version.version_number,
                "contentSha256": copy.content_sha256,
                "through": {"seq": copy.chain_head.seq, "hash": copy.chain_head.hash},
                "entries": copy.entries.len(),
                "bytes": file.body.len(),
                "sha256": file.sha256_hex,
            }),
        )
        .commit()
        .await?;
    let file_name = format!("{}-v{}.{extension}", document.number, copy.version.version_number);
    Ok(file.into_response(media_type, &file_name))
}

/// The document's entries through `through` (a chain position), oldest first, and every blob
/// they reference; at most 4 MiB of blobs (`422 export-too-large` past it).
async fn document_entries(
    app: &App,
    ctx: &RequestCtx,
    document_id: &str,
    through: u64,
) -> Result<(Vec<quire_store::Listed>, std::collections::BTreeMap<String, String>), Problem> {
    let scope = ctx.caller()?.scope();
    let limit = quire_http::download::MAX_RESPONSE_BYTES;
    let (mut entries, mut blobs, mut omitted) = (Vec::new(), std::collections::BTreeMap::new(), Vec::new());
    let mut page = quire_store::PageRequest {
        limit: Some(quire_store::PageRequest::MAX_LIMIT),
        cursor: None,
    };
    let mut bytes = 0u64;
    loop {
        let found = app.store.target_history(scope, "document", document_id, &page).await?;
        // Appended after the head was read: not part of this copy, nor are its blobs.
        let kept: Vec<quire_store::Listed> = found
            .items
            .into_iter()
            .filter(|e| e.seq().is_none_or(|seq| seq <= through))
            .collect();
        let referenced: std::collections::BTreeSet<String> = kept
            .iter()
            .filter_map(quire_store::Listed::entry)
            .flat_map(|e| e.event.blob_references())
            .map(|r| r.sha256)
            .collect();
        for (digest, content) in found.blobs {
            if referenced.contains(&digest) && !blobs.contains_key(&digest) {
                bytes += content.len() as u64;
                blobs.insert(digest, content);
            }
        }
        omitted.extend(found.blobs_omitted.into_iter().filter(|d| referenced.contains(d)));
        for entry in &kept {
            bytes += serde_json::to_vec(entry).map_or(0, |e| e.len() as u64);
        }
        entries.extend(kept);
        if bytes > limit {
            return Err(Problem::export_too_large(limit));
        }
        match found.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    for digest in omitted {
        if blobs.contains_key(&digest) {
            continue;
        }
        if let Some(content) = app.store.audit_blob(scope, &digest).await? {
            bytes += content.len() as u64;
            blobs.insert(digest, content);
        }
        if bytes > limit {
            return Err(Problem::export_too_large(limit));
        }
    }
    Ok((entries, blobs))
}
