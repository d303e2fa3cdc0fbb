//! `maestro-hook` forwarding against the real server: every captured payload is stored
//! exactly once, malformed stdin is still forwarded, oversized strings are truncated, the
//! envelope carries the environment, and the CLI surface exists.

mod hook_support;

use hook_support::{all_captured_payloads, all_events, HookEnv};
use maestro_shared::envelope::TRUNCATION_MARKER;
use maestro_shared::HookEventName;
use maestro_tests::server::TestServer;
use serde_json::{json, Value};
use std::collections::HashMap;

#[test]
fn every_captured_payload_is_stored_exactly_once() {
    // PermissionRequest calls the policy leaves to a human are held for the operator; keep
    // that short here (the hold itself is tested in hook_decisions).
    let server = TestServer::start_with_env(&[("MAESTRO_HOLD_TIMEOUT_MS", "200")]);
    let hook = HookEnv::for_server(&server);
    let payloads = all_captured_payloads();
    assert!(payloads.len() > 100, "fixtures missing");
    let mut expected: HashMap<String, usize> = HashMap::new();
    for (name, p) in &payloads {
        let run = hook.send(p);
        let event = HookEventName::parse(p["hook_event_name"].as_str().expect("name"));
        assert_eq!(run.status.code(), Some(0), "{name}: {}", run.stderr);
        if !event.is_decision() {
            run.assert_silent_success(name);
        }
        *expected.entry(p.to_string()).or_default() += 1;
    }
    assert!(hook.spooled().is_empty(), "nothing may be spooled");

    let events = all_events(&server);
    assert_eq!(
        events.len(),
        payloads.len(),
        "one stored event per hook run"
    );
    let mut stored: HashMap<String, usize> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for e in &events {
        let env = &e["envelope"];
        assert!(ids.insert(e["event_id"].to_string()), "duplicate event_id");
        assert_eq!(env["v"], 1);
        assert!(env.get("parse_error").is_none(), "{env}");
        assert_eq!(env["event"], env["payload"]["hook_event_name"]);
        *stored.entry(env["payload"].to_string()).or_default() += 1;
    }
    assert_eq!(
        stored, expected,
        "stored payloads differ from the captured ones"
    );
}

#[test]
fn malformed_stdin_is_forwarded_with_the_raw_text() {
    let server = TestServer::start();
    let hook = HookEnv::for_server(&server);
    let cases: [(&str, &[u8]); 4] = [
        ("stop", b""),
        ("stop", b"this is not json"),
        ("post-tool-use", br#"{"hook_event_name":"PostToolUse"}"#),
        (
            "notification",
            br#"{"session_id":"s-wrong","hook_event_name":"Stop"}"#,
        ),
    ];
    for (sub, stdin) in cases {
        hook.run(&[sub], stdin)
            .assert_silent_success(&format!("{sub} {stdin:?}"));
    }
    assert!(hook.spooled().is_empty());
    assert!(hook.quarantined().is_empty());
    let events = all_events(&server);
    assert_eq!(events.len(), cases.len());
    for ((sub, stdin), e) in cases.iter().zip(&events) {
        let env = &e["envelope"];
        let event = HookEventName::from_subcommand(sub).expect("sub");
        assert_eq!(env["event"], event.as_str());
        assert!(
            env["parse_error"].as_str().is_some_and(|s| !s.is_empty()),
            "{env}"
        );
        assert_eq!(
            env["payload"],
            json!({"raw": String::from_utf8_lossy(stdin)}),
            "{env}"
        );
    }
}

#[test]
fn oversized_strings_are_truncated_not_rejected() {
    let server = TestServer::start();
    let hook = HookEnv::for_server(&server);
    let mut p = hook_support::payload("PostToolUse-Read.json");
    let big = "a".repeat(1024 * 1024);
    p["tool_response"] = json!({"type": "text", "file": {"content": big}});
    hook.send(&p).assert_silent_success("1 MiB payload");
    assert!(hook.spooled().is_empty());
    assert!(hook.quarantined().is_empty());
    let events = all_events(&server);
    assert_eq!(events.len(), 1);
    let env = &events[0]["envelope"];
    assert_eq!(env["truncated"], true);
    let s = env["payload"]["tool_response"]["file"]["content"]
        .as_str()
        .expect("content");
    assert_eq!(s.len(), 256 * 1024 + TRUNCATION_MARKER.len());
    assert!(s.ends_with(TRUNCATION_MARKER));
    assert_eq!(env["payload"]["tool_use_id"], p["tool_use_id"]);

    // The cap is configurable.
    let mut small = HookEnv::for_server(&server);
    small.set("MAESTRO_MAX_STRING_BYTES", "1000");
    p["tool_use_id"] = json!("toolu_small_cap");
    small.send(&p).assert_silent_success("small cap");
    let events = all_events(&server);
    let env = &events.last().expect("event")["envelope"];
    let s = env["payload"]["tool_response"]["file"]["content"]
        .as_str()
        .expect("content");
    assert_eq!(s.len(), 1000 + TRUNCATION_MARKER.len());
}

#[test]
fn envelope_carries_the_environment() {
    let server = TestServer::start();
    let hook = HookEnv::for_server(&server);
    let p = hook_support::payload("SessionStart-startup.json");
    let run = hook.run_with(
        &["session-start"],
        p.to_string().as_bytes(),
        &[
            ("CLAUDE_PID", "4242"),
            ("CLAUDE_PROJECT_DIR", "/home/dev/proj"),
            ("CLAUDE_CODE_ENTRYPOINT", "sdk-cli"),
            ("USER", "dev"),
        ],
    );
    run.assert_silent_success("session-start");
    let events = all_events(&server);
    assert_eq!(events.len(), 1);
    let env: &Value = &events[0]["envelope"];
    assert_eq!(env["source"]["claude_pid"], 4242);
    assert_eq!(env["source"]["project_dir"], "/home/dev/proj");
    assert_eq!(env["source"]["entrypoint"], "sdk-cli");
    assert_eq!(env["source"]["user"], "dev");
    assert!(env["source"]["host"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    assert_eq!(env["payload"], p);
    let id = uuid::Uuid::parse_str(env["event_id"].as_str().expect("id")).expect("uuid");
    assert_eq!(id.get_version_num(), 7);
}

#[test]
fn cli_lists_every_event_and_command() {
    let hook = HookEnv::new("http://127.0.0.1:9");
    let version = hook.run(&["--version"], b"");
    assert_eq!(version.status.code(), Some(0));
    assert!(
        version.out().starts_with("maestro-hook "),
        "{}",
        version.out()
    );
    let help = hook.run(&["--help"], b"");
    assert_eq!(help.status.code(), Some(0));
    let text = help.out();
    for ev in HookEventName::ALL {
        let sub = ev.subcommand().expect("sub");
        assert!(text.contains(sub), "--help lacks {sub}");
    }
    for cmd in ["install", "uninstall", "status", "flush"] {
        assert!(text.contains(cmd), "--help lacks {cmd}");
    }
    let bad = hook.run(&["no-such-command"], b"");
    assert_ne!(bad.status.code(), Some(0));
}
