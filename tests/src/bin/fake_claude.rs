//! A stand-in for `claude -p PROMPT --output-format stream-json --verbose --settings JSON`,
//! used by the spawn tests as `MAESTRO_CLAUDE_COMMAND`.
//!
//! It takes the hook handlers from the `--settings` JSON and runs them (the real
//! `maestro-hook`) with captured payloads from `tests/fixtures/payloads` (fresh `session_id`,
//! this process's cwd, `CLAUDE_PID` = its own pid), and prints stream-json on stdout. The
//! prompt picks the behaviour:
//!
//! - `FAKE_NO_SESSION_END`: a normal run that exits 0 without the SessionEnd hook;
//! - `FAKE_CRASH`: starts, runs PreToolUse, then hangs (the test kills it with SIGKILL);
//! - `FAKE_SLOW`: starts, then sleeps until a signal ends it;
//! - `FAKE_EXIT3`: starts, writes 60 lines to stderr and exits with code 3;
//! - anything else: a normal run (SessionStart .. SessionEnd, a `result` record, exit 0).
//!
//! `--version` alone prints `$FAKE_CLAUDE_VERSION (Claude Code)` (default 2.1.332).

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Fake {
    settings: Value,
    session_id: String,
    cwd: String,
    prompt: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("payloads")
}

impl Fake {
    /// Runs every command handler the settings register for `event` with the fixture payload.
    fn hook(&self, event: &str, fixture: &str, edit: impl Fn(&mut Value)) {
        let path = fixtures().join(fixture);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("fake_claude: cannot read {}: {e}", path.display());
                return;
            }
        };
        let Ok(mut payload) = serde_json::from_str::<Value>(&text) else {
            eprintln!("fake_claude: {} is not JSON", path.display());
            return;
        };
        payload["session_id"] = json!(self.session_id);
        payload["cwd"] = json!(self.cwd);
        payload["transcript_path"] = json!(format!(
            "{}/.claude/projects/fake/{}.jsonl",
            std::env::var("HOME").unwrap_or_default(),
            self.session_id
        ));
        edit(&mut payload);
        let groups = self.settings["hooks"][event]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for group in groups {
            for h in group["hooks"].as_array().cloned().unwrap_or_default() {
                if h["type"] != "command" {
                    continue;
                }
                let Some(cmd) = h["command"].as_str() else {
                    continue;
                };
                let args: Vec<String> = h["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let child = Command::new(cmd)
                    .args(&args)
                    .env("CLAUDE_PID", std::process::id().to_string())
                    .env("CLAUDE_PROJECT_DIR", &self.cwd)
                    .env("CLAUDE_CODE_ENTRYPOINT", "sdk-cli")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn();
                match child {
                    Ok(mut c) => {
                        if let Some(mut stdin) = c.stdin.take() {
                            let _ = stdin.write_all(payload.to_string().as_bytes());
                        }
                        let _ = c.wait();
                    }
                    Err(e) => eprintln!("fake_claude: cannot run hook {cmd}: {e}"),
                }
            }
        }
    }
}

fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// "Forever" for a test: until a signal ends it, or five minutes at most, so a test that
/// panics before stopping it leaves nothing behind for long.
fn sleep_forever() -> ! {
    for _ in 0..300 {
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!("fake_claude: nobody stopped me in five minutes; exiting");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The server asks the version once, to pick the hook events and the permission path:
    // this fake behaves like a plain `-p` run of a CLI where PermissionRequest fires there.
    if args == ["--version"] {
        let v = std::env::var("FAKE_CLAUDE_VERSION").unwrap_or_else(|_| "2.1.332".into());
        println!("{v} (Claude Code)");
        return;
    }
    let mut prompt = String::new();
    let mut settings = Value::Null;
    let mut model = "claude-fake-1".to_string();
    let mut permission_mode = "default".to_string();
    let mut i = 0;
    while i < args.len() {
        let next = args.get(i + 1).cloned();
        match args[i].as_str() {
            "-p" | "--print" => {
                if let Some(p) = next.filter(|n| !n.starts_with("--")) {
                    prompt = p;
                    i += 1;
                }
            }
            "--settings" => {
                if let Some(s) = next {
                    settings = serde_json::from_str(&s).unwrap_or(Value::Null);
                    i += 1;
                }
            }
            "--model" => {
                if let Some(m) = next {
                    model = m;
                    i += 1;
                }
            }
            "--permission-mode" => {
                if let Some(m) = next {
                    permission_mode = m;
                    i += 1;
                }
            }
            "--output-format" => i += 1,
            _ => {}
        }
        i += 1;
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let fake = Fake {
        settings,
        session_id: uuid::Uuid::now_v7().to_string(),
        cwd: cwd.clone(),
        prompt: prompt.clone(),
    };
    emit(json!({
        "type": "system", "subtype": "init", "session_id": fake.session_id, "cwd": cwd,
        "model": model, "permissionMode": permission_mode, "tools": ["Bash", "Read", "Write"],
        "fake_args": args, "fake_pid": std::process::id(),
    }));
    fake.hook("SessionStart", "SessionStart-startup.json", |_| {});
    let p = fake.prompt.clone();
    fake.hook("UserPromptSubmit", "UserPromptSubmit.json", move |v| {
        v["prompt"] = json!(p)
    });

    if prompt.contains("FAKE_SLOW") {
        emit(json!({"type": "assistant", "session_id": fake.session_id,
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Working slowly..."}]}}));
        sleep_forever();
    }
    if prompt.contains("FAKE_CRASH") {
        fake.hook("PreToolUse", "PreToolUse-Bash.json", |_| {});
        sleep_forever();
    }
    if prompt.contains("FAKE_EXIT3") {
        let mut err = std::io::stderr().lock();
        for n in 1..=60 {
            let _ = writeln!(err, "fake stderr line {n}");
        }
        let _ = writeln!(err, "fatal: the fake failed on purpose");
        let _ = err.flush();
        std::process::exit(3);
    }

    fake.hook("PreToolUse", "PreToolUse-Bash.json", |_| {});
    emit(json!({"type": "assistant", "session_id": fake.session_id,
        "message": {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_fake", "name": "Bash",
            "input": {"command": "echo hi"}}]}}));
    fake.hook("PostToolUse", "PostToolUse-Bash.json", |_| {});
    emit(json!({"type": "assistant", "session_id": fake.session_id,
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Done."}]}}));
    fake.hook("Stop", "Stop.json", |_| {});
    if !prompt.contains("FAKE_NO_SESSION_END") {
        fake.hook("SessionEnd", "SessionEnd-other.json", |_| {});
    }
    emit(json!({
        "type": "result", "subtype": "success", "is_error": false, "duration_ms": 120,
        "duration_api_ms": 100, "num_turns": 2, "result": "Done.", "session_id": fake.session_id,
        "total_cost_usd": 0.01,
        "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0},
        "permission_denials": [],
    }));
}
