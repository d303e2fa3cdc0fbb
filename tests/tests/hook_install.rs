//! `maestro-hook install` / `uninstall` / `status` against real settings files with user
//! hooks and settings (fixtures): merge, idempotence, backup, invalid JSON refused,
//! uninstall restores the original; version-aware registration (`--claude-version`, the
//! `claude` on PATH, the real CLIs of the supported range).

mod hook_support;

use hook_support::HookEnv;
use maestro_shared::cli_versions::{ClaudeVersion, NEWEST_KNOWN, OLDEST_SUPPORTED};
use maestro_shared::registration;
use maestro_tests::claude_cli::{claude_or_skip_for, SUPPORTED_VERSIONS};
use maestro_tests::fixture;
use serde_json::Value;
use std::path::{Path, PathBuf};

const EXCLUDED: [&str; 2] = ["WorktreeCreate", "FileChanged"];

/// A dir holding an executable `claude` that prints `<version> (Claude Code)`, for `PATH`.
fn fake_claude_dir(parent: &Path, version: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent.join(format!("fake-claude-{version}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bin = dir.join("claude");
    std::fs::write(&bin, format!("#!/bin/sh\necho '{version} (Claude Code)'\n")).expect("write");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// A `PATH` of `dir` plus the system dirs (for `/bin/sh`), without any real `claude`.
fn path_with(dir: &Path) -> String {
    format!("{}:/usr/bin:/bin", dir.display())
}

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
/// event registered for Claude Code `version`.
fn assert_installed(before: &Value, after: &Value, version: &ClaudeVersion) {
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
    let want: Vec<_> = registration::registered_events(version).collect();
    assert!(want.iter().all(|e| !EXCLUDED.contains(&e.as_str())));
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
    let mut hook = HookEnv::new("http://127.0.0.1:9");
    // The version comes from the `claude` on PATH.
    let dir = fake_claude_dir(hook.tmp.path(), "2.1.332");
    hook.set("PATH", &path_with(&dir));
    let path = hook.home.join(".claude").join("settings.json");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    let original_text = settings_fixture("user-with-hooks.json");
    std::fs::write(&path, &original_text).expect("write");
    let original: Value = serde_json::from_str(&original_text).expect("json");

    let run = hook.run(&["install", "--scope", "user"], b"");
    assert_eq!(run.status.code(), Some(0), "{}{}", run.out(), run.stderr);
    assert!(
        run.out().contains("Claude Code: 2.1.332 (from `")
            && run
                .out()
                .contains("registered 32 events for Claude Code 2.1.332"),
        "{}",
        run.out()
    );
    assert!(!run.out().contains("warning:"), "{}", run.out());
    let installed = read_json(&path);
    assert_installed(&original, &installed, &NEWEST_KNOWN);
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
    assert!(status.out().contains("32/32 events"), "{}", status.out());
    assert!(
        status.out().contains("Claude Code: 2.1.332"),
        "{}",
        status.out()
    );
    assert!(
        !status.out().contains("WARNING: entries"),
        "{}",
        status.out()
    );

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
        &[
            "install",
            "--scope",
            "project",
            "--project-dir",
            &pd,
            "--claude-version",
            "2.1.197",
        ],
        b"",
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(
        run.out()
            .contains("Claude Code: 2.1.197 (from --claude-version)"),
        "{}",
        run.out()
    );
    let original: Value = serde_json::from_str(&proj_text).expect("json");
    assert_installed(
        &original,
        &read_json(&dot.join("settings.json")),
        &OLDEST_SUPPORTED,
    );

    // Local scope: no file yet; install creates it, no backup needed.
    let local = dot.join("settings.local.json");
    let run = hook.run(
        &[
            "install",
            "--project-dir",
            &pd,
            "--claude-version",
            "2.1.332",
        ],
        b"",
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_installed(&serde_json::json!({}), &read_json(&local), &NEWEST_KNOWN);
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
    let mut hook = HookEnv::new("http://127.0.0.1:9");
    // No `claude` anywhere: the oldest supported set, with a warning that says so.
    let empty = hook.tmp.path().join("empty-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    hook.set("PATH", &path_with(&empty));
    let project = hook.tmp.path().join("proj");
    let local = project.join(".claude").join("settings.local.json");
    std::fs::create_dir_all(local.parent().expect("dir")).expect("mkdir");
    let text = settings_fixture("local-older-maestro.json");
    std::fs::write(&local, &text).expect("write");
    let pd = project.display().to_string();

    let run = hook.run(&["install", "--scope", "local", "--project-dir", &pd], b"");
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(
        run.out()
            .contains("warning: cannot find the Claude Code version (no `claude` on PATH)")
            && run.out().contains("oldest supported version 2.1.197"),
        "{}",
        run.out()
    );
    let after = read_json(&local);
    assert!(!after.to_string().contains("/opt/old/bin"), "{after:#}");
    assert_installed(
        &serde_json::from_str(&text).expect("json"),
        &after,
        &OLDEST_SUPPORTED,
    );
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

/// An install made for a newer CLI is seen by `status` against the older one (a WARNING that
/// names the unknown events), and installing again for the older one removes exactly those
/// entries; the other way round, `status` notes the events not registered. A version older
/// than the supported range is installed with a warning; a malformed one is refused.
#[test]
fn status_and_install_follow_the_cli_version() {
    let mut hook = HookEnv::new("http://127.0.0.1:9");
    let project = hook.tmp.path().join("proj");
    std::fs::create_dir_all(&project).expect("mkdir");
    let pd = project.display().to_string();
    let local = project.join(".claude").join("settings.local.json");
    let old_cli = fake_claude_dir(hook.tmp.path(), "2.1.197");
    hook.set("PATH", &path_with(&old_cli));

    let run = hook.run(
        &[
            "install",
            "--project-dir",
            &pd,
            "--claude-version",
            "2.1.332",
        ],
        b"",
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let status = hook.run(&["status", "--project-dir", &pd], b"");
    let out = status.out();
    assert!(out.contains("Claude Code: 2.1.197 (from `"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("settings.local.json"))
        .unwrap_or_else(|| panic!("no local line: {out}"));
    assert!(
        line.contains("28/28 events")
            && line.contains("WARNING: entries for events Claude Code 2.1.197 does not know"),
        "{line}"
    );
    for e in [
        "DirectoryAdded",
        "PreModelSwitch",
        "PostModelSwitch",
        "PreSkillShellCommand",
    ] {
        assert!(line.contains(e), "{e}: {line}");
    }

    // Installing for the CLI on PATH removes the four stale entries.
    let run = hook.run(&["install", "--project-dir", &pd], b"");
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(run.out().contains("(4 change(s))"), "{}", run.out());
    assert_installed(
        &serde_json::json!({}),
        &read_json(&local),
        &OLDEST_SUPPORTED,
    );
    let status = hook.run(&["status", "--project-dir", &pd], b"");
    assert!(
        !status.out().contains("WARNING: entries"),
        "{}",
        status.out()
    );
    assert!(
        !status.out().contains("note: not registered"),
        "{}",
        status.out()
    );

    // Against the newest CLI, that install lacks events: a note, not a warning.
    let status = hook.run(
        &[
            "status",
            "--project-dir",
            &pd,
            "--claude-version",
            "2.1.332",
        ],
        b"",
    );
    let out = status.out();
    assert!(
        out.contains("28/32 events") && out.contains("note: not registered"),
        "{out}"
    );
    assert!(!out.contains("WARNING: entries"), "{out}");

    // Older than supported: installed with the oldest set, and a warning.
    let run = hook.run(
        &[
            "install",
            "--project-dir",
            &pd,
            "--claude-version",
            "2.1.100",
        ],
        b"",
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(
        run.out()
            .contains("warning: Claude Code 2.1.100 is older than the oldest supported"),
        "{}",
        run.out()
    );
    assert_installed(
        &serde_json::json!({}),
        &read_json(&local),
        &OLDEST_SUPPORTED,
    );
    let bad = hook.run(
        &[
            "install",
            "--project-dir",
            &pd,
            "--claude-version",
            "latest",
        ],
        b"",
    );
    assert_ne!(bad.status.code(), Some(0));
    assert!(
        bad.stderr.contains("not a Claude Code version"),
        "{}",
        bad.stderr
    );
}

/// With each real CLI of the supported range on PATH, `install` detects its version and
/// registers exactly its events, and `status` names it and finds nothing to warn about.
#[test]
fn real_clis_are_detected() {
    for version in SUPPORTED_VERSIONS {
        let Some(bin) = claude_or_skip_for("real_clis_are_detected", version) else {
            continue;
        };
        let mut hook = HookEnv::new("http://127.0.0.1:9");
        let dir = bin.parent().expect("bin dir");
        hook.set("PATH", &path_with(dir));
        let project = hook.tmp.path().join("proj");
        std::fs::create_dir_all(&project).expect("mkdir");
        let pd = project.display().to_string();
        let run = hook.run(&["install", "--project-dir", &pd], b"");
        assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
        assert!(
            run.out()
                .contains(&format!("Claude Code: {version} (from `")),
            "{version}: {}",
            run.out()
        );
        let parsed = ClaudeVersion::parse(version).expect("version");
        assert_installed(
            &serde_json::json!({}),
            &read_json(&project.join(".claude").join("settings.local.json")),
            &parsed,
        );
        let status = hook.run(&["status", "--project-dir", &pd], b"");
        let out = status.out();
        let n = registration::registered_events(&parsed).count();
        assert!(out.contains(&format!("{n}/{n} events")), "{version}: {out}");
        assert!(
            !out.contains("WARNING: entries") && !out.contains("note: not registered"),
            "{version}: {out}"
        );
    }
}
