//! The single writer: one thread owns the write connection and runs every write job in
//! group-committed transactions ([`super::batch`]). A job's answer is sent only after its
//! transaction is committed and durable ([`super::syncer`]), then the feed messages it produced
//! are broadcast in seq order.

use super::batch;
use super::syncer::{Outlet, Syncer};
use super::StoreError;
use crate::store::sql::{params, Db, DbExt, DbResult};
use crate::time::fmt_ts;
use maestro_shared::ws::WsMessage;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Feed messages produced by the jobs of a transaction, written to the `feed` table in it and
/// broadcast after commit.
pub struct Feed {
    pub(super) msgs: Vec<Pushed>,
    /// The seq the next message gets. The writer hands seqs out itself rather than letting
    /// SQLite pick `MAX(seq) + 1`: an event's row takes its message's seq, and a seq must
    /// never come back even when the newest feed rows are gone (deleted by an older build's
    /// retention), or the event's insert fails on `events.seq` forever.
    next_seq: i64,
}

/// A feed message of the open transaction and its `data` as the JSON text stored in `feed`,
/// so that the message's wire text is built around it without serializing `data` again.
pub(super) struct Pushed {
    pub msg: WsMessage,
    pub data: String,
}

impl Pushed {
    /// The message as JSON: exactly `serde_json::to_string(&self.msg)` (same fields, same
    /// order), with the stored `data` text spliced in.
    pub fn wire_text(&self) -> serde_json::Result<String> {
        let m = &self.msg;
        let head = (
            serde_json::to_string(&m.kind)?,
            serde_json::to_string(&m.at)?,
            serde_json::to_string(&m.task_id)?,
            serde_json::to_string(&m.session_id)?,
        );
        Ok(format!(
            "{{\"seq\":{},\"type\":{},\"at\":{},\"task_id\":{},\"session_id\":{},\"data\":{}}}",
            m.seq, head.0, head.1, head.2, head.3, self.data
        ))
    }
}

/// A committed feed message with its JSON text, serialized once (on the syncer or writer
/// thread) for every WebSocket client.
#[derive(Debug)]
pub struct LiveMessage {
    /// The message.
    pub msg: WsMessage,
    /// `msg` as JSON, in the WebSocket's own text type: every client's frame shares these
    /// bytes (a clone is a reference count).
    pub text: axum::extract::ws::Utf8Bytes,
}

impl Feed {
    /// An empty feed whose first message gets `next_seq`.
    pub(super) fn new(next_seq: i64) -> Feed {
        Feed {
            msgs: Vec::new(),
            next_seq,
        }
    }

    /// The seq the next message gets (after the last one pushed).
    pub(super) fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// Forgets the messages from `mark` on (their writes were rolled back): their seqs are
    /// handed out again, so the feed stays without gaps.
    pub(super) fn truncate(&mut self, mark: usize) {
        if let Some(first) = self.msgs.get(mark) {
            self.next_seq = first.msg.seq;
        }
        self.msgs.truncate(mark);
    }

    /// Appends a message: inserts it into `feed` with the next seq and queues it for
    /// broadcast. Returns its seq.
    pub fn push(
        &mut self,
        conn: &dyn Db,
        kind: &str,
        at: chrono::DateTime<chrono::Utc>,
        task_id: Option<&str>,
        session_id: Option<&str>,
        data: Value,
    ) -> DbResult<i64> {
        let text = data.to_string();
        let seq = self.next_seq;
        conn.exec_later(
            "INSERT INTO feed (seq, kind, at, task_id, session_id, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![seq, kind, fmt_ts(at), task_id, session_id, text],
        )?;
        self.next_seq += 1;
        self.msgs.push(Pushed {
            msg: WsMessage {
                seq,
                kind: kind.to_string(),
                at,
                task_id: task_id.map(str::to_string),
                session_id: session_id.map(str::to_string),
                data,
            },
            data: text,
        });
        Ok(seq)
    }
}

/// How a job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Succeeded.
    Ok,
    /// Refused (not found, invalid, conflict): rolled back, the store is fine.
    Refused,
    /// The database could not write (disk full, I/O error): rolled back, the store is unhealthy.
    StorageFailed,
}

impl JobStatus {
    fn of<R>(result: &Result<R, StoreError>) -> JobStatus {
        match result {
            Ok(_) => JobStatus::Ok,
            Err(StoreError::Unavailable { .. }) => JobStatus::StorageFailed,
            Err(_) => JobStatus::Refused,
        }
    }
}

/// A write job: runs inside the writer's open transaction, then is told how the commit went.
pub(super) trait WriteJob: Send {
    /// Runs the job. A job that did not succeed is rolled back.
    fn run(&mut self, conn: &dyn Db, feed: &mut Feed) -> JobStatus;
    /// Whether `run` may be called again after its writes were rolled back (it then runs
    /// without a savepoint of its own until something fails).
    fn repeatable(&self) -> bool;
    /// Answers the caller once the transaction is committed and durable, or failed.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

/// What the writer thread receives.
pub(super) enum Msg {
    /// A job to run.
    Job(Box<dyn WriteJob>),
    /// The syncer finished: commit the open transaction if nothing else is queued.
    Wake,
    /// The checkpointer has copied most of a long WAL into the database: checkpoint the few
    /// frames left from the writer's own connection, right away if no transaction is open,
    /// else after the next commit, so that the next transaction starts the WAL over (see
    /// [`Writer::start_checkpointer`]). The flag is the checkpointer's; the writer clears it
    /// after the commit that follows its checkpoint (the one that restarts the WAL).
    Checkpoint(Arc<AtomicBool>),
    /// Tests only: the writer thread panics outside any job (a bug in the loop itself).
    #[cfg(test)]
    Crash,
}

/// A job's result and the caller waiting for it.
struct Answer<R> {
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R> Answer<R> {
    fn record(&mut self, result: Result<R, StoreError>) -> JobStatus {
        let status = JobStatus::of(&result);
        self.result = Some(result);
        status
    }

    fn send(self, commit: Result<(), StoreError>) {
        let result = self
            .result
            .unwrap_or_else(|| Err(StoreError::unavailable("the write job did not run")));
        let _ = self.reply.send(commit.and(result));
    }
}

/// A job that runs once (its closure may consume what it captured).
struct OnceJob<R, F> {
    f: Option<F>,
    answer: Answer<R>,
}

/// Runs a job's closure, turning a panic into [`StoreError::Internal`] (logged with its
/// message): the job is rolled back and refused, and the writer goes on with the next one.
fn catch_job_panic<R>(f: impl FnOnce() -> Result<R, StoreError>) -> Result<R, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic_message(panic.as_ref());
            tracing::error!(panic = %what, "a write job panicked; it was rolled back");
            Err(StoreError::internal(format!(
                "a write job panicked: {what}"
            )))
        }
    }
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

impl<R, F> WriteJob for OnceJob<R, F>
where
    R: Send + 'static,
    F: FnOnce(&dyn Db, &mut Feed) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &dyn Db, feed: &mut Feed) -> JobStatus {
        let result = match self.f.take() {
            Some(f) => catch_job_panic(|| f(conn, feed)),
            None => Err(StoreError::internal("a write job ran twice")),
        };
        self.answer.record(sent(conn, result))
    }

    fn repeatable(&self) -> bool {
        false
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        self.answer.send(commit);
    }
}

/// A job's result once its deferred statements ([`Db::exec_deferred`]) are sent: an error
/// one of them meets is the job's; a failed job's are dropped (it is rolled back).
fn sent<R>(conn: &dyn Db, result: Result<R, StoreError>) -> Result<R, StoreError> {
    match result {
        Ok(r) => match conn.flush() {
            Ok(()) => Ok(r),
            Err(e) => Err(e.into()),
        },
        Err(e) => {
            conn.discard_deferred();
            Err(e)
        }
    }
}

/// A job whose closure can run again after a rollback (the hot ingest path).
struct RepeatJob<R, F> {
    f: F,
    answer: Answer<R>,
}

impl<R, F> WriteJob for RepeatJob<R, F>
where
    R: Send + 'static,
    F: FnMut(&dyn Db, &mut Feed) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &dyn Db, feed: &mut Feed) -> JobStatus {
        let result = catch_job_panic(|| (self.f)(conn, feed));
        self.answer.record(sent(conn, result))
    }

    fn repeatable(&self) -> bool {
        true
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        self.answer.send(commit);
    }
}

/// The WAL write rate up to which the checkpointer runs at its short interval (see
/// [`Writer::start_checkpointer`]). Measured here: ~30 MiB/s at 1,000 tool events/s (16-44
/// MiB/s from one 10 ms checkpoint to the next), 50-120 MiB/s at full load (~5,000 events/s).
pub const STEADY_WAL_BYTES_PER_SEC: f64 = 48.0 * 1024.0 * 1024.0;

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    healthy: Arc<AtomicBool>,
    /// Set when the writer thread has died (a panic outside any job): nothing can be stored
    /// until the server restarts, and the store reports itself unhealthy for good.
    dead: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    durable_seq: Arc<AtomicI64>,
}

impl Writer {
    /// Starts the writer thread on `conn`. Committed feed messages go to `feed_tx`.
    ///
    /// With `fsync_wal` (the WAL file of `conn`'s database), a batch is answered only after a
    /// syncer thread has fsynced the WAL following its COMMIT, while the writer already runs
    /// the next jobs; `conn` itself should then not sync on commit (`synchronous=NORMAL`).
    /// Without it, a batch is answered right after its COMMIT.
    pub fn start<C: batch::WriteConn>(
        conn: C,
        feed_tx: broadcast::Sender<Arc<LiveMessage>>,
        healthy: Arc<AtomicBool>,
        fsync_wal: Option<PathBuf>,
    ) -> Writer {
        Self::start_with(conn, feed_tx, healthy, fsync_wal, None)
    }

    /// [`Writer::start`]; with `follower`, committed messages are not broadcast from here:
    /// the follower is woken instead (team mode, see [`super::pg::follow`]).
    pub fn start_with<C: batch::WriteConn>(
        conn: C,
        feed_tx: broadcast::Sender<Arc<LiveMessage>>,
        healthy: Arc<AtomicBool>,
        fsync_wal: Option<PathBuf>,
        follower: Option<Arc<tokio::sync::Notify>>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel::<Msg>(8192);
        // The highest seq ever handed out: events keep their message's seq, so a database
        // whose newest feed rows an older build's retention deleted still has it in `events`.
        let last_seq: i64 = conn.last_seq().unwrap_or_else(|e| {
            // Each transaction still starts after the largest seq in `feed` (`Txn::begin`).
            tracing::error!(error = %e, "cannot read the last seq at start");
            0
        });
        let durable_seq = Arc::new(AtomicI64::new(last_seq));
        let outlet = Outlet {
            feed_tx,
            healthy: healthy.clone(),
            durable_seq: durable_seq.clone(),
            follower,
        };
        let syncer = fsync_wal.map(|wal| Syncer::start(wal, outlet.clone(), tx.downgrade()));
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let dead = Arc::new(AtomicBool::new(false));
        let died = dead.clone();
        std::thread::Builder::new()
            .name("maestro-writer".into())
            .spawn(move || {
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    batch::run(conn, rx, outlet, syncer, counter, last_seq + 1)
                }));
                if let Err(panic) = run {
                    died.store(true, Ordering::Relaxed);
                    tracing::error!(
                        panic = %panic_message(panic.as_ref()),
                        "the writer thread died: no event can be stored until the server restarts"
                    );
                }
            })
            .expect("spawning the writer thread");
        Writer {
            tx,
            healthy,
            dead,
            commits,
            durable_seq,
        }
    }

    /// The counter behind [`Writer::durable_seq`] (team mode: the feed follower advances it).
    pub fn durable_seq_handle(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.durable_seq)
    }

    /// The highest feed seq whose transaction is committed and synced: what replay may serve.
    pub fn durable_seq(&self) -> i64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// Checkpoints the WAL from `conn` (a connection of its own) on a thread of its own while
    /// commits happen, so that the writer never copies many pages back into the database
    /// itself: a checkpoint fsyncs the database file, which stalls whoever runs it for as long
    /// as the disk takes.
    ///
    /// Its pace follows the write rate. Below [`STEADY_WAL_BYTES_PER_SEC`] it checkpoints every
    /// `every`: many small database fsyncs keep each stall of the WAL's own fsyncs short (at
    /// 1,000 events/s, 10 ms instead of 100 ms took the hook-to-WebSocket p99 from ~13 ms to
    /// 7-9 ms; BENCHMARKS.md). Above it, every `10 * every`: at full load, checkpointing the
    /// same hot pages ten times as often cost a fifth of the throughput and 70% more disk
    /// writes.
    ///
    /// Its PASSIVE checkpoints cannot let the WAL start over while commits keep coming (the
    /// last frames are always newer than the checkpoint). Once the WAL holds `restart_bytes`
    /// and a checkpoint has just caught up, it asks the writer ([`Msg::Checkpoint`]) to
    /// checkpoint the few frames committed since, after which SQLite writes the WAL from its
    /// start again. That still costs the writer one fsync of the database, hence a large
    /// `restart_bytes`. The thread ends when the writer is dropped.
    pub fn start_checkpointer(
        &self,
        conn: rusqlite::Connection,
        every: Duration,
        restart_bytes: u64,
    ) {
        let commits: Weak<AtomicU64> = Arc::downgrade(&self.commits);
        let writer = self.tx.downgrade();
        let page_size: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap_or(4096);
        // A frame is a page and a 24-byte header.
        let frame = page_size + 24;
        let restart_frames = (restart_bytes / frame).max(1);
        std::thread::Builder::new()
            .name("maestro-checkpoint".into())
            .spawn(move || {
                let mut done = 0;
                let mut pause = every;
                // Frames in the WAL at the last checkpoint, and when it ran.
                let mut last = (0u64, std::time::Instant::now());
                // When the last restart request went out, until the WAL started over.
                let mut asked: Option<std::time::Instant> = None;
                // Set from a restart request until the writer's commit after its checkpoint:
                // the checkpointer holds its own meanwhile (SQLite runs one checkpoint at a
                // time, and a checkpoint's read locks make the restart give up).
                let pending = Arc::new(AtomicBool::new(false));
                loop {
                    std::thread::sleep(pause);
                    let Some(counter) = commits.upgrade() else {
                        return;
                    };
                    let now = counter.load(Ordering::Relaxed);
                    drop(counter);
                    if now == done || pending.load(Ordering::Acquire) {
                        pause = every;
                        continue;
                    }
                    done = now;
                    // PASSIVE: copies what it can without waiting for readers or the writer.
                    // Returns (busy, frames in the WAL, frames checkpointed); busy (-1, -1)
                    // while another checkpoint runs, e.g. the writer's: nothing learnt then.
                    let ran = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    });
                    let (frames, copied) = match ran {
                        Ok((0, f, c)) if f >= 0 && c >= 0 => (f as u64, c as u64),
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "WAL checkpoint failed");
                            continue;
                        }
                    };
                    // Frames written since the last checkpoint (the WAL may have started over,
                    // which also answers the last restart request).
                    let written = if frames >= last.0 {
                        frames - last.0
                    } else {
                        asked = None;
                        frames
                    };
                    let secs = last.1.elapsed().as_secs_f64().max(1e-3);
                    last = (frames, std::time::Instant::now());
                    pause = if (written * frame) as f64 / secs < STEADY_WAL_BYTES_PER_SEC {
                        every
                    } else {
                        every * 10
                    };
                    // A restart the writer's checkpoint could not bring (a reader on an old
                    // snapshot) is asked again after ten intervals, not at every tick: each
                    // request costs the writer a database fsync.
                    let asked_recently = asked.is_some_and(|at| at.elapsed() < every * 10);
                    if frames >= restart_frames && copied == frames && !asked_recently {
                        if let Some(tx) = writer.upgrade() {
                            pending.store(true, Ordering::Release);
                            if tx.try_send(Msg::Checkpoint(pending.clone())).is_ok() {
                                asked = Some(std::time::Instant::now());
                            } else {
                                pending.store(false, Ordering::Release);
                            }
                        }
                    }
                }
            })
            .expect("spawning the checkpoint thread");
    }

    /// Runs `f` in the writer's transaction (in a savepoint of its own) and returns its result
    /// once committed.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Db, &mut Feed) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = OnceJob {
            f: Some(f),
            answer: Answer {
                result: None,
                reply,
            },
        };
        self.submit(Box::new(job), rx).await
    }

    /// Like [`Writer::write`] for a closure that can run again after its writes were rolled
    /// back (it must not consume what it captured): such jobs share one savepoint, which makes
    /// them cheaper; if one fails, they are run again one by one.
    pub async fn write_repeatable<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnMut(&dyn Db, &mut Feed) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = RepeatJob {
            f,
            answer: Answer {
                result: None,
                reply,
            },
        };
        self.submit(Box::new(job), rx).await
    }

    async fn submit<R>(
        &self,
        job: Box<dyn WriteJob>,
        rx: oneshot::Receiver<Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        self.tx
            .send(Msg::Job(job))
            .await
            .map_err(|_| StoreError::unavailable("writer stopped"))?;
        rx.await
            .map_err(|_| StoreError::unavailable("writer dropped the job"))?
    }

    /// Tests only: makes the writer thread panic outside any job.
    #[cfg(test)]
    pub(super) async fn crash(&self) {
        let _ = self.tx.send(Msg::Crash).await;
    }

    /// Jobs waiting in the writer's queue.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// False after a transaction could not begin, a job could not write, or a commit or its
    /// fsync failed (until a later durable commit succeeds).
    pub fn is_healthy(&self) -> bool {
        !self.is_dead() && self.healthy.load(Ordering::Relaxed)
    }

    /// True once the writer thread has died.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::Pushed;
    use maestro_shared::ws::WsMessage;
    use serde_json::json;

    /// The spliced wire text is byte for byte what serializing the whole message gives (the
    /// text a catching-up client gets from the store for the same message).
    #[test]
    fn wire_text_is_the_serialized_message() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T10:00:00.123456Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        for (task, session, data) in [
            (None, None, json!({})),
            (
                Some("t_1"),
                Some("s_\"quoted\"\n"),
                json!({"a": [1, 2.5, null], "b": "é\u{1}", "c": {"d": true}}),
            ),
        ] {
            let msg = WsMessage {
                seq: 42,
                kind: "hook:tool_use".into(),
                at,
                task_id: task.map(str::to_string),
                session_id: session.map(str::to_string),
                data: data.clone(),
            };
            let expected = serde_json::to_string(&msg).expect("serialize");
            let pushed = Pushed {
                msg,
                data: data.to_string(),
            };
            assert_eq!(pushed.wire_text().expect("wire text"), expected);
        }
    }
}
