//! The writer thread's connection on PostgreSQL ([`WriteConn`]).
//!
//! Every write transaction, on every replica, begins by locking the one row of `feed_head`
//! (`SELECT ... FOR UPDATE`), numbers its feed messages after the seq it holds, and sets it to
//! the last one just before COMMIT. The lock is held until the commit, so transactions that
//! append to the feed commit one after another, in seq order: the feed's seq order is the
//! order in which its rows become visible, and a reader that has seen seq N will never find a
//! row below N appear later. See ARCHITECTURE.md, "Team mode".

use super::conn::{PgDb, PgShared};
use crate::store::batch::WriteConn;
use crate::store::sql::{Db, DbError, DbExt, DbResult};
use std::sync::Arc;
use tokio_postgres::SimpleQueryMessage;

/// The channel on which commits that appended to the feed are announced.
pub const FEED_CHANNEL: &str = "maestro_feed";

/// The writer's connection (replaced by a fresh one when the server drops it).
pub struct PgWriteConn {
    shared: Arc<PgShared>,
    db: PgDb,
    replica: String,
}

impl PgWriteConn {
    /// A connection from the store's pool for the writer thread of replica `replica` (the
    /// owner recorded on the sessions and approvals it creates).
    pub fn open(shared: Arc<PgShared>, replica: String) -> DbResult<PgWriteConn> {
        let db = Self::connect(&shared, &replica)?;
        Ok(PgWriteConn {
            shared,
            db,
            replica,
        })
    }

    fn connect(shared: &Arc<PgShared>, replica: &str) -> DbResult<PgDb> {
        let db = shared.connect_own()?;
        // The default of `sessions.replica` and `approvals.replica` (an id of our own making:
        // `r_` and hex digits, nothing to quote).
        db.batch(&format!("SET maestro.replica = '{replica}'"))?;
        Ok(db)
    }

    fn simple(&self, sql: &str) -> DbResult<Vec<SimpleQueryMessage>> {
        self.db
            .block(self.db.client().simple_query(sql))
            .map_err(DbError::Postgres)
    }
}

impl WriteConn for PgWriteConn {
    fn db(&self) -> &dyn Db {
        &self.db
    }

    fn last_seq(&self) -> DbResult<i64> {
        self.db
            .query_row("SELECT seq FROM feed_head WHERE id = 1", [], |r| r.get(0))
    }

    fn begin(&mut self) -> DbResult<i64> {
        if self.db.is_closed() {
            // The server restarted or the connection broke: take a new one.
            self.db = Self::connect(&self.shared, &self.replica)?;
        }
        // One round trip: BEGIN and the feed's append lock.
        let msgs = self.simple("BEGIN; SELECT seq FROM feed_head WHERE id = 1 FOR UPDATE")?;
        self.db.set_in_transaction(true);
        let seq = msgs.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).and_then(|s| s.parse::<i64>().ok()),
            _ => None,
        });
        match seq {
            Some(seq) => Ok(seq),
            None => {
                self.rollback();
                Err(DbError::NoRow)
            }
        }
    }

    fn commit(&mut self, last_seq: Option<i64>) -> DbResult<()> {
        // The UPDATE also proves the transaction is not aborted: COMMIT of an aborted
        // transaction rolls back without an error.
        let sql = match last_seq {
            Some(seq) => format!(
                "UPDATE feed_head SET seq = {seq} WHERE id = 1; NOTIFY {FEED_CHANNEL}; COMMIT"
            ),
            None => "UPDATE feed_head SET seq = seq WHERE id = 1; COMMIT".to_string(),
        };
        self.db.flush()?;
        self.simple(&sql)?;
        self.db.set_in_transaction(false);
        Ok(())
    }

    fn rollback(&mut self) {
        self.db.discard_deferred();
        if !self.db.is_closed() {
            let _ = self.simple("ROLLBACK");
        }
        self.db.set_in_transaction(false);
    }
}
