//! Named operators (login tokens stored as SHA-256 hashes) and the audit log of what people did
//! (decisions, spawns, stops, task and policy changes).

use super::{StoreError, StoreResult};
use crate::store::sql::{params, Db, DbExt, DbResult, OptionalExt};
use crate::time::fmt_ts;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A named operator as listed (never the token).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorInfo {
    /// Name.
    pub name: String,
    /// When added.
    pub created_at: String,
    /// When revoked, if revoked.
    pub revoked_at: Option<String>,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: String,
    /// Who (an operator's name; `operator` for the server's own operator token).
    pub actor: String,
    /// What (`approval.approve`, `approval.deny`, `session.spawn`, `session.stop`,
    /// `task.create`, `task.update`, `task.policy`, `task.delete`).
    pub action: String,
    /// On what (an id).
    pub subject: String,
    /// Details (JSON).
    pub detail: serde_json::Value,
}

/// Names: letters, digits, `.`, `_`, `-`, `@`; 1 to 64 characters; not `operator` (the server's
/// own operator token is called that in the audit).
pub(crate) fn validate_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        && name != "operator";
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "operator name {name:?}: use 1-64 letters, digits, '.', '_', '-', '@' (and not \"operator\")"
        )))
    }
}

pub(crate) fn add_operator(
    conn: &dyn Db,
    name: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    validate_name(name)?;
    let existing: Option<Option<String>> = conn
        .query_row(
            "SELECT revoked_at FROM operators WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(None) => Err(StoreError::Conflict(format!(
            "operator {name} exists (revoke it first to issue a new token)"
        ))),
        Some(Some(_)) => {
            conn.execute(
                "UPDATE operators SET token_hash = ?2, created_at = ?3, revoked_at = NULL \
                 WHERE name = ?1",
                params![name, token_hash, fmt_ts(now)],
            )?;
            Ok(())
        }
        None => {
            conn.execute(
                "INSERT INTO operators (name, token_hash, created_at) VALUES (?1, ?2, ?3)",
                params![name, token_hash, fmt_ts(now)],
            )?;
            Ok(())
        }
    }
}

pub(crate) fn revoke_operator(conn: &dyn Db, name: &str, now: DateTime<Utc>) -> StoreResult<()> {
    let n = conn.execute(
        "UPDATE operators SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
        params![name, fmt_ts(now)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("active operator {name}")));
    }
    Ok(())
}

pub(crate) fn list_operators(conn: &dyn Db) -> StoreResult<Vec<OperatorInfo>> {
    let mut st =
        conn.prepare("SELECT name, created_at, revoked_at FROM operators ORDER BY name")?;
    let rows = st
        .query_map([], |r| {
            Ok(OperatorInfo {
                name: r.get(0)?,
                created_at: r.get(1)?,
                revoked_at: r.get(2)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn operator_for_hash(conn: &dyn Db, token_hash: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT name FROM operators WHERE token_hash = ?1 AND revoked_at IS NULL",
            [token_hash],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn record_audit(
    conn: &dyn Db,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![fmt_ts(now), actor, action, subject, detail.to_string()],
    )?;
    Ok(())
}

pub(super) fn list_audit(conn: &dyn Db, limit: usize) -> StoreResult<Vec<AuditEntry>> {
    let mut st = conn.prepare(
        "SELECT id, at, actor, action, subject, detail FROM audit ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = st
        .query_map([limit as i64], |r| {
            let detail: String = r.get(5)?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_not_the_builtin_one() {
        for ok in ["alice", "bob.smith", "ops-team_2", "a@b.c"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "operator", "a b", "x/y", "é", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
