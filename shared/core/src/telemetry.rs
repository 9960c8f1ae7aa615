//! Telemetry in one place: JSON log lines (one object per line, CloudWatch-friendly), each
//! carrying the fields of the current request span, among them the correlation id (HTTP-3).

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the JSON subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        // Lambda adds its own timestamp; keep ours for local runs and exports.
        .try_init();
}

/// The CloudWatch namespace of Quire's own metrics.
pub const METRICS_NAMESPACE: &str = "Quire";

/// One CloudWatch Embedded Metric Format record (a JSON log line CloudWatch turns into a
/// metric): `name` counted `count` times, no dimensions. Alarms in template.yaml watch these.
pub fn emf_count(name: &str, count: u64) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    serde_json::json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        name: count,
    })
    .to_string()
}

/// Emits a count metric on standard output, where Lambda's log capture picks it up.
pub fn count(name: &str, count: u64) {
    println!("{}", emf_count(name, count));
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_names_the_metric_and_its_value() {
        let line: serde_json::Value = serde_json::from_str(&super::emf_count("AuditOutboxQuarantined", 2)).unwrap();
        assert_eq!(line["AuditOutboxQuarantined"], 2);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Quire");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "AuditOutboxQuarantined"
        );
    }
}
