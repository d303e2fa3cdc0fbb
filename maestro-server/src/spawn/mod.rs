//! Spawning and supervising Claude Code sessions.
//!
//! - [`request`]: the spawn request and its validation (`args`: the `extra_args` allow list).
//! - [`command`]: the command line, the `--settings` hooks and the child's env.
//! - [`process`]: starting a process in its own group with output to files, exit and result.
//! - [`queue`]: the concurrency limit and the FIFO waiting line.
//! - [`watch`]: liveness of processes the server did not start (or no longer parents).
//! - [`readopt`]: picking processes and queued sessions up again after a restart.
//!
//! The [`Supervisor`] owns the in-memory facts (which session runs under which pid, which
//! wait for a slot); everything durable goes through [`Store::update_process`] and a few
//! small files under `<data_dir>/sessions/`.

mod args;
pub mod claude_version;
pub mod command;
pub mod outcome;
pub mod process;
pub mod queue;
pub mod readopt;
pub mod request;
pub mod sdk;
pub mod watch;

use crate::error::{json_rejection, HttpError, HttpResult};
use crate::store::SharedStore;
use crate::store::{ProcessUpdate, Store, StoreError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use maestro_shared::api::{Session, SessionState};
use process::{Exit, SessionFiles};
use queue::{Admission, Slots};
use request::{SpawnRequest, ValidSpawn};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Env var: grace period between SIGTERM and SIGKILL on stop, in milliseconds.
pub const STOP_GRACE_ENV: &str = "MAESTRO_STOP_GRACE_MS";
/// Env var: how often watched pids are probed, in milliseconds.
pub const WATCH_INTERVAL_ENV: &str = "MAESTRO_WATCH_INTERVAL_MS";

/// Supervisor settings (from the server configuration and env).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `MAESTRO_CLAUDE_COMMAND`.
    pub claude_command: String,
    /// Data dir (session logs live in `sessions/`).
    pub data_dir: PathBuf,
    /// Ingest token handed to the hooks.
    pub ingest_token: String,
    /// SIGTERM to SIGKILL.
    pub stop_grace: Duration,
    /// Pid probe period.
    pub watch_interval: Duration,
    /// This machine's host name.
    pub host: Option<String>,
    /// Concurrent processes.
    pub max_concurrent: usize,
    /// SDK mode: how long a permission prompt may stay unanswered before stdin is closed
    /// (the CLI then refuses it): the hold timeout plus a margin, at most
    /// [`sdk::UNANSWERED_LIMIT`].
    pub sdk_prompt_limit: Duration,
}

fn env_millis(key: &str, default: u64) -> Duration {
    let ms = std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(default);
    Duration::from_millis(ms)
}

/// Something waiting for a slot.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Task.
    pub task_id: String,
    /// What to start.
    pub spawn: ValidSpawn,
}

/// A process the supervisor answers for.
#[derive(Debug)]
struct Running {
    /// Pid, also the process group id.
    pid: i32,
    /// Stop was requested.
    stopping: bool,
    /// Re-adopted after a restart: not our child, watched by pid.
    adopted: bool,
    /// Becomes true once the end is recorded.
    done: tokio::sync::watch::Receiver<bool>,
}

#[derive(Debug)]
struct Inner {
    slots: Slots<Pending>,
    running: HashMap<String, Running>,
    url: Option<String>,
    /// The served certificate's fingerprint, when the server speaks HTTPS.
    tls_pin: Option<String>,
}

/// Supervises spawned sessions and watches unmanaged ones.
#[derive(Debug)]
pub struct Supervisor {
    settings: Settings,
    inner: Mutex<Inner>,
    /// The Claude Code version of `claude_command`, learned at the first spawn.
    claude: tokio::sync::OnceCell<claude_version::ClaudeInfo>,
}

impl Supervisor {
    /// Builds the supervisor from the configuration.
    pub fn new(config: &crate::config::Config) -> Supervisor {
        let settings = Settings {
            claude_command: config.claude_command.clone(),
            data_dir: config.data_dir.clone(),
            ingest_token: config.ingest_token.clone(),
            stop_grace: env_millis(STOP_GRACE_ENV, 5_000),
            watch_interval: env_millis(WATCH_INTERVAL_ENV, 2_000).max(Duration::from_millis(50)),
            host: maestro_shared::envelope::hostname(),
            max_concurrent: config.max_concurrent_sessions.max(1),
            sdk_prompt_limit: (config.hold_timeout + Duration::from_secs(15))
                .min(sdk::UNANSWERED_LIMIT),
        };
        let url = (config.bind.port() != 0).then(|| command::server_url(config.bind));
        Supervisor {
            inner: Mutex::new(Inner {
                slots: Slots::new(settings.max_concurrent),
                running: HashMap::new(),
                url,
                tls_pin: None,
            }),
            settings,
            claude: tokio::sync::OnceCell::new(),
        }
    }

    /// The Claude Code version of the configured command (`<command> --version`, run once and
    /// cached; the oldest supported version when that fails).
    pub async fn claude_info(&self) -> claude_version::ClaudeInfo {
        self.claude
            .get_or_init(|| async {
                match command::split_command(&self.settings.claude_command) {
                    Ok(base) => claude_version::detect(&base).await,
                    Err(e) => claude_version::ClaudeInfo {
                        version: maestro_shared::cli_versions::OLDEST_SUPPORTED,
                        fallback: Some(e),
                    },
                }
            })
            .await
            .clone()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Tells the supervisor the address the server actually listens on (needed when the
    /// configured port is 0), for `MAESTRO_URL`.
    /// With HTTPS, `tls_pin` is the served certificate's SHA-256 fingerprint: spawned hooks
    /// get an `https://` URL and pin it (`MAESTRO_TLS_FINGERPRINT`).
    pub fn set_local_addr(&self, addr: SocketAddr, tls_pin: Option<String>) {
        let mut g = self.lock();
        let url = command::server_url(addr);
        g.url = Some(match &tls_pin {
            Some(_) => url.replacen("http://", "https://", 1),
            None => url,
        });
        g.tls_pin = tls_pin;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn files(&self, id: &str) -> SessionFiles {
        SessionFiles::new(&self.settings.data_dir, id)
    }

    /// Number of processes running and sessions waiting.
    pub fn load(&self) -> (usize, usize) {
        let g = self.lock();
        (g.slots.running(), g.slots.waiting())
    }

    /// Is session `id` run (or re-adopted) by this supervisor?
    pub fn is_managed(&self, id: &str) -> bool {
        let g = self.lock();
        g.running.contains_key(id) || g.slots.is_waiting(id)
    }

    /// Admits a created session: starts it now or queues it.
    async fn submit(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        session: Session,
        pending: Pending,
    ) -> Result<Session, StoreError> {
        let files = self.files(&session.id);
        if let Err(e) = process::write_json(
            &files.spawn,
            &json!({"task_id": pending.task_id, "spawn": pending.spawn}),
        ) {
            tracing::warn!(session = %session.id, error = %e, "cannot keep the spawn request on disk");
        }
        let admission = self.lock().slots.admit(&session.id, pending);
        match admission {
            Admission::Start(p) => Ok(self.start_process(store, &session.id, p).await),
            Admission::Queued(pos) => {
                store
                    .update_process(
                        &session.id,
                        ProcessUpdate {
                            state: Some(SessionState::Queued),
                            timeline: Some((
                                "process".into(),
                                format!(
                                    "Queued (position {pos}; at most {} sessions run at once)",
                                    self.settings.max_concurrent
                                ),
                                "info".into(),
                                None,
                            )),
                            ..Default::default()
                        },
                    )
                    .await
            }
        }
    }

    /// Starts the process of a session that holds a slot. Failures are recorded on the
    /// session (failed) and free the slot. Returns the session as stored afterwards.
    async fn start_process(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        id: &str,
        pending: Pending,
    ) -> Session {
        let files = self.files(id);
        let (url, tls_pin) = {
            let g = self.lock();
            (g.url.clone(), g.tls_pin.clone())
        };
        let claude = self.claude_info().await;
        let built = command::split_command(&self.settings.claude_command).and_then(|base| {
            let hook = command::find_hook_bin()?;
            let target = command::Target {
                url: url.unwrap_or_else(|| maestro_shared::wire::DEFAULT_URL.into()),
                token: self.settings.ingest_token.clone(),
                session_id: id.to_string(),
                task_id: pending.task_id.clone(),
                data_dir: self.settings.data_dir.display().to_string(),
                tls_pin,
            };
            command::build(&base, &pending.spawn, &hook, &target, &claude.version)
        });
        let launched = built.and_then(|cmd| match process::launch(&cmd, &files) {
            Ok(child) => Ok((child, cmd)),
            Err(e) => Err(format!("cannot start {}: {e}", cmd.program)),
        });
        let (child, cmd) = match launched {
            Ok(v) => v,
            Err(msg) => {
                tracing::warn!(session = %id, error = %msg, "spawn failed");
                let _ = std::fs::remove_file(&files.spawn);
                let s = store
                    .update_process(
                        id,
                        ProcessUpdate {
                            state: Some(SessionState::Failed),
                            ended: true,
                            end_reason: Some("spawn failed".into()),
                            timeline: Some((
                                "process".into(),
                                format!("Spawn failed: {msg}"),
                                "error".into(),
                                Some(json!({"error": msg})),
                            )),
                            ..Default::default()
                        },
                    )
                    .await;
                self.release(store);
                return match s {
                    Ok(s) => s,
                    Err(_) => fallback_session(store, id).await,
                };
            }
        };
        let mut child = child;
        let pid = child.id().unwrap_or(0);
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        if let (Some(line), Some(stdin)) = (cmd.stdin.clone(), child.stdin.take()) {
            tokio::spawn(sdk::feed(
                stdin,
                line,
                files.stdout.clone(),
                done_rx.clone(),
                self.settings.sdk_prompt_limit,
            ));
        }
        self.lock().running.insert(
            id.to_string(),
            Running {
                pid: pid as i32,
                stopping: false,
                adopted: false,
                done: done_rx,
            },
        );
        if let Err(e) = process::write_json(
            &files.proc,
            &process::proc_record(pid, self.settings.host.as_deref()),
        ) {
            tracing::warn!(session = %id, error = %e, "cannot write the process record");
        }
        let _ = std::fs::remove_file(&files.spawn);
        let session = store
            .update_process(
                id,
                ProcessUpdate {
                    pid: Some(i64::from(pid)),
                    timeline: Some((
                        "process".into(),
                        format!("Process started (pid {pid})"),
                        "info".into(),
                        Some(json!({
                            "pid": pid,
                            "command": cmd.display_words(),
                            "claude_version": claude.describe(),
                            "permission_prompts": if cmd.stdin.is_some() { "sdk" } else { "hook" },
                            "cwd": cmd.cwd.display().to_string(),
                            "log": files.stdout.display().to_string(),
                        })),
                    )),
                    ..Default::default()
                },
            )
            .await;
        let me = Arc::clone(self);
        let st = Arc::clone(store);
        let sid = id.to_string();
        tokio::spawn(async move { me.supervise(st, sid, child, done_tx).await });
        match session {
            Ok(s) => s,
            Err(_) => fallback_session(store, id).await,
        }
    }

    /// Waits for the child and records its end.
    async fn supervise(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        id: String,
        mut child: tokio::process::Child,
        done: tokio::sync::watch::Sender<bool>,
    ) {
        let exit = match child.wait().await {
            Ok(status) => Exit::from_status(status),
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "waiting for the process failed");
                Exit {
                    code: None,
                    signal: None,
                }
            }
        };
        let stopping = self.lock().running.get(&id).is_some_and(|r| r.stopping);
        record_exit(&store, &self.files(&id), &id, Some(&exit), stopping).await;
        self.lock().running.remove(&id);
        let _ = done.send(true);
        self.release(&store);
    }

    /// Frees a slot and starts whatever waits for one.
    fn release(self: &Arc<Self>, store: &Arc<dyn Store>) {
        let next = self.lock().slots.release();
        if let Some((id, p)) = next {
            self.spawn_start(store, id, p);
        }
    }

    /// Starts queued sessions while slots are free.
    fn start_waiting(self: &Arc<Self>, store: &Arc<dyn Store>) {
        loop {
            let next = self.lock().slots.take_next();
            match next {
                Some((id, p)) => self.spawn_start(store, id, p),
                None => break,
            }
        }
    }

    fn spawn_start(self: &Arc<Self>, store: &Arc<dyn Store>, id: String, p: Pending) {
        let me = Arc::clone(self);
        let st = Arc::clone(store);
        tokio::spawn(async move {
            // Out of the queue: starting (before the process exists, so no hook event of
            // its own can be overwritten by this).
            let starting = ProcessUpdate {
                state: Some(SessionState::Starting),
                ..Default::default()
            };
            if let Err(e) = st.update_process(&id, starting).await {
                tracing::warn!(session = %id, error = %e.chain(), "cannot mark the session starting");
            }
            me.start_process(&st, &id, p).await;
        });
    }

    /// Stops a session: a queued one is taken off the queue; a running one gets SIGTERM on
    /// its process group, then SIGKILL after the grace period. Answers once the end is
    /// recorded (or after the grace period plus a few seconds).
    pub async fn stop(self: &Arc<Self>, store: &Arc<dyn Store>, id: &str) -> HttpResult<Session> {
        let session = store.get_session(id).await?;
        let queued = self.lock().slots.remove(id);
        if queued.is_some() {
            let _ = std::fs::remove_file(&self.files(id).spawn);
            return Ok(store
                .update_process(
                    id,
                    ProcessUpdate {
                        state: Some(SessionState::Failed),
                        ended: true,
                        end_reason: Some("stopped by operator".into()),
                        timeline: Some((
                            "process".into(),
                            "Stopped by operator before it started".into(),
                            "warning".into(),
                            None,
                        )),
                        ..Default::default()
                    },
                )
                .await?);
        }
        let target = {
            let mut g = self.lock();
            g.running.get_mut(id).map(|r| {
                r.stopping = true;
                (r.pid, r.adopted, r.done.clone())
            })
        };
        let Some((pid, adopted, mut done)) = target else {
            if session.state.is_terminal() {
                return Ok(session);
            }
            return Err(HttpError::new(
                StatusCode::CONFLICT,
                "not_running",
                if session.spawned {
                    "this session has no process supervised by this server".to_string()
                } else {
                    "this session was not spawned by Maestro; stop it where it runs".to_string()
                },
            ));
        };
        if !process::signal_group(pid, libc::SIGTERM) {
            process::signal_pid(pid, libc::SIGTERM);
        }
        let grace = self.settings.stop_grace;
        let ended = if adopted {
            wait_gone(pid, grace).await
        } else {
            tokio::time::timeout(grace, done.wait_for(|d| *d))
                .await
                .is_ok()
        };
        if !ended {
            if !process::signal_group(pid, libc::SIGKILL) {
                process::signal_pid(pid, libc::SIGKILL);
            }
            let more = Duration::from_secs(5);
            if adopted {
                wait_gone(pid, more).await;
            } else {
                let _ = tokio::time::timeout(more, done.wait_for(|d| *d)).await;
            }
        }
        if adopted {
            self.end_adopted(store, id, true).await;
        }
        Ok(store.get_session(id).await?)
    }

    /// Records the end of a re-adopted process (gone, exit status unknown) once: whoever
    /// removes it from the running map records it.
    async fn end_adopted(self: &Arc<Self>, store: &Arc<dyn Store>, id: &str, stopped: bool) {
        let claimed = {
            let mut g = self.lock();
            match g.running.get(id) {
                Some(r) if r.adopted => g.running.remove(id),
                _ => None,
            }
        };
        if claimed.is_none() {
            return;
        }
        record_exit(store, &self.files(id), id, None, stopped).await;
        self.release(store);
    }

    /// Watches a live process found after a restart (counts against the limit).
    fn adopt(&self, id: &str, pid: i32) {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let mut g = self.lock();
        g.slots.occupy();
        g.running.insert(
            id.to_string(),
            Running {
                pid,
                stopping: false,
                adopted: true,
                done: rx,
            },
        );
    }

    /// Re-adopted processes: (session id, pid).
    fn adopted(&self) -> Vec<(String, i32)> {
        self.lock()
            .running
            .iter()
            .filter(|(_, r)| r.adopted)
            .map(|(k, r)| (k.clone(), r.pid))
            .collect()
    }
}

async fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if !process::pid_alive(i64::from(pid)) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fallback_session(store: &Arc<dyn Store>, id: &str) -> Session {
    // The store failed to record; answer what can be read (or a minimal placeholder).
    match store.get_session(id).await {
        Ok(s) => s,
        Err(_) => Session {
            id: id.to_string(),
            claude_session_id: None,
            task_id: None,
            state: SessionState::Starting,
            health: maestro_shared::api::Health::Active,
            project_dir: None,
            cwd: None,
            host: None,
            machine: None,
            claude_pid: None,
            spawned: true,
            started_at: chrono::Utc::now(),
            ended_at: None,
            duration_ms: None,
            last_event_at: None,
            event_count: 0,
            blocked_on: None,
            end_reason: None,
            exit_code: None,
            result: None,
        },
    }
}

/// Records how a spawned process ended. `exit` is None for a re-adopted process (not our
/// child: the status is unknown). `stopped`: the operator asked for it.
async fn record_exit(
    store: &Arc<dyn Store>,
    files: &SessionFiles,
    id: &str,
    exit: Option<&Exit>,
    stopped: bool,
) {
    let before = store.get_session(id).await.ok();
    let already_ended = before.as_ref().is_some_and(|s| s.state.is_terminal());
    let result = process::read_result(&files.stdout);
    let tail = process::tail_lines(&files.stderr, process::STDERR_TAIL_LINES);
    let result_text = result
        .as_ref()
        .map(outcome::summarize)
        .filter(|s| !s.is_empty());
    let with_result = |s: String| match &result_text {
        Some(r) => format!("{s}: {r}"),
        None => s,
    };
    let how = exit.map_or("exit status unknown".to_string(), Exit::describe);
    let mut detail = json!({
        "exit_code": exit.and_then(|e| e.code),
        "signal": exit.and_then(|e| e.signal),
        "log": files.stdout.display().to_string(),
    });
    let mut u = ProcessUpdate {
        exit_code: exit.and_then(|e| e.code),
        result: result.clone(),
        ended: true,
        ..Default::default()
    };
    let result_ok = result
        .as_ref()
        .is_some_and(|r| r.get("is_error").and_then(Value::as_bool) == Some(false));
    // What the result says, told as it is: an error result is no success even with exit 0,
    // and calls refused without asking make the line a warning.
    let told = result.as_ref().map(outcome::Outcome::of);
    let result_status = told.as_ref().map_or("ok", outcome::Outcome::status);
    let error_reason = told
        .as_ref()
        .zip(result.as_ref())
        .and_then(|(o, r)| o.error_reason(r));
    let (state, reason, summary, status) = if stopped {
        (
            Some(SessionState::Failed),
            Some("stopped by operator".to_string()),
            with_result(format!("Stopped by operator ({how})")),
            "warning",
        )
    } else if let Some(e) = exit {
        if e.success() && error_reason.is_some() {
            // Exit 0 with `is_error: true` (an API error): failed, with its status.
            (
                (!already_ended).then_some(SessionState::Failed),
                error_reason.clone(),
                with_result("Process exited (exit code 0)".to_string()),
                "error",
            )
        } else if e.success() {
            (
                Some(SessionState::Completed),
                (!already_ended).then(|| "exit code 0".to_string()),
                with_result("Process exited (exit code 0)".to_string()),
                result_status,
            )
        } else {
            let last = tail.lines().rev().find(|l| !l.trim().is_empty());
            let mut s = format!("Process failed: {how}");
            if let Some(l) = last {
                let l: String = l.chars().take(200).collect();
                s.push_str(&format!(" ({l})"));
            }
            if let Some(r) = &result_text {
                s.push_str(&format!(": {r}"));
            }
            (
                Some(SessionState::Failed),
                Some(error_reason.clone().unwrap_or_else(|| how.clone())),
                s,
                "error",
            )
        }
    } else if already_ended {
        (
            None,
            None,
            with_result("Process ended".to_string()),
            if result_status == "ok" {
                "info"
            } else {
                result_status
            },
        )
    } else if result.is_some() {
        (
            Some(if result_ok {
                SessionState::Completed
            } else {
                SessionState::Failed
            }),
            Some("process ended (exit status unknown after a server restart)".to_string()),
            with_result("Process ended while re-adopted (exit status unknown)".to_string()),
            if result_ok { "ok" } else { "error" },
        )
    } else {
        (
            Some(SessionState::Lost),
            Some("process gone".to_string()),
            "Process gone without SessionEnd or result (exit status unknown)".to_string(),
            "warning",
        )
    };
    if status == "error" || stopped || !tail.is_empty() && exit.is_some_and(|e| !e.success()) {
        detail["stderr_tail"] = json!(tail);
    }
    u.state = state;
    u.end_reason = reason;
    u.timeline = Some(("process".into(), summary, status.into(), Some(detail)));
    if let Err(e) = store.update_process(id, u).await {
        tracing::warn!(session = %id, error = %e, "cannot record the process end");
    }
    let _ = std::fs::remove_file(&files.proc);
}

/// What spawning and supervision need (an axum substate of the app state).
#[derive(Clone)]
pub struct Spawner {
    /// The `claude` command.
    pub config: Arc<crate::config::Config>,
    /// Sessions and tasks.
    pub store: SharedStore,
    /// The spawned processes.
    pub supervisor: Arc<Supervisor>,
}

/// Operator routes: `POST /tasks/{id}/sessions`, `POST /sessions/{id}/stop` (nested under `/api`).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Spawner: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/tasks/{id}/sessions", post(spawn_session))
        .route("/sessions/{id}/stop", post(stop_session))
}

/// `POST /api/tasks/{id}/sessions`.
async fn spawn_session(
    State(st): State<Spawner>,
    axum::Extension(operator): axum::Extension<crate::auth::Operator>,
    UrlPath(task_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Json<SpawnRequest>, JsonRejection>,
) -> HttpResult<(StatusCode, Json<Session>)> {
    let Json(req) = body.map_err(json_rejection)?;
    let task = st.store.get_task(&task_id).await?;
    let spawn = request::validate(req, task.working_dir.as_deref())?;
    let base = command::split_command(&st.config.claude_command)
        .map_err(|m| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "spawn_misconfigured", m))?;
    command::find_hook_bin()
        .map_err(|m| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "spawn_misconfigured", m))?;
    let sup = Arc::clone(&st.supervisor);
    if sup.lock().url.is_none() {
        if let Some(addr) = host_addr(&headers) {
            sup.set_local_addr(addr, None);
        }
    }
    let record = spawn.record(&base);
    let session = st
        .store
        .create_spawned_session(
            &task_id,
            record,
            Some(spawn.working_dir.display().to_string()),
        )
        .await?;
    let session = sup
        .submit(
            &st.store,
            session,
            Pending {
                task_id: task.id,
                spawn,
            },
        )
        .await?;
    if let Err(e) = st
        .store
        .record_audit(
            operator.0,
            "session.spawn",
            session.id.clone(),
            serde_json::json!({"task_id": session.task_id}),
        )
        .await
    {
        tracing::error!(error = %e.chain(), "cannot record an audit entry");
    }
    Ok((StatusCode::CREATED, Json(session)))
}

/// The server's own address from the `Host` header (an IP literal and port only).
fn host_addr(headers: &HeaderMap) -> Option<SocketAddr> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let addr: SocketAddr = host.parse().ok()?;
    addr.ip().is_loopback().then_some(addr)
}

/// `POST /api/sessions/{id}/stop`.
async fn stop_session(
    State(st): State<Spawner>,
    axum::Extension(operator): axum::Extension<crate::auth::Operator>,
    UrlPath(id): UrlPath<String>,
) -> HttpResult<Json<Session>> {
    let sup = Arc::clone(&st.supervisor);
    let session = sup.stop(&st.store, &id).await?;
    if let Err(e) = st
        .store
        .record_audit(operator.0, "session.stop", id, serde_json::Value::Null)
        .await
    {
        tracing::error!(error = %e.chain(), "cannot record an audit entry");
    }
    Ok(Json(session))
}

/// Starts background supervision: re-adoption after a restart, then pid watching; returns
/// its task.
pub fn start(state: &Spawner) -> tokio::task::JoinHandle<()> {
    let st = state.clone();
    tokio::spawn(async move {
        readopt::run(&st).await;
        watch::run(&st).await;
    })
}
