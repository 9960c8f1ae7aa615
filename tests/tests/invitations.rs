//! Invitations and join codes over HTTP (ORG-4, RATE-3): an administrator invites within their
//! own bounds (RBAC-1) and sees the code once; whoever holds it joins with the invitation's
//! role once they confirm their email, and the organisation sees nothing before; a code joins no
//! more than its uses, under racing confirmations too, and not once revoked, expired or its
//! maker's authority gone; five failed codes from one address or against one invitation start
//! a 15-minute cooldown, under 50 parallel attempts too (RATE-4); a taken email is answered as
//! a join (AUTHN-9); every step is in the right trail (AUD-3).

use quire_blackbox_tests::{events_of, fresh_address, harness, reasons_of, uuid_hex, Harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;

fn new_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid_hex())
}

async fn invite(h: &Harness, token: &str, body: Value) -> Reply {
    h.call(Method::POST, "/invitations", Some(token), Some(body)).await
}

/// An invitation `token`'s organisation makes: its view and code.
async fn invitation(h: &Harness, token: &str, role: &str, uses: u32) -> (Value, String) {
    let made = invite(h, token, json!({"role": role, "uses": uses, "expiresInHours": 24})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let code = made.body["code"].as_str().expect("the code").to_owned();
    (made.body, code)
}

/// The invitation `id` as `token`'s organisation lists it.
async fn listed_invitation(h: &Harness, token: &str, id: &Value) -> Value {
    let listed = h.call(Method::GET, "/invitations", Some(token), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == *id)
        .cloned()
        .expect("the invitation is listed")
}

async fn join_from(from: IpAddr, code: &str, email: &str) -> Reply {
    let h = harness();
    h.call_from(
        from,
        Method::POST,
        "/auth/join",
        None,
        Some(json!({"code": code, "email": email, "password": h.password, "displayName": "Jo Joiner"})),
    )
    .await
}

async fn join(code: &str, email: &str) -> Reply {
    join_from(fresh_address(), code, email).await
}

async fn confirm(email: &str) -> Reply {
    let h = harness();
    let code = h.confirmation_code(email).expect("a confirmation code in the mailbox");
    h.call_from(
        fresh_address(),
        Method::POST,
        "/auth/confirm",
        None,
        Some(json!({"email": email, "code": code, "password": h.password})),
    )
    .await
}

/// `code` with another secret of the same shape.
fn wrong_secret(code: &str) -> String {
    let (rest, _) = code.rsplit_once('.').unwrap();
    format!("{rest}.{}", &format!("{}{}", uuid_hex(), uuid_hex())[..40])
}

/// The SHA-256 (hex) of a code's secret, as the store keeps it.
fn secret_digest(code: &str) -> String {
    quire_core::invitation::JoinCode::parse(code).unwrap().secret_digest()
}

/// Joins `email` with `code` and confirms the emailed code: the confirmation's answer.
async fn join_and_confirm(code: &str, email: &str) -> Reply {
    let joined = join(code, email).await;
    assert_eq!(joined.status, StatusCode::ACCEPTED, "{}", joined.text);
    confirm(email).await
}

/// An Owner invites a colleague as a User; the code is shown once (the list never shows it);
/// the colleague joins with it and the organisation sees nothing (no member, no use spent, no
/// entry) until they confirm the email Cognito sent, nor can they sign in; once confirmed they
/// are an active User. The organisation's trail holds the invitation, its use and the new
/// member, and never the code's secret or its digest; the pending join is in the platform's.
///
/// Proves: ORG-4, AUTHN-6, AUD-3
#[tokio::test]
async fn an_invited_colleague_joins_with_the_code_confirms_and_signs_in_with_the_invitations_role() {
    let h = harness();
    let org = h.new_org("invjoin").await;
    let owner = h.token(&org, Role::Owner).await;
    let (made, code) = invitation(h, &owner, "User", 2).await;
    assert_eq!(made["state"], "open");
    assert_eq!((made["uses"].as_u64(), made["used"].as_u64()), (Some(2), Some(0)));
    let secret = code.rsplit('.').next().unwrap().to_owned();
    let listed = h.call(Method::GET, "/invitations", Some(&owner), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["items"][0]["id"], made["id"]);
    assert!(!listed.text.contains(&secret), "the code is shown once");

    let email = new_email("joiner");
    let joined = join(&code, &email).await;
    assert_eq!(joined.status, StatusCode::ACCEPTED, "{}", joined.text);
    let members = h.call(Method::GET, "/members", Some(&owner), None).await;
    assert!(
        !members.text.contains(&email),
        "not a member before confirming: {}",
        members.text
    );
    let listed = h.call(Method::GET, "/invitations", Some(&owner), None).await;
    assert_eq!(listed.body["items"][0]["used"], 0, "no use spent before confirming");
    h.sign_in_reply(Some(fresh_address()), &email)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    h.trail_settled(&org.org_id).await;
    let before = h.trail_entries(&org.org_id).await;
    assert!(!serde_json::to_string(&before).unwrap().contains(&email));

    let emailed = h.confirmation_code(&email).expect("a confirmation code");
    h.call_from(
        fresh_address(),
        Method::POST,
        "/auth/confirm",
        None,
        Some(json!({"email": email, "code": emailed, "password": "Not-The-Joiners-Passw0rd!"})),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    let confirmed = confirm(&email).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    assert_eq!(confirmed.body, json!({"status": "confirmed"}));
    let token = h.login(&email).await;
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.body["role"], "User", "{}", me.text);
    let members = h.call(Method::GET, "/members", Some(&owner), None).await;
    let joiner = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email.as_str())
        .cloned()
        .expect("a member once confirmed");
    assert_eq!(
        (joiner["status"].as_str(), joiner["role"].as_str()),
        (Some("active"), Some("User"))
    );
    let listed = h.call(Method::GET, "/invitations", Some(&owner), None).await;
    assert_eq!(listed.body["items"][0]["used"], 1, "{}", listed.text);

    h.trail_settled(&org.org_id).await;
    let trail = h.trail_entries(&org.org_id).await;
    let made_entry = events_of(&trail, &["invitation.created"]);
    assert_eq!(made_entry.len(), 1);
    assert_eq!(made_entry[0]["after"]["role"], "User");
    let used = events_of(&trail, &["invitation.used"]);
    assert_eq!(
        (used[0]["before"]["used"].as_u64(), used[0]["after"]["used"].as_u64()),
        (Some(0), Some(1))
    );
    let added = events_of(&trail, &["member.added"]);
    let added = added
        .iter()
        .find(|e| e["target"]["id"] == joiner["userId"])
        .expect("member.added");
    assert_eq!(added["after"]["status"], "Active");
    assert_eq!(added["actor"]["email"], email.as_str());
    let whole = serde_json::to_string(&trail).unwrap();
    assert!(!whole.contains(&secret), "the trail never holds the code's secret");
    assert!(!whole.contains(&secret_digest(&code)), "nor its digest");
    h.trail_settled(&quire_core::ids::OrgId::platform()).await;
    let platform = h.platform_entries().await;
    let requested = events_of(&platform, &["join.requested"])
        .into_iter()
        .filter(|e| e["actor"]["email"] == email.as_str())
        .count();
    assert_eq!(requested, 1, "the pending join, in the platform's trail");
}

/// A code of one use joins one person; a revoked invitation and an expired one join no one;
/// each refusal is one answer, and recorded in the organisation's trail with its reason (the
/// secret was right). Revoking twice changes nothing more. An invitation revoked after a join
/// but before its confirmation refuses the confirmation (409 `invitation-closed`), deletes the
/// joiner's identity and leaves the email free to join with another code.
///
/// Proves: ORG-4, AUD-3
#[tokio::test]
async fn a_code_joins_no_more_than_its_uses_and_not_once_revoked_or_expired() {
    let h = harness();
    let org = h.new_org("invuses").await;
    let admin = h.token(&org, Role::Admin).await;
    let (_, single) = invitation(h, &admin, "Viewer", 1).await;
    let first = join_and_confirm(&single, &new_email("first")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let second = join(&single, &new_email("second")).await;
    second.assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");

    let (revoked, code) = invitation(h, &admin, "User", 5).await;
    let late = new_email("late");
    assert_eq!(join(&code, &late).await.status, StatusCode::ACCEPTED);
    let id = revoked["id"].as_str().unwrap();
    let gone = h
        .call(Method::DELETE, &format!("/invitations/{id}"), Some(&admin), None)
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);
    assert_eq!(gone.body["state"], "revoked");
    let again = h
        .call(Method::DELETE, &format!("/invitations/{id}"), Some(&admin), None)
        .await;
    assert_eq!(again.body["revokedAt"], gone.body["revokedAt"]);
    let refused = join(&code, &new_email("later")).await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");
    assert_eq!(refused.text, second.text, "one answer");
    confirm(&late)
        .await
        .assert_problem(StatusCode::CONFLICT, "invitation-closed");
    let (_, fresh) = invitation(h, &admin, "User", 1).await;
    let rejoined = join_and_confirm(&fresh, &late).await;
    assert_eq!(
        rejoined.status,
        StatusCode::OK,
        "the email joins again: {}",
        rejoined.text
    );

    let (expiring, code) = invitation(h, &admin, "User", 5).await;
    let id = quire_core::invitation::InvitationId::parse(expiring["id"].as_str().unwrap()).unwrap();
    let key = quire_store::testing::invitation(&org.org_id, &id);
    h.tamper_number(key, "validUntil", 1_000).await;
    let expired = join(&code, &new_email("expired")).await;
    expired.assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");
    assert_eq!(expired.text, second.text, "one answer");

    h.trail_settled(&org.org_id).await;
    let trail = h.trail_entries(&org.org_id).await;
    let mut reasons = reasons_of(&trail, "join.refused");
    reasons.sort_unstable();
    assert_eq!(reasons, ["expired", "revoked", "revoked", "used-up"]);
    assert_eq!(events_of(&trail, &["invitation.revoked"]).len(), 1);
}

/// Of three people who joined with a code of one use, confirming at once, exactly one becomes a
/// member; the others are told the invitation is closed and their identities are deleted.
///
/// Proves: ORG-4, RATE-4
#[tokio::test]
async fn racing_confirmations_never_spend_more_than_the_invitations_uses() {
    let h = harness();
    let org = h.new_org("invconf").await;
    let owner = h.token(&org, Role::Owner).await;
    let (made, code) = invitation(h, &owner, "User", 1).await;
    let emails: Vec<String> = (0..3).map(|_| new_email("racer")).collect();
    for email in &emails {
        assert_eq!(join(&code, email).await.status, StatusCode::ACCEPTED);
    }
    let answers = futures::future::join_all(emails.iter().map(|e| confirm(e))).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    for answer in answers.iter().filter(|a| a.status != StatusCode::OK) {
        answer.assert_problem(StatusCode::CONFLICT, "invitation-closed");
    }
    let members = h.call(Method::GET, "/members", Some(&owner), None).await;
    let joined = emails.iter().filter(|e| members.text.contains(e.as_str())).count();
    assert_eq!(joined, 1, "{}", members.text);
    for (email, answer) in emails.iter().zip(&answers) {
        let found = h
            .cognito()
            .admin_get_user()
            .user_pool_id(&h.user_pool_id)
            .username(email)
            .send()
            .await;
        assert_eq!(found.is_ok(), answer.status == StatusCode::OK, "{email}");
    }
    let mine = listed_invitation(h, &owner, &made["id"]).await;
    assert_eq!(
        (mine["used"].as_u64(), mine["state"].as_str()),
        (Some(1), Some("used-up"))
    );
}

/// An invitation lives only as long as its maker's authority: once the Admin who made one is
/// made a User, its code joins no one, and a join made before is refused at its confirmation;
/// once the matrix takes from Admins a permission the invited role holds, an Admin's
/// invitation into that role joins no one either.
///
/// Proves: RBAC-1, ORG-4
#[tokio::test]
async fn an_invitation_ends_with_its_makers_authority() {
    let h = harness();
    let org = h.new_org("invmaker").await;
    let owner = h.token(&org, Role::Owner).await;
    let admin = h.token(&org, Role::Admin).await;
    let (_, code) = invitation(h, &admin, "User", 3).await;
    let early = new_email("early");
    assert_eq!(join(&code, &early).await.status, StatusCode::ACCEPTED);
    let admin_id = org.user(Role::Admin).user_id.to_string();
    let demoted = h
        .call(
            Method::PATCH,
            &format!("/members/{admin_id}"),
            Some(&owner),
            Some(json!({"role": "User", "reason": "No longer administers"})),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text);
    join(&code, &new_email("after"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");
    confirm(&early)
        .await
        .assert_problem(StatusCode::CONFLICT, "invitation-closed");

    let other = h.new_org("invmatrix").await;
    let owner = h.token(&other, Role::Owner).await;
    let admin = h.token(&other, Role::Admin).await;
    let (_, code) = invitation(h, &admin, "User", 3).await;
    let narrowed = h
        .raw(
            h.request(Method::PUT, "/organisation/roles/Admin")
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .json(&json!({
                    "permissions": ["DocumentRead", "DocumentCreate", "AuditRead", "UserManage", "MemberRead"],
                    "reason": "Admins no longer edit documents",
                })),
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.text);
    join(&code, &new_email("narrowed"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");

    for org in [&org.org_id, &other.org_id] {
        h.trail_settled(org).await;
    }
    let (first, second) = (h.trail_entries(&org.org_id).await, h.trail_entries(&other.org_id).await);
    assert_eq!(
        reasons_of(&first, "join.refused"),
        ["inviter-changed", "inviter-changed"]
    );
    assert_eq!(reasons_of(&second, "join.refused"), ["inviter-changed"]);
}

/// A confirmation sent twice at once makes one member and deletes nobody: the last use spent
/// by the first is not a reason to refuse the second.
///
/// Proves: ORG-4
#[tokio::test]
async fn a_confirmation_sent_twice_makes_one_member_and_deletes_nobody() {
    let h = harness();
    let org = h.new_org("invtwice").await;
    let owner = h.token(&org, Role::Owner).await;
    let (_, code) = invitation(h, &owner, "User", 1).await;
    let email = new_email("twice");
    assert_eq!(join(&code, &email).await.status, StatusCode::ACCEPTED);
    let (first, second) = tokio::join!(confirm(&email), confirm(&email));
    for answer in [&first, &second] {
        assert_ne!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    }
    assert!([&first, &second].iter().any(|a| a.status == StatusCode::OK));
    let token = h.login(&email).await;
    let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(me.body["role"], "User", "{}", me.text);
    h.trail_settled(&org.org_id).await;
    let trail = h.trail_entries(&org.org_id).await;
    assert_eq!(events_of(&trail, &["invitation.used"]).len(), 1);
    assert!(reasons_of(&trail, "join.refused").is_empty());
}

/// Nobody invites beyond their own grants: an Admin cannot invite an Owner or revoke an Owner's
/// invitation, a User cannot invite at all; out-of-bound uses and validity are refused naming
/// the field; another organisation's invitation is a 404; an invitation bound to an email
/// joins that email only (any case), and tells a holder of the code why another is refused.
///
/// Proves: RBAC-1, ORG-4, TEN-3
#[tokio::test]
async fn invitations_stay_within_the_inviters_bounds_and_their_bound_email() {
    let h = harness();
    let org = h.new_org("invbounds").await;
    let other = h.new_org("invother").await;
    let owner = h.token(&org, Role::Owner).await;
    let admin = h.token(&org, Role::Admin).await;
    let user = h.token(&org, Role::User).await;
    invite(h, &admin, json!({"role": "Owner", "uses": 1, "expiresInHours": 1}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    invite(h, &user, json!({"role": "Viewer", "uses": 1, "expiresInHours": 1}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    for (body, field) in [
        (json!({"role": "User", "uses": 0, "expiresInHours": 1}), "uses"),
        (json!({"role": "User", "uses": 101, "expiresInHours": 1}), "uses"),
        (
            json!({"role": "User", "uses": 1, "expiresInHours": 0}),
            "expiresInHours",
        ),
        (
            json!({"role": "User", "uses": 1, "expiresInHours": 337}),
            "expiresInHours",
        ),
        (json!({"role": "Boss", "uses": 1, "expiresInHours": 1}), "role"),
        (
            json!({"role": "User", "uses": 1, "expiresInHours": 1, "email": "not an email"}),
            "email",
        ),
    ] {
        let refused = invite(h, &owner, body.clone()).await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert_eq!(refused.body["field"], field, "{body}: {}", refused.text);
    }
    let (owners, _) = invitation(h, &owner, "Owner", 1).await;
    let owners_id = owners["id"].as_str().unwrap();
    h.call(Method::DELETE, &format!("/invitations/{owners_id}"), Some(&admin), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    let foreign = h.token(&other, Role::Owner).await;
    // Another organisation's invitation under this organisation's id joins no one: a code
    // opens only the invitation its own organisation holds.
    let (_, theirs) = invitation(h, &foreign, "User", 5).await;
    let (_, rest) = theirs.split_once('.').unwrap();
    join(&format!("{}.{rest}", org.org_id), &new_email("crossed"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");
    h.call(
        Method::DELETE,
        &format!("/invitations/{owners_id}"),
        Some(&foreign),
        None,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");

    let invited = new_email("bound");
    let bound = invite(
        h,
        &owner,
        json!({"role": "User", "uses": 3, "expiresInHours": 2, "email": invited.to_uppercase()}),
    )
    .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{}", bound.text);
    assert_eq!(bound.body["email"], invited.as_str());
    let code = bound.body["code"].as_str().unwrap();
    join(code, &new_email("stranger"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "email-not-invited");
    assert_eq!(join(code, &invited).await.status, StatusCode::ACCEPTED);
}

/// Five wrong secrets against one invitation start its cooldown: of 50 racing attempts from 50
/// addresses exactly five are judged and the rest answered 429 with `Retry-After`; the right
/// code is refused too until the cooldown ends. The guesses are recorded in the platform's
/// trail, never the organisation's.
///
/// Proves: RATE-3, RATE-4, ORG-4
#[tokio::test]
async fn five_failed_codes_against_one_invitation_cool_it_down_under_fifty_parallel_attempts() {
    let h = harness();
    let org = h.new_org("invrace").await;
    let owner = h.token(&org, Role::Owner).await;
    let (_, code) = invitation(h, &owner, "User", 10).await;
    let attempts = (0..50).map(|_| {
        let guess = wrong_secret(&code);
        async move { join_from(fresh_address(), &guess, &new_email("guess")).await }
    });
    let replies = futures::future::join_all(attempts).await;
    let judged = replies.iter().filter(|r| r.status == StatusCode::BAD_REQUEST).count();
    let cooled = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect::<Vec<_>>();
    assert_eq!(
        (judged, cooled.len()),
        (5, 45),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in &cooled {
        reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
        let wait: u64 = reply.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
    }
    join(&code, &new_email("right"))
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");

    h.trail_settled(&org.org_id).await;
    assert!(events_of(&h.trail_entries(&org.org_id).await, &["join.refused"]).is_empty());
    h.trail_settled(&quire_core::ids::OrgId::platform()).await;
    let platform = h.platform_entries().await;
    let guesses = events_of(&platform, &["join.refused"])
        .into_iter()
        .filter(|e| e["actor"]["email"].as_str().is_some_and(|m| m.starts_with("guess-")))
        .collect::<Vec<_>>();
    assert_eq!(guesses.len(), 5, "each judged guess, in the platform's trail");
    assert!(guesses.iter().all(|e| e["after"]["reason"] == "wrong-code"));
    assert_eq!(
        guesses.iter().filter(|e| e["after"]["lockedUntil"].is_string()).count(),
        1,
        "the fifth started the cooldown"
    );
}

/// Five wrong codes from one address start that address's cooldown: of 50 racing attempts at
/// 50 made-up invitations, five are judged and the address is locked; and from an address that
/// sent five wrong codes one after another (well under its 10 joins per window), even a right
/// code is a 429 until the cooldown ends, while from another address it joins.
///
/// Proves: RATE-3, RATE-4
#[tokio::test]
async fn five_failed_codes_from_one_address_cool_it_down_under_fifty_parallel_attempts() {
    let h = harness();
    let org = h.new_org("invaddr").await;
    let owner = h.token(&org, Role::Owner).await;
    let (_, code) = invitation(h, &owner, "User", 10).await;
    let made_up = || {
        let secret = format!("{}{}", uuid_hex(), uuid_hex());
        format!("{}.{}.{}", org.org_id, &uuid_hex()[..16], &secret[..40])
    };
    let address = fresh_address();
    let attempts = (0..50).map(|_| {
        let guess = made_up();
        async move { join_from(address, &guess, &new_email("prober")).await }
    });
    let replies = futures::future::join_all(attempts).await;
    let judged = replies.iter().filter(|r| r.status == StatusCode::BAD_REQUEST).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((judged, refused), (5, 45));
    let counted = h
        .dynamodb()
        .get_item()
        .table_name(&h.data_table)
        .set_key(Some({
            let (pk, sk) =
                quire_store::testing::attempts(&quire_store::attempts::Subject::join_address(&address.to_string()));
            [
                ("pk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(pk)),
                ("sk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(sk)),
            ]
            .into()
        }))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        counted.item.unwrap().contains_key("lockedUntil"),
        "the address is cooling down"
    );

    let slow = fresh_address();
    for _ in 0..5 {
        join_from(slow, &made_up(), &new_email("prober"))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");
    }
    let cooled = join_from(slow, &code, &new_email("honest")).await;
    cooled.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    let wait: u64 = cooled.header("retry-after").unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "the cooldown's end: {wait}");
    assert_eq!(join(&code, &new_email("elsewhere")).await.status, StatusCode::ACCEPTED);
}

/// A join with an email that already has an account is answered exactly as a join with a new
/// one; neither spends a use or shows in the organisation's trail; the taken email's is recorded
/// in the platform's trail as refused.
///
/// Proves: AUTHN-9, ORG-4
#[tokio::test]
async fn a_taken_email_is_answered_as_a_join_and_spends_no_use() {
    let h = harness();
    let org = h.new_org("invtaken").await;
    let owner = h.token(&org, Role::Owner).await;
    let (made, code) = invitation(h, &owner, "User", 3).await;
    let taken = org.user(Role::Viewer).email.clone();
    let answer = join(&code, &taken).await;
    let fresh = join(&code, &new_email("fresh")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.text, fresh.text);
    assert_eq!(listed_invitation(h, &owner, &made["id"]).await["used"], 0);
    // Neither counted against the invitation: the count cannot tell them apart either.
    let code = quire_core::invitation::JoinCode::parse(&code).unwrap();
    let subject = quire_store::attempts::Subject::join_code(code.org(), code.invitation());
    let (pk, sk) = quire_store::testing::attempts(&subject);
    let count = h
        .dynamodb()
        .get_item()
        .table_name(&h.data_table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the invitation's count");
    assert_eq!(count["attempts"].as_n().unwrap(), "0");
    h.trail_settled(&org.org_id).await;
    assert!(reasons_of(&h.trail_entries(&org.org_id).await, "join.refused").is_empty());
    h.trail_settled(&quire_core::ids::OrgId::platform()).await;
    let platform = h.platform_entries().await;
    let refused = events_of(&platform, &["join.refused"])
        .into_iter()
        .filter(|e| e["actor"]["email"] == taken.as_str())
        .collect::<Vec<_>>();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["after"]["reason"], "email-taken");
}

/// A join left unconfirmed past the registration validity confirms no more, even with its code
/// and password, and its email joins again (its old identity deleted); an email held by a
/// registration left unconfirmed as long joins too, taking over the email's account. Whoever
/// joins with someone else's email holds it no longer than a registration would.
///
/// Proves: ORG-4, AUTHN-6, AUTHN-9
#[tokio::test]
async fn an_email_held_by_an_unconfirmed_join_or_registration_is_freed_after_the_validity() {
    let h = harness();
    let org = h.new_org("invexpiry").await;
    let owner = h.token(&org, Role::Owner).await;
    let (_, code) = invitation(h, &owner, "User", 3).await;
    let squatted = new_email("squatted");
    let squat = h
        .call_from(
            fresh_address(),
            Method::POST,
            "/auth/join",
            None,
            Some(json!({"code": code, "email": squatted, "password": "Squatter-Chosen-Passw0rd!", "displayName": "S"})),
        )
        .await;
    assert_eq!(squat.status, StatusCode::ACCEPTED, "{}", squat.text);
    let squatters_code = h.confirmation_code(&squatted).expect("a code");
    let registered = new_email("registered");
    let registration = h
        .call_from(
            fresh_address(),
            Method::POST,
            "/auth/register",
            None,
            Some(json!({"organisationName": "Never Confirmed", "email": registered, "password": "Other-Chosen-Passw0rd!", "displayName": "R"})),
        )
        .await;
    assert_eq!(registration.status, StatusCode::ACCEPTED, "{}", registration.text);
    // Within the validity the email stays held: a join with it changes nothing.
    assert_eq!(join(&code, &squatted).await.status, StatusCode::ACCEPTED);
    assert_eq!(h.confirmation_codes(&squatted).len(), 1, "no second identity");

    tokio::time::sleep(quire_blackbox_tests::REGISTRATION_VALIDITY + std::time::Duration::from_secs(2)).await;
    h.call_from(
        fresh_address(),
        Method::POST,
        "/auth/confirm",
        None,
        Some(json!({"email": squatted, "code": squatters_code, "password": "Squatter-Chosen-Passw0rd!"})),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid-code");
    for email in [&squatted, &registered] {
        let confirmed = join_and_confirm(&code, email).await;
        assert_eq!(confirmed.status, StatusCode::OK, "{email}: {}", confirmed.text);
        let token = h.login(email).await;
        let me = h.call(Method::GET, "/auth/me", Some(&token), None).await;
        assert_eq!(me.body["role"], "User", "{}", me.text);
    }
}

/// A suspended organisation (read-only, ORG-1) takes no members: a join is refused with the
/// one answer, a join made before is refused at its confirmation, and its administrators can
/// still revoke an invitation (revoking contains a leaked code).
///
/// Proves: ORG-4, ORG-1
#[tokio::test]
async fn a_suspended_organisation_takes_no_members_and_still_revokes_invitations() {
    let h = harness();
    let org = h.new_org("invsusp").await;
    let owner = h.token(&org, Role::Owner).await;
    let (made, code) = invitation(h, &owner, "User", 3).await;
    let early = new_email("early");
    assert_eq!(join(&code, &early).await.status, StatusCode::ACCEPTED);
    h.tamper(quire_store::testing::organisation(&org.org_id), "status", "Suspended")
        .await;
    join(&code, &new_email("during"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");
    confirm(&early)
        .await
        .assert_problem(StatusCode::CONFLICT, "invitation-closed");
    let id = made["id"].as_str().unwrap();
    let revoked = h
        .call(Method::DELETE, &format!("/invitations/{id}"), Some(&owner), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    h.trail_settled(&org.org_id).await;
    let trail = h.trail_entries(&org.org_id).await;
    assert_eq!(
        reasons_of(&trail, "join.refused"),
        ["organisation-not-accepting", "organisation-not-accepting"]
    );
    assert_eq!(events_of(&trail, &["invitation.revoked"]).len(), 1);
}

/// A join confirms in an organisation whose record was written before versions were kept (no
/// `version` stored: it reads as 1); and refusals of a right code count toward the invitation's
/// cooldown too: five joins with emails its invitation is not for cool it down.
///
/// Proves: ORG-4, RATE-3
#[tokio::test]
async fn a_record_without_a_version_takes_members_and_right_codes_refused_count_too() {
    let h = harness();
    let org = h.new_org("invnover").await;
    let owner = h.token(&org, Role::Owner).await;
    let (pk, sk) = quire_store::testing::organisation(&org.org_id);
    h.dynamodb()
        .update_item()
        .table_name(&h.data_table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .update_expression("REMOVE version")
        .send()
        .await
        .expect("the version removed");
    let (_, code) = invitation(h, &owner, "User", 1).await;
    let confirmed = join_and_confirm(&code, &new_email("unversioned")).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);

    let invited = new_email("bound");
    let bound = invite(
        h,
        &owner,
        json!({"role": "User", "uses": 1, "expiresInHours": 1, "email": invited}),
    )
    .await;
    let code = bound.body["code"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        join(&code, &new_email("other"))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "email-not-invited");
    }
    let cooled = join(&code, &invited).await;
    cooled.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    let wait: u64 = cooled.header("retry-after").unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "{wait}");
}

/// Once an Owner lists the organisation's email domains, only their emails join (AUTHN-10),
/// compared case-insensitively and a subdomain not for its parent; a join made before the list
/// is refused at its confirmation; a holder of a right code is told why.
///
/// Proves: AUTHN-10, ORG-4
#[tokio::test]
async fn only_the_organisations_email_domains_join_once_it_lists_them() {
    let h = harness();
    let org = h.new_org("invdomains").await;
    let owner = h.token(&org, Role::Owner).await;
    let (_, code) = invitation(h, &owner, "User", 5).await;
    let early = new_email("early");
    assert_eq!(join(&code, &early).await.status, StatusCode::ACCEPTED);
    let listed = h
        .raw(
            h.request(Method::PATCH, "/organisation")
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .json(&json!({"joinDomains": ["Allowed.Example"], "reason": "Staff emails only"})),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["joinDomains"], json!(["allowed.example"]));

    for outside in [new_email("outside"), format!("sub-{}@lab.allowed.example", uuid_hex())] {
        join(&code, &outside)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "email-domain-not-allowed");
    }
    let inside = format!("staff-{}@ALLOWED.example", uuid_hex());
    let confirmed = join_and_confirm(&code, &inside).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    confirm(&early)
        .await
        .assert_problem(StatusCode::CONFLICT, "invitation-closed");

    h.trail_settled(&org.org_id).await;
    let trail = h.trail_entries(&org.org_id).await;
    assert_eq!(
        reasons_of(&trail, "join.refused"),
        [
            "email-domain-not-allowed",
            "email-domain-not-allowed",
            "email-domain-not-allowed"
        ]
    );
    let updated = events_of(&trail, &["organisation.updated"]);
    assert_eq!(updated[0]["after"]["joinDomains"], json!(["allowed.example"]));
}
