//! Break-glass access over HTTP (RBAC-6): a platform operator opens one organisation, with a
//! reason and for at most an hour, and reads it as its Admin reads, naming it in
//! `Quire-Break-Glass`; nothing is written through it; the opening, every request served and
//! the closing are recorded in the organisation's trail and the platform's, and both verify.

use quire_blackbox_tests::{events_of, harness, Harness, Reply};
use quire_core::ids::OrgId;
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const HEADER: &str = "quire-break-glass";

fn glass(org: &OrgId) -> String {
    format!("/operator/organisations/{org}/break-glass")
}

async fn open(h: &Harness, operator: &str, org: &OrgId, minutes: u32, reason: &str) -> Reply {
    h.call(
        Method::POST,
        &glass(org),
        Some(operator),
        Some(json!({"minutes": minutes, "reason": reason})),
    )
    .await
}

/// A request as `token` through a break-glass session into `org`.
async fn inside(h: &Harness, token: &str, org: &OrgId, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = h.request(method, path).bearer_auth(token).header(HEADER, org.as_str());
    if let Some(body) = body {
        request = request.json(&body);
    }
    h.raw(request).await
}

const ACTIONS: [&str; 3] = [
    "operator.break-glass.opened",
    "operator.break-glass.request",
    "operator.break-glass.closed",
];

/// An operator opens an organisation with a reason and reads its documents, members and
/// settings as its Admin would; writes are refused and not recorded; closed, the header opens nothing.
/// The organisation's trail and the platform's each hold the opening (with the reason), one
/// entry per request served (its route and path) and the closing, by the operator as
/// `PlatformOperator`, and both chains verify.
///
/// Proves: RBAC-6, AUD-3
#[tokio::test]
async fn an_operator_reads_through_break_glass_and_both_trails_record_every_request() {
    let h = harness();
    let org = h.new_org("glass").await;
    let owner = h.token(&org, Role::Owner).await;
    let document = h.create_document(&owner, "SOP-7 Deviation handling").await;
    let id = document["id"].as_str().unwrap().to_owned();
    let email = h.new_operator(true).await;
    let operator = h.login(&email).await;

    inside(h, &operator, &org.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "break-glass-inactive");
    let opened = open(h, &operator, &org.org_id, 15, "Ticket 7: the customer cannot see SOP-7").await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    assert_eq!(opened.body["organisationId"], org.org_id.as_str());
    let from = humantime::parse_rfc3339(opened.body["startedAt"].as_str().unwrap()).unwrap();
    let until = humantime::parse_rfc3339(opened.body["until"].as_str().unwrap()).unwrap();
    assert_eq!(until.duration_since(from).unwrap().as_secs(), 15 * 60);
    let current = h.call(Method::GET, &glass(&org.org_id), Some(&operator), None).await;
    assert_eq!(current.body["breakGlass"]["id"], opened.body["id"], "{}", current.text);
    open(h, &operator, &org.org_id, 15, "Again")
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");

    let listed = inside(h, &operator, &org.org_id, Method::GET, "/documents", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert!(listed.text.contains(&id), "{}", listed.text);
    let read_paths = [
        format!("/documents/{id}"),
        "/members".to_owned(),
        "/organisation".to_owned(),
    ];
    for path in &read_paths {
        let read = inside(h, &operator, &org.org_id, Method::GET, path, None).await;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.text);
    }
    inside(
        h,
        &operator,
        &org.org_id,
        Method::POST,
        "/documents",
        Some(json!({"title": "No", "type": "sop", "body": "x"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "break-glass-read-only");
    inside(
        h,
        &operator,
        &org.org_id,
        Method::POST,
        "/members/x/deactivate",
        Some(json!({"reason": "No"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "break-glass-read-only");
    for (method, path) in [
        (Method::GET, "/auth/me".to_owned()),
        (Method::GET, glass(&org.org_id)),
        (Method::GET, "/health".to_owned()),
    ] {
        inside(h, &operator, &org.org_id, method, &path, None)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "break-glass-not-here");
    }
    h.call(Method::GET, "/documents", Some(&operator), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "not-for-operators");

    let closed = h.call(Method::DELETE, &glass(&org.org_id), Some(&operator), None).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    assert!(closed.body["breakGlass"]["closedAt"].is_string(), "{}", closed.text);
    inside(h, &operator, &org.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "break-glass-inactive");

    h.trail_settled(&org.org_id).await;
    let own = h.trail_entries(&org.org_id).await;
    let recorded: Vec<&Value> = events_of(&own, &ACTIONS);
    let actions: Vec<&str> = recorded.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [ACTIONS[0], ACTIONS[1], ACTIONS[1], ACTIONS[1], ACTIONS[1], ACTIONS[2]],
        "{recorded:#?}"
    );
    for entry in &recorded {
        assert_eq!(entry["actor"]["email"], email.as_str());
        assert_eq!(entry["actor"]["role"], "PlatformOperator");
    }
    assert_eq!(recorded[0]["reason"], "Ticket 7: the customer cannot see SOP-7");
    let routes: Vec<(&str, &str)> = recorded[1..5]
        .iter()
        .map(|e| {
            (
                e["target"]["id"].as_str().unwrap(),
                e["after"]["path"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("GET /documents", "/documents"),
            ("GET /documents/{id}", read_paths[0].as_str()),
            ("GET /members", "/members"),
            ("GET /organisation", "/organisation"),
        ]
    );
    let verified = h.call(Method::GET, "/audit/verify", Some(&owner), None).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);

    let platform = OrgId::platform();
    h.trail_settled(&platform).await;
    let entries = h.platform_entries().await;
    let copies: Vec<&Value> = events_of(&entries, &ACTIONS)
        .into_iter()
        .filter(|e| {
            e["after"]["organisation"] == org.org_id.as_str()
                || e["target"]["id"] == org.org_id.as_str()
                || e["after"]["breakGlassId"] == opened.body["id"]
        })
        .collect();
    assert_eq!(copies.len(), recorded.len(), "{copies:#?}");
    for (copy, entry) in copies.iter().zip(&recorded) {
        for field in ["action", "actor", "target", "before", "after", "reason", "at"] {
            assert_eq!(copy[field], entry[field], "{field}");
        }
    }
    h.assert_platform_chain_valid().await;
}

/// Only an operator, in their group, with a second factor passed in the last 15 minutes, opens
/// break-glass, into a customer organisation that serves records, for 1 to 60 minutes; the
/// header is refused to members, to an operator outside the group, in another session of the
/// same operator, for an organisation the session did not open, after its end, and once the
/// organisation is closed. Every request served is recorded with its path and query, a 404
/// too, in the organisation's trail and the platform's; nothing refused is.
///
/// Proves: RBAC-6
#[tokio::test]
async fn break_glass_is_an_operators_own_into_one_serving_organisation() {
    let h = harness();
    let org = h.new_org("glassbound").await;
    let other = h.new_org("glassother").await;
    let owner = h.token(&org, Role::Owner).await;
    let email = h.new_operator(true).await;
    let operator = h.login(&email).await;
    let outsider = h.login(&h.new_operator(false).await).await;

    open(h, &owner, &org.org_id, 10, "Try")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "operators-only");
    open(h, &outsider, &org.org_id, 10, "Try")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "operators-only");
    for minutes in [0, 61] {
        open(h, &operator, &org.org_id, minutes, "Try")
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    }
    for id in [
        OrgId::platform(),
        OrgId::operators(),
        OrgId::parse("no-such-org").unwrap(),
    ] {
        open(h, &operator, &id, 10, "Try")
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }

    // A second factor passed more than 15 minutes ago (set in the table) opens nothing.
    let me = h.call(Method::GET, "/auth/me", Some(&operator), None).await;
    let operator_id = quire_core::ids::UserId::parse(me.body["userId"].as_str().unwrap()).unwrap();
    let session = me.body["session"]["id"].as_str().unwrap().to_owned();
    let session_key = quire_store::testing::session(&OrgId::operators(), &operator_id, &session);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    h.tamper_number(session_key.clone(), "secondFactorAt", now - 16 * 60 * 1000)
        .await;
    open(h, &operator, &org.org_id, 10, "Ticket 8")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "second-factor-too-old");
    h.tamper_number(session_key, "secondFactorAt", now).await;

    let opened = open(h, &operator, &org.org_id, 10, "Ticket 8").await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    // Every request served is recorded with its path and query, whatever the handler answers.
    let served = [
        "/documents?limit=1",
        "/documents/01900000-0000-7000-8000-000000000000",
        "/audit",
    ];
    for (path, status) in served
        .iter()
        .zip([StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::OK])
    {
        let reply = inside(h, &operator, &org.org_id, Method::GET, path, None).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
    }
    inside(h, &owner, &org.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "operators-only");
    inside(h, &outsider, &org.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "operators-only");
    let second_session = h.login(&email).await;
    inside(h, &second_session, &org.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "break-glass-inactive");
    inside(h, &operator, &other.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "break-glass-inactive");
    h.raw(
        h.request(Method::GET, "/documents")
            .bearer_auth(&operator)
            .header(HEADER, org.org_id.as_str())
            .header("quire-impersonate", "someone"),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "bad-request");

    // Its end passed (set in the table): the header opens nothing.
    let glass_key = quire_store::testing::break_glass(&org.org_id, &operator_id, &session);
    assert!(h.item_exists(glass_key.clone()).await);
    h.tamper_number(glass_key, "until", 1).await;
    inside(h, &operator, &org.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "break-glass-inactive");

    // Open while the operators close the organisation: it serves no records from then on.
    let reopened = open(h, &operator, &other.org_id, 10, "Ticket 9").await;
    assert_eq!(reopened.status, StatusCode::CREATED, "{}", reopened.text);
    let closed = h
        .raw(
            h.request(Method::PATCH, &format!("/operator/organisations/{}", other.org_id))
                .bearer_auth(&operator)
                .header("if-match", "\"1\"")
                .json(&json!({"status": "closed", "reason": "Contract ended"})),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    inside(h, &operator, &other.org_id, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "break-glass-inactive");
    h.call(Method::DELETE, &glass(&other.org_id), Some(&operator), None)
        .await;
    open(h, &operator, &other.org_id, 10, "Try")
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");

    // Recorded: the openings and the requests served, in each organisation's trail and the
    // platform's; nothing refused.
    h.trail_settled(&org.org_id).await;
    let own = h.trail_entries(&org.org_id).await;
    let recorded = events_of(&own, &ACTIONS);
    let actions: Vec<&str> = recorded.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [ACTIONS[0], ACTIONS[1], ACTIONS[1], ACTIONS[1]],
        "{recorded:#?}"
    );
    let paths: Vec<&str> = recorded[1..]
        .iter()
        .map(|e| e["after"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, served);
    let platform = OrgId::platform();
    h.trail_settled(&platform).await;
    let entries = h.platform_entries().await;
    let copies: Vec<&str> = events_of(&entries, &ACTIONS)
        .into_iter()
        .filter(|e| e["target"]["id"] == org.org_id.as_str() || e["after"]["organisation"] == org.org_id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(copies, actions);
    h.trail_settled(&other.org_id).await;
    let other_actions: Vec<String> = events_of(&h.trail_entries(&other.org_id).await, &ACTIONS)
        .into_iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        other_actions,
        [ACTIONS[0], ACTIONS[2]],
        "opened and closed; no request served"
    );
}
