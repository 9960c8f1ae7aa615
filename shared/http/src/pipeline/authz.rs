//! Layer 15: authorisation. The route's declared permission against the caller's current role,
//! in their organisation's permission matrix (RBAC-1: the default, with what it adjusted; read
//! with the organisation's record in the tenant layer's reads).

use super::stage::Stage;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use lambda_http::Request;
use quire_store::tenant::Caller;

#[derive(Clone)]
pub struct Authorize;

impl Stage for Authorize {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let access = req
            .extensions()
            .get::<Matched>()
            .map(|m| m.route.access)
            .ok_or_else(|| Problem::internal("authorisation before route match"))?;
        match access {
            Access::Public => Ok(req),
            // The tenant layer found an active membership and a live session: that is all.
            Access::Member => Ok(req),
            Access::Requires(permission) => {
                let caller = req
                    .extensions()
                    .get::<Caller>()
                    .ok_or_else(|| Problem::internal("authorisation before tenant context"))?;
                if caller.grants(permission) {
                    Ok(req)
                } else {
                    Err(Problem::forbidden(format!(
                        "the {} role does not grant {permission:?}",
                        caller.role.as_str()
                    )))
                }
            }
        }
    }
}
