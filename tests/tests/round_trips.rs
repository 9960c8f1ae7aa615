//! What a request costs in DynamoDB round trips and KMS calls, counted by the emulator
//! (infra/local/moto_server.py counts every DynamoDB and KMS call it serves). The tests of this
//! binary take turns ([`ALONE`]): no other test's calls run beside the measured request.

use quire_blackbox_tests::harness;
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use std::collections::HashMap;

/// Held by each test of this binary while it measures.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _alone = ALONE.lock().await;
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

/// A download opens its file once: one KMS `Decrypt` of the data key per response, whole file
/// or range (the key is not cached between requests).
///
/// Proves: CRY-1
#[tokio::test]
async fn a_download_unwraps_its_data_key_once() {
    let _alone = ALONE.lock().await;
    let h = harness();
    let org = h.new_org("kmstrips").await;
    let token = h.token(&org, Role::User).await;
    let document = h.create_document(&token, "SOP-020 Downloads").await;
    let id = document["id"].as_str().unwrap();
    let content = "0123456789abcdef\n".repeat(9000);
    let declared = h
        .call(
            Method::POST,
            &format!("/documents/{id}/attachments"),
            Some(&token),
            Some(serde_json::json!({"fileName": "log.txt", "contentType": "text/plain", "size": content.len()})),
        )
        .await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", declared.text);
    let upload = &declared.body["upload"];
    let mut put = reqwest::Client::new()
        .put(upload["url"].as_str().unwrap())
        .body(content.clone());
    for (name, value) in upload["headers"].as_object().unwrap() {
        if name != "content-length" {
            put = put.header(name.as_str(), value.as_str().unwrap());
        }
    }
    assert!(put.send().await.unwrap().status().is_success());
    let attachment = declared.body["attachment"]["id"].as_str().unwrap().to_owned();
    let path = format!("/attachments/{attachment}/content");
    for _ in 0..300 {
        let read = h
            .call(Method::GET, &format!("/attachments/{attachment}"), Some(&token), None)
            .await;
        if read.body["status"] != "pending" {
            assert_eq!(read.body["status"], "accepted", "{}", read.text);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    h.audit_settled(&org).await;
    for range in [None, Some("bytes=70000-140000")] {
        let mut fewest: Option<HashMap<String, u64>> = None;
        for _ in 0..3 {
            let before = h.kms_calls().await;
            let mut request = h.request(Method::GET, &path).bearer_auth(&token);
            if let Some(range) = range {
                request = request.header("range", range);
            }
            let reply = h.raw(request).await;
            assert!(reply.status.is_success(), "{}", reply.text);
            let calls = made(&before, &h.kms_calls().await);
            let total = |c: &HashMap<String, u64>| c.values().sum::<u64>();
            if fewest.as_ref().is_none_or(|f| total(&calls) < total(f)) {
                fewest = Some(calls);
            }
        }
        assert_eq!(
            fewest.expect("three requests"),
            HashMap::from([("Decrypt".to_owned(), 1)]),
            "{range:?}"
        );
    }
}
