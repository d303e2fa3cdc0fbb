//! Attack surface of the real server and hook: the webhook's credential and content type, the
//! `Host` check (DNS rebinding), token strength at start, login throttling, and private file
//! modes for the database and the hook's spool.

mod hook_support;

use hook_support::{closed_port, HookEnv};
use maestro_tests::envelopes::envelope;
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use maestro_tests::{bin_path, wait_for};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn hook_event_url(server: &TestServer) -> String {
    format!("{}/api/webhooks/hook-event", server.url)
}

fn an_envelope() -> serde_json::Value {
    envelope(
        &json!({
            "session_id": "11111111-2222-3333-4444-555555555555",
            "hook_event_name": "SessionStart",
            "cwd": "/tmp",
            "source": "startup"
        }),
        chrono::Utc::now(),
    )
}

#[test]
fn the_webhook_takes_only_the_ingest_token_as_json() {
    let server = TestServer::start();
    let http = server.client();
    let body = serde_json::to_vec(&an_envelope()).expect("json");
    let post = |req: reqwest::blocking::RequestBuilder| {
        let resp = req.body(body.clone()).send().expect("post");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, text)
    };

    // The operator's login cookie (what a page on another local port rides on) is refused.
    let (status, text) = post(
        http.post(hook_event_url(&server))
            .header("cookie", format!("maestro_auth={OPERATOR_TOKEN}"))
            .header("content-type", "application/json"),
    );
    assert_eq!(status, 401, "{text}");
    // So is the operator token as a bearer: events come from hooks only.
    let (status, text) = post(
        http.post(hook_event_url(&server))
            .bearer_auth(OPERATOR_TOKEN)
            .header("content-type", "application/json"),
    );
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("ingest token"), "{text}");
    // The right token with a form content type (no CORS preflight) is refused.
    let (status, text) = post(
        http.post(hook_event_url(&server))
            .bearer_auth(INGEST_TOKEN)
            .header("content-type", "text/plain"),
    );
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("unsupported_media_type"), "{text}");
    let (status, _) = post(http.post(hook_event_url(&server)).bearer_auth(INGEST_TOKEN));
    assert_eq!(status, 415);
    // Nothing above was stored.
    let events = server.get("/api/events");
    assert_eq!(events.as_array().map(Vec::len), Some(0), "{events}");

    // The hook's own request shape is accepted.
    let (status, text) = post(
        http.post(hook_event_url(&server))
            .bearer_auth(INGEST_TOKEN)
            .header("content-type", "application/json; charset=utf-8"),
    );
    assert_eq!(status, 200, "{text}");
}

#[test]
fn a_loopback_server_refuses_foreign_host_headers() {
    let server = TestServer::start_with_env(&[("MAESTRO_ALLOWED_HOSTS", "maestro.internal")]);
    let http = server.client();
    let get = |host: &str, path: &str| {
        http.get(format!("{}{path}", server.url))
            .header("host", host)
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .expect("get")
            .status()
            .as_u16()
    };
    let port = server.port;
    for path in ["/healthz", "/api/tasks", "/"] {
        assert_eq!(get("evil.example", path), 421, "{path}");
        assert_eq!(get(&format!("evil.example:{port}"), path), 421, "{path}");
        assert_eq!(get(&format!("127.0.0.1.evil.example:{port}"), path), 421);
        assert_eq!(get(&format!("localhost:{port}"), path), 200, "{path}");
        assert_eq!(get(&format!("127.0.0.1:{port}"), path), 200, "{path}");
        assert_eq!(get(&format!("[::1]:{port}"), path), 200, "{path}");
        assert_eq!(get("MAESTRO.internal", path), 200, "{path}");
    }
    // The webhook too: a rebinding page cannot post events.
    let resp = http
        .post(hook_event_url(&server))
        .header("host", "evil.example")
        .bearer_auth(INGEST_TOKEN)
        .json(&an_envelope())
        .send()
        .expect("post");
    assert_eq!(resp.status().as_u16(), 421);
}

#[test]
fn short_tokens_stop_the_start_with_a_clear_error() {
    for (var, other) in [
        ("MAESTRO_INGEST_TOKEN", "MAESTRO_OPERATOR_TOKEN"),
        ("MAESTRO_OPERATOR_TOKEN", "MAESTRO_INGEST_TOKEN"),
    ] {
        let tmp = tempfile::tempdir().expect("tmp");
        let out = std::process::Command::new(bin_path("maestro-server"))
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .env(var, "short-token-31-bytes-0123456789")
            .env(other, "a-strong-enough-token-0123456789abcdef")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run server");
        assert!(!out.status.success(), "{var}: started with a short token");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("env {var}")) && err.contains("at least 32 bytes"),
            "{var}: {err}"
        );
    }
}

#[test]
fn failed_logins_are_throttled() {
    let server = TestServer::start();
    let http = server.client();
    let login = |token: &str| {
        http.post(format!("{}/api/login", server.url))
            .json(&json!({"token": token}))
            .send()
            .expect("login")
    };
    assert_eq!(login(OPERATOR_TOKEN).status().as_u16(), 204);
    let mut statuses = Vec::new();
    for i in 0..10 {
        statuses.push(login(&format!("guess-{i}")).status().as_u16());
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // Now even the right token waits: a guesser cannot tell a hit from the throttle.
    let resp = login(OPERATOR_TOKEN);
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    // Bearer-token API use is not affected.
    let tasks = server.get("/api/tasks");
    assert!(tasks.is_array());
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_database_and_the_spool_are_private() {
    if maestro_tests::server::skip_on_postgres("the_database_and_the_spool_are_private") {
        return;
    }
    let server = TestServer::start();
    let (status, body) = server.ingest(&an_envelope());
    assert_eq!(status, 200, "{body}");
    let db = server.data_dir.join("maestro.db");
    let wal = server.data_dir.join("maestro.db-wal");
    wait_for("the WAL to exist", Duration::from_secs(10), || {
        wal.exists().then_some(())
    });
    assert_eq!(mode_of(&db), 0o600, "maestro.db");
    assert_eq!(mode_of(&wal), 0o600, "maestro.db-wal");

    // An older database made with the default umask is made private at the next start.
    let mut server = server;
    server.stop();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    server.restart();
    wait_for("the server to answer", Duration::from_secs(30), || {
        server
            .client()
            .get(format!("{}/healthz", server.url))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    assert_eq!(mode_of(&db), 0o600, "maestro.db after a restart");

    // The hook's spool (server down): event files, their directory and quarantine reasons.
    let hook = HookEnv::new(&format!("http://127.0.0.1:{}", closed_port()));
    let run = hook.send(&json!({
        "session_id": "s-private",
        "hook_event_name": "PostToolUse",
        "cwd": "/tmp",
        "tool_name": "Bash",
        "tool_input": {"command": "echo secret"},
        "tool_use_id": "toolu_private"
    }));
    run.assert_silent_success("spooling");
    let spooled = hook.spooled();
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    assert_eq!(mode_of(&spooled[0]), 0o600, "spool file");
    let dir = spooled[0].parent().expect("spool dir");
    assert_eq!(mode_of(dir), 0o700, "spool dir");
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn half_open_connections_neither_exhaust_descriptors_nor_starve_the_webhook() {
    const CAP: usize = 64;
    const FLOOD: usize = 400;
    let server = TestServer::start_with_env(&[
        ("MAESTRO_MAX_CONNECTIONS", "64"),
        ("MAESTRO_HEADER_READ_TIMEOUT_MS", "1000"),
    ]);
    let pid = server.pid().expect("pid");
    let baseline = open_fds(pid);
    // Connections that send half a request line and then nothing (slowloris), all at once.
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        use std::io::Write;
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        let _ = tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0");
        flood.push(tcp);
    }
    // The server never holds more of them than its cap ...
    let mut peak = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        peak = peak.max(open_fds(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        peak <= baseline + CAP + 8,
        "server held {peak} descriptors (baseline {baseline}, cap {CAP})"
    );
    // ... and the webhook and /healthz still answer while the flood is still connected: the
    // half-open ones are cut after the header-read timeout and the slots go to real requests.
    let (status, body) = server.ingest(&an_envelope());
    assert_eq!(status, 200, "{body}");
    let health = server
        .client()
        .get(format!("{}/healthz", server.url))
        .send()
        .expect("healthz");
    assert!(health.status().is_success());
    drop(flood);
}

/// Runs the server on `data_dir` expecting it to refuse to start; returns what it printed.
fn refused_start(data_dir: &Path) -> String {
    maestro_tests::server::refused_start(&[
        "--bind".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
}

#[test]
fn a_database_that_does_not_match_its_wal_stops_the_start_and_is_left_alone() {
    if maestro_tests::server::skip_on_postgres(
        "a_database_that_does_not_match_its_wal_stops_the_start_and_is_left_alone",
    ) {
        return;
    }
    let mut server = TestServer::start();
    for i in 0..20 {
        let mut env = an_envelope();
        env["payload"]["source"] = json!(format!("n{i}"));
        let (status, body) = server.ingest(&env);
        assert_eq!(status, 200, "{body}");
    }
    server.kill9();
    let db = server.data_dir.join("maestro.db");
    let wal = server.data_dir.join("maestro.db-wal");
    let wal_bytes = std::fs::read(&wal).expect("wal");
    assert!(wal_bytes.len() > 32, "the WAL holds the events");

    // An empty database file next to the WAL (restored without it, or replaced).
    let original = std::fs::read(&db).expect("db");
    std::fs::write(&db, b"").expect("empty db");
    let err = refused_start(&server.data_dir);
    assert!(
        err.contains("does not belong to this WAL") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(std::fs::read(&wal).expect("wal"), wal_bytes, "WAL touched");
    assert_eq!(std::fs::metadata(&db).expect("db").len(), 0, "db touched");

    // A WAL whose header is garbage.
    std::fs::write(&db, &original).expect("restore db");
    let mut bad = wal_bytes.clone();
    bad[..4].copy_from_slice(b"JUNK");
    std::fs::write(&wal, &bad).expect("bad wal");
    let err = refused_start(&server.data_dir);
    assert!(err.contains("not a SQLite WAL"), "{err}");
    assert_eq!(std::fs::read(&wal).expect("wal"), bad, "WAL touched");

    // With the matching pair back, everything is there.
    std::fs::write(&wal, &wal_bytes).expect("restore wal");
    server.restart();
    let events = server.get("/api/events?limit=100");
    assert_eq!(events.as_array().map(Vec::len), Some(20), "{events}");
}

#[test]
fn a_read_only_database_is_reported_at_start() {
    if maestro_tests::server::skip_on_postgres("a_read_only_database_is_reported_at_start") {
        return;
    }
    let mut server = TestServer::start();
    let (status, body) = server.ingest(&an_envelope());
    assert_eq!(status, 200, "{body}");
    server.stop();
    let db = server.data_dir.join("maestro.db");
    // File modes do not stop root (CI runs as root); the immutable attribute does.
    let guard = maestro_tests::Immutable::make(&db);
    if guard.is_none() {
        // The readonly mode bits work for everyone else.
        assert!(
            unsafe { libc::geteuid() } != 0,
            "cannot make the database read-only for root here (chattr +i failed)"
        );
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    }
    server.restart();
    let health = server
        .client()
        .get(format!("{}/healthz", server.url))
        .send()
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 503);
    let body: serde_json::Value = health.json().expect("json");
    assert_eq!(body["status"], "degraded", "{body}");
    let error = body["store"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("read-only"), "{body}");
}

#[test]
fn a_task_policy_override_that_cannot_load_holds_instead_of_failing_open() {
    let mut server = TestServer::start_with_env(&[("MAESTRO_HOLD_TIMEOUT_MS", "1000")]);
    // Creating a task with a broken override is refused like updating one.
    let (status, body) = server.post(
        "/api/tasks",
        &json!({"title": "broken", "policy": "[[rule]]\noutcome = 7"}),
    );
    assert_eq!(status, 422, "{body}");
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "strict", "policy":
            "[[rule]]\nid = \"deny-ls\"\ntool = \"Bash\"\ncommand = \"ls*\"\noutcome = \"deny\"\n"}),
    );
    assert_eq!(status, 201, "{task}");
    let tid = task["id"].as_str().expect("id").to_string();
    // An override that no longer loads (written by an older build, edited by hand, ...).
    server.stop();
    match maestro_tests::server::database_for(&server.data_dir) {
        Some(url) => {
            assert!(tid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            let sql = format!("UPDATE tasks SET policy = E'[[rule]]\\nid = 3' WHERE id = '{tid}'");
            maestro_testpg::psql(&url, &sql).expect("break the override");
        }
        None => {
            let db = rusqlite::Connection::open(server.data_dir.join("maestro.db")).expect("db");
            db.execute(
                "UPDATE tasks SET policy = ?1 WHERE id = ?2",
                rusqlite::params!["[[rule]]\nid = 3", tid],
            )
            .expect("break the override");
        }
    }
    server.restart();
    // `ls` is allowed by the base policy, denied by the task's: it must not be allowed.
    let mut env = envelope(
        &json!({"session_id": "c-broken", "hook_event_name": "PreToolUse", "cwd": "/tmp",
            "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "toolu_broken"}),
        chrono::Utc::now(),
    );
    env["maestro"] = json!({"session_id": "s_broken", "task_id": tid});
    let (status, answer) = server.ingest(&env);
    assert_eq!(status, 200, "{answer}");
    let printed = answer["stdout"].as_str().unwrap_or_default();
    assert!(!printed.contains("\"allow\""), "allowed: {answer}");
    let approvals = server.get("/api/approvals");
    let held = approvals
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["rule_id"] == "hold.task-policy-unavailable")
        })
        .cloned()
        .unwrap_or_else(|| panic!("no hold for the broken override: {approvals}"));
    assert!(
        held["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot be used"),
        "{held}"
    );
}

#[test]
fn hook_status_checks_the_token_with_the_server() {
    let server = TestServer::start();
    let mut hook = HookEnv::for_server(&server);
    let run = hook.run(&["status"], b"");
    assert!(
        run.out().contains("accepted by the server"),
        "{}",
        run.out()
    );
    hook.set(
        "MAESTRO_TOKEN",
        "a-wrong-token-that-is-long-enough-0123456789",
    );
    let run = hook.run(&["status"], b"");
    assert!(
        run.out().contains("REJECTED by the server"),
        "{}",
        run.out()
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.out());
    // The check stores nothing.
    let events = server.get("/api/events");
    assert_eq!(events.as_array().map(Vec::len), Some(0), "{events}");
}
