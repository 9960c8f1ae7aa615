//! The audit writer under faults: transactions AWS would refuse, poison in the outbox, and
//! stream records that never arrive. Every test here holds or disturbs the one local stream
//! driver of this binary's stack, so they take turns (`exclusive`).

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use quire_blackbox_tests::{harness, Harness};
use quire_core::rbac::Role;
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
    let dead_before = h.on_stack(|stack| async move { stack.stream.dead_letters() }).await;
    pause_writer(h).await;
    let edits = ids.iter().enumerate().map(|(n, id)| {
        let owner = owner.clone();
        let body = format!("{n} {}", "é".repeat(75_000)); // 150 000 bytes of UTF-8
        async move {
            h.edit_document(&owner, id, 1, json!({"body": body, "reason": "Expanded procedure"}))
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
    assert_eq!(dead, dead_before, "no batch may be given up");
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

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

async fn outbox_len(h: &Harness, org: &SeededOrg) -> i32 {
    h.dynamodb()
        .query()
        .table_name(&h.data_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(quire_store::testing::outbox_partition(&org.org_id)),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count
}

/// Writes an item into the organisation's outbox directly, as a faulty producer (or someone with
/// table access) could.
async fn put_outbox(h: &Harness, org: &SeededOrg, event_id: &str, event: AttributeValue) {
    h.dynamodb()
        .put_item()
        .table_name(&h.data_table)
        .item(
            "pk",
            AttributeValue::S(quire_store::testing::outbox(&org.org_id, event_id).0),
        )
        .item(
            "sk",
            AttributeValue::S(quire_store::testing::outbox(&org.org_id, event_id).1),
        )
        .item("kind", AttributeValue::S("outbox".into()))
        .item("event", event)
        .send()
        .await
        .unwrap();
}

async fn quarantined(h: &Harness, org: &SeededOrg) -> Vec<(String, String)> {
    let org_id = org.org_id.clone();
    h.on_stack(move |stack| async move { stack.app.store.quarantined(&org_id).await.unwrap() })
        .await
}

/// The reconciler schedule's invocation of the writer, as template.yaml's `ReconcileSchedule`
/// sends it, with a threshold of 0 (every outbox item, however young).
async fn reconcile_now(h: &Harness) -> Value {
    h.on_stack(|stack| async move {
        let invocation = serde_json::from_value(json!({"reconcile": {"olderThanSeconds": 0}})).unwrap();
        Box::pin(quire_fn_audit_writer::invoke(&stack.app.store, invocation))
            .await
            .unwrap()
    })
    .await
}

/// Proves: AUD-7
#[tokio::test]
async fn poison_in_the_outbox_is_quarantined_and_later_events_are_appended() {
    let _turn = exclusive().await;
    let h = harness();
    let (org, owner, _) = org_with_documents(h, "poison", 1).await;
    let other = h.org("globex");
    // A well-formed event of another organisation, copied into this one's outbox.
    let globex_owner = h.token(other, Role::Owner).await;
    let foreign = h.audit_entries(&globex_owner).await.pop().unwrap()["event"].clone();
    pause_writer(h).await;
    let at = now_millis();
    let unknown_version = format!("{at:013}-00000000-0000-4000-8000-000000000001");
    let not_an_event = format!("{at:013}-00000000-0000-4000-8000-000000000002");
    let stray = format!("{at:013}-00000000-0000-4000-8000-000000000003");
    let mut future = foreign.clone();
    future["v"] = json!(99);
    let mut copied = foreign.clone();
    copied["eventId"] = json!(stray);
    let map = |v: &Value| AttributeValue::M(serde_dynamo::to_item(v).unwrap());
    put_outbox(h, &org, &unknown_version, map(&future)).await;
    put_outbox(h, &org, &not_an_event, AttributeValue::S("not an event".into())).await;
    put_outbox(h, &org, &stray, map(&copied)).await;
    let later = h.create_document(&owner, "After the poison").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    resume_writer(h).await;
    h.audit_settled(&org).await;
    assert!(documents_in_chain(h, &owner, "document.created").await.contains(&later));
    let held = quarantined(h, &org).await;
    let reason = |id: &str| {
        held.iter()
            .find(|(k, _)| k == id)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(reason(&unknown_version).contains("version 99"), "{held:?}");
    assert!(reason(&not_an_event).contains("no event"), "{held:?}");
    assert!(reason(&stray).contains("another organisation"), "{held:?}");
    verified(h, &owner).await;
}

/// Proves: AUD-1, AUD-7
#[tokio::test]
async fn an_outbox_item_whose_stream_record_was_lost_is_appended_by_the_reconciler() {
    let _turn = exclusive().await;
    let h = harness();
    let (org, owner, _) = org_with_documents(h, "lost", 0).await;
    pause_writer(h).await;
    let lost = h.create_document(&owner, "Stream record lost").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.on_stack(|stack| async move { stack.stream.discard_unread() }).await;
    resume_writer(h).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // A creation's two events: the document and its first version.
    assert_eq!(outbox_len(h, &org).await, 2, "the stream never delivers them");
    let report = reconcile_now(h).await;
    assert!(report["appended"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(outbox_len(h, &org).await, 0);
    assert!(documents_in_chain(h, &owner, "document.created").await.contains(&lost));
    verified(h, &owner).await;
}

/// A batch that keeps failing is retried as often as the mapping says, then dead-lettered; the
/// shard moves on, and the reconciler appends the batch once the fault is gone.
///
/// Proves: AUD-7
#[tokio::test]
async fn a_failing_batch_is_dead_lettered_after_its_retries_and_reconciled() {
    let _turn = exclusive().await;
    let h = harness();
    let (org, owner, _) = org_with_documents(h, "deadletter", 0).await;
    let head_key = |org: &SeededOrg| {
        let (pk, sk) = quire_store::testing::chain_head(&org.org_id);
        [
            ("pk".to_owned(), AttributeValue::S(pk)),
            ("sk".to_owned(), AttributeValue::S(sk)),
        ]
    };
    let ddb = h.dynamodb();
    let head = ddb
        .get_item()
        .table_name(&h.audit_table)
        .set_key(Some(head_key(&org).into_iter().collect()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    // Fault: the chain head becomes unreadable, so every append of this organisation fails.
    let mut broken = head.clone();
    broken.insert("seq".into(), AttributeValue::S("unreadable".into()));
    ddb.put_item()
        .table_name(&h.audit_table)
        .set_item(Some(broken))
        .send()
        .await
        .unwrap();
    let before = h
        .on_stack(|stack| async move { stack.stream.dead_letters().len() })
        .await;
    let id = h.create_document(&owner, "Written during the fault").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut dead = before;
    for _ in 0..100 {
        dead = h
            .on_stack(|stack| async move { stack.stream.dead_letters().len() })
            .await;
        if dead > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(dead, before + 1, "the batch is given up after MaximumRetryAttempts");
    // A creation's two events (the document and its first version), in one batch.
    assert_eq!(outbox_len(h, &org).await, 2, "the outbox items wait for the reconciler");
    ddb.put_item()
        .table_name(&h.audit_table)
        .set_item(Some(head))
        .send()
        .await
        .unwrap();
    reconcile_now(h).await;
    assert_eq!(outbox_len(h, &org).await, 0);
    assert!(documents_in_chain(h, &owner, "document.created").await.contains(&id));
    verified(h, &owner).await;
}
