//! Audit chain throughput (target: ≥ 2 M entries/s/core), over a chain of realistic
//! `document.updated` events with a few hundred bytes of before/after each.
//!
//! Three figures, each reported by criterion as elements (chain entries) per second:
//! - `extend`: serialise each event, canonicalise (JCS) and SHA-256 it, build the entries;
//! - `verify`: re-walk the chain as the auditor's endpoint does (canonicalise + hash + compare);
//! - `link_hash`: the SHA-256 link alone over pre-canonicalised bytes (hex in, hex out).
//!
//! `cargo bench -p quire-core --bench audit_chain -- --warm-up-time 1 --measurement-time 3`

use criterion::{BatchSize, Criterion, Throughput};
use quire_core::audit::chain::{self, Entry, Head, StoredEntry, GENESIS_HASH};
use quire_core::audit::{Action, Actor, AuditEvent, Origin, Target};
use serde_json::json;
use std::hint::black_box;

const ENTRIES: usize = 10_000;

/// A document edit as the documents function records it: actor, target, origin, and the
/// changed fields before and after (a few hundred bytes each).
const ORG: &str = "org-acme-1234";

fn event(n: usize) -> AuditEvent {
    let paragraph = "Quarterly figures were reviewed by the finance team; the totals in section 3 now \
                     match the ledger export, and the appendix lists every adjustment made since the draft.";
    AuditEvent {
        v: quire_core::audit::FORMAT_VERSION,
        event_id: format!(
            "{:013}-6f1e2d3c-4b5a-4987-9a8b-{n:012}",
            1_760_000_000_000u64 + n as u64
        ),
        org_id: ORG.into(),
        at: "2026-05-01T12:34:56.789Z".into(),
        actor: Actor {
            user_id: "5f1c2a7e-7d0b-4a55-9a43-0c1b9a7c0d11".into(),
            display_name: "Alice Martin".into(),
            email: "alice.martin@acme.example".into(),
            role: "Editor".into(),
            impersonator: None,
        },
        action: Action::DocumentUpdated,
        target: Target::new("document", &format!("doc-{:08}", n % 500)),
        before: Some(json!({
            "title": format!("Q{} report, draft {}", n % 4 + 1, n % 7),
            "body": paragraph,
            "tags": ["finance", "quarterly", "draft"],
            "version": n as u64,
        })),
        after: Some(json!({
            "title": format!("Q{} report, draft {}", n % 4 + 1, n % 7 + 1),
            "body": format!("{paragraph} Revised after review {n}."),
            "tags": ["finance", "quarterly", "reviewed"],
            "version": n as u64 + 1,
        })),
        reason: Some("Reconciled with the ledger".into()),
        origin: Origin::new(
            Some("203.0.113.42"),
            Some(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
            ),
            "b7e4c1d2-3a4f-4e5d-8c6b-7a8f9e0d1c2b",
        ),
    }
}

fn benches(c: &mut Criterion) {
    let events: Vec<AuditEvent> = (0..ENTRIES).map(event).collect();
    let (entries, head) = chain::extend(&Head::genesis(), events.clone()).expect("chain extends");
    assert!(
        chain::verify(ORG, stored(&entries), &head).valid,
        "bench chain verifies"
    );
    let contents: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| chain::canonical_content(e.seq, &e.prev_hash, &e.event).expect("canonical"))
        .collect();
    let mean_bytes = contents.iter().map(Vec::len).sum::<usize>() / contents.len();
    eprintln!("audit_chain: {ENTRIES} entries, mean canonical content {mean_bytes} bytes");

    let mut group = c.benchmark_group("audit_chain");
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.sample_size(10);

    // The events are cloned outside the timed region: `extend` takes them by value.
    group.bench_function("extend", |b| {
        b.iter_batched(
            || events.clone(),
            |events| chain::extend(black_box(&Head::genesis()), events).expect("extend"),
            BatchSize::PerIteration,
        )
    });

    group.bench_function("verify", |b| {
        b.iter_batched(
            || stored(&entries),
            |stored| {
                let verification = chain::verify(ORG, stored, black_box(&head));
                assert!(verification.valid);
                verification
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("link_hash", |b| {
        b.iter(|| {
            let mut prev = GENESIS_HASH.to_owned();
            for content in &contents {
                prev = chain::link_hash(&prev, black_box(content)).expect("hash");
            }
            prev
        })
    });

    // Not a target: where `extend`/`verify` spend the time that `link_hash` does not.
    group.bench_function("canonical_content", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for e in &entries {
                bytes += chain::canonical_content(e.seq, &e.prev_hash, black_box(&e.event))
                    .expect("canonical")
                    .len();
            }
            bytes
        })
    });

    group.finish();
}

fn stored(entries: &[Entry]) -> Vec<StoredEntry> {
    entries.iter().cloned().map(Ok).collect()
}

criterion::criterion_group!(audit_chain, benches);
criterion::criterion_main!(audit_chain);
