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

/// Sets a version's status in the table, as the signatures that approve a version will.
async fn approve_in_table(h: &Harness, org: &SeededOrg, id: &str, v: u32) {
    h.tamper(
        quire_store::testing::document_version(&org.org_id, id, v),
        "status",
        "approved",
    )
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
    let id = create(h, &author, "sop", "One version").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
