//! The single writer: one thread owns the write connection and runs every write job in
//! group-committed transactions. A job's answer is sent only after its transaction is
//! committed (durable), then the feed messages it produced are broadcast in seq order.

use super::StoreError;
use crate::store::cached::CachedExt;
use crate::time::fmt_ts;
use maestro_shared::ws::WsMessage;
use rusqlite::{params, Connection};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Most jobs folded into one transaction.
const MAX_BATCH: usize = 1024;

/// Feed messages produced by a job, written to the `feed` table in the job's transaction and
/// broadcast after commit.
pub struct Feed {
    msgs: Vec<Arc<WsMessage>>,
}

impl Feed {
    /// Appends a message: inserts it into `feed` (assigning the next seq) and queues it for
    /// broadcast. Returns its seq.
    pub fn push(
        &mut self,
        conn: &Connection,
        kind: &str,
        at: chrono::DateTime<chrono::Utc>,
        task_id: Option<&str>,
        session_id: Option<&str>,
        data: Value,
    ) -> rusqlite::Result<i64> {
        conn.exec_cached(
            "INSERT INTO feed (kind, at, task_id, session_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, fmt_ts(at), task_id, session_id, data.to_string()],
        )?;
        let seq = conn.last_insert_rowid();
        self.msgs.push(Arc::new(WsMessage {
            seq,
            kind: kind.to_string(),
            at,
            task_id: task_id.map(str::to_string),
            session_id: session_id.map(str::to_string),
            data,
        }));
        Ok(seq)
    }
}

type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
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

/// A write job: runs inside the batch transaction; returns how it went (a job that did not
/// succeed is rolled back to its savepoint) and what to do once the commit succeeded or failed.
pub type Job = Box<dyn FnOnce(&Connection, &mut Feed) -> (JobStatus, Finish) + Send>;

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    healthy: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the writer thread on `conn`. Committed feed messages go to `feed_tx`.
    pub fn start(
        conn: Connection,
        feed_tx: broadcast::Sender<Arc<WsMessage>>,
        healthy: Arc<AtomicBool>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        let flag = healthy.clone();
        std::thread::Builder::new()
            .name("maestro-writer".into())
            .spawn(move || run(conn, rx, feed_tx, flag))
            .expect("spawning the writer thread");
        Writer { tx, healthy }
    }

    /// Runs `f` in the writer's transaction and returns its result once committed.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut Feed) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<Result<R, StoreError>>();
        let job: Job = Box::new(move |conn, feed| {
            let result = f(conn, feed);
            let status = match &result {
                Ok(_) => JobStatus::Ok,
                Err(StoreError::Unavailable(_)) => JobStatus::StorageFailed,
                Err(_) => JobStatus::Refused,
            };
            let finish: Finish = Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply.send(commit.and(result));
            });
            (status, finish)
        });
        self.tx
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("writer dropped the job".into()))?
    }

    /// False after a commit failed (until a later commit succeeds).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    feed_tx: broadcast::Sender<Arc<WsMessage>>,
    healthy: Arc<AtomicBool>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, &mut batch, &feed_tx, &healthy);
    }
}

fn commit_batch(
    conn: &mut Connection,
    batch: &mut Vec<Job>,
    feed_tx: &broadcast::Sender<Arc<WsMessage>>,
    healthy: &AtomicBool,
) {
    let mut feed = Feed { msgs: Vec::new() };
    let mut storage_failed = false;
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let begin = conn.execute_batch("BEGIN IMMEDIATE");
    if let Err(e) = begin {
        healthy.store(false, Ordering::Relaxed);
        tracing::error!(error = %e, "cannot begin a write transaction");
        for job in batch.drain(..) {
            // Run nothing: answer every job with the error.
            let finish = job_failed(job);
            finish(Err(StoreError::Unavailable(format!("begin: {e}"))));
        }
        return;
    }
    for job in batch.drain(..) {
        // Each job runs in a savepoint so one failing job does not undo the others.
        let mark = feed.msgs.len();
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            finishes.push(job_failed(job));
            tracing::error!(error = %e, "savepoint failed");
            continue;
        }
        let (status, finish) = job(conn, &mut feed);
        storage_failed |= status == JobStatus::StorageFailed;
        if status != JobStatus::Ok {
            feed.msgs.truncate(mark);
            if let Err(e) = conn.execute_batch("ROLLBACK TO job") {
                tracing::error!(error = %e, "rollback to savepoint failed");
            }
        }
        finishes.push(finish);
        if let Err(e) = conn.execute_batch("RELEASE job") {
            tracing::error!(error = %e, "release savepoint failed");
        }
    }
    let commit = conn.execute_batch("COMMIT");
    match commit {
        Ok(()) => {
            healthy.store(!storage_failed, Ordering::Relaxed);
            for f in finishes {
                f(Ok(()));
            }
            for msg in feed.msgs {
                let _ = feed_tx.send(msg);
            }
        }
        Err(e) => {
            healthy.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, "commit failed: events were not stored");
            let _ = conn.execute_batch("ROLLBACK");
            for f in finishes {
                f(Err(StoreError::Unavailable(format!("commit: {e}"))));
            }
        }
    }
}

/// Turns a job that will not run into a finisher that reports the failure.
fn job_failed(job: Job) -> Finish {
    // The job's closure owns the reply channel; dropping it makes the caller see
    // "writer dropped the job", which maps to 503.
    drop(job);
    Box::new(|_| {})
}
