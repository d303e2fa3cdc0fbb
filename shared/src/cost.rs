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
}
