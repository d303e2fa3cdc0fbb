//! `maestro-hook` with the server down, silent or refusing: events are spooled, never lost,
//! delivered once in capture order when the server is back, bad files are quarantined.

mod hook_support;

use hook_support::{all_events, closed_port, tool_event, HookEnv};
use maestro_shared::Envelope;
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Generous bound for the spool to drain.
const DRAIN_BOUND: Duration = Duration::from_secs(120);

fn wait_spool_empty(hook: &HookEnv) {
    wait_for("the spool to drain", DRAIN_BOUND, || {
        hook.spooled().is_empty().then_some(())
    });
}

#[test]
fn thousand_events_from_eight_processes_survive_an_outage_in_order() {
    const SESSIONS: usize = 8;
    const PER_SESSION: usize = 125;
    let mut server = TestServer::start();
    server.stop();
    let hook = HookEnv::for_server(&server);

    std::thread::scope(|s| {
        for i in 0..SESSIONS {
            let hook = &hook;
            s.spawn(move || {
                let session = format!("sess-{i}");
                for n in 0..PER_SESSION {
                    hook.send(&tool_event(&session, n))
                        .assert_silent_success(&format!("{session} #{n} with the server down"));
                }
            });
        }
    });
    assert_eq!(hook.spooled().len(), SESSIONS * PER_SESSION);
    assert!(hook.quarantined().is_empty());

    server.restart();
    let flush = hook.flush();
    assert_eq!(
        flush.status.code(),
        Some(0),
        "{}{}",
        flush.out(),
        flush.stderr
    );
    wait_spool_empty(&hook);
    assert!(hook.quarantined().is_empty());

    let events = all_events(&server);
    assert_eq!(
        events.len(),
        SESSIONS * PER_SESSION,
        "each event exactly once"
    );
    let mut per_session: HashMap<String, Vec<(i64, String, String)>> = HashMap::new();
    for e in &events {
        let env = &e["envelope"];
        per_session
            .entry(
                env["payload"]["session_id"]
                    .as_str()
                    .expect("sid")
                    .to_string(),
            )
            .or_default()
            .push((
                e["seq"].as_i64().expect("seq"),
                env["captured_at"].as_str().expect("at").to_string(),
                env["payload"]["tool_use_id"]
                    .as_str()
                    .expect("id")
                    .to_string(),
            ));
    }
    assert_eq!(per_session.len(), SESSIONS);
    for (session, mut rows) in per_session {
        rows.sort_by_key(|r| r.0);
        let ids: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        let want: Vec<String> = (0..PER_SESSION)
            .map(|n| format!("toolu_{session}_{n:04}"))
            .collect();
        assert_eq!(ids, want, "{session}: stored out of capture order");
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            rows.iter().map(|r| r.1.parse().expect("rfc3339")).collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "{session}: capture times"
        );
    }

    // A second flush has nothing left to send.
    let again = hook.flush();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(all_events(&server).len(), SESSIONS * PER_SESSION);
}

#[test]
fn silent_server_makes_the_hook_give_up_and_spool() {
    // Accepts connections (kernel backlog) and never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let mut hook = HookEnv::new(&url);
    hook.set("MAESTRO_TIMEOUT_MS", "300");
    hook.set("MAESTRO_PRE_TOOL_USE_WAIT_MS", "600");

    let post = hook_support::payload("PostToolUse-Bash.json");
    hook.send(&post)
        .assert_silent_success("post-tool-use to a silent server");
    let pre = hook_support::payload("PreToolUse-Read.json");
    hook.send(&pre)
        .assert_silent_success("pre-tool-use to a silent server");
    assert_eq!(hook.spooled().len(), 2);
    drop(silent);

    // A real server comes up: the spool is delivered exactly once.
    let server = TestServer::start();
    hook.set("MAESTRO_URL", &server.url);
    let flush = hook.flush();
    assert_eq!(
        flush.status.code(),
        Some(0),
        "{}{}",
        flush.out(),
        flush.stderr
    );
    assert!(flush.out().contains("delivered 2"), "{}", flush.out());
    wait_spool_empty(&hook);
    let events = all_events(&server);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["envelope"]["payload"], post);
    assert_eq!(events[1]["envelope"]["payload"], pre);
}

#[test]
fn corrupt_and_refused_spool_files_are_quarantined_and_the_rest_drains() {
    let server = TestServer::start();
    let hook = HookEnv::for_server(&server);
    std::fs::create_dir_all(&hook.spool).expect("spool");
    let mut good = Vec::new();
    for n in 0..3 {
        let mut e = Envelope::new("PostToolUse", tool_event("sess-q", n));
        e.captured_at += chrono::Duration::milliseconds(n as i64 * 10);
        good.push(e);
    }
    for e in &good {
        std::fs::write(
            hook.spool.join(e.spool_name()),
            serde_json::to_vec(e).expect("json"),
        )
        .expect("write");
    }
    // Between the good ones: a torn file and an envelope the server refuses (422).
    let micros = good[0].captured_at.timestamp_micros();
    let corrupt = format!(
        "{:020}-00000000-0000-7000-8000-000000000001.json",
        micros + 1
    );
    std::fs::write(hook.spool.join(&corrupt), br#"{"v":1,"event_id":"#).expect("write");
    let mut refused = Envelope::new("Stop", json!({"hook_event_name": "Stop"}));
    refused.captured_at = good[1].captured_at + chrono::Duration::microseconds(1);
    std::fs::write(
        hook.spool.join(refused.spool_name()),
        serde_json::to_vec(&refused).expect("json"),
    )
    .expect("write");
    assert_eq!(hook.spooled().len(), 5);

    let flush = hook.flush();
    assert_eq!(
        flush.status.code(),
        Some(0),
        "{}{}",
        flush.out(),
        flush.stderr
    );
    assert!(
        flush.out().contains("delivered 3") && flush.out().contains("quarantined 2"),
        "{}",
        flush.out()
    );
    assert!(hook.spooled().is_empty());
    let q = hook.quarantined();
    let names: Vec<String> = q
        .iter()
        .map(|p| p.file_name().expect("n").to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&corrupt), "{names:?}");
    assert!(names.contains(&refused.spool_name()), "{names:?}");
    let reason = |name: &str| {
        std::fs::read_to_string(hook.spool.join("quarantine").join(format!("{name}.reason")))
            .expect("reason file")
    };
    assert!(reason(&corrupt).contains("corrupt"), "{}", reason(&corrupt));
    assert!(reason(&refused.spool_name()).contains("422"));

    let events = all_events(&server);
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["event_id"].as_str().expect("id").to_string())
        .collect();
    let want: Vec<String> = good.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(ids, want, "the good events, once, in capture order");
}

#[test]
fn detached_drainer_delivers_without_holding_the_hooks_pipes() {
    let mut server = TestServer::start();
    server.stop();
    let hook = HookEnv::for_server(&server);
    // run_bounded waits for EOF on stdout/stderr: a drainer that inherited them would keep
    // these calls waiting for its whole life (60 s give-up) and trip the bound below.
    for n in 0..5 {
        let run = hook_support::run_bounded(
            {
                let mut c = std::process::Command::new(maestro_tests::bin_path("maestro-hook"));
                c.arg("post-tool-use")
                    .env_clear()
                    .envs(hook.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                c
            },
            tool_event("sess-d", n).to_string().as_bytes(),
            Duration::from_secs(30),
        );
        run.assert_silent_success("spooling call");
    }
    assert_eq!(hook.spooled().len(), 5);
    server.restart();
    // No flush: the drainer started by the spooling calls retries and delivers.
    wait_spool_empty(&hook);
    let events = all_events(&server);
    assert_eq!(events.len(), 5);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| {
            e["envelope"]["payload"]["tool_use_id"]
                .as_str()
                .expect("id")
        })
        .collect();
    assert_eq!(
        ids,
        (0..5)
            .map(|n| format!("toolu_sess-d_{n:04}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn next_hook_call_restarts_a_drainer_that_gave_up() {
    let port = closed_port();
    let mut hook = HookEnv::new(&format!("http://127.0.0.1:{port}"));
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "0");
    for n in 0..3 {
        hook.send(&tool_event("sess-r", n))
            .assert_silent_success("spooling call");
    }
    assert_eq!(hook.spooled().len(), 3);
    // The drainer gives up at once; wait until it is gone (its lock is free).
    let lock = hook.spool.join(".drainer.lock");
    wait_for("the drainer to give up", DRAIN_BOUND, || {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&lock)
            .ok()?;
        // SAFETY: flock(2) on a file we opened; LOCK_NB never blocks.
        let rc = unsafe {
            use std::os::fd::AsRawFd;
            libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB)
        };
        (rc == 0).then_some(())
    });
    assert_eq!(
        hook.spooled().len(),
        3,
        "nothing is dropped when the drainer gives up"
    );

    let server = TestServer::start();
    hook.set("MAESTRO_URL", &server.url);
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "60");
    hook.send(&tool_event("sess-r", 3))
        .assert_silent_success("live call");
    wait_spool_empty(&hook);
    let events = all_events(&server);
    assert_eq!(events.len(), 4);
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| {
            e["envelope"]["payload"]["tool_use_id"]
                .as_str()
                .expect("id")
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        (0..4)
            .map(|n| format!("toolu_sess-r_{n:04}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn status_reports_spool_and_quarantine() {
    let port = closed_port();
    let hook = HookEnv::new(&format!("http://127.0.0.1:{port}"));
    hook.send(&tool_event("sess-s", 0))
        .assert_silent_success("spooling call");
    let status = hook.run(&["status"], b"");
    let out = status.out();
    assert_eq!(status.status.code(), Some(1), "unreachable server: {out}");
    assert!(out.contains("reachable: no"), "{out}");
    assert!(out.contains("token: MAESTRO_TOKEN"), "{out}");
    assert!(out.contains("1 event(s)"), "{out}");
    assert!(out.contains("quarantine: 0 event(s)"), "{out}");
}

/// An unreadable spool entry (here a directory under a spool file's name: unreadable for root
/// too) is quarantined with its reason and never blocks the files behind it.
#[test]
fn an_unreadable_spool_file_never_blocks_the_ones_behind_it() {
    let server = TestServer::start();
    let hook = HookEnv::for_server(&server);
    std::fs::create_dir_all(&hook.spool).expect("spool");
    let first = Envelope::new("PostToolUse", tool_event("sess-u", 0));
    let mut second = Envelope::new("PostToolUse", tool_event("sess-u", 1));
    second.captured_at = first.captured_at + chrono::Duration::milliseconds(20);
    let unreadable = format!(
        "{:020}-00000000-0000-7000-8000-0000000000aa.json",
        first.captured_at.timestamp_micros() + 1
    );
    std::fs::create_dir(hook.spool.join(&unreadable)).expect("unreadable entry");
    for e in [&first, &second] {
        std::fs::write(
            hook.spool.join(e.spool_name()),
            serde_json::to_vec(e).expect("json"),
        )
        .expect("write");
    }
    let flush = hook.flush();
    assert_eq!(
        flush.status.code(),
        Some(0),
        "{}{}",
        flush.out(),
        flush.stderr
    );
    assert!(flush.out().contains("delivered 2"), "{}", flush.out());
    let reason = std::fs::read_to_string(
        hook.spool
            .join("quarantine")
            .join(format!("{unreadable}.reason")),
    )
    .expect("reason");
    assert!(reason.contains("unreadable"), "{reason}");
    let ids: Vec<String> = all_events(&server)
        .iter()
        .map(|e| e["event_id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        ids,
        vec![first.event_id.to_string(), second.event_id.to_string()]
    );
}

/// With the server down and no room to spool (the spool dir refuses new files, as a full disk
/// does), events are lost: they are counted, `status` says so, and once the server is back the
/// session's timeline says how many were lost on which host.
#[test]
fn events_that_cannot_be_spooled_are_counted_shown_and_reported() {
    let mut hook = HookEnv::new(&format!("http://127.0.0.1:{}", closed_port()));
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "1");
    hook.send(&tool_event("sess-lost", 0))
        .assert_silent_success("spooling the first event");
    assert_eq!(hook.spooled().len(), 1);
    // Files modes do not stop root (CI runs as root); the immutable attribute does.
    let guard = maestro_tests::Immutable::make(&hook.spool)
        .expect("chattr +i is needed to simulate a full spool here");
    for n in 1..=3 {
        hook.send(&tool_event("sess-lost", n))
            .assert_silent_success("an event that cannot be spooled");
    }
    assert_eq!(hook.spooled().len(), 1, "nothing more could be spooled");
    let status = hook.run(&["status"], b"");
    assert!(
        status.out().contains("LOST: 3 event(s)"),
        "{}",
        status.out()
    );
    drop(guard);

    let server = TestServer::start();
    hook.set("MAESTRO_URL", &server.url);
    let flush = hook.flush();
    assert_eq!(
        flush.status.code(),
        Some(0),
        "{}{}",
        flush.out(),
        flush.stderr
    );
    let sessions = server.get("/api/sessions?claude_session_id=sess-lost");
    let sid = sessions[0]["id"].as_str().expect("the session").to_string();
    let timeline = server.get(&format!("/api/sessions/{sid}/timeline"));
    let line = timeline
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|l| {
            l["summary"]
                .as_str()
                .filter(|s| s.contains("events lost on"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no loss line: {timeline:#}"));
    assert!(line.starts_with("3 events lost on "), "{line}");
    assert!(line.contains("not spooled"), "{line}");
    // Reported once: the record is back to zero.
    let status = hook.run(&["status"], b"");
    assert!(!status.out().contains("LOST:"), "{}", status.out());
}
