//! The feed follower: each replica broadcasts the feed from the database, not from its own
//! writer, so that its WebSocket clients get every replica's messages, once each, in seq
//! order.
//!
//! It reads `feed` rows after the last seq it broadcast, whenever a commit is announced on
//! the `maestro_feed` channel (LISTEN), when this replica's own writer commits, and once a
//! second in case a notification was lost with a connection. Transactions that append commit
//! in seq order (see [`super::write`]), so what it reads is always a gap-free continuation.

use super::conn::PgShared;
use super::write::FEED_CHANNEL;
use crate::store::rows::{feed_from_row, FEED_COLS};
use crate::store::sql::{DbExt, DbResult};
use crate::store::writer::{LiveMessage, Pushed};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

/// Rows read per query.
const PAGE: i64 = 2000;
/// How often the feed is read without a notification.
const POLL: Duration = Duration::from_secs(1);

/// Starts the follower and the LISTEN connection on the current runtime. `seen` is the last
/// seq broadcast (the store's latest seq); `wake` is poked by this replica's writer.
pub fn start(
    shared: Arc<PgShared>,
    feed_tx: broadcast::Sender<Arc<LiveMessage>>,
    seen: Arc<AtomicI64>,
    wake: Arc<Notify>,
) {
    let listen_wake = Arc::clone(&wake);
    shared.handle.spawn(listen(
        shared.config.clone(),
        shared.tls.clone(),
        listen_wake,
    ));
    let handle = shared.handle.clone();
    handle.spawn(async move {
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            let shared = Arc::clone(&shared);
            let feed_tx = feed_tx.clone();
            let seen = Arc::clone(&seen);
            // The store's calls block; run them off the runtime's workers.
            let read = tokio::task::spawn_blocking(move || catch_up(&shared, &feed_tx, &seen));
            match read.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "reading the feed from PostgreSQL failed");
                }
                Err(e) => tracing::error!(error = %e, "the feed follower failed"),
            }
        }
    });
}

/// Broadcasts every feed row after `seen`.
fn catch_up(
    shared: &Arc<PgShared>,
    feed_tx: &broadcast::Sender<Arc<LiveMessage>>,
    seen: &AtomicI64,
) -> DbResult<()> {
    let db = shared.connect()?;
    loop {
        let after = seen.load(Ordering::Acquire);
        let rows = db.rows(
            &format!("SELECT {FEED_COLS} FROM feed WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
            [after, PAGE],
            |r| {
                let (msg, data) = feed_from_row(r)?;
                Ok(Pushed { msg, data })
            },
        )?;
        let n = rows.len();
        for pushed in rows {
            let seq = pushed.msg.seq;
            // Replay may serve it from now on; then it goes live.
            seen.fetch_max(seq, Ordering::AcqRel);
            match pushed.wire_text() {
                Ok(text) => {
                    let _ = feed_tx.send(Arc::new(LiveMessage {
                        msg: pushed.msg,
                        text: text.into(),
                    }));
                }
                Err(e) => tracing::error!(error = %e, seq, "feed message not encodable"),
            }
        }
        if (n as i64) < PAGE {
            return Ok(());
        }
    }
}

/// Holds a connection that LISTENs on the feed channel and pokes `wake` on each
/// notification; reconnects (with a pause) when it breaks.
async fn listen(config: tokio_postgres::Config, tls: super::tls::Connector, wake: Arc<Notify>) {
    use futures_util::StreamExt;
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let conn_task = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                let _ = tx.send(());
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "the LISTEN connection broke");
                                break;
                            }
                        }
                    }
                });
                if let Err(e) = client
                    .batch_execute(&format!("LISTEN {FEED_CHANNEL}"))
                    .await
                {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    // A commit may have happened while we were away.
                    wake.notify_one();
                    while rx.recv().await.is_some() {
                        wake.notify_one();
                    }
                }
                conn_task.abort();
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect to PostgreSQL to LISTEN"),
        }
        tokio::time::sleep(POLL).await;
    }
}
