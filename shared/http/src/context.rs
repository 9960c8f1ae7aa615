//! What the pipeline learned about a request, handed to the route handler.

use crate::problem::Problem;
use crate::route::Effect;
use quire_core::audit::Origin;
use quire_store::tenant::Caller;
use quire_store::AuditContext;
use std::collections::HashMap;

/// The correlation id of a request (HTTP-3), stored as a request extension by the first layer.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub correlation_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub params: HashMap<String, String>,
    pub(crate) caller: Option<Caller>,
    /// The matched route's declared effect: what [`RequestCtx::audit_context`] allows.
    pub(crate) effect: Effect,
}

impl RequestCtx {
    /// The authenticated caller. Present on every non-public route (the pipeline guarantees it).
    pub fn caller(&self) -> Result<&Caller, Problem> {
        self.caller
            .as_ref()
            .ok_or_else(|| Problem::internal("handler of a public route asked for a caller"))
    }

    pub fn param(&self, name: &str) -> Result<&str, Problem> {
        self.params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| Problem::internal(format!("route has no parameter {name}")))
    }

    /// Who changes something with this request, and from where: what its audit events record,
    /// limited to the actions the route declares. A route declared as reading gets none, so it
    /// cannot commit a change.
    pub fn audit_context(&self) -> Result<AuditContext, Problem> {
        match self.effect {
            Effect::Reads => Err(Problem::internal("a route declared as reading asked to write")),
            Effect::Writes(actions) => Ok(AuditContext::for_caller(self.caller()?, self.origin(), actions)),
            Effect::Records(actions) => {
                Ok(AuditContext::for_caller(self.caller()?, self.origin(), actions).events_only())
            }
        }
    }

    /// The viewer's IP address as the edge established it (`pipeline::edge::Viewer`), if it did.
    pub fn viewer(&self) -> Option<std::net::IpAddr> {
        self.source_ip.as_deref().and_then(|ip| ip.parse().ok())
    }

    /// Where the request came from, as the audit trail records it.
    pub fn origin(&self) -> Origin {
        Origin::new(
            self.source_ip.as_deref(),
            self.user_agent.as_deref(),
            &self.correlation_id,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A route declared as reading cannot obtain what a transaction needs, so it cannot write
    /// (a writing route gets one: the black-box tests write through every writing route).
    ///
    /// Proves: RBAC-2
    #[test]
    fn a_reading_route_gets_no_audit_context() {
        let ctx = RequestCtx {
            correlation_id: "corr-0001".into(),
            source_ip: None,
            user_agent: None,
            params: HashMap::new(),
            caller: None,
            effect: Effect::Reads,
        };
        let refused = format!("{:?}", ctx.audit_context().unwrap_err());
        assert!(refused.contains("status: 500"), "{refused}");
    }
}
