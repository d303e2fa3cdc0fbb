//! Approvals: list (audit) and decide. Operator token only.

use super::{body, query};
use crate::approvals::Approvals;
use crate::auth::Operator;
use crate::error::{HttpError, HttpResult};
use crate::store::ApprovalFilter;
use crate::store::SharedStore;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Extension;
use axum::Json;
use maestro_shared::api::{Approval, ApprovalDecision, ApprovalStatus};
use serde::Deserialize;
use std::sync::Arc;

/// What the approval routes need (an axum substate of the app state).
#[derive(Clone)]
pub struct Desk {
    /// Approvals and their audit.
    pub store: SharedStore,
    /// Held requests' waiters, told of a decision.
    pub approvals: Arc<Approvals>,
}

/// `?status=&session_id=&task_id=`.
#[derive(Debug, Deserialize)]
pub struct ApprovalQuery {
    /// Status.
    pub status: Option<ApprovalStatus>,
    /// Session.
    pub session_id: Option<String>,
    /// Task.
    pub task_id: Option<String>,
}

/// `GET /api/approvals`.
pub async fn list(
    State(st): State<Desk>,
    q: Result<Query<ApprovalQuery>, QueryRejection>,
) -> HttpResult<Json<Vec<Approval>>> {
    let q = query(q)?;
    Ok(Json(
        st.store
            .list_approvals(ApprovalFilter {
                status: q.status,
                session_id: q.session_id,
                task_id: q.task_id,
            })
            .await?,
    ))
}

/// `GET /api/approvals/{id}`.
pub async fn get(State(st): State<Desk>, Path(id): Path<String>) -> HttpResult<Json<Approval>> {
    Ok(Json(st.store.get_approval(&id).await?))
}

/// `POST /api/approvals/{id}` with `{"decision": "approve"|"deny", "reason": "..."}`. An
/// approval that is no longer pending (answered in the terminal, timed out, cancelled) is a
/// 409 saying what it already is.
pub async fn decide(
    State(st): State<Desk>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    b: Result<Json<ApprovalDecision>, JsonRejection>,
) -> HttpResult<Json<Approval>> {
    let d = body(b)?;
    let approve = match d.decision.as_str() {
        "approve" | "allow" => true,
        "deny" => false,
        other => {
            return Err(HttpError::unprocessable(
                "invalid_request",
                format!("decision must be \"approve\" or \"deny\", not {other:?}"),
            ))
        }
    };
    let reason = d.reason.filter(|r| !r.trim().is_empty());
    if reason.as_ref().is_some_and(|r| r.len() > 4000) {
        return Err(HttpError::unprocessable(
            "invalid_request",
            "reason is longer than 4000 bytes",
        ));
    }
    let approval = st
        .store
        .decide_approval(&id, approve, reason, operator.0)
        .await?;
    st.approvals.notify(&approval);
    Ok(Json(approval))
}
