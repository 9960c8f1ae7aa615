//! RBAC-2 guardrail: the routes API Gateway serves (template.yaml) and the routes the code
//! declares must be the same set, each with the same public/protected decision. A route added
//! to the template without a declaration in its function's route table fails the build's tests;
//! so does a declared route that no deployment would serve.

use quire_http::Router;
use serde_norway::Value;
use std::collections::BTreeMap;

/// (function logical id, "METHOD /path") → public?
type RouteSet = BTreeMap<(String, String), bool>;

/// The HTTP API routes in a SAM template.
pub fn template_routes(template: &str) -> Result<RouteSet, String> {
    let doc: Value = serde_norway::from_str(template).map_err(|e| format!("template is not YAML: {e}"))?;
    let mut routes = RouteSet::new();
    let Some(resources) = doc.get("Resources").and_then(Value::as_mapping) else {
        return Err("template has no Resources".into());
    };
    for (name, resource) in resources {
        let name = name.as_str().unwrap_or_default().to_owned();
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let events = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping);
        for (_, event) in events.into_iter().flatten() {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = event
                .get("Properties")
                .ok_or(format!("{name}: HttpApi event without Properties"))?;
            let method = props
                .get("Method")
                .and_then(Value::as_str)
                .ok_or(format!("{name}: route without Method"))?
                .to_uppercase();
            let path = props
                .get("Path")
                .and_then(Value::as_str)
                .ok_or(format!("{name}: route without Path"))?;
            let public = props
                .get("Auth")
                .and_then(|a| a.get("Authorizer"))
                .and_then(Value::as_str)
                == Some("NONE");
            routes.insert((name.clone(), format!("{method} {path}")), public);
        }
    }
    Ok(routes)
}

/// The routes the code declares, with the `ANY` route of each declared path
/// ([`Router::gateway_routes`]).
pub fn declared_routes(functions: &[(&str, Router)]) -> RouteSet {
    let mut routes = RouteSet::new();
    for (name, router) in functions {
        for (key, public) in router.gateway_routes() {
            routes.insert((name.to_string(), key), public);
        }
    }
    routes
}

/// Every disagreement between the two, in words. Empty means consistent.
pub fn violations(template: &RouteSet, declared: &RouteSet) -> Vec<String> {
    let mut found = Vec::new();
    for ((function, route), public) in template {
        match declared.get(&(function.clone(), route.clone())) {
            None => found.push(format!("{function}: {route} is served by template.yaml but has no declaration (permission or Public) in its route table")),
            Some(declared_public) if declared_public != public => found.push(format!("{function}: {route} is {} in template.yaml but declared {}", if *public { "public" } else { "protected" }, if *declared_public { "Public" } else { "with a permission" })),
            _ => {}
        }
    }
    for (function, route) in declared.keys() {
        if !template.contains_key(&(function.clone(), route.clone())) {
            found.push(format!(
                "{function}: {route} is declared but template.yaml does not serve it"
            ));
        }
    }
    found
}

/// Text that builds a storage key: a DynamoDB partition or sort key of Quire's layout, or an S3
/// tenant prefix. Only the store crate's key module may hold it (TEN-2, TEN-4).
pub const KEY_PATTERNS: [&str; 14] = [
    "\"ORG#",
    "ORG#{",
    "#OUTBOX",
    "#AUDIT",
    "#BLOB",
    "#QUARANTINE",
    "#VERIFICATION",
    "#VERIFIED",
    "#MEMBER",
    "#DOC\"",
    "\"ENTRY#",
    "\"USER#",
    "\"tenants/",
    "CURSOR_KEY",
];

/// Every line of Rust source under `root` (outside build output, hidden directories and the
/// store crate) that `hit` flags: `(file, line number, line)`. Comments are not code and are
/// skipped; this file names the patterns it looks for and is skipped too.
fn scan(root: &std::path::Path, hit: impl Fn(&str, &str) -> bool) -> Vec<(String, usize, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            if path.is_dir() {
                let skip = relative.starts_with('.') || relative == "target" || relative == "shared/store";
                if !skip {
                    pending.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || relative == "infra/local/src/guardrail.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if !code.starts_with("//") && hit(&relative, code) {
                    found.push((relative.clone(), n + 1, line.trim().to_owned()));
                }
            }
        }
    }
    found
}

/// Every line outside the store crate that builds a storage key ([`KEY_PATTERNS`]).
pub fn keys_built_outside_the_store(root: &std::path::Path) -> Vec<(String, usize, String)> {
    scan(root, |_, code| KEY_PATTERNS.iter().any(|p| code.contains(p)))
}

/// Store calls that reach another tenant's data without a caller's scope, and the only places
/// that may make them: the chain's append and reconciler (the audit writer, the local stack
/// that drives it, tests), a verification job's slices (the audit verifier, tests), resolving a
/// caller (the tenant layer), onboarding (seeding, tests), and the test helpers (tests).
pub const CAPABILITY_CALLS: [(&str, &[&str]); 10] = [
    (".append_outbox(", &["functions/audit-writer/", "tests/"]),
    (".append_stream_records(", &["functions/audit-writer/"]),
    (".drain_outbox(", &["tests/"]),
    (".reconcile(", &["functions/audit-writer/"]),
    (".quarantined(", &["tests/"]),
    (".run_verification_records(", &["functions/audit-verifier/"]),
    (".run_verification(", &["tests/"]),
    (".load_caller(", &["shared/http/src/pipeline/tenant.rs"]),
    (".create_organisation(", &["infra/local/src/seed.rs", "tests/"]),
    ("quire_store::testing", &["tests/"]),
];

/// Every line outside the store crate that makes a [`CAPABILITY_CALLS`] call where it may not.
pub fn capability_calls_out_of_place(root: &std::path::Path) -> Vec<(String, usize, String)> {
    scan(root, |file, code| {
        CAPABILITY_CALLS
            .iter()
            .any(|(call, allowed)| code.contains(call) && !allowed.iter().any(|a| file.starts_with(a)))
    })
}

/// lambda_http's own event adapters: they build the request URL from the client's `Host` and
/// `X-Forwarded-Proto` headers and panic when those do not form a URL. Every function and the
/// local gateway read events through `quire_http::event` instead (HTTP-2, HTTP-4).
pub const HEADER_ROUTED_ADAPTERS: [&str; 3] = [
    "lambda_http::run",
    "lambda_http::request::from_str",
    "lambda_http::Adapter",
];

/// Every line that reads an event through one of [`HEADER_ROUTED_ADAPTERS`].
pub fn header_routed_adapters_in_use(root: &std::path::Path) -> Vec<(String, usize, String)> {
    scan(root, |_, code| HEADER_ROUTED_ADAPTERS.iter().any(|p| code.contains(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> String {
        std::fs::read_to_string(crate::provision::template_path()).expect("template.yaml")
    }

    /// Proves: RBAC-2
    #[test]
    fn every_served_route_is_declared_and_vice_versa() {
        let found = violations(
            &template_routes(&template()).unwrap(),
            &declared_routes(&crate::stack::function_routes()),
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    /// Proves: RBAC-2 — the guardrail fails for a route without a declaration.
    #[test]
    fn guardrail_catches_an_undeclared_route() {
        let with_extra = template().replacen(
            "Events:",
            "Events:\n        UndeclaredRoute:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            Method: DELETE\n            Path: /documents/{id}",
            1,
        );
        let routes = template_routes(&with_extra).unwrap();
        assert!(
            routes.keys().any(|(_, r)| r == "DELETE /documents/{id}"),
            "the test edit must add a route"
        );
        let found = violations(&routes, &declared_routes(&crate::stack::function_routes()));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("DELETE /documents/{id}") && found[0].contains("no declaration"));
    }

    /// Proves: RBAC-2 — a protected route made public in the template (or the code) is caught.
    #[test]
    fn guardrail_catches_a_public_mismatch() {
        let mut routes = template_routes(&template()).unwrap();
        let key = routes.keys().find(|(_, r)| r == "POST /documents").cloned().unwrap();
        routes.insert(key, true);
        let found = violations(&routes, &declared_routes(&crate::stack::function_routes()));
        assert_eq!(found.len(), 1, "{found:#?}");
    }

    /// Every route of every function says whether it writes and what it records, and no
    /// declaration contradicts itself (a writing route without an audit action, a write on GET,
    /// a write permission on a reading route, a writing route open to Viewers).
    ///
    /// Proves: RBAC-2
    #[test]
    fn every_route_declares_whether_it_writes_and_what_it_records() {
        let mut writing = 0;
        for (function, router) in crate::stack::function_routes() {
            for route in router.routes() {
                assert_eq!(route.contradiction(), None, "{function}");
                if route.effect.writes() {
                    writing += 1;
                    assert!(!route.effect.actions().is_empty(), "{function} {}", route.key());
                } else {
                    assert!(route.effect.actions().is_empty(), "{function} {}", route.key());
                }
            }
        }
        assert!(writing >= 3, "the documents and audit functions write");
    }

    /// No DynamoDB key, `ORG#` prefix or S3 tenant prefix is built outside the store crate:
    /// functions, the local stack and the tests ask the store (`quire_store::testing` for tests).
    ///
    /// Proves: TEN-2
    #[test]
    fn no_key_is_built_outside_the_store_crate() {
        let root = crate::emulator::repo_root();
        let found = keys_built_outside_the_store(&root);
        assert!(found.is_empty(), "keys built outside shared/store: {found:#?}");
        // The scan reaches the store crate's own key module when it is not excluded.
        let inside = keys_built_outside_the_store(&root.join("shared"));
        assert!(
            inside.iter().any(|(file, _, _)| file.ends_with("keys.rs")),
            "the scan must see the store's keys: {inside:#?}"
        );
    }

    /// The store calls that reach a tenant without a caller's scope are made only where they
    /// belong: no handler appends to the chain, runs a verification slice, resolves a caller or
    /// uses the test helpers.
    ///
    /// Proves: TEN-1
    #[test]
    fn tenant_reaching_calls_are_made_only_where_they_belong() {
        let root = crate::emulator::repo_root();
        let found = capability_calls_out_of_place(&root);
        assert!(found.is_empty(), "calls out of place: {found:#?}");
        // A handler calling one is caught.
        let probe = std::env::temp_dir().join(format!("quire-guardrail-{}", std::process::id()));
        let handler = probe.join("functions/documents/src");
        std::fs::create_dir_all(&handler).unwrap();
        std::fs::write(
            handler.join("lib.rs"),
            "let scope = quire_store::testing::scope(&org);\n",
        )
        .unwrap();
        let caught = capability_calls_out_of_place(&probe);
        std::fs::remove_dir_all(&probe).ok();
        assert_eq!(caught.len(), 1, "{caught:#?}");
    }

    /// No function, gateway, benchmark or test reads an API Gateway event through lambda_http's
    /// header-routed adapters.
    ///
    /// Proves: HTTP-2
    #[test]
    fn events_are_read_only_through_quire_http() {
        let root = crate::emulator::repo_root();
        let found = header_routed_adapters_in_use(&root);
        assert!(
            found.is_empty(),
            "events read through lambda_http's adapter: {found:#?}"
        );
        let probe = std::env::temp_dir().join(format!("quire-guardrail-adapter-{}", std::process::id()));
        let main = probe.join("functions/health/src");
        std::fs::create_dir_all(&main).unwrap();
        std::fs::write(main.join("main.rs"), "    lambda_http::run(service).await\n").unwrap();
        let caught = header_routed_adapters_in_use(&probe);
        std::fs::remove_dir_all(&probe).ok();
        assert_eq!(caught.len(), 1, "{caught:#?}");
    }

    /// `docs/openapi.json` is the document the route tables generate (regenerate with
    /// `QUIRE_WRITE_OPENAPI=1 cargo test -p quire-local openapi`), and its operations are the
    /// routes template.yaml serves (its `ANY` routes aside, which only answer 404 and 405).
    ///
    /// Proves: RBAC-2
    #[test]
    fn the_committed_openapi_document_is_the_generated_one_and_the_deployed_one() {
        let path = crate::emulator::repo_root().join("docs/openapi.json");
        let generated = quire_http::openapi::document_json(&crate::stack::function_routes());
        if std::env::var_os("QUIRE_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).expect("docs/openapi.json");
        assert!(
            committed == generated,
            "docs/openapi.json is stale: QUIRE_WRITE_OPENAPI=1 cargo test -p quire-local openapi"
        );
        let document: serde_json::Value = serde_json::from_str(&committed).unwrap();
        let mut operations = std::collections::BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        let served: std::collections::BTreeSet<String> = template_routes(&template())
            .unwrap()
            .into_keys()
            .map(|(_, route)| route)
            .filter(|route| !route.starts_with("ANY "))
            .collect();
        assert_eq!(operations, served);
    }
}
