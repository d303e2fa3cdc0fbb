//! Spawning through `POST /api/tasks/{id}/sessions` with the fake `claude`
//! (`tests/src/bin/fake_claude.rs`), which runs the real `maestro-hook` from the `--settings`
//! hooks: events map to the task without any install, the result record is kept, stop,
//! crash, exit without SessionEnd, failure with stderr, the concurrency queue, validation.

use maestro_tests::server::TestServer;
use maestro_tests::{bin_path, pid_gone, wait_for};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The fake claude binary, built when missing.
struct World {
    server: TestServer,
    project: tempfile::TempDir,
    _spool: tempfile::TempDir,
}

fn world(extra: &[(&str, &str)]) -> World {
    let fake = bin_path("fake_claude");
    let spool = tempfile::tempdir().expect("spool dir");
    let project = tempfile::tempdir().expect("project dir");
    let fake_s = fake.display().to_string();
    let spool_s = spool.path().display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("MAESTRO_CLAUDE_COMMAND", fake_s.as_str()),
        ("MAESTRO_SPOOL_DIR", spool_s.as_str()),
        ("MAESTRO_STOP_GRACE_MS", "3000"),
        ("MAESTRO_WATCH_INTERVAL_MS", "200"),
    ];
    env.extend_from_slice(extra);
    World {
        server: TestServer::start_with_env(&env),
        project,
        _spool: spool,
    }
}

impl World {
    fn task(&self) -> String {
        let (status, task) = self.server.post(
            "/api/tasks",
            &json!({"title": "spawn test", "working_dir": self.project.path().display().to_string()}),
        );
        assert_eq!(status, 201, "{task}");
        task["id"].as_str().expect("task id").to_string()
    }

    fn spawn(&self, task: &str, prompt: &str) -> Value {
        let (status, s) = self.server.post(
            &format!("/api/tasks/{task}/sessions"),
            &json!({"prompt": prompt}),
        );
        assert_eq!(status, 201, "spawn answered {status}: {s}");
        s
    }

    fn session(&self, id: &str) -> Value {
        self.server.get(&format!("/api/sessions/{id}"))
    }

    fn wait_session(&self, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        wait_for(what, WAIT, || {
            let s = self.session(id);
            f(&s).then_some(s)
        })
    }

    fn timeline(&self, id: &str) -> Vec<String> {
        self.server
            .get(&format!("/api/sessions/{id}/timeline"))
            .as_array()
            .expect("timeline")
            .iter()
            .map(|l| l["summary"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn state(s: &Value) -> &str {
    s["state"].as_str().unwrap_or_default()
}

#[test]
fn spawned_session_reports_to_its_task_and_keeps_the_result() {
    let w = world(&[]);
    let task = w.task();
    let s = w.spawn(&task, "write hello.txt");
    let id = s["id"].as_str().expect("session id").to_string();
    assert_eq!(s["task_id"], task.as_str());
    assert_eq!(s["spawned"], true);
    let t = w.server.get(&format!("/api/tasks/{task}"));
    assert!(
        ["in_progress"].contains(&t["status"].as_str().unwrap_or_default()),
        "task while the session runs: {t}"
    );

    // The hooks' last events may reach the server after the process exit (their drainer
    // forwards them), so the count is part of the wait.
    let done = w.wait_session(&id, "the spawned session to complete", |s| {
        state(s) == "completed"
            && s["exit_code"] == 0
            && s["result"].is_object()
            && s["event_count"].as_i64().unwrap_or(0) >= 6
    });
    assert_eq!(done["result"]["num_turns"], 2);
    assert_eq!(done["result"]["subtype"], "success");
    assert!(done["claude_session_id"].is_string(), "{done}");
    assert!(
        done["event_count"].as_i64().unwrap_or(0) >= 6,
        "hook events mapped to the spawned session: {done}"
    );
    assert_eq!(
        done["end_reason"], "other",
        "SessionEnd's reason is kept: {done}"
    );

    // Every event went to this one session of the task: nothing unassigned.
    let sessions = w.server.get(&format!("/api/sessions?task_id={task}"));
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");
    let unassigned = w.server.get("/api/sessions?unassigned=true");
    assert_eq!(unassigned.as_array().map(Vec::len), Some(0), "{unassigned}");

    // The visible result: timeline line, metrics, task still in progress (the operator
    // decides when it is done).
    let lines = w.timeline(&id);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Process exited (exit code 0): success, 2 turns")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Process started (pid ")),
        "{lines:?}"
    );
    let m = w.server.get(&format!("/api/tasks/{task}/metrics"));
    assert_eq!(m["result"]["num_turns"], 2.0, "{m}");
    let t = w.server.get(&format!("/api/tasks/{task}"));
    assert_eq!(t["status"], "in_progress", "{t}");

    // The stream-json log and the command line the fake saw.
    let log = w
        .server
        .data_dir
        .join("sessions")
        .join(format!("{id}.jsonl"));
    let text = std::fs::read_to_string(&log).expect("session log");
    let init: Value = serde_json::from_str(text.lines().next().expect("init line")).expect("JSON");
    assert_eq!(init["subtype"], "init");
    let args: Vec<&str> = init["fake_args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&args[..2], &["-p", "write hello.txt"]);
    for flag in ["--output-format", "stream-json", "--verbose", "--settings"] {
        assert!(args.contains(&flag), "{flag} missing from {args:?}");
    }
    assert_eq!(
        init["cwd"].as_str().map(PathBuf::from),
        Some(w.project.path().canonicalize().expect("canonical"))
    );
}

#[test]
fn exit_without_session_end_is_recorded_as_completed() {
    let w = world(&[]);
    let task = w.task();
    let id = w.spawn(&task, "FAKE_NO_SESSION_END please")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let s = w.wait_session(&id, "completion without SessionEnd", |s| {
        state(s) == "completed"
    });
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["end_reason"], "exit code 0");
    assert!(s["ended_at"].is_string());
}

#[test]
fn failing_process_keeps_exit_code_and_stderr_tail() {
    let w = world(&[]);
    let task = w.task();
    let id = w.spawn(&task, "FAKE_EXIT3")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let s = w.wait_session(&id, "failure", |s| state(s) == "failed");
    assert_eq!(s["exit_code"], 3);
    assert_eq!(s["end_reason"], "exit code 3");
    let errors = w.server.get(&format!("/api/sessions/{id}/errors"));
    let line = errors
        .as_array()
        .expect("errors")
        .iter()
        .find(|l| {
            l["summary"]
                .as_str()
                .is_some_and(|t| t.starts_with("Process failed: exit code 3"))
        })
        .unwrap_or_else(|| panic!("no failure line in {errors}"))
        .clone();
    assert!(line["summary"]
        .as_str()
        .is_some_and(|t| t.contains("fatal: the fake failed on purpose")));
    let tail = line["detail"]["stderr_tail"].as_str().expect("stderr tail");
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 50, "{tail}");
    assert_eq!(lines[0], "fake stderr line 12");
    assert_eq!(lines[49], "fatal: the fake failed on purpose");
}

#[test]
fn stop_terminates_the_process_group() {
    let w = world(&[]);
    let task = w.task();
    let id = w.spawn(&task, "FAKE_SLOW")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let running = w.wait_session(&id, "the slow session to report", |s| {
        s["event_count"].as_i64().unwrap_or(0) >= 2 && s["claude_pid"].is_i64()
    });
    let pid = running["claude_pid"].as_i64().expect("pid");
    assert!(!state(&running).is_empty() && !pid_gone(pid));

    let (status, stopped) = w
        .server
        .post(&format!("/api/sessions/{id}/stop"), &json!({}));
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(state(&stopped), "failed", "{stopped}");
    assert_eq!(stopped["end_reason"], "stopped by operator");
    assert!(stopped["ended_at"].is_string());
    assert!(pid_gone(pid), "the process is gone after stop");
    let lines = w.timeline(&id);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Stopped by operator (killed by signal 15")),
        "{lines:?}"
    );

    // Stopping again answers the ended session.
    let (status, again) = w
        .server
        .post(&format!("/api/sessions/{id}/stop"), &json!({}));
    assert_eq!(status, 200);
    assert_eq!(state(&again), "failed");
    // Unknown session.
    let (status, _) = w.server.post("/api/sessions/s_nope/stop", &json!({}));
    assert_eq!(status, 404);
}

#[test]
fn sigkill_marks_the_session_failed_within_seconds() {
    let w = world(&[]);
    let task = w.task();
    let id = w.spawn(&task, "FAKE_CRASH")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let s = w.wait_session(&id, "the crashing session to run a tool", |s| {
        s["event_count"].as_i64().unwrap_or(0) >= 3 && s["claude_pid"].is_i64()
    });
    let pid = s["claude_pid"].as_i64().expect("pid");
    // SAFETY: kill(2) on the fake claude this test's server started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    let s = w.wait_session(&id, "failed or lost after SIGKILL", |s| {
        matches!(state(s), "failed" | "lost")
    });
    assert!(
        s["end_reason"]
            .as_str()
            .is_some_and(|r| r.contains("SIGKILL")),
        "{s}"
    );
    assert!(s["ended_at"].is_string());
}

#[test]
fn concurrency_limit_queues_the_second_session() {
    let w = world(&[("MAESTRO_MAX_CONCURRENT_SESSIONS", "1")]);
    let task = w.task();
    let first = w.spawn(&task, "FAKE_SLOW")["id"]
        .as_str()
        .expect("id")
        .to_string();
    w.wait_session(&first, "the first session to run", |s| {
        s["claude_pid"].is_i64()
    });
    let second = w.spawn(&task, "normal run");
    let second_id = second["id"].as_str().expect("id").to_string();
    // It says it waits for a slot, not that it is starting.
    assert_eq!(state(&second), "queued");
    assert!(
        second["claude_pid"].is_null(),
        "queued, not started: {second}"
    );
    assert!(w
        .timeline(&second_id)
        .iter()
        .any(|l| l.starts_with("Queued (position 1")));
    // Still waiting while the first holds the only slot.
    w.wait_session(&first, "the first session's hooks", |s| {
        s["event_count"].as_i64().unwrap_or(0) >= 2
    });
    assert!(w.session(&second_id)["claude_pid"].is_null());

    let (status, _) = w
        .server
        .post(&format!("/api/sessions/{first}/stop"), &json!({}));
    assert_eq!(status, 200);
    let done = w.wait_session(&second_id, "the queued session to run and complete", |s| {
        state(s) == "completed" && s["exit_code"] == 0
    });
    assert!(done["claude_pid"].is_i64());
    let lines = w.timeline(&second_id);
    let queued = lines.iter().position(|l| l.starts_with("Queued"));
    let started = lines.iter().position(|l| l.starts_with("Process started"));
    assert!(
        queued.is_some() && started.is_some() && queued < started,
        "{lines:?}"
    );

    // A queued session can be stopped before it starts.
    let third = w.spawn(&task, "FAKE_SLOW")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let fourth = w.spawn(&task, "normal run")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, s) = w
        .server
        .post(&format!("/api/sessions/{fourth}/stop"), &json!({}));
    assert_eq!(status, 200);
    assert_eq!(state(&s), "failed");
    assert!(s["claude_pid"].is_null());
    assert_eq!(s["end_reason"], "stopped by operator");
    let (status, _) = w
        .server
        .post(&format!("/api/sessions/{third}/stop"), &json!({}));
    assert_eq!(status, 200);
}

#[test]
fn spawn_requests_are_validated() {
    let w = world(&[]);
    let task = w.task();
    let path = format!("/api/tasks/{task}/sessions");
    let dir = w.project.path().display().to_string();
    let file = w.project.path().join("file.txt");
    std::fs::write(&file, "x").expect("write");
    let cases = [
        json!({"prompt": ""}),
        json!({"prompt": "   "}),
        json!({"prompt": "x".repeat(100 * 1024 + 1)}),
        json!({"prompt": "hi", "permission_mode": "yolo"}),
        json!({"prompt": "hi", "working_dir": "/definitely/not/here"}),
        json!({"prompt": "hi", "working_dir": file.display().to_string()}),
        json!({"prompt": "hi", "working_dir": "relative"}),
        json!({"prompt": "hi", "extra_args": ["ok", "nul\u{0}here"]}),
        json!({"prompt": "hi", "extra_args": "not a list"}),
        json!({"prompt": "hi", "headless": false}),
        json!({"prompt": "hi", "unknown_field": 1}),
        json!({"prompt": "hi", "model": "--settings"}),
    ];
    for body in cases {
        let (status, err) = w.server.post(&path, &body);
        assert_eq!(status, 422, "{body} answered {status}: {err}");
        assert!(
            err["error"]["code"].is_string() && err["error"]["message"].is_string(),
            "{err}"
        );
    }
    let (status, _) = w
        .server
        .post("/api/tasks/t_missing/sessions", &json!({"prompt": "hi"}));
    assert_eq!(status, 404);
    // A task without a working_dir needs one in the request.
    let (_, bare) = w.server.post("/api/tasks", &json!({"title": "no dir"}));
    let bare = bare["id"].as_str().expect("task id");
    let (status, err) = w.server.post(
        &format!("/api/tasks/{bare}/sessions"),
        &json!({"prompt": "hi"}),
    );
    assert_eq!(status, 422, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("working_dir")));
    let (status, s) = w.server.post(
        &format!("/api/tasks/{bare}/sessions"),
        &json!({"prompt": "hi", "working_dir": dir, "permission_mode": "acceptEdits", "model": "sonnet"}),
    );
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().expect("id");
    w.wait_session(id, "the session to complete", |s| state(s) == "completed");
    // Nothing was spawned for the rejected requests.
    let sessions = w.server.get(&format!("/api/sessions?task_id={task}"));
    assert_eq!(sessions.as_array().map(Vec::len), Some(0), "{sessions}");
}

/// `extra_args` are checked against an allow list: whatever would replace Maestro's hooks,
/// settings, MCP config or permission handling is refused with a 422 naming the entry, and no
/// session is created; allowed options pass through to the command line.
#[test]
fn extra_args_that_replace_hooks_or_permissions_are_refused() {
    let w = world(&[]);
    let task = w.task();
    let path = format!("/api/tasks/{task}/sessions");
    for args in [
        json!(["--settings", "{\"hooks\":{}}"]),
        json!(["--settings={}"]),
        json!(["--verbose", "--setting-sources", "user"]),
        json!(["--mcp-config", "/tmp/mcp.json"]),
        json!(["--strict-mcp-config"]),
        json!(["--dangerously-skip-permissions"]),
        json!(["--permission-mode", "bypassPermissions"]),
        json!(["--permission-prompt-tool", "mcp__x__approve"]),
        json!(["--plugin-dir", "/tmp/plugin"]),
        json!(["--agents", "{}"]),
        json!(["-p", "other prompt"]),
        json!(["--output-format", "json"]),
        json!(["--resume", "x"]),
        json!(["--", "--settings", "{}"]),
        json!(["--model", "--settings", "{}"]),
        json!(["--sett", "{}"]),
    ] {
        let (status, err) = w
            .server
            .post(&path, &json!({"prompt": "hi", "extra_args": args}));
        assert_eq!(status, 422, "{args} answered {status}: {err}");
        assert_eq!(err["error"]["code"], "invalid_extra_args", "{args}: {err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("extra_args[") && message.contains("refused")
                || message.contains("needs a value"),
            "{args}: {message}"
        );
    }
    let sessions = w.server.get(&format!("/api/sessions?task_id={task}"));
    assert_eq!(sessions.as_array().map(Vec::len), Some(0), "{sessions}");

    let (status, s) = w.server.post(
        &path,
        &json!({"prompt": "hi", "extra_args": ["--max-turns", "3", "--allowedTools", "Read", "Grep"]}),
    );
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().expect("id").to_string();
    let done = w.wait_session(&id, "the session to complete", |s| {
        state(s) == "completed" && !s["result"].is_null()
    });
    let log = std::fs::read_to_string(
        w.server
            .data_dir
            .join("sessions")
            .join(format!("{id}.jsonl")),
    )
    .expect("session log");
    let init: Value = serde_json::from_str(log.lines().next().expect("init line")).expect("json");
    let args: Vec<&str> = init["fake_args"]
        .as_array()
        .expect("fake_args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.ends_with(&["--max-turns", "3", "--allowedTools", "Read", "Grep"]),
        "{args:?} ({done})"
    );
    assert_eq!(
        args.iter().filter(|a| **a == "--settings").count(),
        1,
        "{args:?}"
    );
}

/// A spawned session's environment holds the ingest token under the name the hook reads and
/// no other credential: not `MAESTRO_OPERATOR_TOKEN`, not `MAESTRO_INGEST_TOKEN`, not the
/// server's `MAESTRO_CONFIG` (a file that may hold both tokens). And the server's own
/// environment, which received both tokens, no longer shows them in `/proc/<pid>/environ`.
#[test]
fn spawned_session_env_holds_no_operator_credential() {
    use maestro_tests::server::{INGEST_TOKEN, OPERATOR_TOKEN};
    let dump = tempfile::tempdir().expect("dump dir");
    let env_file = dump.path().join("child.env");
    let config = dump.path().join("server.toml");
    std::fs::write(&config, "hold_timeout_ms = 100000\n").expect("config");
    // The real fake claude, behind a shell that first records the environment it got.
    let command = format!(
        "sh -c 'env > {}; exec {} \"$@\"' sh",
        env_file.display(),
        bin_path("fake_claude").display()
    );
    let config_s = config.display().to_string();
    let w = world(&[
        ("MAESTRO_CLAUDE_COMMAND", command.as_str()),
        ("MAESTRO_CONFIG", config_s.as_str()),
        ("MAESTRO_TOKEN_FILE", "/etc/hostname"),
    ]);
    let task = w.task();
    let s = w.spawn(&task, "write hello.txt");
    let id = s["id"].as_str().expect("session id").to_string();
    w.wait_session(&id, "the spawned session to complete", |s| {
        state(s) == "completed"
    });
    let env = std::fs::read_to_string(&env_file).expect("the child's env");
    let vars: Vec<(&str, &str)> = env.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    assert!(
        !env.contains(OPERATOR_TOKEN),
        "operator token in the child's env:\n{env}"
    );
    for withheld in [
        "MAESTRO_OPERATOR_TOKEN",
        "MAESTRO_INGEST_TOKEN",
        "MAESTRO_CONFIG",
        "MAESTRO_TOKEN_FILE",
        "MAESTRO_CLAUDE_COMMAND",
    ] {
        assert_eq!(get(withheld), None, "{withheld} reached the child:\n{env}");
    }
    assert_eq!(get("MAESTRO_TOKEN"), Some(INGEST_TOKEN));
    assert_eq!(get("MAESTRO_SESSION_ID"), Some(id.as_str()));
    assert_eq!(get("MAESTRO_TASK_ID"), Some(task.as_str()));
    assert_eq!(get("MAESTRO_URL"), Some(w.server.url.as_str()));
    // A hook setting is passed on (the spool dir the world set).
    assert!(get("MAESTRO_SPOOL_DIR").is_some(), "{env}");
    // The session's events arrived: the hook had what it needed.
    let events = w
        .server
        .get(&format!("/api/events?since=0&session_id={id}"));
    assert!(events.as_array().is_some_and(|e| !e.is_empty()), "{events}");

    // The server itself: non-dumpable, so another process of the same (non-root) user cannot
    // open its environ at all; root can (root is out of scope), but the token bytes were
    // overwritten at start, so it reads no token either.
    let pid = w.server.pid().expect("server pid");
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(OPERATOR_TOKEN),
                "operator token in the server's environ"
            );
            assert!(
                !text.contains(INGEST_TOKEN),
                "ingest token in the server's environ"
            );
        }
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::PermissionDenied,
            "reading the server's environ: {e}"
        ),
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.lines().any(|l| l.starts_with("Pid:")), "{status}");
}
