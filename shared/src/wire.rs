//! Constants of the hook-to-server contract that both sides use, defined once.

use crate::events::HookEventName;
use serde_json::json;

/// The webhook every hook event is POSTed to.
pub const WEBHOOK_PATH: &str = "/api/webhooks/hook-event";

/// Request header: how long the hook can wait for a held decision, in milliseconds.
pub const WAIT_HEADER: &str = "x-maestro-wait-ms";

/// The server's default bind address (loopback).
pub const DEFAULT_BIND: &str = "127.0.0.1:8420";

/// The URL hooks use by default: the default bind.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8420";

/// The application name of the server's data dir (`directories::ProjectDirs::from("", "",
/// DATA_DIR_APP)`: `~/.local/share/maestro` on Linux); the hook reads the ingest token there.
pub const DATA_DIR_APP: &str = "maestro";

/// The event a hook sends (for the Claude session of the last one) when events were lost
/// because they could be neither delivered nor spooled: payload `lost` (count), `loss_reason`,
/// `host`. The session's timeline shows "N events lost on <host>: <reason>".
pub const EVENTS_LOST: &str = "MaestroEventsLost";

/// What a decision hook prints for Claude Code (compact, one line): allow or deny with the
/// reason, in the shape of `event` (PreToolUse's `permissionDecision`, PermissionRequest's
/// `decision.behavior`). `None` for events that take no decision.
pub fn decision_output(event: &HookEventName, allow: bool, reason: &str) -> Option<String> {
    let v = match event {
        HookEventName::PreToolUse => json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": if allow { "allow" } else { "deny" },
            "permissionDecisionReason": reason,
        }}),
        HookEventName::PermissionRequest if allow => json!({"hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": {"behavior": "allow"},
        }}),
        HookEventName::PermissionRequest => json!({"hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": {"behavior": "deny", "message": reason},
        }}),
        _ => return None,
    };
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_is_the_default_bind() {
        assert_eq!(DEFAULT_URL, format!("http://{DEFAULT_BIND}"));
        assert!(WEBHOOK_PATH.starts_with("/api/"));
    }

    #[test]
    fn decision_shapes_match_the_hook_contract() {
        assert_eq!(
            decision_output(&HookEventName::PreToolUse, false, "no \"way\"").as_deref(),
            Some(
                r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no \"way\""}}"#
            )
        );
        assert_eq!(
            decision_output(&HookEventName::PermissionRequest, false, "nope").as_deref(),
            Some(
                r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"nope"}}}"#
            )
        );
        assert_eq!(
            decision_output(&HookEventName::PermissionRequest, true, "ok").as_deref(),
            Some(
                r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}"#
            )
        );
        assert!(decision_output(&HookEventName::Stop, false, "x").is_none());
    }
}
