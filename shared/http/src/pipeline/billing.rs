//! Layer 11: the organisation's subscription (ORG-1, billing). While the platform's operators
//! hold its subscription suspended, a route that writes is refused with 403
//! `subscription-suspended`; reads go on, and so do the changes that contain a compromise (the
//! routes declared open while read-only: [`crate::route::Route::while_read_only`]) and one's
//! own account (routes declared [`Access::Member`]). 403 rather than 402: RFC 9110 §15.5.3
//! reserves 402 for future use. The status came with the caller (the organisation's record,
//! read in the tenant layer's `BatchGetItem`: `quire_store::Plan`); a status that does not
//! read is suspended.

use super::stage::Stage;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use lambda_http::Request;
use quire_store::tenant::Caller;

#[derive(Clone)]
pub struct Billing;

impl Stage for Billing {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let (access, writes) = req
            .extensions()
            .get::<Matched>()
            .map(|m| (m.route.access, m.route.effect.writes() && !m.route.open_while_read_only))
            .ok_or_else(|| Problem::internal("billing before route match"))?;
        if !matches!(access, Access::Requires(_)) || !writes {
            return Ok(req);
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("billing before tenant context"))?;
        if caller.plan.subscription_suspended() {
            return Err(Problem::subscription_suspended());
        }
        Ok(req)
    }
}
