//! The API keeps the contract it publishes: every route's success body, and the problems, are
//! what `GET /openapi.json` says they are, checked as JSON Schema 2020-12 (what OpenAPI 3.1
//! schemas are) against answers of the running stack.

use quire_blackbox_tests::{harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Checks `reply`'s body against the schema the served document gives `METHOD path` for its
/// status (`2XX` for a success, the problem schema otherwise). Returns the schema's name.
fn assert_keeps_contract(document: &Value, method: &Method, path: &str, reply: &Reply) -> String {
    let operation = &document["paths"][path][method.as_str().to_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not in the document");
    let status = if reply.status.is_success() {
        "2XX".to_owned()
    } else {
        reply.status.as_u16().to_string()
    };
    let response = &operation["responses"][&status];
    assert!(
        response.is_object(),
        "{method} {path}: the document has no {status} answer"
    );
    let (media, content) = response["content"]
        .as_object()
        .and_then(|c| c.iter().next())
        .expect("a response with content");
    assert_eq!(reply.header("content-type"), Some(media.as_str()), "{method} {path}");
    let reference = content["schema"]["$ref"].as_str().expect("a named schema");
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": reference,
        "components": document["components"],
    });
    let validator = jsonschema::validator_for(&schema).expect("the document's schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(&reply.body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: the body breaks {reference}: {errors:#?}\n{}",
        reply.text
    );
    reference.rsplit('/').next().unwrap_or_default().to_owned()
}

/// One answer of every route, and problems of several kinds, against the served document.
///
/// Proves: HTTP-7
#[tokio::test]
async fn every_route_answers_as_its_openapi_schema_says() {
    let h = harness();
    let served = h.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(served.status, StatusCode::OK);
    let document = served.body.clone();
    let org = h.new_org("contract").await;
    let token = h.token(&org, Role::Owner).await;
    let mut checked = Vec::new();
    let mut check = |method: Method, path: &str, reply: &Reply| {
        checked.push(format!(
            "{method} {path} → {}",
            assert_keeps_contract(&document, &method, path, reply)
        ));
    };

    check(
        Method::GET,
        "/health",
        &h.call(Method::GET, "/health", None, None).await,
    );
    let login = h
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": org.user(Role::Owner).email, "password": h.password})),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    check(Method::POST, "/auth/login", &login);
    // The Owner's sign-in is challenged for a TOTP code: a wrong one, then the right one.
    let owner_email = org.user(Role::Owner).email.clone();
    let mfa = |code: String| json!({"email": owner_email, "session": login.body["session"], "code": code});
    let right: u32 = h.totp_code(&owner_email).parse().expect("digits");
    let wrong = h
        .call(
            Method::POST,
            "/auth/mfa",
            None,
            Some(mfa(format!("{:06}", (right + 500_000) % 1_000_000))),
        )
        .await;
    check(Method::POST, "/auth/mfa", &wrong);
    let login = h
        .call(Method::POST, "/auth/mfa", None, Some(mfa(h.totp_code(&owner_email))))
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    check(Method::POST, "/auth/mfa", &login);
    // An invited member's first sign-in: the new-password challenge, a weak answer, an unknown
    // session, and the answer that signs them in.
    let invited = h.new_org_invited("contractinv").await.user(Role::User).email.clone();
    let challenged = h
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": invited, "password": h.password})),
        )
        .await;
    assert_eq!(challenged.body["challenge"], "new-password", "{}", challenged.text);
    check(Method::POST, "/auth/login", &challenged);
    let answer =
        |session: &Value, password: &str| json!({"email": invited, "session": session, "newPassword": password});
    for (session, password, status) in [
        (&challenged.body["session"], "weak", StatusCode::BAD_REQUEST),
        (
            &json!("A".repeat(40)),
            "Chosen-Passw0rd-of-mine!",
            StatusCode::UNAUTHORIZED,
        ),
        (&challenged.body["session"], "Chosen-Passw0rd-of-mine!", StatusCode::OK),
    ] {
        let reply = h
            .call(
                Method::POST,
                "/auth/password/new",
                None,
                Some(answer(session, password)),
            )
            .await;
        assert_eq!(reply.status, status, "{}", reply.text);
        check(Method::POST, "/auth/password/new", &reply);
    }
    let forgot = h
        .call(
            Method::POST,
            "/auth/password/forgot",
            None,
            // The invited member, whom nothing below signs in: the reset changes their password.
            Some(json!({"email": invited})),
        )
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED, "{}", forgot.text);
    check(Method::POST, "/auth/password/forgot", &forgot);
    // Registration: accepted, a weak password, a wrong and a right code, a new code.
    let registrant = format!("contract-{}@example.test", uuid::Uuid::new_v4().simple());
    let from = quire_blackbox_tests::fresh_address();
    let register = |password: &str| json!({"organisationName": "Contract Labs", "email": registrant, "password": password, "displayName": "C"});
    for (password, status) in [
        ("weak", StatusCode::BAD_REQUEST),
        (h.password.as_str(), StatusCode::ACCEPTED),
    ] {
        let reply = h
            .call_from(from, Method::POST, "/auth/register", None, Some(register(password)))
            .await;
        assert_eq!(reply.status, status, "{}", reply.text);
        check(Method::POST, "/auth/register", &reply);
    }
    let confirmation = h.confirmation_code(&registrant).expect("a confirmation code");
    for (code, status) in [
        ("000000", StatusCode::BAD_REQUEST),
        (confirmation.as_str(), StatusCode::OK),
    ] {
        let code = if status == StatusCode::BAD_REQUEST && confirmation == "000000" {
            "000001"
        } else {
            code
        };
        let reply = h
            .call_from(
                from,
                Method::POST,
                "/auth/confirm",
                None,
                Some(json!({"email": registrant, "code": code, "password": h.password})),
            )
            .await;
        assert_eq!(reply.status, status, "{}", reply.text);
        check(Method::POST, "/auth/confirm", &reply);
    }
    let resent = h
        .call_from(
            from,
            Method::POST,
            "/auth/confirm/resend",
            None,
            Some(json!({"email": registrant})),
        )
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{}", resent.text);
    check(Method::POST, "/auth/confirm/resend", &resent);
    let code = h.reset_code(&invited).expect("a reset code in the mailbox");
    let reset = h
        .call(
            Method::POST,
            "/auth/password/reset",
            None,
            Some(json!({"email": invited, "code": code, "newPassword": "Contract-Reset-Passw0rd!"})),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    check(Method::POST, "/auth/password/reset", &reset);
    let refreshed = h
        .call(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": login.body["refreshToken"]})),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    check(Method::POST, "/auth/refresh", &refreshed);
    check(
        Method::GET,
        "/auth/me",
        &h.call(Method::GET, "/auth/me", Some(&token), None).await,
    );
    let admin = h.token(&org, Role::Admin).await;
    let change = |current: &str| json!({"currentPassword": current, "newPassword": "Quire-Changed-Passw0rd!"});
    check(
        Method::POST,
        "/auth/password/change",
        &h.call(
            Method::POST,
            "/auth/password/change",
            Some(&admin),
            Some(change("Wrong-Passw0rd!!")),
        )
        .await,
    );
    let changed = h
        .call(
            Method::POST,
            "/auth/password/change",
            Some(&admin),
            Some(change(&h.password)),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    check(Method::POST, "/auth/password/change", &changed);
    // The session-ending routes, each with a session of its own (a User's), and revocation of a
    // Viewer's by the Owner.
    let user = h.token(&org, Role::User).await;
    let signed_out = h.call(Method::POST, "/auth/logout", Some(&user), None).await;
    assert_eq!(signed_out.status, StatusCode::OK, "{}", signed_out.text);
    check(Method::POST, "/auth/logout", &signed_out);
    check(
        Method::POST,
        "/auth/logout",
        &h.call(Method::POST, "/auth/logout", Some(&user), None).await,
    );
    let user = h.token(&org, Role::User).await;
    let mine = h
        .call(Method::POST, "/auth/sessions/revoke-mine", Some(&user), None)
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    check(Method::POST, "/auth/sessions/revoke-mine", &mine);
    let revoked = h
        .call(
            Method::POST,
            "/auth/sessions/revoke",
            Some(&token),
            Some(json!({"userId": org.user(Role::Viewer).user_id.as_str()})),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    check(Method::POST, "/auth/sessions/revoke", &revoked);

    let long_body = "A step long enough to be kept as an audit blob.\n".repeat(40);
    let created = h
        .call(
            Method::POST,
            "/documents",
            Some(&token),
            Some(json!({"title": "Contract", "type": "sop", "body": long_body})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    check(Method::POST, "/documents", &created);
    let id = created.body["id"].as_str().expect("document id").to_owned();
    check(
        Method::GET,
        "/documents",
        &h.call(Method::GET, "/documents", Some(&token), None).await,
    );
    check(
        Method::GET,
        "/documents/{id}",
        &h.call(Method::GET, &format!("/documents/{id}"), Some(&token), None)
            .await,
    );
    let attach = |body: Value| {
        let (token, path) = (token.clone(), format!("/documents/{id}/attachments"));
        async move { h.call(Method::POST, &path, Some(&token), Some(body)).await }
    };
    let declared = attach(json!({"fileName": "Checklist.pdf", "contentType": "application/pdf", "size": 9})).await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", declared.text);
    check(Method::POST, "/documents/{id}/attachments", &declared);
    check(
        Method::POST,
        "/documents/{id}/attachments",
        &attach(json!({"fileName": "setup.exe", "contentType": "application/pdf", "size": 9})).await,
    );
    let attachment = declared.body["attachment"]["id"].as_str().unwrap().to_owned();
    check(
        Method::GET,
        "/attachments/{id}",
        &h.call(Method::GET, &format!("/attachments/{attachment}"), Some(&token), None)
            .await,
    );
    // Not uploaded yet: nothing to download.
    check(
        Method::GET,
        "/attachments/{id}/content",
        &h.call(
            Method::GET,
            &format!("/attachments/{attachment}/content"),
            Some(&token),
            None,
        )
        .await,
    );
    let edited = h
        .edit_document(
            &token,
            &id,
            // The declaration above moved the document to version 2.
            2,
            json!({"title": "Contract, edited", "reason": "contract"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    check(Method::PATCH, "/documents/{id}", &edited);
    let get = |path: String| {
        let token = token.clone();
        async move { h.call(Method::GET, &path, Some(&token), None).await }
    };
    check(
        Method::GET,
        "/documents/{id}/versions",
        &get(format!("/documents/{id}/versions")).await,
    );
    check(
        Method::GET,
        "/documents/{id}/versions/{v}/diff",
        &get(format!("/documents/{id}/versions/1/diff?against=1")).await,
    );
    let early = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions"),
            Some(&token),
            Some(json!({"reason": "contract"})),
        )
        .await;
    early.assert_problem(StatusCode::CONFLICT, "conflict");
    check(Method::POST, "/documents/{id}/versions", &early);
    let route = json!({
        "order": "parallel",
        "reviewers": [org.user(Role::User).user_id.to_string()],
        "approvers": [org.user(Role::Admin).user_id.to_string()],
    });
    let submitted = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/transitions"),
            Some(&token),
            Some(json!({"to": "in_review", "reason": "contract", "route": route})),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text);
    check(Method::POST, "/documents/{id}/versions/{v}/transitions", &submitted);
    // The User signs: the Admin's password was changed above.
    let signed = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&h.token(&org, Role::User).await),
            Some(json!({
                "meaning": "reviewed",
                "password": h.password,
                "contentSha256": submitted.body["contentSha256"],
            })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text);
    check(Method::POST, "/documents/{id}/versions/{v}/signatures", &signed);
    let sid = signed.body["id"].as_str().expect("signature id").to_owned();
    check(
        Method::GET,
        "/documents/{id}/versions/{v}",
        &get(format!("/documents/{id}/versions/1")).await,
    );
    check(
        Method::GET,
        "/documents/{id}/versions/{v}/signatures",
        &get(format!("/documents/{id}/versions/1/signatures")).await,
    );
    let reassigned = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/route/reassignments"),
            Some(&token),
            Some(json!({
                "from": org.user(Role::Admin).user_id.to_string(),
                "to": org.user(Role::Viewer).user_id.to_string(),
                "reason": "contract",
            })),
        )
        .await;
    reassigned.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    check(
        Method::POST,
        "/documents/{id}/versions/{v}/route/reassignments",
        &reassigned,
    );
    h.audit_settled(&org).await;
    let verdict = get(format!("/documents/{id}/versions/1/signatures/{sid}/verify")).await;
    assert_eq!(verdict.body["valid"], true, "{}", verdict.text);
    check(
        Method::GET,
        "/documents/{id}/versions/{v}/signatures/{sid}/verify",
        &verdict,
    );
    check(
        Method::GET,
        "/documents/{id}/history",
        &get(format!("/documents/{id}/history")).await,
    );
    for query in ["format=json", "format=docx"] {
        check(
            Method::GET,
            "/documents/{id}/export",
            &get(format!("/documents/{id}/export?{query}")).await,
        );
    }

    h.audit_settled(&org).await;
    let audit = h.call(Method::GET, "/audit", Some(&token), None).await;
    check(Method::GET, "/audit", &audit);
    check(
        Method::GET,
        "/audit/verify",
        &h.call(Method::GET, "/audit/verify", Some(&token), None).await,
    );
    let digest = audit.body["blobs"]
        .as_object()
        .and_then(|b| b.keys().next().cloned())
        .expect("the long body is a blob");
    check(
        Method::GET,
        "/audit/blobs/{sha256}",
        &h.call(Method::GET, &format!("/audit/blobs/{digest}"), Some(&token), None)
            .await,
    );
    for query in ["format=json", "format=xml"] {
        check(
            Method::GET,
            "/audit/export",
            &h.call(Method::GET, &format!("/audit/export?{query}"), Some(&token), None)
                .await,
        );
    }
    let job = h.call(Method::POST, "/audit/verifications", Some(&token), None).await;
    assert_eq!(job.status, StatusCode::ACCEPTED, "{}", job.text);
    check(Method::POST, "/audit/verifications", &job);
    let job_id = job.body["id"].as_str().expect("job id").to_owned();
    h.verification_done(&token, &job_id).await;
    check(
        Method::GET,
        "/audit/verifications/{id}",
        &h.call(
            Method::GET,
            &format!("/audit/verifications/{job_id}"),
            Some(&token),
            None,
        )
        .await,
    );
    check(
        Method::GET,
        "/audit/verifications",
        &h.call(Method::GET, "/audit/verifications", Some(&token), None).await,
    );

    // The organisation's settings: read, changed, a change that would lock its sender out.
    check(
        Method::GET,
        "/organisation",
        &h.call(Method::GET, "/organisation", Some(&token), None).await,
    );
    let settings = |version: &str, body: Value| {
        h.request(Method::PATCH, "/organisation")
            .bearer_auth(&token)
            .header("if-match", version)
            .json(&body)
    };
    let changed = h
        .raw(settings(
            "\"1\"",
            json!({"sessionIdleMinutes": 90, "ipAllowlist": ["127.0.0.0/8"], "reason": "contract"}),
        ))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    check(Method::PATCH, "/organisation", &changed);
    let lockout = h
        .raw(settings(
            "\"2\"",
            json!({"ipAllowlist": ["2001:db8::/32"], "reason": "contract"}),
        ))
        .await;
    lockout.assert_problem(StatusCode::CONFLICT, "lockout-not-confirmed");
    check(Method::PATCH, "/organisation", &lockout);
    let stale = h
        .raw(settings("\"1\"", json!({"name": "Stale", "reason": "contract"})))
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    check(Method::PATCH, "/organisation", &stale);

    // Problems: unauthenticated, forbidden, not found, stale.
    check(
        Method::GET,
        "/documents",
        &h.call(Method::GET, "/documents", None, None).await,
    );
    let viewer = h.token(&org, Role::Viewer).await;
    check(
        Method::POST,
        "/documents",
        &h.call(
            Method::POST,
            "/documents",
            Some(&viewer),
            Some(json!({"title": "x", "type": "sop", "body": "y"})),
        )
        .await,
    );
    check(
        Method::GET,
        "/documents/{id}",
        &h.call(
            Method::GET,
            "/documents/01900000-0000-7000-8000-000000000000",
            Some(&token),
            None,
        )
        .await,
    );
    check(
        Method::PATCH,
        "/documents/{id}",
        &h.edit_document(&token, &id, 1, json!({"title": "stale", "reason": "contract"}))
            .await,
    );

    // Enrolling an authenticator (a User's: the others have theirs).
    let user = h.token(&org, Role::User).await;
    let setup = h.call(Method::POST, "/auth/mfa/setup", Some(&user), None).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text);
    check(Method::POST, "/auth/mfa/setup", &setup);
    let secret = setup.body["secretCode"].as_str().expect("a secret").to_owned();
    check(
        Method::POST,
        "/auth/mfa/verify",
        &h.call(
            Method::POST,
            "/auth/mfa/verify",
            Some(&user),
            Some(json!({"code": "12345"})),
        )
        .await,
    );
    let enrolled = h
        .call(
            Method::POST,
            "/auth/mfa/verify",
            Some(&user),
            Some(json!({"code": quire_local::seed::totp_code(&secret).expect("code")})),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.text);
    check(Method::POST, "/auth/mfa/verify", &enrolled);
    h.remember_totp_secret(&org.user(Role::User).email, &secret);
    // Turning it off: a refused re-authentication, a role that must keep it, then the User's.
    let disable = |password: &str, code: String| json!({"password": password, "code": code});
    let code = || quire_local::seed::totp_code(&secret).expect("code");
    for (token, password, status) in [
        (&user, "Not-the-Passw0rd!", StatusCode::BAD_REQUEST),
        (&token, h.password.as_str(), StatusCode::FORBIDDEN),
        (&user, h.password.as_str(), StatusCode::OK),
        (&user, h.password.as_str(), StatusCode::CONFLICT),
    ] {
        let reply = h
            .call(
                Method::DELETE,
                "/auth/mfa",
                Some(token),
                Some(disable(password, code())),
            )
            .await;
        assert_eq!(reply.status, status, "{}", reply.text);
        check(Method::DELETE, "/auth/mfa", &reply);
    }

    // The permission matrix: read, a role adjusted, the Owner's fixed.
    check(
        Method::GET,
        "/organisation/roles",
        &h.call(Method::GET, "/organisation/roles", Some(&token), None).await,
    );
    let version = h
        .call(Method::GET, "/organisation", Some(&token), None)
        .await
        .header("etag")
        .expect("an ETag")
        .to_owned();
    let role = |name: &str, version: &str, body: Value| {
        h.request(Method::PUT, &format!("/organisation/roles/{name}"))
            .bearer_auth(&token)
            .header("if-match", version)
            .json(&body)
    };
    let adjusted = h
        .raw(role(
            "Viewer",
            &version,
            json!({"permissions": ["DocumentRead", "AuditRead"], "reason": "contract"}),
        ))
        .await;
    assert_eq!(adjusted.status, StatusCode::OK, "{}", adjusted.text);
    check(Method::PUT, "/organisation/roles/{role}", &adjusted);
    let current = adjusted.header("etag").expect("an ETag").to_owned();
    let fixed = h
        .raw(role(
            "Owner",
            &current,
            json!({"permissions": [], "reason": "contract"}),
        ))
        .await;
    fixed.assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    check(Method::PUT, "/organisation/roles/{role}", &fixed);

    // Members: listed, read, a role changed, the last Owner kept, deactivated, reactivated.
    check(
        Method::GET,
        "/members",
        &h.call(Method::GET, "/members?limit=2", Some(&token), None).await,
    );
    let viewer_id = org.user(Role::Viewer).user_id.to_string();
    check(
        Method::GET,
        "/members/{userId}",
        &h.call(Method::GET, &format!("/members/{viewer_id}"), Some(&token), None)
            .await,
    );
    let member_change = |path: String, method: Method, body: Value| {
        let token = token.clone();
        async move { h.call(method, &path, Some(&token), Some(body)).await }
    };
    let promoted = member_change(
        format!("/members/{viewer_id}"),
        Method::PATCH,
        json!({"role": "User", "reason": "contract"}),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    check(Method::PATCH, "/members/{userId}", &promoted);
    let owner_id = org.user(Role::Owner).user_id.to_string();
    let last = member_change(
        format!("/members/{owner_id}"),
        Method::PATCH,
        json!({"role": "Admin", "reason": "contract"}),
    )
    .await;
    last.assert_problem(StatusCode::CONFLICT, "last-owner");
    check(Method::PATCH, "/members/{userId}", &last);
    for change in ["deactivate", "reactivate"] {
        let reply = member_change(
            format!("/members/{viewer_id}/{change}"),
            Method::POST,
            json!({"reason": "contract"}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        check(Method::POST, &format!("/members/{{userId}}/{change}"), &reply);
    }

    // Invitations: made (and a bound refused), listed, used by a join, a wrong code, revoked.
    let made = h
        .call(
            Method::POST,
            "/invitations",
            Some(&token),
            Some(json!({"role": "User", "uses": 2, "expiresInHours": 1})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    check(Method::POST, "/invitations", &made);
    let too_many = h
        .call(
            Method::POST,
            "/invitations",
            Some(&token),
            Some(json!({"role": "User", "uses": 101, "expiresInHours": 1})),
        )
        .await;
    too_many.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    check(Method::POST, "/invitations", &too_many);
    check(
        Method::GET,
        "/invitations",
        &h.call(Method::GET, "/invitations?limit=1", Some(&token), None).await,
    );
    let code = made.body["code"].as_str().unwrap().to_owned();
    let joiner = format!("contract-join-{}@example.test", uuid::Uuid::new_v4().simple());
    let join = |code: String| {
        let body = json!({"code": code, "email": joiner, "password": h.password, "displayName": "J"});
        async move {
            h.call_from(
                quire_blackbox_tests::fresh_address(),
                Method::POST,
                "/auth/join",
                None,
                Some(body),
            )
            .await
        }
    };
    let joined = join(code.clone()).await;
    assert_eq!(joined.status, StatusCode::ACCEPTED, "{}", joined.text);
    check(Method::POST, "/auth/join", &joined);
    let wrong = join(format!(
        "{}{}",
        &code[..code.len() - 1],
        if code.ends_with('0') { '1' } else { '0' }
    ))
    .await;
    wrong.assert_problem(StatusCode::BAD_REQUEST, "invalid-join-code");
    check(Method::POST, "/auth/join", &wrong);
    let id = made.body["id"].as_str().unwrap();
    let revoked = h
        .call(Method::DELETE, &format!("/invitations/{id}"), Some(&token), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    check(Method::DELETE, "/invitations/{invitationId}", &revoked);

    // Impersonation (RBAC-5): started, read, a second start refused, ended.
    let user_id = org.user(Role::User).user_id.to_string();
    let impersonate = || {
        h.call(
            Method::POST,
            "/impersonation",
            Some(&token),
            Some(json!({"userId": user_id, "minutes": 5, "reason": "contract"})),
        )
    };
    let started = impersonate().await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    check(Method::POST, "/impersonation", &started);
    let twice = impersonate().await;
    twice.assert_problem(StatusCode::CONFLICT, "conflict");
    check(Method::POST, "/impersonation", &twice);
    check(
        Method::GET,
        "/impersonation",
        &h.call(Method::GET, "/impersonation", Some(&token), None).await,
    );
    let ended = h.call(Method::DELETE, "/impersonation", Some(&token), None).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    check(Method::DELETE, "/impersonation", &ended);

    // Break-glass (RBAC-6): opened by an operator, read, a bad length refused, closed.
    let operator = h.login(&h.new_operator(true).await).await;
    let glass = format!("/operator/organisations/{}/break-glass", org.org_id);
    let glass_path = "/operator/organisations/{orgId}/break-glass";
    let opened = h
        .call(
            Method::POST,
            &glass,
            Some(&operator),
            Some(json!({"minutes": 5, "reason": "contract"})),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    check(Method::POST, glass_path, &opened);
    let too_long = h
        .call(
            Method::POST,
            &glass,
            Some(&operator),
            Some(json!({"minutes": 61, "reason": "contract"})),
        )
        .await;
    too_long.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    check(Method::POST, glass_path, &too_long);
    check(
        Method::GET,
        glass_path,
        &h.call(Method::GET, &glass, Some(&operator), None).await,
    );
    let closed = h.call(Method::DELETE, &glass, Some(&operator), None).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    check(Method::DELETE, glass_path, &closed);

    // The organisation's identity provider (AUTHN-10): configured, and a bad one refused.
    let settings = h.call(Method::GET, "/organisation", Some(&token), None).await;
    let provider = |body: Value| {
        h.raw(
            h.request(Method::PUT, "/organisation/identity-provider")
                .bearer_auth(&token)
                .header("if-match", settings.header("etag").unwrap_or_default())
                .json(&body),
        )
    };
    let configured = provider(json!({
        "type": "SAML",
        "metadataUrl": "https://idp.example.test/metadata.xml",
        "reason": "contract",
    }))
    .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.text);
    check(Method::PUT, "/organisation/identity-provider", &configured);
    let bad = provider(json!({"type": "SAML", "metadataUrl": "http://idp.example.test/", "reason": "contract"})).await;
    bad.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    check(Method::PUT, "/organisation/identity-provider", &bad);

    // The platform's operators: an organisation's terms read, changed, a bad change refused.
    let operator = h.login(&h.new_operator(true).await).await;
    let terms = format!("/operator/organisations/{}", org.org_id);
    let read = h.call(Method::GET, &terms, Some(&operator), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    check(Method::GET, "/operator/organisations/{orgId}", &read);
    let patch = |body: Value| {
        h.raw(
            h.request(Method::PATCH, &terms)
                .bearer_auth(&operator)
                .header("if-match", read.header("etag").unwrap_or_default())
                .json(&body),
        )
    };
    let changed = patch(json!({"modules": ["Documents", "Audit"], "reason": "contract"})).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    check(Method::PATCH, "/operator/organisations/{orgId}", &changed);
    let refused = patch(json!({"status": "pending", "reason": "contract"})).await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    check(Method::PATCH, "/operator/organisations/{orgId}", &refused);

    // Every operation of the document was answered at least once above.
    let mut operations = std::collections::BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut answered: std::collections::BTreeSet<String> = checked
        .iter()
        .filter_map(|c| c.split(" → ").next())
        .map(str::to_owned)
        .collect();
    answered.insert("GET /openapi.json".to_owned());
    assert_eq!(answered, operations, "{checked:#?}");
}
