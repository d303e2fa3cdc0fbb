//! What the real CLI reports it ran against what the server stored: the checks that every hook
//! run reached the server exactly once (`real_claude`, `real_claude_delivery`).

use crate::bin_path;
use crate::claude_cli::{ClaudeOutput, Scratch};
use crate::server::TestServer;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every stored event (`GET /api/events`), oldest first.
pub fn stored_events(server: &TestServer) -> Vec<Value> {
    let events = server.get("/api/events?since=0&limit=1000");
    events.as_array().cloned().unwrap_or_default()
}

/// Stored events whose payload belongs to Claude session `claude_sid`.
pub fn events_of(server: &TestServer, claude_sid: &str) -> Vec<Value> {
    stored_events(server)
        .into_iter()
        .filter(|e| e["envelope"]["payload"]["session_id"] == claude_sid)
        .collect()
}

/// The hook runs the CLI reported (`hook_started`), as `hook_event -> count`, and checks every
/// one has a matching successful `hook_response`.
pub fn reported_hook_runs(out: &ClaudeOutput) -> BTreeMap<String, usize> {
    let responses: BTreeMap<String, &Value> = out
        .hook_responses()
        .into_iter()
        .filter_map(|r| Some((r["hook_id"].as_str()?.to_string(), r)))
        .collect();
    let mut counts = BTreeMap::new();
    for started in out.hook_started() {
        let id = started["hook_id"].as_str().expect("hook_id");
        let resp = responses
            .get(id)
            .unwrap_or_else(|| panic!("hook {started} has no hook_response\n{}", out.dump()));
        assert_eq!(
            resp["exit_code"], 0,
            "hook {} exited non-zero: {resp}",
            started["hook_name"]
        );
        let event = started["hook_event"].as_str().expect("hook_event");
        *counts.entry(event.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Per event name, the tool names of the tool hooks the CLI reported (`PreToolUse:Write`).
pub fn reported_tool_hooks(out: &ClaudeOutput) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for started in out.hook_started() {
        let event = started["hook_event"].as_str().unwrap_or_default();
        if !is_tool_event(event) {
            continue;
        }
        let name = started["hook_name"].as_str().unwrap_or_default();
        let tool = name.split_once(':').map(|(_, t)| t).unwrap_or_default();
        map.entry(event.to_string())
            .or_default()
            .push(tool.to_string());
    }
    for tools in map.values_mut() {
        tools.sort();
    }
    map
}

/// Events whose hook name carries the tool (`PreToolUse:Write`).
pub fn is_tool_event(event: &str) -> bool {
    matches!(
        event,
        "PreToolUse" | "PostToolUse" | "PostToolUseFailure" | "PermissionRequest"
    )
}

/// Asserts that every hook run the CLI reported has exactly one stored event (same event name,
/// same tool for tool events), that no event is stored twice, and that nothing else was stored
/// for the session except the events the CLI does not report in stream-json (`SessionEnd`).
pub fn assert_one_event_per_hook_run(server: &TestServer, out: &ClaudeOutput, claude_sid: &str) {
    let reported = reported_hook_runs(out);
    assert!(
        !reported.is_empty(),
        "the CLI reported no hook runs:\n{}",
        out.dump()
    );
    let events = events_of(server, claude_sid);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().expect("event_id"))
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event_id is stored twice");

    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let mut stored_tools: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &events {
        let name = e["event"].as_str().expect("event").to_string();
        assert_eq!(
            e["envelope"]["event"], name,
            "envelope.event matches the row: {e}"
        );
        if is_tool_event(&name) {
            stored_tools.entry(name.clone()).or_default().push(
                e["envelope"]["payload"]["tool_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        *stored.entry(name).or_insert(0) += 1;
    }
    for tools in stored_tools.values_mut() {
        tools.sort();
    }
    let mut expected = reported.clone();
    // Hooks the CLI runs but does not report in stream-json: InstructionsLoaded (before the
    // stream starts) and SessionEnd (after the last record). Each may be stored once.
    for late in ["InstructionsLoaded", "SessionEnd"] {
        if let Some(n) = stored.get(late) {
            assert_eq!(*n, 1, "{late} stored once");
            expected.entry(late.to_string()).or_insert(1);
        }
    }
    assert_eq!(
        stored,
        expected,
        "stored events per hook event vs hook runs the CLI reported\nCLI output:\n{}",
        out.dump()
    );
    assert_eq!(
        stored_tools,
        reported_tool_hooks(out),
        "tools of the stored tool events vs reported tool hooks"
    );
}

/// Registers `maestro-hook` for CLI `version` in the scratch project (`.claude/settings.json`).
pub fn install_hooks(scratch: &Scratch, version: &str) {
    let out = Command::new(bin_path("maestro-hook"))
        .args(["install", "--scope", "project", "--claude-version", version])
        .arg("--project-dir")
        .arg(&scratch.project)
        .env("HOME", &scratch.home)
        .output()
        .expect("run maestro-hook install");
    assert!(
        out.status.success(),
        "maestro-hook install failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let settings = scratch.project.join(".claude").join("settings.json");
    assert!(
        settings.exists(),
        "maestro-hook install wrote no {}",
        settings.display()
    );
}

/// The env that points the hook at `server_url` and keeps its spool in the scratch dir.
pub fn hook_env(server: &TestServer, scratch: &Scratch) -> Vec<(String, String)> {
    let mut env = server.hook_env();
    env.push((
        "MAESTRO_SPOOL_DIR".into(),
        scratch.spool.display().to_string(),
    ));
    // Bound a background drainer left behind by a failed test.
    env.push(("MAESTRO_DRAIN_GIVE_UP_SECS".into(), "60".into()));
    env
}

/// The spooled envelopes (`<micros>-<event_id>.json`) directly in `dir`.
pub fn spooled_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.file_name().is_some_and(|n| {
                            let n = n.to_string_lossy();
                            n.ends_with(".json") && !n.starts_with('.')
                        })
                })
                .collect()
        })
        .unwrap_or_default()
}
