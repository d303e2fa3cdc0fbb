//! Embedded schema migrations, applied in order on open (tracked by `PRAGMA user_version`).

use rusqlite::Connection;

/// Migrations, index + 1 = the `user_version` after applying it.
const MIGRATIONS: &[&str] = &[r#"
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
"#];

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
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
