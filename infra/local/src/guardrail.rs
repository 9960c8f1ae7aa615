//! RBAC-2 guardrail: the routes API Gateway serves (template.yaml) and the routes the code
//! declares must be the same set, each with the same public/protected decision. A route added
//! to the template without a declaration in its function's route table fails the build's tests;
//! so does a declared route that no deployment would serve.

use quire::{Access, Router};
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

/// The routes the code declares.
pub fn declared_routes(functions: &[(&str, Router)]) -> RouteSet {
    let mut routes = RouteSet::new();
    for (name, router) in functions {
        for route in router.routes() {
            routes.insert((name.to_string(), route.key()), route.access == Access::Public);
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
}
