//! Cost and tokens from Claude Code's OpenTelemetry export (operator token):
//! `GET /api/cost` (everything), `GET /api/sessions/{id}/cost`, `GET /api/tasks/{id}/cost`.

use crate::error::HttpResult;
use crate::store::cost::CostScope;
use crate::store::SharedStore;
use axum::extract::{Path, State};
use axum::Json;
use maestro_shared::cost::CostReport;

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
