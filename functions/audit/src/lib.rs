//! The audit function: read the caller's audit trail and verify its hash chain (AUD-5).
//! It has no route that changes or deletes an entry, and no IAM right to (AUD-2).
//!
//! Verification has two forms (docs/audit-format.md, "Verification"): `GET /audit/verify` is a
//! quick check that writes nothing; `POST /audit/verifications` requests a full re-walk, run by
//! the audit-verifier function, whose start and verdict are audit entries.

use http::{header, HeaderValue, Method, StatusCode};
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::rbac::Permission::{AuditRead, AuditVerificationStart, AuditVerify};
use quire_http::json::{ok, page_request, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use quire_store::{AuditPage, ChainCheck, Page, Requested, VerificationJob};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::GET,
            "/audit",
            Access::Requires(AuditRead),
            Module::Audit,
            Effect::Reads,
            list,
        )
        .pages()
        .response_schema::<AuditPage>(),
        Route::new(
            Method::GET,
            "/audit/verify",
            Access::Requires(AuditVerify),
            Module::Audit,
            Effect::Reads,
            check,
        )
        .response_schema::<ChainCheck>(),
        Route::new(
            Method::POST,
            "/audit/verifications",
            Access::Requires(AuditVerificationStart),
            Module::Audit,
            Effect::Writes(&[Action::AuditVerificationStarted]),
            start_verification,
        )
        .response_schema::<VerificationJob>()
        .problem(
            "409",
            "a verification is already queued or running: `verificationId` and `Location` name it \
             (`conflict`)",
        ),
        Route::new(
            Method::GET,
            "/audit/verifications",
            Access::Requires(AuditVerify),
            Module::Audit,
            Effect::Reads,
            list_verifications,
        )
        .pages()
        .response_schema::<Page<VerificationJob>>(),
        Route::new(
            Method::GET,
            "/audit/verifications/{id}",
            Access::Requires(AuditVerify),
            Module::Audit,
            Effect::Reads,
            verification,
        )
        .response_schema::<VerificationJob>(),
        Route::new(
            Method::GET,
            "/audit/blobs/{sha256}",
            Access::Requires(AuditRead),
            Module::Audit,
            Effect::Reads,
            blob,
        )
        .response_schema::<Blob>(),
    ])
    .expect("audit route table")
}

/// Entries newest first: `{"items": [...], "next": cursor | null, "blobs": {digest: content},
/// "blobsOmitted": [digest]}` (docs/audit-format.md, "Blobs").
async fn list(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    ok(&app.store.audit_page(caller.scope(), &page_request(&req)?).await?)
}

/// The quick check: the entries after the last full verification, against the head as read
/// before the walk (`quire_store::ChainCheck`). Writes nothing.
async fn check(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    ok(&app.store.check_chain(caller.scope()).await?)
}

/// Requests a full re-walk: 202 with the job (`status: "queued"`) and its `Location`. While
/// one is queued or running: 409, naming it (`verificationId`), with its `Location`.
async fn start_verification(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let job = match app
        .store
        .start_verification(caller.scope(), ctx.audit_context()?)
        .await?
    {
        Requested::Started(job) => job,
        Requested::AlreadyRunning(job) => {
            let mut response = Problem::conflict("a verification of the audit trail is already queued or running")
                .with("verificationId", job.id.as_str())
                .into_response();
            let location =
                HeaderValue::from_str(&format!("/audit/verifications/{}", job.id)).map_err(Problem::internal)?;
            response.headers_mut().insert(header::LOCATION, location);
            return Ok(response);
        }
    };
    let mut response = respond(StatusCode::ACCEPTED, &job)?;
    let location = HeaderValue::from_str(&format!("/audit/verifications/{}", job.id)).map_err(Problem::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// The caller's verification jobs, newest first: `{"items": [...], "next": cursor | null}`.
async fn list_verifications(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    ok(&app
        .store
        .list::<VerificationJob>(caller.scope(), &page_request(&req)?)
        .await?)
}

/// One job of the caller's organisation; any other id, another tenant's included, is 404.
async fn verification(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let id = ctx.param("id")?;
    // Only the canonical form Quire issues (lower-case, hyphenated); anything else is no job.
    if uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .ok()
        .as_deref()
        != Some(id)
    {
        return Err(Problem::not_found());
    }
    ok(&app
        .store
        .verification(caller.scope(), id)
        .await?
        .ok_or_else(Problem::not_found)?)
}

/// One blob of the caller's trail: `{"sha256", "bytes", "content"}`. A digest the caller's
/// organisation has no blob for, another tenant's included, or any text that is not 64 lower-case
/// hex digits, is the same 404 (TEN-3).
async fn blob(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let sha256 = ctx.param("sha256")?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Problem::not_found());
    }
    let content = app
        .store
        .audit_blob(caller.scope(), sha256)
        .await?
        .ok_or_else(Problem::not_found)?;
    ok(&Blob {
        bytes: content.len(),
        sha256: sha256.to_owned(),
        content,
    })
}

/// A long value of an entry, stored beside the chain (docs/audit-format.md, "Blobs").
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Blob {
    /// SHA-256 of the content's UTF-8 bytes, lower-case hex.
    sha256: String,
    /// Length of the content in UTF-8 bytes.
    bytes: usize,
    content: String,
}
