//! The OTLP/HTTP receiver (`/v1/logs`, `/v1/metrics`) against the real server, fed with
//! exports the real Claude Code CLI 2.1.332 produced (`tests/fixtures/otlp/`): JSON and
//! protobuf, gzip, bad input, authentication, retries, and records that arrive before their
//! session's first hook event.

use maestro_tests::envelopes::{envelope, with_session};
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use serde_json::{json, Value};
use std::io::Write;

/// Claude's session id in both fixtures' `api_request` record.
const JSON_SESSION: &str = "77242413-56ea-4bd5-adbf-40f4a314fae6";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(maestro_tests::fixture(&format!("otlp/{name}"))).expect("OTLP fixture")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip finish")
}

/// Posts an OTLP body; returns (status, content type, body text).
fn post(
    server: &TestServer,
    path: &str,
    auth: Option<&str>,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, String) {
    let mut req = server
        .client()
        .post(format!("{}{path}", server.url))
        .header("content-type", content_type)
        .body(body);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    if let Some(enc) = encoding {
        req = req.header("content-encoding", enc);
    }
    let resp = req.send().expect("POST OTLP");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, resp.text().unwrap_or_default())
}

fn bearer() -> String {
    format!("Bearer {INGEST_TOKEN}")
}

fn json_logs(server: &TestServer) -> (u16, String, String) {
    post(
        server,
        "/v1/logs",
        Some(&bearer()),
        "application/json",
        None,
        fixture("logs-2.1.332.json"),
    )
}

/// The api_request figures of a fixture export, read straight from its JSON.
fn fixture_figures() -> (i64, i64, i64, i64, f64) {
    let v: Value = serde_json::from_slice(&fixture("logs-2.1.332.json")).expect("fixture JSON");
    let mut out = (0, 0, 0, 0, 0.0);
    for rl in v["resourceLogs"].as_array().expect("resourceLogs") {
        for sl in rl["scopeLogs"].as_array().expect("scopeLogs") {
            for lr in sl["logRecords"].as_array().expect("logRecords") {
                if lr["body"]["stringValue"] != "claude_code.api_request" {
                    continue;
                }
                let attr = |k: &str| {
                    lr["attributes"]
                        .as_array()
                        .expect("attributes")
                        .iter()
                        .find(|a| a["key"] == k)
                        .map(|a| a["value"].clone())
                        .expect("attribute")
                };
                out.0 += attr("input_tokens")["intValue"].as_i64().expect("int");
                out.1 += attr("output_tokens")["intValue"].as_i64().expect("int");
                out.2 += attr("cache_read_tokens")["intValue"].as_i64().expect("int");
                out.3 += attr("cache_creation_tokens")["intValue"]
                    .as_i64()
                    .expect("int");
                out.4 += attr("cost_usd")["doubleValue"].as_f64().expect("f64");
            }
        }
    }
    out
}

fn assert_totals(total: &Value, requests: i64) {
    let (input, output, read, write, cost) = fixture_figures();
    assert_eq!(total["requests"], requests, "{total}");
    assert_eq!(total["input_tokens"], input * requests, "{total}");
    assert_eq!(total["output_tokens"], output * requests, "{total}");
    assert_eq!(total["cache_read_tokens"], read * requests, "{total}");
    assert_eq!(total["cache_creation_tokens"], write * requests, "{total}");
    let got = total["cost_usd"].as_f64().expect("cost");
    assert!((got - cost * requests as f64).abs() < 1e-12, "{total}");
}

#[test]
fn json_export_is_stored_and_a_retry_is_idempotent() {
    let server = TestServer::start();
    let (status, ctype, body) = json_logs(&server);
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
    // The exporter retries: the same export again adds nothing.
    assert_eq!(json_logs(&server).0, 200);
    let all = server.get("/api/cost");
    assert_totals(&all["total"], 1);
    assert_eq!(all["by_session"][0]["claude_session_id"], JSON_SESSION);
    assert_eq!(all["by_model"][0]["model"], "claude-opus-5-5");
}

#[test]
fn protobuf_and_gzip_exports_are_stored() {
    let server = TestServer::start();
    let pb = fixture("logs-2.1.332.pb");
    let (status, ctype, _) = post(
        &server,
        "/v1/logs",
        Some(&bearer()),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&pb),
    );
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/x-protobuf");
    let all = server.get("/api/cost");
    assert_eq!(all["total"]["requests"], 1, "{all}");
    assert_eq!(all["total"]["input_tokens"], 100, "{all}");
    assert_eq!(all["total"]["cache_read_tokens"], 7, "{all}");
    assert_eq!(all["total"]["cache_creation_tokens"], 3, "{all}");
    assert!(all["total"]["cost_usd"].as_f64().expect("cost") > 0.0);
    // The same export uncompressed is the same record.
    let (status, _, _) = post(
        &server,
        "/v1/logs",
        Some(&bearer()),
        "application/x-protobuf",
        None,
        pb,
    );
    assert_eq!(status, 200);
    assert_eq!(server.get("/api/cost")["total"]["requests"], 1);
    // JSON gzip too.
    let (status, _, body) = post(
        &server,
        "/v1/logs",
        Some(&bearer()),
        "application/json",
        Some("gzip"),
        gzip(&fixture("logs-2.1.332.json")),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get("/api/cost")["total"]["requests"], 2);
}

#[test]
fn metrics_are_accepted_and_malformed_bodies_refused() {
    let server = TestServer::start();
    let metrics = json!({"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{
        "scope": {"name": "com.anthropic.claude_code"}, "metrics": [{"name": "claude_code.cost.usage",
        "unit": "USD", "sum": {"aggregationTemporality": 1, "isMonotonic": true, "dataPoints": [{
        "attributes": [{"key": "session.id", "value": {"stringValue": "x"}}],
        "startTimeUnixNano": "1", "timeUnixNano": "2", "asDouble": 0.5}]}}]}]}]});
    let (status, _, body) = post(
        &server,
        "/v1/metrics",
        Some(&bearer()),
        "application/json",
        None,
        metrics.to_string().into_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    for (ctype, bytes) in [
        ("application/json", b"{not json".to_vec()),
        (
            "application/json",
            br#"{"resourceLogs": 5, "resourceMetrics": 5}"#.to_vec(),
        ),
        // Field 1, length-delimited, length far past the end.
        ("application/x-protobuf", vec![0x0a, 0xff, 0xff, 0x03, 0x01]),
    ] {
        for path in ["/v1/logs", "/v1/metrics"] {
            let (status, _, body) =
                post(&server, path, Some(&bearer()), ctype, None, bytes.clone());
            assert_eq!(status, 400, "{path} {ctype}: {body}");
            let err: Value = serde_json::from_str(&body).expect("JSON error");
            assert_eq!(err["error"]["code"], "invalid_otlp", "{err}");
        }
    }
    let (status, _, body) = post(
        &server,
        "/v1/logs",
        Some(&bearer()),
        "application/json",
        Some("gzip"),
        b"not gzip".to_vec(),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = post(
        &server,
        "/v1/logs",
        Some(&bearer()),
        "text/plain",
        None,
        vec![],
    );
    assert_eq!(status, 415);
    assert_eq!(server.get("/api/cost")["total"]["requests"], 0);
}

#[test]
fn oversized_bodies_are_refused_before_and_after_inflating() {
    let server = TestServer::start_with_env(&[("MAESTRO_BODY_LIMIT_BYTES", "4096")]);
    let big = fixture("logs-2.1.332.json");
    assert!(big.len() > 4096);
    let (status, _, body) = post(
        &server,
        "/v1/logs",
        Some(&bearer()),
        "application/json",
        None,
        big.clone(),
    );
    assert_eq!(status, 413, "{body}");
    let err: Value = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(err["error"]["code"], "payload_too_large", "{err}");
    // Small on the wire, too large inflated.
    let packed = gzip(&big);
    assert!(packed.len() < 4096, "{}", packed.len());
    let (status, _, body) = post(
        &server,
        "/v1/logs",
        Some(&bearer()),
        "application/json",
        Some("gzip"),
        packed,
    );
    assert_eq!(status, 413, "{body}");
    assert_eq!(server.get("/api/cost")["total"]["requests"], 0);
}

#[test]
fn only_the_ingest_credential_is_accepted() {
    let server = TestServer::start();
    let body = fixture("logs-2.1.332.json");
    for auth in [
        None,
        Some(format!("Bearer {OPERATOR_TOKEN}")),
        Some("Bearer wrong-token".to_string()),
    ] {
        let (status, _, text) = post(
            &server,
            "/v1/logs",
            auth.as_deref(),
            "application/json",
            None,
            body.clone(),
        );
        assert_eq!(status, 401, "{auth:?}: {text}");
        let err: Value = serde_json::from_str(&text).expect("JSON error");
        assert!(err["error"]["message"].as_str().is_some(), "{err}");
    }
    assert_eq!(server.get("/api/cost")["total"]["requests"], 0);
    // What Claude Code sends for OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20TOKEN:
    // the value verbatim, not percent-decoded.
    let (status, _, text) = post(
        &server,
        "/v1/logs",
        Some(&format!("Bearer%20{INGEST_TOKEN}")),
        "application/json",
        None,
        body,
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(server.get("/api/cost")["total"]["requests"], 1);
}

#[test]
fn records_before_the_session_exists_are_joined_when_it_appears() {
    let server = TestServer::start();
    assert_eq!(json_logs(&server).0, 200);
    let all = server.get("/api/cost");
    assert_eq!(all["by_session"][0]["session_id"], Value::Null, "{all}");

    // The session's first hook event arrives afterwards.
    let start: Value = serde_json::from_slice(
        &std::fs::read(maestro_tests::fixture("payloads/SessionStart-startup.json"))
            .expect("payload"),
    )
    .expect("payload JSON");
    let (status, body) = server.ingest(&envelope(
        &with_session(&start, JSON_SESSION),
        chrono::Utc::now(),
    ));
    assert_eq!(status, 200, "{body}");
    let list = server.get(&format!("/api/sessions?claude_session_id={JSON_SESSION}"));
    let id = list[0]["id"].as_str().expect("session id").to_string();

    let cost = server.get(&format!("/api/sessions/{id}/cost"));
    assert_totals(&cost["total"], 1);
    assert_eq!(cost["by_session"][0]["session_id"], id.as_str(), "{cost}");
    let turns = cost["by_turn"].as_array().expect("turns");
    assert_eq!(turns.len(), 1, "{cost}");
    assert_eq!(
        turns[0]["prompt_id"],
        "da3eb0f4-8ba5-4529-b5ac-a05e1f5f25ec"
    );
    assert_eq!(
        server.get("/api/cost")["by_session"][0]["session_id"],
        id.as_str()
    );

    // Through a task once the session is assigned to one.
    let (status, task) = server.post("/api/tasks", &json!({"title": "cost"}));
    assert!(status == 200 || status == 201, "{task}");
    let task_id = task["id"].as_str().expect("task id");
    let resp = server
        .client()
        .patch(format!("{}/api/sessions/{id}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"task_id": task_id}))
        .send()
        .expect("PATCH");
    assert!(resp.status().is_success());
    let task_cost = server.get(&format!("/api/tasks/{task_id}/cost"));
    assert_eq!(task_cost["total"], cost["total"], "{task_cost}");
    // Unknown scopes are 404.
    let resp = server
        .client()
        .get(format!("{}/api/sessions/s_nope/cost", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 404);
}

#[test]
fn a_machine_credential_is_accepted_and_its_records_counted_per_machine() {
    let server = TestServer::start();
    let cli = |args: &[&str]| {
        let out = maestro_tests::server::server_command(&server.data_dir)
            .args(args)
            .env("MAESTRO_INGEST_TOKEN", INGEST_TOKEN)
            .env("MAESTRO_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("RUST_LOG", "warn")
            .output()
            .expect("maestro-server machines");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let printed = cli(&["machines", "add", "build-box"]);
    let cred = printed
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("mch_"))
        .unwrap_or_else(|| panic!("no credential printed: {printed}"))
        .to_string();
    let (status, _, body) = post(
        &server,
        "/v1/logs",
        Some(&format!("Bearer {cred}")),
        "application/json",
        None,
        fixture("logs-2.1.332.json"),
    );
    assert_eq!(status, 200, "{body}");
    let all = server.get("/api/cost");
    assert_eq!(all["by_machine"][0]["machine"], "build-box", "{all}");
    assert_totals(&all["by_machine"][0], 1);
    // Revoked: refused with the webhook's code.
    cli(&["machines", "revoke", "build-box"]);
    let refused = wait_for_status(&server, &cred, 401);
    let err: Value = serde_json::from_str(&refused).expect("JSON error");
    assert_eq!(err["error"]["code"], "machine_revoked", "{err}");
}

/// Posts the protobuf fixture with `cred` until the answer is `status` (the server caches
/// credential lookups briefly); returns the body.
fn wait_for_status(server: &TestServer, cred: &str, status: u16) -> String {
    maestro_tests::wait_for(
        "the revocation to take effect",
        std::time::Duration::from_secs(30),
        || {
            let (got, _, body) = post(
                server,
                "/v1/logs",
                Some(&format!("Bearer {cred}")),
                "application/x-protobuf",
                None,
                fixture("logs-2.1.332.pb"),
            );
            (got == status).then_some(body)
        },
    )
}

#[test]
fn new_records_are_announced_on_the_feed() {
    let server = TestServer::start();
    assert_eq!(json_logs(&server).0, 200);
    // A retry announces nothing new.
    assert_eq!(json_logs(&server).0, 200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let costs: Vec<Value> = rt.block_on(async {
        let mut ws = maestro_tests::ws::connect(server.port, Some(0))
            .await
            .expect("connect");
        let mut costs = Vec::new();
        loop {
            let msg =
                maestro_tests::ws::next_json(&mut ws, std::time::Duration::from_secs(10)).await;
            match msg["type"].as_str() {
                Some("ready") => return costs,
                Some("cost:updated") => costs.push(msg),
                _ => {}
            }
        }
    });
    assert_eq!(costs.len(), 1, "{costs:#?}");
    assert_eq!(costs[0]["data"]["claude_session_id"], JSON_SESSION);
    assert_eq!(costs[0]["session_id"], Value::Null);
    assert_totals(&costs[0]["data"]["total"], 1);
}

/// A tool event of a captured export, read straight from its JSON.
#[derive(Debug)]
struct FixtureToolEvent {
    event: String,
    session: String,
    tool_use_id: String,
    tool_name: String,
    attrs: Value,
}

/// An attribute's value as text (Claude Code sends numbers of these events as strings).
fn attr_text(attrs: &Value, key: &str) -> Option<String> {
    let v = attrs
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].clone())?;
    v["stringValue"]
        .as_str()
        .map(str::to_string)
        .or_else(|| v["intValue"].as_str().map(str::to_string))
        .or_else(|| v["intValue"].as_i64().map(|i| i.to_string()))
        .or_else(|| v["boolValue"].as_bool().map(|b| b.to_string()))
}

/// The `tool_result` and `tool_decision` records of `tools-<version>.json`: exports the real
/// CLI of that version sent for a run with a Write, a Bash and a failing Bash call (merged
/// into one export).
fn fixture_tool_events(version: &str) -> Vec<FixtureToolEvent> {
    let v: Value =
        serde_json::from_slice(&fixture(&format!("tools-{version}.json"))).expect("fixture JSON");
    let mut out = Vec::new();
    for rl in v["resourceLogs"].as_array().expect("resourceLogs") {
        for sl in rl["scopeLogs"].as_array().expect("scopeLogs") {
            for lr in sl["logRecords"].as_array().expect("logRecords") {
                let attrs = &lr["attributes"];
                let Some(event) = attr_text(attrs, "event.name") else {
                    continue;
                };
                if event != "tool_result" && event != "tool_decision" {
                    continue;
                }
                out.push(FixtureToolEvent {
                    event,
                    session: attr_text(attrs, "session.id").expect("session.id"),
                    tool_use_id: attr_text(attrs, "tool_use_id").expect("tool_use_id"),
                    tool_name: attr_text(attrs, "tool_name").expect("tool_name"),
                    attrs: attrs.clone(),
                });
            }
        }
    }
    out
}

/// A hook payload of `event` for one tool call of Claude session `session`.
fn tool_hook(event: &str, session: &str, tool: &str, tool_use_id: &str) -> Value {
    let mut p: Value = serde_json::from_slice(
        &std::fs::read(maestro_tests::fixture(&format!(
            "payloads/{event}-Bash.json"
        )))
        .expect("payload"),
    )
    .expect("payload JSON");
    p["session_id"] = json!(session);
    p["tool_name"] = json!(tool);
    p["tool_use_id"] = json!(tool_use_id);
    p
}

mod tool_telemetry_joins_the_hook_tool_calls {
    #[test]
    fn oldest() {
        super::tool_telemetry_joins_the_hook_tool_calls(maestro_tests::claude_cli::OLDEST_VERSION);
    }
    #[test]
    fn newest() {
        super::tool_telemetry_joins_the_hook_tool_calls(maestro_tests::claude_cli::NEWEST_VERSION);
    }
}

/// The `tool_result` / `tool_decision` records a real CLI exported are stored once (the
/// exporter's retry adds nothing), announced on the feed, and joined to the tool calls by
/// `tool_use_id` when the hook events arrive afterwards: the session's telemetry carries each
/// call's own duration, result size and permission decision, with the hook's status beside it.
fn tool_telemetry_joins_the_hook_tool_calls(version: &str) {
    let events = fixture_tool_events(version);
    let results: Vec<&FixtureToolEvent> =
        events.iter().filter(|e| e.event == "tool_result").collect();
    assert!(
        results.len() >= 3,
        "a Write and two Bash calls: {events:#?}"
    );
    let claude = events[0].session.clone();
    let server = TestServer::start();
    let body = fixture(&format!("tools-{version}.json"));
    for _ in 0..2 {
        let (status, _, text) = post(
            &server,
            "/v1/logs",
            Some(&bearer()),
            "application/json",
            Some("gzip"),
            gzip(&body),
        );
        assert_eq!(status, 200, "{text}");
    }

    // Announced once, before the session exists (no Maestro session on the message yet).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let announced: Vec<Value> = rt.block_on(async {
        let mut ws = maestro_tests::ws::connect(server.port, Some(0))
            .await
            .expect("connect");
        let mut got = Vec::new();
        loop {
            let msg =
                maestro_tests::ws::next_json(&mut ws, std::time::Duration::from_secs(10)).await;
            match msg["type"].as_str() {
                Some("ready") => return got,
                Some("tool:telemetry") => got.push(msg),
                _ => {}
            }
        }
    });
    assert_eq!(announced.len(), 1, "{announced:#?}");
    assert_eq!(announced[0]["data"]["claude_session_id"], claude.as_str());
    assert_eq!(announced[0]["session_id"], Value::Null);
    let mut ids: Vec<String> = events.iter().map(|e| e.tool_use_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let mut announced_ids: Vec<String> = announced[0]["data"]["tool_use_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    announced_ids.sort();
    assert_eq!(announced_ids, ids);

    // The hook events arrive afterwards: the session, then each call's Pre and Post.
    let start: Value = serde_json::from_slice(
        &std::fs::read(maestro_tests::fixture("payloads/SessionStart-startup.json"))
            .expect("payload"),
    )
    .expect("payload JSON");
    let now = chrono::Utc::now();
    let (status, body) = server.ingest(&envelope(&with_session(&start, &claude), now));
    assert_eq!(status, 200, "{body}");
    for r in &results {
        let post = if attr_text(&r.attrs, "success").as_deref() == Some("false") {
            "PostToolUseFailure"
        } else {
            "PostToolUse"
        };
        for event in ["PreToolUse", post] {
            let (status, body) = server.ingest(&envelope(
                &tool_hook(event, &claude, &r.tool_name, &r.tool_use_id),
                chrono::Utc::now(),
            ));
            assert_eq!(status, 200, "{body}");
        }
    }
    let list = server.get(&format!("/api/sessions?claude_session_id={claude}"));
    let id = list[0]["id"].as_str().expect("session id").to_string();
    let telemetry = server.get(&format!("/api/sessions/{id}/tool-telemetry"));
    let telemetry = telemetry.as_array().expect("telemetry list");
    assert_eq!(telemetry.len(), ids.len(), "{telemetry:#?}");
    for r in &results {
        let t = telemetry
            .iter()
            .find(|t| t["tool_use_id"] == r.tool_use_id.as_str())
            .unwrap_or_else(|| panic!("no telemetry for {}: {telemetry:#?}", r.tool_use_id));
        assert_eq!(t["session_id"], id.as_str(), "{t}");
        let failed = attr_text(&r.attrs, "success").as_deref() == Some("false");
        let status = if failed { "error" } else { "ok" };
        assert_eq!(t["hook_status"], status, "joined to the hook's call: {t}");
        assert_eq!(t["tool_name"], r.tool_name.as_str());
        let num = |key: &str| attr_text(&r.attrs, key).map(|v| json!(v.parse::<i64>().expect("n")));
        assert_eq!(Some(t["duration_ms"].clone()), num("duration_ms"), "{t}");
        assert_eq!(
            t["result_size_bytes"].clone(),
            num("tool_result_size_bytes").unwrap_or(Value::Null),
            "{t}"
        );
        assert_eq!(
            t["success"],
            json!(attr_text(&r.attrs, "success") == Some("true".into()))
        );
        // The decision event, where the CLI sent one, else the result's copy of it.
        let decision = events
            .iter()
            .rev()
            .find(|e| e.event == "tool_decision" && e.tool_use_id == r.tool_use_id);
        let (want_decision, want_source) = match decision {
            Some(d) => (
                attr_text(&d.attrs, "decision"),
                attr_text(&d.attrs, "source"),
            ),
            None => (
                attr_text(&r.attrs, "decision_type"),
                attr_text(&r.attrs, "decision_source"),
            ),
        };
        assert_eq!(t["decision"], json!(want_decision), "{t}");
        assert_eq!(t["decision_source"], json!(want_source), "{t}");
    }
    // A failed call says why.
    assert!(
        telemetry
            .iter()
            .any(|t| t["success"] == false && t["error_type"].is_string()),
        "{telemetry:#?}"
    );
    // The same through a task; unknown scopes are 404.
    let (status, task) = server.post("/api/tasks", &json!({"title": "telemetry"}));
    assert!(status == 200 || status == 201, "{task}");
    let task_id = task["id"].as_str().expect("task id");
    let resp = server
        .client()
        .patch(format!("{}/api/sessions/{id}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"task_id": task_id}))
        .send()
        .expect("PATCH");
    assert!(resp.status().is_success());
    assert_eq!(
        server.get(&format!("/api/tasks/{task_id}/tool-telemetry")),
        Value::Array(telemetry.clone())
    );
    for path in [
        "/api/sessions/s_nope/tool-telemetry",
        "/api/tasks/t_nope/tool-telemetry",
    ] {
        let resp = server
            .client()
            .get(format!("{}{path}", server.url))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 404, "{path}");
    }
}

/// `GET /api/cost/tasks` (the board's figures) and the series of a task's report (the chart's
/// points) agree with the task's own report.
#[test]
fn task_totals_and_the_series_agree_with_the_report() {
    let server = TestServer::start();
    assert_eq!(json_logs(&server).0, 200);
    assert_eq!(server.get("/api/cost/tasks"), json!([]), "no task yet");
    let start: Value = serde_json::from_slice(
        &std::fs::read(maestro_tests::fixture("payloads/SessionStart-startup.json"))
            .expect("payload"),
    )
    .expect("payload JSON");
    let (status, body) = server.ingest(&envelope(
        &with_session(&start, JSON_SESSION),
        chrono::Utc::now(),
    ));
    assert_eq!(status, 200, "{body}");
    let list = server.get(&format!("/api/sessions?claude_session_id={JSON_SESSION}"));
    let id = list[0]["id"].as_str().expect("session id").to_string();
    let (_, task) = server.post("/api/tasks", &json!({"title": "board"}));
    let task_id = task["id"].as_str().expect("task id");
    let resp = server
        .client()
        .patch(format!("{}/api/sessions/{id}", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"task_id": task_id}))
        .send()
        .expect("PATCH");
    assert!(resp.status().is_success());
    let report = server.get(&format!("/api/tasks/{task_id}/cost"));
    let tasks = server.get("/api/cost/tasks");
    assert_eq!(tasks.as_array().map(Vec::len), Some(1), "{tasks}");
    assert_eq!(tasks[0]["task_id"], task_id);
    for key in [
        "requests",
        "cost_usd",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
    ] {
        assert_eq!(tasks[0][key], report["total"][key], "{key}");
    }
    let series = report["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "{report}");
    assert_eq!(series[0]["cumulative_usd"], report["total"]["cost_usd"]);
    assert_eq!(series[0]["session_id"], id.as_str());
    assert_eq!(series[0]["model"], "claude-opus-5-5");
    assert_eq!(series[0]["input_tokens"], report["total"]["input_tokens"]);
    assert_eq!(server.get("/api/cost")["series"], json!([]));
}
