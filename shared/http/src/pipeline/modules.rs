//! Layer 13: the organisation's plan (ORG-2, modules). Each route belongs to a
//! [`crate::route::Module`]; a route of a module the organisation's plan does not include is
//! refused with 403 `module-not-in-plan`, whatever the caller's role. The platform's own routes
//! (sign-in, members, the organisation's settings) are in every plan. The plan came with the
//! caller (the organisation's record, read in the tenant layer's `BatchGetItem`:
//! `quire_store::Plan`); one that does not read includes only the platform's routes.

use super::stage::Stage;
use crate::problem::Problem;
use crate::route::Matched;
use lambda_http::Request;
use quire_store::tenant::Caller;

#[derive(Clone)]
pub struct Modules;

impl Stage for Modules {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let (protected, module) = req
            .extensions()
            .get::<Matched>()
            .map(|m| (m.route.access.is_protected(), m.route.module))
            .ok_or_else(|| Problem::internal("modules before route match"))?;
        if !protected {
            return Ok(req);
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("modules before tenant context"))?;
        if caller.plan.includes(module.as_str()) {
            Ok(req)
        } else {
            Err(Problem::module_not_in_plan(module.as_str()))
        }
    }
}
