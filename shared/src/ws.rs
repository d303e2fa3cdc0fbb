//! WebSocket feed messages (`GET /ws?since=SEQ`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message of the feed. `seq` is global, gap-free per store and strictly increasing; a
/// client that reconnects with `since=<last seq>` receives every later message exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsMessage {
    /// Global sequence number (0 for control messages that are not part of the feed).
    pub seq: i64,
    /// Message type, one of the constants in [`types`].
    #[serde(rename = "type")]
    pub kind: String,
    /// When the underlying fact happened (capture time for hook events).
    pub at: DateTime<Utc>,
    /// Maestro task id, when the session belongs to a task.
    pub task_id: Option<String>,
    /// Maestro session id.
    pub session_id: Option<String>,
    /// Type-specific body.
    pub data: Value,
}

/// Message type names.
///
/// `hook:*` messages carry `event_id`, `event`, `claude_session_id`, `tool_name`,
/// `tool_use_id`, `agent_id` and `parse_error`; all but `hook:tool_use`, `hook:session_start`
/// and `hook:session_end` also carry `payload` (strings capped at 2 KiB). The full envelope of
/// any event is at `GET /api/events/{event_id}`.
pub mod types {
    /// SessionStart arrived.
    pub const HOOK_SESSION_START: &str = "hook:session_start";
    /// A tool was requested (PreToolUse) or completed (PostToolUse).
    pub const HOOK_TOOL_USE: &str = "hook:tool_use";
    /// PostToolUseFailure.
    pub const HOOK_TOOL_FAILURE: &str = "hook:tool_failure";
    /// Notification.
    pub const HOOK_NOTIFICATION: &str = "hook:notification";
    /// PermissionRequest.
    pub const HOOK_PERMISSION_REQUEST: &str = "hook:permission_request";
    /// SessionEnd.
    pub const HOOK_SESSION_END: &str = "hook:session_end";
    /// StopFailure (API error ended the turn).
    pub const HOOK_STOP_FAILURE: &str = "hook:stop_failure";
    /// Any other hook event.
    pub const HOOK_EVENT: &str = "hook:event";
    /// A timeline item was added (data: the item).
    pub const TIMELINE_ITEM: &str = "timeline:item";
    /// Session state, health or mapping changed (data: the session).
    pub const SESSION_UPDATED: &str = "session:updated";
    /// A task was created or changed (data: the task).
    pub const TASK_UPDATED: &str = "task:updated";
    /// A task was deleted (data: `{id}`).
    pub const TASK_DELETED: &str = "task:deleted";
    /// An approval is waiting for an operator.
    pub const APPROVAL_PENDING: &str = "approval:pending";
    /// An approval was decided or timed out.
    pub const APPROVAL_RESOLVED: &str = "approval:resolved";
    /// New cost figures for a session arrived through Claude Code's OpenTelemetry export:
    /// `data` is `{claude_session_id, total}` (`total` as in `GET /api/sessions/{id}/cost`;
    /// `session_id` is null until the session's first hook event).
    pub const COST_UPDATED: &str = "cost:updated";
    /// New `claude_code.tool_result` / `tool_decision` telemetry for tool calls of a session:
    /// `data` is `{claude_session_id, tool_use_ids}` (the figures are at
    /// `GET /api/sessions/{id}/tool-telemetry`; `session_id` is null until the session's first
    /// hook event).
    pub const TOOL_TELEMETRY: &str = "tool:telemetry";
    /// Control: the client fell too far behind; reload state and reconnect with `since`.
    pub const RESYNC: &str = "resync";
    /// Control: sent once after the backlog, `data.seq` is the latest seq at that moment.
    pub const READY: &str = "ready";
}
