//! The policy corpus (`corpus/policy_corpus.json`) and the real directory tree its cases run
//! against. Shared by `shared/tests/policy_corpus.rs` (the library) and
//! `tests/tests/policy_corpus.rs` (`maestro-server policy check` and the real hook).
//!
//! The tree (under a temp dir in the target dir, not under `/tmp`; `{home}` is `<tmp>/home`, `{project}` is `{home}/proj`):
//!
//! - `{home}`: `.bashrc`, `.ssh/{id_rsa,config}`, `.aws/credentials`, `.claude/.credentials.json`,
//!   `.config/nvim/init.lua`, `.cache/pip/log.txt`, `work/` (a plain dir), `notes.txt`
//! - `{project}`: `src/{main,lib}.rs`, `README.md`, `Cargo.toml`, `.env`, `.env.example`,
//!   `.git/{config,hooks/}`, `.claude/settings.json`, and the symlinks
//!   `h -> {home}/work` (so `h/../x` is `{home}/x` for the kernel, `{project}/x` lexically),
//!   `d -> {data}`, `sshlink -> {home}/.ssh`, `gc -> .git/config`,
//!   `dl -> {home}/.profile` and `dk -> {home}/.ssh/authorized_keys` (both dangling),
//!   `cfg.sample -> .env`, `k.template -> {home}/.ssh/id_rsa`
//! - `{outside}`: `<tmp>/outside/report.txt`; `{data}`: Maestro's data dir.

#![allow(dead_code)]

use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// One corpus case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Group (`exfiltration`, `path-symlink`, ...; `everyday` for everyday calls).
    pub class: String,
    /// Tool name.
    pub tool: String,
    /// Tool input, placeholders not yet substituted.
    pub input: Value,
    /// For dangerous cases: `deny` (must be denied) or `ask` (must not be allowed).
    pub expect: Option<String>,
}

impl Case {
    /// A short label for failure messages.
    pub fn label(&self) -> String {
        match self.input.get("command").and_then(Value::as_str) {
            Some(c) => format!("[{}] {c}", self.class),
            None => format!("[{}] {} {}", self.class, self.tool, self.input),
        }
    }
}

/// The corpus: (dangerous, everyday).
pub fn load() -> (Vec<Case>, Vec<Case>) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/corpus/policy_corpus.json");
    let text = std::fs::read_to_string(&path).expect("corpus file");
    let v: Value = serde_json::from_str(&text).expect("corpus JSON");
    let cases = |key: &str| -> Vec<Case> {
        v[key]
            .as_array()
            .expect("case list")
            .iter()
            .map(|c| {
                let (tool, input) = match c.get("cmd").and_then(Value::as_str) {
                    Some(cmd) => (
                        "Bash".to_string(),
                        serde_json::json!({"command": cmd, "description": "corpus"}),
                    ),
                    None => (
                        c["tool"].as_str().expect("tool").to_string(),
                        c["input"].clone(),
                    ),
                };
                Case {
                    class: c
                        .get("class")
                        .and_then(Value::as_str)
                        .unwrap_or("everyday")
                        .to_string(),
                    tool,
                    input,
                    expect: c.get("expect").and_then(Value::as_str).map(str::to_string),
                }
            })
            .collect()
    };
    (cases("dangerous"), cases("everyday"))
}

/// The real tree the cases run against.
pub struct Tree {
    _tmp: tempfile::TempDir,
    /// `{home}`.
    pub home: PathBuf,
    /// `{project}` (also the session cwd).
    pub project: PathBuf,
    /// `{data}`.
    pub data: PathBuf,
    /// `{outside}`.
    pub outside: PathBuf,
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

impl Tree {
    /// Builds the tree; `data` is Maestro's data dir (made under the temp dir when `None`).
    pub fn build(data: Option<&Path>) -> Tree {
        // Not under /tmp: temp dirs are writable by policy, the home and project are not.
        let tmp = tempfile::Builder::new()
            .prefix("policy-corpus")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("temp dir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonical temp dir");
        let home = root.join("home");
        let project = home.join("proj");
        let outside = root.join("outside");
        let data = match data {
            Some(d) => std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()),
            None => root.join("data"),
        };
        std::fs::create_dir_all(&data).expect("data dir");
        for (rel, text) in [
            (".bashrc", "# rc\n"),
            (".ssh/id_rsa", "KEY\n"),
            (".ssh/config", "Host x\n"),
            (".aws/credentials", "[default]\n"),
            (".claude/.credentials.json", "{}\n"),
            (".config/nvim/init.lua", "-- vim\n"),
            (".cache/pip/log.txt", "log\n"),
            ("work/.keep", ""),
            ("notes.txt", "notes\n"),
        ] {
            write(&home.join(rel), text);
        }
        for (rel, text) in [
            ("src/main.rs", "fn main() {}\n"),
            ("src/lib.rs", "pub fn f() {}\n"),
            ("README.md", "# proj\n"),
            ("Cargo.toml", "[package]\nname = \"proj\"\n"),
            (".env", "KEY=secret\n"),
            (".env.example", "KEY=\n"),
            (".git/config", "[core]\n"),
            (".git/hooks/.keep", ""),
            (".claude/settings.json", "{}\n"),
        ] {
            write(&project.join(rel), text);
        }
        // A real repository (its `.git/config` as above, plus what `git init` adds), so that
        // the git probe answers for the project as it would for a user's.
        let init = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(&project)
            .env("HOME", &home)
            .status()
            .expect("git runs");
        assert!(init.success(), "git init: {init}");
        write(&outside.join("report.txt"), "report\n");
        symlink(home.join("work"), project.join("h")).expect("symlink h");
        symlink(&data, project.join("d")).expect("symlink d");
        symlink(home.join(".ssh"), project.join("sshlink")).expect("symlink sshlink");
        symlink(".git/config", project.join("gc")).expect("symlink gc");
        symlink(home.join(".profile"), project.join("dl")).expect("symlink dl");
        symlink(home.join(".ssh/authorized_keys"), project.join("dk")).expect("symlink dk");
        // Template names that lead to secrets.
        symlink(".env", project.join("cfg.sample")).expect("symlink cfg.sample");
        symlink(home.join(".ssh/id_rsa"), project.join("k.template")).expect("symlink k.template");
        Tree {
            _tmp: tmp,
            home,
            project,
            data,
            outside,
        }
    }

    /// Points `{data}` (and the `d` symlink) at another data dir (a running server's).
    pub fn set_data(&mut self, data: &Path) {
        self.data = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
        let link = self.project.join("d");
        std::fs::remove_file(&link).expect("remove d");
        symlink(&self.data, &link).expect("symlink d");
    }

    /// `v` with the placeholders replaced by this tree's paths.
    pub fn substitute(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(
                s.replace("{home}", &self.home.display().to_string())
                    .replace("{project}", &self.project.display().to_string())
                    .replace("{data}", &self.data.display().to_string())
                    .replace("{outside}", &self.outside.display().to_string()),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.substitute(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.substitute(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Checks the outcomes (`"allow"`, `"ask"`, `"deny"`, `"hold"`) of every case and returns
/// the failures and the share of everyday calls allowed.
pub fn judge(dangerous: &[(Case, String)], everyday: &[(Case, String)]) -> (Vec<String>, f64) {
    let mut failures = Vec::new();
    for (case, got) in dangerous {
        let want = case.expect.as_deref().unwrap_or("ask");
        let ok = match want {
            "deny" => got == "deny",
            _ => got != "allow",
        };
        if !ok {
            failures.push(format!("dangerous {} -> {got} (want {want})", case.label()));
        }
    }
    let mut allowed = 0usize;
    for (case, got) in everyday {
        if got == "deny" {
            failures.push(format!("everyday {} -> deny", case.label()));
        }
        if got == "allow" {
            allowed += 1;
        }
    }
    let share = allowed as f64 / everyday.len().max(1) as f64;
    (failures, share)
}

/// Lowest share of everyday calls the default policy must allow.
pub const ALLOW_FLOOR: f64 = 0.40;
