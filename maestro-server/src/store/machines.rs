//! Machine credentials in the database: one row per machine, keyed by name, holding only the
//! SHA-256 of its token. Used by the server (credential lookup, per-event counters inside the
//! ingest transaction) and by the `maestro-server machines` subcommands, which open the same
//! database file from another process (SQLite WAL: the server may be running).

use super::{StoreError, StoreResult};
use crate::store::sql::{params, Db, DbExt, DbResult, OptionalExt};
use serde::Serialize;

/// One machine, as `machines list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineRow {
    /// The name given to `machines add`.
    pub name: String,
    /// When the credential was made.
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// When the server last stored an event from it.
    pub last_seen_at: Option<String>,
    /// Events stored from it.
    pub events: i64,
}

/// What a presented token is, looked up by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A machine's live credential.
    Active(String),
    /// A machine's credential that was revoked.
    Revoked {
        /// The machine.
        name: String,
        /// When.
        revoked_at: String,
    },
}

/// Longest machine name.
pub const MAX_NAME_CHARS: usize = 64;

/// Checks a machine name: 1 to [`MAX_NAME_CHARS`] characters, letters, digits, `.`, `_`, `-`
/// (it is shown on the board and used on command lines).
pub fn validate_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "machine name {name:?}: use 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Adds a machine with the hash of its new token. A name in use by a live credential is a
/// conflict; a revoked one is replaced (its counters start again).
pub fn add(conn: &dyn Db, name: &str, token_hash: &str, now: &str) -> StoreResult<()> {
    validate_name(name)?;
    let existing: Option<Option<String>> = conn
        .query_row(
            "SELECT revoked_at FROM machines WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(None) => Err(StoreError::Conflict(format!(
            "machine {name} already has a live credential (revoke it first to issue a new one)"
        ))),
        Some(Some(_)) => {
            conn.execute(
                "UPDATE machines SET token_hash = ?2, created_at = ?3, revoked_at = NULL, \
                 last_seen_at = NULL, events = 0 WHERE name = ?1",
                params![name, token_hash, now],
            )?;
            Ok(())
        }
        None => {
            conn.execute(
                "INSERT INTO machines (name, token_hash, created_at) VALUES (?1, ?2, ?3)",
                params![name, token_hash, now],
            )?;
            Ok(())
        }
    }
}

/// Every machine, by name.
pub fn list(conn: &dyn Db) -> StoreResult<Vec<MachineRow>> {
    let mut stmt = conn.prepare(
        "SELECT name, created_at, revoked_at, last_seen_at, events FROM machines ORDER BY name",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(MachineRow {
                name: r.get(0)?,
                created_at: r.get(1)?,
                revoked_at: r.get(2)?,
                last_seen_at: r.get(3)?,
                events: r.get(4)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    Ok(rows)
}

/// Revokes a machine's credential (its events stay). Revoking twice is a conflict that says
/// when it was revoked.
pub fn revoke(conn: &dyn Db, name: &str, now: &str) -> StoreResult<()> {
    let existing: Option<Option<String>> = conn
        .query_row(
            "SELECT revoked_at FROM machines WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        None => Err(StoreError::NotFound(format!("machine {name}"))),
        Some(Some(at)) => Err(StoreError::Conflict(format!(
            "machine {name} was already revoked at {at}"
        ))),
        Some(None) => {
            conn.execute(
                "UPDATE machines SET revoked_at = ?2 WHERE name = ?1",
                params![name, now],
            )?;
            Ok(())
        }
    }
}

/// The credential whose token hashes to `token_hash`, if any.
pub fn lookup(conn: &dyn Db, token_hash: &str) -> StoreResult<Option<Credential>> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT name, revoked_at FROM machines WHERE token_hash = ?1",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(name, revoked)| match revoked {
        None => Credential::Active(name),
        Some(revoked_at) => Credential::Revoked { name, revoked_at },
    }))
}

/// Counts one stored event of `name` (inside the ingest transaction).
pub fn record_event(conn: &dyn Db, name: &str, now: &str) -> StoreResult<()> {
    conn.exec_later(
        "UPDATE machines SET events = events + 1, \
         last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < ?2 THEN ?2 ELSE last_seen_at END \
         WHERE name = ?1",
        params![name, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        super::super::schema::migrate(&mut conn).expect("migrate");
        conn
    }

    #[test]
    fn add_list_lookup_revoke_and_reissue() {
        let conn = db();
        add(&conn, "laptop-1", "h1", "t1").expect("add");
        assert!(matches!(
            add(&conn, "laptop-1", "h2", "t2"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            add(&conn, "bad name", "h3", "t1"),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(
            lookup(&conn, "h1").expect("lookup"),
            Some(Credential::Active("laptop-1".into()))
        );
        assert_eq!(lookup(&conn, "nope").expect("lookup"), None);
        record_event(&conn, "laptop-1", "t5").expect("count");
        record_event(&conn, "laptop-1", "t4").expect("count");
        let rows = list(&conn).expect("list");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].events, 2);
        assert_eq!(rows[0].last_seen_at.as_deref(), Some("t5"));
        revoke(&conn, "laptop-1", "t6").expect("revoke");
        assert!(matches!(
            revoke(&conn, "laptop-1", "t7"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            revoke(&conn, "ghost", "t7"),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            lookup(&conn, "h1").expect("lookup"),
            Some(Credential::Revoked {
                name: "laptop-1".into(),
                revoked_at: "t6".into()
            })
        );
        // A revoked name can be issued a new credential; the old token stays refused.
        add(&conn, "laptop-1", "h9", "t8").expect("reissue");
        assert_eq!(lookup(&conn, "h1").expect("lookup"), None);
        assert_eq!(
            lookup(&conn, "h9").expect("lookup"),
            Some(Credential::Active("laptop-1".into()))
        );
    }
}
