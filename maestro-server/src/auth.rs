//! Credentials: the ingest token (hooks; machine credentials are in [`crate::machines`]) and
//! the operator token (UI and API). The operator
//! token arrives as `Authorization: Bearer`, the `maestro_auth` cookie set by `/api/login`,
//! or (WebSocket only) `?token=`. The ingest token is refused on operator routes with 403, so
//! an agent whose environment holds it cannot approve its own requests.

use crate::config::Config;
use crate::error::HttpError;
use crate::store::SharedStore;
use crate::telemetry::Telemetry;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// What the credential checks need (an axum substate of the app state).
#[derive(Clone)]
pub struct Gate {
    /// Tokens, bind address, allowed hosts.
    pub config: Arc<Config>,
    /// Failed-login counter.
    pub login_throttle: Arc<LoginThrottle>,
    /// Rejection counters.
    pub telemetry: Arc<Telemetry>,
    /// Named operators.
    pub store: SharedStore,
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An operator: `operator` for the server's own operator token, else the name of a named
    /// operator (`maestro-server operators add NAME`).
    Operator(String),
    /// Ingest token.
    Ingest,
    /// No or wrong credential.
    Anonymous,
}

/// The operator a request was authenticated as (a request extension on operator routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(pub String);

/// The name the server's own operator token has in the audit.
pub const BUILTIN_OPERATOR: &str = "operator";

/// Identifies the caller from the header, cookie or an explicit token: the server's operator
/// and ingest tokens, then the named operators' (looked up by hash on every request, so a
/// revocation takes effect at once).
pub async fn identify(
    cfg: &Config,
    store: &SharedStore,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Caller {
    let candidates: Vec<String> = [
        bearer(headers).map(str::to_string),
        cookie(headers),
        query_token.map(str::to_string),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut caller = Caller::Anonymous;
    for t in &candidates {
        if token_eq(t, &cfg.operator_token) {
            return Caller::Operator(BUILTIN_OPERATOR.into());
        }
        if token_eq(t, &cfg.ingest_token) {
            caller = Caller::Ingest;
        }
    }
    for t in &candidates {
        // Named tokens are 64 hex characters; anything else is not worth a lookup.
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        match store
            .operator_for_token_hash(&crate::machines::hash_token(t))
            .await
        {
            Ok(Some(name)) => return Caller::Operator(name),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e.chain(), "cannot look up an operator token"),
        }
    }
    caller
}

/// Whether the request's bearer is a machine credential (by its prefix: no lookup needed to
/// refuse it).
fn is_machine_credential(headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|t| t.starts_with(crate::machines::CREDENTIAL_PREFIX))
}

/// Middleware for operator routes: the operator's name goes with the request
/// ([`Operator`]) for the audit.
pub async fn require_operator(State(state): State<Gate>, mut req: Request, next: Next) -> Response {
    if is_machine_credential(req.headers()) {
        return HttpError::forbidden(
            "a machine credential cannot use operator endpoints (approvals, tasks, sessions); it only posts events",
        )
        .into_response();
    }
    match identify(&state.config, &state.store, req.headers(), None).await {
        Caller::Operator(name) => {
            req.extensions_mut().insert(Operator(name));
            next.run(req).await
        }
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
    State(state): State<Gate>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let now = std::time::Instant::now();
    if let Some(secs) = state.login_throttle.blocked_for(now) {
        state.telemetry.rejected("login_throttled");
        let mut resp = HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed logins: try again in {secs} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    let Json(login) = match body {
        Ok(b) => b,
        Err(e) => return crate::error::json_rejection(e).into_response(),
    };
    if token_eq(login.token.trim(), &state.config.ingest_token)
        || login
            .token
            .trim()
            .starts_with(crate::machines::CREDENTIAL_PREFIX)
    {
        state.login_throttle.failed(now);
        return HttpError::forbidden(
            "an ingest token or machine credential cannot log in to the UI",
        )
        .into_response();
    }
    let token = login.token.trim();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert(header::AUTHORIZATION, v);
    }
    if !matches!(
        identify(&state.config, &state.store, &headers, None).await,
        Caller::Operator(_)
    ) {
        state.telemetry.rejected("login");
        state.login_throttle.failed(now);
        return HttpError::unauthorized("wrong operator token").into_response();
    }
    // The cookie holds the token itself: a named operator's revocation ends the session.
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000");
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

/// `GET /api/me`: 200 with the operator's name when the caller is an operator (the UI's login
/// check and "logged in as").
pub async fn me(State(state): State<Gate>, headers: HeaderMap) -> Response {
    match identify(&state.config, &state.store, &headers, None).await {
        Caller::Operator(name) => Json(serde_json::json!({
            "operator": true,
            "name": name,
            // How long a held request waits for a decision here (the modal counts it down).
            "hold_timeout_ms": u64::try_from(state.config.hold_timeout.as_millis()).unwrap_or(u64::MAX),
        }))
        .into_response(),
        _ => HttpError::unauthorized("not logged in").into_response(),
    }
}

/// Failed logins allowed per [`LOGIN_WINDOW`] before further attempts get 429.
pub const LOGIN_FAILURES_ALLOWED: u32 = 10;
/// The window over which failed logins are counted.
pub const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Counts failed logins so that guessing the operator token is throttled: after
/// [`LOGIN_FAILURES_ALLOWED`] failures in a [`LOGIN_WINDOW`], attempts are answered 429 (with
/// `Retry-After`) until the window has passed.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<(u32, Option<std::time::Instant>)>,
}

impl LoginThrottle {
    /// Seconds to wait when the caller must back off now.
    fn blocked_for(&self, now: std::time::Instant) -> Option<u64> {
        let guard = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, start) = *guard;
        let start = start?;
        let elapsed = now.saturating_duration_since(start);
        (count >= LOGIN_FAILURES_ALLOWED && elapsed < LOGIN_WINDOW)
            .then(|| (LOGIN_WINDOW - elapsed).as_secs().max(1))
    }

    /// Records one failed attempt.
    fn failed(&self, now: std::time::Instant) {
        let mut guard = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match guard.1 {
            Some(start) if now.saturating_duration_since(start) < LOGIN_WINDOW => guard.0 += 1,
            _ => *guard = (1, Some(now)),
        }
    }
}

/// Host names every loopback server answers to.
const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

/// The host part of a `Host` header value (port removed, lower case).
fn host_name(value: &str) -> String {
    let value = value.trim().to_ascii_lowercase();
    if value.starts_with('[') {
        // [v6]:port
        return match value.find(']') {
            Some(end) => value[..=end].to_string(),
            None => value,
        };
    }
    match value.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_string(),
        _ => value,
    }
}

/// Whether a request's `Host` is acceptable: on a loopback bind only loopback names and the
/// configured `allowed_hosts` (a DNS-rebinding page's `Host: evil.example` is refused); on other
/// binds anything, unless `allowed_hosts` is set.
pub fn host_allowed(config: &crate::config::Config, host: Option<&str>) -> bool {
    let restricted = config.bind.ip().is_loopback() || !config.allowed_hosts.is_empty();
    if !restricted {
        return true;
    }
    // HTTP/1.1 requires Host; browsers always send it. A request without one cannot come from a
    // rebinding page.
    let Some(host) = host else {
        return true;
    };
    let name = host_name(host);
    // The address the server is bound to is its own name too (127.0.0.2, another loopback
    // address a test or a second instance uses).
    let bind_name = match config.bind.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    (config.bind.ip().is_loopback()
        && (LOOPBACK_HOSTS.contains(&name.as_str())
            || name.ends_with(".localhost")
            || name == bind_name))
        || config.allowed_hosts.contains(&name)
}

/// Middleware: refuses requests whose `Host` is not allowed ([`host_allowed`]) with 421.
pub async fn check_host(State(state): State<Gate>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if host_allowed(&state.config, host) {
        return next.run(req).await;
    }
    state.telemetry.rejected("host");
    HttpError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
        "this Host is not served here (add it to allowed_hosts / MAESTRO_ALLOWED_HOSTS when a proxy forwards it)",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_the_port() {
        assert_eq!(host_name("LocalHost:8420"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("evil.example:8420"), "evil.example");
    }

    #[test]
    fn login_throttle_blocks_after_the_allowed_failures_and_forgets_after_the_window() {
        let t = LoginThrottle::default();
        let start = std::time::Instant::now();
        for _ in 0..LOGIN_FAILURES_ALLOWED {
            assert_eq!(t.blocked_for(start), None);
            t.failed(start);
        }
        assert!(t.blocked_for(start).is_some());
        assert_eq!(t.blocked_for(start + LOGIN_WINDOW), None);
        t.failed(start + LOGIN_WINDOW);
        assert_eq!(t.blocked_for(start + LOGIN_WINDOW), None);
    }
}
