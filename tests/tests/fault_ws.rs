//! Fault: a slow WebSocket client plus 1,000 connected clients. Server memory stays bounded
//! and every client gets every message, in order, without a gap.

use maestro_tests::envelopes::envelope;
use maestro_tests::server::{TestServer, INGEST_TOKEN};
use maestro_tests::ws::{connect, next_json, Ws};
use serde_json::{json, Value};
use std::time::Duration;

/// Clients that read as fast as they can.
const CLIENTS: usize = 1000;
/// Hook events posted while they are connected.
const EVENTS: usize = 1000;
/// Bound on any wait for a message.
const MSG_BOUND: Duration = Duration::from_secs(120);

/// Raises the open-file limit of this process (and so of the server it spawns) so 1,000
/// sockets on each side fit.
fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < want {
            let new = libc::rlimit {
                rlim_cur: want.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &new);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
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

/// Waits for `ready`, returning the seq the live feed starts after.
async fn ready(ws: &mut Ws) -> i64 {
    loop {
        let m = next_json(ws, MSG_BOUND).await;
        if m["type"] == "ready" {
            return m["data"]["seq"].as_i64().expect("ready seq");
        }
    }
}

/// Reads until `count` hook events arrived; every feed seq must follow the previous one.
/// Returns the event ids in order (or only their count when `keep` is false).
async fn read_all(ws: &mut Ws, mut last: i64, count: usize, keep: bool) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut ids = Vec::new();
    while n < count {
        let m = next_json(ws, MSG_BOUND).await;
        let seq = m["seq"].as_i64().expect("seq");
        if seq == 0 {
            continue;
        }
        assert_eq!(seq, last + 1, "gap, repeat or reorder after seq {last}");
        last = seq;
        if m["type"].as_str().is_some_and(|t| t.starts_with("hook:")) {
            n += 1;
            if keep {
                ids.push(m["data"]["event_id"].as_str().expect("id").to_string());
            }
        }
    }
    (n, ids)
}

fn event(i: usize) -> Value {
    envelope(
        &json!({"session_id": format!("ws-fault-{}", i % 10), "hook_event_name": "PostToolUse",
            "tool_name": "Bash", "tool_use_id": format!("toolu_wsf_{i}"),
            "tool_input": {"command": format!("echo {i}")},
            "tool_response": {"stdout": "z".repeat(300)}}),
        chrono::Utc::now(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_and_a_slow_one_get_everything_with_bounded_memory() {
    let limit = raise_nofile(8192);
    assert!(
        limit as usize > 2 * CLIENTS + 200,
        "the open-file limit ({limit}) cannot be raised enough for {CLIENTS} clients"
    );
    let server = tokio::task::spawn_blocking(TestServer::start)
        .await
        .expect("server");
    let pid = server.pid().expect("pid");
    let port = server.port;
    let http = reqwest::Client::new();
    let post = |env: Value| {
        let http = http.clone();
        let url = format!("{}/api/webhooks/hook-event", server.url);
        async move {
            let resp = http
                .post(url)
                .bearer_auth(INGEST_TOKEN)
                .json(&env)
                .send()
                .await
                .expect("post");
            assert_eq!(resp.status().as_u16(), 200);
        }
    };
    // Warm up the server so allocator arenas exist before measuring.
    for i in 0..200 {
        post(event(100_000 + i)).await;
    }

    // 1,000 fast clients, connected in batches so the accept backlog never overflows.
    let mut clients = Vec::with_capacity(CLIENTS);
    for batch in 0..CLIENTS / 50 {
        let conns: Vec<_> = (0..50)
            .map(|_| async move {
                let mut ws = connect(port, None).await.expect("connect");
                let start = ready(&mut ws).await;
                (ws, start)
            })
            .collect();
        let got = futures_util::future::join_all(conns).await;
        assert_eq!(got.len(), 50, "batch {batch}");
        clients.extend(got);
    }
    // The slow client connects and then reads nothing during the load.
    let mut slow = connect(port, None).await.expect("connect");
    let slow_start = ready(&mut slow).await;
    let rss_connected = rss_kib(pid);

    let readers: Vec<_> = clients
        .into_iter()
        .map(|(mut ws, start)| {
            tokio::spawn(async move { read_all(&mut ws, start, EVENTS, false).await.0 })
        })
        .collect();

    let mut posted = Vec::with_capacity(EVENTS);
    let mut rss_peak = rss_connected;
    for i in 0..EVENTS {
        let e = event(i);
        posted.push(e["event_id"].as_str().expect("id").to_string());
        post(e).await;
        if i % 100 == 0 {
            rss_peak = rss_peak.max(rss_kib(pid));
        }
    }
    for (i, r) in readers.into_iter().enumerate() {
        let n = r.await.expect("reader task");
        assert_eq!(n, EVENTS, "client {i} got every event");
    }
    rss_peak = rss_peak.max(rss_kib(pid));
    // Only now does the slow client read: everything is there, in order.
    let (_, ids) = read_all(&mut slow, slow_start, EVENTS, true).await;
    assert_eq!(ids, posted, "the slow client gets every event, in order");
    let rss_end = rss_kib(pid);
    eprintln!(
        "server RSS: {rss_connected} KiB with {CLIENTS}+1 clients, peak {rss_peak} KiB \
         during {EVENTS} events fanned out to every client, {rss_end} KiB at the end"
    );
    // Bounded: no per-client queue of the whole load (1,001 x 1,000 messages of ~1 KiB would
    // be ~1 GiB); a fixed ring plus socket buffers stays far below that.
    let growth = rss_peak.saturating_sub(rss_connected);
    assert!(
        growth < 128 * 1024,
        "server RSS grew by {growth} KiB during the fan-out"
    );
}
