//! The sample events under `events/` (for `sam local invoke -e`) replayed through the handlers
//! they are samples for: each API event through its function's whole pipeline, each stream event
//! through the audit writer or verifier. The directory names the function (`audit-writer/` →
//! `AuditWriterFunction`); a new file is replayed without touching this test, and a file whose
//! directory names no function, or a route without a sample, fails it.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Response};
use quire_blackbox_tests::harness;
use quire_core::rbac::Role;
use quire_http::pipeline::headers::SECURITY_HEADERS;
use quire_local::stack::function_routes;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

/// The functions fed by the data table's stream rather than by the HTTP API, with the record
/// kind and event names their mapping's filter lets through.
const STREAM_FUNCTIONS: [(&str, &str, &[&str]); 2] = [
    ("AuditWriterFunction", "outbox", &["INSERT"]),
    ("AuditVerifierFunction", "audit-verification", &["INSERT", "MODIFY"]),
];
/// Placeholders of the sample files, filled in at run time (see events/README.md).
const ACCESS_TOKEN: &str = "REPLACE_WITH_ACCESS_TOKEN";
const PASSWORD: &str = "REPLACE_WITH_PASSWORD";
const DOCUMENT_ID: &str = "01900000-0000-7000-8000-000000000000";
/// A document in review, routed to the User (reviewer, who has signed) and the Owner (approver,
/// whose signature the signing sample gives); the User's signature, and the Owner's current
/// authenticator code for the signing sample's re-authentication.
const SIGNED_DOCUMENT_ID: &str = "01900000-0000-7000-8000-000000000001";
const SIGNATURE_ID: &str = "REPLACE_WITH_SIGNATURE_ID";
/// The `contentSha256` of that version (what the signing sample names).
const CONTENT_SHA256: &str = "REPLACE_WITH_CONTENT_SHA256";
const SIGNING_CODE: &str = "REPLACE_WITH_SIGNING_CODE";
/// A document in review whose route names the User, unsigned, for the reassignment sample, and
/// the member (the Viewer, made a User) who takes the step.
const REASSIGNED_DOCUMENT_ID: &str = "01900000-0000-7000-8000-000000000002";
const REVIEWER_ID: &str = "REPLACE_WITH_REVIEWER_ID";
const ORG_ID: &str = "REPLACE_WITH_ORG_ID";
/// A draft of its own for the attachment samples (a declaration moves its document's version,
/// which the edit sample's `If-Match` names), and an attachment declared on it for the read
/// sample.
const ATTACHED_DOCUMENT_ID: &str = "01900000-0000-7000-8000-000000000003";
const ATTACHMENT_ID: &str = "REPLACE_WITH_ATTACHMENT_ID";
const EVENT_ID: &str = "REPLACE_WITH_EVENT_ID";
const BLOB_SHA256: &str = "REPLACE_WITH_BLOB_SHA256";
const VERIFICATION_ID: &str = "REPLACE_WITH_VERIFICATION_ID";
const ORIGIN_SECRET: &str = "REPLACE_WITH_ORIGIN_SECRET";
/// The reset code the forgot-password sample had Cognito send (read when the reset sample runs).
const RESET_CODE: &str = "REPLACE_WITH_RESET_CODE";
/// A refresh token from a sign-in of the organisation's Owner.
const REFRESH_TOKEN: &str = "REPLACE_WITH_REFRESH_TOKEN";
/// An access token whose session the sample ends (sign-out, revoking one's own sessions): a
/// fresh sign-in for each such sample, so the others' token lives on.
const SESSION_TOKEN: &str = "REPLACE_WITH_SESSION_TOKEN";
/// An access token of the member whose password the change sample changes (the Admin's: no
/// other sample signs them in).
const CHANGING_TOKEN: &str = "REPLACE_WITH_CHANGING_TOKEN";
/// A member whose sessions the revocation sample revokes (not the Owner whose token the other
/// samples use).
const USER_ID: &str = "REPLACE_WITH_USER_ID";
/// The session of a TOTP challenge of the sample login's user, and the code that answers it.
const MFA_SESSION: &str = "REPLACE_WITH_MFA_SESSION";
const TOTP_CODE: &str = "REPLACE_WITH_TOTP_CODE";
/// An access token of the member whose authenticator the enrolment samples enrol (the User's:
/// the gate needs none of theirs), and the code of the secret enrolment gave them.
const ENROLLING_TOKEN: &str = "REPLACE_WITH_ENROLLING_TOKEN";
const ENROLMENT_CODE: &str = "REPLACE_WITH_ENROLMENT_CODE";
/// An invited member's email, and the session of the new-password challenge their temporary
/// password got.
const INVITED_EMAIL: &str = "REPLACE_WITH_INVITED_EMAIL";
const NEW_PASSWORD_SESSION: &str = "REPLACE_WITH_NEW_PASSWORD_SESSION";
/// An access token of a member with an authenticator, whose authenticator the sample turns off
/// (a member of an organisation of its own: no other sample's state depends on it), and its
/// current code.
const DISABLING_TOKEN: &str = "REPLACE_WITH_DISABLING_TOKEN";
const DISABLING_CODE: &str = "REPLACE_WITH_DISABLING_CODE";
/// The sample login (a seeded user of the local stack).
/// The confirmation code Cognito emailed the registration samples' Owner.
const CONFIRMATION_CODE: &str = "REPLACE_WITH_CONFIRMATION_CODE";
/// The code of an invitation the join sample joins with, and the id of another the revocation
/// sample revokes (both made by the samples' Owner before the replay).
const JOIN_CODE: &str = "REPLACE_WITH_JOIN_CODE";
const INVITATION_ID: &str = "REPLACE_WITH_INVITATION_ID";
/// The OIDC client secret of the identity-provider sample (made up at run time).
const CLIENT_SECRET: &str = "REPLACE_WITH_CLIENT_SECRET";
/// An access token of a platform operator (RBAC-6), for the operator samples.
const OPERATOR_TOKEN: &str = "REPLACE_WITH_OPERATOR_TOKEN";
/// The email the registration samples register and confirm.
const REGISTER_EMAIL: &str = "owner@newlabs.test";
const LOGIN_EMAIL: &str = "owner@acme.test";
/// The member the forgot-password and reset samples reset (to a new password, as the last 5
/// may not be reused): not the sample login's, which later samples sign in with.
const RESET_EMAIL: &str = "viewer@acme.test";

struct EventFile {
    path: PathBuf,
    /// Logical id in template.yaml, from the directory name.
    function: String,
    json: Value,
}

impl EventFile {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn is_stream(&self) -> bool {
        STREAM_FUNCTIONS.iter().any(|(f, _, _)| *f == self.function)
    }
}

/// `audit-writer` → `AuditWriterFunction`.
fn function_of(dir: &str) -> String {
    let mut name: String = dir
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Function");
    name
}

/// Every sample event, sorted by path. Panics on a file that is not a sample of a known function.
fn event_files() -> Vec<EventFile> {
    let root = quire_local::emulator::repo_root().join("events");
    let http_functions: Vec<&str> = function_routes().iter().map(|(name, _)| *name).collect();
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            let relative = path.strip_prefix(&root).expect("under events/").to_path_buf();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if relative == Path::new("README.md") {
                continue;
            }
            assert!(
                relative.components().count() >= 2 && path.extension().is_some_and(|e| e == "json"),
                "events/{}: samples are JSON files in a directory named after their function",
                relative.display()
            );
            let dir = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            let function = function_of(&dir);
            assert!(
                http_functions.contains(&function.as_str()) || STREAM_FUNCTIONS.iter().any(|(f, _, _)| *f == function),
                "events/{}: directory `{dir}` names no function ({function} is neither in \
                 quire_local::stack::function_routes() nor a stream function)",
                relative.display()
            );
            let text = std::fs::read_to_string(&path).expect("readable event file");
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{}: not JSON: {e}", relative.display()));
            files.push(EventFile {
                path: Path::new("events").join(relative),
                function,
                json,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    assert!(!files.is_empty(), "no sample events found under {}", root.display());
    files
}

fn router_of(function: &str) -> quire_http::Router {
    function_routes()
        .into_iter()
        .find(|(name, _)| *name == function)
        .map(|(_, router)| router)
        .unwrap_or_else(|| panic!("{function} serves no HTTP routes"))
}

fn text<'a>(json: &'a Value, pointer: &str) -> &'a str {
    json.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// Replaces placeholders in every string. A string holding a JSON document (a request body)
/// is filled as JSON, so a replacement with quotes or backslashes stays well-formed.
fn fill(value: &mut Value, substitutions: &[(&str, String)]) {
    match value {
        Value::String(s) => {
            if let Ok(mut inner @ Value::Object(_)) = serde_json::from_str::<Value>(s) {
                fill(&mut inner, substitutions);
                *s = inner.to_string();
            } else {
                for (placeholder, actual) in substitutions {
                    *s = s.replace(placeholder, actual);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| fill(v, substitutions)),
        Value::Object(map) => map.values_mut().for_each(|v| fill(v, substitutions)),
        _ => {}
    }
}

fn assert_filled(file: &EventFile, event: &Value) {
    let text = event.to_string();
    assert!(
        !text.contains("REPLACE_WITH_"),
        "{}: a placeholder this test does not fill: {text}",
        file.name()
    );
}

/// The samples are consistent with the template and the code: API events are well-formed
/// payload 2.0 events for a route their function declares (and no other function serves), every
/// declared route has a sample, and stream events have Lambda's DynamoDB Streams shape.
#[test]
fn every_sample_matches_a_declared_route_and_every_route_has_a_sample() {
    let files = event_files();
    let mut sampled: Vec<(String, String)> = Vec::new();
    for file in &files {
        let name = file.name();
        let json = &file.json;
        if file.is_stream() {
            let event: StreamEvent =
                serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: not a stream event: {e}"));
            assert!(!event.records.is_empty(), "{name}: no records");
            let (_, kind, event_names) = STREAM_FUNCTIONS
                .iter()
                .find(|(f, _, _)| *f == file.function)
                .expect("a stream function");
            for (i, record) in event.records.iter().enumerate() {
                assert!(event_names.contains(&record.event_name.as_str()), "{name}");
                assert_eq!(record.event_source.as_deref(), Some("aws:dynamodb"), "{name}");
                for (key, value) in record.change.keys.iter() {
                    assert_eq!(
                        record.change.new_image.get(key),
                        Some(value),
                        "{name}: key {key} not in NewImage"
                    );
                }
                // What the event source mapping's FilterCriteria let through.
                assert_eq!(
                    json["Records"][i]["dynamodb"]["NewImage"]["kind"]["S"], *kind,
                    "{name}: {} only receives {kind} items",
                    file.function
                );
            }
            continue;
        }
        assert_eq!(json["version"], "2.0", "{name}: payload format 2.0");
        assert_eq!(text(json, "/requestContext/stage"), "$default", "{name}");
        let route_key = text(json, "/routeKey");
        assert_eq!(text(json, "/requestContext/routeKey"), route_key, "{name}");
        let method = text(json, "/requestContext/http/method");
        let path = text(json, "/rawPath");
        assert_eq!(text(json, "/requestContext/http/path"), path, "{name}");
        assert!(json["requestContext"]["timeEpoch"].is_u64(), "{name}: timeEpoch");
        for field in ["sourceIp", "userAgent"] {
            assert!(
                !text(json, &format!("/requestContext/http/{field}")).is_empty(),
                "{name}: {field}"
            );
        }
        assert!(!text(json, "/requestContext/requestId").is_empty(), "{name}: requestId");
        // As deployed, every request comes through CloudFront (`pipeline::edge`).
        assert_eq!(text(json, "/headers/x-quire-origin-verify"), ORIGIN_SECRET, "{name}");
        assert!(
            quire_http::pipeline::edge::viewer_address(text(json, "/headers/cloudfront-viewer-address")).is_some(),
            "{name}: cloudfront-viewer-address"
        );
        assert!(
            json["requestContext"].get("authorizer").is_none(),
            "{name}: API Gateway authorises nothing"
        );
        let method: http::Method = method.parse().unwrap_or_else(|_| panic!("{name}: method {method:?}"));
        let matched = router_of(&file.function)
            .find(&method, path)
            .unwrap_or_else(|e| panic!("{name}: {} does not serve {method} {path}: {e:?}", file.function));
        assert_eq!(matched.route.key(), route_key, "{name}: routeKey");
        let parameters: HashMap<String, String> = json
            .get("pathParameters")
            .map(|p| serde_json::from_value(p.clone()).expect("string path parameters"))
            .unwrap_or_default();
        assert_eq!(parameters, matched.params, "{name}: pathParameters");
        if let Some(body) = json.get("body") {
            let body = body.as_str().unwrap_or_else(|| panic!("{name}: body is a string"));
            serde_json::from_str::<Value>(body).unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
            assert_eq!(text(json, "/headers/content-type"), "application/json", "{name}");
        }
        // The gateway would hand it to this function: no other one declares the path.
        for (other, router) in function_routes().into_iter().filter(|(n, _)| *n != file.function) {
            if let Ok(m) = router.find(&method, path) {
                assert!(m.route.is_catch_all(), "{name}: {other} serves {} too", m.route.key());
            }
        }
        quire_http::event::request(json.clone()).unwrap_or_else(|e| panic!("{name}: the function cannot read it: {e}"));
        sampled.push((file.function.clone(), route_key.to_owned()));
    }
    for (function, router) in function_routes() {
        for route in router.routes() {
            assert!(
                sampled.contains(&(function.to_owned(), route.key())),
                "{function} {}: no sample event under events/",
                route.key()
            );
        }
    }
    for (function, _, _) in STREAM_FUNCTIONS {
        assert!(
            files.iter().any(|f| f.function == function),
            "{function}: no sample event under events/"
        );
    }
}

fn body_text(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    }
}

/// Every API sample, placeholders filled with a real token, password and document id, through
/// its function's own service (the pipeline `lambda_http::run` would drive on AWS).
#[tokio::test]
async fn api_samples_replay_through_their_function() {
    let h = harness();
    assert_eq!(h.org("acme").user(Role::Owner).email, LOGIN_EMAIL);
    // Everything but the login sample works in an organisation of its own: the audit-trail
    // count below must see no other test's writes.
    let org = h.new_org("events").await;
    let token = h.token(&org, Role::Owner).await;
    let document = h.create_document(&token, "SOP-001 Line clearance").await;
    // A body long enough to be stored as an audit blob, for the blob route's sample.
    let long_body = "Clear the line of every item of the previous batch.\n".repeat(40);
    let with_blob = h
        .call(
            reqwest::Method::POST,
            "/documents",
            Some(&token),
            Some(serde_json::json!({"title": "SOP-002 Long", "type": "sop", "body": long_body})),
        )
        .await;
    assert_eq!(with_blob.status, 201, "{}", with_blob.text);
    // A version in review whose route the reassignment sample changes: the Viewer, made a User,
    // takes the User's step.
    let owner_token = h.token(&org, Role::Owner).await;
    let viewer_id = org.user(Role::Viewer).user_id.to_string();
    let promoted = h
        .call(
            reqwest::Method::PATCH,
            &format!("/members/{viewer_id}"),
            Some(&owner_token),
            Some(serde_json::json!({"role": "User", "reason": "Reviews documents"})),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    // A version in review whose reviewer has signed, for the signature samples.
    let admin = h.token(&org, Role::Admin).await;
    let to_sign = h.create_document(&admin, "SOP-003 Signed").await;
    let to_sign = to_sign["id"].as_str().expect("document id").to_owned();
    let submitted = h
        .call(
            reqwest::Method::POST,
            &format!("/documents/{to_sign}/versions/1/transitions"),
            Some(&admin),
            Some(serde_json::json!({
                "to": "in_review",
                "reason": "Ready for review",
                "route": {
                    "order": "sequential",
                    "reviewers": [org.user(Role::User).user_id.to_string()],
                    "approvers": [org.user(Role::Owner).user_id.to_string()],
                },
            })),
        )
        .await;
    assert_eq!(submitted.status, 200, "{}", submitted.text);
    let to_reassign = h.create_document(&admin, "SOP-004 Reassigned").await;
    let to_reassign = to_reassign["id"].as_str().expect("document id").to_owned();
    let routed = h
        .call(
            reqwest::Method::POST,
            &format!("/documents/{to_reassign}/versions/1/transitions"),
            Some(&admin),
            Some(serde_json::json!({
                "to": "in_review",
                "reason": "Ready for review",
                "route": {
                    "order": "parallel",
                    "reviewers": [org.user(Role::User).user_id.to_string()],
                    "approvers": [org.user(Role::Owner).user_id.to_string()],
                },
            })),
        )
        .await;
    assert_eq!(routed.status, 200, "{}", routed.text);
    let reviewed = h
        .call(
            reqwest::Method::POST,
            &format!("/documents/{to_sign}/versions/1/signatures"),
            Some(&h.token(&org, Role::User).await),
            Some(serde_json::json!({
                "meaning": "reviewed",
                "password": h.password,
                "contentSha256": submitted.body["contentSha256"],
            })),
        )
        .await;
    assert_eq!(reviewed.status, 201, "{}", reviewed.text);
    let attached = h.create_document(&token, "SOP-005 Attached").await;
    let attached = text(&attached, "/id").to_owned();
    let declared = h
        .call(
            reqwest::Method::POST,
            &format!("/documents/{attached}/attachments"),
            Some(&token),
            Some(serde_json::json!({"fileName": "Checklist.pdf", "contentType": "application/pdf", "size": 9})),
        )
        .await;
    assert_eq!(declared.status, 201, "{}", declared.text);
    // Its file, uploaded and accepted, for the download sample.
    let upload = &declared.body["upload"];
    let mut put = reqwest::Client::new()
        .put(text(upload, "/url"))
        .body(b"%PDF-1.7\n".to_vec());
    for (name, value) in upload["headers"].as_object().expect("upload headers") {
        if name != "content-length" {
            put = put.header(name.as_str(), value.as_str().expect("a header value"));
        }
    }
    assert!(put.send().await.expect("the upload").status().is_success());
    let attachment_id = text(&declared.body, "/attachment/id").to_owned();
    let mut accepted = false;
    for _ in 0..300 {
        let read = h
            .call(
                reqwest::Method::GET,
                &format!("/attachments/{attachment_id}"),
                Some(&token),
                None,
            )
            .await;
        if read.body["status"] == "accepted" {
            accepted = true;
            break;
        }
        assert_eq!(read.body["status"], "pending", "{}", read.text);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(accepted, "the sample's file was not accepted within 30 s");
    let job = h
        .call(reqwest::Method::POST, "/audit/verifications", Some(&token), None)
        .await;
    assert_eq!(job.status, 202, "{}", job.text);
    // One job per organisation at a time: the sample's POST starts the next one.
    h.verification_done(&token, job.body["id"].as_str().expect("job id"))
        .await;
    let mut invitations = Vec::new();
    for _ in 0..2 {
        let made = h
            .call(
                reqwest::Method::POST,
                "/invitations",
                Some(&token),
                Some(serde_json::json!({"role": "User", "uses": 1, "expiresInHours": 1})),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        invitations.push(made.body);
    }
    let signed_in = h.sign_in(&org.user(Role::Owner).email).await;
    // Signed in before the trail is counted: a sign-in writes its entries.
    let enrolling = h.token(&org, Role::User).await;
    let operator = h.login(&h.new_operator(true).await).await;
    let substitutions = [
        (OPERATOR_TOKEN, operator),
        (CLIENT_SECRET, format!("oidc-{}", quire_blackbox_tests::uuid_hex())),
        (ORG_ID, org.org_id.to_string()),
        (ACCESS_TOKEN, token.clone()),
        (
            REFRESH_TOKEN,
            signed_in["refreshToken"].as_str().expect("a refresh token").to_owned(),
        ),
        (USER_ID, org.user(Role::User).user_id.to_string()),
        (PASSWORD, h.password.clone()),
        (DOCUMENT_ID, document["id"].as_str().expect("document id").to_owned()),
        (SIGNED_DOCUMENT_ID, to_sign.clone()),
        (REASSIGNED_DOCUMENT_ID, to_reassign.clone()),
        (REVIEWER_ID, viewer_id.clone()),
        (ATTACHED_DOCUMENT_ID, attached.clone()),
        (ATTACHMENT_ID, attachment_id),
        (SIGNATURE_ID, text(&reviewed.body, "/id").to_owned()),
        (CONTENT_SHA256, text(&submitted.body, "/contentSha256").to_owned()),
        (BLOB_SHA256, quire_core::audit::blob::digest(&long_body)),
        (VERIFICATION_ID, job.body["id"].as_str().expect("job id").to_owned()),
        (ORIGIN_SECRET, h.origin_secret.clone()),
        (JOIN_CODE, text(&invitations[0], "/code").to_owned()),
        (INVITATION_ID, text(&invitations[1], "/id").to_owned()),
    ];
    // Routes declared as reading first: they must leave the trail as it was (a reading route
    // that wrote would add an entry); then the writing ones and those that record access.
    let writes = |file: &EventFile| {
        let method: http::Method = text(&file.json, "/requestContext/http/method").parse().expect("method");
        router_of(&file.function)
            .find(&method, text(&file.json, "/rawPath"))
            .is_ok_and(|m| !m.route.effect.actions().is_empty())
    };
    let mut files: Vec<EventFile> = event_files().into_iter().filter(|f| !f.is_stream()).collect();
    // The operator's change moves the organisation's version, which the organisation samples'
    // `If-Match` names: it goes last.
    files.sort_by_key(|f| (writes(f), f.function == "OperatorFunction"));
    h.audit_settled(&org).await;
    let trail_before = h.audit_entries(&token).await.len();
    let mut reads_checked = false;
    for file in files {
        if writes(&file) && !reads_checked {
            h.audit_settled(&org).await;
            let trail_after = h.audit_entries(&token).await.len();
            assert_eq!(
                trail_after, trail_before,
                "a route declared as reading wrote an audit entry"
            );
            reads_checked = true;
        }
        let name = file.name();
        let mut event = file.json.clone();
        fill(&mut event, &substitutions);
        if event.to_string().contains(CHANGING_TOKEN) {
            fill(&mut event, &[(CHANGING_TOKEN, h.token(&org, Role::Admin).await)]);
        }
        if event.to_string().contains(SESSION_TOKEN) {
            fill(&mut event, &[(SESSION_TOKEN, h.token(&org, Role::Viewer).await)]);
        }
        fill(&mut event, &[(ENROLLING_TOKEN, enrolling.clone())]);
        if event.to_string().contains(ENROLMENT_CODE) {
            let setup = h
                .call(reqwest::Method::POST, "/auth/mfa/setup", Some(&enrolling), None)
                .await;
            assert_eq!(setup.status, 200, "{}", setup.text);
            let secret = setup.body["secretCode"].as_str().expect("a secret").to_owned();
            h.remember_totp_secret(&org.user(Role::User).email, &secret);
            let code = quire_local::seed::totp_code(&secret).expect("code");
            fill(&mut event, &[(ENROLMENT_CODE, code)]);
        }
        if event.to_string().contains(MFA_SESSION) {
            let login = h
                .call(
                    reqwest::Method::POST,
                    "/auth/login",
                    None,
                    Some(serde_json::json!({"email": LOGIN_EMAIL, "password": h.password})),
                )
                .await;
            assert_eq!(login.body["challenge"], "mfa", "{}", login.text);
            let session = login.body["session"].as_str().expect("a challenge session").to_owned();
            fill(
                &mut event,
                &[(MFA_SESSION, session), (TOTP_CODE, h.totp_code(LOGIN_EMAIL))],
            );
        }
        if event.to_string().contains(DISABLING_TOKEN) {
            let own = h.new_org("eventsoff").await;
            let member = h.token(&own, Role::User).await;
            let setup = h
                .call(reqwest::Method::POST, "/auth/mfa/setup", Some(&member), None)
                .await;
            let secret = setup.body["secretCode"].as_str().expect("a secret").to_owned();
            let code = quire_local::seed::totp_code(&secret).expect("code");
            let verified = h
                .call(
                    reqwest::Method::POST,
                    "/auth/mfa/verify",
                    Some(&member),
                    Some(serde_json::json!({ "code": code })),
                )
                .await;
            assert_eq!(verified.status, 200, "{}", verified.text);
            fill(&mut event, &[(DISABLING_TOKEN, member), (DISABLING_CODE, code)]);
        }
        if event.to_string().contains(NEW_PASSWORD_SESSION) {
            let invited = h.new_org_invited("eventsinv").await.user(Role::User).email.clone();
            let login = h
                .call(
                    reqwest::Method::POST,
                    "/auth/login",
                    None,
                    Some(serde_json::json!({"email": invited, "password": h.password})),
                )
                .await;
            assert_eq!(login.body["challenge"], "new-password", "{}", login.text);
            let session = login.body["session"].as_str().expect("a challenge session").to_owned();
            fill(&mut event, &[(INVITED_EMAIL, invited), (NEW_PASSWORD_SESSION, session)]);
        }
        if event.to_string().contains(CONFIRMATION_CODE) {
            // The registration sample may replay after this one: register first if it has not.
            if h.confirmation_code(REGISTER_EMAIL).is_none() {
                let registered = h
                    .call(
                        reqwest::Method::POST,
                        "/auth/register",
                        None,
                        Some(serde_json::json!({
                            "organisationName": "New Labs Ltd",
                            "email": REGISTER_EMAIL,
                            "password": h.password,
                            "displayName": "Nora Owner",
                        })),
                    )
                    .await;
                assert_eq!(registered.status, 202, "{}", registered.text);
            }
            let code = h.confirmation_code(REGISTER_EMAIL).expect("a confirmation code");
            fill(&mut event, &[(CONFIRMATION_CODE, code)]);
        }
        if event.to_string().contains(SIGNING_CODE) {
            fill(&mut event, &[(SIGNING_CODE, h.totp_code(&org.user(Role::Owner).email))]);
        }
        if event.to_string().contains(RESET_CODE) {
            let code = h.reset_code(RESET_EMAIL).expect("the forgot-password sample ran first");
            fill(&mut event, &[(RESET_CODE, code)]);
        }
        assert_filled(&file, &event);
        let catch_all = text(&event, "/routeKey").starts_with(quire_http::route::ANY);
        let function = file.function.clone();
        let response = h
            .on_stack(move |stack| async move {
                let service = quire_http::pipeline::service(stack.app.clone(), router_of(&function));
                let request = quire_http::event::request(event).expect("API Gateway event");
                service.oneshot(request).await
            })
            .await
            .unwrap_or_else(|e| panic!("{name}: the function failed: {e}"));
        let body = body_text(&response);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if catch_all {
            assert_eq!(response.status(), 404, "{name}: {body}");
            assert_eq!(content_type, "application/problem+json", "{name}");
            let problem: Value = serde_json::from_str(&body).expect("problem+json body");
            assert_eq!(problem["type"], "urn:quire:problem:not-found", "{name}: {body}");
        } else if content_type == "application/pdf" {
            // A file's bytes: the sample asks for the first 4 of the uploaded PDF.
            assert!(response.headers().contains_key("content-disposition"), "{name}");
            assert_eq!(response.status(), 206, "{name}: {body}");
            assert_eq!(body, "%PDF", "{name}");
        } else {
            assert!(response.status().is_success(), "{name}: {} {body}", response.status());
            assert_eq!(content_type, "application/json", "{name}");
            serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
        }
        for (header, value) in SECURITY_HEADERS {
            assert_eq!(
                response.headers().get(header).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name}: {header}"
            );
        }
        assert!(
            response.headers().contains_key("x-correlation-id"),
            "{name}: correlation id"
        );
    }
}

/// Every stream sample, with a fresh organisation and event id, through the audit writer's
/// handler. Its outbox item is first written to the data table, as a real write's transaction
/// would; the local stream driver may append it before the replay does (appending is
/// idempotent), so either way the event is in the chain exactly once and the chain verifies.
#[tokio::test]
async fn stream_samples_replay_through_the_audit_writer() {
    let h = harness();
    let org = h.new_org("replay").await;
    let owner = h.token(&org, Role::Owner).await;
    let ddb = h.dynamodb();
    let mut appended = Vec::new();
    for file in event_files()
        .into_iter()
        .filter(|f| f.function == "AuditWriterFunction")
    {
        let name = file.name();
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis();
        let event_id = format!("{millis:013}-{}", uuid::Uuid::new_v4());
        let mut json = file.json.clone();
        fill(
            &mut json,
            &[(ORG_ID, org.org_id.as_str().to_owned()), (EVENT_ID, event_id.clone())],
        );
        assert_filled(&file, &json);
        let event: StreamEvent =
            serde_json::from_value(json).unwrap_or_else(|e| panic!("{name}: not a DynamoDB stream event: {e}"));
        for record in &event.records {
            let item: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
            ddb.put_item()
                .table_name(&h.data_table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: outbox item: {e:?}"));
        }
        let records = event.records.len();
        let response = h
            .on_stack(move |stack| async move { quire_fn_audit_writer::handle(&stack.app.store, event).await })
            .await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{name}: {} of {records} records failed",
            response.batch_item_failures.len()
        );
        appended.push((name, event_id));
    }
    h.audit_settled(&org).await;
    let entries = h.audit_entries(&owner).await;
    for (name, event_id) in &appended {
        let copies = entries.iter().filter(|e| e["event"]["eventId"] == *event_id).count();
        assert_eq!(copies, 1, "{name}: entries for event {event_id}");
    }
    let verify = h.call(reqwest::Method::GET, "/audit/verify", Some(&owner), None).await;
    assert_eq!(verify.status, 200, "{}", verify.text);
    assert_eq!(verify.body["valid"], true, "{}", verify.text);
}

/// Every verifier stream sample, naming a job requested through the API, through the audit
/// verifier's handler, with the local stream driver held: the replay itself finishes the job.
#[tokio::test]
async fn stream_samples_replay_through_the_audit_verifier() {
    let h = harness();
    let org = h.new_org("replay-verifier").await;
    let owner = h.token(&org, Role::Owner).await;
    let _held = h.pause_verifier();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for file in event_files()
        .into_iter()
        .filter(|f| f.function == "AuditVerifierFunction")
    {
        let name = file.name();
        let job = h
            .call(reqwest::Method::POST, "/audit/verifications", Some(&owner), None)
            .await;
        assert_eq!(job.status, 202, "{name}: {}", job.text);
        let id = job.body["id"].as_str().expect("job id").to_owned();
        let mut json = file.json.clone();
        fill(
            &mut json,
            &[(ORG_ID, org.org_id.as_str().to_owned()), (VERIFICATION_ID, id.clone())],
        );
        assert_filled(&file, &json);
        let event: StreamEvent =
            serde_json::from_value(json).unwrap_or_else(|e| panic!("{name}: not a DynamoDB stream event: {e}"));
        let response = h
            .on_stack(move |stack| async move {
                let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
                quire_fn_audit_verifier::handle(&stack.app.store, event, until).await
            })
            .await;
        assert!(response.batch_item_failures.is_empty(), "{name}: a record failed");
        let done = h
            .call(
                reqwest::Method::GET,
                &format!("/audit/verifications/{id}"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(done.body["status"], "valid", "{name}: {}", done.text);
    }
}
