//! Layer 10: password expiry (AUTHN-4). A member whose password is older than
//! [`quire_core::password::MAX_AGE`] (or whose password Quire has no date for) may call only the
//! routes declared [`crate::route::Route::while_password_expired`]: changing the password,
//! reading their own account, signing out. Everything else is a 403 `password-expired`. The date
//! came with the caller (`quire_store::tenant::Caller::password_changed_at`): no extra read.

use super::stage::Stage;
use crate::problem::Problem;
use crate::route::Matched;
use lambda_http::Request;
use quire_store::tenant::Caller;
use std::time::SystemTime;

#[derive(Clone)]
pub struct PasswordExpiry;

impl Stage for PasswordExpiry {
    async fn check(&self, req: Request) -> Result<Request, Problem> {
        let route = req
            .extensions()
            .get::<Matched>()
            .map(|m| (m.route.access.is_protected(), m.route.open_while_password_expired))
            .ok_or_else(|| Problem::internal("password expiry before route match"))?;
        let (protected, open) = route;
        if !protected || open {
            return Ok(req);
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("password expiry before tenant context"))?;
        if caller.password_expired(SystemTime::now()) {
            return Err(Problem::password_expired());
        }
        Ok(req)
    }
}
