//! The writer thread's loop: runs jobs in one open transaction and commits it when nothing
//! else is queued and the previous commit is durable (or after [`MAX_BATCH`] jobs).
//!
//! Jobs that cannot run again ([`WriteJob::repeatable`] false) each run in a savepoint of their
//! own, so one failing job does not undo the others. Repeatable jobs (ingest) share one
//! savepoint per run of consecutive jobs; when one of them fails, the run is rolled back and
//! its jobs run again one by one in their own savepoints. Either way only the failing job's
//! writes are lost.

use super::sql::{Db, DbError, DbExt, DbResult};
use super::syncer::{Committed, Outlet, Syncer};
use super::writer::{Feed, JobStatus, Msg, WriteJob};
use super::StoreError;
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::{self, error::TryRecvError};

/// Most jobs folded into one transaction.
const MAX_BATCH: usize = 1024;

/// The writer thread's connection: what the loop needs beyond running statements, which
/// differs between the embedded file and a PostgreSQL shared by several replicas.
pub trait WriteConn: Send + 'static {
    /// The connection the jobs run on.
    fn db(&self) -> &dyn Db;
    /// The highest seq ever handed out (read once, at start).
    fn last_seq(&self) -> DbResult<i64>;
    /// Begins the write transaction; returns the highest feed seq stored, after which this
    /// transaction's messages are numbered. On PostgreSQL this also takes the feed's append
    /// lock, held until the commit: transactions that append commit in seq order.
    fn begin(&mut self) -> DbResult<i64>;
    /// Commits; `last_seq` is the last seq the transaction's feed handed out, if any.
    fn commit(&mut self, last_seq: Option<i64>) -> DbResult<()>;
    /// Rolls back what is left of a transaction whose commit failed.
    fn rollback(&mut self);
    /// Checkpoints the WAL between transactions (SQLite only).
    fn checkpoint(&mut self) {}
}

impl WriteConn for Connection {
    fn db(&self) -> &dyn Db {
        self
    }

    fn last_seq(&self) -> DbResult<i64> {
        // Events keep their message's seq, so a database whose newest feed rows an older
        // build's retention deleted still has it in `events`.
        DbExt::query_row(
            self,
            "SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM feed), \
                        (SELECT COALESCE(MAX(seq), 0) FROM events))",
            [],
            |r| r.get(0),
        )
    }

    fn begin(&mut self) -> DbResult<i64> {
        self.exec_cached("BEGIN IMMEDIATE", [])?;
        // Never below what `feed` holds: if a row ever got there without the counter (another
        // process on the same file, a write that failed to roll back), the counter catches up
        // instead of failing every later message on `feed.seq`. One seek on the last page.
        Ok(self
            .row_cached("SELECT COALESCE(MAX(seq), 0) FROM feed", [], |r| r.get(0))
            .unwrap_or(0))
    }

    fn commit(&mut self, _last_seq: Option<i64>) -> DbResult<()> {
        self.exec_cached("COMMIT", []).map(|_| ())
    }

    fn rollback(&mut self) {
        if !self.is_autocommit() {
            let _ = Db::batch(self, "ROLLBACK");
        }
    }

    fn checkpoint(&mut self) {
        if let Err(e) = self.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint from the writer failed");
        }
    }
}

/// A database error as the writer reports it: the storage failed.
fn unavailable(context: &str, e: DbError) -> StoreError {
    match StoreError::from(e) {
        StoreError::Unavailable { cause, .. } | StoreError::Internal { cause, .. } => {
            StoreError::Unavailable {
                context: context.into(),
                cause,
            }
        }
        other => other,
    }
}

/// The writer thread: until every `Writer` handle is dropped.
pub(super) fn run<C: WriteConn>(
    mut conn: C,
    mut rx: mpsc::Receiver<Msg>,
    out: Outlet,
    syncer: Option<Syncer>,
    commits: Arc<AtomicU64>,
    mut next_seq: i64,
) {
    let mut txn: Option<Txn> = None;
    let mut restart = Restart::default();
    // Answers a transaction's jobs after its fsync (or at once without a syncer), in commit
    // order: the store's health follows the last transaction delivered.
    let hand_over = |c: Committed| match &syncer {
        Some(s) => s.send(c, &out),
        None => out.deliver(c, Ok(())),
    };
    // Commits `t`; the seqs its feed handed out are used up only if the commit succeeded.
    let commit = |conn: &mut C, t: Txn, restart: &mut Restart, next_seq: &mut i64| {
        let end = t.feed.next_seq();
        let c = t.commit(conn);
        if c.commit.is_ok() {
            *next_seq = end;
        }
        commits.fetch_add(1, Ordering::Relaxed);
        hand_over(c);
        restart.after_commit(conn);
    };
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if txn.is_some() && syncer.as_ref().is_none_or(Syncer::idle) {
                    if let Some(t) = txn.take() {
                        commit(&mut conn, t, &mut restart, &mut next_seq);
                    }
                    continue;
                }
                // Nothing queued: wait for a job, or (a transaction open while the syncer
                // works) for the syncer's wake-up.
                match rx.blocking_recv() {
                    Some(m) => m,
                    None => break,
                }
            }
        };
        let job = match msg {
            Msg::Job(job) => job,
            Msg::Wake => continue,
            #[cfg(test)]
            Msg::Crash => panic!("the writer loop was told to crash (test)"),
            Msg::Checkpoint(pending) => {
                restart.due = Some(pending);
                if txn.is_none() {
                    restart.checkpoint(&mut conn);
                }
                continue;
            }
        };
        let t = match txn.take() {
            Some(t) => t,
            None => match Txn::begin(&mut conn, next_seq) {
                Ok(t) => t,
                Err(e) => {
                    // Refused like a failed commit, and in commit order, so that an earlier
                    // transaction's delivery cannot mark the store healthy after this.
                    hand_over(Committed {
                        commit: Err(e),
                        storage_failed: true,
                        jobs: vec![job],
                        msgs: Vec::new(),
                    });
                    continue;
                }
            },
        };
        let t = t.run(conn.db(), job);
        if t.jobs >= MAX_BATCH || t.aborted {
            commit(&mut conn, t, &mut restart, &mut next_seq);
        } else {
            txn = Some(t);
        }
    }
    if let Some(t) = txn.take() {
        commit(&mut conn, t, &mut restart, &mut next_seq);
    }
}

/// A WAL restart the checkpointer asked for (`Msg::Checkpoint`), never run inside a
/// transaction. The checkpointer holds its own checkpoints from the request until the commit
/// after the writer's checkpoint: SQLite restarts the WAL when that commit writes its first
/// frame, and gives up silently if another connection's checkpoint holds a read lock then.
#[derive(Default)]
struct Restart {
    /// Asked for: checkpoint after the next commit (or at once between transactions).
    due: Option<Arc<AtomicBool>>,
    /// Checkpointed: the next commit restarts the WAL; then the flag is cleared.
    awaiting: Option<Arc<AtomicBool>>,
}

impl Restart {
    fn after_commit<C: WriteConn>(&mut self, conn: &mut C) {
        if let Some(pending) = self.awaiting.take() {
            pending.store(false, Ordering::Release);
        }
        self.checkpoint(conn);
    }

    /// Checkpoints the WAL from the writer's connection if asked to. The checkpointer thread
    /// has just copied all but the last few frames, so there is little to copy (the fsync of
    /// the database remains).
    fn checkpoint<C: WriteConn>(&mut self, conn: &mut C) {
        let Some(pending) = self.due.take() else {
            return;
        };
        conn.checkpoint();
        self.awaiting = Some(pending);
    }
}

/// The open transaction.
struct Txn {
    feed: Feed,
    /// Jobs that ran in their own savepoint (or whose run was released), awaiting the commit.
    done: Vec<Box<dyn WriteJob>>,
    /// Repeatable jobs run since `SAVEPOINT run`, and the feed length before them.
    run: Vec<Box<dyn WriteJob>>,
    run_mark: usize,
    jobs: usize,
    storage_failed: bool,
    /// SQLite rolled the whole transaction back (it does on some I/O errors): commit now.
    aborted: bool,
}

impl Txn {
    fn begin<C: WriteConn>(conn: &mut C, next_seq: i64) -> Result<Txn, StoreError> {
        let stored = match conn.begin() {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write transaction");
                return Err(unavailable("begin a write transaction", e));
            }
        };
        Ok(Txn {
            feed: Feed::new(next_seq.max(stored + 1)),
            done: Vec::new(),
            run: Vec::new(),
            run_mark: 0,
            jobs: 0,
            storage_failed: false,
            aborted: false,
        })
    }

    fn run(mut self, conn: &dyn Db, mut job: Box<dyn WriteJob>) -> Txn {
        self.jobs += 1;
        if !job.repeatable() {
            self.release_run(conn);
            self.run_alone(conn, job);
            return self;
        }
        if self.run.is_empty() {
            if let Err(e) = conn.exec_cached("SAVEPOINT run", []) {
                tracing::error!(error = %e, "savepoint failed");
                self.run_alone(conn, job);
                return self;
            }
            self.run_mark = self.feed.msgs.len();
        }
        let status = job.run(conn, &mut self.feed);
        self.run.push(job);
        if status != JobStatus::Ok {
            self.redo_run(conn);
        }
        self
    }

    /// Runs a job in a savepoint of its own; rolls it back if it did not succeed.
    fn run_alone(&mut self, conn: &dyn Db, mut job: Box<dyn WriteJob>) {
        if self.aborted {
            self.done.push(job);
            return;
        }
        if let Err(e) = conn.exec_cached("SAVEPOINT job", []) {
            tracing::error!(error = %e, "savepoint failed");
            self.storage_failed = true;
            self.done.push(job);
            return;
        }
        let mark = self.feed.msgs.len();
        let status = job.run(conn, &mut self.feed);
        self.storage_failed |= status == JobStatus::StorageFailed;
        if status != JobStatus::Ok {
            self.feed.truncate(mark);
        }
        // SQLite may have rolled back the whole transaction already (see `redo_run`).
        self.aborted |= !conn.in_transaction();
        if !self.aborted {
            if status != JobStatus::Ok {
                if let Err(e) = conn.exec_cached("ROLLBACK TO job", []) {
                    // The failed job's writes would be committed with the others: give up
                    // the whole transaction instead (its jobs are refused, the hooks retry).
                    tracing::error!(error = %e, "rollback to savepoint failed");
                    self.aborted = true;
                }
            }
            if let Err(e) = conn.exec_cached("RELEASE job", []) {
                tracing::error!(error = %e, "release savepoint failed");
            }
        }
        self.done.push(job);
    }

    /// A job of the current run failed: undo the run, then run its jobs one by one.
    fn redo_run(&mut self, conn: &dyn Db) {
        self.feed.truncate(self.run_mark);
        // After some errors (a full disk, I/O) SQLite has already rolled back the whole
        // transaction: then there is no savepoint left to go back to.
        self.aborted |= !conn.in_transaction();
        if !self.aborted {
            for sql in ["ROLLBACK TO run", "RELEASE run"] {
                if let Err(e) = conn.exec_cached(sql, []) {
                    tracing::error!(error = %e, "{sql} failed");
                    // As in `run_alone`: the failed job's writes must not be committed.
                    self.aborted |= sql.starts_with("ROLLBACK");
                }
            }
        }
        let jobs = std::mem::take(&mut self.run);
        for job in jobs {
            self.run_alone(conn, job);
        }
    }

    /// Ends the current run of repeatable jobs (they all succeeded).
    fn release_run(&mut self, conn: &dyn Db) {
        if self.run.is_empty() {
            return;
        }
        if let Err(e) = conn.exec_cached("RELEASE run", []) {
            tracing::error!(error = %e, "release savepoint failed");
        }
        self.done.append(&mut self.run);
    }

    /// COMMITs (or rolls back what SQLite left); the jobs are answered by the caller.
    fn commit<C: WriteConn>(mut self, conn: &mut C) -> Committed {
        self.done.append(&mut self.run);
        let last_seq = self.feed.msgs.last().map(|m| m.msg.seq);
        let result = if self.aborted || !conn.db().in_transaction() {
            Err(StoreError::unavailable(
                "commit: the transaction was rolled back by the database",
            ))
        } else {
            conn.commit(last_seq).map_err(|e| unavailable("commit", e))
        };
        match result {
            Ok(()) => Committed {
                commit: Ok(()),
                storage_failed: self.storage_failed,
                jobs: self.done,
                msgs: self.feed.msgs,
            },
            Err(e) => {
                tracing::error!(error = %e.chain(), "commit failed: nothing of this transaction was stored");
                conn.rollback();
                Committed {
                    commit: Err(e),
                    storage_failed: self.storage_failed,
                    jobs: self.done,
                    msgs: Vec::new(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema;
    use super::super::writer::Writer;
    use super::super::StoreError;
    use crate::store::sql::DbExt;
    use rusqlite::Connection;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    type Live = tokio::sync::broadcast::Receiver<Arc<super::super::writer::LiveMessage>>;

    fn store(dir: &std::path::Path, fsync: bool) -> (Writer, Live) {
        store_syncing(dir, fsync.then(|| dir.join("t.db-wal")))
    }

    /// The database at `path` in WAL mode, migrated, with a table `t` for the tests' rows.
    fn database(path: &std::path::Path) -> Connection {
        let mut conn = Connection::open(path).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        schema::migrate(&mut conn).expect("migrate");
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .expect("table");
        conn
    }

    /// A writer on `dir/t.db` whose syncer fsyncs `wal` (none: answered at COMMIT).
    fn store_syncing(dir: &std::path::Path, wal: Option<std::path::PathBuf>) -> (Writer, Live) {
        let conn = database(&dir.join("t.db"));
        let (tx, rx) = tokio::sync::broadcast::channel(64);
        (
            Writer::start(conn, tx, Arc::new(AtomicBool::new(true)), wal),
            rx,
        )
    }

    async fn wait_queued(w: &Writer, n: usize) {
        for _ in 0..1000 {
            if w.queued() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the jobs never queued up");
    }

    /// A job that panics is refused alone (internal error, rolled back) and the writer goes on:
    /// the jobs after it are stored and the store stays healthy.
    #[tokio::test]
    async fn a_panicking_job_is_refused_and_the_writer_goes_on() {
        for repeatable in [false, true] {
            let dir = tempfile::tempdir().expect("tmp");
            let (w, _feed) = store_syncing(dir.path(), None);
            let panicked = if repeatable {
                w.write_repeatable(|conn, _| -> Result<(), StoreError> {
                    conn.execute("INSERT INTO t (n) VALUES (1)", [])?;
                    panic!("a bug in a projection")
                })
                .await
            } else {
                w.write(|conn, _| -> Result<(), StoreError> {
                    conn.execute("INSERT INTO t (n) VALUES (1)", [])?;
                    panic!("a bug in a projection")
                })
                .await
            };
            match panicked {
                Err(e @ StoreError::Internal { .. }) => {
                    assert!(e.chain().contains("a bug in a projection"), "{}", e.chain())
                }
                other => panic!("expected an internal error, got {other:?}"),
            }
            let n = w
                .write(|conn, _| {
                    conn.execute("INSERT INTO t (n) VALUES (2)", [])?;
                    Ok(conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?)
                })
                .await
                .expect("the writer still works");
            assert_eq!(n, 1, "the panicking job's row was rolled back");
            assert!(w.is_healthy(), "a refused job leaves the store healthy");
            assert!(!w.is_dead());
        }
    }

    /// A writer thread that dies outside any job marks the store unhealthy for good, and every
    /// later write is refused as unavailable (the hook spools it) instead of hanging.
    #[tokio::test]
    async fn a_dead_writer_marks_the_store_unhealthy() {
        let dir = tempfile::tempdir().expect("tmp");
        let (w, _feed) = store_syncing(dir.path(), None);
        w.write(|conn, _| Ok(conn.execute("INSERT INTO t (n) VALUES (1)", [])?))
            .await
            .expect("first write");
        assert!(w.is_healthy());
        w.crash().await;
        for _ in 0..1000 {
            if w.is_dead() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(w.is_dead(), "the death was noticed");
        assert!(!w.is_healthy());
        let later = w
            .write(|conn, _| Ok(conn.execute("INSERT INTO t (n) VALUES (2)", [])?))
            .await;
        assert!(
            matches!(later, Err(StoreError::Unavailable { .. })),
            "{later:?}"
        );
    }

    /// Repeatable jobs share a savepoint; one that fails is undone alone: the others in its
    /// transaction are run again and committed, with their feed messages, in order.
    #[tokio::test]
    async fn a_failing_repeatable_job_undoes_only_itself() {
        for fsync in [false, true] {
            let dir = tempfile::tempdir().expect("tmp");
            let (w, mut feed_rx) = store(dir.path(), fsync);
            // Hold the writer in a first job until five more are queued behind it, so that
            // they all run in one transaction.
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
            let first = tokio::spawn({
                let wj = w.clone();
                async move {
                    wj.write(move |_, _| {
                        let _ = started_tx.send(());
                        release_rx.recv_timeout(Duration::from_secs(30)).ok();
                        Ok(())
                    })
                    .await
                }
            });
            tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(30)))
                .await
                .expect("join")
                .expect("the first job started");
            let runs: Arc<Vec<AtomicUsize>> =
                Arc::new((0..5).map(|_| AtomicUsize::new(0)).collect());
            let mut tasks = Vec::new();
            for n in 0..5i64 {
                let wj = w.clone();
                let runs = runs.clone();
                tasks.push(tokio::spawn(async move {
                    wj.write_repeatable(move |conn, feed| {
                        runs[n as usize].fetch_add(1, Ordering::SeqCst);
                        conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        feed.push(
                            conn,
                            "test",
                            chrono::Utc::now(),
                            None,
                            None,
                            serde_json::json!(n),
                        )?;
                        if n == 2 {
                            return Err(StoreError::Invalid("job 2 refuses".into()));
                        }
                        Ok(n)
                    })
                    .await
                }));
                // Queue them in order.
                wait_queued(&w, n as usize + 1).await;
            }
            release_tx.send(()).expect("release");
            first.await.expect("join").expect("first job");
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.expect("join"));
            }
            for (n, r) in results.iter().enumerate() {
                match (n, r) {
                    (2, Err(StoreError::Invalid(_))) => {}
                    (2, other) => panic!("job 2 should be refused, got {other:?}"),
                    (n, Ok(v)) => assert_eq!(*v, n as i64),
                    (n, Err(e)) => panic!("job {n} failed: {e}"),
                }
            }
            // Jobs 0 and 1 ran before the failure in the same savepoint, so they ran again.
            assert_eq!(
                runs[0].load(Ordering::SeqCst),
                2,
                "job 0 re-run (fsync {fsync})"
            );
            assert_eq!(runs[1].load(Ordering::SeqCst), 2, "job 1 re-run");
            assert_eq!(runs[3].load(Ordering::SeqCst), 1, "job 3 ran once");
            let rows: Vec<i64> = w
                .write(|conn, _| {
                    let mut st = conn.prepare("SELECT n FROM t ORDER BY n")?;
                    let v = st
                        .query_map([], |r| r.get(0))?
                        .collect::<crate::store::sql::DbResult<_>>()?;
                    Ok(v)
                })
                .await
                .expect("read");
            assert_eq!(rows, vec![0, 1, 3, 4]);
            let mut seen = Vec::new();
            let mut last_seq = 0;
            while let Ok(live) = feed_rx.try_recv() {
                let m = &live.msg;
                assert_eq!(
                    m.seq,
                    last_seq + 1,
                    "feed in seq order, without gaps: the refused job's seq is handed out again"
                );
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(live.text.as_str()).expect("text"),
                    serde_json::to_value(m).expect("value"),
                    "the text is the message"
                );
                last_seq = m.seq;
                seen.push(m.data.as_i64().expect("n"));
            }
            assert_eq!(
                seen,
                vec![0, 1, 3, 4],
                "only committed messages are broadcast"
            );
            assert_eq!(w.durable_seq(), last_seq);
            assert!(w.is_healthy());
        }
    }

    /// The store's health follows commit order: a transaction that cannot begin while an
    /// earlier one still waits for its fsync leaves the store unhealthy once both are
    /// delivered (the earlier, durable one must not mark it healthy after the failure).
    #[tokio::test]
    async fn a_failed_begin_behind_a_pending_fsync_leaves_the_store_unhealthy() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("t.db");
        let conn = database(&path);
        conn.busy_timeout(Duration::from_millis(50))
            .expect("busy timeout");
        let wal = dir.path().join("t.db-wal");
        let open_gate = super::super::syncer::gate::close(&wal);
        let (tx, _rx) = tokio::sync::broadcast::channel(64);
        let w = Writer::start(conn, tx, Arc::new(AtomicBool::new(true)), Some(wal));
        // A commits, then waits at the gate for its fsync.
        let first = tokio::spawn({
            let w = w.clone();
            async move {
                w.write(|conn, _| Ok(conn.execute("INSERT INTO t (n) VALUES (1)", [])?))
                    .await
            }
        });
        let other = Connection::open(&path).expect("open");
        let mut committed = false;
        for _ in 0..1000 {
            let n: i64 = other
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .expect("count");
            if n == 1 {
                committed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(committed, "the first transaction committed");
        // B cannot begin: another connection holds the write lock.
        other.execute_batch("BEGIN IMMEDIATE").expect("write lock");
        let second = tokio::spawn({
            let w = w.clone();
            async move { w.write(|_, _| Ok(())).await }
        });
        // Give B's BEGIN time to fail (busy timeout 50 ms) while A still waits: its refusal
        // is delivered after A's, so it cannot have been answered yet. (The lock stays until
        // B is answered, so B fails whenever the writer gets to it.)
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "B waits behind A, in commit order");
        open_gate.send(()).expect("open the gate");
        first.await.expect("join").expect("A is durable");
        let refused = second.await.expect("join");
        other.execute_batch("ROLLBACK").expect("unlock");
        assert!(
            matches!(refused, Err(StoreError::Unavailable { .. })),
            "B refused: {refused:?}"
        );
        assert!(
            !w.is_healthy(),
            "the later failure is what the store reports"
        );
    }

    /// A feed row written behind the writer's back (another process on the same file) does not
    /// make every later message fail on `feed.seq`: each transaction starts after the largest
    /// seq stored.
    #[tokio::test]
    async fn the_seq_counter_catches_up_with_rows_written_by_another_connection() {
        let dir = tempfile::tempdir().expect("tmp");
        let (w, _feed_rx) = store(dir.path(), true);
        let push = |w: Writer| async move {
            w.write_repeatable(|conn, feed| {
                Ok(feed.push(
                    conn,
                    "test",
                    chrono::Utc::now(),
                    None,
                    None,
                    serde_json::json!({}),
                )?)
            })
            .await
        };
        assert_eq!(push(w.clone()).await.expect("first"), 1);
        let other = Connection::open(dir.path().join("t.db")).expect("open");
        other
            .execute(
                "INSERT INTO feed (seq, kind, at, data) VALUES (2, 'other', '2026-12-02', '{}')",
                [],
            )
            .expect("a row behind the writer's back");
        assert_eq!(push(w.clone()).await.expect("after the stray row"), 3);
        assert!(w.is_healthy());
    }

    /// A transaction that cannot even begin (another connection holds the write lock) refuses
    /// its job and marks the store unhealthy, through the same ordered path as a failed
    /// commit; the next transaction that commits makes the store healthy again. (The ordering
    /// behind a pending fsync: `a_failed_begin_behind_a_pending_fsync_leaves_the_store_unhealthy`.)
    #[tokio::test]
    async fn a_transaction_that_cannot_begin_refuses_its_job_and_marks_the_store_unhealthy() {
        for fsync in [false, true] {
            let dir = tempfile::tempdir().expect("tmp");
            let path = dir.path().join("t.db");
            let conn = database(&path);
            conn.busy_timeout(Duration::from_millis(50))
                .expect("busy timeout");
            let (tx, _rx) = tokio::sync::broadcast::channel(64);
            let wal = fsync.then(|| dir.path().join("t.db-wal"));
            let w = Writer::start(conn, tx, Arc::new(AtomicBool::new(true)), wal);
            let other = Connection::open(&path).expect("open");
            other.execute_batch("BEGIN IMMEDIATE").expect("write lock");
            let refused = w.write(|_, _| Ok(())).await;
            assert!(
                matches!(refused, Err(StoreError::Unavailable { .. })),
                "refused while locked (fsync {fsync}): {refused:?}"
            );
            assert!(!w.is_healthy(), "unhealthy after a failed BEGIN");
            other.execute_batch("ROLLBACK").expect("unlock");
            w.write(|_, _| Ok(())).await.expect("commits once unlocked");
            assert!(w.is_healthy(), "healthy again after a durable commit");
        }
    }

    /// Under a steady stream of commits the checkpointer's passive checkpoints never catch up
    /// with the last frame; with the writer's own automatic checkpoint off, only the
    /// checkpointer's `Msg::Checkpoint` lets the WAL start over. Without it the WAL would
    /// hold every frame written.
    #[tokio::test]
    async fn the_checkpointer_has_the_wal_start_over_under_steady_writes() {
        let dir = tempfile::tempdir().expect("tmp");
        let (w, _feed) = store(dir.path(), true);
        w.write(|conn, _| {
            conn.batch("PRAGMA wal_autocheckpoint = 0")?;
            Ok(())
        })
        .await
        .expect("autocheckpoint off");
        let restart_bytes = 256 * 1024;
        w.start_checkpointer(
            Connection::open(dir.path().join("t.db")).expect("open"),
            Duration::from_millis(5),
            restart_bytes,
        );
        let wal = dir.path().join("t.db-wal");
        // ~12 MiB of frames in all from 8 concurrent writers, far more than the restart size.
        let mut largest = 0;
        for round in 0..20i64 {
            let mut tasks = Vec::new();
            for k in 0..8i64 {
                let w = w.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..25i64 {
                        let n = (round * 8 + k) * 25 + i;
                        w.write(move |conn, _| {
                            conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                            conn.execute("CREATE TABLE IF NOT EXISTS b (x TEXT)", [])?;
                            conn.execute("INSERT INTO b (x) VALUES (?1)", ["x".repeat(3000)])?;
                            Ok(())
                        })
                        .await
                        .expect("write");
                    }
                }));
            }
            for t in tasks {
                t.await.expect("join");
            }
            largest = largest.max(std::fs::metadata(&wal).expect("wal").len());
        }
        // The file keeps its size after a restart (it is overwritten from its start), so its
        // largest size is how far the WAL ever went: ~24 MiB (96x the restart size) without
        // restarts. The bound (half of that) leaves room for a checkpointer thread that a loaded
        // machine schedules late (28x seen with another build running on the 2 cores).
        assert!(
            largest < 48 * restart_bytes,
            "the WAL grew to {largest} bytes (restart at {restart_bytes}): it did not start over"
        );
    }

    /// An fsync of the WAL that fails (here `/dev/full` stands for the WAL file: fdatasync
    /// on it is EINVAL) refuses the batch: the caller gets an error, so the hook spools the
    /// event, and the store reports itself unhealthy. The row itself is committed, so the
    /// hook's retry is answered as a duplicate, never stored twice.
    #[tokio::test]
    async fn a_failed_fsync_refuses_the_batch_and_marks_the_store_unhealthy() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("t.db");
        let (w, _feed) = store_syncing(dir.path(), Some(std::path::PathBuf::from("/dev/full")));
        let refused = w
            .write(|conn, _| {
                conn.execute("INSERT INTO t (n) VALUES (1)", [])?;
                Ok(())
            })
            .await;
        match refused {
            Err(e @ StoreError::Unavailable { .. }) => {
                let msg = e.chain();
                assert!(msg.contains("fsync"), "the error says why: {msg}");
                assert!(
                    std::error::Error::source(&e).is_some(),
                    "the I/O error is kept as the cause"
                );
            }
            other => panic!("a batch whose fsync failed must be refused, got {other:?}"),
        }
        assert!(!w.is_healthy(), "the store reports the failed fsync");
        let n: i64 = Connection::open(&path)
            .expect("open")
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1, "the row is committed once (a retry is a duplicate)");
    }

    /// After a failed fsync, the next durable commit makes the store healthy again (health is
    /// that of the last transaction delivered, in commit order).
    #[tokio::test]
    async fn a_durable_commit_after_a_failed_fsync_makes_the_store_healthy_again() {
        let dir = tempfile::tempdir().expect("tmp");
        // The syncer fsyncs whatever this link points at: first /dev/full (fails), then the
        // real WAL (the syncer reopens the file when the inode changes).
        let link = dir.path().join("wal-link");
        std::os::unix::fs::symlink("/dev/full", &link).expect("link");
        let (w, _feed) = store_syncing(dir.path(), Some(link.clone()));
        let insert = |n: i64| {
            move |conn: &dyn crate::store::sql::Db, _: &mut super::super::writer::Feed| {
                conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                Ok(())
            }
        };
        assert!(w.write(insert(1)).await.is_err(), "the fsync fails");
        assert!(!w.is_healthy(), "unhealthy after the failed fsync");
        std::fs::remove_file(&link).expect("unlink");
        std::os::unix::fs::symlink(dir.path().join("t.db-wal"), &link).expect("relink");
        w.write(insert(2)).await.expect("a durable commit");
        assert!(w.is_healthy(), "healthy again after a durable commit");
    }
}
