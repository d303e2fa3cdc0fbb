//! Model requests reported by Claude Code's OpenTelemetry export (`claude_code.api_request`)
//! and the cost reports built from them.
//!
//! Rows are keyed by [`ApiRequest::record_key`], so a retried export inserts nothing new. The
//! Maestro session is found at read time: through `claude_sessions` (the mapping the hook
//! events build), else through the `maestro.session_id` resource attribute a spawned session
//! carries. A record that arrives before its session's first hook event is therefore joined as
//! soon as that event is stored, with no second pass.

use super::StoreResult;
use crate::store::sql::{params, Db, DbExt, DbResult, OptionalExt, Row};
use chrono::{DateTime, Utc};
use maestro_shared::cost::{
    CostPoint, CostReport, CostTotals, MachineCost, ModelCost, SessionCost, TaskCost, TurnCost,
};

/// One `claude_code.api_request` record, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// Idempotency key: the same for every export (and retry) of the same record.
    pub record_key: String,
    /// Claude Code's `session.id`.
    pub claude_session_id: String,
    /// The `maestro.session_id` resource attribute (spawned sessions), if any.
    pub maestro_session_id: Option<String>,
    /// `prompt.id`: the turn.
    pub prompt_id: Option<String>,
    /// `tool_use_id`, when the record carries one.
    pub tool_use_id: Option<String>,
    /// `model`.
    pub model: String,
    /// When the request finished (RFC 3339).
    pub at: String,
    /// `cost_usd`.
    pub cost_usd: f64,
    /// `input_tokens`.
    pub input_tokens: i64,
    /// `output_tokens`.
    pub output_tokens: i64,
    /// `cache_read_tokens`.
    pub cache_read_tokens: i64,
    /// `cache_creation_tokens`.
    pub cache_creation_tokens: i64,
    /// `duration_ms`, if reported.
    pub duration_ms: Option<i64>,
}

/// What a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostScope {
    /// One Maestro session.
    Session(String),
    /// Every session of one task.
    Task(String),
    /// Everything (records not yet joined to a session included).
    All,
}

/// Stores `records`, skipping those already stored; returns how many were new. For every
/// Claude session with new records, its running totals (`otel_session_totals`) grow by them
/// and a `cost:updated` feed message carries the new totals.
pub fn insert(
    conn: &dyn Db,
    feed: &mut super::writer::Feed,
    records: &[ApiRequest],
    machine: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let received = crate::time::fmt_ts(now);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO otel_api_requests (record_key, claude_session_id, \
         maestro_session_id, prompt_id, tool_use_id, model, at, cost_usd, input_tokens, \
         output_tokens, cache_read_tokens, cache_creation_tokens, duration_ms, machine, \
         received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
         ON CONFLICT DO NOTHING",
    )?;
    let mut inserted = 0;
    // What the new records add, per Claude session, in the order first seen.
    let mut touched: Vec<(&str, Option<&str>, CostTotals)> = Vec::new();
    for r in records {
        let n = stmt.execute(params![
            r.record_key,
            r.claude_session_id,
            r.maestro_session_id,
            r.prompt_id,
            r.tool_use_id,
            r.model,
            r.at,
            r.cost_usd,
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            r.cache_creation_tokens,
            r.duration_ms,
            machine,
            received,
        ])?;
        inserted += n;
        if n == 0 {
            continue;
        }
        let i = match touched
            .iter()
            .position(|(c, _, _)| *c == r.claude_session_id)
        {
            Some(i) => i,
            None => {
                touched.push((&r.claude_session_id, None, CostTotals::default()));
                touched.len() - 1
            }
        };
        let (_, maestro, added) = &mut touched[i];
        *maestro = maestro.or(r.maestro_session_id.as_deref());
        added.requests += 1;
        added.cost_usd += r.cost_usd;
        added.input_tokens += r.input_tokens;
        added.output_tokens += r.output_tokens;
        added.cache_read_tokens += r.cache_read_tokens;
        added.cache_creation_tokens += r.cache_creation_tokens;
    }
    for (claude, maestro, added) in touched {
        announce(conn, feed, claude, maestro, &added, now)?;
    }
    Ok(inserted)
}

/// Adds `added` to the running totals of Claude session `claude` and pushes its
/// `cost:updated` message. One row read and written, whatever the session's length (this runs
/// in the writer's transaction for every export).
fn announce(
    conn: &dyn Db,
    feed: &mut super::writer::Feed,
    claude: &str,
    maestro: Option<&str>,
    added: &CostTotals,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO otel_session_totals (claude_session_id, maestro_session_id, requests, \
         cost_usd, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (claude_session_id) DO UPDATE SET \
         maestro_session_id = COALESCE(otel_session_totals.maestro_session_id, excluded.maestro_session_id), \
         requests = otel_session_totals.requests + excluded.requests, cost_usd = otel_session_totals.cost_usd + excluded.cost_usd, \
         input_tokens = otel_session_totals.input_tokens + excluded.input_tokens, \
         output_tokens = otel_session_totals.output_tokens + excluded.output_tokens, \
         cache_read_tokens = otel_session_totals.cache_read_tokens + excluded.cache_read_tokens, \
         cache_creation_tokens = otel_session_totals.cache_creation_tokens + excluded.cache_creation_tokens \
         RETURNING maestro_session_id, requests, cost_usd, input_tokens, output_tokens, \
         cache_read_tokens, cache_creation_tokens",
    )?;
    let (maestro, total) = stmt.query_row(
        params![
            claude,
            maestro,
            added.requests,
            added.cost_usd,
            added.input_tokens,
            added.output_tokens,
            added.cache_read_tokens,
            added.cache_creation_tokens,
        ],
        |r| Ok((r.get::<_, Option<String>>(0)?, totals_at(r, 1)?)),
    )?;
    let (sid, tid) = session_of(conn, claude, maestro.as_deref())?;
    let data = serde_json::json!({ "claude_session_id": claude, "total": total });
    feed.push(
        conn,
        maestro_shared::ws::types::COST_UPDATED,
        now,
        tid.as_deref(),
        sid.as_deref(),
        data,
    )?;
    Ok(())
}

/// The Maestro session and task of Claude session `claude`: through `claude_sessions`, else
/// the `maestro.session_id` resource attribute (`maestro`) of a spawned session; `(None,
/// None)` while neither names a stored session.
pub(super) fn session_of(
    conn: &dyn Db,
    claude: &str,
    maestro: Option<&str>,
) -> StoreResult<(Option<String>, Option<String>)> {
    Ok(conn
        .query_row(
            "SELECT s.id, s.task_id FROM sessions s WHERE s.id = \
             COALESCE((SELECT session_id FROM claude_sessions WHERE claude_session_id = ?1), ?2)",
            params![claude, maestro],
            |r| Ok((Some(r.get::<_, String>(0)?), r.get::<_, Option<String>>(1)?)),
        )
        .optional()?
        .unwrap_or((None, None)))
}

/// Every record with its Maestro session (`sid`) and task (`tid`), joined at read time.
const JOINED: &str = "WITH j AS (SELECT r.*, COALESCE(cs.session_id, ms.id) AS sid \
     FROM otel_api_requests r \
     LEFT JOIN claude_sessions cs ON cs.claude_session_id = r.claude_session_id \
     LEFT JOIN sessions ms ON ms.id = r.maestro_session_id), \
     jt AS (SELECT j.*, s.task_id AS tid FROM j LEFT JOIN sessions s ON s.id = j.sid) ";

const SUMS: &str = "COUNT(*), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens), 0), \
     COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_tokens), 0), \
     COALESCE(SUM(cache_creation_tokens), 0)";

fn totals_at(row: &Row<'_>, first: usize) -> DbResult<CostTotals> {
    Ok(CostTotals {
        requests: row.get(first)?,
        cost_usd: row.get(first + 1)?,
        input_tokens: row.get(first + 2)?,
        output_tokens: row.get(first + 3)?,
        cache_read_tokens: row.get(first + 4)?,
        cache_creation_tokens: row.get(first + 5)?,
    })
}

/// The cost report of `scope`. Turns are listed for a session or a task, not for everything.
pub fn report(conn: &dyn Db, scope: &CostScope) -> StoreResult<CostReport> {
    let (filter, arg) = match scope {
        CostScope::Session(id) => ("WHERE sid = ?1", id.clone()),
        CostScope::Task(id) => ("WHERE tid = ?1", id.clone()),
        CostScope::All => ("WHERE ?1 = ?1", String::new()),
    };
    let total = conn.query_row(
        &format!("{JOINED} SELECT {SUMS} FROM jt {filter}"),
        [&arg],
        |r| totals_at(r, 0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "{JOINED} SELECT model, {SUMS} FROM jt {filter} GROUP BY model \
         ORDER BY SUM(cost_usd) DESC, model"
    ))?;
    let by_model = stmt
        .query_map([&arg], |r| {
            Ok(ModelCost {
                model: r.get(0)?,
                totals: totals_at(r, 1)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    let mut stmt = conn.prepare(&format!(
        "{JOINED} SELECT sid, claude_session_id, {SUMS} FROM jt {filter} \
         GROUP BY sid, claude_session_id ORDER BY SUM(cost_usd) DESC, claude_session_id"
    ))?;
    let by_session = stmt
        .query_map([&arg], |r| {
            Ok(SessionCost {
                session_id: r.get(0)?,
                claude_session_id: r.get(1)?,
                totals: totals_at(r, 2)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    let mut stmt = conn.prepare(&format!(
        "{JOINED} SELECT machine, {SUMS} FROM jt {filter} GROUP BY machine \
         ORDER BY SUM(cost_usd) DESC, machine"
    ))?;
    let by_machine = stmt
        .query_map([&arg], |r| {
            Ok(MachineCost {
                machine: r.get(0)?,
                totals: totals_at(r, 1)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    let by_turn = if matches!(scope, CostScope::All) {
        Vec::new()
    } else {
        let mut stmt = conn.prepare(&format!(
            "{JOINED} SELECT prompt_id, sid, MIN(at), {SUMS} FROM jt {filter} \
             GROUP BY sid, prompt_id ORDER BY MIN(at), prompt_id"
        ))?;
        stmt.query_map([&arg], |r| {
            Ok(TurnCost {
                prompt_id: r.get(0)?,
                session_id: r.get(1)?,
                first_at: r.get(2)?,
                totals: totals_at(r, 3)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?
    };
    let series = match scope {
        CostScope::All => Vec::new(),
        _ => series(conn, filter, &arg)?,
    };
    Ok(CostReport {
        total,
        by_model,
        by_session,
        by_machine,
        by_turn,
        series,
    })
}

/// Every request of a scope in time order, with the running total (the chart's points).
fn series(conn: &dyn Db, filter: &str, arg: &str) -> StoreResult<Vec<CostPoint>> {
    let mut stmt = conn.prepare(&format!(
        "{JOINED} SELECT at, sid, prompt_id, model, cost_usd, \
         SUM(cost_usd) OVER (ORDER BY at, record_key ROWS UNBOUNDED PRECEDING), \
         input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens \
         FROM jt {filter} ORDER BY at, record_key"
    ))?;
    let rows = stmt
        .query_map([arg], |r| {
            Ok(CostPoint {
                at: r.get(0)?,
                session_id: r.get(1)?,
                prompt_id: r.get(2)?,
                model: r.get(3)?,
                cost_usd: r.get(4)?,
                cumulative_usd: r.get(5)?,
                input_tokens: r.get(6)?,
                output_tokens: r.get(7)?,
                cache_read_tokens: r.get(8)?,
                cache_creation_tokens: r.get(9)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    Ok(rows)
}

/// The totals of every task with at least one joined request (one query for the whole board).
pub fn task_totals(conn: &dyn Db) -> StoreResult<Vec<TaskCost>> {
    let mut stmt = conn.prepare(&format!(
        "{JOINED} SELECT tid, {SUMS} FROM jt WHERE tid IS NOT NULL GROUP BY tid ORDER BY tid"
    ))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(TaskCost {
                task_id: r.get(0)?,
                totals: totals_at(r, 1)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, claude: &str, prompt: &str, tokens: i64) -> ApiRequest {
        ApiRequest {
            record_key: key.into(),
            claude_session_id: claude.into(),
            maestro_session_id: None,
            prompt_id: Some(prompt.into()),
            tool_use_id: None,
            model: "m".into(),
            at: "2026-12-03T10:00:00.000000Z".into(),
            cost_usd: 0.5,
            input_tokens: tokens,
            output_tokens: 1,
            cache_read_tokens: 2,
            cache_creation_tokens: 3,
            duration_ms: Some(4),
        }
    }

    fn db() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        super::super::schema::migrate(&mut conn).expect("migrate");
        conn
    }

    #[test]
    fn duplicates_are_ignored_and_late_sessions_join() {
        let conn = db();
        let now = Utc::now();
        let recs = [record("k1", "c1", "p1", 10), record("k2", "c1", "p2", 20)];
        let mut feed = super::super::writer::Feed::new(1);
        assert_eq!(
            insert(&conn, &mut feed, &recs, None, now).expect("insert"),
            2
        );
        assert_eq!(feed.msgs.len(), 1, "one message per Claude session");
        assert_eq!(
            insert(&conn, &mut feed, &recs, None, now).expect("again"),
            0
        );
        assert_eq!(feed.msgs.len(), 1, "nothing new, nothing announced");
        let all = report(&conn, &CostScope::All).expect("all");
        assert_eq!(all.total.input_tokens, 30);
        assert_eq!(all.by_session[0].session_id, None);
        let s = report(&conn, &CostScope::Session("s_1".into())).expect("s");
        assert_eq!(s.total.requests, 0);
        conn.execute_batch(
            "INSERT INTO sessions (id, claude_session_id, task_id, state, health, started_at) \
             VALUES ('s_1', 'c1', 't_1', 'active', 'ok', 'x'); \
             INSERT INTO claude_sessions VALUES ('c1', 's_1');",
        )
        .expect("session");
        let s = report(&conn, &CostScope::Session("s_1".into())).expect("s");
        assert_eq!(s.total.input_tokens, 30);
        assert_eq!(s.total.cache_creation_tokens, 6);
        assert_eq!(s.by_turn.len(), 2);
        let t = report(&conn, &CostScope::Task("t_1".into())).expect("t");
        assert_eq!(t.total, s.total);
        assert_eq!(t.by_model[0].model, "m");
        assert_eq!(
            task_totals(&conn).expect("tasks"),
            vec![TaskCost {
                task_id: "t_1".into(),
                totals: t.total.clone()
            }]
        );
    }

    /// The totals of `claude` summed over its stored records (what the running totals must
    /// always equal).
    fn summed(conn: &dyn Db, claude: &str) -> CostTotals {
        conn.query_row(
            &format!("SELECT {SUMS} FROM otel_api_requests WHERE claude_session_id = ?1"),
            [claude],
            |r| totals_at(r, 0),
        )
        .expect("sums")
    }

    #[test]
    fn the_message_carries_running_totals_equal_to_the_stored_records() {
        let conn = db();
        let now = Utc::now();
        let mut feed = super::super::writer::Feed::new(1);
        let mut spawned = record("k3", "c2", "p9", 7);
        spawned.maestro_session_id = Some("s_9".into());
        let first = [record("k1", "c1", "p1", 10), spawned.clone()];
        assert_eq!(insert(&conn, &mut feed, &first, None, now).expect("1"), 2);
        // A retry of one record beside a new one: only the new one counts.
        let second = [record("k1", "c1", "p1", 10), record("k2", "c1", "p2", 20)];
        assert_eq!(insert(&conn, &mut feed, &second, None, now).expect("2"), 1);
        // A later record without the resource attribute keeps the session's.
        let mut later = spawned.clone();
        later.record_key = "k4".into();
        later.maestro_session_id = None;
        assert_eq!(insert(&conn, &mut feed, &[later], None, now).expect("3"), 1);
        let announced: Vec<(String, CostTotals)> = feed
            .msgs
            .iter()
            .map(|p| {
                let d = &p.msg.data;
                (
                    d["claude_session_id"].as_str().unwrap_or("").to_string(),
                    serde_json::from_value(d["total"].clone()).expect("totals"),
                )
            })
            .collect();
        assert_eq!(announced.len(), 4, "{announced:?}");
        assert_eq!(announced[2], ("c1".to_string(), summed(&conn, "c1")));
        assert_eq!(announced[3], ("c2".to_string(), summed(&conn, "c2")));
        assert_eq!(announced[2].1.input_tokens, 30);
        assert_eq!(announced[3].1.requests, 2);
        let maestro: Option<String> = conn
            .query_row(
                "SELECT maestro_session_id FROM otel_session_totals WHERE claude_session_id = 'c2'",
                [],
                |r| r.get(0),
            )
            .expect("c2 totals");
        assert_eq!(maestro.as_deref(), Some("s_9"));
    }

    /// Records stored by the previous build (bare-hash keys, no running totals): the
    /// migration re-keys them as the decoder now keys them, so an exporter's retry after the
    /// upgrade still inserts nothing, and fills the totals.
    #[test]
    fn an_upgrade_keeps_retries_idempotent_and_fills_the_totals() {
        use crate::otlp::decode;
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        // Exports the real CLI sent: model requests (protobuf) and tool events (JSON).
        let read = |name: &str, format| -> decode::Records {
            let body = std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../tests/fixtures/otlp")
                    .join(name),
            )
            .expect("fixture");
            let export: ExportLogsServiceRequest = decode::message(&body, format).expect("decode");
            decode::records(&export)
        };
        let now = decode::Records {
            api_requests: read("logs-2.1.332.pb", decode::Format::Protobuf).api_requests,
            tool_events: read("tools-2.1.332.json", decode::Format::Json).tool_events,
        };
        assert!(!now.api_requests.is_empty() && !now.tool_events.is_empty());
        let bare = |key: &str| key.rsplit('/').next().unwrap_or_default().to_string();
        let mut old = decode::Records {
            api_requests: now.api_requests.clone(),
            tool_events: now.tool_events.clone(),
        };
        for r in &mut old.api_requests {
            r.record_key = bare(&r.record_key);
        }
        for e in &mut old.tool_events {
            e.record_key = bare(&e.record_key);
        }
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        super::super::schema::migrate(&mut conn).expect("migrate");
        let mut feed = super::super::writer::Feed::new(1);
        let at = Utc::now();
        insert(&conn, &mut feed, &old.api_requests, None, at).expect("old records");
        super::super::tool_telemetry::insert(&conn, &mut feed, &old.tool_events, None, at)
            .expect("old tool events");
        let claude = old.api_requests[0].claude_session_id.clone();
        let before = summed(&conn, &claude);
        // As the previous build left it: no totals, the schema one version older.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        conn.execute_batch("DROP TABLE otel_session_totals")
            .expect("drop");
        conn.pragma_update(None, "user_version", version - 1)
            .expect("older");
        super::super::schema::migrate(&mut conn).expect("upgrade");
        let totals: CostTotals = DbExt::query_row(
            &conn,
            "SELECT requests, cost_usd, input_tokens, output_tokens, cache_read_tokens, \
                 cache_creation_tokens FROM otel_session_totals WHERE claude_session_id = ?1",
            [&claude],
            |r| totals_at(r, 0),
        )
        .expect("totals");
        assert_eq!(totals, before);
        assert!(before.requests > 0);
        // The exporter retries the same export after the upgrade.
        assert_eq!(
            insert(&conn, &mut feed, &now.api_requests, None, at).expect("retry"),
            0
        );
        assert_eq!(
            super::super::tool_telemetry::insert(&conn, &mut feed, &now.tool_events, None, at)
                .expect("retry"),
            0
        );
        assert_eq!(summed(&conn, &claude), before);
    }

    #[test]
    fn the_series_runs_in_time_order_with_a_running_total() {
        let conn = db();
        let mut feed = super::super::writer::Feed::new(1);
        let mut late = record("k1", "c1", "p1", 10);
        late.at = "2026-12-03T10:00:02.000000Z".into();
        late.cost_usd = 0.25;
        let mut early = record("k2", "c1", "p1", 20);
        early.at = "2026-12-03T10:00:01.000000Z".into();
        early.cost_usd = 0.5;
        let other = record("k3", "c2", "p9", 5);
        insert(&conn, &mut feed, &[late, early, other], None, Utc::now()).expect("insert");
        conn.execute_batch(
            "INSERT INTO sessions (id, claude_session_id, task_id, state, health, started_at) \
             VALUES ('s_1', 'c1', 't_1', 'active', 'ok', 'x'); \
             INSERT INTO claude_sessions VALUES ('c1', 's_1');",
        )
        .expect("session");
        let s = report(&conn, &CostScope::Session("s_1".into())).expect("s");
        let points: Vec<(&str, f64, f64, i64)> = s
            .series
            .iter()
            .map(|p| (p.at.as_str(), p.cost_usd, p.cumulative_usd, p.input_tokens))
            .collect();
        assert_eq!(
            points,
            vec![
                ("2026-12-03T10:00:01.000000Z", 0.5, 0.5, 20),
                ("2026-12-03T10:00:02.000000Z", 0.25, 0.75, 10),
            ]
        );
        assert_eq!(s.series[1].session_id.as_deref(), Some("s_1"));
        let last = s.series.last().map(|p| p.cumulative_usd);
        assert_eq!(last, Some(s.total.cost_usd));
        let t = report(&conn, &CostScope::Task("t_1".into())).expect("t");
        assert_eq!(t.series, s.series);
        assert!(report(&conn, &CostScope::All)
            .expect("all")
            .series
            .is_empty());
        // c2 has no session: it is in no task's totals.
        let tasks = task_totals(&conn).expect("tasks");
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].totals.requests, 2);
    }
}
