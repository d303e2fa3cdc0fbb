//! Tasks: CRUD, timeline and metrics aggregated over the task's sessions.

use super::scoped::{self, TimelineQuery};
use super::{body, query};
use crate::auth::Operator;
use crate::error::HttpResult;
use crate::store::Scope;
use crate::store::SharedStore;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
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
    Extension(operator): Extension<Operator>,
    b: Result<Json<TaskInput>, JsonRejection>,
) -> HttpResult<(StatusCode, Json<Task>)> {
    let input = body(b)?;
    if let Some(p) = &input.policy {
        crate::decide::validate_policy(p)?;
    }
    let with_policy = input.policy.is_some();
    let budget = input.budget_usd.flatten();
    let task = store.create_task(input).await?;
    if budget.is_some() {
        audit_budget(&store, &operator, &task.id, None, budget, None).await;
    }
    audit(&store, operator, "task.create", &task, with_policy).await;
    Ok((StatusCode::CREATED, Json(task)))
}

/// Records a task change in the audit (a failure to record is logged, the change stands).
async fn audit(
    store: &SharedStore,
    operator: Operator,
    action: &'static str,
    task: &Task,
    policy_changed: bool,
) {
    let detail = serde_json::json!({"title": task.title, "status": task.status,
        "policy": policy_changed.then_some(task.policy.as_deref())});
    let mut actions = vec![action];
    if policy_changed {
        actions.push("task.policy");
    }
    for action in actions {
        if let Err(e) = store
            .record_audit(operator.0.clone(), action, task.id.clone(), detail.clone())
            .await
        {
            tracing::error!(error = %e.chain(), action, "cannot record an audit entry");
        }
    }
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
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    b: Result<Json<TaskInput>, JsonRejection>,
) -> HttpResult<Json<Task>> {
    let input = body(b)?;
    if let Some(p) = &input.policy {
        crate::decide::validate_policy(p)?;
    }
    let with_policy = input.policy.is_some();
    let budget = input.budget_usd;
    let before = match budget {
        Some(_) => store.get_task(&id).await?.budget_usd,
        None => None,
    };
    let task = store.update_task(&id, input).await?;
    if let Some(to) = budget {
        audit_budget(&store, &operator, &task.id, before, to, None).await;
    }
    audit(&store, operator, "task.update", &task, with_policy).await;
    Ok(Json(task))
}

/// Records a change of a task's spend limit (`None`: none of its own) in the audit, with the
/// approval it was raised from, if any. A failure to record is logged; the change stands.
pub(super) async fn audit_budget(
    store: &SharedStore,
    operator: &Operator,
    task_id: &str,
    from: Option<f64>,
    to: Option<f64>,
    approval: Option<&str>,
) {
    let detail = serde_json::json!({"from": from, "to": to, "approval": approval});
    if let Err(e) = store
        .record_audit(
            operator.0.clone(),
            "task.budget",
            task_id.to_string(),
            detail,
        )
        .await
    {
        tracing::error!(error = %e.chain(), "cannot record an audit entry");
    }
}

/// `DELETE /api/tasks/{id}`.
pub async fn delete(
    State(store): State<SharedStore>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    store.delete_task(&id).await?;
    if let Err(e) = store
        .record_audit(operator.0, "task.delete", id, serde_json::Value::Null)
        .await
    {
        tracing::error!(error = %e.chain(), "cannot record an audit entry");
    }
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
