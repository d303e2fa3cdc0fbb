//! The script a [`FakeApi`](super::FakeApi) follows: what the "model" answers on each turn.
//!
//! JSON form (the same as the reference harness), either a plain list of steps for the main
//! conversation or an object with subagent scripts:
//!
//! ```json
//! {"main": [
//!    {"tool": "Write", "input": {"file_path": "{cwd}/a.txt", "content": "hi\n"}},
//!    {"tools": [{"tool": "Grep", "input": {"pattern": "hi"}},
//!               {"tool": "Glob", "input": {"pattern": "*.txt"}}],
//!     "preamble": "Searching both ways."},
//!    {"tool": "Agent", "input": {"description": "sub", "prompt": "SUBAGENT-1 run ls",
//!                                 "subagent_type": "general-purpose"}},
//!    {"error": {"status": 400, "message": "bad request"}},
//!    {"text": "All done."}],
//!  "agents": [{"match": "SUBAGENT-1", "steps": [{"tool": "Bash", "input": {"command": "ls"}},
//!                                               {"text": "listed"}]}]}
//! ```
//!
//! Step `n` answers the request on turn `n`, where the turn is the number of user messages
//! that carry `tool_result` blocks (one per answered batch, however many calls it had).
//! `{cwd}` anywhere in a tool input is replaced with the session's working directory (from the
//! system prompt, whatever its wording: see `find_cwd` in the parent module). A turn past the end of the steps gets
//! the text answer [`EXHAUSTED_TEXT`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// Text answered when a conversation runs past the end of its steps.
pub const EXHAUSTED_TEXT: &str = "(fake api: script exhausted)";

/// One tool call the fake model makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Tool name as the CLI knows it on the wire (`Write`, `Bash`, `Agent`, ...).
    pub tool: String,
    /// Tool input; `{cwd}` in any string is replaced with the working directory.
    #[serde(default = "empty_object")]
    pub input: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// An API error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorStep {
    /// HTTP status. Use a 4xx other than 429: the CLI retries 429 and 5xx with backoff.
    pub status: u16,
    /// Anthropic error type (default `invalid_request_error`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Error message (default `fake api error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One answer of the fake model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Step {
    /// `{"tool": NAME, "input": {...}}`: one tool call (`stop_reason: tool_use`).
    Tool {
        /// Tool name.
        tool: String,
        /// Tool input.
        #[serde(default = "empty_object")]
        input: Value,
    },
    /// `{"tools": [...], "preamble": "text"}`: several tool calls in one answer, optionally
    /// after a text block.
    Tools {
        /// The calls, in order.
        tools: Vec<ToolCall>,
        /// Text shown before the calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preamble: Option<String>,
    },
    /// `{"text": "..."}`: a final text answer (`stop_reason: end_turn`).
    Text {
        /// The text.
        text: String,
    },
    /// `{"error": {"status": 400, ...}}`: an HTTP error answer.
    Error {
        /// The error.
        error: ApiErrorStep,
    },
}

impl Step {
    /// One tool call.
    pub fn tool(name: &str, input: Value) -> Step {
        Step::Tool {
            tool: name.to_string(),
            input,
        }
    }

    /// Parallel tool calls in one answer, with an optional preamble text.
    pub fn tools(calls: Vec<(&str, Value)>, preamble: Option<&str>) -> Step {
        Step::Tools {
            tools: calls
                .into_iter()
                .map(|(tool, input)| ToolCall {
                    tool: tool.to_string(),
                    input,
                })
                .collect(),
            preamble: preamble.map(str::to_string),
        }
    }

    /// A final text answer.
    pub fn text(text: &str) -> Step {
        Step::Text {
            text: text.to_string(),
        }
    }

    /// An HTTP error answer with `status` and `message`.
    pub fn error(status: u16, message: &str) -> Step {
        Step::Error {
            error: ApiErrorStep {
                status,
                kind: None,
                message: Some(message.to_string()),
            },
        }
    }
}

/// The steps a subagent follows, picked when `marker` appears in the subagent's first user
/// message (the Agent tool's `prompt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentScript {
    /// Marker text to look for.
    #[serde(rename = "match")]
    pub marker: String,
    /// The subagent's steps (its own turn count).
    pub steps: Vec<Step>,
}

/// A whole script: the main conversation's steps and the subagents' scripts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Script {
    /// Steps of the main conversation.
    pub main: Vec<Step>,
    /// Subagent scripts.
    pub agents: Vec<AgentScript>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScriptRepr {
    Steps(Vec<Step>),
    Full {
        main: Vec<Step>,
        #[serde(default)]
        agents: Vec<AgentScript>,
    },
}

impl<'de> Deserialize<'de> for Script {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match ScriptRepr::deserialize(d)? {
            ScriptRepr::Steps(main) => Script {
                main,
                agents: Vec::new(),
            },
            ScriptRepr::Full { main, agents } => Script { main, agents },
        })
    }
}

impl Script {
    /// A script with these main steps and no subagents.
    pub fn new(main: Vec<Step>) -> Script {
        Script {
            main,
            agents: Vec::new(),
        }
    }

    /// Adds a subagent script picked by `marker`.
    pub fn with_agent(mut self, marker: &str, steps: Vec<Step>) -> Script {
        self.agents.push(AgentScript {
            marker: marker.to_string(),
            steps,
        });
        self
    }

    /// Parses the JSON form (a list of steps, or `{"main": [...], "agents": [...]}`).
    pub fn from_json(json: &str) -> anyhow::Result<Script> {
        Ok(serde_json::from_str(json)?)
    }

    /// Reads a JSON script file (e.g. under `tests/fixtures/scripts/`).
    pub fn from_file(path: &Path) -> anyhow::Result<Script> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Self::from_json(&text)
    }
}

/// Replaces `{cwd}` in every string of `value` with `cwd`.
pub(crate) fn substitute_cwd(value: &Value, cwd: Option<&str>) -> Value {
    let Some(cwd) = cwd else {
        return value.clone();
    };
    match value {
        Value::String(s) => Value::String(s.replace("{cwd}", cwd)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute_cwd(v, Some(cwd))).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute_cwd(v, Some(cwd))))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_both_forms() {
        let s = Script::from_json(r#"[{"tool":"Bash","input":{"command":"ls"}},{"text":"ok"}]"#)
            .unwrap();
        assert_eq!(s.main.len(), 2);
        assert_eq!(s.main[0], Step::tool("Bash", json!({"command": "ls"})));
        let s = Script::from_json(
            r#"{"main":[{"tools":[{"tool":"Grep","input":{"pattern":"x"}}],"preamble":"p"},
                        {"error":{"status":400}}],
                "agents":[{"match":"M1","steps":[{"text":"sub"}]}]}"#,
        )
        .unwrap();
        assert!(
            matches!(&s.main[0], Step::Tools { tools, preamble: Some(p) } if tools.len() == 1 && p == "p")
        );
        assert!(matches!(&s.main[1], Step::Error { error } if error.status == 400));
        assert_eq!(s.agents[0].marker, "M1");
    }

    #[test]
    fn substitutes_cwd_deeply() {
        let v = json!({"a": "{cwd}/x", "b": [{"c": "cd {cwd}"}], "n": 1});
        assert_eq!(
            substitute_cwd(&v, Some("/p")),
            json!({"a": "/p/x", "b": [{"c": "cd /p"}], "n": 1})
        );
    }
}
