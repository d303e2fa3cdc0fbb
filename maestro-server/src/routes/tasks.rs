//! Tasks: CRUD, timeline and metrics aggregated over the task's sessions.

use super::scoped::{self, TimelineQuery};
use super::{body, query};
use crate::app::AppState;
use crate::error::HttpResult;
use crate::store::Scope;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use maestro_shared::api::{Metrics, Task, TaskInput, TaskStatus, TimelineItem};
use serde::Deserialize;

/// `?status=`.
#[derive(Debug, Deserialize)]
pub struct TaskQuery {
    /// Filter by status.
    pub status: Option<TaskStatus>,
}

/// `GET /api/tasks`.
pub async fn list(
    State(st): State<AppState>,
    q: Result<Query<TaskQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<Task>>> {
    let q = query(q)?;
    Ok(Json(st.store.list_tasks(q.status).await?))
}

/// `POST /api/tasks`.
pub async fn create(
    State(st): State<AppState>,
    b: Result<Json<TaskInput>, JsonRejection>,
) -> HttpResult<(StatusCode, Json<Task>)> {
    let input = body(b)?;
    if let Some(p) = &input.policy {
        crate::decide::validate_policy(p)?;
    }
    Ok((
        StatusCode::CREATED,
        Json(st.store.create_task(input).await?),
    ))
}

/// `GET /api/tasks/{id}`.
pub async fn get(State(st): State<AppState>, Path(id): Path<String>) -> HttpResult<Json<Task>> {
    Ok(Json(st.store.get_task(&id).await?))
}

/// `PATCH /api/tasks/{id}`.
pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    b: Result<Json<TaskInput>, JsonRejection>,
) -> HttpResult<Json<Task>> {
    let input = body(b)?;
    if let Some(p) = &input.policy {
        crate::decide::validate_policy(p)?;
    }
    Ok(Json(st.store.update_task(&id, input).await?))
}

/// `DELETE /api/tasks/{id}`.
pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> HttpResult<StatusCode> {
    st.store.delete_task(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/tasks/{id}/timeline`.
pub async fn timeline(
    State(st): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<TimelineQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<TimelineItem>>> {
    scoped::timeline(st, Scope::Task(id), q).await
}

/// `GET /api/tasks/{id}/metrics`.
pub async fn metrics(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Json<Metrics>> {
    scoped::metrics(st, Scope::Task(id)).await
}

/// `GET /api/tasks/{id}/errors`.
pub async fn errors(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<TimelineItem>>> {
    scoped::errors(st, Scope::Task(id)).await
}
