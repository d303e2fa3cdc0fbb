//! Embedded schema migrations, applied in order on open (tracked by `PRAGMA user_version`).

use rusqlite::Connection;

/// Migrations, index + 1 = the `user_version` after applying it.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    working_dir TEXT,
    policy TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    claude_session_id TEXT,
    task_id TEXT,
    state TEXT NOT NULL,
    state_at TEXT,
    health TEXT NOT NULL,
    project_dir TEXT,
    cwd TEXT,
    host TEXT,
    claude_pid INTEGER,
    spawned INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    last_event_at TEXT,
    event_count INTEGER NOT NULL DEFAULT 0,
    blocked_on TEXT,
    end_reason TEXT,
    exit_code INTEGER,
    result TEXT,
    turn_failed INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    spawn TEXT
);
CREATE INDEX sessions_task ON sessions(task_id);
CREATE INDEX sessions_claude ON sessions(claude_session_id);
CREATE TABLE claude_sessions (
    claude_session_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL
);
CREATE TABLE feed (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    task_id TEXT,
    session_id TEXT,
    data TEXT NOT NULL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    session_id TEXT,
    claude_session_id TEXT,
    malformed INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    envelope TEXT
);
CREATE INDEX events_session ON events(session_id, captured_at);
CREATE INDEX events_received ON events(received_at);
CREATE TABLE tool_calls (
    session_id TEXT NOT NULL,
    tool_use_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    agent_id TEXT,
    status TEXT NOT NULL,
    pre_at TEXT,
    post_at TEXT,
    duration_ms REAL,
    error TEXT,
    PRIMARY KEY (session_id, tool_use_id)
);
CREATE TABLE timeline (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    summary TEXT NOT NULL,
    tool_name TEXT,
    tool_use_id TEXT,
    status TEXT NOT NULL,
    prompt_id TEXT,
    agent_id TEXT,
    event_id TEXT,
    detail TEXT
);
CREATE UNIQUE INDEX timeline_tool ON timeline(session_id, tool_use_id) WHERE tool_use_id IS NOT NULL;
CREATE INDEX timeline_session ON timeline(session_id, at);
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    event TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    tool_input TEXT NOT NULL,
    summary TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    decision_reason TEXT,
    event_id TEXT
);
CREATE INDEX approvals_status ON approvals(status, created_at);
"#,
    // A tool call points at its timeline line: one index fewer to update per event.
    r#"
ALTER TABLE tool_calls ADD COLUMN line_id INTEGER;
UPDATE tool_calls SET line_id = (SELECT t.id FROM timeline t
    WHERE t.session_id = tool_calls.session_id AND t.tool_use_id = tool_calls.tool_use_id);
DROP INDEX timeline_tool;
"#,
    // A session's events by seq: `(session_id)` entries are ordered by (session_id, seq), so
    // `session_id = ? AND seq > ? ORDER BY seq` reads only that session's entries. The old
    // `(session_id, captured_at)` index was larger and no query could use it.
    r#"
DROP INDEX events_session;
CREATE INDEX events_session ON events(session_id);
"#,
    // Retention by age finds its cutoff by a binary search over seq (events are stored in
    // the order they are received): one index fewer to update per event.
    r#"
DROP INDEX events_received;
"#,
    // Approvals remember the call they hold (PreToolUse's `tool_use_id`, or the PreToolUse
    // of a PermissionRequest's call) and who raised them: only events of the same Claude
    // session, host and CLI process (pid and its start time) may resolve or cancel them.
    // Sessions keep their CLI process's start time, so a reused pid is not taken for it.
    r#"
ALTER TABLE approvals ADD COLUMN tool_use_id TEXT;
ALTER TABLE approvals ADD COLUMN claude_session_id TEXT;
ALTER TABLE approvals ADD COLUMN host TEXT;
ALTER TABLE approvals ADD COLUMN claude_pid INTEGER;
ALTER TABLE approvals ADD COLUMN claude_pid_start INTEGER;
CREATE INDEX approvals_session ON approvals(session_id, status);
ALTER TABLE sessions ADD COLUMN claude_pid_start INTEGER;
"#,
    // Outgoing notifications: a queue of deliveries (one per destination, subject and kind)
    // filled from the feed past a cursor, with every attempt recorded (the delivery log).
    r#"
CREATE TABLE notify_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    feed_seq INTEGER NOT NULL
);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    next_at TEXT,
    delivered_at TEXT,
    last_error TEXT,
    UNIQUE (destination, dedupe_key)
);
CREATE INDEX notifications_due ON notifications(status, next_at);
"#,
    // Machine credentials (`maestro-server machines add`): only the SHA-256 of each token is
    // kept. Events and sessions carry the machine whose credential posted them (verified by
    // the server, never taken from the payload); NULL for the local ingest token.
    r#"
CREATE TABLE machines (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_seen_at TEXT,
    events INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE events ADD COLUMN machine TEXT;
ALTER TABLE sessions ADD COLUMN machine TEXT;
"#,
    // Named operators (login tokens kept as SHA-256 hashes) and the audit of what people did.
    r#"
CREATE TABLE operators (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    // The activity stream's index and full-text search (`store::fts`); the events already
    // stored are indexed in the same transaction.
    super::fts::MIGRATION,
    // Cost and tokens from Claude Code's own OpenTelemetry export (`claude_code.api_request`
    // log records, see `crate::otlp`): one row per model request, keyed by a hash that is the
    // same for every retry of an export. Joined to a Maestro session at read time (through
    // `claude_sessions`, else the `maestro.session_id` resource attribute of a spawned
    // session), so records that arrive before the session's first hook event join it later.
    r#"
CREATE TABLE otel_api_requests (
    record_key TEXT PRIMARY KEY,
    claude_session_id TEXT NOT NULL,
    maestro_session_id TEXT,
    prompt_id TEXT,
    tool_use_id TEXT,
    model TEXT NOT NULL,
    at TEXT NOT NULL,
    cost_usd REAL NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_creation_tokens INTEGER NOT NULL,
    duration_ms INTEGER,
    machine TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX otel_api_requests_claude ON otel_api_requests(claude_session_id);
CREATE INDEX otel_api_requests_maestro ON otel_api_requests(maestro_session_id);
"#,
    // Notification destinations added from the UI or the API (those of the config file are
    // not stored): the destination as JSON, who changed it last.
    r#"
CREATE TABLE notify_destinations (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE notify_since (
    name TEXT PRIMARY KEY,
    feed_seq INTEGER NOT NULL
);
"#,
    // A spend limit per task (`store::budget`); NULL: the server's default applies.
    r#"
ALTER TABLE tasks ADD COLUMN budget_usd REAL;
CREATE INDEX IF NOT EXISTS claude_sessions_session ON claude_sessions(session_id);
"#,
    // What Claude Code's `claude_code.tool_result` and `claude_code.tool_decision` events say
    // about a tool call (`store::tool_telemetry`): one row per event, keyed like
    // `otel_api_requests`; joined to the session like it and to the hook's tool call by
    // `tool_use_id`, at read time.
    r#"
CREATE TABLE otel_tool_events (
    record_key TEXT PRIMARY KEY,
    claude_session_id TEXT NOT NULL,
    maestro_session_id TEXT,
    prompt_id TEXT,
    tool_use_id TEXT NOT NULL,
    event TEXT NOT NULL,
    tool_name TEXT,
    at TEXT NOT NULL,
    success INTEGER,
    duration_ms INTEGER,
    error_type TEXT,
    decision TEXT,
    decision_source TEXT,
    input_size_bytes INTEGER,
    result_size_bytes INTEGER,
    machine TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX otel_tool_events_claude ON otel_tool_events(claude_session_id);
CREATE INDEX otel_tool_events_maestro ON otel_tool_events(maestro_session_id);
"#,
    // The running totals of every Claude session's `api_request` records (`store::cost`),
    // kept in the transaction that inserts the records, so that the `cost:updated` message of
    // an export reads one row instead of summing the session's every record. Filled from the
    // records already stored. And the records' keys start with their time
    // (`otlp::decode::ordered_key`), so that new keys go at the end of the key index instead
    // of at random places: stored keys (the bare hash, which covers the time) get the prefix.
    r#"
UPDATE otel_api_requests SET record_key = at || '/' || record_key
WHERE instr(record_key, '/') = 0;
UPDATE otel_tool_events SET record_key = at || '/' || record_key
WHERE instr(record_key, '/') = 0;
CREATE TABLE otel_session_totals (
    claude_session_id TEXT PRIMARY KEY,
    maestro_session_id TEXT,
    requests INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_creation_tokens INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO otel_session_totals
SELECT claude_session_id, MIN(maestro_session_id), COUNT(*), SUM(cost_usd), SUM(input_tokens),
       SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_creation_tokens)
FROM otel_api_requests GROUP BY claude_session_id;
"#,
];

/// Applies pending migrations.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if *sql == super::fts::MIGRATION {
            let n = super::fts::backfill(&tx)?;
            if n > 0 {
                tracing::info!(events = n, "indexed the stored events for search");
            }
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    if current == 0 {
        // A new database: what later migrations dropped left free pages behind; without them
        // the file holds only what is in use (and a capped database is full when it says so).
        conn.execute_batch("VACUUM")?;
    }
    Ok(())
}

/// Applies the migrations before the activity index's: a database as an older server left it.
#[cfg(test)]
pub(super) fn migrate_before_fts(conn: &mut Connection) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        if *sql == super::fts::MIGRATION {
            break;
        }
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made by the first schema keeps its tool calls' timeline lines.
    #[test]
    fn migrating_from_v1_links_tool_calls_to_their_lines() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("v1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO timeline (id, session_id, at, kind, event, summary, status, tool_use_id) \
               VALUES (7, 's1', 't', 'tool_use', 'PostToolUse', 'Ran ls', 'ok', 'toolu_1'), \
                      (8, 's1', 't', 'prompt', 'UserPromptSubmit', 'hi', 'info', NULL); \
             INSERT INTO tool_calls (session_id, tool_use_id, tool_name, status) \
               VALUES ('s1', 'toolu_1', 'Bash', 'ok'), ('s1', 'toolu_2', 'Bash', 'pending');",
        )
        .expect("v1 rows");
        migrate(&mut conn).expect("migrate");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let links: Vec<(String, Option<i64>)> = conn
            .prepare("SELECT tool_use_id, line_id FROM tool_calls ORDER BY tool_use_id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            links,
            vec![
                ("toolu_1".to_string(), Some(7)),
                ("toolu_2".to_string(), None)
            ]
        );
        // Migrating again changes nothing.
        migrate(&mut conn).expect("idempotent");
    }
}
