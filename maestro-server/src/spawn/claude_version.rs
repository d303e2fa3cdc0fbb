//! The Claude Code version of the configured `claude_command`, learned once by running
//! `<command> --version` and cached: spawned sessions get `--settings` with only the hook
//! events that version knows (an unknown event would make the CLI warn), and the permission
//! path that works on it. A failure falls back to the oldest supported version, whose events
//! every supported version knows.

use maestro_shared::cli_versions::{ClaudeVersion, OLDEST_SUPPORTED};
use std::time::Duration;

/// How long `<command> --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// What the server knows about its Claude Code.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeInfo {
    /// The version sessions are started for.
    pub version: ClaudeVersion,
    /// `None` when detected; else why not (the version is then the oldest supported).
    pub fallback: Option<String>,
}

impl ClaudeInfo {
    /// The detail recorded on the "Process started" line.
    pub fn describe(&self) -> String {
        match &self.fallback {
            None => self.version.to_string(),
            Some(why) => format!("{} (assumed: {why})", self.version),
        }
    }
}

/// Runs `<base...> --version` (bounded) and parses the answer; any failure gives the oldest
/// supported version with the reason.
pub async fn detect(base: &[String]) -> ClaudeInfo {
    match run_version(base).await {
        Ok(version) => ClaudeInfo {
            version,
            fallback: None,
        },
        Err(why) => {
            tracing::warn!(error = %why, "cannot learn the Claude Code version; using the oldest supported set of hook events");
            ClaudeInfo {
                version: OLDEST_SUPPORTED,
                fallback: Some(why),
            }
        }
    }
}

async fn run_version(base: &[String]) -> Result<ClaudeVersion, String> {
    let (program, leading) = base
        .split_first()
        .ok_or_else(|| "the claude command is empty".to_string())?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(leading)
        .arg("--version")
        .env_remove("CLAUDECODE")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(VERSION_TIMEOUT, cmd.output())
        .await
        .map_err(|_| {
            format!(
                "`{program} --version` did not answer within {}s",
                VERSION_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("cannot run `{program} --version`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{program} --version` failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    ClaudeVersion::parse(text.lines().next().unwrap_or_default())
        .map_err(|e| format!("`{program} --version`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn detects_or_falls_back_to_the_oldest() {
        let ok = detect(&[
            "sh".into(),
            "-c".into(),
            "echo '2.1.300 (Claude Code)'".into(),
        ])
        .await;
        // `sh -c SCRIPT --version`: the script ignores its $0.
        assert_eq!(ok.version, ClaudeVersion::new(2, 1, 300));
        assert_eq!(ok.fallback, None);
        assert_eq!(ok.describe(), "2.1.300");
        let bad = detect(&["/nonexistent/claude".into()]).await;
        assert_eq!(bad.version, OLDEST_SUPPORTED);
        assert!(bad
            .fallback
            .as_deref()
            .is_some_and(|w| w.contains("cannot run")));
        let garbage = detect(&["sh".into(), "-c".into(), "echo hello".into()]).await;
        assert_eq!(garbage.version, OLDEST_SUPPORTED);
        assert!(
            garbage.describe().contains("assumed"),
            "{}",
            garbage.describe()
        );
    }
}
