//! The values a platform operator sets on an organisation, each a type that cannot hold an
//! invalid value (parse, don't validate), and the change a `PATCH
//! /operator/organisations/{orgId}` body asks for.

use quire_core::text::Reason;
use quire_http::Module;
use quire_store::organisation::OperatorChange;
use quire_store::OrgStatus;
use serde::Deserialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest trial an operator may grant from now: a year (366 days). An end already past
/// is allowed: it ends a trial (read-only for 14 days, then locked: ORG-1).
pub const LONGEST_TRIAL: Duration = Duration::from_secs(366 * 24 * 3600);

/// A status an operator sets (ORG-1), by its API name: `active`, `trial`, `suspended` or
/// `closed`. `pending` is registration's alone: an organisation is pending until its Owner
/// confirms their email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Status(OrgStatus);

impl TryFrom<String> for Status {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "active" => Ok(Status(OrgStatus::Active)),
            "trial" => Ok(Status(OrgStatus::Trial)),
            "suspended" => Ok(Status(OrgStatus::Suspended)),
            "closed" => Ok(Status(OrgStatus::Closed)),
            _ => Err("status: must be one of active, trial, suspended, closed".into()),
        }
    }
}

/// A trial's end as sent: an RFC 3339 time in UTC (`…Z`, `humantime`'s strict parser), after the Unix epoch and
/// at most [`LONGEST_TRIAL`] from now; kept to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TrialEnd(u64);

impl TryFrom<String> for TrialEnd {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let refused = || "trialEndsAt: must be an RFC 3339 time at most 366 days from now".to_owned();
        let at = humantime::parse_rfc3339(&value).map_err(|_| refused())?;
        if at > SystemTime::now() + LONGEST_TRIAL {
            return Err(refused());
        }
        let millis = at.duration_since(UNIX_EPOCH).map_err(|_| refused())?.as_millis();
        u64::try_from(millis).map(TrialEnd).map_err(|_| refused())
    }
}

/// A subscription's status as sent: `active` or `suspended` (ORG-1 billing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Subscription(bool);

impl TryFrom<String> for Subscription {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "active" => Ok(Subscription(false)),
            "suspended" => Ok(Subscription(true)),
            _ => Err("subscription: must be active or suspended".into()),
        }
    }
}

/// A plan's modules as sent (ORG-2): each named once, exactly as [`Module::as_str`] writes it
/// (`Documents`, `Audit`); empty is the platform's own routes alone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Modules(Vec<String>);

impl TryFrom<Vec<String>> for Modules {
    type Error = String;
    fn try_from(names: Vec<String>) -> Result<Self, String> {
        let known = || {
            Module::IN_PLANS
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut modules: Vec<String> = Vec::new();
        for name in names {
            let module = Module::in_plans(&name).ok_or_else(|| format!("modules: each must be one of {}", known()))?;
            if modules.iter().any(|m| m == module.as_str()) {
                return Err("modules: a module is named twice".into());
            }
            modules.push(module.as_str().to_owned());
        }
        // Stored in one order, so that the same plan is the same record.
        modules.sort_by_key(|name| Module::IN_PLANS.iter().position(|m| m.as_str() == name));
        Ok(Modules(modules))
    }
}

/// A `PATCH /operator/organisations/{orgId}` body: the terms to set and why. An absent term is
/// left as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TermsPatch {
    /// `active`, `trial` (needs `trialEndsAt`), `suspended` (read-only) or `closed` (refused
    /// everything).
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String)]
    pub status: Option<Status>,
    /// When the trial ends, RFC 3339 in UTC (`…Z`), at most 366 days from now; only with
    /// `status: trial`.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String, format = DateTime)]
    pub trial_ends_at: Option<TrialEnd>,
    /// `active`, or `suspended`: every writing route of the organisation is refused (403
    /// `subscription-suspended`), reads go on.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String)]
    pub subscription: Option<Subscription>,
    /// The modules of its plan (`Documents`, `Audit`), each once; `null`: every module.
    #[serde(default, deserialize_with = "quire_http::json::nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub modules: Option<Option<Modules>>,
    /// `false` turns SSO-only off (AUTHN-10): the way back for an organisation whose identity
    /// provider shuts its members out. Turning it on is its Owner's.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = bool)]
    pub sso_only: Option<bool>,
    /// `[]` clears the IP allowlist (ORG-3): the way back for an organisation whose list shuts
    /// every member out. Setting ranges is its Owner's.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = Vec<String>, max_items = 0)]
    pub ip_allowlist: Option<Vec<String>>,
    /// Why the terms change (21 CFR Part 11 §11.10(e)): recorded with the change, in the
    /// organisation's trail and the platform's.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    pub reason: Reason,
}

/// Why a body's terms do not make a change: the detail and the field it names.
#[derive(Debug)]
pub struct Refused {
    pub detail: &'static str,
    pub field: Option<&'static str>,
}

impl TermsPatch {
    /// The change the body asks for.
    ///
    /// Errors: no term named; `trialEndsAt` without `status: trial`, or `trial` without it.
    pub fn change(&self) -> Result<OperatorChange, Refused> {
        let status = match (self.status, self.trial_ends_at) {
            (Some(Status(OrgStatus::Trial)), Some(TrialEnd(ends))) => Some((OrgStatus::Trial, Some(ends))),
            (Some(Status(OrgStatus::Trial)), None) => {
                return Err(Refused {
                    detail: "trialEndsAt: a trial needs its end",
                    field: Some("trialEndsAt"),
                })
            }
            (_, Some(_)) => {
                return Err(Refused {
                    detail: "trialEndsAt: only with status trial",
                    field: Some("trialEndsAt"),
                })
            }
            (Some(Status(status)), None) => Some((status, None)),
            (None, None) => None,
        };
        if self.sso_only == Some(true) {
            return Err(Refused {
                detail: "ssoOnly: an operator may only turn it off; turning it on is the organisation's Owner's",
                field: Some("ssoOnly"),
            });
        }
        if self.ip_allowlist.as_ref().is_some_and(|list| !list.is_empty()) {
            return Err(Refused {
                detail: "ipAllowlist: an operator may only clear it ([]); setting ranges is the organisation's Owner's",
                field: Some("ipAllowlist"),
            });
        }
        let change = OperatorChange {
            status,
            subscription_suspended: self.subscription.map(|Subscription(suspended)| suspended),
            modules: self.modules.clone().map(|m| m.map(|Modules(names)| names)),
            sso_only_off: self.sso_only == Some(false),
            ip_allowlist_cleared: self.ip_allowlist.is_some(),
        };
        if change.status.is_none()
            && change.subscription_suspended.is_none()
            && change.modules.is_none()
            && !change.sso_only_off
            && !change.ip_allowlist_cleared
        {
            return Err(Refused {
                detail: "name at least one of status, subscription, modules, ssoOnly, ipAllowlist",
                field: None,
            });
        }
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(body: &str) -> Result<TermsPatch, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }

    /// Proves: ORG-1
    #[test]
    fn a_status_is_one_an_operator_may_set_and_a_trial_names_its_end() {
        for refused in ["pending", "Active", "ACTIVE", "", "locked", "trial-ended"] {
            let body = format!(r#"{{"status":"{refused}","reason":"r"}}"#);
            assert!(patch(&body).unwrap_err().contains("status: must be"), "{refused}");
        }
        let trial = patch(r#"{"status":"trial","reason":"r"}"#).unwrap();
        assert_eq!(trial.change().unwrap_err().field, Some("trialEndsAt"));
        let stray = patch(r#"{"status":"active","trialEndsAt":"2027-01-01T00:00:00Z","reason":"r"}"#).unwrap();
        assert_eq!(stray.change().unwrap_err().field, Some("trialEndsAt"));
        let alone = patch(r#"{"trialEndsAt":"2027-01-01T00:00:00Z","reason":"r"}"#).unwrap();
        assert_eq!(alone.change().unwrap_err().field, Some("trialEndsAt"));
        let set = patch(r#"{"status":"trial","trialEndsAt":"2026-01-01T00:00:00.250Z","reason":"r"}"#)
            .unwrap()
            .change()
            .unwrap();
        assert_eq!(set.status, Some((OrgStatus::Trial, Some(1_767_225_600_250))));
        assert!(patch(r#"{"reason":"r"}"#).unwrap().change().is_err());
    }

    /// Proves: ORG-1
    #[test]
    fn a_trial_end_is_a_utc_time_within_a_year() {
        let late = humantime::format_rfc3339(SystemTime::now() + LONGEST_TRIAL + Duration::from_secs(60));
        for refused in [
            "2027-01-01",
            "2027-01-01T00:00:00+02:00",
            "2027-01-01T00:00:00",
            "tomorrow",
            "1969-12-31T23:59:59Z",
            &late.to_string(),
        ] {
            let body = format!(r#"{{"status":"trial","trialEndsAt":"{refused}","reason":"r"}}"#);
            assert!(patch(&body).unwrap_err().contains("trialEndsAt: must be"), "{refused}");
        }
    }

    /// An operator only clears an IP allowlist: `[]`, alone or with other terms; any range, an
    /// empty string or `null` is refused.
    ///
    /// Proves: ORG-3
    #[test]
    fn an_operator_only_clears_an_ip_allowlist() {
        let cleared = |body: &str| patch(body).unwrap().change().map(|c| c.ip_allowlist_cleared);
        assert!(cleared(r#"{"ipAllowlist":[],"reason":"r"}"#).unwrap());
        let with = patch(r#"{"ipAllowlist":[],"subscription":"active","reason":"r"}"#)
            .unwrap()
            .change()
            .unwrap();
        assert!(with.ip_allowlist_cleared && with.subscription_suspended == Some(false));
        assert!(!cleared(r#"{"subscription":"active","reason":"r"}"#).unwrap());
        for refused in [r#"["10.0.0.0/8"]"#, r#"[""]"#] {
            let body = format!(r#"{{"ipAllowlist":{refused},"reason":"r"}}"#);
            assert_eq!(
                patch(&body).unwrap().change().unwrap_err().field,
                Some("ipAllowlist"),
                "{refused}"
            );
        }
        assert!(patch(r#"{"ipAllowlist":null,"reason":"r"}"#).is_err());
    }

    /// Proves: ORG-2
    #[test]
    fn modules_are_named_exactly_once_each_and_null_is_every_module() {
        let set = |body: &str| patch(body).unwrap().change().unwrap().modules;
        assert_eq!(
            set(r#"{"modules":["Audit","Documents"],"reason":"r"}"#),
            Some(Some(vec!["Documents".to_owned(), "Audit".to_owned()]))
        );
        assert_eq!(set(r#"{"modules":[],"reason":"r"}"#), Some(Some(vec![])));
        assert_eq!(set(r#"{"modules":null,"reason":"r"}"#), Some(None));
        for refused in [
            r#"["documents"]"#,
            r#"["Platform"]"#,
            r#"["Audit","Audit"]"#,
            r#"[1]"#,
            r#""Audit""#,
        ] {
            let body = format!(r#"{{"modules":{refused},"reason":"r"}}"#);
            assert!(patch(&body).is_err(), "{refused}");
        }
        assert!(patch(r#"{"subscription":"paused","reason":"r"}"#).is_err());
        assert!(patch(r#"{"subscription":null,"reason":"r"}"#).is_err());
        assert!(patch(r#"{"subscription":"suspended","plan":"gold","reason":"r"}"#).is_err());
    }
}
