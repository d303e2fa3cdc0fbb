//! Fault: the database cannot store events (a full disk, a corrupted file). The server says
//! so on `/healthz` and answers 503 (never 200) for what it could not store, so the hook
//! spools those events; everything it acknowledged is really stored.

mod hook_support;

use hook_support::HookEnv;
use maestro_tests::envelopes::envelope;
use maestro_tests::server::{TestServer, OPERATOR_TOKEN};
use serde_json::{json, Value};

fn payload(n: usize) -> Value {
    json!({
        "session_id": format!("store-{}", n % 3),
        "transcript_path": "/home/dev/.claude/projects/p/store.jsonl",
        "cwd": "/home/dev/proj",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": format!("echo {n}")},
        "tool_response": {"stdout": "y".repeat(1500), "stderr": "", "interrupted": false},
        "tool_use_id": format!("toolu_store_{n:05}"),
    })
}

/// `GET path` with the operator token: (status, JSON or Null). Never panics on a status.
fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let resp = server
        .client()
        .get(format!("{}{}", server.url, path))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .expect("GET");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn assert_degraded(server: &TestServer, what: &str) -> Value {
    let (status, body) = get(server, "/healthz");
    assert_eq!(
        status, 503,
        "{what}: /healthz answers 503, got {status} {body}"
    );
    assert_eq!(body["status"], "degraded", "{what}: {body}");
    assert!(
        body["store"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{what}: /healthz says what is wrong: {body}"
    );
    body
}

/// Sends `n` events through real hook processes and checks each one is either stored by the
/// server (it answered 200) or in the spool (it answered 503): none is lost. Returns
/// (stored, spooled).
fn hook_events_are_stored_or_spooled(
    server: &TestServer,
    hook: &HookEnv,
    first: usize,
    n: usize,
) -> (usize, usize) {
    for i in first..first + n {
        hook.send(&payload(i))
            .assert_silent_success(&format!("hook #{i} against a failing store"));
    }
    let spooled: Vec<Value> = hook
        .spooled()
        .iter()
        // A drainer may deliver (and remove) a file while we list: skip those.
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| serde_json::from_slice(&b).expect("spooled JSON"))
        .collect();
    let spooled_calls: Vec<String> = spooled
        .iter()
        .map(|e| {
            e["payload"]["tool_use_id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    let mut stored = 0;
    for i in first..first + n {
        let call = format!("toolu_store_{i:05}");
        if spooled_calls.contains(&call) {
            continue;
        }
        // Not spooled: the server acknowledged it, so it must be stored.
        let found = stored_calls(server).contains(&call);
        assert!(found, "{call} was neither spooled nor stored");
        stored += 1;
    }
    (stored, spooled_calls.len())
}

/// tool_use_ids of every stored event (paged through `/api/events`).
fn stored_calls(server: &TestServer) -> Vec<String> {
    let mut out = Vec::new();
    let mut since = 0i64;
    loop {
        let (status, page) = get(server, &format!("/api/events?since={since}&limit=1000"));
        assert_eq!(status, 200, "listing events: {page}");
        let items = page.as_array().cloned().unwrap_or_default();
        let Some(max) = items.iter().filter_map(|e| e["seq"].as_i64()).max() else {
            return out;
        };
        since = max;
        out.extend(items.iter().filter_map(|e| {
            e["envelope"]["payload"]["tool_use_id"]
                .as_str()
                .map(str::to_string)
        }));
    }
}

#[test]
fn a_full_database_is_reported_and_unstored_events_get_503_and_are_spooled() {
    if maestro_tests::server::skip_on_postgres(
        "a_full_database_is_reported_and_unstored_events_get_503_and_are_spooled",
    ) {
        return;
    }
    // The cap is raised to the current size at open: the first pages that must grow fail.
    let server = TestServer::start_with_env(&[("MAESTRO_SQLITE_MAX_PAGES", "1")]);
    let (status, body) = get(&server, "/healthz");
    assert_eq!(status, 200, "healthy before anything is written: {body}");

    // Fill it: every answer is 200 (stored) or 503 (not stored), never anything else.
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..5000 {
        let env = envelope(&payload(i), chrono::Utc::now());
        let (status, body) = server.ingest(&env);
        match status {
            200 => acked.push(env["event_id"].as_str().expect("id").to_string()),
            503 => {
                assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
                refused = Some(env["event_id"].as_str().expect("id").to_string());
                break;
            }
            other => panic!("event #{i}: unexpected {other} {body}"),
        }
    }
    let refused = refused.expect("the capped database fills up within 5,000 events");
    eprintln!("{} events stored before the database was full", acked.len());
    assert_degraded(&server, "full database");

    // What was refused is not stored; what was acknowledged is.
    let (status, _) = get(&server, &format!("/api/events/{refused}"));
    assert_eq!(status, 404, "the refused event is not stored");
    for id in acked.iter().rev().take(50) {
        let (status, body) = get(&server, &format!("/api/events/{id}"));
        assert_eq!(status, 200, "acknowledged event {id} is stored: {body}");
    }

    // Real hooks: the server answers 503, the hook spools.
    let mut hook = HookEnv::for_server(&server);
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "2");
    let (stored, spooled) = hook_events_are_stored_or_spooled(&server, &hook, 10_000, 5);
    eprintln!("hooks against a full database: {stored} stored, {spooled} spooled");
    assert_eq!(
        spooled, 5,
        "a full database stores nothing more: every hook event spooled"
    );
    assert_degraded(&server, "still full");
}

/// Overwrites bytes inside the pages of the middle third of a stopped server's database.
fn corrupt_middle_pages(db: &std::path::Path) -> usize {
    use std::io::{Seek, SeekFrom, Write};
    // Fold the WAL into the main file first so the damage is not masked by newer frames.
    // Damage the middle third of the timeline's pages: the integrity check finds it, while the
    // events table (which the test reads back to check what was acknowledged) stays readable.
    let (page, victims): (u64, Vec<u64>) = {
        let conn = rusqlite::Connection::open(db).expect("open db");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        let page = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("page size");
        let pages: Vec<u64> = conn
            .prepare("SELECT pageno FROM dbstat WHERE name = 'timeline' ORDER BY pageno")
            .expect("dbstat")
            .query_map([], |r| r.get(0))
            .expect("pages")
            .collect::<rusqlite::Result<_>>()
            .expect("page numbers");
        (page, pages)
    };
    assert!(
        victims.len() > 10,
        "the timeline has pages to corrupt ({})",
        victims.len()
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(db)
        .expect("open for write");
    let garbage: Vec<u8> = b"\xde\xad\xbe\xef".repeat(200);
    let mut n = 0;
    let third = victims.len() / 3;
    for p in &victims[third..2 * third] {
        // Page numbers start at 1.
        f.seek(SeekFrom::Start((p - 1) * page + 100)).expect("seek");
        f.write_all(&garbage).expect("write");
        n += 1;
    }
    f.sync_all().expect("sync");
    n
}

#[test]
fn a_corrupted_database_is_reported_and_never_acknowledges_what_it_did_not_store() {
    if maestro_tests::server::skip_on_postgres(
        "a_corrupted_database_is_reported_and_never_acknowledges_what_it_did_not_store",
    ) {
        return;
    }
    let mut server = TestServer::start();
    for i in 0..400 {
        let (status, body) = server.ingest(&envelope(&payload(i), chrono::Utc::now()));
        assert_eq!(status, 200, "{body}");
    }
    server.stop();
    let damaged = corrupt_middle_pages(&server.data_dir.join("maestro.db"));
    eprintln!("overwrote bytes in {damaged} pages");

    // The server still starts, and says the store is damaged.
    server.restart();
    let health = assert_degraded(&server, "corrupted database");
    eprintln!("healthz: {health}");

    // Direct posts: 200 only for what is really stored, 503 for the rest.
    let (mut ok, mut refused) = (0, 0);
    for i in 1000..1020 {
        let env = envelope(&payload(i), chrono::Utc::now());
        let id = env["event_id"].as_str().expect("id").to_string();
        let (status, body) = server.ingest(&env);
        match status {
            200 => {
                let (s, stored) = get(&server, &format!("/api/events/{id}"));
                assert_eq!(s, 200, "acknowledged {id} must be readable: {stored}");
                ok += 1;
            }
            503 => {
                assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other} {body}"),
        }
    }
    eprintln!("direct posts to the corrupted database: {ok} acknowledged, {refused} refused");

    // Real hooks: none lost; whatever the server refused is in the spool.
    let mut hook = HookEnv::for_server(&server);
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "2");
    let (stored, spooled) = hook_events_are_stored_or_spooled(&server, &hook, 20_000, 5);
    eprintln!("hooks against the corrupted database: {stored} stored, {spooled} spooled");
    if refused > 0 {
        assert!(spooled > 0, "refused events are spooled by the hook");
    }
    // Health stays degraded while the file is damaged.
    assert_degraded(&server, "still corrupted");
}
