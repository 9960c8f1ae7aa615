//! The documents function: controlled documents (create, list, read, edit drafts).

pub mod domain;

use domain::{Document, DocumentBody, DocumentId, DocumentStatus, DocumentTitle, DocumentType, Reason};
use http::{header, HeaderValue, Method, StatusCode};
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::rbac::Permission::{DocumentCreate, DocumentEdit, DocumentRead};
use quire_http::conditional::{idempotency_key, require_match, with_etag};
use quire_http::json::{ok, page_request, parse_body, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::idempotency::Recall;
use quire_store::{Page, StoreError, Stored};
use serde::Deserialize;
use std::sync::Arc;

/// Largest accepted request body: a maximal document, with room for its before and after
/// images to fit one audit outbox item (DynamoDB items hold at most 400 KB).
pub const BODY_LIMIT: usize = 160 * 1024;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::POST,
            "/documents",
            Access::Requires(DocumentCreate),
            Module::Documents,
            Effect::Writes(&[Action::DocumentCreated]),
            create,
        )
        .request_schema::<NewDocument>()
        .response_schema::<Document>()
        .problem(
            "409",
            "a request with the same `Idempotency-Key` was being committed at the same moment; send \
             it again (`conflict`)",
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
        .response_schema::<Page<Document>>(),
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
        .accepts_body(BODY_LIMIT),
    ])
    .expect("documents route table")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDocument {
    title: DocumentTitle,
    #[serde(rename = "type")]
    kind: DocumentType,
    body: DocumentBody,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DocumentPatch {
    title: Option<DocumentTitle>,
    #[serde(rename = "type")]
    kind: Option<DocumentType>,
    body: Option<DocumentBody>,
    reason: Reason,
}

/// Same clock and format as audit entries: UTC, RFC 3339, milliseconds.
fn now() -> String {
    quire_core::audit::timestamp_now()
}

/// Creates a draft. With an `Idempotency-Key`, a repeat of the same request answers as the
/// first did (201, the same document, nothing new recorded); the key with another body is 422.
async fn create(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let input: NewDocument = parse_body(&req)?;
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
    let at = now();
    let document = Document {
        id: DocumentId::generate().to_string(),
        title: input.title,
        kind: input.kind,
        body: input.body,
        status: DocumentStatus::Draft,
        version: 1,
        created_at: at.clone(),
        created_by: caller.user_id.to_string(),
        updated_at: at,
        updated_by: caller.user_id.to_string(),
    };
    let mut change = app
        .store
        .transaction(caller.scope(), ctx.audit_context()?)
        .create(&document, Action::DocumentCreated);
    if let Some((key, fingerprint)) = &idempotency {
        change = change.remember(caller.principal(), key, fingerprint, &document);
    }
    match change.commit().await {
        Ok(()) => created(&document),
        // A request with the same key committed first.
        Err(StoreError::Conflict) if idempotency.is_some() => {
            let (key, fingerprint) = idempotency.as_ref().expect("checked above");
            match app
                .store
                .recall(caller.scope(), caller.principal(), key, fingerprint)
                .await?
            {
                Recall::New => Err(Problem::conflict("the request raced another; send it again")),
                recall => answer_again(recall).await,
            }
        }
        Err(other) => Err(other.into()),
    }
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

async fn list(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let page = app.store.list::<Document>(caller.scope(), &page_request(&req)?).await?;
    ok(&page)
}

/// Reads a document of the caller's organisation. Another tenant's id, or no id at all, is
/// the same 404 (TEN-3): the scope makes the other tenant's item unreachable.
async fn load(app: &App, ctx: &RequestCtx) -> Result<Stored<Document>, Problem> {
    let caller = ctx.caller()?;
    let id = DocumentId::parse(ctx.param("id")?).ok_or_else(Problem::not_found)?;
    app.store
        .get::<Document>(caller.scope(), &id.to_string())
        .await?
        .ok_or_else(Problem::not_found)
}

/// The document with its version as `ETag`, for the `If-Match` of an edit.
async fn get(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let document = load(&app, &ctx).await?;
    Ok(with_etag(ok(document.record())?, document.version))
}

async fn update(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let before = load(&app, &ctx).await?;
    // The edit must name the version it was made against (RFC 9110 §13.1.1).
    require_match(&req, before.version)?;
    let patch: DocumentPatch = parse_body(&req)?;
    if before.status != DocumentStatus::Draft {
        return Err(Problem::conflict(
            "only drafts can be edited; a change after approval needs a new version",
        ));
    }
    let mut after = before.record().clone();
    if let Some(title) = patch.title {
        after.title = title;
    }
    if let Some(kind) = patch.kind {
        after.kind = kind;
    }
    if let Some(body) = patch.body {
        after.body = body;
    }
    if after == *before.record() {
        // Nothing changes, so there is nothing to record.
        return Ok(with_etag(ok(before.record())?, before.version));
    }
    after.version = before.version + 1;
    after.updated_at = now();
    after.updated_by = caller.user_id.to_string();
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .replace(&before, &after, Action::DocumentUpdated)
        .because(patch.reason.as_str())
        .commit()
        .await
        .map_err(|error| match error {
            // The version moved between the check above and the write.
            StoreError::Conflict => Problem::precondition_failed(),
            other => Problem::from(other),
        })?;
    Ok(with_etag(ok(&after)?, after.version))
}
