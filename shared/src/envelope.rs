//! The v1 envelope: what `maestro-hook` sends to `POST /api/webhooks/hook-event`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Envelope format version.
pub const ENVELOPE_VERSION: u32 = 1;

/// Marker appended to a string cut by [`truncate_strings`].
pub const TRUNCATION_MARKER: &str = "…[truncated by maestro]";

/// Default cap for one string field of a payload (256 KiB).
pub const DEFAULT_STRING_CAP: usize = 256 * 1024;

/// Where the event was captured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Host name of the machine running Claude Code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// User running Claude Code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The Claude Code process the hook runs under: `CLAUDE_PID` when set, else the hook's
    /// parent process (walking up through a shell for shell-form hooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_pid: Option<u32>,
    /// Start time of `claude_pid` (clock ticks after boot, `/proc/<pid>/stat` field 22), so
    /// that a reused pid is not mistaken for the same process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_pid_start: Option<u64>,
    /// `CLAUDE_PROJECT_DIR`: the stable project root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_dir: Option<String>,
    /// `CLAUDE_CODE_ENTRYPOINT` (`sdk-cli` under `-p`, `cli` interactive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
}

/// Maestro's own ids, present when Maestro spawned the session (`MAESTRO_*` env).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MaestroIds {
    /// `MAESTRO_SESSION_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `MAESTRO_TASK_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

/// What the hook sends for every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version, [`ENVELOPE_VERSION`].
    pub v: u32,
    /// UUIDv7 made at capture: the idempotency key.
    pub event_id: Uuid,
    /// Capture time (UTC, microseconds).
    pub captured_at: DateTime<Utc>,
    /// The hook event name (the subcommand and `hook_event_name` agree; on malformed stdin
    /// this is the subcommand's event).
    pub event: String,
    /// Capture context.
    #[serde(default)]
    pub source: Source,
    /// Maestro ids from the environment.
    #[serde(default)]
    pub maestro: MaestroIds,
    /// Claude Code's stdin JSON, untouched except the string cap. For malformed stdin:
    /// `{"raw": "<the text>"}`.
    pub payload: Value,
    /// Set when stdin was not a valid hook payload: what was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// True when at least one string of the payload was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Envelope {
    /// A new envelope with a fresh UUIDv7 and the current time.
    pub fn new(event: impl Into<String>, payload: Value) -> Self {
        Envelope {
            v: ENVELOPE_VERSION,
            event_id: Uuid::now_v7(),
            captured_at: Utc::now(),
            event: event.into(),
            source: Source::default(),
            maestro: MaestroIds::default(),
            payload,
            parse_error: None,
            truncated: false,
        }
    }

    /// A spool file name that sorts by capture time: `<micros>-<event_id>.json`.
    pub fn spool_name(&self) -> String {
        format!(
            "{:020}-{}.json",
            self.captured_at.timestamp_micros().max(0),
            self.event_id
        )
    }
}

/// Cuts every string longer than `cap` bytes (at a char boundary) and appends
/// [`TRUNCATION_MARKER`]. Returns true when anything was cut. Never fails, never rejects.
pub fn truncate_strings(v: &mut Value, cap: usize) -> bool {
    match v {
        Value::String(s) if s.len() > cap => {
            let mut end = cap;
            while end > 0 && !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s.push_str(TRUNCATION_MARKER);
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, item| truncate_strings(item, cap) | acc),
        Value::Object(map) => truncate_map(map, cap),
        _ => false,
    }
}

fn truncate_map(map: &mut Map<String, Value>, cap: usize) -> bool {
    map.values_mut()
        .fold(false, |acc, item| truncate_strings(item, cap) | acc)
}

/// This machine's host name (`gethostname(2)`), as the hook reports it in `source.host` and
/// the server compares it (one definition, so that both agree).
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_round_trips() {
        let mut e = Envelope::new("Stop", json!({"session_id":"s","hook_event_name":"Stop"}));
        e.source.claude_pid = Some(42);
        let text = serde_json::to_string(&e).expect("serialises");
        let back: Envelope = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, e);
        assert_eq!(e.event_id.get_version_num(), 7);
    }

    #[test]
    fn spool_names_sort_by_capture_time() {
        let a = Envelope::new("Stop", json!({}));
        let mut b = Envelope::new("Stop", json!({}));
        b.captured_at = a.captured_at + chrono::Duration::microseconds(1);
        assert!(a.spool_name() < b.spool_name());
    }

    #[test]
    fn truncates_long_strings_at_char_boundaries() {
        let mut v = json!({"a": "é".repeat(10), "b": ["short", "x".repeat(20)], "n": 5});
        assert!(truncate_strings(&mut v, 5));
        let a = v["a"].as_str().expect("string");
        assert!(a.starts_with("éé") && a.ends_with(TRUNCATION_MARKER));
        assert_eq!(v["b"][0], "short");
        assert!(v["b"][1].as_str().expect("s").starts_with("xxxxx…"));
        let mut small = json!({"a":"ok"});
        assert!(!truncate_strings(&mut small, 5));
    }
}
