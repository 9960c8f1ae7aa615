//! An organisation's IP allowlist over HTTP (ORG-3): its members' requests are served only from
//! its CIDR ranges, as the edge established the viewer's address; an empty list allows every
//! address; a stored list that does not parse refuses every request. The list is set here in the
//! organisation's record directly, or through `PATCH /organisation`. Over HTTP the viewer's
//! address is the test client's loopback address (127.0.0.0/8); IPv6 viewers reach a function's
//! pipeline as the edge reports them (`CloudFront-Viewer-Address`), as API Gateway events, and
//! every range edge is `quire_core::network`'s unit tests'.

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

/// The allowlist over IPv6, as deployed: a request whose `CloudFront-Viewer-Address` (behind the
/// verified origin secret) names an IPv6 viewer, through a function's whole pipeline. The list
/// is set through `PATCH /organisation` (from outside it: confirmed); a viewer inside an IPv6
/// range, or an IPv4-mapped address inside an IPv4 range, is served; one outside either is
/// refused, with nothing written.
///
/// Proves: ORG-3
#[tokio::test]
async fn ipv6_viewers_are_matched_as_the_edge_reports_them() {
    use tower::ServiceExt;
    let h = harness();
    let org = h.new_org("iplistv6").await;
    let owner = h.token(&org, Role::Owner).await;
    let user = h.token(&org, Role::User).await;
    let saved = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .json(&serde_json::json!({
                    "ipAllowlist": ["2001:db8:1::/48", "198.51.100.0/24"],
                    "confirmLockout": true,
                    "reason": "IPv6 office and the IPv4 gateway",
                })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    for (viewer, served) in [
        ("2001:db8:1::5:443", true),
        ("2001:db8:1:ffff:ffff:ffff:ffff:ffff:50123", true),
        ("2001:db8:2::5:443", false),
        ("2001:db8::1:443", false),
        ("::ffff:198.51.100.7:443", true),
        ("::ffff:198.51.101.7:443", false),
        ("198.51.100.9:443", true),
    ] {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /documents",
            "rawPath": "/documents",
            "rawQueryString": "",
            "headers": {
                "authorization": format!("Bearer {user}"),
                "cloudfront-viewer-address": viewer,
                "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                "user-agent": "Mozilla/5.0",
                "x-quire-origin-verify": h.origin_secret,
            },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "a1b2c3d4e5",
                "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "a1b2c3d4e5",
                "http": {"method": "GET", "path": "/documents", "protocol": "HTTP/1.1",
                         "sourceIp": "198.51.100.20", "userAgent": "Mozilla/5.0"},
                "requestId": "ipv6-allowlist",
                "routeKey": "GET /documents",
                "stage": "$default",
                "time": "01/Dec/2026:09:30:07 +0000",
                "timeEpoch": 1796117407000u64,
            },
            "isBase64Encoded": false,
        });
        let response = h
            .on_stack(move |stack| async move {
                let router = quire_local::stack::function_routes()
                    .into_iter()
                    .find(|(name, _)| *name == "DocumentsFunction")
                    .map(|(_, router)| router)
                    .expect("the documents function");
                let service = quire_http::pipeline::service(stack.app.clone(), router);
                service
                    .oneshot(quire_http::event::request(event).expect("an API Gateway event"))
                    .await
                    .expect("an answer")
            })
            .await;
        let status = response.status().as_u16();
        let body = match response.body() {
            lambda_http::Body::Text(text) => text.clone(),
            _ => String::new(),
        };
        if served {
            assert_eq!(status, 200, "{viewer}: {body}");
        } else {
            assert_eq!(status, 403, "{viewer}: {body}");
            assert!(body.contains("urn:quire:problem:ip-not-allowed"), "{viewer}: {body}");
        }
    }
}

/// The answer to a sign-in's TOTP challenge must come from inside the list too: from outside it
/// is refused with `ip-not-allowed` before Cognito is asked, recorded and not counted; the same
/// challenge answered from inside signs in.
///
/// Proves: ORG-3
#[tokio::test]
async fn a_challenge_answered_from_outside_is_refused() {
    let h = harness();
    let org = h.new_org("iplistmfa").await;
    let email = org.user(Role::Owner).email.clone();
    h.tamper_list(
        quire_store::testing::organisation(&org.org_id),
        "ipAllowlist",
        &["127.214.0.0/16"],
    )
    .await;
    let inside: IpAddr = "127.214.0.1".parse().unwrap();
    let outside: IpAddr = "127.215.0.1".parse().unwrap();
    let session = h.challenge_session(inside, &email, "mfa").await;
    let answer = |from: IpAddr| {
        let body = serde_json::json!({"email": email, "session": session, "code": h.totp_code(&email)});
        async move { h.call_from(from, Method::POST, "/auth/mfa", None, Some(body)).await }
    };
    for _ in 0..5 {
        let refused = answer(outside).await;
        refused.assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
        assert!(refused.body.get("accessToken").is_none());
    }
    // Not counted: five refusals locked nothing, and the challenge is still there to answer.
    let signed_in = answer(inside).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    assert!(signed_in.body["accessToken"].is_string());
    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(reasons_of(&entries, "mfa.challenge.failed"), ["address-not-allowed"; 5]);
    assert!(events_of(&entries, &["sign-in.locked"]).is_empty());
    assert_eq!(events_of(&entries, &["sign-in.succeeded"]).len(), 1);
}

/// An organisation whose allowlist shuts every member out gets back in through a platform
/// operator, who may clear the list and never set one; the change is recorded with its reason
/// and the list before, in the organisation's trail and the platform's, which verifies.
///
/// Proves: ORG-3, RBAC-6
#[tokio::test]
async fn an_operator_clears_an_allowlist_that_shuts_everyone_out_and_never_sets_one() {
    use serde_json::{json, Value};
    let h = harness();
    let org = h.new_org("ipback").await;
    let owner = h.token(&org, Role::Owner).await;
    let saved = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .json(&json!({"ipAllowlist": ["192.0.2.0/24"], "confirmLockout": true, "reason": "Office only"})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    documents_from("127.0.0.1", &owner)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");

    let operator = h.login(&h.new_operator(true).await).await;
    let terms = format!("/operator/organisations/{}", org.org_id);
    let operate = |body: Value| {
        h.raw(
            h.request(Method::PATCH, &terms)
                .bearer_auth(&operator)
                .header("if-match", "\"2\"")
                .json(&body),
        )
    };
    operate(json!({"ipAllowlist": ["127.0.0.0/8"], "reason": "Try"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let cleared = operate(json!({"ipAllowlist": [], "reason": "Locked out by its allowlist: ticket 12"})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(cleared.body["ipAllowlist"], json!([]));
    assert_eq!(documents_from("127.0.0.1", &owner).await.status, StatusCode::OK);

    h.trail_settled(&org.org_id).await;
    let own = h.trail_entries(&org.org_id).await;
    let changes = events_of(&own, &["operator.organisation.changed"]);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["before"]["ipAllowlist"], json!(["192.0.2.0/24"]));
    assert!(changes[0]["after"].is_object(), "{changes:#?}");
    assert_eq!(changes[0]["after"]["ipAllowlist"], Value::Null);
    assert_eq!(changes[0]["reason"], "Locked out by its allowlist: ticket 12");
    // The same change in the platform's trail, which still verifies.
    let platform = quire_core::ids::OrgId::platform();
    h.trail_settled(&platform).await;
    let entries = h.platform_entries().await;
    let copies: Vec<&Value> = events_of(&entries, &["operator.organisation.changed"])
        .into_iter()
        .filter(|e| e["target"]["id"] == org.org_id.as_str())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:#?}");
    for field in ["action", "actor", "target", "before", "after", "reason"] {
        assert_eq!(copies[0][field], changes[0][field], "{field}");
    }
    h.assert_platform_chain_valid().await;
}
