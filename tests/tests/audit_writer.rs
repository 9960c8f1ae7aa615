//! The audit writer under faults: transactions AWS would refuse, poison in the outbox, and
//! stream records that never arrive. Every test here holds or disturbs the one local stream
//! driver of this binary's stack, so they take turns (`exclusive`).

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use quire::rbac::Role;
use quire_blackbox_tests::{harness, Harness};
use quire_local::seed::SeededOrg;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use tokio::sync::{Mutex, MutexGuard};

async fn exclusive() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::const_new(());
    TURN.lock().await
}

async fn pause_writer(h: &Harness) {
    h.on_stack(|stack| async move { stack.stream.pause() }).await;
}

async fn resume_writer(h: &Harness) {
    h.on_stack(|stack| async move { stack.stream.resume() }).await;
}

async fn verified(h: &Harness, token: &str) -> Value {
    let reply = h.call(Method::GET, "/audit/verify", Some(token), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["valid"], true, "{}", reply.text);
    reply.body
}

async fn documents_in_chain(h: &Harness, token: &str, action: &str) -> HashSet<String> {
    h.audit_entries(token)
        .await
        .iter()
        .filter(|e| e["event"]["action"] == action)
        .map(|e| e["event"]["target"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn org_with_documents(h: &Harness, prefix: &str, n: usize) -> (SeededOrg, String, Vec<String>) {
    let org = h.new_org(prefix).await;
    let owner = h.token(&org, Role::Owner).await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            h.create_document(&owner, &format!("Record {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    h.audit_settled(&org).await;
    (org, owner, ids)
}

/// 30 edits with ~150 KB bodies reach the writer in one stream batch: 9 MB of outbox items and
/// entries, more than twice what one transaction may hold. Every one must reach the chain.
///
/// Proves: AUD-1, AUD-7
#[tokio::test]
async fn a_burst_of_large_edits_reaches_the_chain_under_the_4_mb_limit() {
    let _turn = exclusive().await;
    let h = harness();
    let (org, owner, ids) = org_with_documents(h, "burst", 30).await;
    pause_writer(h).await;
    let edits = ids.iter().enumerate().map(|(n, id)| {
        let owner = owner.clone();
        let body = format!("{n} {}", "é".repeat(75_000)); // 150 000 bytes of UTF-8
        async move {
            h.call(
                Method::PATCH,
                &format!("/documents/{id}"),
                Some(&owner),
                Some(json!({"body": body, "reason": "Expanded procedure"})),
            )
            .await
        }
    });
    let replies = futures::future::join_all(edits).await;
    resume_writer(h).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    h.audit_settled(&org).await;
    let updated = documents_in_chain(h, &owner, "document.updated").await;
    assert_eq!(updated, ids.iter().cloned().collect::<HashSet<_>>());
    verified(h, &owner).await;
    let dead = h.on_stack(|stack| async move { stack.stream.dead_letters() }).await;
    assert!(dead.is_empty(), "no batch may be given up: {dead:?}");
}

/// The emulator refuses what AWS refuses: a transaction whose items exceed 4 MB, and an item
/// over 400 KB, with nothing written.
#[tokio::test]
async fn the_emulator_enforces_the_aws_transaction_limits() {
    let h = harness();
    let ddb = h.dynamodb();
    let marker = quire_blackbox_tests::uuid_hex();
    let put = |n: usize, bytes: usize| {
        let item = [
            ("pk", AttributeValue::S(format!("LIMITS#{marker}"))),
            ("sk", AttributeValue::S(format!("{n:03}"))),
            ("blob", AttributeValue::S("x".repeat(bytes))),
        ];
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&h.data_table)
                    .set_item(Some(item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let too_big = ddb
        .transact_write_items()
        .set_transact_items(Some((0..11).map(|n| put(n, 390_000)).collect()))
        .send()
        .await
        .expect_err("11 items of 390 KB exceed 4 MB");
    assert!(format!("{:?}", too_big.into_service_error()).contains("4 MB"));
    let oversized_item = ddb
        .transact_write_items()
        .set_transact_items(Some(vec![put(0, 420_000)]))
        .send()
        .await;
    assert!(oversized_item.is_err(), "an item over 400 KB is refused");
    let stored = ddb
        .query()
        .table_name(&h.data_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("LIMITS#{marker}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.count, 0, "nothing of a refused transaction is written");
    ddb.transact_write_items()
        .set_transact_items(Some((0..10).map(|n| put(n, 390_000)).collect()))
        .send()
        .await
        .expect("10 items of 390 KB fit");
}
