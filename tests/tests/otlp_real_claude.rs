//! Cost and tokens end to end with the real Claude Code CLI: Maestro spawns the CLI for a task
//! (with the offline env, `DISABLE_TELEMETRY=1` and `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`
//! included: neither turns the OpenTelemetry export off), the CLI exports its own
//! `claude_code.api_request` records to the server's OTLP receiver, and the session's tokens
//! equal the sum of the usage figures the fake Messages API answered, with a cost, joined to
//! the session, the task and the turn the hooks saw.

use maestro_tests::claude_cli::{
    claude_or_skip_for, offline_env, Scratch, NEWEST_VERSION, OLDEST_VERSION,
};
use maestro_tests::fake_api::{FakeApi, Script, Step};
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use serde_json::{json, Value};
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
        Step::text("Cost scenario finished."),
    ]));
    let mut env = offline_env(&fake.url, &scratch.home);
    env.push(("MAESTRO_CLAUDE_COMMAND".into(), bin.display().to_string()));
    env.push((
        "MAESTRO_SPOOL_DIR".into(),
        scratch.spool.display().to_string(),
    ));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with_env(&env_refs);
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
        answered.len() >= 2,
        "the script has two steps: {answered:?}"
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
}
