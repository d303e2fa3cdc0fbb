//! Browser tests of the cost views (issue 21): real headless Chromium against a real
//! `maestro-server`; hook events posted to its webhook, Claude Code's OpenTelemetry log records
//! (`api_request`, `tool_result`, `tool_decision`) to its OTLP receiver. What the pages show
//! equals what the API answers: the board's per-card figures and total, the task's and the
//! session's cost-over-time chart, tokens per model and turn, live on new records; and each
//! tool call's telemetry on its timeline line.

use chrono::{DateTime, Utc};
use maestro_tests::browser::Browser;
use maestro_tests::server::{TestServer, INGEST_TOKEN};
use maestro_tests::ui::{js_errors, rt, serial, wait_true, Sender};
use serde_json::{json, Value};
use std::time::Instant;

fn attr(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

fn text(key: &str, v: &str) -> Value {
    attr(key, json!({"stringValue": v}))
}

/// One OTLP JSON log record of Claude session `claude`, event `name`, at `at`.
fn record(claude: &str, name: &str, seq: i64, at: DateTime<Utc>, mut attrs: Vec<Value>) -> Value {
    let nanos = at.timestamp_nanos_opt().unwrap_or_default().to_string();
    attrs.extend([
        text("session.id", claude),
        text("event.name", name),
        attr("event.sequence", json!({"intValue": seq})),
        text(
            "event.timestamp",
            &at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        ),
        text("prompt.id", &format!("prompt-{claude}")),
    ]);
    json!({"timeUnixNano": nanos, "observedTimeUnixNano": nanos,
           "body": {"stringValue": format!("claude_code.{name}")}, "attributes": attrs})
}

/// An `api_request` record: `cost` USD, `input` tokens (and fixed others).
fn api_request(claude: &str, seq: i64, model: &str, cost: f64, input: i64) -> Value {
    record(
        claude,
        "api_request",
        seq,
        Utc::now(),
        vec![
            text("model", model),
            attr("cost_usd", json!({"doubleValue": cost})),
            attr("input_tokens", json!({"intValue": input})),
            attr("output_tokens", json!({"intValue": 40})),
            attr("cache_read_tokens", json!({"intValue": 1000})),
            attr("cache_creation_tokens", json!({"intValue": 7})),
        ],
    )
}

/// `GET` with the operator token (blocking: out of the browser's runtime's way).
fn api(server: &TestServer, path: &str) -> Value {
    tokio::task::block_in_place(|| server.get(path))
}

/// Posts one logs export with `records` (JSON, the ingest token).
fn post_logs(server: &TestServer, records: Vec<Value>) {
    tokio::task::block_in_place(|| post_logs_now(server, records))
}

fn post_logs_now(server: &TestServer, records: Vec<Value>) {
    let body = json!({"resourceLogs": [{"resource": {"attributes": []},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"},
                       "logRecords": records}]}]});
    let resp = server
        .client()
        .post(format!("{}/v1/logs", server.url))
        .bearer_auth(INGEST_TOKEN)
        .json(&body)
        .send()
        .expect("POST /v1/logs");
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text());
}

/// `$` and four decimals, as the UI shows amounts under $100.
fn usd(v: &Value) -> String {
    format!("${:.4}", v.as_f64().expect("a cost"))
}

fn create_task(server: &TestServer, title: &str) -> String {
    let (status, task) = server.post("/api/tasks", &json!({"title": title}));
    assert!(status == 200 || status == 201, "{task}");
    task["id"].as_str().expect("task id").to_string()
}

/// Waits until the board's cards and total show `GET /api/cost/tasks` (three cards).
async fn check_board(server: &TestServer, br: &Browser) {
    let tasks = api(server, "/api/cost/tasks");
    let mut expected: Vec<(String, String)> = tasks
        .as_array()
        .expect("list")
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().expect("id").to_string(),
                usd(&t["cost_usd"]),
            )
        })
        .collect();
    expected.sort();
    let total: f64 = tasks
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["cost_usd"].as_f64())
        .sum();
    let want_total = format!("${total:.4}");
    let expected = json!(expected);
    wait_true(
        br,
        &format!("cards {expected} and total {want_total}"),
        "const want = arguments[0]; \
         const cards = [...document.querySelectorAll('.card')].map(c => { \
           const cost = c.querySelector('.card-cost'); \
           return [c.dataset.taskId, cost && !cost.hidden ? cost.textContent : null]; }); \
         const shown = cards.filter(c => c[1] !== null).sort(); \
         const total = document.querySelector('#board-cost'); \
         return JSON.stringify(shown) === JSON.stringify(want) \
           && total && total.textContent.startsWith(arguments[1]) && cards.length === 3",
        vec![expected.clone(), json!(want_total)],
    )
    .await;
}

/// The board's per-card figures and its total equal `GET /api/cost/tasks`, at first and after
/// new records arrive while it is open; a task without records shows none.
#[test]
fn board_shows_each_tasks_cost_and_the_total_as_the_api_does() {
    let _g = serial();
    let server = TestServer::start();
    let a = create_task(&server, "Costly task");
    let b = create_task(&server, "Cheap task");
    let idle = create_task(&server, "No cost yet");
    let sa = Sender::for_task(&server, "h1", "/work/a", &a);
    let sb = Sender::for_task(&server, "h1", "/work/b", &b);
    sa.start();
    sb.start();
    post_logs(
        &server,
        vec![
            api_request(&sa.claude_sid, 1, "claude-opus-5-5", 0.0123, 1200),
            api_request(&sa.claude_sid, 2, "claude-opus-5-5", 0.0456, 900),
        ],
    );
    post_logs(
        &server,
        vec![api_request(
            &sb.claude_sid,
            1,
            "claude-haiku-5",
            0.0007,
            300,
        )],
    );
    rt().block_on(async {
        let br = Browser::start().await.expect("browser");
        br.login(&server.url, maestro_tests::server::OPERATOR_TOKEN)
            .await
            .expect("login");
        check_board(&server, &br).await;
        // The task without records shows no figure.
        let idle_cost = br
            .js_args(
                "const c = document.querySelector(`.card[data-task-id=\"${arguments[0]}\"] .card-cost`); \
                 return c ? c.hidden : 'missing'",
                vec![json!(idle)],
            )
            .await
            .expect("idle card");
        assert_eq!(idle_cost, json!(true));

        // Live: a new record for the cheap task moves its card and the total.
        post_logs(
            &server,
            vec![api_request(&sb.claude_sid, 2, "claude-haiku-5", 0.25, 5000)],
        );
        check_board(&server, &br).await;
        let b_cost = api(&server, "/api/cost/tasks")
            .as_array()
            .expect("list")
            .iter()
            .find(|t| t["task_id"] == b.as_str())
            .map(|t| usd(&t["cost_usd"]))
            .expect("task b");
        assert_eq!(b_cost, "$0.2507");
        assert_eq!(js_errors(&br).await, json!([]));
        br.close().await;
    });
}

/// A storm of cost messages costs the board one request for every task's totals per second
/// (not one per card or per message), at 100 tasks, and the figures end equal to the API's.
#[test]
fn a_storm_of_cost_messages_is_batched_at_100_tasks() {
    let _g = serial();
    let server = TestServer::start();
    let mut senders = Vec::new();
    let ids: Vec<String> = (0..100)
        .map(|i| create_task(&server, &format!("Task {i}")))
        .collect();
    for id in &ids {
        let s = Sender::for_task(&server, "h1", "/work", id);
        s.start();
        senders.push(s);
    }
    rt().block_on(async {
        let br = Browser::start().await.expect("browser");
        br.login(&server.url, maestro_tests::server::OPERATOR_TOKEN)
            .await
            .expect("login");
        wait_true(
            &br,
            "100 cards",
            "return document.querySelectorAll('.card').length === 100",
            vec![],
        )
        .await;
        br.js("performance.setResourceTimingBufferSize(100000); performance.clearResourceTimings(); return true")
            .await
            .expect("reset timings");
        // 100 exports, one per task: 100 `cost:updated` messages.
        let t = Instant::now();
        for (i, s) in senders.iter().enumerate() {
            post_logs(
                &server,
                vec![api_request(&s.claude_sid, 1, "claude-opus-5-5", 0.001 * (i + 1) as f64, 100)],
            );
        }
        let storm = t.elapsed().as_secs_f64();
        let total: f64 = api(&server, "/api/cost/tasks")
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|t| t["cost_usd"].as_f64())
            .sum();
        let want = format!("${total:.4}");
        wait_true(
            &br,
            &format!("board total {want}"),
            "const t = document.querySelector('#board-cost'); \
             return t && t.textContent.startsWith(arguments[0]) \
               && document.querySelectorAll('.card-cost:not([hidden])').length === 100",
            vec![json!(want)],
        )
        .await;
        let fetches = br
            .js("return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/cost/tasks')).length")
            .await
            .expect("fetches")
            .as_u64()
            .expect("count");
        let per_card = br
            .js("return performance.getEntriesByType('resource').filter(e => /\\/api\\/tasks\\/[^/]+\\/cost/.test(e.name)).length")
            .await
            .expect("per-card fetches");
        // One request a second at most while messages keep coming, plus the trailing one (and
        // one for a message already queued when the storm began).
        let bound = storm.ceil() as u64 + 3;
        eprintln!("storm of 100 messages over {storm:.2} s: {fetches} fetches of /api/cost/tasks");
        assert!(
            fetches >= 1 && fetches <= bound,
            "{fetches} fetches for 100 messages over {storm:.2} s"
        );
        assert_eq!(per_card, json!(0), "no per-card cost requests");
        assert_eq!(js_errors(&br).await, json!([]));
        br.close().await;
    });
}

/// The task view's and the session view's chart, totals and per-model / per-turn tables equal
/// the API's reports, and follow new records live; the session's tool call shows its
/// telemetry (duration, decision, result size) on its timeline line.
#[test]
fn task_and_session_views_chart_the_cost_the_api_reports() {
    let _g = serial();
    let server = TestServer::start();
    let task = create_task(&server, "Charted task");
    let s = Sender::for_task(&server, "h1", "/work/chart", &task);
    s.start();
    s.prompt("chart the cost");
    let tool_use_id = "toolu_chart_1";
    s.send(
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_use_id": tool_use_id,
               "tool_input": {"command": "cargo test"},
               "tool_response": {"stdout": "ok", "stderr": "", "interrupted": false}}),
    );
    post_logs(
        &server,
        vec![
            api_request(&s.claude_sid, 1, "claude-opus-5-5", 0.0211, 1500),
            api_request(&s.claude_sid, 2, "claude-haiku-5", 0.0009, 400),
            record(
                &s.claude_sid,
                "tool_decision",
                3,
                Utc::now(),
                vec![
                    text("tool_use_id", tool_use_id),
                    text("tool_name", "Bash"),
                    text("decision", "accept"),
                    text("source", "config"),
                ],
            ),
            record(
                &s.claude_sid,
                "tool_result",
                4,
                Utc::now(),
                vec![
                    text("tool_use_id", tool_use_id),
                    text("tool_name", "Bash"),
                    text("success", "true"),
                    text("duration_ms", "1234"),
                    text("tool_result_size_bytes", "2048"),
                ],
            ),
        ],
    );
    let sessions = api(
        &server,
        &format!("/api/sessions?claude_session_id={}", s.claude_sid),
    );
    let sid = sessions[0]["id"].as_str().expect("session id").to_string();

    /// Waits until the view's cost panel shows `report` exactly.
    async fn shows(br: &Browser, report: &Value) {
        let total = &report["total"];
        let series = report["series"].as_array().expect("series");
        let models: Vec<Value> = report["by_model"]
            .as_array()
            .expect("models")
            .iter()
            .map(|m| json!([m["model"], usd(&m["cost_usd"]), m["requests"].to_string()]))
            .collect();
        let turns = report["by_turn"].as_array().expect("turns").len();
        let head = format!(
            "{} · {} model request{}",
            usd(&total["cost_usd"]),
            total["requests"],
            if total["requests"] == 1 { "" } else { "s" }
        );
        let tokens = format!(
            "Tokens: {} input · {} output · {} cache read · {} cache write",
            group(&total["input_tokens"]),
            group(&total["output_tokens"]),
            group(&total["cache_read_tokens"]),
            group(&total["cache_creation_tokens"])
        );
        let last = series.last().map(|p| p["cumulative_usd"].clone());
        let want = json!({"head": head, "tokens": tokens, "points": series.len(), "last": last,
                          "models": models, "turns": turns});
        let mut shown = Value::Null;
        let deadline = Instant::now() + maestro_tests::ui::T;
        while Instant::now() < deadline {
            shown = br
                .js("const p = document.querySelector('.cost-panel'); if (!p) return null; \
                     const pts = [...p.querySelectorAll('.cost-point')]; \
                     return {head: p.querySelector('.cost-total').textContent, \
                       tokens: p.querySelector('.cost-tokens').textContent, points: pts.length, \
                       last: pts.length ? Number(pts[pts.length - 1].dataset.cumulative) : null, \
                       models: [...p.querySelectorAll('.cost-by-model tbody tr')].map(r => \
                         [r.dataset.model, r.querySelector('.cost-usd').textContent, r.children[1].textContent]), \
                       turns: p.querySelectorAll('.cost-by-turn tbody tr').length}")
                .await
                .expect("cost panel");
            if shown == want {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(shown, want, "the cost panel shows what the API reports");
    }

    /// A token count as the UI groups it ("1,500").
    fn group(v: &Value) -> String {
        let n = v.as_i64().expect("tokens").to_string();
        let mut out = String::new();
        for (i, c) in n.chars().enumerate() {
            if i > 0 && (n.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    rt().block_on(async {
        let br = Browser::start().await.expect("browser");
        br.login(&server.url, maestro_tests::server::OPERATOR_TOKEN)
            .await
            .expect("login");
        br.route(&format!("#/task/{task}")).await.expect("route");
        let report = api(&server, &format!("/api/tasks/{task}/cost"));
        assert_eq!(report["series"].as_array().map(Vec::len), Some(2));
        shows(&br, &report).await;

        br.route(&format!("#/session/{sid}")).await.expect("route");
        shows(&br, &api(&server, &format!("/api/sessions/{sid}/cost"))).await;
        // The tool call's telemetry on its timeline line, as the API has it.
        let tel = api(&server, &format!("/api/sessions/{sid}/tool-telemetry"));
        assert_eq!(tel[0]["duration_ms"], 1234, "{tel}");
        wait_true(
            &br,
            "the tool call's telemetry chips",
            "const row = [...document.querySelectorAll('.tl-row')].find(r => r.querySelector('.tl-otel')); \
             if (!row) return false; \
             const o = row.querySelector('.tl-otel'); \
             return o.dataset.toolUseId === arguments[0] \
               && o.querySelector('.otel-duration').dataset.ms === '1234' \
               && o.querySelector('.otel-duration').textContent === '1.2 s' \
               && o.querySelector('.otel-decision').textContent === 'accept · config' \
               && o.querySelector('.otel-size').dataset.bytes === '2048' \
               && o.querySelector('.otel-size').textContent === '2.0 KB'",
            vec![json!(tool_use_id)],
        )
        .await;

        // Live: a third request reaches the open session view.
        post_logs(
            &server,
            vec![api_request(&s.claude_sid, 5, "claude-opus-5-5", 0.5, 20000)],
        );
        let report = api(&server, &format!("/api/sessions/{sid}/cost"));
        assert_eq!(report["series"].as_array().map(Vec::len), Some(3));
        shows(&br, &report).await;
        // And the task view, opened again, agrees.
        br.route(&format!("#/task/{task}")).await.expect("route");
        shows(&br, &api(&server, &format!("/api/tasks/{task}/cost"))).await;
        br.js("document.querySelector('.cost-panel').scrollIntoView(); return true")
            .await
            .expect("scroll");
        let shot = br.screenshot("cost-task-view").await.expect("screenshot");
        maestro_tests::ui::copy_to_docs(&shot);
        assert_eq!(js_errors(&br).await, json!([]));
        br.close().await;
    });
}
