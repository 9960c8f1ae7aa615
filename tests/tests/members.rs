//! An organisation's members over HTTP (RBAC-1, RBAC-4, TEN-6): administrators list and read
//! memberships, change roles within their own grants, deactivate and reactivate members; only an
//! Owner touches Owners; the last active Owner cannot be taken away, under races too; a change
//! applies on the member's next request and ends their sessions; each is audited with before,
//! after and reason.

use quire_blackbox_tests::{events_of, harness, reasons_of, Harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn set_role(h: &Harness, token: &str, user: &str, role: &str, reason: &str) -> Reply {
    h.call(
        Method::PATCH,
        &format!("/members/{user}"),
        Some(token),
        Some(json!({"role": role, "reason": reason})),
    )
    .await
}

async fn status_change(h: &Harness, token: &str, user: &str, change: &str) -> Reply {
    h.call(
        Method::POST,
        &format!("/members/{user}/{change}"),
        Some(token),
        Some(json!({"reason": format!("{change} for the test")})),
    )
    .await
}

async fn entries(h: &Harness, org: &quire_core::ids::OrgId, actions: &[&str]) -> Vec<Value> {
    h.trail_settled(org).await;
    events_of(&h.trail_entries(org).await, actions)
        .into_iter()
        .cloned()
        .collect()
}

const CHANGES: [&str; 3] = ["member.role.changed", "member.deactivated", "member.reactivated"];

/// An Owner changes a User's role with a reason: the answer shows the new role, the member's
/// old token is refused at once (their sessions end), and their next sign-in carries the new
/// role; the change is one `member.role.changed` entry with the membership before and after,
/// beside `sessions.revoked`.
///
/// Proves: RBAC-4, TEN-6, AUD-3
#[tokio::test]
async fn a_role_change_applies_on_the_next_request_and_ends_the_members_sessions() {
    let h = harness();
    let org = h.new_org("memrole").await;
    let owner = h.token(&org, Role::Owner).await;
    let member = org.user(Role::User).clone();
    let old = h.token(&org, Role::User).await;
    h.create_document(&old, "Before the change").await;

    let changed = set_role(
        h,
        &owner,
        member.user_id.as_str(),
        "Viewer",
        "Moved to read-only duties",
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["role"], "Viewer");
    assert_eq!(changed.body["status"], "active");
    h.call(Method::GET, "/documents", Some(&old), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "token-revoked");
    let new = h.token(&org, Role::User).await;
    let me = h.call(Method::GET, "/auth/me", Some(&new), None).await;
    assert_eq!(me.body["role"], "Viewer", "{}", me.text);
    h.call(
        Method::POST,
        "/documents",
        Some(&new),
        Some(json!({"title": "x", "type": "sop", "body": "y"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    let recorded = entries(h, &org.org_id, &["member.role.changed", "sessions.revoked"]).await;
    assert_eq!(recorded.len(), 2, "{recorded:#?}");
    let change = &recorded[0];
    assert_eq!(change["action"], "member.role.changed");
    assert_eq!(change["target"]["id"], member.user_id.as_str());
    assert_eq!(change["before"]["role"], "User");
    assert_eq!(change["after"]["role"], "Viewer");
    assert_eq!(change["reason"], "Moved to read-only duties");
    assert_eq!(change["actor"]["userId"], org.user(Role::Owner).user_id.as_str());
    assert_eq!(recorded[1]["target"]["id"], member.user_id.as_str());
    assert_eq!(recorded[1]["after"]["identityProvider"], "signed-out");

    // The same role again changes and records nothing, and ends no session, at Cognito either:
    // a refresh token of theirs still works.
    let signed_in = h.sign_in(&member.email).await;
    let same = set_role(h, &owner, member.user_id.as_str(), "Viewer", "Again").await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);
    assert_eq!(
        h.call(Method::GET, "/auth/me", Some(&new), None).await.status,
        StatusCode::OK
    );
    let refreshed = h
        .call(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": signed_in["refreshToken"]})),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(entries(h, &org.org_id, &CHANGES).await.len(), 1);
    assert_eq!(entries(h, &org.org_id, &["sessions.revoked"]).await.len(), 1);
}

/// RBAC-1's bounds: an Admin may give Admin, User and Viewer to non-Owners, but may neither make
/// an Owner nor change or deactivate one (403 `role-not-grantable`); Users and Viewers manage no
/// one (403 `forbidden`). Refusals change and record nothing.
///
/// Proves: RBAC-1, RBAC-3
#[tokio::test]
async fn administrators_give_only_what_they_hold_and_only_owners_touch_owners() {
    let h = harness();
    let org = h.new_org("membounds").await;
    let admin = h.token(&org, Role::Admin).await;
    let owner_id = org.user(Role::Owner).user_id.to_string();
    let user_id = org.user(Role::User).user_id.to_string();
    let viewer_id = org.user(Role::Viewer).user_id.to_string();
    set_role(h, &admin, &user_id, "Owner", "Promotion")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    set_role(h, &admin, &owner_id, "Viewer", "Demotion")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    for change in ["deactivate", "reactivate"] {
        status_change(h, &admin, &owner_id, change)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    }
    for role in [Role::User, Role::Viewer] {
        let token = h.token(&org, role).await;
        for reply in [
            h.call(Method::GET, "/members", Some(&token), None).await,
            set_role(h, &token, &viewer_id, "User", "Self-service").await,
            status_change(h, &token, &viewer_id, "deactivate").await,
        ] {
            reply.assert_problem(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    assert!(entries(h, &org.org_id, &CHANGES).await.is_empty());
    let promoted = set_role(h, &admin, &viewer_id, "Admin", "Second administrator").await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    assert_eq!(promoted.body["role"], "Admin");
}

/// The last active Owner can be neither demoted nor deactivated (409 `last-owner`), and nobody
/// deactivates themself (409 `cannot-deactivate-self`); with a second Owner the first may step
/// down, and the second is then the last.
///
/// Proves: RBAC-1
#[tokio::test]
async fn the_last_active_owner_cannot_be_taken_away() {
    let h = harness();
    let org = h.new_org("memlast").await;
    let owner = h.token(&org, Role::Owner).await;
    let owner_id = org.user(Role::Owner).user_id.to_string();
    let admin_id = org.user(Role::Admin).user_id.to_string();
    set_role(h, &owner, &owner_id, "Admin", "Stepping down")
        .await
        .assert_problem(StatusCode::CONFLICT, "last-owner");
    status_change(h, &owner, &owner_id, "deactivate")
        .await
        .assert_problem(StatusCode::CONFLICT, "cannot-deactivate-self");
    assert!(entries(h, &org.org_id, &CHANGES).await.is_empty());

    let promoted = set_role(h, &owner, &admin_id, "Owner", "Co-owner").await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    let stepped_down = set_role(h, &owner, &owner_id, "Admin", "Stepping down").await;
    assert_eq!(stepped_down.status, StatusCode::OK, "{}", stepped_down.text);
    // The one who stepped down signed themself out; the new Owner is now the last.
    let second = h.token(&org, Role::Admin).await;
    set_role(h, &second, &admin_id, "User", "Stepping down too")
        .await
        .assert_problem(StatusCode::CONFLICT, "last-owner");
    let me = h.call(Method::GET, "/auth/me", Some(&second), None).await;
    assert_eq!(me.body["role"], "Owner", "{}", me.text);
}

/// Two Owners demoting each other at the same moment, round after round: never both, so an
/// active Owner always remains; each refused one is `last-owner`, `conflict` (its sender was
/// demoted meanwhile), a revoked token or a busy answer, and records nothing.
///
/// Proves: RBAC-1
#[tokio::test]
async fn owners_demoting_each_other_at_once_leave_an_owner() {
    let h = harness();
    let org = h.new_org("memrace").await;
    let first = org.user(Role::Owner).clone();
    let second = org.user(Role::Admin).clone();
    let mut made = 0;
    // Whoever is an Owner after a round makes the other one again: `first` to begin with.
    let mut owner = &first;
    for round in 0..4 {
        let (other, token) = if owner.email == first.email {
            (&second, h.login(&first.email).await)
        } else {
            (&first, h.login(&second.email).await)
        };
        let promote = set_role(h, &token, other.user_id.as_str(), "Owner", "Co-owner").await;
        assert_eq!(promote.status, StatusCode::OK, "{}", promote.text);
        let (a, b) = (h.login(&first.email).await, h.login(&second.email).await);
        let reason = format!("Race {round}");
        let (one, two) = tokio::join!(
            set_role(h, &a, second.user_id.as_str(), "Admin", &reason),
            set_role(h, &b, first.user_id.as_str(), "Admin", &reason),
        );
        let succeeded = [&one, &two].iter().filter(|r| r.status == StatusCode::OK).count();
        assert!(succeeded <= 1, "both made: {one:?} {two:?}");
        for refused in [&one, &two].into_iter().filter(|r| r.status != StatusCode::OK) {
            assert!(
                [
                    "urn:quire:problem:last-owner",
                    "urn:quire:problem:conflict",
                    "urn:quire:problem:token-revoked",
                    "urn:quire:problem:contended"
                ]
                .contains(&refused.problem_type()),
                "{}",
                refused.text
            );
        }
        made += succeeded;
        // Both are at least Admins still, and Admins read the members.
        let reader = h.login(&first.email).await;
        let owners = h.call(Method::GET, "/members", Some(&reader), None).await;
        let active_owners = owners.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["role"] == "Owner" && m["status"] == "active")
            .count();
        assert_eq!(active_owners, 2 - succeeded, "{}", owners.text);
        owner = if two.status == StatusCode::OK { &second } else { &first };
    }
    assert!(made >= 1, "no round made a change: the race proved nothing");
    let demotions: Vec<Value> = entries(h, &org.org_id, &["member.role.changed"])
        .await
        .into_iter()
        .filter(|e| e["reason"].as_str().is_some_and(|r| r.starts_with("Race")))
        .collect();
    assert_eq!(demotions.len(), made);
}

/// A deactivated member is refused on their next request with the token they hold, and their
/// sign-in is refused once their password is right (recorded, starting nothing); reactivated,
/// their old sessions stay ended and a new sign-in is served. Both are audited with the reason.
///
/// Proves: TEN-6, RBAC-4
#[tokio::test]
async fn a_deactivated_member_is_refused_on_the_next_request_until_reactivated() {
    let h = harness();
    let org = h.new_org("memdeact").await;
    let admin = h.token(&org, Role::Admin).await;
    let user_id = org.user(Role::User).user_id.to_string();
    let old = h.token(&org, Role::User).await;
    let deactivated = status_change(h, &admin, &user_id, "deactivate").await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);
    assert_eq!(deactivated.body["status"], "deactivated");
    h.call(Method::GET, "/documents", Some(&old), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "no-membership");
    let listed = h
        .call(Method::GET, &format!("/members/{user_id}"), Some(&admin), None)
        .await;
    assert_eq!(listed.body["status"], "deactivated", "{}", listed.text);

    // Their password is still right at Cognito: the sign-in is refused, and starts nothing.
    let refused = h.sign_in_reply(None, &org.user(Role::User).email).await;
    refused.assert_problem(StatusCode::FORBIDDEN, "no-membership");
    assert!(refused.body.get("accessToken").is_none());

    let reactivated = status_change(h, &admin, &user_id, "reactivate").await;
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.text);
    assert_eq!(reactivated.body["status"], "active");
    // Their old sessions stay ended; a new sign-in is served.
    h.call(Method::GET, "/documents", Some(&old), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "token-revoked");
    let new = h.token(&org, Role::User).await;
    assert_eq!(
        h.call(Method::GET, "/documents", Some(&new), None).await.status,
        StatusCode::OK
    );

    let recorded = entries(h, &org.org_id, &CHANGES).await;
    let actions: Vec<&str> = recorded.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["member.deactivated", "member.reactivated"]);
    assert_eq!(recorded[0]["before"]["status"], "Active");
    assert_eq!(recorded[0]["after"]["status"], "Suspended");
    assert_eq!(recorded[0]["reason"], "deactivate for the test");
    assert_eq!(recorded[1]["after"]["status"], "Active");
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(reasons_of(&entries, "sign-in.failed"), ["member-deactivated"]);
}

/// Members are listed a page at a time; a member of another organisation, or an id that names
/// no one, is a 404 on every member route; bad bodies are 400 and change nothing.
///
/// Proves: TEN-3, TEN-5, HTTP-4
#[tokio::test]
async fn members_are_listed_by_page_and_other_organisations_members_are_not_found() {
    let h = harness();
    let org = h.new_org("memlist").await;
    let other = h.new_org("memlistother").await;
    let owner = h.token(&org, Role::Owner).await;
    let first = h.call(Method::GET, "/members?limit=3", Some(&owner), None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["items"].as_array().map(Vec::len), Some(3));
    let cursor = first.body["next"].as_str().expect("a next page").to_owned();
    let rest = h
        .call(
            Method::GET,
            &format!("/members?limit=3&cursor={cursor}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(1), "{}", rest.text);
    assert_eq!(rest.body["next"], Value::Null);
    let mut emails: Vec<String> = [&first, &rest]
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().iter())
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    let mut seeded: Vec<String> = org.users.iter().map(|u| u.email.clone()).collect();
    seeded.sort();
    assert_eq!(emails, seeded);
    // Another organisation's cursor is refused.
    let theirs = h.token(&other, Role::Owner).await;
    h.call(
        Method::GET,
        &format!("/members?limit=3&cursor={cursor}"),
        Some(&theirs),
        None,
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid-cursor");

    let foreign = other.user(Role::User).user_id.to_string();
    for id in [foreign.as_str(), "no-such-user", "a%23b"] {
        h.call(Method::GET, &format!("/members/{id}"), Some(&owner), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
        set_role(h, &owner, id, "Viewer", "Not ours")
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
        status_change(h, &owner, id, "deactivate")
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let user_id = org.user(Role::User).user_id.to_string();
    for body in [
        json!({"role": "Superuser", "reason": "r"}),
        json!({"role": "Viewer"}),
        json!({"role": "Viewer", "reason": ""}),
        json!({"role": null, "reason": "r"}),
        json!({"role": "viewer", "reason": "r"}),
        json!({"role": {"Admin": null}, "reason": "r"}),
        json!({"role": "Admin", "reason": "two\u{2028}lines"}),
        json!({"role": "Viewer", "reason": "r", "status": "Active"}),
    ] {
        h.call(Method::PATCH, &format!("/members/{user_id}"), Some(&owner), Some(body))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    }
    assert!(entries(h, &org.org_id, &CHANGES).await.is_empty());
    assert!(entries(h, &other.org_id, &CHANGES).await.is_empty());
}

/// A read-only organisation (suspended) still takes access away, a demotion or deactivation,
/// but gives none: a promotion or a reactivation is refused with its state's problem.
///
/// Proves: ORG-1, RBAC-1
#[tokio::test]
async fn a_read_only_organisation_takes_access_away_but_gives_none() {
    let h = harness();
    let org = h.new_org("memreadonly").await;
    let owner = h.token(&org, Role::Owner).await;
    let user_id = org.user(Role::User).user_id.to_string();
    let viewer_id = org.user(Role::Viewer).user_id.to_string();
    let deactivated = status_change(h, &owner, &viewer_id, "deactivate").await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text);
    h.tamper(quire_store::testing::organisation(&org.org_id), "status", "Suspended")
        .await;
    set_role(h, &owner, &user_id, "Admin", "Promotion")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-suspended");
    status_change(h, &owner, &viewer_id, "reactivate")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-suspended");
    let demoted = set_role(h, &owner, &user_id, "Viewer", "Containment").await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text);
    let recorded = entries(h, &org.org_id, &CHANGES).await;
    let actions: Vec<&str> = recorded.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["member.deactivated", "member.role.changed"]);
}
