//! The hook with several servers (`MAESTRO_URL=a,b`, as a team runs two replicas without a
//! load balancer; here two real servers on their own stores): events and decisions go to the
//! first server that answers, the hook starts with the one that answered last, and nothing is
//! lost or stored twice while either one is down.

mod hook_support;

use hook_support::{all_events, HookEnv};
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

fn tool_event(n: usize) -> Value {
    hook_support::tool_event("fo", n)
}

/// The tool-use ids a server stored.
fn stored(server: &TestServer) -> BTreeSet<String> {
    all_events(server)
        .iter()
        .filter_map(|e| e["envelope"]["payload"]["tool_use_id"].as_str())
        .map(str::to_string)
        .collect()
}

fn ids(range: std::ops::Range<usize>) -> BTreeSet<String> {
    range.map(|n| format!("toolu_fo_{n:04}")).collect()
}

#[test]
fn events_and_decisions_fail_over_between_servers_and_nothing_is_lost() {
    let mut a = TestServer::start();
    let mut b = TestServer::start();
    let mut hook = HookEnv::new(&format!("{}, {}/", a.url, b.url));

    // Both up: the first one listed.
    for n in 0..3 {
        hook.send(&tool_event(n)).assert_silent_success("both up");
    }
    assert_eq!(stored(&a), ids(0..3));
    assert!(stored(&b).is_empty());

    // The first one down: the second takes the events, nothing is spooled.
    a.stop();
    for n in 3..6 {
        hook.send(&tool_event(n))
            .assert_silent_success("first down");
    }
    assert_eq!(stored(&b), ids(3..6));
    assert!(hook.spooled().is_empty(), "{:?}", hook.spooled());

    // A decision is the second server's (stored there, its policy's reason), not the hook's
    // offline fallback.
    let mut pre = tool_event(99);
    pre["hook_event_name"] = json!("PreToolUse");
    pre["tool_input"] = json!({"command": "rm -rf /", "description": "x"});
    pre.as_object_mut().map(|o| o.remove("tool_response"));
    let run = hook.send(&pre);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let out: Value = serde_json::from_str(run.out().trim()).expect("decision JSON");
    assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "deny");
    let reason = out["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !reason.contains("unreachable"),
        "offline fallback: {reason}"
    );
    assert!(stored(&b).contains("toolu_fo_0099"));

    // The first one back and the second down: the hook starts with the second (it answered
    // last), finds it gone, and goes back to the first.
    a.restart();
    b.stop();
    for n in 6..9 {
        hook.send(&tool_event(n))
            .assert_silent_success("second down");
    }
    assert_eq!(stored(&a), ids(0..3).union(&ids(6..9)).cloned().collect());

    // Both down: spooled; the default spool-first path's drainer delivers them once one is
    // back, each exactly once.
    a.stop();
    hook.set("MAESTRO_HOOK_DELIVERY", "spool");
    for n in 9..12 {
        hook.send(&tool_event(n)).assert_silent_success("both down");
    }
    b.restart();
    hook.flush();
    wait_for("the spool to drain", Duration::from_secs(60), || {
        (stored(&b).len() == 7).then_some(())
    });
    let mut want = ids(3..6)
        .union(&ids(9..12))
        .cloned()
        .collect::<BTreeSet<_>>();
    want.insert("toolu_fo_0099".into());
    assert_eq!(stored(&b), want);
    assert!(hook.spooled().is_empty());
    let per_server: usize = all_events(&b)
        .iter()
        .filter(|e| e["envelope"]["payload"]["tool_use_id"].is_string())
        .count();
    assert_eq!(per_server, 7, "an event stored twice");
    let status = hook.run(&["status"], b"");
    let text = status.out();
    assert!(
        text.contains("server 1 of 2") && text.contains("server 2 of 2"),
        "{text}"
    );
}
