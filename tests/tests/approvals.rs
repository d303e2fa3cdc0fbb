//! Permission decisions end to end through the real `maestro-hook` binary: policy allow and
//! deny, hold then approve or deny from the API, timeout fallback, and no self-approval.

mod hook_support;

use hook_support::{pre_tool_use, start_hook, Running};
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use maestro_tests::{bin_path, wait_for};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const POLICY: &str = maestro_tests::HOLD_DEPLOYS_POLICY;

fn finish(hook: Running) -> (i32, String) {
    hook.finish()
}

fn pending(server: &TestServer) -> Value {
    wait_for("a pending approval", Duration::from_secs(20), || {
        let list = server.get("/api/approvals?status=pending");
        list.as_array().and_then(|a| a.first().cloned())
    })
}

fn policy_server(extra: &[(&str, &str)]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, POLICY).expect("policy");
    let path = path.display().to_string();
    let mut env = vec![("MAESTRO_POLICY_FILE", path.as_str())];
    env.extend_from_slice(extra);
    (TestServer::start_with_env(&env), dir)
}

#[test]
fn the_policy_allows_and_denies_through_the_hook() {
    let (server, _dir) = policy_server(&[]);
    let (code, out) = finish(start_hook(
        &server,
        "pre-tool-use",
        &pre_tool_use("pol-1", "ls"),
    ));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).expect("allow JSON");
    assert_eq!(
        v["hookSpecificOutput"]["permissionDecision"], "allow",
        "{out}"
    );
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");

    let (code, out) = finish(start_hook(
        &server,
        "pre-tool-use",
        &pre_tool_use("pol-1", "bash -c 'rm -rf ~'"),
    ));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).expect("deny JSON");
    assert_eq!(
        v["hookSpecificOutput"]["permissionDecision"], "deny",
        "{out}"
    );
    assert!(v["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .is_some_and(|r| r.contains("Maestro policy")));
    // Ask: no opinion, nothing printed.
    let (code, out) = finish(start_hook(
        &server,
        "pre-tool-use",
        &pre_tool_use("pol-1", "npm test"),
    ));
    assert_eq!((code, out.as_str()), (0, ""));
    // The deny is on the timeline.
    let s = &server.get("/api/sessions?claude_session_id=pol-1")[0];
    let timeline = server.get(&format!(
        "/api/sessions/{}/timeline",
        s["id"].as_str().expect("id")
    ));
    assert!(
        timeline
            .as_array()
            .expect("arr")
            .iter()
            .any(|l| l["kind"] == "decision"
                && l["summary"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Denied by policy"))),
        "{timeline}"
    );
}

#[test]
fn hold_then_approve_or_deny_from_the_api() {
    let (server, _dir) = policy_server(&[]);
    for (decision, expected) in [("approve", "allow"), ("deny", "deny")] {
        let hook = start_hook(
            &server,
            "pre-tool-use",
            &pre_tool_use("hold-1", "deploy prod"),
        );
        let approval = pending(&server);
        let id = approval["id"].as_str().expect("id").to_string();
        assert_eq!(approval["rule_id"], "hold-deploys");
        assert_eq!(approval["tool_name"], "Bash");
        let s = server.get(&format!(
            "/api/sessions/{}",
            approval["session_id"].as_str().expect("sid")
        ));
        assert_eq!(s["state"], "blocked", "{s}");
        assert!(s["blocked_on"]
            .as_str()
            .is_some_and(|b| b.contains("deploy prod")));

        // The agent's own token cannot decide.
        let resp = server
            .client()
            .post(format!("{}/api/approvals/{id}", server.url))
            .bearer_auth(INGEST_TOKEN)
            .json(&json!({"decision": "approve"}))
            .send()
            .expect("post");
        assert_eq!(resp.status().as_u16(), 403);
        let resp = server
            .client()
            .post(format!("{}/api/approvals/{id}", server.url))
            .json(&json!({"decision": "approve"}))
            .send()
            .expect("post");
        assert_eq!(resp.status().as_u16(), 401);
        // Garbage decisions are refused.
        let (status, _) = server.post(
            &format!("/api/approvals/{id}"),
            &json!({"decision": "maybe"}),
        );
        assert_eq!(status, 422);

        let (status, body) = server.post(
            &format!("/api/approvals/{id}"),
            &json!({"decision": decision, "reason": "checked the diff"}),
        );
        assert_eq!(status, 200, "{body}");
        let (code, out) = finish(hook);
        assert_eq!(code, 0);
        let v: Value = serde_json::from_str(out.trim()).expect("decision JSON");
        assert_eq!(
            v["hookSpecificOutput"]["permissionDecision"], expected,
            "{out}"
        );
        assert!(out.contains("checked the diff"));
        // Deciding twice is a conflict; the session is no longer blocked.
        let (status, _) = server.post(
            &format!("/api/approvals/{id}"),
            &json!({"decision": "approve"}),
        );
        assert_eq!(status, 409);
        let s = server.get(&format!(
            "/api/sessions/{}",
            approval["session_id"].as_str().expect("sid")
        ));
        assert_eq!(s["state"], "active");
        let audit = server.get(&format!("/api/approvals/{id}"));
        assert_eq!(audit["decided_by"], "operator");
        assert!(audit["latency_ms"].as_i64().is_some());
    }
    let all = server.get("/api/approvals");
    assert_eq!(all.as_array().expect("arr").len(), 2);
    let _ = OPERATOR_TOKEN;
}

#[test]
fn an_unanswered_hold_times_out_to_claude_codes_own_prompt() {
    let (server, _dir) = policy_server(&[("MAESTRO_HOLD_TIMEOUT_MS", "300")]);
    let pre = pre_tool_use("hold-2", "deploy staging");
    let (code, out) = finish(start_hook(&server, "pre-tool-use", &pre));
    assert_eq!(
        (code, out.as_str()),
        (0, ""),
        "nothing printed: Claude Code's own flow applies"
    );
    let list = server.get("/api/approvals?status=timed_out");
    assert_eq!(list.as_array().expect("arr").len(), 1, "{list}");
    let a = &list[0];
    assert_eq!(a["decided_by"], "timeout");
    assert!(
        a["decision_reason"]
            .as_str()
            .is_some_and(|r| r.contains("left to Claude Code's own prompt")),
        "{a}"
    );
    let sid = a["session_id"].as_str().expect("sid").to_string();
    // Claude Code now shows its own dialog: the session stays blocked on it.
    let s = server.get(&format!("/api/sessions/{sid}"));
    assert_eq!(s["state"], "blocked", "{s}");
    assert!(
        s["blocked_on"].as_str().is_some_and(
            |b| b.starts_with("Waiting at the terminal") && b.contains("deploy staging")
        ),
        "{s}"
    );
    // The operator can no longer decide it.
    let (status, body) = server.post(
        &format!("/api/approvals/{}", a["id"].as_str().expect("id")),
        &json!({"decision": "approve"}),
    );
    assert_eq!(status, 409, "{body}");
    // "Yes" at the terminal: the tool runs, its PostToolUse settles both.
    let (code, _) = finish(start_hook(&server, "post-tool-use", &post_tool_use(&pre)));
    assert_eq!(code, 0);
    let a = server.get(&format!("/api/approvals/{}", a["id"].as_str().expect("id")));
    assert_eq!(a["status"], "terminal_allowed", "{a}");
    let s = server.get(&format!("/api/sessions/{sid}"));
    assert_eq!(s["state"], "active", "{s}");
}

/// The PostToolUse of a call (same session, tool, input and id).
fn post_tool_use(pre: &Value) -> Value {
    let mut p = pre.clone();
    p["hook_event_name"] = json!("PostToolUse");
    p["tool_response"] = json!({"stdout": "", "stderr": "", "interrupted": false});
    p
}

/// The PermissionRequest Claude Code sends for the call `pre` announced (no tool_use_id).
fn permission_request(pre: &Value) -> Value {
    let mut p = pre.clone();
    p["hook_event_name"] = json!("PermissionRequest");
    p.as_object_mut().expect("obj").remove("tool_use_id");
    p["permission_suggestions"] = json!([]);
    p
}

fn timeline_summaries(server: &TestServer, sid: &str) -> Vec<String> {
    server
        .get(&format!("/api/sessions/{sid}/timeline"))
        .as_array()
        .expect("arr")
        .iter()
        .filter_map(|l| l["summary"].as_str().map(str::to_string))
        .collect()
}

/// Claude Code's own dialog answered "Yes" while Maestro holds the PermissionRequest: the
/// tool's PostToolUse resolves the approval as allowed in the terminal, releases the held
/// hook at once with nothing to print, and the operator gets a 409.
#[test]
fn a_yes_in_the_terminal_resolves_the_held_request_within_one_event() {
    let server = TestServer::start();
    let pre = pre_tool_use("term-yes", "npm test");
    let (code, out) = finish(start_hook(&server, "pre-tool-use", &pre));
    assert_eq!((code, out.as_str()), (0, ""), "ask: Claude Code's own flow");
    let held = start_hook(&server, "permission-request", &permission_request(&pre));
    let approval = pending(&server);
    let id = approval["id"].as_str().expect("id").to_string();
    let sid = approval["session_id"].as_str().expect("sid").to_string();
    assert_eq!(
        server.get(&format!("/api/sessions/{sid}"))["state"],
        "blocked"
    );

    let (code, _) = finish(start_hook(&server, "post-tool-use", &post_tool_use(&pre)));
    assert_eq!(code, 0);
    // Resolved by that one event.
    let a = server.get(&format!("/api/approvals/{id}"));
    assert_eq!(a["status"], "terminal_allowed", "{a}");
    assert_eq!(a["decided_by"], "terminal");
    // The held hook was released with nothing to print (the terminal already decided).
    let (code, out) = finish(held);
    assert_eq!((code, out.as_str()), (0, ""));
    let (status, body) = server.post(
        &format!("/api/approvals/{id}"),
        &json!({"decision": "deny"}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("answered in the terminal (allowed)")),
        "{body}"
    );
    let s = server.get(&format!("/api/sessions/{sid}"));
    assert_eq!(s["state"], "active", "{s}");
    let lines = timeline_summaries(&server, &sid);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Answered in the terminal (allowed)")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("Denied")), "{lines:?}");
    assert!(server
        .get("/api/approvals?status=pending")
        .as_array()
        .expect("arr")
        .is_empty());
}

/// "No" or Escape at Claude Code's dialog: the CLI kills the held hook. The approval is
/// answered in the terminal (denied or dismissed), the call's line says it did not run, and
/// the session waits for input (no hook fires after a terminal "No").
#[test]
fn a_no_in_the_terminal_kills_the_held_hook_and_the_call_did_not_run() {
    let server = TestServer::start();
    let pre = pre_tool_use("term-no", "npm test");
    let (code, _) = finish(start_hook(&server, "pre-tool-use", &pre));
    assert_eq!(code, 0);
    let mut held = start_hook(&server, "permission-request", &permission_request(&pre));
    let approval = pending(&server);
    let id = approval["id"].as_str().expect("id").to_string();
    let sid = approval["session_id"].as_str().expect("sid").to_string();
    held.child.kill().expect("kill the held hook");
    let _ = held.child.wait();
    // A bound, not a timing claim: the server notices the closed request when hyper polls the
    // connection, which a loaded CI host can delay (one run waited past 20 s).
    let a = wait_for(
        "the approval answered in the terminal",
        Duration::from_secs(60),
        || {
            let a = server.get(&format!("/api/approvals/{id}"));
            (a["status"] != "pending").then_some(a)
        },
    );
    assert_eq!(a["status"], "terminal_denied", "{a}");
    assert_eq!(a["decided_by"], "terminal");
    let s = server.get(&format!("/api/sessions/{sid}"));
    assert_eq!(s["state"], "waiting_for_input", "{s}");
    let lines = timeline_summaries(&server, &sid);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Not run:") && l.contains("npm test")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Answered in the terminal (denied or dismissed)")),
        "{lines:?}"
    );
    let (status, _) = server.post(
        &format!("/api/approvals/{id}"),
        &json!({"decision": "approve"}),
    );
    assert_eq!(status, 409);
}

/// An event sent with the shared ingest token for another session's Claude session id, but
/// from another host and process, neither resolves nor cancels that session's approval; the
/// same events from the process that raised it do.
#[test]
fn a_forged_event_cannot_resolve_or_cancel_another_sessions_approval() {
    let (server, _dir) = policy_server(&[("MAESTRO_WATCH_INTERVAL_MS", "100")]);
    let pre = pre_tool_use("victim", "deploy prod");
    let held = start_hook(&server, "pre-tool-use", &pre);
    let approval = pending(&server);
    let id = approval["id"].as_str().expect("id").to_string();
    let forged = |event: &str, payload: Value| {
        json!({"v": 1, "event_id": uuid::Uuid::now_v7().to_string(),
            "captured_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "event": event, "source": {"host": "forged-host", "claude_pid": 4_000_000},
            "payload": payload})
    };
    // An event that claims this host and another live process (which then exits): the
    // liveness watch finds that pid gone and marks the session lost, but the approval was
    // raised by a live process and stays pending.
    let mut other = Command::new("sleep").arg("600").spawn().expect("sleep");
    let mut forged_here = forged(
        "Notification",
        json!({"session_id": "victim", "hook_event_name": "Notification",
               "notification_type": "idle_prompt", "message": "x"}),
    );
    forged_here["source"]["host"] = approval_host(&server, &approval);
    forged_here["source"]["claude_pid"] = json!(other.id());
    let (status, _) = server.ingest(&forged_here);
    assert_eq!(status, 200);
    let sid = approval["session_id"].as_str().expect("sid").to_string();
    assert_eq!(
        server.get(&format!("/api/sessions/{sid}"))["claude_pid"].as_u64(),
        Some(u64::from(other.id()))
    );
    other.kill().expect("kill sleep");
    other.wait().expect("reap sleep");
    wait_for(
        "the watch to find the forged pid gone",
        Duration::from_secs(20),
        || {
            let s = server.get(&format!("/api/sessions/{sid}"));
            (s["state"] == "lost").then_some(())
        },
    );
    let a = server.get(&format!("/api/approvals/{id}"));
    assert_eq!(a["status"], "pending", "a forged pid cancelled it: {a}");
    let mut post = post_tool_use(&pre);
    post["tool_response"] = json!({"stdout": "ran"});
    for (event, payload) in [
        ("PostToolUse", post),
        (
            "Stop",
            json!({"session_id": "victim", "hook_event_name": "Stop"}),
        ),
        (
            "SessionEnd",
            json!({"session_id": "victim", "hook_event_name": "SessionEnd", "reason": "other"}),
        ),
    ] {
        let (status, body) = server.ingest(&forged(event, payload));
        assert_eq!(status, 200, "{body}");
        // Stored durably before the answer: the approval is as it will stay.
        let a = server.get(&format!("/api/approvals/{id}"));
        assert_eq!(a["status"], "pending", "a forged {event} moved it: {a}");
    }
    let (status, _) = server.post(
        &format!("/api/approvals/{id}"),
        &json!({"decision": "approve"}),
    );
    assert_eq!(status, 200);
    let (_, out) = finish(held);
    assert!(out.contains("\"allow\""), "{out}");

    // The real process's own SessionEnd does cancel a permission request it raised (its dialog
    // is on screen beside the held hook), live. (A held PreToolUse blocks the CLI, so no event
    // of its session ends it: see the forged events above.)
    let request = json!({"session_id": "victim-2", "hook_event_name": "PermissionRequest",
        "cwd": "/tmp/proj", "tool_name": "Bash", "tool_input": {"command": "deploy staging"}});
    let held = start_hook(&server, "permission-request", &request);
    let approval = pending(&server);
    let id = approval["id"].as_str().expect("id").to_string();
    let (code, _) = finish(start_hook(
        &server,
        "session-end",
        &json!({"session_id": "victim-2", "hook_event_name": "SessionEnd", "reason": "other"}),
    ));
    assert_eq!(code, 0);
    let a = server.get(&format!("/api/approvals/{id}"));
    assert_eq!(a["status"], "cancelled", "{a}");
    assert_eq!(a["decided_by"], "session ended");
    // Released at once with a deny: only an operator's approval ends a hold as allow.
    let (code, out) = finish(held);
    assert_eq!(code, 0);
    assert!(
        out.contains("\"deny\"") && out.contains("cancelled"),
        "{out}"
    );
}

/// The host the session of `approval` reports (this machine's name, as the hook sent it).
fn approval_host(server: &TestServer, approval: &Value) -> Value {
    let s = server.get(&format!(
        "/api/sessions/{}",
        approval["session_id"].as_str().expect("sid")
    ));
    s["host"].clone()
}

/// A held request replayed from the hook's spool (`X-Maestro-Wait-Ms: 0`) has nobody
/// waiting: it is recorded, but creates no approval and does not block the session.
#[test]
fn a_spool_replay_of_a_held_request_creates_no_approval() {
    let (server, _dir) = policy_server(&[]);
    let payload = pre_tool_use("replayed", "deploy prod");
    let env = json!({"v": 1, "event_id": uuid::Uuid::now_v7().to_string(),
        "captured_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "event": "PreToolUse", "payload": payload});
    let resp = server
        .client()
        .post(format!("{}/api/webhooks/hook-event", server.url))
        .bearer_auth(INGEST_TOKEN)
        .header("X-Maestro-Wait-Ms", "0")
        .json(&env)
        .send()
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().expect("json");
    assert!(body["stdout"].is_null(), "{body}");
    assert!(server
        .get("/api/approvals")
        .as_array()
        .expect("arr")
        .is_empty());
    let sid = body["session_id"].as_str().expect("sid");
    let s = server.get(&format!("/api/sessions/{sid}"));
    assert_ne!(s["state"], "blocked", "{s}");
    let lines = timeline_summaries(&server, sid);
    assert!(
        lines.iter().any(|l| l.contains("replayed late")),
        "{lines:?}"
    );
}

/// A session whose CLI process is gone is marked lost within the watch interval: the hook
/// reports the process it runs under (its parent, here `timeout`) with its start time.
#[test]
fn a_session_whose_cli_process_is_gone_is_lost() {
    let server = TestServer::start_with_env(&[("MAESTRO_WATCH_INTERVAL_MS", "100")]);
    let spool = tempfile::tempdir().expect("spool");
    let mut cmd = Command::new("timeout");
    cmd.arg("600")
        .arg(bin_path("maestro-hook"))
        .arg("session-start")
        .env("MAESTRO_SPOOL_DIR", spool.path())
        .env("MAESTRO_HOOK_CONFIG", spool.path().join("none.env"))
        .env_remove("CLAUDE_PID")
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    for (k, v) in server.hook_env() {
        cmd.env(k, v);
    }
    let mut cli = cmd.spawn().expect("spawn");
    let pid = cli.id();
    let mut stdin = cli.stdin.take().expect("stdin");
    stdin
        .write_all(
            json!({"session_id": "liveness-1", "hook_event_name": "SessionStart", "source": "startup"})
                .to_string()
                .as_bytes(),
        )
        .expect("write");
    drop(stdin);
    let status = cli.wait().expect("wait");
    assert!(status.success(), "the hook under timeout: {status}");
    let s = wait_for(
        "the session with its CLI pid",
        Duration::from_secs(20),
        || {
            let list = server.get("/api/sessions?claude_session_id=liveness-1");
            list.as_array().and_then(|l| l.first().cloned())
        },
    );
    assert_eq!(s["claude_pid"].as_i64(), Some(i64::from(pid)), "{s}");
    let id = s["id"].as_str().expect("id").to_string();
    let s = wait_for("the session lost", Duration::from_secs(20), || {
        let s = server.get(&format!("/api/sessions/{id}"));
        (s["state"] == "lost").then_some(s)
    });
    assert_eq!(s["end_reason"], "process gone", "{s}");
}

#[test]
fn a_permission_request_waits_for_the_operator() {
    let server = TestServer::start();
    let payload: Value = serde_json::from_str(
        &std::fs::read_to_string(maestro_tests::fixture(
            "payloads/PermissionRequest-Write-sdk.json",
        ))
        .expect("fixture"),
    )
    .expect("json");
    let hook = start_hook(&server, "permission-request", &payload);
    let approval = pending(&server);
    assert_eq!(approval["event"], "PermissionRequest");
    let (status, _) = server.post(
        &format!("/api/approvals/{}", approval["id"].as_str().expect("id")),
        &json!({"decision": "approve"}),
    );
    assert_eq!(status, 200);
    let (code, out) = finish(hook);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "allow");
}

#[test]
fn a_task_policy_override_applies_to_its_sessions_only() {
    let server = TestServer::start();
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "No network", "policy":
            "[[rule]]\nid = \"deny-curl\"\ntool = \"Bash\"\ncommand = \"curl *\"\noutcome = \"deny\"\nreason = \"This task must not use the network.\"\n"}),
    );
    assert_eq!(status, 201, "{task}");
    let tid = task["id"].as_str().expect("id");
    // A broken override is refused with a clear error.
    let resp = server
        .client()
        .patch(format!("{}/api/tasks/{tid}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"policy": "[[rule]]\noutcome = 7"}))
        .send()
        .expect("patch");
    assert_eq!(resp.status().as_u16(), 422);
    // The task's session: mapped through the Maestro ids the hook forwards.
    let run = |session: &str, task: Option<&str>| {
        let spool = tempfile::tempdir().expect("spool");
        let mut cmd = Command::new(bin_path("maestro-hook"));
        cmd.arg("pre-tool-use")
            .env("MAESTRO_SPOOL_DIR", spool.path())
            .env("MAESTRO_HOOK_CONFIG", spool.path().join("none.env"))
            .env_remove("MAESTRO_SESSION_ID")
            .env_remove("MAESTRO_TASK_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in server.hook_env() {
            cmd.env(k, v);
        }
        if let Some(t) = task {
            cmd.env("MAESTRO_SESSION_ID", format!("s_{session}"))
                .env("MAESTRO_TASK_ID", t);
        }
        let mut child = cmd.spawn().expect("hook");
        let payload = pre_tool_use(session, "curl -s http://127.0.0.1:9/x");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(payload.to_string().as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("exit");
        String::from_utf8(out.stdout).expect("utf8")
    };
    let inside = run("override-in", Some(tid));
    let v: Value = serde_json::from_str(inside.trim()).expect("deny JSON");
    assert_eq!(
        v["hookSpecificOutput"]["permissionDecision"], "deny",
        "{inside}"
    );
    assert!(inside.contains("deny-curl"), "{inside}");
    // Another session, no task: the default policy asks (prints nothing).
    let outside = run("override-out", None);
    assert_eq!(outside, "");
}
