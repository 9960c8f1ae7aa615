//! Layer 6: tenant context (TEN-1, TEN-6). The organisation comes from Quire's membership
//! record for the verified token's `sub`, read on every request (at most two reads), so a
//! suspended or removed member, or a closed organisation, is refused on the very next request.

use super::stage::Stage;
use crate::app::App;
use crate::auth::VerifiedToken;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use lambda_http::Request;
use quire_core::ids::UserId;
use quire_store::StoreError;
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
        let token = req
            .extensions()
            .get::<VerifiedToken>()
            .ok_or_else(|| Problem::internal("tenant layer before authentication"))?;
        let user = UserId::parse(&token.sub).map_err(|_| Problem::unauthorized("token subject is not valid"))?;
        let caller = self
            .app
            .store
            .load_caller(&user)
            .await
            // A storage call that failed may succeed on retry (503); a record that does not
            // parse will not (500, no Retry-After).
            .map_err(|error| match error {
                StoreError::Aws(_) => Problem::unavailable(error),
                other => Problem::from(other),
            })?
            .ok_or_else(Problem::not_member)?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}
