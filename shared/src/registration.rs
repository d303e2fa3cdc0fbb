//! How Maestro registers its hook in Claude Code settings. `maestro-hook install` writes these
//! entries into a settings file and the server passes the same ones to spawned sessions with
//! `--settings`; Claude Code de-duplicates identical handlers across scopes (identity: the
//! command and its args), so one definition here means a spawned session in an installed
//! project still runs each hook once.

use crate::events::HookEventName;
use serde_json::{json, Map, Value};

/// Events Maestro registers: all but WorktreeCreate (a handler would replace git's worktree
/// creation) and FileChanged (its matcher is a literal watch list).
pub fn registered_events() -> impl Iterator<Item = &'static HookEventName> {
    HookEventName::ALL.iter().filter(|e| {
        !matches!(
            e,
            HookEventName::WorktreeCreate | HookEventName::FileChanged
        )
    })
}

/// The handler `timeout` in seconds: long for decisions that may wait for a human, at least
/// 5 s for SessionEnd, short for the rest.
pub fn timeout_secs(event: &HookEventName) -> u64 {
    match event {
        HookEventName::PreToolUse => 120,
        HookEventName::PermissionRequest => 600,
        HookEventName::SessionEnd | HookEventName::MessageDisplay => 5,
        _ => 10,
    }
}

/// Tool events take a `"*"` matcher.
pub fn uses_tool_matcher(event: &HookEventName) -> bool {
    matches!(
        event,
        HookEventName::PreToolUse
            | HookEventName::PostToolUse
            | HookEventName::PostToolUseFailure
            | HookEventName::PermissionRequest
            | HookEventName::PermissionDenied
    )
}

/// The exec-form handler for `event` running the hook binary at `exe`.
pub fn handler(event: &HookEventName, exe: &str) -> Value {
    json!({
        "type": "command",
        "command": exe,
        "args": [event.subcommand().unwrap_or_default()],
        "timeout": timeout_secs(event),
    })
}

/// The matcher group holding [`handler`].
pub fn group(event: &HookEventName, exe: &str) -> Value {
    let mut g = Map::new();
    if uses_tool_matcher(event) {
        g.insert("matcher".into(), json!("*"));
    }
    g.insert("hooks".into(), json!([handler(event, exe)]));
    Value::Object(g)
}

/// A whole settings object: `{"hooks": {Event: [group]}}` for every registered event.
pub fn settings(exe: &str) -> Value {
    let hooks: Map<String, Value> = registered_events()
        .map(|e| (e.as_str().to_string(), json!([group(e, exe)])))
        .collect();
    json!({ "hooks": hooks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_cover_every_event_but_two() {
        let s = settings("/bin/maestro-hook");
        let hooks = s["hooks"].as_object().expect("object");
        assert_eq!(hooks.len(), HookEventName::ALL.len() - 2);
        assert!(!hooks.contains_key("WorktreeCreate") && !hooks.contains_key("FileChanged"));
        assert_eq!(hooks["PreToolUse"][0]["matcher"], "*");
        assert_eq!(
            hooks["PreToolUse"][0]["hooks"][0]["args"][0],
            "pre-tool-use"
        );
        assert_eq!(hooks["PermissionRequest"][0]["hooks"][0]["timeout"], 600);
        assert!(hooks["Stop"][0].get("matcher").is_none());
    }
}
