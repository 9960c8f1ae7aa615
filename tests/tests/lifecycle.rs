//! The organisation's lifecycle over HTTP (ORG-1, TEN-6): what its status means on each of its
//! members' requests. The status is set here in the organisation's record directly (the routes
//! that set it are the platform operators'); it applies on the next request.

use quire_blackbox_tests::{events_of, harness, Harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn millis_from_now(offset: i64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    (now + offset) as u64
}

const DAY: i64 = 24 * 3600 * 1000;

async fn create(h: &Harness, token: &str) -> Reply {
    h.call(
        Method::POST,
        "/documents",
        Some(token),
        Some(json!({"title": "During", "type": "sop", "body": "x"})),
    )
    .await
}

/// `POST /auth/refresh` with the refresh token of `signed_in` (a sign-in's answer).
async fn refresh(h: &Harness, signed_in: &serde_json::Value) -> Reply {
    h.call(
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": signed_in["refreshToken"]})),
    )
    .await
}

async fn me(h: &Harness, token: &str) -> Reply {
    let me = h.call(Method::GET, "/auth/me", Some(token), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    me
}

/// A suspended organisation is read-only: its records are served, every route that writes them
/// is refused with 403 `organisation-suspended` and writes nothing, but for what contains a
/// compromise (its settings, ending a member's sessions); its members' own accounts work (the
/// account page says so, a session is refreshed, a member signs out). Active again, it writes.
///
/// Proves: ORG-1, TEN-6
#[tokio::test]
async fn a_suspended_organisation_is_read_only() {
    let h = harness();
    let org = h.new_org("lcsuspended").await;
    let user = h.token(&org, Role::User).await;
    let owner = h.token(&org, Role::Owner).await;
    let viewer = h.sign_in(&org.user(Role::Viewer).email).await;
    let document = h.create_document(&user, "Before the suspension").await;
    let id = document["id"].as_str().expect("id").to_owned();
    let profile = quire_store::testing::organisation(&org.org_id);
    h.tamper(profile.clone(), "status", "Suspended").await;

    let listed = h.call(Method::GET, "/documents", Some(&user), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    let read = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&user), None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let audit = h.call(Method::GET, "/audit", Some(&owner), None).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);

    create(h, &user)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-suspended");
    h.edit_document(&user, &id, 1, json!({"title": "Edited", "reason": "During"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-suspended");
    // What contains a compromise still writes: tightening the settings, ending a member's
    // sessions; and so does one's own account: signing out.
    let settings = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .json(&json!({"sessionIdleMinutes": 15, "reason": "Shorter sessions during the dispute"})),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.text);
    let revoked = h
        .call(
            Method::POST,
            "/auth/sessions/revoke",
            Some(&owner),
            Some(json!({"userId": org.user(Role::Admin).user_id.as_str()})),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    let leaving = h.token(&org, Role::Admin).await;
    let signed_out = h.call(Method::POST, "/auth/logout", Some(&leaving), None).await;
    assert_eq!(signed_out.status, StatusCode::OK, "{}", signed_out.text);

    let account = me(h, &user).await;
    assert_eq!(account.body["organisation"]["status"], "suspended");
    assert_eq!(account.body["organisation"]["readOnly"], true);
    let refreshed = refresh(h, &viewer).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);

    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(events_of(&entries, &["document.created"]).len(), 1);
    assert!(events_of(&entries, &["document.updated"]).is_empty());
    assert_eq!(
        events_of(&entries, &["organisation.updated", "session.signed-out"]).len(),
        2
    );

    h.tamper(profile, "status", "Active").await;
    assert_eq!(create(h, &user).await.status, StatusCode::CREATED);
    let account = me(h, &user).await;
    assert_eq!(account.body["organisation"]["status"], "active");
    assert_eq!(account.body["organisation"]["readOnly"], false);
}

/// On trial an organisation works until its end; then it is read-only for 14 days (403
/// `trial-ended` on writes), then locked (403 `organisation-locked` on every route of its
/// records, its members' own accounts still open). A trial without a readable end is locked.
///
/// Proves: ORG-1
#[tokio::test]
async fn a_trial_is_read_only_once_ended_and_locked_fourteen_days_later() {
    let h = harness();
    let org = h.new_org("lctrial").await;
    let user = h.token(&org, Role::User).await;
    let signed_in = h.sign_in(&org.user(Role::Viewer).email).await;
    let profile = quire_store::testing::organisation(&org.org_id);
    h.tamper(profile.clone(), "status", "Trial").await;
    h.tamper_number(profile.clone(), "trialEndsAt", millis_from_now(3600 * 1000))
        .await;
    assert_eq!(create(h, &user).await.status, StatusCode::CREATED);
    let account = me(h, &user).await;
    assert_eq!(account.body["organisation"]["status"], "trial");
    assert!(
        account.body["organisation"]["trialEndsAt"].is_string(),
        "{}",
        account.text
    );

    // Ended a day ago: read-only, locking in 13 days.
    h.tamper_number(profile.clone(), "trialEndsAt", millis_from_now(-DAY))
        .await;
    create(h, &user)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "trial-ended");
    let listed = h.call(Method::GET, "/documents", Some(&user), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let account = me(h, &user).await;
    assert_eq!(account.body["organisation"]["status"], "trial-ended");
    assert_eq!(account.body["organisation"]["readOnly"], true);
    let locks_at = account.body["organisation"]["locksAt"].as_str().expect("locksAt");
    let locks_at = humantime::parse_rfc3339(locks_at).expect("RFC 3339");
    let in_13_days = SystemTime::now() + Duration::from_secs(13 * 24 * 3600);
    assert!(
        locks_at.duration_since(in_13_days).unwrap_or_else(|e| e.duration()) < Duration::from_secs(120),
        "{}",
        account.text
    );

    // Ended just over 14 days ago: locked.
    h.tamper_number(profile.clone(), "trialEndsAt", millis_from_now(-14 * DAY - 60_000))
        .await;
    h.call(Method::GET, "/documents", Some(&user), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-locked");
    create(h, &user)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-locked");
    assert_eq!(me(h, &user).await.body["organisation"]["status"], "locked");
    let refreshed = refresh(h, &signed_in).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);

    // No readable end: locked, never open.
    h.tamper(profile, "trialEndsAt", "next year").await;
    h.call(Method::GET, "/documents", Some(&user), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-locked");
    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(events_of(&entries, &["document.created"]).len(), 1);
}

/// A member of an organisation awaiting its Owner's confirmation reaches only their own account
/// (403 `organisation-pending` elsewhere); a closed organisation's members are refused
/// everything, their sessions not refreshed.
///
/// Proves: ORG-1, TEN-6
#[tokio::test]
async fn pending_opens_only_ones_own_account_and_closed_nothing() {
    let h = harness();
    let org = h.new_org("lcpending").await;
    let user = h.token(&org, Role::User).await;
    let signed_in = h.sign_in(&org.user(Role::Viewer).email).await;
    let profile = quire_store::testing::organisation(&org.org_id);
    h.tamper(profile.clone(), "status", "Pending").await;
    h.call(Method::GET, "/documents", Some(&user), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-pending");
    assert_eq!(me(h, &user).await.body["organisation"]["status"], "pending");

    h.tamper(profile, "status", "Closed").await;
    for path in ["/documents", "/auth/me"] {
        h.call(Method::GET, path, Some(&user), None)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "no-membership");
    }
    let refused = refresh(h, &signed_in).await;
    refused.assert_problem(StatusCode::UNAUTHORIZED, "token-revoked");
}
