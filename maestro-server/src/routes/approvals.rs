//! Approvals: list (audit) and decide. Operator token only.

use super::{body, query};
use crate::approvals::Approvals;
use crate::auth::Operator;
use crate::decide::is_budget_rule;
use crate::error::{HttpError, HttpResult};
use crate::store::budget::usd;
use crate::store::ApprovalFilter;
use crate::store::SharedStore;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Extension;
use axum::Json;
use maestro_shared::api::{Approval, ApprovalDecision, ApprovalStatus, TaskInput};
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
    if let Some(limit) = d.budget_usd {
        if !approve {
            return Err(HttpError::unprocessable(
                "invalid_request",
                "budget_usd raises the limit of an approved call: it goes with \"approve\"",
            ));
        }
        return raise_budget(&st, &id, limit, reason, operator).await;
    }
    let approval = st
        .store
        .decide_approval(&id, approve, reason, operator.0)
        .await?;
    st.approvals.notify(&approval);
    Ok(Json(approval))
}

/// Raises the limit of the task whose call is held at its budget, approves the call, and
/// releases the task's other calls held at the limit (each still only as permissive as its
/// policy outcome: see [`crate::decide::BUDGET_ASK_RULE`]). Audited: the new limit (with the
/// old one) and each approval, under the operator's name. The limit is raised before the call
/// is approved, so the released call does not meet the old limit again; when the call was
/// decided meanwhile (timed out, another operator), the raise stands, the other holds are still
/// released, and the answer is the 409 saying what the call already is.
async fn raise_budget(
    st: &Desk,
    id: &str,
    limit: f64,
    reason: Option<String>,
    operator: Operator,
) -> HttpResult<Json<Approval>> {
    let held = st.store.get_approval(id).await?;
    if !is_budget_rule(&held.rule_id) {
        return Err(HttpError::unprocessable(
            "invalid_request",
            "budget_usd applies only to a call held at its task's spend limit",
        ));
    }
    let Some(task_id) = held.task_id.clone() else {
        return Err(HttpError::unprocessable(
            "invalid_request",
            "this call has no task whose limit could be raised",
        ));
    };
    if held.status != ApprovalStatus::Pending {
        // What it already is, as a plain decision would say; no limit changes.
        return Ok(Json(
            st.store
                .decide_approval(id, true, reason, operator.0)
                .await?,
        ));
    }
    crate::store::budget::validate(Some(limit))?;
    let spent = st.store.task_spent(&task_id).await?;
    if limit <= spent {
        return Err(HttpError::unprocessable(
            "budget_too_low",
            format!(
                "the new limit must be above what the task has spent ({})",
                usd(spent)
            ),
        ));
    }
    let before = st.store.get_task(&task_id).await?.budget_usd;
    st.store
        .update_task(
            &task_id,
            TaskInput {
                budget_usd: Some(Some(limit)),
                ..TaskInput::default()
            },
        )
        .await?;
    super::tasks::audit_budget(
        &st.store,
        &operator,
        &task_id,
        before,
        Some(limit),
        Some(id),
    )
    .await;
    let note = format!("limit raised to {} by {}", usd(limit), operator.0);
    let decided = st
        .store
        .decide_approval(
            id,
            true,
            reason.or_else(|| Some(note.clone())),
            operator.0.clone(),
        )
        .await;
    if let Ok(a) = &decided {
        st.approvals.notify(a);
    }
    // The task's other sessions held at the same limit go on too.
    let others = st
        .store
        .list_approvals(ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            task_id: Some(task_id),
            session_id: None,
        })
        .await?;
    for other in others
        .iter()
        .filter(|a| is_budget_rule(&a.rule_id) && a.id != id)
    {
        match st
            .store
            .decide_approval(&other.id, true, Some(note.clone()), operator.0.clone())
            .await
        {
            Ok(a) => st.approvals.notify(&a),
            Err(e) => {
                tracing::warn!(approval = %other.id, error = %e.chain(), "cannot release a call held at the budget")
            }
        }
    }
    Ok(Json(decided?))
}
