//! Layer 6: tenant context (TEN-1, TEN-6) and session (AUTHN-2, AUTHN-8). The organisation comes
//! from Quire's membership record for the verified token's `sub`, and the session from its
//! `origin_jti`, read on every request (two round trips), so a suspended or removed member, a
//! closed organisation, or a signed-out, revoked or expired session is refused on the very next
//! request.

use super::stage::Stage;
use crate::app::App;
use crate::auth::VerifiedToken;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use lambda_http::Request;
use quire_core::ids::UserId;
use quire_store::sessions::{SessionId, SessionRefused};
use quire_store::{CallerRefused, StoreError};
use std::sync::Arc;

#[derive(Clone)]
pub struct ResolveTenant {
    app: Arc<App>,
}

impl ResolveTenant {
    pub fn new(app: Arc<App>) -> Self {
        ResolveTenant { app }
    }
}

impl Stage for ResolveTenant {
    async fn check(&self, mut req: Request) -> Result<Request, Problem> {
        if matches!(
            req.extensions().get::<Matched>().map(|m| m.route.access),
            Some(Access::Public)
        ) {
            return Ok(req);
        }
        // A token without a session id is no sign-in of Quire's; a session is judged after the
        // membership (`Store::load_caller`), so a removed member hears that first.
        let token = req
            .extensions()
            .get::<VerifiedToken>()
            .ok_or_else(|| Problem::internal("tenant layer before authentication"))?;
        let user = UserId::parse(&token.sub).map_err(|_| Problem::unauthorized("token subject is not valid"))?;
        let session = token
            .origin_jti
            .as_deref()
            .and_then(SessionId::parse)
            .ok_or_else(|| Problem::unauthorized("the token names no session"))?;
        let caller = self
            .app
            .store
            .load_caller(&user, &session)
            .await
            // A storage call that failed may succeed on retry (503); a record that does not
            // parse will not (500, no Retry-After).
            .map_err(|error| match error {
                StoreError::Aws(_) => Problem::unavailable(error),
                other => Problem::from(other),
            })?
            .map_err(|refused| match refused {
                CallerRefused::NotMember => Problem::not_member(),
                CallerRefused::Session(SessionRefused::Expired) => Problem::session_expired(),
                CallerRefused::Session(SessionRefused::Revoked | SessionRefused::Unknown) => Problem::token_revoked(),
            })?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}
