//! Human summaries of hook events: the lines of the live activity feed and the timeline.

use maestro_shared::events::{HookEvent, HookEventName};
use serde_json::Value;

/// How a tool call ended, for its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolPhase {
    /// Requested (PreToolUse), not finished yet.
    Pending,
    /// Succeeded.
    Ok,
    /// Failed.
    Failed,
}

const MAX_LINE: usize = 160;

fn clip(s: &str, max: usize) -> String {
    let one_line = s.lines().next().unwrap_or("").trim();
    if one_line.chars().count() <= max {
        if s.trim().lines().count() > 1 {
            return format!("{one_line} …");
        }
        return one_line.to_string();
    }
    let cut: String = one_line.chars().take(max).collect();
    format!("{cut}…")
}

/// A path relative to the project dir (or cwd) when it is inside it.
pub fn display_path(path: &str, project_dir: Option<&str>, cwd: Option<&str>) -> String {
    for base in [project_dir, cwd].into_iter().flatten() {
        let base = base.trim_end_matches('/');
        if base.is_empty() {
            continue;
        }
        if let Some(rest) = path.strip_prefix(base) {
            if let Some(rel) = rest.strip_prefix('/') {
                if !rel.is_empty() {
                    return rel.to_string();
                }
            }
        }
    }
    path.to_string()
}

fn input<'a>(input: Option<&'a Value>, key: &str) -> Option<&'a str> {
    input?.get(key)?.as_str()
}

/// Exit code from a Bash failure text ("Exit code 2\n...").
pub fn exit_code(error: &str) -> Option<i64> {
    error
        .lines()
        .next()?
        .trim()
        .strip_prefix("Exit code ")?
        .trim()
        .parse()
        .ok()
}

/// The line for a tool call in a given phase.
pub fn tool_summary(
    tool: &str,
    tool_input: Option<&Value>,
    phase: ToolPhase,
    error: Option<&str>,
    project_dir: Option<&str>,
    cwd: Option<&str>,
) -> String {
    let path = |key: &str| {
        input(tool_input, key)
            .map(|p| clip(&display_path(p, project_dir, cwd), MAX_LINE))
            .unwrap_or_default()
    };
    let err_line = error.map(|e| clip(e, 100)).unwrap_or_default();
    match (tool, phase) {
        ("Bash", ToolPhase::Failed) => {
            let cmd = clip(input(tool_input, "command").unwrap_or(""), MAX_LINE);
            match error.and_then(exit_code) {
                Some(code) => format!("Command failed: {cmd} (exit {code})"),
                None => format!("Command failed: {cmd} ({err_line})"),
            }
        }
        ("Bash", ToolPhase::Pending) => format!(
            "Running: {}",
            clip(input(tool_input, "command").unwrap_or(""), MAX_LINE)
        ),
        ("Bash", ToolPhase::Ok) => format!(
            "Executed: {}",
            clip(input(tool_input, "command").unwrap_or(""), MAX_LINE)
        ),
        ("Read", ToolPhase::Failed) => format!("Failed to read {}: {err_line}", path("file_path")),
        ("Read", _) => format!("Reading {}", path("file_path")),
        ("Write" | "Edit" | "MultiEdit", ToolPhase::Failed) => {
            format!("Failed to modify {}: {err_line}", path("file_path"))
        }
        ("Write" | "Edit" | "MultiEdit", ToolPhase::Pending) => {
            format!("Modifying {}", path("file_path"))
        }
        ("Write" | "Edit" | "MultiEdit", ToolPhase::Ok) => {
            format!("Modified {}", path("file_path"))
        }
        ("NotebookEdit", _) => format!("Editing notebook {}", path("notebook_path")),
        ("Grep", _) => {
            let pattern = clip(input(tool_input, "pattern").unwrap_or(""), 80);
            let base = suffix_failed(format!("Searching for {pattern}"), phase, &err_line);
            base
        }
        ("Glob", _) => suffix_failed(
            format!(
                "Finding files {}",
                clip(input(tool_input, "pattern").unwrap_or(""), 80)
            ),
            phase,
            &err_line,
        ),
        ("WebFetch", _) => suffix_failed(
            format!(
                "Fetching {}",
                clip(input(tool_input, "url").unwrap_or(""), 120)
            ),
            phase,
            &err_line,
        ),
        ("WebSearch", _) => suffix_failed(
            format!(
                "Searching the web for {}",
                clip(input(tool_input, "query").unwrap_or(""), 100)
            ),
            phase,
            &err_line,
        ),
        ("Agent" | "Task", _) => {
            let what = input(tool_input, "description")
                .or_else(|| input(tool_input, "subagent_type"))
                .unwrap_or("subagent");
            let verb = match phase {
                ToolPhase::Pending => "Delegating to subagent",
                ToolPhase::Ok => "Subagent finished",
                ToolPhase::Failed => "Subagent failed",
            };
            format!("{verb}: {}", clip(what, 100))
        }
        ("TaskCreate", _) => format!(
            "Created task: {}",
            clip(input(tool_input, "subject").unwrap_or(""), 100)
        ),
        ("TaskUpdate", _) => {
            let status = input(tool_input, "status").unwrap_or("updated");
            format!("Task {}", clip(status, 40))
        }
        ("TodoWrite", _) => "Updated the todo list".to_string(),
        (other, _) if other.starts_with("mcp__") => {
            let mut parts = other.splitn(3, "__").skip(1);
            let server = parts.next().unwrap_or("");
            let name = parts.next().unwrap_or("");
            suffix_failed(format!("Called {server}/{name}"), phase, &err_line)
        }
        (other, _) => suffix_failed(format!("Used {other}"), phase, &err_line),
    }
}

fn suffix_failed(line: String, phase: ToolPhase, err: &str) -> String {
    if phase == ToolPhase::Failed {
        format!("{line} — failed: {err}")
    } else {
        line
    }
}

/// The StopFailure line: `API error 400: <message>`. Claude Code sends `error: "unknown"` for
/// most HTTP errors, so the status comes from the message (`API Error: 400 ...`); a known error
/// kind (`rate_limit`, ...) is kept in parentheses.
fn api_error_line(kind: Option<&str>, message: Option<&str>) -> String {
    let message = message.unwrap_or("").trim();
    let (status, rest) = match message.strip_prefix("API Error: ") {
        Some(r) if r.len() >= 3 && r.as_bytes()[..3].iter().all(u8::is_ascii_digit) => {
            (Some(&r[..3]), r[3..].trim_start())
        }
        _ => (None, message),
    };
    let mut line = "API error".to_string();
    if let Some(code) = status {
        line.push(' ');
        line.push_str(code);
    }
    if let Some(k) = kind.filter(|k| !k.is_empty() && *k != "unknown") {
        line.push_str(&format!(" ({k})"));
    }
    if !rest.is_empty() {
        line.push_str(&format!(": {}", clip(rest, 120)));
    }
    line
}

/// A line for a non-tool event: `(kind, summary, status)`, or `None` for events that make no
/// line of their own (tool events, PostToolBatch, streaming MessageDisplay chunks).
pub fn event_line(ev: &HookEvent) -> Option<(&'static str, String, &'static str)> {
    let s = |k: &str| ev.str_field(k);
    Some(match ev.name() {
        HookEventName::SessionStart => {
            let source = ev
                .source
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or("startup");
            let line = match source {
                "resume" => "Session resumed".to_string(),
                "compact" => "Session continued after compaction".to_string(),
                "clear" => "Session cleared".to_string(),
                "startup" => "Session started".to_string(),
                other => format!("Session started ({other})"),
            };
            ("session_start", line, "info")
        }
        HookEventName::UserPromptSubmit => (
            "prompt",
            format!("Prompt: {}", clip(ev.prompt.as_deref().unwrap_or(""), 120)),
            "info",
        ),
        HookEventName::UserPromptExpansion => (
            "prompt",
            format!("Command: /{}", clip(s("command_name").unwrap_or(""), 80)),
            "info",
        ),
        HookEventName::Notification => {
            let msg = clip(ev.message.as_deref().unwrap_or(""), 140);
            match ev.notification_type.as_deref() {
                Some("permission_prompt") => (
                    "permission",
                    format!("Waiting for permission: {msg}"),
                    "warning",
                ),
                Some("idle_prompt") => ("notification", "Waiting for input".to_string(), "info"),
                _ => ("notification", format!("Notification: {msg}"), "info"),
            }
        }
        HookEventName::PermissionRequest => (
            "permission",
            format!("Waiting for permission: {}", ask_summary(ev)),
            "warning",
        ),
        HookEventName::PermissionDenied => (
            "decision",
            format!(
                "Denied by auto mode: {} ({})",
                ask_summary(ev),
                clip(ev.tool.reason.as_deref().unwrap_or(""), 100)
            ),
            "error",
        ),
        HookEventName::Stop => ("stop", "Turn finished".to_string(), "ok"),
        HookEventName::StopFailure => (
            "stop_failure",
            api_error_line(
                s("error"),
                ev.last_assistant_message.as_ref().and_then(Value::as_str),
            ),
            "error",
        ),
        HookEventName::PreSkillShellCommand => (
            "event",
            format!(
                "Skill shell command: {}{}",
                clip(ev.input_str("command").unwrap_or(""), 120),
                s("command_name")
                    .map(|c| format!(" (/{})", clip(c, 60)))
                    .unwrap_or_default()
            ),
            "info",
        ),
        HookEventName::SubagentStart => (
            "subagent",
            format!(
                "Subagent started ({})",
                ev.common.agent_type.as_deref().unwrap_or("agent")
            ),
            "info",
        ),
        HookEventName::SubagentStop => (
            "subagent",
            format!(
                "Subagent finished ({})",
                ev.common.agent_type.as_deref().unwrap_or("agent")
            ),
            "ok",
        ),
        HookEventName::SessionEnd => ("session_end", "Session ended".to_string(), "info"),
        HookEventName::InstructionsLoaded => (
            "event",
            format!(
                "Loaded instructions {}",
                s("file_path")
                    .map(|p| display_path(p, None, ev.common.cwd.as_deref()))
                    .unwrap_or_default()
            ),
            "info",
        ),
        HookEventName::PreCompact => ("event", "Compacting context".to_string(), "info"),
        HookEventName::PostCompact => ("event", "Context compacted".to_string(), "info"),
        HookEventName::TaskCreated => (
            "event",
            format!(
                "Task created: {}",
                clip(s("task_subject").unwrap_or(""), 100)
            ),
            "info",
        ),
        HookEventName::TaskCompleted => (
            "event",
            format!(
                "Task completed: {}",
                clip(s("task_subject").unwrap_or(""), 100)
            ),
            "ok",
        ),
        HookEventName::CwdChanged => (
            "event",
            format!("Changed directory to {}", s("new_cwd").unwrap_or("")),
            "info",
        ),
        HookEventName::FileChanged => (
            "event",
            format!(
                "File {}: {}",
                s("event").unwrap_or("changed"),
                s("file_path").unwrap_or("")
            ),
            "info",
        ),
        HookEventName::ConfigChange => (
            "event",
            format!(
                "Settings changed ({})",
                ev.source.as_ref().and_then(Value::as_str).unwrap_or("")
            ),
            "warning",
        ),
        HookEventName::MessageDisplay => {
            // One hook per streamed chunk: only the final chunk makes a line.
            if ev.extra.get("final").and_then(Value::as_bool) != Some(true) {
                return None;
            }
            (
                "message",
                format!("Claude: {}", clip(s("delta").unwrap_or(""), 140)),
                "info",
            )
        }
        HookEventName::PreToolUse
        | HookEventName::PostToolUse
        | HookEventName::PostToolUseFailure
        | HookEventName::PostToolBatch => return None,
        HookEventName::Other(name) if name == maestro_shared::wire::EVENTS_LOST => (
            "warning",
            format!(
                "{} event{} lost on {}: {}",
                ev.extra.get("lost").and_then(Value::as_u64).unwrap_or(0),
                if ev.extra.get("lost").and_then(Value::as_u64) == Some(1) {
                    ""
                } else {
                    "s"
                },
                s("host").unwrap_or("a machine"),
                clip(s("loss_reason").unwrap_or("unknown reason"), 160)
            ),
            "warning",
        ),
        other => ("event", humanize(other.as_str()), "info"),
    })
}

/// "WorktreeRemove" -> "Worktree remove".
fn humanize(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// "Bash: rm -rf build", "Write: src/x.ts".
pub fn ask_summary(ev: &HookEvent) -> String {
    let tool = ev.tool.tool_name.as_deref().unwrap_or("tool");
    let input = ev.tool.tool_input.as_ref();
    let detail = input
        .and_then(|i| {
            [
                "command",
                "file_path",
                "path",
                "notebook_path",
                "url",
                "pattern",
                "query",
            ]
            .iter()
            .find_map(|k| i.get(*k).and_then(Value::as_str))
        })
        .map(|d| clip(&display_path(d, None, ev.common.cwd.as_deref()), 140))
        .unwrap_or_default();
    if detail.is_empty() {
        tool.to_string()
    } else {
        format!("{tool} {detail}")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn api_errors_show_their_status_not_unknown() {
        assert_eq!(
            api_error_line(Some("unknown"), Some("API Error: 400 fake: bad request")),
            "API error 400: fake: bad request"
        );
        assert_eq!(
            api_error_line(Some("rate_limit"), Some("API Error: 429 slow down")),
            "API error 429 (rate_limit): slow down"
        );
        assert_eq!(api_error_line(Some("unknown"), None), "API error");
        assert_eq!(
            api_error_line(None, Some("Request timed out")),
            "API error: Request timed out"
        );
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn tool_lines_match_the_seed() {
        let p = Some("/home/dev/proj");
        let read = json!({"file_path": "/home/dev/proj/src/auth/login.ts"});
        assert_eq!(
            tool_summary("Read", Some(&read), ToolPhase::Ok, None, p, None),
            "Reading src/auth/login.ts"
        );
        let edit = json!({"file_path": "/home/dev/proj/src/auth/middleware.ts"});
        assert_eq!(
            tool_summary("Edit", Some(&edit), ToolPhase::Ok, None, p, None),
            "Modified src/auth/middleware.ts"
        );
        let bash = json!({"command": "npm test"});
        assert_eq!(
            tool_summary("Bash", Some(&bash), ToolPhase::Ok, None, p, None),
            "Executed: npm test"
        );
        assert_eq!(
            tool_summary(
                "Bash",
                Some(&bash),
                ToolPhase::Failed,
                Some("Exit code 1\nboom"),
                p,
                None
            ),
            "Command failed: npm test (exit 1)"
        );
    }

    #[test]
    fn humanizes_unknown_events() {
        assert_eq!(humanize("WorktreeRemove"), "Worktree remove");
    }
}
