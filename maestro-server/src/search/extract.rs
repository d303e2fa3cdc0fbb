//! What of an event is searchable, its tool and its status. Used at ingest and by the
//! migration that indexes events stored before the index existed, so both agree.

use maestro_shared::policy::Outcome;
use serde_json::Value;

/// Most bytes of one string value that are indexed.
const STRING_CAP: usize = 512;
/// Most bytes of an event's searchable text.
const TEXT_CAP: usize = 4096;
/// How deep into `tool_input` strings are collected.
const MAX_DEPTH: usize = 4;

/// An event's status in the activity stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A tool call that finished.
    Ok,
    /// A failure: tool failure, API error ending the turn, malformed event.
    Error,
    /// Denied by the policy.
    Denied,
    /// Held for an operator's approval.
    Held,
    /// Asked: left to Claude Code's permission prompt, or a permission request.
    Ask,
    /// Anything else.
    Info,
}

impl Status {
    /// Every status, for validating a filter.
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::Error,
        Status::Denied,
        Status::Held,
        Status::Ask,
        Status::Info,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Denied => "denied",
            Status::Held => "held",
            Status::Ask => "ask",
            Status::Info => "info",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What the activity index stores of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// Tool name (tool events; a batch's first call).
    pub tool_name: Option<String>,
    /// Status.
    pub status: Status,
    /// Searchable text: prompt, tool input strings (commands, paths, patterns), error text,
    /// notification message. Capped at [`TEXT_CAP`] bytes.
    pub text: String,
}

/// Extracts the indexed fields of an event. `payload` is the hook's stdin JSON (None when
/// malformed or dropped by retention); `outcome` the policy's decision, if one was made.
pub fn extract(
    event: &str,
    payload: Option<&Value>,
    outcome: Option<Outcome>,
    malformed: bool,
) -> Extracted {
    let status = status(event, outcome, malformed);
    let mut text = Text::default();
    let mut tool_name = None;
    if let Some(p) = payload.filter(|p| p.is_object()) {
        tool_name = p
            .get("tool_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        for key in ["prompt", "message", "title", "reason"] {
            text.push_value(p.get(key), 0);
        }
        text.push_value(p.get("tool_input"), 0);
        text.push_value(p.get("error"), 0);
        if let Some(resp) = p.get("tool_response").and_then(Value::as_object) {
            text.push_value(resp.get("stderr"), 0);
            text.push_value(resp.get("error"), 0);
        }
        if let Some(calls) = p.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                if tool_name.is_none() {
                    tool_name = c
                        .get("tool_name")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                }
                text.push_value(c.get("tool_input"), 0);
            }
        }
        text.push_value(p.get("last_assistant_message"), 0);
    }
    Extracted {
        tool_name,
        status,
        text: text.0,
    }
}

fn status(event: &str, outcome: Option<Outcome>, malformed: bool) -> Status {
    if malformed {
        return Status::Error;
    }
    match outcome {
        Some(Outcome::Deny) => return Status::Denied,
        Some(Outcome::Hold) => return Status::Held,
        Some(Outcome::Ask) => return Status::Ask,
        _ => {}
    }
    match event {
        "PostToolUseFailure" | "StopFailure" => Status::Error,
        "PostToolUse" | "PostToolBatch" => Status::Ok,
        "PermissionRequest" => Status::Ask,
        _ => Status::Info,
    }
}

/// The searchable text being built: strings separated by newlines, capped.
#[derive(Default)]
struct Text(String);

impl Text {
    fn push_value(&mut self, v: Option<&Value>, depth: usize) {
        let Some(v) = v else { return };
        match v {
            Value::String(s) => self.push(s),
            Value::Array(a) if depth < MAX_DEPTH => {
                for x in a {
                    self.push_value(Some(x), depth + 1);
                }
            }
            Value::Object(o) if depth < MAX_DEPTH => {
                for x in o.values() {
                    self.push_value(Some(x), depth + 1);
                }
            }
            _ => {}
        }
    }

    fn push(&mut self, s: &str) {
        let s = s.trim();
        if s.is_empty() || self.0.len() >= TEXT_CAP {
            return;
        }
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        let room = (TEXT_CAP - self.0.len()).min(STRING_CAP);
        self.0.push_str(cut(s, room));
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_paths_prompts_and_errors_are_searchable() {
        let bash = json!({"tool_name": "Bash", "tool_input": {"command": "cargo test -p x", "description": "run"}});
        let e = extract("PreToolUse", Some(&bash), Some(Outcome::Allow), false);
        assert_eq!(e.tool_name.as_deref(), Some("Bash"));
        assert_eq!(e.status, Status::Info);
        assert!(e.text.contains("cargo test -p x"));

        let fail = json!({"tool_name": "Read", "tool_input": {"file_path": "/src/a.rs"}, "error": "File does not exist."});
        let e = extract("PostToolUseFailure", Some(&fail), None, false);
        assert_eq!(e.status, Status::Error);
        assert!(e.text.contains("/src/a.rs") && e.text.contains("File does not exist."));

        let prompt = json!({"prompt": "fix the login bug"});
        let e = extract("UserPromptSubmit", Some(&prompt), None, false);
        assert_eq!((e.tool_name, e.text.as_str()), (None, "fix the login bug"));

        let held = extract("PreToolUse", Some(&bash), Some(Outcome::Hold), false);
        assert_eq!(held.status, Status::Held);
        assert_eq!(extract("X", None, None, true).status, Status::Error);
    }

    #[test]
    fn text_is_capped_at_a_char_boundary() {
        let big = "é".repeat(10_000);
        let p = json!({"tool_input": {"a": big, "b": big, "c": big, "d": big, "e": big, "f": big, "g": big, "h": big, "i": big}});
        let e = extract("PreToolUse", Some(&p), None, false);
        assert!(e.text.len() <= TEXT_CAP + 16, "{}", e.text.len());
        assert!(e.text.len() > STRING_CAP);
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("nope"), None);
    }
}
