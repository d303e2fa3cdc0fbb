//! The notification delivery log and the audit log of what people did. Operator token only.

use super::query;
use crate::error::HttpResult;
use crate::notify::LogEntry;
use crate::store::SharedStore;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

/// `?limit=`.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// Most rows (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// `GET /api/notifications`: every delivery, newest first, with its status, attempts and last
/// error.
pub async fn list(
    State(store): State<SharedStore>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<LogEntry>>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(store.list_notifications(limit).await?))
}

/// `GET /api/audit`: who did what (decisions, spawns, stops, task and policy changes), newest
/// first.
pub async fn audit(
    State(store): State<SharedStore>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<crate::store::people::AuditEntry>>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(store.list_audit(limit).await?))
}
