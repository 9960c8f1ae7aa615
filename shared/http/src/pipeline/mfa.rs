//! Layer 12: the admin MFA gate (AUTHN-7). An Owner or Admin ([`quire_core::rbac::Role::requires_mfa`])
//! whose session has not passed a second factor may call only the routes declared
//! [`crate::route::Route::without_mfa`]: enrolling a TOTP authenticator, reading their own
//! account, signing out. Everything else is a 403 `mfa-required`. Whether the session passed one
//! is the session's own record (`quire_store::sessions`: a sign-in that answered Cognito's TOTP
//! challenge, or an enrolment made in the session), read with the caller: no extra read, and no
//! claim of the token a client could choose. The role is the membership's as of this request, so
//! a member promoted to Admin meets the gate on their next request. A platform operator (RBAC-6)
//! meets it whatever their membership's role.

use super::stage::Stage;
use crate::problem::Problem;
use crate::route::Matched;
use lambda_http::Request;
use quire_store::tenant::Caller;

#[derive(Clone)]
pub struct AdminMfa;

impl Stage for AdminMfa {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let (protected, open) = req
            .extensions()
            .get::<Matched>()
            .map(|m| (m.route.access.is_protected(), m.route.open_without_mfa))
            .ok_or_else(|| Problem::internal("MFA gate before route match"))?;
        if !protected || open {
            return Ok(req);
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("MFA gate before tenant context"))?;
        if (caller.role.requires_mfa() || caller.is_operator()) && !caller.session().second_factor() {
            return Err(Problem::mfa_required());
        }
        Ok(req)
    }
}
