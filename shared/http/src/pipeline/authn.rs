//! Layer 5: authentication (AUTHN-1). On a declared route API Gateway's authorizer already
//! checked signature, issuer and audience (its `ANY` routes have none: they only reach the 405
//! of the route match, before this layer); we verify again (defence in depth, and the same code
//! serves locally), adding what the authorizer does not: `token_use=access`, `client_id`, RS256
//! only; and the route's OAuth scopes (`Route::scopes`) against the token's `scope` claim.

use super::stage::Stage;
use crate::app::App;
use crate::auth::AuthError;
use crate::problem::Problem;
use crate::route::{Access, Matched};
use http::header::AUTHORIZATION;
use lambda_http::Request;
use std::sync::Arc;

#[derive(Clone)]
pub struct Authenticate {
    app: Arc<App>,
}

impl Authenticate {
    pub fn new(app: Arc<App>) -> Self {
        Authenticate { app }
    }
}

impl Stage for Authenticate {
    async fn check(&self, mut req: Request) -> Result<Request, Problem> {
        if matches!(
            req.extensions().get::<Matched>().map(|m| m.route.access),
            Some(Access::Public)
        ) {
            return Ok(req);
        }
        let header = req.headers().get(AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
        let token = self.app.verifier.verify(header).await.map_err(|error| match error {
            AuthError::JwksUnavailable => Problem::unavailable(error),
            other => {
                tracing::info!(reason = %other, "token refused");
                Problem::unauthorized(other.to_string())
            }
        })?;
        // The route's scopes (RFC 6750 §3.1): every one must be granted.
        let needed = req.extensions().get::<Matched>().map_or(&[][..], |m| m.route.scopes);
        if !needed
            .iter()
            .all(|scope| token.scopes.iter().any(|granted| granted == scope))
        {
            return Err(Problem::insufficient_scope(needed));
        }
        req.extensions_mut().insert(token);
        Ok(req)
    }
}
