//! Layer 8: the organisation's IP allowlist (ORG-3). A member's request is served only from an
//! address in one of their organisation's CIDR ranges (`quire_core::network::IpAllowlist`; an
//! empty list allows every address), else 403 `ip-not-allowed`. The address is the viewer's as
//! the edge established it ([`super::edge::Viewer`]: CloudFront's `CloudFront-Viewer-Address`
//! behind the verified origin secret, never a header the client chose). The list came with the
//! caller (the organisation's record, read in the tenant layer's `BatchGetItem`): no extra read.
//! Public routes are not checked here; a refresh is checked where it reads the organisation
//! (`quire_store::sessions`), a sign-in once its password is right (`identity::check_password`).

use super::edge::Viewer;
use super::stage::Stage;
use crate::problem::Problem;
use crate::route::Matched;
use lambda_http::Request;
use quire_store::tenant::Caller;

#[derive(Clone)]
pub struct IpAllowlist;

impl Stage for IpAllowlist {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let protected = req
            .extensions()
            .get::<Matched>()
            .map(|m| m.route.access.is_protected())
            .ok_or_else(|| Problem::internal("IP allowlist before route match"))?;
        if !protected {
            return Ok(req);
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("IP allowlist before tenant context"))?;
        if !caller.ip_allowlist.is_restricted() {
            return Ok(req);
        }
        // No viewer address: nothing to allow.
        match req.extensions().get::<Viewer>() {
            Some(viewer) if caller.ip_allowlist.allows(viewer.0) => Ok(req),
            _ => Err(Problem::ip_not_allowed()),
        }
    }
}
