//! Credentials: the ingest token (hooks) and the operator token (UI and API). The operator
//! token arrives as `Authorization: Bearer`, the `maestro_auth` cookie set by `/api/login`,
//! or (WebSocket only) `?token=`. The ingest token is refused on operator routes with 403, so
//! an agent whose environment holds it cannot approve its own requests.

use crate::app::AppState;
use crate::error::HttpError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

/// Cookie name.
pub const COOKIE: &str = "maestro_auth";

/// Constant-time comparison.
pub fn token_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The `maestro_auth` cookie, if any.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Operator token.
    Operator,
    /// Ingest token.
    Ingest,
    /// No or wrong credential.
    Anonymous,
}

/// Identifies the caller from the header, cookie or an explicit token.
pub fn identify(state: &AppState, headers: &HeaderMap, query_token: Option<&str>) -> Caller {
    let cfg = &state.config;
    let candidates = [
        bearer(headers).map(str::to_string),
        cookie(headers),
        query_token.map(str::to_string),
    ];
    let mut caller = Caller::Anonymous;
    for t in candidates.into_iter().flatten() {
        if token_eq(&t, &cfg.operator_token) {
            return Caller::Operator;
        }
        if token_eq(&t, &cfg.ingest_token) {
            caller = Caller::Ingest;
        }
    }
    caller
}

/// Middleware for operator routes.
pub async fn require_operator(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match identify(&state, req.headers(), None) {
        Caller::Operator => next.run(req).await,
        Caller::Ingest => HttpError::forbidden(
            "the ingest token cannot use operator endpoints (approvals, tasks, sessions)",
        )
        .into_response(),
        Caller::Anonymous => {
            HttpError::unauthorized("operator token required (Authorization: Bearer TOKEN)")
                .into_response()
        }
    }
}

/// Body of `POST /api/login`.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// The operator token.
    pub token: String,
}

/// `POST /api/login`: checks the operator token and sets the HttpOnly cookie.
pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(login) = match body {
        Ok(b) => b,
        Err(e) => return crate::error::json_rejection(e).into_response(),
    };
    if token_eq(login.token.trim(), &state.config.ingest_token) {
        return HttpError::forbidden("the ingest token cannot log in to the UI").into_response();
    }
    if !token_eq(login.token.trim(), &state.config.operator_token) {
        state.telemetry.rejected("login");
        return HttpError::unauthorized("wrong operator token").into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000",
        state.config.operator_token
    );
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `POST /api/logout`: clears the cookie.
pub async fn logout() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("maestro_auth=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    resp
}

/// `GET /api/me`: 200 when the caller is the operator (the UI's login check).
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match identify(&state, &headers, None) {
        Caller::Operator => Json(serde_json::json!({"operator": true})).into_response(),
        _ => HttpError::unauthorized("not logged in").into_response(),
    }
}
