//! Audit chain test vectors (`tests/vectors/audit-chain.json`): an intact chain and tampered
//! copies, each with the verdict every correct verifier must reach. The same file is checked by
//! the independent Python verifier, `scripts/verify_chain.py`, so the format in
//! docs/audit-format.md is proven implementable from the text alone.
//!
//! Regenerate (only when the format deliberately changes): `QUIRE_WRITE_VECTORS=1 cargo test -p quire-core --test audit_vectors`.

use quire_core::audit::chain::{self, Entry, Head};
use quire_core::audit::{Action, Actor, AuditEvent, Origin, Target};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The organisation every vector's chain belongs to.
const ORG: &str = "0b6f3a52-1c7e-4d0a-9a55-3f1e2d4c5b6a";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/audit-chain.json")
}

fn event(n: u64, action: Action, before: Option<Value>, after: Option<Value>, reason: Option<&str>) -> AuditEvent {
    AuditEvent {
        v: quire_core::audit::FORMAT_VERSION,
        event_id: format!("{:013}-00000000-0000-4000-8000-{n:012}", 1_795_000_000_000u64 + n),
        org_id: ORG.into(),
        at: format!("2026-11-23T10:00:0{n}.123Z"),
        actor: Actor {
            user_id: "7a1d5c3e-0000-4000-8000-000000000001".into(),
            display_name: "Acme Owner — QA ünïcode 😀".into(),
            email: "owner@acme.test".into(),
            role: "Owner".into(),
            impersonator: None,
        },
        action,
        target: Target::new("document", "01900000-0000-7000-8000-000000000001"),
        before,
        after,
        reason: reason.map(str::to_owned),
        origin: Origin::new(Some("203.0.113.7"), Some("Mozilla/5.0 \"quoted\" \\ back"), "corr-0001"),
    }
}

fn vectors() -> Value {
    let doc = |version: u64, body: &str| json!({"id": "01900000-0000-7000-8000-000000000001", "title": "SOP-001", "type": "sop", "body": body, "status": "draft", "version": version, "\u{ff21}": 1, "\u{1f600}": 2});
    let events = vec![
        event(
            1,
            Action::OrganisationCreated,
            None,
            Some(json!({"name": "Acme", "status": "Active"})),
            None,
        ),
        event(
            2,
            Action::DocumentCreated,
            None,
            Some(doc(1, "Step 1\nStep 2\t(tab)")),
            None,
        ),
        event(
            3,
            Action::DocumentUpdated,
            Some(doc(1, "Step 1\nStep 2\t(tab)")),
            Some(doc(2, "Step 1 revised")),
            Some("Clarified step 1"),
        ),
        event(
            4,
            Action::AuditVerified,
            None,
            Some(json!({"valid": true, "checked": 3, "brokenAt": null})),
            None,
        ),
        event(
            5,
            Action::DocumentUpdated,
            Some(doc(2, "Step 1 revised")),
            Some(doc(3, "")),
            Some("Emptied for rewrite"),
        ),
    ];
    let (entries, head) = chain::extend(&Head::genesis(), events).expect("vectors hash");
    let as_values = |entries: &[Entry]| {
        entries
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect::<Vec<_>>()
    };
    let good = as_values(&entries);
    let case = |name: &str, entries: Vec<Value>, head: &Head, broken_at: Option<u64>| json!({"name": name, "head": head, "entries": entries, "valid": broken_at.is_none(), "brokenAt": broken_at});

    let mut altered = good.clone();
    altered[2]["event"]["reason"] = json!("Backdated");
    let mut deleted = good.clone();
    deleted.remove(3);
    let mut reordered = good.clone();
    reordered.swap(1, 2);
    let mut extra = good.clone();
    extra[1]["note"] = json!("added later");
    let mut relinked = good.clone();
    relinked[3]["prevHash"] = relinked[1]["hash"].clone();
    let forged_head = Head {
        seq: 5,
        hash: entries[3].hash.clone(),
    };
    json!({
        "format": "docs/audit-format.md",
        "hash": "SHA-256(raw(prevHash) || JCS({seq, prevHash, event})), lower-case hex; genesis prevHash is 64 zeros",
        "cases": [
            case("intact chain", good.clone(), &head, None),
            case("empty chain", vec![], &Head::genesis(), None),
            case("altered reason in entry 3", altered, &head, Some(3)),
            case("entry 4 deleted", deleted, &head, Some(4)),
            case("entries 2 and 3 swapped", reordered, &head, Some(2)),
            case("unknown field on entry 2", extra, &head, Some(2)),
            case("entry 4 linked to entry 2", relinked, &head, Some(4)),
            case("last entry deleted", good[..4].to_vec(), &head, Some(5)),
            case("entry after the head", good.clone(), &Head { seq: 4, hash: entries[3].hash.clone() }, Some(5)),
            case("head hash forged", good, &forged_head, Some(5)),
        ]
    })
}

/// Proves: AUD-2, AUD-5
#[test]
fn vectors_verify_as_recorded() {
    let generated = vectors();
    if std::env::var_os("QUIRE_WRITE_VECTORS").is_some() {
        std::fs::write(path(), serde_json::to_string_pretty(&generated).unwrap() + "\n").unwrap();
    }
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(path()).expect("vector file")).unwrap();
    assert_eq!(
        recorded, generated,
        "the recorded vectors no longer match the implementation: the hash format changed"
    );
    for case in recorded["cases"].as_array().unwrap() {
        let head: Head = serde_json::from_value(case["head"].clone()).unwrap();
        let entries = case["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_value::<Entry>(e.clone()).map_err(|e| e.to_string()));
        let verdict = chain::verify(ORG, entries, &head);
        assert_eq!(verdict.valid, case["valid"].as_bool().unwrap(), "{}", case["name"]);
        assert_eq!(verdict.broken_at, case["brokenAt"].as_u64(), "{}", case["name"]);
    }
}
