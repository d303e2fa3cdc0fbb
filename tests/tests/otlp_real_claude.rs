//! Cost and tokens end to end with the real Claude Code CLI: Maestro spawns the CLI for a task
//! (with the offline env, `DISABLE_TELEMETRY=1` and `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`
//! included: neither turns the OpenTelemetry export off), the CLI exports its own
//! `claude_code.api_request` records to the server's OTLP receiver, and the session's tokens
//! equal the sum of the usage figures the fake Messages API answered, with a cost, joined to
//! the session, the task and the turn the hooks saw; and every tool call the hooks saw gets the
//! CLI's own `tool_result` / `tool_decision` figures joined by `tool_use_id`.

use maestro_tests::claude_cli::{
    claude_or_skip_for, spawning_server, ClaudeCommand, Scratch, NEWEST_VERSION, OLDEST_VERSION,
};
use maestro_tests::fake_api::{FakeApi, Script, Step};
use maestro_tests::server::{TestServer, INGEST_TOKEN};
use maestro_tests::{bin_path, wait_for};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

mod spawned_session_cost_equals_the_fake_usage {
    #[test]
    fn oldest() {
        super::spawned_session_cost_equals_the_fake_usage(super::OLDEST_VERSION);
    }
    #[test]
    fn newest() {
        super::spawned_session_cost_equals_the_fake_usage(super::NEWEST_VERSION);
    }
}

mod installed_telemetry_reports_cost_of_a_hook_session {
    #[test]
    fn oldest() {
        super::installed_telemetry_reports_cost_of_a_hook_session(super::OLDEST_VERSION);
    }
    #[test]
    fn newest() {
        super::installed_telemetry_reports_cost_of_a_hook_session(super::NEWEST_VERSION);
    }
}

/// The usage figures the fake answered to its Messages requests.
fn answered_usage(fake: &FakeApi) -> Vec<Value> {
    fake.requests()
        .into_iter()
        .filter(|r| r.is_messages())
        .filter_map(|r| r.usage)
        .collect()
}

fn sum(answered: &[Value], key: &str) -> i64 {
    answered.iter().map(|u| u[key].as_i64().unwrap_or(0)).sum()
}

/// `maestro-hook install --telemetry` (opt-in) writes the exporter settings into the user
/// settings file's `env` (the hooks go to the local file: 2.1.332 ignores `OTEL_*` from project
/// and local settings); a session the user starts by hand then reports its cost too, joined to
/// the Maestro session its hooks made.
fn installed_telemetry_reports_cost_of_a_hook_session(version: &str) {
    let Some(bin) = claude_or_skip_for(
        "installed_telemetry_reports_cost_of_a_hook_session",
        version,
    ) else {
        return;
    };
    let scratch = Scratch::new();
    let server = TestServer::start();
    let hook_env = [
        ("MAESTRO_URL", server.url.clone()),
        ("MAESTRO_TOKEN", INGEST_TOKEN.to_string()),
        ("MAESTRO_SPOOL_DIR", scratch.spool.display().to_string()),
        ("MAESTRO_DRAIN_GIVE_UP_SECS", "60".to_string()),
    ];
    let out = Command::new(bin_path("maestro-hook"))
        .args([
            "install",
            "--scope",
            "local",
            "--telemetry",
            "--claude-version",
            version,
        ])
        .arg("--project-dir")
        .arg(&scratch.project)
        .env("HOME", &scratch.home)
        .envs(hook_env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run maestro-hook install");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.home.join(".claude/settings.json"))
            .expect("user settings.json"),
    )
    .expect("settings JSON");
    assert_eq!(
        settings["env"]["CLAUDE_CODE_ENABLE_TELEMETRY"], "1",
        "{settings:#}"
    );
    assert_eq!(
        settings["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
        server.url.as_str()
    );
    assert_eq!(
        settings["env"]["OTEL_EXPORTER_OTLP_HEADERS"],
        format!("Authorization=Bearer {INGEST_TOKEN}")
    );

    assert!(
        scratch.project.join(".claude/settings.local.json").exists(),
        "the hooks are in the local file"
    );
    let fake = FakeApi::start(Script::new(vec![Step::text("Installed telemetry works.")]));
    let env: Vec<(String, String)> = hook_env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let run = ClaudeCommand::in_scratch(&bin, &fake.url, &scratch)
        .envs(&env)
        .prompt("say it")
        .timeout(Duration::from_secs(60))
        .run();
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);
    let claude_sid = run.session_id().expect("session id");
    let answered = answered_usage(&fake);
    assert!(!answered.is_empty());
    let session = wait_for("the hook session", Duration::from_secs(30), || {
        let list = server.get(&format!("/api/sessions?claude_session_id={claude_sid}"));
        list.as_array().and_then(|a| a.first().cloned())
    });
    let id = session["id"].as_str().expect("id").to_string();
    let cost = wait_for("the exported records", Duration::from_secs(30), || {
        let c = server.get(&format!("/api/sessions/{id}/cost"));
        (c["total"]["requests"].as_i64() == Some(answered.len() as i64)).then_some(c)
    });
    assert_eq!(
        cost["total"]["input_tokens"],
        sum(&answered, "input_tokens"),
        "{cost:#}"
    );
    assert_eq!(
        cost["total"]["output_tokens"],
        sum(&answered, "output_tokens"),
        "{cost:#}"
    );
    assert!(
        cost["total"]["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
        "{cost:#}"
    );

    // `uninstall --telemetry` takes the settings out of the user file again.
    let out = Command::new(bin_path("maestro-hook"))
        .args(["uninstall", "--scope", "local", "--telemetry"])
        .arg("--project-dir")
        .arg(&scratch.project)
        .env("HOME", &scratch.home)
        .envs(hook_env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run maestro-hook uninstall");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user: Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.home.join(".claude/settings.json"))
            .expect("user settings"),
    )
    .expect("JSON");
    assert!(user.get("env").is_none(), "{user:#}");
}

fn spawned_session_cost_equals_the_fake_usage(version: &str) {
    let Some(bin) = claude_or_skip_for("spawned_session_cost_equals_the_fake_usage", version)
    else {
        return;
    };
    let scratch = Scratch::new();
    let fake = FakeApi::start(Script::new(vec![
        Step::tool(
            "Write",
            json!({"file_path": "{cwd}/costed.txt", "content": "costed\n"}),
        ),
        Step::tool("Read", json!({"file_path": "{cwd}/costed.txt"})),
        Step::text("Cost scenario finished."),
    ]));
    let server = spawning_server(&bin, &fake.url, &scratch, &[]);
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "cost", "working_dir": scratch.project.display().to_string()}),
    );
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().expect("task id").to_string();
    let (status, spawned) = server.post(
        &format!("/api/tasks/{task_id}/sessions"),
        &json!({"prompt": "run the cost scenario", "permission_mode": "acceptEdits"}),
    );
    assert_eq!(status, 201, "{spawned}");
    let id = spawned["id"].as_str().expect("session id").to_string();
    let session = wait_for(
        "the spawned session to finish",
        Duration::from_secs(90),
        || {
            let s = server.get(&format!("/api/sessions/{id}"));
            matches!(s["state"].as_str(), Some("completed" | "failed" | "lost")).then_some(s)
        },
    );
    assert_eq!(session["state"], "completed", "{session:#}");
    assert!(scratch.project.join("costed.txt").exists());

    // What the fake answered: one usage per Messages request.
    let answered: Vec<Value> = fake
        .requests()
        .into_iter()
        .filter(|r| r.is_messages())
        .filter_map(|r| r.usage)
        .collect();
    assert!(
        answered.len() >= 3,
        "the script has three steps: {answered:?}"
    );
    let sum = |k: &str| -> i64 { answered.iter().map(|u| u[k].as_i64().unwrap_or(0)).sum() };

    // The exporter flushes on exit; poll until every request is in.
    let cost = wait_for(
        "every api_request record exported",
        Duration::from_secs(30),
        || {
            let c = server.get(&format!("/api/sessions/{id}/cost"));
            (c["total"]["requests"].as_i64() == Some(answered.len() as i64)).then_some(c)
        },
    );
    let total = &cost["total"];
    assert_eq!(total["input_tokens"], sum("input_tokens"), "{cost:#}");
    assert_eq!(total["output_tokens"], sum("output_tokens"), "{cost:#}");
    assert_eq!(
        total["cache_read_tokens"],
        sum("cache_read_input_tokens"),
        "{cost:#}"
    );
    assert_eq!(
        total["cache_creation_tokens"],
        sum("cache_creation_input_tokens"),
        "{cost:#}"
    );
    assert!(
        total["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
        "{cost:#}"
    );
    // Claude Code's own figure for the run agrees.
    let reported = session["result"]["total_cost_usd"].as_f64();
    if let Some(reported) = reported {
        let ours = total["cost_usd"].as_f64().unwrap_or(0.0);
        assert!((ours - reported).abs() < 1e-9, "{ours} vs {reported}");
    }
    // Joined to the session by Claude's session id and to the turn the hooks saw.
    let claude_sid = session["claude_session_id"].as_str().expect("claude id");
    assert_eq!(cost["by_session"][0]["claude_session_id"], claude_sid);
    assert_eq!(cost["by_session"][0]["session_id"], id.as_str());
    let events = server.get("/api/events?since=0&limit=1000");
    let prompt_ids: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "UserPromptSubmit")
        .filter_map(|e| e["envelope"]["payload"]["prompt_id"].as_str())
        .collect();
    let turns = cost["by_turn"].as_array().expect("turns");
    assert_eq!(turns.len(), 1, "one prompt, one turn: {cost:#}");
    if !prompt_ids.is_empty() {
        assert_eq!(
            prompt_ids,
            [turns[0]["prompt_id"].as_str().expect("prompt id")]
        );
    }
    assert_eq!(turns[0]["requests"], answered.len() as i64);
    // The same through the task and in the total.
    let task_cost = server.get(&format!("/api/tasks/{task_id}/cost"));
    assert_eq!(task_cost["total"], cost["total"], "{task_cost:#}");
    assert_eq!(server.get("/api/cost")["total"], cost["total"]);
    // The chart's series: every request, the running total ending at the total.
    let series = cost["series"].as_array().expect("series");
    assert_eq!(series.len(), answered.len(), "{cost:#}");
    let last = series.last().and_then(|p| p["cumulative_usd"].as_f64());
    let total_usd = total["cost_usd"].as_f64().unwrap_or(0.0);
    assert!(
        last.is_some_and(|l| (l - total_usd).abs() < 1e-9),
        "{cost:#}"
    );
    assert_tool_telemetry_joined(&server, &id);
}

/// Every tool call the hooks recorded for session `id` has the CLI's own telemetry joined to
/// it by `tool_use_id`: the same tool, its run time, success, and the permission decision.
fn assert_tool_telemetry_joined(server: &TestServer, id: &str) {
    let timeline = server.get(&format!("/api/sessions/{id}/timeline"));
    let mut calls: Vec<(String, String)> = timeline
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|l| {
            Some((
                l["tool_use_id"].as_str()?.to_string(),
                l["tool_name"].as_str()?.to_string(),
            ))
        })
        .collect();
    calls.sort();
    calls.dedup();
    let tools: Vec<&str> = calls.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        tools.contains(&"Write") && tools.contains(&"Read"),
        "{timeline:#}"
    );
    let telemetry = wait_for(
        "the telemetry of every tool call",
        Duration::from_secs(30),
        || {
            let t = server.get(&format!("/api/sessions/{id}/tool-telemetry"));
            let all = calls.iter().all(|(call, _)| {
                t.as_array().is_some_and(|list| {
                    list.iter()
                        .any(|e| e["tool_use_id"] == call.as_str() && e["result_at"].is_string())
                })
            });
            all.then_some(t)
        },
    );
    for (call, tool) in &calls {
        let t = telemetry
            .as_array()
            .and_then(|l| l.iter().find(|e| e["tool_use_id"] == call.as_str()))
            .expect("entry");
        assert_eq!(t["session_id"], id, "{t:#}");
        assert_eq!(t["hook_status"], "ok", "joined to the hook's call: {t:#}");
        assert_eq!(t["tool_name"], tool.as_str(), "{t:#}");
        assert_eq!(t["success"], true, "{t:#}");
        assert!(t["duration_ms"].as_i64().is_some_and(|d| d >= 0), "{t:#}");
        assert!(
            t["input_size_bytes"].as_i64().is_some_and(|n| n > 0),
            "{t:#}"
        );
        assert_eq!(t["decision"], "accept", "{t:#}");
        assert!(t["decision_source"].is_string(), "{t:#}");
    }
}

mod a_spawned_session_at_its_budget_waits_for_the_operator {
    #[test]
    fn oldest() {
        super::a_spawned_session_at_its_budget_waits_for_the_operator(super::OLDEST_VERSION);
    }
    #[test]
    fn newest() {
        super::a_spawned_session_at_its_budget_waits_for_the_operator(super::NEWEST_VERSION);
    }
}

/// A spawned session crosses its task's spend limit: while its first tool runs (long enough for
/// the exporter to send the first Messages request's record), the operator sets a limit below
/// what it has spent; the next tool call is held with the spend and the limit, the operator
/// raises the limit from the hold, and the session goes on to the end.
fn a_spawned_session_at_its_budget_waits_for_the_operator(version: &str) {
    let Some(bin) = claude_or_skip_for(
        "a_spawned_session_at_its_budget_waits_for_the_operator",
        version,
    ) else {
        return;
    };
    let scratch = Scratch::new();
    let interval = maestro_shared::otel::LOGS_INTERVAL_MS;
    let fake = FakeApi::start(Script::new(vec![
        // Five export intervals: the first request's record arrives while it runs.
        Step::tool(
            "Bash",
            json!({"command": format!("sleep {}", 5 * interval / 1000)}),
        ),
        Step::tool("Bash", json!({"command": "echo over-the-limit"})),
        Step::text("Budget scenario finished."),
    ]));
    let server = spawning_server(&bin, &fake.url, &scratch, &[]);
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "budget", "working_dir": scratch.project.display().to_string()}),
    );
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().expect("task id").to_string();
    let (status, spawned) = server.post(
        &format!("/api/tasks/{task_id}/sessions"),
        &json!({"prompt": "run the budget scenario"}),
    );
    assert_eq!(status, 201, "{spawned}");
    let id = spawned["id"].as_str().expect("session id").to_string();
    let spent = wait_for(
        "the first request's cost, during the first tool",
        Duration::from_secs(60),
        || {
            server.get(&format!("/api/sessions/{id}/cost"))["total"]["cost_usd"]
                .as_f64()
                .filter(|c| *c > 0.0)
        },
    );
    assert!(
        !server
            .get(&format!("/api/sessions/{id}/timeline"))
            .to_string()
            .contains("over-the-limit"),
        "the limit is set before the second call"
    );
    let (status, patched) = server.patch(
        &format!("/api/tasks/{task_id}"),
        &json!({"budget_usd": spent / 2.0}),
    );
    assert_eq!(status, 200, "{patched}");

    let held = wait_for("a call held at the budget", Duration::from_secs(60), || {
        server
            .get(&format!("/api/approvals?status=pending&session_id={id}"))
            .as_array()
            .and_then(|a| a.iter().find(|a| a["rule_id"] == "hold.budget").cloned())
    });
    assert_eq!(
        held["tool_input"]["command"], "echo over-the-limit",
        "{held}"
    );
    let reason = held["reason"].as_str().expect("reason");
    assert!(reason.starts_with("budget reached: $"), "{reason}");
    assert_eq!(
        server.get(&format!("/api/sessions/{id}"))["state"],
        "blocked"
    );
    // Held, not killed: the call has not run while it waits.
    let ran = |server: &TestServer| {
        server
            .get(&format!("/api/sessions/{id}/timeline"))
            .as_array()
            .expect("timeline")
            .iter()
            .any(|l| l["summary"] == "Executed: echo over-the-limit")
    };
    assert!(!ran(&server));

    let (status, decided) = server.post(
        &format!("/api/approvals/{}", held["id"].as_str().expect("id")),
        &json!({"decision": "approve", "budget_usd": 100.0}),
    );
    assert_eq!(status, 200, "{decided}");
    let session = wait_for(
        "the session to finish after the raise",
        Duration::from_secs(90),
        || {
            let s = server.get(&format!("/api/sessions/{id}"));
            matches!(s["state"].as_str(), Some("completed" | "failed" | "lost")).then_some(s)
        },
    );
    assert_eq!(session["state"], "completed", "{session:#}");
    assert!(ran(&server), "the held call ran after the raise");
    assert_eq!(
        server.get(&format!("/api/tasks/{task_id}"))["budget_usd"],
        100.0
    );
    let audit = server.get("/api/audit").to_string();
    assert!(
        audit.contains("budget.reached") && audit.contains("task.budget"),
        "{audit}"
    );
}
