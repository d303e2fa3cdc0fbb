//! Timeline, metrics and errors of a scope (one session, or a task's sessions): the same three
//! views for both, after checking that the scope exists.

use super::query;
use crate::error::HttpResult;
use crate::store::Scope;
use crate::store::SharedStore;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::Json;
use maestro_shared::api::{Metrics, TimelineItem};
use serde::Deserialize;

/// `?after_id=&limit=`.
#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    /// Only lines with a greater id.
    pub after_id: Option<i64>,
    /// Most lines (default 1000).
    pub limit: Option<i64>,
}

/// 404 unless the session or task exists.
async fn exists(store: &SharedStore, scope: &Scope) -> HttpResult<()> {
    match scope {
        Scope::Session(id) => store.get_session(id).await.map(|_| ())?,
        Scope::Task(id) => store.get_task(id).await.map(|_| ())?,
    }
    Ok(())
}

/// The timeline of a scope, in capture order.
pub async fn timeline(
    store: SharedStore,
    scope: Scope,
    q: Result<Query<TimelineQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<TimelineItem>>> {
    let q = query(q)?;
    exists(&store, &scope).await?;
    Ok(Json(
        store
            .timeline(scope, q.after_id, q.limit.unwrap_or(1000))
            .await?,
    ))
}

/// Per-tool metrics of a scope.
pub async fn metrics(store: SharedStore, scope: Scope) -> HttpResult<Json<Metrics>> {
    exists(&store, &scope).await?;
    Ok(Json(store.metrics(scope).await?))
}

/// Failures of a scope, with full detail.
pub async fn errors(store: SharedStore, scope: Scope) -> HttpResult<Json<Vec<TimelineItem>>> {
    exists(&store, &scope).await?;
    Ok(Json(store.errors(scope).await?))
}
