//! The audit trail (AUD-1..3, AUD-7, AUD-8): what an event records, its canonical form, and
//! the per-tenant SHA-256 hash chain. Storage of events (outbox) and entries (chain) is in
//! [`crate::store`]; the format is specified for auditors in `docs/audit-format.md`.

pub mod canonical;
pub mod chain;

use crate::tenant::{Caller, TenantScope};
use crate::text::sanitize_line;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// What happened. Stable dotted names; new kinds are added, never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    #[serde(rename = "organisation.created")]
    OrganisationCreated,
    #[serde(rename = "member.added")]
    MemberAdded,
    #[serde(rename = "document.created")]
    DocumentCreated,
    #[serde(rename = "document.updated")]
    DocumentUpdated,
    #[serde(rename = "audit.verified")]
    AuditVerified,
}

/// Who did it, as they were at the time (names and roles change later; the entry does not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Actor {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub role: String,
    /// The admin acting as this user, when impersonating (RBAC-5).
    pub impersonator: Option<String>,
}

impl Actor {
    pub fn of(caller: &Caller) -> Self {
        Actor {
            user_id: caller.user_id.to_string(),
            display_name: caller.display_name.clone(),
            email: caller.email.clone(),
            role: caller.role.as_str().to_owned(),
            impersonator: None,
        }
    }

    /// Quire itself, for provisioning steps no person performed through the API.
    pub fn system(what: &str) -> Self {
        Actor {
            user_id: "system".into(),
            display_name: sanitize_line(what, 120),
            email: String::new(),
            role: "System".into(),
            impersonator: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn new(kind: &str, id: &str) -> Self {
        Target {
            kind: kind.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// Where a request came from. Free text from the client is sanitised here (AUD-8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub correlation_id: String,
}

impl Origin {
    pub fn new(ip: Option<&str>, user_agent: Option<&str>, correlation_id: &str) -> Self {
        Origin {
            ip: ip.map(|ip| sanitize_line(ip, 64)),
            user_agent: user_agent.map(|ua| sanitize_line(ua, 512)),
            correlation_id: sanitize_line(correlation_id, 128),
        }
    }
}

/// One audited event, as written to the outbox in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditEvent {
    /// Time-ordered unique id: 13-digit UTC milliseconds, '-', random UUID.
    pub event_id: String,
    pub org_id: String,
    /// Server time of the change, UTC, RFC 3339 with milliseconds.
    pub at: String,
    pub actor: Actor,
    pub action: Action,
    pub target: Target,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
    pub origin: Origin,
}

/// Now, as Quire writes times: UTC, RFC 3339, milliseconds.
pub fn timestamp_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl AuditEvent {
    pub fn new(scope: &TenantScope, action: Action, actor: Actor, target: Target, origin: Origin) -> Self {
        let now = SystemTime::now();
        let millis = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        AuditEvent {
            event_id: format!("{millis:013}-{}", uuid::Uuid::new_v4()),
            org_id: scope.org_id().to_string(),
            at: humantime::format_rfc3339_millis(now).to_string(),
            actor,
            action,
            target,
            before: None,
            after: None,
            reason: None,
            origin,
        }
    }

    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(sanitize_line(reason, 1000));
        self
    }
}
