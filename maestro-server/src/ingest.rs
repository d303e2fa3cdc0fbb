//! `POST /api/webhooks/hook-event`: authenticate, bound, validate, decide, store durably,
//! answer. The answer is sent only after the event is committed; a store failure answers 503
//! so that the hook spools the event instead of believing it was stored.

use crate::decide::Decider;
use crate::error::{body_rejection, HttpError};
use crate::store::StoreError;
use crate::telemetry::Telemetry;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maestro_shared::api::IngestResponse;
use maestro_shared::envelope::ENVELOPE_VERSION;
use maestro_shared::events::HookEvent;
use maestro_shared::Envelope;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the webhook needs (an axum substate of the app state).
#[derive(Clone)]
pub struct Pipeline {
    /// Decisions, holds, and the store and config they use.
    pub decider: Decider,
    /// Counters.
    pub telemetry: Arc<Telemetry>,
    /// Internal failures per event id.
    pub poison: Arc<PoisonCounter>,
    /// Machine credential checks.
    pub machines: Arc<crate::machines::MachineAuth>,
}

impl Pipeline {
    /// Who posts: the local ingest token or a live machine credential (see
    /// [`crate::machines`]).
    async fn poster(&self, headers: &HeaderMap) -> Result<crate::machines::Poster, HttpError> {
        self.machines
            .authenticate(&self.decider.config, &self.decider.store, headers)
            .await
    }
}

/// Header with the longest time the hook can wait for a held decision, in ms.
pub use maestro_shared::wire::WAIT_HEADER;

fn reject(state: &Pipeline, reason: &'static str, err: HttpError) -> Response {
    state.telemetry.rejected(reason);
    tracing::warn!(reason, status = %err.status, message = %err.message, "rejected hook event");
    err.into_response()
}

/// How many times an event may make the server fail internally before it is refused for good
/// (422, so that the hook quarantines it instead of replaying it into the same bug forever).
pub const POISON_TRIES: u32 = 3;

/// Most event ids remembered (the map is cleared when it would grow past this).
const POISON_MEMORY: usize = 10_000;

/// Counts internal failures per event id.
#[derive(Debug, Default)]
pub struct PoisonCounter {
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl PoisonCounter {
    /// Records one internal failure of `event_id`; true when it has now failed
    /// [`POISON_TRIES`] times.
    pub fn failed(&self, event_id: &str) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= POISON_MEMORY && !map.contains_key(event_id) {
            map.clear();
        }
        let n = map.entry(event_id.to_string()).or_insert(0);
        *n += 1;
        *n >= POISON_TRIES
    }
}

/// Whether the request says its body is JSON (`application/json`, parameters allowed). A form
/// or `text/plain` post (what a cross-site page can send without a preflight) is refused.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// `GET` of the webhook (what `maestro-hook status` and `login` check): 204 for the local
/// ingest token, 200 `{"machine": NAME}` for a live machine credential, 401 otherwise
/// (`machine_revoked` for a revoked one). Stores nothing.
pub async fn check_token(State(state): State<Pipeline>, headers: HeaderMap) -> Response {
    match state.poster(&headers).await {
        Ok(crate::machines::Poster::Local) => axum::http::StatusCode::NO_CONTENT.into_response(),
        Ok(crate::machines::Poster::Machine(name)) => {
            Json(serde_json::json!({ "machine": name })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The webhook handler.
pub async fn hook_event(
    State(state): State<Pipeline>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let poster = match state.poster(&headers).await {
        Ok(p) => p,
        Err(e) if e.code == "machine_revoked" => return reject(&state, "machine_revoked", e),
        Err(e) => return reject(&state, "unauthorized", e),
    };
    if !is_json(&headers) {
        return reject(
            &state,
            "content_type",
            HttpError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the webhook takes only Content-Type: application/json",
            ),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return reject(
                &state,
                "body",
                body_rejection(
                    e.status(),
                    format!(
                        "{} (limit {} bytes)",
                        e.body_text(),
                        state.decider.config.body_limit_bytes
                    ),
                ),
            )
        }
    };
    // One parse, straight from the bytes: syntax errors are 400, a valid JSON document that
    // is not an envelope is 422.
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) if e.is_data() => {
            return reject(
                &state,
                "invalid_envelope",
                HttpError::unprocessable("invalid_envelope", format!("not a v1 envelope: {e}")),
            )
        }
        Err(e) => {
            return reject(
                &state,
                "invalid_json",
                HttpError::bad_request("invalid_json", format!("body is not valid JSON: {e}")),
            )
        }
    };
    if envelope.v != ENVELOPE_VERSION {
        return reject(
            &state,
            "invalid_envelope",
            HttpError::unprocessable(
                "unsupported_version",
                format!(
                    "envelope version {} is not supported (expected {ENVELOPE_VERSION})",
                    envelope.v
                ),
            ),
        );
    }
    let parsed = match &envelope.parse_error {
        Some(_) => None,
        None => match HookEvent::parse(&envelope.payload) {
            Ok(ev) => Some(ev),
            Err(e) => {
                return reject(
                    &state,
                    "invalid_event",
                    HttpError::unprocessable("invalid_event", format!("invalid hook payload: {e}")),
                )
            }
        },
    };
    if envelope.parse_error.is_some() {
        state.telemetry.malformed.inc();
        tracing::warn!(event = %envelope.event, event_id = %envelope.event_id,
            error = envelope.parse_error.as_deref().unwrap_or(""), "hook forwarded malformed stdin");
    }
    let wait = headers
        .get(WAIT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    let event_name = envelope.event.clone();
    let mut decision = match &parsed {
        Some(ev) if ev.name().is_decision() => {
            crate::decide::decide(&state.decider, &envelope, ev).await
        }
        _ => None,
    };
    if let Some(d) = decision.as_mut() {
        // A replay from the hook's spool (`X-Maestro-Wait-Ms: 0`) has nobody waiting: the
        // agent moved on long ago. It records the decision but holds no approval.
        if wait.is_some_and(|w| w < Duration::from_secs(1)) {
            if let Some(id) = d.approval_id.take() {
                state.decider.approvals.forget(&id);
            }
        }
    }
    let approval = decision.as_ref().and_then(|d| d.approval_id.clone());
    let budget_hold = decision
        .as_ref()
        .filter(|d| d.approval_id.is_some() && crate::decide::is_budget_rule(&d.decision.rule_id))
        .map(|d| d.decision.reason.clone());
    let decision_event = parsed.as_ref().map(|ev| ev.name().clone());
    let mut stdout = decision.as_ref().and_then(|d| d.stdout.clone());
    let event_id = envelope.event_id.to_string();
    let outcome = match state
        .decider
        .store
        .ingest(
            envelope,
            parsed,
            body,
            decision,
            poster.machine().map(str::to_string),
        )
        .await
    {
        Ok(o) => o,
        Err(e) => {
            if let Some(id) = &approval {
                state.decider.approvals.forget(id);
            }
            state.telemetry.store_failures.inc();
            tracing::error!(error = %e.chain(), event = %event_name, %event_id, "could not store hook event");
            if matches!(e, StoreError::Internal { .. }) && state.poison.failed(&event_id) {
                return reject(
                    &state,
                    "poison_event",
                    HttpError::unprocessable(
                        "poison_event",
                        format!(
                            "this event made the server fail {POISON_TRIES} times (a bug, logged); the hook keeps it in quarantine"
                        ),
                    ),
                );
            }
            return HttpError::from(e).into_response();
        }
    };
    // Held hooks this event showed answered (in the terminal, or the session ended) are
    // released now that the event is durable.
    for a in &outcome.resolved {
        state.decider.approvals.notify(a);
    }
    if outcome.duplicate {
        if let Some(id) = &approval {
            state.decider.approvals.forget(id);
        }
        state.telemetry.duplicates.inc();
        stdout = None;
    } else {
        state
            .telemetry
            .events
            .with_label_values(&[event_name.as_str()])
            .inc();
        state
            .telemetry
            .ingest_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    if let (Some(reason), Some(approval_id), false) =
        (budget_hold, approval.as_ref(), outcome.duplicate)
    {
        // In the audit beside what people did about it (not on the hold's path).
        let store = std::sync::Arc::clone(&state.decider.store);
        let detail = serde_json::json!({"reason": reason, "approval": approval_id,
            "session": outcome.session_id});
        let subject = outcome.task_id.clone().unwrap_or_default();
        tokio::spawn(async move {
            if let Err(e) = store
                .record_audit("maestro".into(), "budget.reached", subject, detail)
                .await
            {
                tracing::error!(error = %e.chain(), "cannot record an audit entry");
            }
        });
    }
    if let (Some(approval_id), false, Some(event)) =
        (approval, outcome.duplicate, decision_event.as_ref())
    {
        stdout = crate::decide::wait_for_operator(&state.decider, &approval_id, event, wait).await;
    }
    Json(IngestResponse {
        accepted: true,
        duplicate: outcome.duplicate,
        seq: outcome.seq,
        session_id: outcome.session_id,
        stdout,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_poison_after_the_allowed_internal_failures() {
        let p = PoisonCounter::default();
        for _ in 1..POISON_TRIES {
            assert!(!p.failed("e1"));
        }
        assert!(!p.failed("e2"), "counted per event");
        assert!(p.failed("e1"));
        assert!(p.failed("e1"), "stays poison");
    }
}
