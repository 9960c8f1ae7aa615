//! Route tables: every route is declared once with its method, path, access, module, whether
//! it writes, and its body limit (RBAC-2). The pipeline reads these declarations; nothing else
//! decides who may call a route.

use crate::app::App;
use crate::context::RequestCtx;
use crate::problem::Problem;
use crate::rbac::Permission;
use futures::future::BoxFuture;
use http::Method;
use lambda_http::{Body, Request, Response};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Who may call a route. There is no default: a route without one cannot be declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (health, login). Declared explicitly so it is a decision, not an omission.
    Public,
    /// A verified token, an active membership, and this permission in the caller's role.
    Requires(Permission),
}

/// The product module a route belongs to (plan gating comes with organisation billing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Platform,
    Documents,
    Audit,
}

pub type HandlerResult = Result<Response<Body>, Problem>;
type Handler = Arc<dyn Fn(Arc<App>, RequestCtx, Request) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// Bodies are refused unless a route opts in with [`Route::accepts_body`].
pub const NO_BODY: usize = 0;

#[derive(Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub module: Module,
    pub writes: bool,
    pub body_limit: usize,
    handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {:?} {:?} writes={}",
            self.method, self.path, self.access, self.module, self.writes
        )
    }
}

impl Route {
    /// Declares a route. `access` is mandatory; `writes` follows from the permission.
    pub fn new<F, Fut>(method: Method, path: &'static str, access: Access, module: Module, handler: F) -> Self
    where
        F: Fn(Arc<App>, RequestCtx, Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let writes = matches!(access, Access::Requires(p) if p.writes());
        Route {
            method,
            path,
            access,
            module,
            writes,
            body_limit: NO_BODY,
            handler: Arc::new(move |app, ctx, req| Box::pin(handler(app, ctx, req))),
        }
    }

    /// Lets the route take a JSON body of at most `limit` bytes (HTTP-2).
    pub fn accepts_body(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    pub(crate) fn call(&self, app: Arc<App>, ctx: RequestCtx, req: Request) -> BoxFuture<'static, HandlerResult> {
        (self.handler)(app, ctx, req)
    }

    /// True for a greedy `/{proxy+}` route, which answers only what no other route matches.
    pub fn is_catch_all(&self) -> bool {
        self.path.ends_with("+}")
    }

    /// `GET /documents/{id}` — the API Gateway route key.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The result of matching a request path against a route table.
#[derive(Debug, Clone)]
pub struct Matched {
    pub route: Route,
    pub params: HashMap<String, String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    MethodNotAllowed,
}

#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds a router, refusing duplicate or malformed declarations.
    pub fn new(routes: Vec<Route>) -> Result<Self, String> {
        let mut seen = std::collections::HashSet::new();
        for route in &routes {
            if !route.path.starts_with('/') || route.path.contains("//") {
                return Err(format!("malformed path in route {}", route.key()));
            }
            if !seen.insert(route.key()) {
                return Err(format!("route {} declared twice", route.key()));
            }
            if route.writes && route.method == Method::GET {
                return Err(format!("route {} writes on GET", route.key()));
            }
        }
        Ok(Router { routes })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a request. Declared routes win; a method mismatch on a declared path
    /// is 405; a catch-all (`ANY /{proxy+}`) answers only what no declared route matches.
    pub fn find(&self, method: &Method, path: &str) -> Result<Matched, RouteError> {
        let mut path_matched = false;
        for route in self.routes.iter().filter(|r| !r.is_catch_all()) {
            if let Some(params) = match_path(route.path, path) {
                if route.method == *method {
                    return Ok(Matched {
                        route: route.clone(),
                        params,
                    });
                }
                path_matched = true;
            }
        }
        if path_matched {
            return Err(RouteError::MethodNotAllowed);
        }
        for route in self.routes.iter().filter(|r| r.is_catch_all()) {
            if let Some(params) = match_path(route.path, path) {
                if route.method == *method || route.method.as_str() == ANY {
                    return Ok(Matched {
                        route: route.clone(),
                        params,
                    });
                }
            }
        }
        Err(RouteError::NotFound)
    }
}

/// The method of a catch-all route, as API Gateway spells it.
pub const ANY: &str = "ANY";

/// Matches `/documents/{id}` against `/documents/abc`. A trailing slash is a different path.
fn match_path(pattern: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                    // Greedy: the rest of the path, at least one segment.
                    let rest: Vec<&str> = std::iter::once(s).chain(path_parts.by_ref()).collect();
                    if s.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), rest.join("/"));
                    return Some(params);
                }
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), s.to_owned());
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn noop(_: Arc<App>, _: RequestCtx, _: Request) -> HandlerResult {
        Ok(Response::new(Body::Empty))
    }

    fn table() -> Router {
        Router::new(vec![
            Route::new(
                Method::GET,
                "/documents",
                Access::Requires(Permission::DocumentRead),
                Module::Documents,
                noop,
            ),
            Route::new(
                Method::GET,
                "/documents/{id}",
                Access::Requires(Permission::DocumentRead),
                Module::Documents,
                noop,
            ),
            Route::new(
                Method::PATCH,
                "/documents/{id}",
                Access::Requires(Permission::DocumentEdit),
                Module::Documents,
                noop,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn matches_paths_and_params() {
        let router = table();
        let m = router.find(&Method::GET, "/documents/abc").unwrap();
        assert_eq!(m.params["id"], "abc");
        assert!(m.route.access == Access::Requires(Permission::DocumentRead));
        assert!(router.find(&Method::PATCH, "/documents/abc").unwrap().route.writes);
        assert_eq!(
            router.find(&Method::DELETE, "/documents/abc").unwrap_err(),
            RouteError::MethodNotAllowed
        );
        assert_eq!(
            router.find(&Method::GET, "/documents/abc/x").unwrap_err(),
            RouteError::NotFound
        );
        assert_eq!(
            router.find(&Method::GET, "/documents/").unwrap_err(),
            RouteError::NotFound
        );
        assert_eq!(router.find(&Method::GET, "/.env").unwrap_err(), RouteError::NotFound);
    }

    #[test]
    fn catch_all_answers_only_the_undeclared() {
        let mut routes = table().routes().to_vec();
        routes.push(Route::new(
            Method::from_bytes(ANY.as_bytes()).unwrap(),
            "/{proxy+}",
            Access::Public,
            Module::Platform,
            noop,
        ));
        let router = Router::new(routes).unwrap();
        assert!(!router
            .find(&Method::GET, "/documents/abc")
            .unwrap()
            .route
            .is_catch_all());
        assert_eq!(
            router.find(&Method::DELETE, "/documents/abc").unwrap_err(),
            RouteError::MethodNotAllowed
        );
        let caught = router.find(&Method::POST, "/wp-admin/setup.php").unwrap();
        assert!(caught.route.is_catch_all());
        assert_eq!(caught.params["proxy"], "wp-admin/setup.php");
        assert_eq!(router.find(&Method::GET, "/").unwrap_err(), RouteError::NotFound);
    }

    #[test]
    fn refuses_duplicate_declarations() {
        let twice = vec![
            Route::new(Method::GET, "/health", Access::Public, Module::Platform, noop),
            Route::new(Method::GET, "/health", Access::Public, Module::Platform, noop),
        ];
        assert!(Router::new(twice).is_err());
    }
}
