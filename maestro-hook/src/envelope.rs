//! Builds the v1 envelope from stdin and the environment.

mod claude_process;

use maestro_shared::envelope::truncate_strings;
use maestro_shared::{Envelope, HookEventName};
use serde_json::{json, Value};
use std::io::Read;

/// Reads stdin to EOF (always, so Claude Code never gets EPIPE). A read error keeps what was
/// read so far and returns the error text.
pub fn read_stdin() -> (Vec<u8>, Option<String>) {
    let mut buf = Vec::with_capacity(8 * 1024);
    match std::io::stdin().lock().read_to_end(&mut buf) {
        Ok(_) => (buf, None),
        Err(e) => (buf, Some(format!("reading stdin: {e}"))),
    }
}

/// Why stdin is not a usable payload for `event`, or `None` when it is.
pub fn check_payload(event: &HookEventName, payload: &Value) -> Option<String> {
    let Some(obj) = payload.as_object() else {
        return Some("payload is not a JSON object".into());
    };
    match obj.get("session_id") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Some("missing required field `session_id`".into()),
    }
    match obj.get("hook_event_name") {
        Some(Value::String(s)) if s == event.as_str() => None,
        Some(Value::String(s)) => Some(format!(
            "hook_event_name {s:?} does not match the subcommand's event {:?}",
            event.as_str()
        )),
        _ => Some("missing required field `hook_event_name`".into()),
    }
}

/// Builds the envelope for `event` from the raw stdin bytes.
///
/// `env` stands in for the process environment. Malformed stdin still gives an envelope:
/// `parse_error` says what was wrong and the payload is `{"raw": "<text>"}`. Strings longer
/// than `cap` bytes are cut and `truncated` is set.
pub fn build(
    event: &HookEventName,
    stdin: &[u8],
    read_error: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    cap: usize,
) -> Envelope {
    let parsed = if stdin.iter().all(u8::is_ascii_whitespace) {
        Err("empty stdin".to_string())
    } else {
        serde_json::from_slice::<Value>(stdin).map_err(|e| format!("stdin is not JSON: {e}"))
    };
    let (mut payload, mut parse_error) = match parsed {
        Ok(v) => match check_payload(event, &v) {
            None => (v, None),
            Some(err) => (raw(stdin), Some(err)),
        },
        Err(err) => (raw(stdin), Some(err)),
    };
    if let Some(re) = read_error {
        parse_error = Some(match parse_error {
            Some(pe) => format!("{re}; {pe}"),
            None => re,
        });
    }
    let truncated = truncate_strings(&mut payload, cap);

    let env_val = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut e = Envelope::new(event.as_str(), payload);
    e.parse_error = parse_error;
    e.truncated = truncated;
    e.source.host = maestro_shared::envelope::hostname();
    e.source.user = env_val("USER").or_else(|| env_val("LOGNAME"));
    let (pid, start) =
        claude_process::find(env_val("CLAUDE_PID").and_then(|p| p.trim().parse().ok()));
    e.source.claude_pid = pid;
    e.source.claude_pid_start = start;
    e.source.project_dir = env_val("CLAUDE_PROJECT_DIR");
    e.source.entrypoint = env_val("CLAUDE_CODE_ENTRYPOINT");
    e.maestro.session_id = env_val("MAESTRO_SESSION_ID");
    e.maestro.task_id = env_val("MAESTRO_TASK_ID");
    e
}

fn raw(stdin: &[u8]) -> Value {
    json!({ "raw": String::from_utf8_lossy(stdin) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_shared::envelope::TRUNCATION_MARKER;

    fn env(k: &str) -> Option<String> {
        match k {
            "CLAUDE_PID" => Some("4242".into()),
            "CLAUDE_PROJECT_DIR" => Some("/home/dev/proj".into()),
            "CLAUDE_CODE_ENTRYPOINT" => Some("sdk-cli".into()),
            "MAESTRO_SESSION_ID" => Some("s_1".into()),
            "MAESTRO_TASK_ID" => Some("".into()),
            "USER" => Some("dev".into()),
            _ => None,
        }
    }

    #[test]
    fn good_payload_is_kept_verbatim() {
        let stdin = br#"{"session_id":"abc","hook_event_name":"Stop","extra":{"x":[1,2]}}"#;
        let e = build(&HookEventName::Stop, stdin, None, &env, 1024);
        assert_eq!(e.event, "Stop");
        assert_eq!(e.parse_error, None);
        assert!(!e.truncated);
        assert_eq!(
            e.payload,
            serde_json::from_slice::<Value>(stdin).expect("json")
        );
        assert_eq!(e.source.claude_pid, Some(4242));
        assert_eq!(e.source.project_dir.as_deref(), Some("/home/dev/proj"));
        assert_eq!(e.source.entrypoint.as_deref(), Some("sdk-cli"));
        assert_eq!(e.source.user.as_deref(), Some("dev"));
        assert_eq!(e.maestro.session_id.as_deref(), Some("s_1"));
        assert_eq!(e.maestro.task_id, None);
    }

    #[test]
    fn malformed_stdin_is_forwarded_raw() {
        for (stdin, what) in [
            (&b""[..], "empty"),
            (&b"  \n"[..], "empty"),
            (&b"{not json"[..], "not JSON"),
            (&b"[1,2]"[..], "not a JSON object"),
            (&br#"{"hook_event_name":"Stop"}"#[..], "session_id"),
            (&br#"{"session_id":"s"}"#[..], "hook_event_name"),
            (
                &br#"{"session_id":"s","hook_event_name":"PreToolUse"}"#[..],
                "does not match",
            ),
        ] {
            let e = build(&HookEventName::Stop, stdin, None, &env, 1024);
            let err = e.parse_error.as_deref().expect("parse error set");
            assert!(err.contains(what), "{err:?} should mention {what:?}");
            assert_eq!(e.payload, json!({"raw": String::from_utf8_lossy(stdin)}));
            assert_eq!(e.event, "Stop");
        }
    }

    #[test]
    fn invalid_utf8_and_read_errors_are_reported() {
        let e = build(
            &HookEventName::Stop,
            b"\xff\xfe",
            Some("reading stdin: boom".into()),
            &env,
            1024,
        );
        let err = e.parse_error.expect("error");
        assert!(err.starts_with("reading stdin: boom; "));
        assert_eq!(e.payload["raw"], "\u{fffd}\u{fffd}");
    }

    #[test]
    fn long_strings_are_truncated_not_rejected() {
        let big = "x".repeat(5000);
        let stdin = serde_json::to_vec(&json!({"session_id":"s","hook_event_name":"PostToolUse",
            "tool_response":{"content": big}}))
        .expect("json");
        let e = build(&HookEventName::PostToolUse, &stdin, None, &env, 100);
        assert!(e.truncated);
        assert_eq!(e.parse_error, None);
        let s = e.payload["tool_response"]["content"].as_str().expect("s");
        assert!(s.starts_with(&"x".repeat(100)) && s.ends_with(TRUNCATION_MARKER));
        assert_eq!(s.len(), 100 + TRUNCATION_MARKER.len());
    }

    #[test]
    fn hostname_is_found() {
        assert!(maestro_shared::envelope::hostname().is_some());
    }
}
