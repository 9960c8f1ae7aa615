//! Impersonation over HTTP (RBAC-5): an administrator with `Impersonate` acts as a member of
//! their organisation, named by `Quire-Impersonate`, for at most an hour, read-only unless the
//! Owner allows writes; never as an Owner, themselves, a deactivated member or one holding more
//! than they do; bound to the session that started it; start and end audited, and every entry
//! of a change made in it names both identities.

use quire_blackbox_tests::{events_of, harness, Harness, Reply};
use quire_core::ids::OrgId;
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const HEADER: &str = "quire-impersonate";

/// A request as `member`, in the impersonation of `token`'s session.
async fn as_member(h: &Harness, token: &str, member: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = h.request(method, path).bearer_auth(token).header(HEADER, member);
    if let Some(body) = body {
        request = request.json(&body);
    }
    h.raw(request).await
}

async fn start(h: &Harness, token: &str, member: &str, minutes: u32, reason: &str) -> Reply {
    h.call(
        Method::POST,
        "/impersonation",
        Some(token),
        Some(json!({"userId": member, "minutes": minutes, "reason": reason})),
    )
    .await
}

/// Sets `impersonationWrites` as the Owner, at the organisation's current version.
async fn allow_writes(h: &Harness, owner: &str, writes: bool) {
    let current = h.call(Method::GET, "/organisation", Some(owner), None).await;
    let etag = current.header("etag").expect("an ETag").to_owned();
    let patched = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(owner)
                .header("if-match", etag)
                .json(&json!({"impersonationWrites": writes, "reason": "Support policy"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["impersonationWrites"], writes);
}

/// Sets the Admin role's grants as the Owner, at the organisation's version `version`.
async fn adjust_admin(h: &Harness, owner: &str, version: u64, permissions: &[&str], reason: &str) -> Reply {
    let adjusted = h
        .raw(
            h.request(Method::PUT, "/organisation/roles/Admin")
                .bearer_auth(owner)
                .header("if-match", format!("\"{version}\""))
                .json(&json!({"permissions": permissions, "reason": reason})),
        )
        .await;
    assert_eq!(adjusted.status, StatusCode::OK, "{}", adjusted.text);
    adjusted
}

/// The Admin role without the document writes Users keep, so Users hold more than Admins.
const NARROWED: [&str; 5] = ["DocumentRead", "AuditRead", "UserManage", "MemberRead", "Impersonate"];

async fn entries(h: &Harness, org: &OrgId, actions: &[&str]) -> Vec<Value> {
    h.trail_settled(org).await;
    events_of(&h.trail_entries(org).await, actions)
        .into_iter()
        .cloned()
        .collect()
}

fn document(title: &str) -> Value {
    json!({"title": title, "type": "sop", "body": "Steps"})
}

/// An Admin acts as a Viewer and then a User: the member's role is what authorisation judges
/// (the Viewer's `GET /members` is refused, the Admin's own is not), writes are refused until
/// the Owner allows them and again when the Owner withdraws it, an impersonation started
/// read-only stays so, and the document made as the User is recorded with the User as actor
/// and the Admin as impersonator. Start and end are recorded with the reason, the
/// impersonation before and after.
///
/// Proves: RBAC-5, AUD-3
#[tokio::test]
async fn an_admin_acts_as_a_member_within_the_members_role_and_every_entry_names_both() {
    let h = harness();
    let org = h.new_org("impers").await;
    let owner = h.token(&org, Role::Owner).await;
    let admin = h.token(&org, Role::Admin).await;
    let admin_id = org.user(Role::Admin).user_id.to_string();
    let viewer = org.user(Role::Viewer).user_id.to_string();
    let user = org.user(Role::User).user_id.to_string();

    let none = h.call(Method::GET, "/impersonation", Some(&admin), None).await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.text);
    assert_eq!(none.body["impersonation"], Value::Null);

    let started = start(h, &admin, &viewer, 15, "Reproduce the viewer's report").await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    assert_eq!(started.body["userId"], viewer.as_str());
    assert_eq!(started.body["impersonator"], admin_id.as_str());
    assert_eq!(started.body["writes"], false);
    let from = humantime::parse_rfc3339(started.body["startedAt"].as_str().unwrap()).unwrap();
    let until = humantime::parse_rfc3339(started.body["until"].as_str().unwrap()).unwrap();
    assert_eq!(until.duration_since(from).unwrap().as_secs(), 15 * 60);
    let current = h.call(Method::GET, "/impersonation", Some(&admin), None).await;
    assert_eq!(
        current.body["impersonation"]["id"], started.body["id"],
        "{}",
        current.text
    );
    start(h, &admin, &user, 15, "Another")
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");

    let read = as_member(h, &admin, &viewer, Method::GET, "/documents", None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    as_member(h, &admin, &viewer, Method::GET, "/members", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        h.call(Method::GET, "/members", Some(&admin), None).await.status,
        StatusCode::OK
    );
    as_member(h, &admin, &viewer, Method::POST, "/documents", Some(document("No")))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-read-only");

    // Allowed now, but this impersonation started read-only.
    allow_writes(h, &owner, true).await;
    as_member(h, &admin, &viewer, Method::POST, "/documents", Some(document("No")))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-read-only");
    let ended = h.call(Method::DELETE, "/impersonation", Some(&admin), None).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    assert!(ended.body["impersonation"]["endedAt"].is_string(), "{}", ended.text);
    as_member(h, &admin, &viewer, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");
    let again = h.call(Method::DELETE, "/impersonation", Some(&admin), None).await;
    assert_eq!(again.body["impersonation"], Value::Null, "{}", again.text);

    let writing = start(h, &admin, &user, 30, "Fix the user's draft with them").await;
    assert_eq!(writing.status, StatusCode::CREATED, "{}", writing.text);
    assert_eq!(writing.body["writes"], true);
    let made = as_member(
        h,
        &admin,
        &user,
        Method::POST,
        "/documents",
        Some(document("As the user")),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    allow_writes(h, &owner, false).await;
    as_member(h, &admin, &user, Method::POST, "/documents", Some(document("No")))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-read-only");

    let created = entries(h, &org.org_id, &["document.created"]).await;
    assert_eq!(created.len(), 1, "{created:#?}");
    let actor = &created[0]["actor"];
    assert_eq!(actor["userId"], user.as_str());
    assert_eq!(actor["role"], "User");
    assert_eq!(actor["impersonator"], admin_id.as_str());

    let recorded = entries(h, &org.org_id, &["impersonation.started", "impersonation.ended"]).await;
    let actions: Vec<&str> = recorded.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["impersonation.started", "impersonation.ended", "impersonation.started"]
    );
    for entry in &recorded {
        assert_eq!(entry["actor"]["userId"], admin_id.as_str());
        assert_eq!(entry["actor"]["impersonator"], Value::Null);
    }
    assert_eq!(recorded[0]["reason"], "Reproduce the viewer's report");
    assert_eq!(recorded[0]["target"]["id"], viewer.as_str());
    assert_eq!(recorded[0]["after"]["writes"], false);
    assert_eq!(recorded[1]["before"]["endedAt"], Value::Null);
    assert!(recorded[1]["after"]["endedAt"].is_u64(), "{:#?}", recorded[1]);
    assert_eq!(recorded[1]["after"]["cause"], "ended");
    assert_eq!(recorded[2]["after"]["writes"], true);

    // Whether impersonation writes is the Owner's, even for an Admin who manages the organisation.
    let mut delegated: Vec<&str> = NARROWED.to_vec();
    delegated.extend([
        "DocumentCreate",
        "DocumentEdit",
        "OrganisationRead",
        "OrganisationManage",
    ]);
    adjust_admin(h, &owner, 3, &delegated, "Admins manage the settings").await;
    let refused = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&admin)
                .header("if-match", "\"4\"")
                .json(&json!({"impersonationWrites": true, "reason": "Try"})),
        )
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
}

/// Who may be impersonated, by whom: never an Owner, oneself, a deactivated member, a member
/// whose role holds what the caller's does not (after the Owner narrows the Admin role), or a
/// member of no organisation of the caller's; only with `Impersonate` (a User has none); at
/// most an hour. A refusal writes nothing.
///
/// Proves: RBAC-5
#[tokio::test]
async fn never_an_owner_oneself_a_deactivated_member_or_one_with_more_rights() {
    let h = harness();
    let org = h.new_org("impbound").await;
    let owner = h.token(&org, Role::Owner).await;
    let admin = h.token(&org, Role::Admin).await;
    let user_token = h.token(&org, Role::User).await;
    let id = |role| org.user(role).user_id.to_string();

    for (member, expected) in [
        (id(Role::Owner), "an Owner is never impersonated"),
        (id(Role::Admin), "you cannot impersonate yourself"),
    ] {
        let refused = start(h, &admin, &member, 10, "Try").await;
        refused.assert_problem(StatusCode::FORBIDDEN, "impersonation-refused");
        assert_eq!(refused.body["detail"], expected);
    }
    start(h, &user_token, &id(Role::Viewer), 10, "Try")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    for minutes in [0, 61] {
        start(h, &admin, &id(Role::Viewer), minutes, "Try")
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    }
    let stranger = h.new_org("impother").await.user(Role::User).user_id.to_string();
    start(h, &admin, &stranger, 10, "Try")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");

    let deactivated = h
        .call(
            Method::POST,
            &format!("/members/{}/deactivate", id(Role::Viewer)),
            Some(&owner),
            Some(json!({"reason": "Left"})),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);
    start(h, &admin, &id(Role::Viewer), 10, "Try")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-refused");

    adjust_admin(h, &owner, 1, &NARROWED, "Admins no longer write documents").await;
    let refused = start(h, &admin, &id(Role::User), 10, "Try").await;
    refused.assert_problem(StatusCode::FORBIDDEN, "impersonation-refused");
    assert_eq!(
        refused.body["detail"],
        "the member's role holds a permission yours does not"
    );

    assert!(entries(h, &org.org_id, &["impersonation.started"]).await.is_empty());
}

/// The header grants nothing by itself: another session of the same Admin, the Owner, or an
/// operator naming the member are refused; it is refused on one's own account's, the
/// impersonation routes, public ones and those that administer the organisation, malformed or
/// sent twice. The impersonation's end passed (set in the table), the member promoted to Owner
/// or deactivated mid-way each end it on the next request, recorded with the cause, and a
/// reactivation does not bring it back.
///
/// Proves: RBAC-5
#[tokio::test]
async fn the_header_grants_nothing_beyond_the_sessions_own_live_impersonation() {
    let h = harness();
    let org = h.new_org("imphdr").await;
    let owner = h.token(&org, Role::Owner).await;
    let admin = h.token(&org, Role::Admin).await;
    let user = org.user(Role::User).user_id.to_string();
    let viewer = org.user(Role::Viewer).user_id.to_string();
    let started = start(h, &admin, &user, 20, "Support ticket 41").await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    assert_eq!(
        as_member(h, &admin, &user, Method::GET, "/documents", None)
            .await
            .status,
        StatusCode::OK
    );

    let other_session = h.token(&org, Role::Admin).await;
    for token in [&other_session, &owner] {
        as_member(h, token, &user, Method::GET, "/documents", None)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");
    }
    as_member(h, &admin, &viewer, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");
    let operator = h.login(&h.new_operator(true).await).await;
    as_member(h, &operator, &user, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "not-for-operators");
    for (method, path) in [
        (Method::GET, "/auth/me"),
        (Method::GET, "/impersonation"),
        (Method::DELETE, "/impersonation"),
        (Method::POST, "/impersonation"),
        (Method::GET, "/health"),
        (Method::POST, "/invitations"),
        (Method::PATCH, "/organisation"),
        (Method::POST, "/auth/sessions/revoke"),
    ] {
        as_member(h, &admin, &user, method, path, None)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "impersonation-not-here");
    }
    as_member(h, &admin, "no#such", Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    h.raw(
        h.request(Method::GET, "/documents")
            .bearer_auth(&admin)
            .header(HEADER, user.as_str())
            .header(HEADER, user.as_str()),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "bad-request");
    // Refusals of the header end nothing.
    assert_eq!(
        as_member(h, &admin, &user, Method::GET, "/documents", None)
            .await
            .status,
        StatusCode::OK
    );

    // Its end passed, as a direct write of the table sets it.
    let me = h.call(Method::GET, "/auth/me", Some(&admin), None).await;
    let session = me.body["session"]["id"].as_str().expect("session id");
    let key = quire_store::testing::impersonation(&org.org_id, &org.user(Role::Admin).user_id, session);
    assert!(h.item_exists(key.clone()).await);
    h.tamper_number(key, "until", 1).await;
    as_member(h, &admin, &user, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");

    // The member promoted to Owner mid-way.
    let other = h.token(&org, Role::Admin).await;
    assert_eq!(
        start(h, &other, &user, 20, "Support ticket 42").await.status,
        StatusCode::CREATED
    );
    let promoted = h
        .call(
            Method::PATCH,
            &format!("/members/{user}"),
            Some(&owner),
            Some(json!({"role": "Owner", "reason": "New co-owner"})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    let stopped = as_member(h, &other, &user, Method::GET, "/documents", None).await;
    stopped.assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");
    assert!(
        stopped.body["detail"].as_str().unwrap().contains("may no longer"),
        "{}",
        stopped.text
    );

    // The member deactivated mid-way.
    let third = h.token(&org, Role::Admin).await;
    assert_eq!(
        start(h, &third, &viewer, 20, "Support ticket 43").await.status,
        StatusCode::CREATED
    );
    let deactivated = h
        .call(
            Method::POST,
            &format!("/members/{viewer}/deactivate"),
            Some(&owner),
            Some(json!({"reason": "Left"})),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);
    as_member(h, &third, &viewer, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");
    // Reactivated before its end: it does not come back, its end was recorded.
    let reactivated = h
        .call(
            Method::POST,
            &format!("/members/{viewer}/reactivate"),
            Some(&owner),
            Some(json!({"reason": "Back"})),
        )
        .await;
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.text);
    let after = as_member(h, &third, &viewer, Method::GET, "/documents", None).await;
    after.assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");
    assert!(
        after.body["detail"].as_str().unwrap().contains("no impersonation"),
        "{}",
        after.text
    );

    let ends = entries(h, &org.org_id, &["impersonation.ended"]).await;
    let causes: Vec<&str> = ends.iter().map(|e| e["after"]["cause"].as_str().unwrap()).collect();
    assert_eq!(
        causes,
        ["ran-out", "member-is-owner", "member-deactivated"],
        "{ends:#?}"
    );
}

/// The Admin's own grants narrowed below the member's mid-way ends the impersonation on the
/// next request; two starts racing in one session make one impersonation.
///
/// Proves: RBAC-5
#[tokio::test]
async fn a_narrowed_admin_stops_and_racing_starts_make_one() {
    let h = harness();
    let org = h.new_org("imprace").await;
    let owner = h.token(&org, Role::Owner).await;
    let admin = h.token(&org, Role::Admin).await;
    let user = org.user(Role::User).user_id.to_string();

    let racers = (0..4).map(|i| {
        let admin = admin.clone();
        let user = user.clone();
        async move { start(h, &admin, &user, 10, &format!("Race {i}")).await }
    });
    let replies = futures::future::join_all(racers).await;
    let made = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(made, 1, "{:#?}", replies.iter().map(|r| &r.text).collect::<Vec<_>>());
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        reply.assert_problem(StatusCode::CONFLICT, "conflict");
    }
    assert_eq!(entries(h, &org.org_id, &["impersonation.started"]).await.len(), 1);

    assert_eq!(
        as_member(h, &admin, &user, Method::GET, "/documents", None)
            .await
            .status,
        StatusCode::OK
    );
    adjust_admin(h, &owner, 1, &NARROWED, "Admins no longer write documents").await;
    as_member(h, &admin, &user, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");

    // Impersonate taken from the Admin role: the next one stops, and giving it back does not
    // revive it; the Admin can still end their own (nothing left to end) and read it.
    let again = start(h, &admin, &org.user(Role::Viewer).user_id.to_string(), 10, "Again").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    let viewer = org.user(Role::Viewer).user_id.to_string();
    adjust_admin(h, &owner, 2, &NARROWED[..4], "Impersonation policy").await;
    as_member(h, &admin, &viewer, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    adjust_admin(h, &owner, 3, &NARROWED, "Impersonation policy").await;
    as_member(h, &admin, &viewer, Method::GET, "/documents", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "impersonation-inactive");
    let current = h.call(Method::GET, "/impersonation", Some(&admin), None).await;
    assert_eq!(current.body["impersonation"], Value::Null, "{}", current.text);
    let ends = entries(h, &org.org_id, &["impersonation.ended"]).await;
    let causes: Vec<&str> = ends.iter().map(|e| e["after"]["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["member-holds-more", "not-permitted"], "{ends:#?}");
}

/// A change made in an impersonation commits only while it acts: one made after the
/// impersonation ended (as a request in flight when it ends would be), or after the
/// administrator's role changed in the table, is refused by the store whatever the layer saw;
/// made while it acts, its entry names both.
///
/// Proves: RBAC-5
#[tokio::test]
async fn a_change_in_flight_when_the_impersonation_ends_writes_nothing() {
    use quire_core::audit::{Action, Origin, Target};
    use quire_store::tenant::Caller;
    use quire_store::{AuditContext, StoreError};
    let h = harness();
    let org = h.new_org("impflight").await;
    let admin = org.user(Role::Admin).user_id.clone();
    let member = org.user(Role::User).user_id.clone();
    let origin = || Origin::new(None, None, "corr-flight");
    let caller = quire_store::testing::caller(&org.org_id, &admin, Role::Admin);
    // Starts an impersonation of the member and returns the caller acting as them.
    let acting = |reason: &'static str| {
        let (caller, member) = (caller.clone(), member.clone());
        h.on_stack(move |stack| async move {
            let audit = AuditContext::for_route(caller.actor(), origin(), &[Action::ImpersonationStarted]);
            let store = &stack.app.store;
            store
                .start_impersonation(&caller, audit, &member, 10, reason)
                .await
                .expect("store")
                .expect("started");
            store
                .impersonate(&caller, &member, origin())
                .await
                .expect("store")
                .expect("acting")
        })
    };
    let write = |acting: Caller| {
        h.on_stack(move |stack| async move {
            stack
                .app
                .store
                .transaction(
                    acting.scope(),
                    AuditContext::for_caller(&acting, origin(), &[Action::DocumentCreated]),
                )
                .event(Action::DocumentCreated, Target::new("document", "flight"), &json!({}))
                .commit()
                .await
        })
    };

    let first = acting("In flight").await;
    assert!(write(first.clone()).await.is_ok());
    let ender = caller.clone();
    h.on_stack(move |stack| async move {
        let audit = AuditContext::for_route(ender.actor(), origin(), &[Action::ImpersonationEnded]);
        stack.app.store.end_impersonation(&ender, audit).await.expect("ended")
    })
    .await;
    let late = write(first).await;
    assert!(matches!(late, Err(StoreError::Conflict)), "{late:?}");

    let second = acting("Role changes").await;
    h.tamper(quire_store::testing::member(&org.org_id, &admin), "role", "User")
        .await;
    let demoted = write(second.clone()).await;
    assert!(matches!(demoted, Err(StoreError::Conflict)), "{demoted:?}");
    h.tamper(quire_store::testing::member(&org.org_id, &admin), "role", "Admin")
        .await;
    assert!(write(second).await.is_ok());

    let made = entries(h, &org.org_id, &["document.created"]).await;
    assert_eq!(made.len(), 2, "{made:#?}");
    for entry in &made {
        assert_eq!(entry["actor"]["userId"], member.as_str());
        assert_eq!(entry["actor"]["impersonator"], admin.as_str());
    }
}
