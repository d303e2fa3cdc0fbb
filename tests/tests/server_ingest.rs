//! Ingest, projections and bad input against the real server (HTTP).

use maestro_tests::envelopes::{all_payloads, envelope, sequence, with_session};
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use serde_json::{json, Value};

fn session_by_claude_id(server: &TestServer, claude_id: &str) -> Value {
    let list = server.get(&format!("/api/sessions?claude_session_id={claude_id}"));
    let arr = list.as_array().expect("array");
    assert_eq!(arr.len(), 1, "one session for {claude_id}: {list}");
    arr[0].clone()
}

fn summaries(timeline: &Value) -> Vec<String> {
    timeline
        .as_array()
        .expect("timeline array")
        .iter()
        .map(|l| l["summary"].as_str().expect("summary").to_string())
        .collect()
}

/// Deterministic shuffle (no rand dependency): a fixed permutation by multiplicative hashing.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut keyed: Vec<(u64, T)> = items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let k = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
            (
                k.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9),
                t.clone(),
            )
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, t)| t).collect()
}

fn check_core_projection(server: &TestServer, claude_id: &str) {
    let s = session_by_claude_id(server, claude_id);
    assert_eq!(s["state"], "completed", "{s}");
    assert_eq!(s["health"], "ended");
    assert_eq!(s["event_count"], 24);
    assert_eq!(
        s["task_id"],
        Value::Null,
        "hook-only sessions start unassigned"
    );
    assert_eq!(s["project_dir"], "/home/dev/proj");
    let seq = sequence("core");
    let expected_ms = (seq.last().expect("events").at - seq[0].at).num_milliseconds();
    assert_eq!(s["duration_ms"].as_i64(), Some(expected_ms), "{s}");
    let id = s["id"].as_str().expect("id");

    let metrics = server.get(&format!("/api/sessions/{id}/metrics"));
    let tool = |name: &str| {
        metrics["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .find(|t| t["tool"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("metric for {name}: {metrics}"))
    };
    let bash = tool("Bash");
    assert_eq!(
        (
            bash["calls"].as_i64(),
            bash["successes"].as_i64(),
            bash["failures"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(bash["success_rate"].as_f64(), Some(0.5));
    for name in ["Write", "Read", "Edit", "Grep"] {
        let t = tool(name);
        assert_eq!(t["calls"], 1, "{name}: {t}");
        assert_eq!(t["success_rate"].as_f64(), Some(1.0));
        assert!(
            t["p50_ms"].as_f64().is_some() && t["p95_ms"].as_f64().is_some(),
            "{t}"
        );
    }
    assert_eq!(metrics["total_calls"], 6);
    assert_eq!(metrics["total_failures"], 1);

    let timeline = server.get(&format!("/api/sessions/{id}/timeline"));
    let lines = summaries(&timeline);
    let expected = [
        "Session started",
        "Loaded instructions CLAUDE.md",
        "Prompt: do the task",
        "Modified hello.txt",
        "Reading hello.txt",
        "Modified hello.txt",
        "Executed: echo hi",
        "Command failed: ls /definitely/not/here (exit 2)",
        "Searching for edited",
        "Claude: All done.",
        "Turn finished",
        "Session ended after ",
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(want),
            "expected {want:?}, got {line:?} in {lines:#?}"
        );
    }
    // Capture order, whatever the arrival order.
    let ats: Vec<&str> = timeline
        .as_array()
        .expect("arr")
        .iter()
        .map(|l| l["at"].as_str().expect("at"))
        .collect();
    let mut sorted = ats.clone();
    sorted.sort();
    assert_eq!(ats, sorted);
    // The failing command keeps its full error for the error panel.
    let errors = server.get(&format!("/api/sessions/{id}/errors"));
    let err = &errors.as_array().expect("errors")[0];
    assert_eq!(err["detail"]["exit_code"], 2);
    assert!(err["detail"]["error"]
        .as_str()
        .expect("error")
        .contains("No such file or directory"));
}

#[test]
fn core_sequence_projects_state_metrics_and_timeline_in_any_arrival_order() {
    let server = TestServer::start();
    let seq = sequence("core");
    // In order.
    for c in &seq {
        let (status, body) = server.ingest(&envelope(&c.payload, c.at));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["accepted"], true);
        assert_eq!(body["duplicate"], false);
    }
    check_core_projection(&server, "2b3cfa81-ce6a-40c6-b23d-ec691c5dfda0");
    // The same events for another Claude session, posted in three different shuffles.
    for (n, seed) in [11u64, 42, 977].into_iter().enumerate() {
        let claude_id = format!("00000000-0000-4000-8000-00000000000{n}");
        for c in shuffled(&seq, seed) {
            let (status, body) =
                server.ingest(&envelope(&with_session(&c.payload, &claude_id), c.at));
            assert_eq!(status, 200, "{body}");
        }
        check_core_projection(&server, &claude_id);
    }
}

#[test]
fn every_captured_payload_is_accepted_including_events_nobody_special_cases() {
    // PermissionRequest payloads are held for an operator: time out fast here.
    let server = TestServer::start_with_env(&[("MAESTRO_HOLD_TIMEOUT_MS", "50")]);
    let payloads = all_payloads();
    assert!(payloads.len() >= 60);
    let mut ids = Vec::new();
    for (name, p) in &payloads {
        let env = envelope(p, chrono::Utc::now());
        ids.push(env["event_id"].as_str().expect("id").to_string());
        let (status, body) = server.ingest(&env);
        assert_eq!(status, 200, "{name}: {body}");
    }
    // An event this version has never heard of, with unknown fields.
    let novel = json!({"session_id": "novel-1", "hook_event_name": "TeleportRequested",
        "cwd": "/tmp", "destination": {"planet": "mars"}});
    let env = envelope(&novel, chrono::Utc::now());
    let (status, _) = server.ingest(&env);
    assert_eq!(status, 200);
    let stored = server.get("/api/events?since=0&limit=1000");
    let stored = stored.as_array().expect("events");
    assert_eq!(stored.len(), payloads.len() + 1);
    let got: Vec<&str> = stored
        .iter()
        .map(|e| e["event_id"].as_str().expect("id"))
        .collect();
    for id in &ids {
        assert!(got.contains(&id.as_str()), "event {id} stored");
    }
    // Unknown fields survive untouched.
    let last = stored.last().expect("last");
    assert_eq!(last["envelope"]["payload"]["destination"]["planet"], "mars");
    let s = session_by_claude_id(&server, "novel-1");
    let timeline = server.get(&format!(
        "/api/sessions/{}/timeline",
        s["id"].as_str().expect("id")
    ));
    assert_eq!(summaries(&timeline), vec!["Teleport requested".to_string()]);
}

#[test]
fn duplicates_are_stored_once_and_answered_as_duplicates() {
    let server = TestServer::start();
    let p: Value = serde_json::from_str(
        &std::fs::read_to_string(maestro_tests::fixture("payloads/PostToolUse-Read.json"))
            .expect("fixture"),
    )
    .expect("json");
    let env = envelope(&p, chrono::Utc::now());
    let (s1, b1) = server.ingest(&env);
    assert_eq!((s1, &b1["duplicate"]), (200, &json!(false)));
    for _ in 0..3 {
        let (s, b) = server.ingest(&env);
        assert_eq!(s, 200);
        assert_eq!(b["duplicate"], true);
        assert_eq!(b["seq"], b1["seq"]);
    }
    assert_eq!(
        server
            .get("/api/events?since=0")
            .as_array()
            .expect("arr")
            .len(),
        1
    );
    let s = session_by_claude_id(&server, p["session_id"].as_str().expect("sid"));
    assert_eq!(s["event_count"], 1);
    let m = server.get(&format!(
        "/api/sessions/{}/metrics",
        s["id"].as_str().expect("id")
    ));
    assert_eq!(m["tools"][0]["calls"], 1);
}

fn raw_post(server: &TestServer, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = server
        .client()
        .post(format!("{}/api/webhooks/hook-event", server.url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("POST");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// (name, token, body, expected status, expected error code).
type BadCase = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

#[test]
fn bad_input_gets_a_documented_status_and_a_json_error_and_the_server_keeps_serving() {
    let server = TestServer::start_with_env(&[("MAESTRO_BODY_LIMIT_BYTES", "65536")]);
    let good = envelope(
        &json!({"session_id": "bad-input", "hook_event_name": "Stop"}),
        chrono::Utc::now(),
    );
    let good_bytes = serde_json::to_vec(&good).expect("bytes");
    let cases: Vec<BadCase> = vec![
        ("no token", None, good_bytes.clone(), 401, "unauthorized"),
        (
            "wrong token",
            Some("nope"),
            good_bytes.clone(),
            401,
            "unauthorized",
        ),
        (
            "not json",
            Some(INGEST_TOKEN),
            b"{not json".to_vec(),
            400,
            "invalid_json",
        ),
        ("empty", Some(INGEST_TOKEN), Vec::new(), 400, "invalid_json"),
        (
            "not an envelope",
            Some(INGEST_TOKEN),
            b"[1,2,3]".to_vec(),
            422,
            "invalid_envelope",
        ),
        (
            "missing session_id",
            Some(INGEST_TOKEN),
            serde_json::to_vec(&envelope(
                &json!({"hook_event_name": "Stop"}),
                chrono::Utc::now(),
            ))
            .expect("b"),
            422,
            "invalid_event",
        ),
        (
            "missing hook_event_name",
            Some(INGEST_TOKEN),
            serde_json::to_vec(&envelope(&json!({"session_id": "x"}), chrono::Utc::now()))
                .expect("b"),
            422,
            "invalid_event",
        ),
        (
            "wrong version",
            Some(INGEST_TOKEN),
            {
                let mut e = good.clone();
                e["v"] = json!(99);
                serde_json::to_vec(&e).expect("b")
            },
            422,
            "unsupported_version",
        ),
        (
            "too large",
            Some(INGEST_TOKEN),
            {
                let mut e = good.clone();
                e["payload"]["blob"] = json!("x".repeat(100_000));
                serde_json::to_vec(&e).expect("b")
            },
            413,
            "payload_too_large",
        ),
    ];
    for (name, token, body, status, code) in cases {
        let (got, body) = raw_post(&server, token, body);
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    // Nothing of that was stored, and the server still takes good events.
    assert_eq!(
        server
            .get("/api/events?since=0")
            .as_array()
            .expect("arr")
            .len(),
        0
    );
    let (status, _) = raw_post(&server, Some(INGEST_TOKEN), good_bytes);
    assert_eq!(status, 200);
    // The operator token may also ingest; the ingest token may not read.
    let resp = server
        .client()
        .get(format!("{}/api/sessions", server.url))
        .bearer_auth(INGEST_TOKEN)
        .send()
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 403);
    let resp = server
        .client()
        .get(format!("{}/api/sessions", server.url))
        .send()
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 401);
    let metrics = server
        .client()
        .get(format!("{}/metrics", server.url))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("maestro_rejected_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("maestro_events_total{event=\"Stop\"} 1"),
        "{metrics}"
    );
    let _ = OPERATOR_TOKEN;
}

#[test]
fn malformed_stdin_forwarded_by_the_hook_is_stored_and_counted() {
    let server = TestServer::start();
    let mut env = envelope(&json!({"raw": "this is {not json"}), chrono::Utc::now());
    env["event"] = json!("PostToolUse");
    env["parse_error"] = json!("expected value at line 1 column 1");
    env["maestro"] = json!({"session_id": "s_malformed_test"});
    let (status, body) = server.ingest(&env);
    assert_eq!(status, 200, "{body}");
    let ev = server.get(&format!(
        "/api/events/{}",
        env["event_id"].as_str().expect("id")
    ));
    assert_eq!(ev["malformed"], true);
    assert_eq!(ev["envelope"]["payload"]["raw"], "this is {not json");
    let timeline = server.get("/api/sessions/s_malformed_test/timeline");
    assert!(
        summaries(&timeline)[0].starts_with("Malformed PostToolUse event"),
        "{timeline}"
    );
    let metrics = server
        .client()
        .get(format!("{}/metrics", server.url))
        .send()
        .expect("m")
        .text()
        .expect("t");
    assert!(
        metrics.contains("maestro_malformed_events_total 1"),
        "{metrics}"
    );
}

#[test]
fn tasks_crud_attach_and_restart_keep_everything() {
    let mut server = TestServer::start();
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "Fix login", "description": "auth bug", "working_dir": "/tmp"}),
    );
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["status"], "todo");
    let tid = task["id"].as_str().expect("id").to_string();
    // Bad task input.
    let (status, body) = server.post("/api/tasks", &json!({"title": "  "}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, _) = server.post("/api/tasks", &json!({"title": "x", "bogus": 1}));
    assert_eq!(status, 422);
    let resp = server
        .client()
        .patch(format!("{}/api/tasks/{tid}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"status": "in_progress", "title": "Fix login flow"}))
        .send()
        .expect("patch");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = server
        .client()
        .patch(format!("{}/api/tasks/{tid}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"status": "nonsense"}))
        .send()
        .expect("patch");
    assert_eq!(resp.status().as_u16(), 422);

    // A session seen through hooks, attached afterwards.
    for c in sequence("core") {
        server.ingest(&envelope(&c.payload, c.at));
    }
    let s = session_by_claude_id(&server, "2b3cfa81-ce6a-40c6-b23d-ec691c5dfda0");
    let sid = s["id"].as_str().expect("sid").to_string();
    let unassigned = server.get("/api/sessions?unassigned=true");
    assert_eq!(unassigned.as_array().expect("arr").len(), 1);
    let resp = server
        .client()
        .patch(format!("{}/api/sessions/{sid}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"task_id": tid}))
        .send()
        .expect("attach");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = server
        .client()
        .patch(format!("{}/api/sessions/{sid}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"task_id": "t_missing"}))
        .send()
        .expect("attach");
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        server
            .get("/api/sessions?unassigned=true")
            .as_array()
            .expect("arr")
            .len(),
        0
    );
    let task_metrics = server.get(&format!("/api/tasks/{tid}/metrics"));
    assert_eq!(task_metrics["total_calls"], 6);
    let task_timeline = server.get(&format!("/api/tasks/{tid}/timeline"));
    assert_eq!(task_timeline.as_array().expect("arr").len(), 12);

    let before = (
        server.get("/api/tasks"),
        server.get(&format!("/api/sessions/{sid}")),
        server.get("/api/events?since=0&limit=1000"),
        task_metrics,
        task_timeline,
    );
    server.stop();
    server.restart();
    let after = (
        server.get("/api/tasks"),
        server.get(&format!("/api/sessions/{sid}")),
        server.get("/api/events?since=0&limit=1000"),
        server.get(&format!("/api/tasks/{tid}/metrics")),
        server.get(&format!("/api/tasks/{tid}/timeline")),
    );
    assert_eq!(before.0, after.0);
    assert_eq!(before.1, after.1);
    assert_eq!(before.2, after.2);
    assert_eq!(before.3, after.3);
    assert_eq!(before.4, after.4);

    // Delete: the session becomes unassigned again, the task is gone.
    let resp = server
        .client()
        .delete(format!("{}/api/tasks/{tid}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 204);
    let resp = server
        .client()
        .get(format!("{}/api/tasks/{tid}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .expect("get");
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(
        server
            .get("/api/sessions?unassigned=true")
            .as_array()
            .expect("arr")
            .len(),
        1
    );
}

#[test]
fn spawned_ids_from_the_environment_select_the_session_and_task() {
    let server = TestServer::start();
    let (_, task) = server.post("/api/tasks", &json!({"title": "Mapped"}));
    let tid = task["id"].as_str().expect("id");
    let p = json!({"session_id": "claude-mapped", "hook_event_name": "SessionStart", "source": "startup", "cwd": "/w"});
    let mut env = envelope(&p, chrono::Utc::now());
    env["maestro"] = json!({"session_id": "s_fixed_for_test", "task_id": tid});
    let (status, body) = server.ingest(&env);
    assert_eq!(status, 200);
    assert_eq!(body["session_id"], "s_fixed_for_test");
    let s = server.get("/api/sessions/s_fixed_for_test");
    assert_eq!(s["task_id"], tid);
    assert_eq!(s["claude_session_id"], "claude-mapped");
    assert_eq!(s["state"], "active");
    let t = server.get(&format!("/api/tasks/{tid}"));
    assert_eq!(t["status"], "in_progress");
    assert_eq!(t["session_count"], 1);
}

#[test]
fn the_health_ticker_marks_quiet_sessions_idle_then_stale_and_ended_ones_grey() {
    let server = TestServer::start_with_env(&[
        ("MAESTRO_IDLE_AFTER_SECS", "1"),
        ("MAESTRO_STALE_AFTER_SECS", "2"),
        ("MAESTRO_HEALTH_TICK_MS", "100"),
    ]);
    let start =
        json!({"session_id": "quiet-1", "hook_event_name": "SessionStart", "source": "startup"});
    server.ingest(&envelope(&start, chrono::Utc::now()));
    let s = session_by_claude_id(&server, "quiet-1");
    assert_eq!(s["health"], "active");
    let id = s["id"].as_str().expect("id").to_string();
    for want in ["idle", "stale"] {
        maestro_tests::wait_for(
            &format!("health {want}"),
            std::time::Duration::from_secs(20),
            || {
                let s = server.get(&format!("/api/sessions/{id}"));
                (s["health"] == want).then_some(())
            },
        );
    }
    // Activity makes it active again; the end makes it ended.
    let prompt =
        json!({"session_id": "quiet-1", "hook_event_name": "UserPromptSubmit", "prompt": "go"});
    server.ingest(&envelope(&prompt, chrono::Utc::now()));
    assert_eq!(
        server.get(&format!("/api/sessions/{id}"))["health"],
        "active"
    );
    let end = json!({"session_id": "quiet-1", "hook_event_name": "SessionEnd", "reason": "other"});
    server.ingest(&envelope(&end, chrono::Utc::now()));
    let s = server.get(&format!("/api/sessions/{id}"));
    assert_eq!(
        (s["health"].as_str(), s["state"].as_str()),
        (Some("ended"), Some("completed"))
    );
    assert_eq!(s["end_reason"], "other");
    // Health changes are projections: the ticker stored no hook event of its own. (Counted
    // for this session only: a hook drainer left by another test may deliver to a reused port.)
    let events = server.get(&format!("/api/events?since=0&session_id={id}"));
    assert_eq!(events.as_array().expect("arr").len(), 3, "{events}");
}

#[test]
fn permission_prompts_block_and_the_next_tool_event_unblocks() {
    let server = TestServer::start();
    let (_, task) = server.post("/api/tasks", &json!({"title": "Blocked flow"}));
    let tid = task["id"].as_str().expect("id");
    let mut env = envelope(
        &json!({"session_id": "blk-1", "hook_event_name": "SessionStart", "source": "startup"}),
        chrono::Utc::now(),
    );
    env["maestro"] = json!({"session_id": "s_blocked_flow", "task_id": tid});
    server.ingest(&env);
    let note = json!({"session_id": "blk-1", "hook_event_name": "Notification",
        "notification_type": "permission_prompt", "message": "Claude needs your permission to use Bash"});
    server.ingest(&envelope(&note, chrono::Utc::now()));
    let s = server.get("/api/sessions/s_blocked_flow");
    assert_eq!(s["state"], "blocked");
    assert_eq!(s["blocked_on"], "Claude needs your permission to use Bash");
    let t = server.get(&format!("/api/tasks/{tid}"));
    assert_eq!(
        (t["status"].as_str(), t["blocked_sessions"].as_i64()),
        (Some("blocked"), Some(1))
    );
    let post = json!({"session_id": "blk-1", "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_use_id": "toolu_blk", "tool_input": {"command": "make"}, "tool_response": {}});
    server.ingest(&envelope(&post, chrono::Utc::now()));
    let s = server.get("/api/sessions/s_blocked_flow");
    assert_eq!(
        (s["state"].as_str(), &s["blocked_on"]),
        (Some("active"), &Value::Null)
    );
    let t = server.get(&format!("/api/tasks/{tid}"));
    assert_eq!(t["status"], "in_progress");
    let stop = json!({"session_id": "blk-1", "hook_event_name": "Stop"});
    server.ingest(&envelope(&stop, chrono::Utc::now()));
    assert_eq!(
        server.get("/api/sessions/s_blocked_flow")["state"],
        "waiting_for_input"
    );
}

fn payload(name: &str) -> Value {
    let path = maestro_tests::fixture(&format!("payloads/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

/// A PostToolBatch reporting calls that never ran: a call that was pending keeps its one
/// timeline line, now a "Not run" warning; a call never seen before gets a line of its own; a
/// call that completed is left as it was. Each call still has exactly one line.
#[test]
fn a_batch_marks_calls_that_never_ran_on_their_own_lines() {
    let server = TestServer::start();
    let claude_id = "batch-not-run-0000-4000-8000-000000000001";
    let ingest = |p: &Value| {
        let (status, body) =
            server.ingest(&envelope(&with_session(p, claude_id), chrono::Utc::now()));
        assert_eq!(status, 200, "{body}");
    };
    let pending = payload("PreToolUse-Write");
    let pending_id = pending["tool_use_id"].as_str().expect("id").to_string();
    ingest(&pending);
    let done = payload("PostToolUse-Read");
    let done_id = done["tool_use_id"].as_str().expect("id").to_string();
    ingest(&done);
    let mut batch = payload("PostToolBatch-Write-permission_denied");
    let denied = batch["tool_calls"][0].clone();
    let mut unseen = denied.clone();
    unseen["tool_use_id"] = json!("toolu_never_seen_before");
    let mut completed = denied.clone();
    completed["tool_use_id"] = json!(done_id);
    let mut pending_call = denied;
    pending_call["tool_use_id"] = json!(pending_id);
    batch["tool_calls"] = json!([pending_call, unseen, completed]);
    ingest(&batch);

    let s = session_by_claude_id(&server, claude_id);
    let timeline = server.get(&format!(
        "/api/sessions/{}/timeline",
        s["id"].as_str().expect("id")
    ));
    let line = |id: &str| -> Value {
        let lines: Vec<&Value> = timeline
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|l| l["tool_use_id"] == id)
            .collect();
        assert_eq!(lines.len(), 1, "one line for {id}: {timeline}");
        lines[0].clone()
    };
    for id in [pending_id.as_str(), "toolu_never_seen_before"] {
        let l = line(id);
        assert_eq!(l["status"], "warning", "{l}");
        let summary = l["summary"].as_str().expect("summary");
        assert!(
            summary.starts_with("Not run: ") && summary.contains("haven't granted it yet"),
            "{summary}"
        );
    }
    let l = line(&done_id);
    assert_eq!(l["status"], "ok", "a completed call stays as it was: {l}");
    assert!(!l["summary"]
        .as_str()
        .expect("summary")
        .starts_with("Not run"));
}
