//! Drives a stream-triggered function locally as its event source mapping does on AWS
//! (`AuditWriterStreamMapping`, `AuditVerifierStreamMapping`): reads the data table's DynamoDB
//! stream, applies the mapping's filter (read from template.yaml), hands each batch, as the
//! Lambda event it would be, to the function's own handler, retries a failed batch at most
//! `MaximumRetryAttempts` times, and then takes the on-failure path: the batch is recorded as
//! dead-lettered and the shard moves on. For the writer, the outbox items of such a batch stay
//! in the data table until the reconciler appends them (see `functions/audit-writer`).

use crate::provision::StreamMapping;
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IDLE_POLL: Duration = Duration::from_millis(50);
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Records read from a shard per `GetRecords` (its maximum), before filtering.
const READ_PAGE: i32 = 1000;

/// A batch given up after its retries: what Lambda's on-failure destination would receive
/// (the shard and the range of stream sequence numbers), not the records themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub shard_id: String,
    pub first_sequence_number: String,
    pub last_sequence_number: String,
    pub records: usize,
}

/// Lets an operator (or a fault-injection test) hold the stream driver, and make it lose the
/// records it has not read yet, as an expired stream or a disabled mapping would.
#[derive(Debug, Default)]
pub struct StreamControl {
    paused: AtomicBool,
    discard: AtomicBool,
    dead_letters: Mutex<Vec<DeadLetter>>,
}

impl StreamControl {
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Drops every record written so far and not yet delivered (takes effect on the next poll).
    pub fn discard_unread(&self) {
        self.discard.store(true, Ordering::SeqCst);
    }

    /// The batches that went to the on-failure path so far.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

/// A function's handler as the driver calls it: the batch in, whether it failed out.
pub type BatchHandler = Arc<dyn Fn(Event) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

struct ShardState {
    iterator: Option<String>,
    /// Records read and passed by the filter, not yet handed to the function.
    pending: VecDeque<Value>,
    failed_attempts: u32,
}

/// Polls every shard of the stream forever (until the task is dropped).
pub async fn run(
    client: Client,
    stream_arn: String,
    region: String,
    mapping: StreamMapping,
    handler: BatchHandler,
    control: Arc<StreamControl>,
) {
    let mut shards: HashMap<String, ShardState> = HashMap::new();
    loop {
        if control.paused.load(Ordering::SeqCst) {
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        let discard = control.discard.swap(false, Ordering::SeqCst);
        let mut busy = false;
        if let Ok(described) = client.describe_stream().stream_arn(&stream_arn).send().await {
            for shard in described
                .stream_description
                .map(|d| d.shards.unwrap_or_default())
                .unwrap_or_default()
            {
                let Some(shard_id) = shard.shard_id else {
                    continue;
                };
                if discard || !shards.contains_key(&shard_id) {
                    let position = if discard {
                        ShardIteratorType::Latest
                    } else {
                        ShardIteratorType::TrimHorizon
                    };
                    let iterator = client
                        .get_shard_iterator()
                        .stream_arn(&stream_arn)
                        .shard_id(&shard_id)
                        .shard_iterator_type(position)
                        .send()
                        .await
                        .ok()
                        .and_then(|o| o.shard_iterator);
                    shards.insert(
                        shard_id.clone(),
                        ShardState {
                            iterator,
                            pending: VecDeque::new(),
                            failed_attempts: 0,
                        },
                    );
                }
            }
        }
        for (shard_id, state) in shards.iter_mut() {
            // Like Lambda: records are read from the shard, filtered, and the ones that pass are
            // batched up to `BatchSize` (the size applies after filtering).
            if state.pending.is_empty() {
                let Some(current) = state.iterator.clone() else {
                    continue;
                };
                let Ok(out) = client
                    .get_records()
                    .shard_iterator(&current)
                    .limit(READ_PAGE)
                    .send()
                    .await
                else {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                };
                let read = out.records.unwrap_or_default();
                busy |= !read.is_empty();
                state.pending.extend(
                    read.iter()
                        .map(|r| lambda_record(r, &stream_arn, &region))
                        .filter(|r| passes_filter(&mapping.filters, r)),
                );
                state.iterator = out.next_shard_iterator;
            }
            // Held after the read: nothing read is handed over until resumed.
            if state.pending.is_empty() || control.paused.load(Ordering::SeqCst) {
                continue;
            }
            busy = true;
            let count = state
                .pending
                .len()
                .min(usize::try_from(mapping.batch_size).unwrap_or(1).max(1));
            let records: Vec<Value> = state.pending.iter().take(count).cloned().collect();
            let sequence = |r: &Value| r["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default().to_owned();
            let (first, last) = (sequence(&records[0]), sequence(&records[count - 1]));
            let failed = match serde_json::from_value::<Event>(json!({ "Records": records })) {
                Ok(event) => handler(event).await,
                Err(error) => {
                    tracing::error!(%error, "stream batch is not a valid Lambda event");
                    true
                }
            };
            if failed && state.failed_attempts < mapping.maximum_retry_attempts {
                // Like Lambda: retry the same batch.
                state.failed_attempts += 1;
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            if failed {
                tracing::error!(
                    shard = %shard_id, first = %first, last = %last, count,
                    mapping = %mapping.name,
                    "batch failed after its retries: sent to the on-failure path"
                );
                if let Ok(mut dead) = control.dead_letters.lock() {
                    dead.push(DeadLetter {
                        shard_id: shard_id.clone(),
                        first_sequence_number: first,
                        last_sequence_number: last,
                        records: count,
                    });
                }
            }
            state.failed_attempts = 0;
            state.pending.drain(..count);
        }
        if !busy {
            tokio::time::sleep(IDLE_POLL).await;
        }
    }
}

/// Lambda event filtering as the mapping's patterns use it: objects match field by field, and a
/// list of values matches a field equal to one of them. A record passes if any pattern matches.
fn passes_filter(patterns: &[Value], record: &Value) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p, record))
}

fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(name, wanted)| value.get(name).is_some_and(|v| matches(wanted, v))),
        Value::Array(options) => options.iter().any(|option| option == value),
        exact => exact == value,
    }
}

fn lambda_record(record: &Record, stream_arn: &str, region: &str) -> Value {
    let change = record.dynamodb.as_ref();
    let image = |i: Option<&HashMap<String, AttributeValue>>| {
        Value::Object(
            i.map(|m| m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect())
                .unwrap_or_default(),
        )
    };
    json!({
        "eventID": record.event_id.clone().unwrap_or_default(),
        "eventName": record.event_name.as_ref().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time).map(|t| t.secs()).unwrap_or_default(),
            "Keys": image(change.and_then(|c| c.keys.as_ref())),
            "NewImage": image(change.and_then(|c| c.new_image.as_ref())),
            "OldImage": image(change.and_then(|c| c.old_image.as_ref())),
            "SequenceNumber": change.and_then(|c| c.sequence_number.clone()).unwrap_or_default(),
            "SizeBytes": change.and_then(|c| c.size_bytes).unwrap_or_default(),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    })
}

/// DynamoDB JSON, as Lambda delivers stream images.
fn attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": STANDARD.encode(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::M(m) => {
            json!({ "M": Value::Object(m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<Map<_, _>>()) })
        }
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::Ss(s) => json!({ "SS": s }),
        AttributeValue::Ns(n) => json!({ "NS": n }),
        AttributeValue::Bs(b) => {
            json!({ "BS": b.iter().map(|x| STANDARD.encode(x.as_ref())).collect::<Vec<_>>() })
        }
        _ => json!({ "NULL": true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_match_like_lambda() {
        let pattern: Value =
            serde_json::from_str(r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["outbox"]}}}}"#)
                .unwrap();
        let record =
            |name: &str, kind: &str| json!({"eventName": name, "dynamodb": {"NewImage": {"kind": {"S": kind}}}});
        assert!(passes_filter(
            std::slice::from_ref(&pattern),
            &record("INSERT", "outbox")
        ));
        assert!(!passes_filter(
            std::slice::from_ref(&pattern),
            &record("REMOVE", "outbox")
        ));
        assert!(!passes_filter(
            std::slice::from_ref(&pattern),
            &record("INSERT", "document")
        ));
        assert!(!passes_filter(
            std::slice::from_ref(&pattern),
            &json!({"eventName": "INSERT", "dynamodb": {}})
        ));
    }
}
