//! What an authenticated request costs in DynamoDB round trips, counted by the emulator
//! (infra/local/moto_server.py counts every DynamoDB call it serves). The only test of its binary:
//! no other test's calls run beside the measured request.

use quire_blackbox_tests::harness;
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use std::collections::HashMap;

/// The calls made between two counts, by operation.
fn made(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> HashMap<String, u64> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or_default()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Checking the token's membership and session (revocation included) costs two round trips:
/// the user directory, then organisation, membership, session and revocation mark in one
/// `BatchGetItem`. `GET /auth/me` reads nothing more, so it shows the pipeline's cost alone. A
/// background write (the audit writer) can only add calls, so the fewest of three requests is
/// the request's own cost.
///
/// Proves: AUTHN-2
#[tokio::test]
async fn an_authenticated_request_costs_two_round_trips() {
    let h = harness();
    let org = h.new_org("trips").await;
    let token = h.token(&org, Role::Viewer).await;
    h.audit_settled(&org).await;
    let mut fewest: Option<HashMap<String, u64>> = None;
    for _ in 0..3 {
        let before = h.dynamodb_calls().await;
        let reply = h.call(Method::GET, "/auth/me", Some(&token), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let calls = made(&before, &h.dynamodb_calls().await);
        let total = |c: &HashMap<String, u64>| c.values().sum::<u64>();
        if fewest.as_ref().is_none_or(|f| total(&calls) < total(f)) {
            fewest = Some(calls);
        }
    }
    let fewest = fewest.expect("three requests");
    assert_eq!(
        fewest,
        HashMap::from([("GetItem".to_owned(), 1), ("BatchGetItem".to_owned(), 1)]),
        "{fewest:?}"
    );
}
