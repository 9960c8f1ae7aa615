//! The audit function: read the caller's audit trail and verify its hash chain (AUD-5).
//! It has no route that changes or deletes an entry, and no IAM right to (AUD-2).

use http::Method;
use lambda_http::Request;
use quire::audit::{Action, Target};
use quire::json::ok;
use quire::rbac::Permission::{AuditRead, AuditVerify};
use quire::route::HandlerResult;
use quire::store::PageRequest;
use quire::{Access, App, Module, RequestCtx, Route, Router};
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
    ])
    .expect("audit route table")
}

/// Entries newest first: `{"items": [...], "next": cursor | null}`.
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
