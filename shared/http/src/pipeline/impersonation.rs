//! Layer 14: impersonation (RBAC-5). A request carrying `Quire-Impersonate: <userId>` is served
//! as that member of the caller's organisation, if the caller's session has a live
//! impersonation of them (`POST /impersonation`, `quire_store::impersonation`): from here on
//! the caller is the member (their role is what authorisation judges), and every audit entry of
//! a change names the member as `actor` and the administrator as `actor.impersonator`.
//!
//! Why the header cannot be forged: it only names whom to act as; it grants nothing. What
//! grants is the impersonation record, which only `POST /impersonation` writes, after judging
//! the administrator's permission and the member, and which this layer looks up under the
//! verified token's own user and session id (`keys::impersonation`): a header sent with another
//! token finds no record; a record of an ended session is never reached, as the tenant layer
//! refused that session first. It is judged again on every request against the administrator's
//! role, the member's membership and the organisation's matrix as they are then.
//!
//! The earlier layers judged the administrator who signed in (their session, password, second
//! factor, the organisation's allowlist, lifecycle, billing and plan). Without the header,
//! nothing changes: an administrator acts as themselves.

use super::stage::Stage;
use crate::app::App;
use crate::problem::Problem;
use crate::route::Matched;
use http::HeaderName;
use lambda_http::Request;
use quire_core::ids::UserId;
use quire_store::impersonation::ImpersonationRefused;
use quire_store::tenant::Caller;
use quire_store::StoreError;
use std::sync::Arc;

/// The request header naming the member to act as: their user id (Cognito `sub`).
pub const IMPERSONATE: HeaderName = HeaderName::from_static("quire-impersonate");

#[derive(Clone)]
pub struct Impersonation {
    app: Arc<App>,
}

impl Impersonation {
    pub fn new(app: Arc<App>) -> Self {
        Impersonation { app }
    }
}

impl Stage for Impersonation {
    async fn check(&self, mut req: Request) -> Result<Request, Problem> {
        let mut named = req.headers().get_all(&IMPERSONATE).iter();
        let Some(value) = named.next() else {
            return Ok(req);
        };
        if named.next().is_some() {
            return Err(Problem::bad_request("send Quire-Impersonate once"));
        }
        let member = value
            .to_str()
            .ok()
            .and_then(|text| UserId::parse(text).ok())
            .ok_or_else(|| Problem::bad_request("Quire-Impersonate: not a user id"))?;
        let (accepts, writes) = req
            .extensions()
            .get::<Matched>()
            .map(|m| (m.route.accepts_impersonation(), m.route.effect.writes()))
            .ok_or_else(|| Problem::internal("impersonation before route match"))?;
        if !accepts {
            return Err(Problem::impersonation_not_here());
        }
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Problem::internal("impersonation before tenant context"))?;
        if caller.is_operator() {
            return Err(Problem::not_for_operators());
        }
        let acting = self
            .app
            .store
            .impersonate(caller, &member, super::origin(&req))
            .await
            .map_err(|error| match error {
                StoreError::Aws(_) => Problem::unavailable(error),
                other => Problem::from(other),
            })?
            .map_err(|refused| refusal(caller, refused))?;
        if writes && !acting.acting().is_some_and(|a| a.writes) {
            return Err(Problem::impersonation_read_only());
        }
        tracing::info!(impersonator = %caller.user_id, member = %acting.user_id, "impersonating");
        req.extensions_mut().insert(acting);
        Ok(req)
    }
}

fn refusal(caller: &Caller, refused: ImpersonationRefused) -> Problem {
    use ImpersonationRefused::*;
    match refused {
        NotPermitted => Problem::forbidden(format!("the {} role does not grant Impersonate", caller.role.as_str())),
        NotActive => Problem::impersonation_inactive(
            "this session has no impersonation of that member that still acts: it ended, ran out, \
             or was never started in this session",
        ),
        NotFound | Oneself | Inactive | Owner | BeyondOwnGrants => Problem::impersonation_inactive(
            "the impersonation ended: that member may no longer be impersonated by you (their role \
             or status, or yours, changed)",
        ),
        AlreadyActive | OutOfBounds | Changed => Problem::internal("an impersonation judged twice"),
    }
}
