//! What the pipeline learned about a request, handed to the route handler.

use crate::audit::{Actor, Origin};
use crate::problem::Problem;
use crate::store::AuditContext;
use crate::tenant::Caller;
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

    /// Who changes something with this request, and from where: what its audit events record.
    pub fn audit_context(&self) -> Result<AuditContext, Problem> {
        Ok(AuditContext {
            actor: Actor::of(self.caller()?),
            origin: self.origin(),
        })
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
