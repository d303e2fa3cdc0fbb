//! The activity stream and its full-text search, independent of the store that serves it.
//!
//! - [`query`] parses what the user typed into a [`query::SearchText`] (words, quoted phrases,
//!   `word*` prefixes, `-word` exclusions). Nothing the user types reaches SQL: the parsed
//!   terms are rendered into an FTS5 expression in which every term is a quoted string, and
//!   that expression is bound as a parameter.
//! - [`extract`] decides, for each stored event, what is searchable (commands, file paths,
//!   prompts, error text), its tool and its status.
//! - [`ActivityQuery`] / [`ActivityPage`] are what a store answers
//!   ([`crate::store::Store::activity`]); the SQLite store keeps an FTS5 index updated in the
//!   same transaction as the event insert. Pages are keyset-paginated by the event's seq.

pub mod extract;
pub mod query;

use serde::Serialize;

/// Most items per page.
pub const MAX_PAGE: i64 = 200;
/// Items per page when the client does not say.
pub const DEFAULT_PAGE: i64 = 50;

/// Markers around a matching term in [`ActivityItem::snippet`] (control characters that never
/// appear in the indexed text's words; the UI turns them into highlight elements).
pub const MATCH_START: char = '\u{2}';
/// See [`MATCH_START`].
pub const MATCH_END: char = '\u{3}';

/// One page of the activity stream: newest first, events with a seq below `before`.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    /// Full-text search, already parsed (None: every event).
    pub text: Option<query::SearchText>,
    /// Only events of sessions attached to this task (now).
    pub task_id: Option<String>,
    /// Only this Maestro session.
    pub session_id: Option<String>,
    /// Only sessions of this project directory.
    pub project: Option<String>,
    /// Only sessions on this host.
    pub host: Option<String>,
    /// Only this hook event name (`PostToolUse`, ...).
    pub event: Option<String>,
    /// Only this tool (`Bash`, `Edit`, ...).
    pub tool: Option<String>,
    /// Only this status (see [`extract::Status`]).
    pub status: Option<String>,
    /// Keyset cursor: only events with a smaller seq.
    pub before: Option<i64>,
    /// Most items (clamped to 1..=[`MAX_PAGE`]).
    pub limit: i64,
}

/// One event of the activity stream.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActivityItem {
    /// The event's seq (the keyset cursor).
    pub seq: i64,
    /// The event's id (`/api/events/{event_id}` has the full envelope).
    pub event_id: String,
    /// Hook event name.
    pub event: String,
    /// Capture time.
    pub at: String,
    /// Maestro session.
    pub session_id: Option<String>,
    /// The session's task (now).
    pub task_id: Option<String>,
    /// The session's project directory.
    pub project_dir: Option<String>,
    /// The session's host.
    pub host: Option<String>,
    /// Tool, for tool events.
    pub tool_name: Option<String>,
    /// Status (see [`extract::Status`]).
    pub status: String,
    /// The searchable text of the event (capped).
    pub text: String,
    /// For a text search: the matching part, terms between [`MATCH_START`] and [`MATCH_END`].
    pub snippet: Option<String>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ActivityPage {
    /// Newest first.
    pub items: Vec<ActivityItem>,
    /// Pass as `before` for the next (older) page; None when this was the last.
    pub next_before: Option<i64>,
}

/// Most sessions per [`crate::store::Store::session_summaries`] call.
pub const MAX_SUMMARIES: usize = 200;

/// What a sessions list shows of a session beyond its row: what it was asked, how much it
/// did, how often it failed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionSummary {
    /// Maestro session.
    pub session_id: String,
    /// The text of its first `UserPromptSubmit` (capped), if any.
    pub first_prompt: Option<String>,
    /// Tool calls seen (`PreToolUse` or `PostToolUse*`, paired by `tool_use_id`).
    pub tool_calls: i64,
    /// Events with status `error`: tool failures, API errors that ended a turn, malformed
    /// events.
    pub failures: i64,
}
