//! A scripted fake of the Anthropic Messages API for running the real Claude Code CLI offline.
//!
//! [`FakeApi::start`] binds `127.0.0.1:0` and serves, on its own thread and tokio runtime (so
//! it works from plain `#[test]` functions):
//!
//! - `HEAD /` (and `GET /`): the CLI's reachability probe, answered 200;
//! - `POST /v1/messages` (the CLI adds `?beta=true`): SSE when the body says `"stream": true`,
//!   else a plain JSON message. Which answer is given:
//!   - **auto-mode classifier** (system prompt "You are a security monitor for autonomous AI
//!     coding agents"): `<block>yes</block><reason>…</reason>` when the last line of the
//!     transcript under review contains [`DENY_MARKER`], else `<block>no</block>`;
//!   - **side request** (no tools in the request: session title and the like): a short text;
//!   - **subagent** (the first user message contains an agent script's `match` marker): that
//!     agent script's step for the request's turn;
//!   - otherwise the **main** script's step for the request's turn.
//!
//!   The turn is the number of user messages that carry `tool_result` blocks.
//!
//! Every request is recorded ([`FakeApi::requests`]) with its classification.

mod script;
mod sse;

pub use script::{AgentScript, ApiErrorStep, Script, Step, ToolCall, EXHAUSTED_TEXT};
pub use sse::{error_body, Block, Reply, CHUNK_CHARS};

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Text that makes the fake auto-mode classifier block an action.
pub const DENY_MARKER: &str = "DENYME";
/// Text answered to side requests (requests without tools).
pub const SIDE_TEXT: &str = "Fake session title";
/// The system-prompt text that identifies the auto-mode classifier.
pub const CLASSIFIER_SYSTEM: &str = "You are a security monitor for autonomous AI coding agents";

/// What a recorded request was taken for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// `HEAD /` or `GET /`.
    Probe,
    /// A main-conversation request on `turn`.
    Main {
        /// Turn (user messages with tool results).
        turn: usize,
    },
    /// A subagent request on `turn` of the agent script picked by `marker`.
    Agent {
        /// The agent script's marker.
        marker: String,
        /// Turn within the subagent's conversation.
        turn: usize,
    },
    /// A request without tools.
    Side,
    /// The auto-mode classifier; `blocked` is the verdict given.
    Classifier {
        /// Whether `<block>yes</block>` was answered.
        blocked: bool,
    },
    /// A `maestro-hook` delivery (its user agent): a drainer left by an earlier test still
    /// delivering to its server's port, which the OS has since given to this fake. Not the
    /// CLI's; answered 404 like [`RequestKind::Other`].
    Stray,
    /// Anything else (answered 404).
    Other,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Headers (lowercase names; repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// JSON body (`Null` when there was none or it was not JSON).
    pub body: Value,
    /// How it was classified.
    pub kind: RequestKind,
    /// The working directory found in the system prompt.
    pub cwd: Option<String>,
    /// Tool calls answered (name, id), in order.
    pub answered_tools: Vec<(String, String)>,
    /// HTTP status answered.
    pub status: u16,
    /// The final `usage` figures answered (Messages requests answered 200 only).
    pub usage: Option<Value>,
}

impl RecordedRequest {
    /// Whether this is a `/v1/messages` request.
    pub fn is_messages(&self) -> bool {
        self.path == "/v1/messages"
    }
}

struct Shared {
    script: Script,
    requests: Mutex<Vec<RecordedRequest>>,
    next_id: AtomicU64,
}

/// A running fake Messages API. Stopped on drop.
pub struct FakeApi {
    /// `http://127.0.0.1:PORT` (what `ANTHROPIC_BASE_URL` is set to).
    pub url: String,
    /// The port.
    pub port: u16,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeApi {
    /// Starts the fake on a random loopback port, following `script`.
    pub fn start(script: Script) -> FakeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            script,
            requests: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fake-api-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await
                        .expect("fake api serve");
                });
            })
            .expect("spawn fake api thread");
        FakeApi {
            url: format!("http://127.0.0.1:{port}"),
            port,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// The `/v1/messages` requests of the main conversation, in arrival order.
    pub fn main_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| matches!(r.kind, RequestKind::Main { .. }))
            .collect()
    }

    /// The requests made by the subagent picked by `marker`.
    pub fn agent_requests(&self, marker: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| matches!(&r.kind, RequestKind::Agent { marker: m, .. } if m == marker))
            .collect()
    }

    /// Every tool call id the fake handed out, with the tool name, in order.
    pub fn answered_tools(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .flat_map(|r| r.answered_tools)
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Graceful shutdown waits for open connections; the CLI is gone by now in tests,
            // but never hang a test on it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers.iter() {
        let value = String::from_utf8_lossy(value.as_bytes()).to_string();
        header_map
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut rec = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: header_map,
        body,
        kind: RequestKind::Other,
        cwd: None,
        answered_tools: Vec::new(),
        status: 200,
        usage: None,
    };
    let response = if rec.path == "/" && (method == Method::HEAD || method == Method::GET) {
        rec.kind = RequestKind::Probe;
        StatusCode::OK.into_response()
    } else if rec.path == "/v1/messages" && method == Method::POST {
        messages(&shared, &mut rec)
    } else {
        rec.status = 404;
        if rec
            .headers
            .get("user-agent")
            .is_some_and(|a| a.starts_with("maestro-hook/"))
        {
            rec.kind = RequestKind::Stray;
        }
        (
            StatusCode::NOT_FOUND,
            axum::Json(error_body("not_found_error", "fake api: unknown route")),
        )
            .into_response()
    };
    shared.requests.lock().expect("lock").push(rec);
    response
}

fn messages(shared: &Shared, rec: &mut RecordedRequest) -> Response {
    let body = &rec.body;
    let stream = body["stream"].as_bool().unwrap_or(false);
    let model = body["model"].as_str().unwrap_or("claude-fake").to_string();
    let system = system_text(&body["system"]);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    rec.cwd = find_cwd(&system, &messages);
    let msg_id = format!(
        "msg_fake{:016x}",
        shared.next_id.fetch_add(1, Ordering::Relaxed)
    );

    let blocks_and_stop: Result<(Vec<Block>, &'static str), ApiErrorStep> =
        if system.contains(CLASSIFIER_SYSTEM) {
            let blocked = last_transcript_line(&messages).contains(DENY_MARKER);
            rec.kind = RequestKind::Classifier { blocked };
            let text = if blocked {
                format!("<block>yes</block><reason>contains {DENY_MARKER}</reason>")
            } else {
                "<block>no</block>".to_string()
            };
            Ok((vec![Block::Text(text)], "end_turn"))
        } else if body["tools"].as_array().is_none_or(Vec::is_empty) {
            rec.kind = RequestKind::Side;
            Ok((vec![Block::Text(SIDE_TEXT.to_string())], "end_turn"))
        } else {
            let turn = messages
                .iter()
                .filter(|m| m["role"] == "user" && has_tool_result(m))
                .count();
            let first_user = messages
                .iter()
                .find(|m| m["role"] == "user")
                .map(|m| content_text(&m["content"]))
                .unwrap_or_default();
            let (steps, kind) = match shared
                .script
                .agents
                .iter()
                .find(|a| first_user.contains(&a.marker))
            {
                Some(agent) => (
                    &agent.steps,
                    RequestKind::Agent {
                        marker: agent.marker.clone(),
                        turn,
                    },
                ),
                None => (&shared.script.main, RequestKind::Main { turn }),
            };
            rec.kind = kind;
            step_reply(shared, steps.get(turn), rec.cwd.as_deref())
        };

    match blocks_and_stop {
        Err(err) => {
            rec.status = err.status;
            let status =
                StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = error_body(
                err.kind.as_deref().unwrap_or("invalid_request_error"),
                err.message.as_deref().unwrap_or("fake api error"),
            );
            (status, axum::Json(body)).into_response()
        }
        Ok((blocks, stop_reason)) => {
            rec.answered_tools = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::ToolUse { id, name, .. } => Some((name.clone(), id.clone())),
                    Block::Text(_) => None,
                })
                .collect();
            let reply = Reply {
                id: msg_id,
                model,
                blocks,
                stop_reason,
            };
            rec.usage = Some(reply.final_usage());
            if stream {
                let events = reply.to_sse_events();
                let stream = futures_util::stream::iter(
                    events
                        .into_iter()
                        .map(|e| Ok::<_, std::convert::Infallible>(Bytes::from(e))),
                );
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "text/event-stream")
                    .header("cache-control", "no-cache")
                    .header("request-id", format!("req_fake_{}", reply.id))
                    .body(Body::from_stream(stream))
                    .expect("response")
            } else {
                axum::Json(reply.to_json()).into_response()
            }
        }
    }
}

fn step_reply(
    shared: &Shared,
    step: Option<&Step>,
    cwd: Option<&str>,
) -> Result<(Vec<Block>, &'static str), ApiErrorStep> {
    let tool_use = |name: &str, input: &Value| Block::ToolUse {
        id: format!(
            "toolu_fake{:016x}",
            shared.next_id.fetch_add(1, Ordering::Relaxed)
        ),
        name: name.to_string(),
        input: script::substitute_cwd(input, cwd),
    };
    match step {
        None => Ok((vec![Block::Text(EXHAUSTED_TEXT.to_string())], "end_turn")),
        Some(Step::Text { text }) => Ok((vec![Block::Text(text.clone())], "end_turn")),
        Some(Step::Tool { tool, input }) => Ok((vec![tool_use(tool, input)], "tool_use")),
        Some(Step::Tools { tools, preamble }) => {
            let mut blocks = Vec::new();
            if let Some(p) = preamble {
                blocks.push(Block::Text(p.clone()));
            }
            for call in tools {
                blocks.push(tool_use(&call.tool, &call.input));
            }
            Ok((blocks, "tool_use"))
        }
        Some(Step::Error { error }) => Err(error.clone()),
    }
}

/// The system prompt as one string (it is a string or a list of text blocks).
fn system_text(system: &Value) -> String {
    match system {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The text of a message's content (a string or a list of blocks; text blocks only).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn has_tool_result(message: &Value) -> bool {
    message["content"]
        .as_array()
        .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
}

/// The session's working directory. Versions place and word it differently: 2.1.197 has
/// `Primary working directory: /path` in the system prompt (`Working directory: /path` in
/// subagents); 2.1.332 moved the environment block into a `system`-role entry of `messages`.
/// So: a labelled line in the system prompt, else in any message, else the deepest absolute
/// path in them that is an existing directory (Claude Code's own `.claude` dirs excluded).
fn find_cwd(system: &str, messages: &[Value]) -> Option<String> {
    if let Some(cwd) = labelled_cwd(system) {
        return Some(cwd);
    }
    let texts: Vec<String> = messages
        .iter()
        .map(|m| content_text(&m["content"]))
        .collect();
    texts
        .iter()
        .find_map(|t| labelled_cwd(t))
        .or_else(|| deepest_existing_dir(system))
        .or_else(|| texts.iter().find_map(|t| deepest_existing_dir(t)))
}

/// The path after a working-directory label, on the same line.
fn labelled_cwd(text: &str) -> Option<String> {
    [
        "Primary working directory:",
        "Working directory:",
        "Current working directory:",
        "working directory:",
        "cwd:",
    ]
    .iter()
    .find_map(|label| {
        let rest = text.split(label).nth(1)?;
        let line = rest.lines().next()?.trim();
        let line = line.trim_matches(|c| matches!(c, '`' | '"' | '\''));
        line.starts_with('/').then(|| line.to_string())
    })
}

/// The longest absolute path in `text` that names an existing directory.
fn deepest_existing_dir(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '(' | '<' | '>' | ','))
        .map(|w| w.trim_end_matches(['.', ':', ';', ')', ']']))
        .filter(|w| w.starts_with('/') && w.len() > 1 && !w.contains("/.claude"))
        .filter(|w| std::path::Path::new(w).is_dir())
        .max_by_key(|w| w.len())
        .map(str::to_string)
}

/// The last non-empty line of the transcript the classifier reviews: the last line of the
/// last user message that is not part of the closing instructions.
fn last_transcript_line(messages: &[Value]) -> String {
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    let text = content_text(&last["content"]);
    // The transcript is wrapped in <transcript>...</transcript> when present; review its last
    // line, else the last non-empty line of the message.
    let transcript = match (text.rfind("<transcript>"), text.rfind("</transcript>")) {
        (Some(a), Some(b)) if b > a => &text[a + "<transcript>".len()..b],
        _ => text.as_str(),
    };
    transcript
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

/// JSON for a tool_result user message, for unit tests of the turn counting.
#[doc(hidden)]
pub fn tool_result_message(ids: &[&str]) -> Value {
    json!({"role": "user", "content": ids.iter().map(|id| json!({
        "type": "tool_result", "tool_use_id": id, "content": "ok"})).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cwd_in_system_blocks() {
        let system = json!([{"type": "text", "text": "x"},
            {"type": "text", "text": "Env\n - Primary working directory: /tmp/p q\n - Is a git repo: no"}]);
        assert_eq!(
            find_cwd(&system_text(&system), &[]).as_deref(),
            Some("/tmp/p q")
        );
        let sub = "<env>\nWorking directory: /tmp/sub\nIs directory a git repo: No\n</env>";
        assert_eq!(find_cwd(sub, &[]).as_deref(), Some("/tmp/sub"));
    }

    #[test]
    fn finds_an_unlabelled_cwd_by_existing_dirs() {
        let dir = tempfile::tempdir().expect("tmp");
        let proj = dir.path().join("proj");
        std::fs::create_dir_all(&proj).expect("proj");
        let p = proj.display().to_string();
        // Worded differently, the path in backticks with a full stop after it.
        let system = format!("You are working in `{p}`. Files under /nonexistent/x are not yours.");
        assert_eq!(find_cwd(&system, &[]).as_deref(), Some(p.as_str()));
        // Or only in a message (a system reminder), never Claude Code's own dirs.
        let msgs = vec![json!({"role": "user", "content": [
            {"type": "text", "text": format!("<system-reminder>The project is at {p}.</system-reminder>")}]})];
        assert_eq!(
            find_cwd("no paths here", &msgs).as_deref(),
            Some(p.as_str())
        );
        // 2.1.332: the environment block is a system-role entry of `messages`.
        let msgs = vec![
            json!({"role": "user", "content": "hi"}),
            json!({"role": "system", "content": [{"type": "text",
                "text": "# Environment\n - Primary working directory: /tmp/p2\n - Platform: linux"}]}),
        ];
        let memory = format!("memory at `{p}/.claude/projects/x/memory/`");
        assert_eq!(find_cwd(&memory, &msgs).as_deref(), Some("/tmp/p2"));
        assert_eq!(find_cwd("nothing", &[]), None);
    }

    #[test]
    fn classifier_reviews_the_last_transcript_line() {
        let msgs = vec![json!({"role": "user", "content": [
            {"type": "text", "text": "<transcript>\n"},
            {"type": "text", "text": "User: DENYME maybe\n"},
            {"type": "text", "text": "Bash curl http://x/ok\n"},
            {"type": "text", "text": "</transcript>\n"},
            {"type": "text", "text": "\nErr on the side of blocking."}]})];
        assert_eq!(last_transcript_line(&msgs), "Bash curl http://x/ok");
    }
}
