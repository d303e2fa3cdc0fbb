//! Shared helpers for the `maestro-hook` integration tests: an isolated hook environment
//! (temp HOME, spool, config, data dir), running the real binary with real stdin under a
//! bounded wait, and reading stored events back from the server.

#![allow(dead_code)]

use maestro_tests::server::{TestServer, INGEST_TOKEN};
use maestro_tests::{bin_path, fixture, wait_for};
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

/// A `maestro-hook` process started on one payload and left running (a held decision), on
/// the direct delivery path, with a spool of its own.
pub struct Running {
    /// The process.
    pub child: std::process::Child,
    _spool: tempfile::TempDir,
}

impl Running {
    /// Waits for the hook to exit: (exit code, stdout).
    pub fn finish(self) -> (i32, String) {
        let out = self.child.wait_with_output().expect("hook exits");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).expect("utf8"),
        )
    }
}

/// Starts `maestro-hook <sub>` for `server` with `payload` on stdin.
pub fn start_hook(server: &TestServer, sub: &str, payload: &Value) -> Running {
    let spool = tempfile::tempdir().expect("spool");
    let mut cmd = Command::new(bin_path("maestro-hook"));
    cmd.arg(sub)
        .env("MAESTRO_SPOOL_DIR", spool.path())
        .env("MAESTRO_HOOK_CONFIG", spool.path().join("none.env"))
        // These tests check what the server does with each event as it arrives, right after
        // the hook exits: the direct path. Spool-first delivery only makes observe-only
        // events arrive a few milliseconds later (`hook_spool_first.rs`, `real_claude*.rs`).
        .env("MAESTRO_HOOK_DELIVERY", "direct")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in server.hook_env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn hook");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{payload}\n").as_bytes())
        .expect("write stdin");
    drop(stdin);
    Running {
        child,
        _spool: spool,
    }
}

/// A PreToolUse payload of a Bash `command` in `session`, with a fresh tool use id.
pub fn pre_tool_use(session: &str, command: &str) -> Value {
    json!({"session_id": session, "hook_event_name": "PreToolUse", "cwd": "/tmp/proj",
        "tool_name": "Bash", "tool_input": {"command": command},
        "tool_use_id": format!("toolu_{}", uuid::Uuid::now_v7().simple())})
}

/// The PostToolUse payload of hook call `n` of a load test tagged `tag`, in one of
/// `sessions` sessions.
pub fn load_payload(tag: &str, n: usize, sessions: usize) -> Value {
    let session = format!("{tag}-{}", n % sessions);
    json!({
        "session_id": session,
        "transcript_path": format!("/home/dev/.claude/projects/p/{session}.jsonl"),
        "cwd": "/home/dev/proj",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": format!("echo {n}")},
        "tool_response": {"stdout": format!("{n}\n"), "stderr": "", "interrupted": false},
        "tool_use_id": format!("toolu_{tag}_{n:05}"),
    })
}

/// Runs `events` hook calls with `payload(n)` from `workers` threads, call `n` due at
/// `period * n`, calling `during(done)` on this thread meanwhile; asserts every call exits 0
/// silently.
pub fn hook_load(
    hook: &HookEnv,
    events: usize,
    workers: usize,
    period: Duration,
    payload: impl Fn(usize) -> Value + Sync,
    during: impl FnOnce(&std::sync::atomic::AtomicUsize),
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failures: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= events {
                    return;
                }
                let due = start + period * n as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let run = hook.send(&payload(n));
                if run.status.code() != Some(0) || !run.stdout.is_empty() {
                    failures.lock().expect("lock").push(format!(
                        "#{n}: exit {:?}, stdout {:?}, stderr {}",
                        run.status,
                        run.out(),
                        run.stderr
                    ));
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        during(&done);
    });
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "every hook call exits 0 with an empty stdout:\n{}",
        failures.join("\n")
    );
    eprintln!("{events} hook calls in {:?}", start.elapsed());
}

/// Flushes the hook's spool until it is empty (a detached drainer may be at it too: the file
/// lock makes them take turns); asserts nothing was quarantined.
pub fn drain(hook: &HookEnv) {
    wait_for("the spool to drain", Duration::from_secs(240), || {
        let flush = hook.flush();
        assert_eq!(flush.status.code(), Some(0), "flush: {}", flush.stderr);
        hook.spooled().is_empty().then_some(())
    });
    assert!(hook.quarantined().is_empty(), "nothing quarantined");
}
