//! Helpers for the browser tests of the activity, sessions and layout work
//! (`tests/browser_activity.rs`): one browser at a time, bounded waits on page text, events
//! posted straight to the webhook (a few hundred in a second, with their hosts and times).

use crate::browser::Browser;
use crate::envelopes::envelope;
use crate::server::TestServer;
use crate::workspace_root;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

/// Bound of every wait in these tests.
pub const T: Duration = Duration::from_secs(30);

static SERIAL: Mutex<()> = Mutex::new(());

/// One browser test at a time in this process (each starts Chromium; CI has two cores).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A two-thread runtime for the WebDriver client.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A Claude Code session seen only through its events (posted to the webhook).
pub struct Sender<'a> {
    server: &'a TestServer,
    /// Claude session id.
    pub claude_sid: String,
    host: String,
    cwd: String,
    /// Capture time of the last event: each next one is now, and at least 1 µs later.
    last: std::cell::Cell<DateTime<Utc>>,
    /// `maestro.session_id` / `maestro.task_id`, as if Maestro had started the session.
    maestro: Option<(String, String)>,
}

impl<'a> Sender<'a> {
    /// A session on `host` working in `cwd`.
    pub fn new(server: &'a TestServer, host: &str, cwd: &str) -> Sender<'a> {
        Sender {
            server,
            claude_sid: uuid::Uuid::now_v7().to_string(),
            host: host.into(),
            cwd: cwd.into(),
            last: std::cell::Cell::new(DateTime::<Utc>::MIN_UTC),
            maestro: None,
        }
    }

    /// A session Maestro started for `task_id` (its events carry the Maestro ids).
    pub fn for_task(server: &'a TestServer, host: &str, cwd: &str, task_id: &str) -> Sender<'a> {
        let mut s = Sender::new(server, host, cwd);
        s.maestro = Some((
            format!("s_{}", uuid::Uuid::now_v7().simple()),
            task_id.into(),
        ));
        s
    }

    /// The envelope of the next event (for posting it elsewhere, e.g. from another thread).
    pub fn envelope(&self, event: &str, mut fields: Value) -> Value {
        fields["session_id"] = json!(self.claude_sid);
        fields["hook_event_name"] = json!(event);
        fields["cwd"] = json!(self.cwd);
        if fields.get("tool_name").is_some() && fields.get("tool_use_id").is_none() {
            fields["tool_use_id"] = json!(format!("toolu_{}", uuid::Uuid::now_v7().simple()));
        }
        let at = Utc::now().max(self.last.get() + chrono::Duration::microseconds(1));
        self.last.set(at);
        let mut env = envelope(&fields, at);
        env["source"]["host"] = json!(self.host);
        if let Some((sid, tid)) = &self.maestro {
            env["maestro"] = json!({"session_id": sid, "task_id": tid});
        }
        env
    }

    /// Posts one event with these payload fields (session id, cwd, event name added).
    pub fn send(&self, event: &str, fields: Value) {
        let env = self.envelope(event, fields);
        let (code, body) = self.server.ingest(&env);
        assert_eq!(code, 200, "ingest {event}: {body}");
    }

    /// `SessionStart`.
    pub fn start(&self) {
        self.send("SessionStart", json!({"source": "startup"}));
    }

    /// `UserPromptSubmit`.
    pub fn prompt(&self, text: &str) {
        self.send("UserPromptSubmit", json!({"prompt": text}));
    }

    /// A Bash call that ran (`PostToolUse`).
    pub fn bash(&self, command: &str) {
        self.send(
            "PostToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": command},
                   "tool_response": {"stdout": "", "stderr": "", "interrupted": false}}),
        );
    }

    /// A Read that failed (`PostToolUseFailure`) with `error`.
    pub fn read_fails(&self, path: &str, error: &str) {
        self.send(
            "PostToolUseFailure",
            json!({"tool_name": "Read", "tool_input": {"file_path": path}, "error": error}),
        );
    }
}

/// Waits until an element matching `sel` contains `needle`; on timeout, fails with the page
/// text and a screenshot in `tests/artifacts/failure.png`.
pub async fn wait_text(b: &Browser, sel: &str, needle: &str) {
    wait_true(
        b,
        &format!("`{needle}` in `{sel}`"),
        "return [...document.querySelectorAll(arguments[0])].some(e => e.textContent.includes(arguments[1]))",
        vec![json!(sel), json!(needle)],
    )
    .await;
}

/// Waits until `script` (a function body with `arguments`) returns something truthy; fails
/// like [`wait_text`].
pub async fn wait_true(b: &Browser, what: &str, script: &str, args: Vec<Value>) -> Value {
    match b.wait_js_args(what, script, args, T).await {
        Ok(v) => v,
        Err(e) => {
            let _ = b.screenshot("failure").await;
            let text = b
                .js("return document.body.innerText")
                .await
                .unwrap_or(Value::Null);
            panic!("{e}\npage text:\n{}", text.as_str().unwrap_or(""));
        }
    }
}

/// Number of elements matching `sel`.
pub async fn count(b: &Browser, sel: &str) -> u64 {
    b.js_args(
        "return document.querySelectorAll(arguments[0]).length",
        vec![json!(sel)],
    )
    .await
    .expect("count")
    .as_u64()
    .unwrap_or(0)
}

/// Sets a `<select>`'s (or input's) value and fires `change`, as a user's pick does.
pub async fn choose(b: &Browser, css: &str, value: &str) {
    wait_true(
        b,
        &format!("option `{value}` in `{css}`"),
        "const el = document.querySelector(arguments[0]); if (!el) return false; \
         if (el.tagName === 'SELECT' && ![...el.options].some(o => o.value === arguments[1])) return false; \
         el.value = arguments[1]; el.dispatchEvent(new Event('change', {bubbles: true})); return true;",
        vec![json!(css), json!(value)],
    )
    .await;
}

/// Uncaught errors the page recorded.
pub async fn js_errors(b: &Browser) -> Value {
    b.js("return window.__maestroErrors || []")
        .await
        .unwrap_or(Value::Null)
}

/// Copies a screenshot to `docs/screenshots` when `MAESTRO_UPDATE_SCREENSHOTS` is set (a test
/// run never changes tracked files otherwise).
pub fn copy_to_docs(path: &std::path::Path) {
    if std::env::var_os("MAESTRO_UPDATE_SCREENSHOTS").is_none() {
        return;
    }
    let docs = workspace_root().join("docs").join("screenshots");
    let _ = std::fs::create_dir_all(&docs);
    if let Some(name) = path.file_name() {
        let _ = std::fs::copy(path, docs.join(name));
    }
}
