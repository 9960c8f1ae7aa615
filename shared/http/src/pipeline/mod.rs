//! The request pipeline: tower layers every function shares, outermost first (the order is
//! [`service`]'s). Each layer either passes the request on or answers with a
//! problem; the response then travels back out through the correlation and header layers,
//! so errors carry the same headers as successes.
//!
//! | # | layer | here |
//! |---|-------|------|
//! | 1 | correlation id, request span, access log line | [`correlation`] |
//! | 2 | security headers on every response (HTTP-1) | [`headers`] |
//! | 3 | the edge: proof the request came through CloudFront, the viewer's IP address (HTTP-8) | [`edge`] |
//! | – | route match: 404 / 405, path parameters | [`routing`] |
//! | 4 | request filter: scanners, body limit, content type, strict JSON, control characters (HTTP-2) | [`filter`] |
//! | 5 | JWT authentication (AUTHN-1) | [`authn`] |
//! | 6 | tenant context from the membership record (TEN-1, TEN-6) | [`tenant`] |
//! | 7 | the organisation's lifecycle: trial, read-only, locked (ORG-1) | [`lifecycle`] |
//! | 8 | the organisation's IP allowlist: its members' requests only from its CIDR ranges (ORG-3) | [`ip_allowlist`] |
//! | 10 | password expiry: an expired password opens only the routes that change it (AUTHN-4) | [`password`] |
//! | 11 | billing: a suspended subscription changes nothing but what contains a compromise (ORG-1) | [`billing`] |
//! | 12 | admin MFA gate: an Owner or Admin session without a second factor opens only enrolment (AUTHN-7) | [`mfa`] |
//! | 13 | modules: a route of a module outside the organisation's plan is refused (ORG-2) | [`modules`] |
//! | 9 | SSO-only (AUTHN-10): judged at sign-in, where the password is, not per request (a session started before it goes on to its limits) | `crate::identity::check_password` |
//! | 14 | break-glass: a platform operator reading an organisation they opened, named by `Quire-Break-Glass`, every request recorded in two trails (RBAC-6) | [`break_glass`] |
//! | 14 | impersonation: an administrator acting as a member, named by `Quire-Impersonate` (RBAC-5) | [`impersonation`] |
//! | 15 | authorisation: the route's permission against the caller's role (RBAC-2..4); the platform's operators apart (RBAC-6) | [`authz`] |
//!
//! Traffic metrics (EMF) arrive with the operations work.

pub mod authn;
pub mod authz;
pub mod billing;
pub mod break_glass;
pub mod correlation;
pub mod dispatch;
pub mod edge;
pub mod filter;
pub mod headers;
pub mod impersonation;
pub mod ip_allowlist;
pub mod lifecycle;
pub mod mfa;
pub mod modules;
pub mod password;
pub mod routing;
pub mod stage;
pub mod tenant;

use crate::app::App;
use crate::route::Router;
use lambda_http::{Body, Request, Response};
use std::sync::Arc;
use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

/// A whole function: the pipeline around its route table. Hand it to `quire_http::event::run`.
pub type FunctionService = BoxCloneSyncService<Request, Response<Body>, lambda_http::Error>;

/// Where a request came from, as an entry a layer records for it says (as the dispatcher gives
/// it to the handler's entries: `RequestCtx::origin`).
pub(crate) fn origin(req: &Request) -> quire_core::audit::Origin {
    let correlation = req
        .extensions()
        .get::<crate::context::CorrelationId>()
        .map_or("", |c| c.0.as_str());
    let viewer = req.extensions().get::<edge::Viewer>().map(|v| v.0.to_string());
    let agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    quire_core::audit::Origin::new(viewer.as_deref(), agent.as_deref(), correlation)
}

pub fn service(app: Arc<App>, router: Router) -> FunctionService {
    let router = Arc::new(router);
    let service = ServiceBuilder::new()
        .layer(correlation::CorrelationLayer)
        .layer(headers::layer())
        .layer(stage::StageLayer::new(edge::CheckEdge::new(app.edge.clone())))
        .layer(stage::StageLayer::new(routing::MatchRoute::new(router)))
        .layer(stage::StageLayer::new(filter::RequestFilter))
        .layer(stage::StageLayer::new(authn::Authenticate::new(app.clone())))
        .layer(stage::StageLayer::new(tenant::ResolveTenant::new(app.clone())))
        .layer(stage::StageLayer::new(lifecycle::OrganisationLifecycle))
        .layer(stage::StageLayer::new(ip_allowlist::IpAllowlist))
        .layer(stage::StageLayer::new(password::PasswordExpiry))
        .layer(stage::StageLayer::new(billing::Billing))
        .layer(stage::StageLayer::new(mfa::AdminMfa))
        .layer(stage::StageLayer::new(modules::Modules))
        .layer(stage::StageLayer::new(break_glass::BreakGlass::new(app.clone())))
        .layer(stage::StageLayer::new(impersonation::Impersonation::new(app.clone())))
        .layer(stage::StageLayer::new(authz::Authorize))
        .service(dispatch::Dispatch::new(app));
    BoxCloneSyncService::new(service)
}
