//! `POST /api/webhooks/hook-event`: authenticate, bound, validate, decide, store durably,
//! answer. The answer is sent only after the event is committed; a store failure answers 503
//! so that the hook spools the event instead of believing it was stored.

use crate::app::AppState;
use crate::auth::{identify, Caller};
use crate::error::{body_rejection, HttpError};
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
use std::time::{Duration, Instant};

/// Header with the longest time the hook can wait for a held decision, in ms.
pub const WAIT_HEADER: &str = "x-maestro-wait-ms";

fn reject(state: &AppState, reason: &'static str, err: HttpError) -> Response {
    state.telemetry.rejected(reason);
    tracing::warn!(reason, status = %err.status, message = %err.message, "rejected hook event");
    err.into_response()
}

/// The webhook handler.
pub async fn hook_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    if identify(&state, &headers, None) == Caller::Anonymous {
        return reject(
            &state,
            "unauthorized",
            HttpError::unauthorized("ingest token required (Authorization: Bearer TOKEN)"),
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
                        state.config.body_limit_bytes
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
        Some(ev) if ev.name().is_decision() => crate::decide::decide(&state, &envelope, ev).await,
        _ => None,
    };
    if let Some(d) = decision.as_mut() {
        // A replay from the hook's spool (`X-Maestro-Wait-Ms: 0`) has nobody waiting: the
        // agent moved on long ago. It records the decision but holds no approval.
        if wait.is_some_and(|w| w < Duration::from_secs(1)) {
            if let Some(id) = d.approval_id.take() {
                state.approvals.forget(&id);
            }
        }
    }
    let approval = decision.as_ref().and_then(|d| d.approval_id.clone());
    let decision_event = parsed.as_ref().map(|ev| ev.name().clone());
    let mut stdout = decision.as_ref().and_then(|d| d.stdout.clone());
    let outcome = match state.store.ingest(envelope, parsed, body, decision).await {
        Ok(o) => o,
        Err(e) => {
            if let Some(id) = &approval {
                state.approvals.forget(id);
            }
            state.telemetry.store_failures.inc();
            tracing::error!(error = %e, event = %event_name, "could not store hook event");
            return HttpError::from(e).into_response();
        }
    };
    // Held hooks this event showed answered (in the terminal, or the session ended) are
    // released now that the event is durable.
    for a in &outcome.resolved {
        state.approvals.notify(a);
    }
    if outcome.duplicate {
        if let Some(id) = &approval {
            state.approvals.forget(id);
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
    if let (Some(approval_id), false, Some(event)) =
        (approval, outcome.duplicate, decision_event.as_ref())
    {
        stdout = crate::decide::wait_for_operator(&state, &approval_id, event, wait).await;
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
