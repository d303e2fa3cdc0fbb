//! Approvals in the store: creation and every transition of [`crate::approvals::machine`],
//! applied inside a write transaction. Each transition writes the row, an audit line on the
//! session's timeline, the session's state when it changes, the tool call's line when the call
//! did not run, and a committed `approval:resolved` feed message, so every browser's modal,
//! badge and count follow it.
//!
//! Events resolve an approval only when they come from the process that raised it: the same
//! Claude session id, host and CLI process (pid and start time). A forged event sent with the
//! shared ingest token for another session cannot resolve or cancel its approvals.

use crate::approvals::machine::{self, Trigger};
use crate::store::projection::{add_line, emit_session, mark_not_run, refresh_task_status, Line};
use crate::store::rows::{approval_status_str, load_approval, load_session};
use crate::store::sql::{params, Db, DbExt, DbResult, Dialect, OptionalExt};
use crate::store::writer::Feed;
use crate::store::{DecisionRecord, StoreError, StoreResult};
use crate::time::fmt_ts;
use crate::timeline::ask_summary;
use chrono::{DateTime, Utc};
use maestro_shared::api::{Approval, ApprovalStatus, Session, SessionState};
use maestro_shared::events::{HookEvent, HookEventName};
use maestro_shared::ws::types;
use maestro_shared::Envelope;
use serde_json::{json, Value};

/// Statuses an event of the raising process can still move (see [`machine::open_to_events`]).
const OPEN: &str = "('pending','timed_out','terminal_denied')";

/// Whether a session has an approval in an [`OPEN`] status.
const HAS_OPEN: &str = "SELECT EXISTS(SELECT 1 FROM approvals WHERE session_id = ?1 \
     AND status IN ('pending','timed_out','terminal_denied'))";

/// Who sent an event: what must match the raiser of an approval.
struct Origin<'a> {
    claude_session_id: &'a str,
    host: Option<&'a str>,
    pid: Option<i64>,
    pid_start: Option<i64>,
}

impl<'a> Origin<'a> {
    fn of(env: &'a Envelope, ev: &'a HookEvent) -> Origin<'a> {
        Origin {
            claude_session_id: &ev.common.session_id,
            host: env.source.host.as_deref(),
            pid: env.source.claude_pid.map(i64::from),
            pid_start: env
                .source
                .claude_pid_start
                .and_then(|s| i64::try_from(s).ok()),
        }
    }
}

/// The SQL condition (on `approvals a`) that the event's origin raised it: `?2..?5`.
const SAME_ORIGIN: &str = "a.claude_session_id IS NOT DISTINCT FROM ?2 AND a.host IS NOT DISTINCT FROM ?3 AND a.claude_pid IS NOT DISTINCT FROM ?4 \
     AND a.claude_pid_start IS NOT DISTINCT FROM ?5";

/// Creates the approval of a held decision and emits `approval:pending`. A PermissionRequest
/// (no `tool_use_id`) is linked to the pending call its PreToolUse announced: the newest
/// pending call of the same tool (and subagent) not held by another pending approval (a
/// PreToolUse hold that timed out on the same call does not count: its dialog is this one).
pub fn create(
    conn: &dyn Db,
    feed: &mut Feed,
    approval_id: &str,
    session: &Session,
    env: &Envelope,
    ev: &HookEvent,
    d: &DecisionRecord,
) -> StoreResult<()> {
    let tool = ev.tool.tool_name.clone().unwrap_or_default();
    let tool_use_id = match &ev.tool.tool_use_id {
        Some(id) => Some(id.clone()),
        None => conn
            .query_row(
                "SELECT c.tool_use_id FROM tool_calls c WHERE c.session_id = ?1 \
                 AND c.tool_name = ?2 AND c.status = 'pending' AND c.agent_id IS NOT DISTINCT FROM ?3 \
                 AND c.pre_at <= ?4 AND NOT EXISTS (SELECT 1 FROM approvals a \
                   WHERE a.session_id = c.session_id AND a.tool_use_id = c.tool_use_id \
                   AND a.status = 'pending') \
                 ORDER BY c.pre_at DESC LIMIT 1",
                params![
                    session.id,
                    tool,
                    ev.common.agent_id,
                    fmt_ts(env.captured_at)
                ],
                |r| r.get(0),
            )
            .optional()?,
    };
    let origin = Origin::of(env, ev);
    conn.exec_cached(
        "INSERT INTO approvals (id, session_id, event, tool_name, tool_input, summary, rule_id, \
         reason, status, created_at, event_id, tool_use_id, claude_session_id, host, claude_pid, \
         claude_pid_start) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,'pending',?9,?10,?11,?12,?13,?14,?15)",
        params![
            approval_id,
            session.id,
            ev.name().as_str(),
            tool,
            input_text(ev.tool.tool_input.as_ref()),
            ask_summary(ev),
            d.decision.rule_id,
            d.decision.reason,
            fmt_ts(d.decided_at),
            env.event_id.to_string(),
            tool_use_id,
            origin.claude_session_id,
            origin.host,
            origin.pid,
            origin.pid_start,
        ],
    )?;
    if let Some(a) = load_approval(conn, approval_id)? {
        let data = serde_json::to_value(&a).map_err(|e| StoreError::Invalid(e.to_string()))?;
        feed.push(
            conn,
            types::APPROVAL_PENDING,
            env.captured_at,
            a.task_id.as_deref(),
            Some(&a.session_id),
            data,
        )?;
    }
    Ok(())
}

/// How a tool input is stored (and compared when a PermissionRequest's call is matched).
fn input_text(input: Option<&Value>) -> String {
    input.map_or_else(|| "null".to_string(), Value::to_string)
}

/// Applies `trigger` to approval `id`. `Ok(Ok(new))` when it moved, `Ok(Err(current))` when
/// the machine refused (already decided, a duplicate or late event). `ended_by` names the end
/// of a session for [`Trigger::SessionGone`]; `reason` is the operator's.
pub fn transition(
    conn: &dyn Db,
    feed: &mut Feed,
    id: &str,
    trigger: Trigger,
    ended_by: Option<&str>,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<Result<Approval, Approval>> {
    let current =
        load_approval(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("approval {id}")))?;
    // A held PreToolUse keeps the CLI blocked on its hook: no event of that session can
    // legitimately show the call answered until the hold ends (times out, the operator decides,
    // the hook is killed or the process is gone). Such an event is a forgery (the ingest token
    // is in the agent's environment) and changes nothing.
    let from_event = matches!(
        trigger,
        Trigger::ToolRan | Trigger::ToolNotRun | Trigger::SessionGone
    ) && ended_by.is_none();
    if from_event
        && current.status == ApprovalStatus::Pending
        && current.event == HookEventName::PreToolUse.as_str()
    {
        return Ok(Err(current));
    }
    let Some(step) = machine::next(current.status, trigger) else {
        return Ok(Err(current));
    };
    // Who: the session's end (process gone, session ended), the operator's name.
    let by = match (trigger, ended_by) {
        (Trigger::SessionGone | Trigger::Operator { .. }, Some(b)) => b,
        _ => step.decided_by,
    };
    let reason = match (reason, current.status) {
        (Some(r), _) => Some(r.to_string()),
        (None, ApprovalStatus::Pending) if step.status == ApprovalStatus::TimedOut => Some(
            "no decision in Maestro within the hold timeout: left to Claude Code's own prompt in the terminal"
                .to_string(),
        ),
        (None, ApprovalStatus::TimedOut) => {
            Some("after Maestro's hold timed out, answered at Claude Code's own prompt".into())
        }
        (None, _) => current.decision_reason.clone(),
    };
    let at_s = fmt_ts(at);
    conn.execute(
        "UPDATE approvals SET status = ?2, decided_at = ?3, decided_by = ?4, decision_reason = ?5 \
         WHERE id = ?1",
        params![id, approval_status_str(step.status), at_s, by, reason],
    )?;
    let a =
        load_approval(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("approval {id}")))?;
    audit_line(conn, feed, &a, &at_s)?;
    let session = load_session(conn, &a.session_id)?;
    let tool_use_id: Option<String> = conn
        .query_row(
            "SELECT tool_use_id FROM approvals WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    if step.status == ApprovalStatus::TerminalDenied {
        if let (Some(tu), Some(s)) = (&tool_use_id, &session) {
            mark_not_run(
                conn,
                feed,
                s,
                &a,
                tu,
                "denied or dismissed in the terminal",
                &at_s,
            )?;
        }
    }
    if let Some(s) = &session {
        settle_session(conn, feed, s, trigger, at)?;
    }
    let data = serde_json::to_value(&a).map_err(|e| StoreError::Invalid(e.to_string()))?;
    feed.push(
        conn,
        types::APPROVAL_RESOLVED,
        at,
        a.task_id.as_deref(),
        Some(&a.session_id),
        data,
    )?;
    Ok(Ok(a))
}

/// The audit line of a transition. An approval has one line from held to decided: the
/// "Held for approval" line its request wrote becomes the decision's line (who decided, and
/// how long it was held), in place and at the time it was held; without one, a new line.
fn audit_line(conn: &dyn Db, feed: &mut Feed, a: &Approval, at_s: &str) -> StoreResult<()> {
    let why = a
        .decision_reason
        .as_deref()
        .filter(|_| matches!(a.status, ApprovalStatus::Approved | ApprovalStatus::Denied))
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let by = a.decided_by.as_deref().unwrap_or("");
    let (summary, status) = match a.status {
        ApprovalStatus::Approved => (format!("Approved by {by}: {}{why}", a.summary), "ok"),
        ApprovalStatus::Denied => (format!("Denied by {by}: {}{why}", a.summary), "error"),
        ApprovalStatus::TimedOut => (
            format!(
                "No decision in Maestro in time, left to the terminal: {}",
                a.summary
            ),
            "warning",
        ),
        ApprovalStatus::TerminalAllowed => (
            format!("Answered in the terminal (allowed): {}", a.summary),
            "ok",
        ),
        ApprovalStatus::TerminalDenied => (
            format!(
                "Answered in the terminal (denied or dismissed): {}",
                a.summary
            ),
            "warning",
        ),
        ApprovalStatus::Cancelled => (format!("Cancelled ({by}): {}", a.summary), "info"),
        ApprovalStatus::Pending => return Ok(()),
    };
    let detail = json!({"approval_id": a.id, "status": a.status,
        "decided_by": a.decided_by, "latency_ms": a.latency_ms, "rule_id": a.rule_id});
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT id, detail FROM timeline WHERE session_id = ?1 AND kind = 'decision' \
             AND status = 'warning' AND json_extract(detail, '$.approval_id') = ?2 \
             ORDER BY id DESC LIMIT 1"
        }
        Dialect::Postgres => {
            "SELECT id, detail FROM timeline WHERE session_id = ?1 AND kind = 'decision' \
             AND status = 'warning' AND CAST(detail AS JSONB) ->> 'approval_id' = ?2 \
             ORDER BY id DESC LIMIT 1"
        }
    };
    let held: Option<(i64, Option<String>)> = conn
        .row_cached(sql, params![a.session_id, a.id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((id, held_detail)) = held {
        let mut merged = held_detail
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        if let (Some(m), Some(d)) = (merged.as_object_mut(), detail.as_object()) {
            for (k, v) in d {
                m.insert(k.clone(), v.clone());
            }
            m.insert("decided_at".into(), json!(at_s));
        }
        let held_for = a
            .latency_ms
            .map(|ms| format!(" (held {})", held_duration(ms)))
            .unwrap_or_default();
        conn.exec_cached(
            "UPDATE timeline SET summary = ?2, status = ?3, detail = ?4 WHERE id = ?1",
            params![
                id,
                format!("{summary}{held_for}"),
                status,
                merged.to_string()
            ],
        )?;
        return super::projection::emit_line(conn, feed, id);
    }
    add_line(
        conn,
        feed,
        &Line {
            session_id: &a.session_id,
            task_id: a.task_id.as_deref(),
            at: at_s,
            kind: "decision",
            event: &a.event,
            summary: &summary,
            tool_name: Some(&a.tool_name),
            status,
            detail: Some(&detail),
            ..Line::default()
        },
    )?;
    Ok(())
}

/// "850 ms", "12 s", "3 min 5 s".
fn held_duration(ms: i64) -> String {
    match ms {
        ..=999 => format!("{} ms", ms.max(0)),
        1_000..=59_999 => format!("{} s", ms / 1000),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// After a transition, what a blocked session waits for: another pending approval (keep it),
/// a dialog left to the terminal ("Waiting at the terminal: ..."), nothing after a terminal
/// "No" or Escape (waiting for input: no hook fires then), else it is active again.
fn settle_session(
    conn: &dyn Db,
    feed: &mut Feed,
    s: &Session,
    trigger: Trigger,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let Some(current) = load_session(conn, &s.id)? else {
        return Ok(());
    };
    if current.state != SessionState::Blocked {
        return Ok(());
    }
    let open: Option<(String, String)> = conn
        .query_row(
            "SELECT status, summary FROM approvals WHERE session_id = ?1 \
             AND status IN ('pending','timed_out') \
             ORDER BY status = 'pending' DESC, created_at DESC LIMIT 1",
            [&s.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (state, blocked_on) = match open {
        Some((status, summary)) if status == "pending" => (SessionState::Blocked, Some(summary)),
        Some((_, summary)) => (
            SessionState::Blocked,
            Some(format!("Waiting at the terminal: {summary}")),
        ),
        None if trigger == Trigger::HookGone => (SessionState::WaitingForInput, None),
        None => (SessionState::Active, None),
    };
    if state == current.state && blocked_on == current.blocked_on {
        return Ok(());
    }
    let at_s = fmt_ts(at);
    conn.execute(
        "UPDATE sessions SET state = ?2, blocked_on = ?3, \
           state_at = CASE WHEN state_at IS NULL OR state_at < ?4 THEN ?4 ELSE state_at END \
         WHERE id = ?1",
        params![s.id, state.as_str(), blocked_on, at_s],
    )?;
    if let Some(t) = &s.task_id {
        refresh_task_status(conn, t, at)?;
    }
    emit_session(conn, feed, &s.id, at)
}

/// Resolves the open approvals of `session` that this event proves answered: a tool that
/// ran (PostToolUse, PostToolUseFailure, PostToolBatch), a call that never ran, the end of
/// the turn or a new prompt (the dialog is gone), the end of the session. Only approvals the
/// same process raised are touched. Returns the approvals that moved (their held hooks are
/// released by the caller once the transaction is durable).
pub fn on_event(
    conn: &dyn Db,
    feed: &mut Feed,
    session: &Session,
    env: &Envelope,
    ev: &HookEvent,
) -> StoreResult<Vec<Approval>> {
    use HookEventName as E;
    if !matches!(
        ev.name(),
        E::PostToolUse
            | E::PostToolUseFailure
            | E::PostToolBatch
            | E::Stop
            | E::StopFailure
            | E::UserPromptSubmit
            | E::SessionEnd
    ) {
        return Ok(Vec::new());
    }
    // The common case, on the hot path: nothing open in this session, nothing to match (one
    // index probe instead of serialising the tool input for the matching query).
    let open: bool = conn
        .prepare_cached(HAS_OPEN)?
        .query_row([&session.id], |r| r.get(0))?;
    if !open {
        return Ok(Vec::new());
    }
    let origin = Origin::of(env, ev);
    let at = env.captured_at;
    let at_s = fmt_ts(at);
    let mut moved = Vec::new();
    match ev.name() {
        E::PostToolUse | E::PostToolUseFailure => {
            for id in matching_call(
                conn,
                session,
                &origin,
                ev.tool.tool_use_id.as_deref(),
                ev.tool.tool_name.as_deref(),
                ev.tool.tool_input.as_ref(),
                &at_s,
            )? {
                push_moved(
                    &mut moved,
                    transition(conn, feed, &id, Trigger::ToolRan, None, None, at)?,
                );
            }
        }
        E::PostToolBatch => {
            for call in ev.tool_calls.iter().flatten() {
                let Some(tool_use_id) = call.tool_use_id.as_deref() else {
                    continue;
                };
                let ids = matching_call(
                    conn,
                    session,
                    &origin,
                    Some(tool_use_id),
                    call.tool_name.as_deref(),
                    call.tool_input.as_ref(),
                    &at_s,
                )?;
                if ids.is_empty() {
                    continue;
                }
                let trigger = if call_ran(conn, &session.id, tool_use_id)? {
                    Trigger::ToolRan
                } else {
                    Trigger::ToolNotRun
                };
                for id in ids {
                    push_moved(
                        &mut moved,
                        transition(conn, feed, &id, trigger, None, None, at)?,
                    );
                }
            }
        }
        E::Stop | E::StopFailure | E::UserPromptSubmit | E::SessionEnd => {
            // Raised before this event by the same process and not answered yet: the dialog
            // is gone (a turn cannot end, nor a prompt be typed, while it is shown).
            let rows: Vec<(String, Option<String>)> = {
                let mut st = conn.prepare_cached(&format!(
                    "SELECT a.id, a.tool_use_id FROM approvals a \
                     JOIN events e ON e.event_id = a.event_id \
                     WHERE a.session_id = ?1 AND a.status IN ('pending','timed_out') \
                     AND {SAME_ORIGIN} AND e.captured_at <= ?6 ORDER BY a.created_at"
                ))?;
                let rows = st.query_map(
                    params![
                        session.id,
                        origin.claude_session_id,
                        origin.host,
                        origin.pid,
                        origin.pid_start,
                        at_s
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                rows.collect::<DbResult<_>>()?
            };
            for (id, tool_use_id) in rows {
                let trigger = if *ev.name() == E::SessionEnd {
                    Trigger::SessionGone
                } else if let Some(tu) = &tool_use_id {
                    if call_ran(conn, &session.id, tu)? {
                        Trigger::ToolRan
                    } else {
                        Trigger::ToolNotRun
                    }
                } else {
                    Trigger::ToolNotRun
                };
                push_moved(
                    &mut moved,
                    transition(conn, feed, &id, trigger, None, None, at)?,
                );
            }
        }
        _ => {}
    }
    Ok(moved)
}

fn push_moved(moved: &mut Vec<Approval>, r: Result<Approval, Approval>) {
    if let Ok(a) = r {
        moved.push(a);
    }
}

/// Whether a call of the session ran (its PostToolUse or PostToolUseFailure was stored).
fn call_ran(conn: &dyn Db, session_id: &str, tool_use_id: &str) -> StoreResult<bool> {
    Ok(conn
        .row_cached(
            "SELECT status IN ('ok','error') FROM tool_calls WHERE session_id = ?1 AND tool_use_id = ?2",
            params![session_id, tool_use_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false))
}

/// Open approvals of the same origin for one call: linked by `tool_use_id`, or (a
/// PermissionRequest not linked to its PreToolUse) the same tool and input raised before.
#[allow(clippy::too_many_arguments)]
fn matching_call(
    conn: &dyn Db,
    session: &Session,
    origin: &Origin<'_>,
    tool_use_id: Option<&str>,
    tool_name: Option<&str>,
    tool_input: Option<&Value>,
    at_s: &str,
) -> StoreResult<Vec<String>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT a.id FROM approvals a LEFT JOIN events e ON e.event_id = a.event_id \
         WHERE a.session_id = ?1 AND a.status IN {OPEN} AND {SAME_ORIGIN} \
         AND ((?6 IS NOT NULL AND a.tool_use_id = ?6) \
           OR (a.tool_use_id IS NULL AND a.tool_name IS NOT DISTINCT FROM ?7 AND a.tool_input = ?8 \
               AND e.captured_at <= ?9)) \
         ORDER BY a.created_at"
    ))?;
    let rows = st.query_map(
        params![
            session.id,
            origin.claude_session_id,
            origin.host,
            origin.pid,
            origin.pid_start,
            tool_use_id,
            tool_name,
            input_text(tool_input),
            at_s,
        ],
        |r| r.get(0),
    )?;
    Ok(rows.collect::<DbResult<_>>()?)
}

/// Cancels the open approvals of a session whose process ended or is gone (the server's own
/// observation). `by`: `session ended`, `process gone`. With `gone_pid` (an unmanaged CLI
/// found gone by the liveness watch) only approvals raised by that process are cancelled: a
/// forged event that pointed the session at a dead pid cannot cancel what a live process
/// raised.
pub fn end_session(
    conn: &dyn Db,
    feed: &mut Feed,
    session_id: &str,
    by: &str,
    gone_pid: Option<i64>,
    at: DateTime<Utc>,
) -> StoreResult<Vec<Approval>> {
    let ids: Vec<String> = {
        let mut st = conn.prepare_cached(
            "SELECT id FROM approvals WHERE session_id = ?1 AND status IN ('pending','timed_out') \
             AND (?2 IS NULL OR claude_pid IS NULL OR claude_pid = ?2) ORDER BY created_at",
        )?;
        let rows = st.query_map(params![session_id, gone_pid], |r| r.get(0))?;
        rows.collect::<DbResult<_>>()?
    };
    let mut moved = Vec::new();
    for id in ids {
        push_moved(
            &mut moved,
            transition(conn, feed, &id, Trigger::SessionGone, Some(by), None, at)?,
        );
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use crate::approvals::machine::Trigger;
    use crate::store::projection::new_id;
    use crate::store::sql_store::SqlStore;
    use crate::store::{DecisionRecord, Store};
    use maestro_shared::api::{ApprovalStatus, SessionState};
    use maestro_shared::policy::{Decision, Outcome};
    use maestro_shared::{Envelope, HookEvent};
    use serde_json::{json, Value};
    use std::sync::Arc;

    struct World {
        store: Arc<dyn Store>,
        _dir: tempfile::TempDir,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().expect("dir");
        let (tx, _) = tokio::sync::broadcast::channel(1024);
        let store = SqlStore::open(&dir.path().join("m.db"), false, tx).expect("open the store");
        World {
            store: Arc::new(store),
            _dir: dir,
        }
    }

    /// An envelope from the test "CLI" (host h1, pid 100 started at 5) unless `origin` says.
    fn env(payload: Value, origin: (&str, u32)) -> Envelope {
        let name = payload["hook_event_name"]
            .as_str()
            .expect("name")
            .to_string();
        let mut e = Envelope::new(name, payload);
        e.source.host = Some(origin.0.into());
        e.source.claude_pid = Some(origin.1);
        e.source.claude_pid_start = Some(5);
        e
    }

    const CLI: (&str, u32) = ("h1", 100);

    impl World {
        /// Stores an event (with a hold decision for decision events); returns the approval
        /// created, if any.
        async fn send(&self, payload: Value, origin: (&str, u32)) -> Option<String> {
            let e = env(payload, origin);
            self.send_env(e).await
        }

        async fn send_env(&self, e: Envelope) -> Option<String> {
            let ev = HookEvent::parse(&e.payload).expect("payload");
            let decision = ev.name().is_decision().then(|| DecisionRecord {
                decision: Decision {
                    outcome: Outcome::Hold,
                    rule_id: "test".into(),
                    reason: "held".into(),
                },
                stdout: None,
                approval_id: Some(new_id("a_")),
                latency_ms: 0.0,
                decided_at: chrono::Utc::now(),
            });
            let id = decision.as_ref().and_then(|d| d.approval_id.clone());
            let raw = axum::body::Bytes::from(serde_json::to_vec(&e).expect("json"));
            self.store
                .ingest(e, Some(ev), raw, decision, None)
                .await
                .expect("ingest");
            id
        }

        async fn status(&self, id: &str) -> ApprovalStatus {
            self.store.get_approval(id).await.expect("approval").status
        }

        async fn state(&self, id: &str) -> SessionState {
            let a = self.store.get_approval(id).await.expect("approval");
            self.store
                .get_session(&a.session_id)
                .await
                .expect("session")
                .state
        }
    }

    fn pre(tu: &str) -> Value {
        json!({"session_id": "c1", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "make"}, "tool_use_id": tu})
    }

    fn request() -> Value {
        json!({"session_id": "c1", "hook_event_name": "PermissionRequest", "tool_name": "Bash",
            "tool_input": {"command": "make"}})
    }

    fn post(tu: &str) -> Value {
        json!({"session_id": "c1", "hook_event_name": "PostToolUse", "tool_name": "Bash",
            "tool_input": {"command": "make"}, "tool_use_id": tu, "tool_response": {"stdout": ""}})
    }

    /// A PermissionRequest held after its PreToolUse (which Maestro had no opinion on).
    async fn held(w: &World) -> String {
        let e = env(pre("t1"), CLI);
        let ev = HookEvent::parse(&e.payload).expect("payload");
        let raw = axum::body::Bytes::from(serde_json::to_vec(&e).expect("json"));
        w.store
            .ingest(e, Some(ev), raw, None, None)
            .await
            .expect("pre");
        w.send(request(), CLI).await.expect("approval")
    }

    /// A held PreToolUse blocks the CLI on its hook, so no event of the call can answer it:
    /// events forged by the agent itself (same session, host, pid and start time, with the
    /// ingest token from its environment) leave it pending. Only a timeout, an operator, the
    /// hook's end or the process's end move it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_forged_by_the_raising_process_cannot_end_a_held_pre_tool_use() {
        let w = world();
        let id = w.send(pre("t9"), CLI).await.expect("held PreToolUse");
        for forged in [
            post("t9"),
            json!({"session_id": "c1", "hook_event_name": "PostToolBatch",
                "tool_calls": [{"tool_name": "Bash", "tool_input": {"command": "make"},
                    "tool_use_id": "t9"}]}),
            json!({"session_id": "c1", "hook_event_name": "Stop"}),
            json!({"session_id": "c1", "hook_event_name": "UserPromptSubmit", "prompt": "x"}),
        ] {
            w.send(forged.clone(), CLI).await;
            assert_eq!(w.status(&id).await, ApprovalStatus::Pending, "{forged}");
        }
        // After the hold timed out, Claude Code's own dialog is up and events answer it.
        w.store
            .resolve_approval(&id, Trigger::HoldTimeout, None)
            .await
            .expect("timeout");
        w.send(
            json!({"session_id": "c1", "hook_event_name": "PostToolUse", "tool_name": "Bash",
                "tool_input": {"command": "make"}, "tool_use_id": "t9",
                "tool_response": {"stdout": "ok"}}),
            CLI,
        )
        .await;
        assert_eq!(w.status(&id).await, ApprovalStatus::TerminalAllowed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn post_tool_use_before_the_hook_disconnects() {
        let w = world();
        let id = held(&w).await;
        assert_eq!(w.state(&id).await, SessionState::Blocked);
        w.send(post("t1"), CLI).await;
        assert_eq!(w.status(&id).await, ApprovalStatus::TerminalAllowed);
        assert_eq!(w.state(&id).await, SessionState::Active);
        // The hook's connection drops afterwards: nothing changes.
        let err = w.store.resolve_approval(&id, Trigger::HookGone, None).await;
        assert!(err.is_err());
        assert_eq!(w.status(&id).await, ApprovalStatus::TerminalAllowed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn post_tool_use_after_the_hook_disconnects() {
        let w = world();
        let id = held(&w).await;
        w.store
            .resolve_approval(&id, Trigger::HookGone, None)
            .await
            .expect("hook gone");
        assert_eq!(w.status(&id).await, ApprovalStatus::TerminalDenied);
        assert_eq!(w.state(&id).await, SessionState::WaitingForInput);
        // The tool did run after all (a PostToolUse replayed late): the stronger evidence wins.
        w.send(post("t1"), CLI).await;
        assert_eq!(w.status(&id).await, ApprovalStatus::TerminalAllowed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn duplicate_and_replayed_events_change_nothing() {
        let w = world();
        let id = held(&w).await;
        let e = env(post("t1"), CLI);
        w.send_env(e.clone()).await;
        let first = w.store.get_approval(&id).await.expect("approval");
        // The same event again (a spool replay of a delivered event): a duplicate.
        w.send_env(e).await;
        assert_eq!(w.store.get_approval(&id).await.expect("approval"), first);
        // A later Stop of the same process finds nothing open.
        w.send(json!({"session_id": "c1", "hook_event_name": "Stop"}), CLI)
            .await;
        assert_eq!(w.store.get_approval(&id).await.expect("approval"), first);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_operator_racing_a_terminal_answer_gets_a_conflict() {
        let w = world();
        let id = held(&w).await;
        w.send(post("t1"), CLI).await;
        let err = w
            .store
            .resolve_approval(&id, Trigger::Operator { approve: false }, None)
            .await
            .expect_err("conflict");
        assert!(
            err.to_string()
                .contains("answered in the terminal (allowed)"),
            "{err}"
        );
        // And the other way round: the operator first, the PostToolUse after.
        let w = world();
        let id = held(&w).await;
        w.store
            .resolve_approval(&id, Trigger::Operator { approve: true }, None)
            .await
            .expect("approve");
        w.send(post("t1"), CLI).await;
        assert_eq!(w.status(&id).await, ApprovalStatus::Approved);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_request_stays_blocked_until_the_terminal_answers() {
        let w = world();
        let id = held(&w).await;
        w.store
            .resolve_approval(&id, Trigger::HoldTimeout, None)
            .await
            .expect("timeout");
        let a = w.store.get_approval(&id).await.expect("approval");
        let s = w.store.get_session(&a.session_id).await.expect("session");
        assert_eq!(s.state, SessionState::Blocked);
        assert!(s
            .blocked_on
            .as_deref()
            .is_some_and(|b| b.starts_with("Waiting at the terminal")));
        // The turn ends without the call running: "No" at the terminal.
        w.send(json!({"session_id": "c1", "hook_event_name": "Stop"}), CLI)
            .await;
        assert_eq!(w.status(&id).await, ApprovalStatus::TerminalDenied);
        assert_eq!(w.state(&id).await, SessionState::WaitingForInput);
    }

    /// A PreToolUse hold that timed out leaves the call to Claude Code's own dialog, whose
    /// PermissionRequest is held again: one PostToolUse settles both.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_pre_tool_use_and_the_dialogs_request_settle_together() {
        let w = world();
        let first = w.send(pre("t1"), CLI).await.expect("held PreToolUse");
        w.store
            .resolve_approval(&first, Trigger::HoldTimeout, None)
            .await
            .expect("timeout");
        let second = w
            .send(request(), CLI)
            .await
            .expect("held PermissionRequest");
        assert_eq!(w.status(&second).await, ApprovalStatus::Pending);
        w.send(post("t1"), CLI).await;
        assert_eq!(w.status(&first).await, ApprovalStatus::TerminalAllowed);
        assert_eq!(w.status(&second).await, ApprovalStatus::TerminalAllowed);
        assert_eq!(w.state(&second).await, SessionState::Active);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_from_another_process_or_host_touch_nothing() {
        let w = world();
        let id = held(&w).await;
        for origin in [("h2", 100), ("h1", 101)] {
            w.send(post("t1"), origin).await;
            w.send(
                json!({"session_id": "c1", "hook_event_name": "SessionEnd", "reason": "other"}),
                origin,
            )
            .await;
            assert_eq!(w.status(&id).await, ApprovalStatus::Pending, "{origin:?}");
        }
        // The same pid with another start time is another process.
        let mut e = env(post("t1"), CLI);
        e.source.claude_pid_start = Some(6);
        w.send_env(e).await;
        assert_eq!(w.status(&id).await, ApprovalStatus::Pending);
        w.send(
            json!({"session_id": "c1", "hook_event_name": "SessionEnd", "reason": "other"}),
            CLI,
        )
        .await;
        assert_eq!(w.status(&id).await, ApprovalStatus::Cancelled);
    }
}
