//! Retention: raw event payloads older than the configured age are dropped, while tasks,
//! sessions, metrics and timelines stay exactly as they were.

use maestro_tests::envelopes::{envelope, sequence, with_session};
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use serde_json::Value;
use std::time::Duration;

#[test]
fn old_raw_payloads_are_dropped_and_sessions_metrics_timelines_stay() {
    let server = TestServer::start_with_env(&[
        ("MAESTRO_RETENTION_SECS", "1"),
        ("MAESTRO_RETENTION_INTERVAL_SECS", "1"),
    ]);
    // A task the session is attached to.
    let (status, task) = server.post(
        "/api/tasks",
        &serde_json::json!({"title": "retention", "description": "kept"}),
    );
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().expect("task id").to_string();

    // A whole captured session (start, prompt, tool calls, stop).
    let claude_id = "retention-0000-4000-8000-000000000001";
    let mut session_id = None;
    let mut ids = Vec::new();
    for c in sequence("core") {
        let env = envelope(&with_session(&c.payload, claude_id), chrono::Utc::now());
        let (status, body) = server.ingest(&env);
        assert_eq!(status, 200, "{body}");
        session_id = body["session_id"].as_str().map(str::to_string);
        ids.push(env["event_id"].as_str().expect("id").to_string());
    }
    let session_id = session_id.expect("a session");
    let resp = server
        .client()
        .patch(format!("{}/api/sessions/{session_id}", server.url))
        .bearer_auth(maestro_tests::server::OPERATOR_TOKEN)
        .json(&serde_json::json!({"task_id": task_id}))
        .send()
        .expect("PATCH");
    assert!(resp.status().is_success(), "attach: {}", resp.status());

    let event = |id: &str| server.get(&format!("/api/events/{id}"));
    assert!(
        event(&ids[0])["envelope"].is_object(),
        "the raw payload is there at first"
    );
    let timeline = server.get(&format!("/api/sessions/{session_id}/timeline?limit=1000"));
    let metrics = server.get(&format!("/api/sessions/{session_id}/metrics"));
    let task_timeline = server.get(&format!("/api/tasks/{task_id}/timeline?limit=1000"));
    let task_metrics = server.get(&format!("/api/tasks/{task_id}/metrics"));
    assert!(
        timeline.as_array().is_some_and(|t| !t.is_empty()),
        "a timeline: {timeline}"
    );

    // Retention runs every second and drops payloads older than a second.
    wait_for(
        "retention to drop the raw payloads",
        Duration::from_secs(60),
        || {
            ids.iter()
                .all(|id| event(id)["envelope"].is_null())
                .then_some(())
        },
    );

    // The events themselves are still listed (ids, names, times), only the payload is gone.
    let listed = server.get(&format!("/api/events?session_id={session_id}&limit=1000"));
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), ids.len(), "every event row stays");
    assert!(listed.iter().all(|e| e["envelope"].is_null()));

    // Sessions, tasks, metrics and timelines are untouched.
    let session = server.get(&format!("/api/sessions/{session_id}"));
    assert_eq!(session["id"], session_id.as_str());
    assert_eq!(session["task_id"], task_id.as_str());
    let same = |path: &str, before: &Value| {
        let after = server.get(path);
        assert_eq!(&after, before, "{path} changed after retention");
    };
    same(
        &format!("/api/sessions/{session_id}/timeline?limit=1000"),
        &timeline,
    );
    same(&format!("/api/sessions/{session_id}/metrics"), &metrics);
    same(
        &format!("/api/tasks/{task_id}/timeline?limit=1000"),
        &task_timeline,
    );
    same(&format!("/api/tasks/{task_id}/metrics"), &task_metrics);
    assert_eq!(
        server.get(&format!("/api/tasks/{task_id}"))["title"],
        "retention"
    );

    // A new event keeps its payload until it is old enough.
    let fresh = envelope(
        &with_session(&sequence("core")[0].payload, "retention-fresh"),
        chrono::Utc::now(),
    );
    let (status, _) = server.ingest(&fresh);
    assert_eq!(status, 200);
    let fresh_id = fresh["event_id"].as_str().expect("id");
    // Read right away; on a very slow machine retention may already have run: only check
    // that it is then null, never damaged.
    let got = event(fresh_id);
    assert!(got["envelope"].is_object() || got["envelope"].is_null());
}

#[test]
fn a_size_limit_keeps_only_the_newest_payloads() {
    // Room for about four of these ~1.3 KB envelopes.
    let server = TestServer::start_with_env(&[
        ("MAESTRO_RETENTION_MAX_BYTES", "6000"),
        ("MAESTRO_RETENTION_INTERVAL_SECS", "1"),
    ]);
    let mut ids = Vec::new();
    for n in 0..20 {
        let payload = serde_json::json!({
            "session_id": "retention-size-0000-4000-8000-000000000001",
            "transcript_path": "/tmp/t.jsonl",
            "cwd": "/tmp",
            "hook_event_name": "PostToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": format!("echo {n}")},
            "tool_response": {"stdout": "x".repeat(1000)},
            "tool_use_id": format!("toolu_size_{n:03}"),
        });
        let env = envelope(&payload, chrono::Utc::now());
        let (status, body) = server.ingest(&env);
        assert_eq!(status, 200, "{body}");
        ids.push(env["event_id"].as_str().expect("id").to_string());
    }
    let kept = |server: &TestServer| -> Vec<bool> {
        ids.iter()
            .map(|id| server.get(&format!("/api/events/{id}"))["envelope"].is_object())
            .collect()
    };
    let state = wait_for(
        "retention to enforce the size limit",
        Duration::from_secs(60),
        || {
            let k = kept(&server);
            (!k[0]).then_some(k)
        },
    );
    // The oldest are cleared, the newest kept, with no hole: a prefix is gone.
    let first_kept = state.iter().position(|k| *k).expect("the newest are kept");
    assert!(
        state[first_kept..].iter().all(|k| *k),
        "only a prefix is cleared: {state:?}"
    );
    let kept_n = state.len() - first_kept;
    assert!(
        (2..=5).contains(&kept_n),
        "about 6,000 bytes of payloads are kept, here {kept_n} events: {state:?}"
    );
}

/// Seq and type of every feed message the server replays to a client resuming from 0.
fn replayed(server: &TestServer) -> Vec<(i64, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut ws = maestro_tests::ws::connect(server.port, Some(0))
            .await
            .expect("connect");
        let mut out = Vec::new();
        loop {
            let m = maestro_tests::ws::next_json(&mut ws, Duration::from_secs(10)).await;
            let kind = m["type"].as_str().unwrap_or_default().to_string();
            if kind == "ready" {
                return out;
            }
            out.push((m["seq"].as_i64().expect("seq"), kind));
        }
    })
}

/// Stores a malformed event (no session, so its `hook:event` is the only feed message it
/// makes) and returns its seq.
fn ingest_malformed(server: &TestServer) -> i64 {
    let mut env = envelope(&serde_json::json!({}), chrono::Utc::now());
    env["parse_error"] = Value::String("stdin was not JSON".into());
    let (status, body) = server.ingest(&env);
    assert_eq!(status, 200, "{body}");
    assert!(body["session_id"].is_null(), "no session: {body}");
    body["seq"].as_i64().expect("seq")
}

/// Retention never deletes the newest feed message, even when it is old, so the largest seq in
/// `feed` stays the high-water mark (older builds numbered new messages after it, and deleting
/// it handed its seq out again: the next event collided with the stored event of that seq; the
/// writer's own counter now also prevents that, see the next test). Here the two messages are
/// the `hook:event`s of malformed events, and the server then idles past the age limit: the
/// older one is deleted, the newest kept.
#[test]
fn retention_keeps_the_newest_feed_message_so_seqs_never_repeat() {
    let server = TestServer::start_with_env(&[
        ("MAESTRO_RETENTION_SECS", "1"),
        ("MAESTRO_RETENTION_INTERVAL_SECS", "1"),
    ]);
    let (older, newest) = (ingest_malformed(&server), ingest_malformed(&server));
    let kept = wait_for(
        "retention to delete the older feed message",
        Duration::from_secs(60),
        || {
            let r = replayed(&server);
            (!r.iter().any(|(s, _)| *s == older)).then_some(r)
        },
    );
    assert_eq!(
        kept,
        vec![(newest, "hook:event".to_string())],
        "only the newest message is left"
    );
    let fresh = envelope(
        &with_session(&sequence("core")[0].payload, "retention-seq"),
        chrono::Utc::now(),
    );
    let (status, body) = server.ingest(&fresh);
    assert_eq!(status, 200, "a new event after retention is stored: {body}");
    let seq = body["seq"].as_i64().expect("seq");
    assert!(seq > newest, "seqs only grow: {seq} after {newest}");
}

/// A database an older build's retention damaged (its newest feed messages deleted while their
/// events stayed) keeps working after a restart: the writer hands out seqs after the largest
/// one in `feed` or `events`, so a new event never collides with a stored one, and seqs only
/// grow. (Before, SQLite picked `MAX(feed.seq) + 1`, which here is the stored event's seq: every
/// event failed with 503 until something else wrote a feed message.)
#[test]
fn a_database_missing_its_newest_feed_messages_still_stores_new_events() {
    if maestro_tests::server::skip_on_postgres(
        "a_database_missing_its_newest_feed_messages_still_stores_new_events",
    ) {
        return;
    }
    let mut server = TestServer::start();
    ingest_malformed(&server);
    let mut last = ingest_malformed(&server);
    server.stop();
    let db = server.data_dir.join("maestro.db");
    {
        let conn = rusqlite::Connection::open(&db).expect("open db");
        let deleted = conn
            .execute("DELETE FROM feed WHERE seq >= ?1", [last])
            .expect("delete the newest feed messages");
        assert!(deleted >= 1, "the newest message was there");
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM events WHERE seq = ?1", [last], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(stored, 1, "its event stays");
    }
    server.restart();
    for _ in 0..2 {
        let env = envelope(
            &with_session(&sequence("core")[0].payload, "damaged-feed"),
            chrono::Utc::now(),
        );
        let (status, body) = server.ingest(&env);
        assert_eq!(status, 200, "a new event is stored: {body}");
        let seq = body["seq"].as_i64().expect("seq");
        assert!(seq > last, "seqs only grow: {seq} after {last}");
        last = seq;
    }
    assert_eq!(
        server.get("/healthz")["status"],
        "ok",
        "the store is healthy"
    );
}
