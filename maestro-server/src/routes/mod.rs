//! REST handlers under `/api` (operator token).

pub mod activity;
pub mod approvals;
pub mod cost;
pub mod destinations;
pub mod events;
pub mod notifications;
pub mod scoped;
pub mod sessions;
pub mod tasks;

use crate::error::{json_rejection, HttpError};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Json, Query};

/// Unwraps a JSON body or answers a clear error.
pub fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, HttpError> {
    b.map(|Json(v)| v).map_err(json_rejection)
}

/// Unwraps a query string or answers a clear 400.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, HttpError> {
    q.map(|Query(v)| v)
        .map_err(|e| HttpError::bad_request("invalid_query", e.body_text()))
}
