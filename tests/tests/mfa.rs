//! The second factor over HTTP (AUTHN-7): an Owner's or Admin's sign-in answers a TOTP
//! challenge; a wrong code counts toward the lockout (AUTHN-5); only a challenge Quire's own
//! sign-in held can be answered; an Owner or Admin without an authenticator reaches only
//! enrolment, their account page and sign-out until they enrol one. Every test works in an
//! organisation of its own, from addresses of its own.

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, SoftwareTokenMfaSettingsType};
use quire_blackbox_tests::{fresh_address, harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;

async fn post_from(from: IpAddr, path: &str, body: Value) -> Reply {
    harness().call_from(from, Method::POST, path, None, Some(body)).await
}

/// Signs `email` in with the demo password: the challenge's session.
async fn challenged(from: IpAddr, email: &str) -> String {
    let h = harness();
    let login = post_from(from, "/auth/login", json!({"email": email, "password": h.password})).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.body["challenge"], "mfa", "{}", login.text);
    assert!(
        login.body.get("accessToken").is_none(),
        "no token before the code: {}",
        login.text
    );
    login.body["session"].as_str().expect("a challenge session").to_owned()
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
    let right: u32 = harness().totp_code(email).parse().expect("digits");
    format!("{:06}", (right + 500_000) % 1_000_000)
}

/// The events of `entries` with one of `actions`, in order.
fn events<'e>(entries: &'e [Value], actions: &[&str]) -> Vec<&'e Value> {
    entries
        .iter()
        .map(|e| &e["event"])
        .filter(|e| actions.iter().any(|a| e["action"] == *a))
        .collect()
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
    let sign_in = events(
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
    let failed = events(&entries, &["mfa.challenge.failed"]);
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
    let locks = events(&entries, &["sign-in.locked"]);
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
    let direct = h
        .cognito()
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(&h.user_pool_client_id)
        .auth_parameters("USERNAME", &owner)
        .auth_parameters("PASSWORD", &h.password)
        .send()
        .await
        .expect("Cognito challenges the sign-in");
    let direct = direct.session.expect("Cognito's challenge session");
    let from = fresh_address();
    let refused = answer(from, &owner, &direct, &h.totp_code(&owner)).await;
    refused.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");

    // The Admin's held challenge, answered in the Owner's name with the Owner's code.
    let admins = challenged(from, &admin).await;
    let crossed = answer(from, &owner, &admins, &h.totp_code(&owner)).await;
    crossed.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let made_up = answer(from, &owner, &"A".repeat(40), &h.totp_code(&owner)).await;
    made_up.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    assert_eq!(refused.body, made_up.body);
    assert_eq!(refused.body, crossed.body);

    // The Admin's own challenge is still good for the Admin.
    let admin_in = answer(from, &admin, &admins, &h.totp_code(&admin)).await;
    assert_eq!(admin_in.status, StatusCode::OK, "{}", admin_in.text);
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

/// Turns `email`'s authenticator off at Cognito: an Admin who has none yet.
async fn without_authenticator(email: &str) {
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

/// Enrols a new authenticator with `token`'s session: its secret.
async fn enrol(token: &str) -> String {
    let h = harness();
    let setup = h.call(Method::POST, "/auth/mfa/setup", Some(token), None).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text);
    let secret = setup.body["secretCode"].as_str().expect("a secret").to_owned();
    let uri = setup.body["otpauthUri"].as_str().expect("a key URI");
    assert!(
        uri.starts_with("otpauth://totp/Quire%3A") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    let code = quire_local::seed::totp_code(&secret).expect("code");
    let wrong: u32 = code.parse().expect("digits");
    let refused = h
        .call(
            Method::POST,
            "/auth/mfa/verify",
            Some(token),
            Some(json!({"code": format!("{:06}", (wrong + 500_000) % 1_000_000)})),
        )
        .await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    assert_eq!(refused.body["field"], "code");
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
/// the same session at once, and their next sign-in is challenged for its code. A User's session
/// needs no second factor.
///
/// Proves: AUTHN-7
#[tokio::test]
async fn an_admin_without_an_authenticator_reaches_only_enrolment() {
    let h = harness();
    let org = h.new_org("mfagate").await;
    let admin = org.user(Role::Admin).email.clone();
    without_authenticator(&admin).await;
    let login = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": admin, "password": h.password}),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.body["challenge"], "mfa-setup", "{}", login.text);
    let token = login.body["accessToken"]
        .as_str()
        .expect("a held session's token")
        .to_owned();

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
    assert_eq!(me.body["mfa"], json!({"required": true, "secondFactorAt": null}));

    let secret = enrol(&token).await;
    h.remember_totp_secret(&admin, &secret);
    let opened = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_eq!(opened.status, StatusCode::OK, "the same session opens: {}", opened.text);
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert!(me.body["mfa"]["secondFactorAt"].is_string(), "{}", me.text);
    // The next sign-in asks for the new authenticator's code, and takes it.
    let from = fresh_address();
    let session = challenged(from, &admin).await;
    let next = answer(from, &admin, &session, &h.totp_code(&admin)).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);

    let user = h.token(&org, Role::User).await;
    let documents = h.call(Method::GET, "/documents", Some(&user), None).await;
    assert_eq!(documents.status, StatusCode::OK, "{}", documents.text);

    h.audit_settled(&org).await;
    let entries = h.audit_entries(&token).await;
    let enrolled = events(&entries, &["mfa.enrolled"]);
    assert_eq!(enrolled.len(), 1, "{enrolled:#?}");
    assert_eq!(enrolled[0]["actor"]["userId"], org.user(Role::Admin).user_id.as_str());
    assert_eq!(enrolled[0]["after"]["method"], "totp");
}

/// An Admin whose password expired and who has no authenticator is not stuck between the two
/// gates: enrolment is open while the password is expired, and once enrolled the password can
/// be changed, which opens everything.
///
/// Proves: AUTHN-4, AUTHN-7
#[tokio::test]
async fn an_expired_password_and_no_authenticator_can_both_be_mended() {
    let h = harness();
    let org = h.new_org("mfaexpired").await;
    let member = org.user(Role::Admin).clone();
    without_authenticator(&member.email).await;
    let login = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": member.email, "password": h.password}),
    )
    .await;
    let token = login.body["accessToken"].as_str().expect("token").to_owned();
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
    let secret = enrol(&token).await;
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
