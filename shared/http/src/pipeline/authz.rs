//! Layer 15: authorisation. The route's declared permission against the caller's current role,
//! in their organisation's permission matrix (RBAC-1: the default, with what it adjusted; read
//! with the organisation's record in the tenant layer's reads).
//!
//! Platform operators (RBAC-6) are apart: an operator's route needs a member of the operators'
//! organisation whose verified token carries the operators' Cognito group (two grants, made by
//! different hands: provisioning writes the membership, the pool's administrators the group);
//! an organisation's route refuses them (403 `not-for-operators`), and an operator's route
//! refuses everyone else (403 `operators-only`). Their own account (`Access::Member`) is theirs.

use super::stage::Stage;
use crate::auth::VerifiedToken;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use lambda_http::Request;
use quire_core::rbac::OPERATORS_GROUP;
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
        if access == Access::Public {
            return Ok(req);
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("authorisation before tenant context"))?;
        match access {
            Access::Public => Ok(req),
            // The tenant layer found an active membership and a live session: that is all.
            Access::Member => Ok(req),
            Access::Operator => {
                let in_group = req
                    .extensions()
                    .get::<VerifiedToken>()
                    .is_some_and(|token| token.groups.iter().any(|g| g == OPERATORS_GROUP));
                if caller.is_operator() && in_group {
                    Ok(req)
                } else {
                    Err(Problem::operators_only())
                }
            }
            Access::Requires(_) if caller.is_operator() => Err(Problem::not_for_operators()),
            Access::Requires(permission) => {
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
