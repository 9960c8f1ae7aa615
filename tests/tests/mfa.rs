//! The second factor over HTTP (AUTHN-7): an Owner's or Admin's sign-in answers a TOTP
//! challenge; a wrong code counts toward the lockout (AUTHN-5); only a challenge Quire's own
//! sign-in held can be answered; an Owner or Admin without an authenticator reaches only
//! enrolment, their account page and sign-out until they enrol one. Every test works in an
//! organisation of its own, from addresses of its own.

use aws_sdk_cognitoidentityprovider::types::SoftwareTokenMfaSettingsType;
use quire_blackbox_tests::{events_of, fresh_address, harness, reasons_of, Reply};
use quire_core::audit::{Action, Origin};
use quire_core::rbac::Role;
use quire_store::accounts::StartSession;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;

async fn post_from(from: IpAddr, path: &str, body: Value) -> Reply {
    harness().call_from(from, Method::POST, path, None, Some(body)).await
}

/// Signs `email` in with the demo password: the TOTP challenge's session.
async fn challenged(from: IpAddr, email: &str) -> String {
    harness().challenge_session(from, email, "mfa").await
}

async fn answer(from: IpAddr, email: &str, session: &str, code: &str) -> Reply {
    post_from(
        from,
        "/auth/mfa",
        json!({"email": email, "session": session, "code": code}),
    )
    .await
}

/// A code that is not the authenticator's now, nor in the steps next to it.
fn wrong_code(email: &str) -> String {
    wrong_code_of(&harness().totp_secret(email).expect("an authenticator"))
}

/// An Owner's right password earns a challenge, not tokens; the authenticator's code earns the
/// session, which has passed a second factor and opens the Owner's routes. The challenge starts
/// one session only, and the trail holds the whole sign-in.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn an_owner_signs_in_with_password_then_authenticator_code() {
    let h = harness();
    let org = h.new_org("mfasignin").await;
    let owner = org.user(Role::Owner).email.clone();
    let from = fresh_address();
    let session = challenged(from, &owner).await;
    let signed_in = answer(from, &owner, &session, &h.totp_code(&owner)).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    assert!(signed_in.body["challenge"].is_null(), "{}", signed_in.text);
    let token = signed_in.body["accessToken"].as_str().expect("access token").to_owned();
    assert!(signed_in.body["refreshToken"].is_string());

    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["mfa"]["required"], true);
    assert!(me.body["mfa"]["secondFactorAt"].is_string(), "{}", me.text);
    let audit = h.call(Method::GET, "/audit", Some(&token), None).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);

    // Used: the same challenge starts no second session.
    let again = answer(from, &owner, &session, &h.totp_code(&owner)).await;
    again.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    h.audit_settled(&org).await;
    let entries = h.audit_entries(&token).await;
    let sign_in = events_of(
        &entries,
        &[
            "sign-in.challenged",
            "mfa.challenge.passed",
            "sign-in.succeeded",
            "mfa.challenge.failed",
        ],
    );
    let actions: Vec<&str> = sign_in.iter().map(|e| e["action"].as_str().unwrap_or("")).collect();
    assert_eq!(
        actions,
        [
            "sign-in.challenged",
            "mfa.challenge.passed",
            "sign-in.succeeded",
            "mfa.challenge.failed"
        ],
        "{sign_in:#?}"
    );
    assert_eq!(sign_in[0]["after"]["challenge"], "SOFTWARE_TOKEN_MFA");
    assert_eq!(sign_in[1]["actor"]["userId"], org.user(Role::Owner).user_id.as_str());
    assert!(
        sign_in[2]["after"]["session"]["secondFactorAt"].is_string(),
        "{sign_in:#?}"
    );
    assert_eq!(sign_in[3]["after"]["reason"], "unknown-challenge");
    assert_eq!(
        sign_in[3]["actor"]["userId"], "anonymous",
        "a refused answer is not the member's act"
    );
}

/// Wrong codes are failed sign-ins: the 5th in a row locks the account, after which even the
/// right password is refused with the answer a wrong one gets; each is recorded.
///
/// Proves: AUTHN-5, AUTHN-7
#[tokio::test]
async fn wrong_codes_lock_the_account_like_wrong_passwords() {
    let h = harness();
    let org = h.new_org("mfalock").await;
    let admin = org.user(Role::Admin).email.clone();
    let mut answers = Vec::new();
    for _ in 1..=5 {
        let from = fresh_address();
        let session = challenged(from, &admin).await;
        let refused = answer(from, &admin, &session, &wrong_code(&admin)).await;
        refused.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
        answers.push(refused.body);
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "one answer: {answers:#?}");
    let locked = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": admin, "password": h.password}),
    )
    .await;
    locked.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let entries = h.audit_entries(&owner).await;
    let failed = events_of(&entries, &["mfa.challenge.failed"]);
    assert_eq!(failed.len(), 5, "{failed:#?}");
    assert!(
        failed.iter().all(|e| e["after"]["reason"] == "wrong-code"),
        "{failed:#?}"
    );
    let numbers: Vec<u64> = failed
        .iter()
        .map(|e| e["after"]["attempt"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5], "a right password neither counts nor clears");
    let locks = events_of(&entries, &["sign-in.locked"]);
    assert_eq!(locks.len(), 1, "{locks:#?}");
    assert_eq!(locks[0]["target"]["id"], org.user(Role::Admin).user_id.as_str());
}

/// Only a challenge Quire's sign-in held is judged: one a client got from Cognito directly
/// (round Quire's lockout and trail), one of another member, and a made-up one are refused with
/// the answer a wrong code gets, though the code is right.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn only_a_challenge_quire_held_can_be_answered() {
    let h = harness();
    let org = h.new_org("mfaheld").await;
    let owner = org.user(Role::Owner).email.clone();
    let admin = org.user(Role::Admin).email.clone();
    // Cognito's challenge, got directly by whoever holds the app client's secret.
    let direct = h.challenge_session_from_cognito(&owner).await;
    let from = fresh_address();
    let refused = answer(from, &owner, &direct, &h.totp_code(&owner)).await;
    refused.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    // The Admin's held challenge and the Admin's code, sent in the Owner's name.
    let admins = challenged(from, &admin).await;
    let crossed = answer(from, &owner, &admins, &h.totp_code(&admin)).await;
    crossed.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let made_up = answer(from, &owner, &"A".repeat(40), &h.totp_code(&owner)).await;
    made_up.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    assert_eq!(refused.body, made_up.body);
    assert_eq!(refused.body, crossed.body);

    // The Admin's own challenge is still good for the Admin.
    let admin_in = answer(from, &admin, &admins, &h.totp_code(&admin)).await;
    assert_eq!(admin_in.status, StatusCode::OK, "{}", admin_in.text);

    // Quire refused each before Cognito judged a code: recorded as challenges it never held.
    h.audit_settled(&org).await;
    let token = admin_in.body["accessToken"].as_str().expect("token").to_owned();
    let entries = h.audit_entries(&token).await;
    let failed = events_of(&entries, &["mfa.challenge.failed"]);
    assert_eq!(failed.len(), 3, "{failed:#?}");
    for entry in failed {
        assert_eq!(entry["after"]["reason"], "unknown-challenge", "{entry:#}");
        assert_eq!(entry["target"]["id"], org.user(Role::Owner).user_id.as_str());
    }
}

/// A challenge starts one session at most, even for two answers that both got Cognito's tokens:
/// the second's transaction finds the challenge used and writes nothing.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn a_challenge_starts_one_session_at_most() {
    let h = harness();
    let org = h.new_org("mfaonce").await;
    let owner = org.user(Role::Owner).clone();
    let session = challenged(fresh_address(), &owner.email).await;
    let committed = h
        .on_stack(move |stack| async move {
            let store = &stack.app.store;
            let account = store.account(&owner.email).await.expect("account");
            let challenge = store
                .pending_challenge(
                    &account,
                    quire_store::challenges::ChallengeKind::SoftwareTokenMfa,
                    &session,
                )
                .await
                .expect("read")
                .expect("the sign-in held its challenge");
            let mut outcomes = Vec::new();
            for id in [
                "0b5e2f7c-1d3a-4b6e-8f90-123456789ab1",
                "0b5e2f7c-1d3a-4b6e-8f90-123456789ab2",
            ] {
                let id = quire_store::sessions::SessionId::parse(id).expect("id");
                let events = [(Action::SignInSucceeded, json!({"attempt": 1}))];
                let start = StartSession {
                    user: &owner.user_id,
                    id: &id,
                    policy: quire_store::sessions::SessionPolicy::DEFAULT,
                    started_at: challenge.started_at(),
                    refresh_token: None,
                    second_factor: Some(&challenge),
                };
                let origin = Origin::new(None, Some("test"), "mfa-once");
                outcomes.push(
                    store
                        .record_identity_events(&account, origin, &events, Some(start))
                        .await
                        .map_err(|e| e.to_string()),
                );
            }
            outcomes
        })
        .await;
    assert!(committed[0].is_ok(), "{committed:?}");
    assert!(
        committed[1].is_err(),
        "the used challenge starts no second session: {committed:?}"
    );
    let second = quire_store::testing::session(
        &org.org_id,
        &org.user(Role::Owner).user_id,
        "0b5e2f7c-1d3a-4b6e-8f90-123456789ab2",
    );
    assert!(!h.item_exists(second).await, "nothing of the refused one was written");
}

/// An answer that is not one is refused naming the field, before anything is counted or sent.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn a_malformed_answer_is_refused_naming_the_field() {
    let valid = json!({"email": "owner@acme.test", "session": "A".repeat(40), "code": "123456"});
    for (field, value) in [
        ("code", json!("12345")),
        ("code", json!("1234567")),
        ("code", json!("12345a")),
        ("code", json!(123456)),
        ("session", json!("short")),
        ("session", json!("A".repeat(2049))),
        ("session", json!("has space and more than twenty")),
        ("email", json!("not-an-email")),
    ] {
        let mut body = valid.clone();
        body[field] = value.clone();
        let reply = post_from(fresh_address(), "/auth/mfa", body).await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(reply.text.contains(field), "{field}={value}: {}", reply.text);
    }
    let mut extra = valid.clone();
    extra["remember"] = json!(true);
    post_from(fresh_address(), "/auth/mfa", extra)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
}

/// Turns `email`'s authenticator off at Cognito directly, as a client holding their access token
/// could (`SetUserMFAPreference`), round Quire.
async fn turn_authenticator_off_at_cognito(email: &str) {
    let h = harness();
    h.cognito()
        .admin_set_user_mfa_preference()
        .user_pool_id(&h.user_pool_id)
        .username(email)
        .software_token_mfa_settings(
            SoftwareTokenMfaSettingsType::builder()
                .enabled(false)
                .preferred_mfa(false)
                .build(),
        )
        .send()
        .await
        .expect("Cognito turns the authenticator off");
}

/// Signs `email` (an Owner or Admin with no authenticator) in: the held session's token.
async fn held_session(email: &str) -> String {
    let h = harness();
    let login = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": email, "password": h.password}),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.body["challenge"], "mfa-setup", "{}", login.text);
    login.body["accessToken"]
        .as_str()
        .expect("a held session's token")
        .to_owned()
}

/// A code of `secret` that is not its current one, nor one of the steps next to it.
fn wrong_code_of(secret: &str) -> String {
    let right: u32 = quire_local::seed::totp_code(secret)
        .expect("code")
        .parse()
        .expect("digits");
    format!("{:06}", (right + 500_000) % 1_000_000)
}

/// Enrols a new authenticator with `token`'s session, after `wrong` refused codes: its secret.
async fn enrol(token: &str, wrong: usize) -> String {
    let h = harness();
    let setup = h.call(Method::POST, "/auth/mfa/setup", Some(token), None).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text);
    let secret = setup.body["secretCode"].as_str().expect("a secret").to_owned();
    let uri = setup.body["otpauthUri"].as_str().expect("a key URI");
    assert!(
        uri.starts_with("otpauth://totp/Quire%3A") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    for _ in 0..wrong {
        let refused = h
            .call(
                Method::POST,
                "/auth/mfa/verify",
                Some(token),
                Some(json!({"code": wrong_code_of(&secret)})),
            )
            .await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
        assert_eq!(refused.body["field"], "code");
    }
    let code = quire_local::seed::totp_code(&secret).expect("code");
    let verified = h
        .call(
            Method::POST,
            "/auth/mfa/verify",
            Some(token),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.body["status"], "enrolled");
    secret
}

/// An Admin without an authenticator gets a session the gate holds to enrolment, their account
/// page and sign-out (403 `mfa-required` elsewhere, reading or writing); enrolling one opens
/// the same session at once (refused codes along the way count toward nothing), and their next
/// sign-in is challenged for its code. A User's session needs no second factor.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn an_admin_without_an_authenticator_reaches_only_enrolment() {
    let h = harness();
    let org = h.new_org_without_authenticators("mfagate").await;
    let admin = org.user(Role::Admin).email.clone();
    let token = held_session(&admin).await;

    let held = |reply: Reply| reply.assert_problem(StatusCode::FORBIDDEN, "mfa-required");
    held(h.call(Method::GET, "/audit", Some(&token), None).await);
    held(h.call(Method::GET, "/documents", Some(&token), None).await);
    held(
        h.call(
            Method::POST,
            "/documents",
            Some(&token),
            Some(json!({"title": "Held", "type": "sop", "body": "x"})),
        )
        .await,
    );
    held(
        h.call(
            Method::POST,
            "/auth/password/change",
            Some(&token),
            Some(json!({"currentPassword": h.password, "newPassword": "Quire-Changed-Passw0rd!"})),
        )
        .await,
    );
    held(
        h.call(Method::POST, "/auth/sessions/revoke-mine", Some(&token), None)
            .await,
    );
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(
        me.body["mfa"],
        json!({"required": true, "enrolledAt": null, "secondFactorAt": null})
    );
    // Sign-out is open to a held session.
    let other = held_session(&admin).await;
    let signed_out = h.call(Method::POST, "/auth/logout", Some(&other), None).await;
    assert_eq!(signed_out.status, StatusCode::OK, "{}", signed_out.text);

    let secret = enrol(&token, 5).await;
    h.remember_totp_secret(&admin, &secret);
    let opened = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_eq!(opened.status, StatusCode::OK, "the same session opens: {}", opened.text);
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert!(me.body["mfa"]["enrolledAt"].is_string(), "{}", me.text);
    assert!(me.body["mfa"]["secondFactorAt"].is_string(), "{}", me.text);
    // The next sign-in asks for the new authenticator's code, and takes it: the refused
    // enrolment codes did not count toward the lockout.
    let from = fresh_address();
    let session = challenged(from, &admin).await;
    let next = answer(from, &admin, &session, &h.totp_code(&admin)).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);

    let user = h.token(&org, Role::User).await;
    let documents = h.call(Method::GET, "/documents", Some(&user), None).await;
    assert_eq!(documents.status, StatusCode::OK, "{}", documents.text);

    h.audit_settled(&org).await;
    let entries = h.audit_entries(&token).await;
    let enrolled = events_of(&entries, &["mfa.enrolled"]);
    assert_eq!(enrolled.len(), 1, "{enrolled:#?}");
    assert_eq!(enrolled[0]["actor"]["userId"], org.user(Role::Admin).user_id.as_str());
    assert_eq!(enrolled[0]["after"]["method"], "totp");
    assert!(
        enrolled[0]["after"]["session"]["secondFactorAt"].is_string(),
        "{enrolled:#?}"
    );
}

/// A session held at the gate cannot swap the member's authenticator for one of its own: once
/// the member has one, replacing it takes a session that passed it.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn a_held_session_cannot_replace_an_enrolled_authenticator() {
    let h = harness();
    let org = h.new_org_without_authenticators("mfaswap").await;
    let admin = org.user(Role::Admin).email.clone();
    let intruder = held_session(&admin).await;
    let member = held_session(&admin).await;
    let secret = enrol(&member, 0).await;
    h.remember_totp_secret(&admin, &secret);
    h.call(Method::POST, "/auth/mfa/setup", Some(&intruder), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "mfa-required");
    h.call(
        Method::POST,
        "/auth/mfa/verify",
        Some(&intruder),
        Some(json!({"code": h.totp_code(&admin)})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "mfa-required");
    h.call(Method::GET, "/documents", Some(&intruder), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "mfa-required");
    // From a session that passed it, it can be replaced.
    let replaced = enrol(&member, 0).await;
    h.remember_totp_secret(&admin, &replaced);
    let token = h.login(&admin).await;
    assert_eq!(
        h.call(Method::GET, "/documents", Some(&token), None).await.status,
        StatusCode::OK
    );
}

/// An authenticator turned off at Cognito round Quire (with a member's access token) does not
/// turn the second factor off: Quire's record of the enrolment stands, and a sign-in Cognito
/// answers with tokens and no challenge is refused, revoked and recorded.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn an_authenticator_turned_off_round_quire_still_guards_the_sign_in() {
    let h = harness();
    let org = h.new_org("mfaskip").await;
    let owner = org.user(Role::Owner).email.clone();
    turn_authenticator_off_at_cognito(&owner).await;
    let login = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": owner, "password": h.password}),
    )
    .await;
    login.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    h.audit_settled(&org).await;
    let admin = h.token(&org, Role::Admin).await;
    let entries = h.audit_entries(&admin).await;
    let failed = events_of(&entries, &["sign-in.failed", "sign-in.succeeded"]);
    let owners: Vec<_> = failed
        .iter()
        .filter(|e| e["target"]["id"] == org.user(Role::Owner).user_id.as_str())
        .collect();
    assert_eq!(owners.len(), 1, "{owners:#?}");
    assert_eq!(owners[0]["action"], "sign-in.failed");
    assert_eq!(owners[0]["after"]["reason"], "second-factor-skipped");
}

/// The gate reads the role as of the request: a User promoted to Admin meets it with the
/// session they already hold.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn a_member_promoted_to_admin_meets_the_gate_at_once() {
    let h = harness();
    let org = h.new_org("mfapromoted").await;
    let user = org.user(Role::User).clone();
    let token = h.token(&org, Role::User).await;
    assert_eq!(
        h.call(Method::GET, "/documents", Some(&token), None).await.status,
        StatusCode::OK
    );
    h.tamper(
        quire_store::testing::member(&org.org_id, &user.user_id),
        "role",
        "Admin",
    )
    .await;
    h.call(Method::GET, "/documents", Some(&token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "mfa-required");
}

/// Answers to challenges count as failed sign-ins of their address: the address's limit refuses
/// the 31st in its window with 429, before anything else is looked at.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn failed_answers_count_toward_the_address_limit() {
    let from = fresh_address();
    for _ in 1..=30 {
        let reply = answer(from, "nobody@mfa-limit.test", &"B".repeat(40), "123456").await;
        reply.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    }
    let limited = answer(from, "nobody@mfa-limit.test", &"B".repeat(40), "123456").await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    assert!(limited.header("retry-after").is_some());
}

/// An Admin whose password expired and who has no authenticator is not stuck between the two
/// gates: enrolment is open while the password is expired, and once enrolled the password can
/// be changed, which opens everything.
///
/// Proves: AUTHN-4, AUTHN-7
#[tokio::test]
async fn an_expired_password_and_no_authenticator_can_both_be_mended() {
    let h = harness();
    let org = h.new_org_without_authenticators("mfaexpired").await;
    let member = org.user(Role::Admin).clone();
    let token = held_session(&member.email).await;
    let ninety_one_days_ago = (std::time::SystemTime::now() - std::time::Duration::from_secs(91 * 24 * 3600))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as u64;
    h.tamper_number(
        quire_store::testing::password(&org.org_id, &member.user_id),
        "changedAt",
        ninety_one_days_ago,
    )
    .await;
    h.call(Method::GET, "/documents", Some(&token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password-expired");
    let secret = enrol(&token, 0).await;
    h.remember_totp_secret(&member.email, &secret);
    h.call(Method::GET, "/documents", Some(&token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password-expired");
    let changed = h
        .call(
            Method::POST,
            "/auth/password/change",
            Some(&token),
            Some(json!({"currentPassword": h.password, "newPassword": "Quire-Changed-Passw0rd!"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let documents = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_eq!(documents.status, StatusCode::OK, "{}", documents.text);
}

async fn disable(token: &str, password: &str, code: &str) -> Reply {
    harness()
        .call(
            Method::DELETE,
            "/auth/mfa",
            Some(token),
            Some(json!({"password": password, "code": code})),
        )
        .await
}

/// A User turns their authenticator off only with a fresh re-authentication: a wrong password
/// and a wrong code are refused alike and recorded; the password and current code turn it off
/// at Cognito (the next sign-in asks for no code) and in Quire's record (the account page says
/// none), recorded as `mfa.disabled`; there is then nothing left to turn off.
///
/// Proves: AUTHN-7, AUD-1
#[tokio::test]
async fn a_member_turns_their_authenticator_off_after_re_authenticating() {
    let h = harness();
    let org = h.new_org("mfaoff").await;
    let email = org.user(Role::User).email.clone();
    let token = h.token(&org, Role::User).await;
    let secret = enrol(&token, 0).await;
    let code = || quire_local::seed::totp_code(&secret).expect("code");

    let wrong_password = disable(&token, "Not-the-Passw0rd!", &code()).await;
    wrong_password.assert_problem(StatusCode::BAD_REQUEST, "reauthentication-failed");
    let wrong_code = disable(&token, &h.password, &wrong_code_of(&secret)).await;
    assert_eq!(wrong_code.body, wrong_password.body);
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert!(me.body["mfa"]["enrolledAt"].is_string(), "still on: {}", me.text);

    let off = disable(&token, &h.password, &code()).await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert_eq!(off.body["status"], "disabled");
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.body["mfa"]["enrolledAt"], Value::Null, "{}", me.text);
    let login = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": email, "password": h.password}),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert!(login.body["accessToken"].is_string(), "no code asked: {}", login.text);
    disable(&token, &h.password, &code())
        .await
        .assert_problem(StatusCode::CONFLICT, "no-authenticator");

    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let failed = events_of(&entries, &["reauthentication.failed"]);
    let reasons = reasons_of(&entries, "reauthentication.failed");
    assert_eq!(reasons, ["wrong-password", "wrong-code"], "{failed:#?}");
    assert!(failed.iter().all(|e| e["after"]["purpose"] == "mfa.disable"));
    let disabled = events_of(&entries, &["mfa.disabled"]);
    assert_eq!(disabled.len(), 1, "{disabled:#?}");
    assert_eq!(disabled[0]["actor"]["email"], email.as_str());
    let session = me.body["session"]["id"].as_str().expect("session id");
    assert_eq!(disabled[0]["after"]["session"], session, "{:#}", disabled[0]);
    assert_eq!(disabled[0]["after"]["reauthenticated"], json!(["password", "totp"]));
    assert!(disabled[0]["after"]["enrolledAt"].is_string() && disabled[0]["after"]["disabledAt"].is_string());
}

/// An Owner or Admin cannot turn their second factor off, even with the right password and
/// code: refused before anything is checked or recorded, and Cognito still asks for the code.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn owners_and_admins_keep_their_second_factor() {
    let h = harness();
    let org = h.new_org("mfakeep").await;
    for role in [Role::Owner, Role::Admin] {
        let email = org.user(role).email.clone();
        let token = h.token(&org, role).await;
        disable(&token, &h.password, &h.totp_code(&email))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "mfa-mandatory");
        challenged(fresh_address(), &email).await;
    }
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert!(events_of(&entries, &["reauthentication.failed", "mfa.disabled"]).is_empty());
}

/// Wrong re-authentications count like wrong passwords, wrong codes too: the fifth locks the
/// account (recorded once), whose sign-in then refuses even the right password. Every
/// re-authentication, refused or not, counts toward the member's limit of 10 per 15 minutes:
/// the 11th is a 429 with `Retry-After`, its window's trip recorded once.
///
/// Proves: AUTHN-5, RATE-5
#[tokio::test]
async fn wrong_re_authentications_lock_the_account() {
    let h = harness();
    let org = h.new_org("mfaofflock").await;
    let email = org.user(Role::Viewer).email.clone();
    let token = h.token(&org, Role::Viewer).await;
    let secret = enrol(&token, 0).await;
    let code = || quire_local::seed::totp_code(&secret).expect("code");
    for n in 0..5 {
        let (password, code) = if n < 3 {
            ("Not-the-Passw0rd!".to_owned(), code())
        } else {
            (h.password.clone(), wrong_code_of(&secret))
        };
        disable(&token, &password, &code)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "reauthentication-failed");
    }
    for _ in 0..5 {
        disable(&token, &h.password, &code())
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "reauthentication-failed");
    }
    post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": email, "password": h.password}),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    for _ in 0..2 {
        let limited = disable(&token, &h.password, &code()).await;
        limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
        assert!(limited.header("retry-after").is_some(), "{}", limited.text);
    }

    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let failed = events_of(&entries, &["reauthentication.failed"]);
    let reasons = reasons_of(&entries, "reauthentication.failed");
    assert_eq!(
        reasons,
        [
            "wrong-password",
            "wrong-password",
            "wrong-password",
            "wrong-code",
            "wrong-code"
        ],
        "the locked attempts are refused unrecorded: {failed:#?}"
    );
    assert_eq!(events_of(&entries, &["sign-in.locked"]).len(), 1);
    let tripped = events_of(&entries, &["rate-limit.tripped"]);
    assert_eq!(tripped.len(), 1, "{tripped:#?}");
    assert_eq!(tripped[0]["after"]["limit"], "reauthentications-per-member");
    assert!(events_of(&entries, &["mfa.disabled"]).is_empty());
}
