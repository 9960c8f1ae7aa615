//! Layer 14, for operators: break-glass access (RBAC-6). A platform operator's request carrying
//! `Quire-Break-Glass: <orgId>` is served in that organisation, read-only, if the operator's
//! session has a break-glass session into it (`POST /operator/organisations/{orgId}/break-glass`,
//! `quire_store::break_glass`). The request is recorded in the organisation's trail and the
//! platform's before it is served (`operator.break-glass.request`); from here on the caller is
//! the operator in that organisation, with the read permissions of its Admin role, recorded as
//! `PlatformOperator`.
//!
//! Why the header cannot be forged: like `Quire-Impersonate`, it only names; what grants is the
//! break-glass record, which only the operators' route writes, looked up under the verified
//! token's own `sub` and `origin_jti`; and the caller must be an operator twice over (the
//! operators' organisation, and the operators' Cognito group in the verified token).
//!
//! The earlier layers judged the operator (their session, password age, second factor, their
//! own organisation's allowlist); the organisation's own allowlist, billing and plan bind its
//! members, not the platform's support, and are not applied. A pending, locked or closed
//! organisation serves no records.

use super::stage::Stage;
use crate::app::App;
use crate::auth::VerifiedToken;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use http::HeaderName;
use lambda_http::Request;
use quire_core::ids::OrgId;
use quire_core::rbac::OPERATORS_GROUP;
use quire_store::break_glass::BreakGlassRefused;
use quire_store::tenant::Caller;
use quire_store::StoreError;
use std::sync::Arc;

/// The request header naming the organisation a break-glass session opened: its id.
pub const BREAK_GLASS: HeaderName = HeaderName::from_static("quire-break-glass");

#[derive(Clone)]
pub struct BreakGlass {
    app: Arc<App>,
}

impl BreakGlass {
    pub fn new(app: Arc<App>) -> Self {
        BreakGlass { app }
    }
}

impl Stage for BreakGlass {
    async fn check(&self, mut req: Request) -> Result<Request, Problem> {
        let mut named = req.headers().get_all(&BREAK_GLASS).iter();
        let Some(value) = named.next() else {
            return Ok(req);
        };
        if named.next().is_some() {
            return Err(Problem::bad_request("send Quire-Break-Glass once"));
        }
        if req.headers().contains_key(super::impersonation::IMPERSONATE) {
            return Err(Problem::bad_request(
                "send Quire-Break-Glass or Quire-Impersonate, not both",
            ));
        }
        let org = value
            .to_str()
            .ok()
            .and_then(|text| OrgId::parse(text).ok())
            .ok_or_else(|| Problem::bad_request("Quire-Break-Glass: not an organisation id"))?;
        let route = req
            .extensions()
            .get::<Matched>()
            .map(|m| m.route.clone())
            .ok_or_else(|| Problem::internal("break-glass before route match"))?;
        if !matches!(route.access, Access::Requires(_)) {
            return Err(Problem::break_glass_not_here());
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("break-glass before tenant context"))?;
        let in_group = req
            .extensions()
            .get::<VerifiedToken>()
            .is_some_and(|token| token.groups.iter().any(|g| g == OPERATORS_GROUP));
        if !caller.is_operator() || !in_group {
            return Err(Problem::operators_only());
        }
        if route.effect.writes() {
            tracing::warn!(operator = %caller.user_id, %org, route = %route.key(), "break-glass write refused");
            return Err(Problem::break_glass_read_only());
        }
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let inside = self
            .app
            .store
            .break_glass(caller, &org, super::origin(&req), &route.key(), &target)
            .await
            .map_err(|error| match error {
                StoreError::Aws(_) | StoreError::Contended => Problem::unavailable(error),
                other => Problem::from(other),
            })?
            .inspect_err(|refused| {
                tracing::warn!(operator = %caller.user_id, %org, ?refused, "break-glass request refused");
            })
            .map_err(|refused| match refused {
                BreakGlassRefused::NotServing => {
                    Problem::break_glass_inactive("the organisation serves no records now (pending, locked or closed)")
                }
                _ => Problem::break_glass_inactive(
                    "this session has no break-glass session into that organisation that still \
                     opens it: it was closed, ran out, or was never opened in this session",
                ),
            })?;
        tracing::info!(operator = %caller.user_id, org = %org, "break-glass request");
        req.extensions_mut().insert(inside);
        Ok(req)
    }
}
