//! Rendering one fake model answer as a Messages API response: either the SSE event stream
//! (`message_start`, `ping`, `content_block_start`/`delta`/`stop`, `message_delta`,
//! `message_stop`) or the plain JSON message.

use serde_json::{json, Value};

/// Size of the `input_json_delta` / `text_delta` chunks.
pub const CHUNK_CHARS: usize = 15;

/// A content block of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Text.
    Text(String),
    /// A tool call.
    ToolUse {
        /// `toolu_...`.
        id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Value,
    },
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Message id (`msg_...`).
    pub id: String,
    /// Model name echoed from the request.
    pub model: String,
    /// Content blocks.
    pub blocks: Vec<Block>,
    /// `end_turn` or `tool_use`.
    pub stop_reason: &'static str,
}

impl Reply {
    fn output_tokens(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| match b {
                Block::Text(t) => t.len() / 4 + 1,
                Block::ToolUse { input, .. } => input.to_string().len() / 4 + 1,
            })
            .sum()
    }

    fn usage(&self, output_tokens: usize) -> Value {
        json!({
            "input_tokens": 100,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
            "service_tier": "standard"
        })
    }

    /// The final `usage` figures of this reply (what `message_delta` and the JSON message
    /// report).
    pub fn final_usage(&self) -> Value {
        self.usage(self.output_tokens())
    }

    /// The non-streaming JSON message.
    pub fn to_json(&self) -> Value {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Text(t) => json!({"type": "text", "text": t}),
                Block::ToolUse { id, name, input } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
            "usage": self.usage(self.output_tokens()),
        })
    }

    /// The SSE stream, one string per event (`event: ...\ndata: ...\n\n`).
    pub fn to_sse_events(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.push(event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": self.usage(1),
            }}),
        ));
        out.push(event("ping", &json!({"type": "ping"})));
        for (index, block) in self.blocks.iter().enumerate() {
            match block {
                Block::Text(text) => {
                    out.push(event(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "text", "text": ""}}),
                    ));
                    for chunk in chunks(text) {
                        out.push(event(
                            "content_block_delta",
                            &json!({"type": "content_block_delta", "index": index,
                                    "delta": {"type": "text_delta", "text": chunk}}),
                        ));
                    }
                }
                Block::ToolUse { id, name, input } => {
                    out.push(event(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "tool_use", "id": id, "name": name,
                                                  "input": {}}}),
                    ));
                    for chunk in chunks(&input.to_string()) {
                        out.push(event(
                            "content_block_delta",
                            &json!({"type": "content_block_delta", "index": index,
                                    "delta": {"type": "input_json_delta", "partial_json": chunk}}),
                        ));
                    }
                }
            }
            out.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
        out.push(event(
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                    "usage": {"output_tokens": self.output_tokens()}}),
        ));
        out.push(event("message_stop", &json!({"type": "message_stop"})));
        out
    }
}

/// The error body the Messages API sends with a non-2xx status.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Splits `s` into pieces of at most [`CHUNK_CHARS`] characters (on char boundaries).
fn chunks(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(CHUNK_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_reassembles_to_the_input() {
        let input = json!({"file_path": "/tmp/ünïcode/a.txt", "content": "hello world\n"});
        let reply = Reply {
            id: "msg_1".into(),
            model: "m".into(),
            blocks: vec![
                Block::Text("preamble text that is long".into()),
                Block::ToolUse {
                    id: "toolu_1".into(),
                    name: "Write".into(),
                    input: input.clone(),
                },
            ],
            stop_reason: "tool_use",
        };
        let events = reply.to_sse_events();
        assert!(events[0].starts_with("event: message_start\n"));
        assert!(events[1].starts_with("event: ping\n"));
        assert!(events.last().unwrap().starts_with("event: message_stop\n"));
        let mut json_text = String::new();
        let mut text = String::new();
        for e in &events {
            let data: Value =
                serde_json::from_str(e.lines().nth(1).unwrap().strip_prefix("data: ").unwrap())
                    .unwrap();
            if data["type"] == "content_block_delta" {
                match data["delta"]["type"].as_str().unwrap() {
                    "input_json_delta" => {
                        json_text.push_str(data["delta"]["partial_json"].as_str().unwrap())
                    }
                    _ => text.push_str(data["delta"]["text"].as_str().unwrap()),
                }
            }
        }
        assert_eq!(serde_json::from_str::<Value>(&json_text).unwrap(), input);
        assert_eq!(text, "preamble text that is long");
        assert_eq!(reply.to_json()["content"][1]["input"], input);
    }
}
