//! Fault: `kill -9` of the server in the middle of a ~1,000 events/s load from real
//! `maestro-hook` processes, then a restart on the same port. The hooks spool while the server
//! is down; after a flush every event is stored exactly once (no loss, no duplicate).

mod hook_support;

use hook_support::{all_events, drain, hook_load, load_payload, HookEnv};
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Events sent in total (bounded load).
const EVENTS: usize = 3000;
/// Concurrent hook "callers".
const WORKERS: usize = 16;
/// Target rate: one event per millisecond.
const PERIOD: Duration = Duration::from_millis(1);

#[test]
fn kill9_under_hook_load_loses_and_duplicates_nothing() {
    let mut server = TestServer::start();
    let mut hook = HookEnv::for_server(&server);
    // Fail fast while the server is down, and let any drainer left behind stop by itself.
    hook.set("MAESTRO_CONNECT_TIMEOUT_MS", "200");
    hook.set("MAESTRO_TIMEOUT_MS", "2000");
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "30");

    let start = Instant::now();
    let mut killed_at = 0;
    let mut restarted_at = 0;
    // ~1,000 events/s overall; the server is killed a third of the way in, restarted at the
    // half.
    hook_load(
        &hook,
        EVENTS,
        WORKERS,
        PERIOD,
        |n| load_payload("kill9", n, 16),
        |done| {
            wait_for("a third of the load", Duration::from_secs(300), || {
                (done.load(Ordering::Relaxed) >= EVENTS / 3).then_some(())
            });
            killed_at = done.load(Ordering::Relaxed);
            server.kill9();
            wait_for("half of the load", Duration::from_secs(300), || {
                (done.load(Ordering::Relaxed) >= EVENTS / 2).then_some(())
            });
            restarted_at = done.load(Ordering::Relaxed);
            server.restart();
        },
    );
    let elapsed = start.elapsed();
    let spooled_after_load = hook.spooled().len();
    eprintln!(
        "{EVENTS} hook calls in {elapsed:?} ({:.0}/s); killed after {killed_at}, restarted \
         after {restarted_at}; {spooled_after_load} still spooled",
        EVENTS as f64 / elapsed.as_secs_f64()
    );
    assert!(
        spooled_after_load > 0 || all_events(&server).len() == EVENTS,
        "events sent while the server was down went somewhere"
    );

    // Deliver what was spooled.
    drain(&hook);

    let events = all_events(&server);
    let mut per_call: HashMap<String, usize> = HashMap::new();
    let mut ids = HashSet::new();
    for e in &events {
        let id = e["event_id"].as_str().expect("event_id").to_string();
        assert!(ids.insert(id.clone()), "event_id {id} stored twice");
        let call = e["envelope"]["payload"]["tool_use_id"]
            .as_str()
            .expect("tool_use_id")
            .to_string();
        *per_call.entry(call).or_default() += 1;
    }
    let missing: Vec<usize> = (0..EVENTS)
        .filter(|n| !per_call.contains_key(&format!("toolu_kill9_{n:05}")))
        .collect();
    assert!(missing.is_empty(), "lost events: {missing:?}");
    let doubled: Vec<(&String, &usize)> = per_call.iter().filter(|(_, c)| **c > 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    assert_eq!(
        events.len(),
        EVENTS,
        "exactly one stored event per hook call"
    );
}
