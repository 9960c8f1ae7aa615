//! The organisation's plan over HTTP: billing (ORG-1) and modules (ORG-2), each its own pipeline
//! layer with its own problem type. Both are set here in the organisation's record directly
//! (the routes that set them are the platform operators'); they apply on the next request.

use quire_blackbox_tests::{harness, Harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn create(h: &Harness, token: &str) -> Reply {
    h.call(
        Method::POST,
        "/documents",
        Some(token),
        Some(json!({"title": "Plan", "type": "sop", "body": "x"})),
    )
    .await
}

/// A suspended subscription refuses every writing route with 403 `subscription-suspended`,
/// whatever the role, while reads go on, and so do one's own account and the changes that
/// contain a compromise (revoking a member's sessions, a demotion) but not a promotion, and no
/// code joins anyone; `/auth/me` says so; a status that does not read is suspended; once
/// active again, writes go on.
///
/// Proves: ORG-1
#[tokio::test]
async fn a_suspended_subscription_reads_but_writes_nothing_but_containment() {
    let h = harness();
    let org = h.new_org("billing").await;
    let owner = h.token(&org, Role::Owner).await;
    let user = h.token(&org, Role::User).await;
    let invited = h
        .call(
            Method::POST,
            "/invitations",
            Some(&owner),
            Some(json!({"role": "User", "uses": 5, "expiresInHours": 1})),
        )
        .await;
    let code = invited.body["code"].as_str().expect("a code").to_owned();
    let key = quire_store::testing::organisation(&org.org_id);
    h.tamper(key.clone(), "subscription", "Suspended").await;
    for token in [&owner, &user] {
        create(h, token)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "subscription-suspended");
        let listed = h.call(Method::GET, "/documents", Some(token), None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    }
    h.call(
        Method::POST,
        "/invitations",
        Some(&owner),
        Some(json!({"role": "User", "uses": 1, "expiresInHours": 1})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "subscription-suspended");
    let me = h.call(Method::GET, "/auth/me", Some(&user), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let viewer = org.user(Role::Viewer).user_id.to_string();
    let revoked = h
        .call(
            Method::POST,
            "/auth/sessions/revoke",
            Some(&owner),
            Some(json!({"userId": viewer})),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);

    // No more access for anyone: no promotion, no join; a demotion still goes through.
    let me = h.call(Method::GET, "/auth/me", Some(&user), None).await;
    assert_eq!(
        (
            me.body["organisation"]["subscription"].as_str(),
            me.body["organisation"]["readOnly"].as_bool()
        ),
        (Some("suspended"), Some(true))
    );
    let user_id = org.user(Role::User).user_id.to_string();
    let change = |role: &str| json!({"role": role, "reason": "Plan test"});
    h.call(
        Method::PATCH,
        &format!("/members/{user_id}"),
        Some(&owner),
        Some(change("Admin")),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "subscription-suspended");
    let demoted = h
        .call(
            Method::PATCH,
            &format!("/members/{user_id}"),
            Some(&owner),
            Some(change("Viewer")),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text);
    let joined = h
        .call_from(
            quire_blackbox_tests::fresh_address(),
            Method::POST,
            "/auth/join",
            None,
            Some(json!({
                "code": code,
                "email": format!("joiner-{}@example.test", quire_blackbox_tests::uuid_hex()),
                "password": h.password,
                "displayName": "J",
            })),
        )
        .await;
    joined.assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");

    h.tamper(key.clone(), "subscription", "Overdue?").await;
    create(h, &owner)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "subscription-suspended");
    h.tamper(key, "subscription", "Active").await;
    assert_eq!(create(h, &owner).await.status, StatusCode::CREATED);
}

/// A route of a module outside the organisation's plan is refused with 403
/// `module-not-in-plan` naming it, whatever the role, reading or writing; the platform's own
/// routes stay open; a plan that does not read includes only the platform's routes; a record
/// from before plans includes every module.
///
/// Proves: ORG-2
#[tokio::test]
async fn a_module_outside_the_plan_is_refused_whatever_the_role() {
    let h = harness();
    let org = h.new_org("modules").await;
    let owner = h.token(&org, Role::Owner).await;
    let user = h.token(&org, Role::User).await;
    assert_eq!(
        create(h, &user).await.status,
        StatusCode::CREATED,
        "every module before plans"
    );
    let settings = h.call(Method::GET, "/organisation", Some(&owner), None).await;
    assert_eq!(settings.body["modules"], json!(null), "every module: {}", settings.text);
    let key = quire_store::testing::organisation(&org.org_id);
    h.tamper_list(key.clone(), "modules", &["Documents"]).await;
    let audit = h.call(Method::GET, "/audit", Some(&owner), None).await;
    audit.assert_problem(StatusCode::FORBIDDEN, "module-not-in-plan");
    assert_eq!(audit.body["module"], "Audit");
    assert_eq!(create(h, &user).await.status, StatusCode::CREATED);
    let settings = h.call(Method::GET, "/organisation", Some(&owner), None).await;
    assert_eq!(
        (settings.body["modules"].clone(), settings.body["subscription"].clone()),
        (json!(["Documents"]), json!("active"))
    );
    for path in ["/members", "/organisation", "/auth/me"] {
        let open = h.call(Method::GET, path, Some(&owner), None).await;
        assert_eq!(open.status, StatusCode::OK, "{path}: {}", open.text);
    }

    h.tamper_list(key.clone(), "modules", &[]).await;
    for token in [&owner, &user] {
        h.call(Method::GET, "/documents", Some(token), None)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "module-not-in-plan");
    }
    h.tamper_number(key, "modules", 7).await;
    h.call(Method::GET, "/documents", Some(&owner), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "module-not-in-plan");
    assert_eq!(
        h.call(Method::GET, "/members", Some(&owner), None).await.status,
        StatusCode::OK
    );
}
