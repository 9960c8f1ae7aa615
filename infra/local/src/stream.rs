//! Drives the audit writer locally: reads the data table's DynamoDB stream, applies the same
//! filter as the event source mapping in template.yaml, and hands each batch, as the Lambda
//! event it would be on AWS, to the audit-writer function's own handler.

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use quire::App;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const IDLE_POLL: Duration = Duration::from_millis(50);
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Polls every shard of the stream forever (until the task is dropped).
pub async fn run(client: Client, stream_arn: String, region: String, app: Arc<App>) {
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    loop {
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
                if !iterators.contains_key(&shard_id) {
                    let iterator = client
                        .get_shard_iterator()
                        .stream_arn(&stream_arn)
                        .shard_id(&shard_id)
                        .shard_iterator_type(ShardIteratorType::TrimHorizon)
                        .send()
                        .await
                        .ok()
                        .and_then(|o| o.shard_iterator);
                    iterators.insert(shard_id.clone(), iterator);
                }
            }
        }
        for iterator in iterators.values_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let Ok(out) = client.get_records().shard_iterator(&current).limit(100).send().await else {
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            };
            let records: Vec<Value> = out
                .records
                .unwrap_or_default()
                .iter()
                .filter(|r| passes_filter(r))
                .map(|r| lambda_record(r, &stream_arn, &region))
                .collect();
            if !records.is_empty() {
                busy = true;
                match serde_json::from_value::<Event>(json!({ "Records": records })) {
                    Ok(event) => {
                        let response = quire_fn_audit_writer::handle(&app, event).await;
                        if !response.batch_item_failures.is_empty() {
                            // Like Lambda: retry the batch from the same position.
                            tokio::time::sleep(RETRY_PAUSE).await;
                            continue;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "stream batch is not a valid Lambda event")
                    }
                }
            }
            *iterator = out.next_shard_iterator;
        }
        if !busy {
            tokio::time::sleep(IDLE_POLL).await;
        }
    }
}

/// The FilterCriteria of `AuditWriterStreamMapping`: outbox inserts only.
fn passes_filter(record: &Record) -> bool {
    let insert = record.event_name.as_ref().map(|n| n.as_str()) == Some("INSERT");
    let outbox = record
        .dynamodb
        .as_ref()
        .and_then(|d| d.new_image.as_ref())
        .and_then(|i| i.get("kind"))
        .and_then(|k| k.as_s().ok())
        .is_some_and(|k| k == "outbox");
    insert && outbox
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
