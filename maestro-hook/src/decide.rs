//! Decisions for PreToolUse and PermissionRequest: print the server's answer, or, when the
//! server could not decide, the local fallback's deny (never an allow).

use crate::config::Config;
use maestro_shared::policy::{local_fallback, EvalContext, Outcome, PathResolver};
use maestro_shared::{Envelope, HookEventName};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// Prints `text` followed by a newline on stdout, as one write. Errors (a closed pipe) are
/// ignored: there is nobody left to tell.
pub fn print_stdout(text: &str) {
    let mut line = Vec::with_capacity(text.len() + 1);
    line.extend_from_slice(text.as_bytes());
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&line);
    let _ = out.flush();
}

/// The deny JSON for `event` (compact, one line), or `None` for events without decisions.
pub fn deny_json(event: &HookEventName, reason: &str) -> Option<String> {
    maestro_shared::wire::decision_output(event, false, reason)
}

/// What to print when the server did not decide: the local policy's deny, or nothing.
pub fn fallback_output(
    event: &HookEventName,
    envelope: &Envelope,
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    if !event.is_decision() || envelope.parse_error.is_some() {
        return None;
    }
    let payload = &envelope.payload;
    let tool_name = payload.get("tool_name").and_then(Value::as_str)?;
    let tool_input = payload.get("tool_input").cloned().unwrap_or(Value::Null);
    let ctx = EvalContext {
        cwd: payload
            .get("cwd")
            .and_then(Value::as_str)
            .map(str::to_string),
        project_dir: envelope.source.project_dir.clone(),
        home: env("HOME").filter(|h| !h.is_empty()),
        maestro_data_dir: cfg
            .server_data_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned()),
        protected_paths: protected_paths(cfg),
        resolver: Some(PathResolver::kernel()),
        // The fallback only denies: what git would run never matters to it.
        git: None,
    };
    let decision = local_fallback(tool_name, &tool_input, &ctx)?;
    if decision.outcome != Outcome::Deny {
        // The fallback never allows; anything but a deny means "no opinion".
        return None;
    }
    let reason = format!(
        "Blocked by Maestro's local policy while the Maestro server is unreachable ({}): {}",
        decision.rule_id, decision.reason
    );
    deny_json(event, &reason)
}

/// The hook's own files, which agents may neither read nor write: its config file, the
/// spool (envelopes hold whole payloads), the token file it reads.
fn protected_paths(cfg: &Config) -> Vec<String> {
    let mut paths: Vec<&Path> = vec![cfg.spool_dir.as_path(), cfg.log_file.as_path()];
    if let Some(c) = &cfg.config_file {
        paths.push(c);
    }
    if let crate::config::TokenSource::File(t) = &cfg.token_source {
        paths.push(t);
    }
    paths
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deny_shapes_match_the_hook_contract() {
        let pre = deny_json(&HookEventName::PreToolUse, "no \"way\"").expect("pre");
        assert_eq!(
            pre,
            r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no \"way\""}}"#
        );
        let perm = deny_json(&HookEventName::PermissionRequest, "nope").expect("perm");
        assert_eq!(
            perm,
            r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"nope"}}}"#
        );
        assert!(deny_json(&HookEventName::Stop, "x").is_none());
    }

    #[test]
    fn fallback_is_silent_for_observe_events_and_malformed_payloads() {
        let cfg = Config::load_with(&|k| match k {
            "MAESTRO_HOOK_CONFIG" => Some("/nonexistent/x.env".into()),
            _ => None,
        });
        let env = |_: &str| None;
        let stop = Envelope::new("Stop", json!({"tool_name":"Bash"}));
        assert!(fallback_output(&HookEventName::Stop, &stop, &cfg, &env).is_none());
        let mut bad = Envelope::new("PreToolUse", json!({"raw":"{"}));
        bad.parse_error = Some("not JSON".into());
        assert!(fallback_output(&HookEventName::PreToolUse, &bad, &cfg, &env).is_none());
        let harmless = Envelope::new(
            "PreToolUse",
            json!({"tool_name":"Read","tool_input":{"file_path":"/tmp/x"}}),
        );
        assert!(fallback_output(&HookEventName::PreToolUse, &harmless, &cfg, &env).is_none());
    }

    #[test]
    fn fallback_denies_the_dangerous_set() {
        let cfg = Config::load_with(&|k| match k {
            "MAESTRO_HOOK_CONFIG" => Some("/nonexistent/x.env".into()),
            _ => None,
        });
        let env = |k: &str| (k == "HOME").then(|| "/home/dev".to_string());
        let payload = json!({"session_id":"s","hook_event_name":"PreToolUse","cwd":"/home/dev/proj",
            "tool_name":"Bash","tool_input":{"command":"rm -rf /"}});
        let pre = Envelope::new("PreToolUse", payload.clone());
        let out = fallback_output(&HookEventName::PreToolUse, &pre, &cfg, &env).expect("deny");
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
        let perm = Envelope::new("PermissionRequest", payload);
        let out =
            fallback_output(&HookEventName::PermissionRequest, &perm, &cfg, &env).expect("deny");
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    }
}
