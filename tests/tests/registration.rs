//! Registering an organisation over HTTP (`POST /auth/register`, `/auth/confirm`,
//! `/auth/confirm/resend`): pending until its Owner confirms the email with Cognito's code
//! (AUTHN-6), then the Owner's forced TOTP enrolment (AUTHN-7); the same answers for taken and
//! new emails (AUTHN-9); 5 registrations per address per 10 minutes, racing or not (RATE-1,
//! RATE-4), the trip recorded once (RATE-5); every step in the new organisation's trail or the
//! platform's (AUD-3). Each test registers from addresses of its own.

use aws_sdk_cognitoidentityprovider::operation::admin_get_user::{AdminGetUserError, AdminGetUserOutput};
use quire_blackbox_tests::{events_of, fresh_address, harness, uuid_hex, Reply};
use quire_core::ids::{OrgId, UserId};
use quire_core::password::{NewPassword, PasswordVerifier};
use quire_core::rbac::Role;
use quire_store::limits::RateLimit;
use quire_store::registration::Registration;
use quire_store::{NewMember, StoreError};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;

async fn post_from(from: IpAddr, path: &str, body: Value) -> Reply {
    harness().call_from(from, Method::POST, path, None, Some(body)).await
}

fn new_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid_hex())
}

fn registration(email: &str) -> Value {
    json!({
        "organisationName": "Registered Labs Ltd",
        "email": email,
        "password": harness().password,
        "displayName": "Rita Registrar",
    })
}

/// Registers `email` from an address of its own; the registration is accepted.
async fn register(email: &str) {
    let reply = post_from(fresh_address(), "/auth/register", registration(email)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
}

/// Cognito's user `name` (an email or a `sub`) names, if there is one.
async fn cognito_user(name: &str) -> Option<AdminGetUserOutput> {
    let h = harness();
    let found = h
        .cognito()
        .admin_get_user()
        .user_pool_id(&h.user_pool_id)
        .username(name)
        .send()
        .await;
    match found.map_err(|e| e.into_service_error()) {
        Ok(user) => Some(user),
        Err(AdminGetUserError::UserNotFoundException(_)) => None,
        Err(other) => panic!("AdminGetUser: {other}"),
    }
}

/// The platform trail's events of `action` about `email` (named by its digest there), oldest
/// first, once the trail has settled.
async fn platform_events_about(email: &str, action: &str) -> Vec<Value> {
    let h = harness();
    h.trail_settled(&OrgId::platform()).await;
    let digest = quire_store::attempts::Subject::account(email);
    events_of(&h.platform_entries().await, &[action])
        .into_iter()
        .filter(|e| e["target"]["id"] == digest.key_part())
        .cloned()
        .collect()
}

/// The organisation Cognito's user for `email` names (`custom:org_id`, set at registration).
async fn org_of(email: &str) -> OrgId {
    let user = cognito_user(email).await.expect("the registration made a Cognito user");
    let org = user
        .user_attributes()
        .iter()
        .find(|a| a.name() == "custom:org_id")
        .and_then(|a| a.value())
        .expect("custom:org_id");
    OrgId::parse(org).expect("an organisation id")
}

async fn sign_in(email: &str) -> Reply {
    post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": email, "password": harness().password}),
    )
    .await
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "000001"
    } else {
        "000000"
    }
}

/// Register, be refused sign-in until confirmed, confirm with the emailed code, sign in as the
/// Owner held at the MFA gate, enrol an authenticator, sign in with its code: the organisation's
/// whole start, each step in its own trail.
///
/// Proves: AUTHN-6, AUTHN-7, AUD-3
#[tokio::test]
async fn a_registered_organisation_is_pending_until_its_owner_confirms_the_email() {
    let h = harness();
    let email = new_email("owner");
    register(&email).await;
    let org = org_of(&email).await;

    // Unconfirmed: the right password gets the answer a wrong one gets.
    let early = sign_in(&email).await;
    let wrong_password = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": email, "password": "Not-The-Passw0rd!"}),
    )
    .await;
    early.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    assert_eq!(early.text, wrong_password.text);

    let code = h.confirmation_code(&email).expect("a confirmation code in the mailbox");
    let refused = post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": email, "code": wrong(&code), "password": h.password}),
    )
    .await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    let confirmed = post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": email, "code": code, "password": h.password}),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    assert_eq!(confirmed.body, json!({"status": "confirmed"}));
    // Confirmed once: the same code again has nothing to confirm.
    let again = post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": email, "code": code, "password": h.password}),
    )
    .await;
    again.assert_problem(StatusCode::BAD_REQUEST, "invalid-code");

    // The Owner has no authenticator: tokens held to enrolment.
    let signed_in = sign_in(&email).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    assert_eq!(signed_in.body["challenge"], "mfa-setup");
    let token = signed_in.body["accessToken"].as_str().expect("access token").to_owned();
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["organisationId"], org.as_str());
    assert_eq!(me.body["role"], "Owner");
    assert_eq!(me.body["displayName"], "Rita Registrar");
    h.call(Method::GET, "/documents", Some(&token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "mfa-required");
    let setup = h.call(Method::POST, "/auth/mfa/setup", Some(&token), None).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text);
    h.remember_totp_secret(&email, setup.body["secretCode"].as_str().expect("secret"));
    let verify = h
        .call(
            Method::POST,
            "/auth/mfa/verify",
            Some(&token),
            Some(json!({"code": h.totp_code(&email)})),
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.text);
    let with_code = h.login(&email).await;
    let documents = h.call(Method::GET, "/documents", Some(&with_code), None).await;
    assert_eq!(documents.status, StatusCode::OK, "{}", documents.text);

    h.trail_settled(&org).await;
    let entries = h.trail_entries(&org).await;
    let trail: Vec<&Value> = entries.iter().map(|e| &e["event"]).collect();
    let actions: Vec<&str> = trail.iter().map(|e| e["action"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        &actions[..6],
        [
            "organisation.registered",
            "member.added",
            "sign-in.failed",
            "sign-in.failed",
            "registration.confirm.failed",
            "registration.confirmed",
        ],
        "{actions:#?}"
    );
    assert_eq!(trail[0]["after"]["status"], "Pending");
    assert_eq!(trail[0]["after"]["name"], "Registered Labs Ltd");
    assert_eq!(trail[0]["actor"]["email"], email.as_str());
    assert_eq!(trail[1]["after"]["role"], "Owner");
    assert_eq!(trail[2]["after"]["reason"], "email-not-confirmed");
    // Cognito answers an unconfirmed user alike whatever the password.
    assert_eq!(trail[3]["after"]["reason"], "email-not-confirmed");
    assert_eq!(trail[4]["after"]["reason"], "wrong-code");
    assert_eq!(
        trail[5]["after"]["status"],
        json!({"before": "Pending", "after": "Active"})
    );
    assert_eq!(trail[5]["actor"]["role"], "Owner");
    assert_eq!(trail[5]["target"], json!({"type": "organisation", "id": org.as_str()}));
    // The confirmation after the activation had nothing to confirm: recorded in the platform's
    // trail, the organisation's is the registration's own business no longer.
    assert_eq!(
        actions.iter().filter(|a| **a == "registration.confirm.failed").count(),
        1,
        "{actions:#?}"
    );
    let after = platform_events_about(&email, "registration.confirm.failed").await;
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0]["after"]["reason"], "nothing-pending");
    assert!(actions.contains(&"mfa.enrolled"), "{actions:#?}");
    assert!(actions.contains(&"mfa.challenge.passed"), "{actions:#?}");
    assert!(trail.iter().all(|e| e["origin"]["ip"].is_string()));
}

/// A registration with an email that already has an account is answered exactly as a new one,
/// creates nothing (the member still signs in as before, in their own organisation), and is
/// recorded in the platform's trail only.
///
/// Proves: AUTHN-9
#[tokio::test]
async fn a_registration_is_answered_alike_for_taken_and_new_emails() {
    let h = harness();
    let org = h.new_org("taken").await;
    let member = org.user(Role::User).clone();
    let from = fresh_address();
    let taken = post_from(from, "/auth/register", registration(&member.email.to_uppercase())).await;
    let fresh = post_from(fresh_address(), "/auth/register", registration(&new_email("fresh"))).await;
    assert_eq!(taken.status, StatusCode::ACCEPTED, "{}", taken.text);
    assert_eq!(taken.status, fresh.status);
    assert_eq!(taken.text, fresh.text);
    assert_eq!(taken.header("content-type"), fresh.header("content-type"));

    let me = h
        .call(Method::GET, "/auth/me", Some(&h.login(&member.email).await), None)
        .await;
    assert_eq!(me.body["organisationId"], org.org_id.as_str(), "{}", me.text);
    assert_eq!(me.body["role"], "User");
    h.trail_settled(&OrgId::platform()).await;
    let refused: Vec<Value> = events_of(&h.platform_entries().await, &["registration.refused"])
        .into_iter()
        .filter(|e| e["origin"]["ip"] == from.to_string())
        .cloned()
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["after"], json!({"reason": "email-taken"}));
    h.audit_settled(&org).await;
    let own = h.audit_entries(&h.token(&org, Role::Owner).await).await;
    assert_eq!(
        events_of(&own, &["registration.refused", "organisation.registered"]).len(),
        0,
        "the taken email's organisation's trail recorded the attempt"
    );
    assert_eq!(events_of(&own, &["member.added"]).len(), 4, "the seeded members only");
}

/// Fifty registrations racing from one address: exactly 5 are taken in the window, the rest are
/// refused with 429 and `Retry-After`, and the trip is recorded once in the platform's trail.
/// Malformed requests before them count for nothing.
///
/// Proves: RATE-1, RATE-4, RATE-5
#[tokio::test]
async fn fifty_racing_registrations_from_one_address_get_five_through() {
    let h = harness();
    let from = fresh_address();
    let limit = RateLimit::REGISTRATIONS_PER_ADDRESS;
    for bad in [
        json!({"email": "x@example.test"}),
        json!({"organisationName": "A", "email": "no-at", "password": h.password, "displayName": "B"}),
    ] {
        let reply = post_from(from, "/auth/register", bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    }
    let racing = (0..50).map(|n| {
        let email = new_email(&format!("race{n}"));
        tokio::spawn(async move { post_from(from, "/auth/register", registration(&email)).await })
    });
    let replies: Vec<Reply> = futures::future::join_all(racing)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let accepted = replies.iter().filter(|r| r.status == StatusCode::ACCEPTED).count();
    assert_eq!(accepted, limit.max as usize, "registrations taken of 50 racing");
    for reply in replies.iter().filter(|r| r.status != StatusCode::ACCEPTED) {
        reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
        let retry: u64 = reply
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=limit.window.as_secs()).contains(&retry), "Retry-After {retry}");
    }
    h.trail_settled(&OrgId::platform()).await;
    let trips: Vec<Value> = events_of(&h.platform_entries().await, &["rate-limit.tripped"])
        .into_iter()
        .filter(|e| e["origin"]["ip"] == from.to_string())
        .cloned()
        .collect();
    assert_eq!(trips.len(), 1, "{trips:#?}");
    assert_eq!(trips[0]["after"]["limit"], limit.name);
}

/// Wrong confirmation codes get one answer, whether the email has a registration pending, an
/// active account or none; five in a row lock the account's confirmations, so that then even
/// the right code is refused and the organisation stays pending.
///
/// Proves: AUTHN-6, AUTHN-9
#[tokio::test]
async fn wrong_confirmation_codes_are_answered_alike_and_five_lock_confirmations() {
    let h = harness();
    let email = new_email("guessed");
    register(&email).await;
    let code = h.confirmation_code(&email).expect("a confirmation code");
    let member_org = h.new_org("confirmed").await;
    let member = member_org.user(Role::User).clone();
    let mut answers = Vec::new();
    for address in [&email, &member.email, &new_email("nobody")] {
        for _ in 0..5 {
            let reply = post_from(
                fresh_address(),
                "/auth/confirm",
                json!({"email": address, "code": wrong(&code), "password": h.password}),
            )
            .await;
            reply.assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
            answers.push(reply.text);
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    let right = post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": email, "code": code, "password": h.password}),
    )
    .await;
    assert_eq!(right.text, answers[0], "locked, yet the code was judged");
    sign_in(&email)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let org = org_of(&email).await;
    h.trail_settled(&org).await;
    let failed = events_of(&h.trail_entries(&org).await, &["registration.confirm.failed"])
        .into_iter()
        .cloned()
        .collect::<Vec<Value>>();
    assert_eq!(failed.len(), 5, "refusals while locked are not judged again");
    assert!(failed[4]["after"]["lockedUntil"].is_string(), "{failed:#?}");
    // The active member's refusals went to the platform's trail, not their organisation's.
    h.audit_settled(&member_org).await;
    let own = h.audit_entries(&h.token(&member_org, Role::Owner).await).await;
    assert_eq!(events_of(&own, &["registration.confirm.failed"]).len(), 0);
    let about_member = platform_events_about(&member.email, "registration.confirm.failed").await;
    assert_eq!(about_member.len(), 5);
}

/// A new code is asked for with one answer for every email; it replaces the old one, which
/// confirms nothing any more; the request is recorded where the email belongs.
///
/// Proves: AUTHN-6, AUTHN-9
#[tokio::test]
async fn a_new_confirmation_code_replaces_the_old_and_is_answered_alike() {
    let h = harness();
    let email = new_email("resend");
    register(&email).await;
    let old = h.confirmation_code(&email).expect("a first code");
    let member_org = h.new_org("resent").await;
    let member = member_org.user(Role::User).clone();
    let mut answers = Vec::new();
    for address in [&member.email, &new_email("nobody"), &email] {
        let reply = post_from(fresh_address(), "/auth/confirm/resend", json!({"email": address})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        answers.push(reply.text);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    // One code at registration, one for the request that named the pending registration; the
    // member's and the unknown email's requests sent none.
    let codes = h.confirmation_codes(&email);
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(h.confirmation_codes(&member.email).is_empty());
    let new = codes[1].clone();
    // A new code replaces the old (unless the two draws of six digits happen to match).
    if new != old {
        post_from(
            fresh_address(),
            "/auth/confirm",
            json!({"email": email, "code": old, "password": h.password}),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    }
    let confirmed = post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": email, "code": new, "password": h.password}),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let org = org_of(&email).await;
    h.trail_settled(&org).await;
    let requested = events_of(&h.trail_entries(&org).await, &["registration.code.requested"])
        .into_iter()
        .cloned()
        .collect::<Vec<Value>>();
    assert_eq!(requested.len(), 1, "{requested:#?}");
    assert_eq!(requested[0]["after"], json!({"outcome": "code-sent"}));
    h.audit_settled(&member_org).await;
    let own = h.audit_entries(&h.token(&member_org, Role::Owner).await).await;
    assert_eq!(
        events_of(&own, &["registration.code.requested"]).len(),
        0,
        "an anonymous request wrote into the member's organisation's trail"
    );
}

/// Someone who registers another person's email cannot have that person confirm it for them:
/// confirming takes the registration's password with the code, so the code the email's owner
/// receives confirms nothing without it. A second registration of a pending email creates
/// nothing and changes nothing.
///
/// Proves: AUTHN-6
#[tokio::test]
async fn a_confirmation_needs_the_registrations_password_as_well_as_the_code() {
    let h = harness();
    let victim = new_email("victim");
    let mut squat = registration(&victim);
    squat["password"] = json!("Attacker-Chosen-Passw0rd!");
    let reply = post_from(fresh_address(), "/auth/register", squat).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let squatted = org_of(&victim).await;
    // The email's owner registers too: answered as accepted, nothing changes.
    register(&victim).await;
    assert_eq!(org_of(&victim).await, squatted);
    let code = h
        .confirmation_code(&victim)
        .expect("the squatter's code reached the email's owner");
    let refused = post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": victim, "code": code, "password": h.password}),
    )
    .await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    sign_in(&victim)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let attacker = post_from(
        fresh_address(),
        "/auth/login",
        json!({"email": victim, "password": "Attacker-Chosen-Passw0rd!"}),
    )
    .await;
    attacker.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    h.trail_settled(&squatted).await;
    let failed = events_of(&h.trail_entries(&squatted).await, &["registration.confirm.failed"])
        .into_iter()
        .cloned()
        .collect::<Vec<Value>>();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["after"]["reason"], "wrong-password");
}

/// Malformed registrations are refused naming the field, a weak password naming every rule it
/// breaks; nothing is sent to Cognito (no user for the email) and nothing is counted.
///
/// Proves: AUTHN-3
#[tokio::test]
async fn a_malformed_registration_names_the_field_and_creates_nothing() {
    let h = harness();
    let from = fresh_address();
    let email = new_email("malformed");
    let with = |field: &str, value: Value| {
        let mut body = registration(&email);
        body[field] = value;
        body
    };
    let mut extra = registration(&email);
    extra["orgId"] = json!("someone-elses");
    for (body, field) in [
        (with("organisationName", json!("   ")), "organisationName"),
        (with("organisationName", json!("x".repeat(121))), "organisationName"),
        (with("displayName", json!("")), "displayName"),
        (with("displayName", json!("two\nlines")), "displayName"),
        (with("email", json!("not-an-email")), "email"),
        (with("password", json!(7)), "password"),
    ] {
        let reply = post_from(from, "/auth/register", body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.text);
        assert_eq!(reply.body["field"], field, "{body}: {}", reply.text);
    }
    // Bidirectional-override characters are refused for the whole body.
    for body in [with("organisationName", json!("Evil\u{202e}Corp"))] {
        post_from(from, "/auth/register", body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "control-characters");
    }
    let reply = post_from(from, "/auth/register", extra).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let weak = post_from(from, "/auth/register", with("password", json!("short"))).await;
    weak.assert_problem(StatusCode::BAD_REQUEST, "weak-password");
    assert_eq!(weak.body["field"], "password");
    let rules: Vec<&str> = weak.body["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["rule"].as_str())
        .collect();
    assert!(rules.len() >= 3, "{rules:?}");
    let users = h
        .cognito()
        .list_users()
        .user_pool_id(&h.user_pool_id)
        .filter(format!("email = \"{email}\""))
        .send()
        .await
        .expect("list users");
    assert!(users.users().is_empty(), "a malformed registration reached Cognito");
    for _ in 0..RateLimit::REGISTRATIONS_PER_ADDRESS.max {
        let reply = post_from(from, "/auth/register", registration(&new_email("after"))).await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "malformed requests counted: {}",
            reply.text
        );
    }
}

/// A registration's transaction retried after it committed (the SDK retries one whose answer
/// was lost) finds its own items and succeeds; another registration of the same email, by
/// another user for another organisation, is refused and writes nothing.
///
/// Proves: AUTHN-6
#[tokio::test]
async fn a_registration_retried_after_it_committed_succeeds_and_another_is_refused() {
    let h = harness();
    let email = new_email("retried");
    let (first, retried, other, other_written) = h
        .on_stack(move |stack| async move {
            let store = &stack.app.store;
            let verifier = PasswordVerifier::new(&NewPassword::parse("Retried-Passw0rd!".into()).expect("password"));
            let origin = quire_core::audit::Origin::new(Some("192.0.2.1"), None, "retried-registration");
            let (org, user) = (
                OrgId::generate(),
                UserId::parse(&uuid::Uuid::new_v4().to_string()).expect("sub"),
            );
            let (other_org, other_user) = (
                OrgId::generate(),
                UserId::parse(&uuid::Uuid::new_v4().to_string()).expect("sub"),
            );
            let registration = |org, user| Registration {
                org,
                name: "Retried Labs",
                owner: NewMember {
                    user,
                    email: &email,
                    display_name: "Retry",
                    role: Role::Owner,
                },
                verifier: &verifier,
                replaces: None,
            };
            let first = store
                .register_organisation(registration(&org, &user), origin.clone())
                .await;
            let retried = store
                .register_organisation(registration(&org, &user), origin.clone())
                .await;
            let other = store
                .register_organisation(registration(&other_org, &other_user), origin)
                .await;
            let other_written = store
                .has_member(&quire_store::testing::scope(&other_org), &other_user)
                .await
                .expect("store");
            (first, retried, other, other_written)
        })
        .await;
    assert!(first.is_ok(), "{first:?}");
    assert!(retried.is_ok(), "a retry of a committed registration: {retried:?}");
    assert!(matches!(other, Err(StoreError::AlreadyExists)), "{other:?}");
    assert!(!other_written, "a refused registration wrote its member");
}

/// A registration left unconfirmed past its validity gives its email back: the next
/// registration of the email closes it (`registration.expired`, by Quire), deletes its Cognito
/// user (whose password signs no one in any more), and registers anew; the new one confirms.
/// Within the validity, a second registration changes nothing.
///
/// Proves: AUTHN-6
#[tokio::test]
async fn an_unconfirmed_registration_expires_and_its_email_registers_anew() {
    let h = harness();
    let email = new_email("expiring");
    let mut squat = registration(&email);
    squat["password"] = json!("Squatter-Chosen-Passw0rd!");
    let reply = post_from(fresh_address(), "/auth/register", squat).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let expired = org_of(&email).await;
    let squatter = cognito_user(&email)
        .await
        .expect("the squatter's user")
        .username()
        .to_owned();
    let squatters_code = h.confirmation_code(&email).expect("a code");
    register(&email).await;
    assert_eq!(org_of(&email).await, expired, "replaced within its validity");

    tokio::time::sleep(quire_blackbox_tests::REGISTRATION_VALIDITY + std::time::Duration::from_secs(2)).await;
    // Past its validity a registration confirms no more, even with its code and password.
    post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": email, "code": squatters_code, "password": "Squatter-Chosen-Passw0rd!"}),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    register(&email).await;
    let renewed = org_of(&email).await;
    assert_ne!(renewed, expired, "the email did not register anew");
    assert!(
        cognito_user(&squatter).await.is_none(),
        "the expired registration's user was not deleted"
    );
    let code = h.confirmation_code(&email).expect("the new registration's code");
    let confirmed = post_from(
        fresh_address(),
        "/auth/confirm",
        json!({"email": email, "code": code, "password": h.password}),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let signed_in = sign_in(&email).await;
    assert_eq!(signed_in.body["challenge"], "mfa-setup", "{}", signed_in.text);

    h.trail_settled(&expired).await;
    let old: Vec<Value> = h
        .trail_entries(&expired)
        .await
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    let last = old.last().expect("entries");
    let refused = old
        .iter()
        .filter(|e| e["action"] == "registration.confirm.failed")
        .map(|e| e["after"]["reason"].clone())
        .collect::<Vec<Value>>();
    assert_eq!(refused, [json!("expired-registration")]);
    assert_eq!(last["action"], "registration.expired", "{old:#?}");
    assert_eq!(last["actor"]["role"], "System");
    assert_eq!(last["target"], json!({"type": "organisation", "id": expired.as_str()}));
    assert_eq!(last["after"]["status"], json!({"before": "Pending", "after": "Closed"}));
    assert!(
        last["after"]["unconfirmedForSeconds"].as_u64() >= Some(quire_blackbox_tests::REGISTRATION_VALIDITY.as_secs())
    );
}

/// A Cognito user that no registration wrote (one made round Quire's transaction: the
/// function stopped between `SignUp` and its write) holds its email only for the registration
/// validity; after it, a registration of the email deletes it and goes through.
///
/// Proves: AUTHN-6
#[tokio::test]
async fn an_identity_without_a_registration_holds_its_email_only_for_the_validity() {
    let h = harness();
    let email = new_email("orphan");
    let password = h.password.clone();
    let orphan = email.clone();
    h.on_stack(move |stack| async move {
        let hash = stack
            .app
            .client
            .secret_hash(&stack.app.cognito, &orphan)
            .await
            .expect("the client's secret");
        stack
            .app
            .cognito
            .sign_up()
            .client_id(stack.app.client.id())
            .set_secret_hash(hash)
            .username(&orphan)
            .password(&password)
            .send()
            .await
            .expect("a user no registration wrote");
    })
    .await;
    let from = fresh_address();
    let early = post_from(from, "/auth/register", registration(&email)).await;
    assert_eq!(early.status, StatusCode::ACCEPTED, "{}", early.text);
    assert!(
        cognito_user(&email)
            .await
            .expect("the user")
            .user_attributes()
            .iter()
            .all(|a| a.name() != "custom:org_id"),
        "replaced within the validity"
    );
    tokio::time::sleep(quire_blackbox_tests::REGISTRATION_VALIDITY + std::time::Duration::from_secs(2)).await;
    register(&email).await;
    let org = org_of(&email).await;
    h.trail_settled(&org).await;
    let actions: Vec<Value> = h
        .trail_entries(&org)
        .await
        .iter()
        .map(|e| e["event"]["action"].clone())
        .collect();
    assert_eq!(actions[..2], [json!("organisation.registered"), json!("member.added")]);
    h.trail_settled(&OrgId::platform()).await;
    let refused = events_of(&h.platform_entries().await, &["registration.refused"])
        .into_iter()
        .filter(|e| e["origin"]["ip"] == from.to_string())
        .count();
    assert_eq!(refused, 1, "the early registration was refused");
    let expired = platform_events_about(&email, "registration.expired").await;
    assert_eq!(expired.len(), 1, "{expired:#?}");
    assert_eq!(expired[0]["after"]["identity"], "deleted");
}

/// New confirmation codes are limited to 3 per email (from any addresses) and 5 per address
/// (whatever the emails) in a window: then 429 with `Retry-After`, each trip recorded once in
/// the platform's trail (the requests are anonymous, the email may be a member's).
///
/// Proves: RATE-5
#[tokio::test]
async fn new_confirmation_codes_are_limited_per_email_and_per_address() {
    let email = new_email("codes");
    register(&email).await;
    let per_email = RateLimit::CONFIRMATION_CODES_PER_EMAIL;
    for n in 0..per_email.max {
        let reply = post_from(fresh_address(), "/auth/confirm/resend", json!({"email": email})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "request {n}: {}", reply.text);
    }
    for _ in 0..2 {
        let reply = post_from(fresh_address(), "/auth/confirm/resend", json!({"email": email})).await;
        reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
        let retry: u64 = reply
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=per_email.window.as_secs()).contains(&retry), "Retry-After {retry}");
    }
    let trips = platform_events_about(&email, "rate-limit.tripped").await;
    assert_eq!(trips.len(), 1, "{trips:#?}");
    assert_eq!(trips[0]["after"]["limit"], per_email.name);

    let from = fresh_address();
    let per_address = RateLimit::CONFIRMATION_CODES_PER_ADDRESS;
    for n in 0..per_address.max {
        let reply = post_from(from, "/auth/confirm/resend", json!({"email": new_email("spray")})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "request {n}: {}", reply.text);
    }
    post_from(from, "/auth/confirm/resend", json!({"email": new_email("late")}))
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    let h = harness();
    h.trail_settled(&OrgId::platform()).await;
    let trips = events_of(&h.platform_entries().await, &["rate-limit.tripped"])
        .into_iter()
        .filter(|e| e["origin"]["ip"] == from.to_string())
        .cloned()
        .collect::<Vec<Value>>();
    assert_eq!(trips.len(), 1, "{trips:#?}");
    assert_eq!(trips[0]["after"]["limit"], per_address.name);
}
