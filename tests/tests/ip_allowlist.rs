//! An organisation's IP allowlist over HTTP (ORG-3): its members' requests are served only from
//! its CIDR ranges, as the edge established the viewer's address; an empty list allows every
//! address; a stored list that does not parse refuses every request. The list is set here in the
//! organisation's record directly (the route that sets it is the organisation settings').
//! Locally the viewer's address is the test client's loopback address (127.0.0.0/8); the IPv6
//! and mapped-address edges are `quire_core::network`'s unit tests.

use quire_blackbox_tests::{events_of, harness, reasons_of, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use std::net::IpAddr;

async fn documents_from(from: &str, token: &str) -> Reply {
    let from: IpAddr = from.parse().expect("address");
    harness()
        .call_from(from, Method::GET, "/documents", Some(token), None)
        .await
}

/// Requests from inside the ranges are served, from outside refused with 403 `ip-not-allowed`,
/// before the route's own checks and with nothing written; a refresh from outside is refused
/// too; another organisation is not affected; an empty list allows every address again; a list
/// that does not parse allows none.
///
/// Proves: ORG-3
#[tokio::test]
async fn an_organisations_members_are_served_only_from_its_ranges() {
    let h = harness();
    let org = h.new_org("iplist").await;
    let other = h.new_org("iplistother").await;
    let user = h.token(&org, Role::User).await;
    let owner = h.token(&org, Role::Owner).await;
    let outsider = h.token(&other, Role::User).await;
    // Signed in before the list is set (a sign-in from outside it is refused).
    let viewer = h.token(&org, Role::Viewer).await;
    let signed_in = h.sign_in(&org.user(Role::User).email).await;
    let profile = quire_store::testing::organisation(&org.org_id);

    h.tamper_list(profile.clone(), "ipAllowlist", &["127.210.0.0/16", "127.211.4.5"])
        .await;
    for (from, status) in [
        ("127.210.0.1", StatusCode::OK),
        ("127.210.255.254", StatusCode::OK),
        ("127.211.4.5", StatusCode::OK),
        ("127.211.4.6", StatusCode::FORBIDDEN),
        ("127.209.255.255", StatusCode::FORBIDDEN),
        ("127.0.0.1", StatusCode::FORBIDDEN),
    ] {
        for token in [&user, &owner] {
            let reply = documents_from(from, token).await;
            assert_eq!(reply.status, status, "{from}: {}", reply.text);
            if status == StatusCode::FORBIDDEN {
                reply.assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
            }
        }
    }
    // Even the account page: the list is the organisation's, not a route's.
    let me: IpAddr = "127.209.0.1".parse().unwrap();
    h.call_from(me, Method::GET, "/auth/me", Some(&user), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
    // Refused before the route's own checks, and nothing written: a Viewer may not create
    // documents (403 `forbidden` from inside), but from outside the answer is the address's.
    let outside: IpAddr = "127.209.0.1".parse().unwrap();
    let create = serde_json::json!({"title": "From outside", "type": "sop", "body": "x"});
    h.call_from(outside, Method::POST, "/documents", Some(&viewer), Some(create.clone()))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
    h.call_from(outside, Method::POST, "/documents", Some(&user), Some(create))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
    let listed = documents_from("127.210.0.1", &user).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        listed.text
    );
    // A session is not refreshed from outside either (nothing recorded), and is from inside.
    let refresh = serde_json::json!({"refreshToken": signed_in["refreshToken"]});
    h.call_from(outside, Method::POST, "/auth/refresh", None, Some(refresh.clone()))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
    let inside: IpAddr = "127.210.0.9".parse().unwrap();
    let refreshed = h
        .call_from(inside, Method::POST, "/auth/refresh", None, Some(refresh))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(
        events_of(&entries, &["session.refreshed"]).len(),
        1,
        "only the refresh from inside"
    );
    assert!(events_of(&entries, &["document.created"]).is_empty());
    // Another organisation's members are not affected.
    assert_eq!(documents_from("127.209.0.1", &outsider).await.status, StatusCode::OK);

    h.tamper_list(profile.clone(), "ipAllowlist", &[]).await;
    assert_eq!(documents_from("127.209.0.1", &user).await.status, StatusCode::OK);

    h.tamper_list(profile.clone(), "ipAllowlist", &["127.210.0.0/16", "not-a-range"])
        .await;
    documents_from("127.210.0.1", &user)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
    h.tamper(profile, "ipAllowlist", "127.210.0.0/16").await;
    documents_from("127.210.0.1", &user)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
}

/// A sign-in from outside the list is refused with `ip-not-allowed` only once the password is
/// right, so the answer tells nothing to whoever does not know it; nothing is counted and no
/// session starts; from inside, the same sign-in succeeds.
///
/// Proves: ORG-3, AUTHN-9
#[tokio::test]
async fn a_sign_in_from_outside_is_refused_once_the_password_is_right() {
    let h = harness();
    let org = h.new_org("iplistsignin").await;
    let email = org.user(Role::User).email.clone();
    h.tamper_list(
        quire_store::testing::organisation(&org.org_id),
        "ipAllowlist",
        &["127.212.0.0/16"],
    )
    .await;
    let sign_in = |from: &str, password: String| {
        let from: IpAddr = from.parse().expect("address");
        let body = serde_json::json!({"email": email, "password": password});
        async move { h.call_from(from, Method::POST, "/auth/login", None, Some(body)).await }
    };
    sign_in("127.213.0.1", "Not-the-Passw0rd!".into())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    for _ in 0..5 {
        let refused = sign_in("127.213.0.1", h.password.clone()).await;
        refused.assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
        assert!(refused.body.get("accessToken").is_none());
    }
    // Not counted: five refusals did not lock the account.
    let inside = sign_in("127.212.0.1", h.password.clone()).await;
    assert_eq!(inside.status, StatusCode::OK, "{}", inside.text);
    assert!(inside.body["accessToken"].is_string());
    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    let reasons = reasons_of(&entries, "sign-in.failed");
    assert_eq!(
        reasons,
        [
            "wrong-password",
            "address-not-allowed",
            "address-not-allowed",
            "address-not-allowed",
            "address-not-allowed",
            "address-not-allowed"
        ]
    );
    assert_eq!(events_of(&entries, &["sign-in.succeeded"]).len(), 1);
}
