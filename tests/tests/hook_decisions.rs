//! `maestro-hook` decisions: the server's `stdout` is printed byte for byte (PreToolUse,
//! PermissionRequest only) with `X-Maestro-Wait-Ms`; with the server unreachable or refusing,
//! the local policy denies the dangerous set and everything else prints nothing.

mod hook_support;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use hook_support::{all_events, closed_port, HookEnv};
use maestro_shared::Envelope;
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stub saw: (wait header, authorization header, envelope).
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>, Value)>>>;

/// A stub webhook answering every event with `stdout`, on its own runtime thread.
fn stub(stdout: &'static str) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = (seen.clone(), stdout);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let app = Router::new()
                .route(
                    "/api/webhooks/hook-event",
                    post(
                        |State((seen, stdout)): State<(Seen, &'static str)>,
                         headers: HeaderMap,
                         Json(body): Json<Value>| async move {
                            let h = |k: &str| {
                                headers
                                    .get(k)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_string)
                            };
                            seen.lock().expect("lock").push((
                                h("x-maestro-wait-ms"),
                                h("authorization"),
                                body,
                            ));
                            Json(json!({"accepted": true, "duplicate": false, "seq": 1,
                                "session_id": "s_stub", "stdout": stdout}))
                        },
                    ),
                )
                .with_state(state);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    let addr = rx.recv().expect("stub address");
    (format!("http://{addr}"), seen)
}

fn bash(event: &str, command: &str) -> Value {
    json!({
        "session_id": "8c1d6d5e-6a39-4d5b-9a0e-2f4f6f0a7b11",
        "transcript_path": "/home/dev/.claude/projects/-home-dev-proj/8c1d.jsonl",
        "cwd": "/home/dev/proj",
        "permission_mode": "default",
        "hook_event_name": event,
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "test"},
        "tool_use_id": "toolu_decision_test"
    })
}

#[test]
fn stub_decision_is_printed_byte_for_byte_with_the_wait_header() {
    // Odd spacing, key order, escapes and non-ASCII must survive untouched.
    const PRE: &str = "{\"hookSpecificOutput\": {\"permissionDecisionReason\":\"ok — \\\"fine\\\" ✓\",  \"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"allow\"}}";
    let (url, seen) = stub(PRE);
    let mut hook = HookEnv::new(&url);
    let run = hook.send(&hook_support::payload("PreToolUse-Bash.json"));
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, format!("{PRE}\n").into_bytes());

    hook.set("MAESTRO_PERMISSION_REQUEST_WAIT_MS", "4321");
    let run = hook.send(&hook_support::payload("PermissionRequest-Bash-sdk.json"));
    assert_eq!(run.stdout, format!("{PRE}\n").into_bytes());

    // Observe-only events never print, whatever the server says.
    hook.send(&hook_support::payload("PostToolUse-Bash.json"))
        .assert_silent_success("post-tool-use with a stdout answer");
    hook.send(&hook_support::payload("Stop.json"))
        .assert_silent_success("stop with a stdout answer");

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 4);
    assert_eq!(
        seen[0].0.as_deref(),
        Some("110000"),
        "default PreToolUse wait"
    );
    assert_eq!(seen[1].0.as_deref(), Some("4321"), "configured wait");
    assert_eq!(seen[2].0, None, "no wait header on observe-only events");
    assert_eq!(seen[3].0, None);
    for (_, auth, env) in &seen {
        assert_eq!(
            auth.as_deref(),
            Some(format!("Bearer {}", maestro_tests::server::INGEST_TOKEN).as_str())
        );
        let _: Envelope = serde_json::from_value(env.clone()).expect("a v1 envelope");
    }
    assert!(hook.spooled().is_empty());
}

#[test]
fn real_server_decision_is_printed_exactly() {
    let server = TestServer::start_with_env(&[("MAESTRO_HOLD_TIMEOUT_MS", "200")]);
    let hook = HookEnv::for_server(&server);
    for (event, command) in [
        ("PreToolUse", "rm -rf /"),
        ("PreToolUse", "ls -la"),
        ("PermissionRequest", "rm -rf ~"),
    ] {
        // Ask the server directly for the answer to this call (a fresh event id), then
        // check the hook prints exactly that.
        let p = bash(event, command);
        let (status, answer) = server
            .ingest(&serde_json::to_value(Envelope::new(event, p.clone())).expect("envelope"));
        assert_eq!(status, 200, "{answer}");
        let run = hook.send(&p);
        assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
        let want = match answer["stdout"].as_str() {
            Some(s) if !s.is_empty() => format!("{s}\n"),
            _ => String::new(),
        };
        assert_eq!(run.out(), want, "{event} {command}");
    }
    assert!(hook.spooled().is_empty());
    assert_eq!(all_events(&server).len(), 6);
}

#[test]
fn held_permission_request_prints_the_operators_decision() {
    let server = TestServer::start();
    let hook = HookEnv::for_server(&server);
    let p = bash("PermissionRequest", "npm run deploy -- --prod");
    let runner = {
        let bytes = p.to_string().into_bytes();
        let hook = &hook;
        std::thread::scope(|s| {
            let h = s.spawn(move || hook.run(&["permission-request"], &bytes));
            // The server holds the call for an operator: approve it from the API.
            let id = wait_for("a pending approval", Duration::from_secs(60), || {
                let list = server.get("/api/approvals?status=pending");
                list.as_array()?.first()?["id"].as_str().map(str::to_string)
            });
            let (status, body) = server.post(
                &format!("/api/approvals/{id}"),
                &json!({"decision": "approve", "reason": "ok from the test"}),
            );
            assert_eq!(status, 200, "{body}");
            h.join().expect("hook thread")
        })
    };
    assert_eq!(runner.status.code(), Some(0), "{}", runner.stderr);
    let out = runner.out();
    assert!(
        out.ends_with('\n') && out.matches('\n').count() == 1,
        "{out:?}"
    );
    let v: Value = serde_json::from_str(out.trim_end()).expect("decision JSON");
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(
        v["hookSpecificOutput"]["decision"]["behavior"], "allow",
        "{v}"
    );
    assert!(hook.spooled().is_empty());
}

#[test]
fn the_server_holds_no_longer_than_the_hook_can_wait() {
    // Default hold timeout (long); the hook can wait only 2.5 s: the server must answer
    // within that (X-Maestro-Wait-Ms), so the event is delivered, not spooled, and
    // nothing is printed (Claude Code's own flow applies).
    let server = TestServer::start();
    let mut hook = HookEnv::for_server(&server);
    hook.set("MAESTRO_PERMISSION_REQUEST_WAIT_MS", "2500");
    hook.send(&bash("PermissionRequest", "npm run deploy -- --prod"))
        .assert_silent_success("held call that times out");
    assert!(hook.spooled().is_empty(), "the server answered too late");
    assert!(hook.quarantined().is_empty());
    assert_eq!(all_events(&server).len(), 1);
}

fn assert_pre_tool_use_deny(stdout: &str) {
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "{stdout:?}"
    );
    let v: Value = serde_json::from_str(stdout.trim_end()).expect("deny JSON");
    let out = &v["hookSpecificOutput"];
    assert_eq!(out["hookEventName"], "PreToolUse", "{v}");
    assert_eq!(out["permissionDecision"], "deny", "{v}");
    assert!(out["permissionDecisionReason"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
}

#[test]
fn server_down_denies_the_dangerous_set_and_stays_silent_otherwise() {
    let port = closed_port();
    let mut hook = HookEnv::new(&format!("http://127.0.0.1:{port}"));
    hook.set("HOME", "/home/dev");

    let run = hook.send(&bash("PreToolUse", "rm -rf /"));
    assert_eq!(run.status.code(), Some(0));
    assert_pre_tool_use_deny(&run.out());

    let run = hook.send(&bash("PermissionRequest", "rm -rf ~"));
    assert_eq!(run.status.code(), Some(0));
    let v: Value = serde_json::from_str(run.out().trim_end()).expect("deny JSON");
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert!(v["hookSpecificOutput"]["decision"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));

    // Not dangerous: no opinion, Claude Code's own permission flow applies.
    for p in [
        bash("PreToolUse", "ls -la"),
        bash("PreToolUse", "npm test"),
        bash("PermissionRequest", "git status"),
        hook_support::payload("PreToolUse-Read.json"),
        hook_support::payload("PreToolUse-Write.json"),
        hook_support::payload("PermissionRequest-Write-sdk.json"),
    ] {
        hook.send(&p)
            .assert_silent_success(&format!("harmless call with the server down: {p}"));
    }
    // Malformed stdin never yields a decision.
    hook.run(&["pre-tool-use"], b"{\"tool_name\":\"Bash\",")
        .assert_silent_success("malformed pre-tool-use");
    // Every decision event was spooled too.
    assert_eq!(hook.spooled().len(), 9);
}

#[test]
fn refused_decision_event_is_quarantined_and_falls_back() {
    let server = TestServer::start();
    let mut hook = HookEnv::for_server(&server);
    hook.set("MAESTRO_TOKEN", "not-the-ingest-token");
    hook.set("HOME", "/home/dev");
    let run = hook.send(&bash("PreToolUse", "rm -rf /"));
    assert_eq!(run.status.code(), Some(0));
    assert_pre_tool_use_deny(&run.out());
    hook.send(&bash("PreToolUse", "ls"))
        .assert_silent_success("harmless call, refused by the server");
    assert!(hook.spooled().is_empty());
    let q = hook.quarantined();
    assert_eq!(q.len(), 2);
    let mut reason = q[0].clone().into_os_string();
    reason.push(".reason");
    let text = std::fs::read_to_string(reason).expect("reason");
    assert!(text.contains("401"), "{text}");
}
