//! Tasks: CRUD, timeline and metrics aggregated over the task's sessions.

use super::scoped::{self, TimelineQuery};
use super::{body, query};
use crate::error::HttpResult;
use crate::store::Scope;
use crate::store::SharedStore;
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
    State(store): State<SharedStore>,
    q: Result<Query<TaskQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<Task>>> {
    let q = query(q)?;
    Ok(Json(store.list_tasks(q.status).await?))
}

/// `POST /api/tasks`.
pub async fn create(
    State(store): State<SharedStore>,
    b: Result<Json<TaskInput>, JsonRejection>,
) -> HttpResult<(StatusCode, Json<Task>)> {
    let input = body(b)?;
    if let Some(p) = &input.policy {
        crate::decide::validate_policy(p)?;
    }
    Ok((StatusCode::CREATED, Json(store.create_task(input).await?)))
}

/// `GET /api/tasks/{id}`.
pub async fn get(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Task>> {
    Ok(Json(store.get_task(&id).await?))
}

/// `PATCH /api/tasks/{id}`.
pub async fn update(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
    b: Result<Json<TaskInput>, JsonRejection>,
) -> HttpResult<Json<Task>> {
    let input = body(b)?;
    if let Some(p) = &input.policy {
        crate::decide::validate_policy(p)?;
    }
    Ok(Json(store.update_task(&id, input).await?))
}

/// `DELETE /api/tasks/{id}`.
pub async fn delete(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    store.delete_task(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/tasks/{id}/timeline`.
pub async fn timeline(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
    q: Result<Query<TimelineQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<TimelineItem>>> {
    scoped::timeline(store, Scope::Task(id), q).await
}

/// `GET /api/tasks/{id}/metrics`.
pub async fn metrics(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Metrics>> {
    scoped::metrics(store, Scope::Task(id)).await
}

/// `GET /api/tasks/{id}/errors`.
pub async fn errors(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<TimelineItem>>> {
    scoped::errors(store, Scope::Task(id)).await
}
