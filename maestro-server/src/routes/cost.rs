//! Cost and tokens from Claude Code's OpenTelemetry export (operator token):
//! `GET /api/cost` (everything), `GET /api/sessions/{id}/cost`, `GET /api/tasks/{id}/cost`,
//! `GET /api/cost/tasks` (every task's totals) and the per-tool-call telemetry
//! (`GET /api/sessions/{id}/tool-telemetry`, `GET /api/tasks/{id}/tool-telemetry`).

use crate::error::HttpResult;
use crate::store::cost::CostScope;
use crate::store::tool_telemetry::ToolScope;
use crate::store::SharedStore;
use axum::extract::{Path, State};
use axum::Json;
use maestro_shared::cost::{CostReport, TaskCost, ToolTelemetry};

/// `GET /api/cost`: the total, per model and per session (records whose session has sent no
/// hook event yet are listed with `session_id: null`).
pub async fn total(State(store): State<SharedStore>) -> HttpResult<Json<CostReport>> {
    Ok(Json(store.cost_report(CostScope::All).await?))
}

/// `GET /api/sessions/{id}/cost`: 404 for an unknown session.
pub async fn session(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<CostReport>> {
    store.get_session(&id).await?;
    Ok(Json(store.cost_report(CostScope::Session(id)).await?))
}

/// `GET /api/tasks/{id}/cost`: 404 for an unknown task.
pub async fn task(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<CostReport>> {
    store.get_task(&id).await?;
    Ok(Json(store.cost_report(CostScope::Task(id)).await?))
}

/// `GET /api/cost/tasks`: the totals of every task with joined records, in one answer (the
/// board's per-card figures; a task without records is absent: $0).
pub async fn tasks(State(store): State<SharedStore>) -> HttpResult<Json<Vec<TaskCost>>> {
    Ok(Json(store.task_costs().await?))
}

/// `GET /api/sessions/{id}/tool-telemetry`: what Claude Code's `tool_result` and
/// `tool_decision` events say about each tool call of the session. 404 for an unknown session.
pub async fn session_tools(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<ToolTelemetry>>> {
    store.get_session(&id).await?;
    Ok(Json(store.tool_telemetry(ToolScope::Session(id)).await?))
}

/// `GET /api/tasks/{id}/tool-telemetry`: the same over every session of a task. 404 for an
/// unknown task.
pub async fn task_tools(
    State(store): State<SharedStore>,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<ToolTelemetry>>> {
    store.get_task(&id).await?;
    Ok(Json(store.tool_telemetry(ToolScope::Task(id)).await?))
}
