//! Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per point on
//! stdout, which CloudWatch Logs turns into a metric of namespace [`NAMESPACE`] with no API
//! call, no agent and nothing to batch (a Lambda's stdout is already shipped to its log
//! group).
//!
//! Written by hand (a few lines of `serde_json`) rather than with a crate: the format is one
//! small documented object, and the crates that write it bring async flushing, batching and
//! their own dependencies for what is here a single `writeln!`.
//!
//! Cardinality stays bounded: dimensions are the function, flavours, outcomes, reason codes
//! and HTTP statuses, never a user, token or request id (each distinct combination is a
//! metric CloudWatch bills monthly).

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The metrics' namespace.
pub const NAMESPACE: &str = "ClerkAuth";

static FUNCTION: OnceLock<&'static str> = OnceLock::new();

/// Names the function every point is counted for (the `Function` dimension) and turns
/// counting on; once per process, in `main`. Until then [`count`] writes nothing (a library
/// embedding `shared`, the tests).
pub fn init(function: &'static str) {
    let _ = FUNCTION.set(function);
}

/// The EMF object counting one `name` with these dimensions at `timestamp_ms`.
pub fn point(name: &str, dimensions: &[(&str, &str)], timestamp_ms: u64) -> Value {
    point_of(name, dimensions, 1, timestamp_ms)
}

/// The EMF object counting `value` of `name` with these dimensions at `timestamp_ms`.
pub fn point_of(name: &str, dimensions: &[(&str, &str)], value: u64, timestamp_ms: u64) -> Value {
    let function = FUNCTION.get().copied().unwrap_or("unknown");
    let mut keys = vec!["Function"];
    keys.extend(dimensions.iter().map(|(key, _)| *key));
    let mut object = Map::new();
    object.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": [{ "Name": name, "Unit": "Count" }]
            }]
        }),
    );
    object.insert("Function".to_owned(), Value::from(function));
    for (key, value) in dimensions {
        object.insert((*key).to_owned(), Value::from(*value));
    }
    object.insert(name.to_owned(), Value::from(value));
    Value::Object(object)
}

/// Counts one `name` with these dimensions now, once [`init`] has named the function (a line
/// on stdout; a failed write is lost, never an error: metrics must not fail a request).
pub fn count(name: &str, dimensions: &[(&str, &str)]) {
    count_n(name, dimensions, 1);
}

/// Counts `value` of `name` at once (a reconciliation's totals), as [`count`] does one.
pub fn count_n(name: &str, dimensions: &[(&str, &str)], value: u64) {
    if FUNCTION.get().is_none() {
        return;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let line = point_of(name, dimensions, value, now_ms).to_string();
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_an_emf_object_cloudwatch_reads() {
        init("authorizer");
        let point = point(
            "Decisions",
            &[("Outcome", "forbidden"), ("Reason", "user-inactive")],
            1_800_000_000_000,
        );
        assert_eq!(
            point,
            json!({
                "_aws": {
                    "Timestamp": 1_800_000_000_000_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "ClerkAuth",
                        "Dimensions": [["Function", "Outcome", "Reason"]],
                        "Metrics": [{ "Name": "Decisions", "Unit": "Count" }]
                    }]
                },
                "Function": "authorizer", "Outcome": "forbidden", "Reason": "user-inactive",
                "Decisions": 1
            })
        );
    }
}
