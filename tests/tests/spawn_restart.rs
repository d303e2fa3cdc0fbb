//! Supervision across a server restart (live processes re-adopted by pid, gone ones lost,
//! queued sessions queued again) and liveness of sessions Maestro did not spawn.

use maestro_tests::envelopes::envelope;
use maestro_tests::server::TestServer;
use maestro_tests::{bin_path, fixture, pid_gone, wait_for};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn state(s: &Value) -> &str {
    s["state"].as_str().unwrap_or_default()
}

fn wait_session(server: &TestServer, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, WAIT, || {
        let s = server.get(&format!("/api/sessions/{id}"));
        f(&s).then_some(s)
    })
}

fn summaries(server: &TestServer, id: &str) -> Vec<String> {
    server
        .get(&format!("/api/sessions/{id}/timeline"))
        .as_array()
        .expect("timeline")
        .iter()
        .map(|l| l["summary"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn restart_readopts_live_processes_loses_gone_ones_and_requeues() {
    let fake = bin_path("fake_claude").display().to_string();
    let spool = tempfile::tempdir().expect("spool");
    let project = tempfile::tempdir().expect("project");
    let spool_s = spool.path().display().to_string();
    let mut server = TestServer::start_with_env(&[
        ("MAESTRO_CLAUDE_COMMAND", fake.as_str()),
        ("MAESTRO_SPOOL_DIR", spool_s.as_str()),
        ("MAESTRO_MAX_CONCURRENT_SESSIONS", "2"),
        ("MAESTRO_STOP_GRACE_MS", "3000"),
        ("MAESTRO_WATCH_INTERVAL_MS", "200"),
    ]);
    let (_, task) = server.post(
        "/api/tasks",
        &json!({"title": "restart", "working_dir": project.path().display().to_string()}),
    );
    let task = task["id"].as_str().expect("task id").to_string();
    let spawn = |server: &TestServer, prompt: &str| -> String {
        let (status, s) = server.post(
            &format!("/api/tasks/{task}/sessions"),
            &json!({"prompt": prompt}),
        );
        assert_eq!(status, 201, "{s}");
        s["id"].as_str().expect("id").to_string()
    };
    let keep = spawn(&server, "FAKE_SLOW keep me");
    let doomed = spawn(&server, "FAKE_SLOW kill me");
    let queued = spawn(&server, "normal run after the restart");
    let mut pids = Vec::new();
    for id in [&keep, &doomed] {
        // Both started and their start-up hooks are done (nothing in flight at the restart).
        let s = wait_session(&server, id, "a slow session to report", |s| {
            s["claude_pid"].is_i64() && s["event_count"].as_i64().unwrap_or(0) >= 2
        });
        pids.push(s["claude_pid"].as_i64().expect("pid"));
    }
    let waiting = server.get(&format!("/api/sessions/{queued}"));
    assert!(waiting["claude_pid"].is_null());
    assert_eq!(waiting["state"], "queued", "{waiting}");

    server.stop();
    // SAFETY: kill(2) on a fake claude this test's server started.
    unsafe {
        libc::kill(pids[1] as i32, libc::SIGKILL);
    }
    wait_for("the killed process to vanish", WAIT, || {
        pid_gone(pids[1]).then_some(())
    });
    assert!(!pid_gone(pids[0]), "the kept process survives the server");
    server.restart();

    let lost = wait_session(&server, &doomed, "the killed session to be lost", |s| {
        state(s) == "lost"
    });
    assert_eq!(lost["end_reason"], "process gone");
    wait_for("re-adoption line", WAIT, || {
        summaries(&server, &keep)
            .iter()
            .any(|l| l.starts_with("Re-adopted after a server restart"))
            .then_some(())
    });
    assert!(!server.get(&format!("/api/sessions/{keep}"))["state"]
        .as_str()
        .is_some_and(|s| ["completed", "failed", "lost"].contains(&s)));
    // The queued session was queued again and runs now (one slot was freed by the loss).
    let done = wait_session(&server, &queued, "the re-queued session to complete", |s| {
        // SessionEnd completes it first; the exit code follows when the process exits.
        state(s) == "completed" && s["exit_code"] == 0
    });
    assert!(done["result"].is_object(), "{done}");
    assert!(summaries(&server, &queued)
        .iter()
        .any(|l| l == "Queued again after a server restart"));

    // The re-adopted process can be stopped through the API.
    let (status, stopped) = server.post(&format!("/api/sessions/{keep}/stop"), &json!({}));
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(state(&stopped), "failed", "{stopped}");
    assert_eq!(stopped["end_reason"], "stopped by operator");
    assert!(pid_gone(pids[0]));
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0, "gethostname");
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim().to_string()
}

fn payload(name: &str, session_id: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("payloads/{name}"))).expect("payload");
    let mut p: Value = serde_json::from_str(&text).expect("JSON");
    p["session_id"] = json!(session_id);
    p
}

#[test]
fn unmanaged_session_whose_process_vanishes_becomes_lost() {
    let server = TestServer::start_with_env(&[("MAESTRO_WATCH_INTERVAL_MS", "200")]);
    let mut sleeper = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("start sleep");
    let pid = i64::from(sleeper.id());
    let claude_id = uuid::Uuid::now_v7().to_string();
    let mut env = envelope(
        &payload("SessionStart-startup.json", &claude_id),
        chrono::Utc::now(),
    );
    env["source"]["host"] = json!(hostname());
    env["source"]["claude_pid"] = json!(pid);
    let (status, ack) = server.ingest(&env);
    assert_eq!(status, 200, "{ack}");
    let id = ack["session_id"].as_str().expect("session").to_string();

    // Another host's session with a dead pid is left alone.
    let other_id = uuid::Uuid::now_v7().to_string();
    let mut other = envelope(
        &payload("SessionStart-startup.json", &other_id),
        chrono::Utc::now(),
    );
    other["source"]["host"] = json!("some-other-host");
    other["source"]["claude_pid"] = json!(pid);
    let (_, other_ack) = server.ingest(&other);
    let other_sid = other_ack["session_id"]
        .as_str()
        .expect("session")
        .to_string();

    let s = server.get(&format!("/api/sessions/{id}"));
    assert!(!["lost", "completed", "failed"].contains(&state(&s)), "{s}");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let s = wait_session(&server, &id, "the unmanaged session to be lost", |s| {
        state(s) == "lost"
    });
    assert_eq!(s["end_reason"], "process gone");
    let other = server.get(&format!("/api/sessions/{other_sid}"));
    assert_ne!(state(&other), "lost", "{other}");
}
