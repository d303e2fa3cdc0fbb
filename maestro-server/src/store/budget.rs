//! Spend limits: what a task has spent (Claude Code's `api_request` records joined to the
//! task's sessions the way cost reports join them) and the check of a new limit.

use super::{StoreError, StoreResult};
use crate::store::sql::{Db, DbExt, OptionalExt};

/// Highest limit accepted (a typo guard, not a policy).
const MAX_BUDGET_USD: f64 = 1_000_000.0;

/// A task's limit and spend, as the decision path sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetState {
    /// The task.
    pub task_id: String,
    /// Its limit (its own, else the server's default).
    pub limit_usd: f64,
    /// What its sessions have spent so far.
    pub spent_usd: f64,
    /// The limit is the task's own (not the default).
    pub own: bool,
}

impl BudgetState {
    /// At or over the limit: the next call is held.
    pub fn reached(&self) -> bool {
        self.spent_usd >= self.limit_usd
    }
}

/// Checks a limit sent by an operator.
pub fn validate(budget_usd: Option<f64>) -> StoreResult<()> {
    match budget_usd {
        Some(v) if !(v.is_finite() && v > 0.0 && v <= MAX_BUDGET_USD) => Err(StoreError::Invalid(
            format!("budget_usd must be a number of USD above 0 and at most {MAX_BUDGET_USD}"),
        )),
        _ => Ok(()),
    }
}

/// What the sessions of `task_id` have spent, in USD. A record counts for the session its
/// Claude session id maps to, else for the Maestro session named in its resource attributes
/// (the same join as the cost reports, driven from the task's sessions so that it reads only
/// their records).
pub fn task_spent(conn: &dyn Db, task_id: &str) -> StoreResult<f64> {
    let mapped: f64 = conn.query_row(
        "SELECT COALESCE(SUM(CASE WHEN r.cost_usd > 0 THEN r.cost_usd ELSE 0 END), 0) FROM sessions s \
         JOIN claude_sessions cs ON cs.session_id = s.id \
         JOIN otel_api_requests r ON r.claude_session_id = cs.claude_session_id \
         WHERE s.task_id = ?1",
        [task_id],
        |r| r.get(0),
    )?;
    let by_attribute: f64 = conn.query_row(
        "SELECT COALESCE(SUM(CASE WHEN r.cost_usd > 0 THEN r.cost_usd ELSE 0 END), 0) FROM sessions s \
         JOIN otel_api_requests r ON r.maestro_session_id = s.id \
         WHERE s.task_id = ?1 AND NOT EXISTS \
           (SELECT 1 FROM claude_sessions cs WHERE cs.claude_session_id = r.claude_session_id)",
        [task_id],
        |r| r.get(0),
    )?;
    Ok(mapped + by_attribute)
}

/// The budget of `task_id` when it has one (its own, else `default_usd`).
pub fn state(
    conn: &dyn Db,
    task_id: &str,
    default_usd: Option<f64>,
) -> StoreResult<Option<BudgetState>> {
    let own: Option<f64> = conn
        .query_row(
            "SELECT budget_usd FROM tasks WHERE id = ?1",
            [task_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let Some(limit_usd) = own.or(default_usd) else {
        return Ok(None);
    };
    Ok(Some(BudgetState {
        task_id: task_id.to_string(),
        limit_usd,
        spent_usd: task_spent(conn, task_id)?,
        own: own.is_some(),
    }))
}

/// USD for people: cents from a dollar up, else up to four decimals (small budgets and cheap
/// models: "$0.012 of $0.01", not "$0.01 of $0.01").
pub fn usd(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 {
        return format!("${v:.2}");
    }
    let four = format!("{v:.4}");
    let trimmed = four.trim_end_matches('0');
    let decimals = trimmed.split('.').nth(1).map_or(0, str::len);
    if decimals < 2 {
        format!("${v:.2}")
    } else {
        format!("${trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_amounts_read_well() {
        assert!(validate(Some(5.0)).is_ok());
        assert!(validate(None).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e6] {
            assert!(validate(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(usd(3.5), "$3.50");
        assert_eq!(usd(0.00042), "$0.0004");
        assert_eq!(usd(0.012), "$0.012");
        assert_eq!(usd(0.01), "$0.01");
        assert_eq!(usd(0.5), "$0.50");
        assert_eq!(usd(0.0), "$0.00");
    }
}
