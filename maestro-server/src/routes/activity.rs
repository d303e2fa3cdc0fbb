//! The activity stream: `GET /api/activity`, every stored event newest first, filtered and
//! searched, keyset-paginated.

use super::query;
use crate::error::{HttpError, HttpResult};
use crate::search::extract::Status;
use crate::search::{self, ActivityPage, ActivityQuery, SessionSummary, DEFAULT_PAGE};
use crate::store::SharedStore;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

/// `?q=&task_id=&session_id=&project=&host=&event=&tool=&status=&before=&limit=`. Empty
/// values mean "any".
#[derive(Debug, Deserialize, Default)]
pub struct ActivityParams {
    /// Search text (see [`crate::search::query`]).
    pub q: Option<String>,
    /// Task.
    pub task_id: Option<String>,
    /// Maestro session.
    pub session_id: Option<String>,
    /// Project directory of the session.
    pub project: Option<String>,
    /// Host of the session.
    pub host: Option<String>,
    /// Hook event name.
    pub event: Option<String>,
    /// Tool name.
    pub tool: Option<String>,
    /// Status: ok, error, denied, held, ask, info.
    pub status: Option<String>,
    /// Keyset cursor (`next_before` of the previous page).
    pub before: Option<i64>,
    /// Items per page (1..=200, default 50).
    pub limit: Option<i64>,
}

/// Turns the query string into a store query, or a 400 saying what is wrong with it.
pub fn parse(p: ActivityParams) -> Result<ActivityQuery, HttpError> {
    let text = search::query::parse(p.q.as_deref().unwrap_or(""))
        .map_err(|e| HttpError::bad_request("invalid_search", e.to_string()))?;
    let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let status = some(p.status);
    if let Some(s) = &status {
        if Status::parse(s).is_none() {
            let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            return Err(HttpError::bad_request(
                "invalid_query",
                format!("unknown status `{s}` (one of {})", all.join(", ")),
            ));
        }
    }
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=search::MAX_PAGE).contains(&limit) {
        return Err(HttpError::bad_request(
            "invalid_query",
            format!("`limit` must be 1 to {}", search::MAX_PAGE),
        ));
    }
    Ok(ActivityQuery {
        text,
        task_id: some(p.task_id),
        session_id: some(p.session_id),
        project: some(p.project),
        host: some(p.host),
        event: some(p.event),
        tool: some(p.tool),
        status,
        before: p.before,
        limit,
    })
}

/// `GET /api/activity`.
pub async fn list(
    State(store): State<SharedStore>,
    q: Result<Query<ActivityParams>, QueryRejection>,
) -> HttpResult<Json<ActivityPage>> {
    let q = parse(query(q)?)?;
    Ok(Json(store.activity(q).await?))
}

/// `?ids=s_1,s_2`.
#[derive(Debug, Deserialize)]
pub struct SummaryParams {
    /// Comma-separated Maestro session ids.
    #[serde(default)]
    pub ids: String,
}

/// `GET /api/activity/sessions?ids=`: first prompt, tool calls and failures of each session.
pub async fn session_summaries(
    State(store): State<SharedStore>,
    q: Result<Query<SummaryParams>, QueryRejection>,
) -> HttpResult<Json<Vec<SessionSummary>>> {
    let q = query(q)?;
    let ids: Vec<String> = q
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.len() > search::MAX_SUMMARIES {
        return Err(HttpError::bad_request(
            "invalid_query",
            format!("at most {} ids", search::MAX_SUMMARIES),
        ));
    }
    Ok(Json(store.session_summaries(ids).await?))
}
