//! `maestro-hook install` / `uninstall` / `status` against real settings files with user
//! hooks and settings (fixtures): merge, idempotence, backup, invalid JSON refused,
//! uninstall restores the original.

mod hook_support;

use hook_support::HookEnv;
use maestro_shared::HookEventName;
use maestro_tests::fixture;
use serde_json::Value;
use std::path::{Path, PathBuf};

const EXCLUDED: [&str; 2] = ["WorktreeCreate", "FileChanged"];

fn hook_bin() -> String {
    let p = maestro_tests::bin_path("maestro-hook");
    std::fs::canonicalize(&p)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read settings")).expect("JSON")
}

fn settings_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("settings/{name}"))).expect("fixture")
}

fn backups(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().expect("n").to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = std::fs::read_dir(path.parent().expect("dir"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name().is_some_and(|n| {
                        n.to_string_lossy()
                            .starts_with(&format!("{name}.maestro-hook-backup-"))
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn is_ours(h: &Value) -> bool {
    h["type"] == "command"
        && h["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("/maestro-hook"))
}

/// The handlers of ours per event key.
fn ours(settings: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(hooks) = settings["hooks"].as_object() {
        for (k, groups) in hooks {
            for g in groups.as_array().into_iter().flatten() {
                for h in g["hooks"].as_array().into_iter().flatten() {
                    if is_ours(h) {
                        out.push((k.clone(), h.clone()));
                    }
                }
            }
        }
    }
    out
}

/// Asserts `after` holds `before` (minus our handlers) plus exactly one handler of ours per
/// installed event.
fn assert_installed(before: &Value, after: &Value) {
    let bin = hook_bin();
    for (k, v) in before.as_object().expect("object") {
        if k != "hooks" {
            assert_eq!(&after[k], v, "setting {k} changed");
        }
    }
    if let Some(hooks) = before["hooks"].as_object() {
        for (event, groups) in hooks {
            for g in groups.as_array().expect("groups") {
                for h in g["hooks"].as_array().expect("handlers") {
                    if is_ours(h) {
                        continue;
                    }
                    let still = after["hooks"][event]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|ag| {
                            ag["matcher"] == g["matcher"]
                                && ag["hooks"].as_array().is_some_and(|hs| hs.contains(h))
                        });
                    assert!(still, "user hook {h} of {event} lost");
                }
            }
        }
    }
    let found = ours(after);
    let want: Vec<&HookEventName> = HookEventName::ALL
        .iter()
        .filter(|e| !EXCLUDED.contains(&e.as_str()))
        .collect();
    assert_eq!(found.len(), want.len(), "{found:?}");
    for ev in want {
        let (_, h) = found
            .iter()
            .find(|(k, _)| k == ev.as_str())
            .unwrap_or_else(|| panic!("{} not installed", ev.as_str()));
        assert_eq!(h["command"], bin.as_str());
        assert_eq!(
            h["args"],
            serde_json::json!([ev.subcommand().expect("sub")])
        );
        let timeout = h["timeout"].as_u64().expect("timeout");
        match ev.as_str() {
            "PreToolUse" => assert_eq!(timeout, 120),
            "PermissionRequest" => assert_eq!(timeout, 600),
            "SessionEnd" => assert!(timeout >= 5),
            _ => assert!((5..=30).contains(&timeout), "{ev}: {timeout}"),
        }
    }
    for ex in EXCLUDED {
        assert!(
            !found.iter().any(|(k, _)| k == ex),
            "{ex} must not be installed"
        );
    }
}

#[test]
fn user_scope_merge_idempotence_backup_and_uninstall() {
    let hook = HookEnv::new("http://127.0.0.1:9");
    let path = hook.home.join(".claude").join("settings.json");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    let original_text = settings_fixture("user-with-hooks.json");
    std::fs::write(&path, &original_text).expect("write");
    let original: Value = serde_json::from_str(&original_text).expect("json");

    let run = hook.run(&["install", "--scope", "user"], b"");
    assert_eq!(run.status.code(), Some(0), "{}{}", run.out(), run.stderr);
    let installed = read_json(&path);
    assert_installed(&original, &installed);
    let b = backups(&path);
    assert_eq!(b.len(), 1, "one backup");
    assert_eq!(
        std::fs::read_to_string(&b[0]).expect("backup"),
        original_text
    );

    // A second install changes nothing and makes no new backup.
    let bytes = std::fs::read(&path).expect("read");
    let again = hook.run(&["install", "--scope", "user"], b"");
    assert_eq!(again.status.code(), Some(0), "{}", again.stderr);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bytes,
        "second install changed the file"
    );
    assert_eq!(backups(&path).len(), 1);

    // status sees it.
    let status = hook.run(
        &[
            "status",
            "--project-dir",
            &hook.tmp.path().display().to_string(),
        ],
        b"",
    );
    assert!(status.out().contains("31/31 events"), "{}", status.out());

    // Uninstall restores the original content.
    let un = hook.run(&["uninstall", "--scope", "user"], b"");
    assert_eq!(un.status.code(), Some(0), "{}", un.stderr);
    assert_eq!(read_json(&path), original);
    assert_eq!(backups(&path).len(), 2);
    let un2 = hook.run(&["uninstall", "--scope", "user"], b"");
    assert_eq!(un2.status.code(), Some(0));
    assert_eq!(read_json(&path), original);
}

#[test]
fn project_and_local_scope_with_project_dir() {
    let hook = HookEnv::new("http://127.0.0.1:9");
    let project = hook.tmp.path().join("proj");
    let dot = project.join(".claude");
    std::fs::create_dir_all(&dot).expect("mkdir");
    let proj_text = settings_fixture("project-no-hooks.json");
    std::fs::write(dot.join("settings.json"), &proj_text).expect("write");
    let pd = project.display().to_string();

    let run = hook.run(
        &["install", "--scope", "project", "--project-dir", &pd],
        b"",
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let original: Value = serde_json::from_str(&proj_text).expect("json");
    assert_installed(&original, &read_json(&dot.join("settings.json")));

    // Local scope: no file yet; install creates it, no backup needed.
    let local = dot.join("settings.local.json");
    let run = hook.run(&["install", "--project-dir", &pd], b"");
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_installed(&serde_json::json!({}), &read_json(&local));
    assert!(backups(&local).is_empty());

    let un = hook.run(
        &["uninstall", "--scope", "project", "--project-dir", &pd],
        b"",
    );
    assert_eq!(un.status.code(), Some(0), "{}", un.stderr);
    assert_eq!(read_json(&dot.join("settings.json")), original);
    let un = hook.run(
        &["uninstall", "--scope", "local", "--project-dir", &pd],
        b"",
    );
    assert_eq!(un.status.code(), Some(0), "{}", un.stderr);
    assert_eq!(read_json(&local), serde_json::json!({}));
}

#[test]
fn older_maestro_entries_are_replaced_not_duplicated() {
    let hook = HookEnv::new("http://127.0.0.1:9");
    let project = hook.tmp.path().join("proj");
    let local = project.join(".claude").join("settings.local.json");
    std::fs::create_dir_all(local.parent().expect("dir")).expect("mkdir");
    let text = settings_fixture("local-older-maestro.json");
    std::fs::write(&local, &text).expect("write");
    let pd = project.display().to_string();

    let run = hook.run(&["install", "--scope", "local", "--project-dir", &pd], b"");
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let after = read_json(&local);
    assert!(!after.to_string().contains("/opt/old/bin"), "{after:#}");
    assert_installed(&serde_json::from_str(&text).expect("json"), &after);
    // The user's own handler that shared a group with the old entry is still there.
    assert!(after.to_string().contains("~/bin/audit-tool-use"));

    // Uninstall leaves exactly the user's part of the original.
    let un = hook.run(
        &["uninstall", "--scope", "local", "--project-dir", &pd],
        b"",
    );
    assert_eq!(un.status.code(), Some(0), "{}", un.stderr);
    let left = read_json(&local);
    assert!(ours(&left).is_empty());
    assert_eq!(
        left["permissions"],
        serde_json::json!({"allow": ["Bash(make:*)"]})
    );
    assert_eq!(
        left["hooks"]["SessionStart"],
        serde_json::json!([{"matcher": "startup", "hooks": [
            {"type": "command", "command": "echo 'remember: run make check'"}]}])
    );
    assert_eq!(
        left["hooks"]["PreToolUse"],
        serde_json::json!([{"matcher": "*", "hooks": [
            {"type": "command", "command": "~/bin/audit-tool-use"}]}])
    );
}

#[test]
fn invalid_json_is_refused_and_left_untouched() {
    let hook = HookEnv::new("http://127.0.0.1:9");
    let path = hook.home.join(".claude").join("settings.json");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    for fx in ["invalid-trailing-comma.json", "invalid-jsonc-comments.json"] {
        let text = settings_fixture(fx);
        std::fs::write(&path, &text).expect("write");
        for args in [
            &["install", "--scope", "user"][..],
            &["uninstall", "--scope", "user"][..],
        ] {
            let run = hook.run(args, b"");
            assert_ne!(run.status.code(), Some(0), "{fx} {args:?} must fail");
            assert!(
                run.stderr.contains("not valid JSON")
                    && run.stderr.contains(&path.display().to_string()),
                "{fx}: {}",
                run.stderr
            );
            assert_eq!(
                std::fs::read_to_string(&path).expect("read"),
                text,
                "{fx} changed"
            );
            assert!(backups(&path).is_empty());
        }
    }
}

#[test]
fn dry_run_writes_nothing_and_server_url_is_saved() {
    let hook = HookEnv::new("http://127.0.0.1:9");
    let path = hook.home.join(".claude").join("settings.json");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    let text = settings_fixture("user-with-hooks.json");
    std::fs::write(&path, &text).expect("write");

    let run = hook.run(
        &[
            "install",
            "--scope",
            "user",
            "--dry-run",
            "--server",
            "http://127.0.0.1:8999",
        ],
        b"",
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(run.out().contains("pre-tool-use"), "{}", run.out());
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    assert!(backups(&path).is_empty());
    let config = hook.tmp.path().join("config.env");
    assert!(!config.exists(), "dry run wrote the config file");

    // For real: the URL goes to the config file, where the hook reads it (unless
    // MAESTRO_URL is set, which wins).
    let run = hook.run(
        &[
            "install",
            "--scope",
            "user",
            "--server",
            "http://127.0.0.1:8999",
        ],
        b"",
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let cfg = std::fs::read_to_string(&config).expect("config file");
    assert!(cfg.contains("MAESTRO_URL=http://127.0.0.1:8999"), "{cfg}");
    let status = hook.run_with(&["status"], b"", &[("MAESTRO_URL", "")]);
    assert!(
        status
            .out()
            .contains("server: http://127.0.0.1:8999 (from config file"),
        "{}",
        status.out()
    );
    let bad = hook.run(
        &["install", "--scope", "user", "--server", "localhost:1"],
        b"",
    );
    assert_ne!(bad.status.code(), Some(0));
}
