//! Spool-first delivery with the real Claude Code CLI (both supported versions): every hook run
//! the CLI reports reaches the server exactly once, in `-p` sessions that end right after their
//! last tool call (the CLI exits while the detached drainer still forwards the last events),
//! with the server up, and with the server down for the whole session and started afterwards
//! (the drainer, not a `flush`, delivers the spool).
//!
//! Without Node.js/npm every test prints a SKIP line and passes, unless `CI` is set.

use maestro_tests::claude_cli::{
    claude_or_skip_for, ClaudeCommand, ClaudeOutput, Scratch, NEWEST_VERSION, OLDEST_VERSION,
};
use maestro_tests::fake_api::{FakeApi, Script, Step};
use maestro_tests::hook_runs::{
    assert_one_event_per_hook_run, events_of, hook_env, install_hooks, reported_hook_runs,
    spooled_files,
};
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// How long the drainer may take (its backoff tops out at 2 s between attempts).
const WAIT: Duration = Duration::from_secs(30);
/// Tool calls per session.
const CALLS: usize = 8;

macro_rules! per_version {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn oldest() {
                super::$name(super::OLDEST_VERSION);
            }
            #[test]
            fn newest() {
                super::$name(super::NEWEST_VERSION);
            }
        }
    )+};
}

per_version!(
    p_session_with_the_server_up_stores_every_hook_run_once,
    p_session_with_the_server_down_is_delivered_once_when_it_starts,
);

/// The CLI, a server and a scratch project with the hooks as `maestro-hook install` writes
/// them (the default: spool-first delivery).
struct World {
    bin: PathBuf,
    server: TestServer,
    scratch: Scratch,
}

impl World {
    fn new(test: &str, version: &str) -> Option<World> {
        let bin = claude_or_skip_for(test, version)?;
        let server = TestServer::start();
        let scratch = Scratch::new();
        install_hooks(&scratch, version);
        Some(World {
            bin,
            server,
            scratch,
        })
    }

    /// A `-p` session of [`CALLS`] Bash calls; its last tool call is followed only by the
    /// final answer, after which the CLI exits.
    fn run(&self) -> ClaudeOutput {
        let mut steps: Vec<Step> = (0..CALLS)
            .map(|i| {
                Step::tool(
                    "Bash",
                    json!({"command": format!("echo call-{i}"), "description": "echo"}),
                )
            })
            .collect();
        steps.push(Step::text("done"));
        let fake = FakeApi::start(Script::new(steps));
        let out = ClaudeCommand::in_scratch(&self.bin, &fake.url, &self.scratch)
            .envs(&hook_env(&self.server, &self.scratch))
            .prompt("run the delivery scenario")
            .args(&["--allowedTools", "Bash"])
            .timeout(Duration::from_secs(90))
            .run();
        out.assert_success();
        out
    }

    /// Waits until the spool is empty and the session's SessionEnd (the CLI's last hook, run
    /// as it exits) is stored.
    fn wait_delivered(&self, sid: &str) {
        wait_for("the drainer to deliver the session", WAIT, || {
            let end = events_of(&self.server, sid)
                .iter()
                .any(|e| e["event"] == "SessionEnd");
            (end && spooled_files(&self.scratch.spool).is_empty()).then_some(())
        });
    }

    /// The hook's problem log, for failure messages and the "nothing lost" check.
    fn hook_log(&self) -> String {
        std::fs::read_to_string(self.scratch.spool.join("hook.log")).unwrap_or_default()
    }
}

/// Counts a `-p` session's tool hook runs: each Bash call ran PreToolUse and PostToolUse.
fn assert_every_call_hooked(out: &ClaudeOutput) {
    let runs = reported_hook_runs(out);
    for event in ["PreToolUse", "PostToolUse"] {
        assert_eq!(
            runs.get(event).copied(),
            Some(CALLS),
            "{event} runs the CLI reported: {runs:?}"
        );
    }
}

fn p_session_with_the_server_up_stores_every_hook_run_once(version: &str) {
    let Some(world) = World::new(
        "p_session_with_the_server_up_stores_every_hook_run_once",
        version,
    ) else {
        return;
    };
    let out = world.run();
    assert_every_call_hooked(&out);
    let sid = out.session_id().expect("claude session id");
    world.wait_delivered(&sid);
    assert_one_event_per_hook_run(&world.server, &out, &sid);
    assert!(
        events_of(&world.server, &sid)
            .iter()
            .any(|e| e["event"] == "SessionEnd"),
        "SessionEnd, run as the CLI exits, is stored"
    );
    let log = world.hook_log();
    assert!(!log.contains("NOT spooled"), "hook log: {log}");
    assert!(
        spooled_files(&world.scratch.spool.join("quarantine")).is_empty(),
        "hook log: {log}"
    );
}

fn p_session_with_the_server_down_is_delivered_once_when_it_starts(version: &str) {
    let Some(mut world) = World::new(
        "p_session_with_the_server_down_is_delivered_once_when_it_starts",
        version,
    ) else {
        return;
    };
    world.server.stop();
    let out = world.run();
    assert_every_call_hooked(&out);
    let sid = out.session_id().expect("claude session id");
    // Everything the CLI ran is in the spool: the reported runs, plus SessionEnd (and
    // InstructionsLoaded, when the CLI ran it), which stream-json does not report.
    let reported: usize = reported_hook_runs(&out).values().sum();
    wait_for("SessionEnd spooled", WAIT, || {
        let n = spooled_files(&world.scratch.spool).len();
        (n > reported).then_some(())
    });
    let spooled = spooled_files(&world.scratch.spool).len();
    assert!(
        spooled <= reported + 2,
        "{spooled} spooled for {reported} reported hook runs"
    );

    // The server comes back: the drainer (no flush) delivers everything, once.
    world.server.restart();
    world.wait_delivered(&sid);
    assert_one_event_per_hook_run(&world.server, &out, &sid);
    assert_eq!(
        events_of(&world.server, &sid).len(),
        spooled,
        "every spooled event stored, nothing else"
    );
    let log = world.hook_log();
    assert!(!log.contains("NOT spooled"), "hook log: {log}");
    assert!(
        spooled_files(&world.scratch.spool.join("quarantine")).is_empty(),
        "hook log: {log}"
    );
}
