//! The documents API and the pipeline around it, over HTTP, as clients and attackers see it.

use quire_blackbox_tests::{harness, Reply};
use quire_core::rbac::Role;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("permissions-policy", "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()"),
    ("cache-control", "no-store"),
];

fn assert_security_headers(reply: &Reply) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(reply.header(name), Some(value), "{name} on a {} response", reply.status);
    }
    let correlation = reply
        .header("x-correlation-id")
        .expect("x-correlation-id on every response");
    assert!(correlation.len() >= 8);
}

fn assert_problem(reply: &Reply, status: StatusCode, slug: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.problem_type(),
        format!("urn:quire:problem:{slug}"),
        "{}",
        reply.text
    );
    assert_eq!(reply.body["status"], status.as_u16());
}

/// Proves: TEN-1
#[tokio::test]
async fn documents_round_trip() {
    let h = harness();
    let org = h.new_org("roundtrip").await;
    let token = h.token(&org, Role::User).await;
    let created = h.create_document(&token, "SOP-100 Line clearance").await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["status"], "draft");
    assert_eq!(created["version"], 1);

    let read = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&token), None)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created);
    assert_eq!(read.header("etag"), Some("\"1\""));

    let patched = h
        .edit_document(
            &token,
            id,
            1,
            json!({"title": "SOP-100 Line clearance v2", "reason": "Typo in scope"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.header("etag"), Some("\"2\""));
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.body["title"], "SOP-100 Line clearance v2");
    let draft = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&token), None)
        .await;
    assert_eq!(draft.status, StatusCode::OK, "{}", draft.text);
    assert_eq!(draft.body["title"], "SOP-100 Line clearance v2");
    assert_eq!(draft.body["body"], "Step 1.\nStep 2.");
    assert_eq!(draft.body["version"], 2);

    let listed = h.call(Method::GET, "/documents?limit=100", Some(&token), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed.body["items"].as_array().unwrap().iter().any(|d| d["id"] == id));
}

/// Proves: TEN-5
#[tokio::test]
async fn listing_pages_with_sealed_cursors() {
    let h = harness();
    let org = h.new_org("pages").await;
    let token = h.token(&org, Role::Owner).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            h.create_document(&token, &format!("Doc {n}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut path = "/documents?limit=2".to_owned();
    loop {
        let page = h.call(Method::GET, &path, Some(&token), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.body["items"].as_array().unwrap().len() <= 2);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next"].as_str() {
            Some(cursor) => path = format!("/documents?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, every document once");
}

/// A single-valued query parameter given twice is refused, whichever value comes first: a
/// listing never picks one of two answers silently.
///
/// Proves: HTTP-2
#[tokio::test]
async fn a_query_parameter_given_twice_is_400() {
    let h = harness();
    let owner = h.token(h.org("acme"), Role::Owner).await;
    for path in [
        "/documents?limit=1&limit=500",
        "/documents?limit=500&limit=1",
        "/documents?cursor=a&cursor=b",
        "/audit?limit=1&limit=2",
        "/audit/verifications?limit=2&limit=1",
    ] {
        let reply = h.call(Method::GET, path, Some(&owner), None).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(reply.text.contains("more than once"), "{path}: {}", reply.text);
    }
}

/// A page that ends exactly at the last item says there is no next page (DynamoDB names a last
/// key whenever it stops at the limit; that is not a next page).
#[tokio::test]
async fn a_page_that_ends_at_the_last_item_has_no_next() {
    let h = harness();
    let org = h.new_org("lastpage").await;
    let token = h.token(&org, Role::Owner).await;
    for n in 0..4 {
        h.create_document(&token, &format!("Doc {n}")).await;
    }
    let whole = h.call(Method::GET, "/documents?limit=4", Some(&token), None).await;
    assert_eq!(whole.body["items"].as_array().unwrap().len(), 4, "{}", whole.text);
    assert_eq!(whole.body["next"], serde_json::Value::Null, "{}", whole.text);
    let first = h.call(Method::GET, "/documents?limit=2", Some(&token), None).await;
    let cursor = first.body["next"].as_str().expect("a next page").to_owned();
    let second = h
        .call(
            Method::GET,
            &format!("/documents?limit=2&cursor={cursor}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 2, "{}", second.text);
    assert_eq!(second.body["next"], serde_json::Value::Null, "{}", second.text);
}

/// Proves: TEN-3, TEN-1
#[tokio::test]
async fn another_tenants_document_is_not_found_on_every_route() {
    let h = harness();
    let acme = h.token(h.org("acme"), Role::Owner).await;
    let globex = h.token(h.org("globex"), Role::Owner).await;
    let doc = h.create_document(&acme, "Acme secret recipe").await;
    let id = doc["id"].as_str().unwrap();
    let get = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&globex), None)
        .await;
    assert_problem(&get, StatusCode::NOT_FOUND, "not-found");
    let patch = h
        .edit_document(&globex, id, 1, json!({"title": "pwned", "reason": "x"}))
        .await;
    assert_problem(&patch, StatusCode::NOT_FOUND, "not-found");
    // Same answer as for an id that exists nowhere: no existence oracle.
    let unknown = h
        .call(
            Method::GET,
            "/documents/01900000-0000-7000-8000-000000000000",
            Some(&globex),
            None,
        )
        .await;
    assert_eq!(unknown.body, get.body);
    let list = h.call(Method::GET, "/documents?limit=100", Some(&globex), None).await;
    assert!(!list.text.contains(id));
    // Unchanged for its owner.
    let mine = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&acme), None)
        .await;
    assert_eq!(mine.body, doc);
}

/// Proves: TEN-1
#[tokio::test]
async fn an_org_id_sent_by_the_client_is_never_used() {
    let h = harness();
    let globex_org = h.org("globex").org_id.to_string();
    // An organisation of its own: the two listings below must not see other tests' creations.
    let org = h.new_org("spoof").await;
    let acme = h.token(&org, Role::Owner).await;
    h.create_document(&acme, "Own document").await;
    let body = json!({"title": "x", "type": "sop", "body": "y", "orgId": globex_org});
    let reply = h.call(Method::POST, "/documents", Some(&acme), Some(body)).await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-body");
    assert_eq!(reply.body["field"], "orgId");
    let spoofed = h
        .raw(
            h.request(Method::GET, "/documents")
                .bearer_auth(&acme)
                .header("x-org-id", &globex_org)
                .query(&[("limit", "100")]),
        )
        .await;
    assert_eq!(spoofed.status, StatusCode::OK);
    let own = h.call(Method::GET, "/documents?limit=100", Some(&acme), None).await;
    assert_eq!(own.body["items"].as_array().map(Vec::len), Some(1), "{}", own.text);
    assert_eq!(spoofed.body["items"], own.body["items"]);
}

/// Proves: TEN-5
#[tokio::test]
async fn forged_or_cross_tenant_cursors_are_400() {
    let h = harness();
    let org = h.new_org("cursor").await;
    let token = h.token(&org, Role::Owner).await;
    for n in 0..3 {
        h.create_document(&token, &format!("Doc {n}")).await;
    }
    let page = h.call(Method::GET, "/documents?limit=1", Some(&token), None).await;
    let cursor = page.body["next"].as_str().expect("a next cursor").to_owned();
    // Another tenant replays it.
    let globex = h.token(h.org("globex"), Role::Owner).await;
    let replayed = h
        .call(
            Method::GET,
            &format!("/documents?limit=1&cursor={cursor}"),
            Some(&globex),
            None,
        )
        .await;
    assert_problem(&replayed, StatusCode::BAD_REQUEST, "invalid-cursor");
    // A documents cursor on the audit listing.
    let elsewhere = h
        .call(
            Method::GET,
            &format!("/audit?limit=1&cursor={cursor}"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&elsewhere, StatusCode::BAD_REQUEST, "invalid-cursor");
    // Forged: a plain LastEvaluatedKey, and a flipped byte.
    let (pk, sk) = quire_store::testing::document(&h.org("acme").org_id, "x");
    let forged = base64_url(&json!({"pk": pk, "sk": sk}).to_string());
    for bad in [forged, flip(&cursor), "AAAA".to_owned()] {
        let reply = h
            .call(Method::GET, &format!("/documents?cursor={bad}"), Some(&token), None)
            .await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-cursor");
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn flip(cursor: &str) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Proves: RBAC-3
#[tokio::test]
async fn viewer_cannot_write() {
    let h = harness();
    let acme = h.new_org("viewer").await;
    let viewer = h.token(&acme, Role::Viewer).await;
    let user = h.token(&acme, Role::User).await;
    let doc = h.create_document(&user, "Viewer target").await;
    let create = h
        .call(
            Method::POST,
            "/documents",
            Some(&viewer),
            Some(json!({"title": "x", "type": "sop", "body": "y"})),
        )
        .await;
    assert_problem(&create, StatusCode::FORBIDDEN, "forbidden");
    let patch = h
        .call(
            Method::PATCH,
            &format!("/documents/{}", doc["id"].as_str().unwrap()),
            Some(&viewer),
            Some(json!({"title": "x", "reason": "y"})),
        )
        .await;
    assert_problem(&patch, StatusCode::FORBIDDEN, "forbidden");
    let read = h
        .call(
            Method::GET,
            &format!("/documents/{}", doc["id"].as_str().unwrap()),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(read.body, doc, "the refused write changed nothing");
    // Audit trail is for Owners and Admins.
    let audit = h.call(Method::GET, "/audit", Some(&user), None).await;
    assert_problem(&audit, StatusCode::FORBIDDEN, "forbidden");
}

/// Proves: RBAC-4, TEN-6
#[tokio::test]
async fn role_and_membership_changes_apply_on_the_next_request() {
    let h = harness();
    let org = h.new_org("roles").await;
    let token = h.token(&org, Role::User).await;
    h.create_document(&token, "Before demotion").await;
    let member = quire_store::testing::member(&org.org_id, &org.user(Role::User).user_id);
    let set = |name: &'static str, value: &'static str| h.tamper(member.clone(), name, value);
    set("role", "Viewer").await;
    let demoted = h
        .call(
            Method::POST,
            "/documents",
            Some(&token),
            Some(json!({"title": "x", "type": "sop", "body": "y"})),
        )
        .await;
    assert_problem(&demoted, StatusCode::FORBIDDEN, "forbidden");
    set("status", "Suspended").await;
    let suspended = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_problem(&suspended, StatusCode::FORBIDDEN, "no-membership");
    // The rest of the organisation works until the organisation itself is closed.
    let owner = h.token(&org, Role::Owner).await;
    assert_eq!(
        h.call(Method::GET, "/documents", Some(&owner), None).await.status,
        StatusCode::OK
    );
    h.tamper(quire_store::testing::organisation(&org.org_id), "status", "Closed")
        .await;
    let closed = h.call(Method::GET, "/documents", Some(&owner), None).await;
    assert_problem(&closed, StatusCode::FORBIDDEN, "no-membership");
}

/// Proves: HTTP-1, HTTP-3, HTTP-4
#[tokio::test]
async fn security_headers_on_success_client_error_and_server_error() {
    let h = harness();
    let ok = h.call(Method::GET, "/health", None, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_security_headers(&ok);
    for reply in [
        h.call(Method::GET, "/documents", None, None).await,
        h.call(Method::GET, "/nowhere", None, None).await,
        h.call(Method::DELETE, "/health", None, None).await,
    ] {
        assert!(reply.status.is_client_error());
        assert_security_headers(&reply);
    }
    // A stored record that no longer parses makes the handler fail: 500, headers, nothing leaked.
    let org = h.new_org("broken").await;
    let token = h.token(&org, Role::Owner).await;
    let doc = h.create_document(&token, "To be corrupted").await;
    let id = doc["id"].as_str().unwrap();
    h.tamper(
        quire_store::testing::document(&org.org_id, id),
        "version",
        "not a number",
    )
    .await;
    let failed = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&token), None)
        .await;
    assert_problem(&failed, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert_security_headers(&failed);
    for leak in [
        quire_store::testing::TENANT_KEY_PREFIX,
        "version",
        "invalid type",
        "dynamo",
        "serde",
        &h.data_table,
        org.org_id.as_str(),
    ] {
        assert!(!failed.text.contains(leak), "500 leaks {leak:?}: {}", failed.text);
    }
}

/// Proves: HTTP-3
#[tokio::test]
async fn a_plain_correlation_id_is_echoed_and_a_hostile_one_replaced() {
    let h = harness();
    let kept = h
        .raw(
            h.request(Method::GET, "/health")
                .header("x-correlation-id", "client-trace-0001"),
        )
        .await;
    assert_eq!(kept.header("x-correlation-id"), Some("client-trace-0001"));
    let replaced = h
        .raw(
            h.request(Method::GET, "/health")
                .header("x-correlation-id", "evil\"}{injected"),
        )
        .await;
    assert_ne!(replaced.header("x-correlation-id"), Some("evil\"}{injected"));
}

/// Proves: HTTP-2
#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let h = harness();
    let org = h.new_org("input").await;
    let token = h.token(&org, Role::Owner).await;
    let post = |body: String, content_type: &'static str| {
        h.raw(
            h.request(Method::POST, "/documents")
                .bearer_auth(&token)
                .header(CONTENT_TYPE, content_type)
                .body(body),
        )
    };

    let too_big = post(
        format!(r#"{{"title":"x","type":"sop","body":"{}"}}"#, "a".repeat(170 * 1024)),
        "application/json",
    )
    .await;
    assert_problem(&too_big, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let wrong_type = post(r#"{"title":"x","type":"sop","body":"y"}"#.into(), "text/plain").await;
    assert_problem(
        &wrong_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    );
    let malformed = post(r#"{"title":"x","#.into(), "application/json").await;
    assert_problem(&malformed, StatusCode::BAD_REQUEST, "invalid-body");
    let unknown = post(
        r#"{"title":"x","type":"sop","body":"y","status":"approved"}"#.into(),
        "application/json",
    )
    .await;
    assert_problem(&unknown, StatusCode::BAD_REQUEST, "invalid-body");
    assert_eq!(unknown.body["field"], "status");
    let missing = post(r#"{"title":"x","type":"sop"}"#.into(), "application/json").await;
    assert_eq!(missing.body["field"], "body");
    let bad_title = post(r#"{"title":"","type":"sop","body":"y"}"#.into(), "application/json").await;
    assert_problem(&bad_title, StatusCode::BAD_REQUEST, "invalid-body");
    assert_eq!(bad_title.body["field"], "title");
    let bad_kind = post(r#"{"title":"x","type":"memo","body":"y"}"#.into(), "application/json").await;
    assert_problem(&bad_kind, StatusCode::BAD_REQUEST, "invalid-body");
    let control = post(
        r#"{"title":"x\u0000","type":"sop","body":"y"}"#.into(),
        "application/json",
    )
    .await;
    assert_problem(&control, StatusCode::BAD_REQUEST, "control-characters");
    let bidi = post(
        r#"{"title":"x","type":"sop","body":"\u202e gnp.exe"}"#.into(),
        "application/json",
    )
    .await;
    assert_problem(&bidi, StatusCode::BAD_REQUEST, "control-characters");
    // Every body is an object: an array is not read by position, and no other JSON value
    // gets an answer that names a Rust type.
    for not_an_object in [r#"["x","sop","y"]"#, "null", r#""x""#, "42", r#" [{"title":"x"}]"#] {
        let refused = post(not_an_object.into(), "application/json").await;
        assert_problem(&refused, StatusCode::BAD_REQUEST, "invalid-body");
        assert!(refused.text.contains("must be a JSON object"), "{}", refused.text);
        assert!(!refused.text.contains("struct"), "{}", refused.text);
    }
    let login = h
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(serde_json::json!([org.user(Role::User).email, h.password])),
        )
        .await;
    assert_problem(&login, StatusCode::BAD_REQUEST, "invalid-body");
    let body_on_get = h
        .raw(
            h.request(Method::GET, "/documents")
                .bearer_auth(&token)
                .header(CONTENT_TYPE, "application/json")
                .body("{}"),
        )
        .await;
    assert_problem(&body_on_get, StatusCode::BAD_REQUEST, "invalid-body");
    let bad_limit = h.call(Method::GET, "/documents?limit=1000", Some(&token), None).await;
    assert_problem(&bad_limit, StatusCode::BAD_REQUEST, "invalid-parameter");
    let unknown_param = h.call(Method::GET, "/documents?orgId=x", Some(&token), None).await;
    assert_problem(&unknown_param, StatusCode::BAD_REQUEST, "invalid-parameter");
    let scanner = h
        .raw(h.request(Method::GET, "/health").header("user-agent", "sqlmap/1.7"))
        .await;
    assert_problem(&scanner, StatusCode::FORBIDDEN, "request-refused");
    let encoded_control = h.call(Method::GET, "/documents/abc%0d%0aX", Some(&token), None).await;
    assert_problem(&encoded_control, StatusCode::BAD_REQUEST, "control-characters");

    // Edits: reason required, drafts only.
    let doc = h.create_document(&token, "Edit me").await;
    let id = doc["id"].as_str().unwrap();
    let no_reason = h.edit_document(&token, id, 1, json!({"title": "New"})).await;
    assert_problem(&no_reason, StatusCode::BAD_REQUEST, "invalid-body");
    assert_eq!(no_reason.body["field"], "reason");

    // Nothing above changed anything: one document, and the trail holds only seeding and that create.
    let list = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0], doc);
    h.audit_settled(&org).await;
    let trail = h.audit_entries(&token).await;
    let actions: Vec<&str> = trail.iter().map(|e| e["event"]["action"].as_str().unwrap()).collect();
    let documents: Vec<&&str> = actions.iter().filter(|a| a.starts_with("document.")).collect();
    assert_eq!(
        documents,
        [&"document.created", &"document.version.created"],
        "{actions:?}"
    );
}

/// Proves: DOC-2
#[tokio::test]
async fn only_drafts_can_be_edited() {
    let h = harness();
    let org = h.new_org("drafts").await;
    let token = h.token(&org, Role::Owner).await;
    let doc = h.create_document(&token, "Approved one").await;
    let id = doc["id"].as_str().unwrap();
    h.tamper(
        quire_store::testing::document_version(&org.org_id, id, 1),
        "status",
        "approved",
    )
    .await;
    let patch = h
        .edit_document(&token, id, 1, json!({"body": "changed", "reason": "late change"}))
        .await;
    assert_problem(&patch, StatusCode::CONFLICT, "conflict");
    let read = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&token), None)
        .await;
    assert_eq!(read.body["body"], "Step 1.\nStep 2.");
    assert_eq!(read.body["status"], "approved");
}

/// Proves: AUTHN-9
#[tokio::test]
async fn login_does_not_tell_unknown_accounts_from_wrong_passwords() {
    let h = harness();
    let wrong = h
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": "owner@acme.test", "password": "Wrong-Passw0rd!"})),
        )
        .await;
    let unknown = h
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": "nobody@acme.test", "password": "Wrong-Passw0rd!"})),
        )
        .await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "invalid-credentials");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.status, unknown.status);
}

/// A crafted `Host` or `X-Forwarded-Proto` cannot redirect a request to another route: a PATCH
/// of one document edits that document, whatever the headers name. Tried through the edge
/// (which forwards neither) and at the origin as if the edge had forwarded them.
///
/// Proves: HTTP-2
#[tokio::test]
async fn a_host_or_forwarded_header_cannot_change_which_route_runs() {
    let h = harness();
    let org = h.new_org("host").await;
    let token = h.token(&org, Role::Owner).await;
    let target = h.create_document(&token, "Target").await;
    let other = h.create_document(&token, "Other").await;
    let (target_id, other_id) = (target["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    let crafted = [
        (format!("localhost/documents/{other_id}?x="), "https".to_owned()),
        (
            "localhost".to_owned(),
            format!("http://localhost/documents/{other_id}?"),
        ),
    ];
    let through_edge = (h.api.as_str(), String::new());
    let at_origin = (
        h.origin.as_str(),
        format!(
            "\r\nX-Quire-Origin-Verify: {}\r\nCloudFront-Viewer-Address: 198.51.100.7:443",
            h.origin_secret
        ),
    );
    let mut version = 0;
    for (base, proof) in [through_edge, at_origin] {
        for (host, proto) in &crafted {
            version += 1;
            let title = format!("Edited {version}");
            let body = json!({"title": title, "reason": "header test"}).to_string();
            let head = format!(
                "PATCH /documents/{target_id} HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-Proto: {proto}\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\nIf-Match: \"{version}\"{proof}"
            );
            let what = format!("{base}: Host {host:?}, X-Forwarded-Proto {proto:?}");
            let reply = h
                .raw_http_to(base, head.as_bytes(), body.as_bytes())
                .await
                .unwrap_or_else(|| panic!("no answer for {what}"));
            assert_eq!(reply.status, 200, "{what}: {}", reply.body);
            let read = h
                .call(Method::GET, &format!("/documents/{target_id}"), Some(&token), None)
                .await;
            assert_eq!(read.body["title"], title.as_str(), "{what}");
        }
    }
    let untouched = h
        .call(Method::GET, &format!("/documents/{other_id}"), Some(&token), None)
        .await;
    assert_eq!(untouched.body, other, "the other document was edited");
}

/// Hostile values of every header the gateway adapter, the edge or the pipeline reads get an
/// answer with the security headers: never a dropped connection, never a 5xx. Sent through the
/// edge, to the origin as the edge would forward them (with its secret), and to the origin
/// without the secret.
///
/// Proves: HTTP-1, HTTP-2
#[tokio::test]
async fn no_header_value_drops_the_connection_or_fails_the_function() {
    let h = harness();
    let token = h.token(h.org("globex"), Role::Viewer).await;
    let values: [&[u8]; 13] = [
        b"a, b",
        b"a b",
        b"x#fragment",
        b"",
        b"localhost/health?",
        b"https://evil.example/path",
        b"user:pw@evil.example",
        b"evil.example:99999",
        b"[::1",
        b"%00%0a",
        "\u{202e}é".as_bytes(),
        b"\xff\xfe",
        b"Bearer",
    ];
    let headers = [
        "Host",
        "X-Forwarded-Proto",
        "X-Forwarded-For",
        "X-Forwarded-Port",
        "Forwarded",
        "Authorization",
        "Content-Type",
        "User-Agent",
        "X-Correlation-Id",
        "Cookie",
        "CloudFront-Viewer-Address",
        "X-Quire-Origin-Verify",
        "If-Match",
        "Idempotency-Key",
    ];
    // What the edge adds, as (name, value): sent to the origin unless the header under test is it.
    let proof = [
        ("X-Quire-Origin-Verify", h.origin_secret.as_str()),
        ("CloudFront-Viewer-Address", "198.51.100.7:443"),
    ];
    let targets: [(&str, &[(&str, &str)]); 3] = [
        (h.api.as_str(), &[]),
        (h.origin.as_str(), &proof),
        (h.origin.as_str(), &[]),
    ];
    for (base, proof) in targets {
        for path in ["/health", "/documents?limit=1"] {
            for name in headers {
                for value in values {
                    let mut head = format!("GET {path} HTTP/1.1\r\n").into_bytes();
                    if name != "Host" {
                        head.extend_from_slice(b"Host: localhost\r\n");
                    }
                    if name != "Authorization" {
                        head.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
                    }
                    for (added, value) in proof.iter().filter(|(added, _)| *added != name) {
                        head.extend_from_slice(format!("{added}: {value}\r\n").as_bytes());
                    }
                    head.extend_from_slice(name.as_bytes());
                    head.extend_from_slice(b": ");
                    head.extend_from_slice(value);
                    let what = format!(
                        "{base} {} {path} {name}: {:?}",
                        if proof.is_empty() {
                            "without the secret"
                        } else {
                            "with the secret"
                        },
                        String::from_utf8_lossy(value)
                    );
                    let reply = h
                        .raw_http_to(base, &head, b"")
                        .await
                        .unwrap_or_else(|| panic!("{what}: the connection closed without an answer"));
                    assert!(reply.status < 500, "{what}: {} {}", reply.status, reply.body);
                    // At the origin, the hostile value in place of the edge's proof, or no proof:
                    // 403 edge-required, or 400 for an event or viewer address unreadable.
                    let proof_replaced = name == "X-Quire-Origin-Verify" || name == "CloudFront-Viewer-Address";
                    if base == h.origin && (proof.is_empty() || proof_replaced) {
                        assert!(
                            matches!(reply.status, 400 | 403),
                            "{what}: served without the edge's proof: {}",
                            reply.status
                        );
                    }
                    for (header, expected) in SECURITY_HEADERS {
                        assert_eq!(reply.header(header), Some(expected), "{what}: {header}");
                    }
                    if reply.status >= 400 {
                        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{what}");
                    }
                }
            }
        }
    }
}

/// API Gateway's `execute-api` address is no way around the edge: without CloudFront's
/// secret, or with a wrong or repeated one, a valid token gets a 403 problem and the request
/// changes nothing.
///
/// Proves: HTTP-1, HTTP-8
#[tokio::test]
async fn a_request_that_skips_the_edge_is_refused_and_changes_nothing() {
    let h = harness();
    let org = h.new_org("skip").await;
    let token = h.token(&org, Role::Owner).await;
    let body = json!({"title": "Skipped the edge", "type": "sop", "body": "x"}).to_string();
    let secret = &h.origin_secret;
    for proof in [
        String::new(),
        "\r\nX-Quire-Origin-Verify: not-the-secret".to_owned(),
        format!("\r\nX-Quire-Origin-Verify: {}", &secret[..secret.len() - 1]),
        format!("\r\nX-Quire-Origin-Verify: {secret}\r\nX-Quire-Origin-Verify: {secret}"),
    ] {
        let head = format!(
            "POST /documents HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json{proof}"
        );
        let reply = h
            .raw_http_to(&h.origin, head.as_bytes(), body.as_bytes())
            .await
            .expect("an answer");
        assert_eq!(reply.status, 403, "{proof:?}: {}", reply.body);
        assert!(reply.body.contains("urn:quire:problem:edge-required"), "{}", reply.body);
        assert!(!reply.body.contains(secret.as_str()), "the answer names the secret");
        for (header, expected) in SECURITY_HEADERS {
            assert_eq!(reply.header(header), Some(expected), "{header}");
        }
    }
    let listed = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_eq!(listed.body["items"], json!([]), "a refused request wrote a document");
}

/// The IP address an audit entry records is the viewer's as the edge saw it, not CloudFront's
/// (API Gateway's `sourceIp`, 192.0.2.80 locally): a client's own `CloudFront-Viewer-Address`
/// or `X-Forwarded-For` cannot choose it.
///
/// Proves: AUD-3, HTTP-8
#[tokio::test]
async fn the_audit_trail_records_the_viewer_not_what_a_header_claims() {
    let h = harness();
    let org = h.new_org("viewer").await;
    let token = h.token(&org, Role::Owner).await;
    let body = json!({"title": "Where from", "type": "sop", "body": "x"}).to_string();
    let head = format!(
        "POST /documents HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nCloudFront-Viewer-Address: 203.0.113.9:4444\r\n\
         X-Forwarded-For: 203.0.113.9"
    );
    let reply = h.raw_http(head.as_bytes(), body.as_bytes()).await.expect("an answer");
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&token).await;
    let entry = entries
        .iter()
        .find(|e| e["event"]["target"]["id"] == created["id"])
        .expect("the creation's entry");
    assert_eq!(entry["event"]["origin"]["ip"], "127.0.0.1", "{entry}");
}

/// The gateway's own answers (a body over Lambda's 6 MB payload) reach the client with the
/// security headers, which the edge adds; API Gateway alone sends them bare.
///
/// Proves: HTTP-1
#[tokio::test]
async fn the_gateways_own_answers_carry_the_security_headers_through_the_edge() {
    let h = harness();
    let body = vec![b'a'; 6 * 1000 * 1000 + 1];
    let head = b"POST /documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json";
    let edge = h.raw_http(head, &body).await.expect("an answer through the edge");
    assert_eq!(edge.status, 413, "{}", edge.body);
    for (header, expected) in SECURITY_HEADERS {
        assert_eq!(edge.header(header), Some(expected), "{header}");
    }
    let origin = h
        .raw_http_to(&h.origin, head, &body)
        .await
        .expect("an answer from the origin");
    assert_eq!(origin.status, 413, "{}", origin.body);
    assert_eq!(
        origin.header("content-security-policy"),
        None,
        "the origin alone adds none"
    );
}

/// A membership record that no longer parses is our failure, not an outage: 500 without
/// `Retry-After`, nothing of the record in the answer.
///
/// Proves: HTTP-4, TEN-1
#[tokio::test]
async fn a_corrupt_membership_record_is_a_500_not_a_503() {
    let h = harness();
    let org = h.new_org("corrupt").await;
    let token = h.token(&org, Role::User).await;
    let member = quire_store::testing::member(&org.org_id, &org.user(Role::User).user_id);
    h.tamper(member, "status", "NoSuchStatus").await;
    let reply = h.call(Method::GET, "/documents", Some(&token), None).await;
    assert_problem(&reply, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert_eq!(reply.header("retry-after"), None);
    assert_security_headers(&reply);
    assert!(!reply.text.contains("NoSuchStatus"), "{}", reply.text);
}

/// A declared path with a method it does not have (`HEAD` included) is 405 with `Allow`
/// (RFC 9110 §15.5.6), before authentication; `/` and paths with empty segments get the
/// catch-all's problem+json 404.
///
/// Proves: HTTP-1, HTTP-2
#[tokio::test]
async fn methods_and_odd_paths_get_proper_answers() {
    let h = harness();
    for (method, path, allow) in [
        (Method::DELETE, "/documents", "GET, POST"),
        (
            Method::PUT,
            "/documents/01900000-0000-7000-8000-000000000000",
            "GET, PATCH",
        ),
        (Method::POST, "/health", "GET"),
        (Method::GET, "/auth/login", "POST"),
        (Method::OPTIONS, "/audit/verifications", "GET, POST"),
    ] {
        let reply = h.call(method.clone(), path, None, None).await;
        assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
        assert_security_headers(&reply);
    }
    // A HEAD answer has no body to read: status and Allow.
    let head = h.raw(h.request(Method::HEAD, "/health")).await;
    assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(head.header("allow"), Some("GET"));
    assert_security_headers(&head);
    for (method, path) in [
        (Method::GET, "/"),
        (Method::POST, "/"),
        (Method::GET, "//documents"),
        (Method::GET, "//"),
        (Method::GET, "/documents//x"),
        // Decoded by the gateway (`/health?`, `/documents/`), they stay paths.
        (Method::GET, "/health%3F"),
        (Method::GET, "/documents%2F"),
    ] {
        let reply = h.call(method.clone(), path, None, None).await;
        assert_problem(&reply, StatusCode::NOT_FOUND, "not-found");
        assert_security_headers(&reply);
    }
}

/// An edit names the version it was made against: without `If-Match` it is 428, against a
/// version that is no longer current 412, and neither changes the document or the trail.
///
/// Proves: HTTP-5, AUD-1
#[tokio::test]
async fn a_stale_edit_cannot_overwrite_a_newer_one() {
    let h = harness();
    let org = h.new_org("etag").await;
    let token = h.token(&org, Role::Owner).await;
    let doc = h.create_document(&token, "Versioned").await;
    let id = doc["id"].as_str().unwrap();
    let path = format!("/documents/{id}");
    let first = h
        .edit_document(&token, id, 1, json!({"title": "First edit", "reason": "r1"}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let stale = h
        .edit_document(&token, id, 1, json!({"title": "Stale edit", "reason": "r2"}))
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "precondition-failed");
    let without = h
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"title": "Blind edit", "reason": "r3"})),
        )
        .await;
    assert_problem(&without, StatusCode::PRECONDITION_REQUIRED, "precondition-required");
    for (value, status, slug) in [
        ("*", StatusCode::PRECONDITION_REQUIRED, "precondition-required"),
        ("W/\"2\"", StatusCode::PRECONDITION_FAILED, "precondition-failed"),
        ("2", StatusCode::BAD_REQUEST, "bad-request"),
    ] {
        let reply = h
            .raw(
                h.request(Method::PATCH, &path)
                    .bearer_auth(&token)
                    .header("if-match", value)
                    .json(&json!({"title": "Other edit", "reason": "r4"})),
            )
            .await;
        assert_problem(&reply, status, slug);
    }
    let read = h.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(read.body["title"], "First edit");
    assert_eq!(read.header("etag"), Some("\"2\""));
    let listed = h
        .raw(
            h.request(Method::PATCH, &path)
                .bearer_auth(&token)
                .header("if-match", "\"7\", \"2\"")
                .json(&json!({"title": "Second edit", "reason": "r5"})),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.header("etag"), Some("\"3\""));
    h.audit_settled(&org).await;
    let updates = h
        .audit_entries(&token)
        .await
        .into_iter()
        .filter(|e| e["event"]["target"]["id"] == id && e["event"]["action"] == "document.updated")
        .count();
    assert_eq!(updates, 2, "only the two accepted edits are recorded");
}

/// Eight editors race with the same `If-Match`: exactly one edit lands, the others are told
/// the document moved; one entry in the trail.
///
/// Proves: HTTP-5, AUD-1
#[tokio::test]
async fn racing_edits_of_one_version_let_exactly_one_through() {
    let h = harness();
    let org = h.new_org("race").await;
    let token = h.token(&org, Role::Owner).await;
    let doc = h.create_document(&token, "Contended").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let edits = (0..8).map(|n| {
        let (token, id, barrier) = (token.clone(), id.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            harness()
                .edit_document(
                    &token,
                    &id,
                    1,
                    json!({"title": format!("Editor {n}"), "reason": "race"}),
                )
                .await
        })
    });
    let replies: Vec<_> = futures::future::join_all(edits)
        .await
        .into_iter()
        .map(|r| r.expect("edit task"))
        .collect();
    let won: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for lost in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_problem(lost, StatusCode::PRECONDITION_FAILED, "precondition-failed");
    }
    let read = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&token), None)
        .await;
    assert_eq!(read.body["version"], 2);
    assert_eq!(read.body["title"], won[0].body["title"]);
    h.audit_settled(&org).await;
    let updates = h
        .audit_entries(&token)
        .await
        .into_iter()
        .filter(|e| e["event"]["target"]["id"] == id.as_str() && e["event"]["action"] == "document.updated")
        .count();
    assert_eq!(updates, 1);
}

/// A create repeated with its `Idempotency-Key` is made once: the same key and body get the
/// same answer and one document with one entry, in sequence and racing; the key with another
/// body is 422; another user's identical key is another key; a malformed key is 400; the key
/// is kept 24 hours, and once expired it can be used again.
///
/// Proves: HTTP-6, AUD-1
#[tokio::test]
async fn a_create_repeated_with_its_idempotency_key_is_made_once() {
    let h = harness();
    let org = h.new_org("idem").await;
    let token = h.token(&org, Role::Owner).await;
    let post = |key: &str, title: &str| {
        h.raw(
            h.request(Method::POST, "/documents")
                .bearer_auth(&token)
                .header("idempotency-key", key)
                .json(&json!({"title": title, "type": "sop", "body": "Step 1"})),
        )
    };
    let first = post("order-0001", "Made once").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = post("order-0001", "Made once").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    // Edited since: a repeat still gets the first answer, not the document as it is now.
    let id = first.body["id"].as_str().unwrap();
    let edited = h
        .edit_document(&token, id, 1, json!({"title": "Edited since", "reason": "r"}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let after_edit = post("order-0001", "Made once").await;
    assert_eq!(after_edit.status, StatusCode::CREATED, "{}", after_edit.text);
    assert_eq!(after_edit.body, first.body);
    assert_eq!(after_edit.header("etag"), Some("\"1\""));
    let other_body = post("order-0001", "Something else").await;
    assert_problem(&other_body, StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    // Two keys in one request (API Gateway joins them with a comma) are refused.
    let two = h
        .raw(
            h.request(Method::POST, "/documents")
                .bearer_auth(&token)
                .header("idempotency-key", "key-a")
                .header("idempotency-key", "key-b")
                .json(&json!({"title": "Two keys", "type": "sop", "body": "Step 1"})),
        )
        .await;
    assert_problem(&two, StatusCode::BAD_REQUEST, "bad-request");
    // A route that would ignore the key refuses it.
    let ignored = h
        .raw(
            h.request(Method::POST, "/audit/verifications")
                .bearer_auth(&token)
                .header("idempotency-key", "verify-0001"),
        )
        .await;
    assert_problem(&ignored, StatusCode::BAD_REQUEST, "bad-request");
    for malformed in ["", "with space", &"k".repeat(256)] {
        let reply = post(malformed, "Malformed").await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "bad-request");
    }
    // Racing: eight identical requests with a fresh key make one document.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let racers = (0..8).map(|_| {
        let (token, barrier) = (token.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let h = harness();
            h.raw(
                h.request(Method::POST, "/documents")
                    .bearer_auth(&token)
                    .header("idempotency-key", "\"race-0001\"")
                    .json(&json!({"title": "Raced", "type": "sop", "body": "Step 1"})),
            )
            .await
        })
    });
    let replies: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.expect("create task"))
        .collect();
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(reply.body["id"], replies[0].body["id"]);
    }
    // Another user's identical key is theirs.
    let admin = h.token(&org, Role::Admin).await;
    let theirs = h
        .raw(
            h.request(Method::POST, "/documents")
                .bearer_auth(&admin)
                .header("idempotency-key", "order-0001")
                .json(&json!({"title": "Made once", "type": "sop", "body": "Step 1"})),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text);
    assert_ne!(theirs.body["id"], first.body["id"]);
    // Kept 24 hours; once expired, the key is free again.
    let (pk, sk) = quire_store::testing::idempotency(&org.org_id, &org.user(Role::Owner).user_id, "order-0001");
    let ddb = h.dynamodb();
    let stored = ddb
        .get_item()
        .table_name(&h.data_table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.clone()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.clone()))
        .send()
        .await
        .expect("read the remembered key")
        .item
        .expect("the key is remembered");
    let expires: u64 = stored["expiresAt"].as_n().expect("expiresAt").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 86_400 - 120..=now + 86_400 + 5).contains(&expires),
        "expiresAt {expires}, now {now}"
    );
    ddb.update_item()
        .table_name(&h.data_table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .update_expression("SET expiresAt = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N((now - 1).to_string()),
        )
        .send()
        .await
        .expect("expire the key");
    let reused = post("order-0001", "Something else").await;
    assert_eq!(reused.status, StatusCode::CREATED, "{}", reused.text);
    assert_ne!(reused.body["id"], first.body["id"]);
    // One document and one entry per accepted create: first, raced, theirs, reused.
    h.audit_settled(&org).await;
    let created: Vec<String> = h
        .audit_entries(&token)
        .await
        .into_iter()
        .filter(|e| e["event"]["action"] == "document.created")
        .map(|e| e["event"]["target"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut expected: Vec<String> = [&first, &replies[0], &theirs, &reused]
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    let mut found = created.clone();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "one entry per document made");
    let listed = h.call(Method::GET, "/documents?limit=100", Some(&token), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 4, "{}", listed.text);
}

/// The contract served is the committed one, which a test checks against the route tables and
/// template.yaml (`guardrail`): public, JSON, with the security headers.
///
/// Proves: HTTP-1
#[tokio::test]
async fn the_api_serves_its_openapi_document() {
    let h = harness();
    let reply = h.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_security_headers(&reply);
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(reply.body, committed);
    assert_eq!(reply.body["openapi"], "3.1.0");
    let patch = &reply.body["paths"]["/documents/{id}"]["patch"];
    assert_eq!(patch["x-permission"], "DocumentEdit");
    assert_eq!(patch["x-audit-actions"], json!(["document.updated"]));
    assert!(patch["responses"]["428"].is_object());
    assert_eq!(
        reply.body["components"]["schemas"]["NewDocument"]["required"],
        json!(["title", "type", "body"])
    );
    assert_eq!(
        reply.body["components"]["schemas"]["NewDocument"]["additionalProperties"],
        false
    );
}

/// A query parameter a route does not read is refused, not ignored: a misspelt `limit` would
/// otherwise silently give the default page.
///
/// Proves: HTTP-2
#[tokio::test]
async fn a_query_parameter_the_route_does_not_read_is_400() {
    let h = harness();
    let token = h.token(h.org("globex"), Role::Viewer).await;
    for (path, name) in [
        ("/health?verbose=1", "verbose"),
        ("/documents?limt=5", "limt"),
        ("/documents/01900000-0000-7000-8000-000000000000?fields=title", "fields"),
        ("/audit?orgId=x", "orgId"),
    ] {
        let reply = h.call(Method::GET, path, Some(&token), None).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid-parameter");
        assert_eq!(reply.body["parameter"], name, "{path}: {}", reply.text);
    }
    let listed = h.call(Method::GET, "/documents?limit=1", Some(&token), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
}
