//! Permission decisions for PreToolUse and PermissionRequest. (Policy engine being wired.)

use crate::app::AppState;
use crate::store::DecisionRecord;
use maestro_shared::events::HookEvent;
use maestro_shared::Envelope;
use std::time::Duration;

/// Evaluates the policy for a decision event.
pub async fn decide(_state: &AppState, _env: &Envelope, _ev: &HookEvent) -> Option<DecisionRecord> {
    None
}

/// Waits for an operator's decision on a held request; returns the text the hook prints.
pub async fn wait_for_operator(
    _state: &AppState,
    _approval_id: &str,
    _ev: &HookEvent,
    _wait: Option<Duration>,
) -> Option<String> {
    None
}

/// Checks a per-task policy override before it is stored.
pub fn validate_policy(_text: &str) -> Result<(), crate::error::HttpError> {
    Ok(())
}

/// The effective policy set (builtin + user file). Being wired.
pub struct PolicySet;

impl PolicySet {
    /// Loads the policy.
    pub fn load(_config: &crate::config::Config) -> anyhow::Result<PolicySet> {
        Ok(PolicySet)
    }
}

/// `maestro-server policy ...`.
pub fn cli(
    _opts: &crate::config::ServerOpts,
    _action: &crate::config::PolicyCommand,
) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("not yet available")
}
