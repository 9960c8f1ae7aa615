//! The audit trail over HTTP: one entry per change, a chain that verifies, tampering that is
//! found and named, and no lost, duplicated or forked entries under concurrent writers.

use aws_sdk_dynamodb::types::AttributeValue;
use quire_blackbox_tests::{harness, Harness};
use quire_core::rbac::Role;
use quire_local::seed::SeededOrg;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

async fn verify(h: &Harness, token: &str) -> Value {
    let reply = h.call(Method::GET, "/audit/verify", Some(token), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

/// Proves: AUD-1, AUD-3
#[tokio::test]
async fn each_write_yields_exactly_one_entry_with_before_and_after() {
    let h = harness();
    let org = h.new_org("trail").await;
    let owner = h.token(&org, Role::Owner).await;
    let user = h.token(&org, Role::User).await;
    let doc = h.create_document(&user, "SOP-7 Gowning").await;
    let id = doc["id"].as_str().unwrap();
    let patch = h
        .raw(
            h.request(Method::PATCH, &format!("/documents/{id}"))
                .bearer_auth(&user)
                .header("user-agent", "audit-test/1.0")
                .header("if-match", "\"1\"")
                .json(&json!({"body": "Step 1: gloves", "reason": "Clarified step 1"})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.text);
    // A no-op edit and a refused write change nothing, so they leave no entry.
    let unchanged = h
        .edit_document(&user, id, 2, json!({"body": "Step 1: gloves", "reason": "again"}))
        .await;
    assert_eq!(unchanged.status, StatusCode::OK, "{}", unchanged.text);
    h.call(
        Method::POST,
        "/documents",
        Some(&h.token(&org, Role::Viewer).await),
        Some(json!({"title": "x", "type": "sop", "body": "y"})),
    )
    .await;
    h.audit_settled(&org).await;

    let entries = h.audit_entries(&owner).await;
    let about_doc: Vec<&Value> = entries.iter().filter(|e| e["event"]["target"]["id"] == id).collect();
    assert_eq!(about_doc.len(), 3, "{about_doc:#?}");
    let (created, first, updated) = (&about_doc[0]["event"], &about_doc[1]["event"], &about_doc[2]["event"]);
    assert_eq!(created["action"], "document.created");
    assert_eq!(created["before"], Value::Null);
    assert_eq!(created["after"], doc);
    // The content lives in the version, which has its own entry.
    assert_eq!(first["action"], "document.version.created");
    assert_eq!(first["before"], Value::Null);
    assert_eq!(first["after"]["body"], "Step 1.\nStep 2.");
    assert_eq!(updated["action"], "document.updated");
    assert_eq!(updated["before"], first["after"]);
    assert_eq!(updated["after"]["body"], "Step 1: gloves");
    assert_eq!(updated["after"]["version"], 2);
    assert_eq!(updated["reason"], "Clarified step 1");
    let actor = &updated["actor"];
    assert_eq!(actor["userId"], org.user(Role::User).user_id.to_string());
    assert_eq!(actor["email"], org.user(Role::User).email);
    assert_eq!(actor["role"], "User");
    assert!(actor["displayName"].as_str().unwrap().ends_with("User"));
    assert_eq!(updated["origin"]["ip"], "127.0.0.1");
    assert_eq!(
        patch.header("x-correlation-id"),
        updated["origin"]["correlationId"].as_str()
    );
    assert!(updated["at"].as_str().unwrap().ends_with('Z'));
    // Sequence numbers run 1..n without gaps, each linking to the one before.
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["seq"], i as u64 + 1);
        if i > 0 {
            assert_eq!(entry["prevHash"], entries[i - 1]["hash"]);
        }
    }
    let v = verify(h, &owner).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["checked"], entries.len());
    assert_eq!(v["brokenAt"], Value::Null);
}

/// Proves: AUD-8
#[tokio::test]
async fn free_text_in_entries_cannot_inject_lines() {
    let h = harness();
    let org = h.new_org("inject").await;
    let owner = h.token(&org, Role::Owner).await;
    // Tab, NEL (a C1 line break) and a right-to-left override: all valid in an HTTP header.
    let agent = reqwest::header::HeaderValue::from_bytes("agent\tX\u{85}Y\u{202e}Z".as_bytes()).unwrap();
    let reply = h
        .raw(
            h.request(Method::POST, "/documents")
                .bearer_auth(&owner)
                .header("user-agent", agent)
                .json(&json!({"title": "x", "type": "sop", "body": "y"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    let ua = entries.last().unwrap()["event"]["origin"]["userAgent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(ua, "agent\u{fffd}X\u{fffd}Y\u{fffd}Z");
}

/// Proves: AUD-2
#[tokio::test]
async fn the_api_offers_no_way_to_change_or_delete_entries() {
    let h = harness();
    let owner = h.token(h.org("acme"), Role::Owner).await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        for path in ["/audit", "/audit/1", "/audit/verify"] {
            let reply = h.call(method.clone(), path, Some(&owner), Some(json!({}))).await;
            assert!(
                matches!(reply.status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED),
                "{method} {path}: {}",
                reply.status
            );
        }
    }
}

/// An org whose chain holds seeding (the organisation, four members, the Owner's and Admin's
/// authenticators: 7 entries), the owner's sign-in (challenged, the TOTP code passed, signed in:
/// 3) and 3 document creations (the document and its first version: 2 each): 16 entries.
async fn chain_of_sixteen(h: &Harness, prefix: &str) -> (SeededOrg, String) {
    let org = h.new_org(prefix).await;
    let owner = h.token(&org, Role::Owner).await;
    for n in 0..3 {
        h.create_document(&owner, &format!("Record {n}")).await;
    }
    h.audit_settled(&org).await;
    let v = verify(h, &owner).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["checked"], 16);
    // What an independent verifier binds the entries to (`verify_chain.py --org`).
    assert_eq!(v["orgId"], org.org_id.to_string());
    h.audit_settled(&org).await;
    (org, owner)
}

fn entry_key(org: &SeededOrg, seq: u64) -> [(String, AttributeValue); 2] {
    let (pk, sk) = quire_store::testing::chain_entry(&org.org_id, seq);
    [
        ("pk".into(), AttributeValue::S(pk)),
        ("sk".into(), AttributeValue::S(sk)),
    ]
}

async fn read_entry(h: &Harness, org: &SeededOrg, seq: u64) -> std::collections::HashMap<String, AttributeValue> {
    let [pk, sk] = entry_key(org, seq);
    h.dynamodb()
        .get_item()
        .table_name(&h.audit_table)
        .key(pk.0, pk.1)
        .key(sk.0, sk.1)
        .send()
        .await
        .unwrap()
        .item
        .expect("entry exists")
}

async fn put_entry(h: &Harness, item: std::collections::HashMap<String, AttributeValue>) {
    h.dynamodb()
        .put_item()
        .table_name(&h.audit_table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

async fn broken_at(h: &Harness, owner: &str) -> Value {
    let v = verify(h, owner).await;
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    v["brokenAt"].clone()
}

/// Proves: AUD-5
#[tokio::test]
async fn an_altered_entry_is_named() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "alter").await;
    let mut item = read_entry(h, &org, 7).await;
    let AttributeValue::M(mut event) = item.remove("event").unwrap() else {
        panic!("event map")
    };
    event.insert("reason".into(), AttributeValue::S("backdated approval".into()));
    item.insert("event".into(), AttributeValue::M(event));
    put_entry(h, item).await;
    assert_eq!(broken_at(h, &owner).await, 7);
}

/// One entry that no longer reads as an entry is listed in its place, marked, and the rest of
/// the page is served: `GET /audit` does not become a 500 for the whole trail.
///
/// Proves: AUD-5, HTTP-4
#[tokio::test]
async fn an_unreadable_entry_is_listed_in_its_place() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "unreadable").await;
    let mut item = read_entry(h, &org, 7).await;
    item.insert("hash".into(), AttributeValue::N("7".into()));
    put_entry(h, item).await;
    let page = h.call(Method::GET, "/audit?limit=100", Some(&owner), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let items = page.body["items"].as_array().expect("items");
    let unreadable: Vec<&Value> = items.iter().filter(|i| i["unreadable"] == true).collect();
    assert_eq!(unreadable.len(), 1, "{items:#?}");
    assert_eq!(unreadable[0]["seq"], 7);
    assert!(
        !page.text.contains("invalid type"),
        "the parse error leaked: {}",
        page.text
    );
    let readable = items.iter().filter(|i| i["hash"].is_string()).count();
    assert!(items.len() >= 9, "{items:#?}");
    assert_eq!(readable, items.len() - 1, "the other entries are listed: {items:#?}");
    assert_eq!(broken_at(h, &owner).await, 7);
}

/// Proves: AUD-5
#[tokio::test]
async fn an_extra_attribute_on_an_entry_is_named() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "extra").await;
    let mut item = read_entry(h, &org, 4).await;
    item.insert("note".into(), AttributeValue::S("added later".into()));
    put_entry(h, item).await;
    assert_eq!(broken_at(h, &owner).await, 4);
}

/// Proves: AUD-5
#[tokio::test]
async fn a_deleted_entry_is_named() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "delete").await;
    let [pk, sk] = entry_key(&org, 6);
    h.dynamodb()
        .delete_item()
        .table_name(&h.audit_table)
        .key(pk.0, pk.1)
        .key(sk.0, sk.1)
        .send()
        .await
        .unwrap();
    assert_eq!(broken_at(h, &owner).await, 6);
}

/// Proves: AUD-5
#[tokio::test]
async fn an_inserted_entry_is_named() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "insert").await;
    // A copy of entry 9 placed after the head: `GET /audit` would list it as the newest entry.
    h.audit_settled(&org).await;
    let head_seq = verify(h, &owner).await["headSeq"].as_u64().unwrap();
    h.audit_settled(&org).await;
    let mut forged = read_entry(h, &org, 9).await;
    let [pk, sk] = entry_key(&org, head_seq + 5);
    forged.insert(pk.0, pk.1);
    forged.insert(sk.0, sk.1);
    forged.insert("seq".into(), AttributeValue::N((head_seq + 5).to_string()));
    put_entry(h, forged).await;
    let at = broken_at(h, &owner).await.as_u64().unwrap();
    assert!(at > head_seq, "{at} should be past the head {head_seq}");
}

/// Proves: AUD-5
#[tokio::test]
async fn reordered_entries_are_named() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "reorder").await;
    let (mut a, mut b) = (read_entry(h, &org, 3).await, read_entry(h, &org, 4).await);
    // Swap the entries' positions (their keys), keeping each entry's content.
    let (a_sk, b_sk) = (a["sk"].clone(), b["sk"].clone());
    a.insert("sk".into(), b_sk);
    b.insert("sk".into(), a_sk);
    put_entry(h, a).await;
    put_entry(h, b).await;
    assert_eq!(broken_at(h, &owner).await, 3);
}

/// Proves: AUD-7, AUD-2
#[tokio::test]
async fn concurrent_writers_leave_one_contiguous_chain() {
    const WRITERS: usize = 16;
    // Each creation records two events (the document and its first version).
    const DOCUMENTS_EACH: usize = 100;
    let h = harness();
    let org = h.new_org("storm").await;
    let owner = h.token(&org, Role::Owner).await;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let token = owner.clone();
        tasks.push(tokio::spawn(async move {
            let h = harness();
            let mut ids = Vec::new();
            for n in 0..DOCUMENTS_EACH {
                ids.push(
                    h.create_document(&token, &format!("w{w} d{n}")).await["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            ids
        }));
    }
    // Extra writers racing the stream-driven one over the same outbox: redelivery and a second
    // writer at once. The conditional head update must keep the chain single.
    let org_id = org.org_id.clone();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let org_id = org_id.clone();
            tokio::spawn(async move {
                let h = harness();
                for _ in 0..20 {
                    let org_id = org_id.clone();
                    h.on_stack(move |stack| async move { stack.app.store.drain_outbox(&org_id).await.expect("drain") })
                        .await;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            })
        })
        .collect();
    let mut created = HashSet::new();
    for task in tasks {
        created.extend(task.await.unwrap());
    }
    for racer in racers {
        racer.await.unwrap();
    }
    assert_eq!(created.len(), WRITERS * DOCUMENTS_EACH);
    h.audit_settled(&org).await;

    let entries = h.audit_entries(&owner).await;
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=entries.len() as u64).collect::<Vec<_>>(),
        "contiguous, no fork"
    );
    let event_ids: HashSet<&str> = entries
        .iter()
        .map(|e| e["event"]["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(event_ids.len(), entries.len(), "no duplicated event");
    let documented: HashSet<String> = entries
        .iter()
        .filter(|e| e["event"]["action"] == "document.created")
        .map(|e| e["event"]["target"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(documented, created, "every creation exactly once, none lost");
    // A full verification: the quick check may stop short of 3 200 entries on a loaded machine.
    let job = start_verification(h, &owner).await;
    let done = h.verification_done(&owner, job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "valid", "{done}");
    assert_eq!(done["verdict"]["checked"], entries.len(), "{done}");
}

/// A long body is not copied into the entry: the entry holds its digest, `GET /audit` returns the
/// blob beside the page, and verification checks the blob against the digest.
///
/// Proves: AUD-2, AUD-5
#[tokio::test]
async fn long_values_are_blobs_the_chain_commits_to() {
    let h = harness();
    let org = h.new_org("blob").await;
    let owner = h.token(&org, Role::Owner).await;
    let body = format!("Scope.\n{}", "Clean the line before each batch. ".repeat(400));
    let created = h
        .call(
            Method::POST,
            "/documents",
            Some(&owner),
            Some(json!({"title": "SOP-9 Line clearance", "type": "sop", "body": body})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    h.audit_settled(&org).await;
    let page = h.call(Method::GET, "/audit?limit=1", Some(&owner), None).await;
    let after = &page.body["items"][0]["event"]["after"];
    assert_eq!(after["title"], "SOP-9 Line clearance", "short values stay inline");
    let digest = after["body"]["$sha256"]
        .as_str()
        .expect("the body is a reference")
        .to_owned();
    assert_eq!(after["body"]["$bytes"], body.len());
    assert_eq!(page.body["blobs"][&digest], body);
    assert!(
        page.text.len() < body.len() * 2 + 4096,
        "the body is returned once, not per entry"
    );
    let v = verify(h, &owner).await;
    assert_eq!(v["valid"], true, "{v}");
    let one = h
        .call(Method::GET, &format!("/audit/blobs/{digest}"), Some(&owner), None)
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.body["content"], body);

    // Altering the stored blob breaks the entry that references it.
    h.tamper(
        quire_store::testing::blob(&org.org_id, &digest),
        "content",
        "Skip cleaning.",
    )
    .await;
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    let seq = entries
        .iter()
        .find(|e| {
            e["event"]["target"]["id"] == created.body["id"] && e["event"]["action"] == "document.version.created"
        })
        .unwrap()["seq"]
        .clone();
    assert_eq!(broken_at(h, &owner).await, seq);
}

/// A blob is reachable only from its own organisation's trail: another tenant's digest, or text
/// that is no digest, is the same 404.
///
/// Proves: TEN-3
#[tokio::test]
async fn another_organisations_blob_is_not_found() {
    let h = harness();
    let org = h.new_org("blobown").await;
    let owner = h.token(&org, Role::Owner).await;
    let body = format!("Confidential formulation.\n{}", "Ratio 3:1. ".repeat(200));
    let created = h
        .call(
            Method::POST,
            "/documents",
            Some(&owner),
            Some(json!({"title": "Formula", "type": "specification", "body": body})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let digest = quire_core::audit::blob::digest(&body);
    let own = h
        .call(Method::GET, &format!("/audit/blobs/{digest}"), Some(&owner), None)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let other = h.token(h.org("globex"), Role::Owner).await;
    for path in [
        format!("/audit/blobs/{digest}"),
        format!("/audit/blobs/{}", digest.to_uppercase()),
        "/audit/blobs/..%2F..%2Fsecret".to_owned(),
    ] {
        let reply = h.call(Method::GET, &path, Some(&other), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.text);
        assert!(!reply.text.contains("Ratio"), "{path}");
    }
}

/// A page carries at most 1 MiB of blob content; the digests that did not fit are listed and
/// each can be read on its own, so a page stays far below Lambda's 6 MB response limit.
#[tokio::test]
async fn a_page_of_large_entries_lists_the_blobs_it_does_not_carry() {
    let h = harness();
    let org = h.new_org("blobpage").await;
    let owner = h.token(&org, Role::Owner).await;
    let mut bodies = Vec::new();
    for n in 0..8 {
        let body = format!("{n} {}", "é".repeat(75_000));
        let created = h
            .call(
                Method::POST,
                "/documents",
                Some(&owner),
                Some(json!({"title": format!("Large {n}"), "type": "sop", "body": body})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        bodies.push(body);
    }
    h.audit_settled(&org).await;
    let page = h.call(Method::GET, "/audit?limit=20", Some(&owner), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let carried = page.body["blobs"].as_object().unwrap();
    let omitted: Vec<&str> = page.body["blobsOmitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(carried.len() + omitted.len(), 8);
    assert!(!omitted.is_empty(), "1.2 MB of bodies exceed the page's budget");
    assert!(carried.values().map(|c| c.as_str().unwrap().len()).sum::<usize>() <= 1024 * 1024);
    for digest in omitted {
        let one = h
            .call(Method::GET, &format!("/audit/blobs/{digest}"), Some(&owner), None)
            .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.text);
        assert!(bodies.iter().any(|b| one.body["content"] == *b));
    }
}

/// Requests a full verification: 202, its `Location`, the job queued against the current head.
async fn start_verification(h: &Harness, token: &str) -> Value {
    let reply = h.call(Method::POST, "/audit/verifications", Some(token), None).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let id = reply.body["id"].as_str().expect("job id");
    assert_eq!(
        reply.header("location"),
        Some(format!("/audit/verifications/{id}").as_str())
    );
    assert_eq!(reply.body["status"], "queued", "{}", reply.text);
    reply.body
}

/// `GET /audit/verify` reads; it records nothing, however often it is called.
///
/// Proves: AUD-5
#[tokio::test]
async fn the_quick_check_writes_nothing() {
    let h = harness();
    let org = h.new_org("readonly").await;
    let owner = h.token(&org, Role::Owner).await;
    h.create_document(&owner, "SOP-1").await;
    h.audit_settled(&org).await;
    let before = h.audit_entries(&owner).await.len() as u64;
    for _ in 0..3 {
        let v = verify(h, &owner).await;
        assert_eq!(
            (v["valid"].clone(), v["complete"].clone()),
            (json!(true), json!(true)),
            "{v}"
        );
        assert_eq!(v["headSeq"], before, "{v}");
    }
    h.audit_settled(&org).await;
    assert_eq!(
        h.audit_entries(&owner).await.len() as u64,
        before,
        "a GET wrote an entry"
    );
}

/// The quick check and a full verification, both run while one writer keeps appending, agree
/// that the chain is valid: each checks the entries up to a head read before its walk.
///
/// Proves: AUD-5
#[tokio::test]
async fn a_verification_during_sustained_writes_is_valid() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let h = harness();
    let org = h.new_org("sustained").await;
    let owner = h.token(&org, Role::Owner).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, token) = (stop.clone(), owner.clone());
        tokio::spawn(async move {
            let mut written = 0;
            while !stop.load(Ordering::SeqCst) {
                harness()
                    .create_document(&token, &format!("Batch record {written}"))
                    .await;
                written += 1;
            }
            written
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let job = start_verification(h, &owner).await;
    let mut heads = Vec::new();
    for _ in 0..8 {
        let v = verify(h, &owner).await;
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["complete"], true, "{v}");
        heads.push(v["headSeq"].as_u64().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let done = h.verification_done(&owner, job["id"].as_str().unwrap()).await;
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.unwrap();
    assert_eq!(done["status"], "valid", "{done}");
    assert_eq!(done["verdict"]["checked"], done["head"]["seq"], "{done}");
    // The checks really raced the writer: the head moved between them.
    assert!(
        heads.first() < heads.last(),
        "heads {heads:?} while {written} documents were written"
    );
    h.audit_settled(&org).await;
    assert_eq!(verify(h, &owner).await["valid"], true);
}

/// A full verification is a job: requested with 202, run by the audit verifier, its start and
/// its verdict both in the trail; only the requesting organisation sees it.
///
/// Proves: AUD-5, AUD-3, TEN-3
#[tokio::test]
async fn a_full_verification_is_a_job_whose_start_and_verdict_are_audited() {
    let h = harness();
    let org = h.new_org("fullwalk").await;
    let owner = h.token(&org, Role::Owner).await;
    let viewer = h.token(&org, Role::Viewer).await;
    for n in 0..3 {
        h.create_document(&owner, &format!("Record {n}")).await;
    }
    h.audit_settled(&org).await;
    let entries_before = h.audit_entries(&owner).await.len() as u64;
    let refused = h.call(Method::POST, "/audit/verifications", Some(&viewer), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);

    let job = start_verification(h, &owner).await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["head"]["seq"], entries_before, "{job}");
    let done = h.verification_done(&owner, &id).await;
    assert_eq!(done["status"], "valid", "{done}");
    assert_eq!(done["verdict"]["valid"], true, "{done}");
    assert_eq!(done["verdict"]["checked"], entries_before, "{done}");
    assert_eq!(done["through"], done["head"], "{done}");

    let listed = h.call(Method::GET, "/audit/verifications", Some(&owner), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["items"][0]["id"], id.as_str(), "{}", listed.text);
    let other = h.token(h.org("globex"), Role::Owner).await;
    for path in [
        format!("/audit/verifications/{id}"),
        "/audit/verifications/not-a-job".into(),
    ] {
        let reply = h.call(Method::GET, &path, Some(&other), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.text);
    }

    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    let about_job: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"]["target"] == json!({"type": "audit-verification", "id": id}))
        .collect();
    assert_eq!(about_job.len(), 2, "{about_job:?}");
    let (started, verified) = (&about_job[0]["event"], &about_job[1]["event"]);
    assert_eq!(started["action"], "audit.verification.started");
    assert_eq!(started["actor"]["userId"], org.user(Role::Owner).user_id.as_str());
    assert_eq!(started["after"]["status"], "queued");
    assert_eq!(verified["action"], "audit.verified");
    assert_eq!(verified["actor"]["role"], "System");
    assert_eq!(verified["before"]["status"], "queued");
    assert_eq!(verified["after"]["verdict"]["valid"], true);
    assert_eq!(
        verified["origin"]["correlationId"], started["origin"]["correlationId"],
        "the verdict carries the request's correlation id"
    );
}

/// The quick check walks only what the last full verification did not cover, from the link it
/// found valid; that link is checked again each time, and a broken full verdict makes every
/// quick check start from the genesis again.
///
/// Proves: AUD-5
#[tokio::test]
async fn the_quick_check_goes_on_from_the_last_full_verification() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "increment").await;
    let first = start_verification(h, &owner).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(h.verification_done(&owner, &first_id).await["status"], "valid");
    let anchor = first["head"]["seq"].as_u64().unwrap();
    h.create_document(&owner, "After the verification").await;
    h.audit_settled(&org).await;

    let v = verify(h, &owner).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["basis"]["verificationId"], first_id.as_str(), "{v}");
    assert_eq!(v["fromSeq"], anchor, "{v}");
    let head = v["headSeq"].as_u64().unwrap();
    assert_eq!(v["checked"], head - anchor, "{v}");

    // The link the check starts from is re-checked: altering it is found.
    let original = read_entry(h, &org, anchor).await;
    let mut altered = original.clone();
    let AttributeValue::M(mut event) = altered.remove("event").unwrap() else {
        panic!("event map")
    };
    event.insert("reason".into(), AttributeValue::S("rewritten".into()));
    altered.insert("event".into(), AttributeValue::M(event));
    put_entry(h, altered).await;
    assert_eq!(broken_at(h, &owner).await, anchor);
    put_entry(h, original).await;
    assert_eq!(verify(h, &owner).await["valid"], true);

    // An entry before that link is the full verification's to find; its broken verdict resets
    // the link, so every quick check reports the break from then on.
    let mut early = read_entry(h, &org, 2).await;
    early.insert("note".into(), AttributeValue::S("added later".into()));
    put_entry(h, early).await;
    let second = start_verification(h, &owner).await;
    let done = h.verification_done(&owner, second["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "broken", "{done}");
    assert_eq!(done["verdict"]["brokenAt"], 2, "{done}");
    let v = verify(h, &owner).await;
    assert_eq!(v["brokenAt"], 2, "{v}");
    assert_eq!(v["basis"]["through"]["seq"], 0, "{v}");
}

/// A verification longer than one invocation saves its progress and the save triggers the next
/// slice through the stream, until the verdict; a stale trigger does nothing.
///
/// Proves: AUD-5
#[tokio::test]
async fn a_long_verification_runs_in_slices_that_trigger_each_other() {
    use quire_store::{Slice, SliceBudget};
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "slices").await;
    let paused = h.pause_verifier();
    // Let a poll already under way finish before the job exists.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let job = start_verification(h, &owner).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let slice = |version: u64| {
        let (org_id, id) = (org.org_id.clone(), id.clone());
        h.on_stack(move |stack| async move {
            let scope = quire_store::testing::scope(&org_id);
            let budget = SliceBudget {
                until: std::time::Instant::now() + std::time::Duration::from_secs(60),
                max_entries: 4,
            };
            stack.app.store.run_verification(&scope, &id, version, budget).await
        })
    };
    // One slice of 4 entries, as an invocation running out of time leaves it.
    assert_eq!(slice(1).await.unwrap(), Slice::Continued { through: 4 });
    let reply = h
        .call(Method::GET, &format!("/audit/verifications/{id}"), Some(&owner), None)
        .await;
    assert_eq!(reply.body["status"], "running", "{}", reply.text);
    assert_eq!(reply.body["through"]["seq"], 4, "{}", reply.text);
    // The job's insert, redelivered, is stale now.
    assert_eq!(slice(1).await.unwrap(), Slice::Skipped);

    drop(paused);
    let done = h.verification_done(&owner, &id).await;
    assert_eq!(done["status"], "valid", "{done}");
    assert_eq!(done["verdict"]["checked"], 16, "{done}");
    assert!(done["slices"].as_u64().unwrap() >= 2, "{done}");
}

/// Items a forger adds beside the entries, under keys that sort after the head (one that is no
/// number at all hides a correctly numbered forgery behind it) or before entry 1, are listed by
/// `GET /audit`: both the quick check and a full verification name them.
///
/// Proves: AUD-5
#[tokio::test]
async fn items_stored_outside_the_entries_break_the_chain() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "decoy").await;
    let copy = read_entry(h, &org, 9).await;
    // Above every entry: beyond u64, not a number, a short number; just after the head entry;
    // before entry 1: a prefix of the zero key, and just after it.
    for template in [
        "99999999999999999999",
        "~",
        "1",
        "<head>x",
        "0",
        "00000000000000000000x",
    ] {
        h.audit_settled(&org).await;
        let head = verify(h, &owner).await["headSeq"].as_u64().unwrap();
        let rest = template.replace("<head>", &format!("{head:020}"));
        let (pk, sk) = quire_store::testing::chain_item(&org.org_id, &rest);
        let mut forged = copy.clone();
        forged.insert("pk".into(), AttributeValue::S(pk.clone()));
        forged.insert("sk".into(), AttributeValue::S(sk.clone()));
        put_entry(h, forged).await;
        let v = verify(h, &owner).await;
        assert_eq!(v["valid"], false, "{rest}: {v}");
        let at = v["brokenAt"].as_u64().unwrap();
        if template.starts_with('0') {
            assert_eq!(at, 1, "{rest}: {v}");
        } else {
            assert!(at > head, "{rest}: {v}");
        }
        let job = start_verification(h, &owner).await;
        let done = h.verification_done(&owner, job["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "broken", "{rest}: {done}");
        h.dynamodb()
            .delete_item()
            .table_name(&h.audit_table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .send()
            .await
            .unwrap();
    }
}

/// One verification per organisation at a time, under concurrency: of requests made at once,
/// exactly one starts a job and the others get 409 naming it; the verdict frees the next.
///
/// Proves: AUD-5
#[tokio::test]
async fn a_second_verification_waits_for_the_first() {
    let h = harness();
    let (org, owner) = chain_of_sixteen(h, "onejob").await;
    let held = h.pause_verifier();
    let replies =
        futures::future::join_all((0..8).map(|_| h.call(Method::POST, "/audit/verifications", Some(&owner), None)))
            .await;
    let started: Vec<&quire_blackbox_tests::Reply> =
        replies.iter().filter(|r| r.status == StatusCode::ACCEPTED).collect();
    assert_eq!(
        started.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let id = started[0].body["id"].as_str().unwrap().to_owned();
    for refused in replies.iter().filter(|r| r.status != StatusCode::ACCEPTED) {
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
        assert_eq!(refused.body["verificationId"], id.as_str(), "{}", refused.text);
        assert_eq!(
            refused.header("location"),
            Some(format!("/audit/verifications/{id}").as_str())
        );
    }
    drop(held);
    assert_eq!(h.verification_done(&owner, &id).await["status"], "valid");
    h.audit_settled(&org).await;
    let started = h
        .audit_entries(&owner)
        .await
        .iter()
        .filter(|e| e["event"]["action"] == "audit.verification.started")
        .count();
    assert_eq!(started, 1, "the refused requests started nothing");
    // The verdict released the organisation's lock.
    let next = start_verification(h, &owner).await;
    h.verification_done(&owner, next["id"].as_str().unwrap()).await;
}
