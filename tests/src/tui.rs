//! Drives an interactive program (the real Claude Code TUI) in a private tmux server: a
//! socket of its own in a temp dir (`tmux -S`), so the test never touches a user's tmux and
//! everything it starts dies with it. The program runs under `timeout --foreground` (plain
//! `timeout` takes it out of the foreground process group and the TUI cannot read its
//! terminal). Screens are read with `capture-pane`; waits poll the screen, never sleep a fixed
//! time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The tmux binary.
pub const TMUX: &str = "tmux";

/// A program running in a detached tmux pane.
pub struct Tui {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tui {
    /// Starts `argv` in `cwd` with `env` (on top of tmux's own environment), in a
    /// `cols`x`rows` pane, killed after `limit` whatever happens.
    pub fn start(argv: &[String], env: &[(String, String)], cwd: &Path, limit: Duration) -> Tui {
        let dir = tempfile::Builder::new()
            .prefix("maestro-tmux-")
            .tempdir()
            .expect("tmux dir");
        let socket = dir.path().join("sock");
        let mut cmd = Command::new(TMUX);
        cmd.arg("-S")
            .arg(&socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                "160",
                "-y",
                "50",
            ])
            .arg("-c")
            .arg(cwd);
        for (k, v) in env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        // The pane's command line, run by tmux through `sh -c`: every word quoted.
        let mut line = format!("exec timeout --foreground {} ", limit.as_secs().max(1));
        line.push_str(
            &argv
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        );
        cmd.arg(line);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tui = Tui { socket, _dir: dir };
        // Keep the pane (and its last screen) when the program exits.
        let _ = tui.tmux(&["set-option", "-t", "main", "remain-on-exit", "on"]);
        tui
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new(TMUX)
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// The visible screen, as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "main"]).stdout)
            .into_owned()
    }

    /// The pane's first process (`timeout`).
    pub fn pane_pid(&self) -> Option<u32> {
        let out = self.tmux(&["display-message", "-p", "-t", "main", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// Polls the screen until `f` finds what it wants; panics with the last screen after
    /// `timeout`.
    pub fn wait_screen<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if let Some(v) = f(&screen) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `text` is on the screen.
    pub fn wait_text(&self, text: &str, timeout: Duration) -> String {
        self.wait_screen(&format!("{text:?} on the screen"), timeout, |s| {
            s.contains(text).then(|| s.to_string())
        })
    }

    /// Sends keys (tmux key names: `Enter`, `Escape`, `1`, ...).
    pub fn send_keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(
            out.status.success(),
            "tmux send-keys failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends `key` until the screen no longer shows `gone` (a key sent in the first moments
    /// after a dialog appears can be lost): at most `tries` times, each followed by a wait
    /// of up to `each` for the screen to change.
    pub fn press_until_gone(&self, key: &str, gone: &str, tries: usize, each: Duration) -> bool {
        for _ in 0..tries {
            self.send_keys(&[key]);
            let deadline = Instant::now() + each;
            while Instant::now() < deadline {
                if !self.screen().contains(gone) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        !self.screen().contains(gone)
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// Quotes a word for `sh`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Descendants of `pid` (children, grandchildren, ...) from `/proc`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.filter_map(Result::ok) {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok()) {
                parents.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (child, parent) in &parents {
            if *parent == p && !out.contains(child) {
                out.push(*child);
                frontier.push(*child);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_words_for_sh() {
        assert_eq!(shell_quote("/usr/bin/claude"), "/usr/bin/claude");
        assert_eq!(shell_quote("make it"), "'make it'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
