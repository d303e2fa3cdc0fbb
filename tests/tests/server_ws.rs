//! The WebSocket feed: resume with `since`, slow clients, auth and origin checks.

use futures_util::SinkExt;
use maestro_tests::envelopes::envelope;
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use maestro_tests::ws::{self, Ws};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Bound on any wait for a message.
const MSG_BOUND: Duration = Duration::from_secs(30);

async fn connect(server: &TestServer, since: Option<i64>) -> Ws {
    ws::connect(server.port, since).await.expect("connect")
}

async fn next_json(ws: &mut Ws) -> Value {
    ws::next_json(ws, MSG_BOUND).await
}

async fn post(server_url: &str, client: &reqwest::Client, env: &Value) {
    let resp = client
        .post(format!("{server_url}/api/webhooks/hook-event"))
        .bearer_auth(INGEST_TOKEN)
        .json(env)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
}

fn event(i: usize) -> Value {
    envelope(
        &json!({"session_id": format!("ws-{}", i % 7), "hook_event_name": "PostToolUse",
            "tool_name": "Bash", "tool_use_id": format!("toolu_{i}"),
            "tool_input": {"command": format!("echo {i}")}, "tool_response": {"stdout": "x"}}),
        chrono::Utc::now(),
    )
}

/// Reads until the `count` hook events posted are all seen; checks seqs are gap-free and
/// never repeated; returns the last seq and the event ids in order.
async fn read_events(ws: &mut Ws, mut last: i64, count: usize) -> (i64, Vec<String>) {
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    while ids.len() < count {
        let m = next_json(ws).await;
        let seq = m["seq"].as_i64().expect("seq");
        if seq == 0 {
            continue; // control message
        }
        assert!(seen.insert(seq), "seq {seq} delivered twice");
        assert_eq!(seq, last + 1, "gap or reorder after {last}");
        last = seq;
        if m["type"] == "hook:tool_use" {
            ids.push(
                m["data"]["event_id"]
                    .as_str()
                    .expect("event id")
                    .to_string(),
            );
        }
    }
    (last, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_since_gets_exactly_the_missed_messages() {
    let server = tokio::task::spawn_blocking(TestServer::start)
        .await
        .expect("server");
    let http = reqwest::Client::new();
    let mut ws = connect(&server, Some(0)).await;
    let ready = next_json(&mut ws).await;
    assert_eq!(ready["type"], "ready");
    let start = ready["data"]["seq"].as_i64().expect("seq");
    for i in 0..10 {
        post(&server.url, &http, &event(i)).await;
    }
    let (last, _) = read_events(&mut ws, start, 10).await;
    ws.close(None).await.expect("close");

    // 500 events while disconnected.
    let mut posted = Vec::new();
    for i in 10..510 {
        let e = event(i);
        posted.push(e["event_id"].as_str().expect("id").to_string());
        post(&server.url, &http, &e).await;
    }
    let mut ws = connect(&server, Some(last)).await;
    let (last2, ids) = read_events(&mut ws, last, 500).await;
    assert_eq!(ids, posted, "exactly the missed events, in order");
    // Then live again, still without gaps.
    post(&server.url, &http, &event(999)).await;
    let (_, live) = read_events(&mut ws, last2, 1).await;
    assert_eq!(live.len(), 1);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_gets_everything_without_growing_server_memory() {
    let server = tokio::task::spawn_blocking(TestServer::start)
        .await
        .expect("server");
    let pid = server.pid().expect("pid");
    let http = reqwest::Client::new();
    // Warm up with as many events as the measured run, without any client: the live ring,
    // the database page cache and the allocator reach their working size first.
    let n = 6000;
    for i in 0..n {
        post(&server.url, &http, &event(i)).await;
    }
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut ws = connect(&server, None).await;
        let ready = next_json(&mut ws).await;
        let start = ready["data"]["seq"].as_i64().expect("seq");
        slow.push((ws, start));
    }
    let rss_before = rss_kib(pid);
    // The slow clients read nothing while 6,000 events (well over the live ring) arrive.
    let mut posted = Vec::with_capacity(n);
    for i in 0..n {
        let e = event(10_000 + i);
        posted.push(e["event_id"].as_str().expect("id").to_string());
        post(&server.url, &http, &e).await;
    }
    let rss_mid = rss_kib(pid);
    for (ws, start) in &mut slow {
        let (_, ids) = read_events(ws, *start, n).await;
        assert_eq!(
            ids, posted,
            "a slow client still receives every event, in order"
        );
    }
    // Memory: the server does not buffer per client; growth stays far below the ~20 MB per
    // client that a queue of these messages would take (40 MB for the two).
    let growth = rss_mid.saturating_sub(rss_before);
    assert!(
        growth < 16 * 1024,
        "server RSS grew by {growth} KiB while two clients lagged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_needs_the_operator_token_and_a_same_origin() {
    let server = tokio::task::spawn_blocking(TestServer::start)
        .await
        .expect("server");
    let base = format!("ws://127.0.0.1:{}/ws", server.port);
    // No credential.
    let err = tokio_tungstenite::connect_async(base.clone())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");
    // Ingest token.
    let mut req = base.clone().into_client_request().expect("req");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {INGEST_TOKEN}").parse().expect("h"),
    );
    let err = tokio_tungstenite::connect_async(req)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("403"), "{err}");
    // Foreign origin with a valid token (a malicious page the operator visits).
    let mut req = format!("{base}?token={OPERATOR_TOKEN}")
        .into_client_request()
        .expect("req");
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().expect("h"));
    let err = tokio_tungstenite::connect_async(req)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("403"), "{err}");
    // Same origin is fine.
    let mut req = format!("{base}?token={OPERATOR_TOKEN}")
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "origin",
        format!("http://127.0.0.1:{}", server.port)
            .parse()
            .expect("h"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("accepted");
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    ws.send(Message::Close(None)).await.expect("close");
}

/// Live counts: every hook event's feed message carries its session's event count, so headers
/// and lists follow the feed although the session itself is only re-sent when it changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hook_message_carries_its_sessions_live_event_count() {
    let server = tokio::task::spawn_blocking(TestServer::start)
        .await
        .expect("server");
    let http = reqwest::Client::new();
    let mut ws = connect(&server, Some(0)).await;
    let ready = next_json(&mut ws).await;
    assert_eq!(ready["type"], "ready");
    // Session ws-0 gets events 0, 7, 14: counts 1, 2, 3.
    for i in [0, 7, 14] {
        post(&server.url, &http, &event(i)).await;
    }
    let mut counts = Vec::new();
    while counts.len() < 3 {
        let m = next_json(&mut ws).await;
        if m["type"] == "hook:tool_use" {
            counts.push(m["data"]["session_event_count"].as_i64().expect("count"));
        }
    }
    assert_eq!(counts, vec![1, 2, 3]);
}
