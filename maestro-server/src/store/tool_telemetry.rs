//! What Claude Code's OpenTelemetry export says about each tool call: the
//! `claude_code.tool_result` (success, its own duration, input and result sizes, error type)
//! and `claude_code.tool_decision` (accept or reject, and who decided) log events. The model
//! requests (`api_request`) carry no `tool_use_id`; these two events do.
//!
//! Rows are keyed like `otel_api_requests` (a retried export inserts nothing). The Maestro
//! session is joined at read time exactly as for the cost records, and the hook's tool call by
//! `(session, tool_use_id)`, so events that arrive before the call's hook events, or before the
//! session's first hook event, are joined as soon as those are stored.

use super::StoreResult;
use crate::store::sql::{params, Db, DbExt};
use chrono::{DateTime, Utc};
use maestro_shared::cost::ToolTelemetry;
use std::collections::BTreeMap;

/// Which of the two events a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolEventKind {
    /// `claude_code.tool_result`.
    Result,
    /// `claude_code.tool_decision`.
    Decision,
}

impl ToolEventKind {
    fn as_str(self) -> &'static str {
        match self {
            ToolEventKind::Result => "tool_result",
            ToolEventKind::Decision => "tool_decision",
        }
    }
}

/// One `tool_result` or `tool_decision` record, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEvent {
    /// Idempotency key: the same for every export (and retry) of the same record.
    pub record_key: String,
    /// Claude Code's `session.id`.
    pub claude_session_id: String,
    /// The `maestro.session_id` resource attribute (spawned sessions), if any.
    pub maestro_session_id: Option<String>,
    /// `prompt.id`.
    pub prompt_id: Option<String>,
    /// `tool_use_id`: the tool call.
    pub tool_use_id: String,
    /// Which event.
    pub kind: ToolEventKind,
    /// `tool_name`.
    pub tool_name: Option<String>,
    /// When it was recorded (RFC 3339).
    pub at: String,
    /// `success` (results).
    pub success: Option<bool>,
    /// `duration_ms` (results).
    pub duration_ms: Option<i64>,
    /// `error_type` (failed results).
    pub error_type: Option<String>,
    /// `decision` (decisions) or `decision_type` (results).
    pub decision: Option<String>,
    /// `source` (decisions) or `decision_source` (results).
    pub decision_source: Option<String>,
    /// `tool_input_size_bytes` (results).
    pub input_size_bytes: Option<i64>,
    /// `tool_result_size_bytes` (successful results).
    pub result_size_bytes: Option<i64>,
}

/// What a telemetry query covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolScope {
    /// One Maestro session.
    Session(String),
    /// Every session of one task.
    Task(String),
}

/// Stores `events`, skipping those already stored; returns how many were new. For every
/// Claude session with new events, a `tool:telemetry` feed message names the tool calls.
pub fn insert(
    conn: &dyn Db,
    feed: &mut super::writer::Feed,
    events: &[ToolEvent],
    machine: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let received = crate::time::fmt_ts(now);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO otel_tool_events (record_key, claude_session_id, \
         maestro_session_id, prompt_id, tool_use_id, event, tool_name, at, success, duration_ms, \
         error_type, decision, decision_source, input_size_bytes, result_size_bytes, machine, \
         received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
         ?16, ?17) ON CONFLICT DO NOTHING",
    )?;
    let mut inserted = 0;
    let mut touched: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in events {
        let n = stmt.execute(params![
            e.record_key,
            e.claude_session_id,
            e.maestro_session_id,
            e.prompt_id,
            e.tool_use_id,
            e.kind.as_str(),
            e.tool_name,
            e.at,
            e.success,
            e.duration_ms,
            e.error_type,
            e.decision,
            e.decision_source,
            e.input_size_bytes,
            e.result_size_bytes,
            machine,
            received,
        ])?;
        inserted += n;
        if n > 0 {
            let ids = touched.entry(&e.claude_session_id).or_default();
            if !ids.contains(&e.tool_use_id.as_str()) {
                ids.push(&e.tool_use_id);
            }
        }
    }
    for (claude, ids) in touched {
        let maestro = events
            .iter()
            .find(|e| e.claude_session_id == claude)
            .and_then(|e| e.maestro_session_id.as_deref());
        announce(conn, feed, claude, maestro, &ids, now)?;
    }
    Ok(inserted)
}

/// Pushes the `tool:telemetry` message of one Claude session: `{claude_session_id,
/// tool_use_ids}`, with the Maestro session and task when they are known.
fn announce(
    conn: &dyn Db,
    feed: &mut super::writer::Feed,
    claude: &str,
    maestro: Option<&str>,
    ids: &[&str],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (sid, tid) = super::cost::session_of(conn, claude, maestro)?;
    let data = serde_json::json!({ "claude_session_id": claude, "tool_use_ids": ids });
    feed.push(
        conn,
        maestro_shared::ws::types::TOOL_TELEMETRY,
        now,
        tid.as_deref(),
        sid.as_deref(),
        data,
    )?;
    Ok(())
}

/// The telemetry of every tool call in `scope`, in the order the calls were first reported,
/// one entry per `tool_use_id`. A later event of the same kind wins over an earlier one.
pub fn list(conn: &dyn Db, scope: &ToolScope) -> StoreResult<Vec<ToolTelemetry>> {
    let (filter, arg) = match scope {
        ToolScope::Session(id) => ("j.sid = ?1", id),
        ToolScope::Task(id) => ("s.task_id = ?1", id),
    };
    let mut stmt = conn.prepare(&format!(
        "WITH j AS (SELECT e.*, COALESCE(cs.session_id, ms.id) AS sid FROM otel_tool_events e \
         LEFT JOIN claude_sessions cs ON cs.claude_session_id = e.claude_session_id \
         LEFT JOIN sessions ms ON ms.id = e.maestro_session_id) \
         SELECT j.tool_use_id, j.sid, j.claude_session_id, j.tool_name, j.prompt_id, j.event, \
         j.at, j.success, j.duration_ms, j.error_type, j.decision, j.decision_source, \
         j.input_size_bytes, j.result_size_bytes, c.status \
         FROM j JOIN sessions s ON s.id = j.sid \
         LEFT JOIN tool_calls c ON c.session_id = j.sid AND c.tool_use_id = j.tool_use_id \
         WHERE {filter} ORDER BY j.at, j.record_key"
    ))?;
    let mut out: Vec<ToolTelemetry> = Vec::new();
    let mut index: BTreeMap<(Option<String>, String), usize> = BTreeMap::new();
    stmt.for_each([arg], |r| {
        let tool_use_id: String = r.get(0)?;
        let sid: Option<String> = r.get(1)?;
        let key = (sid.clone(), tool_use_id.clone());
        let i = *index.entry(key).or_insert_with(|| {
            out.push(ToolTelemetry {
                tool_use_id,
                session_id: sid,
                claude_session_id: String::new(),
                tool_name: None,
                prompt_id: None,
                hook_status: None,
                success: None,
                duration_ms: None,
                error_type: None,
                input_size_bytes: None,
                result_size_bytes: None,
                decision: None,
                decision_source: None,
                result_at: None,
                decision_at: None,
            });
            out.len() - 1
        });
        let t = &mut out[i];
        t.claude_session_id = r.get(2)?;
        t.tool_name = r.get::<_, Option<String>>(3)?.or(t.tool_name.take());
        t.prompt_id = r.get::<_, Option<String>>(4)?.or(t.prompt_id.take());
        t.hook_status = r.get(14)?;
        let event: String = r.get(5)?;
        let at: String = r.get(6)?;
        let decision: Option<String> = r.get(10)?;
        let source: Option<String> = r.get(11)?;
        if event == ToolEventKind::Decision.as_str() {
            t.decision_at = Some(at);
            t.decision = decision.or(t.decision.take());
            t.decision_source = source.or(t.decision_source.take());
        } else {
            t.result_at = Some(at);
            t.success = r.get(7)?;
            t.duration_ms = r.get(8)?;
            t.error_type = r.get(9)?;
            t.input_size_bytes = r.get(12)?;
            t.result_size_bytes = r.get(13)?;
            // The decision event is the authority; the result's copy fills in without it.
            if t.decision_at.is_none() {
                t.decision = decision.or(t.decision.take());
                t.decision_source = source.or(t.decision_source.take());
            }
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str, kind: ToolEventKind, tool_use_id: &str, at: &str) -> ToolEvent {
        ToolEvent {
            record_key: key.into(),
            claude_session_id: "c1".into(),
            maestro_session_id: None,
            prompt_id: Some("p1".into()),
            tool_use_id: tool_use_id.into(),
            kind,
            tool_name: Some("Bash".into()),
            at: at.into(),
            success: (kind == ToolEventKind::Result).then_some(true),
            duration_ms: (kind == ToolEventKind::Result).then_some(42),
            error_type: None,
            decision: Some("accept".into()),
            decision_source: Some(
                match kind {
                    ToolEventKind::Result => "config",
                    ToolEventKind::Decision => "hook",
                }
                .into(),
            ),
            input_size_bytes: (kind == ToolEventKind::Result).then_some(20),
            result_size_bytes: (kind == ToolEventKind::Result).then_some(300),
        }
    }

    fn db() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        super::super::schema::migrate(&mut conn).expect("migrate");
        conn
    }

    #[test]
    fn events_join_the_call_whatever_arrives_first_and_retries_add_nothing() {
        let conn = db();
        let mut feed = super::super::writer::Feed::new(1);
        let events = [
            event(
                "k1",
                ToolEventKind::Decision,
                "toolu_1",
                "2026-12-03T10:00:00.000Z",
            ),
            event(
                "k2",
                ToolEventKind::Result,
                "toolu_1",
                "2026-12-03T10:00:01.000Z",
            ),
            event(
                "k3",
                ToolEventKind::Result,
                "toolu_2",
                "2026-12-03T10:00:02.000Z",
            ),
        ];
        let now = Utc::now();
        assert_eq!(
            insert(&conn, &mut feed, &events, None, now).expect("insert"),
            3
        );
        assert_eq!(feed.msgs.len(), 1);
        assert_eq!(feed.msgs[0].msg.session_id, None, "no session yet");
        assert_eq!(
            feed.msgs[0].msg.data["tool_use_ids"],
            serde_json::json!(["toolu_1", "toolu_2"])
        );
        assert_eq!(
            insert(&conn, &mut feed, &events, None, now).expect("retry"),
            0
        );
        assert_eq!(feed.msgs.len(), 1, "a retry announces nothing");
        let scope = ToolScope::Session("s_1".into());
        assert!(list(&conn, &scope).expect("none").is_empty());
        // The session's first hook event, then the first call's PreToolUse.
        conn.execute_batch(
            "INSERT INTO sessions (id, claude_session_id, task_id, state, health, started_at) \
             VALUES ('s_1', 'c1', 't_1', 'active', 'ok', 'x'); \
             INSERT INTO claude_sessions VALUES ('c1', 's_1'); \
             INSERT INTO tool_calls (session_id, tool_use_id, tool_name, status) \
             VALUES ('s_1', 'toolu_1', 'Bash', 'ok');",
        )
        .expect("session");
        let got = list(&conn, &scope).expect("list");
        assert_eq!(got.len(), 2);
        let first = &got[0];
        assert_eq!(first.tool_use_id, "toolu_1");
        assert_eq!(first.session_id.as_deref(), Some("s_1"));
        assert_eq!(first.hook_status.as_deref(), Some("ok"));
        assert_eq!(first.duration_ms, Some(42));
        assert_eq!(first.result_size_bytes, Some(300));
        assert_eq!(first.success, Some(true));
        assert_eq!(
            first.decision_source.as_deref(),
            Some("hook"),
            "the decision event wins over the result's copy"
        );
        assert_eq!(
            first.decision_at.as_deref(),
            Some("2026-12-03T10:00:00.000Z")
        );
        let second = &got[1];
        assert_eq!(second.hook_status, None, "no hook event for this call yet");
        assert_eq!(second.decision_source.as_deref(), Some("config"));
        assert_eq!(
            list(&conn, &ToolScope::Task("t_1".into())).expect("task"),
            got
        );
        // A later event announces with the session and task now known.
        let late = event(
            "k4",
            ToolEventKind::Result,
            "toolu_3",
            "2026-12-03T10:00:03.000Z",
        );
        insert(&conn, &mut feed, &[late], None, now).expect("late");
        assert_eq!(feed.msgs[1].msg.session_id.as_deref(), Some("s_1"));
        assert_eq!(feed.msgs[1].msg.task_id.as_deref(), Some("t_1"));
    }
}
