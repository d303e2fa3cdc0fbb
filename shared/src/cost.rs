//! Cost and token DTOs (`GET /api/cost`, `/api/sessions/{id}/cost`, `/api/tasks/{id}/cost`),
//! filled from Claude Code's own OpenTelemetry export (`claude_code.api_request` records).

use serde::{Deserialize, Serialize};

/// Sums over a set of model requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostTotals {
    /// Model requests counted.
    pub requests: i64,
    /// Cost in US dollars, as Claude Code computed it.
    pub cost_usd: f64,
    /// Input tokens (not from the cache).
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Tokens read from the prompt cache.
    pub cache_read_tokens: i64,
    /// Tokens written to the prompt cache.
    pub cache_creation_tokens: i64,
}

/// The totals of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCost {
    /// The model name Claude Code reported.
    pub model: String,
    /// Its sums.
    #[serde(flatten)]
    pub totals: CostTotals,
}

/// The totals of one turn (one user prompt: Claude Code's `prompt.id`, the hook payload's
/// `prompt_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnCost {
    /// The prompt id (`None` for requests outside any prompt).
    pub prompt_id: Option<String>,
    /// The Maestro session of the turn, once joined.
    pub session_id: Option<String>,
    /// Time of the turn's first model request (RFC 3339).
    pub first_at: String,
    /// Its sums.
    #[serde(flatten)]
    pub totals: CostTotals,
}

/// The totals of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCost {
    /// The Maestro session id (`None`: records whose session has sent no hook event yet).
    pub session_id: Option<String>,
    /// Claude Code's session id.
    pub claude_session_id: String,
    /// Its sums.
    #[serde(flatten)]
    pub totals: CostTotals,
}

/// The totals of the records one machine credential posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineCost {
    /// The machine (`None`: posted with the local ingest token).
    pub machine: Option<String>,
    /// Its sums.
    #[serde(flatten)]
    pub totals: CostTotals,
}

/// A cost report for a session, a task or everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// Sums over the whole scope.
    pub total: CostTotals,
    /// Per model, most expensive first.
    pub by_model: Vec<ModelCost>,
    /// Per session, most expensive first.
    pub by_session: Vec<SessionCost>,
    /// Per machine whose credential posted the records, most expensive first.
    pub by_machine: Vec<MachineCost>,
    /// Per turn, in time order.
    pub by_turn: Vec<TurnCost>,
    /// Every model request in time order with the running total: the cost-over-time chart
    /// (a session or a task; empty for everything).
    #[serde(default)]
    pub series: Vec<CostPoint>,
}

/// One model request on the cost-over-time chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    /// When the request finished (RFC 3339, as Claude Code reported it).
    pub at: String,
    /// The Maestro session, once joined.
    pub session_id: Option<String>,
    /// The turn (`prompt.id`).
    pub prompt_id: Option<String>,
    /// The model.
    pub model: String,
    /// This request's cost (USD).
    pub cost_usd: f64,
    /// The scope's cost up to and including this request (USD).
    pub cumulative_usd: f64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cache read tokens.
    pub cache_read_tokens: i64,
    /// Cache write tokens.
    pub cache_creation_tokens: i64,
}

/// The totals of one task (`GET /api/cost/tasks`: the board's figures in one request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCost {
    /// The task.
    pub task_id: String,
    /// Its sums over all its sessions.
    #[serde(flatten)]
    pub totals: CostTotals,
}

/// What Claude Code's `claude_code.tool_result` and `claude_code.tool_decision` events say
/// about one tool call, joined to the call the hooks saw by `tool_use_id`
/// (`GET /api/sessions/{id}/tool-telemetry`, `/api/tasks/{id}/tool-telemetry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolTelemetry {
    /// The tool call.
    pub tool_use_id: String,
    /// The Maestro session, once joined.
    pub session_id: Option<String>,
    /// Claude Code's session id.
    pub claude_session_id: String,
    /// The tool, as Claude Code named it in the telemetry.
    pub tool_name: Option<String>,
    /// The turn (`prompt.id`).
    pub prompt_id: Option<String>,
    /// Status of the tool call the hooks recorded (`pending`, `ok`, `error`); `None` while
    /// no hook event of this call has arrived.
    pub hook_status: Option<String>,
    /// `tool_result.success`.
    pub success: Option<bool>,
    /// `tool_result.duration_ms`: the tool's own run time, as Claude Code measured it.
    pub duration_ms: Option<i64>,
    /// `tool_result.error_type`, for a failed call.
    pub error_type: Option<String>,
    /// `tool_result.tool_input_size_bytes`.
    pub input_size_bytes: Option<i64>,
    /// `tool_result.tool_result_size_bytes`.
    pub result_size_bytes: Option<i64>,
    /// The permission decision: `accept` or `reject` (`tool_decision.decision`, else
    /// `tool_result.decision_type`).
    pub decision: Option<String>,
    /// Who decided (`config`, `hook`, `user_temporary`, ...: `tool_decision.source`, else
    /// `tool_result.decision_source`).
    pub decision_source: Option<String>,
    /// When the result event was recorded.
    pub result_at: Option<String>,
    /// When the decision event was recorded.
    pub decision_at: Option<String>,
}
