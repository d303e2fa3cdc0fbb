//! Raw stored events.

use super::query;
use crate::error::HttpResult;
use crate::store::SharedStore;
use crate::store::StoredEvent;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

/// `?since=&limit=&session_id=`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Only events with a greater seq.
    #[serde(default)]
    pub since: i64,
    /// Most events (default 1000).
    pub limit: Option<i64>,
    /// Only this session.
    pub session_id: Option<String>,
}

/// `GET /api/events`.
pub async fn list(
    State(store): State<SharedStore>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<StoredEvent>>> {
    let q = query(q)?;
    Ok(Json(
        store
            .events_since(q.since, q.limit.unwrap_or(1000), q.session_id)
            .await?,
    ))
}

/// `GET /api/events/{event_id}`.
pub async fn get(
    State(store): State<SharedStore>,
    Path(event_id): Path<String>,
) -> HttpResult<Json<StoredEvent>> {
    Ok(Json(store.event(&event_id).await?))
}
