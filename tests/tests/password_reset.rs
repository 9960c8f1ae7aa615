//! Passwords over HTTP. Asking for a password-reset code (`POST /auth/password/forgot`): the
//! same answer for every email (AUTHN-9), limits per email and per address (RATE-2) whose trips
//! are recorded once (RATE-5), and the request recorded in the account's trail or the
//! platform's (AUD-1). Resetting with the code, which ends the account's sessions (AUTHN-2).
//! Changing one's password, guarded like a sign-in (AUTHN-5), and its expiry (AUTHN-4). Each
//! test asks from addresses of its own, so no other test's requests count.

use quire_blackbox_tests::{events_of, fresh_address, harness, reasons_of, uuid_hex, Reply};
use quire_core::ids::OrgId;
use quire_core::rbac::Role;
use quire_store::limits::RateLimit;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;

async fn forgot_from(from: IpAddr, body: Value) -> Reply {
    harness()
        .call_from(from, Method::POST, "/auth/password/forgot", None, Some(body))
        .await
}

fn assert_too_many(reply: &Reply, window_seconds: u64) {
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.text);
    assert_eq!(
        reply.body["type"], "urn:quire:problem:too-many-requests",
        "{}",
        reply.text
    );
    let retry: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=window_seconds).contains(&retry), "Retry-After {retry}");
}

/// A known and an unknown email get the same status, body and headers Quire sets; the trail
/// knows which was which: the member's organisation's for the known one (a code was sent), the
/// platform's for the unknown one.
///
/// Proves: AUTHN-9
#[tokio::test]
async fn a_reset_request_is_answered_alike_for_known_and_unknown_emails() {
    let h = harness();
    let org = h.new_org("forgot").await;
    let member = org.user(Role::User).clone();
    let unknown = format!("nobody-{}@example.test", uuid_hex());
    let known_reply = forgot_from(fresh_address(), json!({"email": member.email})).await;
    let unknown_reply = forgot_from(fresh_address(), json!({"email": unknown})).await;
    assert_eq!(known_reply.status, StatusCode::ACCEPTED, "{}", known_reply.text);
    assert_eq!(unknown_reply.status, known_reply.status);
    assert_eq!(unknown_reply.text, known_reply.text);
    let names = |r: &Reply| {
        let mut names: Vec<String> = r
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| !matches!(k.as_str(), "x-correlation-id" | "date"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&known_reply), names(&unknown_reply));
    for name in names(&known_reply) {
        if name != "content-length" {
            assert_eq!(known_reply.header(&name), unknown_reply.header(&name), "{name}");
        }
    }

    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let own = h.audit_entries(&owner).await;
    let requested = events_of(&own, &["password.reset.requested"]);
    assert_eq!(requested.len(), 1, "{requested:#?}");
    assert_eq!(requested[0]["after"], json!({"outcome": "code-sent"}));
    assert_eq!(
        requested[0]["target"],
        json!({"type": "user", "id": member.user_id.as_str()})
    );
    h.trail_settled(&OrgId::platform()).await;
    let platform = h.platform_entries().await;
    let about: Vec<&Value> = events_of(&platform, &["password.reset.requested"])
        .into_iter()
        .filter(|e| e["actor"]["email"] == unknown.as_str())
        .collect();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert_eq!(about[0]["after"], json!({"outcome": "unknown-account"}));
}

/// Three codes per email in a window, from any addresses: the fourth is refused with 429 and
/// `Retry-After`, and the refusals are recorded once, in the member's organisation's trail.
///
/// Proves: RATE-2, RATE-5
#[tokio::test]
async fn three_reset_requests_per_email_and_then_429() {
    let h = harness();
    let org = h.new_org("peremail").await;
    let member = org.user(Role::User).clone();
    let limit = RateLimit::PASSWORD_RESETS_PER_EMAIL;
    for n in 0..limit.max {
        let reply = forgot_from(fresh_address(), json!({"email": member.email})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "request {n}: {}", reply.text);
    }
    for _ in 0..3 {
        assert_too_many(
            &forgot_from(fresh_address(), json!({"email": member.email.to_uppercase()})).await,
            limit.window.as_secs(),
        );
    }
    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let own = h.audit_entries(&owner).await;
    assert_eq!(events_of(&own, &["password.reset.requested"]).len(), 3);
    let trips = events_of(&own, &["rate-limit.tripped"]);
    assert_eq!(trips.len(), 1, "{trips:#?}");
    assert_eq!(trips[0]["after"]["limit"], limit.name);
    assert_eq!(trips[0]["target"]["id"], member.user_id.as_str());
}

/// Five codes per address in a window, whatever the emails: the sixth is refused, recorded once
/// in the platform's trail. Requests refused as malformed do not count.
///
/// Proves: RATE-2, RATE-5
#[tokio::test]
async fn five_reset_requests_per_address_and_then_429() {
    let h = harness();
    let from = fresh_address();
    let limit = RateLimit::PASSWORD_RESETS_PER_ADDRESS;
    for bad in [
        json!({"email": "not-an-email"}),
        json!({"email": "a@b", "extra": 1}),
        json!({"mail": "a@b"}),
        json!({"email": 7}),
        json!({"email": format!("{}@example.test", "x".repeat(200))}),
        json!({"email": "a\u{0}b@example.test"}),
    ] {
        let reply = forgot_from(from, bad.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {}", reply.text);
    }
    for n in 0..limit.max {
        let reply = forgot_from(from, json!({"email": format!("spray-{n}-{}@example.test", uuid_hex())})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "request {n}: {}", reply.text);
    }
    for _ in 0..3 {
        assert_too_many(
            &forgot_from(from, json!({"email": format!("late-{}@example.test", uuid_hex())})).await,
            limit.window.as_secs(),
        );
    }
    let elsewhere = forgot_from(
        fresh_address(),
        json!({"email": format!("other-{}@example.test", uuid_hex())}),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::ACCEPTED, "{}", elsewhere.text);
    h.trail_settled(&OrgId::platform()).await;
    let platform = h.platform_entries().await;
    let trips: Vec<&Value> = events_of(&platform, &["rate-limit.tripped"])
        .into_iter()
        .filter(|e| e["origin"]["ip"] == from.to_string())
        .collect();
    assert_eq!(trips.len(), 1, "{trips:#?}");
    assert_eq!(trips[0]["after"]["limit"], limit.name);
    let requested = events_of(&platform, &["password.reset.requested"])
        .into_iter()
        .filter(|e| e["origin"]["ip"] == from.to_string())
        .count();
    assert_eq!(
        requested, limit.max as usize,
        "malformed or refused requests were recorded"
    );
}

async fn reset_from(from: IpAddr, body: Value) -> Reply {
    harness()
        .call_from(from, Method::POST, "/auth/password/reset", None, Some(body))
        .await
}

async fn sign_in(email: &str, password: &str) -> Reply {
    harness()
        .call_from(
            fresh_address(),
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
}

const NEW_PASSWORD: &str = "Reset-Passw0rd-2026!";

/// Asks for a code for `email` and resets its password to [`NEW_PASSWORD`] with it.
async fn reset_to_new_password(email: &str) {
    let from = fresh_address();
    assert_eq!(
        forgot_from(from, json!({"email": email})).await.status,
        StatusCode::ACCEPTED
    );
    let code = harness().reset_code(email).expect("a code in the mailbox");
    let reset = reset_from(from, json!({"email": email, "code": code, "newPassword": NEW_PASSWORD})).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
}

/// The code Cognito emails resets the password once: the new password signs in, the old one no
/// longer does, the code cannot be used again; the reset is recorded in the member's trail.
///
/// Proves: AUD-3
#[tokio::test]
async fn a_reset_code_sets_a_new_password_once() {
    let h = harness();
    let org = h.new_org("reset").await;
    let member = org.user(Role::User).clone();
    let from = fresh_address();
    let asked = forgot_from(from, json!({"email": member.email})).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.text);
    let code = h.reset_code(&member.email).expect("a code in the mailbox");
    let body = json!({"email": member.email, "code": code, "newPassword": NEW_PASSWORD});
    let reset = reset_from(from, body.clone()).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert_eq!(reset.body, json!({"status": "reset"}));
    assert_eq!(sign_in(&member.email, NEW_PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        sign_in(&member.email, &h.password).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = reset_from(
        from,
        json!({"email": member.email, "code": code, "newPassword": "Another-Passw0rd-1!"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text);
    assert_eq!(again.body["type"], "urn:quire:problem:invalid-code");

    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let own = h.audit_entries(&owner).await;
    let resets: Vec<&Value> = own
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("password.reset")))
        .collect();
    let actions: Vec<&str> = resets.iter().map(|e| e["action"].as_str().unwrap_or("")).collect();
    assert_eq!(
        actions,
        ["password.reset.requested", "password.reset", "password.reset.failed"],
        "{resets:#?}"
    );
    assert_eq!(resets[1]["after"], json!({"attempt": 1}));
    assert_eq!(resets[2]["after"], json!({"attempt": 1, "reason": "wrong-code"}));
    assert_eq!(resets[1]["origin"]["ip"], from.to_string());
}

/// A new password that breaks the policy is refused with every broken rule named, before
/// Cognito is called: the code stays good and is used afterwards.
///
/// Proves: AUTHN-3
#[tokio::test]
async fn a_weak_new_password_names_every_rule_it_breaks_and_spends_nothing() {
    let h = harness();
    let org = h.new_org("weak").await;
    let member = org.user(Role::User).clone();
    let from = fresh_address();
    assert_eq!(
        forgot_from(from, json!({"email": member.email})).await.status,
        StatusCode::ACCEPTED
    );
    let code = h.reset_code(&member.email).expect("a code in the mailbox");
    for (weak, rules) in [
        ("shrt", &["too-short", "no-upper-case", "no-digit", "no-symbol"][..]),
        ("alllowercase-and-long", &["no-upper-case", "no-digit"][..]),
        ("NoDigitsHere-At-All", &["no-digit"][..]),
        (" Spaced-Passw0rd-1 ", &["surrounding-space"][..]),
    ] {
        let reply = reset_from(from, json!({"email": member.email, "code": code, "newPassword": weak})).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{weak:?}: {}", reply.text);
        assert_eq!(reply.body["type"], "urn:quire:problem:weak-password", "{}", reply.text);
        assert_eq!(reply.body["field"], "newPassword");
        let named: Vec<&str> = reply.body["violations"]
            .as_array()
            .expect("violations")
            .iter()
            .map(|v| v["rule"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(named, rules, "{weak:?}");
        assert!(!reply.text.contains(weak), "the password was echoed");
    }
    // Control characters are refused for the whole body, before any rule is looked at.
    let control = reset_from(
        from,
        json!({"email": member.email, "code": code, "newPassword": "Quire-Passw0rd-\u{1b}[2J"}),
    )
    .await;
    assert_eq!(control.status, StatusCode::BAD_REQUEST, "{}", control.text);
    let reset = reset_from(
        from,
        json!({"email": member.email, "code": code, "newPassword": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        reset.status,
        StatusCode::OK,
        "the code was spent by a refused password: {}",
        reset.text
    );
}

/// A wrong code is answered alike for a known and an unknown email; five wrong codes in a row
/// lock the account's resets, so that then even the right code gets that answer.
///
/// Proves: AUTHN-9
#[tokio::test]
async fn wrong_codes_are_answered_alike_and_five_lock_resets() {
    let h = harness();
    let org = h.new_org("codes").await;
    let member = org.user(Role::User).clone();
    let unknown = format!("nobody-{}@example.test", uuid_hex());
    assert_eq!(
        forgot_from(fresh_address(), json!({"email": member.email}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let code = h.reset_code(&member.email).expect("a code in the mailbox");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let mut answers = Vec::new();
    for email in [&member.email, &unknown] {
        for _ in 0..5 {
            let reply = reset_from(
                fresh_address(),
                json!({"email": email, "code": wrong, "newPassword": NEW_PASSWORD}),
            )
            .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
            answers.push(reply.text);
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    let right = reset_from(
        fresh_address(),
        json!({"email": member.email, "code": code, "newPassword": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(right.text, answers[0], "locked, yet the code was judged");
    assert_eq!(
        sign_in(&member.email, &h.password).await.status,
        StatusCode::OK,
        "the password changed"
    );
}

/// Malformed reset requests are refused naming the field, and nothing is counted or sent.
#[tokio::test]
async fn a_malformed_reset_request_names_the_field() {
    let from = fresh_address();
    for (body, field) in [
        (
            json!({"email": "a@b.test", "code": "12ab56", "newPassword": NEW_PASSWORD}),
            "code",
        ),
        (
            json!({"email": "a@b.test", "code": "1234567", "newPassword": NEW_PASSWORD}),
            "code",
        ),
        (
            json!({"email": "nope", "code": "123456", "newPassword": NEW_PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a@b.test", "code": "123456", "newPassword": 7}),
            "newPassword",
        ),
        (
            json!({"email": "a@b.test", "code": "123456", "newPassword": NEW_PASSWORD, "admin": true}),
            "admin",
        ),
    ] {
        let reply = reset_from(from, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.text);
        assert_eq!(reply.body["field"], field, "{body}: {}", reply.text);
    }
}

/// A reset is how an account is taken back: every session started before it ends at once, its
/// refresh tokens stop at Cognito, and the revocation is recorded with the reset, as the
/// member's act.
///
/// Proves: AUTHN-2
#[tokio::test]
async fn a_reset_ends_every_session_of_the_account() {
    let h = harness();
    let org = h.new_org("resetsessions").await;
    let member = org.user(Role::User).clone();
    let signed_in = sign_in(&member.email, &h.password).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    let token = signed_in.body["accessToken"].as_str().expect("token").to_owned();
    reset_to_new_password(&member.email).await;

    let refused = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert_eq!(refused.body["type"], "urn:quire:problem:token-revoked");
    let refresh = h
        .call(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": signed_in.body["refreshToken"]})),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "{}", refresh.text);
    assert_eq!(
        refresh.body["type"], "urn:quire:problem:unauthorized",
        "stopped at Cognito"
    );
    let again = sign_in(&member.email, NEW_PASSWORD).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let token = again.body["accessToken"].as_str().expect("token");
    assert_eq!(
        h.call(Method::GET, "/auth/me", Some(token), None).await.status,
        StatusCode::OK
    );

    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let own = h.audit_entries(&owner).await;
    let reset_at = own
        .iter()
        .position(|e| e["event"]["action"] == "password.reset")
        .expect("the reset's entry");
    let revoked = &own[reset_at + 1]["event"];
    assert_eq!(revoked["action"], "sessions.revoked", "{revoked}");
    assert_eq!(revoked["actor"]["userId"], member.user_id.as_str());
    assert_eq!(revoked["after"]["identityProvider"], "signed-out");
}

const DAY: u64 = 24 * 3600;

/// Milliseconds since the epoch, `seconds` ago.
fn millis_ago(seconds: u64) -> u64 {
    (std::time::SystemTime::now() - std::time::Duration::from_secs(seconds))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as u64
}

async fn change(token: &str, current: &str, new: &str) -> Reply {
    harness()
        .call(
            Method::POST,
            "/auth/password/change",
            Some(token),
            Some(json!({"currentPassword": current, "newPassword": new})),
        )
        .await
}

/// A member changes their password by proving the current one: a wrong one and a weak new one
/// are refused and change nothing; the change keeps the session that made it, the new password
/// signs in and the old one no longer does; refusal and change are the member's acts in the
/// trail.
///
/// Proves: AUTHN-3, AUTHN-4
#[tokio::test]
async fn a_member_changes_their_password_by_proving_the_current_one() {
    let h = harness();
    let org = h.new_org("change").await;
    let member = org.user(Role::User).clone();
    let token = h.token(&org, Role::User).await;
    // Set a year ago: the change must move it to now.
    let password = quire_store::testing::password(&org.org_id, &member.user_id);
    h.tamper_number(password, "changedAt", millis_ago(365 * DAY)).await;

    let wrong = change(&token, "Not-The-Passw0rd!", NEW_PASSWORD).await;
    wrong.assert_problem(StatusCode::BAD_REQUEST, "wrong-password");
    assert_eq!(wrong.body["field"], "currentPassword");
    let weak = change(&token, &h.password, "short").await;
    weak.assert_problem(StatusCode::BAD_REQUEST, "weak-password");
    assert!(
        weak.body["violations"].as_array().is_some_and(|v| v.len() >= 2),
        "{}",
        weak.text
    );
    let same = change(&token, &h.password, &h.password).await;
    same.assert_problem(StatusCode::BAD_REQUEST, "weak-password");
    assert_eq!(same.body["violations"][0]["rule"], "same-as-current", "{}", same.text);
    for body in [
        json!({"currentPassword": h.password}),
        json!({"currentPassword": "", "newPassword": NEW_PASSWORD}),
        json!({"currentPassword": h.password, "newPassword": NEW_PASSWORD, "also": 1}),
    ] {
        let bad = h
            .call(Method::POST, "/auth/password/change", Some(&token), Some(body.clone()))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{body}: {}", bad.text);
    }
    assert_eq!(
        sign_in(&member.email, &h.password).await.status,
        StatusCode::OK,
        "unchanged"
    );

    let changed = change(&token, &h.password, NEW_PASSWORD).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body, json!({"status": "changed"}));
    let after = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(after.status, StatusCode::OK, "the session that changed it goes on");
    let time = |v: &Value| humantime::parse_rfc3339(v.as_str().expect("a time")).expect("RFC 3339");
    let changed_at = time(&after.body["password"]["changedAt"]);
    assert!(changed_at > std::time::SystemTime::now() - std::time::Duration::from_secs(60));
    assert_eq!(after.body["password"]["expired"], false);
    assert_eq!(sign_in(&member.email, NEW_PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        sign_in(&member.email, &h.password).await.status,
        StatusCode::UNAUTHORIZED
    );

    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let own = h.audit_entries(&owner).await;
    let failed = events_of(&own, &["password.change.failed"]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["actor"]["userId"], member.user_id.as_str());
    assert_eq!(failed[0]["after"]["reason"], "wrong-password");
    let done = events_of(&own, &["password.changed"]);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["actor"]["userId"], member.user_id.as_str());
}

/// A wrong current password counts toward the sign-in lockout: the 5th locks the account, and
/// then even the right password is refused, by the change and by sign-in alike.
///
/// Proves: AUTHN-5
#[tokio::test]
async fn five_wrong_current_passwords_lock_the_account() {
    let h = harness();
    let org = h.new_org("changelock").await;
    let member = org.user(Role::Viewer).clone();
    let token = h.token(&org, Role::Viewer).await;
    for _ in 0..5 {
        change(&token, "Not-The-Passw0rd!", NEW_PASSWORD)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "wrong-password");
    }
    change(&token, &h.password, NEW_PASSWORD)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "wrong-password");
    sign_in(&member.email, &h.password)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let own = h.audit_entries(&owner).await;
    assert_eq!(events_of(&own, &["sign-in.locked"]).len(), 1);
    assert_eq!(events_of(&own, &["password.change.failed"]).len(), 5);
    assert!(
        events_of(&own, &["password.changed"]).is_empty(),
        "a locked change reached no one"
    );
}

/// Ninety days after it was set, a password opens only changing it, reading one's own account
/// and signing out; everything else, writes and reads alike, is a 403 `password-expired` until
/// it is changed.
///
/// Proves: AUTHN-4
#[tokio::test]
async fn an_expired_password_opens_only_the_routes_that_change_it() {
    let h = harness();
    let org = h.new_org("expired").await;
    let member = org.user(Role::User).clone();
    let token = h.token(&org, Role::User).await;
    let other = h.token(&org, Role::User).await;
    h.tamper_number(
        quire_store::testing::password(&org.org_id, &member.user_id),
        "changedAt",
        millis_ago(91 * DAY),
    )
    .await;

    let expired = |reply: Reply| reply.assert_problem(StatusCode::FORBIDDEN, "password-expired");
    expired(h.call(Method::GET, "/documents", Some(&token), None).await);
    expired(
        h.call(
            Method::POST,
            "/documents",
            Some(&token),
            Some(json!({"title": "Blocked", "type": "sop", "body": "x"})),
        )
        .await,
    );
    expired(
        h.call(Method::POST, "/auth/sessions/revoke-mine", Some(&token), None)
            .await,
    );
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["password"]["expired"], true);
    let out = h.call(Method::POST, "/auth/logout", Some(&other), None).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);

    let changed = change(&token, &h.password, NEW_PASSWORD).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(
        h.call(Method::GET, "/documents", Some(&token), None).await.status,
        StatusCode::OK
    );
}

/// A reset sets the password, so an expired one is good again after it; and a member of whose
/// password Quire has no date, or a date that names someone else, counts as expired.
///
/// Proves: AUTHN-4
#[tokio::test]
async fn a_reset_renews_an_expired_password_and_an_unknown_age_counts_as_expired() {
    let h = harness();
    let org = h.new_org("resetexpired").await;
    let member = org.user(Role::User).clone();
    let key = quire_store::testing::password(&org.org_id, &member.user_id);
    h.tamper_number(key.clone(), "changedAt", millis_ago(91 * DAY)).await;
    reset_to_new_password(&member.email).await;
    let signed_in = sign_in(&member.email, NEW_PASSWORD).await;
    let token = signed_in.body["accessToken"].as_str().expect("token").to_owned();
    assert_eq!(
        h.call(Method::GET, "/documents", Some(&token), None).await.status,
        StatusCode::OK
    );

    // Someone else's date is no date of theirs; no record at all is none either.
    let other = org.user(Role::Viewer).user_id.to_string();
    h.tamper(key.clone(), "userId", &other).await;
    h.call(Method::GET, "/documents", Some(&token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password-expired");
    h.dynamodb()
        .delete_item()
        .table_name(&h.data_table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(key.0.clone()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(key.1.clone()))
        .send()
        .await
        .expect("direct delete");
    h.call(Method::GET, "/documents", Some(&token), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password-expired");
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(
        me.body["password"],
        json!({"changedAt": null, "expiresAt": null, "expired": true})
    );
}

/// A new password may not be one of the member's last 5: a change back is refused naming the
/// rule and changes nothing; after five more changes the oldest is out of the window and
/// accepted, the one five back is not (with the current password counted among the 5, as the
/// emulator counts it: decision 37). A wrong current password is answered as wrong whatever
/// the new one is.
///
/// Proves: AUTHN-3
#[tokio::test]
async fn a_new_password_may_not_be_one_of_the_last_five() {
    let h = harness();
    let org = h.new_org("history").await;
    let token = h.token(&org, Role::User).await;
    let demo = h.password.clone();
    let recently_used = |reply: &Reply| {
        reply.assert_problem(StatusCode::BAD_REQUEST, "weak-password");
        let rules: Vec<&str> = reply.body["violations"]
            .as_array()
            .expect("violations")
            .iter()
            .filter_map(|v| v["rule"].as_str())
            .collect();
        assert_eq!(rules, ["recently-used"], "{}", reply.text);
    };
    let p: Vec<String> = (1..=5).map(|n| format!("History-Passw0rd-{n}!")).collect();
    let changed = |reply: Reply| assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    changed(change(&token, &demo, &p[0]).await);
    recently_used(&change(&token, &p[0], &demo).await);
    change(&token, "Not-the-Passw0rd!", &demo)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "wrong-password");
    changed(change(&token, &p[0], &p[1]).await);
    changed(change(&token, &p[1], &p[2]).await);
    changed(change(&token, &p[2], &p[3]).await);
    // The last five: the demo password, then the first to the fourth (the current one).
    recently_used(&change(&token, &p[3], &demo).await);
    changed(change(&token, &p[3], &p[4]).await);
    // Now the first to the fifth: the demo password is out of the window, the first is not.
    recently_used(&change(&token, &p[4], &p[0]).await);
    changed(change(&token, &p[4], &demo).await);
}

/// A reset to a recent password is refused as `recently-used` and recorded with that reason
/// (counted like a wrong code, decision 37); with a wrong code, as the emulator orders
/// Cognito's checks, the answer is a wrong code's. The emulator leaves the code usable, and the
/// member chooses another password.
///
/// Proves: AUTHN-3
#[tokio::test]
async fn a_reset_to_a_recent_password_is_refused_and_recorded() {
    let h = harness();
    let org = h.new_org("resethist").await;
    let member = org.user(Role::User).clone();
    let from = fresh_address();
    assert_eq!(
        forgot_from(from, json!({"email": member.email})).await.status,
        StatusCode::ACCEPTED
    );
    let code = h.reset_code(&member.email).expect("a code in the mailbox");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let guessed = reset_from(
        from,
        json!({"email": member.email, "code": wrong, "newPassword": h.password}),
    )
    .await;
    guessed.assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    let recent = reset_from(
        from,
        json!({"email": member.email, "code": code, "newPassword": h.password}),
    )
    .await;
    recent.assert_problem(StatusCode::BAD_REQUEST, "weak-password");
    assert_eq!(recent.body["violations"][0]["rule"], "recently-used", "{}", recent.text);
    let reset = reset_from(
        from,
        json!({"email": member.email, "code": code, "newPassword": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let failed = events_of(&entries, &["password.reset.failed"]);
    let reasons = reasons_of(&entries, "password.reset.failed");
    assert_eq!(reasons, ["wrong-code", "recently-used"], "{failed:#?}");
}

/// A refused recent password counts like a wrong current password (decision 37): the fifth in
/// a row locks the account's changes, which then refuse even a right current password; each
/// refusal is recorded with its reason.
///
/// Proves: AUTHN-3, AUTHN-5
#[tokio::test]
async fn recent_passwords_count_toward_the_lockout() {
    let h = harness();
    let org = h.new_org("histlock").await;
    let token = h.token(&org, Role::User).await;
    let first = "Lockout-History-Passw0rd!";
    let changed = change(&token, &h.password, first).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    for _ in 0..5 {
        let recent = change(&token, first, &h.password).await;
        recent.assert_problem(StatusCode::BAD_REQUEST, "weak-password");
        assert_eq!(recent.body["violations"][0]["rule"], "recently-used", "{}", recent.text);
    }
    change(&token, first, "A-Fresh-Passw0rd-now!")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "wrong-password");
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let failed = events_of(&entries, &["password.change.failed"]);
    let reasons = reasons_of(&entries, "password.change.failed");
    assert_eq!(reasons, ["recently-used"; 5], "{failed:#?}");
    assert_eq!(events_of(&entries, &["sign-in.locked"]).len(), 1);
}
