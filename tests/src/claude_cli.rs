//! The real Claude Code CLI for the end-to-end scenarios, pinned to the oldest supported
//! ([`CLAUDE_CODE_VERSION`], [`OLDEST_VERSION`]) and the newest ([`NEWEST_VERSION`]) release:
//! [`SUPPORTED_VERSIONS`] lists both, and end-to-end tests run on each.
//!
//! - [`claude_binary_for`] finds one version in its cache dir (`<cache>/<version>`, where
//!   `<cache>` is `MAESTRO_CLAUDE_CACHE`, default `<workspace>/.cache/claude-code`) or installs it
//!   there with plain `npm install --prefix <dir> @anthropic-ai/claude-code@<version>` (npm's own
//!   registry config applies); `.ci/install-claude.sh` installs the same versions in the same
//!   place. [`claude_or_skip_for`] turns "no Node.js / install failed" into a SKIP line, or a loud
//!   panic when `CI` is set. [`claude_binary`] / [`claude_or_skip`] are the oldest version.
//! - [`ClaudeCommand`] runs `claude -p <prompt> --output-format stream-json --verbose
//!   --include-hook-events` in a scratch project with a scratch HOME against a fake Messages
//!   API, with the env vars that keep the CLI on loopback, a bounded timeout (killed by PID),
//!   and parses the stream-json records ([`ClaudeOutput`]).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The oldest supported Claude Code version (the one the offline reference measured).
pub const OLDEST_VERSION: &str = "2.1.197";
/// The newest Claude Code release the suite pins (checked with `npm view` when it was pinned).
pub const NEWEST_VERSION: &str = "2.1.332";
/// Every pinned version, oldest first: end-to-end scenarios run on each.
pub const SUPPORTED_VERSIONS: &[&str] = &[OLDEST_VERSION, NEWEST_VERSION];
/// The version [`claude_binary`] returns (the oldest supported).
pub const CLAUDE_CODE_VERSION: &str = OLDEST_VERSION;
/// The npm package.
pub const CLAUDE_CODE_PACKAGE: &str = "@anthropic-ai/claude-code";
/// Default timeout of one CLI run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The env vars every run gets so the CLI talks to nothing but loopback (plus `IS_SANDBOX=1`,
/// which lets it run as root).
pub const OFFLINE_ENV: &[(&str, &str)] = &[
    ("ANTHROPIC_API_KEY", "dummy"),
    ("DISABLE_TELEMETRY", "1"),
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ("DISABLE_AUTOUPDATER", "1"),
    ("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1"),
    ("IS_SANDBOX", "1"),
];

/// Every env var a CLI run against the fake API at `api_url` gets besides `PATH` and friends:
/// `HOME`, `ANTHROPIC_BASE_URL` and [`OFFLINE_ENV`]. Handy for a server that spawns the real CLI
/// itself (`MAESTRO_CLAUDE_COMMAND`).
pub fn offline_env(api_url: &str, home: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOME".to_string(), home.display().to_string()),
        ("ANTHROPIC_BASE_URL".to_string(), api_url.to_string()),
    ];
    env.extend(
        OFFLINE_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

/// The cache dir: `MAESTRO_CLAUDE_CACHE`, else `<workspace>/.cache/claude-code`; each version
/// lives in its own subdirectory named by the version.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("MAESTRO_CLAUDE_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".cache").join("claude-code"))
}

/// Where `version` is installed: `<cache_dir>/<version>`.
pub fn version_dir(version: &str) -> PathBuf {
    cache_dir().join(version)
}

/// A real (not placeholder) executable: the package's `bin/claude.exe` is a small stub until
/// the postinstall links the native binary over it.
fn is_real_binary(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 4096)
}

/// The CLI binary in `cache`, when `version` is installed there.
pub fn find_installed(cache: &Path, version: &str) -> Option<PathBuf> {
    let modules = cache.join("node_modules");
    let manifest = modules.join(CLAUDE_CODE_PACKAGE).join("package.json");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(manifest).ok()?).ok()?;
    if manifest["version"] != version {
        return None;
    }
    let bin = modules.join(".bin").join("claude");
    if is_real_binary(&bin) {
        return Some(bin);
    }
    // The postinstall link is missing: use the platform package's binary directly.
    let scope = modules.join("@anthropic-ai");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&scope)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("claude-code-"))
        .map(|e| e.path().join("claude"))
        .filter(|p| is_real_binary(p))
        .collect();
    candidates.sort();
    candidates.into_iter().next()
}

/// Installs `version` of the CLI into `cache` with npm and returns the binary.
pub fn install(cache: &Path, version: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let npm = Command::new("npm")
        .arg("--version")
        .output()
        .map_err(|e| format!("npm not found ({e}); install Node.js 18+ and npm"))?;
    if !npm.status.success() {
        return Err("`npm --version` failed; install Node.js 18+ and npm".into());
    }
    let spec = format!("{CLAUDE_CODE_PACKAGE}@{version}");
    eprintln!("installing {spec} into {} with npm", cache.display());
    let out = Command::new("npm")
        .args(["install", "--prefix"])
        .arg(cache)
        .args(["--no-audit", "--no-fund", "--save-exact", &spec])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running npm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`npm install {spec}` failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    find_installed(cache, version).ok_or_else(|| {
        format!(
            "npm installed {spec} but no claude binary was found under {}",
            cache.display()
        )
    })
}

/// The oldest supported CLI ([`CLAUDE_CODE_VERSION`]): see [`claude_binary_for`].
pub fn claude_binary() -> Result<PathBuf, String> {
    claude_binary_for(CLAUDE_CODE_VERSION)
}

/// `version` of the CLI: found in its cache dir or installed there (once per process and
/// version; concurrent processes serialise on a lock file in the cache).
pub fn claude_binary_for(version: &str) -> Result<PathBuf, String> {
    static BINS: OnceLock<Mutex<std::collections::HashMap<String, Result<PathBuf, String>>>> =
        OnceLock::new();
    let bins = BINS.get_or_init(Default::default);
    let mut bins = bins.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = bins.get(version) {
        return found.clone();
    }
    let result = find_or_install(version);
    bins.insert(version.to_string(), result.clone());
    result
}

fn find_or_install(version: &str) -> Result<PathBuf, String> {
    let cache = version_dir(version);
    if let Some(bin) = find_installed(&cache, version) {
        return Ok(bin);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let lock = std::fs::File::create(cache.join(".install.lock"))
        .map_err(|e| format!("lock file: {e}"))?;
    // SAFETY: flock(2) on a file descriptor we own for the duration of the call.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::flock(lock.as_raw_fd(), libc::LOCK_EX);
    }
    let result = match find_installed(&cache, version) {
        Some(bin) => Ok(bin),
        None => install(&cache, version),
    };
    drop(lock);
    result
}

/// The oldest supported CLI, or `None` after a SKIP line: see [`claude_or_skip_for`].
pub fn claude_or_skip(test: &str) -> Option<PathBuf> {
    claude_or_skip_for(test, CLAUDE_CODE_VERSION)
}

/// `version` of the CLI, or `None` after printing a SKIP line when it cannot be had. With `CI`
/// set a missing CLI is a failure: this panics instead of skipping.
pub fn claude_or_skip_for(test: &str, version: &str) -> Option<PathBuf> {
    match claude_binary_for(version) {
        Ok(bin) => Some(bin),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: the real Claude Code CLI {version} is required when CI is set: {e}")
        }
        Err(e) => {
            // Straight to the process's stderr: the test harness captures `eprintln!` of
            // passing tests, and a skip must be visible in a normal run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: real Claude Code CLI {version} unavailable: {e}"
            );
            None
        }
    }
}

/// A scratch project dir, HOME and hook spool dir for one run (all under one temp dir).
pub struct Scratch {
    /// The project (the CLI's cwd). Canonical path.
    pub project: PathBuf,
    /// The scratch HOME.
    pub home: PathBuf,
    /// A spool dir for `maestro-hook` (`MAESTRO_SPOOL_DIR`).
    pub spool: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Scratch {
    /// Creates the dirs.
    pub fn new() -> Scratch {
        let tmp = tempfile::Builder::new()
            .prefix("maestro-claude-")
            .tempdir()
            .expect("temp dir");
        let root = tmp.path().canonicalize().expect("canonical temp dir");
        let project = root.join("proj");
        let home = root.join("home");
        let spool = root.join("spool");
        for d in [&project, &home, &spool] {
            std::fs::create_dir_all(d).expect("scratch dir");
        }
        Scratch {
            project,
            home,
            spool,
            _tmp: tmp,
        }
    }

    /// Writes `rel` under the project.
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.project.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, content).expect("write project file");
        path
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// A CLI invocation being built.
#[derive(Debug, Clone)]
pub struct ClaudeCommand {
    bin: PathBuf,
    api_url: String,
    project: PathBuf,
    home: PathBuf,
    prompt: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl ClaudeCommand {
    /// `bin` against the fake API at `api_url`, in `project` with HOME `home`.
    pub fn new(bin: &Path, api_url: &str, project: &Path, home: &Path) -> ClaudeCommand {
        ClaudeCommand {
            bin: bin.to_path_buf(),
            api_url: api_url.to_string(),
            project: project.to_path_buf(),
            home: home.to_path_buf(),
            prompt: None,
            args: Vec::new(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Same, with the dirs of `scratch`.
    pub fn in_scratch(bin: &Path, api_url: &str, scratch: &Scratch) -> ClaudeCommand {
        Self::new(bin, api_url, &scratch.project, &scratch.home)
    }

    /// `-p <prompt>`. Without a prompt the CLI reads its input from stdin (use with
    /// `--input-format stream-json` and [`ClaudeCommand::spawn`]).
    pub fn prompt(mut self, prompt: &str) -> Self {
        self.prompt = Some(prompt.to_string());
        self
    }

    /// An extra argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Extra arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// An extra env var (passed on to the hooks by the CLI).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Extra env vars.
    pub fn envs(mut self, vars: &[(String, String)]) -> Self {
        self.env.extend(vars.iter().cloned());
        self
    }

    /// Timeout of the whole run (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.project);
        match &self.prompt {
            Some(p) => {
                cmd.arg("-p").arg(p);
            }
            None => {
                cmd.arg("-p");
            }
        }
        cmd.args([
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-hook-events",
        ]);
        cmd.args(&self.args);
        // A clean env: nothing of the caller's Anthropic config, CI detection or real HOME.
        cmd.env_clear();
        for key in ["PATH", "LANG", "LC_ALL", "TMPDIR", "TZ"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        if Path::new("/bin/bash").exists() {
            cmd.env("SHELL", "/bin/bash");
        }
        cmd.env("USER", "maestro-test");
        cmd.envs(offline_env(&self.api_url, &self.home));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs to completion with stdin closed.
    pub fn run(self) -> ClaudeOutput {
        let mut p = self.spawn_inner(false);
        p.close_stdin();
        p.wait()
    }

    /// Starts the CLI with stdin piped (for `--input-format stream-json`).
    pub fn spawn(self) -> ClaudeProcess {
        self.spawn_inner(true)
    }

    fn spawn_inner(&self, piped_stdin: bool) -> ClaudeProcess {
        let mut cmd = self.command();
        cmd.stdin(if piped_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.bin.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout piped");
        let mut stderr = child.stderr.take().expect("stderr piped");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let lines_w = lines.clone();
        let out_thread = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines_w.lock().expect("lock").push(line);
            }
        });
        let err_buf: Arc<Mutex<String>> = Arc::default();
        let err_w = err_buf.clone();
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            err_w
                .lock()
                .expect("lock")
                .push_str(&String::from_utf8_lossy(&buf));
        });
        ClaudeProcess {
            child,
            stdin,
            lines,
            stderr: err_buf,
            threads: vec![out_thread, err_thread],
            started: Instant::now(),
            deadline: Instant::now() + self.timeout,
            timeout: self.timeout,
        }
    }
}

/// A running CLI.
pub struct ClaudeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
    deadline: Instant,
    timeout: Duration,
}

impl ClaudeProcess {
    /// The CLI's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one JSON line on the CLI's stdin.
    pub fn send(&mut self, msg: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        let mut line = serde_json::to_string(msg).expect("json");
        line.push('\n');
        stdin.write_all(line.as_bytes()).expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Writes an SDK user message (`{"type":"user","message":{"role":"user","content":...}}`).
    pub fn send_user_message(&mut self, text: &str) {
        self.send(&serde_json::json!({
            "type": "user",
            "message": {"role": "user", "content": text},
            "parent_tool_use_id": null,
            "session_id": "",
        }));
    }

    /// Closes stdin (the CLI exits after the current turn in stream-json input mode).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// The stdout records parsed so far (lines that are not JSON are skipped).
    pub fn records(&self) -> Vec<Value> {
        self.lines
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (bounded) for a stdout record matching `pred` and returns it.
    pub fn wait_for_record(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.records().into_iter().find(|r| pred(r)) {
                return v;
            }
            let exited = self.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                // One last look: the reader may have been behind the exit.
                if let Some(v) = self.records().into_iter().find(|r| pred(r)) {
                    return v;
                }
                let stderr = self.stderr.lock().expect("lock").clone();
                let out = self.lines.lock().expect("lock").join("\n");
                let _ = self.child.kill();
                panic!(
                    "waiting for {what}: {}\nstdout:\n{out}\nstderr:\n{stderr}",
                    if exited {
                        "the CLI exited"
                    } else {
                        "timed out"
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the CLI to exit (killing it by PID at the run's deadline) and collects the
    /// output.
    pub fn wait(mut self) -> ClaudeOutput {
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if Instant::now() > self.deadline {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        self.stdin.take();
        // The pipes close when the CLI exits; bound the wait anyway (a grandchild could keep
        // a pipe open).
        let join_deadline = Instant::now() + Duration::from_secs(5);
        for t in self.threads.drain(..) {
            while !t.is_finished() && Instant::now() < join_deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        let lines = self.lines.lock().expect("lock").clone();
        let mut records = Vec::new();
        let mut other_stdout = Vec::new();
        for line in lines {
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => records.push(v),
                Err(_) => other_stdout.push(line),
            }
        }
        ClaudeOutput {
            exit_code: status.and_then(|s| s.code()),
            timed_out,
            timeout: self.timeout,
            elapsed,
            records,
            other_stdout,
            stderr: self.stderr.lock().expect("lock").clone(),
        }
    }
}

impl Drop for ClaudeProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a finished CLI run printed.
#[derive(Debug, Clone)]
pub struct ClaudeOutput {
    /// Exit code (`None` when killed by a signal).
    pub exit_code: Option<i32>,
    /// Whether the run hit its timeout and was killed.
    pub timed_out: bool,
    /// The timeout that applied.
    pub timeout: Duration,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// stream-json records, in order.
    pub records: Vec<Value>,
    /// stdout lines that were not JSON.
    pub other_stdout: Vec<String>,
    /// stderr.
    pub stderr: String,
}

impl ClaudeOutput {
    /// The final `{"type": "result"}` record.
    pub fn result(&self) -> Option<&Value> {
        self.records.iter().rev().find(|r| r["type"] == "result")
    }

    /// The `{"type": "system", "subtype": "init"}` record.
    pub fn init(&self) -> Option<&Value> {
        self.records
            .iter()
            .find(|r| r["type"] == "system" && r["subtype"] == "init")
    }

    /// Claude Code's session id.
    pub fn session_id(&self) -> Option<String> {
        self.init()
            .or(self.result())
            .and_then(|r| r["session_id"].as_str())
            .map(str::to_string)
    }

    /// `system` records with this `subtype`.
    pub fn system(&self, subtype: &str) -> Vec<&Value> {
        self.records
            .iter()
            .filter(|r| r["type"] == "system" && r["subtype"] == subtype)
            .collect()
    }

    /// The `hook_started` records.
    pub fn hook_started(&self) -> Vec<&Value> {
        self.system("hook_started")
    }

    /// The `hook_response` records.
    pub fn hook_responses(&self) -> Vec<&Value> {
        self.system("hook_response")
    }

    /// The `hook_event` names of the hooks that ran (from `hook_started`), in order.
    pub fn hook_events(&self) -> Vec<String> {
        self.hook_started()
            .iter()
            .filter_map(|r| r["hook_event"].as_str().map(str::to_string))
            .collect()
    }

    /// A readable dump for assertion messages.
    pub fn dump(&self) -> String {
        let records: Vec<String> = self.records.iter().map(Value::to_string).collect();
        format!(
            "exit={:?} timed_out={} (timeout {:?}, ran {:?})\nrecords:\n{}\nother stdout:\n{}\nstderr:\n{}",
            self.exit_code,
            self.timed_out,
            self.timeout,
            self.elapsed,
            records.join("\n"),
            self.other_stdout.join("\n"),
            self.stderr
        )
    }

    /// Panics (with the dump) unless the CLI exited 0 with a successful `result`.
    pub fn assert_success(&self) {
        let ok = !self.timed_out
            && self.exit_code == Some(0)
            && self
                .result()
                .is_some_and(|r| r["subtype"] == "success" && r["is_error"] != true);
        assert!(ok, "claude run failed:\n{}", self.dump());
    }
}

/// A server that spawns the real CLI `bin` for tasks, offline against the fake API at
/// `api_url`, its hooks spooling in `scratch`; `extra` env on top.
pub fn spawning_server(
    bin: &Path,
    api_url: &str,
    scratch: &Scratch,
    extra: &[(&str, &str)],
) -> crate::server::TestServer {
    let mut env = offline_env(api_url, &scratch.home);
    env.push(("MAESTRO_CLAUDE_COMMAND".into(), bin.display().to_string()));
    env.push((
        "MAESTRO_SPOOL_DIR".into(),
        scratch.spool.display().to_string(),
    ));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    crate::server::TestServer::start_with_env(&env_refs)
}
