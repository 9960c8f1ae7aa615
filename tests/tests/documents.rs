//! Document control (DOC-1..3) over HTTP: numbers, types, versions, the lifecycle's edges,
//! approval routes, diffs; every new route refuses another tenant's document.

use quire_blackbox_tests::{events_of, harness, Harness};
use quire_core::rbac::Role;
use quire_local::seed::SeededOrg;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn create(h: &Harness, token: &str, kind: &str, title: &str) -> Value {
    let reply = h
        .call(
            Method::POST,
            "/documents",
            Some(token),
            Some(json!({"title": title, "type": kind, "body": "Step 1.\nStep 2.\nStep 3."})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body
}

async fn transition(h: &Harness, token: &str, id: &str, v: u32, body: Value) -> quire_blackbox_tests::Reply {
    h.call(
        Method::POST,
        &format!("/documents/{id}/versions/{v}/transitions"),
        Some(token),
        Some(body),
    )
    .await
}

/// A route of the organisation's Admin (reviewer) and Owner (approver).
fn route_of(org: &SeededOrg, order: &str) -> Value {
    json!({
        "order": order,
        "reviewers": [org.user(Role::Admin).user_id.to_string()],
        "approvers": [org.user(Role::Owner).user_id.to_string()],
    })
}

/// The names of the checks a verification reports failed, in its order.
fn failed_checks(verification: &Value) -> Vec<&str> {
    verification["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect()
}

/// [`create`], for the new document's id.
async fn create_id(h: &Harness, token: &str, kind: &str, title: &str) -> String {
    create(h, token, kind, title).await["id"].as_str().unwrap().to_owned()
}

/// Sets a version's status (and the document's, whose summary names its latest version's) in
/// the table, as the signatures of a route approve it: the lifecycle tests reach approval
/// without a route of signatures each time.
async fn approve_in_table(h: &Harness, org: &SeededOrg, id: &str, v: u32) {
    h.tamper(
        quire_store::testing::document_version(&org.org_id, id, v),
        "status",
        "approved",
    )
    .await;
    h.tamper(quire_store::testing::document(&org.org_id, id), "status", "approved")
        .await;
}

/// Numbers are the type's prefix and the next number of its counter, per organisation; an
/// unknown type (matched exactly) is a 400 listing the organisation's types.
///
/// Proves: DOC-1
#[tokio::test]
async fn documents_are_numbered_per_type_and_organisation() {
    let h = harness();
    let org = h.new_org("numbers").await;
    let other = h.new_org("numbers").await;
    let token = h.token(&org, Role::User).await;
    let first = create(h, &token, "sop", "Line clearance").await;
    let second = create(h, &token, "sop", "Cleaning").await;
    let policy = create(h, &token, "policy", "Quality policy").await;
    assert_eq!(first["number"], "SOP-0001");
    assert_eq!(second["number"], "SOP-0002");
    assert_eq!(policy["number"], "POL-0001");
    assert_eq!(first["latestVersion"], 1);
    assert_eq!(first["status"], "draft");
    assert_eq!(first["owner"], org.user(Role::User).user_id.to_string());
    assert_eq!(first["reviewIntervalMonths"], 24);
    let elsewhere = create(h, &h.token(&other, Role::User).await, "sop", "Theirs").await;
    assert_eq!(elsewhere["number"], "SOP-0001", "each organisation counts its own");
    for wrong in ["SOP", "Sop", "sop ", "memo", ""] {
        let reply = h
            .call(
                Method::POST,
                "/documents",
                Some(&token),
                Some(json!({"title": "x", "type": wrong, "body": "y"})),
            )
            .await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("sop, work_instruction, policy, form, specification, record"),
            "{wrong:?}: {}",
            reply.text
        );
    }
    let listed = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        3,
        "the refusals made nothing"
    );
    // A counter set back (a restore) never gives a held number again: the next free one.
    h.tamper_number(quire_store::testing::number_counter(&org.org_id, "SOP"), "last", 0)
        .await;
    assert_eq!(create(h, &token, "sop", "After a restore").await["number"], "SOP-0003");
}

/// Creations racing for one type's counter each get their own number: no gap, no repeat.
///
/// Proves: DOC-1
#[tokio::test]
async fn racing_creations_get_distinct_consecutive_numbers() {
    let h = harness();
    let org = h.new_org("numrace").await;
    let token = h.token(&org, Role::User).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(6));
    let racers = (0..6).map(|n| {
        let (token, barrier) = (token.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            harness()
                .call(
                    Method::POST,
                    "/documents",
                    Some(&token),
                    Some(json!({"title": format!("Racer {n}"), "type": "form", "body": "x"})),
                )
                .await
        })
    });
    let mut numbers: Vec<String> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| {
            let reply = r.expect("task");
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
            reply.body["number"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=6).map(|n| format!("FRM-{n:04}")).collect();
    assert_eq!(numbers, expected);
}

/// The organisation sets its own types; the 400 then lists those, and numbers follow the new
/// prefixes. Only the settings' managers set them.
///
/// Proves: DOC-1, ORG-3
#[tokio::test]
async fn document_types_are_the_organisations_settings() {
    let h = harness();
    let org = h.new_org("types").await;
    let owner = h.token(&org, Role::Owner).await;
    let read = h.call(Method::GET, "/organisation", Some(&owner), None).await;
    assert_eq!(read.body["documentTypes"].as_array().unwrap().len(), 6, "{}", read.text);
    assert_eq!(
        read.body["documentTypes"][0],
        json!({"key": "sop", "name": "Standard operating procedure", "prefix": "SOP", "reviewIntervalMonths": 24})
    );
    let types = json!([
        {"key": "sop", "name": "SOP", "prefix": "QSOP", "reviewIntervalMonths": 12},
        {"key": "batch_record", "name": "Batch record", "prefix": "BR", "reviewIntervalMonths": 6},
    ]);
    let duplicate = json!([
        {"key": "sop", "name": "SOP", "prefix": "A", "reviewIntervalMonths": 12},
        {"key": "sop", "name": "Other", "prefix": "B", "reviewIntervalMonths": 12},
    ]);
    let patch = |body: Value, etag: &'static str| {
        h.raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&owner)
                .header("if-match", etag)
                .json(&body),
        )
    };
    let refused = patch(json!({"documentTypes": duplicate, "reason": "Our types"}), "\"1\"").await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert!(refused.text.contains("listed twice"), "{}", refused.text);
    let set = patch(json!({"documentTypes": types, "reason": "Our types"}), "\"1\"").await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["documentTypes"], types);
    let user = h.token(&org, Role::User).await;
    let made = create(h, &user, "batch_record", "Batch 7").await;
    assert_eq!(made["number"], "BR-0001");
    assert_eq!(made["reviewIntervalMonths"], 6);
    assert_eq!(create(h, &user, "sop", "Cleaning").await["number"], "QSOP-0001");
    let gone = h
        .call(
            Method::POST,
            "/documents",
            Some(&user),
            Some(json!({"title": "x", "type": "policy", "body": "y"})),
        )
        .await;
    gone.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert!(gone.text.contains("must be one of sop, batch_record"), "{}", gone.text);
    let admin = h.token(&org, Role::Admin).await;
    let by_admin = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&admin)
                .header("if-match", "\"2\"")
                .json(&json!({"documentTypes": types, "reason": "x"})),
        )
        .await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN, "{}", by_admin.text);
}

/// Every edge of the lifecycle a client may take is taken, and every other one is refused
/// with 409 naming the states allowed; refusals write nothing.
///
/// Proves: DOC-1
#[tokio::test]
async fn every_lifecycle_edge_legal_and_illegal() {
    let h = harness();
    let org = h.new_org("edges").await;
    let author = h.token(&org, Role::User).await;
    let all = ["draft", "in_review", "approved", "effective", "superseded", "obsolete"];
    let allowed: [(&str, &[&str]); 6] = [
        ("draft", &["in_review", "obsolete"]),
        ("in_review", &["draft"]),
        ("approved", &["effective", "obsolete"]),
        ("effective", &["obsolete"]),
        ("superseded", &[]),
        ("obsolete", &[]),
    ];
    // One document per state, brought there through the API (approval through the table, as
    // a route's last signature does).
    for (state, legal) in allowed {
        let doc = create(h, &author, "sop", &format!("In {state}")).await;
        let id = doc["id"].as_str().unwrap().to_owned();
        reach(h, &org, &author, &id, state).await;
        let v = if state == "superseded" {
            1
        } else {
            latest(h, &author, &id).await
        };
        for to in all.iter().filter(|to| !legal.contains(to)) {
            let before = h
                .call(Method::GET, &format!("/documents/{id}"), Some(&author), None)
                .await;
            let body = if *to == "in_review" {
                json!({"to": to, "reason": "edge", "route": route_of(&org, "parallel")})
            } else {
                json!({"to": to, "reason": "edge"})
            };
            let reply = transition(h, &author, &id, v, body).await;
            reply.assert_problem(StatusCode::CONFLICT, "transition-not-allowed");
            assert_eq!(reply.body["allowed"], json!(legal), "{state} → {to}");
            let after = h
                .call(Method::GET, &format!("/documents/{id}"), Some(&author), None)
                .await;
            assert_eq!(after.body, before.body, "{state} → {to} wrote nothing");
        }
        // Each legal edge, on a fresh document in the state.
        for to in legal {
            let doc = create(h, &author, "sop", &format!("{state} to {to}")).await;
            let id = doc["id"].as_str().unwrap().to_owned();
            reach(h, &org, &author, &id, state).await;
            let v = latest(h, &author, &id).await;
            let body = if *to == "in_review" {
                json!({"to": to, "reason": "edge", "route": route_of(&org, "parallel")})
            } else {
                json!({"to": to, "reason": "edge"})
            };
            let reply = transition(h, &author, &id, v, body).await;
            assert_eq!(reply.status, StatusCode::OK, "{state} → {to}: {}", reply.text);
            assert_eq!(reply.body["status"], *to);
        }
    }
}

async fn latest(h: &Harness, token: &str, id: &str) -> u32 {
    let read = h
        .call(Method::GET, &format!("/documents/{id}"), Some(token), None)
        .await;
    read.body["latestVersion"].as_u64().unwrap() as u32
}

/// Brings version 1 of a new document (version 2 for `effective` reached by supersession) to
/// `state`.
async fn reach(h: &Harness, org: &SeededOrg, token: &str, id: &str, state: &str) {
    let go = |v: u32, to: &str| {
        let body = if to == "in_review" {
            json!({"to": to, "reason": "setup", "route": route_of(org, "parallel")})
        } else {
            json!({"to": to, "reason": "setup"})
        };
        transition(h, token, id, v, body)
    };
    match state {
        "draft" => {}
        "in_review" => assert_eq!(go(1, "in_review").await.status, StatusCode::OK),
        "approved" => approve_in_table(h, org, id, 1).await,
        "effective" => {
            approve_in_table(h, org, id, 1).await;
            assert_eq!(go(1, "effective").await.status, StatusCode::OK);
        }
        "obsolete" => assert_eq!(go(1, "obsolete").await.status, StatusCode::OK),
        "superseded" => {
            approve_in_table(h, org, id, 1).await;
            assert_eq!(go(1, "effective").await.status, StatusCode::OK);
            let next = h
                .call(
                    Method::POST,
                    &format!("/documents/{id}/versions"),
                    Some(token),
                    Some(json!({"reason": "next"})),
                )
                .await;
            assert_eq!(next.status, StatusCode::CREATED, "{}", next.text);
            approve_in_table(h, org, id, 2).await;
            assert_eq!(go(2, "effective").await.status, StatusCode::OK);
        }
        other => panic!("no way to {other}"),
    }
}

/// A change after approval needs a new version with a reason (DOC-2); when it becomes
/// effective the one before is superseded in the same change, with both entries; the content
/// of a version out of draft never changes.
///
/// Proves: DOC-1, DOC-2, AUD-3
#[tokio::test]
async fn a_new_version_supersedes_the_effective_one() {
    let h = harness();
    let org = h.new_org("supersede").await;
    let author = h.token(&org, Role::User).await;
    let doc = create(h, &author, "sop", "Line clearance").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let early = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&author),
            Some(json!({"reason": "too early"})),
        )
        .await;
    early.assert_problem(StatusCode::CONFLICT, "conflict");
    approve_in_table(h, &org, &id, 1).await;
    let effective = transition(h, &author, &id, 1, json!({"to": "effective", "reason": "Released"})).await;
    assert_eq!(effective.status, StatusCode::OK, "{}", effective.text);
    let read = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&author), None)
        .await;
    assert_eq!(read.body["effectiveVersion"], 1);
    assert_eq!(read.body["status"], "effective");
    let due = read.body["reviewDue"].as_str().unwrap();
    assert_eq!(due.len(), 10, "{due}");
    // The effective version cannot be edited in place.
    let etag = read.body["version"].as_u64().unwrap();
    let edit = h
        .edit_document(&author, &id, etag, json!({"body": "changed", "reason": "late"}))
        .await;
    edit.assert_problem(StatusCode::CONFLICT, "conflict");
    let no_reason = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&author),
            Some(json!({})),
        )
        .await;
    no_reason.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let next = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&author),
            Some(json!({"reason": "New layout of line 3"})),
        )
        .await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.text);
    assert_eq!(next.body["versionNumber"], 2);
    assert_eq!(next.body["status"], "draft");
    assert_eq!(next.body["reasonForChange"], "New layout of line 3");
    assert_eq!(next.body["body"], "Step 1.\nStep 2.\nStep 3.");
    let again = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&author),
            Some(json!({"reason": "a second draft"})),
        )
        .await;
    again.assert_problem(StatusCode::CONFLICT, "conflict");
    let etag = next.header("etag").unwrap().trim_matches('"').parse().unwrap();
    let edited = h
        .edit_document(
            &author,
            &id,
            etag,
            json!({"body": "Step 1.\nStep 2b.\nStep 2c.\nStep 3.", "reason": "Line 3 moved"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let diff = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/2/diff?against=1"),
            Some(&author),
            None,
        )
        .await;
    assert_eq!(diff.status, StatusCode::OK, "{}", diff.text);
    assert_eq!(
        (diff.body["inserted"].as_u64(), diff.body["deleted"].as_u64()),
        (Some(2), Some(1))
    );
    let unified = diff.body["unified"].as_str().unwrap();
    assert!(unified.starts_with("--- v1\n+++ v2\n"), "{unified}");
    assert!(
        unified.contains(" Step 1.\n-Step 2.\n+Step 2b.\n+Step 2c.\n Step 3."),
        "{unified}"
    );
    assert_eq!(diff.body["title"], Value::Null);
    approve_in_table(h, &org, &id, 2).await;
    let released = transition(h, &author, &id, 2, json!({"to": "effective", "reason": "Released v2"})).await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.text);
    let versions = h
        .call(Method::GET, &format!("/documents/{id}/versions"), Some(&author), None)
        .await;
    let statuses: Vec<&str> = versions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["superseded", "effective"]);
    let first = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&author), None)
        .await;
    assert_eq!(
        first.body["body"], "Step 1.\nStep 2.\nStep 3.",
        "version 1's content is as it was"
    );
    let read = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&author), None)
        .await;
    assert_eq!(read.body["effectiveVersion"], 2);
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&h.token(&org, Role::Owner).await).await;
    let mine: Vec<Value> = entries
        .into_iter()
        .filter(|e| e["event"]["target"]["id"] == id.as_str())
        .collect();
    let transitions = events_of(&mine, &["document.transitioned"]);
    let last: Vec<(&Value, &Value, &Value)> = transitions[transitions.len() - 2..]
        .iter()
        .map(|e| (&e["after"]["versionNumber"], &e["after"]["status"], &e["reason"]))
        .collect();
    let (one, two) = (json!(1), json!(2));
    let (superseded, effective) = (json!("superseded"), json!("effective"));
    let (why_superseded, why_released) = (json!("superseded by version 2"), json!("Released v2"));
    let mut expected = vec![(&one, &superseded, &why_superseded), (&two, &effective, &why_released)];
    // One change: both entries in one transaction, in either order.
    if last[0].0 == &two {
        expected.reverse();
    }
    assert_eq!(last, expected);
    let n = transitions.len();
    assert_eq!(
        transitions[n - 1]["at"],
        transitions[n - 2]["at"],
        "one change, one time"
    );
    assert_eq!(
        transitions[n - 2]["before"]["status"],
        if last[0].0 == &one { "effective" } else { "approved" }
    );
    let created = events_of(&mine, &["document.version.created"]);
    assert_eq!(created.len(), 2);
    assert_eq!(created[1]["reason"], "New layout of line 3");
    assert_eq!(created[1]["after"]["body"], "Step 1.\nStep 2.\nStep 3.");
}

/// A submission names reviewers and approvers who hold DocumentApprove, none an author of the
/// version; anything else is a 400 that writes nothing.
///
/// Proves: DOC-3
#[tokio::test]
async fn a_route_names_eligible_signers_only() {
    let h = harness();
    let org = h.new_org("route").await;
    let author = h.token(&org, Role::User).await;
    let doc = create(h, &author, "sop", "Routed").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let user = org.user(Role::User).user_id.to_string();
    let owner = org.user(Role::Owner).user_id.to_string();
    let admin = org.user(Role::Admin).user_id.to_string();
    let viewer = org.user(Role::Viewer).user_id.to_string();
    let stranger = h.new_org("route").await.user(Role::Owner).user_id.to_string();
    for (route, why) in [
        (json!({"order": "parallel", "approvers": [user]}), "an author"),
        (
            json!({"order": "parallel", "reviewers": [owner], "approvers": []}),
            "at least one approver",
        ),
        (
            json!({"order": "parallel", "approvers": [viewer]}),
            "holding DocumentApprove",
        ),
        (
            json!({"order": "parallel", "approvers": [stranger]}),
            "holding DocumentApprove",
        ),
        (
            json!({"order": "parallel", "approvers": ["../x"]}),
            "holding DocumentApprove",
        ),
        (
            json!({"order": "parallel", "reviewers": [owner], "approvers": [owner]}),
            "more than once",
        ),
        (json!({"order": "sometimes", "approvers": [owner]}), "order"),
    ] {
        let reply = transition(
            h,
            &author,
            &id,
            1,
            json!({"to": "in_review", "reason": "r", "route": route}),
        )
        .await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(reply.text.contains(why), "{why}: {}", reply.text);
    }
    let unrouted = transition(h, &author, &id, 1, json!({"to": "in_review", "reason": "r"})).await;
    unrouted.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let route_elsewhere = transition(
        h,
        &author,
        &id,
        1,
        json!({"to": "obsolete", "reason": "r", "route": route_of(&org, "parallel")}),
    )
    .await;
    route_elsewhere.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    // An editor of the draft is an author too.
    let edited = h
        .edit_document(
            &h.token(&org, Role::Admin).await,
            &id,
            1,
            json!({"body": "edited", "reason": "r"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let editor_approves = transition(
        h,
        &author,
        &id,
        1,
        json!({"to": "in_review", "reason": "r", "route": {"order": "parallel", "approvers": [admin]}}),
    )
    .await;
    editor_approves.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let read = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&author), None)
        .await;
    assert_eq!(read.body["status"], "draft");
    assert_eq!(read.body["route"], Value::Null);
    let submitted = transition(
        h,
        &author,
        &id,
        1,
        json!({"to": "in_review", "reason": "Ready", "route": {"order": "sequential", "approvers": [owner]}}),
    )
    .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text);
    let route = &submitted.body["route"];
    assert_eq!(route["order"], "sequential");
    assert_eq!(
        route["steps"],
        json!([{"userId": owner, "role": "approver", "signatureId": null}])
    );
    let recalled = transition(h, &author, &id, 1, json!({"to": "draft", "reason": "More to add"})).await;
    assert_eq!(recalled.status, StatusCode::OK, "{}", recalled.text);
    assert_eq!(recalled.body["route"], Value::Null);
}

/// Two changes of one document at the same moment: exactly one commits, the other is a 409,
/// and one entry is recorded.
///
/// Proves: DOC-1, HTTP-5
#[tokio::test]
async fn racing_transitions_let_exactly_one_through() {
    let h = harness();
    let org = h.new_org("trace").await;
    let author = h.token(&org, Role::User).await;
    let doc = create(h, &author, "sop", "Contended").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let racers = ["obsolete", "in_review"].map(|to| {
        let (author, id, barrier) = (author.clone(), id.clone(), barrier.clone());
        let body = if to == "in_review" {
            json!({"to": to, "reason": "race", "route": route_of(&org, "parallel")})
        } else {
            json!({"to": to, "reason": "race"})
        };
        tokio::spawn(async move {
            barrier.wait().await;
            transition(harness(), &author, &id, 1, body).await
        })
    });
    let replies: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let won: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let lost = replies.iter().find(|r| r.status != StatusCode::OK).unwrap();
    assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.text);
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&h.token(&org, Role::Owner).await).await;
    let recorded = entries
        .iter()
        .filter(|e| e["event"]["target"]["id"] == id.as_str() && e["event"]["action"] == "document.transitioned")
        .count();
    assert_eq!(recorded, 1);
}

/// Versions and diffs: a number that is no version is 404, a bad `against` 400.
///
/// Proves: DOC-1, HTTP-2
#[tokio::test]
async fn versions_that_do_not_exist_are_not_found() {
    let h = harness();
    let org = h.new_org("nover").await;
    let token = h.token(&org, Role::Viewer).await;
    let author = h.token(&org, Role::User).await;
    let id = create_id(h, &author, "sop", "One version").await;
    for v in ["2", "0", "01", "-1", "1.0", "x", "9999999"] {
        let reply = h
            .call(
                Method::GET,
                &format!("/documents/{id}/versions/{v}"),
                Some(&token),
                None,
            )
            .await;
        reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let fine = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&token), None)
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text);
    let missing = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/1/diff"),
            Some(&token),
            None,
        )
        .await;
    missing.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
    let bad = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/1/diff?against=one"),
            Some(&token),
            None,
        )
        .await;
    bad.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
    let absent = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/1/diff?against=3"),
            Some(&token),
            None,
        )
        .await;
    absent.assert_problem(StatusCode::NOT_FOUND, "not-found");
    let viewer_writes = transition(h, &token, &id, 1, json!({"to": "obsolete", "reason": "r"})).await;
    assert_eq!(viewer_writes.status, StatusCode::FORBIDDEN);
}

/// Every document route refuses another organisation's document as not found, and writes
/// nothing there.
///
/// Proves: TEN-3
#[tokio::test]
async fn another_tenants_document_is_not_found_on_every_version_route() {
    let h = harness();
    let acme = h.new_org("tenv").await;
    let globex = h.new_org("tenv").await;
    let theirs = create(h, &h.token(&globex, Role::User).await, "sop", "Globex only").await;
    let id = theirs["id"].as_str().unwrap();
    let token = h.token(&acme, Role::Owner).await;
    for (method, path, body) in [
        (Method::GET, format!("/documents/{id}/versions"), None),
        (
            Method::POST,
            format!("/documents/{id}/versions"),
            Some(json!({"reason": "x"})),
        ),
        (Method::GET, format!("/documents/{id}/versions/1"), None),
        (Method::GET, format!("/documents/{id}/versions/1/diff?against=1"), None),
        (
            Method::POST,
            format!("/documents/{id}/versions/1/transitions"),
            Some(json!({"to": "obsolete", "reason": "x"})),
        ),
    ] {
        let reply = h.call(method.clone(), &path, Some(&token), body).await;
        reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
        assert!(!reply.text.contains("Globex"), "{method} {path}");
    }
    let globex_token = h.token(&globex, Role::User).await;
    let still = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/1"),
            Some(&globex_token),
            None,
        )
        .await;
    assert_eq!(still.body["status"], "draft");
    assert_eq!(still.body["version"], 1);
}

/// Signs version `v` of `id` as `role` of `org`, re-authenticating with the demo password and,
/// where the member has an authenticator, its current code.
async fn sign(
    h: &Harness,
    org: &SeededOrg,
    role: Role,
    id: &str,
    v: u32,
    meaning: &str,
) -> quire_blackbox_tests::Reply {
    let user = org.user(role);
    let content = content_of(h, org, id, v).await;
    let mut body = json!({"meaning": meaning, "password": h.password, "contentSha256": content});
    if h.totp_secret(&user.email).is_some() {
        body["totp"] = json!(h.totp_code(&user.email));
    }
    if meaning == "rejected" {
        body["reason"] = json!("Step 2 contradicts the line layout");
    }
    h.call(
        Method::POST,
        &format!("/documents/{id}/versions/{v}/signatures"),
        Some(&h.token(org, role).await),
        Some(body),
    )
    .await
}

/// The `contentSha256` of version `v` as a reader sees it (what a signer names); an empty
/// string for a version that does not exist.
async fn content_of(h: &Harness, org: &SeededOrg, id: &str, v: u32) -> String {
    let token = h.token(org, Role::Viewer).await;
    let read = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/{v}"),
            Some(&token),
            None,
        )
        .await;
    read.body["contentSha256"].as_str().unwrap_or_default().to_owned()
}

/// A User's document, submitted to the Admin (reviewer) and the Owner (approver).
async fn submitted(h: &Harness, org: &SeededOrg, order: &str) -> String {
    let author = h.token(org, Role::User).await;
    let id = create_id(h, &author, "sop", "Line clearance").await;
    let reply = transition(
        h,
        &author,
        &id,
        1,
        json!({"to": "in_review", "reason": "Ready", "route": route_of(org, order)}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    id
}

/// The printed name of `role` of `org`: their display name, as `GET /auth/me` shows it.
async fn printed_name(h: &Harness, org: &SeededOrg, role: Role) -> String {
    let me = h
        .call(Method::GET, "/auth/me", Some(&h.token(org, role).await), None)
        .await;
    me.body["displayName"].as_str().expect("a display name").to_owned()
}

async fn version(h: &Harness, org: &SeededOrg, id: &str, v: u32) -> Value {
    let token = h.token(org, Role::Viewer).await;
    let reply = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/{v}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

/// The whole path: a draft edited, routed to two colleagues, both sign with re-authentication,
/// it is approved and made effective; version 2 follows with a reason and supersedes it; every
/// display of a version shows its signatures' manifestations; the history shows exactly that.
///
/// Proves: DOC-1, DOC-2, DOC-3, DOC-4, AUD-3
#[tokio::test]
async fn a_document_is_routed_signed_released_and_superseded() {
    let h = harness();
    let org = h.new_org("signed").await;
    let author = h.token(&org, Role::User).await;
    let id = create_id(h, &author, "sop", "Line clearance").await;
    let edited = h
        .edit_document(&author, &id, 1, json!({"body": "Step 1.\nStep 2.", "reason": "Scope"}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let submit = transition(
        h,
        &author,
        &id,
        1,
        json!({"to": "in_review", "reason": "Ready", "route": route_of(&org, "parallel")}),
    )
    .await;
    assert_eq!(submit.status, StatusCode::OK, "{}", submit.text);
    // Parallel: the approver may sign before the reviewer.
    let approved = sign(h, &org, Role::Owner, &id, 1, "approved").await;
    assert_eq!(approved.status, StatusCode::CREATED, "{}", approved.text);
    assert_eq!(approved.body["meaning"], "approved");
    assert_eq!(approved.body["printedName"], printed_name(h, &org, Role::Owner).await);
    assert_eq!(approved.body["components"], json!(["password", "totp"]));
    assert_eq!(approved.body["contentSha256"].as_str().unwrap().len(), 64);
    assert!(approved.body["signedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(version(h, &org, &id, 1).await["status"], "in_review");
    let reviewed = sign(h, &org, Role::Admin, &id, 1, "reviewed").await;
    assert_eq!(reviewed.status, StatusCode::CREATED, "{}", reviewed.text);
    let read = version(h, &org, &id, 1).await;
    assert_eq!(read["status"], "approved", "the route's last signature approves it");
    let shown: Vec<(&str, &str)> = read["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["printedName"].as_str().unwrap(), s["meaning"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shown,
        [
            (printed_name(h, &org, Role::Owner).await.as_str(), "approved"),
            (printed_name(h, &org, Role::Admin).await.as_str(), "reviewed"),
        ]
    );
    let text = read["signatures"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(approved.body["signedAt"].as_str().unwrap()) && text.ends_with("approved"),
        "{text}"
    );
    let released = transition(
        h,
        &author,
        &id,
        1,
        json!({"to": "effective", "reason": "Training done"}),
    )
    .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.text);
    let next = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&author),
            Some(json!({"reason": "Line 3 added"})),
        )
        .await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.text);
    let submit = transition(
        h,
        &author,
        &id,
        2,
        json!({"to": "in_review", "reason": "Ready", "route": route_of(&org, "sequential")}),
    )
    .await;
    assert_eq!(submit.status, StatusCode::OK, "{}", submit.text);
    for role in [Role::Admin, Role::Owner] {
        let meaning = if role == Role::Admin { "reviewed" } else { "approved" };
        let signed = sign(h, &org, role, &id, 2, meaning).await;
        assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text);
    }
    let released = transition(
        h,
        &author,
        &id,
        2,
        json!({"to": "effective", "reason": "Training done"}),
    )
    .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.text);
    assert_eq!(version(h, &org, &id, 1).await["status"], "superseded");
    let listed = h
        .call(Method::GET, &format!("/documents/{id}/versions"), Some(&author), None)
        .await;
    let counts: Vec<usize> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["signatures"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [2, 2], "each version lists its own signatures");
    h.audit_settled(&org).await;
    let history = h
        .call(
            Method::GET,
            &format!("/documents/{id}/history?limit=100"),
            Some(&h.token(&org, Role::Owner).await),
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    let actions: Vec<(&str, Option<u64>)> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let event = &e["event"];
            (
                event["action"].as_str().unwrap(),
                event["after"]["versionNumber"].as_u64(),
            )
        })
        .collect();
    let v = |n| Some(n);
    assert_eq!(
        actions,
        [
            ("document.created", None),
            ("document.version.created", v(1)),
            ("document.updated", v(1)),
            ("document.transitioned", v(1)),
            ("document.signed", v(1)),
            ("document.signed", v(1)),
            ("document.transitioned", v(1)),
            ("document.transitioned", v(1)),
            ("document.version.created", v(2)),
            ("document.transitioned", v(2)),
            ("document.signed", v(2)),
            ("document.signed", v(2)),
            ("document.transitioned", v(2)),
            ("document.transitioned", v(2)),
            ("document.transitioned", v(1)),
        ],
        "{:#}",
        history.body
    );
    let seqs: Vec<u64> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in the chain's order: {seqs:?}");
}

/// A sequential route is signed in its order; an author never approves; a signature on a
/// draft, an unknown meaning or a second signature of one step are refused and write nothing.
///
/// Proves: DOC-3, DOC-4, HTTP-2
#[tokio::test]
async fn signatures_follow_the_route() {
    let h = harness();
    let org = h.new_org("order").await;
    let id = submitted(h, &org, "sequential").await;
    let early = sign(h, &org, Role::Owner, &id, 1, "approved").await;
    early.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    assert!(early.text.contains("earlier signer"), "{}", early.text);
    let author_approves = sign(h, &org, Role::User, &id, 1, "approved").await;
    author_approves.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    assert!(
        author_approves.text.contains("never review or approve"),
        "{}",
        author_approves.text
    );
    let wrong_role = sign(h, &org, Role::Admin, &id, 1, "approved").await;
    wrong_role.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    let unknown = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&h.token(&org, Role::Admin).await),
            Some(json!({"meaning": "blessed", "password": h.password})),
        )
        .await;
    unknown.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let authored = sign(h, &org, Role::User, &id, 1, "authored").await;
    assert_eq!(authored.status, StatusCode::CREATED, "{}", authored.text);
    let twice = sign(h, &org, Role::User, &id, 1, "authored").await;
    twice.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    let reviewed = sign(h, &org, Role::Admin, &id, 1, "reviewed").await;
    assert_eq!(reviewed.status, StatusCode::CREATED, "{}", reviewed.text);
    let again = sign(h, &org, Role::Admin, &id, 1, "reviewed").await;
    again.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    assert_eq!(version(h, &org, &id, 1).await["status"], "in_review");
    let approved = sign(h, &org, Role::Owner, &id, 1, "approved").await;
    assert_eq!(approved.status, StatusCode::CREATED, "{}", approved.text);
    assert_eq!(version(h, &org, &id, 1).await["status"], "approved");
    let released = sign(h, &org, Role::Admin, &id, 1, "released").await;
    assert_eq!(released.status, StatusCode::CREATED, "{}", released.text);
    let listed = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&h.token(&org, Role::Viewer).await),
            None,
        )
        .await;
    let meanings: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["meaning"].as_str().unwrap())
        .collect();
    assert_eq!(meanings, ["authored", "reviewed", "approved", "released"]);
    // A draft is never signed.
    let author = h.token(&org, Role::User).await;
    let draft = create_id(h, &author, "sop", "Draft").await;
    let on_draft = sign(h, &org, Role::Owner, &draft, 1, "approved").await;
    on_draft.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    let no_version = sign(h, &org, Role::Owner, &draft, 2, "approved").await;
    no_version.assert_problem(StatusCode::NOT_FOUND, "not-found");
    let none = h
        .call(
            Method::GET,
            &format!("/documents/{draft}/versions/1/signatures"),
            Some(&author),
            None,
        )
        .await;
    assert_eq!(none.body, json!([]));
}

/// A rejection needs a reason and returns the version to draft, its route ended: the author
/// edits and submits again.
///
/// Proves: DOC-3, DOC-4
#[tokio::test]
async fn a_rejection_returns_the_version_to_draft() {
    let h = harness();
    let org = h.new_org("reject").await;
    let id = submitted(h, &org, "parallel").await;
    let owner = org.user(Role::Owner);
    let no_reason = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&h.token(&org, Role::Owner).await),
            Some(json!({
                "meaning": "rejected",
                "password": h.password,
                "totp": h.totp_code(&owner.email),
                "contentSha256": content_of(h, &org, &id, 1).await,
            })),
        )
        .await;
    no_reason.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let reviewed = sign(h, &org, Role::Admin, &id, 1, "reviewed").await;
    assert_eq!(reviewed.status, StatusCode::CREATED, "{}", reviewed.text);
    let rejected = sign(h, &org, Role::Owner, &id, 1, "rejected").await;
    assert_eq!(rejected.status, StatusCode::CREATED, "{}", rejected.text);
    let read = version(h, &org, &id, 1).await;
    assert_eq!(read["status"], "draft");
    assert_eq!(read["route"], Value::Null);
    let author = h.token(&org, Role::User).await;
    let etag = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&author), None)
        .await
        .body["version"]
        .as_u64()
        .unwrap();
    let fixed = h
        .edit_document(
            &author,
            &id,
            etag,
            json!({"body": "Step 1.\nStep 2 fixed.", "reason": "Review"}),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.text);
    // The earlier round's signatures still show, marked as given to other content.
    let reworked = version(h, &org, &id, 1).await;
    let matches: Vec<&Value> = reworked["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["contentMatches"])
        .collect();
    assert_eq!(matches, [&json!(false), &json!(false)], "{reworked:#}");
    // A signer who read the content before the rework signs nothing.
    let stale = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&author),
            Some(json!({"meaning": "authored", "password": h.password, "contentSha256": read["contentSha256"]})),
        )
        .await;
    stale.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let moved = events_of(&entries, &["document.transitioned"]);
    let last = moved.last().unwrap();
    assert_eq!(last["before"]["status"], "in_review");
    assert_eq!(last["after"]["status"], "draft");
    assert_eq!(
        last["reason"],
        format!("rejected by {}", printed_name(h, &org, Role::Owner).await)
    );
    let signed = events_of(&entries, &["document.signed"]);
    assert_eq!(signed.last().unwrap()["reason"], "Step 2 contradicts the line layout");
}

/// A wrong password or code signs nothing: the answer is the re-authentication's one, the
/// failure is recorded with its purpose and counted toward the sign-in lockout (the fifth
/// locks the account, whose right password is then refused too).
///
/// Proves: DOC-4, AUTHN-5
#[tokio::test]
async fn a_wrong_password_or_code_signs_nothing_and_counts() {
    let h = harness();
    let org = h.new_org("wrongsig").await;
    let id = submitted(h, &org, "parallel").await;
    let owner = org.user(Role::Owner);
    let token = h.token(&org, Role::Owner).await;
    let path = format!("/documents/{id}/versions/1/signatures");
    let content = content_of(h, &org, &id, 1).await;
    let attempt = |password: String, totp: Option<String>| {
        let mut body = json!({"meaning": "approved", "password": password, "contentSha256": content});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        h.call(Method::POST, &path, Some(&token), Some(body))
    };
    let right = h.totp_code(&owner.email);
    let wrong_code = format!("{:06}", (right.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    let refusals = [
        attempt("Not-the-Passw0rd!".into(), Some(h.totp_code(&owner.email))).await,
        attempt(h.password.clone(), Some(wrong_code)).await,
        attempt(h.password.clone(), None).await,
    ];
    for (n, refused) in refusals.iter().enumerate() {
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "refusal {n}: {}", refused.text);
        refused.assert_problem(StatusCode::BAD_REQUEST, "reauthentication-failed");
    }
    let listed = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(listed.body, json!([]), "nothing was signed");
    // A missing code is refused without being judged; two judged failures so far.
    for _ in 0..3 {
        attempt("Not-the-Passw0rd!".into(), Some(h.totp_code(&owner.email)))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "reauthentication-failed");
    }
    // Five judged failures: locked, so the right password is refused too.
    let locked = attempt(h.password.clone(), Some(h.totp_code(&owner.email))).await;
    locked.assert_problem(StatusCode::BAD_REQUEST, "reauthentication-failed");
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let failed = events_of(&entries, &["reauthentication.failed"]);
    assert!(failed.len() >= 6, "{failed:#?}");
    assert!(failed.iter().all(|e| e["after"]["purpose"] == "document.signature"));
    // Each names what it tried to sign.
    for entry in &failed {
        let signing = &entry["after"]["signing"];
        assert_eq!(signing["documentId"], id.as_str(), "{entry:#}");
        assert_eq!(signing["versionNumber"], 1);
        assert_eq!(signing["meaning"], "approved");
        assert!(
            signing["number"].as_str().is_some_and(|n| n.starts_with("SOP-")),
            "{entry:#}"
        );
    }
    assert_eq!(events_of(&entries, &["sign-in.locked"]).len(), 1);
    assert!(events_of(&entries, &["document.signed"]).is_empty());
    assert_eq!(version(h, &org, &id, 1).await["status"], "in_review");
}

/// An approver signs a batch: signing re-authentications have a limit of their own, above the
/// ten per quarter hour that guards turning a factor off.
///
/// Proves: DOC-4
#[tokio::test]
async fn an_approver_signs_a_batch_of_documents() {
    let h = harness();
    let org = h.new_org("batchsig").await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(submitted(h, &org, "parallel").await);
    }
    for id in &ids {
        let signed = sign(h, &org, Role::Admin, id, 1, "reviewed").await;
        assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text);
    }
}

/// Verification recomputes the content hash and finds the signature's own entry: valid as
/// signed; invalid, naming why, after the content changes in the table, and for a signature
/// copied to another version.
///
/// Proves: DOC-5, AUD-2
#[tokio::test]
async fn verification_catches_changed_content_and_copied_signatures() {
    let h = harness();
    let org = h.new_org("verify").await;
    let id = submitted(h, &org, "parallel").await;
    // A long reason in a script of two-byte characters: kept in the trail as a blob.
    let admin = org.user(Role::Admin);
    let signed = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&h.token(&org, Role::Admin).await),
            Some(json!({
                "meaning": "reviewed",
                "password": h.password,
                "totp": h.totp_code(&admin.email),
                "contentSha256": content_of(h, &org, &id, 1).await,
                "reason": "é".repeat(700),
            })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text);
    let sid = signed.body["id"].as_str().unwrap().to_owned();
    let viewer = h.token(&org, Role::Viewer).await;
    let verify = |doc: String, v: u32, sid: String| {
        let viewer = viewer.clone();
        async move {
            let reply = h
                .call(
                    Method::GET,
                    &format!("/documents/{doc}/versions/{v}/signatures/{sid}/verify"),
                    Some(&viewer),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            reply.body
        }
    };
    h.audit_settled(&org).await;
    let valid = verify(id.clone(), 1, sid.clone()).await;
    assert_eq!(valid["valid"], true, "{valid:#}");
    let seq = valid["auditSeq"].as_u64().expect("the entry's sequence");
    // The chain must go on from the signature's entry: an entry after it that links elsewhere
    // fails the audit check (restored afterwards).
    create(h, &h.token(&org, Role::User).await, "sop", "After the signature").await;
    h.audit_settled(&org).await;
    let next = quire_store::testing::chain_entry(&org.org_id, seq + 1);
    let original = h
        .tamper_audit(next.clone(), "prevHash", &"0".repeat(64))
        .await
        .expect("the entry after had a previous hash");
    let unlinked = verify(id.clone(), 1, sid.clone()).await;
    assert_eq!(unlinked["valid"], false);
    let audit = unlinked["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "audit")
        .unwrap();
    assert!(
        audit["detail"].as_str().unwrap().contains("does not go on"),
        "{unlinked:#}"
    );
    h.tamper_audit(next, "prevHash", &original).await;
    assert_eq!(verify(id.clone(), 1, sid.clone()).await["valid"], true);
    assert_eq!(valid["manifestation"]["meaning"], "reviewed");

    // The record copied, as is, under another id of the same version: shown once, and invalid
    // where it lies.
    let twin = quire_blackbox_tests::uuid_hex();
    let twin = format!(
        "{}-{}-{}-{}-{}",
        &twin[..8],
        &twin[8..12],
        &twin[12..16],
        &twin[16..20],
        &twin[20..32]
    );
    h.copy_item(
        quire_store::testing::document_signature(&org.org_id, &id, 1, &sid),
        quire_store::testing::document_signature(&org.org_id, &id, 1, &twin),
    )
    .await;
    let copied_here = verify(id.clone(), 1, twin.clone()).await;
    let failed = failed_checks(&copied_here);
    assert_eq!(failed, ["place"], "{copied_here:#}");
    assert_eq!(
        version(h, &org, &id, 1).await["signatures"].as_array().unwrap().len(),
        1
    );

    // The body changed behind the API's back.
    h.tamper(
        quire_store::testing::document_version(&org.org_id, &id, 1),
        "body",
        "Step 1. Skip step 2.",
    )
    .await;
    let changed = verify(id.clone(), 1, sid.clone()).await;
    assert_eq!(changed["valid"], false);
    let failed = failed_checks(&changed);
    assert_eq!(failed, ["content"], "{changed:#}");

    // The signature copied, as is, to another document's version.
    let other = submitted(h, &org, "parallel").await;
    h.copy_item(
        quire_store::testing::document_signature(&org.org_id, &id, 1, &sid),
        quire_store::testing::document_signature(&org.org_id, &other, 1, &sid),
    )
    .await;
    let copied = verify(other.clone(), 1, sid.clone()).await;
    assert_eq!(copied["valid"], false);
    let failed = failed_checks(&copied);
    assert_eq!(failed, ["place", "content", "audit"], "{copied:#}");
    assert!(copied["checks"][0]["detail"].as_str().unwrap().contains(&id));

    // The same record re-labelled for the other document: its place holds, its content and
    // its audit entry do not.
    let key = quire_store::testing::document_signature(&org.org_id, &other, 1, &sid);
    h.tamper(key, "documentId", &other).await;
    let relabelled = verify(other.clone(), 1, sid.clone()).await;
    let failed = failed_checks(&relabelled);
    assert_eq!(failed, ["content", "audit"], "{relabelled:#}");

    // The signature copied, as is, to the next version of its own document.
    approve_in_table(h, &org, &id, 1).await;
    let next = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&h.token(&org, Role::User).await),
            Some(json!({"reason": "Step 2 clarified"})),
        )
        .await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.text);
    h.copy_item(
        quire_store::testing::document_signature(&org.org_id, &id, 1, &sid),
        quire_store::testing::document_signature(&org.org_id, &id, 2, &sid),
    )
    .await;
    let moved = verify(id.clone(), 2, sid.clone()).await;
    assert_eq!(moved["valid"], false, "{moved:#}");
    let failed = failed_checks(&moved);
    assert!(failed.starts_with(&["place", "content"]), "{moved:#}");
    let unknown = h
        .call(
            Method::GET,
            &format!(
                "/documents/{id}/versions/1/signatures/{}/verify",
                quire_blackbox_tests::uuid_hex()
            ),
            Some(&viewer),
            None,
        )
        .await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "not-found");
}

/// Two approvers signing at the same moment: each commits or is a 409 that wrote nothing, and
/// no update is lost (the route shows exactly the signatures stored; both approve it). One
/// approver's signature sent twice at once: exactly one commits, the other is a 409.
///
/// Proves: DOC-3, DOC-4, HTTP-5
#[tokio::test]
async fn racing_signatures_commit_one_at_a_time() {
    let h = harness();
    let org = h.new_org("sigrace").await;
    let id = submitted(h, &org, "parallel").await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let pair = [(Role::Admin, "reviewed"), (Role::Owner, "approved")].map(|(role, meaning)| {
        let (id, barrier, org) = (id.clone(), barrier.clone(), org.clone());
        tokio::spawn(async move {
            let h = harness();
            let user = org.user(role);
            let content = content_of(h, &org, &id, 1).await;
            let body = json!({
                "meaning": meaning,
                "password": h.password,
                "totp": h.totp_code(&user.email),
                "contentSha256": content,
            });
            let token = h.token(&org, role).await;
            barrier.wait().await;
            post_signature(h, &token, &id, body).await
        })
    });
    let replies: Vec<_> = futures::future::join_all(pair)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    // Both may land when the two do not overlap at the store; when they do, one is a 409.
    assert!(statuses.contains(&StatusCode::CREATED), "{statuses:?}");
    for lost in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        lost.assert_problem(StatusCode::CONFLICT, "conflict");
    }
    let listed = h
        .call(
            Method::GET,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&h.token(&org, Role::Viewer).await),
            None,
        )
        .await;
    let won = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        won,
        "only the winners are stored"
    );
    // No lost update: the route shows exactly the signatures given, and only both approve it.
    let read = version(h, &org, &id, 1).await;
    let signed_steps = read["route"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["signatureId"].is_string())
        .count();
    if won == 2 {
        assert_eq!(read["status"], "approved", "{read:#}");
    } else {
        assert_eq!(
            (read["status"].as_str(), signed_steps),
            (Some("in_review"), 1),
            "{read:#}"
        );
    }

    // One approver's signature sent twice at once (a retry after a timeout).
    let id = submitted(h, &org, "parallel").await;
    let owner = org.user(Role::Owner);
    let token = h.token(&org, Role::Owner).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let code = h.totp_code(&owner.email);
    let content = content_of(h, &org, &id, 1).await;
    let twice = (0..2).map(|_| {
        let (id, barrier, token) = (id.clone(), barrier.clone(), token.clone());
        let body = json!({"meaning": "approved", "password": h.password, "totp": code, "contentSha256": content});
        tokio::spawn(async move {
            barrier.wait().await;
            post_signature(harness(), &token, &id, body).await
        })
    });
    let replies: Vec<_> = futures::future::join_all(twice)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{:?}", replies.iter().map(|r| &r.text).collect::<Vec<_>>());
    let lost = replies.iter().find(|r| r.status != StatusCode::CREATED).unwrap();
    assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.text);
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let signed = events_of(&entries, &["document.signed"])
        .into_iter()
        .filter(|e| e["target"]["id"] == id.as_str())
        .count();
    assert_eq!(signed, 1, "one entry for the one signature");
}

/// A signature is its signer's own act: never given while impersonating, nor by an operator in
/// break-glass (read-only).
///
/// Proves: DOC-4, RBAC-5
#[tokio::test]
async fn nobody_signs_as_someone_else() {
    let h = harness();
    let org = h.new_org("sigimp").await;
    let id = submitted(h, &org, "parallel").await;
    let owner = h.token(&org, Role::Owner).await;
    let admin = org.user(Role::Admin);
    let started = h
        .call(
            Method::POST,
            "/impersonation",
            Some(&owner),
            Some(json!({"userId": admin.user_id.to_string(), "minutes": 10, "reason": "Support"})),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let body = json!({
        "meaning": "reviewed",
        "password": h.password,
        "totp": h.totp_code(&admin.email),
        "contentSha256": content_of(h, &org, &id, 1).await,
    });
    let refused = post_signature_with(h, &owner, ("quire-impersonate", admin.user_id.as_str()), &id, body).await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "impersonation-not-here");
    // An operator in break-glass reads the organisation, and signs nothing.
    let operator = h.login(&h.new_operator(true).await).await;
    let opened = h
        .call(
            Method::POST,
            &format!("/operator/organisations/{}/break-glass", org.org_id),
            Some(&operator),
            Some(json!({"minutes": 15, "reason": "Ticket 9: a route looks stuck"})),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    let body = json!({
        "meaning": "reviewed",
        "password": h.password,
        "contentSha256": content_of(h, &org, &id, 1).await,
    });
    let glass = post_signature_with(h, &operator, ("quire-break-glass", org.org_id.as_str()), &id, body).await;
    glass.assert_problem(StatusCode::FORBIDDEN, "break-glass-read-only");
    let read = version(h, &org, &id, 1).await;
    assert_eq!(read["signatures"], json!([]));
}

/// [`post_signature`] with one more header.
async fn post_signature_with(
    h: &Harness,
    token: &str,
    (name, value): (&str, &str),
    id: &str,
    body: Value,
) -> quire_blackbox_tests::Reply {
    h.raw(
        h.request(Method::POST, &format!("/documents/{id}/versions/1/signatures"))
            .bearer_auth(token)
            .header(name, value)
            .json(&body),
    )
    .await
}

async fn post_signature(h: &Harness, token: &str, id: &str, body: Value) -> quire_blackbox_tests::Reply {
    h.call(
        Method::POST,
        &format!("/documents/{id}/versions/1/signatures"),
        Some(token),
        Some(body),
    )
    .await
}

/// The signature routes and the history refuse another organisation's document as not found.
///
/// Proves: TEN-3
#[tokio::test]
async fn another_tenants_signatures_and_history_are_not_found() {
    let h = harness();
    let acme = h.new_org("tensig").await;
    let globex = h.new_org("tensig").await;
    let id = submitted(h, &globex, "parallel").await;
    let signed = sign(h, &globex, Role::Admin, &id, 1, "reviewed").await;
    let sid = signed.body["id"].as_str().unwrap().to_owned();
    let token = h.token(&acme, Role::Owner).await;
    let owner = acme.user(Role::Owner);
    for (method, path, body) in [
        (
            Method::POST,
            format!("/documents/{id}/versions/1/signatures"),
            Some(json!({
                "meaning": "approved",
                "password": h.password,
                "totp": h.totp_code(&owner.email),
                "contentSha256": "0".repeat(64),
            })),
        ),
        (Method::GET, format!("/documents/{id}/versions/1/signatures"), None),
        (
            Method::GET,
            format!("/documents/{id}/versions/1/signatures/{sid}/verify"),
            None,
        ),
        (Method::GET, format!("/documents/{id}/history"), None),
        (
            Method::POST,
            format!("/documents/{id}/versions/1/route/reassignments"),
            Some(json!({
                "from": globex.user(Role::Admin).user_id.to_string(),
                "to": acme.user(Role::User).user_id.to_string(),
                "reason": "x",
            })),
        ),
    ] {
        let reply = h.call(method.clone(), &path, Some(&token), body).await;
        reply.assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let theirs = version(h, &globex, &id, 1).await;
    assert_eq!(theirs["signatures"].as_array().unwrap().len(), 1);
}

/// The history index's attribute is outside the entries' hashes: an entry put under another
/// document's history in the table is not shown there.
///
/// Proves: DOC-5, AUD-5
#[tokio::test]
async fn an_entry_moved_under_another_documents_history_is_not_shown() {
    let h = harness();
    let org = h.new_org("histmove").await;
    let token = h.token(&org, Role::Owner).await;
    let a = create_id(h, &token, "sop", "Kept").await;
    let b = create_id(h, &token, "sop", "Moved from").await;
    h.audit_settled(&org).await;
    let history = |id: String| {
        let token = token.clone();
        async move {
            let reply = h
                .call(Method::GET, &format!("/documents/{id}/history"), Some(&token), None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap())
                .collect::<Vec<u64>>()
        }
    };
    let kept = history(a.clone()).await;
    let moved = history(b.clone()).await[0];
    let (attribute, value) = quire_store::testing::target_index(&org.org_id, "document", &a);
    let entry = quire_store::testing::chain_entry(&org.org_id, moved);
    h.tamper_audit(entry, attribute, &value).await;
    // Read until the index shows the move; the entry is still left out.
    for _ in 0..50 {
        assert_eq!(history(a.clone()).await, kept);
        if !history(b.clone()).await.contains(&moved) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!history(b.clone()).await.contains(&moved), "the index was not updated");
    assert_eq!(history(a).await, kept);
}

/// A signer deactivated mid-route blocks it (their step can never be signed) until an Owner
/// gives the step to another eligible member, which is recorded with its reason.
///
/// Proves: DOC-3, AUD-3
#[tokio::test]
async fn a_removed_signer_blocks_the_route_until_an_owner_reassigns() {
    let h = harness();
    let org = h.new_org("reassign").await;
    let id = submitted(h, &org, "parallel").await;
    let owner = h.token(&org, Role::Owner).await;
    let approved = sign(h, &org, Role::Owner, &id, 1, "approved").await;
    assert_eq!(approved.status, StatusCode::CREATED, "{}", approved.text);
    let admin = org.user(Role::Admin).user_id.to_string();
    let viewer = org.user(Role::Viewer).user_id.to_string();
    let admin_token = h.token(&org, Role::Admin).await;
    let deactivated = h
        .call(
            Method::POST,
            &format!("/members/{admin}/deactivate"),
            Some(&owner),
            Some(json!({"reason": "Left the company"})),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);
    let blocked = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&admin_token),
            Some(json!({
                "meaning": "reviewed",
                "password": h.password,
                "totp": h.totp_code(&org.user(Role::Admin).email),
                "contentSha256": content_of(h, &org, &id, 1).await,
            })),
        )
        .await;
    // Their session ended with their membership; their step stays unsigned, and the Owner's
    // approval alone does not approve.
    blocked.assert_problem(StatusCode::FORBIDDEN, "no-membership");
    let waiting = version(h, &org, &id, 1).await;
    assert_eq!(waiting["status"], "in_review");
    assert_eq!(waiting["route"]["steps"][0]["userId"], admin.as_str());
    assert!(waiting["route"]["steps"][0]["signatureId"].is_null(), "{waiting:#}");
    let reassign = |token: String, from: String, to: String| {
        let path = format!("/documents/{id}/versions/1/route/reassignments");
        async move {
            h.call(
                Method::POST,
                &path,
                Some(&token),
                Some(json!({"from": from, "to": to, "reason": "The reviewer left"})),
            )
            .await
        }
    };
    let by_author = reassign(h.token(&org, Role::User).await, admin.clone(), viewer.clone()).await;
    by_author.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let ineligible = reassign(owner.clone(), admin.clone(), viewer.clone()).await;
    ineligible.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let author = org.user(Role::User).user_id.to_string();
    let to_author = reassign(owner.clone(), admin.clone(), author).await;
    to_author.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let promoted = h
        .call(
            Method::PATCH,
            &format!("/members/{viewer}"),
            Some(&owner),
            Some(json!({"role": "User", "reason": "Reviews documents"})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    let moved = reassign(owner.clone(), admin.clone(), viewer.clone()).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.body["route"]["steps"][0]["userId"], viewer.as_str());
    let again = reassign(owner.clone(), admin.clone(), viewer.clone()).await;
    again.assert_problem(StatusCode::CONFLICT, "conflict");
    let reviewed = sign(h, &org, Role::Viewer, &id, 1, "reviewed").await;
    assert_eq!(reviewed.status, StatusCode::CREATED, "{}", reviewed.text);
    assert_eq!(version(h, &org, &id, 1).await["status"], "approved");
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let recorded = events_of(&entries, &["document.route.reassigned"]);
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["reason"], "The reviewer left");
    assert_eq!(recorded[0]["before"]["route"]["steps"][0]["userId"], admin.as_str());
    assert_eq!(recorded[0]["after"]["route"]["steps"][0]["userId"], viewer.as_str());
}

/// Putting a version into effect, or withdrawing an approved one, needs DocumentApprove: an
/// organisation that takes it from Users leaves them editing, not releasing.
///
/// Proves: DOC-3, RBAC-1
#[tokio::test]
async fn only_an_approver_puts_a_version_into_effect_or_withdraws_it() {
    let h = harness();
    let org = h.new_org("release").await;
    let owner = h.token(&org, Role::Owner).await;
    let put = h
        .raw(
            h.request(Method::PUT, "/organisation/roles/User")
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .json(&json!({
                    "permissions": ["DocumentRead", "DocumentCreate", "DocumentEdit"],
                    "reason": "Users draft; approvers release",
                })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let user = h.token(&org, Role::User).await;
    let id = create_id(h, &user, "sop", "Released by an approver").await;
    approve_in_table(h, &org, &id, 1).await;
    for to in ["effective", "obsolete"] {
        let refused = transition(h, &user, &id, 1, json!({"to": to, "reason": "r"})).await;
        refused.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(version(h, &org, &id, 1).await["status"], "approved");
    let effective = transition(h, &owner, &id, 1, json!({"to": "effective", "reason": "Released"})).await;
    assert_eq!(effective.status, StatusCode::OK, "{}", effective.text);
    transition(h, &user, &id, 1, json!({"to": "obsolete", "reason": "r"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    // A draft is the editor's to withdraw.
    let draft = create_id(h, &user, "sop", "Abandoned draft").await;
    let withdrawn = transition(h, &user, &draft, 1, json!({"to": "obsolete", "reason": "Not needed"})).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.text);
}

/// Only the latest version becomes effective: an older approved one never replaces a newer one.
///
/// Proves: DOC-1
#[tokio::test]
async fn an_older_approved_version_never_becomes_effective() {
    let h = harness();
    let org = h.new_org("older").await;
    let author = h.token(&org, Role::User).await;
    let id = create_id(h, &author, "sop", "Two approved").await;
    approve_in_table(h, &org, &id, 1).await;
    let next = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&author),
            Some(json!({"reason": "Superseding draft"})),
        )
        .await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.text);
    let older = transition(h, &author, &id, 1, json!({"to": "effective", "reason": "r"})).await;
    older.assert_problem(StatusCode::CONFLICT, "transition-not-allowed");
    assert_eq!(older.body["allowed"], json!(["obsolete"]));
    let withdrawn = transition(h, &author, &id, 1, json!({"to": "obsolete", "reason": "Replaced"})).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.text);
}

/// Content an administrator wrote while impersonating a member is authored by both: neither
/// reviews nor approves it.
///
/// Proves: DOC-3, RBAC-5
#[tokio::test]
async fn content_written_while_impersonating_is_authored_by_the_administrator_too() {
    let h = harness();
    let org = h.new_org("impauthor").await;
    let owner = h.token(&org, Role::Owner).await;
    let current = h.call(Method::GET, "/organisation", Some(&owner), None).await;
    let allowed = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&owner)
                .header("if-match", current.header("etag").unwrap())
                .json(&json!({"impersonationWrites": true, "reason": "Support writes"})),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
    let author = h.token(&org, Role::User).await;
    let id = create_id(h, &author, "sop", "Impersonated").await;
    let admin = h.token(&org, Role::Admin).await;
    let user = org.user(Role::User).user_id.to_string();
    let started = h
        .call(
            Method::POST,
            "/impersonation",
            Some(&admin),
            Some(json!({"userId": user, "minutes": 10, "reason": "Fix the draft"})),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let edited = h
        .raw(
            h.request(Method::PATCH, &format!("/documents/{id}"))
                .bearer_auth(&admin)
                .header("quire-impersonate", &user)
                .header("if-match", "\"1\"")
                .json(&json!({"body": "Written by support", "reason": "Fix"})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let authors = version(h, &org, &id, 1).await["authors"].clone();
    assert_eq!(
        authors,
        json!([user, org.user(Role::Admin).user_id.to_string()]),
        "the member and the administrator"
    );
    let admin_approves = transition(
        h,
        &author,
        &id,
        1,
        json!({"to": "in_review", "reason": "r", "route": {
            "order": "parallel",
            "approvers": [org.user(Role::Admin).user_id.to_string()],
        }}),
    )
    .await;
    admin_approves.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert!(admin_approves.text.contains("author"), "{}", admin_approves.text);
}

/// An SSO-only organisation's members sign in at its identity provider, and a signature
/// re-authenticates with a password: refused, before anything is asked of Cognito.
///
/// Proves: DOC-4, AUTHN-10
#[tokio::test]
async fn an_sso_only_organisation_cannot_sign_with_a_password() {
    let h = harness();
    let org = h.new_org("ssosign").await;
    let id = submitted(h, &org, "parallel").await;
    // Signed in, and the content read, before password sign-ins are turned off.
    let token = h.token(&org, Role::Owner).await;
    let owner = org.user(Role::Owner);
    // A wrong password: had Cognito been asked, it would be counted and recorded.
    let body = json!({
        "meaning": "approved",
        "password": "Not-the-Passw0rd!",
        "totp": h.totp_code(&owner.email),
        "contentSha256": content_of(h, &org, &id, 1).await,
    });
    h.tamper_flag(quire_store::testing::organisation(&org.org_id), "ssoOnly", true)
        .await;
    let refused = post_signature(h, &token, &id, body).await;
    refused.assert_problem(StatusCode::CONFLICT, "signature-not-allowed");
    assert!(refused.text.contains("SSO-only"), "{}", refused.text);
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert!(events_of(&entries, &["document.signed", "reauthentication.failed"]).is_empty());
}

/// Listings filter by the latest version's state, type, owner and when the periodic review is
/// due, alone or together, each a query of an index, paginated with sealed cursors; a bad
/// filter is a 400 naming it.
///
/// Proves: DOC-1, TEN-5
#[tokio::test]
async fn listings_filter_by_state_type_owner_and_review_due() {
    let h = harness();
    let org = h.new_org("filters").await;
    let other = h.new_org("filters").await;
    let user = h.token(&org, Role::User).await;
    let owner = h.token(&org, Role::Owner).await;
    let id = |d: Value| d["id"].as_str().unwrap().to_owned();
    let a = id(create(h, &user, "sop", "A").await);
    let b = id(create(h, &user, "policy", "B").await);
    let c = id(create(h, &owner, "sop", "C").await);
    create(h, &h.token(&other, Role::User).await, "sop", "Elsewhere").await;
    approve_in_table(h, &org, &a, 1).await;
    let effective = transition(h, &user, &a, 1, json!({"to": "effective", "reason": "Released"})).await;
    assert_eq!(effective.status, StatusCode::OK, "{}", effective.text);
    let list = |query: String| {
        let owner = owner.clone();
        async move {
            let reply = h
                .call(Method::GET, &format!("/documents?{query}"), Some(&owner), None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
            let ids: Vec<String> = reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect();
            (ids, reply.body["next"].as_str().map(str::to_owned))
        }
    };
    let user_id = org.user(Role::User).user_id.to_string();
    assert_eq!(list("status=effective".into()).await.0, vec![a.clone()]);
    assert_eq!(list("type=sop".into()).await.0, vec![c.clone(), a.clone()]);
    assert_eq!(list("type=policy".into()).await.0, vec![b.clone()]);
    assert_eq!(list(format!("owner={user_id}")).await.0, vec![b.clone(), a.clone()]);
    assert_eq!(list(format!("owner={user_id}&type=sop")).await.0, vec![a.clone()]);
    assert_eq!(list("status=draft&type=sop".into()).await.0, vec![c.clone()]);
    assert_eq!(list("reviewDue=before:2100-01-01".into()).await.0, vec![a.clone()]);
    assert_eq!(
        list("reviewDue=before:2100-01-01&type=policy".into()).await.0,
        Vec::<String>::new()
    );
    assert_eq!(list("reviewDue=before:2026-01-01".into()).await.0, Vec::<String>::new());
    let refused_cursor = |query: String| {
        let owner = owner.clone();
        async move {
            let reply = h
                .call(Method::GET, &format!("/documents?{query}"), Some(&owner), None)
                .await;
            reply.assert_problem(StatusCode::BAD_REQUEST, "invalid-cursor");
        }
    };
    // Pages of one, then the next with its cursor; a cursor of another filter is refused.
    let (first, next) = list("type=sop&limit=1".into()).await;
    assert_eq!(first, vec![c.clone()]);
    let next = next.expect("a next page");
    let (second, _) = list(format!("type=sop&limit=1&cursor={next}")).await;
    assert_eq!(second, vec![a.clone()]);
    refused_cursor(format!("type=policy&cursor={next}")).await;
    // Nor with other narrowing filters on the same index.
    refused_cursor(format!("type=sop&status=draft&cursor={next}")).await;
    // A type the organisation does not (or no longer) have lists nothing.
    assert_eq!(list("type=memo".into()).await.0, Vec::<String>::new());
    // The review index, a page at a time, soonest first (one day: then by id); a cursor of
    // another day is not this listing's.
    approve_in_table(h, &org, &c, 1).await;
    let effective = transition(h, &owner, &c, 1, json!({"to": "effective", "reason": "Released"})).await;
    assert_eq!(effective.status, StatusCode::OK, "{}", effective.text);
    let (first, next) = list("reviewDue=before:2100-01-01&limit=1".into()).await;
    assert_eq!(first, vec![a.clone()]);
    let next = next.expect("a next page");
    let (second, _) = list(format!("reviewDue=before:2100-01-01&limit=1&cursor={next}")).await;
    assert_eq!(second, vec![c.clone()]);
    refused_cursor(format!("reviewDue=before:2099-01-01&cursor={next}")).await;
    // A document withdrawn from effect leaves the review index.
    let withdrawn = transition(h, &user, &a, 1, json!({"to": "obsolete", "reason": "Withdrawn"})).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.text);
    assert_eq!(list("reviewDue=before:2100-01-01".into()).await.0, vec![c.clone()]);
    assert_eq!(list("status=obsolete".into()).await.0, vec![a.clone()]);
    for (query, name) in [
        ("status=approvedx", "status"),
        ("status=Effective", "status"),
        ("type=SOP", "type"),
        ("type=s-op", "type"),
        ("owner=..%2Fx", "owner"),
        ("reviewDue=2026-01-01", "reviewDue"),
        ("reviewDue=before:2026-02-30", "reviewDue"),
        ("status=draft&status=effective", "status"),
    ] {
        let reply = h
            .call(Method::GET, &format!("/documents?{query}"), Some(&owner), None)
            .await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert_eq!(reply.body["parameter"], name, "{query}: {}", reply.text);
    }
}

/// An edit and a submission of the same draft at the same moment: whatever the order, the
/// content under review is the content submitted; an edit never lands after the submission.
///
/// Proves: DOC-1, DOC-2, HTTP-5
#[tokio::test]
async fn an_edit_racing_a_submission_never_changes_what_is_in_review() {
    let h = harness();
    let org = h.new_org("editrace").await;
    let author = h.token(&org, Role::User).await;
    for round in 0..3 {
        let id = create_id(h, &author, "sop", &format!("Round {round}")).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let edit = {
            let (author, id, barrier) = (author.clone(), id.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                harness()
                    .edit_document(&author, &id, 1, json!({"body": "Edited.", "reason": "race"}))
                    .await
            })
        };
        let submit = {
            let (author, id, barrier) = (author.clone(), id.clone(), barrier.clone());
            let body = json!({"to": "in_review", "reason": "race", "route": route_of(&org, "parallel")});
            tokio::spawn(async move {
                barrier.wait().await;
                transition(harness(), &author, &id, 1, body).await
            })
        };
        let (edit, submit) = (edit.await.expect("edit"), submit.await.expect("submit"));
        let read = version(h, &org, &id, 1).await;
        match (edit.status, submit.status) {
            // The edit came first: the submission took the edited content.
            (StatusCode::OK, StatusCode::OK) => {
                assert_eq!(submit.body["body"], "Edited.");
                assert_eq!(read["body"], "Edited.");
                assert_eq!(read["status"], "in_review");
            }
            // The submission came first: the edit wrote nothing.
            (lost, StatusCode::OK) => {
                assert!(
                    matches!(lost, StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED),
                    "{}",
                    edit.text
                );
                assert_eq!(read["body"], "Step 1.\nStep 2.\nStep 3.");
                assert_eq!(read["status"], "in_review");
            }
            // The edit committed between the submission's read and its write.
            (StatusCode::OK, lost) => {
                assert_eq!(lost, StatusCode::CONFLICT, "{}", submit.text);
                assert_eq!(read["body"], "Edited.");
                assert_eq!(read["status"], "draft");
            }
            other => panic!("{other:?}: {} / {}", edit.text, submit.text),
        }
    }
}
