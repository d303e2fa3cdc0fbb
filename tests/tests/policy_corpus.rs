//! The policy corpus (`shared/tests/corpus/policy_corpus.json`) through the real binaries:
//! every case is evaluated by `maestro-server policy check` and sent through the real
//! `maestro-hook pre-tool-use` to a real server, on a real directory tree with symlinks (the
//! server resolves paths with its own resolver). 0 dangerous calls allowed (every `deny` case
//! denied), 0 everyday calls denied, and the share of everyday calls allowed is printed and
//! held above the floor.

#[path = "../../shared/tests/corpus_support.rs"]
mod corpus_support;
mod hook_support;

use corpus_support::{judge, load, Case, Tree, ALLOW_FLOOR};
use hook_support::HookEnv;
use maestro_tests::bin_path;
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use serde_json::{json, Value};
use std::process::Command;

fn payload(tree: &Tree, case: &Case, n: usize) -> Value {
    json!({
        "session_id": "5b0c8f0e-1d2a-4c39-9a51-policy-corpus",
        "transcript_path": tree.home.join(".claude/projects/x.jsonl").display().to_string(),
        "cwd": tree.project.display().to_string(),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": case.tool,
        "tool_input": tree.substitute(&case.input),
        "tool_use_id": format!("toolu_corpus_{n}"),
    })
}

/// `maestro-server policy check` on the payload: the `decision:` line.
fn policy_check(
    tree: &Tree,
    server: &TestServer,
    payload: &Value,
    dir: &std::path::Path,
) -> String {
    let file = dir.join("payload.json");
    std::fs::write(&file, payload.to_string()).expect("write payload");
    let out = Command::new(bin_path("maestro-server"))
        .args(["policy", "check"])
        .arg(&file)
        .env("HOME", &tree.home)
        .env("MAESTRO_DATA_DIR", &server.data_dir)
        .env("MAESTRO_INGEST_TOKEN", INGEST_TOKEN)
        .env("MAESTRO_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env_remove("MAESTRO_POLICY_FILE")
        .env_remove("MAESTRO_CONFIG")
        .current_dir(&tree.project)
        .output()
        .expect("run policy check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "policy check failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("decision:"))
        .map(|d| d.trim().to_string())
        .unwrap_or_else(|| panic!("no decision line in {stdout:?}"))
}

/// The real hook: what Claude Code would act on (`allow`, `deny`, or nothing: `ask`).
fn through_hook(hook: &HookEnv, payload: &Value) -> String {
    let run = hook.send(payload);
    assert_eq!(run.status.code(), Some(0), "hook failed: {}", run.stderr);
    let out = run.out();
    if out.trim().is_empty() {
        return "ask".into();
    }
    let v: Value = serde_json::from_str(out.trim()).expect("hook JSON");
    v["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or("ask")
        .to_string()
}

#[test]
fn corpus_through_policy_check_and_the_real_hook() {
    let mut tree = Tree::build(None);
    let server = TestServer::start_with_env(&[("HOME", &tree.home.display().to_string())]);
    tree.set_data(&server.data_dir);
    let mut hook = HookEnv::for_server(&server);
    hook.set("CLAUDE_PROJECT_DIR", &tree.project.display().to_string());
    let scratch = tempfile::tempdir().expect("scratch dir");
    let (dangerous, everyday) = load();
    assert!(dangerous.len() >= 250 && everyday.len() >= 120);

    let mut n = 0;
    let mut run = |cases: Vec<Case>| {
        let mut by_check = Vec::new();
        let mut by_hook = Vec::new();
        for case in cases {
            n += 1;
            let p = payload(&tree, &case, n);
            by_check.push((
                case.clone(),
                policy_check(&tree, &server, &p, scratch.path()),
            ));
            by_hook.push((case, through_hook(&hook, &p)));
        }
        (by_check, by_hook)
    };
    let (dangerous_check, dangerous_hook) = run(dangerous);
    let (everyday_check, everyday_hook) = run(everyday);

    let (mut failures, share_check) = judge(&dangerous_check, &everyday_check);
    let (hook_failures, share_hook) = judge(&dangerous_hook, &everyday_hook);
    failures.extend(hook_failures.into_iter().map(|f| format!("hook: {f}")));
    println!(
        "policy corpus: {} dangerous, {} everyday; everyday allowed: {:.1}% (policy check), \
         {:.1}% (hook)",
        dangerous_check.len(),
        everyday_check.len(),
        share_check * 100.0,
        share_hook * 100.0
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(share_check >= ALLOW_FLOOR, "{:.1}%", share_check * 100.0);
    assert!(share_hook >= ALLOW_FLOOR, "{:.1}%", share_hook * 100.0);
}
