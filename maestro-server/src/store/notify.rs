//! The notification queue in SQLite: the feed cursor, queued deliveries, attempts, the log.

use super::{StoreError, StoreResult};
use crate::notify::{self, Delivery, Destination, Kind, LogEntry, Notification};
use crate::store::sql::{params, Db, DbExt, DbResult, OptionalExt};
use crate::time::{fmt_ts, parse_ts};
use chrono::{DateTime, Utc};

/// Most feed messages turned into deliveries per pass.
const SCAN_BATCH: i64 = 500;

/// Turns the feed messages after the cursor into queued deliveries and moves the cursor, in
/// the caller's write transaction. A destination gets one delivery per subject and kind.
pub(super) fn enqueue(
    conn: &dyn Db,
    destinations: &[Destination],
    public_url: &str,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    // Before anything else: a destination seen for the first time starts from here.
    let since = first_seq(conn, destinations)?;
    let cursor: i64 = conn
        .query_row("SELECT feed_seq FROM notify_cursor WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(0);
    let mut st = conn.prepare(
        "SELECT seq, kind, at, data FROM feed WHERE seq > ?1 AND kind IN \
         ('approval:pending', 'session:updated', 'task:updated') ORDER BY seq LIMIT ?2",
    )?;
    let rows: Vec<(i64, String, String, String)> = st
        .query_map(params![cursor, SCAN_BATCH], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<DbResult<_>>()?;
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok(0);
    };
    let mut project_of = |session_id: &str| -> Option<String> {
        conn.query_row(
            "SELECT project_dir FROM sessions WHERE id = ?1",
            [session_id],
            |r| r.get(0),
        )
        .optional()
        .ok()
        .flatten()
        .flatten()
    };
    let mut queued = 0;
    for (seq, kind, at, data) in &rows {
        let Ok(data) = serde_json::from_str(data) else {
            continue;
        };
        let Some(n) = notify::from_feed(kind, parse_ts(at), &data, public_url, &mut project_of)
        else {
            continue;
        };
        let payload = serde_json::to_string(&n)
            .map_err(|e| StoreError::internal(format!("notification: {e}")))?;
        let new_to = |d: &&Destination| since.get(&d.name).is_none_or(|from| seq > from);
        for d in destinations.iter().filter(new_to).filter(|d| d.wants(&n)) {
            queued += conn.execute(
                "INSERT INTO notifications (destination, dedupe_key, kind, summary, \
                 payload, status, attempts, created_at, next_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6) ON CONFLICT DO NOTHING",
                params![
                    d.name,
                    n.key,
                    n.kind.as_str(),
                    n.summary,
                    payload,
                    fmt_ts(now)
                ],
            )?;
        }
    }
    conn.execute(
        "INSERT INTO notify_cursor (id, feed_seq) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET feed_seq = excluded.feed_seq",
        [last],
    )?;
    Ok(queued)
}

/// Deliveries due at `now`, oldest first.
pub(super) fn due(conn: &dyn Db, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Delivery>> {
    let mut st = conn.prepare(
        "SELECT id, destination, attempts, payload FROM notifications \
         WHERE status = 'pending' AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2",
    )?;
    let rows = st
        .query_map(params![fmt_ts(now), limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<DbResult<Vec<_>>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, destination, attempts, payload) in rows {
        let mut notification: Notification = serde_json::from_str(&payload)
            .map_err(|e| StoreError::internal(format!("stored notification {id}: {e}")))?;
        notification.key = String::new();
        out.push(Delivery {
            id,
            destination,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            notification,
        });
    }
    Ok(out)
}

/// Records an attempt: delivered, or failed and retried after `retry` (`None`: given up).
pub(super) fn record(
    conn: &dyn Db,
    id: i64,
    outcome: &Result<(), String>,
    retry: Option<std::time::Duration>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    match outcome {
        Ok(()) => conn.execute(
            "UPDATE notifications SET status = 'delivered', attempts = attempts + 1, \
             delivered_at = ?2, next_at = NULL, last_error = NULL WHERE id = ?1",
            params![id, fmt_ts(now)],
        )?,
        Err(e) => {
            let next = retry
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| fmt_ts(now + d));
            conn.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?2, \
                 status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END, next_at = ?3 \
                 WHERE id = ?1",
                params![id, e, next],
            )?
        }
    };
    Ok(())
}

/// Where each destination starts: the newest feed message when it was first seen (added
/// through the API, or first in force from the config file), so that a new destination is not
/// sent what happened before it existed, however long the queue's cursor stood still.
fn first_seq(
    conn: &dyn Db,
    destinations: &[Destination],
) -> StoreResult<std::collections::HashMap<String, i64>> {
    let mut out = std::collections::HashMap::new();
    for d in destinations {
        conn.execute(
            "INSERT INTO notify_since (name, feed_seq) \
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) FROM feed)) ON CONFLICT DO NOTHING",
            [&d.name],
        )?;
        let from: i64 = conn.query_row(
            "SELECT feed_seq FROM notify_since WHERE name = ?1",
            [&d.name],
            |r| r.get(0),
        )?;
        out.insert(d.name.clone(), from);
    }
    Ok(out)
}

/// The delivery log, newest first.
pub(super) fn log(conn: &dyn Db, limit: usize) -> StoreResult<Vec<LogEntry>> {
    let mut st = conn.prepare(
        "SELECT id, destination, kind, summary, status, attempts, created_at, delivered_at, \
         next_at, last_error FROM notifications ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = st
        .query_map([limit as i64], |r| {
            let kind: String = r.get(2)?;
            Ok((
                kind,
                LogEntry {
                    id: r.get(0)?,
                    destination: r.get(1)?,
                    kind: Kind::Permission,
                    summary: r.get(3)?,
                    status: r.get(4)?,
                    attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
                    created_at: r.get(6)?,
                    delivered_at: r.get(7)?,
                    next_at: r.get(8)?,
                    last_error: r.get(9)?,
                },
            ))
        })?
        .collect::<DbResult<Vec<_>>>()?;
    rows.into_iter()
        .map(|(kind, mut e)| {
            e.kind = Kind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind)
                .ok_or_else(|| {
                    StoreError::internal(format!("unknown notification kind {kind:?}"))
                })?;
            Ok(e)
        })
        .collect()
}

/// The destinations stored through the API, by name.
pub(super) fn destinations(conn: &dyn Db) -> StoreResult<Vec<StoredDestination>> {
    let mut st = conn.prepare(
        "SELECT name, spec, updated_at, updated_by FROM notify_destinations ORDER BY name",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<DbResult<Vec<_>>>()?;
    rows.into_iter()
        .map(|(name, spec, updated_at, updated_by)| {
            let destination = serde_json::from_str(&spec).map_err(|e| {
                StoreError::internal(format!("stored notification destination {name:?}: {e}"))
            })?;
            Ok(StoredDestination {
                destination,
                updated_at,
                updated_by,
            })
        })
        .collect()
}

/// Adds (`create`: it starts from the newest feed message) or replaces a stored destination
/// and audits it, in the caller's write transaction.
pub(super) fn save_destination(
    conn: &dyn Db,
    dest: &Destination,
    create: bool,
    actor: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let spec = serde_json::to_string(dest)
        .map_err(|e| StoreError::internal(format!("notification destination: {e}")))?;
    let exists = conn
        .query_row(
            "SELECT 1 FROM notify_destinations WHERE name = ?1",
            [&dest.name],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    match (create, exists) {
        (true, true) => {
            return Err(StoreError::Conflict(format!(
                "a notification destination named {:?} exists",
                dest.name
            )))
        }
        (false, false) => {
            return Err(StoreError::NotFound(format!(
                "notification destination {:?}",
                dest.name
            )))
        }
        _ => {}
    }
    conn.execute(
        "INSERT INTO notify_destinations (name, spec, updated_at, updated_by) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        params![dest.name, spec, fmt_ts(now), actor],
    )?;
    if create {
        conn.execute(
            "INSERT INTO notify_since (name, feed_seq) \
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) FROM feed)) \
             ON CONFLICT (name) DO UPDATE SET feed_seq = excluded.feed_seq",
            [&dest.name],
        )?;
    }
    let action = if create {
        "notify.add"
    } else {
        "notify.update"
    };
    super::people::record_audit(conn, now, actor, action, &dest.name, &dest.audit_view())
}

/// Removes a stored destination and audits it; its queued deliveries are given up.
pub(super) fn delete_destination(
    conn: &dyn Db,
    name: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let n = conn.execute("DELETE FROM notify_destinations WHERE name = ?1", [name])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "notification destination {name:?}"
        )));
    }
    conn.execute("DELETE FROM notify_since WHERE name = ?1", [name])?;
    conn.execute(
        "UPDATE notifications SET status = 'failed', next_at = NULL, \
         last_error = 'destination removed' WHERE destination = ?1 AND status = 'pending'",
        [name],
    )?;
    super::people::record_audit(
        conn,
        now,
        actor,
        "notify.remove",
        name,
        &serde_json::Value::Null,
    )
}

/// A destination kept in the store, with who changed it last.
#[derive(Debug, Clone)]
pub struct StoredDestination {
    /// The destination.
    pub destination: Destination,
    /// When it was last changed.
    pub updated_at: String,
    /// Who changed it last.
    pub updated_by: String,
}
