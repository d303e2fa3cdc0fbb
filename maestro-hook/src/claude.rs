//! Which Claude Code version `install` and `status` register for: `--claude-version`, else
//! the `claude` found on `PATH` (`claude --version`), else the oldest supported version (its
//! events are known to every supported version, so the choice never opens a settings warning).

use maestro_shared::cli_versions::{ClaudeVersion, OLDEST_SUPPORTED};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `claude --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);

/// The Claude Code version registration is made for.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// A known version.
    Known {
        /// The version.
        version: ClaudeVersion,
        /// Where it came from.
        from: Origin,
    },
    /// Not detected (the reason); the oldest supported version is used.
    Unknown(String),
}

/// Where a version came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// `--claude-version`.
    Flag,
    /// `<path> --version`.
    Cli(PathBuf),
}

impl Choice {
    /// The version to register for (the oldest supported one when unknown).
    pub fn version(&self) -> ClaudeVersion {
        match self {
            Choice::Known { version, .. } => *version,
            Choice::Unknown(_) => OLDEST_SUPPORTED,
        }
    }

    /// One line for the user: `Claude Code: 2.1.332 (from /usr/bin/claude --version)`.
    pub fn describe(&self) -> String {
        match self {
            Choice::Known {
                version,
                from: Origin::Flag,
            } => format!("Claude Code: {version} (from --claude-version)"),
            Choice::Known {
                version,
                from: Origin::Cli(path),
            } => format!(
                "Claude Code: {version} (from `{} --version`)",
                path.display()
            ),
            Choice::Unknown(why) => format!(
                "Claude Code: unknown ({why}); assuming the oldest supported version {OLDEST_SUPPORTED}"
            ),
        }
    }
}

/// `flag` when given, else the version of the `claude` on `path_var` (the `PATH` value).
pub fn choose(flag: Option<ClaudeVersion>, path_var: Option<&std::ffi::OsStr>) -> Choice {
    if let Some(version) = flag {
        return Choice::Known {
            version,
            from: Origin::Flag,
        };
    }
    let Some(bin) = path_var.and_then(|p| find_on_path(p, "claude")) else {
        return Choice::Unknown("no `claude` on PATH".into());
    };
    match version_of(&bin) {
        Ok(version) => Choice::Known {
            version,
            from: Origin::Cli(bin),
        },
        Err(e) => Choice::Unknown(e),
    }
}

/// The first executable `name` in the `PATH`-style list `path_var`.
pub fn find_on_path(path_var: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `<bin> --version` (bounded; killed by pid on timeout) and parses its first line.
pub fn version_of(bin: &Path) -> Result<ClaudeVersion, String> {
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{} --version`: {e}", bin.display()))?;
    let deadline = Instant::now() + VERSION_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{} --version` did not answer within {}s",
                    bin.display(),
                    VERSION_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("waiting for `{} --version`: {e}", bin.display())),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if !status.success() {
        return Err(format!("`{} --version` failed ({status})", bin.display()));
    }
    let first = out.lines().next().unwrap_or_default();
    ClaudeVersion::parse(first).map_err(|e| format!("`{} --version`: {e}", bin.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake_claude(dir: &Path, script: &str) -> PathBuf {
        let p = dir.join("claude");
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // Another test thread forking at the moment the script was written holds its write
        // descriptor until that child execs: running the script then fails with ETXTBSY. Wait
        // until it runs (once it has, no writer is left).
        for _ in 0..200 {
            match std::process::Command::new(&p).output() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => break,
            }
        }
        p
    }

    #[test]
    fn flag_wins_then_path_then_oldest() {
        let dir = tempfile::tempdir().expect("tmp");
        let bin = fake_claude(dir.path(), "echo '2.1.251 (Claude Code)'");
        let path = std::ffi::OsString::from(format!("/nonexistent:{}", dir.path().display()));
        assert_eq!(
            choose(Some(ClaudeVersion::new(2, 1, 300)), Some(&path)).version(),
            ClaudeVersion::new(2, 1, 300)
        );
        let found = choose(None, Some(&path));
        assert_eq!(
            found,
            Choice::Known {
                version: ClaudeVersion::new(2, 1, 251),
                from: Origin::Cli(bin.clone())
            }
        );
        assert!(found.describe().contains("2.1.251"), "{}", found.describe());
        let none = choose(None, Some(std::ffi::OsStr::new("/nonexistent")));
        assert!(matches!(none, Choice::Unknown(_)));
        assert_eq!(none.version(), OLDEST_SUPPORTED);
        assert!(none.describe().contains("oldest supported"));
    }

    #[test]
    fn broken_clis_are_unknown_with_a_reason() {
        let dir = tempfile::tempdir().expect("tmp");
        let bin = fake_claude(dir.path(), "echo 'Claude Code'");
        let err = version_of(&bin).expect_err("no version");
        assert!(err.contains("not a Claude Code version"), "{err}");
        let bin = fake_claude(dir.path(), "exit 3");
        let err = version_of(&bin).expect_err("fails");
        assert!(err.contains("failed"), "{err}");
    }
}
