//! How Maestro registers its hook in Claude Code settings. `maestro-hook install` writes these
//! entries into a settings file and the server passes the same ones to spawned sessions with
//! `--settings`; Claude Code de-duplicates identical handlers across scopes (identity: the
//! command and its args), so one definition here means a spawned session in an installed
//! project still runs each hook once.
//!
//! Registration is version-aware: a settings file that names an event the CLI does not know
//! opens a blocking "Settings Warning" dialog at every interactive start, so only the events of
//! the target Claude Code version are written ([`crate::cli_versions`] holds the table).

use crate::cli_versions::{self, ClaudeVersion};
use crate::events::HookEventName;
use serde_json::{json, Map, Value};

/// Events Maestro never registers: WorktreeCreate (a handler would replace git's worktree
/// creation) and FileChanged (its matcher is a literal watch list).
pub fn never_registered(event: &HookEventName) -> bool {
    matches!(
        event,
        HookEventName::WorktreeCreate | HookEventName::FileChanged
    )
}

/// Events Maestro registers for Claude Code `version`: every event that version knows, but
/// the two of [`never_registered`]. 28 events on 2.1.197, 32 on 2.1.332.
pub fn registered_events(
    version: &ClaudeVersion,
) -> impl Iterator<Item = &'static HookEventName> + '_ {
    HookEventName::ALL
        .iter()
        .filter(move |e| !never_registered(e) && cli_versions::knows(version, e))
}

/// Would Maestro register `event` (a wire name) for `version`?
pub fn is_registered(version: &ClaudeVersion, event: &str) -> bool {
    registered_events(version).any(|e| e.as_str() == event)
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

/// A whole settings object: `{"hooks": {Event: [group]}}` for every event registered for
/// `version`.
pub fn settings(exe: &str, version: &ClaudeVersion) -> Value {
    let hooks: Map<String, Value> = registered_events(version)
        .map(|e| (e.as_str().to_string(), json!([group(e, exe)])))
        .collect();
    json!({ "hooks": hooks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli_versions::{NEWEST_KNOWN, OLDEST_SUPPORTED};

    #[test]
    fn settings_cover_every_known_event_but_two() {
        let s = settings("/bin/maestro-hook", &NEWEST_KNOWN);
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
        assert_eq!(
            hooks["PreSkillShellCommand"][0]["hooks"][0]["args"][0],
            "pre-skill-shell-command"
        );
    }

    #[test]
    fn the_oldest_version_gets_only_what_it_knows() {
        let s = settings("/bin/maestro-hook", &OLDEST_SUPPORTED);
        let hooks = s["hooks"].as_object().expect("object");
        assert_eq!(hooks.len(), 28);
        for unknown in [
            "DirectoryAdded",
            "PreModelSwitch",
            "PostModelSwitch",
            "PreSkillShellCommand",
        ] {
            assert!(!hooks.contains_key(unknown), "{unknown}");
            assert!(!is_registered(&OLDEST_SUPPORTED, unknown));
        }
        assert!(is_registered(&OLDEST_SUPPORTED, "PermissionRequest"));
        let mid = ClaudeVersion::new(2, 1, 251);
        assert_eq!(registered_events(&mid).count(), 31);
        assert!(is_registered(&mid, "PostModelSwitch"));
        assert!(!is_registered(&mid, "PreSkillShellCommand"));
    }
}
