//! Application state, the router and the server's background tasks.

use crate::approvals::Approvals;
use crate::config::Config;
use crate::hub::Hub;
use crate::store::sql_store::SqlStore;
use crate::store::{HealthThresholds, SharedStore, Store};
use crate::telemetry::Telemetry;
use crate::{auth, hub, ingest, routes};
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Effective configuration.
    pub config: Arc<Config>,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Live fan-out.
    pub hub: Hub,
    /// Metrics.
    pub telemetry: Arc<Telemetry>,
    /// Requests waiting for an operator.
    pub approvals: Arc<Approvals>,
    /// Permission policy.
    pub policy: Arc<crate::decide::PolicySet>,
    /// Spawned-session supervisor.
    pub supervisor: Arc<crate::spawn::Supervisor>,
    /// Failed-login counter (throttles token guessing).
    pub login_throttle: Arc<auth::LoginThrottle>,
    /// Internal failures per event id (poison events are refused for good).
    pub poison: Arc<ingest::PoisonCounter>,
    /// Machine credential checks (with their short cache).
    pub machines: Arc<crate::machines::MachineAuth>,
    /// Notification destinations in force (config file and API).
    pub notify: Arc<crate::notify::Registry>,
}

impl AppState {
    /// Opens the store and builds the state.
    pub fn open(config: Config) -> anyhow::Result<AppState> {
        let (hub, feed_tx) = Hub::new();
        let store = match &config.database_url {
            Some(url) => SqlStore::open_postgres(
                url,
                replica_id(&config.data_dir)?,
                feed_tx,
                std::sync::Arc::new(crate::time::SystemClock),
            )?,
            None => SqlStore::open(&config.db_path(), config.sync_full, feed_tx)?,
        };
        let policy = crate::decide::PolicySet::load(&config)?;
        let supervisor = crate::spawn::Supervisor::new(&config);
        Ok(AppState {
            notify: Arc::new(crate::notify::Registry::new(Arc::clone(&config.notify))),
            supervisor: Arc::new(supervisor),
            config: Arc::new(config),
            store: Arc::new(store),
            hub,
            telemetry: Arc::new(Telemetry::new()?),
            approvals: Arc::new(Approvals::default()),
            policy: Arc::new(policy),
            login_throttle: Arc::default(),
            poison: Arc::default(),
            machines: Arc::default(),
        })
    }
}

impl FromRef<AppState> for auth::Gate {
    fn from_ref(state: &AppState) -> auth::Gate {
        auth::Gate {
            config: Arc::clone(&state.config),
            login_throttle: Arc::clone(&state.login_throttle),
            telemetry: Arc::clone(&state.telemetry),
            store: Arc::clone(&state.store),
        }
    }
}

impl FromRef<AppState> for crate::decide::Decider {
    fn from_ref(state: &AppState) -> crate::decide::Decider {
        crate::decide::Decider {
            config: Arc::clone(&state.config),
            store: Arc::clone(&state.store),
            approvals: Arc::clone(&state.approvals),
            policy: Arc::clone(&state.policy),
        }
    }
}

impl FromRef<AppState> for ingest::Pipeline {
    fn from_ref(state: &AppState) -> ingest::Pipeline {
        ingest::Pipeline {
            decider: FromRef::from_ref(state),
            telemetry: Arc::clone(&state.telemetry),
            poison: Arc::clone(&state.poison),
            machines: Arc::clone(&state.machines),
        }
    }
}

impl FromRef<AppState> for crate::spawn::Spawner {
    fn from_ref(state: &AppState) -> crate::spawn::Spawner {
        crate::spawn::Spawner {
            config: Arc::clone(&state.config),
            store: Arc::clone(&state.store),
            supervisor: Arc::clone(&state.supervisor),
        }
    }
}

impl FromRef<AppState> for hub::FeedAccess {
    fn from_ref(state: &AppState) -> hub::FeedAccess {
        hub::FeedAccess {
            config: Arc::clone(&state.config),
            hub: state.hub.clone(),
            store: Arc::clone(&state.store),
            telemetry: Arc::clone(&state.telemetry),
        }
    }
}

impl FromRef<AppState> for routes::approvals::Desk {
    fn from_ref(state: &AppState) -> routes::approvals::Desk {
        routes::approvals::Desk {
            store: Arc::clone(&state.store),
            approvals: Arc::clone(&state.approvals),
        }
    }
}

impl FromRef<AppState> for routes::destinations::Desk {
    fn from_ref(state: &AppState) -> routes::destinations::Desk {
        routes::destinations::Desk {
            store: Arc::clone(&state.store),
            registry: Arc::clone(&state.notify),
            public_url: state.config.public_url.clone(),
        }
    }
}

impl FromRef<AppState> for SharedStore {
    fn from_ref(state: &AppState) -> SharedStore {
        Arc::clone(&state.store)
    }
}

/// The full router.
pub fn router(state: AppState) -> Router {
    let operator = Router::new()
        .route(
            "/tasks",
            get(routes::tasks::list).post(routes::tasks::create),
        )
        .route(
            "/tasks/{id}",
            get(routes::tasks::get)
                .patch(routes::tasks::update)
                .delete(routes::tasks::delete),
        )
        .route("/tasks/{id}/timeline", get(routes::tasks::timeline))
        .route("/tasks/{id}/metrics", get(routes::tasks::metrics))
        .route("/tasks/{id}/errors", get(routes::tasks::errors))
        .route("/sessions", get(routes::sessions::list))
        .route(
            "/sessions/{id}",
            get(routes::sessions::get).patch(routes::sessions::update),
        )
        .route("/sessions/{id}/timeline", get(routes::sessions::timeline))
        .route("/sessions/{id}/metrics", get(routes::sessions::metrics))
        .route("/sessions/{id}/errors", get(routes::sessions::errors))
        .route("/activity", get(routes::activity::list))
        .route(
            "/activity/sessions",
            get(routes::activity::session_summaries),
        )
        .route("/sessions/{id}/cost", get(routes::cost::session))
        .route("/tasks/{id}/cost", get(routes::cost::task))
        .route("/cost", get(routes::cost::total))
        .route("/cost/tasks", get(routes::cost::tasks))
        .route(
            "/sessions/{id}/tool-telemetry",
            get(routes::cost::session_tools),
        )
        .route("/tasks/{id}/tool-telemetry", get(routes::cost::task_tools))
        .route("/events", get(routes::events::list))
        .route("/events/{event_id}", get(routes::events::get))
        .route("/approvals", get(routes::approvals::list))
        .route("/notifications", get(routes::notifications::list))
        .route("/audit", get(routes::notifications::audit))
        .route(
            "/notify/destinations",
            get(routes::destinations::list).post(routes::destinations::create),
        )
        .route(
            "/notify/destinations/{name}",
            axum::routing::put(routes::destinations::update).delete(routes::destinations::delete),
        )
        .route(
            "/notify/destinations/{name}/test",
            post(routes::destinations::test),
        )
        .route(
            "/approvals/{id}",
            get(routes::approvals::get).post(routes::approvals::decide),
        )
        .merge(crate::spawn::routes())
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_operator,
        ));
    let api = Router::new()
        .route(
            maestro_shared::wire::WEBHOOK_PATH
                .strip_prefix("/api")
                .unwrap_or(maestro_shared::wire::WEBHOOK_PATH),
            post(ingest::hook_event)
                .get(ingest::check_token)
                .layer(DefaultBodyLimit::max(state.config.body_limit_bytes)),
        )
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .merge(operator)
        .fallback(|| async { crate::error::HttpError::not_found("no such API endpoint") });
    Router::new()
        .nest("/api", api)
        .route("/ws", get(hub::ws_handler))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::otlp::routes(state.config.body_limit_bytes))
        .merge(crate::web::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check_host,
        ))
        .with_state(state)
}

async fn healthz(State(st): State<AppState>) -> Response {
    let healthy = st.store.is_healthy();
    let stats = st.store.stats().await;
    let (status, code) = match (&stats, healthy) {
        (Ok(_), true) => ("ok", StatusCode::OK),
        _ => ("degraded", StatusCode::SERVICE_UNAVAILABLE),
    };
    let body = match stats {
        Ok(s) => json!({"status": status, "store": {"writable": healthy, "events": s.events,
            "latest_seq": s.latest_seq, "db_bytes": s.db_bytes, "database": s.database,
            "error": st.store.problem()},
            "version": env!("CARGO_PKG_VERSION")}),
        Err(e) => json!({"status": status, "store": {"writable": healthy, "error": e.to_string()},
            "version": env!("CARGO_PKG_VERSION")}),
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(st): State<AppState>) -> Response {
    if let Ok(s) = st.store.stats().await {
        st.telemetry.sessions.reset();
        for (state, n) in s.sessions_by_state {
            st.telemetry
                .sessions
                .with_label_values(&[state.as_str()])
                .set(n);
        }
        st.telemetry.pending_approvals.set(s.pending_approvals);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.telemetry.render(),
    )
        .into_response()
}

/// This replica's id in team mode: made once (`r_` and 32 hex digits) and kept in the data
/// dir, so a restarted replica is the same one (it re-adopts what it spawned).
fn replica_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let path = data_dir.join("replica.id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if id.len() == 34 && id.starts_with("r_") && id[2..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Ok(id.to_string());
        }
        tracing::warn!(path = %path.display(), "replica.id is not a replica id: making a new one");
    }
    let id = format!("r_{}", uuid::Uuid::now_v7().simple());
    std::fs::write(&path, format!("{id}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// Starts the health ticker and the retention job; returns their tasks.
pub fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(crate::approvals::release_on_feed(
        state.hub.subscribe(),
        Arc::clone(&state.approvals),
    )));
    let st = state.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(st.config.health_tick);
        loop {
            tick.tick().await;
            let th = HealthThresholds {
                idle_after: st.config.idle_after,
                stale_after: st.config.stale_after,
            };
            // One replica ticks at a time (team mode).
            if !holds(&st, "health", st.config.health_tick * 3).await {
                continue;
            }
            if let Err(e) = st.store.tick_health(th).await {
                tracing::warn!(error = %e, "health tick failed");
            }
        }
    }));
    if state.config.retention.is_some() || state.config.retention_max_bytes.is_some() {
        let st = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(
                st.config
                    .retention_interval
                    .max(std::time::Duration::from_secs(1)),
            );
            loop {
                tick.tick().await;
                if !holds(&st, "retention", st.config.retention_interval * 3).await {
                    continue;
                }
                match st
                    .store
                    .apply_retention(st.config.retention, st.config.retention_max_bytes)
                    .await
                {
                    Ok(n) if n > 0 => tracing::info!(cleared = n, "retention dropped raw events"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention failed"),
                }
            }
        }));
    }
    let st = state.clone();
    tasks.push(tokio::spawn(reap_stopped_replicas(st)));
    tasks
}

/// Whether this replica holds the lease `name` (always on SQLite); a failure to ask is
/// logged and counts as not holding it.
async fn holds(st: &AppState, name: &str, ttl: std::time::Duration) -> bool {
    match st.store.hold_lease(name, ttl).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e.chain(), lease = name, "cannot take a lease");
            false
        }
    }
}

/// A replica that stops heartbeating for this long is gone.
const REPLICA_DEAD_AFTER: std::time::Duration = std::time::Duration::from_secs(15);
/// How often replicas heartbeat.
const REPLICA_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(3);

/// Team mode: heartbeats for this replica and, on the replica holding the `reaper` lease,
/// resolves what a stopped replica left behind: the sessions it spawned are lost (nobody
/// supervises them any more) and the approvals its hooks were held on are released as
/// "hook gone" (their requests died with it; the hooks retry on another replica).
async fn reap_stopped_replicas(st: AppState) {
    use crate::approvals::machine::Trigger;
    let mut tick = tokio::time::interval(REPLICA_HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let dead = match st.store.replica_heartbeat(REPLICA_DEAD_AFTER).await {
            Ok(dead) => dead,
            Err(e) => {
                tracing::warn!(error = %e.chain(), "replica heartbeat failed");
                continue;
            }
        };
        if dead.is_empty() || !holds(&st, "reaper", REPLICA_HEARTBEAT * 3).await {
            continue;
        }
        for replica in dead {
            let (sessions, approvals) = match st.store.left_by_replica(&replica).await {
                Ok(left) => left,
                Err(e) => {
                    tracing::warn!(error = %e.chain(), replica, "cannot read what a stopped replica left");
                    continue;
                }
            };
            tracing::warn!(
                replica,
                sessions = sessions.len(),
                approvals = approvals.len(),
                "a replica stopped: its spawned sessions are lost, its held approvals released"
            );
            let mut done = true;
            for id in approvals {
                let why = Some(format!("the server replica {replica} holding it stopped"));
                if let Err(e) = st.store.resolve_approval(&id, Trigger::HookGone, why).await {
                    tracing::warn!(error = %e.chain(), approval = id, "cannot release an approval");
                    done = false;
                }
            }
            for id in sessions {
                let lost = crate::store::ProcessUpdate::lost(
                    format!("Lost: the server replica {replica} supervising it stopped"),
                    Some(serde_json::json!({"replica": replica})),
                );
                if let Err(e) = st.store.update_process(&id, lost).await {
                    tracing::warn!(error = %e.chain(), session = id, "cannot mark a session lost");
                    done = false;
                }
            }
            if done {
                if let Err(e) = st.store.forget_replica(&replica).await {
                    tracing::warn!(error = %e.chain(), replica, "cannot forget a stopped replica");
                }
            }
        }
    }
}

/// Prints a start-up line; a closed stdout (piped to `head`, a supervisor that stopped
/// reading) must not take the server down, as `println!` would by panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Binds, prints where the server is, and serves until SIGINT/SIGTERM.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    use anyhow::Context;
    // Before binding: a refused plain-HTTP bind never listens, not even for a moment.
    let tls = crate::tls::prepare(&state.config)?;
    let listener = tokio::net::TcpListener::bind(state.config.bind)
        .await
        .with_context(|| format!("binding {}", state.config.bind))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    state
        .supervisor
        .set_local_addr(addr, tls.as_ref().map(|t| t.fingerprint.clone()));
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening on a non-loopback address: anyone who can reach it needs only a token");
    }
    let (ingest_src, operator_src) = &state.config.token_sources;
    say!("maestro-server listening on {scheme}://{addr}");
    say!("  data dir:        {}", state.config.data_dir.display());
    say!("  ingest token:    {ingest_src}");
    say!("  operator token:  {operator_src}");
    if let Some(t) = &tls {
        say!(
            "  TLS certificate: {}{}",
            t.cert_path.display(),
            if t.generated {
                " (self-signed, made now)"
            } else {
                ""
            }
        );
        say!("  TLS SHA-256 fingerprint: {}", t.fingerprint);
        say!(
            "  enrol a machine: maestro-server machines add NAME, then on it: maestro-hook login {scheme}://{addr} --fingerprint {}",
            t.fingerprint
        );
    }
    say!("  open {scheme}://{addr}/ and log in with the operator token");
    let mut background = spawn_background(&state);
    background.push(crate::spawn::start(&FromRef::from_ref(&state)));
    // Destinations added through the API survive restarts; a store that cannot list them
    // does not keep the server from starting (the config file's still work).
    match state.store.notify_destinations().await {
        Ok(stored) => state.notify.set_stored(stored),
        Err(e) => {
            tracing::warn!(error = %e.chain(), "cannot read the stored notification destinations")
        }
    }
    // One pass before the first request: a destination new in the config file starts from
    // here (not from the past, and not from whenever the runner's first pass happens).
    let destinations = state.notify.current();
    if !destinations.is_empty() {
        if let Err(e) = state
            .store
            .notify_enqueue(destinations, state.config.public_url.clone())
            .await
        {
            tracing::warn!(error = %e.chain(), "notifications: cannot queue at start");
        }
    }
    background.push(crate::notify::start(
        Arc::clone(&state.store),
        Arc::clone(&state.notify),
        state.config.public_url.clone(),
    ));
    let limits = crate::connections::Limits {
        max_connections: crate::connections::effective_max_connections(
            state.config.max_connections,
        ),
        header_read_timeout: state.config.header_read_timeout,
    };
    crate::connections::serve(
        listener,
        router(state),
        limits,
        tls.map(|t| t.acceptor),
        shutdown_signal(),
    )
    .await;
    // Stop the background loops while the runtime still runs: a loop woken during the
    // runtime's own shutdown would touch its timer and panic.
    for task in &background {
        task.abort();
    }
    for task in background {
        let _ = task.await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
