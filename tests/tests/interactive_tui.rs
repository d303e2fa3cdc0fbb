//! The interactive Claude Code TUI, driven under tmux (`maestro_tests::tui`) against the
//! scripted fake Messages API, on every supported CLI version: whoever answers a permission
//! dialog (the terminal with Yes, No or Escape, the operator in Maestro, nobody before the
//! hold timeout) and a `kill -9` of the CLI, Maestro's approval, session state and CLI pid say
//! what happened, within seconds, checked by polling the API.
//!
//! The hooks are registered by a settings file written here with only events every supported
//! CLI knows (so no "Settings Warning" dialog opens whatever `maestro-hook install` writes).
//! Without the CLI (no Node.js, install failed) each test prints a SKIP line, unless `CI`.

use maestro_shared::events::HookEventName;
use maestro_shared::registration;
use maestro_tests::claude_cli::{claude_or_skip_for, offline_env, Scratch};
use maestro_tests::fake_api::{FakeApi, Script, Step};
use maestro_tests::server::TestServer;
use maestro_tests::tui::{descendants, Tui};
use maestro_tests::{bin_path, pid_gone, wait_for};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// How long any one condition may take to show through the API.
const WAIT: Duration = Duration::from_secs(30);
/// How long the CLI may take to show its dialog (start-up, two API round trips, hooks).
const DIALOG: Duration = Duration::from_secs(60);

/// The permission dialog's question (both versions ask "Do you want to proceed?" for Bash).
const DIALOG_TEXT: &str = "Do you want to proceed";

/// Events every supported CLI knows (2.1.197 is the oldest).
const EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "Notification",
    "Stop",
    "SessionEnd",
];

/// `touch` asks: Maestro has no opinion at PreToolUse, Claude Code shows its dialog and its
/// PermissionRequest is held for the operator.
const POLICY: &str = r#"
[[rule]]
id = "probe-asks"
tool = "Bash"
command = "touch *"
outcome = "ask"
reason = "The probe asks."
"#;

struct Run {
    server: TestServer,
    scratch: Scratch,
    tui: Tui,
    probe: PathBuf,
    _fake: FakeApi,
    _policy: tempfile::TempDir,
}

impl Run {
    /// Starts a server (hold timeout `hold_ms`), the fake API and the TUI of `version` with a
    /// prompt whose first step is a Bash `touch` that needs permission.
    fn start(test: &str, version: &str, hold_ms: u64) -> Option<Run> {
        let bin = claude_or_skip_for(test, version)?;
        let policy = tempfile::tempdir().expect("policy dir");
        let policy_path = policy.path().join("policy.toml");
        std::fs::write(&policy_path, POLICY).expect("policy");
        let hold = hold_ms.to_string();
        let server = TestServer::start_with_env(&[
            ("MAESTRO_POLICY_FILE", &policy_path.display().to_string()),
            ("MAESTRO_HOLD_TIMEOUT_MS", &hold),
            ("MAESTRO_WATCH_INTERVAL_MS", "200"),
        ]);
        let scratch = Scratch::new();
        let probe = scratch.project.join("probe.txt");
        let fake = FakeApi::start(Script::new(vec![
            Step::tool(
                "Bash",
                json!({"command": format!("touch {}", probe.display()),
                       "description": "Create the probe file"}),
            ),
            Step::text("All done."),
        ]));
        let hook = bin_path("maestro-hook").display().to_string();
        let hooks: serde_json::Map<String, Value> = EVENTS
            .iter()
            .map(|e| {
                let name = HookEventName::parse(e);
                (e.to_string(), json!([registration::group(&name, &hook)]))
            })
            .collect();
        scratch.write(
            ".claude/settings.json",
            &json!({ "hooks": hooks }).to_string(),
        );
        let project = scratch.project.display().to_string();
        std::fs::write(
            scratch.home.join(".claude.json"),
            json!({
                "hasCompletedOnboarding": true,
                "theme": "dark",
                "customApiKeyResponses": {"approved": ["dummy"], "rejected": []},
                "projects": {project: {"hasTrustDialogAccepted": true,
                    "hasCompletedProjectOnboarding": true}},
            })
            .to_string(),
        )
        .expect("claude.json");
        let mut env = offline_env(&fake.url, &scratch.home);
        env.extend(server.hook_env());
        env.push((
            "MAESTRO_SPOOL_DIR".into(),
            scratch.spool.display().to_string(),
        ));
        env.push(("MAESTRO_HOOK_CONFIG".into(), "/dev/null".into()));
        env.push(("TERM".into(), "xterm-256color".into()));
        if let Ok(path) = std::env::var("PATH") {
            env.push(("PATH".into(), path));
        }
        let argv = vec![
            bin.display().to_string(),
            "--permission-mode".into(),
            "default".into(),
            "Create the probe file".into(),
        ];
        let tui = Tui::start(&argv, &env, &scratch.project, Duration::from_secs(240));
        Some(Run {
            server,
            scratch,
            tui,
            probe,
            _fake: fake,
            _policy: policy,
        })
    }

    /// Waits for the held PermissionRequest and Claude Code's dialog; returns the approval.
    fn dialog(&self) -> Value {
        let a = wait_for("the held PermissionRequest", DIALOG, || {
            let list = self.server.get("/api/approvals");
            list.as_array().and_then(|l| l.first().cloned())
        });
        assert_eq!(a["event"], "PermissionRequest", "{a}");
        self.tui.wait_text(DIALOG_TEXT, DIALOG);
        let screen = self.tui.screen();
        assert!(!screen.contains("Settings Warning"), "{screen}");
        a
    }

    fn approval(&self, a: &Value) -> Value {
        self.server
            .get(&format!("/api/approvals/{}", a["id"].as_str().expect("id")))
    }

    /// Polls the approval until its status leaves `from`.
    fn approval_leaving(&self, a: &Value, from: &str) -> Value {
        wait_for(&format!("the approval to leave {from}"), WAIT, || {
            let now = self.approval(a);
            (now["status"] != from).then_some(now)
        })
    }

    fn session(&self, a: &Value) -> Value {
        self.server.get(&format!(
            "/api/sessions/{}",
            a["session_id"].as_str().expect("sid")
        ))
    }

    fn session_in(&self, a: &Value, states: &[&str]) -> Value {
        wait_for(&format!("the session in {states:?}"), WAIT, || {
            let s = self.session(a);
            states.iter().any(|st| s["state"] == *st).then_some(s)
        })
    }

    /// The session's CLI pid is the real CLI process under the tmux pane.
    fn assert_cli_pid(&self, s: &Value) -> u32 {
        let pid = s["claude_pid"].as_i64().expect("claude_pid reported") as u32;
        let pane = self.tui.pane_pid().expect("pane pid");
        assert!(
            pane == pid || descendants(pane).contains(&pid),
            "claude_pid {pid} is not the CLI under the pane {pane}: {s}"
        );
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert!(
            !["sh", "bash", "dash", "zsh", "timeout", "maestro-hook"].contains(&comm.trim()),
            "claude_pid {pid} is {comm:?}, not the CLI"
        );
        pid
    }

    /// The session's timeline summaries.
    fn lines(&self, a: &Value) -> Vec<String> {
        self.server
            .get(&format!(
                "/api/sessions/{}/timeline",
                a["session_id"].as_str().expect("sid")
            ))
            .as_array()
            .expect("arr")
            .iter()
            .filter_map(|l| l["summary"].as_str().map(str::to_string))
            .collect()
    }

    /// The digit of the dialog's "No" option (3 or 4 depending on the version and choices).
    fn no_key(&self) -> String {
        self.tui.wait_screen("a \"No\" option", WAIT, |screen| {
            screen.lines().find_map(|l| {
                let t = l.trim_start_matches(|c: char| !c.is_ascii_digit());
                let mut chars = t.chars();
                let d = chars.next()?;
                let rest: String = chars.collect();
                rest.starts_with(". No").then(|| d.to_string())
            })
        })
    }
}

fn yes_in_the_terminal(version: &str) {
    let Some(run) = Run::start("yes_in_the_terminal", version, 120_000) else {
        return;
    };
    let a = run.dialog();
    assert_eq!(run.approval(&a)["status"], "pending");
    assert_eq!(run.session(&a)["state"], "blocked");
    assert!(run
        .tui
        .press_until_gone("1", DIALOG_TEXT, 5, Duration::from_secs(3)));
    let now = run.approval_leaving(&a, "pending");
    assert_eq!(now["status"], "terminal_allowed", "{now}");
    assert_eq!(now["decided_by"], "terminal");
    let s = run.session_in(&a, &["active", "waiting_for_input"]);
    run.assert_cli_pid(&s);
    assert!(run.probe.exists(), "the tool ran");
    let (status, body) = run.server.post(
        &format!("/api/approvals/{}", a["id"].as_str().expect("id")),
        &json!({"decision": "deny"}),
    );
    assert_eq!(status, 409, "{body}");
}

fn no_in_the_terminal(version: &str, escape: bool) {
    let Some(run) = Run::start("no_in_the_terminal", version, 120_000) else {
        return;
    };
    let a = run.dialog();
    let key = if escape {
        "Escape".to_string()
    } else {
        run.no_key()
    };
    assert!(run
        .tui
        .press_until_gone(&key, DIALOG_TEXT, 5, Duration::from_secs(3)));
    let now = run.approval_leaving(&a, "pending");
    assert_eq!(now["status"], "terminal_denied", "{now}");
    let s = run.session_in(&a, &["waiting_for_input"]);
    run.assert_cli_pid(&s);
    assert!(!run.probe.exists(), "the tool did not run");
    let lines = run.lines(&a);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Not run:") && l.contains("probe.txt")),
        "{lines:?}"
    );
    let _ = &run.scratch;
}

fn approved_in_maestro(version: &str) {
    let Some(run) = Run::start("approved_in_maestro", version, 120_000) else {
        return;
    };
    let a = run.dialog();
    let (status, body) = run.server.post(
        &format!("/api/approvals/{}", a["id"].as_str().expect("id")),
        &json!({"decision": "approve", "reason": "looks fine"}),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("the tool to run", WAIT, || run.probe.exists().then_some(()));
    let now = run.approval(&a);
    assert_eq!(now["status"], "approved", "{now}");
    assert_eq!(now["decided_by"], "operator");
    let s = run.session_in(&a, &["active", "waiting_for_input"]);
    run.assert_cli_pid(&s);
    run.tui.wait_screen("the dialog gone", WAIT, |s| {
        (!s.contains(DIALOG_TEXT)).then_some(())
    });
}

fn left_past_the_hold_timeout(version: &str) {
    let Some(run) = Run::start("left_past_the_hold_timeout", version, 1_500) else {
        return;
    };
    let a = run.dialog();
    let now = run.approval_leaving(&a, "pending");
    assert_eq!(now["status"], "timed_out", "{now}");
    // Claude Code still shows its dialog: the session stays blocked, at the terminal.
    let s = run.session(&a);
    assert_eq!(s["state"], "blocked", "{s}");
    assert!(
        s["blocked_on"]
            .as_str()
            .is_some_and(|b| b.starts_with("Waiting at the terminal")),
        "{s}"
    );
    run.assert_cli_pid(&s);
    assert!(run.tui.screen().contains(DIALOG_TEXT));
    assert!(run
        .tui
        .press_until_gone("1", DIALOG_TEXT, 5, Duration::from_secs(3)));
    let now = run.approval_leaving(&a, "timed_out");
    assert_eq!(now["status"], "terminal_allowed", "{now}");
    run.session_in(&a, &["active", "waiting_for_input"]);
}

fn cli_killed(version: &str) {
    let Some(run) = Run::start("cli_killed", version, 120_000) else {
        return;
    };
    let a = run.dialog();
    let s = run.session(&a);
    let pid = run.assert_cli_pid(&s);
    // The held PermissionRequest hook, a child of the CLI (it survives the CLI's SIGKILL).
    let hook = descendants(pid)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "maestro-hook")
        })
        .expect("the held hook under the CLI");
    // SAFETY: kill(2) on the CLI process this test started (found under its own tmux pane).
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    wait_for("the CLI gone", WAIT, || {
        pid_gone(i64::from(pid)).then_some(())
    });
    let s = run.session_in(&a, &["lost"]);
    assert_eq!(s["claude_pid"].as_i64(), Some(i64::from(pid)));
    let now = run.approval(&a);
    assert_eq!(now["status"], "cancelled", "{now}");
    assert_eq!(now["decided_by"], "process gone");
    // The orphaned held hook is released at once (not at the 120 s hold timeout).
    wait_for("the held hook released", WAIT, || {
        pid_gone(i64::from(hook)).then_some(())
    });
}

macro_rules! on_both_versions {
    ($($name:ident => $body:expr;)*) => {
        mod v2_1_197 {
            use super::*;
            const V: &str = "2.1.197";
            $(#[test] fn $name() { let f: fn(&str) = $body; f(V) })*
        }
        mod v2_1_332 {
            use super::*;
            const V: &str = "2.1.332";
            $(#[test] fn $name() { let f: fn(&str) = $body; f(V) })*
        }
    };
}

on_both_versions! {
    yes_in_the_terminal_is_recorded_as_allowed_there => yes_in_the_terminal;
    no_in_the_terminal_is_recorded_as_denied_there => |v| no_in_the_terminal(v, false);
    escape_in_the_terminal_is_recorded_as_dismissed => |v| no_in_the_terminal(v, true);
    approved_in_maestro_runs_the_tool => approved_in_maestro;
    a_dialog_left_past_the_hold_timeout_stays_blocked_at_the_terminal => left_past_the_hold_timeout;
    a_killed_cli_is_lost_within_the_watch_interval => cli_killed;
}
