//! Envelopes for tests: captured payloads wrapped the way `maestro-hook` wraps them.

use chrono::{DateTime, TimeZone, Utc};
use maestro_shared::Envelope;
use serde_json::Value;

/// One line of a captured sequence (`tests/fixtures/payloads/sequences/*.jsonl`).
#[derive(Debug, Clone)]
pub struct Captured {
    /// Event name.
    pub event: String,
    /// Capture time.
    pub at: DateTime<Utc>,
    /// Claude Code's payload.
    pub payload: Value,
}

/// Reads a captured sequence.
pub fn sequence(name: &str) -> Vec<Captured> {
    let path = crate::fixture(&format!("payloads/sequences/{name}.jsonl"));
    let text = std::fs::read_to_string(&path).expect("sequence file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            let ts = v["ts"].as_f64().expect("ts");
            let micros = (ts * 1e6).round() as i64;
            Captured {
                event: v["event"].as_str().expect("event").to_string(),
                at: Utc.timestamp_micros(micros).single().expect("time"),
                payload: v["payload"].clone(),
            }
        })
        .collect()
}

/// Every single payload file (`tests/fixtures/payloads/*.json`), with its file name.
pub fn all_payloads() -> Vec<(String, Value)> {
    let dir = crate::fixture("payloads");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("payload dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).expect("payload");
            (
                e.file_name().to_string_lossy().to_string(),
                serde_json::from_str(&text).expect("payload JSON"),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Wraps a payload in a v1 envelope captured at `at`.
pub fn envelope(payload: &Value, at: DateTime<Utc>) -> Value {
    let event = payload["hook_event_name"]
        .as_str()
        .unwrap_or("Unknown")
        .to_string();
    let mut env = Envelope::new(event, payload.clone());
    env.captured_at = at;
    env.source.host = Some("test-host".into());
    serde_json::to_value(env).expect("envelope JSON")
}

/// A copy of `payload` with another Claude session id.
pub fn with_session(payload: &Value, session_id: &str) -> Value {
    let mut p = payload.clone();
    p["session_id"] = Value::String(session_id.to_string());
    p
}
