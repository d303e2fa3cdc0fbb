//! The body of `POST /api/tasks/{id}/sessions` and its validation.

use crate::error::HttpError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Longest prompt accepted (100 KiB; Linux allows 128 KiB for one argument).
pub const MAX_PROMPT_BYTES: usize = 100 * 1024;
/// Most extra arguments accepted.
pub const MAX_EXTRA_ARGS: usize = 64;
/// Longest single extra argument.
pub const MAX_ARG_BYTES: usize = 16 * 1024;
/// `--permission-mode` values Claude Code knows (`default` is the older spelling of `manual`).
pub const PERMISSION_MODES: &[&str] = &[
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "dontAsk",
    "manual",
    "plan",
];

/// What the operator asks for.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnRequest {
    /// The prompt (required, at most 100 KiB).
    #[serde(default)]
    pub prompt: Option<String>,
    /// Working directory (default: the task's).
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `--permission-mode`.
    #[serde(default)]
    pub permission_mode: Option<String>,
    /// `--model`.
    #[serde(default)]
    pub model: Option<String>,
    /// More options for Claude Code, checked against an allow list (see `spawn::args`).
    #[serde(default)]
    pub extra_args: Option<Vec<String>>,
    /// Headless (`-p --output-format stream-json --verbose`); the only mode supported.
    #[serde(default)]
    pub headless: Option<bool>,
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidSpawn {
    /// The prompt.
    pub prompt: String,
    /// Canonical working directory.
    pub working_dir: PathBuf,
    /// Permission mode.
    pub permission_mode: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Extra arguments.
    pub extra_args: Vec<String>,
}

impl ValidSpawn {
    /// The record stored with the session (`sessions.spawn`) and in its spawn file.
    pub fn record(&self, command: &[String]) -> Value {
        json!({
            "prompt": self.prompt,
            "working_dir": self.working_dir.display().to_string(),
            "permission_mode": self.permission_mode,
            "model": self.model,
            "extra_args": self.extra_args,
            "headless": true,
            "command": command,
        })
    }
}

fn invalid(message: impl Into<String>) -> HttpError {
    HttpError::unprocessable("invalid_request", message)
}

fn check_text(field: &str, value: &str) -> Result<(), HttpError> {
    if value.contains('\0') {
        return Err(invalid(format!("{field} must not contain NUL characters")));
    }
    Ok(())
}

/// Checks every field; `task_dir` is the task's working directory, used when the request
/// names none.
pub fn validate(req: SpawnRequest, task_dir: Option<&str>) -> Result<ValidSpawn, HttpError> {
    if req.headless == Some(false) {
        return Err(HttpError::unprocessable(
            "not_supported",
            "interactive (headless: false) sessions need a terminal, which the server does not \
             provide; use headless: true",
        ));
    }
    let prompt = req.prompt.unwrap_or_default();
    if prompt.trim().is_empty() {
        return Err(invalid("prompt is required and must not be empty"));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(invalid(format!(
            "prompt is {} bytes; at most {MAX_PROMPT_BYTES} bytes are accepted",
            prompt.len()
        )));
    }
    check_text("prompt", &prompt)?;

    let dir =
        match req.working_dir.as_deref().or(task_dir) {
            Some(d) if !d.trim().is_empty() => d.to_string(),
            _ => return Err(invalid(
                "working_dir is required: the request names none and the task has no working_dir",
            )),
        };
    check_text("working_dir", &dir)?;
    let working_dir = check_dir(Path::new(&dir))?;

    let permission_mode = match req.permission_mode {
        Some(m) if !PERMISSION_MODES.contains(&m.as_str()) => {
            return Err(invalid(format!(
                "permission_mode {m:?} is not one of {}",
                PERMISSION_MODES.join(", ")
            )))
        }
        other => other,
    };

    let model = match req.model {
        Some(m) => {
            let ok = !m.is_empty()
                && m.len() <= 200
                && !m.starts_with('-')
                && !m.chars().any(|c| c.is_control() || c.is_whitespace());
            if !ok {
                return Err(invalid(
                    "model must be 1-200 characters, without spaces or control characters, \
                     and not start with '-'",
                ));
            }
            Some(m)
        }
        None => None,
    };

    let extra_args = req.extra_args.unwrap_or_default();
    if extra_args.len() > MAX_EXTRA_ARGS {
        return Err(invalid(format!(
            "extra_args has {} entries; at most {MAX_EXTRA_ARGS} are accepted",
            extra_args.len()
        )));
    }
    for (i, a) in extra_args.iter().enumerate() {
        check_text(&format!("extra_args[{i}]"), a)?;
        if a.len() > MAX_ARG_BYTES {
            return Err(invalid(format!(
                "extra_args[{i}] is longer than {MAX_ARG_BYTES} bytes"
            )));
        }
    }
    super::args::check(&extra_args)
        .map_err(|m| HttpError::unprocessable("invalid_extra_args", m))?;

    Ok(ValidSpawn {
        prompt,
        working_dir,
        permission_mode,
        model,
        extra_args,
    })
}

fn check_dir(dir: &Path) -> Result<PathBuf, HttpError> {
    if !dir.is_absolute() {
        return Err(invalid(format!(
            "working_dir {} must be an absolute path",
            dir.display()
        )));
    }
    let meta = std::fs::metadata(dir)
        .map_err(|e| invalid(format!("working_dir {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(invalid(format!(
            "working_dir {} is not a directory",
            dir.display()
        )));
    }
    Ok(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prompt: &str) -> SpawnRequest {
        SpawnRequest {
            prompt: Some(prompt.into()),
            working_dir: Some(std::env::temp_dir().display().to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_plain_request_and_defaults_to_the_task_dir() {
        let tmp = std::env::temp_dir();
        let v = validate(
            SpawnRequest {
                prompt: Some("hi".into()),
                ..Default::default()
            },
            tmp.to_str(),
        )
        .expect("valid");
        assert_eq!(v.working_dir, tmp.canonicalize().expect("canonical"));
        assert!(validate(
            SpawnRequest {
                prompt: Some("hi".into()),
                ..Default::default()
            },
            None
        )
        .is_err());
    }

    #[test]
    fn rejects_bad_fields() {
        assert!(validate(req(""), None).is_err());
        assert!(validate(req(&"x".repeat(MAX_PROMPT_BYTES + 1)), None).is_err());
        assert!(validate(req("a\0b"), None).is_err());
        let mut r = req("hi");
        r.permission_mode = Some("yolo".into());
        assert!(validate(r, None).is_err());
        let mut r = req("hi");
        r.permission_mode = Some("acceptEdits".into());
        assert!(validate(r, None).is_ok());
        let mut r = req("hi");
        r.extra_args = Some(vec!["ok".into(), "b\0ad".into()]);
        let e = validate(r, None).expect_err("NUL");
        assert!(e.message.contains("extra_args[1]"), "{}", e.message);
        let mut r = req("hi");
        r.working_dir = Some("relative/dir".into());
        assert!(validate(r, None).is_err());
        let mut r = req("hi");
        r.working_dir = Some("/definitely/not/here".into());
        assert!(validate(r, None).is_err());
        let mut r = req("hi");
        r.headless = Some(false);
        assert_eq!(validate(r, None).expect_err("tty").code, "not_supported");
        let mut r = req("hi");
        r.model = Some("--settings".into());
        assert!(validate(r, None).is_err());
        let mut r = req("hi");
        r.extra_args = Some(vec!["--settings".into(), "{}".into()]);
        let e = validate(r, None).expect_err("second settings");
        assert_eq!(e.code, "invalid_extra_args");
        assert!(e.message.contains("Maestro's hooks"), "{}", e.message);
        let mut r = req("hi");
        r.extra_args = Some(vec!["--max-turns".into(), "2".into()]);
        assert!(validate(r, None).is_ok());
    }
}
