//! Attachments over HTTP: a declared file gets a presigned upload into quarantine, with its
//! name sanitised and the name as sent recorded; declarations that cannot be accepted change
//! nothing; another tenant's documents and attachments are not found. Uploads are ingested as
//! on AWS: the emulator's bucket notifies the ingest queue, and the local stack hands each
//! message to the ingest function's own handler (`quire_local::queue`).

use quire_blackbox_tests::{events_of, harness, Harness};
use quire_core::rbac::Role;
use quire_fn_attachment_ingest::{ingest_notification, Attempt, Ingest, Limits, Outcome};
use quire_local::seed::SeededOrg;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn bucket(h: &Harness) -> String {
    h.on_stack(|stack| async move { stack.provisioned.bucket.clone() })
        .await
}

async fn draft(h: &Harness, org: &SeededOrg) -> String {
    let token = h.token(org, Role::User).await;
    h.create_document(&token, "SOP-010 Line clearance").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn declare(h: &Harness, token: &str, document: &str, body: Value) -> quire_blackbox_tests::Reply {
    h.call(
        Method::POST,
        &format!("/documents/{document}/attachments"),
        Some(token),
        Some(body),
    )
    .await
}

/// Attachment records in the organisation's data, as stored.
async fn attachments_stored(h: &Harness, org: &SeededOrg) -> usize {
    h.count_items(quire_store::testing::attachments_partition(&org.org_id))
        .await
}

/// A declaration answers a presigned PUT to `quarantine/<org>/<attachment>` with the content
/// type and length signed into it; the file uploads through it; the attachment is pending with
/// its name sanitised, the name as sent recorded in its `attachment.requested` entry, and its
/// events in the document's history.
///
/// Proves: FILE-2, AUD-3
#[tokio::test]
async fn a_declared_file_gets_a_signed_upload_into_quarantine() {
    let h = harness();
    let org = h.new_org("attach").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let content = b"%PDF-1.7\n%%EOF\n".to_vec();
    let sent = "../../Line\tclearance\u{200b} checklist.pdf";
    let declared = declare(
        h,
        &token,
        &id,
        json!({"fileName": sent, "contentType": "application/pdf", "size": content.len()}),
    )
    .await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", declared.text);
    let attachment = &declared.body["attachment"];
    let attachment_id = attachment["id"].as_str().unwrap().to_owned();
    assert_eq!(
        declared.header("location"),
        Some(format!("/attachments/{attachment_id}").as_str())
    );
    assert_eq!(attachment["fileName"], "_.._Lineclearance checklist.pdf");
    // As sent, on one line: the tab and the zero-width space written as escapes.
    let recorded = "../../Line\\u{9}clearance\\u{200b} checklist.pdf";
    assert_eq!(attachment["sentName"], recorded);
    assert_eq!(attachment["status"], "pending");
    assert_eq!(attachment["versionNumber"], 1);
    assert_eq!(attachment["declaredSize"], content.len());
    let upload = &declared.body["upload"];
    assert_eq!(upload["method"], "PUT");
    assert_eq!(upload["headers"]["content-type"], "application/pdf");
    assert_eq!(upload["headers"]["content-length"], content.len().to_string());
    assert_eq!(upload["headers"]["if-none-match"], "*");
    let url = upload["url"].as_str().unwrap();
    // The headers are signed into the URL: S3 refuses another type or size, and a second
    // upload (on AWS; the emulator checks no signature).
    let signed = url::Url::parse(url).unwrap();
    let signed_headers = signed
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.into_owned())
        .expect("a SigV4 presigned URL");
    assert_eq!(signed_headers, "content-length;content-type;host;if-none-match");
    let expires: u64 = signed
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Expires")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    assert_eq!(expires, 15 * 60);
    let expected_key = quire_store::quarantine_object(
        &quire_store::testing::scope(&org.org_id),
        &quire_core::ids::AttachmentId::parse(&attachment_id).unwrap(),
    );
    assert!(signed.path().ends_with(&expected_key), "{url}");

    let read = h
        .call(
            Method::GET,
            &format!("/attachments/{attachment_id}"),
            Some(&h.token(&org, Role::Viewer).await),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(&read.body, attachment);

    // Uploaded with exactly the answered headers, the file is ingested from quarantine.
    let mut put = reqwest::Client::new().put(url).body(content.clone());
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let uploaded = put.send().await.expect("the upload");
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    let ingested = judged(h, &token, &attachment_id).await;
    assert_eq!(ingested["status"], "accepted", "{ingested}");
    assert_eq!(
        ingested["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content)).as_str()
    );
    assert!(gone(h, &bucket(h).await, &expected_key).await);

    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let requested = events_of(&entries, &["attachment.requested"]);
    assert_eq!(requested.len(), 1, "{requested:#?}");
    assert_eq!(requested[0]["target"], json!({"type": "document", "id": id}));
    assert_eq!(requested[0]["after"]["sentName"], recorded);
    assert_eq!(requested[0]["after"]["fileName"], "_.._Lineclearance checklist.pdf");
    let history = h
        .call(
            Method::GET,
            &format!("/documents/{id}/history"),
            Some(&h.token(&org, Role::Owner).await),
            None,
        )
        .await;
    let actions: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"attachment.requested"), "{actions:?}");
}

/// Attaching is authoring: the member who attached a file is an author of the version, may not
/// review or approve it, and the document's `ETag` moves (an edit made against the old one is
/// refused).
///
/// Proves: DOC-3, HTTP-5
#[tokio::test]
async fn who_attaches_a_file_authors_the_version() {
    let h = harness();
    let org = h.new_org("attachauthor").await;
    let id = draft(h, &org).await;
    let admin = h.token(&org, Role::Admin).await;
    let before = h
        .call(Method::GET, &format!("/documents/{id}"), Some(&admin), None)
        .await;
    let etag = before.header("etag").unwrap().to_owned();
    let declared = declare(
        h,
        &admin,
        &id,
        json!({"fileName": "Checklist.pdf", "contentType": "application/pdf", "size": 9}),
    )
    .await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", declared.text);
    let stale = h
        .raw(
            h.request(Method::PATCH, &format!("/documents/{id}"))
                .bearer_auth(&admin)
                .header("if-match", etag)
                .json(&json!({"body": "Changed", "reason": "Stale edit"})),
        )
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    let version = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&admin), None)
        .await;
    let admin_id = org.user(Role::Admin).user_id.to_string();
    assert!(
        version.body["authors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == admin_id.as_str()),
        "{}",
        version.text
    );
    let submitted = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/transitions"),
            Some(&h.token(&org, Role::User).await),
            Some(json!({
                "to": "in_review",
                "reason": "Ready",
                "route": {"order": "parallel", "reviewers": [admin_id], "approvers": [org.user(Role::Owner).user_id.to_string()]},
            })),
        )
        .await;
    submitted.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert!(submitted.text.contains("author"), "{}", submitted.text);
}

/// What cannot be accepted is refused before anything is written: a name without an accepted
/// extension (the 400 lists them), a content type other than the extension's, a size over the
/// limit, a name too long as sent, an unknown field; a document whose latest version is not a
/// draft is a 409; a Viewer may not attach.
///
/// Proves: FILE-2, RBAC-3
#[tokio::test]
async fn declarations_that_cannot_be_accepted_change_nothing() {
    let h = harness();
    let org = h.new_org("attachbad").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let pdf = |name: &str, size: u64| json!({"fileName": name, "contentType": "application/pdf", "size": size});
    let decl =
        |name: &str, media_type: &str, size: Value| json!({"fileName": name, "contentType": media_type, "size": size});
    let refusals = [
        (decl("setup.exe", "application/pdf", json!(1)), "fileName"),
        (decl("macro.docm", "application/pdf", json!(1)), "fileName"),
        (decl("..", "application/pdf", json!(1)), "fileName"),
        (decl("report.pdf", "text/plain", json!(1)), "contentType"),
        (decl("report.pdf", "Application/PDF", json!(1)), "contentType"),
        (pdf("report.pdf", 100 * 1024 * 1024 + 1), "size"),
        (pdf("", 1), "fileName"),
        (pdf(&format!("{}.pdf", "a".repeat(1021)), 1), "fileName"),
        (decl("report.pdf", "application/pdf", json!(-1)), ""),
        (json!({"fileName": "report.pdf", "contentType": "application/pdf"}), ""),
        (decl("report.pdf", "application/pdf", json!(1.5)), ""),
        (decl("report.pdf", "application/pdf", json!(1e20)), ""),
        (decl("\u{200b}\u{200b}", "application/pdf", json!(1)), "fileName"),
        // A name whose own extension is refused, however long.
        (
            pdf(&format!("{}.pdf{}", "a".repeat(251), "x".repeat(20)), 1),
            "fileName",
        ),
        (
            json!({"fileName": "report.pdf", "contentType": "application/pdf", "size": 1, "bucket": "x"}),
            "",
        ),
    ];
    for (body, field) in refusals {
        let refused = declare(h, &token, &id, body.clone()).await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        if !field.is_empty() {
            assert!(
                refused.body["detail"].as_str().unwrap().starts_with(field),
                "{body}: {}",
                refused.text
            );
        }
    }
    let listed = declare(
        h,
        &token,
        &id,
        json!({"fileName": "x.svg", "contentType": "image/svg+xml", "size": 1}),
    )
    .await;
    assert!(
        listed.body["detail"]
            .as_str()
            .unwrap()
            .contains("pdf, docx, xlsx, pptx, png"),
        "{}",
        listed.text
    );
    // At the limit, and an empty file, are accepted.
    for size in [100 * 1024 * 1024, 0] {
        let accepted = declare(h, &token, &id, pdf("report.pdf", size)).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
    }
    let viewer = h.token(&org, Role::Viewer).await;
    declare(h, &viewer, &id, pdf("report.pdf", 1))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    // Out of draft (in review, withdrawn): no more files for this version.
    let route = json!({
        "order": "parallel",
        "reviewers": [org.user(Role::Admin).user_id.to_string()],
        "approvers": [org.user(Role::Owner).user_id.to_string()],
    });
    for body in [
        json!({"to": "in_review", "reason": "Ready", "route": route}),
        json!({"to": "draft", "reason": "Recalled"}),
        json!({"to": "obsolete", "reason": "Withdrawn"}),
    ] {
        let moved = h
            .call(
                Method::POST,
                &format!("/documents/{id}/versions/1/transitions"),
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
        if body["to"] != "draft" {
            declare(h, &token, &id, pdf("report.pdf", 1))
                .await
                .assert_problem(StatusCode::CONFLICT, "conflict");
        }
    }
    assert_eq!(
        attachments_stored(h, &org).await,
        2,
        "only the two accepted declarations"
    );
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(events_of(&entries, &["attachment.requested"]).len(), 2);
}

/// Another organisation's document cannot be attached to, and its attachments are not found;
/// ids that are no attachment's are not found either.
///
/// Proves: TEN-3
#[tokio::test]
async fn another_tenants_documents_and_attachments_are_not_found() {
    let h = harness();
    let acme = h.new_org("attachten").await;
    let globex = h.new_org("attachten").await;
    let theirs = draft(h, &globex).await;
    let declared = declare(
        h,
        &h.token(&globex, Role::User).await,
        &theirs,
        json!({"fileName": "report.pdf", "contentType": "application/pdf", "size": 1}),
    )
    .await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", declared.text);
    let their_attachment = declared.body["attachment"]["id"].as_str().unwrap().to_owned();
    let token = h.token(&acme, Role::Owner).await;
    declare(
        h,
        &token,
        &theirs,
        json!({"fileName": "report.pdf", "contentType": "application/pdf", "size": 1}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not-found");
    for path in [
        format!("/attachments/{their_attachment}"),
        format!("/attachments/{}", quire_blackbox_tests::uuid_hex()),
        "/attachments/..%2F..%2Fetc".to_owned(),
    ] {
        h.call(Method::GET, &path, Some(&token), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    assert_eq!(attachments_stored(h, &acme).await, 0);
    assert_eq!(attachments_stored(h, &globex).await, 1);
}

/// The ingest of the stack's bucket, as the deployed function builds it (the emulator's
/// clients, the stack's key ARN, the default limits, the temporary directory for scratch).
async fn ingest_of(h: &Harness) -> Ingest {
    let (config, bucket) = h
        .on_stack(|stack| async move { (stack.app.config.store(), stack.provisioned.bucket.clone()) })
        .await;
    Ingest {
        store: quire_store::Store::new(&h.sdk(), &config),
        s3: h.s3(),
        bucket,
        envelope: quire_crypto::Envelope::new(h.kms(), h.kms_key_arn().await).unwrap(),
        limits: Limits::default(),
        scratch: std::env::temp_dir(),
    }
}

/// The S3 notification of an upload, as S3 sends it to the queue (the key URL-encoded).
fn notification(bucket: &str, key: &str, size: usize) -> String {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": size},
        },
    }]})
    .to_string()
}

/// A declared attachment: its id, its upload's key in quarantine, and the answered upload.
struct Declared {
    id: String,
    key: String,
    upload: Value,
}

/// Declares `name` as `size` bytes on `document`.
async fn declared(h: &Harness, token: &str, document: &str, (name, media_type, size): (&str, &str, usize)) -> Declared {
    let declared = declare(
        h,
        token,
        document,
        json!({"fileName": name, "contentType": media_type, "size": size}),
    )
    .await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", declared.text);
    let upload = declared.body["upload"].clone();
    let key = url::Url::parse(upload["url"].as_str().unwrap())
        .unwrap()
        .path()
        .split_once("/quarantine/")
        .map(|(_, rest)| format!("quarantine/{rest}"))
        .unwrap();
    Declared {
        id: declared.body["attachment"]["id"].as_str().unwrap().to_owned(),
        key,
        upload,
    }
}

/// Uploads `content` through the declaration's URL (the emulator stores any size).
async fn put(declared: &Declared, content: &[u8]) {
    let mut put = reqwest::Client::new()
        .put(declared.upload["url"].as_str().unwrap())
        .body(content.to_vec());
    for (name, value) in declared.upload["headers"].as_object().unwrap() {
        if name != "content-length" {
            put = put.header(name.as_str(), value.as_str().unwrap());
        }
    }
    let sent = put.send().await.expect("the upload");
    assert!(sent.status().is_success(), "{}", sent.status());
}

/// Declares `name` as `size` bytes on `document` and uploads `content` through the answered
/// URL; answers the attachment id and the upload's key.
async fn upload(
    h: &Harness,
    token: &str,
    document: &str,
    file: (&str, &str, usize),
    content: &[u8],
) -> (String, String) {
    let declared = declared(h, token, document, file).await;
    put(&declared, content).await;
    (declared.id, declared.key)
}

/// The attachment once the ingest has judged its upload (no longer pending).
async fn judged(h: &Harness, token: &str, attachment: &str) -> Value {
    for _ in 0..300 {
        let read = h
            .call(Method::GET, &format!("/attachments/{attachment}"), Some(token), None)
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        if read.body["status"] != "pending" {
            return read.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the upload of {attachment} was not judged within 30 s");
}

/// Where an accepted attachment's ciphertext is kept (the store builds the key).
fn stored_key(org: &SeededOrg, attachment: &str) -> String {
    quire_store::ObjectKey::attachment(
        &quire_store::testing::scope(&org.org_id),
        &quire_core::ids::AttachmentId::parse(attachment).unwrap(),
    )
    .as_str()
    .to_owned()
}

/// Whether `key` is gone from `bucket`, or goes within 5 s (ingest deletes the quarantine
/// object after its decision is recorded).
async fn gone(h: &Harness, bucket: &str, key: &str) -> bool {
    for _ in 0..50 {
        if !object_exists(h, bucket, key).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn object_exists(h: &Harness, bucket: &str, key: &str) -> bool {
    h.s3().head_object().bucket(bucket).key(key).send().await.is_ok()
}

/// An uploaded PDF is ingested from the bucket's notification: checked, encrypted under
/// `tenants/<org>/attachments/<id>` with the context `{orgId, attachmentId}` (it decrypts
/// there, and nowhere else), and added to its version's content with its SHA-256; the
/// quarantine object is deleted; `attachment.accepted` is recorded by the ingest; a
/// notification delivered again changes nothing.
///
/// Proves: FILE-1, CRY-1, TEN-4, AUD-3
#[tokio::test]
async fn an_uploaded_file_is_checked_encrypted_and_added_to_its_version() {
    let h = harness();
    let org = h.new_org("ingest").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let before = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&token), None)
        .await;
    let content = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n".repeat(50);
    let (attachment, key) = upload(
        h,
        &token,
        &id,
        ("Line clearance.pdf", "application/pdf", content.len()),
        &content,
    )
    .await;
    let ingest = ingest_of(h).await;
    assert_eq!(judged(h, &token, &attachment).await["status"], "accepted");
    assert!(gone(h, &ingest.bucket, &key).await, "the quarantine object is deleted");
    let stored = stored_key(&org, &attachment);
    assert!(object_exists(h, &ingest.bucket, &stored).await);
    let scope = quire_store::testing::scope(&org.org_id);
    let object =
        quire_store::ObjectKey::attachment(&scope, &quire_core::ids::AttachmentId::parse(&attachment).unwrap());
    let mut plaintext = Vec::new();
    quire_crypto::s3::decrypt_from_s3(
        &ingest.envelope,
        &ingest.s3,
        &ingest.bucket,
        &object,
        None,
        &mut plaintext,
    )
    .await
    .expect("decrypts under its own context");
    assert_eq!(plaintext, content);
    // Copied under another attachment's key, it does not decrypt (TEN-4).
    let other = quire_core::ids::AttachmentId::parse(&quire_blackbox_tests::uuid_hex()).unwrap();
    let moved = quire_store::ObjectKey::attachment(&scope, &other);
    h.s3()
        .copy_object()
        .bucket(&ingest.bucket)
        .copy_source(format!("{}/{stored}", ingest.bucket))
        .key(moved.as_str())
        .send()
        .await
        .expect("copy");
    let mut elsewhere = Vec::new();
    assert!(quire_crypto::s3::decrypt_from_s3(
        &ingest.envelope,
        &ingest.s3,
        &ingest.bucket,
        &moved,
        None,
        &mut elsewhere
    )
    .await
    .is_err());

    let read = h
        .call(Method::GET, &format!("/attachments/{attachment}"), Some(&token), None)
        .await;
    assert_eq!(read.body["status"], "accepted", "{}", read.text);
    assert_eq!(read.body["size"], content.len());
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content));
    assert_eq!(read.body["sha256"], sha256.as_str());
    let after = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&token), None)
        .await;
    assert_eq!(
        after.body["attachments"],
        json!([{
            "attachmentId": attachment,
            "fileName": "Line clearance.pdf",
            "mediaType": "application/pdf",
            "size": content.len(),
            "sha256": sha256,
        }])
    );
    assert_ne!(
        after.body["contentSha256"], before.body["contentSha256"],
        "the file is content"
    );

    // Delivered again: nothing more happens.
    let body = notification(&ingest.bucket, &key.replace(' ', "+"), content.len());
    let again = ingest_notification(&ingest, &body, "msg-1", Attempt::Retryable)
        .await
        .expect("ingested");
    assert_eq!(again, [Outcome::Ignored("already ingested")]);
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let accepted = events_of(&entries, &["attachment.accepted"]);
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    assert_eq!(accepted[0]["actor"]["userId"], "system");
    assert_eq!(accepted[0]["after"]["sha256"], sha256.as_str());
    assert_eq!(accepted[0]["target"]["id"], id.as_str());
}

/// Uploads that are not what they were declared as are refused with their reason, deleted
/// from quarantine (the current object; the lifecycle expires older versions) and never
/// encrypted: a program named `.pdf`, fewer bytes than declared, a zip named `.png`. A file
/// uploaded after its version left draft is refused too. Records of another bucket or prefix
/// are ignored, and an upload named under another tenant's prefix is found nowhere and leaves
/// the real one as it was.
///
/// Proves: FILE-1, TEN-3, AUD-3
#[tokio::test]
async fn uploads_that_are_not_what_they_claim_are_rejected_and_deleted() {
    let h = harness();
    let org = h.new_org("ingestbad").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let ingest = ingest_of(h).await;
    let mut program = vec![0x7F, b'E', b'L', b'F', 2, 1, 1];
    program.resize(512, 0);
    let mut zip = b"PK\x03\x04".to_vec();
    zip.resize(64, 0);
    let cases = [
        (
            ("manual.pdf", "application/pdf", program.len()),
            program.clone(),
            "executable",
        ),
        (
            ("short.pdf", "application/pdf", 100),
            b"%PDF-1.7\n".to_vec(),
            "size-mismatch",
        ),
        (("scan.png", "image/png", zip.len()), zip.clone(), "type-mismatch"),
    ];
    for (declared, content, code) in cases {
        let (attachment, key) = upload(h, &token, &id, declared, &content).await;
        let read = judged(h, &token, &attachment).await;
        assert_eq!(read["status"], "rejected", "{}: {read}", declared.0);
        assert_eq!(read["refusal"]["code"], code, "{}: {read}", declared.0);
        assert!(!read["refusal"]["reason"].as_str().unwrap().is_empty());
        assert!(gone(h, &ingest.bucket, &key).await);
        let stored = stored_key(&org, &attachment);
        assert!(!object_exists(h, &ingest.bucket, &stored).await);
    }
    // Uploaded after the version went to review: refused, and the version is unchanged.
    let pdf = b"%PDF-1.7\n%%EOF\n".to_vec();
    let late = declared(h, &token, &id, ("late.pdf", "application/pdf", pdf.len())).await;
    let submitted = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/transitions"),
            Some(&token),
            Some(json!({
                "to": "in_review",
                "reason": "Ready",
                "route": {
                    "order": "parallel",
                    "reviewers": [org.user(Role::Admin).user_id.to_string()],
                    "approvers": [org.user(Role::Owner).user_id.to_string()],
                },
            })),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text);
    put(&late, &pdf).await;
    let read = judged(h, &token, &late.id).await;
    assert_eq!(read["refusal"]["code"], "version-not-draft", "{read}");
    let key = late.key;
    let version = h
        .call(Method::GET, &format!("/documents/{id}/versions/1"), Some(&token), None)
        .await;
    assert_eq!(version.body["attachments"], json!([]));
    // Not ours to judge: another bucket, another prefix, another tenant's key, a test event.
    // This organisation's pending upload, named under another organisation's prefix: found
    // nowhere, and this organisation's upload is left as it was.
    let kept = declared(
        h,
        &token,
        &draft(h, &org).await,
        ("kept.pdf", "application/pdf", pdf.len()),
    )
    .await;
    let pending = kept.id.clone();
    let other = h.new_org("ingestother").await;
    let foreign = quire_store::quarantine_object(
        &quire_store::testing::scope(&other.org_id),
        &quire_core::ids::AttachmentId::parse(&pending).unwrap(),
    );
    for body in [
        notification("another-bucket", &key, 1),
        notification(&ingest.bucket, &stored_key(&org, &quire_blackbox_tests::uuid_hex()), 1),
        notification(&ingest.bucket, &foreign, 1),
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent"}).to_string(),
        "not json".to_owned(),
    ] {
        let outcomes = ingest_notification(&ingest, &body, "msg-4", Attempt::Retryable)
            .await
            .expect("ignored");
        assert!(
            outcomes.iter().all(|o| matches!(o, Outcome::Ignored(_))),
            "{body}: {outcomes:?}"
        );
    }
    let read = h
        .call(Method::GET, &format!("/attachments/{pending}"), Some(&token), None)
        .await;
    assert_eq!(read.body["status"], "pending");
    put(&kept, &pdf).await;
    assert_eq!(judged(h, &token, &pending).await["status"], "accepted");
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    assert_eq!(events_of(&entries, &["attachment.rejected"]).len(), 4);
    assert_eq!(events_of(&entries, &["attachment.accepted"]).len(), 1);
}

/// An upload that cannot be judged is retried on each delivery of its notification, and the
/// last delivery the queue allows (its `maxReceiveCount`) rejects it as `ingest-failed`, with
/// a reason that names no internals, so that its attachment does not stay pending; the fault
/// here is a record changed behind the API (the attachment names a version that does not
/// exist). A notification of an upload that is not there rejects its attachment as `missing`.
///
/// Proves: FILE-1, AUD-3
#[tokio::test]
async fn an_upload_that_cannot_be_judged_is_rejected_on_its_last_delivery() {
    let h = harness();
    let org = h.new_org("ingestfault").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let pdf = b"%PDF-1.7\n%%EOF\n".to_vec();
    let doomed = declared(h, &token, &id, ("doomed.pdf", "application/pdf", pdf.len())).await;
    h.tamper_number(
        quire_store::testing::attachment(&org.org_id, &doomed.id),
        "versionNumber",
        99,
    )
    .await;
    put(&doomed, &pdf).await;
    let read = judged(h, &token, &doomed.id).await;
    assert_eq!(read["status"], "rejected", "{read}");
    assert_eq!(read["refusal"]["code"], "ingest-failed");
    let reason = read["refusal"]["reason"].as_str().unwrap();
    for internal in ["version", "missing", "arn:", "Dynamo", "S3"] {
        assert!(!reason.contains(internal), "{reason}");
    }
    let ingest = ingest_of(h).await;
    assert!(gone(h, &ingest.bucket, &doomed.key).await);
    assert!(!object_exists(h, &ingest.bucket, &stored_key(&org, &doomed.id)).await);

    // Nothing was uploaded under this declaration: the notification finds no file.
    let absent = declared(h, &token, &id, ("absent.pdf", "application/pdf", pdf.len())).await;
    let outcomes = ingest_notification(
        &ingest,
        &notification(&ingest.bucket, &absent.key, pdf.len()),
        "msg-6",
        Attempt::Retryable,
    )
    .await
    .expect("judged");
    assert_eq!(
        outcomes,
        [Outcome::Rejected {
            attachment_id: absent.id.clone(),
            code: "missing"
        }]
    );
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let rejected = events_of(&entries, &["attachment.rejected"]);
    assert_eq!(rejected.len(), 2, "{rejected:#?}");
    assert!(rejected.iter().all(|e| e["actor"]["userId"] == "system"));
}

/// Stores a copy of the object at `key` with one byte flipped, at the offset `at` finds in
/// its bytes, as a new version of the key; answers that version's id.
async fn flip_stored_byte(h: &Harness, bucket: &str, key: &str, at: impl Fn(&[u8]) -> usize) -> String {
    let object = h.s3().get_object().bucket(bucket).key(key).send().await.unwrap();
    let mut bytes = object.body.collect().await.unwrap().into_bytes().to_vec();
    let offset = at(&bytes);
    bytes[offset] ^= 0x01;
    let put = h
        .s3()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
    put.version_id().expect("the bucket is versioned").to_owned()
}

/// The id of the current version of `key`.
async fn current_version(h: &Harness, bucket: &str, key: &str) -> String {
    let head = h.s3().head_object().bucket(bucket).key(key).send().await.unwrap();
    head.version_id().expect("the bucket is versioned").to_owned()
}

/// `GET /attachments/{id}/content` with `range` (a `Range` value) as `token`.
async fn fetch(h: &Harness, token: &str, attachment: &str, range: Option<&str>) -> quire_blackbox_tests::Reply {
    let mut request = h
        .request(Method::GET, &format!("/attachments/{attachment}/content"))
        .bearer_auth(token);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    h.raw(request).await
}

/// A text file of `size` bytes, different at every offset (lines of their own offset).
fn text_file(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    while out.len() < size {
        out.extend_from_slice(format!("{:012}\n", out.len()).as_bytes());
    }
    out.truncate(size);
    out
}

/// An accepted file downloads byte-exact: whole (200) when one response carries it, with its
/// media type, `Content-Disposition` naming it (RFC 6266/8187), `ETag` and `Repr-Digest` its
/// SHA-256; in ranges (206, `Content-Range`) at the envelope's frame edges and from the end;
/// a file over 4 MiB only in ranges (a request without one is a 400 naming the limit), read
/// back whole by paging through them across the stored object's multipart parts. A range
/// past the end is a 416. Every response is recorded (`attachment.downloaded`, with the
/// bytes served), by the member who downloaded.
///
/// Proves: FILE-3, CRY-1, AUD-3
#[tokio::test]
async fn an_accepted_file_downloads_byte_exact_whole_or_in_ranges() {
    let h = harness();
    let org = h.new_org("download").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let viewer = h.token(&org, Role::Viewer).await;
    let frame = quire_crypto::DEFAULT_FRAME_LENGTH as usize;
    let limit = quire_http::download::MAX_RESPONSE_BYTES as usize;
    let mut responses = 0;
    for size in [0, 1, frame, frame + 1, 9 * 1024 * 1024 + 7] {
        let content = text_file(size);
        let (attachment, _) = upload(
            h,
            &token,
            &id,
            (&format!("Prüfbericht {size}.txt"), "text/plain", size),
            &content,
        )
        .await;
        assert_eq!(judged(h, &token, &attachment).await["status"], "accepted");
        let sha256 = <sha2::Sha256 as sha2::Digest>::digest(&content);
        if size <= limit {
            let whole = fetch(h, &viewer, &attachment, None).await;
            responses += 1;
            assert_eq!(whole.status, StatusCode::OK, "{}", whole.text);
            assert_eq!(whole.text.as_bytes(), content.as_slice(), "{size} bytes");
            assert_eq!(whole.header("content-type"), Some("text/plain"));
            assert_eq!(whole.header("accept-ranges"), Some("bytes"));
            assert_eq!(whole.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(
                whole.header("content-disposition").unwrap(),
                format!(
                    "attachment; filename=\"Pr_fbericht {size}.txt\"; filename*=UTF-8''Pr%C3%BCfbericht%20{size}.txt"
                )
            );
            assert_eq!(whole.header("etag").unwrap(), format!("\"{}\"", hex::encode(sha256)));
            use base64::Engine;
            let digest = base64::engine::general_purpose::STANDARD.encode(sha256);
            assert_eq!(whole.header("repr-digest").unwrap(), format!("sha-256=:{digest}:"));
        } else {
            fetch(h, &token, &attachment, None)
                .await
                .assert_problem(StatusCode::BAD_REQUEST, "range-required");
            let mut read = Vec::new();
            while read.len() < size {
                let part = fetch(h, &token, &attachment, Some(&format!("bytes={}-", read.len()))).await;
                responses += 1;
                assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{}", part.text);
                let end = (read.len() + limit).min(size);
                assert_eq!(
                    part.header("content-range").unwrap(),
                    format!("bytes {}-{}/{size}", read.len(), end - 1)
                );
                read.extend_from_slice(part.text.as_bytes());
                assert_eq!(read.len(), end);
            }
            assert!(read == content, "paged ranges reassemble the file");
        }
        if size == 0 {
            fetch(h, &token, &attachment, Some("bytes=0-"))
                .await
                .assert_problem(StatusCode::RANGE_NOT_SATISFIABLE, "range-not-satisfiable");
            continue;
        }
        // Frame edges (the last byte of a frame, the first of the next) and the end.
        let edges = [(frame - 1, frame), (frame, frame + 1), (size - 1, size)];
        for (first, end) in edges.into_iter().filter(|(_, end)| *end <= size) {
            let part = fetch(h, &token, &attachment, Some(&format!("bytes={first}-{}", end - 1))).await;
            responses += 1;
            assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{}", part.text);
            assert_eq!(part.text.as_bytes(), &content[first..end], "{first}..{end} of {size}");
            assert_eq!(
                part.header("content-range").unwrap(),
                format!("bytes {first}-{}/{size}", end - 1)
            );
        }
        let suffix = fetch(h, &token, &attachment, Some("bytes=-2")).await;
        responses += 1;
        assert_eq!(suffix.text.as_bytes(), &content[size.saturating_sub(2)..]);
        let past = fetch(h, &token, &attachment, Some(&format!("bytes={size}-"))).await;
        past.assert_problem(StatusCode::RANGE_NOT_SATISFIABLE, "range-not-satisfiable");
        assert_eq!(past.header("content-range").unwrap(), format!("bytes */{size}"));
    }
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let downloads = events_of(&entries, &["attachment.downloaded"]);
    assert_eq!(downloads.len(), responses, "one entry per response served");
    assert!(downloads.iter().all(|e| e["target"]["id"] == id.as_str()));
    assert!(downloads
        .iter()
        .any(|e| e["actor"]["userId"] == org.user(Role::Viewer).user_id.to_string().as_str()));
    let first = downloads
        .iter()
        .find(|e| e["after"]["range"] == json!({"first": frame - 1, "last": frame}))
        .expect("a frame-edge range recorded");
    assert_eq!(first["after"]["bytes"], 2);
}

/// A file is not served until it was checked and accepted (409); another organisation's
/// attachment is not found (404), whatever the range.
///
/// Proves: TEN-3, FILE-1
#[tokio::test]
async fn only_accepted_files_of_ones_own_organisation_are_served() {
    let h = harness();
    let org = h.new_org("dlscope").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let pending = declared(h, &token, &id, ("later.txt", "text/plain", 5)).await;
    fetch(h, &token, &pending.id, None)
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
    let (refused, _) = upload(h, &token, &id, ("short.txt", "text/plain", 50), b"short").await;
    assert_eq!(judged(h, &token, &refused).await["status"], "rejected");
    fetch(h, &token, &refused, None)
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
    let (mine, _) = upload(h, &token, &id, ("mine.txt", "text/plain", 5), b"hello").await;
    assert_eq!(judged(h, &token, &mine).await["status"], "accepted");
    let other = h.new_org("dlscopeother").await;
    let theirs = h.token(&other, Role::Owner).await;
    for range in [None, Some("bytes=0-0")] {
        fetch(h, &theirs, &mine, range)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    fetch(h, &token, &quire_blackbox_tests::uuid_hex(), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(fetch(h, &token, &mine, None).await.text, "hello");
}

/// A stored copy that is not what was stored is never served, in whole or in part, and the
/// failure is recorded (`attachment.integrity-failed`) and answered 409 `integrity-failed`
/// without internals: a copy with a flipped byte that the record was pointed at (the frame's
/// authentication tag refuses it), the same with a flipped byte of the wrapped data key in
/// the header (KMS refuses it), a record whose SHA-256 no longer matches the decrypted file,
/// a deleted copy (its recorded version deleted). A range in frames the flip did not touch is
/// still served: each frame is authenticated on its own. (A tampered copy the record was not
/// pointed at is never read: `a_ciphertext_left_at_an_attachments_key_changes_nothing`.)
///
/// Proves: CRY-1, FILE-3, AUD-3
#[tokio::test]
async fn a_stored_copy_that_fails_its_check_is_never_served() {
    let h = harness();
    let org = h.new_org("dltamper").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let bucket = bucket(h).await;
    let frame = quire_crypto::DEFAULT_FRAME_LENGTH as usize;
    let content = text_file(3 * frame);
    let mut stored = Vec::new();
    for name in ["flipped.txt", "recorded.txt", "deleted.txt", "rewrapped.txt"] {
        let (attachment, _) = upload(h, &token, &id, (name, "text/plain", content.len()), &content).await;
        assert_eq!(judged(h, &token, &attachment).await["status"], "accepted");
        stored.push(attachment);
    }
    // A byte of frame 2's ciphertext flipped in place: two frames' length before the end lies
    // in frame 2's sealed content, whether the last full frame is a regular one (then an empty
    // final frame follows) or the final one.
    let flipped = flip_stored_byte(h, &bucket, &stored_key(&org, &stored[0]), |c| c.len() - 2 * frame).await;
    h.tamper(
        quire_store::testing::attachment(&org.org_id, &stored[0]),
        "objectVersion",
        &flipped,
    )
    .await;
    // The record's SHA-256 changed behind the API.
    h.tamper(
        quire_store::testing::attachment(&org.org_id, &stored[1]),
        "sha256",
        &"0".repeat(64),
    )
    .await;
    let deleted = stored_key(&org, &stored[2]);
    h.s3()
        .delete_object()
        .bucket(&bucket)
        .key(&deleted)
        .version_id(current_version(h, &bucket, &deleted).await)
        .send()
        .await
        .unwrap();
    // The last byte of the wrapped data key, which follows the key's ARN and the key's length
    // in the header (docs/envelope-format.md).
    let arn = h.kms_key_arn().await.into_bytes();
    let rewrapped = flip_stored_byte(h, &bucket, &stored_key(&org, &stored[3]), |c| {
        let after_arn = c
            .windows(arn.len())
            .position(|w| w == arn.as_slice())
            .expect("the header names the key")
            + arn.len();
        after_arn + 2 + usize::from(u16::from_be_bytes([c[after_arn], c[after_arn + 1]])) - 1
    })
    .await;
    h.tamper(
        quire_store::testing::attachment(&org.org_id, &stored[3]),
        "objectVersion",
        &rewrapped,
    )
    .await;
    for (attachment, range) in [
        (&stored[3], None),
        (&stored[0], None),
        (&stored[0], Some(format!("bytes={frame}-{}", frame + 9))),
        (&stored[1], None),
        (&stored[2], None),
        (&stored[2], Some("bytes=0-0".to_owned())),
    ] {
        let refused = fetch(h, &token, attachment, range.as_deref()).await;
        refused.assert_problem(StatusCode::CONFLICT, "integrity-failed");
        for internal in ["attachments/", "arn:", "S3", "KMS", "frame"] {
            assert!(!refused.text.contains(internal), "{}", refused.text);
        }
    }
    // Frames 1 and 3 of the flipped copy are intact: a range inside frame 1 is served.
    let intact = fetch(h, &token, &stored[0], Some("bytes=0-9")).await;
    assert_eq!(intact.status, StatusCode::PARTIAL_CONTENT, "{}", intact.text);
    assert_eq!(intact.text.as_bytes(), &content[..10]);
    h.audit_settled(&org).await;
    let entries = h.trail_entries(&org.org_id).await;
    let failed = events_of(&entries, &["attachment.integrity-failed"]);
    let classes: Vec<&str> = failed.iter().map(|e| e["after"]["failure"].as_str().unwrap()).collect();
    assert_eq!(
        classes,
        [
            "authentication",
            "authentication",
            "authentication",
            "sha256",
            "missing",
            "missing"
        ],
        "{failed:#?}"
    );
    assert_eq!(events_of(&entries, &["attachment.downloaded"]).len(), 1);
}

/// A ciphertext at an attachment's key that no record names (one a failed or racing attempt
/// stored and could not delete) changes nothing: written before the upload, the file is still
/// accepted; written after, the download still serves the recorded version byte-exact. The
/// API never shows where the bytes are kept.
///
/// Proves: CRY-1, FILE-1
#[tokio::test]
async fn a_ciphertext_left_at_an_attachments_key_changes_nothing() {
    let h = harness();
    let org = h.new_org("leftover").await;
    let id = draft(h, &org).await;
    let token = h.token(&org, Role::User).await;
    let bucket = bucket(h).await;
    let content = text_file(10_000);
    let declared = declared(h, &token, &id, ("kept.txt", "text/plain", content.len())).await;
    let key = stored_key(&org, &declared.id);
    let leftover = |seed: u8| {
        h.s3()
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(vec![seed; 5000].into())
            .send()
    };
    leftover(1).await.expect("a ciphertext left before the upload");
    put(&declared, &content).await;
    let accepted = judged(h, &token, &declared.id).await;
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    assert!(accepted.get("objectVersion").is_none(), "{accepted}");
    assert_eq!(fetch(h, &token, &declared.id, None).await.text.as_bytes(), content);
    leftover(2).await.expect("a ciphertext left after the acceptance");
    let served = fetch(h, &token, &declared.id, None).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.text);
    assert_eq!(served.text.as_bytes(), content);
    let ranged = fetch(h, &token, &declared.id, Some("bytes=5000-5099")).await;
    assert_eq!(ranged.text.as_bytes(), &content[5000..5100]);
}
