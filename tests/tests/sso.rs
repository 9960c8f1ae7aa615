//! SSO-only organisations over HTTP (AUTHN-10): an Owner configures the organisation's identity
//! provider at Cognito (`PUT /organisation/identity-provider`) and turns `ssoOnly` on; a
//! member's password sign-in is then refused after the right password. The emulator stores
//! the provider's configuration through Cognito's API but runs no federation.

use quire_blackbox_tests::{harness, Harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Sends `body` to the organisation's route `method` `path` as `token`, at `version`.
async fn at_version(h: &Harness, method: Method, path: &str, token: &str, version: u64, body: Value) -> Reply {
    h.raw(
        h.request(method, path)
            .bearer_auth(token)
            .header("if-match", format!("\"{version}\""))
            .json(&body),
    )
    .await
}

async fn put_provider(h: &Harness, token: &str, version: u64, body: Value) -> Reply {
    at_version(h, Method::PUT, "/organisation/identity-provider", token, version, body).await
}

async fn patch(h: &Harness, token: &str, version: u64, body: Value) -> Reply {
    at_version(h, Method::PATCH, "/organisation", token, version, body).await
}

/// A client secret made for the test: no secret is kept in the repository.
fn new_secret() -> String {
    format!("oidc-{}", quire_blackbox_tests::uuid_hex())
}

fn oidc(secret: &str) -> Value {
    json!({
        "type": "OIDC",
        "issuer": "https://login.example.test/tenant-1/v2.0",
        "clientId": "quire-client",
        "clientSecret": secret,
        "reason": "Staff sign in through the corporate directory",
    })
}

/// Cognito's identity provider `name`, if it has one: its type and details.
async fn at_cognito(h: &Harness, name: &str) -> Option<(String, std::collections::HashMap<String, String>)> {
    let described = match h
        .cognito()
        .describe_identity_provider()
        .user_pool_id(&h.user_pool_id)
        .provider_name(name)
        .send()
        .await
    {
        Ok(described) => described,
        Err(error) => {
            let error = error.into_service_error();
            assert!(
                error.is_resource_not_found_exception(),
                "DescribeIdentityProvider: {error}"
            );
            return None;
        }
    };
    let provider = described.identity_provider?;
    Some((
        provider
            .provider_type
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        provider.provider_details.unwrap_or_default(),
    ))
}

/// An Owner's identity provider is configured at Cognito (OIDC: issuer, client id and secret,
/// scopes), recorded in the organisation's record and trail without its secret, and replaced
/// by a SAML one (a type Cognito does not update: deleted and made again).
///
/// Proves: AUTHN-10
#[tokio::test]
async fn an_owner_configures_the_identity_provider_at_cognito_and_never_records_its_secret() {
    let h = harness();
    let org = h.new_org("idp").await;
    let owner = h.token(&org, Role::Owner).await;
    let secret = new_secret();
    let made = put_provider(h, &owner, 1, oidc(&secret)).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    assert!(!made.text.contains(&secret), "{}", made.text);
    let shown = &made.body["identityProvider"];
    assert_eq!(
        (
            shown["type"].as_str(),
            shown["clientId"].as_str(),
            shown["scopes"].clone()
        ),
        (Some("OIDC"), Some("quire-client"), json!(["openid", "email"])),
        "{}",
        made.text
    );
    let name = shown["name"].as_str().expect("a provider name").to_owned();
    assert_eq!(name, org.org_id.as_str().replace('-', ""));
    let (kind, details) = at_cognito(h, &name).await.expect("the provider at Cognito");
    assert_eq!(kind, "OIDC");
    for (key, value) in [
        ("oidc_issuer", "https://login.example.test/tenant-1/v2.0"),
        ("client_id", "quire-client"),
        ("client_secret", secret.as_str()),
        ("authorize_scopes", "openid email"),
        ("attributes_request_method", "GET"),
    ] {
        assert_eq!(details.get(key).map(String::as_str), Some(value), "{key}");
    }
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    let updates = quire_blackbox_tests::events_of(&entries, &["organisation.updated"]);
    let last = updates.last().expect("the change's entry");
    assert_eq!(last["after"]["identityProvider"]["clientId"], "quire-client");
    assert!(!serde_json::to_string(&entries).unwrap().contains(&secret));

    // A new secret alone is a recorded change (when it was set), still never the secret.
    let rotated = new_secret();
    let again = put_provider(h, &owner, 2, oidc(&rotated)).await;
    assert_eq!(again.header("etag"), Some("\"3\""), "{}", again.text);
    let (_, details) = at_cognito(h, &name).await.expect("the provider at Cognito");
    assert_eq!(details.get("client_secret"), Some(&rotated));
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&rotated) && !text.contains(&secret));
    assert_eq!(
        quire_blackbox_tests::events_of(&entries, &["organisation.updated"]).len(),
        updates.len() + 1
    );

    // One Cognito lost is made again by the next request.
    h.cognito()
        .delete_identity_provider()
        .user_pool_id(&h.user_pool_id)
        .provider_name(&name)
        .send()
        .await
        .expect("delete at Cognito");
    let remade = put_provider(h, &owner, 3, oidc(&new_secret())).await;
    assert_eq!(remade.status, StatusCode::OK, "{}", remade.text);
    assert_eq!(
        at_cognito(h, &name).await.map(|(kind, _)| kind).as_deref(),
        Some("OIDC")
    );

    let saml = put_provider(
        h,
        &owner,
        4,
        json!({"type": "SAML", "metadataUrl": "https://idp.example.test/metadata.xml", "reason": "New directory"}),
    )
    .await;
    assert_eq!(saml.status, StatusCode::OK, "{}", saml.text);
    assert_eq!(saml.body["identityProvider"]["type"], "SAML");
    let (kind, details) = at_cognito(h, &name).await.expect("the provider at Cognito");
    assert_eq!(
        (kind.as_str(), details.get("MetadataURL").map(String::as_str)),
        ("SAML", Some("https://idp.example.test/metadata.xml"))
    );
    assert!(!details.contains_key("client_secret"), "{details:?}");
}

/// With `ssoOnly` on, a member's right password signs them in to nothing: 403 `sso-required`,
/// recorded as `sign-in.failed` (`sso-required`); a wrong one is answered as any wrong
/// password; a TOTP challenge held from before completes nothing. It needs a provider and the Owner's confirmation; another organisation's
/// members sign in as before; turned off, passwords work again.
///
/// Proves: AUTHN-10
#[tokio::test]
async fn sso_only_refuses_password_sign_in_after_the_right_password() {
    let h = harness();
    let org = h.new_org("ssoonly").await;
    let owner = h.token(&org, Role::Owner).await;
    patch(
        h,
        &owner,
        1,
        json!({"ssoOnly": true, "confirmLockout": true, "reason": "SSO"}),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert_eq!(
        put_provider(h, &owner, 1, oidc(&new_secret())).await.status,
        StatusCode::OK
    );
    patch(h, &owner, 2, json!({"ssoOnly": true, "reason": "SSO"}))
        .await
        .assert_problem(StatusCode::CONFLICT, "lockout-not-confirmed");
    // A challenge held for a right password before SSO-only completes no sign-in after.
    let admin = org.user(Role::Admin).email.clone();
    let from = quire_blackbox_tests::fresh_address();
    let held = h.challenge_session(from, &admin, "mfa").await;
    let on = patch(
        h,
        &owner,
        2,
        json!({"ssoOnly": true, "confirmLockout": true, "reason": "SSO"}),
    )
    .await;
    assert_eq!(on.body["ssoOnly"], true, "{}", on.text);

    let user = org.user(Role::User).email.clone();
    let refused = h
        .sign_in_reply(Some(quire_blackbox_tests::fresh_address()), &user)
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "sso-required");
    assert!(refused.body.get("accessToken").is_none());
    let wrong = h
        .call_from(
            quire_blackbox_tests::fresh_address(),
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": user, "password": "Not-The-Passw0rd!"})),
        )
        .await;
    wrong.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credentials");
    let answer = json!({"email": admin, "session": held, "code": h.totp_code(&admin)});
    h.call_from(from, Method::POST, "/auth/mfa", None, Some(answer))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "sso-required");
    // An Admin's right password is refused before any second factor is asked.
    h.sign_in_reply(Some(quire_blackbox_tests::fresh_address()), &admin)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "sso-required");
    // Another organisation signs in as before.
    let other = h.new_org("ssoother").await;
    h.token(&other, Role::User).await;

    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    assert!(
        quire_blackbox_tests::reasons_of(&entries, "sign-in.failed").contains(&"sso-required"),
        "{entries:?}"
    );
    assert!(
        quire_blackbox_tests::reasons_of(&entries, "mfa.challenge.failed").contains(&"sso-required"),
        "{entries:?}"
    );
    let off = patch(h, &owner, 3, json!({"ssoOnly": false, "reason": "Directory outage"})).await;
    assert_eq!(off.body["ssoOnly"], false, "{}", off.text);
    h.login(&user).await;

    // On again only while Cognito holds the provider the record names.
    h.cognito()
        .delete_identity_provider()
        .user_pool_id(&h.user_pool_id)
        .provider_name(org.org_id.as_str().replace('-', ""))
        .send()
        .await
        .expect("delete at Cognito");
    patch(
        h,
        &owner,
        4,
        json!({"ssoOnly": true, "confirmLockout": true, "reason": "SSO"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
}

/// An organisation whose identity provider shuts its members out (no session of theirs left)
/// gets them back through a platform operator, who may turn SSO-only off and never on,
/// recorded in the organisation's trail and the platform's.
///
/// Proves: AUTHN-10, RBAC-6
#[tokio::test]
async fn an_operator_turns_sso_only_off_and_never_on() {
    let h = harness();
    let org = h.new_org("ssoback").await;
    let owner = h.token(&org, Role::Owner).await;
    assert_eq!(
        put_provider(h, &owner, 1, oidc(&new_secret())).await.status,
        StatusCode::OK
    );
    let on = patch(
        h,
        &owner,
        2,
        json!({"ssoOnly": true, "confirmLockout": true, "reason": "SSO"}),
    )
    .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    let user = org.user(Role::User).email.clone();
    h.sign_in_reply(Some(quire_blackbox_tests::fresh_address()), &user)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "sso-required");
    let operator = h.login(&h.new_operator(true).await).await;
    let terms = format!("/operator/organisations/{}", org.org_id);
    let operate = |version: u64, body: Value| at_version(h, Method::PATCH, &terms, &operator, version, body);
    operate(3, json!({"ssoOnly": true, "reason": "x"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let off = operate(
        3,
        json!({"ssoOnly": false, "reason": "Their directory is down: ticket 4711"}),
    )
    .await;
    assert_eq!(off.body["ssoOnly"], false, "{}", off.text);
    h.login(&user).await;
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    let changes = quire_blackbox_tests::events_of(&entries, &["operator.organisation.changed"]);
    assert_eq!(
        (
            changes.len(),
            changes[0]["before"]["ssoOnly"].clone(),
            changes[0]["after"]["ssoOnly"].clone()
        ),
        (1, json!(true), Value::Null),
        "{entries:?}"
    );
}

/// Only an Owner sets the provider or SSO-only; a provider that does not parse, or names the
/// other type's fields, is refused with the field named, and nothing changes at Cognito or in
/// the record.
///
/// Proves: AUTHN-10, HTTP-2
#[tokio::test]
async fn only_an_owner_configures_sso_and_a_bad_provider_changes_nothing() {
    let h = harness();
    let org = h.new_org("ssobad").await;
    let owner = h.token(&org, Role::Owner).await;
    let manager = h.token(&org, Role::Admin).await;
    // An Admin who may manage the organisation is still no Owner.
    let granted = h
        .raw(
            h.request(Method::PUT, "/organisation/roles/Admin")
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .json(&json!({"permissions": ["OrganisationRead", "OrganisationManage"], "reason": "Delegate"})),
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.text);
    put_provider(h, &manager, 2, oidc(&new_secret()))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    patch(h, &manager, 2, json!({"ssoOnly": false, "reason": "x"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    let mut cases = Vec::new();
    for (field, value) in [
        ("issuer", json!("http://login.example.test/")),
        ("issuer", json!("https://user:pw@login.example.test/")),
        ("issuer", json!("https://login.example.test/#frag")),
        ("issuer", json!("not a url")),
        ("clientSecret", json!("")),
        ("clientSecret", json!("x".repeat(1025))),
        ("clientId", json!("has space")),
        ("scopes", json!(["email"])),
        ("scopes", json!(["openid", "openid"])),
        ("metadataUrl", json!("https://idp.example.test/metadata.xml")),
    ] {
        let mut body = oidc(&new_secret());
        body[field] = value;
        cases.push(body);
    }
    let mut missing = oidc(&new_secret());
    missing.as_object_mut().unwrap().remove("clientSecret");
    cases.push(missing);
    cases
        .push(json!({"type": "SAML", "metadataUrl": "https://idp.example.test/m.xml", "clientId": "x", "reason": "r"}));
    cases.push(json!({"type": "LDAP", "reason": "r"}));
    cases.push(json!({"type": "SAML", "reason": "r"}));
    for body in cases {
        put_provider(h, &owner, 2, body.clone())
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    }
    let settings = h.call(Method::GET, "/organisation", Some(&owner), None).await;
    assert_eq!(
        (settings.header("etag"), settings.body["identityProvider"].clone()),
        (Some("\"2\""), Value::Null),
        "{}",
        settings.text
    );
    assert!(at_cognito(h, &org.org_id.as_str().replace('-', "")).await.is_none());
}
