//! End-to-end scenarios with the real Claude Code CLI (pinned, see
//! `maestro_tests::claude_cli`) driven by the scripted fake Messages API
//! (`maestro_tests::fake_api`), with `maestro-hook` registered in a scratch project and a real
//! `maestro-server` receiving the events.
//!
//! Without Node.js/npm (or when the install fails) every test prints a SKIP line and passes,
//! unless `CI` is set: then it fails loudly.

use maestro_tests::claude_cli::{
    claude_or_skip, offline_env, ClaudeCommand, ClaudeOutput, Scratch, CLAUDE_CODE_VERSION,
};
use maestro_tests::fake_api::{FakeApi, RequestKind, Script, Step, DENY_MARKER};
use maestro_tests::server::TestServer;
use maestro_tests::{bin_path, fixture, wait_for};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Registers `maestro-hook` in the scratch project (`.claude/settings.json`).
fn install_hooks(scratch: &Scratch) {
    let out = Command::new(bin_path("maestro-hook"))
        .args(["install", "--scope", "project", "--project-dir"])
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
fn hook_env(server: &TestServer, scratch: &Scratch) -> Vec<(String, String)> {
    let mut env = server.hook_env();
    env.push((
        "MAESTRO_SPOOL_DIR".into(),
        scratch.spool.display().to_string(),
    ));
    // Bound a background drainer left behind by a failed test.
    env.push(("MAESTRO_DRAIN_GIVE_UP_SECS".into(), "60".into()));
    env
}

/// One scenario's world: the CLI binary, a server, a scratch project with the hooks installed.
struct World {
    bin: PathBuf,
    server: TestServer,
    scratch: Scratch,
}

impl World {
    /// `None` (after a SKIP line) when the CLI is unavailable outside CI.
    fn new(test: &str) -> Option<World> {
        let bin = claude_or_skip(test)?;
        let t = std::time::Instant::now();
        let server = TestServer::start();
        let scratch = Scratch::new();
        install_hooks(&scratch);
        eprintln!("{test}: server up and hooks installed in {:?}", t.elapsed());
        Some(World {
            bin,
            server,
            scratch,
        })
    }

    fn claude(&self, fake: &FakeApi) -> ClaudeCommand {
        ClaudeCommand::in_scratch(&self.bin, &fake.url, &self.scratch)
            .envs(&hook_env(&self.server, &self.scratch))
            .timeout(Duration::from_secs(60))
    }
}

/// Every stored event (`GET /api/events`), oldest first.
fn stored_events(server: &TestServer) -> Vec<Value> {
    let events = server.get("/api/events?since=0&limit=1000");
    events.as_array().cloned().unwrap_or_default()
}

/// Stored events whose payload belongs to Claude session `claude_sid`.
fn events_of(server: &TestServer, claude_sid: &str) -> Vec<Value> {
    stored_events(server)
        .into_iter()
        .filter(|e| e["envelope"]["payload"]["session_id"] == claude_sid)
        .collect()
}

/// The Maestro session for a Claude session id.
fn session_of(server: &TestServer, claude_sid: &str) -> Value {
    let sessions = server.get(&format!("/api/sessions?claude_session_id={claude_sid}"));
    let sessions = sessions.as_array().cloned().unwrap_or_default();
    assert_eq!(
        sessions.len(),
        1,
        "exactly one Maestro session for Claude session {claude_sid}: {sessions:#?}"
    );
    sessions[0].clone()
}

/// Waits until the server stored the session's SessionEnd (the last hook of a run).
fn wait_session_end(server: &TestServer, claude_sid: &str) {
    wait_for("SessionEnd stored", WAIT, || {
        events_of(server, claude_sid)
            .iter()
            .any(|e| e["event"] == "SessionEnd")
            .then_some(())
    });
}

/// The hook runs the CLI reported (`hook_started`), as `hook_event -> count`, and checks every
/// one has a matching successful `hook_response`.
fn reported_hook_runs(out: &ClaudeOutput) -> BTreeMap<String, usize> {
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
fn reported_tool_hooks(out: &ClaudeOutput) -> BTreeMap<String, Vec<String>> {
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

fn is_tool_event(event: &str) -> bool {
    matches!(
        event,
        "PreToolUse" | "PostToolUse" | "PostToolUseFailure" | "PermissionRequest"
    )
}

/// Asserts that every hook run the CLI reported has exactly one stored event (same event name,
/// same tool for tool events), that no event is stored twice, and that nothing else was stored
/// for the session except the events the CLI does not report in stream-json (`SessionEnd`).
fn assert_one_event_per_hook_run(server: &TestServer, out: &ClaudeOutput, claude_sid: &str) {
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

fn timeline(server: &TestServer, session_id: &str) -> Vec<Value> {
    server
        .get(&format!("/api/sessions/{session_id}/timeline?limit=1000"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn summaries(timeline: &[Value]) -> Vec<String> {
    timeline
        .iter()
        .map(|t| t["summary"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `line` is `want`, or `want` followed by details ("Session ended after 1.2s").
fn same_line(line: &str, want: &str) -> bool {
    line == want
        || line
            .strip_prefix(want)
            .is_some_and(|rest| rest.starts_with(' '))
}

fn metrics(server: &TestServer, session_id: &str) -> Value {
    server.get(&format!("/api/sessions/{session_id}/metrics"))
}

/// The metric row of `tool`.
fn tool_metric<'a>(metrics: &'a Value, tool: &str) -> &'a Value {
    metrics["tools"]
        .as_array()
        .and_then(|tools| tools.iter().find(|t| t["tool"] == tool))
        .unwrap_or_else(|| panic!("no metrics for {tool}: {metrics:#}"))
}

/// Checks calls/successes/failures of `tool`.
fn assert_tool_metric(metrics: &Value, tool: &str, calls: i64, successes: i64, failures: i64) {
    let m = tool_metric(metrics, tool);
    assert_eq!(
        (
            m["calls"].as_i64(),
            m["successes"].as_i64(),
            m["failures"].as_i64()
        ),
        (Some(calls), Some(successes), Some(failures)),
        "{tool} calls/successes/failures: {metrics:#}"
    );
}

/// The tool lines of `tool_use_id` on a timeline.
fn tool_lines<'a>(timeline: &'a [Value], tool_use_id: &str) -> Vec<&'a Value> {
    timeline
        .iter()
        .filter(|t| t["tool_use_id"] == tool_use_id)
        .collect()
}

/// Asserts that every tool call the fake handed out is paired on the timeline: it has lines,
/// and its latest line is finished with `status` (`ok` or `error`), not pending.
fn assert_paired(timeline: &[Value], answered: &[(String, String)], failing: &[&str]) {
    for (tool, id) in answered {
        let lines = tool_lines(timeline, id);
        let last = lines.last().unwrap_or_else(|| {
            panic!(
                "{tool} call {id} has no timeline line: {:#?}",
                summaries(timeline)
            )
        });
        let want = if failing.contains(&id.as_str()) {
            "error"
        } else {
            "ok"
        };
        assert_eq!(
            last["status"], want,
            "{tool} call {id} finished as {want}: {lines:#?}"
        );
        assert_eq!(last["tool_name"], tool.as_str(), "{lines:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The harness itself, without Maestro
// ---------------------------------------------------------------------------------------------

/// The fake drives the real CLI through tool calls, parallel calls with a preamble, a subagent,
/// the auto-mode classifier and a final answer; plain `cat` hooks see exactly the hooks the CLI
/// reports in stream-json.
#[test]
fn fake_api_drives_the_real_cli() {
    let Some(bin) = claude_or_skip("fake_api_drives_the_real_cli") else {
        return;
    };
    let scratch = Scratch::new();
    let log = scratch.home.join("hook-log");
    std::fs::create_dir_all(&log).expect("log dir");
    // One file per hook run: `$$` is the hook shell's pid.
    let command = format!("cat > '{}'/$(date +%s%N)-$$.json", log.display());
    let mut hooks = serde_json::Map::new();
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "PostToolBatch",
        "SubagentStart",
        "SubagentStop",
        "MessageDisplay",
        "Stop",
        "SessionEnd",
    ] {
        hooks.insert(
            event.into(),
            json!([{"matcher": "", "hooks": [{"type": "command", "command": command}]}]),
        );
    }
    scratch.write(
        ".claude/settings.json",
        &json!({ "hooks": hooks }).to_string(),
    );
    let fake = FakeApi::start(
        Script::new(vec![
            Step::tool(
                "Write",
                json!({"file_path": "{cwd}/a.txt", "content": "hello\n"}),
            ),
            Step::tools(
                vec![
                    ("Grep", json!({"pattern": "hello"})),
                    ("Glob", json!({"pattern": "*.txt"})),
                ],
                Some("Searching two ways."),
            ),
            Step::tool(
                "Agent",
                json!({"description": "list files", "prompt": "SUBAGENT-A: list the files",
                       "subagent_type": "general-purpose"}),
            ),
            Step::tool(
                "Bash",
                json!({"command": format!("curl -s -m 1 http://127.0.0.1:9/{DENY_MARKER}"),
                       "description": "blocked by the classifier"}),
            ),
            Step::text("all done"),
        ])
        .with_agent(
            "SUBAGENT-A",
            vec![
                Step::tool(
                    "Bash",
                    json!({"command": "ls {cwd} > {cwd}/listing.txt", "description": "list"}),
                ),
                Step::text("listed"),
            ],
        ),
    );
    let out = ClaudeCommand::in_scratch(&bin, &fake.url, &scratch)
        .prompt("do the task")
        .args(&["--permission-mode", "auto", "--allowedTools", "Grep Glob"])
        .run();
    eprintln!("claude ran {:?}", out.elapsed);
    out.assert_success();
    assert_eq!(out.result().expect("result")["result"], "all done");

    // The fake: probe, main turns 0..=4 in order, two subagent turns, classifier verdicts.
    let reqs = fake.requests();
    assert!(reqs.iter().any(|r| r.kind == RequestKind::Probe));
    assert!(
        reqs.iter().all(|r| r.kind != RequestKind::Other),
        "only the probe and /v1/messages: {:?}",
        reqs.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    let agent = &fake.main_requests()[0].headers["user-agent"];
    assert!(
        agent.contains(&format!("claude-cli/{CLAUDE_CODE_VERSION} ")),
        "the pinned CLI version: {agent}"
    );
    let main_turns: Vec<usize> = fake
        .main_requests()
        .iter()
        .map(|r| match r.kind {
            RequestKind::Main { turn } => turn,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(main_turns, vec![0, 1, 2, 3, 4], "one main request per turn");
    assert!(fake.main_requests().iter().all(|r| {
        r.query.as_deref() == Some("beta=true")
            && r.body["stream"] == true
            && r.cwd.as_deref() == Some(scratch.project.to_str().unwrap())
    }));
    assert_eq!(fake.agent_requests("SUBAGENT-A").len(), 2);
    assert!(reqs
        .iter()
        .any(|r| r.kind == RequestKind::Classifier { blocked: true }));
    assert_eq!(
        std::fs::read_to_string(scratch.project.join("a.txt")).expect("a.txt"),
        "hello\n"
    );
    assert!(
        scratch.project.join("listing.txt").exists(),
        "the subagent's {{cwd}} was substituted"
    );
    // The blocked call got an error tool_result.
    let blocked_id = &fake.answered_tools()[5].1;
    let last_main = fake.main_requests().pop().expect("last main request");
    let results: Vec<&Value> = last_main.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result" && b["tool_use_id"] == blocked_id.as_str())
        .collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["is_error"], true, "{}", results[0]);

    // The hooks: what the `cat` hooks logged equals what stream-json reported, plus SessionEnd.
    let mut logged: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(&log).expect("log dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("hook log");
        let payload: Value = serde_json::from_str(&text).expect("hook payload is JSON");
        *logged
            .entry(
                payload["hook_event_name"]
                    .as_str()
                    .expect("name")
                    .to_string(),
            )
            .or_insert(0) += 1;
    }
    let mut reported = reported_hook_runs(&out);
    reported.insert("SessionEnd".into(), 1);
    assert_eq!(logged, reported, "{}", out.dump());
    assert_eq!(
        reported["PreToolUse"], 6,
        "Write, Grep, Glob, Agent, Bash x2"
    );
    assert_eq!(reported["SubagentStart"], 1);
}

// ---------------------------------------------------------------------------------------------
// Scenarios against a real maestro-server
// ---------------------------------------------------------------------------------------------

/// Write, Read, Edit, Bash ok, Bash failing, Grep, final text: timeline, metrics, session state,
/// and one stored event per hook run.
#[test]
fn core_session_is_observed_exactly() {
    let Some(world) = World::new("core_session_is_observed_exactly") else {
        return;
    };
    world.scratch.write("CLAUDE.md", "Be brief.\n");
    // The script in its JSON form: Write, Read, Edit, Bash ok, Bash failing, Grep, text.
    let script = Script::from_file(&fixture("scripts/core.json")).expect("core script");
    assert_eq!(script.main.len(), 7);
    let fake = FakeApi::start(script);
    let out = world
        .claude(&fake)
        .prompt("run the core scenario")
        .args(&[
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            "Grep Glob Bash",
        ])
        .run();
    eprintln!("claude ran {:?}", out.elapsed);
    out.assert_success();
    assert_eq!(
        std::fs::read_to_string(world.scratch.project.join("notes.txt")).expect("notes"),
        "alpha\ngamma\n"
    );
    let sid = out.session_id().expect("claude session id");
    let server = &world.server;
    wait_session_end(server, &sid);
    assert_one_event_per_hook_run(server, &out, &sid);
    let loaded = events_of(server, &sid)
        .iter()
        .filter(|e| e["event"] == "InstructionsLoaded")
        .count();
    assert_eq!(loaded, 1, "CLAUDE.md loaded once");

    let session = session_of(server, &sid);
    let id = session["id"].as_str().expect("session id").to_string();
    assert_eq!(session["state"], "completed", "{session:#}");
    assert_eq!(session["end_reason"], "other", "{session:#}");
    assert_eq!(
        session["project_dir"].as_str(),
        world.scratch.project.to_str(),
        "{session:#}"
    );

    let m = metrics(server, &id);
    assert_tool_metric(&m, "Write", 1, 1, 0);
    assert_tool_metric(&m, "Read", 1, 1, 0);
    assert_tool_metric(&m, "Edit", 1, 1, 0);
    assert_tool_metric(&m, "Bash", 2, 1, 1);
    assert_tool_metric(&m, "Grep", 1, 1, 0);
    assert_eq!(m["total_calls"], 6, "{m:#}");
    assert_eq!(m["total_failures"], 1, "{m:#}");

    let tl = timeline(server, &id);
    let lines = summaries(&tl);
    for want in [
        "Session started",
        "Prompt: run the core scenario",
        "Modified notes.txt",
        "Reading notes.txt",
        "Executed: echo hello-from-bash",
        "Command failed: cat missing-file.txt (exit 1)",
        "Searching for gamma",
        "Turn finished",
        "Session ended",
    ] {
        assert!(
            lines.iter().any(|l| same_line(l, want)),
            "timeline has {want:?}: {lines:#?}"
        );
    }
    let answered = fake.answered_tools();
    assert_eq!(answered.len(), 6);
    assert_paired(&tl, &answered, &[answered[4].1.as_str()]);
    let failure = tool_lines(&tl, &answered[4].1)
        .last()
        .copied()
        .cloned()
        .expect("failure line");
    assert_eq!(failure["kind"], "tool_failure", "{failure:#}");
    // Every line points at a stored event.
    for line in &tl {
        if let Some(event_id) = line["event_id"].as_str() {
            let stored = server.get(&format!("/api/events/{event_id}"));
            assert_eq!(stored["event_id"], event_id);
        }
    }
}

/// Parallel Grep + Glob in one turn (with a preamble), then a subagent that runs Bash: every
/// call is paired, and the subagent's events land on the parent's session.
#[test]
fn parallel_calls_and_subagent_are_paired_on_one_session() {
    let Some(world) = World::new("parallel_calls_and_subagent_are_paired_on_one_session") else {
        return;
    };
    world.scratch.write("src/lib.rs", "pub fn needle() {}\n");
    let fake = FakeApi::start(
        Script::new(vec![
            Step::tools(
                vec![
                    ("Grep", json!({"pattern": "needle"})),
                    ("Glob", json!({"pattern": "**/*.rs"})),
                ],
                Some("Looking in two ways at once."),
            ),
            Step::tool(
                "Agent",
                json!({"description": "count lines", "prompt": "SUBAGENT-COUNT: count the lines",
                       "subagent_type": "general-purpose"}),
            ),
            Step::text("Parallel scenario finished."),
        ])
        .with_agent(
            "SUBAGENT-COUNT",
            vec![
                Step::tool(
                    "Bash",
                    json!({"command": "wc -l src/lib.rs", "description": "count"}),
                ),
                Step::text("1 line"),
            ],
        ),
    );
    let out = world
        .claude(&fake)
        .prompt("run the parallel scenario")
        .args(&[
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            "Grep Glob Bash",
        ])
        .run();
    eprintln!("claude ran {:?}", out.elapsed);
    out.assert_success();
    let sid = out.session_id().expect("claude session id");
    let server = &world.server;
    wait_session_end(server, &sid);
    assert_one_event_per_hook_run(server, &out, &sid);

    let session = session_of(server, &sid);
    let id = session["id"].as_str().expect("session id").to_string();
    assert_eq!(session["state"], "completed", "{session:#}");
    // No separate session for the subagent.
    let all = server.get("/api/sessions");
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "one session: {all:#}"
    );

    let m = metrics(server, &id);
    for tool in ["Grep", "Glob", "Agent", "Bash"] {
        assert_tool_metric(&m, tool, 1, 1, 0);
    }
    let tl = timeline(server, &id);
    let answered = fake.answered_tools();
    assert_eq!(
        answered.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["Grep", "Glob", "Agent", "Bash"]
    );
    assert_paired(&tl, &answered, &[]);
    // The subagent's Bash line carries its agent id, the parent's calls do not.
    let events = events_of(server, &sid);
    let agent_id = events
        .iter()
        .find(|e| e["event"] == "SubagentStart")
        .and_then(|e| e["envelope"]["payload"]["agent_id"].as_str())
        .expect("SubagentStart with agent_id")
        .to_string();
    let bash = tool_lines(&tl, &answered[3].1);
    assert!(
        bash.iter().all(|l| l["agent_id"] == agent_id.as_str()),
        "{bash:#?}"
    );
    for (_, parent_call) in &answered[..3] {
        assert!(tool_lines(&tl, parent_call)
            .iter()
            .all(|l| l["agent_id"].is_null()));
    }
    let lines = summaries(&tl);
    for want in [
        "Searching for needle",
        "Finding files **/*.rs",
        "Executed: wc -l src/lib.rs",
        "Subagent started (general-purpose)",
        "Subagent finished (general-purpose)",
    ] {
        assert!(
            lines.iter().any(|l| same_line(l, want)),
            "timeline has {want:?}: {lines:#?}"
        );
    }
    // The parallel batch is one PostToolBatch carrying both calls.
    let batch = events
        .iter()
        .find(|e| {
            e["event"] == "PostToolBatch"
                && e["envelope"]["payload"]["tool_calls"]
                    .as_array()
                    .is_some_and(|c| c.len() == 2)
        })
        .expect("a PostToolBatch with both parallel calls");
    assert!(batch["envelope"]["payload"]["agent_id"].is_null());
}

/// The fake answers HTTP 400: the CLI ends the turn with StopFailure, which the timeline shows
/// as an API error.
#[test]
fn api_error_becomes_a_stop_failure_line() {
    let Some(world) = World::new("api_error_becomes_a_stop_failure_line") else {
        return;
    };
    let fake = FakeApi::start(Script::new(vec![
        Step::tool(
            "Bash",
            json!({"command": "echo before-the-error", "description": "one call"}),
        ),
        Step::error(400, "fake api: bad request"),
    ]));
    let out = world
        .claude(&fake)
        .prompt("run into an API error")
        .args(&["--allowedTools", "Bash"])
        .run();
    assert!(!out.timed_out, "{}", out.dump());
    let result = out.result().expect("result record");
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["api_error_status"], 400, "{result}");
    let sid = out.session_id().expect("claude session id");
    let server = &world.server;
    wait_session_end(server, &sid);
    let events = events_of(server, &sid);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "StopFailure")
            .count(),
        1,
        "one StopFailure stored"
    );
    let session = session_of(server, &sid);
    let tl = timeline(server, session["id"].as_str().expect("id"));
    let line = tl
        .iter()
        .find(|l| l["event"] == "StopFailure")
        .unwrap_or_else(|| panic!("no StopFailure line: {:#?}", summaries(&tl)));
    assert_eq!(line["kind"], "stop_failure", "{line:#}");
    assert_eq!(line["status"], "error", "{line:#}");
    assert!(
        line["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("API error")),
        "{line:#}"
    );
    let m = metrics(server, session["id"].as_str().expect("id"));
    assert_tool_metric(&m, "Bash", 1, 1, 0);
}

/// Auto mode: the fake classifier blocks a command, Claude Code fires PermissionDenied, and the
/// timeline shows the denial (and no success for the call).
#[test]
fn auto_mode_denial_is_on_the_timeline() {
    let Some(world) = World::new("auto_mode_denial_is_on_the_timeline") else {
        return;
    };
    let command = format!("curl -s -m 1 http://127.0.0.1:9/{DENY_MARKER}");
    let fake = FakeApi::start(Script::new(vec![
        Step::tool(
            "Bash",
            json!({"command": command, "description": "blocked by the classifier"}),
        ),
        Step::text("Auto mode scenario finished."),
    ]));
    let out = world
        .claude(&fake)
        .prompt("run the auto mode scenario")
        .args(&["--permission-mode", "auto"])
        .run();
    out.assert_success();
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.kind == RequestKind::Classifier { blocked: true }),
        "the classifier was asked and blocked"
    );
    let sid = out.session_id().expect("claude session id");
    let server = &world.server;
    wait_session_end(server, &sid);
    assert_one_event_per_hook_run(server, &out, &sid);
    let events = events_of(server, &sid);
    let denied: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "PermissionDenied")
        .collect();
    assert_eq!(denied.len(), 1, "one PermissionDenied stored");
    assert_eq!(denied[0]["envelope"]["payload"]["tool_name"], "Bash");
    let session = session_of(server, &sid);
    let id = session["id"].as_str().expect("id");
    let tl = timeline(server, id);
    let line = tl
        .iter()
        .find(|l| l["event"] == "PermissionDenied")
        .unwrap_or_else(|| panic!("no PermissionDenied line: {:#?}", summaries(&tl)));
    assert_eq!(line["status"], "error", "{line:#}");
    assert!(
        line["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("Denied by auto mode")),
        "{line:#}"
    );
    let m = metrics(server, id);
    assert!(
        m["tools"]
            .as_array()
            .is_none_or(|t| t.iter().all(|t| t["tool"] != "Bash" || t["successes"] == 0)),
        "a denied call is no success: {m:#}"
    );
}

/// Maestro spawns the real CLI for a task (`POST /api/tasks/{id}/sessions` with
/// `MAESTRO_CLAUDE_COMMAND` set to the pinned binary): the session is tied to the task, its
/// hooks come from `--settings` (the project has none installed) and run once each, and the
/// server records the exit and the final `result`.
#[test]
fn spawned_session_runs_the_real_cli() {
    let Some(bin) = claude_or_skip("spawned_session_runs_the_real_cli") else {
        return;
    };
    let scratch = Scratch::new();
    let fake = FakeApi::start(Script::new(vec![
        Step::tool(
            "Write",
            json!({"file_path": "{cwd}/spawned.txt", "content": "spawned\n"}),
        ),
        Step::tool(
            "Bash",
            json!({"command": "echo spawned-by-maestro", "description": "say it"}),
        ),
        Step::text("Spawn scenario finished."),
    ]));
    let mut env = offline_env(&fake.url, &scratch.home);
    env.push(("MAESTRO_CLAUDE_COMMAND".into(), bin.display().to_string()));
    env.push((
        "MAESTRO_SPOOL_DIR".into(),
        scratch.spool.display().to_string(),
    ));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with_env(&env_refs);
    let project = scratch.project.display().to_string();
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "real spawn", "working_dir": project}),
    );
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().expect("task id").to_string();
    let (status, spawned) = server.post(
        &format!("/api/tasks/{task_id}/sessions"),
        &json!({"prompt": "run the spawn scenario", "permission_mode": "acceptEdits",
                "extra_args": ["--allowedTools", "Bash"]}),
    );
    assert_eq!(status, 201, "{spawned}");
    let id = spawned["id"].as_str().expect("session id").to_string();
    let session = wait_for(
        "the spawned session to finish",
        Duration::from_secs(90),
        || {
            let s = server.get(&format!("/api/sessions/{id}"));
            matches!(s["state"].as_str(), Some("completed" | "failed" | "lost")).then_some(s)
        },
    );
    assert_eq!(session["state"], "completed", "{session:#}");
    // SessionEnd may complete the session before the supervisor reaps the process.
    let session = wait_for("the exit code and result recorded", WAIT, || {
        let s = server.get(&format!("/api/sessions/{id}"));
        (!s["exit_code"].is_null() && !s["result"].is_null()).then_some(s)
    });
    assert_eq!(session["spawned"], true, "{session:#}");
    assert_eq!(session["task_id"], task_id.as_str(), "{session:#}");
    assert_eq!(session["exit_code"], 0, "{session:#}");
    assert_eq!(
        session["result"]["result"], "Spawn scenario finished.",
        "{session:#}"
    );
    let claude_sid = session["claude_session_id"]
        .as_str()
        .expect("claude session id")
        .to_string();
    assert_eq!(
        std::fs::read_to_string(scratch.project.join("spawned.txt")).expect("file"),
        "spawned\n"
    );
    wait_session_end(&server, &claude_sid);
    let events = events_of(&server, &claude_sid);
    assert!(
        events
            .iter()
            .all(|e| e["envelope"]["maestro"]["session_id"] == id.as_str()
                && e["session_id"] == id.as_str()),
        "every event carries the spawned session's ids"
    );
    let pre: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "PreToolUse")
        .filter_map(|e| e["envelope"]["payload"]["tool_name"].as_str())
        .collect();
    assert_eq!(pre, ["Write", "Bash"], "each hook ran once");
    let m = metrics(&server, &id);
    assert_tool_metric(&m, "Write", 1, 1, 0);
    assert_tool_metric(&m, "Bash", 1, 1, 0);
    let lines = summaries(&timeline(&server, &id));
    for want in ["Modified spawned.txt", "Executed: echo spawned-by-maestro"] {
        assert!(
            lines.iter().any(|l| same_line(l, want)),
            "timeline has {want:?}: {lines:#?}"
        );
    }
    let task_metrics = server.get(&format!("/api/tasks/{task_id}/metrics"));
    assert_eq!(task_metrics["total_calls"], 2, "{task_metrics:#}");
}

/// The server is down for the whole session: the hook spools every event, and once the server
/// is back and the spool is flushed, every hook run is stored exactly once (a second flush and
/// the background drainer add nothing).
#[test]
fn server_down_during_session_loses_and_duplicates_nothing() {
    let Some(mut world) = World::new("server_down_during_session_loses_and_duplicates_nothing")
    else {
        return;
    };
    let fake = FakeApi::start(Script::new(vec![
        Step::tool(
            "Write",
            json!({"file_path": "{cwd}/offline.txt", "content": "written offline\n"}),
        ),
        Step::tool(
            "Bash",
            json!({"command": "cat offline.txt", "description": "read back"}),
        ),
        Step::text("Offline scenario finished."),
    ]));
    world.server.stop();
    let out = world
        .claude(&fake)
        .prompt("run while the server is down")
        .args(&["--permission-mode", "acceptEdits", "--allowedTools", "Bash"])
        .run();
    eprintln!("claude ran {:?}", out.elapsed);
    out.assert_success();
    let sid = out.session_id().expect("claude session id");
    let spooled = spooled_files(&world.scratch.spool).len();
    assert!(
        spooled >= reported_hook_runs(&out).values().sum::<usize>(),
        "the hook spooled {spooled} events, fewer than the hook runs"
    );

    world.server.restart();
    let flush = |scratch: &Scratch| {
        let out = Command::new(bin_path("maestro-hook"))
            .arg("flush")
            .envs(hook_env(&world.server, scratch))
            .env("HOME", &scratch.home)
            .output()
            .expect("run maestro-hook flush");
        assert!(
            out.status.success(),
            "maestro-hook flush failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    flush(&world.scratch);
    let server = &world.server;
    wait_session_end(server, &sid);
    wait_for("the spool to drain", WAIT, || {
        spooled_files(&world.scratch.spool).is_empty().then_some(())
    });
    let quarantined = spooled_files(&world.scratch.spool.join("quarantine"));
    assert!(quarantined.is_empty(), "refused events: {quarantined:?}");
    assert_one_event_per_hook_run(server, &out, &sid);
    let count = events_of(server, &sid).len();
    flush(&world.scratch);
    assert_eq!(
        events_of(server, &sid).len(),
        count,
        "a second flush added events"
    );
    let session = session_of(server, &sid);
    assert_eq!(session["state"], "completed", "{session:#}");
    let m = metrics(server, session["id"].as_str().expect("id"));
    assert_tool_metric(&m, "Write", 1, 1, 0);
    assert_tool_metric(&m, "Bash", 1, 1, 0);
}

/// The spooled envelopes (`<micros>-<event_id>.json`) directly in `dir`.
fn spooled_files(dir: &Path) -> Vec<PathBuf> {
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

/// A dangerous command (`rm -rf` outside the project) is denied by the server's policy:
/// Claude Code gets the deny as the tool's error result, the command does not run, and the
/// timeline shows the decision.
#[test]
fn dangerous_command_is_denied_by_policy() {
    let Some(world) = World::new("dangerous_command_is_denied_by_policy") else {
        return;
    };
    // The victim must be outside the project and outside every temp dir (the policy lets
    // agents clean up temp dirs), wherever the checkout lives (a clone under /tmp included).
    let victim_root = victim_root();
    std::fs::create_dir_all(&victim_root).expect("victim root");
    let victim_tmp = tempfile::tempdir_in(&victim_root).expect("victim dir");
    let victim = victim_tmp.path().join("precious");
    std::fs::create_dir_all(&victim).expect("victim dir");
    std::fs::write(victim.join("keep.txt"), "keep\n").expect("victim file");
    let command = format!("rm -rf {}", victim.display());
    let fake = FakeApi::start(Script::new(vec![
        Step::tool(
            "Bash",
            json!({"command": command, "description": "delete things"}),
        ),
        Step::text("Policy scenario finished."),
    ]));
    let out = world
        .claude(&fake)
        .prompt("run the policy scenario")
        .args(&["--dangerously-skip-permissions"])
        .run();
    eprintln!("claude ran {:?}", out.elapsed);
    out.assert_success();
    let sid = out.session_id().expect("claude session id");
    let server = &world.server;
    wait_session_end(server, &sid);
    let session = session_of(server, &sid);
    let tl = timeline(server, session["id"].as_str().expect("id"));
    let diag = format!(
        "timeline: {:#?}\nhook log: {}",
        tl.iter()
            .map(|l| format!(
                "{} {} {} {}",
                l["kind"], l["status"], l["summary"], l["detail"]
            ))
            .collect::<Vec<_>>(),
        std::fs::read_to_string(world.scratch.spool.join("hook.log")).unwrap_or_default()
    );
    // The PreToolUse hook printed the server's deny.
    let pre = out
        .hook_responses()
        .into_iter()
        .find(|r| r["hook_name"] == "PreToolUse:Bash")
        .cloned()
        .expect("PreToolUse:Bash hook_response");
    let decision: Value = serde_json::from_str(pre["stdout"].as_str().unwrap_or("").trim())
        .unwrap_or_else(|e| panic!("PreToolUse stdout is the decision JSON ({e}): {pre}\n{diag}"));
    assert_eq!(
        decision["hookSpecificOutput"]["permissionDecision"], "deny",
        "{decision}"
    );
    assert!(
        victim.join("keep.txt").exists(),
        "the dangerous command ran: the policy did not deny it"
    );
    let bash_id = fake.answered_tools()[0].1.clone();
    let last = fake.main_requests().pop().expect("main request");
    let result = last.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == bash_id.as_str())
        .cloned()
        .expect("tool_result for the denied call");
    assert_eq!(result["is_error"], true, "{result}");
    assert_one_event_per_hook_run(server, &out, &sid);
    let denied = tl
        .iter()
        .find(|l| l["kind"] == "decision" && l["tool_use_id"] == bash_id.as_str())
        .or_else(|| tl.iter().find(|l| l["kind"] == "decision"))
        .unwrap_or_else(|| panic!("no decision line: {:#?}", summaries(&tl)));
    assert_eq!(denied["status"], "error", "{denied:#}");
    let m = metrics(server, session["id"].as_str().expect("id"));
    assert!(
        m["tools"]
            .as_array()
            .is_none_or(|t| t.iter().all(|t| t["tool"] != "Bash" || t["successes"] == 0)),
        "a denied call is no success: {m:#}"
    );
}

/// SDK permission path (`--input-format stream-json --permission-prompt-tool stdio`): the
/// PermissionRequest reaches the server as a pending approval; the operator approves it in
/// Maestro, the hook answers allow, the CLI cancels its own SDK prompt and the Write runs.
#[test]
fn sdk_permission_request_becomes_a_pending_approval() {
    sdk_permission_scenario("sdk_permission_request_becomes_a_pending_approval", true);
}

/// Same path, and the operator denies: the CLI cancels its SDK prompt, the Write does not run,
/// and Claude gets the operator's reason as the tool's error.
#[test]
fn sdk_permission_denied_by_the_operator() {
    sdk_permission_scenario("sdk_permission_denied_by_the_operator", false);
}

fn sdk_permission_scenario(test: &str, approve: bool) {
    let Some(world) = World::new(test) else {
        return;
    };
    let fake = FakeApi::start(Script::new(vec![
        Step::tool(
            "Write",
            json!({"file_path": "{cwd}/asked.txt", "content": "asked\n"}),
        ),
        Step::text("SDK scenario finished."),
    ]));
    let mut claude = world
        .claude(&fake)
        .args(&[
            "--input-format",
            "stream-json",
            "--permission-prompt-tool",
            "stdio",
        ])
        .spawn();
    claude.send_user_message("run the SDK scenario");
    let server = &world.server;
    let approval = wait_for("a pending approval", WAIT, || {
        server
            .get("/api/approvals?status=pending")
            .as_array()
            .and_then(|a| a.first().cloned())
    });
    assert_eq!(approval["event"], "PermissionRequest", "{approval:#}");
    assert_eq!(approval["tool_name"], "Write", "{approval:#}");
    assert_eq!(approval["status"], "pending", "{approval:#}");
    let session = server.get(&format!(
        "/api/sessions/{}",
        approval["session_id"].as_str().expect("session_id")
    ));
    assert_eq!(session["state"], "blocked", "{session:#}");
    // The CLI asked its SDK host too; the test never answers that prompt.
    let prompt = claude.wait_for_record("the SDK permission prompt", WAIT, |r| {
        r["type"] == "control_request" && r["request"]["subtype"] == "can_use_tool"
    });

    let reason = if approve {
        "looks fine"
    } else {
        "operator says no"
    };
    let (status, decided) = server.post(
        &format!("/api/approvals/{}", approval["id"].as_str().expect("id")),
        &json!({"decision": if approve { "approve" } else { "deny" }, "reason": reason}),
    );
    assert_eq!(status, 200, "{decided}");
    assert_eq!(
        decided["status"],
        if approve { "approved" } else { "denied" },
        "{decided:#}"
    );
    claude.wait_for_record("the result", Duration::from_secs(30), |r| {
        r["type"] == "result"
    });
    claude.close_stdin();
    let out = claude.wait();
    out.assert_success();
    assert!(
        out.records
            .iter()
            .any(|r| r["type"] == "control_cancel_request"
                && r["request_id"] == prompt["request_id"]),
        "the hook's decision settled the prompt: {}",
        out.dump()
    );
    let file = world.scratch.project.join("asked.txt");
    let write_id = fake.answered_tools()[0].1.clone();
    let result = fake.main_requests().pop().expect("main request").body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == write_id.as_str())
        .cloned()
        .expect("tool_result for the Write");
    if approve {
        assert_eq!(std::fs::read_to_string(&file).expect("file"), "asked\n");
        assert!(result["is_error"] != true, "{result}");
    } else {
        assert!(!file.exists(), "a denied Write ran");
        assert_eq!(result["is_error"], true, "{result}");
        assert!(result.to_string().contains(reason), "{result}");
    }
    let sid = out.session_id().expect("claude session id");
    wait_session_end(server, &sid);
    let events = events_of(server, &sid);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "PermissionRequest")
            .count(),
        1
    );
    let session = session_of(server, &sid);
    assert_eq!(session["state"], "completed", "{session:#}");
    let tl = timeline(server, session["id"].as_str().expect("id"));
    assert!(
        tl.iter().any(|l| l["kind"] == "permission"),
        "{:#?}",
        summaries(&tl)
    );
    let m = metrics(server, session["id"].as_str().expect("id"));
    if approve {
        assert_tool_metric(&m, "Write", 1, 1, 0);
    } else {
        assert!(
            m["tools"].as_array().is_none_or(|t| t
                .iter()
                .all(|t| t["tool"] != "Write" || t["successes"] == 0)),
            "a denied call is no success: {m:#}"
        );
    }
}

/// A directory for the policy scenario's victim that is neither in the project nor in a temp
/// dir: the real user's home (not the scenario's scratch HOME), else `/var/lib`.
fn victim_root() -> PathBuf {
    let is_temp = |p: &Path| {
        let tmp = std::env::temp_dir();
        p.starts_with("/tmp") || p.starts_with("/var/tmp") || p.starts_with(&tmp)
    };
    let candidates = [
        std::env::var_os("HOME").map(PathBuf::from),
        Some(PathBuf::from("/var/lib")),
    ];
    for base in candidates.into_iter().flatten() {
        if base.is_absolute() && !is_temp(&base) && base != Path::new("/") {
            let root = base.join(".maestro-policy-victims");
            if std::fs::create_dir_all(&root).is_ok() {
                return root;
            }
        }
    }
    maestro_tests::target_dir().join("real-claude-scratch")
}
