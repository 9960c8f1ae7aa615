//! Copies for inspection over HTTP (AUD-9, Part 11 §11.10(b)): the audit trail as JSON that
//! an independent verifier checks offline and as CSV people read (RFC 4180, formulas
//! neutralised, filters); a document's version as JSON and as PDF; each copy recorded, and bad
//! requests refused without recording anything.

use quire_blackbox_tests::{events_of, harness, Harness, Reply};
use quire_core::audit::export::CSV_COLUMNS;
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn export(h: &Harness, token: &str, query: &str) -> Reply {
    h.raw(
        h.request(Method::GET, &format!("/audit/export?{query}"))
            .bearer_auth(token),
    )
    .await
}

/// Runs `scripts/verify_chain.py --org <org>` on `export`: whether it says valid, and what it
/// printed.
fn verify_offline(org: &str, export: &[u8]) -> (bool, String) {
    let file = std::env::temp_dir().join(format!("quire-export-{}.json", quire_blackbox_tests::uuid_hex()));
    std::fs::write(&file, export).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/verify_chain.py");
    let out = std::process::Command::new("python3")
        .args([script, "--org", org])
        .arg(&file)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// The records of a CSV export, header first.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.expect("RFC 4180").iter().map(str::to_owned).collect())
        .collect()
}

/// A JSON export is the whole chain through its head, with the blobs its entries reference:
/// `scripts/verify_chain.py` verifies it offline, and refuses it once an entry is changed. It
/// is served as a file (its name, its SHA-256 as `Repr-Digest`), holds only the caller's
/// organisation (another's entries, appended meanwhile, are not in it), and is recorded
/// (`audit.exported`, with the head and the SHA-256 served).
///
/// Proves: AUD-9, TEN-1
#[tokio::test]
async fn a_json_export_verifies_offline_and_is_recorded() {
    let h = harness();
    let org = h.new_org("export").await;
    let owner = h.token(&org, Role::Owner).await;
    let doc = h.create_document(&owner, "SOP-1 Line clearance").await;
    let id = doc["id"].as_str().unwrap();
    // A body long enough to be kept as a blob beside the chain.
    let long = "Step. ".repeat(400);
    let edited = h
        .edit_document(&owner, id, 1, json!({"body": long, "reason": "Expanded"}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    h.audit_settled(&org).await;
    let globex = h.org("globex");
    let theirs = h
        .create_document(&h.token(globex, Role::Owner).await, "Another company's")
        .await;
    h.audit_settled(globex).await;

    let reply = export(h, &owner, "format=json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let exported: Value = serde_json::from_str(&reply.text).unwrap();
    let head = exported["head"]["seq"].as_u64().unwrap();
    let entries = exported["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, head);
    assert!(entries.iter().all(|e| e["event"]["orgId"] == org.org_id.to_string()));
    assert!(
        !reply.text.contains(theirs["id"].as_str().unwrap()),
        "nothing of another organisation"
    );
    assert!(
        !exported["blobs"].as_object().unwrap().is_empty(),
        "the long body's blob"
    );
    let disposition = reply.header("content-disposition").unwrap();
    assert!(
        disposition.contains(&format!("audit-trail-{}-through-{head}.json", org.org_id)),
        "{disposition}"
    );
    let sha256 = sha256_hex(reply.text.as_bytes());
    let digest = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        hex::decode(&sha256).unwrap(),
    );
    assert_eq!(
        reply.header("repr-digest"),
        Some(format!("sha-256=:{digest}:").as_str())
    );
    assert_eq!(reply.header("accept-ranges"), None, "an export is served whole");

    let (valid, printed) = verify_offline(&org.org_id.to_string(), reply.text.as_bytes());
    assert!(valid, "{printed}");
    let mut altered = exported.clone();
    altered["entries"][1]["event"]["reason"] = json!("backdated");
    let (valid, printed) = verify_offline(&org.org_id.to_string(), altered.to_string().as_bytes());
    assert!(!valid, "an altered export is refused: {printed}");
    let (valid, _) = verify_offline(h.org("globex").org_id.as_str(), reply.text.as_bytes());
    assert!(!valid, "the export is bound to its organisation");

    h.audit_settled(&org).await;
    let trail = h.trail_entries(&org.org_id).await;
    let recorded = events_of(&trail, &["audit.exported"]);
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    let after = &recorded[0]["after"];
    assert_eq!(after["format"], "json");
    assert_eq!(after["sha256"], sha256.as_str());
    assert_eq!(after["through"]["seq"], head);
    assert_eq!(after["entries"], head);
    assert_eq!(after["bytes"], reply.text.len());
    assert_eq!(
        recorded[0]["target"],
        json!({"type": "audit-trail", "id": org.org_id.to_string()})
    );
}

/// A CSV export is RFC 4180 with a header record; a cell a spreadsheet would evaluate (a
/// reason or a user agent a client chose that begins with `=`, `+`, `-` or `@`) begins with
/// `'`; values kept as blobs are shown in full; filters select by action, target, actor and
/// time; each export is recorded with its filters.
///
/// Proves: AUD-9
#[tokio::test]
async fn a_csv_export_is_filtered_and_neutralises_formulas() {
    let h = harness();
    let org = h.new_org("csvexport").await;
    let owner = h.token(&org, Role::Owner).await;
    let doc = h.create_document(&owner, "SOP-2 Gowning").await;
    let id = doc["id"].as_str().unwrap();
    let long = "Gown. ".repeat(400);
    let edited = h
        .raw(
            h.request(Method::PATCH, &format!("/documents/{id}"))
                .bearer_auth(&owner)
                .header("if-match", "\"1\"")
                .header("user-agent", "=HYPERLINK(\"http://evil.example\",\"open\")")
                .json(&json!({"body": long, "reason": "@SUM(1+1)"})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    h.audit_settled(&org).await;

    let all = export(h, &owner, "format=csv").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(
        all.header("content-type"),
        Some("text/csv; charset=utf-8; header=present")
    );
    assert!(all.text.ends_with("\r\n"), "CRLF-terminated records");
    let records = csv_records(&all.text);
    assert_eq!(records[0], CSV_COLUMNS);
    let column = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let updated: Vec<&Vec<String>> = records
        .iter()
        .filter(|r| r[column("action")] == "document.updated")
        .collect();
    assert_eq!(updated.len(), 1, "{records:?}");
    let row = updated[0];
    assert_eq!(row[column("reason")], "'@SUM(1+1)");
    assert_eq!(
        row[column("userAgent")],
        "'=HYPERLINK(\"http://evil.example\",\"open\")"
    );
    let after: Value = serde_json::from_str(&row[column("after")]).unwrap();
    assert_eq!(after["body"], long.as_str(), "the blob is shown in full");
    // No cell begins with a formula character.
    for record in &records {
        for cell in record {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
        }
    }

    let only = export(h, &owner, "format=csv&action=document.updated").await;
    let only = csv_records(&only.text);
    assert_eq!(only.len(), 2, "{only:?}");
    assert_eq!(only[1][column("seq")], row[column("seq")]);
    let target = export(h, &owner, &format!("format=csv&targetType=document&targetId={id}")).await;
    let target = csv_records(&target.text);
    assert!(target.len() > 2, "{target:?}");
    assert!(target[1..].iter().all(|r| r[column("targetId")] == id));
    let actor = row[column("actorUserId")].clone();
    let by_actor = csv_records(&export(h, &owner, &format!("format=csv&actor={actor}")).await.text);
    assert!(by_actor[1..].iter().all(|r| r[column("actorUserId")] == actor));
    assert!(by_actor.len() < records.len(), "seeding is the system's");
    let at = row[column("at")].clone();
    let since = csv_records(&export(h, &owner, &format!("format=csv&from={at}")).await.text);
    assert!(since[1..].iter().all(|r| r[column("at")] >= at));
    assert!(
        since.iter().any(|r| r[column("seq")] == row[column("seq")]),
        "from is inclusive"
    );
    let before = csv_records(&export(h, &owner, &format!("format=csv&to={at}")).await.text);
    assert!(before[1..].iter().all(|r| r[column("at")] < at), "to is exclusive");
    let future = csv_records(&export(h, &owner, "format=csv&from=2999-01-01T00:00:00Z").await.text);
    assert_eq!(future.len(), 1, "the header only");

    h.audit_settled(&org).await;
    let trail = h.trail_entries(&org.org_id).await;
    let recorded = events_of(&trail, &["audit.exported"]);
    assert_eq!(recorded.len(), 7, "{recorded:#?}");
    assert_eq!(recorded[1]["after"]["filters"]["action"], "document.updated");
    assert_eq!(recorded[1]["after"]["format"], "csv");
}

/// A request that cannot be served as asked is a 400 naming the parameter and records
/// nothing: no or an unknown format, a filtered JSON export, an unknown action, a time that is
/// not RFC 3339 UTC, half a target, paging parameters, an unknown parameter. A member without
/// `AuditRead` is refused (403).
///
/// Proves: AUD-9
#[tokio::test]
async fn exports_that_cannot_be_served_as_asked_change_nothing() {
    let h = harness();
    let org = h.new_org("badexport").await;
    let owner = h.token(&org, Role::Owner).await;
    h.audit_settled(&org).await;
    for (query, parameter) in [
        ("", "format"),
        ("format=xml", "format"),
        ("format=json&action=document.updated", "format"),
        ("format=csv&action=document.deleted", "action"),
        ("format=csv&from=yesterday", "from"),
        ("format=csv&to=2026-12-01T09:00:00%2B02:00", "to"),
        ("format=csv&targetType=document", "targetId"),
        ("format=csv&targetId=x", "targetType"),
        ("format=csv&limit=5", "limit"),
        ("format=csv&cursor=abc", "cursor"),
        ("format=csv&format=json", "format"),
        ("format=csv&evil=1", "evil"),
    ] {
        let refused = export(h, &owner, query).await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert_eq!(refused.body["parameter"], parameter, "{query}: {}", refused.text);
    }
    for role in [Role::User, Role::Viewer] {
        export(h, &h.token(&org, role).await, "format=csv")
            .await
            .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    h.audit_settled(&org).await;
    let trail = h.trail_entries(&org.org_id).await;
    assert!(events_of(&trail, &["audit.exported"]).is_empty());
}

/// A document in review with a reviewer's signature, as `token`'s organisation holds it: its
/// id, and the signature's printed name.
async fn signed_document(h: &Harness, org: &quire_local::seed::SeededOrg, token: &str) -> (String, String) {
    let doc = h.create_document(token, "SOP-9 Line clearance").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    // Text a PDF must not lose: parentheses and a backslash (string delimiters in PDF), a
    // character its fonts lack, a carriage return alone.
    let body = "Check pH \u{2265} 7 (in range) \\ log it.\rThen sign.";
    let edited = h
        .edit_document(token, &id, 1, json!({"body": body, "reason": "Limits stated"}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let route = json!({
        "order": "parallel",
        "reviewers": [org.user(Role::User).user_id.to_string()],
        "approvers": [org.user(Role::Admin).user_id.to_string()],
    });
    let submitted = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/transitions"),
            Some(token),
            Some(json!({"to": "in_review", "reason": "Ready for review", "route": route})),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text);
    let signed = h
        .call(
            Method::POST,
            &format!("/documents/{id}/versions/1/signatures"),
            Some(&h.token(org, Role::User).await),
            Some(json!({
                "meaning": "reviewed",
                "password": h.password,
                "contentSha256": submitted.body["contentSha256"],
            })),
        )
        .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.text);
    (id, signed.body["printedName"].as_str().unwrap().to_owned())
}

/// A version's copy for inspection, from one request: as JSON, its document, content, files,
/// signatures with their manifestation, and the document's entries each with `prevHash` and a
/// `hash` that recomputes from them; as PDF (parsed back with `lopdf`), the same read by
/// people: the cover, the content with PDF delimiters intact and a character the fonts lack
/// shown as its code point, the signature section's own lines, the audit rows, the
/// verification hashes. Each copy is recorded (`document.exported`, with the SHA-256 served).
///
/// Proves: AUD-9, FILE-3
#[tokio::test]
async fn a_document_is_exported_as_json_and_pdf_with_its_signatures_and_entries() {
    let h = harness();
    let org = h.new_org("docexport").await;
    let owner = h.token(&org, Role::Owner).await;
    let (id, printed_name) = signed_document(h, &org, &owner).await;
    h.audit_settled(&org).await;

    let reply = export_of(h, &owner, &id, "format=json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let copy: Value = serde_json::from_str(&reply.text).unwrap();
    let number = copy["document"]["number"].as_str().unwrap().to_owned();
    assert!(reply
        .header("content-disposition")
        .unwrap()
        .contains(&format!("{number}-v1.json")));
    assert_eq!(copy["version"]["versionNumber"], 1);
    assert_eq!(copy["version"]["status"], "in_review");
    let signatures = copy["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{signatures:#?}");
    assert_eq!(signatures[0]["manifestation"]["printedName"], printed_name.as_str());
    assert_eq!(signatures[0]["manifestation"]["meaning"], "reviewed");
    assert_eq!(signatures[0]["manifestation"]["contentMatches"], true);
    assert_eq!(signatures[0]["signature"]["contentSha256"], copy["contentSha256"]);
    let entries = copy["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["event"]["action"].as_str().unwrap()).collect();
    for expected in ["document.created", "document.transitioned", "document.signed"] {
        assert!(actions.contains(&expected), "{actions:?}");
    }
    let head = copy["chainHead"]["seq"].as_u64().unwrap();
    for entry in entries {
        assert_eq!(entry["event"]["target"]["id"], id.as_str());
        assert!(entry["seq"].as_u64().unwrap() <= head);
        let entry: quire_core::audit::chain::Entry = serde_json::from_value(entry.clone()).unwrap();
        let content = quire_core::audit::chain::canonical_content(entry.seq, &entry.prev_hash, &entry.event).unwrap();
        let hash = quire_core::audit::chain::link_hash(&entry.prev_hash, &content).unwrap();
        assert_eq!(hash, entry.hash, "entry {} checks on its own", entry.seq);
    }

    let pdf = h
        .raw(
            h.request(Method::GET, &format!("/documents/{id}/export?format=pdf"))
                .bearer_auth(&owner),
        )
        .await;
    assert_eq!(pdf.status, StatusCode::OK, "{}", pdf.text);
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    let bytes = pdf_bytes(h, &owner, &id).await;
    assert!(bytes.starts_with(b"%PDF-"));
    let parsed = lopdf::Document::load_mem(&bytes).expect("a valid PDF");
    let info = parsed
        .trailer
        .get(b"Info")
        .and_then(lopdf::Object::as_reference)
        .unwrap();
    let title = parsed.get_dictionary(info).unwrap().get(b"Title").unwrap();
    assert!(
        lopdf::decode_text_string(title)
            .unwrap()
            .starts_with(&format!("{number} v1 SOP-9")),
        "the document information names the copy"
    );
    let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
    let text = parsed.extract_text(&pages).expect("its text");
    let signed_entry = entries
        .iter()
        .find(|e| e["event"]["action"] == "document.signed")
        .unwrap();
    let manifestation = &signatures[0]["manifestation"];
    let signature_lines = [
        format!("1. {printed_name}"),
        format!(
            "signed at {} UTC, meaning: reviewed, given to this content: yes",
            manifestation["signedAt"].as_str().unwrap()
        ),
    ];
    for expected in [
        number.as_str(),
        "SOP-9 Line clearance",
        "Check pH <U+2265> 7 (in range) \\ log it.",
        "Characters shown as code points in this copy: ",
        "3. SIGNATURES",
        &signature_lines[0],
        &signature_lines[1],
        "document.signed",
        "Ready for review",
        "5. VERIFICATION",
        copy["contentSha256"].as_str().unwrap(),
        signed_entry["hash"].as_str().unwrap(),
    ] {
        assert!(text.contains(expected), "the PDF shows {expected:?}:\n{text}");
    }
    assert!(!text.contains("in this copy: 0"), "{text}");
    // A lone carriage return breaks the line: the text after it is shown on its own (the
    // content streams are not compressed).
    let shown = |line: &str| {
        bytes
            .windows(line.len() + 5)
            .any(|w| w == format!("({line}) Tj").as_bytes())
    };
    assert!(shown("Then sign."), "a lone carriage return is a line break");

    h.audit_settled(&org).await;
    let trail = h.trail_entries(&org.org_id).await;
    let recorded = events_of(&trail, &["document.exported"]);
    assert_eq!(recorded.len(), 3, "{recorded:#?}");
    assert_eq!(recorded[0]["after"]["format"], "json");
    assert_eq!(
        recorded[0]["after"]["sha256"],
        sha256_hex(reply.text.as_bytes()).as_str()
    );
    assert_eq!(recorded[0]["target"], json!({"type": "document", "id": id}));
    assert_eq!(recorded[2]["after"]["format"], "pdf");
    assert_eq!(recorded[2]["after"]["sha256"], sha256_hex(&bytes).as_str());
}

/// `GET /documents/{id}/export` as `token` with `query`.
async fn export_of(h: &Harness, token: &str, id: &str, query: &str) -> Reply {
    h.raw(
        h.request(Method::GET, &format!("/documents/{id}/export?{query}"))
            .bearer_auth(token),
    )
    .await
}

/// The PDF copy's bytes.
async fn pdf_bytes(h: &Harness, token: &str, id: &str) -> Vec<u8> {
    let response = h
        .request(Method::GET, &format!("/documents/{id}/export?format=pdf"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.unwrap().to_vec()
}

/// A copy that cannot be made as asked is refused and records nothing: no or an unknown
/// format, a version that is not a number (400) or not the document's (404), another
/// organisation's document (404), a member without `AuditRead` (403).
///
/// Proves: AUD-9, TEN-3
#[tokio::test]
async fn document_exports_that_cannot_be_made_change_nothing() {
    let h = harness();
    let org = h.new_org("docbadexport").await;
    let owner = h.token(&org, Role::Owner).await;
    let doc = h.create_document(&owner, "SOP-3 Cleaning").await;
    let id = doc["id"].as_str().unwrap();
    for (query, parameter) in [
        ("", "format"),
        ("format=docx", "format"),
        ("format=pdf&version=x", "version"),
    ] {
        let refused = export_of(h, &owner, id, query).await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert_eq!(refused.body["parameter"], parameter, "{query}");
    }
    export_of(h, &owner, id, "format=json&version=9")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let other = h.token(h.org("globex"), Role::Owner).await;
    export_of(h, &other, id, "format=json")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    export_of(h, &h.token(&org, Role::User).await, id, "format=pdf")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    h.audit_settled(&org).await;
    let trail = h.trail_entries(&org.org_id).await;
    assert!(events_of(&trail, &["document.exported"]).is_empty());
}

/// The contract says which files the export routes make: JSON as described, or CSV (the
/// trail) or PDF (a document), as the request asks.
///
/// Proves: HTTP-7, AUD-9
#[tokio::test]
async fn the_contract_names_the_media_types_of_each_export() {
    let h = harness();
    let served = h.call(Method::GET, "/openapi.json", None, None).await;
    for (path, other) in [
        ("/audit/export", "text/csv"),
        ("/documents/{id}/export", "application/pdf"),
    ] {
        let content = &served.body["paths"][path]["get"]["responses"]["2XX"]["content"];
        let mut types: Vec<&str> = content.as_object().unwrap().keys().map(String::as_str).collect();
        types.sort_unstable();
        let mut expected = vec!["application/json", other];
        expected.sort_unstable();
        assert_eq!(types, expected, "{path}");
    }
}

/// A copy never shows a signature the trail does not record: a signature record without its
/// `document.signed` entry (here one written behind the API, under its own id; in operation,
/// one whose entry the writer has not appended yet) makes the copy a 503 `not-yet-recorded`
/// with `Retry-After`, in either form, and nothing is recorded.
///
/// Proves: AUD-9
#[tokio::test]
async fn a_copy_is_not_made_while_a_signature_lacks_its_entry() {
    let h = harness();
    let org = h.new_org("docunrecorded").await;
    let owner = h.token(&org, Role::Owner).await;
    let (id, _) = signed_document(h, &org, &owner).await;
    h.audit_settled(&org).await;
    let copy: Value = serde_json::from_str(&export_of(h, &owner, &id, "format=json").await.text).unwrap();
    let sid = copy["signatures"][0]["signature"]["id"].as_str().unwrap().to_owned();
    let twin = uuid::Uuid::now_v7().hyphenated().to_string();
    h.copy_item(
        quire_store::testing::document_signature(&org.org_id, &id, 1, &sid),
        quire_store::testing::document_signature(&org.org_id, &id, 1, &twin),
    )
    .await;
    h.tamper(
        quire_store::testing::document_signature(&org.org_id, &id, 1, &twin),
        "id",
        &twin,
    )
    .await;
    h.audit_settled(&org).await;
    let before = events_of(&h.trail_entries(&org.org_id).await, &["document.exported"]).len();
    for format in ["json", "pdf"] {
        let refused = export_of(h, &owner, &id, &format!("format={format}")).await;
        refused.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not-yet-recorded");
        assert_eq!(refused.header("retry-after"), Some("1"));
    }
    h.audit_settled(&org).await;
    let after = events_of(&h.trail_entries(&org.org_id).await, &["document.exported"]).len();
    assert_eq!(after, before, "a refused copy is not recorded");
}
