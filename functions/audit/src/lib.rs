//! The audit function: read the caller's audit trail and verify its hash chain (AUD-5).
//! It has no route that changes or deletes an entry, and no IAM right to (AUD-2).

use http::Method;
use lambda_http::Request;
use quire::audit::{Action, Target};
use quire::json::ok;
use quire::rbac::Permission::{AuditRead, AuditVerify};
use quire::route::HandlerResult;
use quire::store::PageRequest;
use quire::{Access, App, Module, Problem, RequestCtx, Route, Router};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(Method::GET, "/audit", Access::Requires(AuditRead), Module::Audit, list),
        Route::new(
            Method::GET,
            "/audit/verify",
            Access::Requires(AuditVerify),
            Module::Audit,
            verify,
        ),
        Route::new(
            Method::GET,
            "/audit/blobs/{sha256}",
            Access::Requires(AuditRead),
            Module::Audit,
            blob,
        ),
    ])
    .expect("audit route table")
}

/// Entries newest first: `{"items": [...], "next": cursor | null, "blobs": {digest: content},
/// "blobsOmitted": [digest]}` (docs/audit-format.md, "Blobs").
async fn list(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    ok(&app
        .store
        .audit_page(caller.scope(), &PageRequest::from_query(&req)?)
        .await?)
}

/// Re-walks the whole chain. The verification itself is recorded (`audit.verified`).
async fn verify(app: Arc<App>, ctx: RequestCtx, _req: Request) -> HandlerResult {
    let caller = ctx.caller()?;
    let verification = app.store.verify_chain(caller.scope()).await?;
    app.store
        .transaction(caller.scope(), ctx.audit_context()?)
        .event(
            Action::AuditVerified,
            Target::new("audit-chain", caller.org_id().as_str()),
            &verification,
        )
        .commit()
        .await?;
    ok(&verification)
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
    ok(&serde_json::json!({"sha256": sha256, "bytes": content.len(), "content": content}))
}
