//! The per-tenant hash chain (AUD-2, AUD-5): pure functions, no I/O.
//!
//! `hash(n) = SHA-256(raw(prevHash(n)) || canonical({"seq", "prevHash", "event"}))`, hex
//! lower-case; `prevHash(1)` is 64 zeros. Entries are numbered 1, 2, 3, … without gaps, and
//! the chain head records the last sequence number and hash.

use super::canonical::{self, NotCanonical};
use super::AuditEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub event: AuditEvent,
}

/// The last appended link of a tenant's chain; `seq == 0` for an empty chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Self {
        Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// The bytes that are hashed after the previous hash: the entry without its own hash.
pub fn canonical_content(seq: u64, prev_hash: &str, event: &AuditEvent) -> Result<Vec<u8>, NotCanonical> {
    let event = serde_json::to_value(event).map_err(|e| NotCanonical(e.to_string()))?;
    canonical::to_vec(&json!({ "seq": seq, "prevHash": prev_hash, "event": event }))
}

/// SHA-256 over the raw 32 bytes of the previous hash followed by the canonical content.
pub fn link_hash(prev_hash: &str, content: &[u8]) -> Result<String, NotCanonical> {
    let mut prev = [0u8; 32];
    hex::decode_to_slice(prev_hash, &mut prev)
        .map_err(|_| NotCanonical("previous hash is not 64 hex digits".into()))?;
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(content);
    Ok(hex::encode(hasher.finalize()))
}

/// Appends events after `head`, returning the new entries and the new head.
pub fn extend(head: &Head, events: Vec<AuditEvent>) -> Result<(Vec<Entry>, Head), NotCanonical> {
    let mut entries = Vec::with_capacity(events.len());
    let mut seq = head.seq;
    let mut prev = head.hash.clone();
    for event in events {
        seq += 1;
        let hash = link_hash(&prev, &canonical_content(seq, &prev, &event)?)?;
        entries.push(Entry {
            seq,
            prev_hash: prev,
            hash: hash.clone(),
            event,
        });
        prev = hash;
    }
    Ok((entries, Head { seq, hash: prev }))
}

/// The outcome of re-walking a chain, or a stretch of it, against a head read before the walk.
/// `broken_at` is the sequence number of the first link that does not hold. `from_seq` is the
/// link the walk started after (0: from the genesis); `checked` counts the entries walked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub valid: bool,
    pub from_seq: u64,
    pub checked: u64,
    pub broken_at: Option<u64>,
    pub reason: Option<String>,
    pub head_seq: u64,
    pub head_hash: String,
}

/// An entry as read from storage: parsed, or not parseable at all (tampered attributes).
pub type StoredEntry = Result<Entry, String>;

/// Streaming verifier of one organisation's chain: feed entries in ascending storage order,
/// then finish with the head. It starts at the genesis ([`Verifier::new`]) or after a link
/// already verified ([`Verifier::resume`]), so a long chain can be walked in stretches. Every
/// entry must name the organisation being verified (`event.orgId`): a chain copied from
/// another tenant does not verify as this one's.
#[derive(Debug, Clone)]
pub struct Verifier {
    org_id: String,
    from_seq: u64,
    expected_seq: u64,
    prev_hash: String,
    checked: u64,
    broken: Option<(u64, String)>,
}

impl Verifier {
    /// A walk of `org_id`'s chain from the genesis.
    pub fn new(org_id: &str) -> Self {
        Verifier::resume(org_id, 0, &Head::genesis())
    }

    /// A walk of `org_id`'s chain that started after link `from_seq` and has verified every
    /// link up to `through` (its seq and hash) goes on from there. `Verifier::resume(org, p,
    /// &link_p)` starts a walk after a link verified earlier.
    pub fn resume(org_id: &str, from_seq: u64, through: &Head) -> Self {
        Verifier {
            org_id: org_id.to_owned(),
            from_seq,
            expected_seq: through.seq + 1,
            prev_hash: through.hash.clone(),
            checked: through.seq.saturating_sub(from_seq),
            broken: None,
        }
    }

    /// The last link verified so far (the genesis before any).
    pub fn through(&self) -> Head {
        Head {
            seq: self.expected_seq - 1,
            hash: self.prev_hash.clone(),
        }
    }

    /// Whether a link failed (the walk can stop).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Marks the chain broken at `seq` for a reason found outside the walk (an anchor that no
    /// longer holds, a head that moved backwards). The first break found is kept.
    pub fn break_at(&mut self, seq: u64, reason: String) {
        if self.broken.is_none() {
            self.broken = Some((seq, reason));
        }
    }

    /// Checks the next entry. Returns false once the chain is broken (later entries need no reading).
    pub fn push(&mut self, entry: StoredEntry) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let at = self.expected_seq;
        let fail = |reason: String| Some((at, reason));
        self.broken = match entry {
            Err(why) => fail(format!("entry {at} is unreadable: {why}")),
            Ok(e) if e.seq != at => fail(format!(
                "expected entry {at}, found entry {} (missing, inserted or reordered entries)",
                e.seq
            )),
            Ok(e) if e.event.v != super::FORMAT_VERSION => fail(format!(
                "entry {at} has format version {}, which this verifier does not know",
                e.event.v
            )),
            Ok(e) if e.event.org_id != self.org_id => fail(format!("entry {at} belongs to another organisation")),
            Ok(e) if e.prev_hash != self.prev_hash => fail(format!("entry {at} does not link to the entry before it")),
            Ok(e) => match canonical_content(e.seq, &e.prev_hash, &e.event).and_then(|c| link_hash(&e.prev_hash, &c)) {
                Ok(hash) if hash == e.hash => {
                    self.checked += 1;
                    self.expected_seq += 1;
                    self.prev_hash = hash;
                    None
                }
                Ok(_) => fail(format!("entry {at} was altered (its hash does not match its content)")),
                Err(why) => fail(format!("entry {at} cannot be hashed: {why}")),
            },
        };
        self.broken.is_none()
    }

    pub fn finish(self, head: &Head) -> Verification {
        let last = self.expected_seq - 1;
        let broken = self.broken.or_else(|| {
            if head.seq > last {
                Some((
                    last + 1,
                    format!(
                        "entries {} to {} are missing (the head is at {})",
                        last + 1,
                        head.seq,
                        head.seq
                    ),
                ))
            } else if head.seq < last {
                Some((
                    head.seq + 1,
                    format!("entries after the head ({}) were inserted", head.seq),
                ))
            } else if head.hash != self.prev_hash {
                Some((last.max(1), "the chain head does not match the last entry".to_owned()))
            } else {
                None
            }
        });
        Verification {
            valid: broken.is_none(),
            from_seq: self.from_seq,
            checked: self.checked,
            broken_at: broken.as_ref().map(|b| b.0),
            reason: broken.map(|b| b.1),
            head_seq: head.seq,
            head_hash: head.hash.clone(),
        }
    }
}

/// Verifies `org_id`'s whole chain held in memory.
pub fn verify(org_id: &str, entries: impl IntoIterator<Item = StoredEntry>, head: &Head) -> Verification {
    let mut verifier = Verifier::new(org_id);
    for entry in entries {
        if !verifier.push(entry) {
            break;
        }
    }
    verifier.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, Actor, Origin, Target};
    use crate::ids::OrgId;

    const ORG: &str = "org-1";

    fn event(n: u32) -> AuditEvent {
        AuditEvent::new(
            &OrgId::parse(ORG).unwrap(),
            Action::DocumentCreated,
            Actor::system("test"),
            Target::new("document", &format!("doc-{n}")),
            Origin::new(Some("127.0.0.1"), None, "corr-0001"),
        )
        .after(json!({"n": n}))
    }

    fn chain(n: u32) -> (Vec<Entry>, Head) {
        extend(&Head::genesis(), (0..n).map(event).collect()).unwrap()
    }

    fn ok(entries: &[Entry]) -> Vec<StoredEntry> {
        entries.iter().cloned().map(Ok).collect()
    }

    /// Proves: AUD-2, AUD-5
    #[test]
    fn intact_chain_verifies() {
        let (entries, head) = chain(5);
        let v = verify(ORG, ok(&entries), &head);
        assert!(v.valid, "{v:?}");
        assert_eq!(v.checked, 5);
        assert_eq!(verify(ORG, vec![], &Head::genesis()).checked, 0);
        assert!(verify(ORG, vec![], &Head::genesis()).valid);
    }

    #[test]
    fn extending_continues_the_chain() {
        let (mut entries, head) = chain(3);
        let (more, head) = extend(&head, vec![event(9)]).unwrap();
        assert_eq!(more[0].seq, 4);
        entries.extend(more);
        assert!(verify(ORG, ok(&entries), &head).valid);
    }

    /// Proves: AUD-5
    #[test]
    fn every_kind_of_tampering_names_the_broken_link() {
        let (entries, head) = chain(6);
        // altered content
        let mut altered = entries.clone();
        altered[2].event.reason = Some("edited later".into());
        assert_eq!(verify(ORG, ok(&altered), &head).broken_at, Some(3));
        // altered and re-hashed in place: the next link breaks
        let mut rehashed = entries.clone();
        rehashed[2].event.reason = Some("edited later".into());
        rehashed[2].hash = link_hash(
            &rehashed[2].prev_hash,
            &canonical_content(3, &rehashed[2].prev_hash, &rehashed[2].event).unwrap(),
        )
        .unwrap();
        assert_eq!(verify(ORG, ok(&rehashed), &head).broken_at, Some(4));
        // deleted in the middle and at the end
        let mut deleted = entries.clone();
        deleted.remove(3);
        assert_eq!(verify(ORG, ok(&deleted), &head).broken_at, Some(4));
        assert_eq!(verify(ORG, ok(&entries[..5]), &head).broken_at, Some(6));
        // inserted after the head
        let (extra, _) = extend(&head, vec![event(7)]).unwrap();
        let mut inserted = entries.clone();
        inserted.extend(extra);
        assert_eq!(verify(ORG, ok(&inserted), &head).broken_at, Some(7));
        // reordered
        let mut reordered = entries.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(ORG, ok(&reordered), &head).broken_at, Some(2));
        // unreadable
        let mut stored = ok(&entries);
        stored[4] = Err("unknown attribute".into());
        assert_eq!(verify(ORG, stored, &head).broken_at, Some(5));
        // another organisation's chain, whole
        assert_eq!(verify("org-2", ok(&entries), &head).broken_at, Some(1));
        // one entry of another organisation spliced in, re-hashed so that every link holds
        let mut spliced = entries.clone();
        spliced[3].event.org_id = "org-2".into();
        let (relinked, relinked_head) = extend(
            &Head {
                seq: 3,
                hash: spliced[2].hash.clone(),
            },
            spliced[3..].iter().map(|e| e.event.clone()).collect(),
        )
        .unwrap();
        spliced.truncate(3);
        spliced.extend(relinked);
        assert_eq!(verify(ORG, ok(&spliced), &relinked_head).broken_at, Some(4));
        // head swapped
        let forged_head = Head {
            seq: 6,
            hash: entries[4].hash.clone(),
        };
        assert!(!verify(ORG, ok(&entries), &forged_head).valid);
    }

    /// Proves: AUD-5
    #[test]
    fn a_walk_in_stretches_agrees_with_one_walk() {
        let (entries, head) = chain(9);
        let mut first = Verifier::new(ORG);
        for e in &entries[..4] {
            assert!(first.push(Ok(e.clone())));
        }
        let mut rest = Verifier::resume(ORG, 0, &first.through());
        for e in &entries[4..] {
            assert!(rest.push(Ok(e.clone())));
        }
        assert_eq!(rest.finish(&head), verify(ORG, ok(&entries), &head));

        // From a link verified earlier: only the later entries are walked.
        let anchor = Head {
            seq: 4,
            hash: entries[3].hash.clone(),
        };
        let mut tail = Verifier::resume(ORG, 4, &anchor);
        for e in &entries[4..] {
            assert!(tail.push(Ok(e.clone())));
        }
        let v = tail.finish(&head);
        assert!(v.valid);
        assert_eq!((v.from_seq, v.checked), (4, 5));

        // A wrong anchor hash breaks the first link after it.
        let wrong = Head {
            seq: 4,
            hash: entries[2].hash.clone(),
        };
        let mut tail = Verifier::resume(ORG, 4, &wrong);
        assert!(!tail.push(Ok(entries[4].clone())));
        assert_eq!(tail.finish(&head).broken_at, Some(5));

        // A break found outside the walk is reported, and the first one is kept.
        let mut v = Verifier::new(ORG);
        v.break_at(3, "the head moved backwards".into());
        v.break_at(5, "later".into());
        assert!(v.is_broken());
        assert_eq!(v.finish(&head).broken_at, Some(3));
    }
}
