//! Claude Code hook events: the names, the hook subcommands and typed payload views.
//!
//! Claude Code adds events and fields often, so every view here is lossless: only
//! `session_id` and `hook_event_name` are required, every other field is optional, and
//! fields this crate does not know are kept in `extra` and written back on serialisation.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

macro_rules! hook_event_names {
    ($($variant:ident => $sub:literal),+ $(,)?) => {
        /// A hook event name as Claude Code spells it in `hook_event_name`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum HookEventName {
            $(
                #[doc = concat!("`", stringify!($variant), "`")]
                $variant,
            )+
            /// An event this version of Maestro does not know; kept verbatim.
            Other(String),
        }

        impl HookEventName {
            /// Every event known to this build, in Claude Code's own order.
            pub const ALL: &'static [HookEventName] = &[$(HookEventName::$variant),+];

            /// The name as it appears on the wire (`PreToolUse`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(HookEventName::$variant => stringify!($variant),)+
                    HookEventName::Other(s) => s,
                }
            }

            /// The `maestro-hook` subcommand for this event (`pre-tool-use`).
            pub fn subcommand(&self) -> Option<&'static str> {
                match self {
                    $(HookEventName::$variant => Some($sub),)+
                    HookEventName::Other(_) => None,
                }
            }

            /// Parses a subcommand name back into the event.
            pub fn from_subcommand(sub: &str) -> Option<Self> {
                match sub {
                    $($sub => Some(HookEventName::$variant),)+
                    _ => None,
                }
            }

            /// Parses a wire name; unknown names become [`HookEventName::Other`].
            pub fn parse(name: &str) -> Self {
                match name {
                    $(stringify!($variant) => HookEventName::$variant,)+
                    other => HookEventName::Other(other.to_string()),
                }
            }
        }
    };
}

hook_event_names! {
    PreToolUse => "pre-tool-use",
    PostToolUse => "post-tool-use",
    PostToolUseFailure => "post-tool-use-failure",
    PostToolBatch => "post-tool-batch",
    Notification => "notification",
    UserPromptSubmit => "user-prompt-submit",
    UserPromptExpansion => "user-prompt-expansion",
    SessionStart => "session-start",
    SessionEnd => "session-end",
    Stop => "stop",
    StopFailure => "stop-failure",
    SubagentStart => "subagent-start",
    SubagentStop => "subagent-stop",
    PreCompact => "pre-compact",
    PostCompact => "post-compact",
    PreModelSwitch => "pre-model-switch",
    PostModelSwitch => "post-model-switch",
    PermissionRequest => "permission-request",
    PermissionDenied => "permission-denied",
    Setup => "setup",
    TeammateIdle => "teammate-idle",
    TaskCreated => "task-created",
    TaskCompleted => "task-completed",
    Elicitation => "elicitation",
    ElicitationResult => "elicitation-result",
    ConfigChange => "config-change",
    WorktreeCreate => "worktree-create",
    WorktreeRemove => "worktree-remove",
    InstructionsLoaded => "instructions-loaded",
    CwdChanged => "cwd-changed",
    FileChanged => "file-changed",
    DirectoryAdded => "directory-added",
    MessageDisplay => "message-display",
    PreSkillShellCommand => "pre-skill-shell-command",
}

impl HookEventName {
    /// Events whose hook answer can carry a decision that Maestro computes.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            HookEventName::PreToolUse | HookEventName::PermissionRequest
        )
    }
}

impl fmt::Display for HookEventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for HookEventName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HookEventName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(HookEventName::parse(&s))
    }
}

/// Fields every hook payload carries. Only `session_id` and `hook_event_name` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    /// Claude Code's session id (a UUID).
    pub session_id: String,
    /// The event name.
    pub hook_event_name: HookEventName,
    /// Path of the session transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<String>,
    /// The session's current working directory (follows `cd` and worktrees).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Id of the user prompt this event belongs to (absent before the first prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// Permission mode (`default`, `plan`, `acceptEdits`, `auto`, `dontAsk`, `bypassPermissions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// Set when the event fired inside a subagent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The subagent type (or the `--agent` type of the main thread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
}

/// Fields of the tool events (PreToolUse, PostToolUse, PostToolUseFailure, PermissionRequest,
/// PermissionDenied).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ToolFields {
    /// Tool name (`Bash`, `Write`, `mcp__server__tool`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Tool input as the model produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<Value>,
    /// Pairs a Pre with its Post/Failure (absent on PermissionRequest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Structured tool response (PostToolUse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_response: Option<Value>,
    /// Error text (PostToolUseFailure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Whether the failure was a user interrupt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_interrupt: Option<bool>,
    /// Tool run time in milliseconds (Post events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Why the call was denied (PermissionDenied) or why the session ended (SessionEnd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One call in a PostToolBatch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchCall {
    /// Tool name.
    #[serde(default)]
    pub tool_name: Option<String>,
    /// Tool input.
    #[serde(default)]
    pub tool_input: Option<Value>,
    /// Tool use id.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    /// What the model saw (a string; an error string for calls that never ran).
    #[serde(default)]
    pub tool_response: Option<Value>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A parsed hook payload: the common fields, the fields Maestro reads, and everything else.
///
/// `HookEvent::parse(v).to_value() == v` for every JSON object with the two required fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookEvent {
    /// Fields every event has.
    #[serde(flatten)]
    pub common: Common,
    /// Tool fields (tool events only; empty elsewhere).
    #[serde(flatten)]
    pub tool: ToolFields,
    /// `source` of SessionStart (`startup`, `resume`, ...) and others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
    /// Notification message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Notification type (`permission_prompt`, `idle_prompt`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
    /// Notification title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The prompt of UserPromptSubmit / UserPromptExpansion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// PostToolBatch calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<BatchCall>>,
    /// Last assistant message (Stop, StopFailure, SubagentStop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assistant_message: Option<Value>,
    /// Every field not named above, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a payload could not be read as a hook event.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not a JSON object.
    #[error("payload is not a JSON object")]
    NotAnObject,
    /// A required field is missing or not a string.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// A known field has the wrong type.
    #[error("invalid payload: {0}")]
    Invalid(String),
}

impl HookEvent {
    /// Reads a payload. Only `session_id` and `hook_event_name` are required.
    pub fn parse(v: &Value) -> Result<Self, PayloadError> {
        let obj = v.as_object().ok_or(PayloadError::NotAnObject)?;
        for field in ["session_id", "hook_event_name"] {
            match obj.get(field) {
                Some(Value::String(s)) if !s.is_empty() => {}
                _ => {
                    return Err(PayloadError::Missing(if field == "session_id" {
                        "session_id"
                    } else {
                        "hook_event_name"
                    }))
                }
            }
        }
        match HookEvent::deserialize(v) {
            Ok(ev) => Ok(ev),
            // A known field with an unexpected type must not lose the event: fall back to
            // the required fields and keep everything else raw.
            Err(_) => Self::lenient(obj),
        }
    }

    fn lenient(obj: &Map<String, Value>) -> Result<Self, PayloadError> {
        let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let common = Common {
            session_id: s("session_id").ok_or(PayloadError::Missing("session_id"))?,
            hook_event_name: HookEventName::parse(
                &s("hook_event_name").ok_or(PayloadError::Missing("hook_event_name"))?,
            ),
            transcript_path: None,
            cwd: s("cwd"),
            prompt_id: None,
            permission_mode: None,
            agent_id: None,
            agent_type: None,
        };
        let mut extra = obj.clone();
        extra.remove("session_id");
        extra.remove("hook_event_name");
        extra.remove("cwd");
        Ok(HookEvent {
            common,
            tool: ToolFields::default(),
            source: None,
            message: None,
            notification_type: None,
            title: None,
            prompt: None,
            tool_calls: None,
            last_assistant_message: None,
            extra,
        })
    }

    /// The event name.
    pub fn name(&self) -> &HookEventName {
        &self.common.hook_event_name
    }

    /// Serialises back to JSON (lossless for fields that parsed with their expected types).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A string field from the unknown-field map (e.g. `reason` of SessionEnd, `error` of
    /// StopFailure) or from the known ones.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }

    /// `tool_input.<key>` as a string.
    pub fn input_str(&self, key: &str) -> Option<&str> {
        self.tool.tool_input.as_ref()?.get(key)?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_event_has_a_subcommand_that_maps_back() {
        assert_eq!(HookEventName::ALL.len(), 34);
        for ev in HookEventName::ALL {
            let sub = ev.subcommand().expect("known event has subcommand");
            assert_eq!(HookEventName::from_subcommand(sub).as_ref(), Some(ev));
            assert_eq!(HookEventName::parse(ev.as_str()), *ev);
        }
    }

    #[test]
    fn unknown_events_and_fields_round_trip() {
        let v = json!({"session_id":"s","hook_event_name":"BrandNewEvent","cwd":"/x",
            "novel":{"deep":[1,2,3]},"tool_name":"Bash"});
        let ev = HookEvent::parse(&v).expect("parses");
        assert_eq!(ev.name(), &HookEventName::Other("BrandNewEvent".into()));
        assert_eq!(ev.to_value(), v);
    }

    #[test]
    fn required_fields_are_checked() {
        assert!(matches!(
            HookEvent::parse(&json!({"hook_event_name":"Stop"})),
            Err(PayloadError::Missing("session_id"))
        ));
        assert!(matches!(
            HookEvent::parse(&json!({"session_id":"s"})),
            Err(PayloadError::Missing("hook_event_name"))
        ));
        assert!(matches!(
            HookEvent::parse(&json!([1])),
            Err(PayloadError::NotAnObject)
        ));
    }

    #[test]
    fn wrongly_typed_known_field_is_kept_not_rejected() {
        let v = json!({"session_id":"s","hook_event_name":"PostToolUse","duration_ms":"slow"});
        let ev = HookEvent::parse(&v).expect("lenient");
        assert_eq!(ev.extra.get("duration_ms"), Some(&json!("slow")));
    }
}
