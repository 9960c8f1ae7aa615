//! An invited member's first sign-in over HTTP: the temporary password leads to Cognito's
//! new-password challenge, which Quire holds and answers (`POST /auth/password/new`) with a
//! password of the member's own, checked against the policy first (AUTHN-3) and recorded as
//! the change the password's age counts from (AUTHN-4), guarded like a sign-in (AUTHN-5). Every
//! test works in an organisation of its own, from addresses of its own.

use quire_blackbox_tests::{events_of, fresh_address, harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;

/// A password that meets the policy and is not the demo password.
const CHOSEN: &str = "Chosen-Passw0rd-of-my-own!";

async fn post_from(from: IpAddr, path: &str, body: Value) -> Reply {
    harness().call_from(from, Method::POST, path, None, Some(body)).await
}

/// Signs `email` in with its temporary password (the demo password): the challenge's session.
async fn challenged(from: IpAddr, email: &str) -> String {
    harness().challenge_session(from, email, "new-password").await
}

async fn answer(from: IpAddr, email: &str, session: &str, new_password: &str) -> Reply {
    post_from(
        from,
        "/auth/password/new",
        json!({"email": email, "session": session, "newPassword": new_password}),
    )
    .await
}

/// The whole first sign-in: the temporary password gets the challenge, not tokens; a weak
/// answer is refused naming every rule and leaves the challenge usable; a good one gets
/// tokens that work, and sets the time the password's age counts from; the challenge is spent;
/// the temporary password no longer signs in and the new one does. The trail records the
/// challenge, then the change and the sign-in with its session, both the member's acts.
///
/// Proves: AUTHN-3, AUTHN-4, AUD-1
#[tokio::test]
async fn an_invited_member_sets_a_password_of_their_own_at_first_sign_in() {
    let h = harness();
    let org = h.new_org_invited("newpw").await;
    let user = org.user(Role::User).clone();
    let from = fresh_address();
    let session = challenged(from, &user.email).await;
    // Joined a year ago: the answer must move the password's date to now.
    let year_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(365 * 24 * 3600);
    let millis = year_ago
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_millis() as u64;
    h.tamper_number(
        quire_store::testing::password(&org.org_id, &user.user_id),
        "changedAt",
        millis,
    )
    .await;

    let weak = answer(from, &user.email, &session, "short").await;
    weak.assert_problem(StatusCode::BAD_REQUEST, "weak-password");
    let violations: Vec<&str> = weak.body["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["rule"].as_str())
        .collect();
    assert_eq!(
        violations,
        ["too-short", "no-upper-case", "no-digit", "no-symbol"],
        "every rule it breaks: {}",
        weak.text
    );

    let before = std::time::SystemTime::now();
    let answered = answer(from, &user.email, &session, CHOSEN).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    assert_eq!(answered.body["challenge"], Value::Null, "a User needs no authenticator");
    let token = answered.body["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned();
    assert!(answered.body["refreshToken"].is_string(), "{}", answered.text);
    let documents = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_eq!(documents.status, StatusCode::OK, "{}", documents.text);
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let changed_at = me.body["password"]["changedAt"].as_str().expect("changedAt");
    let changed_at = humantime::parse_rfc3339(changed_at).expect("RFC 3339");
    assert!(
        changed_at + std::time::Duration::from_secs(1) >= before,
        "the age counts from the new password: {}",
        me.text
    );
    assert_eq!(me.body["password"]["expired"], false, "{}", me.text);

    let again = answer(from, &user.email, &session, "Another-Passw0rd-again!").await;
    again.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    let temporary = post_from(
        from,
        "/auth/login",
        json!({"email": user.email, "password": h.password}),
    )
    .await;
    temporary.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let chosen = post_from(from, "/auth/login", json!({"email": user.email, "password": CHOSEN})).await;
    assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.text);
    assert!(chosen.body["accessToken"].is_string(), "{}", chosen.text);

    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    let first = events_of(
        &entries,
        &[
            "sign-in.challenged",
            "password.changed",
            "sign-in.succeeded",
            "password.change.failed",
        ],
    );
    let actions: Vec<&str> = first.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "sign-in.challenged",
            "password.changed",
            "sign-in.succeeded",
            "password.change.failed",
            "sign-in.succeeded"
        ],
        "{first:#?}"
    );
    assert_eq!(first[0]["after"]["challenge"], "NEW_PASSWORD_REQUIRED");
    let (changed, signed_in) = (first[1], first[2]);
    assert_eq!(changed["after"]["via"], "new-password-challenge");
    assert!(changed["after"]["changedAt"].is_string(), "{changed:#}");
    assert!(signed_in["after"]["session"].is_object(), "{signed_in:#}");
    for entry in [changed, signed_in] {
        assert_eq!(
            entry["actor"]["userId"],
            user.user_id.as_str(),
            "the member's act: {entry:#}"
        );
        assert_eq!(entry["target"]["id"], user.user_id.as_str());
    }
    assert_eq!(first[3]["after"]["reason"], "unknown-challenge", "the spent challenge");
}

/// An invited Admin's new password gets tokens the admin MFA gate holds to enrolment.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn an_invited_admin_is_held_at_the_mfa_gate_after_the_new_password() {
    let h = harness();
    let org = h.new_org_invited("newpwadm").await;
    let admin = org.user(Role::Admin).email.clone();
    let from = fresh_address();
    let session = challenged(from, &admin).await;
    let answered = answer(from, &admin, &session, CHOSEN).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    assert_eq!(answered.body["challenge"], "mfa-setup", "{}", answered.text);
    let token = answered.body["accessToken"].as_str().expect("token");
    h.call(Method::GET, "/documents", Some(token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "mfa-required");
}

/// Only a new-password challenge Quire's sign-in held for the email's member sets a password:
/// one a client got from Cognito directly, another member's, a TOTP challenge's and a made-up
/// one are refused with one answer before Cognito is asked (an email that names no one gets it
/// too), and the password stays as it was.
/// A held new-password challenge does not answer a TOTP code either.
///
/// Proves: AUTHN-3, AUTHN-5, AUTHN-9
#[tokio::test]
async fn only_a_held_new_password_challenge_of_the_member_sets_a_password() {
    let h = harness();
    let org = h.new_org_invited("newpwheld").await;
    let user = org.user(Role::User).email.clone();
    let viewer = org.user(Role::Viewer).email.clone();
    let from = fresh_address();

    let direct = h.challenge_session_from_cognito(&user).await;
    let refused = answer(from, &user, &direct, CHOSEN).await;
    refused.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    let viewers = challenged(from, &viewer).await;
    let crossed = answer(from, &user, &viewers, CHOSEN).await;
    assert_eq!(crossed.body, refused.body);
    let made_up = answer(from, &user, &"A".repeat(40), CHOSEN).await;
    assert_eq!(made_up.body, refused.body);
    // An email that names no one is answered alike.
    let nobody = format!("nobody-{}@example.test", quire_blackbox_tests::uuid_hex());
    let unknown = answer(from, &nobody, &"A".repeat(40), CHOSEN).await;
    assert_eq!((unknown.status, &unknown.body), (refused.status, &refused.body));

    let enrolled = h.new_org("newpwtotp").await;
    let owner = enrolled.user(Role::Owner).email.clone();
    let login = post_from(from, "/auth/login", json!({"email": owner, "password": h.password})).await;
    assert_eq!(login.body["challenge"], "mfa", "{}", login.text);
    let totp_session = login.body["session"].as_str().expect("session");
    let as_new_password = answer(from, &owner, totp_session, CHOSEN).await;
    assert_eq!(as_new_password.body, refused.body);

    let users = challenged(from, &user).await;
    let as_code = post_from(
        from,
        "/auth/mfa",
        json!({"email": user, "session": users, "code": "123456"}),
    )
    .await;
    as_code.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    // No password changed: each still signs in with the old one.
    challenged(from, &user).await;
    challenged(from, &viewer).await;
    let owner_again = post_from(from, "/auth/login", json!({"email": owner, "password": h.password})).await;
    assert_eq!(owner_again.body["challenge"], "mfa", "{}", owner_again.text);
    // And the user's held challenge still answers for the user.
    let own = answer(from, &user, &users, CHOSEN).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);

    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    let failed = events_of(&entries, &["password.change.failed"]);
    assert_eq!(failed.len(), 3, "direct, crossed, made up: {failed:#?}");
    for entry in failed {
        assert_eq!(entry["after"]["reason"], "unknown-challenge", "{entry:#}");
    }
}

/// A locked account's held challenge is refused like an unknown one, and sets no password.
///
/// Proves: AUTHN-5
#[tokio::test]
async fn a_locked_account_cannot_answer_its_challenge() {
    let h = harness();
    let org = h.new_org_invited("newpwlock").await;
    let user = org.user(Role::User).email.clone();
    let from = fresh_address();
    let session = challenged(from, &user).await;
    for _ in 0..5 {
        let wrong = post_from(
            from,
            "/auth/login",
            json!({"email": user, "password": "Wrong-Passw0rd!!"}),
        )
        .await;
        wrong.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    }
    let locked = answer(from, &user, &session, CHOSEN).await;
    locked.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let temporary = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": user, "password": h.password}),
    )
    .await;
    temporary.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let cognito_still_has_it = h
        .cognito()
        .admin_get_user()
        .user_pool_id(&h.user_pool_id)
        .username(&user)
        .send()
        .await
        .expect("the user");
    assert_eq!(
        cognito_still_has_it
            .user_status
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("FORCE_CHANGE_PASSWORD")
    );
}

/// An answer that is not one is refused naming the field, before anything is counted or sent.
///
/// Proves: AUTHN-3
#[tokio::test]
async fn a_malformed_answer_is_refused_naming_the_field() {
    let valid = json!({"email": "user@acme.test", "session": "A".repeat(40), "newPassword": CHOSEN});
    for (field, value) in [
        ("session", json!("short")),
        ("session", json!("A".repeat(3000))),
        ("session", json!("A b".repeat(10))),
        ("email", json!("not-an-email")),
        ("newPassword", json!(12)),
        ("newPassword", json!("x".repeat(10 * 1024))),
        ("extra", json!(true)),
    ] {
        let mut body = valid.clone();
        body[field] = value;
        let reply = post_from(fresh_address(), "/auth/password/new", body).await;
        assert!(
            reply.status == StatusCode::BAD_REQUEST || reply.status == StatusCode::PAYLOAD_TOO_LARGE,
            "{field}: {}",
            reply.text
        );
        if reply.status == StatusCode::BAD_REQUEST {
            assert!(reply.text.contains(field), "{field}: {}", reply.text);
        }
    }
}

/// When the sign-in cannot be completed though Cognito set the new password, the change is
/// still recorded with the password's date, and the member is told to sign in with it. Here
/// Cognito's tokens skip a second factor Quire's record says the member has (turned off round
/// Quire): they are refused as at sign-in.
///
/// Proves: AUTHN-4, AUTHN-7, AUD-1
#[tokio::test]
async fn a_new_password_set_without_a_completed_sign_in_is_recorded() {
    let h = harness();
    let org = h.new_org_invited("newpwskip").await;
    let user = org.user(Role::User).clone();
    {
        let (org_id, user_id) = (org.org_id.clone(), user.user_id.clone());
        h.on_stack(move |stack| async move {
            let audit = quire_store::AuditContext::for_route(
                quire_core::audit::Actor::system("test"),
                quire_core::audit::Origin::new(None, Some("test"), "newpwskip"),
                &[quire_core::audit::Action::MfaEnrolled],
            );
            stack
                .app
                .store
                .record_mfa_enrolment(&quire_store::testing::scope(&org_id), &user_id, audit)
                .await
                .expect("enrolment recorded")
        })
        .await;
    }
    let year_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(365 * 24 * 3600);
    let millis = year_ago
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_millis() as u64;
    let password_key = quire_store::testing::password(&org.org_id, &user.user_id);
    h.tamper_number(password_key, "changedAt", millis).await;
    let from = fresh_address();
    let session = challenged(from, &user.email).await;
    let refused = answer(from, &user.email, &session, CHOSEN).await;
    refused.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        refused.text.contains("sign in with the new password"),
        "{}",
        refused.text
    );
    assert!(refused.body.get("accessToken").is_none());

    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    let steps = events_of(&entries, &["password.changed", "sign-in.failed", "sign-in.succeeded"]);
    let actions: Vec<&str> = steps.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["password.changed", "sign-in.failed"], "{steps:#?}");
    assert_eq!(steps[1]["after"]["reason"], "second-factor-skipped");
    let changed_at = steps[0]["after"]["changedAt"].as_str().expect("changedAt");
    let changed_at = humantime::parse_rfc3339(changed_at).expect("RFC 3339");
    assert!(changed_at > year_ago + std::time::Duration::from_secs(300 * 24 * 3600));
    // Cognito has the new password: the temporary one no longer gets the challenge.
    let temporary = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": user.email, "password": h.password}),
    )
    .await;
    temporary.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
}

/// Made-up sessions are guesses: counted like wrong passwords, so that an email alone cannot
/// write more than 5 entries into the account's organisation's trail before the lock, however
/// many addresses send them.
///
/// Proves: AUTHN-5
#[tokio::test]
async fn made_up_sessions_count_toward_the_lockout() {
    let h = harness();
    let org = h.new_org_invited("newpwguess").await;
    let user = org.user(Role::User).email.clone();
    for n in 0..8u32 {
        let session = format!("{n}{}", "G".repeat(40));
        let refused = answer(fresh_address(), &user, &session, CHOSEN).await;
        refused.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    }
    // Locked: even the temporary password is refused.
    post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": user, "password": h.password}),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    h.trail_settled(&org.org_id).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(events_of(&entries, &["password.change.failed"]).len(), 5);
    assert_eq!(events_of(&entries, &["sign-in.locked"]).len(), 1);
}
