//! `install` / `uninstall`: register exec-form `maestro-hook <subcommand>` handlers in a
//! Claude Code settings file, merging with everything already there.
//!
//! A handler is ours when it is `{"type": "command", "command": "<path>/maestro-hook",
//! "args": ["<event subcommand>", ...]}`. Install keeps every other setting and hook, adds
//! one matcher group per event, changes nothing on a second run, and backs the previous
//! file up before writing. Uninstall removes exactly our handlers (and the groups, event
//! keys and `hooks` object that only held them).

use crate::claude::Choice;
use crate::config;
use maestro_shared::cli_versions::{ClaudeVersion, Support, NEWEST_KNOWN, OLDEST_SUPPORTED};
use maestro_shared::HookEventName;
use serde_json::{json, Map, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// Which settings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `<project>/.claude/settings.json` (shared with the team).
    Project,
    /// `<project>/.claude/settings.local.json` (this machine only; the default).
    Local,
    /// `~/.claude/settings.json` (every project).
    User,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Scope::User, Scope::Project, Scope::Local];

    /// Parses `project`, `local` or `user`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "project" => Some(Scope::Project),
            "local" => Some(Scope::Local),
            "user" => Some(Scope::User),
            _ => None,
        }
    }

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Project => "project",
            Scope::Local => "local",
            Scope::User => "user",
        }
    }

    /// The settings file of this scope.
    pub fn settings_path(self, project_dir: &Path, home: &Path) -> PathBuf {
        match self {
            Scope::Project => project_dir.join(".claude").join("settings.json"),
            Scope::Local => project_dir.join(".claude").join("settings.local.json"),
            Scope::User => home.join(".claude").join("settings.json"),
        }
    }
}

/// Events `install` registers for Claude Code `version` (see
/// [`maestro_shared::registration`]).
pub fn installed_events(
    version: &ClaudeVersion,
) -> impl Iterator<Item = &'static HookEventName> + '_ {
    registration::registered_events(version)
}

pub use maestro_shared::registration::handler;
use maestro_shared::registration::{self, group};

/// Is `h` a handler that `install` wrote (a maestro-hook binary with an event subcommand)?
pub fn is_ours(h: &Value) -> bool {
    let Some(obj) = h.as_object() else {
        return false;
    };
    let is_command = obj.get("type").and_then(Value::as_str) == Some("command");
    let is_binary = obj
        .get("command")
        .and_then(Value::as_str)
        .and_then(|c| Path::new(c).file_name())
        .is_some_and(|n| n == "maestro-hook");
    let sub = obj
        .get("args")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    is_command && is_binary && sub.is_some_and(|s| HookEventName::from_subcommand(s).is_some())
}

/// Error for a settings file whose shape we will not touch.
fn shape_error(path: &Path, what: &str) -> String {
    format!(
        "refusing to modify {}: {what}; the file was left untouched",
        path.display()
    )
}

/// Reads and parses a settings file: a missing or blank file is `{}`; invalid JSON or a
/// non-object is an error that names the file.
pub fn read_settings(path: &Path) -> Result<(Value, Option<String>), String> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((json!({}), None)),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok((json!({}), Some(text)));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        shape_error(
            path,
            &format!(
                "it is not valid JSON (line {}, column {}: {e})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if !v.is_object() {
        return Err(shape_error(path, "the top level is not a JSON object"));
    }
    Ok((v, Some(text)))
}

/// Merges our handlers for the events of Claude Code `version` into `settings` (a JSON
/// object), and removes ours from events that version does not know (an earlier install for
/// a newer CLI). Returns the number of events whose entry was added, replaced or removed
/// (0: nothing changed).
pub fn merge(
    settings: &mut Value,
    exe: &str,
    path: &Path,
    version: &ClaudeVersion,
) -> Result<usize, String> {
    let root = settings
        .as_object_mut()
        .ok_or_else(|| shape_error(path, "the top level is not a JSON object"))?;
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| shape_error(path, "`hooks` is not a JSON object"))?;
    // Check every shape first so that an error leaves `settings` unchanged.
    for event in installed_events(version) {
        if let Some(v) = hooks.get(event.as_str()) {
            check_event_shape(v, event, path)?;
        }
    }
    let mut changed = 0;
    for event in installed_events(version) {
        let want = handler(event, exe);
        let groups = hooks
            .entry(event.as_str())
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        let mut have_exact = false;
        let mut removed = 0;
        for g in groups.iter_mut() {
            if let Some(hs) = g.get_mut("hooks").and_then(Value::as_array_mut) {
                let before = hs.len();
                hs.retain(|h| {
                    if !is_ours(h) {
                        return true;
                    }
                    if *h == want && !have_exact {
                        have_exact = true;
                        return true;
                    }
                    false
                });
                removed += before - hs.len();
            }
        }
        if removed > 0 {
            groups.retain(|g| {
                g.get("hooks")
                    .and_then(Value::as_array)
                    .is_none_or(|hs| !hs.is_empty())
            });
        }
        if !have_exact {
            groups.push(group(event, exe));
        }
        if removed > 0 || !have_exact {
            changed += 1;
        }
    }
    changed += remove_ours(settings, |key| {
        !maestro_shared::registration::is_registered(version, key)
    })
    .1;
    Ok(changed)
}

fn check_event_shape(v: &Value, event: &HookEventName, path: &Path) -> Result<(), String> {
    let groups = v.as_array().ok_or_else(|| {
        shape_error(
            path,
            &format!("`hooks.{}` is not a JSON array", event.as_str()),
        )
    })?;
    for g in groups {
        if !g.is_object() {
            return Err(shape_error(
                path,
                &format!(
                    "`hooks.{}` has an entry that is not an object",
                    event.as_str()
                ),
            ));
        }
        if g.get("hooks").is_some_and(|h| !h.is_array()) {
            return Err(shape_error(
                path,
                &format!("`hooks.{}[].hooks` is not an array", event.as_str()),
            ));
        }
    }
    Ok(())
}

/// Removes every handler of ours from `settings`, and the groups, event keys and `hooks`
/// object that held nothing else. Returns how many handlers were removed.
pub fn remove(settings: &mut Value) -> usize {
    remove_ours(settings, |_| true).0
}

/// Removes our handlers from the event keys `key_matches` selects, and the groups, keys and
/// `hooks` object that held nothing else. Returns (handlers removed, keys touched).
fn remove_ours(settings: &mut Value, key_matches: impl Fn(&str) -> bool) -> (usize, usize) {
    let Some(root) = settings.as_object_mut() else {
        return (0, 0);
    };
    let Some(hooks) = root.get_mut("hooks").and_then(Value::as_object_mut) else {
        return (0, 0);
    };
    let mut removed_total = 0;
    let mut keys_touched = 0;
    let mut emptied_keys = Vec::new();
    for (key, groups) in hooks.iter_mut() {
        if !key_matches(key) {
            continue;
        }
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        let mut removed_here = 0;
        let mut emptied_groups = vec![false; groups.len()];
        for (i, g) in groups.iter_mut().enumerate() {
            if let Some(hs) = g.get_mut("hooks").and_then(Value::as_array_mut) {
                let before = hs.len();
                hs.retain(|h| !is_ours(h));
                let n = before - hs.len();
                removed_here += n;
                emptied_groups[i] = n > 0 && hs.is_empty();
            }
        }
        if removed_here > 0 {
            let mut i = 0;
            groups.retain(|_| {
                let keep = !emptied_groups[i];
                i += 1;
                keep
            });
            if groups.is_empty() {
                emptied_keys.push(key.clone());
            }
        }
        removed_total += removed_here;
        keys_touched += usize::from(removed_here > 0);
    }
    for k in &emptied_keys {
        hooks.shift_remove(k);
    }
    if removed_total > 0 && hooks.is_empty() {
        root.shift_remove("hooks");
    }
    (removed_total, keys_touched)
}

/// The events of `settings` that have one of our handlers, with the command paths used.
pub fn installed_in(settings: &Value) -> Vec<(String, Vec<String>)> {
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, groups) in hooks {
        let mut cmds: Vec<String> = groups
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("hooks").and_then(Value::as_array))
            .flatten()
            .filter(|h| is_ours(h))
            .filter_map(|h| h.get("command").and_then(Value::as_str).map(str::to_string))
            .collect();
        cmds.dedup();
        if !cmds.is_empty() {
            out.push((key.clone(), cmds));
        }
    }
    out
}

/// Options shared by install and uninstall.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which file.
    pub scope: Scope,
    /// Project dir (for project and local scope).
    pub project_dir: PathBuf,
    /// Home dir (for user scope).
    pub home: PathBuf,
    /// Show, do not write.
    pub dry_run: bool,
}

impl Target {
    /// The settings file.
    pub fn path(&self) -> PathBuf {
        self.scope.settings_path(&self.project_dir, &self.home)
    }
}

/// Writes `text` to `path` atomically (temp + fsync + rename), keeping the old file's mode.
fn write_file(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no parent dir", path.display()))?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.maestro-hook-{}.tmp", std::process::id()));
    let result = (|| -> Result<(), String> {
        fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        if let Ok(meta) = fs::metadata(path) {
            let _ = fs::set_permissions(&tmp, meta.permissions());
        }
        let f =
            fs::File::open(&tmp).map_err(|e| format!("cannot reopen {}: {e}", tmp.display()))?;
        f.sync_all()
            .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
        fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Copies `path` to `<path>.maestro-hook-backup-<UTC time>`; returns the backup path.
fn backup(path: &Path, original: &str) -> Result<PathBuf, String> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".maestro-hook-backup-{stamp}"));
    let dest = PathBuf::from(name);
    fs::write(&dest, original)
        .map_err(|e| format!("cannot write backup {}: {e}", dest.display()))?;
    if let Ok(meta) = fs::metadata(path) {
        let _ = fs::set_permissions(&dest, meta.permissions());
    }
    Ok(dest)
}

fn render(v: &Value) -> Result<String, String> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| format!("cannot serialise settings: {e}"))
}

/// Applies `edit` to the settings file of `target`; prints what happened.
fn apply(
    target: &Target,
    verb: &str,
    edit: impl FnOnce(&mut Value, &Path) -> Result<usize, String>,
) -> Result<usize, String> {
    let path = target.path();
    let (mut settings, original) = read_settings(&path)?;
    let before = settings.clone();
    let n = edit(&mut settings, &path)?;
    if settings == before {
        println!("{}: nothing to change ({verb})", path.display());
        return Ok(0);
    }
    let text = render(&settings)?;
    if target.dry_run {
        println!("dry run: would write {}:", path.display());
        print!("{text}");
        return Ok(n);
    }
    if let Some(orig) = &original {
        let b = backup(&path, orig)?;
        println!("backed up {} to {}", path.display(), b.display());
    }
    write_file(&path, &text)?;
    println!("{}: {verb} ({n} change(s))", path.display());
    Ok(n)
}

/// `install`: merges our handlers for the events of the chosen Claude Code version into the
/// target file. `server`, when given, is saved as `MAESTRO_URL` in the hook's config file.
/// With `telemetry`, Claude Code's OpenTelemetry export settings (see
/// [`maestro_shared::otel::env`]) are also written into the file's `env`.
pub fn run_install(
    target: &Target,
    exe: &str,
    server: Option<&str>,
    claude: &Choice,
    telemetry: bool,
) -> Result<(), String> {
    if let Some(url) = server {
        save_server(url, target.dry_run)?;
    }
    let version = claude.version();
    println!("{}", claude.describe());
    for line in version_warnings(claude) {
        println!("{line}");
    }
    apply(target, "maestro-hook installed", |s, p| {
        merge(s, exe, p, &version)
    })?;
    println!(
        "registered {} events for Claude Code {version}",
        installed_events(&version).count()
    );
    let cfg = config::Config::load();
    if cfg.token.is_none() {
        println!(
            "warning: no ingest token found ({}); set MAESTRO_TOKEN or start the server once",
            cfg.token_source
        );
    }
    if telemetry {
        // Claude Code's exporter takes one endpoint: the first server.
        let url = server.unwrap_or(cfg.servers().first().copied().unwrap_or(&cfg.url));
        let Some(token) = cfg.token.as_deref() else {
            return Err(
                "--telemetry needs the ingest token or a machine credential (maestro-hook login) to put in the exporter's header".into(),
            );
        };
        install_telemetry(target, url, token)?;
    }
    Ok(())
}

/// Writes Claude Code's OpenTelemetry export settings (exporter endpoint `url`, `token` in the
/// `Authorization` header, short export intervals) into the `env` of the **user** settings
/// file, whatever the hooks' scope: Claude Code 2.1.332 ignores `OTEL_*` and
/// `CLAUDE_CODE_ENABLE_TELEMETRY` from project and local settings (2.1.197 honoured them), and
/// the token has no business in a file that may be committed. Earlier values of the same
/// variables are replaced; every other entry is kept.
pub fn install_telemetry(target: &Target, url: &str, token: &str) -> Result<(), String> {
    let user = Target {
        scope: Scope::User,
        ..target.clone()
    };
    apply(&user, "telemetry settings written", |s, path| {
        set_env(s, &maestro_shared::otel::env(url, token, &[]), path)
    })?;
    println!(
        "Claude Code will export cost and tokens to {url}/v1/logs (DISABLE_TELEMETRY does not turn this off; remove the OTEL_* and CLAUDE_CODE_ENABLE_TELEMETRY entries of env in {} to stop it)",
        user.path().display()
    );
    Ok(())
}

/// Sets `vars` in `settings.env`; returns how many changed.
fn set_env(settings: &mut Value, vars: &[(String, String)], path: &Path) -> Result<usize, String> {
    let Some(root) = settings.as_object_mut() else {
        return Err(shape_error(path, "the settings file is not a JSON object"));
    };
    let env = root
        .entry("env")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(env) = env.as_object_mut() else {
        return Err(shape_error(path, "\"env\" is not an object"));
    };
    let mut changed = 0;
    for (k, v) in vars {
        if env.get(k).and_then(Value::as_str) != Some(v.as_str()) {
            env.insert(k.clone(), Value::String(v.clone()));
            changed += 1;
        }
    }
    Ok(changed)
}

/// The warnings `install` prints for the chosen version: undetected (the oldest supported set
/// is used), older than supported, newer than this build knows.
pub fn version_warnings(claude: &Choice) -> Vec<String> {
    let mut out = Vec::new();
    match claude {
        Choice::Unknown(why) => out.push(format!(
            "warning: cannot find the Claude Code version ({why}); registering the events of \
             the oldest supported version {OLDEST_SUPPORTED}, which every supported version \
             knows; pass --claude-version X.Y.Z to register the events of yours"
        )),
        Choice::Known { version, .. } => match version.support() {
            Support::TooOld => out.push(format!(
                "warning: Claude Code {version} is older than the oldest supported version \
                 {OLDEST_SUPPORTED}; registering the events of {OLDEST_SUPPORTED} (some may be \
                 unknown to it: upgrade Claude Code)"
            )),
            Support::Newer => out.push(format!(
                "note: Claude Code {version} is newer than the newest version this maestro-hook \
                 knows ({NEWEST_KNOWN}); registering every event known up to {NEWEST_KNOWN}"
            )),
            Support::Supported => {}
        },
    }
    out
}

/// `uninstall`: removes our handlers from the target file.
/// With `telemetry`, the variables `install --telemetry` set are also removed from the user
/// settings file's `env`.
pub fn run_uninstall(target: &Target, telemetry: bool) -> Result<(), String> {
    apply(target, "maestro-hook uninstalled", |s, _| Ok(remove(s)))?;
    if telemetry {
        let user = Target {
            scope: Scope::User,
            ..target.clone()
        };
        apply(&user, "telemetry settings removed", |s, _| {
            Ok(unset_env(s, &telemetry_names()))
        })?;
    }
    Ok(())
}

/// The names of the variables `install --telemetry` sets.
fn telemetry_names() -> Vec<String> {
    maestro_shared::otel::env("http://x", "x", &[])
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Removes `names` from `settings.env` (and an `env` left empty); returns how many went.
fn unset_env(settings: &mut Value, names: &[String]) -> usize {
    let Some(root) = settings.as_object_mut() else {
        return 0;
    };
    let Some(env) = root.get_mut("env").and_then(Value::as_object_mut) else {
        return 0;
    };
    let before = env.len();
    env.retain(|k, _| !names.contains(k));
    let removed = before - env.len();
    if env.is_empty() {
        root.remove("env");
    }
    removed
}

/// Saves `MAESTRO_URL=<url>` in the config file (replacing an earlier value, keeping the
/// other lines).
pub fn save_server(url: &str, dry_run: bool) -> Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "--server {url:?}: expected an http:// or https:// URL"
        ));
    }
    let env = |k: &str| std::env::var(k).ok();
    let path = config::config_file_path(&env)
        .ok_or("cannot find a config dir for maestro-hook (is HOME set?)")?;
    let old = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let new = with_url(&old, url);
    if new == old {
        println!("{}: MAESTRO_URL already {url}", path.display());
        return Ok(());
    }
    if dry_run {
        println!("dry run: would set MAESTRO_URL={url} in {}", path.display());
        return Ok(());
    }
    write_file(&path, &new)?;
    println!("{}: MAESTRO_URL={url}", path.display());
    Ok(())
}

fn with_url(old: &str, url: &str) -> String {
    let line = format!("MAESTRO_URL={url}");
    let mut found = false;
    let mut lines: Vec<String> = old
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let t = t.strip_prefix("export ").unwrap_or(t);
            if t.split('=').next().map(str::trim) == Some("MAESTRO_URL") {
                found = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        lines.push(line);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/opt/maestro/bin/maestro-hook";

    fn user_settings() -> Value {
        json!({
            "model": "opus",
            "permissions": {"allow": ["Bash(npm test)"]},
            "hooks": {
                "PreToolUse": [
                    {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/guard.sh", "timeout": 5}]}
                ],
                "WorktreeCreate": [
                    {"hooks": [{"type": "command", "command": "make-worktree"}]}
                ]
            }
        })
    }

    #[test]
    fn installs_every_event_but_two_with_timeouts() {
        assert_eq!(installed_events(&NEWEST_KNOWN).count(), 32);
        let mut s = json!({});
        let n = merge(&mut s, EXE, Path::new("x"), &NEWEST_KNOWN).expect("merge");
        assert_eq!(n, 32);
        let hooks = s["hooks"].as_object().expect("hooks");
        assert_eq!(hooks.len(), 32);
        assert!(!hooks.contains_key("WorktreeCreate") && !hooks.contains_key("FileChanged"));
        assert_eq!(
            s["hooks"]["PermissionRequest"][0],
            json!({"matcher": "*", "hooks": [{"type": "command", "command": EXE,
                "args": ["permission-request"], "timeout": 600}]})
        );
        assert_eq!(s["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"], 120);
        assert_eq!(s["hooks"]["SessionEnd"][0]["hooks"][0]["timeout"], 5);
        assert_eq!(
            s["hooks"]["Stop"][0],
            json!({"hooks": [{"type": "command",
            "command": EXE, "args": ["stop"], "timeout": 10}]})
        );
    }

    #[test]
    fn an_older_cli_gets_fewer_events_and_stale_entries_go() {
        let mut s = user_settings();
        merge(&mut s, EXE, Path::new("x"), &NEWEST_KNOWN).expect("newest");
        // A user hook of their own on an event the old CLI does not know stays: it is theirs.
        s["hooks"]["DirectoryAdded"]
            .as_array_mut()
            .expect("arr")
            .push(json!({"hooks": [{"type": "command", "command": "echo mine"}]}));
        let n = merge(&mut s, EXE, Path::new("x"), &OLDEST_SUPPORTED).expect("oldest");
        assert_eq!(n, 4, "four stale events pruned");
        let hooks = s["hooks"].as_object().expect("hooks");
        for gone in ["PreModelSwitch", "PostModelSwitch", "PreSkillShellCommand"] {
            assert!(!hooks.contains_key(gone), "{gone}: {s:#}");
        }
        assert_eq!(
            s["hooks"]["DirectoryAdded"],
            json!([{"hooks": [{"type": "command", "command": "echo mine"}]}])
        );
        assert_eq!(installed_in(&s).len(), 28);
        assert_eq!(
            merge(&mut s, EXE, Path::new("x"), &OLDEST_SUPPORTED).expect("again"),
            0
        );
    }

    #[test]
    fn version_choices_warn_as_they_should() {
        let flag = |v| Choice::Known {
            version: v,
            from: crate::claude::Origin::Flag,
        };
        assert!(version_warnings(&flag(NEWEST_KNOWN)).is_empty());
        let old = version_warnings(&flag(ClaudeVersion::new(2, 1, 100)));
        assert!(
            old[0].starts_with("warning:") && old[0].contains("older than"),
            "{old:?}"
        );
        let newer = version_warnings(&flag(ClaudeVersion::new(2, 1, 400)));
        assert!(newer[0].starts_with("note:"), "{newer:?}");
        let unknown = version_warnings(&Choice::Unknown("no `claude` on PATH".into()));
        assert!(
            unknown[0].contains("oldest supported version 2.1.197"),
            "{unknown:?}"
        );
    }

    #[test]
    fn merge_keeps_user_hooks_and_is_idempotent() {
        let mut s = user_settings();
        merge(&mut s, EXE, Path::new("x"), &NEWEST_KNOWN).expect("merge");
        assert_eq!(s["model"], "opus");
        assert_eq!(s["hooks"]["PreToolUse"].as_array().expect("arr").len(), 2);
        assert_eq!(
            s["hooks"]["PreToolUse"][0],
            user_settings()["hooks"]["PreToolUse"][0]
        );
        assert_eq!(
            s["hooks"]["WorktreeCreate"],
            user_settings()["hooks"]["WorktreeCreate"]
        );
        let once = s.clone();
        assert_eq!(
            merge(&mut s, EXE, Path::new("x"), &NEWEST_KNOWN).expect("again"),
            0
        );
        assert_eq!(s, once);
        // A new binary path replaces the old entries instead of adding more.
        assert_eq!(
            merge(
                &mut s,
                "/usr/bin/maestro-hook",
                Path::new("x"),
                &NEWEST_KNOWN
            )
            .expect("moved"),
            32
        );
        assert_eq!(s["hooks"]["PreToolUse"].as_array().expect("arr").len(), 2);
        assert_eq!(
            s["hooks"]["PreToolUse"][1]["hooks"][0]["command"],
            "/usr/bin/maestro-hook"
        );
    }

    #[test]
    fn uninstall_restores_the_original() {
        for original in [
            user_settings(),
            json!({}),
            json!({"hooks": {"Stop": [
            {"hooks": [{"type": "command", "command": "echo hi"}]}]}}),
        ] {
            let mut s = original.clone();
            merge(&mut s, EXE, Path::new("x"), &NEWEST_KNOWN).expect("merge");
            assert_eq!(remove(&mut s), 32);
            assert_eq!(s, original);
            assert_eq!(remove(&mut s), 0);
        }
    }

    #[test]
    fn ours_is_recognised_only_by_binary_name_and_event_arg() {
        assert!(is_ours(&handler(&HookEventName::Stop, EXE)));
        assert!(is_ours(
            &json!({"type":"command","command":"maestro-hook","args":["stop"]})
        ));
        assert!(!is_ours(
            &json!({"type":"command","command":"maestro-hook stop"})
        ));
        assert!(!is_ours(
            &json!({"type":"command","command":"/x/maestro-hook","args":["install"]})
        ));
        assert!(!is_ours(
            &json!({"type":"command","command":"/x/other-hook","args":["stop"]})
        ));
        assert!(!is_ours(
            &json!({"type":"http","command":"/x/maestro-hook","args":["stop"]})
        ));
    }

    #[test]
    fn bad_shapes_are_refused_untouched() {
        for bad in [
            json!({"hooks": []}),
            json!({"hooks": {"Stop": {}}}),
            json!({"hooks": {"Stop": [1]}}),
            json!({"hooks": {"Stop": [{"hooks": "x"}]}}),
        ] {
            let mut s = bad.clone();
            let err = merge(&mut s, EXE, Path::new("/p/settings.json"), &NEWEST_KNOWN)
                .expect_err("refused");
            assert!(err.contains("/p/settings.json"), "{err}");
            assert_eq!(s, bad);
        }
    }

    #[test]
    fn reads_settings_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s.json");
        assert_eq!(read_settings(&p).expect("missing").0, json!({}));
        fs::write(&p, "{\"a\": 1,}").expect("w");
        let err = read_settings(&p).expect_err("invalid");
        assert!(
            err.contains("not valid JSON") && err.contains("line 1"),
            "{err}"
        );
        fs::write(&p, "[1]").expect("w");
        assert!(read_settings(&p).is_err());
        fs::write(&p, "  \n").expect("w");
        assert_eq!(read_settings(&p).expect("blank").0, json!({}));
    }

    #[test]
    fn config_url_line_is_replaced() {
        assert_eq!(with_url("", "http://a:1"), "MAESTRO_URL=http://a:1\n");
        assert_eq!(
            with_url(
                "# c\nMAESTRO_URL=http://old\nMAESTRO_TOKEN=x\n",
                "http://a:1"
            ),
            "# c\nMAESTRO_URL=http://a:1\nMAESTRO_TOKEN=x\n"
        );
    }

    #[test]
    fn telemetry_env_is_set_and_unset_keeping_other_entries() {
        let mut s = json!({"env": {"FOO": "1"}, "model": "x"});
        let vars = maestro_shared::otel::env("http://h:1", "tok", &[]);
        let n = set_env(&mut s, &vars, Path::new("s.json")).expect("set");
        assert_eq!(n, vars.len());
        assert_eq!(
            set_env(&mut s, &vars, Path::new("s.json")).expect("again"),
            0
        );
        assert_eq!(s["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://h:1");
        assert_eq!(unset_env(&mut s, &telemetry_names()), vars.len());
        assert_eq!(s, json!({"env": {"FOO": "1"}, "model": "x"}));
        let mut bad = json!({"env": []});
        assert!(set_env(&mut bad, &vars, Path::new("s.json")).is_err());
    }

    #[test]
    fn lists_installed_events() {
        let mut s = user_settings();
        merge(&mut s, EXE, Path::new("x"), &NEWEST_KNOWN).expect("merge");
        let found = installed_in(&s);
        assert_eq!(found.len(), 32);
        assert!(found.iter().all(|(_, cmds)| cmds == &vec![EXE.to_string()]));
    }
}
