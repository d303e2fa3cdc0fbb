//! Persistence. [`Store`] is the interface the rest of the server uses; [`sql_store::SqlStore`]
//! implements it with one writer thread (group commit) and a pool of read connections, on an
//! embedded SQLite file (WAL) or, in team mode, on a PostgreSQL server shared by several
//! replicas ([`pg`]). The SQL is the same for both ([`sql`]).

pub mod approvals;
mod batch;
pub mod budget;
pub mod cost;
pub(crate) mod fts;
pub mod machines;
mod notify;
pub(crate) mod people;
pub mod pg;
pub(crate) mod projection;
pub mod rows;
pub mod schema;
pub mod sql;
pub mod sql_store;
mod syncer;
pub mod tool_telemetry;
pub mod writer;

pub use notify::StoredDestination;

use async_trait::async_trait;
use maestro_shared::api::{
    Approval, ApprovalStatus, Metrics, Session, SessionState, Task, TaskInput, TaskStatus,
    TimelineItem,
};
use maestro_shared::policy::Decision;
use maestro_shared::ws::WsMessage;
use maestro_shared::{Envelope, HookEvent};
use serde::Serialize;
use serde_json::Value;

/// The store as handlers hold it (an axum substate of the app state).
pub type SharedStore = std::sync::Arc<dyn Store>;

/// Store failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not store or read (disk full, corruption, I/O error). Nothing was
    /// acknowledged.
    #[error("store unavailable: {context}")]
    Unavailable {
        /// What the store was doing.
        context: String,
        /// The underlying failure, when there is one.
        #[source]
        cause: Option<Cause>,
    },
    /// The request refers to something that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A bug: the write job panicked. Its writes were rolled back and the store is fine; the
    /// cause is logged, clients see only that it was an internal error.
    #[error("internal error: {context}")]
    Internal {
        /// What went wrong.
        context: String,
        /// The underlying failure, when there is one.
        #[source]
        cause: Option<Cause>,
    },
}

/// The underlying failure of a [`StoreError`] (shared: one failed commit answers every job of
/// its batch).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Cause {
    /// SQLite said no.
    #[error(transparent)]
    Sqlite(std::sync::Arc<rusqlite::Error>),
    /// The file system said no (the WAL's fsync).
    #[error(transparent)]
    Io(std::sync::Arc<std::io::Error>),
    /// PostgreSQL said no, or its connection is gone.
    #[error(transparent)]
    Postgres(std::sync::Arc<tokio_postgres::Error>),
    /// A row did not map, or no connection could be had.
    #[error(transparent)]
    Db(std::sync::Arc<sql::DbError>),
}

impl StoreError {
    /// The store cannot store or read: `context` says what it was doing.
    pub fn unavailable(context: impl Into<String>) -> StoreError {
        StoreError::Unavailable {
            context: context.into(),
            cause: None,
        }
    }

    /// A bug: `context` says what went wrong.
    pub fn internal(context: impl Into<String>) -> StoreError {
        StoreError::Internal {
            context: context.into(),
            cause: None,
        }
    }

    /// The message and every cause below it, for logs (`a: b: c`).
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }
}

impl From<rusqlite::Error> for StoreError {
    /// A failure of the storage itself (disk full, I/O error, corruption, locked, read-only)
    /// is [`StoreError::Unavailable`]: nothing was stored, the hook spools and retries, and the
    /// store reports itself unhealthy. Anything else (a constraint violation, a type mismatch,
    /// a misused statement, a row that does not map) is a bug: [`StoreError::Internal`], which
    /// refuses only that request and does not make the store look like a full disk.
    fn from(e: rusqlite::Error) -> Self {
        let cause = Some(Cause::Sqlite(std::sync::Arc::new(e)));
        match &cause {
            Some(Cause::Sqlite(e)) if is_storage_failure(e) => StoreError::Unavailable {
                context: "the database failed".into(),
                cause,
            },
            _ => StoreError::Internal {
                context: "a database call failed".into(),
                cause,
            },
        }
    }
}

impl From<sql::DbError> for StoreError {
    /// As for rusqlite's errors: the storage's failures (for PostgreSQL: a lost connection,
    /// no pool slot, insufficient resources, a server shutting down, a serialization failure
    /// or a read-only server) are [`StoreError::Unavailable`], anything else is a bug.
    fn from(e: sql::DbError) -> Self {
        match e {
            sql::DbError::Sqlite(e) => StoreError::from(e),
            sql::DbError::Postgres(e) => {
                let storage = is_postgres_storage_failure(&e);
                let cause = Some(Cause::Postgres(std::sync::Arc::new(e)));
                if storage {
                    StoreError::Unavailable {
                        context: "the database failed".into(),
                        cause,
                    }
                } else {
                    StoreError::Internal {
                        context: "a database call failed".into(),
                        cause,
                    }
                }
            }
            e @ sql::DbError::Pool(_) => StoreError::Unavailable {
                context: "the database failed".into(),
                cause: Some(Cause::Db(std::sync::Arc::new(e))),
            },
            e => StoreError::Internal {
                context: "a database call failed".into(),
                cause: Some(Cause::Db(std::sync::Arc::new(e))),
            },
        }
    }
}

/// Whether a PostgreSQL error is the storage's fault: no SQLSTATE (the connection is gone),
/// or classes 08 (connection), 53 (insufficient resources), 57 (operator intervention: a
/// shutdown, a cancelled statement), 58 (system error), 40 (a transaction rollback such as a
/// serialization failure), 25006 (read-only transaction: a standby), XX001/XX002 (corruption).
pub(crate) fn is_postgres_storage_failure(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else {
        return true;
    };
    let code = code.code();
    matches!(code.get(..2), Some("08" | "53" | "57" | "58" | "40"))
        || matches!(code, "25006" | "XX001" | "XX002")
}

/// Whether a SQLite error is the storage's fault rather than the code's.
fn is_storage_failure(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            C::DiskFull
                | C::SystemIoFailure
                | C::CannotOpen
                | C::ReadOnly
                | C::DatabaseCorrupt
                | C::NotADatabase
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::OutOfMemory
                | C::FileLockingProtocolFailed
                | C::PermissionDenied
                | C::NoLargeFileSupport
                | C::OperationInterrupted
                | C::InternalMalfunction
        ),
        // The connection or its thread is gone: storage, not a bug in a query.
        rusqlite::Error::SqliteSingleThreadedMode | rusqlite::Error::InvalidPath(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn storage_failures_and_bugs_are_told_apart() {
        let conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .expect("table");
        conn.execute("INSERT INTO t VALUES (1)", []).expect("row");
        // A constraint violation is a bug in the code that wrote it.
        let dup = conn
            .execute("INSERT INTO t VALUES (1)", [])
            .expect_err("dup");
        assert!(matches!(StoreError::from(dup), StoreError::Internal { .. }));
        // A query error (no such table) too.
        let bad = conn
            .execute("INSERT INTO nope VALUES (1)", [])
            .expect_err("bad");
        assert!(matches!(StoreError::from(bad), StoreError::Internal { .. }));
        // A full database is the storage's.
        conn.pragma_update(None, "max_page_count", 1).expect("cap");
        let mut full = None;
        for i in 2..10_000 {
            if let Err(e) = conn.execute("INSERT INTO t VALUES (?1)", [i]) {
                full = Some(e);
                break;
            }
        }
        let full = full.expect("the cap is reached");
        assert!(
            matches!(StoreError::from(full), StoreError::Unavailable { .. }),
            "disk full is unavailable"
        );
    }
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

/// What ingest decided for a decision event, stored with it.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    /// The policy decision.
    pub decision: Decision,
    /// The text the hook prints (absent for hold until decided, and for "no opinion").
    pub stdout: Option<String>,
    /// For hold: the approval id to create.
    pub approval_id: Option<String>,
    /// Decision latency (policy evaluation), ms.
    pub latency_ms: f64,
    /// When the decision was taken (an approval's creation time).
    pub decided_at: chrono::DateTime<chrono::Utc>,
}

/// The result of storing one event.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestOutcome {
    /// Feed seq of the event.
    pub seq: i64,
    /// Already stored before.
    pub duplicate: bool,
    /// Maestro session.
    pub session_id: Option<String>,
    /// Task of the session.
    pub task_id: Option<String>,
    /// Approvals this event resolved (answered in the terminal, session ended): their held
    /// hooks are released once the event is durable.
    pub resolved: Vec<Approval>,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only this task.
    pub task_id: Option<String>,
    /// Only this state.
    pub state: Option<SessionState>,
    /// Only sessions without a task.
    pub unassigned: bool,
    /// Only this Claude session id.
    pub claude_session_id: Option<String>,
    /// Most rows.
    pub limit: Option<i64>,
}

/// Timeline / metrics scope.
#[derive(Debug, Clone)]
pub enum Scope {
    /// One session.
    Session(String),
    /// All sessions of a task.
    Task(String),
}

/// A stored raw event.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    /// Feed seq.
    pub seq: i64,
    /// Idempotency key.
    pub event_id: String,
    /// Event name.
    pub event: String,
    /// Capture time.
    pub captured_at: String,
    /// Receive time.
    pub received_at: String,
    /// Maestro session.
    pub session_id: Option<String>,
    /// True for malformed stdin.
    pub malformed: bool,
    /// The envelope (None after retention dropped it).
    pub envelope: Option<Value>,
}

/// Filters for approvals.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    /// Status.
    pub status: Option<ApprovalStatus>,
    /// Session.
    pub session_id: Option<String>,
    /// Task.
    pub task_id: Option<String>,
}

/// Counts for `/healthz` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreStats {
    /// Stored events.
    pub events: i64,
    /// Latest feed seq.
    pub latest_seq: i64,
    /// Sessions by state.
    pub sessions_by_state: Vec<(String, i64)>,
    /// Pending approvals.
    pub pending_approvals: i64,
    /// Database file size in bytes.
    pub db_bytes: u64,
    /// Which database: `sqlite`, or `postgresql <server version>`.
    pub database: String,
}

/// Health values decided by the ticker.
#[derive(Debug, Clone)]
pub struct HealthThresholds {
    /// No event for this long: idle.
    pub idle_after: std::time::Duration,
    /// No event for this long: stale.
    pub stale_after: std::time::Duration,
}

/// The persistence interface.
#[async_trait]
pub trait Store: Send + Sync {
    /// Stores one envelope durably (deduplicated by `event_id`) and updates every projection
    /// in the same transaction. `event` is the parsed payload (None for malformed stdin);
    /// `raw` is the envelope as received (valid JSON, stored as is); `machine` is the machine
    /// whose credential posted it, as the server verified it (None: the local ingest token).
    async fn ingest(
        &self,
        envelope: Envelope,
        event: Option<HookEvent>,
        raw: axum::body::Bytes,
        decision: Option<DecisionRecord>,
        machine: Option<String>,
    ) -> StoreResult<IngestOutcome>;

    /// Stores the records of one OTLP logs export, `claude_code.api_request` records and
    /// `claude_code.tool_result` / `tool_decision` records, in one write job (committed with
    /// the hook events of its group commit), skipping those already stored (the exporter
    /// retries); returns how many of each were new. `machine` is the machine whose credential
    /// posted them.
    async fn record_telemetry(
        &self,
        api_requests: Vec<cost::ApiRequest>,
        tool_events: Vec<tool_telemetry::ToolEvent>,
        machine: Option<String>,
    ) -> StoreResult<(usize, usize)>;
    /// Cost and tokens of a session, a task or everything.
    async fn cost_report(
        &self,
        scope: cost::CostScope,
    ) -> StoreResult<maestro_shared::cost::CostReport>;
    /// The telemetry of the tool calls of a session or a task, joined by `tool_use_id`.
    async fn tool_telemetry(
        &self,
        scope: tool_telemetry::ToolScope,
    ) -> StoreResult<Vec<maestro_shared::cost::ToolTelemetry>>;
    /// The cost totals of every task with joined records (the board's figures).
    async fn task_costs(&self) -> StoreResult<Vec<maestro_shared::cost::TaskCost>>;
    /// The machine credential whose token hashes to `token_hash` (hex SHA-256), if any.
    async fn machine_credential(
        &self,
        token_hash: String,
    ) -> StoreResult<Option<machines::Credential>>;

    /// The policy text of the task the event would map to, and the task's budget (its own
    /// limit, else `default_budget_usd`) with what it has spent.
    async fn decision_context(
        &self,
        envelope: &Envelope,
        default_budget_usd: Option<f64>,
    ) -> StoreResult<DecisionContext>;
    /// What the sessions of a task have spent, in USD.
    async fn task_spent(&self, task_id: &str) -> StoreResult<f64>;

    /// Creates a task.
    async fn create_task(&self, input: TaskInput) -> StoreResult<Task>;
    /// Updates a task.
    async fn update_task(&self, id: &str, input: TaskInput) -> StoreResult<Task>;
    /// Deletes a task (its sessions become unassigned).
    async fn delete_task(&self, id: &str) -> StoreResult<()>;
    /// Lists tasks.
    async fn list_tasks(&self, status: Option<TaskStatus>) -> StoreResult<Vec<Task>>;
    /// One task.
    async fn get_task(&self, id: &str) -> StoreResult<Task>;

    /// Lists sessions.
    async fn list_sessions(&self, filter: SessionFilter) -> StoreResult<Vec<Session>>;
    /// One session.
    async fn get_session(&self, id: &str) -> StoreResult<Session>;
    /// The start time (clock ticks after boot) the hook reported for the session's CLI
    /// process, if any: the liveness watch tells a reused pid from the same process by it.
    async fn claude_pid_start(&self, id: &str) -> StoreResult<Option<u64>>;
    /// Attaches a session to a task (or detaches with None).
    async fn attach_session(&self, id: &str, task_id: Option<String>) -> StoreResult<Session>;
    /// Creates a session for a spawn (state starting).
    async fn create_spawned_session(
        &self,
        task_id: &str,
        spawn: Value,
        cwd: Option<String>,
    ) -> StoreResult<Session>;
    /// Records process facts of a spawned or watched session: pid, exit, result, state.
    async fn update_process(&self, id: &str, update: ProcessUpdate) -> StoreResult<Session>;

    /// Timeline lines in capture order.
    async fn timeline(
        &self,
        scope: Scope,
        after_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<TimelineItem>>;
    /// Failures with full detail.
    async fn errors(&self, scope: Scope) -> StoreResult<Vec<TimelineItem>>;
    /// Per-tool metrics.
    async fn metrics(&self, scope: Scope) -> StoreResult<Metrics>;

    /// Raw events after a seq.
    async fn events_since(
        &self,
        since: i64,
        limit: i64,
        session_id: Option<String>,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// One raw event envelope.
    async fn event(&self, event_id: &str) -> StoreResult<StoredEvent>;
    /// One page of the activity stream (every stored event, newest first), filtered and
    /// optionally searched (see [`crate::search`]).
    async fn activity(
        &self,
        query: crate::search::ActivityQuery,
    ) -> StoreResult<crate::search::ActivityPage>;
    /// First prompt, tool calls and failures of each of these sessions (unknown ids are left
    /// out), at most [`crate::search::MAX_SUMMARIES`].
    async fn session_summaries(
        &self,
        ids: Vec<String>,
    ) -> StoreResult<Vec<crate::search::SessionSummary>>;
    /// Feed messages after a seq, in order.
    async fn feed_since(&self, since: i64, limit: i64) -> StoreResult<Vec<WsMessage>>;

    /// Recomputes health of live sessions; returns how many changed.
    async fn tick_health(&self, thresholds: HealthThresholds) -> StoreResult<usize>;

    /// Lists approvals.
    async fn list_approvals(&self, filter: ApprovalFilter) -> StoreResult<Vec<Approval>>;
    /// One approval.
    async fn get_approval(&self, id: &str) -> StoreResult<Approval>;
    /// Applies a transition of the approval state machine
    /// ([`crate::approvals::machine`]: an operator decision, the hold timeout, the held
    /// hook's connection dropping). Returns the approval; a `Conflict` saying what it already
    /// is when the machine refuses (e.g. answered in the terminal).
    /// Takes or renews the lease `name` for `ttl`: true while this replica holds it, so that
    /// periodic work runs on one replica at a time. Always true on SQLite (one process).
    async fn hold_lease(&self, name: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        let _ = (name, ttl);
        Ok(true)
    }

    /// Records that this replica is alive; returns the replicas whose heartbeat stopped for
    /// longer than `dead_after` (team mode; none on SQLite).
    async fn replica_heartbeat(&self, dead_after: std::time::Duration) -> StoreResult<Vec<String>> {
        let _ = dead_after;
        Ok(Vec::new())
    }

    /// What a stopped replica left behind: its spawned sessions still running and the
    /// approvals its hooks were held on (team mode).
    async fn left_by_replica(&self, replica: &str) -> StoreResult<(Vec<String>, Vec<String>)> {
        let _ = replica;
        Ok((Vec::new(), Vec::new()))
    }

    /// Forgets a stopped replica once what it left is resolved (team mode).
    async fn forget_replica(&self, replica: &str) -> StoreResult<()> {
        let _ = replica;
        Ok(())
    }

    async fn resolve_approval(
        &self,
        id: &str,
        trigger: crate::approvals::machine::Trigger,
        reason: Option<String>,
    ) -> StoreResult<Approval>;

    /// Drops raw event payloads by age and total size; returns rows cleared.
    async fn apply_retention(
        &self,
        max_age: Option<std::time::Duration>,
        max_bytes: Option<u64>,
    ) -> StoreResult<u64>;

    /// Queues a delivery for each feed message after the notification cursor that one of
    /// `destinations` wants (one per destination, subject and kind), and moves the cursor.
    async fn notify_enqueue(
        &self,
        destinations: std::sync::Arc<Vec<crate::notify::Destination>>,
        public_url: String,
    ) -> StoreResult<usize>;
    /// Deliveries due now, oldest first.
    async fn notify_due(&self, limit: usize) -> StoreResult<Vec<crate::notify::Delivery>>;
    /// Records a delivery attempt: delivered, or failed and retried after `retry` (`None`:
    /// given up).
    async fn notify_record(
        &self,
        id: i64,
        outcome: Result<(), String>,
        retry: Option<std::time::Duration>,
    ) -> StoreResult<()>;
    /// The active operator whose token hashes to `token_hash`.
    async fn operator_for_token_hash(&self, token_hash: &str) -> StoreResult<Option<String>>;
    /// An operator's decision on a held request ([`Store::resolve_approval`] with the
    /// operator's name as `decided_by`), audited in the same transaction.
    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        reason: Option<String>,
        operator: String,
    ) -> StoreResult<Approval>;
    /// Records what a person did.
    async fn record_audit(
        &self,
        actor: String,
        action: &'static str,
        subject: String,
        detail: Value,
    ) -> StoreResult<()>;
    /// The audit log, newest first.
    async fn list_audit(&self, limit: usize) -> StoreResult<Vec<people::AuditEntry>>;
    /// The delivery log, newest first.
    async fn list_notifications(&self, limit: usize) -> StoreResult<Vec<crate::notify::LogEntry>>;
    /// The notification destinations stored through the API (not those of the config file).
    async fn notify_destinations(&self) -> StoreResult<Vec<StoredDestination>>;
    /// Adds (`create`: a `Conflict` if the name exists; nothing that happened before is sent
    /// to it) or replaces (a `NotFound` if it does not) a stored destination, audited as
    /// `actor`'s in the same transaction.
    async fn save_notify_destination(
        &self,
        destination: crate::notify::Destination,
        create: bool,
        actor: String,
    ) -> StoreResult<()>;
    /// Removes a stored destination (its queued deliveries are given up), audited.
    async fn delete_notify_destination(&self, name: String, actor: String) -> StoreResult<()>;

    /// Counts for health and metrics.
    async fn stats(&self) -> StoreResult<StoreStats>;
    /// The seq of the last feed message that is durable (what replay serves up to).
    fn latest_seq(&self) -> i64;
    /// False after a write failed and until one succeeds, or when the database is damaged.
    fn is_healthy(&self) -> bool;
    /// What is wrong, when not healthy.
    fn problem(&self) -> Option<String>;
}

/// What the policy needs to know about the session an event belongs to.
#[derive(Debug, Clone, Default)]
pub struct DecisionContext {
    /// The session, if known yet.
    pub session_id: Option<String>,
    /// Its task.
    pub task_id: Option<String>,
    /// The task's policy override (TOML).
    pub task_policy: Option<String>,
    /// The task's spend limit and spend, when it has a limit.
    pub budget: Option<budget::BudgetState>,
}

/// Process facts for [`Store::update_process`].
#[derive(Debug, Clone, Default)]
pub struct ProcessUpdate {
    /// OS pid of the spawned process.
    pub pid: Option<i64>,
    /// New state.
    pub state: Option<SessionState>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// End reason.
    pub end_reason: Option<String>,
    /// Final `result` record.
    pub result: Option<Value>,
    /// Mark ended now.
    pub ended: bool,
    /// A timeline line to add (kind, summary, status, detail).
    pub timeline: Option<(String, String, String, Option<Value>)>,
}

impl ProcessUpdate {
    /// The session's process is gone without an end: state `lost`, ended now, a warning line.
    pub fn lost(summary: String, detail: Option<Value>) -> ProcessUpdate {
        ProcessUpdate {
            state: Some(SessionState::Lost),
            ended: true,
            end_reason: Some("process gone".into()),
            timeline: Some(("process".into(), summary, "warning".into(), detail)),
            ..Default::default()
        }
    }
}
