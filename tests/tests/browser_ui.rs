//! Browser tests of the web UI: real headless Chromium (chromedriver + fantoccini) against a
//! real `maestro-server`, fed by the real `maestro-hook` binary.
//!
//! Each test logs in through the login form (token -> HttpOnly cookie), then checks what an
//! operator sees. Waits are bounded polls; nothing asserts on wall-clock time (latencies are
//! measured and printed for BENCHMARKS.md).

use maestro_tests::browser::{artifacts_dir, Browser};
use maestro_tests::server::{TestServer, OPERATOR_TOKEN};
use maestro_tests::{bin_path, fixture, wait_for, workspace_root};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One browser test at a time: each starts Chromium, and CI has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

const T: Duration = Duration::from_secs(30);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        * 1000.0
}

fn uid() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A fixture payload with its Claude session id replaced.
fn payload(file: &str, claude_sid: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("payloads/{file}"))).expect("fixture");
    let mut v: Value = serde_json::from_str(&text).expect("fixture JSON");
    v["session_id"] = json!(claude_sid);
    if v.get("tool_use_id").is_some() {
        v["tool_use_id"] = json!(format!("toolu_{}", uid()));
    }
    v
}

/// `PostToolUse` -> `post-tool-use`.
fn subcommand(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A Claude Code session as the hook sees it: runs the real `maestro-hook` binary.
struct Agent {
    /// `MAESTRO_URL` / `MAESTRO_TOKEN` for the hook.
    env: Vec<(String, String)>,
    /// Maestro session id (`MAESTRO_SESSION_ID`), as if Maestro spawned it.
    session: String,
    task: Option<String>,
    claude_sid: String,
    /// Current turn (`prompt_id`) stamped on every payload.
    turn: std::cell::RefCell<String>,
    spool: tempfile::TempDir,
}

impl Agent {
    fn new(server: &TestServer, task: Option<&str>) -> Agent {
        Agent {
            env: server.hook_env(),
            session: format!("s_{}", uuid::Uuid::now_v7()),
            task: task.map(str::to_string),
            claude_sid: uuid::Uuid::now_v7().to_string(),
            turn: std::cell::RefCell::new(uuid::Uuid::now_v7().to_string()),
            spool: tempfile::tempdir().expect("spool dir"),
        }
    }

    /// A session Maestro did not spawn (no MAESTRO_* ids): shows up unassigned.
    fn unmanaged(server: &TestServer) -> Agent {
        let mut a = Agent::new(server, None);
        a.session.clear();
        a
    }

    fn payload(&self, file: &str) -> Value {
        let mut p = payload(file, &self.claude_sid);
        if p.get("prompt_id").is_some() {
            p["prompt_id"] = json!(self.turn.borrow().as_str());
        }
        p
    }

    /// Runs `maestro-hook <event>` with `payload` on stdin; returns its stdout.
    fn hook(&self, payload: &Value) -> String {
        let event = payload["hook_event_name"].as_str().expect("event name");
        let out = self
            .spawn_hook(payload)
            .wait_with_output()
            .expect("maestro-hook runs");
        assert!(out.status.success(), "maestro-hook {event} failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Starts `maestro-hook <event>` with `payload` on stdin and returns the running child
    /// (for decisions that wait for an operator).
    fn spawn_hook(&self, payload: &Value) -> std::process::Child {
        let event = payload["hook_event_name"].as_str().expect("event name");
        let mut cmd = Command::new(bin_path("maestro-hook"));
        cmd.arg(subcommand(event))
            .envs(self.env.clone())
            .env("MAESTRO_SPOOL_DIR", self.spool.path())
            .env("HOME", self.spool.path())
            .env("MAESTRO_HOOK_CONFIG", self.spool.path().join("none.env"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !self.session.is_empty() {
            cmd.env("MAESTRO_SESSION_ID", &self.session);
        }
        if let Some(t) = &self.task {
            cmd.env("MAESTRO_TASK_ID", t);
        }
        let mut child = cmd.spawn().expect("spawn maestro-hook");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(payload.to_string().as_bytes())
            .expect("write stdin");
        child
    }

    fn start(&self) {
        self.hook(&self.payload("SessionStart-startup.json"));
    }

    fn read(&self, path: &str) {
        let mut p = self.payload("PostToolUse-Read.json");
        p["tool_input"] = json!({"file_path": path});
        self.hook(&p);
    }

    fn bash(&self, command: &str) {
        let mut p = self.payload("PostToolUse-Bash.json");
        p["tool_input"] = json!({"command": command, "description": "run"});
        self.hook(&p);
    }

    fn edit(&self, path: &str) {
        let mut p = self.payload("PostToolUse-Edit.json");
        p["tool_input"]["file_path"] = json!(path);
        self.hook(&p);
    }

    fn bash_fails(&self, command: &str, error: &str) {
        let mut p = self.payload("PostToolUseFailure-Bash.json");
        p["tool_input"] = json!({"command": command, "description": "run"});
        p["error"] = json!(error);
        self.hook(&p);
    }

    /// Starts a new turn with a prompt.
    fn prompt(&self, text: &str) {
        *self.turn.borrow_mut() = uuid::Uuid::now_v7().to_string();
        let mut p = self.payload("UserPromptSubmit.json");
        p["prompt"] = json!(text);
        self.hook(&p);
    }
}

fn patch(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let resp = server
        .client()
        .patch(format!("{}{}", server.url, path))
        .bearer_auth(OPERATOR_TOKEN)
        .json(body)
        .send()
        .expect("PATCH");
    let code = resp.status().as_u16();
    (code, resp.json().unwrap_or(Value::Null))
}

fn create_task(server: &TestServer, title: &str, status: &str) -> String {
    let (code, body) = server.post(
        "/api/tasks",
        &json!({"title": title, "status": status, "description": ""}),
    );
    assert_eq!(code, 201, "create task: {body}");
    body["id"].as_str().expect("task id").to_string()
}

/// Records (in the page) the first moment an element matching `sel` contains `needle`.
const WATCH: &str = r#"
const [sel, needle, key] = arguments;
window.__seen = window.__seen || {};
window.__seen[key] = null;
const check = () => {
  if (window.__seen[key]) return;
  for (const el of document.querySelectorAll(sel)) {
    if (el.textContent.includes(needle)) { window.__seen[key] = Date.now(); obs.disconnect(); return; }
  }
};
const obs = new MutationObserver(check);
obs.observe(document.body, { subtree: true, childList: true, characterData: true });
check();
return true;
"#;

async fn watch(b: &Browser, sel: &str, needle: &str, key: &str) {
    b.js_args(WATCH, vec![json!(sel), json!(needle), json!(key)])
        .await
        .expect("install watcher");
}

async fn seen_at(b: &Browser, key: &str) -> f64 {
    b.wait_js_args(
        &format!("`{key}` to appear"),
        "return (window.__seen || {})[arguments[0]]",
        vec![json!(key)],
        T,
    )
    .await
    .expect("seen")
    .as_f64()
    .expect("timestamp")
}

/// Count of elements matching `sel` whose text contains `needle`.
async fn count_text(b: &Browser, sel: &str, needle: &str) -> u64 {
    b.js_args(
        "return [...document.querySelectorAll(arguments[0])].filter(e => e.textContent.includes(arguments[1])).length",
        vec![json!(sel), json!(needle)],
    )
    .await
    .expect("count")
    .as_u64()
    .unwrap_or(0)
}

async fn wait_text(b: &Browser, sel: &str, needle: &str) {
    let r = b.wait_js_args(
        &format!("`{needle}` in `{sel}`"),
        "return [...document.querySelectorAll(arguments[0])].some(e => e.textContent.includes(arguments[1]))",
        vec![json!(sel), json!(needle)],
        T,
    )
    .await;
    if let Err(e) = r {
        let _ = b.screenshot("failure").await;
        let text = b
            .js("return document.body.innerText")
            .await
            .unwrap_or(Value::Null);
        panic!("{e}\npage text:\n{}", text.as_str().unwrap_or(""));
    }
}

async fn js_errors(b: &Browser) -> Value {
    b.js("return window.__maestroErrors || []")
        .await
        .unwrap_or(Value::Null)
}

/// Refreshes the README's screenshots only when asked (`MAESTRO_UPDATE_SCREENSHOTS=1`), so a
/// test run never changes tracked files.
fn copy_to_docs(path: &std::path::Path) {
    if std::env::var_os("MAESTRO_UPDATE_SCREENSHOTS").is_none() {
        return;
    }
    let docs = workspace_root().join("docs").join("screenshots");
    let _ = std::fs::create_dir_all(&docs);
    if let Some(name) = path.file_name() {
        let _ = std::fs::copy(path, docs.join(name));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A tool event run through the real hook shows up on the task card (board page) and in the
/// session timeline (session page, another browser); the time from starting the hook process
/// to the line being in each DOM is measured and printed.
#[test]
fn tool_event_reaches_card_and_timeline() {
    let _g = serial();
    let server = TestServer::start();
    let task = create_task(&server, "Fix the login redirect", "in_progress");
    let agent = Agent::new(&server, Some(&task));
    agent.start();
    let rt = rt();
    rt.block_on(async {
        let board = Browser::start().await.expect("browser");
        let view = Browser::start().await.expect("browser");
        board
            .login(&server.url, OPERATOR_TOKEN)
            .await
            .expect("login");
        view.login(&server.url, OPERATOR_TOKEN)
            .await
            .expect("login");
        view.route(&format!("#/session/{}", agent.session))
            .await
            .unwrap();
        let card = format!(".card[data-task-id='{task}']");
        wait_text(&board, &format!("{card} .feed-text"), "Session started").await;
        wait_text(&view, ".tl-summary", "Session started").await;
        wait_text(&board, "#conn", "Live").await;
        wait_text(&view, "#conn", "Live").await;

        let mut card_ms = Vec::new();
        let mut timeline_ms = Vec::new();
        let mut hook_ms = Vec::new();
        for i in 0..10 {
            let path = format!("src/auth/login_{i}_{}.ts", &uid()[..6]);
            let needle = format!("Reading {path}");
            watch(&board, &format!("{card} .feed-text"), &needle, "card").await;
            watch(&view, ".tl-summary", &needle, "timeline").await;
            let t0 = now_ms();
            let started = Instant::now();
            agent.read(&path);
            hook_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            card_ms.push(seen_at(&board, "card").await - t0);
            timeline_ms.push(seen_at(&view, "timeline").await - t0);
        }
        for v in [&mut card_ms, &mut timeline_ms, &mut hook_ms] {
            v.sort_by(|a, b| a.total_cmp(b));
        }
        println!(
            "UI latency (hook process start -> line in the DOM), 10 events: \
             card p50 {:.1} ms max {:.1} ms; session timeline p50 {:.1} ms max {:.1} ms; \
             hook process p50 {:.1} ms",
            percentile(&card_ms, 0.5),
            percentile(&card_ms, 1.0),
            percentile(&timeline_ms, 0.5),
            percentile(&timeline_ms, 1.0),
            percentile(&hook_ms, 0.5),
        );
        // The session count and the live health dot are on the card.
        wait_text(&board, &format!("{card} .card-sessions"), "1 session").await;
        let dot = board
            .js_args(
                "return document.querySelector(arguments[0] + ' .health-dot').className",
                vec![json!(card)],
            )
            .await
            .unwrap();
        assert!(
            dot.as_str().unwrap_or("").contains("health-active"),
            "{dot}"
        );
        // The tool chart counted the reads.
        wait_text(&view, ".chart-label", "Read: 10 uses (100% success)").await;
        assert_eq!(js_errors(&board).await, json!([]));
        assert_eq!(js_errors(&view).await, json!([]));
        board.close().await;
        view.close().await;
    });
}

/// Event text containing HTML is shown as text and runs nothing: not on the card, not in the
/// timeline, not in the error toast, not in the raw event view.
#[test]
fn hostile_payload_is_shown_as_text_and_runs_nothing() {
    let _g = serial();
    let server = TestServer::start();
    let task = create_task(
        &server,
        "<b>bold</b> task <img src=x onerror=alert(3)>",
        "todo",
    );
    let agent = Agent::new(&server, Some(&task));
    agent.start();
    let cmd = "echo <img src=x onerror=alert(1)> <script>alert(2)</script>";
    let path = "/tmp/<script>alert(4)</script>/<img src=x onerror=alert(5)>.ts";
    let rt = rt();
    rt.block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&b, "#conn", "Live").await;
        agent.bash(cmd);
        agent.read(path);
        agent.bash_fails(cmd, "Exit code 1: <img src=x onerror=alert(6)>");
        let card = format!(".card[data-task-id='{task}']");
        wait_text(&b, &format!("{card} .feed-text"), &format!("Reading {path}")).await;
        wait_text(&b, &format!("{card} .feed-text"), "<img src=x onerror=alert(1)>").await;
        // Bidi overrides and zero-width characters are shown as escapes, so what is shown is
        // what runs ("Trojan Source").
        agent.bash("ls \u{202e}gnp.exe\u{202c}\u{200b}");
        wait_text(
            &b,
            &format!("{card} .feed-text"),
            "ls ⟪U+202E⟫gnp.exe⟪U+202C⟫⟪U+200B⟫",
        )
        .await;
        wait_text(&b, ".toast", "<img src=x onerror=alert(6)>").await;
        let link = b
            .js("return document.querySelector('.toast-error .toast-link').getAttribute('href')")
            .await
            .unwrap();
        assert_eq!(link, json!(format!("#/session/{}", agent.session)));
        // An API error ending the turn (StopFailure) is a toast too.
        let mut stop = agent.payload("StopFailure.json");
        stop["last_assistant_message"] = json!("API Error: 529 <b>overloaded</b>");
        agent.hook(&stop);
        wait_text(&b, ".toast-error", "API Error: 529 <b>overloaded</b>").await;
        wait_text(&b, ".card-title", "<b>bold</b> task <img src=x onerror=alert(3)>").await;
        b.route(&format!("#/session/{}", agent.session)).await.unwrap();
        wait_text(&b, ".tl-summary", "<script>alert(2)</script>").await;
        wait_text(&b, ".tl-summary", &format!("Reading {path}")).await;
        wait_text(&b, ".error-detail", "<img src=x onerror=alert(6)>").await;
        // The raw event of the Read line, in a <pre>.
        b.js_args(
            "const row = [...document.querySelectorAll('.tl-row')].find(r => r.textContent.includes(arguments[0])); row.querySelector('.raw-btn').click(); return true;",
            vec![json!("Reading /tmp/")],
        )
        .await
        .unwrap();
        wait_text(&b, "dialog pre.raw", "<script>alert(4)</script>").await;
        // The dialog is keyboard driven: focus is inside it and Esc closes it.
        let focus_inside = b
            .js("return !!document.activeElement.closest('dialog[open]')")
            .await
            .unwrap();
        assert_eq!(focus_inside, json!(true));
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys("\u{e00c}")
            .await
            .unwrap();
        b.wait_js(
            "Esc to close the dialog",
            "return !document.querySelector('dialog[open]')",
            T,
        )
        .await
        .unwrap();
        let injected = b
            .js("return { img: document.querySelectorAll('img[src=\"x\"]').length, \
                 scripts: [...document.scripts].filter(s => !s.src).length, \
                 bold: document.querySelectorAll('main b').length }")
            .await
            .unwrap();
        assert_eq!(injected, json!({"img": 0, "scripts": 0, "bold": 0}));
        assert_eq!(b.open_alert().await, None, "an alert opened: XSS ran");
        let shot = b.screenshot("xss-as-text").await.unwrap();
        assert!(shot.exists());
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
}

/// The server restarts while the page is open: the page shows it is offline, reconnects by
/// itself, resumes from its last seq, and shows every event exactly once.
#[test]
fn page_reconnects_after_restart_and_shows_every_event_once() {
    let _g = serial();
    let mut server = TestServer::start();
    let task = create_task(&server, "Restart drill", "in_progress");
    let agent = Agent::new(&server, Some(&task));
    agent.start();
    let rt = rt();
    let b = rt.block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        b.route(&format!("#/session/{}", agent.session))
            .await
            .unwrap();
        wait_text(&b, "#conn", "Live").await;
        wait_text(&b, ".tl-summary", "Session started").await;
        b
    });
    for i in 0..3 {
        agent.bash(&format!("echo before-{i}"));
    }
    rt.block_on(wait_text(&b, ".tl-summary", "echo before-2"));
    server.stop();
    rt.block_on(async {
        b.wait_js(
            "the indicator to show offline",
            "const s = document.querySelector('#conn').dataset.status; return s === 'offline' || s === 'reconnecting'",
            T,
        )
        .await
        .unwrap();
    });
    server.restart();
    for i in 0..3 {
        agent.bash(&format!("echo after-{i}"));
    }
    rt.block_on(async {
        wait_text(&b, "#conn", "Live").await;
        wait_text(&b, ".tl-summary", "echo after-2").await;
        for i in 0..3 {
            for w in ["before", "after"] {
                let n = count_text(&b, ".tl-summary", &format!("echo {w}-{i}")).await;
                assert_eq!(n, 1, "echo {w}-{i} shown {n} times");
            }
        }
        let dup = b
            .js("const ids = [...document.querySelectorAll('.tl-row')].map(r => r.dataset.itemId); return ids.length - new Set(ids).size")
            .await
            .unwrap();
        assert_eq!(dup, json!(0), "a timeline line is shown twice");
        // The board card too.
        b.route("#/board").await.unwrap();
        wait_text(&b, ".feed-text", "echo after-2").await;
        assert_eq!(count_text(&b, ".feed-text", "echo after-2").await, 1);
        assert_eq!(js_errors(&b).await, json!([]));
    });
    rt.block_on(b.close());
}

/// A realistic board (several tasks, sessions, failures, an unassigned session) for the
/// screenshots in the README: board, session view, task view.
#[test]
fn screenshots_of_board_session_and_task_views() {
    let _g = serial();
    // Spawning must fail visibly here (no real Claude Code is started by this test).
    let server = TestServer::start_with_env(&[("MAESTRO_CLAUDE_COMMAND", "/nonexistent/claude")]);
    let t1 = create_task(&server, "Fix the login redirect loop", "in_progress");
    let t2 = create_task(&server, "Add rate limiting to the API", "in_progress");
    let _t3 = create_task(&server, "Upgrade to axum 0.8", "todo");
    let t4 = create_task(&server, "Write the release notes", "done");
    let _t5 = create_task(&server, "Flaky test in CI: websocket resume", "todo");

    let a1 = Agent::new(&server, Some(&t1));
    a1.start();
    a1.prompt(
        "Users bounce between /login and /dashboard after signing in. Find out why and fix it.",
    );
    a1.read("src/auth/login.ts");
    a1.read("src/auth/middleware.ts");
    a1.read("src/routes/dashboard.ts");
    a1.edit("src/auth/middleware.ts");
    a1.bash_fails("npm test -- auth", "Exit code 1\nFAIL src/auth/login.test.ts\n  ● redirects after login\n    expected '/dashboard', received '/login'");
    a1.edit("src/auth/login.ts");
    a1.bash("npm test -- auth");
    a1.read("src/auth/session.ts");

    let a2 = Agent::new(&server, Some(&t2));
    a2.start();
    a2.read("src/server/app.rs");
    a2.read("Cargo.toml");
    a2.bash("cargo add tower_governor");
    a2.edit("src/server/app.rs");
    a2.bash("cargo build");

    let a4 = Agent::new(&server, Some(&t4));
    a4.start();
    a4.read("CHANGELOG.md");
    a4.edit("CHANGELOG.md");
    a4.hook(&a4.payload("SessionEnd-other.json"));
    let (code, body) = patch(
        &server,
        &format!("/api/tasks/{t4}"),
        &json!({"status": "done"}),
    );
    assert_eq!(code, 200, "{body}");

    // Claude Code asks for permission in its own prompt (no held decision): the card still
    // shows what is asked.
    let t6 = create_task(&server, "Clean up old build artifacts", "in_progress");
    let a6 = Agent::new(&server, Some(&t6));
    a6.start();
    a6.bash("du -sh build/");
    let mut pre = a6.payload("PreToolUse-Bash.json");
    pre["tool_input"] = json!({"command": "rm -rf build/ dist/", "description": "clean"});
    a6.hook(&pre);
    let mut note = a6.payload("Notification-permission_prompt.json");
    note["message"] = json!("Claude needs your permission to use Bash");
    a6.hook(&note);

    let free = Agent::unmanaged(&server);
    free.start();
    free.read("README.md");
    free.bash("git status");

    let work = tempfile::tempdir().expect("work dir");
    let workdir = work.path().display().to_string();
    let rt = rt();
    rt.block_on(async {
        let b = Browser::start_sized(1440, 960).await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&b, "#conn", "Live").await;
        wait_text(&b, ".feed-text", "Reading src/auth/session.ts").await;
        wait_text(&b, ".feed-text", "Executed: cargo build").await;
        wait_text(&b, "#unassigned", "Attach").await;
        // What is asked, not Claude's generic "Claude needs your permission to use Bash".
        wait_text(&b, ".blocked-badge", "rm -rf build/ dist/").await;
        let board = b.screenshot_full("board", 1440, 960).await.unwrap();
        copy_to_docs(&board);
        // Laptop and wide screens (artefacts only).
        for (w, h) in [(1280, 800), (1920, 1080)] {
            b.client.set_window_size(w, h).await.unwrap();
            b.screenshot(&format!("board-{w}")).await.unwrap();
        }
        b.client.set_window_size(1440, 960).await.unwrap();

        b.route(&format!("#/session/{}", a1.session)).await.unwrap();
        wait_text(&b, ".chart-label", "Read: 4 uses (100% success)").await;
        wait_text(&b, ".error-summary", "npm test").await;
        wait_text(&b, ".tl-summary", "Reading src/auth/session.ts").await;
        let session = b.screenshot("session-view").await.unwrap();
        copy_to_docs(&session);

        b.route(&format!("#/task/{t2}")).await.unwrap();
        wait_text(&b, ".tl-summary", "Executed: cargo build").await;
        wait_text(&b, ".chart-label", "Bash: 2 uses").await;
        let task = b.screenshot("task-view").await.unwrap();
        copy_to_docs(&task);

        // "Start session" calls the spawn endpoint and shows why it failed.
        b.click("#spawn-prompt").await.unwrap();
        b.wait_find("#spawn-prompt", T)
            .await
            .unwrap()
            .send_keys("Add a token bucket per API key")
            .await
            .unwrap();
        b.wait_find("#spawn-dir", T)
            .await
            .unwrap()
            .send_keys(&workdir)
            .await
            .unwrap();
        b.click("#spawn-btn").await.unwrap();
        let outcome = b
            .wait_js(
                "the spawn outcome",
                "const e = document.querySelector('#spawn-error');                  if (e && !e.hidden) return 'error: ' + e.textContent;                  return location.hash.startsWith('#/session/') ? 'session: ' + location.hash : null",
                T,
            )
            .await
            .unwrap();
        println!("Start session with a missing Claude command -> {outcome}");
        if outcome.as_str().unwrap_or("").starts_with("session") {
            // The spawned session cannot start: its view says so.
            let state = b
                .wait_js(
                    "the spawned session to end",
                    "const s = document.querySelector('#session-state');                      return s && ['Failed', 'Lost', 'Completed'].includes(s.textContent) ? s.textContent : null",
                    T,
                )
                .await
                .unwrap();
            println!("the spawned session ended as {state}");
            b.screenshot("spawned-session").await.unwrap();
        }
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;

        // The dark theme follows the system setting.
        let dark = Browser::start_dark(1440, 960).await.expect("browser");
        dark.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&dark, ".feed-text", "Executed: cargo build").await;
        let scheme = dark
            .js("return matchMedia('(prefers-color-scheme: dark)').matches")
            .await
            .unwrap();
        let shot = dark.screenshot_full("board-dark", 1440, 960).await.unwrap();
        if scheme == json!(true) {
            copy_to_docs(&shot);
        }
        dark.route(&format!("#/session/{}", a1.session)).await.unwrap();
        wait_text(&dark, ".chart-label", "Read: 4 uses (100% success)").await;
        let shot = dark.screenshot("session-view-dark").await.unwrap();
        if scheme == json!(true) {
            copy_to_docs(&shot);
        }
        dark.close().await;
    });
    println!("screenshots in {}", artifacts_dir().display());
}

const HOLD_POLICY: &str = r#"
[[rule]]
id = "hold-deploys"
tool = "Bash"
command = "deploy *"
outcome = "hold"
reason = "Deploys need a human."

[[rule]]
id = "hold-deploy-config"
path = "**/deploy/**"
access = "write"
outcome = "hold"
reason = "Deploy configuration needs a human."
"#;

/// A PreToolUse that the policy holds shows the "⚠ Blocked" badge on the card in two open
/// pages; approving in the modal of one page closes the modal of the other, clears the badge
/// in both, and the waiting hook prints the allow JSON.
#[test]
fn held_tool_call_is_approved_from_the_modal_in_one_of_two_pages() {
    let _g = serial();
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, HOLD_POLICY).expect("policy file");
    let policy = policy.display().to_string();
    let server = TestServer::start_with_env(&[("MAESTRO_POLICY_FILE", policy.as_str())]);
    let task = create_task(&server, "Ship the billing fix", "in_progress");
    let agent = Agent::new(&server, Some(&task));
    agent.start();
    agent.read("src/billing/invoice.rs");
    agent.bash("cargo test billing");
    let rt = rt();
    let (a, b) = rt.block_on(async {
        let a = Browser::start().await.expect("browser");
        let b = Browser::start().await.expect("browser");
        a.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&a, "#conn", "Live").await;
        wait_text(&b, "#conn", "Live").await;
        (a, b)
    });
    let mut pre = agent.payload("PreToolUse-Bash.json");
    pre["tool_input"] =
        json!({"command": "deploy production --service billing", "description": "deploy"});
    let hook = agent.spawn_hook(&pre);
    let card = format!(".card[data-task-id='{task}']");
    rt.block_on(async {
        for p in [&a, &b] {
            wait_text(p, &format!("{card} .blocked-badge"), "deploy production --service billing").await;
        }
        wait_text(&a, ".toast-warning", "deploy production --service billing").await;
        // Page B opens the same request from the global pending list.
        wait_text(&b, "#pending-label", "1 pending approval").await;
        b.click("#pending-btn").await.unwrap();
        b.click(".pending-item").await.unwrap();
        wait_text(&b, "dialog[open]", "Deploys need a human.").await;
        // Page A opens it from the badge, checks what it shows, and approves.
        a.click(&format!("{card} .blocked-badge")).await.unwrap();
        wait_text(&a, "dialog[open]", "deploy production --service billing").await;
        for needle in ["Bash", "hold-deploys", "Deploys need a human.", "Ship the billing fix"] {
            wait_text(&a, "dialog[open]", needle).await;
        }
        // The hold timeout (100 s by default) is counted down, and keeps counting.
        wait_text(&a, "#approval-countdown", "left)").await;
        let first = a
            .js("return document.querySelector('#approval-countdown').textContent")
            .await
            .unwrap();
        a.wait_js_args(
            "the countdown to move",
            "const t = document.querySelector('#approval-countdown'); return t && t.textContent !== arguments[0] ? t.textContent : null",
            vec![first.clone()],
            T,
        )
        .await
        .unwrap();
        // Keyboard: focus is inside the modal.
        let focus_inside = a
            .js("return !!document.activeElement && !!document.activeElement.closest('dialog[open]')")
            .await
            .unwrap();
        assert_eq!(focus_inside, json!(true), "focus is not in the modal");
        let shot = a.screenshot("approval-modal").await.unwrap();
        copy_to_docs(&shot);
        a.wait_find("#approval-reason", T)
            .await
            .unwrap()
            .send_keys("billing fix reviewed")
            .await
            .unwrap();
        a.click("#approval-approve").await.unwrap();
        // Page B: its modal closes by itself and the badge goes away.
        b.wait_js("B's modal to close", "return !document.querySelector('dialog[open]')", T)
            .await
            .unwrap();
        for p in [&a, &b] {
            p.wait_js_args(
                "the badge to clear",
                "const el = document.querySelector(arguments[0] + ' .blocked-badge'); return !!el && el.hidden",
                vec![json!(card)],
                T,
            )
            .await
            .unwrap();
        }
        wait_text(&b, "#pending-label", "No pending approvals").await;
    });
    let out = hook.wait_with_output().expect("hook exits");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).expect("the hook printed JSON");
    assert_eq!(
        v["hookSpecificOutput"]["permissionDecision"], "allow",
        "{v}"
    );
    let approvals = server.get("/api/approvals");
    assert_eq!(approvals[0]["status"], "approved", "{approvals}");
    assert_eq!(
        approvals[0]["decision_reason"], "billing fix reviewed",
        "{approvals}"
    );
    // A held edit shows what it would write, as text, before anyone decides.
    let mut edit = agent.payload("PreToolUse-Edit.json");
    let cwd = edit["cwd"].as_str().unwrap_or("/home/dev/proj").to_string();
    edit["tool_input"] = json!({"file_path": format!("{cwd}/deploy/prod.yaml"),
        "old_string": "replicas: 2", "new_string": "replicas: 20\n<img src=x onerror=alert(1)>"});
    let held_edit = agent.spawn_hook(&edit);
    rt.block_on(async {
        wait_text(&a, "#pending-label", "1 pending approval").await;
        a.click("#pending-btn").await.unwrap();
        a.click(".pending-item").await.unwrap();
        for needle in [
            "Replaces",
            "replicas: 2",
            "With",
            "replicas: 20",
            "<img src=x onerror=alert(1)>",
        ] {
            wait_text(&a, "dialog[open] .approval-contents", needle).await;
        }
        let injected = a
            .js("return document.querySelectorAll('dialog[open] img').length")
            .await
            .unwrap();
        assert_eq!(injected, json!(0), "edit content is shown as text");
        a.click("#approval-deny").await.unwrap();
        a.wait_js(
            "the modal to close",
            "return !document.querySelector('dialog[open]')",
            T,
        )
        .await
        .unwrap();
    });
    let out = held_edit.wait_with_output().expect("hook exits");
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
        .expect("the hook printed JSON");
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    rt.block_on(async {
        assert_eq!(js_errors(&a).await, json!([]));
        assert_eq!(js_errors(&b).await, json!([]));
        a.close().await;
        b.close().await;
    });
}

/// Claude Code's own dialog answered "Yes" in the terminal while the modal is open in the
/// session view: the tool's PostToolUse closes the modal and clears the badge live, a toast
/// says who answered, the held hook prints nothing, and the header's event count follows the
/// feed event by event.
#[test]
fn a_terminal_answer_closes_the_modal_and_the_counts_follow_the_feed() {
    let _g = serial();
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, HOLD_POLICY).expect("policy file");
    let policy = policy.display().to_string();
    let server = TestServer::start_with_env(&[("MAESTRO_POLICY_FILE", policy.as_str())]);
    let task = create_task(&server, "Terminal answers", "in_progress");
    let agent = Agent::new(&server, Some(&task));
    agent.start();
    let rt = rt();
    let a = rt.block_on(async {
        let a = Browser::start().await.expect("browser");
        a.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&a, "#conn", "Live").await;
        a.route(&format!("#/session/{}", agent.session))
            .await
            .unwrap();
        a
    });
    // Claude Code's own dialog is on screen while its PermissionRequest hook is held (a held
    // PreToolUse would block the CLI before any dialog: no terminal answer is possible then).
    let mut pre = agent.payload("PreToolUse-Bash.json");
    pre["tool_input"] =
        json!({"command": "deploy production --service api", "description": "deploy"});
    let mut request = agent.payload("PermissionRequest-Bash-sdk.json");
    request["tool_input"] = pre["tool_input"].clone();
    let hook = agent.spawn_hook(&request);
    rt.block_on(async {
        wait_text(&a, ".blocked-badge", "deploy production --service api").await;
        a.click(".page-head .blocked-badge").await.unwrap();
        wait_text(&a, "dialog[open]", "Deploys need a human.").await;
    });
    // "Yes" at the terminal: the tool ran.
    let mut post = agent.payload("PostToolUse-Bash.json");
    post["tool_use_id"] = pre["tool_use_id"].clone();
    post["tool_input"] = pre["tool_input"].clone();
    agent.hook(&post);
    rt.block_on(async {
        a.wait_js("the modal to close", "return !document.querySelector('dialog[open]')", T)
            .await
            .unwrap();
        wait_text(&a, ".toast", "answered in the terminal (allowed)").await;
        a.wait_js(
            "the badge to clear",
            "const el = document.querySelector('.page-head .blocked-badge'); return !!el && el.hidden",
            T,
        )
        .await
        .unwrap();
        wait_text(&a, "#pending-label", "No pending approvals").await;
    });
    let out = hook.wait_with_output().expect("hook exits");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "the terminal decided"
    );
    // Live counts: more events of an active session (no state change) move the header.
    for i in 0..3 {
        agent.bash(&format!("echo {i}"));
    }
    // The hook answers once an event is spooled and delivers it in the background, so the
    // server's count is awaited: SessionStart, PermissionRequest, PostToolUse and three Bash.
    let count = wait_for("all six events stored", T, || {
        let n = server.get(&format!("/api/sessions/{}", agent.session))["event_count"].as_i64()?;
        (n == 6).then_some(n)
    });
    rt.block_on(async {
        wait_text(&a, "#session-events", &count.to_string()).await;
        assert_eq!(js_errors(&a).await, json!([]));
        a.close().await;
    });
}

/// Posts `PostToolUse` Read envelopes `range` for the agent's session from 4 threads.
fn bulk_ingest(server: &TestServer, agent: &Agent, task: &str, range: std::ops::Range<usize>) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = server.url.clone();
            let session = agent.session.clone();
            let task = task.to_string();
            let claude = agent.claude_sid.clone();
            let range = range.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                for i in range.skip(t).step_by(4) {
                    let p = json!({"session_id": claude, "hook_event_name": "PostToolUse",
                        "cwd": "/home/dev/proj", "tool_name": "Read",
                        "tool_input": {"file_path": format!("src/module_{i:05}.rs")},
                        "tool_response": {"type": "text"}, "tool_use_id": format!("toolu_bulk_{i}"),
                        "duration_ms": 1 + (i % 7)});
                    let mut env = maestro_tests::envelopes::envelope(&p, chrono::Utc::now());
                    env["maestro"] = json!({"session_id": session, "task_id": task});
                    let resp = client
                        .post(format!("{url}/api/webhooks/hook-event"))
                        .bearer_auth(maestro_tests::server::INGEST_TOKEN)
                        .json(&env)
                        .send()
                        .expect("ingest");
                    assert!(resp.status().is_success(), "{}", resp.status());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("ingest thread");
    }
}

const LINES: &str = "const c = document.querySelector('.panel-head .muted.small'); \
     return c && c.textContent.startsWith(arguments[0] + ' lines')";

/// A session with 10,000 events: the session view loads the history, then takes 1,000 more
/// live while open. The DOM stays bounded (a window of the newest lines plus "Show earlier"),
/// the page stays responsive (main-thread long tasks are measured and printed), and a reload
/// of the 10,001-line view is timed.
#[test]
fn ten_thousand_events_keep_the_session_view_responsive() {
    let _g = serial();
    let server = TestServer::start();
    let task = create_task(&server, "Big refactor", "in_progress");
    let agent = Agent::new(&server, Some(&task));
    agent.start();
    let started = Instant::now();
    bulk_ingest(&server, &agent, &task, 0..9_000);
    let ingest_s = started.elapsed().as_secs_f64();
    let rt = rt();
    let b = rt.block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&b, "#conn", "Live").await;
        let t0 = now_ms();
        b.route(&format!("#/session/{}", agent.session)).await.unwrap();
        b.wait_js_args("9,001 lines", LINES, vec![json!(9001)], T)
            .await
            .unwrap();
        let load_ms = now_ms() - t0;
        b.js("window.__long = []; new PerformanceObserver(l => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({ type: 'longtask', buffered: false }); return true;")
            .await
            .unwrap();
        println!("10,000 events: 9,000 ingested in {ingest_s:.1} s; session view with 9,001 lines rendered in {load_ms:.0} ms");
        b
    });
    let live = Instant::now();
    bulk_ingest(&server, &agent, &task, 9_000..10_000);
    let live_ingest_ms = live.elapsed().as_secs_f64() * 1000.0;
    rt.block_on(async {
        b.wait_js_args("10,001 lines", LINES, vec![json!(10001)], Duration::from_secs(120))
            .await
            .unwrap();
        let live_ms = live.elapsed().as_secs_f64() * 1000.0;
        let rows = b
            .js("return document.querySelectorAll('.tl-row').length")
            .await
            .unwrap();
        assert!(rows.as_u64().unwrap() <= 300, "{rows} timeline rows in the DOM: not bounded");
        let long = b
            .js("const l = window.__long || []; return { count: l.length, max_ms: Math.round(Math.max(0, ...l)) }")
            .await
            .unwrap();
        let feed = b.js("return window.__maestroFeed").await.unwrap();
        let render = b.js("return window.__maestroTimelineRender").await.unwrap();
        println!("timeline renders while streaming: {render}");
        assert_eq!(feed["duplicates"], 0, "{feed}");
        let click_ms = b
            .js("const t = performance.now(); document.querySelector('.show-earlier').click(); return Math.round(performance.now() - t);")
            .await
            .unwrap();
        b.wait_js("the earlier window", "return document.querySelectorAll('.tl-row').length > 300", T)
            .await
            .unwrap();
        let render = b.js("return window.__maestroTimelineRender").await.unwrap();
        println!("timeline render after 'show earlier': {render}");
        b.route("#/board").await.unwrap();
        wait_text(&b, ".feed-text", "src/module_").await;
        let t0 = now_ms();
        b.route(&format!("#/session/{}", agent.session)).await.unwrap();
        b.wait_js_args("the reloaded timeline", LINES, vec![json!(10001)], T)
            .await
            .unwrap();
        let reload_ms = now_ms() - t0;
        wait_text(&b, ".chart-label", "Read: 10000 uses (100% success)").await;
        let rows = b
            .js("return document.querySelectorAll('.tl-row').length")
            .await
            .unwrap();
        assert!(rows.as_u64().unwrap() <= 300, "{rows} rows after reload");
        println!(
            "10,000 events: 1,000 live events posted in {live_ingest_ms:.0} ms, all on screen after {live_ms:.0} ms; \
             {rows} rows in the DOM; main-thread long tasks while streaming: {long}; \
             'show earlier' click handled in {click_ms} ms; session view reload with 10,001 lines: {reload_ms:.0} ms"
        );
        assert_eq!(js_errors(&b).await, json!([]));
    });
    rt.block_on(b.close());
}

/// Login and the board's controls: a wrong token is refused, the right one sets an HttpOnly
/// cookie (not readable from JavaScript); tasks are created, moved, edited and deleted from
/// the UI; an unassigned session is attached to a task from the board; logout works. The page
/// is served with a strict CSP and nosniff.
#[test]
fn login_and_board_controls() {
    let _g = serial();
    let server = TestServer::start();
    let resp = server.client().get(&server.url).send().expect("GET /");
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let free = Agent::unmanaged(&server);
    free.start();
    free.read("docs/guide.md");
    let rt = rt();
    rt.block_on(async {
        let b = Browser::start().await.expect("browser");
        b.client.goto(&server.url).await.unwrap();
        let input = b.wait_find("#login-token", T).await.unwrap();
        input.send_keys("not-the-token").await.unwrap();
        b.click("#login-btn").await.unwrap();
        wait_text(&b, "#login-error", "not the operator token").await;
        input.clear().await.unwrap();
        input.send_keys(OPERATOR_TOKEN).await.unwrap();
        b.click("#login-btn").await.unwrap();
        b.wait_find("#board", T).await.unwrap();
        let cookie = b.js("return document.cookie").await.unwrap();
        assert!(
            !cookie.as_str().unwrap_or("").contains("maestro_auth"),
            "the auth cookie is readable from JavaScript: {cookie}"
        );

        // Create with the quick-add form.
        b.wait_find("#new-task-title", T)
            .await
            .unwrap()
            .send_keys("Write the migration guide")
            .await
            .unwrap();
        b.click("#new-task-btn").await.unwrap();
        wait_text(&b, ".col-todo .card-title", "Write the migration guide").await;
        // Move right with the card button: To do -> In progress.
        b.click(".col-todo .card .move-right").await.unwrap();
        wait_text(
            &b,
            ".col-in_progress .card-title",
            "Write the migration guide",
        )
        .await;
        // Edit in the dialog.
        b.click(".col-in_progress .card .edit-task").await.unwrap();
        let title = b.wait_find("#task-title", T).await.unwrap();
        title.clear().await.unwrap();
        title
            .send_keys("Write the v2 migration guide")
            .await
            .unwrap();
        b.click("#task-save").await.unwrap();
        wait_text(&b, ".card-title", "Write the v2 migration guide").await;
        // Drag and drop the card to Done (HTML5 drag events, as a mouse drag sends them).
        b.js(
            "const card = document.querySelector('.col-in_progress .card'); \
             const col = document.querySelector('.column.col-done'); \
             const dt = new DataTransfer(); \
             card.dispatchEvent(new DragEvent('dragstart', { dataTransfer: dt, bubbles: true })); \
             col.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true })); \
             col.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); \
             card.dispatchEvent(new DragEvent('dragend', { dataTransfer: dt, bubbles: true })); return true;",
        )
        .await
        .unwrap();
        wait_text(&b, ".col-done .card-title", "Write the v2 migration guide").await;
        // Attach the unassigned session to it from the board.
        wait_text(&b, "#unassigned", "Attach").await;
        let task_id = b
            .js("return document.querySelector('.card').dataset.taskId")
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        b.wait_find("#unassigned select", T)
            .await
            .unwrap()
            .select_by_value(&task_id)
            .await
            .unwrap();
        b.click("#unassigned .unassigned-item button")
            .await
            .unwrap();
        let card = format!(".card[data-task-id='{task_id}']");
        wait_text(&b, &format!("{card} .card-sessions"), "1 session").await;
        wait_text(&b, &format!("{card} .feed-text"), "Reading docs/guide.md").await;
        b.wait_js(
            "the unassigned panel to empty",
            "return document.querySelector('#unassigned').hidden",
            T,
        )
        .await
        .unwrap();
        // Delete (with confirmation).
        b.click(&format!("{card} .delete-task")).await.unwrap();
        wait_text(&b, "dialog[open]", "Delete").await;
        b.js(
            "[...document.querySelectorAll('dialog[open] .btn-danger')].pop().click(); return true",
        )
        .await
        .unwrap();
        b.wait_js_args(
            "the card to go",
            "return !document.querySelector(arguments[0])",
            vec![json!(card)],
            T,
        )
        .await
        .unwrap();
        // Log out: back to the login form, and a reload stays logged out.
        b.click("#logout-btn").await.unwrap();
        b.wait_find("#login-token", T).await.unwrap();
        b.client.refresh().await.unwrap();
        b.wait_find("#login-token", T).await.unwrap();
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
    assert_eq!(server.get("/api/tasks"), json!([]));
}

/// The card's health dot follows the session live: green while active, yellow when idle,
/// red when stale, green again on the next event, grey once the session ended (and the card
/// shows the session "Completed").
#[test]
fn health_dot_follows_the_session() {
    let _g = serial();
    let server = TestServer::start_with_env(&[
        ("MAESTRO_IDLE_AFTER_SECS", "1"),
        ("MAESTRO_STALE_AFTER_SECS", "2"),
        ("MAESTRO_HEALTH_TICK_MS", "100"),
    ]);
    let task = create_task(&server, "Watch the health dot", "in_progress");
    let agent = Agent::new(&server, Some(&task));
    let rt = rt();
    let b = rt.block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&b, "#conn", "Live").await;
        b
    });
    let card = format!(".card[data-task-id='{task}']");
    let dot = |health: &'static str| {
        let card = card.clone();
        let b = &b;
        async move {
            b.wait_js_args(
                &format!("the dot to turn {health}"),
                "const d = document.querySelector(arguments[0] + ' .health-dot'); return !!d && d.classList.contains('health-' + arguments[1])",
                vec![json!(card), json!(health)],
                T,
            )
            .await
            .unwrap();
        }
    };
    agent.start();
    rt.block_on(async {
        dot("active").await;
        wait_text(&b, &format!("{card} .state-badge"), "Active").await;
        dot("idle").await;
        dot("stale").await;
    });
    agent.bash("git status");
    rt.block_on(dot("active"));
    agent.hook(&agent.payload("SessionEnd-other.json"));
    rt.block_on(async {
        dot("ended").await;
        wait_text(&b, &format!("{card} .state-badge"), "Completed").await;
        wait_text(&b, &format!("{card} .feed-text"), "Session ended").await;
        assert_eq!(js_errors(&b).await, json!([]));
    });
    rt.block_on(b.close());
}

/// Stopping a spawned session kills its process, so the view asks first: Cancel leaves it
/// running, "Stop session" in the dialog stops it.
#[test]
fn stopping_a_session_asks_for_confirmation() {
    let _g = serial();
    let fake = bin_path("fake_claude").display().to_string();
    let project = tempfile::tempdir().expect("project");
    let server = TestServer::start_with_env(&[
        ("MAESTRO_CLAUDE_COMMAND", fake.as_str()),
        ("MAESTRO_STOP_GRACE_MS", "3000"),
        ("MAESTRO_WATCH_INTERVAL_MS", "200"),
    ]);
    let (status, task) = server.post(
        "/api/tasks",
        &json!({"title": "Long job", "status": "in_progress",
            "working_dir": project.path().display().to_string()}),
    );
    assert_eq!(status, 201, "{task}");
    let tid = task["id"].as_str().expect("id");
    let (status, s) = server.post(
        &format!("/api/tasks/{tid}/sessions"),
        &json!({"prompt": "FAKE_SLOW"}),
    );
    assert_eq!(status, 201, "{s}");
    let sid = s["id"].as_str().expect("session").to_string();
    let rt = rt();
    let b = rt.block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        b.route(&format!("#/session/{sid}")).await.unwrap();
        b.wait_find("#session-stop", T).await.unwrap();
        b.click("#session-stop").await.unwrap();
        wait_text(&b, "dialog[open]", "Stop this session?").await;
        b.click("#session-stop-cancel").await.unwrap();
        b.wait_js(
            "the dialog to close",
            "return !document.querySelector('dialog[open]')",
            T,
        )
        .await
        .unwrap();
        b
    });
    let still = server.get(&format!("/api/sessions/{sid}"));
    assert!(still["ended_at"].is_null(), "Cancel stopped it: {still}");
    rt.block_on(async {
        b.click("#session-stop").await.unwrap();
        wait_text(&b, "dialog[open]", "Stop this session?").await;
        b.click("#session-stop-confirm").await.unwrap();
        b.wait_js(
            "the dialog to close",
            "return !document.querySelector('dialog[open]')",
            T,
        )
        .await
        .unwrap();
        // An operator's stop reads "Stopped", not "Failed".
        wait_text(&b, "#session-state", "Stopped").await;
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
    let stopped = wait_for("the session to stop", Duration::from_secs(30), || {
        let s = server.get(&format!("/api/sessions/{sid}"));
        s["ended_at"].is_string().then_some(s)
    });
    assert_eq!(stopped["end_reason"], "stopped by operator", "{stopped}");
}
