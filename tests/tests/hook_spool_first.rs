//! The default delivery of observe-only events (`MAESTRO_HOOK_DELIVERY=spool`): the hook writes
//! the event to the spool and exits; one detached drainer, which lingers between events,
//! forwards it. Every event is on disk or stored when its hook exits, a killed drainer loses
//! nothing, and decisions are still answered by the server before the hook exits.

mod hook_support;

use hook_support::{all_events, tool_event, HookEnv};
use maestro_tests::server::TestServer;
use maestro_tests::{bin_path, wait_for};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(60);

/// A hook environment on the default spool-first path, its drainer lingering 30 s.
fn spool_first(url: &str) -> HookEnv {
    let mut hook = HookEnv::new(url);
    hook.set("MAESTRO_HOOK_DELIVERY", "spool");
    hook.set("MAESTRO_DRAIN_LINGER_SECS", "30");
    hook
}

/// PIDs of the `maestro-hook drain` processes working on `spool` (found by their command line
/// and environment in /proc).
fn drainers(spool: &Path) -> Vec<i32> {
    let bin = bin_path("maestro-hook");
    let want_env = format!("MAESTRO_SPOOL_DIR={}", spool.display());
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
            let is_drainer = args.len() == 2
                && args[1] == b"drain"
                && Path::new(std::str::from_utf8(args[0]).unwrap_or("")) == bin;
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            is_drainer && env.split(|b| *b == 0).any(|kv| kv == want_env.as_bytes())
        })
        .collect()
}

fn tool_use_ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|e| e["envelope"]["payload"]["tool_use_id"].as_str())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_event_is_on_disk_or_stored_at_exit_and_one_lingering_drainer_delivers() {
    const N: usize = 40;
    let server = TestServer::start();
    let hook = spool_first(&server.url);
    let mut early_drainer = None;
    for n in 0..N {
        hook.send(&tool_event("sess-sf", n))
            .assert_silent_success("spool-first call");
        // Spool first, then the server: an event delivered in between is counted twice,
        // never zero times.
        let spooled = hook.spooled().len();
        let stored = all_events(&server).len();
        assert!(
            spooled + stored > n,
            "after hook {n} exited: {spooled} spooled + {stored} stored"
        );
        if n == N / 4 {
            early_drainer = Some(wait_for("a drainer", BOUND, || {
                drainers(&hook.spool).first().copied()
            }));
        }
    }
    wait_for("the spool to drain", BOUND, || {
        (hook.spooled().is_empty() && all_events(&server).len() >= N).then_some(())
    });
    let events = all_events(&server);
    assert_eq!(events.len(), N, "each event stored once");
    let want: BTreeSet<String> = (0..N).map(|n| format!("toolu_sess-sf_{n:04}")).collect();
    assert_eq!(tool_use_ids(&events), want);
    // The drainer found after the first quarter still runs: the later events did not need a
    // process of their own.
    assert_eq!(
        drainers(&hook.spool),
        vec![early_drainer.expect("drainer pid")],
        "one drainer lingered through the run"
    );
}

#[test]
fn a_killed_drainer_loses_nothing_and_the_next_hook_replaces_it() {
    let mut server = TestServer::start();
    server.stop();
    let hook = spool_first(&server.url);
    for n in 0..10 {
        hook.send(&tool_event("sess-k", n))
            .assert_silent_success("spooling call");
    }
    assert_eq!(hook.spooled().len(), 10, "on disk when the hooks exited");
    let pid = wait_for("the drainer", BOUND, || {
        drainers(&hook.spool).first().copied()
    });
    // SAFETY: kill(2) of a process this test started (through the hook).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    wait_for("the drainer to die", BOUND, || {
        drainers(&hook.spool).is_empty().then_some(())
    });
    assert_eq!(hook.spooled().len(), 10, "a killed drainer loses nothing");

    server.restart();
    hook.send(&tool_event("sess-k", 10))
        .assert_silent_success("the call after");
    wait_for("the spool to drain", BOUND, || {
        hook.spooled().is_empty().then_some(())
    });
    let events = all_events(&server);
    assert_eq!(events.len(), 11);
    let want: BTreeSet<String> = (0..11).map(|n| format!("toolu_sess-k_{n:04}")).collect();
    assert_eq!(tool_use_ids(&events), want);
}

#[test]
fn decisions_are_still_answered_by_the_server_before_the_hook_exits() {
    let server = TestServer::start();
    let hook = spool_first(&server.url);
    let pre = json!({
        "session_id": "sess-dec",
        "transcript_path": "/home/dev/.claude/projects/-home-dev-proj/sess-dec.jsonl",
        "cwd": "/home/dev/proj",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "rm -rf /", "description": "wipe"},
        "tool_use_id": "toolu_dec_1"
    });
    let run = hook.send(&pre);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let answer: Value = serde_json::from_slice(&run.stdout).expect("decision JSON");
    assert_eq!(
        answer["hookSpecificOutput"]["permissionDecision"], "deny",
        "{answer}"
    );
    assert!(
        !answer["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "the server decided, not the local fallback: {answer}"
    );
    // Stored before the hook exited: no wait.
    let events = all_events(&server);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "PreToolUse");
    assert!(hook.spooled().is_empty());
}

#[test]
fn an_event_that_cannot_be_spooled_is_sent_directly() {
    let server = TestServer::start();
    let mut hook = spool_first(&server.url);
    // The spool's parent is a regular file: the spool cannot exist (a full disk acts alike).
    let blocker = hook.tmp.path().join("not-a-dir");
    std::fs::write(&blocker, b"a regular file").expect("blocker");
    let spool = blocker.join("spool");
    hook.set("MAESTRO_SPOOL_DIR", &spool.display().to_string());
    hook.set(
        "MAESTRO_HOOK_LOG",
        &hook.tmp.path().join("hook.log").display().to_string(),
    );
    let run = hook.send(&tool_event("sess-ns", 1));
    run.assert_silent_success("unspoolable call");
    assert!(
        run.stderr.contains("cannot spool") && !run.stderr.contains("NOT spooled"),
        "stderr: {}",
        run.stderr
    );
    // Sent directly: stored before the hook exited.
    let events = all_events(&server);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["envelope"]["payload"]["tool_use_id"],
        "toolu_sess-ns_0001"
    );
}
