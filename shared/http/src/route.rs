//! Route tables: every route is declared once with its method, path, access, module, what it
//! does to stored data ([`Effect`]: reads, or writes and records these audit actions), and its
//! body limit (RBAC-2). The pipeline reads these declarations; nothing else decides who may call
//! a route or what it may record.

use crate::app::App;
use crate::context::RequestCtx;
use crate::problem::Problem;
use futures::future::BoxFuture;
use http::Method;
use lambda_http::{Body, Request, Response};
use quire_core::audit::Action;
use quire_core::rbac::Permission;
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
    /// A platform operator (RBAC-6): a verified token carrying the operators' Cognito group
    /// ([`quire_core::rbac::OPERATORS_GROUP`]) and an active membership of the operators'
    /// organisation (`OrgId::operators`). Such a route may record only operators' actions
    /// ([`Action::OPERATOR`]), and no other route may record them.
    Operator,
    /// A verified token and an active membership, whatever the role: what every member may do
    /// to their own account (sign out, revoke their own sessions, change their password). Such a
    /// route may record only events of one's own account ([`Action::OWN_ACCOUNT`]), so this
    /// cannot open a tenant write to a Viewer (RBAC-3).
    Member,
}

impl Access {
    /// Whether the route needs a verified token and a membership.
    pub fn is_protected(self) -> bool {
        !matches!(self, Access::Public)
    }
}

/// The product module a route belongs to (plan gating comes with organisation billing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Platform,
    Documents,
    Audit,
}

impl Module {
    /// The modules a plan lists (ORG-2); the platform's own routes are in every plan.
    pub const IN_PLANS: [Module; 2] = [Module::Documents, Module::Audit];

    /// The module a plan names (exactly [`Module::as_str`]), if a plan may list it.
    pub fn in_plans(name: &str) -> Option<Module> {
        Module::IN_PLANS.into_iter().find(|module| module.as_str() == name)
    }

    /// The module's name in an organisation's plan (`quire_store::Plan`).
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Platform => quire_store::Plan::PLATFORM,
            Module::Documents => "Documents",
            Module::Audit => "Audit",
        }
    }
}

/// What a route does to stored data: declared with the route, never inferred from its
/// permission. A reading route's handler gets no audit context, so it cannot commit a change;
/// a writing route's transactions may record only the actions it declares (AUD-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Reads,
    /// Reads, and records that it did (FILE-3: a download, an export) with these actions (at
    /// least one): its handler's audit context records events only, never a change of a record
    /// (`AuditContext::events_only`). A read as far as every other layer is concerned (allowed
    /// on GET, while an organisation is read-only, in a break-glass session).
    Records(&'static [Action]),
    /// Writes, recording these actions (at least one; the router refuses an empty list).
    Writes(&'static [Action]),
}

impl Effect {
    pub fn writes(self) -> bool {
        matches!(self, Effect::Writes(_))
    }

    /// The audit actions the route may record (none for a reading route).
    pub fn actions(self) -> &'static [Action] {
        match self {
            Effect::Reads => &[],
            Effect::Records(actions) | Effect::Writes(actions) => actions,
        }
    }
}

pub type HandlerResult = Result<Response<Body>, Problem>;
type Handler = Arc<dyn Fn(Arc<App>, RequestCtx, Request) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// The query parameters of a paginated listing.
pub const PAGE_QUERY: &[&str] = &["limit", "cursor"];

/// The scope every protected route needs unless it declares others: the one Cognito grants the
/// app client's access tokens for its user APIs (the only scope password sign-in issues).
pub const DEFAULT_SCOPES: &[&str] = &["aws.cognito.signin.user.admin"];

/// Bodies are refused unless a route opts in with [`Route::accepts_body`].
pub const NO_BODY: usize = 0;

#[derive(Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub module: Module,
    pub effect: Effect,
    pub body_limit: usize,
    /// Whether the route honours `Idempotency-Key` ([`Route::takes_idempotency_key`]); the
    /// request filter refuses the header elsewhere.
    pub takes_idempotency_key: bool,
    /// The query parameters the route reads ([`Route::pages`]); the request filter refuses any
    /// other, so a misspelt parameter is an error, not silently ignored.
    pub query: &'static [&'static str],
    /// The JSON schemas of the request and success bodies, for the OpenAPI document
    /// ([`Route::request_schema`], [`Route::response_schema`]).
    pub request_schema: Option<SchemaOf>,
    pub response_schema: Option<SchemaOf>,
    /// Problem answers of this route beyond those every route of its kind can give
    /// (`(status, description)`, [`Route::problem`]).
    pub problems: Vec<(&'static str, &'static str)>,
    /// The OAuth scopes a token must grant to call the route ([`Route::scopes`]; by default
    /// [`DEFAULT_SCOPES`]), checked by the authentication layer.
    pub scopes: &'static [&'static str],
    /// Whether the body may be left out ([`Route::optional_body`]).
    pub body_optional: bool,
    /// Whether a member whose password has expired may call it ([`Route::while_password_expired`]).
    pub open_while_password_expired: bool,
    /// Whether an Owner or Admin whose session has not passed a second factor may call it
    /// ([`Route::without_mfa`]).
    pub open_without_mfa: bool,
    /// Whether it writes even while its organisation is read-only ([`Route::while_read_only`]).
    pub open_while_read_only: bool,
    /// Whether its success is a file's bytes rather than JSON ([`Route::serves_file`]).
    pub serves_file: bool,
    /// Media types its success may take besides JSON: a file made for the request
    /// ([`Route::generates`]).
    pub generates: &'static [&'static str],
    handler: Handler,
}

/// Adds a type's schema, and those it refers to, to a component list; returns its name.
pub type SchemaOf = fn(&mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) -> String;

fn schema_of<T: utoipa::ToSchema>(
    components: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
) -> String {
    let name = component_name(T::name().as_ref(), std::any::type_name::<T>());
    components.push((name.clone(), T::schema()));
    T::schemas(components);
    name
}

/// utoipa names a generic type by its bare name (`Page`), so `Page<Document>` and
/// `Page<VerificationJob>` would share one component: append the type arguments' names
/// (`Page_Document`), as utoipa does for generics it composes itself.
fn component_name(name: &str, type_name: &str) -> String {
    let Some((_, arguments)) = type_name.split_once('<') else {
        return name.to_owned();
    };
    let mut composed = name.to_owned();
    for argument in arguments.split(['<', '>', ',']) {
        let last = argument.trim().rsplit("::").next().unwrap_or_default();
        if !last.is_empty() {
            composed.push('_');
            composed.push_str(last);
        }
    }
    composed
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {:?} {:?} {:?}",
            self.method, self.path, self.access, self.module, self.effect
        )
    }
}

impl Route {
    /// Declares a route. `access` and `effect` are mandatory: each is a decision.
    pub fn new<F, Fut>(
        method: Method,
        path: &'static str,
        access: Access,
        module: Module,
        effect: Effect,
        handler: F,
    ) -> Self
    where
        F: Fn(Arc<App>, RequestCtx, Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        Route {
            method,
            path,
            access,
            module,
            effect,
            body_limit: NO_BODY,
            takes_idempotency_key: false,
            query: &[],
            request_schema: None,
            response_schema: None,
            problems: Vec::new(),
            serves_file: false,
            generates: &[],
            open_while_password_expired: false,
            open_while_read_only: false,
            open_without_mfa: false,
            body_optional: false,
            scopes: DEFAULT_SCOPES,
            handler: Arc::new(move |app, ctx, req| Box::pin(handler(app, ctx, req))),
        }
    }

    /// Keeps the route open to a member whose password has expired (AUTHN-4): only changing the
    /// password, reading one's own account and signing out are (`pipeline::password`).
    pub fn while_password_expired(mut self) -> Self {
        self.open_while_password_expired = true;
        self
    }

    /// Keeps a writing route open while its organisation is read-only (ORG-1: a trial ended, a
    /// suspension): only the changes that contain a compromise are (ending a member's sessions,
    /// deactivating them or changing their role, tightening the organisation's settings), so
    /// that a read-only organisation is never one whose administrators cannot lock a door
    /// (`pipeline::lifecycle`; a guardrail test holds the list).
    pub fn while_read_only(mut self) -> Self {
        self.open_while_read_only = true;
        self
    }

    /// Keeps the route open to an Owner or Admin whose session has not passed a second factor
    /// (AUTHN-7): only enrolling one, reading one's own account and signing out are
    /// (`pipeline::mfa`).
    pub fn without_mfa(mut self) -> Self {
        self.open_without_mfa = true;
        self
    }

    /// Declares the OAuth scopes a token must grant to call the route (instead of
    /// [`DEFAULT_SCOPES`]).
    pub fn scopes(mut self, scopes: &'static [&'static str]) -> Self {
        self.scopes = scopes;
        self
    }

    /// Declares the route's body optional (the OpenAPI document says so; the handler reads an
    /// absent body as no input).
    pub fn optional_body(mut self) -> Self {
        self.body_optional = true;
        self
    }

    /// Lets the route take a JSON body of at most `limit` bytes (HTTP-2).
    pub fn accepts_body(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// Describes the request body as `T` in the OpenAPI document.
    pub fn request_schema<T: utoipa::ToSchema>(mut self) -> Self {
        self.request_schema = Some(schema_of::<T>);
        self
    }

    /// Declares a problem answer particular to this route, for the OpenAPI document (e.g. the
    /// login's 401 for a wrong password).
    pub fn problem(mut self, status: &'static str, description: &'static str) -> Self {
        self.problems.push((status, description));
        self
    }

    /// Describes the success body as `T` in the OpenAPI document.
    pub fn response_schema<T: utoipa::ToSchema>(mut self) -> Self {
        self.response_schema = Some(schema_of::<T>);
        self
    }

    /// Declares that a success answers a stored file's bytes (`crate::download`: 200 or 206,
    /// one `Range` honoured), not JSON.
    pub fn serves_file(mut self) -> Self {
        self.serves_file = true;
        self
    }

    /// Declares that a success is a file made for the request (an export,
    /// `crate::download::Generated`: `Content-Disposition`, `ETag`, `Repr-Digest`, served whole),
    /// as JSON ([`Route::response_schema`]) or as one of `other_media_types`, as the request
    /// asks.
    pub fn generates(mut self, other_media_types: &'static [&'static str]) -> Self {
        self.generates = other_media_types;
        self
    }

    /// Declares a paginated listing: it reads `limit` and `cursor` (`crate::json::page_request`).
    pub fn pages(mut self) -> Self {
        self.query = PAGE_QUERY;
        self
    }

    /// Declares the query parameters the route reads (`crate::json::query`); with
    /// [`Route::pages`] first, a listing's filters beside `limit` and `cursor`.
    pub fn reads_query(mut self, names: &'static [&'static str]) -> Self {
        self.query = names;
        self
    }

    /// Declares that the handler honours `Idempotency-Key` (`crate::conditional`).
    pub fn takes_idempotency_key(mut self) -> Self {
        self.takes_idempotency_key = true;
        self
    }

    pub(crate) fn call(&self, app: Arc<App>, ctx: RequestCtx, req: Request) -> BoxFuture<'static, HandlerResult> {
        (self.handler)(app, ctx, req)
    }

    /// True for an `ANY` route (`ANY /{proxy+}`, `ANY /`): it answers only what no declared
    /// route matches, with a 404.
    pub fn is_catch_all(&self) -> bool {
        self.method.as_str() == ANY
    }

    /// What is wrong with the route's declaration, if anything: a writing route without an
    /// audit action, a write on GET or HEAD, a route that needs a write permission but says it
    /// only reads, or a writing route that needs a permission a Viewer may hold (RBAC-3) beyond
    /// their own sessions.
    pub fn contradiction(&self) -> Option<String> {
        let key = self.key();
        match (self.effect, self.access) {
            (Effect::Writes([]), _) => Some(format!("route {key} writes but records no audit action")),
            (Effect::Records([]), _) => Some(format!("route {key} records access but names no audit action")),
            (Effect::Records(actions), _) if actions.iter().any(|a| Action::OPERATOR.contains(a)) => Some(format!(
                "route {key} records an operator's action as an access (RBAC-6)"
            )),
            (Effect::Writes(_), _) if self.method == Method::GET || self.method == Method::HEAD => {
                Some(format!("route {key} writes on {}", self.method))
            }
            (Effect::Reads, Access::Requires(p)) if p.writes() => Some(format!(
                "route {key} requires {p:?}, a write permission, but declares that it reads"
            )),
            // A Viewer may never hold a write permission, whatever the matrix (RBAC-3): so a
            // writing route must require one.
            (Effect::Writes(_), Access::Requires(p)) if !p.writes() => Some(format!(
                "route {key} writes, and {p:?} is not a write permission: a Viewer may hold it (RBAC-3)"
            )),
            (Effect::Writes(actions), Access::Member) if !actions.iter().all(|a| Action::OWN_ACCOUNT.contains(a)) => {
                Some(format!(
                    "route {key} is open to every member and writes more than their own account's events (RBAC-3)"
                ))
            }
            (Effect::Writes(actions), Access::Operator) if !actions.iter().all(|a| Action::OPERATOR.contains(a)) => {
                Some(format!(
                    "route {key} is an operator's and records more than operators' actions (RBAC-6)"
                ))
            }
            (Effect::Writes(actions), _)
                if self.access != Access::Operator && actions.iter().any(|a| Action::OPERATOR.contains(a)) =>
            {
                Some(format!(
                    "route {key} records an operator's action but is not declared for operators (RBAC-6)"
                ))
            }
            _ => None,
        }
    }

    /// Whether a request may be served as a member an administrator impersonates (RBAC-5,
    /// `pipeline::impersonation`): a route of the organisation's records that does not
    /// administer it. One's own account, the operators' routes, the public ones and those that
    /// administer the organisation (its members, settings, and impersonating itself) act as
    /// whoever signed in. Nor does signing electronically (`Permission::signs`): a signature
    /// is its signer's own act, proved with their own password.
    pub fn accepts_impersonation(&self) -> bool {
        matches!(self.access, Access::Requires(p) if !p.administers() && !p.signs())
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
    /// The path is declared, not with this method; the methods it has, for `Allow`
    /// (RFC 9110 §15.5.6).
    MethodNotAllowed(Vec<Method>),
}

#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds a router, refusing duplicate, malformed or contradictory
    /// ([`Route::contradiction`]) declarations.
    pub fn new(routes: Vec<Route>) -> Result<Self, String> {
        let mut seen = std::collections::HashSet::new();
        for route in &routes {
            let key = route.key();
            if !route.path.starts_with('/') || route.path.contains("//") {
                return Err(format!("malformed path in route {key}"));
            }
            if !seen.insert(key.clone()) {
                return Err(format!("route {key} declared twice"));
            }
            if let Some(why) = route.contradiction() {
                return Err(why);
            }
        }
        Ok(Router { routes })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes API Gateway must send to this function: every declared route, and for each
    /// declared path an `ANY` route, so that another method on it reaches the function that
    /// answers 405 with `Allow` (API Gateway prefers a method's own route to `ANY` on the same
    /// path). `(route key, public)`; the `ANY` routes are public because all they can answer is
    /// the 405, before authentication.
    pub fn gateway_routes(&self) -> Vec<(String, bool)> {
        let mut keys: Vec<(String, bool)> = self
            .routes
            .iter()
            .map(|r| (r.key(), r.access == Access::Public))
            .collect();
        for route in self.routes.iter().filter(|r| !r.is_catch_all()) {
            let any = format!("{ANY} {}", route.path);
            if !keys.iter().any(|(k, _)| *k == any) {
                keys.push((any, true));
            }
        }
        keys
    }

    /// Finds the route for a request. Declared routes win; a declared path with another
    /// method is 405; a catch-all (`ANY`) answers only what no declared route matches. `HEAD`
    /// is not served: API Gateway would answer it with a `Content-Length` of 0, not the length
    /// a `GET` would send (RFC 9110 §8.6), so it is a 405 like any undeclared method.
    pub fn find(&self, method: &Method, path: &str) -> Result<Matched, RouteError> {
        let mut allowed = Vec::new();
        for route in self.routes.iter().filter(|r| !r.is_catch_all()) {
            if let Some(params) = match_path(route.path, path) {
                if route.method == *method {
                    return Ok(Matched {
                        route: route.clone(),
                        params,
                    });
                }
                allowed.push(route.method.clone());
            }
        }
        if !allowed.is_empty() {
            return Err(RouteError::MethodNotAllowed(allowed));
        }
        for route in self.routes.iter().filter(|r| r.is_catch_all()) {
            if let Some(params) = match_path(route.path, path) {
                return Ok(Matched {
                    route: route.clone(),
                    params,
                });
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
                    // Greedy: the rest of the path, whatever it holds (empty segments
                    // included, as in `//documents`), but not nothing.
                    let rest: Vec<&str> = std::iter::once(s).chain(path_parts.by_ref()).collect();
                    let rest = rest.join("/");
                    if rest.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), rest);
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

    #[test]
    fn generic_bodies_get_a_component_name_of_their_own() {
        assert_eq!(
            component_name("Document", "quire_fn_documents::domain::Document"),
            "Document"
        );
        assert_eq!(
            component_name("Page", "quire_store::Page<quire_fn_documents::domain::Document>"),
            "Page_Document"
        );
        assert_eq!(
            component_name("Pair", "x::Pair<a::B, alloc::vec::Vec<c::D>>"),
            "Pair_B_Vec_D"
        );
    }

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
                Effect::Reads,
                noop,
            ),
            Route::new(
                Method::GET,
                "/documents/{id}",
                Access::Requires(Permission::DocumentRead),
                Module::Documents,
                Effect::Reads,
                noop,
            ),
            Route::new(
                Method::PATCH,
                "/documents/{id}",
                Access::Requires(Permission::DocumentEdit),
                Module::Documents,
                Effect::Writes(&[Action::DocumentUpdated]),
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
        assert!(router
            .find(&Method::PATCH, "/documents/abc")
            .unwrap()
            .route
            .effect
            .writes());
        assert_eq!(
            router.find(&Method::DELETE, "/documents/abc").unwrap_err(),
            RouteError::MethodNotAllowed(vec![Method::GET, Method::PATCH])
        );
        assert_eq!(
            router.find(&Method::POST, "/documents").unwrap_err(),
            RouteError::MethodNotAllowed(vec![Method::GET])
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
            Effect::Reads,
            noop,
        ));
        let router = Router::new(routes).unwrap();
        assert!(!router
            .find(&Method::GET, "/documents/abc")
            .unwrap()
            .route
            .is_catch_all());
        assert!(matches!(
            router.find(&Method::DELETE, "/documents/abc").unwrap_err(),
            RouteError::MethodNotAllowed(_)
        ));
        let caught = router.find(&Method::POST, "/wp-admin/setup.php").unwrap();
        assert!(caught.route.is_catch_all());
        assert_eq!(caught.params["proxy"], "wp-admin/setup.php");
        // Empty segments are a path like any other: `//documents` is not `/documents`.
        let doubled = router.find(&Method::GET, "//documents").unwrap();
        assert!(doubled.route.is_catch_all());
        assert_eq!(doubled.params["proxy"], "/documents");
        // `/{proxy+}` does not match `/`, on API Gateway as here: `ANY /` does.
        assert_eq!(router.find(&Method::GET, "/").unwrap_err(), RouteError::NotFound);
        let mut routes = router.routes().to_vec();
        routes.push(Route::new(
            Method::from_bytes(ANY.as_bytes()).unwrap(),
            "/",
            Access::Public,
            Module::Platform,
            Effect::Reads,
            noop,
        ));
        let router = Router::new(routes).unwrap();
        for method in [Method::GET, Method::POST, Method::OPTIONS] {
            assert!(router.find(&method, "/").unwrap().route.is_catch_all(), "{method}");
        }
        assert!(!router.find(&Method::GET, "/documents").unwrap().route.is_catch_all());
    }

    /// HEAD is not served: 405, with the path's methods in `Allow`.
    ///
    /// Proves: HTTP-1
    #[test]
    fn head_is_not_served() {
        assert_eq!(
            table().find(&Method::HEAD, "/documents/abc").unwrap_err(),
            RouteError::MethodNotAllowed(vec![Method::GET, Method::PATCH])
        );
    }

    /// Every declared path reaches its function on API Gateway for every method, so the
    /// function answers 405 with `Allow` (RFC 9110 §15.5.6) rather than the catch-all's 404.
    ///
    /// Proves: HTTP-1
    #[test]
    fn every_declared_path_has_an_any_route_for_the_gateway() {
        let keys = table().gateway_routes();
        for (key, public) in [
            ("GET /documents", false),
            ("GET /documents/{id}", false),
            ("PATCH /documents/{id}", false),
            ("ANY /documents", true),
            ("ANY /documents/{id}", true),
        ] {
            assert!(keys.contains(&(key.to_owned(), public)), "{key}: {keys:?}");
        }
        assert_eq!(keys.len(), 5, "{keys:?}");
    }

    #[test]
    fn refuses_duplicate_declarations() {
        let twice = vec![
            Route::new(
                Method::GET,
                "/health",
                Access::Public,
                Module::Platform,
                Effect::Reads,
                noop,
            ),
            Route::new(
                Method::GET,
                "/health",
                Access::Public,
                Module::Platform,
                Effect::Reads,
                noop,
            ),
        ];
        assert!(Router::new(twice).is_err());
    }

    /// Proves: RBAC-2, RBAC-3
    #[test]
    fn refuses_routes_whose_declarations_contradict() {
        let route = |method: Method, permission: Permission, effect: Effect| {
            Route::new(
                method,
                "/x",
                Access::Requires(permission),
                Module::Documents,
                effect,
                noop,
            )
        };
        let refused = |r: Route| Router::new(vec![r]).unwrap_err();
        let edit = Effect::Writes(&[Action::DocumentUpdated]);
        assert!(
            refused(route(Method::POST, Permission::DocumentEdit, Effect::Writes(&[]))).contains("no audit action")
        );
        assert!(refused(route(Method::GET, Permission::DocumentEdit, edit)).contains("writes on GET"));
        assert!(refused(route(Method::HEAD, Permission::DocumentEdit, edit)).contains("writes on HEAD"));
        assert!(
            refused(route(Method::POST, Permission::DocumentEdit, Effect::Reads)).contains("declares that it reads")
        );
        assert!(refused(route(Method::POST, Permission::DocumentRead, edit)).contains("Viewer"));
        assert!(refused(route(Method::POST, Permission::AuditVerify, edit)).contains("Viewer"));
        assert!(Router::new(vec![route(Method::POST, Permission::DocumentEdit, edit)]).is_ok());
        assert!(Router::new(vec![route(Method::POST, Permission::AuditVerificationStart, edit)]).is_ok());
    }

    /// A route open to every member (a Viewer too) may record their own account's events and
    /// nothing else.
    ///
    /// Proves: RBAC-3
    #[test]
    fn a_route_open_to_every_member_writes_only_session_events() {
        let member = |effect: Effect| Route::new(Method::POST, "/x", Access::Member, Module::Platform, effect, noop);
        let refused = Router::new(vec![member(Effect::Writes(&[
            Action::SessionSignedOut,
            Action::DocumentUpdated,
        ]))])
        .unwrap_err();
        assert!(refused.contains("more than their own account's events"), "{refused}");
        assert!(Router::new(vec![member(Effect::Writes(&[Action::SessionSignedOut]))]).is_ok());
        assert!(Router::new(vec![member(Effect::Reads)]).is_ok());
    }

    /// An operator's route records only operators' actions, and no other route records them
    /// (an organisation's Owner cannot write an entry that claims a platform operator's act).
    ///
    /// Proves: RBAC-6
    #[test]
    fn operators_actions_are_recorded_by_operators_routes_only() {
        let declared =
            |access: Access, effect: Effect| Route::new(Method::PATCH, "/x", access, Module::Platform, effect, noop);
        let operated = Effect::Writes(&[Action::OperatorOrganisationChanged]);
        assert!(Router::new(vec![declared(Access::Operator, operated)]).is_ok());
        let beyond = Router::new(vec![declared(
            Access::Operator,
            Effect::Writes(&[Action::OperatorOrganisationChanged, Action::OrganisationUpdated]),
        )])
        .unwrap_err();
        assert!(beyond.contains("more than operators' actions"), "{beyond}");
        for access in [Access::Requires(Permission::OrganisationManage), Access::Public] {
            let claimed = Router::new(vec![declared(access, operated)]).unwrap_err();
            assert!(claimed.contains("not declared for operators"), "{access:?}: {claimed}");
        }
        // A member's route is held to their own account's events first.
        assert!(Router::new(vec![declared(Access::Member, operated)]).is_err());
    }
}
