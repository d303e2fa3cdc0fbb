//! Durability off the writer's path: after the writer COMMITs a transaction (without an fsync
//! of its own), the syncer thread fsyncs the WAL file once for every group of transactions
//! committed meanwhile, and only then answers their jobs and broadcasts their feed messages,
//! in commit order. The writer goes on running jobs during the fsync, so the transaction it
//! commits next holds everything that arrived meanwhile (group commit sized by the disk).

use super::writer::{LiveMessage, Msg, Pushed, WriteJob};
use super::StoreError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// A transaction after its COMMIT: how the commit went, whom to answer, what to broadcast.
pub(super) struct Committed {
    pub commit: Result<(), StoreError>,
    /// A job of the transaction could not write (it was rolled back, the rest committed).
    pub storage_failed: bool,
    pub jobs: Vec<Box<dyn WriteJob>>,
    pub msgs: Vec<Pushed>,
}

/// Where committed transactions go: the answers, the broadcast, the durable seq and health.
#[derive(Clone)]
pub(super) struct Outlet {
    pub feed_tx: broadcast::Sender<Arc<LiveMessage>>,
    pub healthy: Arc<AtomicBool>,
    pub durable_seq: Arc<AtomicI64>,
    /// Team mode: the feed follower broadcasts what is committed (every replica's messages,
    /// read from the database); the writer only wakes it.
    pub follower: Option<Arc<tokio::sync::Notify>>,
}

impl Outlet {
    /// Answers a committed transaction's jobs (failed if `synced` failed), then broadcasts
    /// its messages. The store's health is set here, in commit order: it is that of the last
    /// transaction delivered (a later durable commit makes the store healthy again).
    pub fn deliver(&self, c: Committed, synced: Result<(), StoreError>) {
        let outcome = c.commit.and(synced);
        self.healthy
            .store(outcome.is_ok() && !c.storage_failed, Ordering::Relaxed);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "a write transaction is not durable: its jobs are refused");
        }
        for job in c.jobs {
            job.finish(outcome.clone());
        }
        if let Some(follower) = &self.follower {
            if !c.msgs.is_empty() {
                follower.notify_one();
            }
            return;
        }
        if let Some(last) = c.msgs.last() {
            // In the database (and on disk unless the fsync failed, in which case the rows are
            // still there): replay may serve them from now on.
            self.durable_seq.fetch_max(last.msg.seq, Ordering::Release);
        }
        for pushed in c.msgs {
            match pushed.wire_text() {
                Ok(text) => {
                    let text = text.into();
                    let msg = pushed.msg;
                    let _ = self.feed_tx.send(Arc::new(LiveMessage { msg, text }));
                }
                // Not expected (plain strings and a timestamp); the client catches up from
                // the store when it sees the gap.
                Err(e) => {
                    tracing::error!(error = %e, seq = pushed.msg.seq, "feed message not encodable")
                }
            }
        }
    }
}

/// The writer's handle to the syncer thread.
pub(super) struct Syncer {
    tx: std::sync::mpsc::Sender<Committed>,
    in_flight: Arc<AtomicUsize>,
}

impl Syncer {
    /// Starts the syncer thread for the WAL file `wal`. When it has caught up it sends
    /// [`Msg::Wake`] to the writer (through a weak sender, so the writer's channel still
    /// closes when the last `Writer` is dropped).
    pub fn start(wal: PathBuf, out: Outlet, wake: mpsc::WeakSender<Msg>) -> Syncer {
        let (tx, rx) = std::sync::mpsc::channel::<Committed>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let pending = in_flight.clone();
        std::thread::Builder::new()
            .name("maestro-sync".into())
            .spawn(move || {
                let mut wal = WalFile {
                    path: wal,
                    file: None,
                };
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    while let Ok(c) = rx.try_recv() {
                        group.push(c);
                    }
                    let synced = if group.iter().any(|c| c.commit.is_ok()) {
                        #[cfg(test)]
                        gate::wait(&wal.path);
                        wal.sync().map_err(|e| StoreError::Unavailable {
                            context: format!("fsync {}", wal.path.display()),
                            cause: Some(super::Cause::Io(std::sync::Arc::new(e))),
                        })
                    } else {
                        Ok(())
                    };
                    // Durable (or failed) now: the writer may commit its open transaction
                    // while the group is answered and broadcast here. Its commit comes through
                    // this channel, so answers and broadcasts stay in commit order.
                    pending.fetch_sub(group.len(), Ordering::AcqRel);
                    if let Some(tx) = wake.upgrade() {
                        let _ = tx.try_send(Msg::Wake);
                    }
                    for c in group {
                        out.deliver(c, synced.clone());
                    }
                }
            })
            .expect("spawning the sync thread");
        Syncer { tx, in_flight }
    }

    /// True when no committed transaction waits for its fsync.
    pub fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Hands a committed transaction over; answered after the next fsync. If the syncer is
    /// gone, it is answered here as failed.
    pub fn send(&self, c: Committed, out: &Outlet) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if let Err(std::sync::mpsc::SendError(c)) = self.tx.send(c) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            out.deliver(c, Err(StoreError::unavailable("the sync thread stopped")));
        }
    }
}

/// The WAL file, reopened when SQLite replaced it.
struct WalFile {
    path: PathBuf,
    file: Option<(std::fs::File, u64)>,
}

impl WalFile {
    fn sync(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let ino = match std::fs::metadata(&self.path) {
            Ok(m) => m.ino(),
            // No WAL (never the case while the server's connections are open): the database
            // file then holds everything.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = self.path.to_string_lossy();
                let db = name.strip_suffix("-wal").unwrap_or(&name);
                return std::fs::File::open(db)?.sync_all();
            }
            Err(e) => return Err(e),
        };
        if self.file.as_ref().is_none_or(|(_, i)| *i != ino) {
            self.file = Some((std::fs::File::open(&self.path)?, ino));
        }
        match &self.file {
            Some((f, _)) => f.sync_data(),
            None => Ok(()),
        }
    }
}

/// Test-only: holds the syncer of a given WAL before its next fsync until the test says so,
/// to put a transaction in the middle of its fsync.
#[cfg(test)]
pub(super) mod gate {
    use std::path::{Path, PathBuf};
    use std::sync::{mpsc, Mutex};
    use std::time::Duration;

    /// Closed gates, by WAL path (tests run in parallel, each on its own WAL).
    static GATES: Mutex<Vec<(PathBuf, mpsc::Receiver<()>)>> = Mutex::new(Vec::new());

    /// The next fsync of `wal` waits until the returned sender sends (or is dropped).
    pub fn close(wal: &Path) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        GATES.lock().expect("gates").push((wal.to_path_buf(), rx));
        tx
    }

    /// Waits at the gate of `wal`, if the test closed one (once).
    pub(super) fn wait(wal: &Path) {
        let gate = GATES.lock().ok().and_then(|mut g| {
            let i = g.iter().position(|(p, _)| p == wal)?;
            Some(g.swap_remove(i).1)
        });
        if let Some(rx) = gate {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }
}
