//! [`Store`] on SQL: one writer thread with group commit ([`super::writer`]) and a small pool
//! of read connections, on an embedded SQLite file (WAL) or on PostgreSQL ([`super::pg`]).

use super::rows::*;
use super::sql::{params, Db, DbExt, OptionalExt, Row};
use super::writer::Writer;
use super::*;
use crate::store::projection::{
    self, add_line, emit_session, emit_task, new_id, refresh_task_status, Line,
};
use crate::time::{fmt_ts, Clock, SystemClock};
use maestro_shared::api::{Health, ToolMetric};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

const READERS: usize = 4;
/// Events cleared per retention transaction.
const RETENTION_BATCH: i64 = 5000;
/// The WAL size at which the checkpointer has the writer start it over. Each restart stalls
/// the writer for one fsync of the database (~20 ms here), so the fewer the better: at 1,000
/// events/s (~30 MiB/s of WAL) 128 MiB is one stall every ~4 s (A/B in BENCHMARKS.md: p95 3.4
/// ms against 4.6 ms at 32 MiB). The WAL file is cut back to twice this after a larger one, so
/// a normal cycle reuses the file without growing it again.
const WAL_RESTART_BYTES: u64 = 128 * 1024 * 1024;
/// The WAL size at which the writer checkpoints by itself (a safety net, see `open`).
const WAL_SAFETY_CHECKPOINT_BYTES: i64 = 512 * 1024 * 1024;

/// The store, on either database.
pub struct SqlStore {
    writer: Writer,
    readers: Readers,
    /// The SQLite file (empty on PostgreSQL).
    path: PathBuf,
    /// Set when the integrity check at open failed: the store runs degraded.
    integrity_error: Option<String>,
    /// Retention has cleared every payload up to this seq.
    retention_mark: std::sync::atomic::AtomicI64,
    /// Retention has deleted every old feed message up to this seq.
    feed_retention_mark: std::sync::atomic::AtomicI64,
    /// "Now" for everything the store writes (see [`crate::time::Clock`]).
    clock: Arc<dyn Clock>,
    /// This replica's id (team mode: leases, heartbeats, the owner of what it holds).
    replica: String,
}

/// Where reads run.
enum Readers {
    /// A few connections to the file, taken in turn.
    Sqlite {
        conns: Vec<Mutex<Connection>>,
        next: std::sync::atomic::AtomicUsize,
    },
    /// The PostgreSQL pool.
    Postgres(Arc<super::pg::conn::PgShared>),
}

/// Size of a WAL file's header: a WAL no longer than this holds no committed data.
const WAL_HEADER_BYTES: u64 = 32;

/// Refuses to open a database whose WAL does not belong to it, touching nothing: an empty or
/// missing database file next to a WAL with frames (restored or replaced without its WAL), a
/// WAL whose header is not a WAL's, or whose page size differs from the database's. SQLite
/// would silently discard such a WAL, and with it every event it holds.
fn check_wal_belongs(path: &Path) -> anyhow::Result<()> {
    use std::io::Read;
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal_path = std::path::PathBuf::from(wal_path);
    let Ok(wal_meta) = std::fs::metadata(&wal_path) else {
        return Ok(());
    };
    if wal_meta.len() <= WAL_HEADER_BYTES {
        return Ok(());
    }
    let advice = "nothing was changed; put back the database file that belongs to this WAL, or move the -wal file aside to start without its data";
    let db_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    anyhow::ensure!(
        db_len > 0,
        "{} holds {} bytes of committed data but {} is empty or missing: the database file does not belong to this WAL; {advice}",
        wal_path.display(),
        wal_meta.len(),
        path.display()
    );
    let mut header = [0u8; 12];
    std::fs::File::open(&wal_path)
        .and_then(|mut f| f.read_exact(&mut header))
        .with_context_path(&wal_path)?;
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    anyhow::ensure!(
        magic == 0x377f_0682 || magic == 0x377f_0683,
        "{} is not a SQLite WAL (bad header); {advice}",
        wal_path.display()
    );
    let wal_page = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    let mut db_header = [0u8; 18];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut db_header))
        .with_context_path(path)?;
    let db_page = match u16::from_be_bytes([db_header[16], db_header[17]]) {
        1 => 65_536,
        n => u32::from(n),
    };
    anyhow::ensure!(
        db_page == wal_page,
        "{} has {wal_page}-byte pages but {} has {db_page}-byte pages: the database file does not belong to this WAL; {advice}",
        wal_path.display(),
        path.display()
    );
    Ok(())
}

/// `io::Result` with the path in its error.
trait PathContext<T> {
    fn with_context_path(self, path: &Path) -> anyhow::Result<T>;
}

impl<T> PathContext<T> for std::io::Result<T> {
    fn with_context_path(self, path: &Path) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
    }
}

/// Why the store cannot write, when it cannot: SQLite opened the file read-only, or the
/// directory (where the WAL and journal files live) refuses new files.
fn not_writable(conn: &Connection, path: &Path) -> Option<String> {
    if conn.is_readonly(c"main").unwrap_or(true) {
        return Some(format!(
            "the database {} is read-only: no event can be stored",
            path.display()
        ));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "the data dir {} is not writable ({e}): no event can be stored",
            dir.display()
        )),
    }
}

/// Creates the database file with mode 0600 when it is new, and makes an existing one and its
/// `-wal` / `-shm` files 0600 (SQLite gives the files it creates the database file's mode): the
/// events hold commands, paths and file contents.
fn restrict_mode(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    // A WAL without its database is left for SQLite (and the start-up checks) to judge.
    if !Path::new(&wal).exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = Path::new(&file);
        match std::fs::metadata(file) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => std::fs::set_permissions(
                file,
                std::fs::Permissions::from_mode(m.permissions().mode() & 0o700),
            )?,
            _ => {}
        }
    }
    Ok(())
}

fn open(path: &Path, sync_full: bool) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Only takes effect on a new, empty database (before WAL mode writes its header). Each
    // event inserts into a few per-session indexes, at as many places as there are live
    // sessions, and each page touched is written to the WAL again at every commit: 2 KiB pages
    // halve that write volume against the default 4 KiB, while a ~1 KB envelope still fits a
    // page without overflow (measured in BENCHMARKS.md).
    conn.pragma_update(None, "page_size", 2048)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        if sync_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Statement and savepoint journals in memory: every write job runs in a savepoint, and a
    // temp file for its journal would cost a write(2) per page it touches.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // After a checkpoint the WAL is truncated back to this size (a large retention pass would
    // otherwise leave it at its high-water mark).
    conn.pragma_update(None, "journal_size_limit", 2 * WAL_RESTART_BYTES as i64)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// The last event received before `cutoff` (0: none). The writer stamps `received_at` as it
/// assigns seqs, so `received_at` grows with seq: a binary search over seq, a few primary-key
/// lookups, instead of an index on `received_at` that every event would have to update. (A
/// wall clock set back makes the order approximate around that point, as it did for the index:
/// payloads are then cleared early or late by as much as the clock moved.)
fn last_received_before(conn: &dyn Db, cutoff: &str) -> StoreResult<i64> {
    // The first event at or after `seq`, with its receive time.
    let at_or_after = |seq: i64| -> super::sql::DbResult<Option<(i64, String)>> {
        conn.query_row(
            "SELECT seq, received_at FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
    };
    let Some((first, first_at)) = at_or_after(0)? else {
        return Ok(0);
    };
    if first_at.as_str() >= cutoff {
        return Ok(0);
    }
    let last: i64 = conn.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
    // Invariant: `lo` is an event received before the cutoff; no event at or after `hi` is.
    let (mut lo, mut hi) = (first, last + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match at_or_after(mid)? {
            Some((seq, at)) if seq < hi && at.as_str() < cutoff => lo = seq,
            // The first event from `mid` on is not before the cutoff (or there is none).
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// Opens the database for an administrative command run next to (or without) the server
/// (`maestro-server machines ...`): the same checks, file modes and migrations as the server,
/// one connection, no writer thread. SQLite's WAL lets it write while a server runs (its busy
/// timeout waits for the server's writer).
pub fn open_admin(path: &Path) -> anyhow::Result<Connection> {
    use anyhow::Context;
    check_wal_belongs(path)?;
    restrict_mode(path)
        .with_context(|| format!("making {} private (mode 0600)", path.display()))?;
    let mut conn =
        open(path, true).with_context(|| format!("opening database {}", path.display()))?;
    schema::migrate(&mut conn).context("migrating the database schema")?;
    Ok(conn)
}

/// The database of the admin commands: the data dir's SQLite file, or the team's
/// PostgreSQL (`--database-url`), with the runtime its connection runs on.
pub enum AdminDb {
    /// The SQLite file.
    Sqlite(Connection),
    /// A PostgreSQL connection and the runtime it runs on (dropped after it).
    Postgres {
        /// The connection.
        db: Box<super::pg::conn::PgDb>,
        /// Its runtime.
        _runtime: tokio::runtime::Runtime,
    },
}

impl AdminDb {
    /// Opens (and migrates) the database `config` names.
    pub fn open(config: &crate::config::Config) -> anyhow::Result<AdminDb> {
        match &config.database_url {
            None => Ok(AdminDb::Sqlite(open_admin(&config.db_path())?)),
            Some(url) => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()?;
                let connected = runtime.block_on(super::pg::connect(url))?;
                let db = connected
                    .db
                    .connect()
                    .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL: {e}"))?;
                Ok(AdminDb::Postgres {
                    db: Box::new(db),
                    _runtime: runtime,
                })
            }
        }
    }

    /// The connection.
    pub fn db(&self) -> &dyn Db {
        match self {
            AdminDb::Sqlite(c) => c,
            AdminDb::Postgres { db, .. } => db.as_ref(),
        }
    }
}

impl SqlStore {
    /// Opens (creating and migrating) the database; committed feed messages go to `feed_tx`.
    pub fn open(
        path: &Path,
        sync_full: bool,
        feed_tx: broadcast::Sender<Arc<super::writer::LiveMessage>>,
    ) -> anyhow::Result<SqlStore> {
        Self::open_with_clock(path, sync_full, feed_tx, Arc::new(SystemClock))
    }

    /// [`SqlStore::open`] with the clock the store reads "now" from.
    pub fn open_with_clock(
        path: &Path,
        sync_full: bool,
        feed_tx: broadcast::Sender<Arc<super::writer::LiveMessage>>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<SqlStore> {
        use anyhow::Context;
        // The writer never fsyncs on commit itself: with `sync_full` its syncer thread fsyncs
        // the WAL after each commit, off the writer's path, before anyone is answered.
        check_wal_belongs(path)?;
        restrict_mode(path)
            .with_context(|| format!("making {} private (mode 0600)", path.display()))?;
        let mut conn =
            open(path, false).with_context(|| format!("opening database {}", path.display()))?;
        schema::migrate(&mut conn).context("migrating the database schema")?;
        // A damaged file must not stop the server silently or take it down: it starts,
        // reports itself degraded on /healthz, and keeps refusing what it cannot store.
        let integrity_error =
            match conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)) {
                Ok(check) if check == "ok" => None,
                Ok(check) => Some(format!("database integrity check failed: {check}")),
                Err(e) => Some(format!("database integrity check failed: {e}")),
            };
        if let Some(e) = &integrity_error {
            tracing::error!(error = %e, path = %path.display(), "the database is damaged");
        }
        // A database or data dir the server cannot write is reported now (degraded on
        // /healthz), not when the first event fails.
        let integrity_error = integrity_error.or_else(|| not_writable(&conn, path));
        if let Some(e) = &integrity_error {
            tracing::error!(error = %e, path = %path.display(), "the store cannot write");
        }
        if let Some(pages) = std::env::var("MAESTRO_SQLITE_MAX_PAGES")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
        {
            // Caps the file size (SQLITE_FULL past it): how tests and operators simulate a
            // full disk.
            conn.pragma_update(None, "max_page_count", pages)?;
        }
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(Mutex::new(open(path, sync_full)?));
        }
        // The checkpointer thread copies the WAL back into the database every 10 ms (100 ms under
        // heavy writes) and has the writer let it start over at `WAL_RESTART_BYTES`
        // (`Writer::start_checkpointer`). The writer's
        // own automatic checkpoint, which copies everything since the last one and stalls
        // every job behind it (12-50 ms seen at 1,000 events/s), is only a safety net for a
        // WAL that the checkpointer could not bring back (a reader holding an old snapshot).
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_SAFETY_CHECKPOINT_BYTES / page_size.max(512),
        )?;
        // The writer walks the indexes of every table on each event: keep them in memory
        // (a cap, in KiB: 8 MiB, the default is 2 MiB).
        conn.pragma_update(None, "cache_size", -8192)?;
        let wal = sync_full.then(|| {
            let mut name = path.as_os_str().to_owned();
            name.push("-wal");
            PathBuf::from(name)
        });
        let writer = Writer::start(conn, feed_tx, Arc::new(AtomicBool::new(true)), wal);
        writer.start_checkpointer(
            open(path, sync_full)?,
            std::time::Duration::from_millis(10),
            WAL_RESTART_BYTES,
        );
        Ok(SqlStore {
            writer,
            readers: Readers::Sqlite {
                conns: readers,
                next: Default::default(),
            },
            path: path.to_path_buf(),
            integrity_error,
            retention_mark: Default::default(),
            feed_retention_mark: Default::default(),
            clock,
            replica: String::new(),
        })
    }

    /// Opens the PostgreSQL database at `url` (migrating it under a lock, so that replicas
    /// starting together do not race): team mode. Committed feed messages of every replica
    /// go to `feed_tx`. Needs the multi-threaded tokio runtime.
    /// `replica` names this replica (stable across its restarts: what it spawned and holds is
    /// recorded under it).
    pub fn open_postgres(
        url: &str,
        replica: String,
        feed_tx: broadcast::Sender<Arc<super::writer::LiveMessage>>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<SqlStore> {
        tokio::task::block_in_place(|| Self::open_postgres_blocking(url, replica, feed_tx, clock))
    }

    fn open_postgres_blocking(
        url: &str,
        replica: String,
        feed_tx: broadcast::Sender<Arc<super::writer::LiveMessage>>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<SqlStore> {
        use super::pg;
        let handle = tokio::runtime::Handle::current();
        let shared = handle.block_on(pg::connect(url))?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let conn = pg::write::PgWriteConn::open(Arc::clone(&shared.db), replica.clone())
            .map_err(|e| anyhow::anyhow!("connecting the writer to PostgreSQL: {e}"))?;
        let writer = Writer::start_with(
            conn,
            feed_tx.clone(),
            Arc::new(AtomicBool::new(true)),
            None,
            Some(Arc::clone(&wake)),
        );
        pg::follow::start(
            Arc::clone(&shared.db),
            feed_tx,
            writer.durable_seq_handle(),
            wake,
        );
        Ok(SqlStore {
            writer,
            readers: Readers::Postgres(Arc::clone(&shared.db)),
            path: PathBuf::new(),
            integrity_error: None,
            retention_mark: Default::default(),
            feed_retention_mark: Default::default(),
            clock,
            replica,
        })
    }

    /// Team mode: the store is PostgreSQL, shared with other replicas.
    fn is_team(&self) -> bool {
        matches!(self.readers, Readers::Postgres(_))
    }

    /// Runs a read on a pooled connection off the async runtime.
    async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Db) -> StoreResult<R> + Send + 'static,
    {
        // block_in_place: the read runs on this worker thread while the runtime moves other
        // tasks elsewhere; the closure may borrow the pool.
        tokio::task::block_in_place(|| match &self.readers {
            Readers::Sqlite { conns, next } => {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % conns.len();
                let conn = conns[i]
                    .lock()
                    .map_err(|_| StoreError::unavailable("reader lock poisoned"))?;
                f(&*conn)
            }
            Readers::Postgres(shared) => {
                let conn = shared.connect()?;
                f(&conn)
            }
        })
    }

    /// Runs `sql` (`?1` < seq <= `?2`, `?3` = `arg`) over `(mark, upto]` in bounded ranges,
    /// one short transaction each, so the writer keeps serving events between them and the
    /// WAL stays small; `mark` remembers where the next pass starts. Returns the rows changed.
    async fn in_ranges(
        &self,
        mark: &std::sync::atomic::AtomicI64,
        upto: i64,
        sql: &'static str,
        arg: Option<String>,
    ) -> StoreResult<u64> {
        let mut from = mark.load(std::sync::atomic::Ordering::Relaxed);
        let mut changed = 0u64;
        while from < upto {
            let to = (from + RETENTION_BATCH).min(upto);
            let arg = arg.clone();
            changed += self
                .writer
                .write(move |conn, _feed| Ok(conn.execute(sql, params![from, to, arg])? as u64))
                .await?;
            mark.fetch_max(to, std::sync::atomic::Ordering::Relaxed);
            from = to;
        }
        Ok(changed)
    }
}

fn scope_filter(scope: &Scope) -> (&'static str, String) {
    match scope {
        Scope::Session(id) => ("s.id = ?1", id.clone()),
        Scope::Task(id) => ("s.task_id = ?1", id.clone()),
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn validate_title(title: &str) -> StoreResult<String> {
    let t = title.trim();
    if t.is_empty() {
        return Err(StoreError::Invalid("title must not be empty".into()));
    }
    if t.chars().count() > 500 {
        return Err(StoreError::Invalid(
            "title is longer than 500 characters".into(),
        ));
    }
    Ok(t.to_string())
}

#[async_trait]
impl Store for SqlStore {
    async fn ingest(
        &self,
        envelope: Envelope,
        event: Option<HookEvent>,
        raw: axum::body::Bytes,
        decision: Option<DecisionRecord>,
        machine: Option<String>,
    ) -> StoreResult<IngestOutcome> {
        let now = self.clock.now();
        self.writer
            .write_repeatable(move |conn, feed| {
                let text = std::str::from_utf8(&raw)
                    .map_err(|e| StoreError::Invalid(format!("envelope is not UTF-8: {e}")))?;
                projection::ingest(
                    conn,
                    feed,
                    &envelope,
                    event.as_ref(),
                    text,
                    decision.as_ref(),
                    now,
                    machine.as_deref(),
                )
            })
            .await
    }

    async fn record_telemetry(
        &self,
        api_requests: Vec<super::cost::ApiRequest>,
        tool_events: Vec<super::tool_telemetry::ToolEvent>,
        machine: Option<String>,
    ) -> StoreResult<(usize, usize)> {
        let now = self.clock.now();
        // Repeatable (it only reads what it captured): it shares the savepoint of the hook
        // events around it instead of taking one of its own.
        self.writer
            .write_repeatable(move |conn, feed| {
                let machine = machine.as_deref();
                let requests = super::cost::insert(conn, feed, &api_requests, machine, now)?;
                let tools = super::tool_telemetry::insert(conn, feed, &tool_events, machine, now)?;
                Ok((requests, tools))
            })
            .await
    }

    async fn cost_report(
        &self,
        scope: super::cost::CostScope,
    ) -> StoreResult<maestro_shared::cost::CostReport> {
        self.read(move |conn| super::cost::report(conn, &scope))
            .await
    }

    async fn tool_telemetry(
        &self,
        scope: super::tool_telemetry::ToolScope,
    ) -> StoreResult<Vec<maestro_shared::cost::ToolTelemetry>> {
        self.read(move |conn| super::tool_telemetry::list(conn, &scope))
            .await
    }

    async fn task_costs(&self) -> StoreResult<Vec<maestro_shared::cost::TaskCost>> {
        self.read(super::cost::task_totals).await
    }

    async fn machine_credential(
        &self,
        token_hash: String,
    ) -> StoreResult<Option<super::machines::Credential>> {
        self.read(move |conn| super::machines::lookup(conn, &token_hash))
            .await
    }

    async fn task_spent(&self, task_id: &str) -> StoreResult<f64> {
        let id = task_id.to_string();
        self.read(move |conn| super::budget::task_spent(conn, &id))
            .await
    }

    async fn decision_context(
        &self,
        envelope: &Envelope,
        default_budget_usd: Option<f64>,
    ) -> StoreResult<DecisionContext> {
        let mid = envelope.maestro.session_id.clone();
        let claude = envelope
            .payload
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let task_hint = envelope.maestro.task_id.clone();
        self.read(move |conn| {
            let located = projection::locate_session(conn, mid.as_deref(), claude.as_deref())?;
            let (session_id, task_id) = match located {
                projection::Located::Existing(id) => {
                    let task: Option<String> = conn
                        .query_row("SELECT task_id FROM sessions WHERE id = ?1", [&id], |r| {
                            r.get(0)
                        })
                        .optional()?
                        .flatten();
                    (Some(id), task)
                }
                projection::Located::New(_) => (
                    None,
                    projection::task_for_new_session(conn, task_hint.as_deref())?,
                ),
                projection::Located::Nowhere => (None, None),
            };
            let task_policy: Option<String> = match &task_id {
                Some(t) => conn
                    .query_row("SELECT policy FROM tasks WHERE id = ?1", [t], |r| r.get(0))
                    .optional()?
                    .flatten(),
                None => None,
            };
            let budget = match &task_id {
                Some(t) => super::budget::state(conn, t, default_budget_usd)?,
                None => None,
            };
            Ok(DecisionContext {
                session_id,
                task_id,
                task_policy,
                budget,
            })
        })
        .await
    }

    async fn create_task(&self, input: TaskInput) -> StoreResult<Task> {
        super::budget::validate(input.budget_usd.flatten())?;
        let clock = Arc::clone(&self.clock);
        let title = validate_title(input.title.as_deref().unwrap_or(""))?;
        self.writer
            .write(move |conn, feed| {
                let id = new_id("t_");
                let now = clock.now();
                conn.execute(
                    "INSERT INTO tasks (id, title, description, status, working_dir, policy, created_at, updated_at, budget_usd) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
                    params![
                        id,
                        title,
                        input.description.unwrap_or_default(),
                        input.status.unwrap_or_default().as_str(),
                        input.working_dir,
                        input.policy,
                        fmt_ts(now),
                        input.budget_usd.flatten()
                    ],
                )?;
                emit_task(conn, feed, &id, now)?;
                load_task(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("task {id}")))
            })
            .await
    }

    async fn update_task(&self, id: &str, input: TaskInput) -> StoreResult<Task> {
        super::budget::validate(input.budget_usd.flatten())?;
        let clock = Arc::clone(&self.clock);
        let title = match &input.title {
            Some(t) => Some(validate_title(t)?),
            None => None,
        };
        let id = id.to_string();
        self.writer
            .write(move |conn, feed| {
                let n = conn.execute(
                    "UPDATE tasks SET title = COALESCE(?2, title), description = COALESCE(?3, description), \
                     status = COALESCE(?4, status), working_dir = COALESCE(?5, working_dir), \
                     policy = COALESCE(?6, policy), updated_at = ?7, \
                     budget_usd = CASE WHEN ?8 = 1 THEN ?9 ELSE budget_usd END WHERE id = ?1",
                    params![
                        id,
                        title,
                        input.description,
                        input.status.map(|s| s.as_str()),
                        input.working_dir,
                        input.policy,
                        fmt_ts(clock.now()),
                        input.budget_usd.is_some() as i64,
                        input.budget_usd.flatten()
                    ],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("task {id}")));
                }
                emit_task(conn, feed, &id, clock.now())?;
                load_task(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("task {id}")))
            })
            .await
    }

    async fn delete_task(&self, id: &str) -> StoreResult<()> {
        let clock = Arc::clone(&self.clock);
        let id = id.to_string();
        self.writer
            .write(move |conn, feed| {
                let n = conn.execute("DELETE FROM tasks WHERE id = ?1", [&id])?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("task {id}")));
                }
                let orphans: Vec<String> = {
                    let mut st = conn.prepare("SELECT id FROM sessions WHERE task_id = ?1")?;
                    let rows = st.query_map([&id], |r| r.get(0))?;
                    rows.collect::<super::sql::DbResult<_>>()?
                };
                conn.execute(
                    "UPDATE sessions SET task_id = NULL WHERE task_id = ?1",
                    [&id],
                )?;
                let now = clock.now();
                feed.push(
                    conn,
                    maestro_shared::ws::types::TASK_DELETED,
                    now,
                    Some(&id),
                    None,
                    json!({"id": id}),
                )?;
                for s in orphans {
                    emit_session(conn, feed, &s, now)?;
                }
                Ok(())
            })
            .await
    }

    async fn list_tasks(&self, status: Option<TaskStatus>) -> StoreResult<Vec<Task>> {
        self.read(move |conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {TASK_COLS} FROM tasks t WHERE (?1 IS NULL OR t.status = ?1) ORDER BY t.created_at"
            ))?;
            let rows = st.query_map([status.map(|s| s.as_str())], task_from_row)?;
            Ok(rows.collect::<super::sql::DbResult<_>>()?)
        })
        .await
    }

    async fn get_task(&self, id: &str) -> StoreResult<Task> {
        let id = id.to_string();
        self.read(move |conn| {
            load_task(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("task {id}")))
        })
        .await
    }

    async fn list_sessions(&self, f: SessionFilter) -> StoreResult<Vec<Session>> {
        self.read(move |conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {SESSION_COLS} FROM sessions WHERE (?1 IS NULL OR task_id = ?1) \
                 AND (?2 IS NULL OR state = ?2) AND (?3 = 0 OR task_id IS NULL) \
                 AND (?4 IS NULL OR claude_session_id = ?4 OR id IN \
                      (SELECT session_id FROM claude_sessions WHERE claude_session_id = ?4)) \
                 ORDER BY started_at DESC LIMIT ?5"
            ))?;
            let rows = st.query_map(
                params![
                    f.task_id,
                    f.state.map(|s| s.as_str()),
                    f.unassigned as i64,
                    f.claude_session_id,
                    f.limit.unwrap_or(500).clamp(1, 10_000)
                ],
                session_from_row,
            )?;
            Ok(rows.collect::<super::sql::DbResult<_>>()?)
        })
        .await
    }

    async fn get_session(&self, id: &str) -> StoreResult<Session> {
        let id = id.to_string();
        self.read(move |conn| {
            load_session(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("session {id}")))
        })
        .await
    }

    async fn claude_pid_start(&self, id: &str) -> StoreResult<Option<u64>> {
        let id = id.to_string();
        self.read(move |conn| {
            let start: Option<i64> = conn
                .query_row(
                    "SELECT claude_pid_start FROM sessions WHERE id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            Ok(start.and_then(|s| u64::try_from(s).ok()))
        })
        .await
    }

    async fn attach_session(&self, id: &str, task_id: Option<String>) -> StoreResult<Session> {
        let clock = Arc::clone(&self.clock);
        let id = id.to_string();
        self.writer
            .write(move |conn, feed| {
                let old = load_session(conn, &id)?
                    .ok_or_else(|| StoreError::NotFound(format!("session {id}")))?;
                if let Some(t) = &task_id {
                    if load_task(conn, t)?.is_none() {
                        return Err(StoreError::NotFound(format!("task {t}")));
                    }
                }
                conn.execute(
                    "UPDATE sessions SET task_id = ?2 WHERE id = ?1",
                    params![id, task_id],
                )?;
                let now = clock.now();
                for t in [old.task_id.as_ref(), task_id.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    refresh_task_status(conn, t, now)?;
                    emit_task(conn, feed, t, now)?;
                }
                emit_session(conn, feed, &id, now)?;
                load_session(conn, &id)?
                    .ok_or_else(|| StoreError::NotFound(format!("session {id}")))
            })
            .await
    }

    async fn create_spawned_session(
        &self,
        task_id: &str,
        spawn: Value,
        cwd: Option<String>,
    ) -> StoreResult<Session> {
        let clock = Arc::clone(&self.clock);
        let task_id = task_id.to_string();
        self.writer
            .write(move |conn, feed| {
                if load_task(conn, &task_id)?.is_none() {
                    return Err(StoreError::NotFound(format!("task {task_id}")));
                }
                let id = new_id("s_");
                let now = clock.now();
                conn.execute(
                    "INSERT INTO sessions (id, task_id, state, state_at, health, project_dir, cwd, spawned, started_at, spawn) \
                     VALUES (?1, ?2, 'starting', ?3, 'active', ?4, ?4, 1, ?3, ?5)",
                    params![id, task_id, fmt_ts(now), cwd, spawn.to_string()],
                )?;
                add_line(conn, feed, &Line {
                    session_id: &id, task_id: Some(&task_id), at: &fmt_ts(now),
                    kind: "session_start", event: "Spawn", summary: "Session spawned by Maestro",
                    status: "info", detail: Some(&spawn), ..Line::default()
                })?;
                refresh_task_status(conn, &task_id, now)?;
                emit_session(conn, feed, &id, now)?;
                load_session(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("session {id}")))
            })
            .await
    }

    async fn update_process(&self, id: &str, u: ProcessUpdate) -> StoreResult<Session> {
        let clock = Arc::clone(&self.clock);
        let id = id.to_string();
        self.writer
            .write(move |conn, feed| {
                let s = load_session(conn, &id)?
                    .ok_or_else(|| StoreError::NotFound(format!("session {id}")))?;
                let now = clock.now();
                // A process that ended after SessionEnd keeps the state SessionEnd gave it.
                let state = u.state.filter(|st| {
                    !(st.is_terminal() && s.state.is_terminal() && u.exit_code == Some(0))
                });
                // Queued and starting follow each other only: a session that started (or
                // ended) before its "queued" landed stays as it is, and only a queued one
                // moves to starting.
                let state = state.filter(|st| match st {
                    SessionState::Queued => s.state == SessionState::Starting,
                    SessionState::Starting => s.state == SessionState::Queued,
                    _ => true,
                });
                conn.execute(
                    "UPDATE sessions SET pid = COALESCE(?2, pid), \
                       state = COALESCE(?3, state), \
                       state_at = CASE WHEN ?3 IS NOT NULL THEN ?8 ELSE state_at END, \
                       exit_code = COALESCE(?4, exit_code), \
                       end_reason = COALESCE(?5, end_reason), result = COALESCE(?6, result), \
                       ended_at = CASE WHEN ?7 = 1 AND ended_at IS NULL THEN ?8 ELSE ended_at END, \
                       health = CASE WHEN ?7 = 1 THEN 'ended' ELSE health END, \
                       blocked_on = CASE WHEN ?7 = 1 THEN NULL ELSE blocked_on END, \
                       claude_pid = CASE WHEN ?2 IS NOT NULL AND claude_pid IS NULL THEN ?2 ELSE claude_pid END \
                     WHERE id = ?1",
                    params![
                        id,
                        u.pid,
                        state.map(|s| s.as_str()),
                        u.exit_code,
                        u.end_reason,
                        u.result.as_ref().map(Value::to_string),
                        u.ended as i64,
                        fmt_ts(now)
                    ],
                )?;
                if u.ended {
                    // Approvals the agent can no longer receive (each one a committed
                    // `approval:resolved`, so no browser keeps a stale modal).
                    let lost = state == Some(SessionState::Lost);
                    let by = if lost { "process gone" } else { "session ended" };
                    let gone_pid = if lost && !s.spawned { s.claude_pid } else { None };
                    crate::store::approvals::end_session(conn, feed, &id, by, gone_pid, now)?;
                }
                if let Some((kind, summary, status, detail)) = &u.timeline {
                    add_line(conn, feed, &Line {
                        session_id: &id, task_id: s.task_id.as_deref(), at: &fmt_ts(now), kind,
                        event: "Process", summary, status, detail: detail.as_ref(),
                        ..Line::default()
                    })?;
                }
                if let Some(t) = &s.task_id {
                    refresh_task_status(conn, t, now)?;
                }
                emit_session(conn, feed, &id, now)?;
                load_session(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("session {id}")))
            })
            .await
    }

    async fn timeline(
        &self,
        scope: Scope,
        after_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<TimelineItem>> {
        self.read(move |conn| {
            let (filter, key) = scope_filter(&scope);
            let mut st = conn.prepare(&format!(
                "SELECT {TIMELINE_COLS} FROM timeline l JOIN sessions s ON s.id = l.session_id \
                 WHERE {filter} AND (?2 IS NULL OR l.id > ?2) ORDER BY l.at, l.id LIMIT ?3"
            ))?;
            let rows = st.query_map(
                params![key, after_id, limit.clamp(1, 100_000)],
                timeline_from_row,
            )?;
            Ok(rows.collect::<super::sql::DbResult<_>>()?)
        })
        .await
    }

    async fn errors(&self, scope: Scope) -> StoreResult<Vec<TimelineItem>> {
        self.read(move |conn| {
            let (filter, key) = scope_filter(&scope);
            let mut st = conn.prepare(&format!(
                "SELECT {TIMELINE_COLS} FROM timeline l JOIN sessions s ON s.id = l.session_id \
                 WHERE {filter} AND l.status = 'error' ORDER BY l.at, l.id LIMIT 10000"
            ))?;
            let rows = st.query_map([key], timeline_from_row)?;
            Ok(rows.collect::<super::sql::DbResult<_>>()?)
        })
        .await
    }

    async fn metrics(&self, scope: Scope) -> StoreResult<Metrics> {
        self.read(move |conn| {
            let (filter, key) = scope_filter(&scope);
            let mut st = conn.prepare(&format!(
                "SELECT c.tool_name, c.status, c.duration_ms FROM tool_calls c \
                 JOIN sessions s ON s.id = c.session_id \
                 WHERE {filter} AND c.status IN ('ok','error')"
            ))?;
            let mut per: std::collections::BTreeMap<String, (i64, i64, Vec<f64>)> =
                Default::default();
            let rows = st.query_map([&key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                ))
            })?;
            for row in rows {
                let (tool, status, dur) = row?;
                let e = per.entry(tool).or_default();
                if status == "ok" {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
                if let Some(d) = dur {
                    e.2.push(d);
                }
            }
            let mut tools: Vec<ToolMetric> = per
                .into_iter()
                .map(|(tool, (ok, err, mut durs))| {
                    durs.sort_by(|a, b| a.total_cmp(b));
                    let calls = ok + err;
                    ToolMetric {
                        tool,
                        calls,
                        successes: ok,
                        failures: err,
                        success_rate: (calls > 0).then(|| ok as f64 / calls as f64),
                        p50_ms: percentile(&durs, 50.0),
                        p95_ms: percentile(&durs, 95.0),
                    }
                })
                .collect();
            tools.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.tool.cmp(&b.tool)));
            let events: i64 = conn.query_row(
                &format!("SELECT COALESCE(SUM(s.event_count), 0) FROM sessions s WHERE {filter}"),
                [&key],
                |r| r.get(0),
            )?;
            let results: Vec<Value> = {
                let mut st = conn.prepare(&format!(
                    "SELECT s.result FROM sessions s WHERE {filter} AND s.result IS NOT NULL"
                ))?;
                let rows = st.query_map([&key], |r| r.get::<_, String>(0))?;
                rows.filter_map(|r| r.ok())
                    .filter_map(|t| serde_json::from_str(&t).ok())
                    .collect()
            };
            Ok(Metrics {
                total_calls: tools.iter().map(|t| t.calls).sum(),
                total_failures: tools.iter().map(|t| t.failures).sum(),
                tools,
                events,
                result: sum_results(&results),
            })
        })
        .await
    }

    async fn events_since(
        &self,
        since: i64,
        limit: i64,
        session_id: Option<String>,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| {
            // Two statements so that each can use its index (rowid, or `events_session`).
            let mut st = conn.prepare(if session_id.is_some() {
                "SELECT seq, event_id, event, captured_at, received_at, session_id, malformed, envelope \
                 FROM events WHERE session_id = ?2 AND seq > ?1 ORDER BY seq LIMIT ?3"
            } else {
                "SELECT seq, event_id, event, captured_at, received_at, session_id, malformed, envelope \
                 FROM events WHERE seq > ?1 AND ?2 IS NULL ORDER BY seq LIMIT ?3"
            })?;
            let rows = st.query_map(
                params![since, session_id, limit.clamp(1, 100_000)],
                stored_event_from_row,
            )?;
            Ok(rows.collect::<super::sql::DbResult<_>>()?)
        })
        .await
    }

    async fn event(&self, event_id: &str) -> StoreResult<StoredEvent> {
        let event_id = event_id.to_string();
        self.read(move |conn| {
            conn.query_row(
                "SELECT seq, event_id, event, captured_at, received_at, session_id, malformed, envelope \
                 FROM events WHERE event_id = ?1",
                [&event_id],
                stored_event_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("event {event_id}")))
        })
        .await
    }

    async fn activity(
        &self,
        query: crate::search::ActivityQuery,
    ) -> StoreResult<crate::search::ActivityPage> {
        self.read(move |conn| Ok(super::fts::search(conn, &query)?))
            .await
    }

    async fn session_summaries(
        &self,
        ids: Vec<String>,
    ) -> StoreResult<Vec<crate::search::SessionSummary>> {
        self.read(move |conn| Ok(super::fts::session_summaries(conn, &ids)?))
            .await
    }

    async fn feed_since(&self, since: i64, limit: i64) -> StoreResult<Vec<WsMessage>> {
        // Only what is durable: a batch committed but not yet synced is broadcast (and so
        // reaches the subscriber) once its fsync is done.
        let durable = self.writer.durable_seq();
        self.read(move |conn| {
            let rows = conn.rows(
                &format!(
                    "SELECT {FEED_COLS} FROM feed WHERE seq > ?1 AND seq <= ?3 ORDER BY seq LIMIT ?2"
                ),
                params![since, limit.clamp(1, 100_000), durable],
                |r| Ok(feed_from_row(r)?.0),
            )?;
            Ok(rows)
        })
        .await
    }

    async fn notify_enqueue(
        &self,
        destinations: Arc<Vec<crate::notify::Destination>>,
        public_url: String,
    ) -> StoreResult<usize> {
        let now = self.clock.now();
        self.writer
            .write(move |conn, _feed| super::notify::enqueue(conn, &destinations, &public_url, now))
            .await
    }

    async fn notify_due(&self, limit: usize) -> StoreResult<Vec<crate::notify::Delivery>> {
        let now = self.clock.now();
        self.read(move |conn| super::notify::due(conn, now, limit))
            .await
    }

    async fn notify_record(
        &self,
        id: i64,
        outcome: Result<(), String>,
        retry: Option<std::time::Duration>,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        self.writer
            .write(move |conn, _feed| super::notify::record(conn, id, &outcome, retry, now))
            .await
    }

    async fn notify_destinations(&self) -> StoreResult<Vec<super::StoredDestination>> {
        self.read(super::notify::destinations).await
    }

    async fn save_notify_destination(
        &self,
        destination: crate::notify::Destination,
        create: bool,
        actor: String,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        self.writer
            .write(move |conn, _feed| {
                super::notify::save_destination(conn, &destination, create, &actor, now)
            })
            .await
    }

    async fn delete_notify_destination(&self, name: String, actor: String) -> StoreResult<()> {
        let now = self.clock.now();
        self.writer
            .write(move |conn, _feed| super::notify::delete_destination(conn, &name, &actor, now))
            .await
    }

    async fn operator_for_token_hash(&self, token_hash: &str) -> StoreResult<Option<String>> {
        let hash = token_hash.to_string();
        self.read(move |conn| super::people::operator_for_hash(conn, &hash))
            .await
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        reason: Option<String>,
        operator: String,
    ) -> StoreResult<Approval> {
        let (id, now) = (id.to_string(), self.clock.now());
        self.writer
            .write(move |conn, feed| {
                let trigger = crate::approvals::machine::Trigger::Operator { approve };
                match crate::store::approvals::transition(
                    conn,
                    feed,
                    &id,
                    trigger,
                    Some(&operator),
                    reason.as_deref(),
                    now,
                )? {
                    Ok(a) => {
                        super::people::record_audit(
                            conn,
                            now,
                            &operator,
                            if approve {
                                "approval.approve"
                            } else {
                                "approval.deny"
                            },
                            &id,
                            &json!({"summary": a.summary, "session_id": a.session_id,
                                "reason": a.decision_reason}),
                        )?;
                        Ok(a)
                    }
                    Err(current) => Err(StoreError::Conflict(format!(
                        "approval {id} was already {}",
                        crate::approvals::machine::describe(current.status)
                    ))),
                }
            })
            .await
    }

    async fn record_audit(
        &self,
        actor: String,
        action: &'static str,
        subject: String,
        detail: Value,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        self.writer
            .write(move |conn, _| {
                super::people::record_audit(conn, now, &actor, action, &subject, &detail)
            })
            .await
    }

    async fn list_audit(&self, limit: usize) -> StoreResult<Vec<super::people::AuditEntry>> {
        self.read(move |conn| super::people::list_audit(conn, limit))
            .await
    }

    async fn list_notifications(&self, limit: usize) -> StoreResult<Vec<crate::notify::LogEntry>> {
        self.read(move |conn| super::notify::log(conn, limit)).await
    }

    async fn tick_health(&self, th: HealthThresholds) -> StoreResult<usize> {
        let clock = Arc::clone(&self.clock);
        self.writer
            .write(move |conn, feed| {
                let now = clock.now();
                let idle =
                    fmt_ts(now - chrono::Duration::from_std(th.idle_after).unwrap_or_default());
                let stale =
                    fmt_ts(now - chrono::Duration::from_std(th.stale_after).unwrap_or_default());
                let mut st = conn.prepare(
                    "SELECT id, health, CASE \
                       WHEN COALESCE(last_event_at, started_at) < ?2 THEN 'stale' \
                       WHEN COALESCE(last_event_at, started_at) < ?1 THEN 'idle' \
                       ELSE 'active' END \
                     FROM sessions WHERE state NOT IN ('completed','failed','lost','queued')",
                )?;
                let changes: Vec<(String, String)> = st
                    .query_map(params![idle, stale], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })?
                    .filter_map(|r| r.ok())
                    .filter(|(_, old, new)| old != new)
                    .map(|(id, _, new)| (id, new))
                    .collect();
                for (id, health) in &changes {
                    debug_assert!(Health::parse(health).is_some());
                    conn.execute(
                        "UPDATE sessions SET health = ?2 WHERE id = ?1",
                        params![id, health],
                    )?;
                    emit_session(conn, feed, id, now)?;
                }
                Ok(changes.len())
            })
            .await
    }

    async fn list_approvals(&self, f: ApprovalFilter) -> StoreResult<Vec<Approval>> {
        self.read(move |conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {APPROVAL_COLS} FROM approvals a LEFT JOIN sessions s ON s.id = a.session_id \
                 WHERE (?1 IS NULL OR a.status = ?1) AND (?2 IS NULL OR a.session_id = ?2) \
                 AND (?3 IS NULL OR s.task_id = ?3) ORDER BY a.created_at DESC LIMIT 1000"
            ))?;
            let rows = st.query_map(
                params![f.status.map(approval_status_str), f.session_id, f.task_id],
                approval_from_row,
            )?;
            Ok(rows.collect::<super::sql::DbResult<_>>()?)
        })
        .await
    }

    async fn get_approval(&self, id: &str) -> StoreResult<Approval> {
        let id = id.to_string();
        self.read(move |conn| {
            load_approval(conn, &id)?.ok_or_else(|| StoreError::NotFound(format!("approval {id}")))
        })
        .await
    }

    async fn resolve_approval(
        &self,
        id: &str,
        trigger: crate::approvals::machine::Trigger,
        reason: Option<String>,
    ) -> StoreResult<Approval> {
        let clock = Arc::clone(&self.clock);
        let id = id.to_string();
        self.writer
            .write(move |conn, feed| {
                match crate::store::approvals::transition(
                    conn,
                    feed,
                    &id,
                    trigger,
                    None,
                    reason.as_deref(),
                    clock.now(),
                )? {
                    Ok(a) => Ok(a),
                    Err(current) => Err(StoreError::Conflict(format!(
                        "approval {id} was already {}",
                        crate::approvals::machine::describe(current.status)
                    ))),
                }
            })
            .await
    }

    async fn apply_retention(
        &self,
        max_age: Option<std::time::Duration>,
        max_bytes: Option<u64>,
    ) -> StoreResult<u64> {
        let clock = Arc::clone(&self.clock);
        // The last seq to clear: by age (received before the cutoff) and by size (everything
        // older than the newest `max_bytes` of payloads).
        let by_age = match max_age {
            Some(age) => {
                let cutoff =
                    fmt_ts(clock.now() - chrono::Duration::from_std(age).unwrap_or_default());
                self.read(move |conn| last_received_before(conn, &cutoff))
                    .await?
            }
            None => 0,
        };
        let by_size = match max_bytes {
            Some(limit) => {
                self.read(move |conn| {
                    // Newest first, until the limit is passed: reads what is kept, not the
                    // whole table.
                    // (`SUM` over a window: the running total of the newest first.)
                    let cut: Option<i64> = conn
                        .query_row(
                            "SELECT seq FROM (SELECT seq, SUM(size) OVER (ORDER BY seq DESC) \
                             AS kept FROM events WHERE envelope IS NOT NULL) AS k \
                             WHERE kept > ?1 ORDER BY seq DESC LIMIT 1",
                            [limit as i64],
                            |r| r.get(0),
                        )
                        .optional()?;
                    Ok(cut.unwrap_or(0))
                })
                .await?
            }
            None => 0,
        };
        let cleared = self
            .in_ranges(
                &self.retention_mark,
                by_age.max(by_size),
                "UPDATE events SET envelope = NULL \
                 WHERE seq > ?1 AND seq <= ?2 AND envelope IS NOT NULL AND ?3 IS NULL",
                None,
            )
            .await?;
        if let Some(age) = max_age {
            // Feed messages up to the last old event, by their capture time, but never the
            // newest one, so that `MAX(seq)` of `feed` stays the true high-water mark (the
            // writer's seqs count on from it; older builds let SQLite number rows after it).
            let cutoff = fmt_ts(clock.now() - chrono::Duration::from_std(age).unwrap_or_default());
            self.in_ranges(
                &self.feed_retention_mark,
                by_age,
                "DELETE FROM feed WHERE seq > ?1 AND seq <= ?2 AND at < ?3 \
                 AND seq < (SELECT MAX(seq) FROM feed)",
                Some(cutoff),
            )
            .await?;
        }
        Ok(cleared)
    }

    async fn stats(&self) -> StoreResult<StoreStats> {
        let path = self.path.clone();
        let latest_seq = self.writer.durable_seq();
        self.read(move |conn| {
            let events: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
            let mut st = conn.prepare("SELECT state, COUNT(*) FROM sessions GROUP BY state")?;
            let sessions_by_state = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<super::sql::DbResult<_>>()?;
            let pending_approvals: i64 = conn.query_row(
                "SELECT COUNT(*) FROM approvals WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )?;
            let (db_bytes, database) = match conn.dialect() {
                super::sql::Dialect::Sqlite => (
                    std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
                        + std::fs::metadata(path.with_extension("db-wal"))
                            .map(|m| m.len())
                            .unwrap_or(0),
                    "sqlite".to_string(),
                ),
                super::sql::Dialect::Postgres => conn.query_row(
                    "SELECT pg_database_size(current_database()), current_setting('server_version')",
                    [],
                    |r| Ok((r.get::<_, u64>(0)?, format!("postgresql {}", r.get::<_, String>(1)?))),
                )?,
            };
            Ok(StoreStats {
                events,
                latest_seq,
                sessions_by_state,
                pending_approvals,
                db_bytes,
                database,
            })
        })
        .await
    }

    async fn hold_lease(&self, name: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        if !self.is_team() {
            return Ok(true);
        }
        let now = self.clock.now().timestamp_millis();
        let until = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let (name, me) = (name.to_string(), self.replica.clone());
        self.read(move |conn| {
            // Taken when free, expired, or already ours; autocommit, outside the writer.
            let held = conn
                .query_row(
                    "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     expires_at = excluded.expires_at \
                     WHERE leases.holder = excluded.holder OR leases.expires_at < ?4 \
                     RETURNING holder",
                    params![name, me, until, now],
                    |r| r.get::<_, String>(0),
                )
                .optional()?;
            Ok(held.is_some())
        })
        .await
    }

    async fn replica_heartbeat(&self, dead_after: std::time::Duration) -> StoreResult<Vec<String>> {
        if !self.is_team() {
            return Ok(Vec::new());
        }
        let now = self.clock.now().timestamp_millis();
        let cutoff = now - i64::try_from(dead_after.as_millis()).unwrap_or(i64::MAX / 2);
        let me = self.replica.clone();
        self.read(move |conn| {
            conn.execute(
                "INSERT INTO replicas (id, started_at, heartbeat_at) VALUES (?1, ?2, ?2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                params![me, now],
            )?;
            Ok(conn.rows(
                "SELECT id FROM replicas WHERE heartbeat_at < ?1 AND id <> ?2 ORDER BY id",
                params![cutoff, me],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn left_by_replica(&self, replica: &str) -> StoreResult<(Vec<String>, Vec<String>)> {
        if !self.is_team() {
            return Ok((Vec::new(), Vec::new()));
        }
        let replica = replica.to_string();
        self.read(move |conn| {
            let sessions = conn.rows(
                "SELECT id FROM sessions WHERE replica = ?1 AND spawned = 1 \
                 AND ended_at IS NULL ORDER BY id",
                [&replica],
                |r| r.get(0),
            )?;
            let approvals = conn.rows(
                "SELECT id FROM approvals WHERE replica = ?1 AND status = 'pending' \
                 ORDER BY created_at",
                [&replica],
                |r| r.get(0),
            )?;
            Ok((sessions, approvals))
        })
        .await
    }

    async fn forget_replica(&self, replica: &str) -> StoreResult<()> {
        if !self.is_team() {
            return Ok(());
        }
        let replica = replica.to_string();
        self.read(move |conn| {
            conn.execute("DELETE FROM replicas WHERE id = ?1", [&replica])?;
            Ok(())
        })
        .await
    }

    fn latest_seq(&self) -> i64 {
        self.writer.durable_seq()
    }

    fn is_healthy(&self) -> bool {
        self.integrity_error.is_none() && self.writer.is_healthy()
    }

    fn problem(&self) -> Option<String> {
        self.integrity_error.clone().or_else(|| {
            if self.writer.is_dead() {
                return Some(
                    "the writer thread died: no event can be stored until the server restarts"
                        .to_string(),
                );
            }
            (!self.writer.is_healthy()).then(|| "the last write could not be committed".to_string())
        })
    }
}

fn stored_event_from_row(r: &Row<'_>) -> super::sql::DbResult<StoredEvent> {
    // Read as bytes: a damaged row (invalid UTF-8 or JSON) shows no envelope instead of failing
    // the whole listing.
    let envelope = match r.value(7)? {
        super::sql::Val::Text(t) => serde_json::from_str::<Value>(&t).ok(),
        super::sql::Val::Blob(b) => serde_json::from_slice::<Value>(&b).ok(),
        _ => None,
    };
    Ok(StoredEvent {
        seq: r.get(0)?,
        event_id: r.get(1)?,
        event: r.get(2)?,
        captured_at: r.get(3)?,
        received_at: r.get(4)?,
        session_id: r.get(5)?,
        malformed: r.get::<_, i64>(6)? != 0,
        envelope,
    })
}

/// Sums the figures of stream-json `result` records (cost, turns, tokens, denials).
fn sum_results(results: &[Value]) -> Option<Value> {
    if results.is_empty() {
        return None;
    }
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let usage = |v: &Value, k: &str| {
        v.get("usage")
            .and_then(|u| u.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let mut out = json!({"sessions": results.len()});
    let fields = [
        (
            "total_cost_usd",
            results
                .iter()
                .map(|r| num(r, "total_cost_usd"))
                .sum::<f64>(),
        ),
        (
            "num_turns",
            results.iter().map(|r| num(r, "num_turns")).sum(),
        ),
        (
            "duration_ms",
            results.iter().map(|r| num(r, "duration_ms")).sum(),
        ),
        (
            "input_tokens",
            results.iter().map(|r| usage(r, "input_tokens")).sum(),
        ),
        (
            "output_tokens",
            results.iter().map(|r| usage(r, "output_tokens")).sum(),
        ),
        (
            "permission_denials",
            results
                .iter()
                .map(|r| {
                    r.get("permission_denials")
                        .and_then(Value::as_array)
                        .map_or(0.0, |a| a.len() as f64)
                })
                .sum(),
        ),
    ];
    for (k, v) in fields {
        out[k] = json!(v);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::last_received_before;
    use rusqlite::Connection;

    /// The binary search finds the last event received before the cutoff, whatever the gaps
    /// between event seqs (the other feed messages take seqs too).
    #[test]
    fn last_received_before_searches_by_seq() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::schema::migrate(&mut conn).expect("schema");
        // The receive time of the i-th event.
        let at = |i: usize| format!("2026-01-01T00:{:02}:{:02}Z", i / 60, i % 60);
        let mut seqs = Vec::new();
        let mut seq: i64 = 0;
        for i in 0..200usize {
            seq += 1 + (i as i64 * 7) % 5;
            seqs.push(seq);
            conn.execute(
                "INSERT INTO events (seq, event_id, event, captured_at, received_at, size) \
                 VALUES (?1, ?2, 'Stop', 't', ?3, 0)",
                rusqlite::params![seq, format!("e{i}"), at(i)],
            )
            .expect("insert");
        }
        assert_eq!(last_received_before(&conn, &at(0)).expect("search"), 0);
        for i in [1, 2, 57, 100, 199] {
            assert_eq!(
                last_received_before(&conn, &at(i)).expect("search"),
                seqs[i - 1],
                "{i}"
            );
        }
        assert_eq!(
            last_received_before(&conn, "2027").expect("search"),
            seqs[199]
        );
        let mut empty = Connection::open_in_memory().expect("open");
        super::schema::migrate(&mut empty).expect("schema");
        assert_eq!(last_received_before(&empty, "2027").expect("search"), 0);
    }
}
