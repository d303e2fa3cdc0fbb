//! Test support for Maestro's end-to-end tests: start the real binaries on random ports with
//! temp dirs, talk to them over real HTTP and WebSocket, and wait for conditions with bounded
//! polling (never bare sleeps).

pub mod browser;
pub mod claude_cli;
pub mod envelopes;
pub mod fake_api;
pub mod hook_runs;
pub mod server;
pub mod tui;
pub mod ui;
pub mod ws;

/// A policy file that holds every `deploy *` Bash command for a human (rule `hold-deploys`),
/// the held request the approval, notification and operator tests work with.
pub const HOLD_DEPLOYS_POLICY: &str = r#"
[[rule]]
id = "hold-deploys"
tool = "Bash"
command = "deploy *"
outcome = "hold"
reason = "Deploys need a human."
"#;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Path of a binary built by this workspace (`maestro-server`, `maestro-hook`). The first
/// call in a test process runs `cargo build` for them, so a test never runs a stale binary.
pub fn bin_path(name: &str) -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = std::process::Command::new(env!("CARGO"))
            // The same command as tests/run-all.sh, so features resolve the same way and this
            // is a no-op there (building only two packages would rebuild them with other
            // features).
            .args(["build", "--workspace", "--bins"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "building the binaries failed");
    });
    target_dir().join("debug").join(name)
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent")
        .to_path_buf()
}

/// The cargo target dir.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
pub fn pid_gone(pid: i64) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid as i32, 0) };
    if rc != 0 {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| {
            t.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Polls `f` every 10 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Async version of [`wait_for`].
pub async fn wait_for_async<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A file or directory made immutable (`chattr +i`: unwritable even for root, which file modes
/// do not stop) until dropped, whatever the test's outcome.
pub struct Immutable(PathBuf);

impl Immutable {
    /// Makes `path` immutable, or `None` when `chattr` cannot (not installed, a file system
    /// without attributes).
    pub fn make(path: &Path) -> Option<Immutable> {
        std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success())
            .then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}
