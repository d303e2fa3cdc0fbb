//! Row mappers shared by reads and the writer's projections.

use crate::store::sql::{Db, DbError, DbExt, DbResult, OptionalExt, Row};
use crate::time::{human_duration, parse_ts};
use maestro_shared::api::{
    Approval, ApprovalStatus, Health, Session, SessionState, Task, TaskStatus, TimelineItem,
};
use maestro_shared::ws::WsMessage;
use serde_json::Value;

/// Columns for [`session_from_row`].
pub const SESSION_COLS: &str = "id, claude_session_id, task_id, state, health, project_dir, cwd, \
    host, claude_pid, spawned, started_at, ended_at, last_event_at, event_count, blocked_on, \
    end_reason, exit_code, result, machine";

/// Maps a `SESSION_COLS` row.
pub fn session_from_row(r: &Row<'_>) -> DbResult<Session> {
    let started: String = r.get(10)?;
    let ended: Option<String> = r.get(11)?;
    let started_at = parse_ts(&started);
    let ended_at = ended.as_deref().map(parse_ts);
    let last_event_at = r.get::<_, Option<String>>(12)?.as_deref().map(parse_ts);
    // Ended: start to end. Running: start to the last event so far (what the store knows; no
    // wall-clock read, so a row reads the same whenever it is read).
    let duration_ms = Some(
        (ended_at.or(last_event_at).unwrap_or(started_at) - started_at)
            .num_milliseconds()
            .max(0),
    );
    let state: String = r.get(3)?;
    let health: String = r.get(4)?;
    let result: Option<String> = r.get(17)?;
    Ok(Session {
        id: r.get(0)?,
        claude_session_id: r.get(1)?,
        task_id: r.get(2)?,
        state: known(3, SessionState::parse(&state), &state)?,
        health: known(4, Health::parse(&health), &health)?,
        project_dir: r.get(5)?,
        cwd: r.get(6)?,
        host: r.get(7)?,
        machine: r.get(18)?,
        claude_pid: r.get(8)?,
        spawned: r.get::<_, i64>(9)? != 0,
        started_at,
        ended_at,
        duration_ms,
        last_event_at,
        event_count: r.get(13)?,
        blocked_on: r.get(14)?,
        end_reason: r.get(15)?,
        exit_code: r.get(16)?,
        result: result.and_then(|t| serde_json::from_str(&t).ok()),
    })
}

/// `load_session`'s statement, built once (it runs for every event).
static LOAD_SESSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1"));

static LOAD_SESSION_BY_CLAUDE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {SESSION_COLS} FROM sessions \
         WHERE id = (SELECT session_id FROM claude_sessions WHERE claude_session_id = ?1)"
    )
});

/// Loads the session a Claude Code session id is mapped to.
pub fn load_session_by_claude(conn: &dyn Db, claude_sid: &str) -> DbResult<Option<Session>> {
    conn.row_cached(&LOAD_SESSION_BY_CLAUDE, [claude_sid], session_from_row)
        .optional()
}

/// Loads a session.
pub fn load_session(conn: &dyn Db, id: &str) -> DbResult<Option<Session>> {
    conn.row_cached(&LOAD_SESSION, [id], session_from_row)
        .optional()
}

/// Columns for [`task_from_row`].
pub const TASK_COLS: &str = "t.id, t.title, t.description, t.status, t.working_dir, t.policy, \
    t.created_at, t.updated_at, \
    (SELECT COUNT(*) FROM sessions s WHERE s.task_id = t.id), \
    (SELECT COUNT(*) FROM sessions s WHERE s.task_id = t.id AND s.state = 'blocked'), \
    t.budget_usd";

/// Maps a `TASK_COLS` row.
pub fn task_from_row(r: &Row<'_>) -> DbResult<Task> {
    let status: String = r.get(3)?;
    Ok(Task {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        status: known(3, TaskStatus::parse(&status), &status)?,
        working_dir: r.get(4)?,
        policy: r.get(5)?,
        created_at: parse_ts(&r.get::<_, String>(6)?),
        updated_at: parse_ts(&r.get::<_, String>(7)?),
        session_count: r.get(8)?,
        blocked_sessions: r.get(9)?,
        budget_usd: r.get(10)?,
    })
}

/// Loads a task.
pub fn load_task(conn: &dyn Db, id: &str) -> DbResult<Option<Task>> {
    conn.row_cached(
        &format!("SELECT {TASK_COLS} FROM tasks t WHERE t.id = ?1"),
        [id],
        task_from_row,
    )
    .optional()
}

/// Columns for [`timeline_from_row`] (`l` = timeline, `s` = sessions).
pub const TIMELINE_COLS: &str = "l.id, l.session_id, s.task_id, l.at, l.kind, l.event, l.summary, \
    l.tool_name, l.tool_use_id, l.status, l.prompt_id, l.agent_id, l.event_id, l.detail, \
    s.started_at, s.ended_at";

/// Maps a `TIMELINE_COLS` row. The session-end line is rendered here, from the session's
/// first and last event, so that it is right whatever order the events arrived in.
pub fn timeline_from_row(r: &Row<'_>) -> DbResult<TimelineItem> {
    let kind: String = r.get(4)?;
    let mut summary: String = r.get(6)?;
    if kind == "session_end" {
        let started: Option<String> = r.get(14)?;
        let ended: Option<String> = r.get(15)?;
        if let (Some(s), Some(e)) = (started, ended) {
            let ms = (parse_ts(&e) - parse_ts(&s)).num_milliseconds();
            summary = format!("Session ended after {}", human_duration(ms));
        }
    }
    let detail: Option<String> = r.get(13)?;
    Ok(TimelineItem {
        id: r.get(0)?,
        session_id: r.get(1)?,
        task_id: r.get(2)?,
        at: parse_ts(&r.get::<_, String>(3)?),
        kind,
        event: r.get(5)?,
        summary,
        tool_name: r.get(7)?,
        tool_use_id: r.get(8)?,
        status: r.get(9)?,
        prompt_id: r.get(10)?,
        agent_id: r.get(11)?,
        event_id: r.get(12)?,
        detail: detail.and_then(|d| serde_json::from_str::<Value>(&d).ok()),
    })
}

/// Loads one timeline line.
pub fn load_timeline_item(conn: &dyn Db, id: i64) -> DbResult<Option<TimelineItem>> {
    conn.row_cached(
        &format!(
            "SELECT {TIMELINE_COLS} FROM timeline l JOIN sessions s ON s.id = l.session_id \
             WHERE l.id = ?1"
        ),
        [id],
        timeline_from_row,
    )
    .optional()
}

/// Columns for [`approval_from_row`] (`a` = approvals, `s` = sessions).
pub const APPROVAL_COLS: &str =
    "a.id, a.session_id, s.task_id, a.event, a.tool_name, a.tool_input, \
    a.summary, a.rule_id, a.reason, a.status, a.created_at, a.decided_at, a.decided_by, \
    a.decision_reason";

/// The columns of a `feed` row.
pub const FEED_COLS: &str = "seq, kind, at, task_id, session_id, data";

/// A `feed` row ([`FEED_COLS`]) as its message and its `data` as stored (JSON text).
pub fn feed_from_row(r: &Row<'_>) -> DbResult<(WsMessage, String)> {
    let data: String = r.get(5)?;
    Ok((
        WsMessage {
            seq: r.get(0)?,
            kind: r.get(1)?,
            at: parse_ts(&r.get::<_, String>(2)?),
            task_id: r.get(3)?,
            session_id: r.get(4)?,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
        },
        data,
    ))
}

/// Approval status wire name.
pub fn approval_status_str(s: ApprovalStatus) -> &'static str {
    match s {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::Denied => "denied",
        ApprovalStatus::TimedOut => "timed_out",
        ApprovalStatus::Cancelled => "cancelled",
        ApprovalStatus::TerminalAllowed => "terminal_allowed",
        ApprovalStatus::TerminalDenied => "terminal_denied",
    }
}

fn parse_approval_status(s: &str) -> Option<ApprovalStatus> {
    Some(match s {
        "pending" => ApprovalStatus::Pending,
        "approved" => ApprovalStatus::Approved,
        "denied" => ApprovalStatus::Denied,
        "timed_out" => ApprovalStatus::TimedOut,
        "cancelled" => ApprovalStatus::Cancelled,
        "terminal_allowed" => ApprovalStatus::TerminalAllowed,
        "terminal_denied" => ApprovalStatus::TerminalDenied,
        _ => return None,
    })
}

/// A stored state name this build does not know is an error (never read as some default: an
/// unknown approval status read as `pending` could be decided again).
fn known<T>(column: usize, parsed: Option<T>, raw: &str) -> DbResult<T> {
    parsed.ok_or_else(|| DbError::Column {
        index: column,
        message: format!("unknown value {raw:?}"),
    })
}

/// Maps an `APPROVAL_COLS` row.
pub fn approval_from_row(r: &Row<'_>) -> DbResult<Approval> {
    let created_at = parse_ts(&r.get::<_, String>(10)?);
    let decided_at = r.get::<_, Option<String>>(11)?.as_deref().map(parse_ts);
    let input: String = r.get(5)?;
    Ok(Approval {
        id: r.get(0)?,
        session_id: r.get(1)?,
        task_id: r.get(2)?,
        event: r.get(3)?,
        tool_name: r.get(4)?,
        tool_input: serde_json::from_str(&input).unwrap_or(Value::Null),
        summary: r.get(6)?,
        rule_id: r.get(7)?,
        reason: r.get(8)?,
        status: {
            let raw: String = r.get(9)?;
            known(9, parse_approval_status(&raw), &raw)?
        },
        created_at,
        decided_at,
        decided_by: r.get(12)?,
        decision_reason: r.get(13)?,
        latency_ms: decided_at.map(|d| (d - created_at).num_milliseconds()),
    })
}

/// Loads an approval.
pub fn load_approval(conn: &dyn Db, id: &str) -> DbResult<Option<Approval>> {
    conn.row_cached(
        &format!(
            "SELECT {APPROVAL_COLS} FROM approvals a LEFT JOIN sessions s ON s.id = a.session_id \
             WHERE a.id = ?1"
        ),
        [id],
        approval_from_row,
    )
    .optional()
}

#[cfg(test)]
mod state_name_tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn every_approval_status_reads_back_and_unknown_names_are_errors() {
        for s in [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::TimedOut,
            ApprovalStatus::Cancelled,
            ApprovalStatus::TerminalAllowed,
            ApprovalStatus::TerminalDenied,
        ] {
            assert_eq!(parse_approval_status(approval_status_str(s)), Some(s));
        }
        assert_eq!(parse_approval_status("bogus"), None);
        assert!(known(9, parse_approval_status("bogus"), "bogus").is_err());
        assert!(known(3, SessionState::parse("zombie"), "zombie").is_err());
        // A read error of this kind is a bug, not a full disk.
        let e = known(3, TaskStatus::parse("x"), "x").expect_err("unknown");
        assert!(matches!(StoreError::from(e), StoreError::Internal { .. }));
    }
}
