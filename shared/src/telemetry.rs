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
