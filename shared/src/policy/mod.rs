//! Permission policy evaluator. (Being written: see ARCHITECTURE.md.)

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the policy decides for one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Run without asking.
    Allow,
    /// Block, with a reason Claude can act on.
    Deny,
    /// Leave it to Claude Code's own permission prompt.
    Ask,
    /// Wait for a human in Maestro.
    Hold,
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Outcome.
    pub outcome: Outcome,
    /// Id of the rule that matched (`default:ask` when none did).
    pub rule_id: String,
    /// Reason for the operator and for Claude.
    pub reason: String,
}

/// Where the call happens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalContext {
    /// Session cwd.
    pub cwd: Option<String>,
    /// Project dir.
    pub project_dir: Option<String>,
    /// Home directory.
    pub home: Option<String>,
    /// Maestro's data dir (tokens, database): protected.
    pub maestro_data_dir: Option<String>,
}

/// The built-in local fallback used by the hook when the server is unreachable: denies the
/// clearly dangerous set, `None` otherwise (never allows).
pub fn local_fallback(tool_name: &str, tool_input: &Value, ctx: &EvalContext) -> Option<Decision> {
    let _ = (tool_name, tool_input, ctx);
    None
}
