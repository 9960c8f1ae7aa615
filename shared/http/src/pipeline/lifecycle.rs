//! Layer 7: the organisation's lifecycle (ORG-1). What its status means as the request is
//! served (`quire_store::Lifecycle`, which came with the caller from the tenant layer's reads:
//! no extra read) decides which of its members' routes run:
//!
//! | lifecycle | served | refused with |
//! |---|---|---|
//! | active, trial | everything the role allows | – |
//! | trial ended (14 days), suspended | reads; a route that writes only on one's own account | 403 `trial-ended`, `organisation-suspended` |
//! | pending, locked | one's own account only | 403 `organisation-pending`, `organisation-locked` |
//! | closed | nothing (the tenant layer refused it) | 403 `no-membership` |
//!
//! "One's own account" is every route declared [`Access::Member`]: reading `/auth/me`, signing
//! out, the password, the second factor. A route "writes" as the route table declares
//! ([`crate::route::Effect`]), unless it is declared open while read-only
//! ([`crate::route::Route::while_read_only`]: the changes that contain a compromise).

use super::stage::Stage;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use lambda_http::Request;
use quire_store::tenant::Caller;
use quire_store::Lifecycle;

#[derive(Clone)]
pub struct OrganisationLifecycle;

impl Stage for OrganisationLifecycle {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let (access, writes) = req
            .extensions()
            .get::<Matched>()
            .map(|m| (m.route.access, m.route.effect.writes() && !m.route.open_while_read_only))
            .ok_or_else(|| Problem::internal("lifecycle before route match"))?;
        if !matches!(access, Access::Requires(_)) {
            return Ok(req);
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("lifecycle before tenant context"))?;
        match caller.lifecycle {
            Lifecycle::Active | Lifecycle::Trial { .. } => Ok(req),
            Lifecycle::TrialEnded { .. } if writes => Err(Problem::trial_ended()),
            Lifecycle::Suspended if writes => Err(Problem::organisation_suspended()),
            Lifecycle::TrialEnded { .. } | Lifecycle::Suspended => Ok(req),
            Lifecycle::Pending => Err(Problem::organisation_pending()),
            Lifecycle::Locked => Err(Problem::organisation_locked()),
            Lifecycle::Closed => Err(Problem::not_member()),
        }
    }
}
