//! The SDK control protocol for CLIs where PermissionRequest does not fire in `-p` runs
//! (before 2.1.268: a headless run in the default mode would refuse every ask without telling
//! anyone). The session runs with `--input-format stream-json --permission-prompt-tool stdio`:
//! the prompt goes in as one user message on stdin, and a tool that needs approval fires
//! PermissionRequest, which Maestro holds like any other; the hook's answer settles the CLI's
//! own SDK prompt (`control_cancel_request`).
//!
//! stdin stays open until the turn's `result` record is in the stdout log (an early EOF ends
//! the run before it starts), and is closed when an SDK prompt stays unanswered past the
//! operator's hold timeout (plus a margin): the hook then answered nothing, the CLI denies the
//! prompt on EOF, and the run ends instead of waiting forever.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// How often the stdout log is read.
const POLL: Duration = Duration::from_millis(200);
/// The longest an SDK prompt may stay unanswered before stdin is closed (the PermissionRequest
/// hook's own timeout is 600 s: its answer, if any, always comes before).
pub const UNANSWERED_LIMIT: Duration = Duration::from_secs(610);

/// The stdin line carrying the prompt.
pub fn user_message(prompt: &str) -> String {
    json!({
        "type": "user",
        "message": {"role": "user", "content": prompt},
        "parent_tool_use_id": null,
        "session_id": "",
    })
    .to_string()
}

/// Reads new complete lines of a growing log file.
struct LogTail {
    path: PathBuf,
    offset: u64,
}

impl LogTail {
    fn new_lines(&mut self) -> Vec<Value> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut reader = BufReader::new(f);
        let mut out = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) if line.ends_with(b"\n") => {
                    self.offset += n as u64;
                    if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                        out.push(v);
                    }
                }
                // A partial last line: read it again next time.
                Ok(_) => break,
            }
        }
        out
    }
}

/// Writes the prompt on the child's stdin, then keeps stdin open until the run's `result`
/// is logged, the process is gone (`done`), or an SDK prompt stays unanswered past `limit`.
pub async fn feed(
    mut stdin: tokio::process::ChildStdin,
    line: String,
    stdout_log: PathBuf,
    mut done: tokio::sync::watch::Receiver<bool>,
    limit: Duration,
) {
    let mut first = line;
    first.push('\n');
    if let Err(e) = stdin.write_all(first.as_bytes()).await {
        tracing::warn!(error = %e, "cannot write the prompt to the session's stdin");
        return;
    }
    let _ = stdin.flush().await;
    let mut tail = LogTail {
        path: stdout_log,
        offset: 0,
    };
    let mut pending: HashMap<String, Instant> = HashMap::new();
    loop {
        for rec in tail.new_lines() {
            match rec.get("type").and_then(Value::as_str) {
                Some("result") => return,
                Some("control_request") if rec["request"]["subtype"] == "can_use_tool" => {
                    if let Some(id) = rec["request_id"].as_str() {
                        pending.insert(id.to_string(), Instant::now());
                    }
                }
                Some("control_cancel_request") => {
                    if let Some(id) = rec["request_id"].as_str() {
                        pending.remove(id);
                    }
                }
                _ => {}
            }
        }
        if pending.values().any(|since| since.elapsed() > limit) {
            tracing::warn!(
                "an SDK permission prompt went unanswered; closing stdin so the CLI refuses it"
            );
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = done.wait_for(|d| *d) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_message_is_one_json_line() {
        let line = user_message("fix \"it\"\nplease");
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["type"], "user");
        assert_eq!(v["message"]["content"], "fix \"it\"\nplease");
    }

    #[test]
    fn the_tail_reads_complete_lines_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("out.log");
        std::fs::write(&path, "{\"type\":\"system\"}\nnot json\n{\"type\":\"res").expect("w");
        let mut tail = LogTail {
            path: path.clone(),
            offset: 0,
        };
        let first = tail.new_lines();
        assert_eq!(first, vec![json!({"type": "system"})]);
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(b"ult\"}\n").expect("append");
        assert_eq!(tail.new_lines(), vec![json!({"type": "result"})]);
        assert!(tail.new_lines().is_empty());
    }
}
