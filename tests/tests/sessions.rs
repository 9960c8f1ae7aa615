//! Sessions over HTTP: signing out and revoking take effect on the very next request (AUTHN-2);
//! refreshing slides the idle end, and a session past its idle or absolute end is refused and
//! its expiry recorded once (AUTHN-8); every change is in the member's trail (AUD-4). Each test
//! works in a fresh organisation of its own.

use quire_blackbox_tests::{harness, Reply};
use quire_core::ids::UserId;
use quire_core::rbac::Role;
use quire_local::seed::SeededOrg;
use quire_store::sessions::{Refreshed, SessionId, SessionPolicy, SessionRefused};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

async fn me(token: &str) -> Reply {
    harness().call(Method::GET, "/auth/me", Some(token), None).await
}

async fn post(path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    harness().call(Method::POST, path, token, body).await
}

fn access(signed_in: &Value) -> String {
    signed_in["accessToken"].as_str().expect("an access token").to_owned()
}

fn refresh_token(signed_in: &Value) -> String {
    signed_in["refreshToken"].as_str().expect("a refresh token").to_owned()
}

fn assert_refused(reply: &Reply, problem: &str) {
    reply.assert_problem(StatusCode::UNAUTHORIZED, problem);
}

/// The id of the session `token` belongs to.
async fn session_id(token: &str) -> String {
    let me = me(token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    me.body["session"]["id"].as_str().expect("session id").to_owned()
}

/// The events with one of `actions` in `org`'s trail, in order, once the writer has caught up.
async fn session_events(org: &SeededOrg, actions: &[&str]) -> Vec<Value> {
    let h = harness();
    let owner = h.token(org, Role::Owner).await;
    h.audit_settled(org).await;
    h.audit_entries(&owner)
        .await
        .into_iter()
        .map(|e| e["event"].clone())
        .filter(|e| actions.iter().any(|a| e["action"] == *a))
        .collect()
}

/// Signing out refuses that session's token on the very next request, whatever the route, and
/// its refresh; the member's other session lives on; the sign-out is the member's act in the
/// trail.
///
/// Proves: AUTHN-2
#[tokio::test]
async fn signing_out_refuses_the_sessions_token_on_the_very_next_request() {
    let h = harness();
    let org = h.new_org("signout").await;
    let member = org.user(Role::User).clone();
    let (first, second) = (h.sign_in(&member.email).await, h.sign_in(&member.email).await);
    let (token, other) = (access(&first), access(&second));
    let session = me(&token).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text);
    assert_eq!(session.body["userId"], member.user_id.as_str());
    assert_ne!(session.body["session"]["id"], me(&other).await.body["session"]["id"]);

    let out = post("/auth/logout", Some(&token), None).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    assert_eq!(out.body, json!({"status": "signed-out", "refreshToken": "not-given"}));

    assert_refused(&me(&token).await, "token-revoked");
    assert_refused(
        &h.call(Method::GET, "/documents", Some(&token), None).await,
        "token-revoked",
    );
    assert_refused(&post("/auth/logout", Some(&token), None).await, "token-revoked");
    assert_refused(
        &post(
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&first)})),
        )
        .await,
        "token-revoked",
    );
    assert_eq!(me(&other).await.status, StatusCode::OK, "the other session lives on");

    let ended = session_events(&org, &["session.signed-out"]).await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["actor"]["userId"], member.user_id.as_str());
    assert_eq!(ended[0]["after"]["session"], session.body["session"]["id"]);
    assert_eq!(ended[0]["after"]["refreshToken"], "not-given");
}

/// Revoking one's own sessions ends every one of them, the one that asked included; a sign-in
/// after it starts a session that works.
///
/// Proves: AUTHN-2
#[tokio::test]
async fn revoking_ones_own_sessions_ends_every_one_of_them() {
    let h = harness();
    let org = h.new_org("revokemine").await;
    let member = org.user(Role::Viewer).clone();
    let tokens = [
        access(&h.sign_in(&member.email).await),
        access(&h.sign_in(&member.email).await),
    ];
    let revoked = post("/auth/sessions/revoke-mine", Some(&tokens[0]), None).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(revoked.body, json!({"status": "revoked"}));
    for token in &tokens {
        assert_refused(&me(token).await, "token-revoked");
    }
    let again = access(&h.sign_in(&member.email).await);
    assert_eq!(me(&again).await.status, StatusCode::OK);

    let entries = session_events(&org, &["sessions.revoked"]).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"]["userId"], member.user_id.as_str());
    assert_eq!(entries[0]["target"]["id"], member.user_id.as_str());
}

/// An administrator (`UserManage`) revokes a member's sessions: theirs end, the
/// administrator's do not. A User may not; a member of another organisation cannot be named;
/// a malformed body changes nothing.
///
/// Proves: AUTHN-2, RBAC-2, TEN-1
#[tokio::test]
async fn an_administrator_revokes_a_members_sessions_and_no_one_elses() {
    let h = harness();
    let org = h.new_org("revoke").await;
    let other_org = h.new_org("revokeother").await;
    let admin = h.token(&org, Role::Admin).await;
    let user = org.user(Role::User).clone();
    let user_token = h.token(&org, Role::User).await;
    let stranger = other_org.user(Role::User).clone();
    let stranger_token = h.token(&other_org, Role::User).await;

    // A User holds no UserManage.
    let refused = post(
        "/auth/sessions/revoke",
        Some(&user_token),
        Some(json!({"userId": org.user(Role::Viewer).user_id.as_str()})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    // Another organisation's member is no member here.
    let foreign = post(
        "/auth/sessions/revoke",
        Some(&admin),
        Some(json!({"userId": stranger.user_id.as_str()})),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.text);
    assert_eq!(me(&stranger_token).await.status, StatusCode::OK);
    for body in [
        json!({"userId": "a#b"}),
        json!({"userId": user.user_id.as_str(), "also": 1}),
        json!({"userId": 7}),
        json!({}),
    ] {
        let bad = post("/auth/sessions/revoke", Some(&admin), Some(body.clone())).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{body}: {}", bad.text);
    }
    assert_eq!(me(&user_token).await.status, StatusCode::OK, "nothing was revoked yet");

    let revoked = post(
        "/auth/sessions/revoke",
        Some(&admin),
        Some(json!({"userId": user.user_id.as_str()})),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_refused(&me(&user_token).await, "token-revoked");
    assert_eq!(me(&admin).await.status, StatusCode::OK);

    let entries = session_events(&org, &["sessions.revoked"]).await;
    assert_eq!(entries.len(), 1, "only the granted revocation is recorded: {entries:?}");
    assert_eq!(entries[0]["actor"]["role"], "Admin");
    assert_eq!(entries[0]["target"]["id"], user.user_id.as_str());
}

/// A refresh hands out a new access token of the same session and slides its idle end; the
/// absolute end stays; the refresh is recorded. Near the absolute end, the idle end stops there.
///
/// Proves: AUTHN-8
#[tokio::test]
async fn a_refresh_slides_the_idle_end_and_never_past_the_absolute_one() {
    let h = harness();
    let org = h.new_org("refresh").await;
    let member = org.user(Role::User).clone();
    let signed_in = h.sign_in(&member.email).await;
    let before = me(&access(&signed_in)).await.body;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let refreshed = post(
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token(&signed_in)})),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert!(refreshed.body["expiresIn"].as_i64().is_some_and(|s| s > 0));
    let after = me(&access(&refreshed.body)).await.body;
    assert_eq!(after["session"]["id"], before["session"]["id"], "the same session");
    assert_eq!(after["session"]["absoluteUntil"], before["session"]["absoluteUntil"]);
    let time = |v: &Value| humantime::parse_rfc3339(v.as_str().expect("a time")).expect("RFC 3339");
    assert!(time(&after["session"]["idleUntil"]) > time(&before["session"]["idleUntil"]));

    // An absolute end in ten minutes: the idle end cannot pass it.
    let id = before["session"]["id"].as_str().expect("session id");
    let soon = SystemTime::now() + Duration::from_secs(600);
    let soon_ms = soon.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let key = quire_store::testing::session(&org.org_id, &member.user_id, id);
    h.tamper_number(key, "absoluteUntil", soon_ms).await;
    let capped = post(
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token(&signed_in)})),
    )
    .await;
    assert_eq!(capped.status, StatusCode::OK, "{}", capped.text);
    let capped = me(&access(&capped.body)).await.body;
    assert_eq!(capped["session"]["idleUntil"], capped["session"]["absoluteUntil"]);

    let entries = session_events(&org, &["session.refreshed"]).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["actor"]["userId"], member.user_id.as_str());
}

/// A session past its idle end refuses requests and refreshes; the first refused refresh
/// records the expiry, later ones do not. The idle end here is real time passing: the store's
/// own refresh, with a one-second idle limit, set it.
///
/// Proves: AUTHN-8
#[tokio::test]
async fn a_session_past_its_idle_end_is_refused_and_its_expiry_recorded_once() {
    let h = harness();
    let org = h.new_org("idle").await;
    let member = org.user(Role::User).clone();
    let signed_in = h.sign_in(&member.email).await;
    let token = access(&signed_in);
    let id = session_id(&token).await;
    let user = member.user_id.clone();
    let short = SessionPolicy {
        idle: Duration::from_secs(1),
        absolute: Duration::from_secs(3600),
    };
    let granted = h
        .on_stack(move |stack| async move {
            let origin = quire_core::audit::Origin::new(Some("192.0.2.1"), Some("test"), "corr-idle");
            stack
                .app
                .store
                .refresh_session(&user, &SessionId::parse(&id).expect("id"), short, None, origin)
                .await
                .expect("refresh")
        })
        .await;
    assert_eq!(granted, Refreshed::Granted);
    assert_eq!(me(&token).await.status, StatusCode::OK, "within its idle second");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_refused(&me(&token).await, "session-expired");
    for _ in 0..2 {
        assert_refused(
            &post(
                "/auth/refresh",
                None,
                Some(json!({"refreshToken": refresh_token(&signed_in)})),
            )
            .await,
            "session-expired",
        );
    }
    // Ended now, and still answered as the expiry it was.
    assert_refused(&me(&token).await, "session-expired");

    let expired = session_events(&org, &["session.expired"]).await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["after"]["limit"], "idle");
}

/// A session past its absolute end is refused even though its idle end is hours away.
///
/// Proves: AUTHN-8
#[tokio::test]
async fn a_session_past_its_absolute_end_is_refused() {
    let h = harness();
    let org = h.new_org("absolute").await;
    let member = org.user(Role::User).clone();
    let signed_in = h.sign_in(&member.email).await;
    let token = access(&signed_in);
    let id = session_id(&token).await;
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let key = quire_store::testing::session(&org.org_id, &member.user_id, &id);
    h.tamper_number(key, "absoluteUntil", now_ms).await;
    assert_refused(&me(&token).await, "session-expired");
    let refused = post(
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token(&signed_in)})),
    )
    .await;
    assert_refused(&refused, "session-expired");
    let expired = session_events(&org, &["session.expired"]).await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["after"]["limit"], "absolute");
}

/// A client cannot sign in at Cognito round Quire's sign-in (and so round its lockout, rate
/// limits and trail): without the app client's secret, which only the auth function reads,
/// Cognito refuses the password; and a token Cognito issued to whoever did hold the secret
/// names no session of Quire's and is refused.
///
/// Proves: AUTHN-2, AUTHN-5
#[tokio::test]
async fn a_sign_in_that_went_round_quire_is_refused() {
    let h = harness();
    let org = h.new_org("round").await;
    let email = org.user(Role::User).email.clone();
    let password = h.password.clone();
    let (without_secret, token) = h
        .on_stack(move |stack| async move {
            let sign_in = |secret_hash: Option<String>| {
                let mut request = stack
                    .app
                    .cognito
                    .initiate_auth()
                    .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
                    .client_id(stack.app.client.id())
                    .auth_parameters("USERNAME", &email)
                    .auth_parameters("PASSWORD", &password);
                if let Some(hash) = secret_hash {
                    request = request.auth_parameters("SECRET_HASH", hash);
                }
                request.send()
            };
            let without_secret = sign_in(None)
                .await
                .map(|_| ())
                .map_err(|e| e.into_service_error().is_not_authorized_exception());
            let hash = stack
                .app
                .client
                .secret_hash(&stack.app.cognito, &email)
                .await
                .expect("the client's secret");
            assert!(hash.is_some(), "the app client has a secret");
            let out = sign_in(hash).await.expect("Cognito signs the holder of the secret in");
            let token = out
                .authentication_result
                .and_then(|t| t.access_token)
                .expect("an access token");
            (without_secret, token)
        })
        .await;
    assert_eq!(
        without_secret,
        Err(true),
        "Cognito refuses a sign-in without the secret"
    );
    assert_refused(&me(&token).await, "token-revoked");
}

/// Every unauthenticated Cognito call a client could make round Quire is refused without the
/// app client's secret: a refresh, a reset code asked for or used, the answer to a TOTP
/// challenge Quire handed out (with its right code), and revoking a token. The challenge, the
/// refresh and the revocation work through Quire afterwards, which holds the secret (Quire's
/// reset requests are tested in password_reset.rs).
///
/// Proves: AUTHN-5, AUTHN-7
#[tokio::test]
async fn cognito_refuses_every_unauthenticated_call_without_the_secret() {
    let h = harness();
    let org = h.new_org("nosecret").await;
    let owner = org.user(Role::Owner).clone();
    let cognito = h.cognito();
    let client = h.user_pool_client_id.clone();
    let refused = |error: Option<bool>| assert_eq!(error, Some(true), "refused as unauthorised");
    let signed_in = h.sign_in(&owner.email).await;
    let refresh = refresh_token(&signed_in);

    refused(
        cognito
            .initiate_auth()
            .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::RefreshTokenAuth)
            .client_id(&client)
            .auth_parameters("REFRESH_TOKEN", &refresh)
            .send()
            .await
            .err()
            .map(|e| e.into_service_error().is_not_authorized_exception()),
    );
    refused(
        cognito
            .forgot_password()
            .client_id(&client)
            .username(&owner.email)
            .send()
            .await
            .err()
            .map(|e| e.into_service_error().is_not_authorized_exception()),
    );
    refused(
        cognito
            .confirm_forgot_password()
            .client_id(&client)
            .username(&owner.email)
            .confirmation_code("123456")
            .password("Quire-Guessed-Passw0rd!")
            .send()
            .await
            .err()
            .map(|e| e.into_service_error().is_not_authorized_exception()),
    );
    let login = post(
        "/auth/login",
        None,
        Some(json!({"email": owner.email, "password": h.password})),
    )
    .await;
    let session = login.body["session"].as_str().expect("a challenge").to_owned();
    refused(
        cognito
            .respond_to_auth_challenge()
            .client_id(&client)
            .challenge_name(aws_sdk_cognitoidentityprovider::types::ChallengeNameType::SoftwareTokenMfa)
            .session(&session)
            .challenge_responses("USERNAME", owner.user_id.as_str())
            .challenge_responses("SOFTWARE_TOKEN_MFA_CODE", h.totp_code(&owner.email))
            .send()
            .await
            .err()
            .map(|e| e.into_service_error().is_not_authorized_exception()),
    );
    refused(
        cognito
            .revoke_token()
            .client_id(&client)
            .token(&refresh)
            .send()
            .await
            .err()
            .map(|e| e.into_service_error().is_unauthorized_exception()),
    );

    // Through Quire, each works.
    let answered = post(
        "/auth/mfa",
        None,
        Some(json!({"email": owner.email, "session": session, "code": h.totp_code(&owner.email)})),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    let renewed = post(
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token(&answered.body)})),
    )
    .await;
    assert_eq!(
        renewed.status,
        StatusCode::OK,
        "a TOTP sign-in refreshes: {}",
        renewed.text
    );
    let refreshed = post("/auth/refresh", None, Some(json!({"refreshToken": refresh.clone()}))).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let signed_out = post(
        "/auth/logout",
        Some(&access(&signed_in)),
        Some(json!({"refreshToken": refresh})),
    )
    .await;
    assert_eq!(signed_out.body["refreshToken"], "revoked", "{}", signed_out.text);
}

/// A refresh body that is not one is refused before Cognito is asked, naming the field; a
/// refresh token Cognito does not know is refused as such.
///
/// Proves: AUTHN-8
#[tokio::test]
async fn a_bad_refresh_is_refused_with_a_clear_problem() {
    for body in [
        json!({}),
        json!({"refreshToken": ""}),
        json!({"refreshToken": 7}),
        json!({"refreshToken": "x".repeat(4097)}),
        json!({"refreshToken": "a\u{0007}b"}),
        json!({"refreshToken": "has space"}),
        json!({"refreshToken": "abc", "extra": true}),
    ] {
        let reply = post("/auth/refresh", None, Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.text);
    }
    let unknown = post(
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": "not-a-refresh-token"})),
    )
    .await;
    assert_refused(&unknown, "unauthorized");
    // Sessions belong to members: an id that names no one is no session.
    let refused = harness()
        .on_stack(|stack| async move {
            let origin = quire_core::audit::Origin::new(None, None, "corr-unknown");
            stack
                .app
                .store
                .refresh_session(
                    &UserId::parse("no-such-user").expect("id"),
                    &SessionId::parse("no-such-session").expect("id"),
                    SessionPolicy::DEFAULT,
                    None,
                    origin,
                )
                .await
                .expect("refresh")
        })
        .await;
    assert_eq!(refused, Refreshed::Refused(SessionRefused::Unknown));
}

/// A sign-out sent at the same moment as two refreshes of its session, three rounds: whichever
/// order the emulator serves their writes in, the sign-out succeeds and afterwards neither its
/// token nor any token the refreshes handed out is admitted. (Whether a round made the
/// sign-out retry is not observed: the test shows the outcome under concurrency, not that the
/// conflict path ran.)
///
/// Proves: AUTHN-2
#[tokio::test]
async fn a_sign_out_racing_refreshes_ends_the_session() {
    let h = harness();
    let org = h.new_org("race").await;
    let member = org.user(Role::User).clone();
    for _ in 0..3 {
        let signed_in = h.sign_in(&member.email).await;
        let token = access(&signed_in);
        let body = json!({"refreshToken": refresh_token(&signed_in)});
        // Two refreshes can beat the sign-out at most twice: it has three tries.
        let (a, b, out) = tokio::join!(
            post("/auth/refresh", None, Some(body.clone())),
            post("/auth/refresh", None, Some(body.clone())),
            post("/auth/logout", Some(&token), None),
        );
        assert_eq!(out.status, StatusCode::OK, "{}", out.text);
        assert_refused(&me(&token).await, "token-revoked");
        for refreshed in [a, b] {
            match refreshed.status {
                StatusCode::OK => assert_refused(&me(&access(&refreshed.body)).await, "token-revoked"),
                StatusCode::UNAUTHORIZED => assert_eq!(refreshed.problem_type(), "urn:quire:problem:token-revoked"),
                // Beaten three times by the others: nothing was handed out.
                other => assert_eq!(other, StatusCode::SERVICE_UNAVAILABLE, "{}", refreshed.text),
            }
        }
    }
}

/// Revocation reaches Cognito too: the member's refresh tokens stop there, whether Quire or
/// the client itself presents them.
///
/// Proves: AUTHN-2
#[tokio::test]
async fn a_revocation_stops_the_refresh_tokens_at_cognito() {
    let h = harness();
    let org = h.new_org("revokeidp").await;
    let member = org.user(Role::User).clone();
    let signed_in = h.sign_in(&member.email).await;
    let refresh = refresh_token(&signed_in);
    // The client itself at Cognito, with the app client's secret (as an attacker holding it).
    let at_cognito = |refresh: String| {
        let user = member.user_id.to_string();
        h.on_stack(move |stack| async move {
            let hash = stack
                .app
                .client
                .secret_hash(&stack.app.cognito, &user)
                .await
                .expect("the client's secret")
                .expect("a secret");
            stack
                .app
                .cognito
                .initiate_auth()
                .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::RefreshTokenAuth)
                .client_id(stack.app.client.id())
                .auth_parameters("REFRESH_TOKEN", refresh)
                .auth_parameters("SECRET_HASH", hash)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.into_service_error().is_not_authorized_exception())
        })
    };
    assert_eq!(
        at_cognito(refresh.clone()).await,
        Ok(()),
        "Cognito refreshes a live token"
    );
    let revoked = post("/auth/sessions/revoke-mine", Some(&access(&signed_in)), None).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_refused(
        &post("/auth/refresh", None, Some(json!({"refreshToken": refresh.clone()}))).await,
        "unauthorized",
    );
    assert_eq!(
        at_cognito(refresh).await,
        Err(true),
        "Cognito refuses the refresh token"
    );
    let entries = session_events(&org, &["sessions.revoked"]).await;
    assert_eq!(entries[0]["after"]["identityProvider"], "signed-out");
}

/// A member of a closed organisation can neither use nor refresh a session (a suspended one's
/// are read-only: `tests/lifecycle.rs`).
///
/// Proves: AUTHN-8, TEN-6
#[tokio::test]
async fn a_closed_organisations_sessions_are_neither_admitted_nor_refreshed() {
    let h = harness();
    let org = h.new_org("closed").await;
    let member = org.user(Role::User).clone();
    let signed_in = h.sign_in(&member.email).await;
    h.tamper(quire_store::testing::organisation(&org.org_id), "status", "Closed")
        .await;
    let refused = me(&access(&signed_in)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_refused(
        &post(
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&signed_in)})),
        )
        .await,
        "token-revoked",
    );
}

/// Made-up refresh tokens are counted against the address: the 31st refused refresh in the
/// window is a 429 with `Retry-After`, before Cognito is asked, and the trip is recorded once,
/// in the platform's trail.
///
/// Proves: RATE-5
#[tokio::test]
async fn refused_refreshes_are_limited_per_address() {
    let h = harness();
    let from = quire_blackbox_tests::fresh_address();
    let refresh = || {
        h.call_from(
            from,
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": "made-up"})),
        )
    };
    for _ in 0..30 {
        assert_refused(&refresh().await, "unauthorized");
    }
    for _ in 0..2 {
        let limited = refresh().await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.text);
        assert!(limited.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok()));
    }
    h.trail_settled(&quire_core::ids::OrgId::platform()).await;
    let trips: Vec<Value> = h
        .platform_entries()
        .await
        .into_iter()
        .map(|e| e["event"].clone())
        .filter(|e| e["action"] == "rate-limit.tripped" && e["origin"]["ip"] == from.to_string())
        .collect();
    assert_eq!(trips.len(), 1, "{trips:#?}");
    assert_eq!(trips[0]["after"]["limit"], "refresh-failures-per-address");
    assert_eq!(trips[0]["target"], json!({"type": "address", "id": from.to_string()}));
}

/// Signing out with the session's own refresh token revokes it at Cognito too, and with it the
/// access token, which Cognito's own user APIs then refuse. Another session's refresh token is
/// left alone (the session still ends); the entry and the answer say which.
///
/// Proves: AUTHN-2
#[tokio::test]
async fn signing_out_with_the_refresh_token_revokes_it_at_cognito_too() {
    let h = harness();
    let org = h.new_org("revoketoken").await;
    let member = org.user(Role::User).clone();
    let (first, second) = (h.sign_in(&member.email).await, h.sign_in(&member.email).await);

    // The first session, given the second's refresh token: it ends, the token is left alone.
    let out = post(
        "/auth/logout",
        Some(&access(&first)),
        Some(json!({"refreshToken": refresh_token(&second)})),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    assert_eq!(
        out.body,
        json!({"status": "signed-out", "refreshToken": "not-this-session"})
    );
    assert_refused(&me(&access(&first)).await, "token-revoked");
    let renewed = post(
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token(&second)})),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);

    let token = access(&second);
    let out = post(
        "/auth/logout",
        Some(&token),
        Some(json!({"refreshToken": refresh_token(&second)})),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    assert_eq!(out.body["refreshToken"], "revoked");
    assert_refused(&me(&token).await, "token-revoked");
    assert_refused(
        &post(
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&second)})),
        )
        .await,
        "unauthorized",
    );
    let at_cognito = h
        .on_stack(move |stack| async move {
            stack
                .app
                .cognito
                .get_user()
                .access_token(token)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.into_service_error().is_not_authorized_exception())
        })
        .await;
    assert_eq!(at_cognito, Err(true), "Cognito refuses the access token");
    let ended: Vec<Value> = session_events(&org, &["session.signed-out"]).await;
    let outcomes: Vec<&Value> = ended.iter().map(|e| &e["after"]["refreshToken"]).collect();
    assert_eq!(outcomes, [&json!("not-this-session"), &json!("revoked")], "{ended:?}");
}

/// An organisation's own session limits (AUTHN-8) govern its members' sessions: a sign-in
/// starts with them, a refresh slides by them and applies a lowered absolute limit to a
/// session already running; a stored limit out of bounds is brought to the nearest bound. (They are set here in the organisation's record directly: the route that
/// sets them is the organisation settings'.)
///
/// Proves: AUTHN-8
#[tokio::test]
async fn an_organisations_own_limits_govern_its_sessions() {
    let h = harness();
    let org = h.new_org("orglimits").await;
    let member = org.user(Role::User).clone();
    let profile = quire_store::testing::organisation(&org.org_id);
    h.tamper_number(profile.clone(), "sessionIdleMinutes", 20).await;
    h.tamper_number(profile.clone(), "sessionMaxHours", 2).await;
    let time = |v: &Value| humantime::parse_rfc3339(v.as_str().expect("a time")).expect("RFC 3339");
    let span = |session: &Value, end: &str| {
        time(&session[end])
            .duration_since(time(&session["startedAt"]))
            .expect("after the start")
    };
    let signed_in = h.sign_in(&member.email).await;
    let session = me(&access(&signed_in)).await.body["session"].clone();
    let near = |d: Duration, minutes: u64| d.abs_diff(Duration::from_secs(minutes * 60)) < Duration::from_secs(5);
    assert!(near(span(&session, "idleUntil"), 20), "{session:#}");
    assert!(near(span(&session, "absoluteUntil"), 120), "{session:#}");

    // A refresh slides the idle end by the organisation's limit, not the deployment's, and
    // brings in an absolute end the organisation lowered since the sign-in.
    h.tamper_number(profile.clone(), "sessionIdleMinutes", 45).await;
    h.tamper_number(profile.clone(), "sessionMaxHours", 1).await;
    let refreshed = post(
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token(&signed_in)})),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let slid = me(&access(&refreshed.body)).await.body["session"].clone();
    let idle_left = time(&slid["idleUntil"])
        .duration_since(SystemTime::now())
        .expect("in the future");
    assert!(near(idle_left, 45), "{slid:#}");
    assert!(near(span(&slid, "absoluteUntil"), 60), "{slid:#}");

    // Out of bounds (never written through the API): the nearest bound.
    h.tamper_number(profile.clone(), "sessionIdleMinutes", 1).await;
    h.tamper_number(profile, "sessionMaxHours", 1000).await;
    let bounded = me(&access(&h.sign_in(&member.email).await)).await.body["session"].clone();
    assert!(near(span(&bounded, "idleUntil"), 15), "{bounded:#}");
    assert!(near(span(&bounded, "absoluteUntil"), 24 * 60), "{bounded:#}");
}
