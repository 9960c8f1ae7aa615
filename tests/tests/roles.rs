//! The role × route matrix over HTTP (RBAC-2, RBAC-3), generated from the route tables: every
//! route that declares a permission, called with no token, and with a token of each role. The
//! answer must be what the declared permission implies: 401 without a token, 403 `forbidden`
//! for a role that lacks it, and, for a role that holds it, anything but a refusal of access
//! (the handler runs and judges the request: a made-up id is a 404, an empty body a 400).
//! A platform operator (RBAC-6) is a column of its own: refused every organisation's route
//! (403 `not-for-operators`), and the only caller its own routes admit (403 `operators-only`
//! for every role). A route added to any function is in the matrix without touching this test.

use quire_blackbox_tests::{harness, Harness};
use quire_core::rbac::{Matrix, Role};
use quire_http::Access;
use quire_local::stack::function_routes;
use reqwest::StatusCode;

/// What every path parameter is filled with: an id of the right shape that names nothing.
const NO_SUCH_ID: &str = "01900000-0000-7000-8000-000000000000";

/// The path of a route with its parameters filled.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                NO_SUCH_ID
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Calls every route that declares a permission or is an operator's with no token, with each
/// role's token and with an operator's, and checks each answer against what `matrix` says the
/// role grants. The number of routes checked.
async fn check_matrix(h: &Harness, tokens: &[(Role, String)], operator: &str, matrix: &Matrix) -> usize {
    let mut checked = 0;
    for (function, router) in function_routes() {
        for route in router.routes() {
            let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).expect("a method");
            let path = concrete(route.path);
            // An empty object where a body is taken: judged by the handler, never written.
            let body = (route.body_limit > 0).then(|| serde_json::json!({}));
            let what = format!("{function} {}", route.key());
            let permission = match route.access {
                Access::Requires(permission) => permission,
                Access::Operator => {
                    let anonymous = h.call(method.clone(), &path, None, body.clone()).await;
                    anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
                    for (role, token) in tokens {
                        let reply = h.call(method.clone(), &path, Some(token), body.clone()).await;
                        assert_eq!(
                            (reply.status, reply.problem_type()),
                            (StatusCode::FORBIDDEN, "urn:quire:problem:operators-only"),
                            "{what} as {role:?}: {}",
                            reply.text
                        );
                    }
                    let reply = h.call(method.clone(), &path, Some(operator), body.clone()).await;
                    assert!(
                        reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN,
                        "{what} as an operator: {} {}",
                        reply.status,
                        reply.text
                    );
                    checked += 1;
                    continue;
                }
                Access::Public | Access::Member => continue,
            };

            let anonymous = h.call(method.clone(), &path, None, body.clone()).await;
            anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
            let reply = h.call(method.clone(), &path, Some(operator), body.clone()).await;
            assert_eq!(
                (reply.status, reply.problem_type()),
                (StatusCode::FORBIDDEN, "urn:quire:problem:not-for-operators"),
                "{what} as an operator: {}",
                reply.text
            );
            for (role, token) in tokens {
                let reply = h.call(method.clone(), &path, Some(token), body.clone()).await;
                if matrix.grants(*role, permission) {
                    assert!(
                        reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN,
                        "{what} as {role:?} (holds {permission:?}): {} {}",
                        reply.status,
                        reply.text
                    );
                } else {
                    assert_eq!(
                        (reply.status, reply.problem_type()),
                        (StatusCode::FORBIDDEN, "urn:quire:problem:forbidden"),
                        "{what} as {role:?} (lacks {permission:?}): {}",
                        reply.text
                    );
                }
            }
            checked += 1;
        }
    }
    checked
}

/// The matrix with the default grants, then again after the organisation adjusted Admin, User
/// and Viewer (RBAC-1): the same tokens, the next request answered by the new grants.
///
/// Proves: RBAC-1, RBAC-2, RBAC-3, RBAC-4, RBAC-6
#[tokio::test]
async fn every_route_answers_each_role_as_its_declared_permission_implies() {
    use quire_core::rbac::Permission::*;
    let h = harness();
    let org = h.new_org("matrix").await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, h.token(&org, role).await));
    }
    let operator = h.login(&h.new_operator(true).await).await;
    let checked = check_matrix(h, &tokens, &operator, &Matrix::default()).await;
    // Every function's permission-declaring routes were called: documents, audit, the
    // organisation's settings and matrix, members, and revoking another member's sessions.
    assert!(checked >= 15, "only {checked} routes declare a permission");

    let owner = &tokens[0].1;
    let adjustments = [
        (
            Role::Admin,
            vec![DocumentRead, AuditRead, UserManage, MemberRead, OrganisationRead],
        ),
        (Role::User, vec![DocumentRead, AuditRead]),
        (Role::Viewer, vec![DocumentRead, MemberRead]),
    ];
    let mut expected = Matrix::default();
    for (version, (role, grants)) in adjustments.into_iter().enumerate() {
        let names: Vec<&str> = grants.iter().map(|p| p.as_str()).collect();
        let put = h
            .raw(
                h.request(reqwest::Method::PUT, &format!("/organisation/roles/{}", role.as_str()))
                    .bearer_auth(owner)
                    .header("if-match", format!("\"{}\"", version + 1))
                    .json(&serde_json::json!({"permissions": names, "reason": "Matrix test"})),
            )
            .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.text);
        expected = expected.adjust(role, &grants, Role::Owner).expect("within the bounds");
    }
    assert_eq!(check_matrix(h, &tokens, &operator, &expected).await, checked);

    // RBAC-3 whatever the matrix: a Viewer given every permission it may hold still writes
    // nothing (every writing route needs a write permission).
    let viewer_max: Vec<_> = quire_core::rbac::Permission::ALL
        .into_iter()
        .filter(|p| Role::Viewer.may_hold(*p))
        .collect();
    let names: Vec<&str> = viewer_max.iter().map(|p| p.as_str()).collect();
    let put = h
        .raw(
            h.request(reqwest::Method::PUT, "/organisation/roles/Viewer")
                .bearer_auth(owner)
                .header("if-match", "\"4\"")
                .json(&serde_json::json!({"permissions": names, "reason": "Matrix test"})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let expected = expected
        .adjust(Role::Viewer, &viewer_max, Role::Owner)
        .expect("within the bounds");
    assert_eq!(check_matrix(h, &tokens, &operator, &expected).await, checked);
    for (_, router) in function_routes() {
        for route in router.routes().iter().filter(|r| r.effect.writes()) {
            if let Access::Requires(permission) = route.access {
                assert!(!expected.grants(Role::Viewer, permission), "{}", route.key());
            }
        }
    }
}
