//! Spend limits against the real server: a task's sessions spend (Claude Code's `api_request`
//! records through the OTLP receiver), at the limit the next PreToolUse is held ("budget
//! reached: $X of $Y"), the operator raises the limit from the hold (a limit below the spend is
//! refused) and the call goes on; the audit names who raised it; with nobody deciding, the hold
//! times out into a deny, never into Claude Code's own flow.

use maestro_tests::envelopes::envelope;
use maestro_tests::server::{TestServer, INGEST_TOKEN};
use maestro_tests::wait_for;
use serde_json::{json, Value};
use std::time::Duration;

/// An OTLP/JSON logs export with one `claude_code.api_request` record.
fn api_request(claude: &str, key: u32, cost_usd: f64) -> Value {
    let s = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    json!({"resourceLogs": [{"resource": {"attributes": [s("service.name", "claude-code")]},
    "scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1796306151843000000",
        "body": {"stringValue": "claude_code.api_request"},
        "attributes": [
            s("event.name", "api_request"),
            s("session.id", claude),
            s("event.timestamp", "2026-12-03T13:55:51.843Z"),
            {"key": "event.sequence", "value": {"intValue": key}},
            s("prompt.id", "p-1"),
            s("model", "claude-test"),
            {"key": "cost_usd", "value": {"doubleValue": cost_usd}},
            {"key": "input_tokens", "value": {"intValue": 100}},
            {"key": "output_tokens", "value": {"intValue": 10}}
        ]}]}]}]})
}

fn export(server: &TestServer, body: &Value) {
    let resp = server
        .client()
        .post(format!("{}/v1/logs", server.url))
        .bearer_auth(INGEST_TOKEN)
        .json(body)
        .send()
        .expect("POST /v1/logs");
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text());
}

/// A session of `task` (its SessionStart names the task, as a spawned session's hook does).
fn start_session(server: &TestServer, claude: &str, task: &str) {
    let mut e = envelope(
        &json!({"session_id": claude, "hook_event_name": "SessionStart", "cwd": "/tmp",
            "source": "startup"}),
        chrono::Utc::now(),
    );
    e["maestro"]["task_id"] = json!(task);
    let (status, body) = server.ingest(&e);
    assert_eq!(status, 200, "{body}");
}

/// Posts a PreToolUse as a hook that waits for a held decision; returns the join handle of
/// the request (its answer is the hook's answer).
fn pre_tool_use(
    server: &TestServer,
    claude: &str,
    tool_use_id: &str,
) -> std::thread::JoinHandle<Value> {
    let url = format!("{}/api/webhooks/hook-event", server.url);
    let e = envelope(
        &json!({"session_id": claude, "hook_event_name": "PreToolUse", "cwd": "/tmp",
            "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": tool_use_id}),
        chrono::Utc::now(),
    );
    std::thread::spawn(move || {
        let resp = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
            .post(url)
            .bearer_auth(INGEST_TOKEN)
            .header("x-maestro-wait-ms", "50000")
            .json(&e)
            .send()
            .expect("POST webhook");
        assert_eq!(resp.status().as_u16(), 200);
        resp.json().expect("JSON answer")
    })
}

/// The `permissionDecision` the hook prints for a PreToolUse answer ("" when nothing).
fn decision(answer: &Value) -> String {
    answer["stdout"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| {
            v["hookSpecificOutput"]["permissionDecision"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn pending(server: &TestServer) -> Vec<Value> {
    server
        .get("/api/approvals?status=pending")
        .as_array()
        .cloned()
        .expect("a list")
}

fn wait_budget_hold(server: &TestServer) -> Value {
    wait_for("a call held at the budget", Duration::from_secs(20), || {
        pending(server)
            .into_iter()
            .find(|a| a["rule_id"] == "hold.budget")
    })
}

#[test]
fn at_the_limit_the_next_call_waits_until_an_operator_raises_it() {
    let server = TestServer::start();
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "budgeted", "budget_usd": 0.01}),
    );
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().expect("id").to_string();
    assert_eq!(task["budget_usd"], 0.01);
    start_session(&server, "c-budget", &task_id);

    // Under the limit: no hold.
    export(&server, &api_request("c-budget", 1, 0.004));
    let answer = pre_tool_use(&server, "c-budget", "tu-1")
        .join()
        .expect("answer");
    assert_eq!(decision(&answer), "allow", "{answer}");

    // Over it (the exporter's retry of the same record counts once).
    export(&server, &api_request("c-budget", 2, 0.008));
    export(&server, &api_request("c-budget", 2, 0.008));
    let held_call = pre_tool_use(&server, "c-budget", "tu-2");
    let held = wait_budget_hold(&server);
    assert_eq!(held["task_id"], task_id.as_str());
    assert_eq!(held["reason"], "budget reached: $0.012 of $0.01", "{held}");
    let session = server.get(&format!(
        "/api/sessions/{}",
        held["session_id"].as_str().expect("session")
    ));
    assert_eq!(session["state"], "blocked", "{session}");

    // A limit at or below the spend is refused; a deny cannot carry a limit.
    let path = format!("/api/approvals/{}", held["id"].as_str().expect("id"));
    let (status, err) = server.post(&path, &json!({"decision": "approve", "budget_usd": 0.012}));
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "budget_too_low");
    let (status, _) = server.post(&path, &json!({"decision": "deny", "budget_usd": 5}));
    assert_eq!(status, 422);

    let (status, decided) = server.post(&path, &json!({"decision": "approve", "budget_usd": 0.5}));
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "approved");
    let answer = held_call.join().expect("held answer");
    assert_eq!(decision(&answer), "allow", "{answer}");
    assert_eq!(
        server.get(&format!("/api/tasks/{task_id}"))["budget_usd"],
        0.5
    );

    // Under the new limit the next call is not held.
    let answer = pre_tool_use(&server, "c-budget", "tu-3")
        .join()
        .expect("answer");
    assert_eq!(decision(&answer), "allow", "{answer}");
    let all = server.get(&format!("/api/approvals?task_id={task_id}"));
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "one hold in all: {all}"
    );

    // The audit tells the story, with who raised the limit.
    let audit = server.get("/api/audit");
    let actions: Vec<(String, String)> = audit
        .as_array()
        .expect("audit")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["actor"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for want in [
        ("budget.reached", "maestro"),
        ("task.budget", "operator"),
        ("approval.approve", "operator"),
    ] {
        assert!(
            actions.iter().any(|(a, who)| a == want.0 && who == want.1),
            "{want:?} in {actions:?}"
        );
    }
}

#[test]
fn a_budget_hold_nobody_decides_ends_in_a_deny() {
    let server = TestServer::start_with_env(&[
        ("MAESTRO_HOLD_TIMEOUT_MS", "1500"),
        ("MAESTRO_DEFAULT_BUDGET_USD", "0.001"),
    ]);
    let (status, task) = server.post("/api/tasks", &json!({"title": "default limit"}));
    assert_eq!(status, 201);
    let task_id = task["id"].as_str().expect("id").to_string();
    assert!(
        task["budget_usd"].is_null(),
        "the default is not the task's own"
    );
    start_session(&server, "c-default", &task_id);
    export(&server, &api_request("c-default", 1, 0.002));

    let answer = pre_tool_use(&server, "c-default", "tu-1")
        .join()
        .expect("answer");
    let stdout = answer["stdout"].as_str().expect("a deny is printed");
    let printed: Value = serde_json::from_str(stdout).expect("hook JSON");
    let out = &printed["hookSpecificOutput"];
    assert_eq!(out["permissionDecision"], "deny", "{printed}");
    let why = out["permissionDecisionReason"].as_str().unwrap_or("");
    assert!(
        why.contains("budget reached: $0.002 of $0.001 (the default limit)")
            && why.contains("no operator raised the limit or approved the call"),
        "{why}"
    );
    let approvals = server.get(&format!("/api/approvals?task_id={task_id}"));
    let approvals = approvals.as_array().expect("list");
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["status"], "timed_out");
}
