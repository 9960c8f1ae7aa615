//! Audit chain test vectors (`tests/vectors/audit-chain.json`): an intact chain and tampered
//! copies, each with the verdict every correct verifier must reach. The same file is checked by
//! the independent Python verifier, `scripts/verify_chain.py`, so the format in
//! docs/audit-format.md is proven implementable from the text alone.
//!
//! Regenerate (only when the format deliberately changes): `QUIRE_WRITE_VECTORS=1 cargo test -p quire-core --test audit_vectors`.

use quire_core::audit::canonical;
use quire_core::audit::chain::{self, Entry, Head};
use quire_core::audit::{Action, Actor, AuditEvent, Origin, Target};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The organisation every vector's chain belongs to.
const ORG: &str = "0b6f3a52-1c7e-4d0a-9a55-3f1e2d4c5b6a";
/// Another organisation, whose entries must not verify as `ORG`'s.
const OTHER_ORG: &str = "5d2e8c41-9b3a-4f6e-8d7c-1a0b2c3d4e5f";

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
            Some(json!({"name": "Acme", "status": "Active", "members": 0})),
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
    // Entry 3 holds a long value as a blob reference; the blob travels beside the entries.
    let mut events = events;
    let appendix = "Appendix A. ".repeat(120);
    events[2].after.as_mut().unwrap()["appendix"] =
        json!({"$sha256": quire_core::audit::blob::digest(&appendix), "$bytes": appendix.len()});
    let blobs = json!({ quire_core::audit::blob::digest(&appendix): appendix });
    let (entries, head) = chain::extend(&Head::genesis(), events.clone()).expect("vectors hash");
    // Chains whose links all hold but whose entries 4 and 5 break a rule of the format: another
    // organisation, a format version no verifier knows.
    let relinked_from_4 = |change: &dyn Fn(&mut AuditEvent)| {
        let mut changed = events.clone();
        changed[3..].iter_mut().for_each(change);
        chain::extend(&Head::genesis(), changed).expect("vectors hash")
    };
    let (spliced, spliced_head) = relinked_from_4(&|e| e.org_id = OTHER_ORG.into());
    let (future, future_head) = relinked_from_4(&|e| e.v = 2);
    let as_values = |entries: &[Entry]| {
        entries
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect::<Vec<_>>()
    };
    let good = as_values(&entries);
    let case = |name: &str, entries: Vec<Value>, head: &Head, broken_at: Option<u64>| json!({"name": name, "org": ORG, "head": head, "entries": entries, "blobs": blobs, "valid": broken_at.is_none(), "brokenAt": broken_at});
    // Entries as JSON texts, for what a JSON value cannot hold (a duplicate member, `-0`, a lone
    // surrogate): `edit` replaces the first `from` in entry `n`'s text with `to`.
    let texts = |n: usize, from: &str, to: &str| {
        let mut texts: Vec<String> = entries.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        assert!(texts[n - 1].contains(from), "{from} in entry {n}");
        texts[n - 1] = texts[n - 1].replacen(from, to, 1);
        texts
    };
    let text_case_at = |name: &str, texts: Vec<String>, head: &Head, broken_at: u64| json!({"name": name, "org": ORG, "head": head, "entryTexts": texts, "blobs": blobs, "valid": false, "brokenAt": broken_at});
    let text_case = |name: &str, texts: Vec<String>, broken_at: u64| text_case_at(name, texts, &head, broken_at);

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
    // Links recomputed over the entries' events as they stand: what someone who rewrites the
    // table would do, so that only the format's own rules can catch the change.
    let relink = |values: &[Value]| {
        let mut prev = chain::GENESIS_HASH.to_owned();
        let mut out = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let seq = i as u64 + 1;
            let content = canonical::to_vec(&json!({"seq": seq, "prevHash": prev, "event": value["event"]})).unwrap();
            let hash = chain::link_hash(&prev, &content).unwrap();
            let mut entry = value.clone();
            entry["seq"] = json!(seq);
            entry["prevHash"] = json!(prev);
            entry["hash"] = json!(hash);
            prev = hash;
            out.push(entry);
        }
        (
            out,
            Head {
                seq: values.len() as u64,
                hash: prev,
            },
        )
    };
    let mut reason_number = good.clone();
    reason_number[2]["event"]["reason"] = json!(5);
    let (reason_number, reason_number_head) = relink(&reason_number);
    let mut null_deleted = good.clone();
    null_deleted[0]["event"].as_object_mut().unwrap().remove("reason");
    let mut nested_null_deleted = good.clone();
    nested_null_deleted[1]["event"]["actor"]
        .as_object_mut()
        .unwrap()
        .remove("impersonator");
    let mut unknown_action = good.clone();
    unknown_action[1]["event"]["action"] = json!("document.shredded");
    let (unknown_action, unknown_action_head) = relink(&unknown_action);
    // `after` of entry 4 nested `depth` objects and arrays deep, relinked: the format's limit
    // (canonical::strict::MAX_DEPTH) is the only thing that can catch it.
    let nested = |depth: usize| {
        let mut value = json!("core");
        for level in 0..depth {
            value = if level % 2 == 0 {
                json!([value])
            } else {
                json!({ "deeper": value })
            };
        }
        let mut changed = good.clone();
        changed[3]["event"]["after"] = value;
        relink(&changed)
    };
    let (at_limit, at_limit_head) = nested(canonical::strict::MAX_DEPTH);
    let (past_limit, past_limit_head) = nested(canonical::strict::MAX_DEPTH + 1);
    // Deeper than serde_json reads (128), as text: the vector file itself must stay readable.
    let (far_past_limit, far_past_limit_head) = nested(200);
    let far_past_limit = text_case_at(
        "after of entry 4 nested 200 levels, relinked (as text)",
        far_past_limit
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect(),
        &far_past_limit_head,
        4,
    );
    let mut blob_altered = case("blob of entry 3 altered", good.clone(), &head, Some(3));
    blob_altered["blobs"] = json!({ quire_core::audit::blob::digest(&appendix): appendix.replacen("A.", "B.", 1) });
    let mut blob_missing = case("blob of entry 3 missing", good.clone(), &head, Some(3));
    blob_missing["blobs"] = json!({});
    let mut other_org = case("chain of another organisation", good.clone(), &head, Some(1));
    other_org["org"] = json!(OTHER_ORG);
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
            case("reason of entry 3 became a number, relinked", reason_number, &reason_number_head, Some(3)),
            case("null reason of entry 1 deleted", null_deleted, &head, Some(1)),
            case("null impersonator of entry 2 deleted", nested_null_deleted, &head, Some(2)),
            case("unknown action in entry 2, relinked", unknown_action, &unknown_action_head, Some(2)),
            other_org,
            blob_altered,
            blob_missing,
            case("entries 4 and 5 of another organisation, relinked", as_values(&spliced), &spliced_head, Some(4)),
            case("entries 4 and 5 in an unknown format version, relinked", as_values(&future), &future_head, Some(4)),
            text_case(
                "duplicate reason in entry 3",
                texts(3, "\"reason\":\"Clarified step 1\"", "\"reason\":\"Backdated\",\"reason\":\"Clarified step 1\""),
                3,
            ),
            text_case("-0 in entry 1", texts(1, "\"members\":0", "\"members\":-0"), 1),
            text_case("fraction in entry 1", texts(1, "\"members\":0", "\"members\":0.0"), 1),
            text_case("exponent in entry 1", texts(1, "\"members\":0", "\"members\":0e0"), 1),
            case("after of entry 4 nested 32 levels (the limit), relinked", at_limit, &at_limit_head, None),
            case("after of entry 4 nested 33 levels, relinked", past_limit, &past_limit_head, Some(4)),
            far_past_limit,
            text_case("lone surrogate in entry 3", texts(3, "\"reason\":\"Clarified step 1\"", "\"reason\":\"\\ud800\""), 3),
        ]
    })
}

/// The Python verifier knows every action name the Rust side can write.
///
/// Proves: AUD-5
#[test]
fn the_python_verifier_knows_every_action() {
    let script =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/verify_chain.py"))
            .expect("scripts/verify_chain.py");
    let start = script.find("ACTIONS = {").expect("ACTIONS in the Python verifier");
    let block = &script[start..start + script[start..].find('}').expect("end of ACTIONS")];
    let listed = block.matches('"').count() / 2;
    for action in Action::ALL {
        assert!(
            block.contains(&format!("\"{}\"", action.name())),
            "{action:?} missing from the Python verifier"
        );
    }
    assert_eq!(
        listed,
        Action::ALL.len(),
        "the Python verifier lists actions Rust does not know"
    );
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
        let entries: Vec<chain::StoredEntry> = match case.get("entryTexts") {
            Some(texts) => texts
                .as_array()
                .unwrap()
                .iter()
                .map(|t| serde_json::from_str::<Entry>(t.as_str().unwrap()).map_err(|e| e.to_string()))
                .collect(),
            None => case["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| serde_json::from_value::<Entry>(e.clone()).map_err(|e| e.to_string()))
                .collect(),
        };
        // An entry whose blobs do not hold is unreadable, as the store reads it.
        let blobs: std::collections::BTreeMap<String, String> = serde_json::from_value(case["blobs"].clone()).unwrap();
        let entries = entries.into_iter().map(|stored| {
            stored.and_then(|entry| {
                for reference in entry.event.blob_references() {
                    quire_core::audit::blob::check(&reference, blobs.get(&reference.sha256).map(String::as_str))?;
                }
                Ok(entry)
            })
        });
        let verdict = chain::verify(case["org"].as_str().unwrap(), entries, &head);
        assert_eq!(verdict.valid, case["valid"].as_bool().unwrap(), "{}", case["name"]);
        assert_eq!(verdict.broken_at, case["brokenAt"].as_u64(), "{}", case["name"]);
    }
}
