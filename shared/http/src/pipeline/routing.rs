//! Route match: finds the request's declaration in the function's route table. Unknown
//! paths are 404 and known paths with another method 405, before anything else is read.

use super::stage::Stage;
use crate::problem::Problem;
use crate::route::{RouteError, Router};
use lambda_http::Request;
use std::sync::Arc;

#[derive(Clone)]
pub struct MatchRoute {
    router: Arc<Router>,
}

impl MatchRoute {
    pub fn new(router: Arc<Router>) -> Self {
        MatchRoute { router }
    }
}

impl Stage for MatchRoute {
    async fn check(&self, mut req: Request) -> Result<Request, Problem> {
        let matched = self.router.find(req.method(), req.uri().path()).map_err(|e| match e {
            RouteError::NotFound => Problem::not_found(),
            RouteError::MethodNotAllowed(allowed) => Problem::method_not_allowed(&allowed),
        })?;
        // The catch-all exists so that unknown paths get our headers too; nothing else runs for them.
        if matched.route.is_catch_all() {
            return Err(Problem::not_found());
        }
        req.extensions_mut().insert(matched);
        Ok(req)
    }
}
