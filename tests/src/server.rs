//! A real `maestro-server` child process on a random loopback port with a temp data dir.

use crate::{bin_path, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Ingest token every test server uses.
pub const INGEST_TOKEN: &str = "test-ingest-token-0123456789abcdef";
/// Operator token every test server uses.
pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789abcdef";

/// A running server. Killed (SIGKILL) on drop; [`TestServer::stop`] stops it gracefully.
pub struct TestServer {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Port.
    pub port: u16,
    /// Data dir (kept across restarts).
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra_env: Vec<(String, String)>,
}

impl TestServer {
    /// Starts a server on a random port with a fresh temp data dir.
    pub fn start() -> TestServer {
        Self::start_with_env(&[])
    }

    /// Starts with extra env vars (e.g. `MAESTRO_HOLD_TIMEOUT_MS`).
    pub fn start_with_env(env: &[(&str, &str)]) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, port) = spawn(&data_dir, "127.0.0.1:0", &env);
        TestServer {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            port,
            data_dir,
            _tmp: Some(tmp),
            extra_env: env,
        }
    }

    /// Starts a server on a given data dir and port (for restarts on the same port).
    pub fn start_at(data_dir: &Path, port: u16) -> TestServer {
        let (child, port) = spawn(data_dir, &format!("127.0.0.1:{port}"), &[]);
        TestServer {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            port,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            extra_env: Vec::new(),
        }
    }

    /// PID of the server process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL (crash) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data dir (after stop or kill9).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server before restarting it");
        let (child, _) = spawn(
            &self.data_dir,
            &format!("127.0.0.1:{}", self.port),
            &self.extra_env,
        );
        self.child = Some(child);
    }

    /// A blocking HTTP client.
    pub fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// GET `path` with the operator token, returning JSON (panics on non-2xx).
    pub fn get(&self, path: &str) -> Value {
        let resp = self
            .client()
            .get(format!("{}{}", self.url, path))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .expect("GET");
        let status = resp.status();
        let body = resp.text().expect("body");
        assert!(status.is_success(), "GET {path}: {status} {body}");
        serde_json::from_str(&body).expect("JSON body")
    }

    /// POST JSON to `path` with the operator token; returns (status, JSON body or Null).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .client()
            .post(format!("{}{}", self.url, path))
            .bearer_auth(OPERATOR_TOKEN)
            .json(body)
            .send()
            .expect("POST");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Any method with the operator token and an optional JSON body; returns (status, JSON body
    /// or Null).
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client()
            .request(method, format!("{}{}", self.url, path))
            .bearer_auth(OPERATOR_TOKEN);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// PATCH JSON to `path` with the operator token; returns (status, JSON body or Null).
    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request(reqwest::Method::PATCH, path, Some(body))
    }

    /// POSTs an envelope to the webhook with the ingest token; returns (status, body).
    pub fn ingest(&self, envelope: &Value) -> (u16, Value) {
        let resp = self
            .client()
            .post(format!("{}/api/webhooks/hook-event", self.url))
            .bearer_auth(INGEST_TOKEN)
            .json(envelope)
            .send()
            .expect("POST webhook");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Env vars that point `maestro-hook` at this server.
    pub fn hook_env(&self) -> Vec<(String, String)> {
        vec![
            ("MAESTRO_URL".into(), self.url.clone()),
            ("MAESTRO_TOKEN".into(), INGEST_TOKEN.into()),
        ]
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The port in the server's `maestro-server listening on http://127.0.0.1:PORT` line.
pub fn listening_port(line: &str) -> Option<u16> {
    line.split("listening on http://")
        .nth(1)?
        .split_whitespace()
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

/// Whether the test servers run on PostgreSQL (`MAESTRO_TEST_STORE=postgres`, the second
/// pass of `tests/run-all.sh`) instead of their data dir's SQLite file.
pub fn on_postgres() -> bool {
    std::env::var("MAESTRO_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// True (and says so) when the test servers run on PostgreSQL: for the tests of what only the
/// embedded SQLite file has (its pages, its WAL, a capped file size). The PostgreSQL store's
/// faults are tested in `team_replicas.rs`.
pub fn skip_on_postgres(test: &str) -> bool {
    if on_postgres() {
        eprintln!("{test}: a test of the SQLite file itself; not run on PostgreSQL");
        return true;
    }
    false
}

/// On PostgreSQL: the database of the server on `data_dir` (a fresh one on the test cluster
/// the first time, the same one on restarts). None on SQLite.
pub fn database_for(data_dir: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let marker = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return Some(url.trim().to_string());
    }
    let url = maestro_testpg::shared_database().expect("a PostgreSQL database for the test");
    std::fs::create_dir_all(data_dir).expect("data dir");
    std::fs::write(&marker, &url).expect("remember the test database");
    Some(url)
}

/// `maestro-server` on the store of the server with `data_dir`: `--database-url` first on
/// PostgreSQL, then `--data-dir` (for the admin commands and servers a test starts itself).
pub fn server_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin_path("maestro-server"));
    if let Some(url) = database_for(data_dir) {
        cmd.arg("--database-url").arg(url);
    }
    cmd.arg("--data-dir").arg(data_dir);
    cmd
}

/// `cmd` with the test servers' tokens and `RUST_LOG=warn`.
pub fn with_test_tokens(cmd: &mut Command) -> &mut Command {
    cmd.env("MAESTRO_INGEST_TOKEN", INGEST_TOKEN)
        .env("MAESTRO_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("RUST_LOG", "warn")
}

/// Runs `maestro-server` with `args` and the test tokens, expecting it to refuse to start:
/// waits (two minutes at most) for it to exit, asserts that it failed, and returns what it
/// printed (standard output, then standard error).
pub fn refused_start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let child = with_test_tokens(Command::new(bin_path("maestro-server")).args(args))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn maestro-server");
    let mut child = Some(child);
    let out = wait_for(
        "the server to refuse to start",
        Duration::from_secs(120),
        || match child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(_))) => child.take().map(Child::wait_with_output),
            _ => None,
        },
    )
    .expect("the server's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the server started:\n{text}");
    text
}

fn spawn(data_dir: &Path, bind: &str, env: &[(String, String)]) -> (Child, u16) {
    let mut cmd = Command::new(bin_path("maestro-server"));
    // A test that names the database itself (several replicas on one) keeps it.
    let own_database = env.iter().any(|(k, _)| k == "MAESTRO_DATABASE_URL");
    if !own_database {
        if let Some(url) = database_for(data_dir) {
            cmd.arg("--database-url").arg(url);
        }
    }
    with_test_tokens(&mut cmd)
        .arg("--bind")
        .arg(bind)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn maestro-server");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(port);
                    sent = true;
                }
            }
        }
    });
    let port = wait_for("server to listen", Duration::from_secs(60), || {
        rx.try_recv().ok()
    });
    (child, port)
}
