//! REST DTOs, the webhook answer and the JSON error body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// The error.
    pub error: ErrorBody,
}

/// Body of [`ApiError`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code (`invalid_event`, `unauthorized`, `payload_too_large`, ...).
    pub code: String,
    /// Human explanation.
    pub message: String,
}

impl ApiError {
    /// Builds an error body.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            error: ErrorBody {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// Answer of `POST /api/webhooks/hook-event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Always true on 200: the event is durable.
    pub accepted: bool,
    /// True when this `event_id` was already stored (nothing was stored twice).
    pub duplicate: bool,
    /// Feed seq of the stored event.
    pub seq: i64,
    /// Maestro session the event was mapped to.
    pub session_id: Option<String>,
    /// Exact text `maestro-hook` must print on stdout (a decision), or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
}

/// Task status on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started.
    #[default]
    Todo,
    /// A session works on it.
    InProgress,
    /// A session waits for permission.
    Blocked,
    /// Finished (set by the operator).
    Done,
}

impl TaskStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Todo => "todo",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Done => "done",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "todo" => TaskStatus::Todo,
            "in_progress" => TaskStatus::InProgress,
            "blocked" => TaskStatus::Blocked,
            "done" => TaskStatus::Done,
            _ => return None,
        })
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// `t_<uuid>`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Board status.
    pub status: TaskStatus,
    /// Working directory for spawned sessions.
    pub working_dir: Option<String>,
    /// Per-task policy override (TOML text), if any.
    #[serde(default)]
    pub policy: Option<String>,
    /// The task's spend limit in USD (None: the server's default, if any). At the limit the
    /// next tool call of any of its sessions is held for an operator.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    /// Number of sessions attached.
    pub session_count: i64,
    /// Sessions of the task currently waiting for permission.
    pub blocked_sessions: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/tasks` (all optional except the title) and `PATCH /api/tasks/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    /// Title (required on create).
    #[serde(default)]
    pub title: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Per-task policy override (TOML).
    #[serde(default)]
    pub policy: Option<String>,
    /// Spend limit in USD: a number sets it, `null` removes it (the server's default applies
    /// again), absent leaves it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub budget_usd: Option<Option<f64>>,
}

/// A field that may be absent (outer `None`, by `#[serde(default)]`), `null` (`Some(None)`)
/// or a value.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Session lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Spawned by Maestro, waiting for a free slot (at most `max_concurrent` run at once).
    Queued,
    /// Spawned or seen, no activity yet.
    Starting,
    /// Working.
    Active,
    /// Waiting for a permission decision.
    Blocked,
    /// Turn finished, waiting for the next prompt.
    WaitingForInput,
    /// Ended normally.
    Completed,
    /// Ended with an error.
    Failed,
    /// Process gone without SessionEnd.
    Lost,
}

impl SessionState {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Queued => "queued",
            SessionState::Starting => "starting",
            SessionState::Active => "active",
            SessionState::Blocked => "blocked",
            SessionState::WaitingForInput => "waiting_for_input",
            SessionState::Completed => "completed",
            SessionState::Failed => "failed",
            SessionState::Lost => "lost",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => SessionState::Queued,
            "starting" => SessionState::Starting,
            "active" => SessionState::Active,
            "blocked" => SessionState::Blocked,
            "waiting_for_input" => SessionState::WaitingForInput,
            "completed" => SessionState::Completed,
            "failed" => SessionState::Failed,
            "lost" => SessionState::Lost,
            _ => return None,
        })
    }
    /// Completed, failed or lost.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Completed | SessionState::Failed | SessionState::Lost
        )
    }
}

/// Liveness on top of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Events within the idle threshold.
    Active,
    /// No event for the idle threshold (default 5 min).
    Idle,
    /// No event for the stale threshold (default 15 min).
    Stale,
    /// The session is over.
    Ended,
}

impl Health {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Active => "active",
            Health::Idle => "idle",
            Health::Stale => "stale",
            Health::Ended => "ended",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Health::Active,
            "idle" => Health::Idle,
            "stale" => Health::Stale,
            "ended" => Health::Ended,
            _ => return None,
        })
    }
}

/// A session (one Claude Code session, spawned by Maestro or seen through hooks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `s_<uuid>`.
    pub id: String,
    /// Claude Code's `session_id`, once seen.
    pub claude_session_id: Option<String>,
    /// Task, if attached.
    pub task_id: Option<String>,
    /// Lifecycle state.
    pub state: SessionState,
    /// Health.
    pub health: Health,
    /// `CLAUDE_PROJECT_DIR` (or first cwd).
    pub project_dir: Option<String>,
    /// Latest cwd.
    pub cwd: Option<String>,
    /// Host the events came from (as the hook reports it).
    pub host: Option<String>,
    /// The machine whose credential posted the session's events, as verified by the server
    /// (`maestro-server machines add`); absent for the local ingest token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Claude Code pid.
    pub claude_pid: Option<i64>,
    /// Spawned by Maestro.
    pub spawned: bool,
    /// First event (or spawn) time.
    pub started_at: DateTime<Utc>,
    /// End time.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in ms (end or now minus start).
    pub duration_ms: Option<i64>,
    /// Last event time.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Events stored for this session.
    pub event_count: i64,
    /// What the session waits for, while blocked ("Bash: rm -rf build").
    pub blocked_on: Option<String>,
    /// Why it ended (`other`, `prompt_input_exit`, `exit code 1`, `process gone`, ...).
    pub end_reason: Option<String>,
    /// Process exit code (spawned sessions).
    pub exit_code: Option<i64>,
    /// Final stream-json `result` record (spawned headless sessions).
    pub result: Option<Value>,
}

/// A human line on a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineItem {
    /// Row id.
    pub id: i64,
    /// Session.
    pub session_id: String,
    /// Task at the time of the event.
    pub task_id: Option<String>,
    /// Capture time of the event (timelines sort by it).
    pub at: DateTime<Utc>,
    /// Kind: `session_start`, `tool_use`, `tool_failure`, `permission`, `decision`, `prompt`,
    /// `stop`, `stop_failure`, `subagent`, `notification`, `session_end`, `event`.
    pub kind: String,
    /// Hook event name.
    pub event: String,
    /// The line ("Reading src/auth.ts").
    pub summary: String,
    /// Tool, for tool lines.
    pub tool_name: Option<String>,
    /// Tool use id, for tool lines.
    pub tool_use_id: Option<String>,
    /// `ok`, `error`, `pending`, `info`, `warning`.
    pub status: String,
    /// Turn (`prompt_id`), for grouping.
    pub prompt_id: Option<String>,
    /// Subagent id, when inside a subagent.
    pub agent_id: Option<String>,
    /// The stored event this line came from (raw JSON at `/api/events/{event_id}`).
    pub event_id: Option<String>,
    /// Details (error text, exit code, decision).
    pub detail: Option<Value>,
}

/// Per-tool metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolMetric {
    /// Tool name.
    pub tool: String,
    /// Completed calls (successes + failures).
    pub calls: i64,
    /// Successful calls.
    pub successes: i64,
    /// Failed calls.
    pub failures: i64,
    /// successes / calls (0..1), None without calls.
    pub success_rate: Option<f64>,
    /// Median duration (ms).
    pub p50_ms: Option<f64>,
    /// 95th percentile duration (ms).
    pub p95_ms: Option<f64>,
}

/// `GET /api/sessions/{id}/metrics` and `/api/tasks/{id}/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Per tool, by calls descending.
    pub tools: Vec<ToolMetric>,
    /// Sum of calls.
    pub total_calls: i64,
    /// Sum of failures.
    pub total_failures: i64,
    /// Events counted.
    pub events: i64,
    /// Summed `result` figures of spawned sessions (cost_usd, turns, tokens), if any.
    pub result: Option<Value>,
}

/// Approval status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for an operator.
    Pending,
    /// Approved by an operator.
    Approved,
    /// Denied by an operator.
    Denied,
    /// Nobody decided in Maestro in time: the decision was left to Claude Code's own prompt
    /// in the terminal (the session stays blocked until an event shows the answer).
    TimedOut,
    /// The session ended (or its process is gone) before a decision.
    Cancelled,
    /// Answered at Claude Code's own dialog in the terminal: the tool ran.
    TerminalAllowed,
    /// Answered at Claude Code's own dialog in the terminal: denied or dismissed (Escape);
    /// the tool did not run.
    TerminalDenied,
}

/// An approval request (a held decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// `a_<uuid>`.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// Task.
    pub task_id: Option<String>,
    /// `PreToolUse` or `PermissionRequest`.
    pub event: String,
    /// Tool.
    pub tool_name: String,
    /// Tool input.
    pub tool_input: Value,
    /// One-line summary of what is asked ("Bash: rm -rf build").
    pub summary: String,
    /// Policy rule that held it.
    pub rule_id: String,
    /// Rule reason.
    pub reason: String,
    /// Status.
    pub status: ApprovalStatus,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided (`operator`, `timeout`, `terminal`, `session ended`, `process gone`).
    pub decided_by: Option<String>,
    /// Operator's reason.
    pub decision_reason: Option<String>,
    /// ms from creation to decision.
    pub latency_ms: Option<i64>,
}

/// Body of `POST /api/approvals/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// `approve` or `deny`.
    pub decision: String,
    /// Optional reason (given to Claude on deny).
    #[serde(default)]
    pub reason: Option<String>,
    /// For a call held at its task's spend limit: approve it and raise the task's limit to
    /// this many USD (above what the task has spent), which also releases the task's other
    /// calls held at the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
}
