//! Permission decisions end to end through the real `maestro-hook` binary: policy allow and
//! deny, hold then approve or deny from the API, timeout fallback, and no self-approval.

use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use maestro_tests::{bin_path, wait_for};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const POLICY: &str = r#"
[[rule]]
id = "hold-deploys"
tool = "Bash"
command = "deploy *"
outcome = "hold"
reason = "Deploys need a human."
"#;

struct Hook {
    child: std::process::Child,
    _spool: tempfile::TempDir,
}

/// Starts `maestro-hook <sub>` with `payload` on stdin.
fn run_hook(server: &TestServer, sub: &str, payload: &Value) -> Hook {
    let spool = tempfile::tempdir().expect("spool");
    let mut cmd = Command::new(bin_path("maestro-hook"));
    cmd.arg(sub)
        .env("MAESTRO_SPOOL_DIR", spool.path())
        .env("MAESTRO_HOOK_CONFIG", spool.path().join("none.env"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in server.hook_env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn hook");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{payload}\n").as_bytes())
        .expect("write stdin");
    drop(stdin);
    Hook {
        child,
        _spool: spool,
    }
}

fn finish(hook: Hook) -> (i32, String) {
    let out = hook.child.wait_with_output().expect("hook exits");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf8"),
    )
}

fn pre_tool_use(session: &str, command: &str) -> Value {
    json!({"session_id": session, "hook_event_name": "PreToolUse", "cwd": "/tmp/proj",
        "tool_name": "Bash", "tool_input": {"command": command},
        "tool_use_id": format!("toolu_{}", uuid::Uuid::now_v7().simple())})
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
    let (code, out) = finish(run_hook(
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

    let (code, out) = finish(run_hook(
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
    let (code, out) = finish(run_hook(
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
        let hook = run_hook(
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
    let (code, out) = finish(run_hook(
        &server,
        "pre-tool-use",
        &pre_tool_use("hold-2", "deploy staging"),
    ));
    assert_eq!(
        (code, out.as_str()),
        (0, ""),
        "nothing printed: Claude Code's own flow applies"
    );
    let list = server.get("/api/approvals?status=timed_out");
    assert_eq!(list.as_array().expect("arr").len(), 1, "{list}");
    let s = server.get(&format!(
        "/api/sessions/{}",
        list[0]["session_id"].as_str().expect("sid")
    ));
    assert_ne!(s["state"], "blocked");
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
    let hook = run_hook(&server, "permission-request", &payload);
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
