//! Permission decisions for PreToolUse and PermissionRequest: evaluate the policy (built-in
//! rules, the user's policy file, the task's override), answer with the exact JSON Claude
//! Code acts on, and for `hold` wait for an operator (with a timeout that falls back to
//! Claude Code's own permission flow).
//!
//! Outcome to hook output:
//!
//! | outcome | PreToolUse | PermissionRequest |
//! |---|---|---|
//! | allow | `permissionDecision: "allow"` | `decision.behavior: "allow"` |
//! | deny | `permissionDecision: "deny"` + reason for Claude | `decision.behavior: "deny"` + message |
//! | ask | nothing: Claude Code's own permission flow applies (an explicit `"ask"` would override the user's own allow rules and modes) | held for the Maestro UI: Claude Code is asking a human, and Maestro is where the human is |
//! | hold | wait for the operator, then allow or deny; on timeout nothing (Claude Code's own flow) | same |

use crate::approvals::machine::Trigger;
use crate::approvals::Approvals;
use crate::config::{Config, PolicyCommand, ServerOpts};
use crate::error::HttpError;
use crate::store::budget::{usd, BudgetState};
use crate::store::projection::new_id;
use crate::store::{DecisionRecord, SharedStore};
use anyhow::Context;
use maestro_shared::api::{Approval, ApprovalStatus};
use maestro_shared::events::{HookEvent, HookEventName};
use maestro_shared::policy::{Decision, EvalContext, GitProbe, Outcome, PathResolver, Policy};
use maestro_shared::Envelope;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The effective policy: built-in rules plus the user's policy file.
pub struct PolicySet {
    base: Policy,
    data_dir: PathBuf,
    protected: Vec<String>,
}

impl PolicySet {
    /// Loads the built-in policy and the user file named in the configuration.
    pub fn load(config: &Config) -> anyhow::Result<PolicySet> {
        let base = match &config.policy_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading policy file {}", path.display()))?;
                Policy::from_toml(&text)
                    .with_context(|| format!("loading policy file {}", path.display()))?
            }
            None => Policy::builtin(),
        };
        let mut protected = Vec::new();
        if let Some(p) = &config.policy_file {
            protected.push(p.display().to_string());
        }
        // The server's config file may hold both tokens: never read or written by an agent.
        if let Some(p) = &config.config_file {
            protected.push(p.display().to_string());
        }
        Ok(PolicySet {
            base,
            data_dir: config.data_dir.clone(),
            protected,
        })
    }

    /// The policy for a task (its override layered on the base), falling back to the base
    /// when the override does not load.
    ///
    /// An override that cannot load is an error, never a silent fall back to the (possibly
    /// weaker) base policy: the caller holds the call for a human.
    pub fn for_task(
        &self,
        task_policy: Option<&str>,
    ) -> Result<std::borrow::Cow<'_, Policy>, String> {
        match task_policy.filter(|t| !t.trim().is_empty()) {
            Some(text) => Policy::layered(&self.base, text)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| e.to_string()),
            None => Ok(std::borrow::Cow::Borrowed(&self.base)),
        }
    }

    /// The evaluation context of an event.
    pub fn context(&self, env: &Envelope, ev: &HookEvent) -> EvalContext {
        let cwd = ev.common.cwd.clone();
        EvalContext {
            project_dir: env.source.project_dir.clone().or_else(|| cwd.clone()),
            cwd,
            home: std::env::var("HOME").ok(),
            maestro_data_dir: Some(self.data_dir.display().to_string()),
            protected_paths: self.protected.clone(),
            resolver: Some(PathResolver::kernel()),
            git: Some(GitProbe::system()),
        }
    }

    /// The base policy.
    pub fn base(&self) -> &Policy {
        &self.base
    }
}

/// The JSON Claude Code acts on, for an event and a final outcome.
pub fn hook_output(event: &HookEventName, allow: bool, reason: &str) -> String {
    maestro_shared::wire::decision_output(event, allow, reason).unwrap_or_default()
}

/// Rule id of a call held because its task's policy override cannot load.
pub const TASK_POLICY_UNAVAILABLE_RULE: &str = "hold.task-policy-unavailable";

/// Rule id of an allow turned into ask because the policy saw only part of the input.
pub const PARTIAL_INPUT_RULE: &str = "ask.partial-input";

/// A truncated or unparseable input is never allowed: the policy judged only part of the call
/// (the hook cut a long string at `MAESTRO_MAX_STRING_BYTES`: `echo <70 KB>; rm -rf ~` reads as
/// a harmless `echo`), so an allow becomes ask, with the reason on the audit line. Deny and
/// hold stay as they are.
pub fn never_allow_partial_input(decision: &mut Decision, env: &Envelope) {
    if decision.outcome != Outcome::Allow {
        return;
    }
    let why = if env.truncated {
        "the hook truncated this call's input (MAESTRO_MAX_STRING_BYTES), so the policy saw only part of it"
    } else if env.parse_error.is_some() {
        "the hook could not parse this call's input"
    } else {
        return;
    };
    decision.outcome = Outcome::Ask;
    decision.reason = format!(
        "{why}; never allowed automatically (would have been allowed by {}: {})",
        decision.rule_id, decision.reason
    );
    decision.rule_id = PARTIAL_INPUT_RULE.to_string();
}

/// Rule id of a call the policy allowed, held because its task reached its spend limit: an
/// operator's approval prints allow.
pub const BUDGET_RULE: &str = "hold.budget";

/// Rule id of a call the policy left to Claude Code's own permission flow (or allowed only in
/// part: `ask.partial-input`), held because its task reached its spend limit: an operator's
/// approval lifts the budget hold and prints nothing, so Claude Code's own flow still decides.
pub const BUDGET_ASK_RULE: &str = "hold.budget.ask";

/// Whether an approval was held at a spend limit.
pub fn is_budget_rule(rule_id: &str) -> bool {
    rule_id == BUDGET_RULE || rule_id == BUDGET_ASK_RULE
}

/// A task at its spend limit gets its next call held for an operator, never more permissive
/// than the policy: an allow becomes [`BUDGET_RULE`], an ask [`BUDGET_ASK_RULE`] (approving
/// it hands the call back to Claude Code's flow), a policy hold stays that hold (its reason
/// says the budget is reached too: an operator who approves it saw the call), a deny stays a
/// deny. The reason says how much of how much; the operator can raise the limit from the hold.
pub fn hold_at_budget(decision: &mut Decision, budget: Option<&BudgetState>) {
    let Some(b) = budget.filter(|b| b.reached()) else {
        return;
    };
    let reached = format!(
        "budget reached: {} of {}{}",
        usd(b.spent_usd),
        usd(b.limit_usd),
        if b.own { "" } else { " (the default limit)" }
    );
    let rule = match decision.outcome {
        Outcome::Deny => return,
        Outcome::Hold => {
            decision.reason = format!("{}; also {reached}", decision.reason);
            return;
        }
        Outcome::Allow => BUDGET_RULE,
        Outcome::Ask => BUDGET_ASK_RULE,
    };
    *decision = Decision {
        outcome: Outcome::Hold,
        rule_id: rule.to_string(),
        reason: reached,
    };
}

/// What the hook prints when nobody decided a budget hold in time: a deny (Claude Code's own
/// flow would let an allowed call run past the limit). The session is not stopped.
pub fn budget_timeout_output(event: &HookEventName, reason: &str) -> String {
    hook_output(
        event,
        false,
        &format!("Held by Maestro: {reason}; no operator raised the limit or approved the call"),
    )
}

/// What the audit keeps as the reason of a budget hold that timed out.
const BUDGET_TIMEOUT_REASON: &str =
    "no decision in Maestro within the hold timeout: denied (the spend limit was not raised)";

/// What deciding and holding need (an axum substate of the app state).
#[derive(Clone)]
pub struct Decider {
    /// Hold timeout.
    pub config: Arc<Config>,
    /// Task policy overrides, approvals.
    pub store: SharedStore,
    /// Held requests' waiters.
    pub approvals: Arc<Approvals>,
    /// The effective policy.
    pub policy: Arc<PolicySet>,
}

/// Runs `f`, which may block (the policy resolves symlinks and asks git what it would run),
/// without stalling the other tasks of a multi-threaded runtime.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Evaluates the policy for a decision event and builds what ingest stores with it.
pub async fn decide(state: &Decider, env: &Envelope, ev: &HookEvent) -> Option<DecisionRecord> {
    let tool = ev.tool.tool_name.as_deref()?;
    let started = Instant::now();
    let input = ev.tool.tool_input.clone().unwrap_or(Value::Null);
    let ctx = state.policy.context(env, ev);
    // The task's override decides; when it (or the context naming it) cannot be had, the call
    // is held for a human instead of being judged by the base policy alone.
    let (policy, budget) = match state
        .store
        .decision_context(env, state.config.default_budget_usd)
        .await
    {
        Ok(c) => (state.policy.for_task(c.task_policy.as_deref()), c.budget),
        Err(e) => (
            Err(format!("the decision context could not be read: {e}")),
            None,
        ),
    };
    let mut decision: Decision = match policy {
        Ok(policy) => off_the_runtime(|| policy.evaluate(tool, &input, &ctx)),
        Err(why) => {
            tracing::error!(error = %why, "task policy override cannot load; holding the call");
            Decision {
                outcome: Outcome::Hold,
                rule_id: TASK_POLICY_UNAVAILABLE_RULE.to_string(),
                reason: format!(
                    "the task's policy override cannot be used ({why}); held for a human instead of a possibly weaker policy"
                ),
            }
        }
    };
    never_allow_partial_input(&mut decision, env);
    if *ev.name() == HookEventName::PermissionRequest && decision.outcome == Outcome::Ask {
        decision.outcome = Outcome::Hold;
        decision.reason = format!("Claude Code asks for permission: {}", decision.reason);
    }
    hold_at_budget(&mut decision, budget.as_ref());
    let stdout = match decision.outcome {
        Outcome::Allow => Some(hook_output(
            ev.name(),
            true,
            &format!(
                "Allowed by Maestro policy ({}): {}",
                decision.rule_id, decision.reason
            ),
        )),
        Outcome::Deny => Some(hook_output(
            ev.name(),
            false,
            &format!(
                "Blocked by Maestro policy ({}): {}",
                decision.rule_id, decision.reason
            ),
        )),
        Outcome::Ask | Outcome::Hold => None,
    };
    let approval_id = (decision.outcome == Outcome::Hold).then(|| new_id("a_"));
    if let Some(id) = &approval_id {
        // Listen before the approval exists, so a decision can never be missed.
        state.approvals.register(id);
    }
    tracing::info!(tool, outcome = %decision.outcome, rule = %decision.rule_id, "policy decision");
    Some(DecisionRecord {
        decision,
        stdout,
        approval_id,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        decided_at: chrono::Utc::now(),
    })
}

/// Resolves a held approval as answered in the terminal (denied or dismissed) when the hook's
/// request goes away before a decision: Claude Code kills the held hook when the user answers
/// "No" or presses Escape at its own dialog (a "Yes" lets it run on, and the tool's
/// PostToolUse resolves the approval instead).
struct CancelOnDrop {
    state: Option<Decider>,
    id: String,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            let id = std::mem::take(&mut self.id);
            tokio::spawn(async move {
                let _ = state
                    .store
                    .resolve_approval(&id, Trigger::HookGone, None)
                    .await;
                state.approvals.forget(&id);
            });
        }
    }
}

fn output_for(approval: &Approval, event: &HookEventName) -> Option<String> {
    let why = approval
        .decision_reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    if is_budget_rule(&approval.rule_id) {
        // Held at a spend limit: only an operator's approval lets it go on (an approved
        // `hold.budget.ask` goes back to Claude Code's own flow, as without the budget);
        // anything else (a terminal answer, which a forged event could fake, a timeout, a
        // cancellation) is a deny.
        return match approval.status {
            ApprovalStatus::Approved if approval.rule_id == BUDGET_ASK_RULE => None,
            ApprovalStatus::Approved => Some(hook_output(
                event,
                true,
                &format!("Approved in Maestro by the operator{why}"),
            )),
            _ => Some(budget_timeout_output(event, &approval.reason)),
        };
    }
    match approval.status {
        ApprovalStatus::Approved => Some(hook_output(
            event,
            true,
            &format!("Approved in Maestro by the operator{why}"),
        )),
        ApprovalStatus::Denied => Some(hook_output(
            event,
            false,
            &format!("Denied in Maestro by the operator{why}"),
        )),
        // No decision yet, nobody decided in time, or the terminal already answered: Claude
        // Code's own dialog decides (or has decided); Maestro adds nothing. Events can end a
        // hold this way only for a PermissionRequest (the dialog is on screen beside it): a
        // held PreToolUse blocks the CLI, so no event of its call is accepted while it is held
        // (`store::approvals::transition`).
        ApprovalStatus::Pending
        | ApprovalStatus::TimedOut
        | ApprovalStatus::TerminalAllowed
        | ApprovalStatus::TerminalDenied => None,
        // Anything else that ends a hold (the session ended, the process is gone) is not an
        // operator's approval. Printing nothing would hand the call to Claude Code's own
        // permission flow, which may run it under `bypassPermissions` or an allow rule: a
        // forged event must never be a way to release a held call, so it is denied. (A hook
        // whose CLI is really gone prints to nobody.)
        _ => Some(hook_output(
            event,
            false,
            &format!(
                "Held by Maestro and not approved by an operator (approval {}){why}",
                serde_json::to_value(approval.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// Waits for an operator's decision on a held request; returns the text the hook prints
/// (nothing on timeout: Claude Code's own permission flow applies; nothing either when an
/// event showed the request answered in the terminal, which releases the hook at once).
pub async fn wait_for_operator(
    state: &Decider,
    approval_id: &str,
    event: &HookEventName,
    wait: Option<Duration>,
) -> Option<String> {
    let mut rx = state.approvals.register(approval_id);
    let mut guard = CancelOnDrop {
        state: Some(state.clone()),
        id: approval_id.to_string(),
    };
    let patience = match wait {
        Some(w) => state
            .config
            .hold_timeout
            .min(w.saturating_sub(Duration::from_secs(1))),
        None => state.config.hold_timeout,
    };
    let decided = tokio::time::timeout(patience, async {
        loop {
            if let Some(a) = rx.borrow_and_update().clone() {
                return Some(a);
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    })
    .await;
    guard.state = None;
    state.approvals.forget(approval_id);
    match decided {
        Ok(Some(a)) => output_for(&a, event),
        Ok(None) => None,
        Err(_) => {
            let budget_hold = state
                .store
                .get_approval(approval_id)
                .await
                .is_ok_and(|a| is_budget_rule(&a.rule_id));
            let why = budget_hold.then(|| BUDGET_TIMEOUT_REASON.to_string());
            match state
                .store
                .resolve_approval(approval_id, Trigger::HoldTimeout, why)
                .await
            {
                Ok(a) if is_budget_rule(&a.rule_id) => {
                    Some(budget_timeout_output(event, &a.reason))
                }
                Ok(_) => None,
                // Decided at the last moment: honour it.
                Err(_) => match state.store.get_approval(approval_id).await {
                    Ok(a) => output_for(&a, event),
                    Err(_) => None,
                },
            }
        }
    }
}

/// Checks a per-task policy override before it is stored.
pub fn validate_policy(text: &str) -> Result<(), HttpError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    Policy::from_toml(text)
        .map(|_| ())
        .map_err(|e| HttpError::unprocessable("invalid_policy", e.to_string()))
}

/// `maestro-server policy check|show`.
pub fn cli(opts: &ServerOpts, action: &PolicyCommand) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(opts)?;
    let set = PolicySet::load(&config)?;
    match action {
        PolicyCommand::Show => {
            for r in set.base().rules() {
                println!("{r:?}");
            }
            println!("fallback: {}", set.base().fallback());
        }
        PolicyCommand::Check { file, task_policy } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let v: Value = serde_json::from_str(&text).context("the payload is not JSON")?;
            // Accept a bare hook payload or a maestro envelope.
            let (payload, env) = match serde_json::from_value::<Envelope>(v.clone()) {
                Ok(env) => (env.payload.clone(), env),
                Err(_) => (v.clone(), Envelope::new("PreToolUse", v)),
            };
            let ev = HookEvent::parse(&payload).context("not a hook payload")?;
            let tool = ev
                .tool
                .tool_name
                .clone()
                .context("the payload has no tool_name")?;
            let override_text = match task_policy {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let policy = match &override_text {
                Some(t) => Policy::layered(set.base(), t).context("loading the task policy")?,
                None => set.base().clone(),
            };
            let input = ev.tool.tool_input.clone().unwrap_or(Value::Null);
            let d = policy.evaluate(&tool, &input, &set.context(&env, &ev));
            println!("decision: {}", d.outcome);
            println!("rule:     {}", d.rule_id);
            println!("reason:   {}", d.reason);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_shared::policy::Outcome;
    use serde_json::json;

    /// At the limit a call is held, never more permissive than the policy: an allow needs the
    /// operator, an ask goes back to Claude Code's flow when approved, a policy hold stays
    /// that hold (its reason says the budget is reached too), a deny stays a deny; under the
    /// limit nothing changes.
    #[test]
    fn a_budget_hold_is_never_more_permissive_than_the_policy() {
        let at = |spent: f64| BudgetState {
            task_id: "t_1".into(),
            limit_usd: 1.0,
            spent_usd: spent,
            own: true,
        };
        let held = |outcome: Outcome, spent: f64| {
            let mut d = decision(outcome);
            d.rule_id = format!("{outcome}.rule");
            hold_at_budget(&mut d, Some(&at(spent)));
            d
        };
        let d = held(Outcome::Allow, 1.5);
        assert_eq!(
            (d.outcome, d.rule_id.as_str()),
            (Outcome::Hold, BUDGET_RULE)
        );
        assert_eq!(d.reason, "budget reached: $1.50 of $1.00");
        let d = held(Outcome::Ask, 1.0);
        assert_eq!(
            (d.outcome, d.rule_id.as_str()),
            (Outcome::Hold, BUDGET_ASK_RULE)
        );
        let d = held(Outcome::Hold, 2.0);
        assert_eq!(
            (d.outcome, d.rule_id.as_str()),
            (Outcome::Hold, "hold.rule")
        );
        assert!(
            d.reason.ends_with("; also budget reached: $2.00 of $1.00"),
            "{}",
            d.reason
        );
        let d = held(Outcome::Deny, 2.0);
        assert_eq!(
            (d.outcome, d.rule_id.as_str()),
            (Outcome::Deny, "deny.rule")
        );
        let d = held(Outcome::Allow, 0.99);
        assert_eq!(
            (d.outcome, d.rule_id.as_str()),
            (Outcome::Allow, "allow.rule")
        );

        // What the held hook prints: only an operator's approval lets it go on.
        let approval = |rule: &str, status: ApprovalStatus| Approval {
            id: "a_1".into(),
            session_id: "s_1".into(),
            task_id: Some("t_1".into()),
            event: "PreToolUse".into(),
            tool_name: "Bash".into(),
            tool_input: json!({"command": "ls"}),
            summary: "Bash ls".into(),
            rule_id: rule.into(),
            reason: "budget reached: $2.00 of $1.00".into(),
            status,
            created_at: chrono::Utc::now(),
            decided_at: None,
            decided_by: None,
            decision_reason: None,
            latency_ms: None,
        };
        let pre = HookEventName::PreToolUse;
        let printed = |a: &Approval| output_for(a, &pre).unwrap_or_default();
        assert!(printed(&approval(BUDGET_RULE, ApprovalStatus::Approved)).contains("\"allow\""));
        assert_eq!(
            output_for(&approval(BUDGET_ASK_RULE, ApprovalStatus::Approved), &pre),
            None
        );
        for status in [
            ApprovalStatus::TimedOut,
            ApprovalStatus::TerminalAllowed,
            ApprovalStatus::Denied,
        ] {
            for rule in [BUDGET_RULE, BUDGET_ASK_RULE] {
                assert!(
                    printed(&approval(rule, status)).contains("\"deny\""),
                    "{rule} {status:?}"
                );
            }
        }
    }

    fn decision(outcome: Outcome) -> Decision {
        Decision {
            outcome,
            rule_id: "allow.read-only-commands".into(),
            reason: "read-only".into(),
        }
    }

    #[test]
    fn a_truncated_or_unparseable_input_is_never_allowed() {
        let mut env = Envelope::new("PreToolUse", json!({}));
        let mut d = decision(Outcome::Allow);
        never_allow_partial_input(&mut d, &env);
        assert_eq!(d.outcome, Outcome::Allow, "a whole input keeps its allow");

        env.truncated = true;
        let mut d = decision(Outcome::Allow);
        never_allow_partial_input(&mut d, &env);
        assert_eq!(d.outcome, Outcome::Ask);
        assert_eq!(d.rule_id, PARTIAL_INPUT_RULE);
        assert!(d.reason.contains("truncated"), "{}", d.reason);
        assert!(
            d.reason.contains("allow.read-only-commands"),
            "{}",
            d.reason
        );
        for kept in [Outcome::Deny, Outcome::Hold, Outcome::Ask] {
            let mut d = decision(kept);
            never_allow_partial_input(&mut d, &env);
            assert_eq!(d.outcome, kept);
            assert_eq!(d.rule_id, "allow.read-only-commands");
        }

        let mut env = Envelope::new("PreToolUse", json!({"raw": "{"}));
        env.parse_error = Some("EOF while parsing".into());
        let mut d = decision(Outcome::Allow);
        never_allow_partial_input(&mut d, &env);
        assert_eq!(d.outcome, Outcome::Ask);
        assert!(d.reason.contains("could not parse"), "{}", d.reason);
    }

    fn approval(status: ApprovalStatus) -> Approval {
        Approval {
            id: "a_1".into(),
            session_id: "s_1".into(),
            task_id: None,
            event: "PreToolUse".into(),
            tool_name: "Bash".into(),
            tool_input: json!({"command": "touch x"}),
            summary: "Bash: touch x".into(),
            rule_id: "hold".into(),
            reason: "held".into(),
            status,
            created_at: chrono::Utc::now(),
            decided_at: None,
            decided_by: None,
            decision_reason: None,
            latency_ms: None,
        }
    }

    #[test]
    fn only_an_operator_approval_releases_a_hold_as_allow() {
        let pre = HookEventName::PreToolUse;
        let out = |status| output_for(&approval(status), &pre);
        let allow = out(ApprovalStatus::Approved).expect("approved prints");
        assert!(
            allow.contains("\"permissionDecision\":\"allow\""),
            "{allow}"
        );
        assert_eq!(out(ApprovalStatus::Pending), None);
        assert_eq!(
            out(ApprovalStatus::TimedOut),
            None,
            "the timeout falls back to ask"
        );
        for status in [
            ApprovalStatus::TerminalAllowed,
            ApprovalStatus::TerminalDenied,
        ] {
            assert_eq!(
                out(status),
                None,
                "{status:?}: the terminal's answer stands"
            );
        }
        for status in [ApprovalStatus::Denied, ApprovalStatus::Cancelled] {
            let text = out(status).expect("prints a decision");
            assert!(
                text.contains("\"permissionDecision\":\"deny\""),
                "{status:?}: {text}"
            );
        }
        let cancelled = out(ApprovalStatus::Cancelled).expect("cancelled");
        assert!(cancelled.contains("cancelled"), "{cancelled}");
    }
}
