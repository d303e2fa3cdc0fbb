//! The activity index of the SQLite store: one `activity` row per stored event (its session,
//! event name, tool, status and searchable text) and the FTS5 table `activity_fts` over that
//! text (external content: the text is stored once, in `activity`; `columnsize=0`: no per-row
//! token counts, which only ranking would use, one B-tree insert fewer per event). Both are written by
//! [`index_event`] in the writer transaction that inserts the event, so the index is never
//! behind the events; events stored before the index existed are indexed by
//! [`backfill`] in the migration that creates it.

use crate::search::extract::{extract, Extracted};
use crate::search::{
    ActivityItem, ActivityPage, ActivityQuery, SessionSummary, MATCH_END, MATCH_START, MAX_PAGE,
    MAX_SUMMARIES,
};
use crate::store::sql::{params, Db, DbExt, DbResult, Dialect, OptionalExt, Val};
use maestro_shared::policy::Outcome;
use serde_json::Value;

/// The migration that creates the index (run inside the migration's transaction, followed by
/// [`backfill`]).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE activity (
    seq INTEGER PRIMARY KEY,
    session_id TEXT,
    event TEXT NOT NULL,
    tool_name TEXT,
    status TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX activity_session ON activity(session_id);
CREATE VIRTUAL TABLE activity_fts USING fts5(
    text,
    content='activity',
    content_rowid='seq',
    columnsize=0,
    tokenize='unicode61 remove_diacritics 2'
);
"#;

/// Indexes one event (called right after its `INSERT INTO events`).
pub(crate) fn index_event(
    conn: &dyn Db,
    seq: i64,
    session_id: Option<&str>,
    event: &str,
    payload: Option<&Value>,
    outcome: Option<Outcome>,
    malformed: bool,
) -> DbResult<()> {
    let Extracted {
        tool_name,
        status,
        text,
    } = extract(event, payload, outcome, malformed);
    conn.exec_later(
        "INSERT INTO activity (seq, session_id, event, tool_name, status, text) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![seq, session_id, event, tool_name, status.as_str(), text],
    )?;
    // PostgreSQL indexes `activity.text` itself (a generated `tsvector` column).
    if !text.is_empty() && conn.dialect() == Dialect::Sqlite {
        conn.exec_cached(
            "INSERT INTO activity_fts (rowid, text) VALUES (?1, ?2)",
            params![seq, text],
        )?;
    }
    Ok(())
}

/// Indexes every stored event (the migration's backfill); returns how many. Decisions are not
/// stored with events, so a backfilled event's status comes from its name alone.
pub(super) fn backfill(conn: &rusqlite::Connection) -> rusqlite::Result<u64> {
    let mut read = conn
        .prepare("SELECT seq, session_id, event, malformed, envelope FROM events ORDER BY seq")?;
    let mut write = conn.prepare(
        "INSERT INTO activity (seq, session_id, event, tool_name, status, text) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut rows = read.query([])?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let session_id: Option<String> = r.get(1)?;
        let event: String = r.get(2)?;
        let malformed: bool = r.get::<_, i64>(3)? != 0;
        let envelope: Option<String> = r.get(4)?;
        let payload = envelope
            .as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .and_then(|mut v| v.get_mut("payload").map(Value::take));
        let x = extract(&event, payload.as_ref(), None, malformed);
        write.execute(rusqlite::params![
            seq,
            session_id,
            event,
            x.tool_name,
            x.status.as_str(),
            x.text
        ])?;
        n += 1;
    }
    conn.execute_batch("INSERT INTO activity_fts (activity_fts) VALUES ('rebuild')")?;
    Ok(n)
}

/// Sessions at most for which a filter on their sessions (task, project, host) without a
/// search reads each session's newest events by its index and merges them; above, the newest
/// events are scanned by seq and checked.
const MERGE_SESSIONS: usize = 64;

/// Which sessions' events a page is drawn from.
enum Sessions {
    /// Any session (or the only one asked for, as `a.session_id = ?`).
    Any,
    /// Those of `SELECT id FROM sessions WHERE ...` (task, project, host), checked per row.
    Matching,
}

/// One page of the activity stream.
pub(super) fn search(conn: &dyn Db, q: &ActivityQuery) -> DbResult<ActivityPage> {
    let limit = q.limit.clamp(1, MAX_PAGE);
    let by_sessions = q.task_id.is_some() || q.project.is_some() || q.host.is_some();
    let mut items = if by_sessions && q.text.is_none() && q.session_id.is_none() {
        // Without a search, SQLite would read every event of the matching sessions through
        // `activity_session` and sort them (1.3 s at 1M events for a host's sessions). When
        // they are few, each session's newest events come in order from that index: merge.
        let ids = matching_sessions(conn, q)?;
        if ids.len() <= MERGE_SESSIONS {
            let mut all = Vec::new();
            for id in ids {
                let one = ActivityQuery {
                    session_id: Some(id),
                    task_id: None,
                    project: None,
                    host: None,
                    text: None,
                    ..q.clone()
                };
                all.extend(page(conn, &one, limit, Sessions::Any)?);
            }
            all.sort_by_key(|i| std::cmp::Reverse(i.seq));
            all.truncate(limit as usize + 1);
            all
        } else {
            page(conn, q, limit, Sessions::Matching)?
        }
    } else {
        page(
            conn,
            q,
            limit,
            if by_sessions {
                Sessions::Matching
            } else {
                Sessions::Any
            },
        )?
    };
    let next_before = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|i| i.seq)
    } else {
        None
    };
    Ok(ActivityPage { items, next_before })
}

/// The sessions that a task / project / host filter selects.
fn matching_sessions(conn: &dyn Db, q: &ActivityQuery) -> DbResult<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT id FROM sessions WHERE (?1 IS NULL OR task_id = ?1) \
         AND (?2 IS NULL OR project_dir = ?2) AND (?3 IS NULL OR host = ?3)",
    )?;
    let ids = st
        .query_map(params![q.task_id, q.project, q.host], |r| r.get(0))?
        .collect::<DbResult<Vec<String>>>()?;
    Ok(ids)
}

/// Up to `limit + 1` events of one query, newest first.
fn page(
    conn: &dyn Db,
    q: &ActivityQuery,
    limit: i64,
    sessions: Sessions,
) -> DbResult<Vec<ActivityItem>> {
    // The SQL is made of fixed fragments only; every value is a bound parameter.
    let mut args: Vec<Val<'static>> = Vec::new();
    let mut bind = |v: Val<'static>| {
        args.push(v);
        format!("?{}", args.len())
    };
    let mut wheres: Vec<String> = Vec::new();
    let postgres = conn.dialect() == Dialect::Postgres;
    let text_expr = q.text.as_ref().map(|t| {
        if postgres {
            t.to_tsquery()
        } else {
            t.to_fts5()
        }
    });
    let (from, snippet) = match &text_expr {
        Some(expr) if postgres => {
            let p = bind(Val::Text(expr.clone().into()));
            // Folded like the index (`maestro_fold`, schema v2): accents do not count.
            wheres.push(format!(
                "a.text_tsv @@ to_tsquery('simple', maestro_fold({p}))"
            ));
            // The snippet is cut from the text here, as SQLite's `snippet()` does
            // (`ts_headline` would split `/etc/shadow` otherwise than the index).
            ("activity a", "NULL".to_string())
        }
        Some(expr) => {
            let p = bind(Val::Text(expr.clone().into()));
            wheres.push(format!("activity_fts MATCH {p}"));
            let s = bind(Val::Text(MATCH_START.to_string().into()));
            let e = bind(Val::Text(MATCH_END.to_string().into()));
            (
                "activity_fts f JOIN activity a ON a.seq = f.rowid",
                format!("snippet(activity_fts, 0, {s}, {e}, '…', 16)"),
            )
        }
        None => ("activity a", "NULL".to_string()),
    };
    let seq_col = if text_expr.is_some() && !postgres {
        "f.rowid"
    } else {
        "a.seq"
    };
    if let Some(b) = q.before {
        let p = bind(Val::Int(b));
        wheres.push(format!("{seq_col} < {p}"));
    }
    let text = |v: &Option<String>| v.as_ref().map(|s| Val::Text(s.clone().into()));
    if let Some(v) = text(&q.session_id) {
        let p = bind(v);
        wheres.push(format!("a.session_id = {p}"));
    }
    for (col, v) in [
        ("a.event", &q.event),
        ("a.tool_name", &q.tool),
        ("a.status", &q.status),
    ] {
        if let Some(v) = text(v) {
            let p = bind(v);
            wheres.push(format!("{col} = {p}"));
        }
    }
    if let Sessions::Matching = sessions {
        let mut of_sessions: Vec<String> = Vec::new();
        for (col, v) in [
            ("task_id", &q.task_id),
            ("project_dir", &q.project),
            ("host", &q.host),
        ] {
            if let Some(v) = text(v) {
                let p = bind(v);
                of_sessions.push(format!("{col} = {p}"));
            }
        }
        // `+`: checked per row while reading newest first, never used to pick the rows
        // (which would read all of those sessions' events and sort them).
        wheres.push(format!(
            "{}a.session_id IN (SELECT id FROM sessions WHERE {})",
            if postgres { "" } else { "+" },
            of_sessions.join(" AND ")
        ));
    }
    let lim = bind(Val::Int(limit + 1));
    let where_sql = if wheres.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wheres.join(" AND "))
    };
    let sql = format!(
        "SELECT a.seq, e.event_id, a.event, e.captured_at, a.session_id, s.task_id, \
                s.project_dir, s.host, a.tool_name, a.status, a.text, {snippet} \
         FROM {from} \
         JOIN events e ON e.seq = a.seq \
         LEFT JOIN sessions s ON s.id = a.session_id \
         {where_sql} ORDER BY {seq_col} DESC LIMIT {lim}"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let items = st
        .query_map(&args, |r| {
            Ok(ActivityItem {
                seq: r.get(0)?,
                event_id: r.get(1)?,
                event: r.get(2)?,
                at: r.get(3)?,
                session_id: r.get(4)?,
                task_id: r.get(5)?,
                project_dir: r.get(6)?,
                host: r.get(7)?,
                tool_name: r.get(8)?,
                status: r.get(9)?,
                text: r.get(10)?,
                snippet: r.get(11)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    let mut items = items;
    if let (true, Some(text)) = (postgres, &q.text) {
        let words = text.words();
        for item in &mut items {
            item.snippet = Some(crate::search::query::snippet(&item.text, &words, 16));
        }
    }
    Ok(items)
}

/// See [`crate::store::Store::session_summaries`].
pub(super) fn session_summaries(conn: &dyn Db, ids: &[String]) -> DbResult<Vec<SessionSummary>> {
    let mut out = Vec::new();
    for id in ids.iter().take(MAX_SUMMARIES) {
        let known: bool = conn.row_cached(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        if !known {
            continue;
        }
        let first_prompt: Option<String> = conn
            .row_cached(
                "SELECT text FROM activity WHERE session_id = ?1 AND event = 'UserPromptSubmit' \
                 ORDER BY seq LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let tool_calls: i64 = conn.row_cached(
            "SELECT COUNT(*) FROM tool_calls WHERE session_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let failures: i64 = conn.row_cached(
            "SELECT COUNT(*) FROM activity WHERE session_id = ?1 AND status = 'error'",
            [id],
            |r| r.get(0),
        )?;
        out.push(SessionSummary {
            session_id: id.clone(),
            first_prompt: first_prompt.filter(|p| !p.is_empty()),
            tool_calls,
            failures,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::sql_store::SqlStore;
    use super::super::Store;
    use crate::search::query::parse;
    use crate::search::{ActivityItem, ActivityQuery};
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
        let store = SqlStore::open(&dir.path().join("m.db"), false, tx).expect("open");
        World {
            store: Arc::new(store),
            _dir: dir,
        }
    }

    fn envelope(payload: Value, host: &str) -> Envelope {
        let name = payload["hook_event_name"]
            .as_str()
            .expect("name")
            .to_string();
        let mut e = Envelope::new(name, payload);
        e.source.host = Some(host.into());
        e
    }

    impl World {
        async fn send(&self, payload: Value, host: &str) {
            let e = envelope(payload, host);
            let ev = HookEvent::parse(&e.payload).expect("payload");
            let raw = axum::body::Bytes::from(serde_json::to_vec(&e).expect("json"));
            self.store
                .ingest(e, Some(ev), raw, None, None)
                .await
                .expect("ingest");
        }

        async fn find(&self, q: ActivityQuery) -> Vec<ActivityItem> {
            self.store.activity(q).await.expect("search").items
        }
    }

    fn q(text: &str) -> ActivityQuery {
        ActivityQuery {
            text: parse(text).expect("parses"),
            limit: 50,
            ..Default::default()
        }
    }

    fn bash(sid: &str, command: &str) -> Value {
        json!({"session_id": sid, "hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_input": {"command": command}, "tool_use_id": format!("tu_{command}")})
    }

    async fn sample() -> World {
        let w = world();
        w.send(
            json!({"session_id": "c1", "hook_event_name": "UserPromptSubmit",
                      "prompt": "fix the login bug", "cwd": "/p/one"}),
            "h1",
        )
        .await;
        w.send(bash("c1", "cargo test --workspace"), "h1").await;
        w.send(
            json!({"session_id": "c1", "hook_event_name": "PostToolUseFailure",
                      "tool_name": "Read", "tool_input": {"file_path": "/p/one/src/notes.txt"},
                      "tool_use_id": "tu_r", "error": "File does not exist."}),
            "h1",
        )
        .await;
        w.send(
            json!({"session_id": "c2", "hook_event_name": "SessionStart", "source": "startup",
                      "cwd": "/p/two"}),
            "h2",
        )
        .await;
        w.send(bash("c2", "cargo build --release"), "h2").await;
        w
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn finds_commands_paths_prompts_and_errors() {
        let w = sample().await;
        let hits = w.find(q("cargo")).await;
        assert_eq!(hits.len(), 2);
        assert!(hits[0].seq > hits[1].seq, "newest first");
        assert!(hits[0].text.contains("cargo build"));
        let snip = hits[0].snippet.as_deref().expect("snippet");
        assert!(snip.contains("\u{2}cargo\u{3}"), "{snip:?}");
        assert_eq!(w.find(q("\"cargo test\"")).await.len(), 1);
        assert_eq!(w.find(q("notes.txt")).await[0].status, "error");
        assert_eq!(w.find(q("exist")).await.len(), 1);
        assert_eq!(w.find(q("LOGIN")).await[0].event, "UserPromptSubmit");
        assert_eq!(w.find(q("carg*")).await.len(), 2);
        assert_eq!(w.find(q("cargo -release")).await.len(), 1);
        // FTS5 operators typed by the user are words, never syntax (and never an error).
        assert!(w.find(q("cargo OR nothing")).await.is_empty());
        assert!(w.find(q("text:cargo")).await.is_empty());
        assert!(w.find(q("NEAR(cargo build)")).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn filters_combine_with_the_search() {
        let w = sample().await;
        let all = w.find(q("")).await;
        assert_eq!(all.len(), 5);
        let on_h2 = w
            .find(ActivityQuery {
                host: Some("h2".into()),
                ..q("")
            })
            .await;
        assert_eq!(on_h2.len(), 2);
        let sid = on_h2[0].session_id.clone();
        assert!(on_h2
            .iter()
            .all(|i| i.session_id == sid && i.host.as_deref() == Some("h2")));
        let by_session = w
            .find(ActivityQuery {
                session_id: sid.clone(),
                ..q("cargo")
            })
            .await;
        assert_eq!(by_session.len(), 1);
        assert!(by_session[0].text.contains("release"));
        let tools = w
            .find(ActivityQuery {
                tool: Some("Bash".into()),
                event: Some("PreToolUse".into()),
                ..q("")
            })
            .await;
        assert_eq!(tools.len(), 2);
        let errors = w
            .find(ActivityQuery {
                status: Some("error".into()),
                ..q("")
            })
            .await;
        assert_eq!(errors.len(), 1);
        let project = w
            .find(ActivityQuery {
                project: Some("/p/one".into()),
                ..q("")
            })
            .await;
        assert_eq!(project.len(), 3, "{project:?}");
        let none = w
            .find(ActivityQuery {
                host: Some("nowhere".into()),
                ..q("cargo")
            })
            .await;
        assert!(none.is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn session_summaries_say_what_was_asked_and_what_failed() {
        let w = sample().await;
        let sessions = w
            .store
            .list_sessions(Default::default())
            .await
            .expect("sessions");
        let mut ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
        ids.push("s_unknown".into());
        let sums = w.store.session_summaries(ids).await.expect("summaries");
        assert_eq!(sums.len(), 2);
        let c1 = sums
            .iter()
            .find(|s| s.first_prompt.is_some())
            .expect("the session with a prompt");
        assert_eq!(c1.first_prompt.as_deref(), Some("fix the login bug"));
        assert_eq!((c1.tool_calls, c1.failures), (2, 1));
        let c2 = sums.iter().find(|s| s.first_prompt.is_none()).expect("c2");
        assert_eq!((c2.tool_calls, c2.failures), (1, 0));
    }

    /// Keyset pages cover every event once, newest first, for a search and without one.
    #[tokio::test(flavor = "multi_thread")]
    async fn keyset_pages_cover_everything_once() {
        let w = world();
        for i in 0..23 {
            let sid = if i % 3 == 0 { "c2" } else { "c1" };
            w.send(bash(sid, &format!("echo step{i}")), "h1").await;
        }
        // Also through a host filter: its two sessions' newest events merged.
        for (text, host) in [
            ("", None),
            ("echo", None),
            ("", Some("h1")),
            ("echo", Some("h1")),
        ] {
            let mut seen = Vec::new();
            let mut before = None;
            loop {
                let page = w
                    .store
                    .activity(ActivityQuery {
                        before,
                        limit: 5,
                        host: host.map(str::to_string),
                        ..q(text)
                    })
                    .await
                    .expect("page");
                seen.extend(page.items.iter().map(|i| i.seq));
                match page.next_before {
                    Some(b) => before = Some(b),
                    None => break,
                }
            }
            assert_eq!(seen.len(), 23, "{text:?}");
            assert!(seen.windows(2).all(|p| p[0] > p[1]), "{text:?}: {seen:?}");
        }
    }

    /// A database from before the index gets it by migration, with its events indexed.
    #[test]
    fn the_migration_indexes_stored_events() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        super::super::schema::migrate_before_fts(&mut conn).expect("old schema");
        let env = envelope(bash("c1", "terraform apply"), "h1");
        let raw = serde_json::to_string(&env).expect("json");
        conn.execute(
            "INSERT INTO events (seq, event_id, event, captured_at, received_at, size, envelope) \
             VALUES (7, 'e7', 'PreToolUse', 't', 't', 1, ?1), \
                    (9, 'e9', 'Stop', 't', 't', 1, NULL)",
            [raw],
        )
        .expect("old rows");
        super::super::schema::migrate(&mut conn).expect("migrate");
        let page = super::search(&conn, &q("terraform")).expect("search");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].seq, 7);
        assert_eq!(page.items[0].tool_name.as_deref(), Some("Bash"));
        assert_eq!(super::search(&conn, &q("")).expect("all").items.len(), 2);
    }
}
