//! Verifying a tenant's chain (AUD-5) without timing out, without writing on a read, and
//! without crying wolf while the writer appends:
//!
//! - every walk checks entries against a head read **before** the walk (a snapshot): entries and
//!   the head move together in one transaction and entries are never removed, so the entries up
//!   to the snapshot are fixed, however fast the writer appends meanwhile;
//! - the quick check (`GET /audit/verify`, [`Store::check_chain`]) writes nothing and walks only
//!   what the last full verification did not cover, from that verified link, up to
//!   [`QUICK_CHECK_ENTRIES`] entries;
//! - the full re-walk is a job ([`VerificationJob`]): requested with its audit entry
//!   (`audit.verification.started`), run by the audit-verifier function in slices that each fit
//!   a Lambda invocation, and finished with its verdict as an audit entry (`audit.verified`). A
//!   valid verdict becomes the link the quick check starts from; a broken one resets it to the
//!   genesis, so the quick check reports the break too.

use super::keys::{self, Collection};
use super::transaction::AuditContext;
use super::{from_item, Record, Store, StoreError};
use crate::epoch_seconds;
use crate::tenant::TenantScope;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::audit::chain::{self, Head, Verification, Verifier};
use quire_core::audit::{timestamp_now, Action, Actor, Origin};
use quire_core::ids::OrgId;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Most entries the quick check walks; a longer unverified stretch needs a verification job.
/// At the measured read and hash rates this is well under a second of work.
pub const QUICK_CHECK_ENTRIES: u64 = 20_000;

/// Most time the quick check walks (an API call has 10 s; the rest is left for a full
/// verification).
pub const QUICK_CHECK_TIME: Duration = Duration::from_secs(5);

/// Entries asked for per chain query (DynamoDB also stops a page at 1 MB). Small enough that the
/// blobs a page references stay within a function's memory (each entry references at most a
/// `before` and an `after` value of a record, itself at most 400 KB).
const WALK_PAGE: u64 = 100;

/// Where a verification job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Requested; no slice has run yet.
    Queued,
    /// At least one slice ran; `through` is how far it got.
    Running,
    /// Finished: every entry up to `head` holds.
    Valid,
    /// Finished: `verdict.brokenAt` names the first link that does not hold.
    Broken,
}

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Valid | JobStatus::Broken)
    }
}

/// A full re-walk of one tenant's chain (`POST /audit/verifications`), as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationJob {
    /// UUIDv7 (time-ordered).
    pub id: String,
    pub version: u64,
    pub status: JobStatus,
    /// RFC 3339 UTC.
    pub requested_at: String,
    /// User id of who asked for it.
    pub requested_by: String,
    /// The request's correlation id; the verdict's audit entry carries it too.
    pub correlation_id: String,
    /// The head snapshot taken when the job was requested: the job verifies entries 1 to
    /// `head.seq` and that the last of them is `head.hash`.
    pub head: Head,
    /// The last link verified so far (seq 0: none yet).
    pub through: Head,
    /// Slices run so far (each one Lambda invocation).
    pub slices: u64,
    pub updated_at: String,
    pub completed_at: Option<String>,
    pub verdict: Option<Verification>,
}

/// How long a job holds its organisation's verification lock at most: after that it counts as
/// stalled (its slices failed after their retries: see docs/operations.md) and a new request
/// may start another. A healthy slice saves progress at least every 15 minutes (the function's
/// timeout); a failing one is retried 3 times, so an hour can pass before it is given up: twice
/// that, with room for a stream backlog.
pub const STALLED_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// The organisation's verification lock: which job is active, until when at most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationLock {
    job_id: String,
    active: bool,
    /// Seconds since the Unix epoch.
    expires_at: u64,
}

impl Record for VerificationJob {
    const COLLECTION: Collection = Collection::Verifications;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// The link the quick check starts from: the last one a full verification found valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// The verification job that established it.
    pub verification_id: String,
    /// Seq 0 (the genesis) after a broken verdict: everything is checked again.
    pub through: Head,
    pub at: String,
}

/// The answer of the quick check: the verification of the stretch it walked.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainCheck {
    /// The organisation whose chain this is: what an independent verifier is told to bind
    /// every entry to (`scripts/verify_chain.py --org`).
    pub org_id: String,
    #[serde(flatten)]
    pub verification: Verification,
    /// False when more entries were unverified than the quick check walks: `valid` is then
    /// false without a `brokenAt`, and a verification job covers the rest.
    pub complete: bool,
    /// The full verification the check started after (`null`: from the genesis).
    pub basis: Option<Verified>,
}

/// The answer to a request for a full verification.
#[derive(Debug, Clone, PartialEq)]
pub enum Requested {
    /// A new job, queued.
    Started(VerificationJob),
    /// The organisation's job still queued or running; nothing was started.
    AlreadyRunning(VerificationJob),
}

/// What one slice of a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slice {
    /// Nothing to do: the job is unknown, finished, or moved on since this trigger was sent.
    Skipped,
    /// Out of budget: progress saved; saving it triggers the next slice.
    Continued { through: u64 },
    /// The verdict is recorded.
    Finished(JobStatus),
}

/// How long or how far one slice may walk.
#[derive(Debug, Clone, Copy)]
pub struct SliceBudget {
    pub until: Instant,
    pub max_entries: u64,
}

impl Store {
    /// Walks the chain from the verifier's position up to `to_seq`, a page at a time, each entry
    /// with the blobs it references, until the chain breaks, `to_seq` is reached or `until`
    /// passes (checked between pages, after the first).
    async fn walk(
        &self,
        scope: &TenantScope,
        verifier: &mut Verifier,
        to_seq: u64,
        until: Option<Instant>,
    ) -> Result<(), StoreError> {
        let org = scope.org_id();
        // At least one page, whatever the deadline: every walk makes progress.
        let mut first = true;
        while !verifier.is_broken()
            && verifier.through().seq < to_seq
            && (std::mem::take(&mut first) || until.is_none_or(|u| Instant::now() < u))
        {
            let from = verifier.through().seq.saturating_add(1);
            let limit = i32::try_from(WALK_PAGE.min(to_seq - from + 1)).unwrap_or(1_000);
            let items = self.chain_items(org, from, to_seq, limit).await?;
            // Each entry must be stored under its own key: an entry moved to another key (or an
            // item with a key between two entries) is a broken link, not a quiet skip.
            let stored: Vec<chain::StoredEntry> = items
                .into_iter()
                .map(|item| {
                    let key = keys::Key::from_map(&item).map(|k| k.sk).unwrap_or_default();
                    super::audit_log::entry_from_item(item).and_then(|e| {
                        if key == keys::chain_entry(org, e.seq).sk {
                            Ok(e)
                        } else {
                            Err(format!("stored under the key {key:?}, not its own"))
                        }
                    })
                })
                .collect();
            if stored.is_empty() {
                // The snapshot head says these entries exist: they were removed.
                verifier.break_at(
                    from,
                    format!("entries {from} to {to_seq} are missing (the head read before the walk is at {to_seq})"),
                );
                break;
            }
            let blobs = self.entry_blobs(org, &stored).await?;
            for entry in stored {
                let entry = entry.and_then(|e| super::audit_log::blobs_hold(&e, &blobs).map(|()| e));
                if !verifier.push(entry) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` sort keys of the chain partition in `from..=to`, lowest or highest first.
    async fn entry_keys(
        &self,
        org: &OrgId,
        (from, to): (&str, &str),
        highest_first: bool,
        limit: i32,
    ) -> Result<Vec<String>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.audit_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(keys::chain_partition(org)))
            .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
            .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
            .projection_expression("pk, sk")
            .scan_index_forward(!highest_first)
            .limit(limit)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(keys::Key::from_map)
            .map(|key| key.sk)
            .collect())
    }

    /// What the walk up to a snapshot `head` does not see, checked around it: under the entry
    /// prefix, nothing sorts before entry 1 and nothing sits between the snapshot's last entry
    /// and the next; the head never moves backwards, and a head still at the snapshot's seq has
    /// its hash; the highest key after the snapshot is an entry key no further than the head
    /// (a forged item there would be listed by `GET /audit` as the newest entry). Keys are read
    /// before the head: the writer commits entries with the head that covers them, so a later
    /// head read covers every entry an honest writer committed. (Items between entries after the
    /// snapshot are the next walk's to find.)
    async fn check_tail(&self, scope: &TenantScope, head: &Head, verifier: &mut Verifier) -> Result<(), StoreError> {
        let org = scope.org_id();
        let entry = |seq: u64| keys::chain_entry(org, seq).sk;
        let (first, last, next) = (entry(1), entry(head.seq), entry(head.seq.saturating_add(1)));
        let lowest = self
            .entry_keys(org, (keys::CHAIN_ENTRY_PREFIX, &first), false, 1)
            .await?;
        let around = self.entry_keys(org, (&last, &next), false, 3).await?;
        let highest = self.entry_keys(org, (&next, keys::CHAIN_ENTRY_END), true, 1).await?;
        let now = self.chain_head(org).await?;
        let stray = |key: &String| format!("an item is stored under {key:?}, which is no entry's key");
        if let Some(key) = lowest.iter().find(|k| **k != first) {
            verifier.break_at(1, stray(key));
        } else if let Some(key) = around.iter().find(|k| (**k != last || head.seq == 0) && **k != next) {
            verifier.break_at(head.seq.saturating_add(1), stray(key));
        } else if now.seq < head.seq {
            verifier.break_at(
                now.seq.saturating_add(1),
                format!("the head moved backwards from {} to {}", head.seq, now.seq),
            );
        } else if now.seq == head.seq && now.hash != head.hash {
            verifier.break_at(now.seq.max(1), "the head was replaced".into());
        } else if let Some(key) = highest.iter().find(|k| keys::entry_seq(k).is_none_or(|n| n > now.seq)) {
            verifier.break_at(
                now.seq.saturating_add(1),
                format!("an item is stored after the head ({}), under {key:?}", now.seq),
            );
        }
        Ok(())
    }

    /// The quick check of `GET /audit/verify`: reads the head, then walks what the last full
    /// verification did not cover. Writes nothing.
    pub async fn check_chain(&self, scope: &TenantScope) -> Result<ChainCheck, StoreError> {
        let org = scope.org_id();
        // The basis first: it only ever names a head that existed, so the head read after it
        // is never behind it unless entries were removed.
        let basis: Option<Verified> = self
            .read(&self.data_table, &keys::verified(org))
            .await?
            .map(from_item)
            .transpose()?;
        let head = self.chain_head(org).await?;
        let start = basis.as_ref().map_or_else(Head::genesis, |b| b.through.clone());
        let mut verifier = Verifier::resume(org.as_str(), start.seq, &start);
        if start.seq > head.seq {
            verifier.break_at(
                head.seq + 1,
                format!(
                    "the head ({}) is behind the last verified link ({}): entries were removed",
                    head.seq, start.seq
                ),
            );
        } else if start.seq > 0 {
            // The link the check starts from must still be what was verified: its hash, and
            // content that hashes to it.
            let anchor = self.read(&self.audit_table, &keys::chain_entry(org, start.seq)).await?;
            let holds = match anchor.map(super::audit_log::entry_from_item) {
                Some(Ok(entry)) if entry.hash == start.hash && entry.seq == start.seq => {
                    let before = Head {
                        seq: entry.seq - 1,
                        hash: entry.prev_hash.clone(),
                    };
                    Verifier::resume(org.as_str(), before.seq, &before).push(Ok(entry))
                }
                _ => false,
            };
            if !holds {
                verifier.break_at(
                    start.seq,
                    format!("entry {} is no longer the entry a verification found valid", start.seq),
                );
            }
        }
        let to_seq = head.seq.min(start.seq.saturating_add(QUICK_CHECK_ENTRIES));
        self.walk(scope, &mut verifier, to_seq, Some(Instant::now() + QUICK_CHECK_TIME))
            .await?;
        self.check_tail(scope, &head, &mut verifier).await?;
        let reached = verifier.through().seq;
        let complete = verifier.is_broken() || reached == head.seq;
        let mut verification = verifier.finish(&head);
        if !complete {
            verification = Verification {
                valid: false,
                broken_at: None,
                reason: Some(format!(
                    "entries {} to {reached} were checked; {} to {} need a full verification (POST /audit/verifications)",
                    start.seq.saturating_add(1),
                    reached.saturating_add(1),
                    head.seq
                )),
                ..verification
            };
        }
        Ok(ChainCheck {
            org_id: org.to_string(),
            verification,
            complete,
            basis,
        })
    }

    /// Requests a full re-walk: a job against the head as it is now, recorded with its audit
    /// entry (`audit.verification.started`). The audit-verifier function runs it. One job per
    /// organisation at a time: the job takes the organisation's verification lock in its own
    /// transaction, so of concurrent requests exactly one starts a job; while the lock is held
    /// (until the verdict, or [`STALLED_AFTER`] after the start) the active job is returned
    /// instead. One tenant cannot queue work that delays every other tenant's jobs.
    pub async fn start_verification(&self, scope: &TenantScope, audit: AuditContext) -> Result<Requested, StoreError> {
        let org = scope.org_id();
        let head = self.chain_head(org).await?;
        let now = timestamp_now();
        let now_secs = epoch_seconds();
        let job = VerificationJob {
            id: uuid::Uuid::now_v7().to_string(),
            version: 1,
            status: JobStatus::Queued,
            requested_at: now.clone(),
            requested_by: audit.actor.user_id.clone(),
            correlation_id: audit.origin.correlation_id.clone(),
            head,
            through: Head::genesis(),
            slices: 0,
            updated_at: now,
            completed_at: None,
            verdict: None,
        };
        let lock = VerificationLock {
            job_id: job.id.clone(),
            active: true,
            expires_at: now_secs.saturating_add(STALLED_AFTER.as_secs()),
        };
        let started = self
            .transaction(scope, audit)
            .create(&job, Action::AuditVerificationStarted)
            .put_beside_if(
                keys::verification_lock(org),
                &lock,
                "attribute_not_exists(pk) OR active = :free OR expiresAt < :now",
                vec![
                    (":free", AttributeValue::Bool(false)),
                    (":now", AttributeValue::N(now_secs.to_string())),
                ],
            )
            .commit()
            .await;
        match started {
            Ok(()) => Ok(Requested::Started(job)),
            Err(StoreError::Conflict) => {
                let held: Option<VerificationLock> = self
                    .read(&self.data_table, &keys::verification_lock(org))
                    .await?
                    .map(from_item)
                    .transpose()?;
                let active = match held.filter(|l| l.active) {
                    Some(lock) => self.verification(scope, &lock.job_id).await?,
                    None => None,
                };
                // Released between the attempt and this read: the client may ask again (409).
                active.map(Requested::AlreadyRunning).ok_or(StoreError::Conflict)
            }
            Err(other) => Err(other),
        }
    }

    /// One job of the caller's organisation.
    pub async fn verification(&self, scope: &TenantScope, id: &str) -> Result<Option<VerificationJob>, StoreError> {
        Ok(self.get::<VerificationJob>(scope, id).await?.map(|s| s.into_record()))
    }

    /// Runs one slice of a job: walks on from where the last slice stopped, within `budget`,
    /// then saves progress (which triggers the next slice) or records the verdict.
    /// `version` is the job version the trigger saw: an older trigger (a redelivered stream
    /// record) does nothing, so two slices of one job never run at once.
    pub async fn run_verification(
        &self,
        scope: &TenantScope,
        id: &str,
        version: u64,
        budget: SliceBudget,
    ) -> Result<Slice, StoreError> {
        let Some(stored) = self.get::<VerificationJob>(scope, id).await? else {
            return Ok(Slice::Skipped);
        };
        if stored.status.is_finished() || stored.version != version {
            return Ok(Slice::Skipped);
        }
        let org = scope.org_id();
        let mut verifier = Verifier::resume(org.as_str(), 0, &stored.through);
        let to_seq = stored
            .head
            .seq
            .min(stored.through.seq.saturating_add(budget.max_entries));
        self.walk(scope, &mut verifier, to_seq, Some(budget.until)).await?;
        let through = verifier.through();
        if !verifier.is_broken() && through.seq < stored.head.seq {
            if through.seq == stored.through.seq {
                // Saving nothing new would trigger another slice just like this one, for ever:
                // fail, so the stream retries and, after its retries, dead-letters the slice.
                return Err(StoreError::NoProgress);
            }
            return self.save_progress(scope, &stored, &through).await;
        }
        self.check_tail(scope, &stored.head, &mut verifier).await?;
        let verdict = verifier.finish(&stored.head);
        let status = if verdict.valid {
            JobStatus::Valid
        } else {
            JobStatus::Broken
        };
        let now = timestamp_now();
        let next = VerificationJob {
            version: stored.version + 1,
            status,
            through: if verdict.valid { stored.head.clone() } else { through },
            slices: stored.slices + 1,
            updated_at: now.clone(),
            completed_at: Some(now.clone()),
            verdict: Some(verdict.clone()),
            ..stored.record().clone()
        };
        let verified = Verified {
            verification_id: stored.id.clone(),
            // A broken chain is checked from the genesis again by every quick check.
            through: if verdict.valid {
                stored.head.clone()
            } else {
                Head::genesis()
            },
            at: now,
        };
        // The basis of the quick check is the verdict of the latest requested job (ids are
        // time-ordered): an older job finishing later never replaces it, so neither a valid
        // verdict can hide a later broken one nor the basis move backwards.
        // The basis and the lock in one strongly consistent read.
        let (verified_key, lock_key) = (keys::verified(org), keys::verification_lock(org));
        let (mut current, mut lock): (Option<Verified>, Option<VerificationLock>) = (None, None);
        for item in self
            .batch_get_data(vec![verified_key.clone(), lock_key.clone()])
            .await?
        {
            match keys::Key::from_map(&item) {
                Some(k) if k == verified_key => current = Some(from_item(item)?),
                Some(k) if k == lock_key => lock = Some(from_item(item)?),
                _ => {}
            }
        }
        let supersedes = current.as_ref().is_none_or(|c| c.verification_id < stored.id);
        let audit = AuditContext::new(
            Actor::system("audit verifier"),
            Origin::new(None, None, &stored.correlation_id),
        );
        let mut change = self
            .transaction(scope, audit)
            .replace(&stored, &next, Action::AuditVerified);
        if lock.is_some_and(|l| l.active && l.job_id == stored.id) {
            // Released with the verdict, if still this job's (a stalled job's lock may have
            // been taken by a newer one).
            let released = VerificationLock {
                job_id: stored.id.clone(),
                active: false,
                expires_at: epoch_seconds(),
            };
            change = change.put_beside_if(
                lock_key.clone(),
                &released,
                "jobId = :me",
                vec![(":me", AttributeValue::S(stored.id.clone()))],
            );
        }
        if supersedes {
            // Unchanged since read, or the verdict is not recorded (and the slice is retried).
            change = match &current {
                None => change.put_beside_if(verified_key.clone(), &verified, "attribute_not_exists(pk)", vec![]),
                Some(seen) => change.put_beside_if(
                    verified_key,
                    &verified,
                    "verificationId = :seen",
                    vec![(":seen", AttributeValue::S(seen.verification_id.clone()))],
                ),
            };
        }
        // A conflict (another run recorded this job's verdict, or another job's verdict moved
        // the basis meanwhile) is an error: the stream retries, and the retry sees which.
        change.commit().await?;
        Ok(Slice::Finished(status))
    }

    /// Saves how far a job got, if no other run moved it meanwhile. Progress is bookkeeping of
    /// the job, not a change of tenant data: it has no audit entry (the start and the verdict do).
    async fn save_progress(
        &self,
        scope: &TenantScope,
        job: &VerificationJob,
        through: &Head,
    ) -> Result<Slice, StoreError> {
        let key = keys::record(scope, Collection::Verifications, &job.id);
        let through_item = serde_dynamo::to_attribute_value(through).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let saved = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(key.to_map()))
            .update_expression(
                "SET #through = :through, #status = :running, slices = slices + :one, #version = :next, updatedAt = :now",
            )
            .condition_expression("#version = :expected")
            .expression_attribute_names("#through", "through")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":through", through_item)
            .expression_attribute_values(":running", AttributeValue::S("running".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":next", AttributeValue::N((job.version + 1).to_string()))
            .expression_attribute_values(":expected", AttributeValue::N(job.version.to_string()))
            .expression_attribute_values(":now", AttributeValue::S(timestamp_now()))
            .send()
            .await;
        match saved {
            Ok(_) => Ok(Slice::Continued { through: through.seq }),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Slice::Skipped)
            }
            Err(error) => Err(StoreError::aws(error)),
        }
    }

    /// Runs the jobs a stream batch names (template.yaml: `AuditVerifierStreamMapping`), one
    /// slice each, all before `until`. Returns the sequence numbers of the records that failed
    /// (the stream retries from the first of them); records of anything else are ignored.
    pub async fn run_verification_records(&self, records: &[EventRecord], until: Instant) -> Vec<String> {
        let mut failed = Vec::new();
        for record in records {
            let image = &record.change.new_image;
            let text = |name: &str| match image.get(name) {
                Some(serde_dynamo::AttributeValue::S(s)) => Some(s.as_str()),
                _ => None,
            };
            if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY")
                || text(super::RECORD_KIND) != Some(Collection::Verifications.kind())
                || !matches!(text("status"), Some("queued" | "running"))
            {
                continue;
            }
            let version = match image.get("version") {
                Some(serde_dynamo::AttributeValue::N(n)) => n.parse::<u64>().ok(),
                _ => None,
            };
            let key = match (record.change.keys.get("pk"), record.change.keys.get("sk")) {
                (Some(serde_dynamo::AttributeValue::S(pk)), Some(serde_dynamo::AttributeValue::S(sk))) => {
                    keys::record_of(Collection::Verifications, &keys::Key::new(pk.clone(), sk.clone()))
                }
                _ => None,
            };
            let (Some((org, id)), Some(version)) = (key, version) else {
                tracing::error!(sequence = ?record.change.sequence_number, "a verification record without its key or version");
                continue;
            };
            let scope = TenantScope::new(org);
            let budget = SliceBudget {
                until,
                max_entries: u64::MAX,
            };
            match self.run_verification(&scope, &id, version, budget).await {
                Ok(slice) => tracing::info!(org = %scope.org_id(), job = %id, ?slice, "verification slice"),
                Err(error) => {
                    tracing::error!(org = %scope.org_id(), job = %id, %error, "verification slice failed; retried");
                    failed.extend(record.change.sequence_number.clone());
                }
            }
        }
        failed
    }
}
