//! Projections computed inside the writer transaction for every stored event: session
//! mapping and state, tool-call pairing, timeline lines, approvals, task status, and the feed
//! messages that tell subscribers about each change.
//!
//! Hooks run in parallel and finish in any order, so nothing here assumes arrival order:
//! state changes apply only when the event was captured after the one that set the current
//! state, tool calls are paired by `tool_use_id` with a precedence on their status, and the
//! session start is the earliest capture time seen.

use crate::store::rows::{
    load_session, load_session_by_claude, load_task, load_timeline_item, timeline_from_row,
};
use crate::store::sql::{params, Db, DbExt, DbResult, Dialect, OptionalExt, Row};
use crate::store::writer::Feed;
use crate::store::{DecisionRecord, IngestOutcome, StoreError, StoreResult};
use crate::time::{fmt_ts, parse_ts};
use crate::timeline::{ask_summary, event_line, exit_code, tool_summary, ToolPhase};
use chrono::{DateTime, Utc};
use maestro_shared::api::{Approval, Session, SessionState, TaskStatus, TimelineItem};
use maestro_shared::envelope::truncate_strings;
use maestro_shared::events::{HookEvent, HookEventName};
use maestro_shared::policy::Outcome;
use maestro_shared::ws::types;
use maestro_shared::Envelope;
use serde_json::{json, Value};

/// Strings in feed copies of payloads are cut to this many bytes (the store keeps all).
const FEED_STRING_CAP: usize = 2048;

/// Serialises a DTO for a feed message.
fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<Value> {
    serde_json::to_value(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A new Maestro id with a prefix (`s_`, `t_`, `a_`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// Stores one envelope and updates every projection. Runs inside the writer transaction.
#[allow(clippy::too_many_arguments)]
pub fn ingest(
    conn: &dyn Db,
    feed: &mut Feed,
    env: &Envelope,
    ev: Option<&HookEvent>,
    raw: &str,
    decision: Option<&DecisionRecord>,
    now: DateTime<Utc>,
    machine: Option<&str>,
) -> StoreResult<IngestOutcome> {
    let event_id = env.event_id.to_string();
    let existing: Option<(i64, Option<String>)> = conn
        .row_cached(
            "SELECT seq, session_id FROM events WHERE event_id = ?1",
            [&event_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((seq, session_id)) = existing {
        let task_id = match &session_id {
            Some(sid) => load_session(conn, sid)?.and_then(|s| s.task_id),
            None => None,
        };
        return Ok(IngestOutcome {
            seq,
            duplicate: true,
            session_id,
            task_id,
            resolved: Vec::new(),
        });
    }
    let ev = ev.filter(|_| env.parse_error.is_none());
    let (session, created) = resolve_session(conn, env, ev, machine)?;
    let session_id = session.as_ref().map(|s| s.id.clone());
    let task_id = session.as_ref().and_then(|s| s.task_id.clone());
    let at = env.captured_at;

    let kind = feed_kind(&env.event, env.parse_error.is_some());
    let mut data = json!({
        "event_id": event_id,
        "event": env.event,
        "claude_session_id": ev.map(|e| e.common.session_id.clone()),
        "tool_name": ev.and_then(|e| e.tool.tool_name.clone()),
        "tool_use_id": ev.and_then(|e| e.tool.tool_use_id.clone()),
        "agent_id": ev.and_then(|e| e.common.agent_id.clone()),
        "parse_error": env.parse_error,
    });
    if let Some(s) = &session {
        // Live counts: every `hook:*` message carries its session's event count, so headers
        // and lists follow the feed (the session itself is only re-sent when it changes).
        data["session_event_count"] = json!(s.event_count + 1);
    }
    if carries_payload(kind) {
        let mut payload = env.payload.clone();
        truncate_strings(&mut payload, FEED_STRING_CAP);
        data["payload"] = payload;
    }
    let seq = feed.push(
        conn,
        kind,
        at,
        task_id.as_deref(),
        session_id.as_deref(),
        data,
    )?;
    conn.exec_later(
        "INSERT INTO events (seq, event_id, event, captured_at, received_at, session_id, \
         claude_session_id, malformed, size, envelope, machine) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
        params![
            seq,
            event_id,
            env.event,
            fmt_ts(at),
            fmt_ts(now),
            session_id,
            ev.map(|e| e.common.session_id.clone()),
            env.parse_error.is_some() as i64,
            raw.len() as i64,
            raw,
            machine,
        ],
    )?;
    crate::store::fts::index_event(
        conn,
        seq,
        session_id.as_deref(),
        &env.event,
        ev.map(|_| &env.payload),
        decision.map(|d| d.decision.outcome),
        env.parse_error.is_some(),
    )?;
    if let Some(name) = machine {
        super::machines::record_event(conn, name, &fmt_ts(now))?;
    }
    let resolved = match session {
        Some(session) => apply_to_session(conn, feed, &session, created, env, ev, decision)?,
        None => Vec::new(),
    };
    Ok(IngestOutcome {
        seq,
        duplicate: false,
        session_id,
        task_id,
        resolved,
    })
}

/// Whether a `hook:*` message carries (a capped copy of) the payload: the kinds a client
/// shows more of than the summary fields (error toasts, notifications, permission requests,
/// malformed or unknown events). The timeline line says the rest, and every event's full JSON
/// is at `/api/events/{event_id}`.
fn carries_payload(kind: &str) -> bool {
    !matches!(
        kind,
        types::HOOK_TOOL_USE | types::HOOK_SESSION_START | types::HOOK_SESSION_END
    )
}

fn feed_kind(event: &str, malformed: bool) -> &'static str {
    if malformed {
        return types::HOOK_EVENT;
    }
    match HookEventName::parse(event) {
        HookEventName::SessionStart => types::HOOK_SESSION_START,
        HookEventName::PreToolUse | HookEventName::PostToolUse => types::HOOK_TOOL_USE,
        HookEventName::PostToolUseFailure => types::HOOK_TOOL_FAILURE,
        HookEventName::Notification => types::HOOK_NOTIFICATION,
        HookEventName::PermissionRequest => types::HOOK_PERMISSION_REQUEST,
        HookEventName::SessionEnd => types::HOOK_SESSION_END,
        HookEventName::StopFailure => types::HOOK_STOP_FAILURE,
        _ => types::HOOK_EVENT,
    }
}

/// Where an event's Maestro session is: the one rule both the decision path
/// ([`crate::store::Store::decision_context`]) and the write path ([`resolve_session`]) follow,
/// so a decision is always taken under the task the event is then recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Located {
    /// An existing session.
    Existing(String),
    /// No session yet: one is created with this id (a spawned session's `maestro.session_id`
    /// this store has not seen keeps its id; otherwise a new one).
    New(Option<String>),
    /// Neither a Maestro nor a Claude session id: the event belongs to no session.
    Nowhere,
}

/// Locates the session of an event: the `maestro.session_id` of a spawned session first (an
/// unknown one is created under that id, never redirected to another session by its Claude
/// session id), then the Claude session id already seen, else a new unassigned session.
pub(crate) fn locate_session(
    conn: &dyn Db,
    maestro_sid: Option<&str>,
    claude_sid: Option<&str>,
) -> StoreResult<Located> {
    Ok(match find_session(conn, maestro_sid, claude_sid)? {
        Found::Loaded { session, .. } => Located::Existing(session.id),
        Found::New(id) => Located::New(id),
        Found::Nowhere => Located::Nowhere,
    })
}

/// [`locate_session`]'s answer with the session read (one query either way).
enum Found {
    /// An existing session; `by_claude_id` when found through the Claude session id (so that
    /// mapping exists already).
    Loaded {
        session: Box<Session>,
        by_claude_id: bool,
    },
    /// See [`Located::New`].
    New(Option<String>),
    /// See [`Located::Nowhere`].
    Nowhere,
}

/// The one rule of [`locate_session`], loading the session it finds.
fn find_session(
    conn: &dyn Db,
    maestro_sid: Option<&str>,
    claude_sid: Option<&str>,
) -> StoreResult<Found> {
    if let Some(mid) = maestro_sid.filter(|s| !s.is_empty()) {
        return Ok(match load_session(conn, mid)? {
            Some(s) => Found::Loaded {
                session: Box::new(s),
                by_claude_id: false,
            },
            None => Found::New(Some(mid.to_string())),
        });
    }
    let Some(cs) = claude_sid else {
        return Ok(Found::Nowhere);
    };
    Ok(match load_session_by_claude(conn, cs)? {
        Some(s) => Found::Loaded {
            session: Box::new(s),
            by_claude_id: true,
        },
        None => Found::New(None),
    })
}

/// The task a new session of this envelope is created under: `maestro.task_id` when that task
/// exists.
pub(crate) fn task_for_new_session(
    conn: &dyn Db,
    task_hint: Option<&str>,
) -> StoreResult<Option<String>> {
    match task_hint {
        Some(t) => Ok(conn
            .query_row("SELECT id FROM tasks WHERE id = ?1", [t], |r| r.get(0))
            .optional()?),
        None => Ok(None),
    }
}

/// Finds or creates the Maestro session of an event ([`locate_session`]).
fn resolve_session(
    conn: &dyn Db,
    env: &Envelope,
    ev: Option<&HookEvent>,
    machine: Option<&str>,
) -> StoreResult<(Option<Session>, bool)> {
    let claude_sid = ev.map(|e| e.common.session_id.as_str());
    match find_session(conn, env.maestro.session_id.as_deref(), claude_sid)? {
        Found::Loaded {
            session,
            by_claude_id,
        } => {
            let s = *session;
            let id = s.id.clone();
            if let Some(cs) = claude_sid.filter(|_| !by_claude_id) {
                map_claude(conn, cs, &s.id)?;
            }
            if s.machine.is_none() && machine.is_some() {
                // A session spawned here (or first seen through the local token) that a
                // machine's hook then reports on: it shows that machine.
                conn.exec_cached(
                    "UPDATE sessions SET machine = ?2 WHERE id = ?1",
                    params![s.id, machine],
                )?;
                let s = load_session(conn, &id)?.unwrap_or(s);
                return Ok((Some(s), false));
            }
            Ok((Some(s), false))
        }
        Found::New(id) => {
            let id = id.unwrap_or_else(|| new_id("s_"));
            create_session(conn, &id, env, ev, machine).map(|s| (Some(s), true))
        }
        Found::Nowhere => Ok((None, false)),
    }
}

fn map_claude(conn: &dyn Db, claude_sid: &str, session_id: &str) -> StoreResult<()> {
    conn.exec_later(
        "INSERT INTO claude_sessions (claude_session_id, session_id) VALUES (?1, ?2) \
         ON CONFLICT DO NOTHING",
        params![claude_sid, session_id],
    )?;
    Ok(())
}

fn create_session(
    conn: &dyn Db,
    id: &str,
    env: &Envelope,
    ev: Option<&HookEvent>,
    machine: Option<&str>,
) -> StoreResult<Session> {
    let task_id = task_for_new_session(conn, env.maestro.task_id.as_deref())?;
    let cwd = ev.and_then(|e| e.common.cwd.clone());
    let project_dir = env.source.project_dir.clone().or_else(|| cwd.clone());
    let claude_sid = ev.map(|e| e.common.session_id.clone());
    let (pid, pid_start) = watchable_pid(env);
    conn.exec_cached(
        "INSERT INTO sessions (id, claude_session_id, task_id, state, state_at, health, \
         project_dir, cwd, host, claude_pid, spawned, started_at, claude_pid_start, machine) \
         VALUES (?1, ?2, ?3, 'starting', NULL, 'active', ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10)",
        params![
            id,
            claude_sid,
            task_id,
            project_dir,
            cwd,
            env.source.host,
            pid,
            fmt_ts(env.captured_at),
            pid_start,
            machine,
        ],
    )?;
    if let Some(cs) = &claude_sid {
        map_claude(conn, cs, id)?;
    }
    load_session(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("session {id}")))
}

/// The CLI process an event reports, if it is worth watching: from this host, only while it
/// is alive with the reported start time. A spool replay of a process that has exited
/// reports a dead pid; adopting it would get the session marked lost before the rest of its
/// events (its SessionEnd) are replayed. Events from other hosts are taken as they are (this
/// host's watch never probes them).
fn watchable_pid(env: &Envelope) -> (Option<u32>, Option<i64>) {
    static HOST: std::sync::LazyLock<Option<String>> =
        std::sync::LazyLock::new(maestro_shared::envelope::hostname);
    let Some(pid) = env.source.claude_pid else {
        return (None, None);
    };
    let start = env
        .source
        .claude_pid_start
        .and_then(|s| i64::try_from(s).ok());
    if env.source.host.is_some() && env.source.host == *HOST {
        let same = match (
            start,
            i32::try_from(pid)
                .ok()
                .and_then(crate::spawn::process::proc_stat),
        ) {
            (Some(want), Some((_, got))) => u64::try_from(want).is_ok_and(|w| w == got),
            _ => true,
        };
        if !(crate::spawn::process::pid_alive(i64::from(pid)) && same) {
            return (None, None);
        }
    }
    (Some(pid), start)
}

/// The state an event moves a session to, and what it waits for while blocked
/// (`Some(None)` clears it, `None` leaves it).
fn transition(
    ev: &HookEvent,
    decision: Option<&DecisionRecord>,
) -> Option<(SessionState, Option<Option<String>>)> {
    use HookEventName as E;
    let held = decision.is_some_and(is_held);
    Some(match ev.name() {
        E::SessionStart | E::UserPromptSubmit | E::UserPromptExpansion => {
            (SessionState::Active, Some(None))
        }
        E::PreToolUse if held => (SessionState::Blocked, Some(Some(ask_summary(ev)))),
        E::PreToolUse
        | E::PostToolUse
        | E::PostToolUseFailure
        | E::PostToolBatch
        | E::SubagentStart
        | E::SubagentStop
        | E::PermissionDenied => (SessionState::Active, Some(None)),
        E::PermissionRequest => (SessionState::Blocked, Some(Some(ask_summary(ev)))),
        E::Notification => match ev.notification_type.as_deref() {
            Some("permission_prompt") => (
                SessionState::Blocked,
                Some(Some(ev.message.clone().unwrap_or_else(|| {
                    "Claude needs your permission".to_string()
                }))),
            ),
            Some("idle_prompt") => (SessionState::WaitingForInput, Some(None)),
            _ => return None,
        },
        E::Stop | E::StopFailure => (SessionState::WaitingForInput, Some(None)),
        E::SessionEnd => (SessionState::Completed, Some(None)),
        _ => return None,
    })
}

/// A `Notification` that says a permission dialog is open in the terminal.
fn is_permission_prompt(ev: &HookEvent) -> bool {
    *ev.name() == HookEventName::Notification
        && ev.notification_type.as_deref() == Some("permission_prompt")
}

/// What the session's latest call still waiting for its outcome asks ("Bash rm -rf build"),
/// read back from its stored `PreToolUse` (None when there is none, or retention dropped it).
fn pending_call_summary(conn: &dyn Db, session_id: &str) -> StoreResult<Option<String>> {
    let envelope: Option<Option<String>> = conn
        .row_cached(
            "SELECT e.envelope FROM tool_calls c JOIN timeline l ON l.id = c.line_id \
             JOIN events e ON e.event_id = l.event_id \
             WHERE c.session_id = ?1 AND c.status = 'pending' AND e.event = 'PreToolUse' \
             ORDER BY c.pre_at DESC LIMIT 1",
            [session_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(Some(text)) = envelope else {
        return Ok(None);
    };
    let summary = serde_json::from_str::<Envelope>(&text)
        .ok()
        .and_then(|env| HookEvent::parse(&env.payload).ok())
        .map(|ev| ask_summary(&ev));
    Ok(summary)
}

/// A hold that created an approval (a replay from the spool holds nothing: nobody waits).
fn is_held(d: &DecisionRecord) -> bool {
    d.decision.outcome == Outcome::Hold && d.approval_id.is_some()
}

struct SessionFacts {
    state_at: Option<String>,
    turn_failed: bool,
}

/// Updates the session, its lines and its approvals for one event; returns the approvals
/// the event resolved.
#[allow(clippy::too_many_arguments)]
fn apply_to_session(
    conn: &dyn Db,
    feed: &mut Feed,
    session: &Session,
    created: bool,
    env: &Envelope,
    ev: Option<&HookEvent>,
    decision: Option<&DecisionRecord>,
) -> StoreResult<Vec<Approval>> {
    let at = env.captured_at;
    let at_s = fmt_ts(at);
    // A process seen before needs no probe (the common case: one per event would cost).
    let (pid, pid_start) = if env.source.claude_pid.map(i64::from) == session.claude_pid {
        (
            env.source.claude_pid,
            env.source
                .claude_pid_start
                .and_then(|s| i64::try_from(s).ok()),
        )
    } else {
        watchable_pid(env)
    };
    // Counters, first/last seen, where the session is: one row update an event. Columns that
    // are set once (and `claude_session_id` is indexed) are filled in by a second statement
    // only while one is missing. The CLI process is taken only from events of the session's
    // host (another host's pid means nothing to this host's liveness watch).
    conn.exec_later(
        "UPDATE sessions SET event_count = event_count + 1, \
           last_event_at = CASE WHEN last_event_at IS NULL OR last_event_at < ?2 THEN ?2 ELSE last_event_at END, \
           started_at = CASE WHEN spawned = 0 AND started_at > ?2 THEN ?2 ELSE started_at END, \
           cwd = CASE WHEN ?3 IS NOT NULL AND (last_event_at IS NULL OR last_event_at <= ?2) THEN ?3 ELSE cwd END, \
           claude_pid_start = CASE WHEN ?4 IS NOT NULL AND (host IS NULL OR host IS NOT DISTINCT FROM ?6) THEN ?5 ELSE claude_pid_start END, \
           claude_pid = CASE WHEN ?4 IS NOT NULL AND (host IS NULL OR host IS NOT DISTINCT FROM ?6) THEN ?4 ELSE claude_pid END \
         WHERE id = ?1",
        params![
            session.id,
            at_s,
            ev.and_then(|e| e.common.cwd.as_deref()),
            pid,
            pid_start,
            env.source.host,
        ],
    )?;
    // What the session message shows changed (not only the per-event counters, which travel
    // on the `hook:*` messages): an earlier first event, or a fact filled in below.
    let mut changed = created || (!session.spawned && at < session.started_at);
    let claude_sid = ev.map(|e| e.common.session_id.as_str());
    if (session.host.is_none() && env.source.host.is_some())
        || (session.project_dir.is_none()
            && (env.source.project_dir.is_some() || ev.is_some_and(|e| e.common.cwd.is_some())))
        || (session.claude_session_id.is_none() && claude_sid.is_some())
    {
        conn.exec_later(
            "UPDATE sessions SET host = COALESCE(host, ?2), project_dir = COALESCE(project_dir, ?3, ?4), \
               claude_session_id = COALESCE(claude_session_id, ?5) WHERE id = ?1",
            params![
                session.id,
                env.source.host,
                env.source.project_dir,
                ev.and_then(|e| e.common.cwd.as_deref()),
                claude_sid,
            ],
        )?;
        changed = true;
    }
    let mut resolved = Vec::new();

    if let Some(ev) = ev {
        if let Some((state, mut blocked_on)) = transition(ev, decision) {
            if is_permission_prompt(ev) {
                // Claude's own text is generic ("Claude needs your permission to use Bash"):
                // a session already blocked on something precise (a held approval, the
                // PermissionRequest, "Waiting at the terminal: ...") keeps it; otherwise it
                // says what the call waiting for its answer asks, when that is known.
                if session.state == SessionState::Blocked && session.blocked_on.is_some() {
                    blocked_on = None;
                } else if let Some(summary) = pending_call_summary(conn, &session.id)? {
                    blocked_on = Some(Some(summary));
                }
            }
            // Most events (another tool call of an active session) change nothing here: then
            // neither the session's state time nor its turn need reading.
            if state_write_needed(session, state, &blocked_on) {
                let facts: SessionFacts = conn.row_cached(
                    "SELECT state_at, turn_failed FROM sessions WHERE id = ?1",
                    [&session.id],
                    |r| {
                        Ok(SessionFacts {
                            state_at: r.get(0)?,
                            turn_failed: r.get::<_, i64>(1)? != 0,
                        })
                    },
                )?;
                let newer = facts.state_at.as_deref().is_none_or(|s| s <= at_s.as_str());
                let reopen = match session.state {
                    SessionState::Completed | SessionState::Failed => {
                        *ev.name() == HookEventName::SessionStart
                    }
                    _ => true,
                };
                if newer && reopen {
                    changed |= set_state(
                        conn,
                        session,
                        state,
                        blocked_on,
                        ev,
                        &at_s,
                        facts.turn_failed,
                    )?;
                }
            }
        }
        if *ev.name() == HookEventName::StopFailure || *ev.name() == HookEventName::Stop {
            let failed = *ev.name() == HookEventName::StopFailure;
            conn.exec_later(
                "UPDATE sessions SET turn_failed = ?2 WHERE id = ?1 AND (state_at IS NULL OR state_at <= ?3)",
                params![session.id, failed as i64, at_s],
            )?;
        }
        project_lines(conn, feed, session, env, ev, decision)?;
        resolved = crate::store::approvals::on_event(conn, feed, session, env, ev)?;
    } else if let Some(err) = &env.parse_error {
        add_line(
            conn,
            feed,
            &Line {
                session_id: &session.id,
                task_id: session.task_id.as_deref(),
                at: &at_s,
                kind: "event",
                event: &env.event,
                summary: &format!("Malformed {} event: {err}", env.event),
                status: "warning",
                event_id: Some(&env.event_id.to_string()),
                detail: Some(&json!({"parse_error": err})),
                ..Line::default()
            },
        )?;
    }

    if let Some(d) = decision {
        if let (Some(approval_id), Some(ev)) = (&d.approval_id, ev) {
            crate::store::approvals::create(conn, feed, approval_id, session, env, ev, d)?;
            changed = true;
        }
    }

    if changed {
        emit_session(conn, feed, &session.id, at)?;
    }
    Ok(resolved)
}

/// Whether moving `session` to `state` (and `blocked_on`, see [`transition`]) writes anything:
/// not for the common case, another tool call of an active session. The `UPDATE` in
/// [`set_state`] would match no row either; this saves it and the read before it, so
/// `set_state` is only called when this is true.
fn state_write_needed(
    session: &Session,
    state: SessionState,
    blocked_on: &Option<Option<String>>,
) -> bool {
    let same_blocked = match blocked_on {
        None => true,
        Some(v) => *v == session.blocked_on,
    };
    state == SessionState::Completed
        || state != session.state
        || !same_blocked
        || session.health != maestro_shared::api::Health::Active
}

/// Writes a state change the caller found needed ([`state_write_needed`]); returns whether
/// the session changed.
fn set_state(
    conn: &dyn Db,
    session: &Session,
    mut state: SessionState,
    blocked_on: Option<Option<String>>,
    ev: &HookEvent,
    at_s: &str,
    turn_failed: bool,
) -> StoreResult<bool> {
    let ending = state == SessionState::Completed;
    if ending && (turn_failed || *ev.name() == HookEventName::StopFailure) {
        state = SessionState::Failed;
    }
    let end_reason = if ending {
        ev.tool
            .reason
            .clone()
            .or_else(|| ev.str_field("reason").map(str::to_string))
    } else {
        None
    };
    let (set_blocked, blocked_val) = match blocked_on {
        Some(v) => (1, v),
        None => (0, None),
    };
    let n = conn.exec_cached(
        "UPDATE sessions SET state = ?2, state_at = ?3, \
           blocked_on = CASE WHEN ?4 = 1 THEN ?5 ELSE blocked_on END, \
           ended_at = CASE WHEN ?6 = 1 THEN ?3 WHEN ?2 IN ('active','blocked','waiting_for_input','starting') THEN NULL ELSE ended_at END, \
           end_reason = CASE WHEN ?6 = 1 THEN ?7 WHEN ?2 IN ('active','blocked','waiting_for_input','starting') THEN NULL ELSE end_reason END, \
           health = CASE WHEN ?6 = 1 THEN 'ended' ELSE 'active' END \
         WHERE id = ?1 AND (state <> ?2 OR COALESCE(blocked_on,'') <> COALESCE(CASE WHEN ?4 = 1 THEN ?5 ELSE blocked_on END,'') OR ?6 = 1 OR health <> 'active')",
        params![
            session.id,
            state.as_str(),
            at_s,
            set_blocked,
            blocked_val,
            ending as i64,
            end_reason,
        ],
    )?;
    // Pending approvals are cancelled by `store::approvals::on_event`, only when SessionEnd
    // comes from the process that raised them.
    if n > 0 {
        if let Some(task_id) = &session.task_id {
            refresh_task_status(conn, task_id, parse_ts(at_s))?;
        }
    }
    Ok(n > 0 || session.state != state)
}

/// Task status follows its sessions: blocked while one waits for permission, in progress
/// while one runs. It never moves to done by itself; the operator decides.
pub fn refresh_task_status(conn: &dyn Db, task_id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
    let Some(task) = load_task(conn, task_id)? else {
        return Ok(false);
    };
    let (blocked, live): (i64, i64) = conn.row_cached(
        "SELECT COALESCE(SUM(CASE WHEN state = 'blocked' THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN state IN ('queued','starting','active','waiting_for_input') THEN 1 ELSE 0 END), 0) \
         FROM sessions WHERE task_id = ?1",
        [task_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let next = if blocked > 0 {
        TaskStatus::Blocked
    } else if live > 0 || task.status == TaskStatus::Blocked {
        TaskStatus::InProgress
    } else {
        task.status
    };
    if next != task.status {
        conn.exec_cached(
            "UPDATE tasks SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![task_id, next.as_str(), fmt_ts(now)],
        )?;
        return Ok(true);
    }
    Ok(false)
}

/// Emits `session:updated` (and `task:updated` for its task).
pub fn emit_session(
    conn: &dyn Db,
    feed: &mut Feed,
    session_id: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let Some(s) = load_session(conn, session_id)? else {
        return Ok(());
    };
    let data = to_json(&s)?;
    feed.push(
        conn,
        types::SESSION_UPDATED,
        at,
        s.task_id.as_deref(),
        Some(&s.id),
        data,
    )?;
    if let Some(task_id) = &s.task_id {
        emit_task(conn, feed, task_id, at)?;
    }
    Ok(())
}

/// Emits `task:updated`.
pub fn emit_task(
    conn: &dyn Db,
    feed: &mut Feed,
    task_id: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    if let Some(t) = load_task(conn, task_id)? {
        let data = to_json(&t)?;
        feed.push(conn, types::TASK_UPDATED, at, Some(&t.id), None, data)?;
    }
    Ok(())
}

fn status_rank(status: &str) -> i32 {
    match status {
        "ok" | "error" => 2,
        "not_run" | "warning" => 1,
        _ => 0,
    }
}

/// Timeline lines and tool-call rows for one event.
fn project_lines(
    conn: &dyn Db,
    feed: &mut Feed,
    session: &Session,
    env: &Envelope,
    ev: &HookEvent,
    decision: Option<&DecisionRecord>,
) -> StoreResult<()> {
    let at_s = fmt_ts(env.captured_at);
    let event_id = env.event_id.to_string();
    let name = ev.name().clone();
    match name {
        HookEventName::PreToolUse
        | HookEventName::PostToolUse
        | HookEventName::PostToolUseFailure => {
            let Some(tool_use_id) = ev.tool.tool_use_id.clone() else {
                return generic_line(conn, feed, session, env, ev);
            };
            let tool = ev.tool.tool_name.clone().unwrap_or_else(|| "tool".into());
            let error_text = ev.tool.error.as_ref().map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let (phase, status) = match name {
                HookEventName::PreToolUse => (ToolPhase::Pending, "pending"),
                HookEventName::PostToolUse => (ToolPhase::Ok, "ok"),
                _ => (ToolPhase::Failed, "error"),
            };
            let existing = tool_line(conn, &session.id, &tool_use_id)?;
            let summary = tool_summary(
                &tool,
                ev.tool.tool_input.as_ref(),
                phase,
                error_text.as_deref(),
                session.project_dir.as_deref(),
                ev.common.cwd.as_deref(),
            );
            let mut detail = serde_json::Map::new();
            if let Some(e) = &error_text {
                detail.insert("error".into(), json!(e));
                if let Some(code) = exit_code(e) {
                    detail.insert("exit_code".into(), json!(code));
                }
            }
            if let Some(ms) = ev.tool.duration_ms {
                detail.insert("duration_ms".into(), json!(ms));
            }
            if let Some(d) = decision {
                detail.insert(
                    "decision".into(),
                    json!({"outcome": d.decision.outcome, "rule_id": d.decision.rule_id,
                           "reason": d.decision.reason, "latency_ms": d.latency_ms}),
                );
            }
            let detail = (!detail.is_empty()).then_some(Value::Object(detail));
            let line = Line {
                session_id: &session.id,
                task_id: session.task_id.as_deref(),
                at: &at_s,
                kind: if status == "error" {
                    "tool_failure"
                } else {
                    "tool_use"
                },
                event: ev.name().as_str(),
                summary: &summary,
                tool_name: Some(&tool),
                tool_use_id: Some(&tool_use_id),
                status,
                prompt_id: ev.common.prompt_id.as_deref(),
                agent_id: ev.common.agent_id.as_deref(),
                event_id: Some(&event_id),
                detail: detail.as_ref(),
            };
            // A call seen for the first time gets its line first, so that the call's row is
            // written once, already pointing at it.
            let new_line = match existing {
                None => Some(add_line(conn, feed, &line)?),
                Some(_) => None,
            };
            upsert_tool_call(
                conn,
                &ToolCallWrite {
                    session_id: &session.id,
                    tool_use_id: &tool_use_id,
                    tool: &tool,
                    agent_id: ev.common.agent_id.as_deref(),
                    status,
                    at_s: &at_s,
                    duration_ms: ev.tool.duration_ms,
                    error: error_text.as_deref(),
                    line_id: new_line,
                },
            )?;
            if let Some(existing) = existing {
                merge_tool_line(conn, feed, existing, &line)?;
            }
            if let Some(d) = decision {
                decision_line(conn, feed, session, env, ev, d)?;
            }
        }
        HookEventName::PostToolBatch => {
            for call in ev.tool_calls.iter().flatten() {
                let Some(tool_use_id) = &call.tool_use_id else {
                    continue;
                };
                let tool = call.tool_name.clone().unwrap_or_else(|| "tool".into());
                let response = match &call.tool_response {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let inserted = conn.exec_cached(
                    "INSERT INTO tool_calls (session_id, tool_use_id, tool_name, agent_id, status, post_at, error) \
                     VALUES (?1, ?2, ?3, ?4, 'not_run', ?5, ?6) ON CONFLICT DO NOTHING",
                    params![session.id, tool_use_id, tool, ev.common.agent_id, at_s, response],
                )?;
                let pending: bool = conn
                    .query_row(
                        "SELECT status = 'pending' FROM tool_calls WHERE session_id = ?1 AND tool_use_id = ?2",
                        params![session.id, tool_use_id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(false);
                if inserted == 0 && !pending {
                    continue;
                }
                if pending {
                    conn.exec_cached(
                        "UPDATE tool_calls SET status = 'not_run', error = ?3, post_at = ?4 \
                         WHERE session_id = ?1 AND tool_use_id = ?2",
                        params![session.id, tool_use_id, response, at_s],
                    )?;
                }
                let pending_line = tool_summary(
                    &tool,
                    call.tool_input.as_ref(),
                    ToolPhase::Pending,
                    None,
                    session.project_dir.as_deref(),
                    ev.common.cwd.as_deref(),
                );
                let first = response.lines().next().unwrap_or("").trim();
                let summary = format!("Not run: {pending_line} — {first}");
                let detail = json!({"response": response});
                let existing = tool_line(conn, &session.id, tool_use_id)?;
                upsert_tool_line(
                    conn,
                    feed,
                    existing,
                    &Line {
                        session_id: &session.id,
                        task_id: session.task_id.as_deref(),
                        at: &at_s,
                        kind: "tool_use",
                        event: ev.name().as_str(),
                        summary: &summary,
                        tool_name: Some(&tool),
                        tool_use_id: Some(tool_use_id),
                        status: "warning",
                        prompt_id: ev.common.prompt_id.as_deref(),
                        agent_id: ev.common.agent_id.as_deref(),
                        event_id: Some(&event_id),
                        detail: Some(&detail),
                    },
                )?;
            }
        }
        _ => {
            if let Some(d) = decision {
                decision_line(conn, feed, session, env, ev, d)?;
            }
            generic_line(conn, feed, session, env, ev)?;
        }
    }
    Ok(())
}

fn generic_line(
    conn: &dyn Db,
    feed: &mut Feed,
    session: &Session,
    env: &Envelope,
    ev: &HookEvent,
) -> StoreResult<()> {
    let Some((kind, summary, status)) = event_line(ev) else {
        return Ok(());
    };
    let detail = match ev.name() {
        HookEventName::StopFailure => Some(json!({
            "error": ev.str_field("error"),
            "error_details": ev.extra.get("error_details"),
            "last_assistant_message": ev.last_assistant_message,
        })),
        HookEventName::SessionEnd => Some(json!({"reason": ev.tool.reason})),
        _ => None,
    };
    add_event_line(
        conn,
        feed,
        session,
        env,
        ev,
        (kind, &summary, status),
        detail.as_ref(),
    )
}

/// Adds the timeline line of an event (not a tool call): `(kind, summary, status)`.
fn add_event_line(
    conn: &dyn Db,
    feed: &mut Feed,
    session: &Session,
    env: &Envelope,
    ev: &HookEvent,
    (kind, summary, status): (&str, &str, &str),
    detail: Option<&Value>,
) -> StoreResult<()> {
    add_line(
        conn,
        feed,
        &Line {
            session_id: &session.id,
            task_id: session.task_id.as_deref(),
            at: &fmt_ts(env.captured_at),
            kind,
            event: ev.name().as_str(),
            summary,
            tool_name: ev.tool.tool_name.as_deref(),
            tool_use_id: None,
            status,
            prompt_id: ev.common.prompt_id.as_deref(),
            agent_id: ev.common.agent_id.as_deref(),
            event_id: Some(&env.event_id.to_string()),
            detail,
        },
    )?;
    Ok(())
}

fn decision_line(
    conn: &dyn Db,
    feed: &mut Feed,
    session: &Session,
    env: &Envelope,
    ev: &HookEvent,
    d: &DecisionRecord,
) -> StoreResult<()> {
    let what = ask_summary(ev);
    let (summary, status) = match d.decision.outcome {
        Outcome::Allow => return Ok(()),
        Outcome::Deny => (
            format!("Denied by policy: {what} — {}", d.decision.reason),
            "error",
        ),
        // No opinion: the tool line's detail records it; a line per call would drown the
        // timeline.
        Outcome::Ask => return Ok(()),
        Outcome::Hold if d.approval_id.is_none() => (
            format!("Would be held for approval, but replayed late from the hook's spool (nobody waits; Claude Code's own prompt decided): {what}"),
            "warning",
        ),
        Outcome::Hold => (format!("Held for approval: {what}"), "warning"),
    };
    let detail = json!({"outcome": d.decision.outcome, "rule_id": d.decision.rule_id,
        "reason": d.decision.reason, "latency_ms": d.latency_ms, "approval_id": d.approval_id});
    add_event_line(
        conn,
        feed,
        session,
        env,
        ev,
        ("decision", &summary, status),
        Some(&detail),
    )
}

/// One phase of a tool call, for [`upsert_tool_call`].
struct ToolCallWrite<'a> {
    session_id: &'a str,
    tool_use_id: &'a str,
    tool: &'a str,
    agent_id: Option<&'a str>,
    status: &'a str,
    at_s: &'a str,
    duration_ms: Option<f64>,
    error: Option<&'a str>,
    /// The call's new timeline line, when it had none.
    line_id: Option<i64>,
}

/// The timeline line of a tool call, if it has one (read before the call's row is upserted,
/// which does not change it; cheaper than `RETURNING`, see `add_line`).
fn tool_line(conn: &dyn Db, session_id: &str, tool_use_id: &str) -> StoreResult<Option<ToolLine>> {
    Ok(conn
        .row_cached(
            "SELECT c.line_id, l.status, l.at FROM tool_calls c JOIN timeline l ON l.id = c.line_id \
             WHERE c.session_id = ?1 AND c.tool_use_id = ?2",
            params![session_id, tool_use_id],
            tool_line_from_row,
        )
        .optional()?
        .flatten())
}

/// [`upsert_tool_call`]'s statement; the two durations are written for each dialect.
const UPSERT_TOOL_CALL: &str = "INSERT INTO tool_calls (session_id, tool_use_id, tool_name, \
         agent_id, status, pre_at, post_at, duration_ms, error, line_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?6 = 1 THEN ?7 END, CASE WHEN ?6 = 0 THEN ?7 END, ?8, ?9, ?10) \
         ON CONFLICT (session_id, tool_use_id) DO UPDATE SET \
           pre_at = CASE WHEN ?6 = 1 THEN ?7 ELSE tool_calls.pre_at END, \
           post_at = CASE WHEN ?6 = 0 THEN ?7 ELSE tool_calls.post_at END, \
           status = CASE WHEN ?6 = 0 THEN ?5 ELSE tool_calls.status END, \
           duration_ms = COALESCE(?8, tool_calls.duration_ms, CASE \
             WHEN ?6 = 1 AND tool_calls.post_at IS NOT NULL AND tool_calls.status IN ('ok','error') \
               THEN {post_minus_at} \
             WHEN ?6 = 0 AND tool_calls.pre_at IS NOT NULL AND ?5 IN ('ok','error') \
               THEN {at_minus_pre} END), \
           error = CASE WHEN ?6 = 0 THEN ?9 ELSE tool_calls.error END, \
           line_id = COALESCE(?10, tool_calls.line_id)";

/// `a - b` in milliseconds, for two stored timestamps (RFC 3339 text).
fn millis_between(d: Dialect, a: &str, b: &str) -> String {
    match d {
        Dialect::Sqlite => format!("((julianday({a}) - julianday({b})) * 86400000.0)"),
        Dialect::Postgres => format!(
            "(EXTRACT(EPOCH FROM (CAST({a} AS TIMESTAMPTZ) - CAST({b} AS TIMESTAMPTZ))) * 1000.0)"
        ),
    }
}

/// Inserts a tool call, or merges the other phase into it. Without duration_ms from Claude
/// Code, the duration is Post's capture time minus Pre's (paired by tool_use_id).
fn upsert_tool_call(conn: &dyn Db, c: &ToolCallWrite<'_>) -> StoreResult<()> {
    let is_pre = c.status == "pending";
    static SQL: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    let [sqlite, postgres] = SQL.get_or_init(|| {
        [Dialect::Sqlite, Dialect::Postgres].map(|d| {
            UPSERT_TOOL_CALL
                .replace(
                    "{post_minus_at}",
                    &millis_between(d, "tool_calls.post_at", "?7"),
                )
                .replace(
                    "{at_minus_pre}",
                    &millis_between(d, "?7", "tool_calls.pre_at"),
                )
        })
    });
    let sql = match conn.dialect() {
        Dialect::Sqlite => sqlite,
        Dialect::Postgres => postgres,
    };
    conn.exec_later(
        sql,
        params![
            c.session_id,
            c.tool_use_id,
            c.tool,
            c.agent_id,
            c.status,
            is_pre as i64,
            c.at_s,
            c.duration_ms,
            c.error,
            c.line_id,
        ],
    )?;
    Ok(())
}

/// A timeline line to store.
#[derive(Debug, Default, Clone, Copy)]
pub struct Line<'a> {
    /// Session.
    pub session_id: &'a str,
    /// The session's task (copied into the feed message).
    pub task_id: Option<&'a str>,
    /// Capture time (`fmt_ts`).
    pub at: &'a str,
    /// Kind (`tool_use`, `decision`, ...).
    pub kind: &'a str,
    /// Hook event name.
    pub event: &'a str,
    /// The human line.
    pub summary: &'a str,
    /// Tool, for tool lines.
    pub tool_name: Option<&'a str>,
    /// Tool use id: at most one line per tool call and session.
    pub tool_use_id: Option<&'a str>,
    /// `ok`, `error`, `pending`, `info`, `warning`.
    pub status: &'a str,
    /// Turn.
    pub prompt_id: Option<&'a str>,
    /// Subagent.
    pub agent_id: Option<&'a str>,
    /// The stored event it came from.
    pub event_id: Option<&'a str>,
    /// Details.
    pub detail: Option<&'a Value>,
}

/// Stores a line and emits `timeline:item` for it; returns its id. The item is built from
/// the line itself (a `RETURNING` clause costs SQLite a temporary table per statement).
pub fn add_line(conn: &dyn Db, feed: &mut Feed, line: &Line<'_>) -> StoreResult<i64> {
    const INSERT: &str = "INSERT INTO timeline (session_id, at, kind, event, summary, tool_name, \
         tool_use_id, status, prompt_id, agent_id, event_id, detail) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)";
    let detail = line.detail.map(Value::to_string);
    let params = params![
        line.session_id,
        line.at,
        line.kind,
        line.event,
        line.summary,
        line.tool_name,
        line.tool_use_id,
        line.status,
        line.prompt_id,
        line.agent_id,
        line.event_id,
        detail,
    ];
    let id = match conn.dialect() {
        Dialect::Sqlite => {
            conn.exec_cached(INSERT, params)?;
            conn.last_insert_id()?
        }
        // One round trip instead of two.
        Dialect::Postgres => {
            conn.row_cached(&format!("{INSERT} RETURNING id"), params, |r| r.get(0))?
        }
    };
    let item = TimelineItem {
        id,
        session_id: line.session_id.to_string(),
        task_id: line.task_id.map(str::to_string),
        at: parse_ts(line.at),
        kind: line.kind.to_string(),
        event: line.event.to_string(),
        summary: line.summary.to_string(),
        tool_name: line.tool_name.map(str::to_string),
        tool_use_id: line.tool_use_id.map(str::to_string),
        status: line.status.to_string(),
        prompt_id: line.prompt_id.map(str::to_string),
        agent_id: line.agent_id.map(str::to_string),
        event_id: line.event_id.map(str::to_string),
        detail: line.detail.cloned(),
    };
    push_line(conn, feed, item)
}

/// Emits `timeline:item` for a line just written.
fn push_line(conn: &dyn Db, feed: &mut Feed, item: TimelineItem) -> StoreResult<i64> {
    let id = item.id;
    if item.kind == "session_end" {
        // Its summary is rendered from the session's start and end.
        emit_line(conn, feed, id)?;
        return Ok(id);
    }
    push_item(conn, feed, &item)?;
    Ok(id)
}

/// Appends `timeline:item` for `item`.
fn push_item(conn: &dyn Db, feed: &mut Feed, item: &TimelineItem) -> StoreResult<()> {
    feed.push(
        conn,
        types::TIMELINE_ITEM,
        item.at,
        item.task_id.as_deref(),
        Some(&item.session_id),
        to_json(item)?,
    )?;
    Ok(())
}

/// The timeline line of a tool call: id, status, time.
type ToolLine = (i64, String, String);

/// Maps `line_id, status, at` (all NULL when the call has no line yet).
fn tool_line_from_row(r: &Row<'_>) -> DbResult<Option<ToolLine>> {
    Ok(match (r.get(0)?, r.get(1)?, r.get(2)?) {
        (Some(id), Some(status), Some(at)) => Some((id, status, at)),
        _ => None,
    })
}

/// Inserts or updates the one timeline line of a tool call (`line.tool_use_id`, whose
/// `tool_calls` row exists and points at `existing`), keeping the most final status at the time
/// of its phase ([`merge_tool_line`]), and emits it when it changed.
fn upsert_tool_line(
    conn: &dyn Db,
    feed: &mut Feed,
    existing: Option<ToolLine>,
    line: &Line<'_>,
) -> StoreResult<()> {
    let Some(existing) = existing else {
        let id = add_line(conn, feed, line)?;
        conn.exec_cached(
            "UPDATE tool_calls SET line_id = ?3 WHERE session_id = ?1 AND tool_use_id = ?2",
            params![line.session_id, line.tool_use_id, id],
        )?;
        return Ok(());
    };
    merge_tool_line(conn, feed, existing, line)
}

/// Merges `line` into a tool call's existing line (the most final status) and emits it when
/// it changed. The line stands where its most final phase happened, so the timeline reads in
/// the order things happened: a call held for approval ("Held ... Approved") is done after the
/// approval, an Agent call finishes after its subagent's lines. Between phases of the same rank
/// the earliest time wins, and a less final phase arriving late moves nothing, so the result
/// does not depend on the order the hooks' events arrive in.
fn merge_tool_line(
    conn: &dyn Db,
    feed: &mut Feed,
    (id, old_status, old_at): ToolLine,
    line: &Line<'_>,
) -> StoreResult<()> {
    let (new_rank, old_rank) = (status_rank(line.status), status_rank(&old_status));
    if new_rank >= old_rank {
        let at = if new_rank > old_rank || line.at < old_at.as_str() {
            line.at
        } else {
            old_at.as_str()
        };
        // Keep details of an earlier phase (the decision) when this one has none.
        conn.exec_cached(
            "UPDATE timeline SET at = ?2, kind = ?3, event = ?4, summary = ?5, status = ?6, \
               event_id = ?7, detail = COALESCE(?8, detail), \
               prompt_id = COALESCE(prompt_id, ?9) WHERE id = ?1",
            params![
                id,
                at,
                line.kind,
                line.event,
                line.summary,
                line.status,
                line.event_id,
                line.detail.map(Value::to_string),
                line.prompt_id,
            ],
        )?;
    } else {
        let changed = conn.exec_cached(
            "UPDATE timeline SET prompt_id = ?2 WHERE id = ?1 AND prompt_id IS NULL AND ?2 IS NOT NULL",
            params![id, line.prompt_id],
        )?;
        if changed == 0 {
            return Ok(());
        }
    }
    // The merged line, read back by its key (cheaper than `RETURNING`, see `add_line`). The
    // session start/end columns only matter for session-end lines, which are re-read with
    // their session.
    let item = conn.row_cached(
        "SELECT id, session_id, ?2, at, kind, event, summary, tool_name, tool_use_id, status, \
           prompt_id, agent_id, event_id, detail, NULL, NULL FROM timeline WHERE id = ?1",
        params![id, line.task_id],
        timeline_from_row,
    )?;
    push_line(conn, feed, item)?;
    Ok(())
}

/// Emits `timeline:item` for a stored line, read back with its session.
pub fn emit_line(conn: &dyn Db, feed: &mut Feed, id: i64) -> StoreResult<()> {
    if let Some(item) = load_timeline_item(conn, id)? {
        push_item(conn, feed, &item)?;
    }
    Ok(())
}

/// Marks a pending tool call as not run (a permission dialog answered "No" or dismissed in
/// the terminal): its row and its one timeline line ("Not run: ... — why").
pub fn mark_not_run(
    conn: &dyn Db,
    feed: &mut Feed,
    session: &Session,
    approval: &Approval,
    tool_use_id: &str,
    why: &str,
    at_s: &str,
) -> StoreResult<()> {
    let n = conn.exec_cached(
        "UPDATE tool_calls SET status = 'not_run', error = ?3, post_at = ?4 \
         WHERE session_id = ?1 AND tool_use_id = ?2 AND status = 'pending'",
        params![session.id, tool_use_id, why, at_s],
    )?;
    if n == 0 {
        return Ok(());
    }
    let pending_line = tool_summary(
        &approval.tool_name,
        Some(&approval.tool_input),
        ToolPhase::Pending,
        None,
        session.project_dir.as_deref(),
        session.cwd.as_deref(),
    );
    let summary = format!("Not run: {pending_line} — {why}");
    let detail = json!({"response": why, "approval_id": approval.id});
    let existing = tool_line(conn, &session.id, tool_use_id)?;
    upsert_tool_line(
        conn,
        feed,
        existing,
        &Line {
            session_id: &session.id,
            task_id: session.task_id.as_deref(),
            at: at_s,
            kind: "tool_use",
            event: &approval.event,
            summary: &summary,
            tool_name: Some(&approval.tool_name),
            tool_use_id: Some(tool_use_id),
            status: "warning",
            detail: Some(&detail),
            ..Line::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::store::sql_store::SqlStore;
    use crate::store::Store;
    use maestro_shared::api::TaskInput;
    use maestro_shared::{Envelope, HookEvent};
    use serde_json::{json, Value};

    fn store() -> (SqlStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("dir");
        let (tx, _) = tokio::sync::broadcast::channel(1024);
        let store = SqlStore::open(&dir.path().join("m.db"), false, tx).expect("open");
        (store, dir)
    }

    fn envelope(payload: Value, maestro_sid: Option<&str>, task: Option<&str>) -> Envelope {
        let name = payload["hook_event_name"]
            .as_str()
            .expect("name")
            .to_string();
        let mut e = Envelope::new(name, payload);
        e.maestro.session_id = maestro_sid.map(str::to_string);
        e.maestro.task_id = task.map(str::to_string);
        e
    }

    fn pre(claude_sid: &str) -> Value {
        json!({"session_id": claude_sid, "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "ls"}, "tool_use_id": format!("tu-{claude_sid}")})
    }

    /// The decision path and the write path place an event in the same session and task, for
    /// every way an event names its session.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_decision_is_taken_under_the_task_the_event_is_recorded_under() {
        let (store, _dir) = store();
        let task = store
            .create_task(TaskInput {
                title: Some("t".into()),
                policy: Some("[[rules]]\nid = \"x\"\n".into()),
                ..TaskInput::default()
            })
            .await
            .expect("task");
        // Claude session c1 belongs to the task.
        let start = json!({"session_id": "c1", "hook_event_name": "SessionStart"});
        let e = envelope(start, None, Some(&task.id));
        let ev = HookEvent::parse(&e.payload).ok();
        store
            .ingest(e, ev, Vec::new().into(), None, None)
            .await
            .expect("ingest");
        let unknown_task = Some("t_gone");
        let cases: Vec<(&str, Envelope)> = vec![
            // A spawned id this store has not seen, with a Claude id mapped elsewhere: a new
            // session under that id, not the task of c1's session.
            (
                "unknown maestro id",
                envelope(pre("c1"), Some("s_elsewhere"), None),
            ),
            ("known claude id", envelope(pre("c1"), None, None)),
            (
                "new claude id with a task",
                envelope(pre("c2"), None, Some(&task.id)),
            ),
            (
                "new claude id, missing task",
                envelope(pre("c3"), None, unknown_task),
            ),
            (
                "known maestro id",
                envelope(pre("c9"), Some("s_elsewhere"), None),
            ),
        ];
        for (what, e) in cases {
            let ctx = store.decision_context(&e, None).await.expect("context");
            let ev = HookEvent::parse(&e.payload).ok();
            let out = store
                .ingest(e, ev, Vec::new().into(), None, None)
                .await
                .expect("ingest");
            assert_eq!(ctx.task_id, out.task_id, "{what}");
            if let Some(s) = &ctx.session_id {
                assert_eq!(Some(s), out.session_id.as_ref(), "{what}");
            }
        }
    }

    /// A permission dialog Maestro did not hold says what it asks, not Claude's generic
    /// "Claude needs your permission to use Bash".
    #[tokio::test(flavor = "multi_thread")]
    async fn a_permission_prompt_names_the_call_it_asks_about() {
        let (store, _dir) = store();
        let put = |payload: Value| {
            let e = envelope(payload, None, None);
            let ev = HookEvent::parse(&e.payload).ok();
            let raw = serde_json::to_vec(&e).expect("json");
            store.ingest(e, ev, raw.into(), None, None)
        };
        put(json!({"session_id": "c1", "hook_event_name": "SessionStart"}))
            .await
            .expect("start");
        // An earlier call that finished is not what the dialog is about.
        put(pre("c1")).await.expect("pre");
        put(
            json!({"session_id": "c1", "hook_event_name": "PostToolUse", "tool_name": "Bash",
            "tool_input": {"command": "ls"}, "tool_use_id": "tu-c1", "tool_response": {}}),
        )
        .await
        .expect("post");
        put(
            json!({"session_id": "c1", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "rm -rf build"}, "tool_use_id": "tu-2"}),
        )
        .await
        .expect("pre 2");
        // What a permission dialog of Claude session `claude` leaves the session blocked on.
        let prompt = |claude: &str, tool: &str| {
            let e = envelope(
                json!({"session_id": claude, "hook_event_name": "Notification",
                    "notification_type": "permission_prompt",
                    "message": format!("Claude needs your permission to use {tool}")}),
                None,
                None,
            );
            let ev = HookEvent::parse(&e.payload).ok();
            let raw = serde_json::to_vec(&e).expect("json");
            let store = &store;
            async move {
                let out = store
                    .ingest(e, ev, raw.into(), None, None)
                    .await
                    .expect("notification");
                let s = store
                    .get_session(out.session_id.as_deref().expect("session"))
                    .await
                    .expect("session");
                (s.state.as_str(), s.blocked_on)
            }
        };
        assert_eq!(
            prompt("c1", "Bash").await,
            ("blocked", Some("Bash rm -rf build".to_string()))
        );
        // Without a call waiting (a dialog about something else), Claude's text is kept.
        assert_eq!(
            prompt("c2", "MCP").await,
            (
                "blocked",
                Some("Claude needs your permission to use MCP".to_string())
            )
        );
    }

    /// Every order of one session's events (a spooled event arrives late, hooks run
    /// concurrently) gives the same rows and the same last feed message: the projection orders
    /// by capture time, never by arrival. The store's clock is fixed so that nothing it writes
    /// depends on when the test runs.
    #[tokio::test(flavor = "multi_thread")]
    async fn every_arrival_order_of_a_session_gives_the_same_rows_and_feed() {
        use crate::time::{fmt_ts, FixedClock};
        use chrono::TimeZone;
        use std::sync::Arc;

        let dir = tempfile::tempdir().expect("dir");
        let (tx, _) = tokio::sync::broadcast::channel(1024);
        let t0 = chrono::Utc
            .with_ymd_and_hms(2026, 11, 1, 9, 0, 0)
            .single()
            .expect("t0");
        let clock = Arc::new(FixedClock::new(t0 + chrono::Duration::hours(1)));
        let path = dir.path().join("m.db");
        let store = SqlStore::open_with_clock(&path, false, tx, clock.clone()).expect("open");
        let events = |c: &str| -> Vec<Value> {
            vec![
                json!({"session_id": c, "hook_event_name": "SessionStart", "source": "startup"}),
                json!({"session_id": c, "hook_event_name": "UserPromptSubmit", "prompt": "fix it"}),
                json!({"session_id": c, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                    "tool_input": {"command": "make"}, "tool_use_id": "tu1"}),
                json!({"session_id": c, "hook_event_name": "PostToolUse", "tool_name": "Bash",
                    "tool_input": {"command": "make"}, "tool_use_id": "tu1",
                    "tool_response": {"stdout": "ok", "stderr": "", "interrupted": false}}),
                json!({"session_id": c, "hook_event_name": "Stop"}),
                json!({"session_id": c, "hook_event_name": "SessionEnd", "reason": "exit"}),
            ]
        };
        let mut orders: Vec<Vec<usize>> = Vec::new();
        permutations(&mut (0..6).collect::<Vec<_>>(), 0, &mut orders);
        assert_eq!(orders.len(), 720);
        for (n, order) in orders.iter().enumerate() {
            let c = format!("c{n}");
            let evs = events(&c);
            for &i in order {
                let mut e = envelope(evs[i].clone(), None, None);
                e.captured_at = t0 + chrono::Duration::seconds(i as i64);
                // Arrival times differ by order; the clock moves with each arrival.
                clock.set(t0 + chrono::Duration::hours(1) + chrono::Duration::seconds(n as i64));
                let ev = HookEvent::parse(&e.payload).ok();
                store
                    .ingest(e, ev, Vec::new().into(), None, None)
                    .await
                    .expect("ingest");
            }
        }
        let conn = rusqlite::Connection::open(&path).expect("read connection");
        let snapshot = |c: &str| -> Value {
            let sid: String = conn
                .query_row(
                    "SELECT session_id FROM claude_sessions WHERE claude_session_id = ?1",
                    [c],
                    |r| r.get(0),
                )
                .expect("mapped");
            let rows = |sql: &str| -> Vec<Vec<Value>> {
                let mut st = conn.prepare(sql).expect("prepare");
                let n = st.column_count();
                st.query_map([&sid], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Value::Null,
                                rusqlite::types::ValueRef::Integer(v) => json!(v),
                                rusqlite::types::ValueRef::Real(v) => json!(v),
                                rusqlite::types::ValueRef::Text(t) => {
                                    json!(String::from_utf8_lossy(t))
                                }
                                rusqlite::types::ValueRef::Blob(_) => json!("blob"),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<Value>>>()
                })
                .expect("query")
                .collect::<rusqlite::Result<Vec<_>>>()
                .expect("rows")
            };
            let mut feed_session: Value = conn
                .query_row(
                    "SELECT data FROM feed WHERE session_id = ?1 AND kind = 'session:updated' \
                     ORDER BY seq DESC LIMIT 1",
                    [&sid],
                    |r| r.get::<_, String>(0),
                )
                .map(|t| serde_json::from_str(&t).expect("feed json"))
                .expect("a session message");
            let mut row_session = serde_json::to_value(
                crate::store::rows::load_session(&conn, &sid)
                    .expect("load")
                    .expect("session"),
            )
            .expect("json");
            // The session is re-sent only when it changes; counters and the last-seen time of
            // every event travel on the `hook:*` messages instead.
            let count: i64 = conn
                .query_row(
                    "SELECT MAX(json_extract(data, '$.session_event_count')) FROM feed \
                     WHERE session_id = ?1 AND kind LIKE 'hook:%'",
                    [&sid],
                    |r| r.get(0),
                )
                .expect("hook messages");
            assert_eq!(json!(count), row_session["event_count"], "{c}: live count");
            for v in [&mut feed_session, &mut row_session] {
                v["id"] = json!("S");
                v["claude_session_id"] = json!("C");
                for per_event in ["event_count", "last_event_at", "duration_ms", "cwd"] {
                    v[per_event] = Value::Null;
                }
            }
            assert_eq!(
                feed_session, row_session,
                "{c}: the last feed message is the row"
            );
            json!({
                "session": rows(
                    "SELECT state, state_at, health, started_at, ended_at, last_event_at, \
                     event_count, blocked_on, end_reason, turn_failed FROM sessions WHERE id = ?1"),
                "tool_calls": rows(
                    "SELECT tool_use_id, tool_name, status, pre_at, post_at, duration_ms, error \
                     FROM tool_calls WHERE session_id = ?1"),
                "timeline": rows(
                    "SELECT at, kind, event, summary, tool_name, tool_use_id, status, detail \
                     FROM timeline WHERE session_id = ?1 ORDER BY at, kind, summary"),
                "feed": feed_session,
            })
        };
        let first = snapshot("c0");
        assert_eq!(first["session"][0][0], json!("completed"), "{first}");
        assert_eq!(
            first["session"][0][5],
            json!(fmt_ts(t0 + chrono::Duration::seconds(5)))
        );
        for n in 1..orders.len() {
            let c = format!("c{n}");
            assert_eq!(
                snapshot(&c),
                first,
                "order {:?} differs from {:?}",
                orders[n],
                orders[0]
            );
        }
    }

    fn permutations(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
        if k == items.len() {
            out.push(items.clone());
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, out);
            items.swap(k, i);
        }
    }

    /// Health follows the store's clock, not the machine's: moving a fixed clock past the
    /// thresholds turns a session idle, then stale, and an event makes it active again.
    #[tokio::test(flavor = "multi_thread")]
    async fn health_follows_the_store_clock() {
        use crate::store::HealthThresholds;
        use crate::time::FixedClock;
        use chrono::TimeZone;
        use maestro_shared::api::Health;
        use std::sync::Arc;
        use std::time::Duration;

        let dir = tempfile::tempdir().expect("dir");
        let (tx, _) = tokio::sync::broadcast::channel(1024);
        let t0 = chrono::Utc
            .with_ymd_and_hms(2026, 11, 1, 9, 0, 0)
            .single()
            .expect("t0");
        let clock = Arc::new(FixedClock::new(t0));
        let store = SqlStore::open_with_clock(&dir.path().join("m.db"), false, tx, clock.clone())
            .expect("open");
        let th = HealthThresholds {
            idle_after: Duration::from_secs(60),
            stale_after: Duration::from_secs(600),
        };
        let send = |at: chrono::DateTime<chrono::Utc>| {
            let mut e = envelope(pre("h1"), None, None);
            e.captured_at = at;
            let ev = HookEvent::parse(&e.payload).ok();
            store.ingest(e, ev, Vec::new().into(), None, None)
        };
        let sid = send(t0).await.expect("ingest").session_id.expect("session");
        let health = || async { store.get_session(&sid).await.expect("session").health };
        for (after, want, changes) in [
            (30, Health::Active, 0),
            (61, Health::Idle, 1),
            (300, Health::Idle, 0),
            (601, Health::Stale, 1),
        ] {
            clock.set(t0 + chrono::Duration::seconds(after));
            assert_eq!(
                store.tick_health(th.clone()).await.expect("tick"),
                changes,
                "at +{after}s"
            );
            assert_eq!(health().await, want, "at +{after}s");
        }
        // An event makes it active at once (the ingest itself), and the next tick agrees.
        send(t0 + chrono::Duration::seconds(601))
            .await
            .expect("ingest");
        assert_eq!(health().await, Health::Active);
        assert_eq!(store.tick_health(th).await.expect("tick"), 0);
        assert_eq!(health().await, Health::Active);
    }
}
