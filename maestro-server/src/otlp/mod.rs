//! The OTLP/HTTP receiver: `POST /v1/logs` and `POST /v1/metrics`, where Claude Code's own
//! OpenTelemetry exporter sends its events and metrics (`CLAUDE_CODE_ENABLE_TELEMETRY=1`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT=<server>`).
//!
//! - Authenticated like the hook webhook: `Authorization: Bearer` with the ingest token or a
//!   live machine credential; the operator token is refused. Claude Code sends the value of
//!   `OTEL_EXPORTER_OTLP_HEADERS` without percent-decoding it, so `Bearer%20TOKEN` is taken as
//!   `Bearer TOKEN`.
//! - Bodies: `application/x-protobuf` or `application/json`, optionally
//!   `Content-Encoding: gzip`; the webhook's body limit applies before and after inflating.
//! - Logs: the `claude_code.api_request` records (cost, tokens, model, `prompt.id`) are
//!   stored, idempotently (see [`crate::store::cost`]), and so are the `claude_code.tool_result`
//!   and `claude_code.tool_decision` records, which carry the `tool_use_id` the model requests
//!   lack (see [`crate::store::tool_telemetry`]). Other events are accepted and dropped.
//! - Metrics: decoded (a malformed body is still a 400) and acknowledged; cost and tokens are
//!   taken from the per-request log records, which the cumulative metrics would double-count.
//!
//! Answers: 200 with an empty export response in the request's format; errors are the
//! server's usual JSON errors (400 malformed, 401, 413, 415, 503 when the store fails, so the
//! exporter retries).

pub mod decode;

use crate::app::AppState;
use crate::error::{body_rejection, HttpError};
use crate::store::SharedStore;
use crate::telemetry::Telemetry;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use decode::{DecodeError, Format};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use std::sync::Arc;

/// The logs path (`OTEL_EXPORTER_OTLP_ENDPOINT` + this).
pub const LOGS_PATH: &str = "/v1/logs";
/// The metrics path.
pub const METRICS_PATH: &str = "/v1/metrics";

/// What the receiver needs (an axum substate of the app state).
#[derive(Clone)]
pub struct Receiver {
    config: Arc<crate::config::Config>,
    store: SharedStore,
    machines: Arc<crate::machines::MachineAuth>,
    telemetry: Arc<Telemetry>,
}

impl FromRef<AppState> for Receiver {
    fn from_ref(state: &AppState) -> Receiver {
        Receiver {
            config: Arc::clone(&state.config),
            store: Arc::clone(&state.store),
            machines: Arc::clone(&state.machines),
            telemetry: Arc::clone(&state.telemetry),
        }
    }
}

/// The routes, each with the webhook's body limit.
pub fn routes(body_limit: usize) -> axum::Router<AppState> {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::post;
    axum::Router::new()
        .route(LOGS_PATH, post(logs))
        .route(METRICS_PATH, post(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
}

fn reject(state: &Receiver, reason: &'static str, err: HttpError) -> Response {
    state.telemetry.rejected(reason);
    tracing::warn!(reason, status = %err.status, message = %err.message, "rejected OTLP export");
    err.into_response()
}

/// The request headers with a percent-encoded space after `Bearer` decoded (what Claude Code
/// sends for `OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20TOKEN`).
fn normalized_auth(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    let fixed = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer%20"))
        .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
    if let Some(value) = fixed {
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

/// Authentication, content type, body limit and decoding shared by both paths.
async fn accept<T>(
    state: &Receiver,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(T, Format, Option<String>), Response>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    let poster = match state
        .machines
        .authenticate(&state.config, &state.store, &normalized_auth(headers))
        .await
    {
        Ok(p) => p,
        Err(e) => return Err(reject(state, "otlp_unauthorized", e)),
    };
    let format = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_content_type);
    let Some(format) = format else {
        return Err(reject(
            state,
            "otlp_content_type",
            HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "OTLP/HTTP takes Content-Type: application/x-protobuf or application/json",
            ),
        ));
    };
    let limit = state.config.body_limit_bytes;
    let body = body.map_err(|e| {
        reject(
            state,
            "otlp_body",
            body_rejection(
                e.status(),
                format!("{} (limit {limit} bytes)", e.body_text()),
            ),
        )
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let decoded = decode::inflate(&body, encoding, limit)
        .and_then(|bytes| decode::message::<T>(&bytes, format));
    match decoded {
        Ok(message) => Ok((message, format, poster.machine().map(str::to_string))),
        Err(e @ DecodeError::TooLarge(_)) => Err(reject(
            state,
            "otlp_body",
            HttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                e.to_string(),
            ),
        )),
        Err(e @ DecodeError::Encoding(_)) => Err(reject(
            state,
            "otlp_encoding",
            HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                e.to_string(),
            ),
        )),
        Err(e) => Err(reject(
            state,
            "otlp_malformed",
            HttpError::bad_request("invalid_otlp", e.to_string()),
        )),
    }
}

/// The empty success answer, in the request's format.
fn ok<T: prost::Message + serde::Serialize>(format: Format, answer: T) -> Response {
    match format {
        Format::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            answer.encode_to_vec(),
        )
            .into_response(),
        Format::Json => axum::Json(answer).into_response(),
    }
}

/// `POST /v1/logs`.
pub async fn logs(
    State(state): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (export, format, machine) =
        match accept::<ExportLogsServiceRequest>(&state, &headers, body).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let decode::Records {
        api_requests,
        tool_events,
    } = decode::records(&export);
    if api_requests.is_empty() && tool_events.is_empty() {
        return ok(format, ExportLogsServiceResponse::default());
    }
    let count = (api_requests.len(), tool_events.len());
    match state
        .store
        .record_telemetry(api_requests, tool_events, machine)
        .await
    {
        Ok(new) => tracing::debug!(?count, ?new, "stored OTLP records (api_request, tool)"),
        Err(e) => return store_failed(&state, e),
    }
    ok(format, ExportLogsServiceResponse::default())
}

/// A 503 (the exporter retries; what was stored is not stored twice).
fn store_failed(state: &Receiver, e: crate::store::StoreError) -> Response {
    state.telemetry.store_failures.inc();
    reject(state, "otlp_store", HttpError::from(e))
}

/// `POST /v1/metrics`.
pub async fn metrics(
    State(state): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match accept::<ExportMetricsServiceRequest>(&state, &headers, body).await {
        Ok((_, format, _)) => ok(format, ExportMetricsServiceResponse::default()),
        Err(r) => r,
    }
}
