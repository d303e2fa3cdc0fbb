//! Browser tests (real headless Chromium, real server) of what an operator does without the
//! config file: webhook destinations added, tested and removed in the Webhooks view, with the
//! delivery log; and a call held at its task's spend limit, released from the modal by raising
//! the limit.

use maestro_tests::browser::Browser;
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use maestro_tests::ui::{copy_to_docs, js_errors, rt, serial, wait_text, wait_true, Sender};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Runs blocking HTTP calls (the test server's client) outside the browser's runtime.
fn off<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().expect("blocking call"))
}

/// A webhook receiver on a random loopback port that answers 200 and keeps every JSON body.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    keep.lock().expect("lock").push(v);
                }
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[test]
fn webhooks_are_added_tested_and_removed_in_the_ui_and_deliveries_are_logged() {
    let _g = serial();
    let server = TestServer::start();
    let (url, got) = receiver();
    rt().block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        b.route("#/webhooks").await.expect("route");
        wait_text(&b, "#webhook-empty", "No destination yet").await;
        b.click("#webhook-add").await.unwrap();
        for (css, text) in [("#wh-name", "team-json"), ("#wh-url", &format!("{url}/hook/SECRETPATH")), ("#wh-secret", "s3cret")] {
            b.wait_find(css, T).await.unwrap().send_keys(text).await.unwrap();
        }
        b.js("const f = document.querySelector('#wh-format'); f.value = 'json'; f.dispatchEvent(new Event('change'));")
            .await
            .unwrap();
        b.js("document.querySelector('#webhook-form button[type=submit]').click()")
            .await
            .unwrap();
        let card = "article.webhook[data-name='team-json']";
        wait_text(&b, card, "JSON, signed").await;
        // The URL's path (a credential for Slack) is not shown back.
        let shown = b
            .js_args("return document.querySelector(arguments[0]).textContent", vec![json!(card)])
            .await
            .unwrap();
        assert!(!shown.as_str().unwrap_or("").contains("SECRETPATH"), "{shown}");
        assert!(shown.as_str().unwrap_or("").contains("added by operator"), "{shown}");

        // "Send test" posts now and says so.
        b.js_args(
            "document.querySelector(arguments[0] + ' [data-action=test]').click()",
            vec![json!(card)],
        )
        .await
        .unwrap();
        wait_text(&b, &format!("{card} .webhook-test-result"), "Delivered").await;
        assert_eq!(got.lock().expect("lock")[0]["kind"], "test");

        // A failed session is delivered and shows in the log.
        off(|| {
            let s = Sender::new(&server, "box", "/tmp/proj");
            s.start();
            s.send("StopFailure", json!({"error": "rate_limit"}));
            s.send("SessionEnd", json!({"reason": "other"}));
        });
        wait_text(&b, "#delivery-rows", "team-json").await;
        wait_text(&b, "#delivery-rows", "delivered").await;
        assert!(got
            .lock()
            .expect("lock")
            .iter()
            .any(|v| v["kind"] == "session_failed"));
        let shot = b.screenshot("webhooks").await.unwrap();
        copy_to_docs(&shot);

        // Removing asks first, then the destination is gone (also for the API).
        b.js("window.confirm = () => true").await.unwrap();
        b.js_args(
            "document.querySelector(arguments[0] + ' [data-action=remove]').click()",
            vec![json!(card)],
        )
        .await
        .unwrap();
        wait_text(&b, "#webhook-empty", "No destination yet").await;
        assert_eq!(off(|| server.get("/api/notify/destinations")), json!([]));
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
}

#[test]
fn a_call_held_at_the_budget_is_released_by_raising_the_limit_in_the_modal() {
    let _g = serial();
    let server = TestServer::start();
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "Tight budget", "budget_usd": 0.01}),
    );
    assert_eq!(status, 201);
    let task_id = task["id"].as_str().expect("id").to_string();
    let agent = Sender::for_task(&server, "box", "/tmp/proj", &task_id);
    agent.start();
    let claude = agent.envelope("Stop", json!({}))["payload"]["session_id"]
        .as_str()
        .expect("claude id")
        .to_string();
    // The session spent 2 cents (Claude Code's own export).
    let export = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "body": {"stringValue": "claude_code.api_request"},
        "attributes": [
            {"key": "event.name", "value": {"stringValue": "api_request"}},
            {"key": "session.id", "value": {"stringValue": claude}},
            {"key": "event.timestamp", "value": {"stringValue": "2026-12-03T10:00:00Z"}},
            {"key": "model", "value": {"stringValue": "claude-test"}},
            {"key": "cost_usd", "value": {"doubleValue": 0.02}}]}]}]}]});
    let resp = server
        .client()
        .post(format!("{}/v1/logs", server.url))
        .bearer_auth(INGEST_TOKEN)
        .json(&export)
        .send()
        .expect("export");
    assert_eq!(resp.status().as_u16(), 200);

    rt().block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        b.route("#/board").await.expect("route");
        let held = agent.envelope(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo build --release"}}),
        );
        let url = format!("{}/api/webhooks/hook-event", server.url);
        let hook = std::thread::spawn(move || {
            let resp = reqwest::blocking::Client::new()
                .post(url)
                .bearer_auth(INGEST_TOKEN)
                .header("x-maestro-wait-ms", "60000")
                .timeout(Duration::from_secs(90))
                .json(&held)
                .send()
                .expect("held call");
            resp.json::<Value>().expect("answer")
        });
        let card = format!(".card[data-task-id='{task_id}']");
        wait_text(
            &b,
            &format!("{card} .blocked-badge"),
            "cargo build --release",
        )
        .await;
        b.click(&format!("{card} .blocked-badge")).await.unwrap();
        wait_text(&b, "dialog[open]", "Budget reached").await;
        wait_text(&b, "dialog[open]", "budget reached: $0.02 of $0.01").await;
        // A limit below the spend is refused in the modal, which stays open.
        let set = "const i = document.querySelector('#approval-budget'); i.value = arguments[0];";
        b.js_args(set, vec![json!("0.015")]).await.unwrap();
        b.click("#approval-raise").await.unwrap();
        wait_text(
            &b,
            "dialog[open] .dialog-error",
            "must be above what the task has spent",
        )
        .await;
        let shot = b.screenshot("budget-hold").await.unwrap();
        copy_to_docs(&shot);
        b.js_args(set, vec![json!("5")]).await.unwrap();
        b.click("#approval-raise").await.unwrap();
        wait_true(
            &b,
            "the modal to close",
            "return !document.querySelector('dialog[open]')",
            vec![],
        )
        .await;
        // `cargo build` runs code: the policy leaves it to Claude Code's own prompt, so lifting
        // the budget hold prints nothing (no allow the policy would not have given).
        let answer = hook.join().expect("hook thread");
        assert!(answer["stdout"].is_null(), "{answer}");
        let approvals = off(|| server.get(&format!("/api/approvals?task_id={task_id}")));
        assert_eq!(approvals[0]["rule_id"], "hold.budget.ask", "{approvals}");
        assert_eq!(approvals[0]["status"], "approved", "{approvals}");
        assert_eq!(
            off(|| server.get(&format!("/api/tasks/{task_id}")))["budget_usd"],
            5.0
        );
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
}
