//! Shared helpers for the `maestro-hook` integration tests: an isolated hook environment
//! (temp HOME, spool, config, data dir), running the real binary with real stdin under a
//! bounded wait, and reading stored events back from the server.

#![allow(dead_code)]

use maestro_tests::server::{TestServer, INGEST_TOKEN};
use maestro_tests::{bin_path, fixture};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Generous bound for one hook process (it normally takes milliseconds).
pub const HOOK_BOUND: Duration = Duration::from_secs(60);

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit status.
    pub status: ExitStatus,
    /// Exact stdout bytes.
    pub stdout: Vec<u8>,
    /// Stderr as text.
    pub stderr: String,
}

impl Run {
    /// Stdout as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts exit 0 and an empty stdout (what every observe-only event must do).
    pub fn assert_silent_success(&self, what: &str) {
        assert_eq!(
            self.status.code(),
            Some(0),
            "{what}: exit {:?}, stderr {}",
            self.status,
            self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "{what}: stdout must be empty, got {:?}",
            self.out()
        );
    }
}

/// An isolated environment for the hook: nothing of the real user's config is read.
pub struct HookEnv {
    /// Keeps the temp dir alive.
    pub tmp: tempfile::TempDir,
    /// Spool dir.
    pub spool: PathBuf,
    /// Fake HOME.
    pub home: PathBuf,
    /// Env vars given to every run.
    pub vars: Vec<(String, String)>,
}

impl HookEnv {
    /// Pointing at `url` with the test ingest token.
    pub fn new(url: &str) -> HookEnv {
        let tmp = tempfile::tempdir().expect("temp dir");
        let spool = tmp.path().join("spool");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let p = |x: &Path| x.display().to_string();
        let vars = vec![
            ("HOME".into(), p(&home)),
            ("MAESTRO_URL".into(), url.to_string()),
            ("MAESTRO_TOKEN".into(), INGEST_TOKEN.to_string()),
            ("MAESTRO_SPOOL_DIR".into(), p(&spool)),
            (
                "MAESTRO_HOOK_CONFIG".into(),
                p(&tmp.path().join("config.env")),
            ),
            (
                "MAESTRO_DATA_DIR".into(),
                p(&tmp.path().join("server-data")),
            ),
            // A drainer left behind by a failing test stops by itself.
            ("MAESTRO_DRAIN_GIVE_UP_SECS".into(), "60".into()),
            // These tests drive the direct path (POST, spool on failure; what decisions
            // always do) and the spool and drain machinery; the default spool-first path is
            // `hook_spool_first.rs` and every real-CLI test. A drainer exits once the spool is
            // empty, so a test that points the hook elsewhere gets a new one.
            ("MAESTRO_HOOK_DELIVERY".into(), "direct".into()),
            ("MAESTRO_DRAIN_LINGER_SECS".into(), "0".into()),
        ];
        HookEnv {
            tmp,
            spool,
            home,
            vars,
        }
    }

    /// Pointing at a running test server.
    pub fn for_server(server: &TestServer) -> HookEnv {
        Self::new(&server.url)
    }

    /// Sets (or replaces) an env var for later runs.
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    /// Runs `maestro-hook <args>` with `stdin`, waiting at most [`HOOK_BOUND`].
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Run {
        self.run_with(args, stdin, &[])
    }

    /// Like [`HookEnv::run`] with extra env vars for this run only.
    pub fn run_with(&self, args: &[&str], stdin: &[u8], extra: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(bin_path("maestro-hook"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied());
        run_bounded(cmd, stdin, HOOK_BOUND)
    }

    /// Runs the event subcommand for a payload (from its `hook_event_name`).
    pub fn send(&self, payload: &Value) -> Run {
        let name = payload["hook_event_name"]
            .as_str()
            .expect("hook_event_name");
        let sub = maestro_shared::HookEventName::parse(name)
            .subcommand()
            .expect("known event");
        let bytes = serde_json::to_vec(payload).expect("json");
        self.run(&[sub], &bytes)
    }

    /// `maestro-hook flush`.
    pub fn flush(&self) -> Run {
        self.run(&["flush"], b"")
    }

    /// Spooled envelopes, oldest first.
    pub fn spooled(&self) -> Vec<PathBuf> {
        envelope_files(&self.spool)
    }

    /// Quarantined envelopes.
    pub fn quarantined(&self) -> Vec<PathBuf> {
        envelope_files(&self.spool.join("quarantine"))
    }
}

/// `<micros>-<uuid>.json` files directly in `dir`, sorted by name.
pub fn envelope_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
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
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `cmd` with piped stdio, writes `stdin` and closes it, and waits at most `bound`
/// for the process to exit AND its stdout/stderr to reach EOF (as Claude Code does).
pub fn run_bounded(mut cmd: Command, stdin: &[u8], bound: Duration) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn maestro-hook");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        let _ = tx.send((true, b));
    });
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        let _ = tx2.send((false, b));
    });
    let deadline = Instant::now() + bound;
    let (mut stdout, mut stderr) = (None, None);
    while stdout.is_none() || stderr.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((true, b)) => stdout = Some(b),
            Ok((false, b)) => stderr = Some(b),
            Err(_) => {
                let _ = child.kill();
                panic!("maestro-hook did not close its stdout/stderr within {bound:?}");
            }
        }
    }
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("maestro-hook did not exit within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    Run {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr.unwrap_or_default()).into_owned(),
    }
}

/// Every stored event (`GET /api/events`, paged), oldest first.
pub fn all_events(server: &TestServer) -> Vec<Value> {
    let mut out = Vec::new();
    let mut since = 0i64;
    loop {
        let page = server.get(&format!("/api/events?since={since}&limit=1000"));
        let items = page.as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            return out;
        }
        since = items
            .iter()
            .filter_map(|e| e["seq"].as_i64())
            .max()
            .expect("seq");
        out.extend(items);
    }
}

/// A captured payload fixture.
pub fn payload(name: &str) -> Value {
    let path = fixture(&format!("payloads/{name}"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Every captured payload: the single files and every line of the sequences.
pub fn all_captured_payloads() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let dir = fixture("payloads");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("payload dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names {
        if p.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&p).expect("read");
            out.push((
                p.file_name().expect("n").to_string_lossy().into_owned(),
                serde_json::from_str(&text).expect("json"),
            ));
        }
    }
    let seq_dir = dir.join("sequences");
    let mut seqs: Vec<PathBuf> = std::fs::read_dir(&seq_dir)
        .expect("sequences")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    seqs.sort();
    for p in seqs {
        let text = std::fs::read_to_string(&p).expect("read");
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(line).expect("jsonl");
            out.push((
                format!("{}:{}", p.file_name().expect("n").to_string_lossy(), i + 1),
                v["payload"].clone(),
            ));
        }
    }
    out
}

/// A port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A PostToolUse of `echo N` in `session`, its tool-use id `toolu_<session>_<N:04>`.
pub fn tool_event(session: &str, n: usize) -> Value {
    json!({
        "session_id": session,
        "transcript_path": format!("/home/dev/.claude/projects/-home-dev-proj/{session}.jsonl"),
        "cwd": "/home/dev/proj",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": format!("echo {n}"), "description": "count"},
        "tool_response": {"stdout": format!("{n}\n"), "stderr": "", "interrupted": false},
        "tool_use_id": format!("toolu_{session}_{n:04}"),
        "duration_ms": 3
    })
}
