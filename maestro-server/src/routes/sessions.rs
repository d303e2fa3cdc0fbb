//! Sessions: list with filters, get, attach to a task, timeline, metrics, errors.

use super::scoped::{self, TimelineQuery};
use super::{body, query};
use crate::error::{HttpError, HttpResult};
use crate::store::SharedStore;
use crate::store::{Scope, SessionFilter};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use maestro_shared::api::{Metrics, Session, SessionState, TimelineItem};
use serde::Deserialize;
use serde_json::Value;

/// `GET /api/sessions` filters.
#[derive(Debug, Deserialize)]
pub struct SessionQuery {
    /// Task.
    pub task_id: Option<String>,
    /// State.
    pub state: Option<SessionState>,
    /// Only unassigned sessions.
    #[serde(default)]
    pub unassigned: bool,
    /// Claude Code session id.
    pub claude_session_id: Option<String>,
    /// Most rows.
    pub limit: Option<i64>,
}

/// `GET /api/sessions`.
pub async fn list(
    State(store): State<SharedStore>,
    q: Result<Query<SessionQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<Session>>> {
    let q = query(q)?;
    Ok(Json(
        store
            .list_sessions(SessionFilter {
                task_id: q.task_id,
                state: q.state,
                unassigned: q.unassigned,
                claude_session_id: q.claude_session_id,
                limit: q.limit,
            })
            .await?,
    ))
}

/// `GET /api/sessions/{id}`.
pub async fn get(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Session>> {
    Ok(Json(store.get_session(&id).await?))
}

/// `PATCH /api/sessions/{id}` body: `{"task_id": "t_..."}` or `{"task_id": null}`.
pub async fn update(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
    b: Result<Json<Value>, JsonRejection>,
) -> HttpResult<Json<Session>> {
    let v = body(b)?;
    let obj = v
        .as_object()
        .ok_or_else(|| HttpError::unprocessable("invalid_request", "body must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "task_id") {
        return Err(HttpError::unprocessable(
            "invalid_request",
            format!("unknown field `{k}` (only `task_id` can be changed)"),
        ));
    }
    let task_id = match obj.get("task_id") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Null) => None,
        Some(_) => {
            return Err(HttpError::unprocessable(
                "invalid_request",
                "`task_id` must be a string or null",
            ))
        }
        None => {
            return Err(HttpError::unprocessable(
                "invalid_request",
                "missing `task_id`",
            ))
        }
    };
    Ok(Json(store.attach_session(&id, task_id).await?))
}

/// `GET /api/sessions/{id}/timeline`.
pub async fn timeline(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
    q: Result<Query<TimelineQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<TimelineItem>>> {
    scoped::timeline(store, Scope::Session(id), q).await
}

/// `GET /api/sessions/{id}/metrics`.
pub async fn metrics(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Metrics>> {
    scoped::metrics(store, Scope::Session(id)).await
}

/// `GET /api/sessions/{id}/errors`.
pub async fn errors(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<TimelineItem>>> {
    scoped::errors(store, Scope::Session(id)).await
}
