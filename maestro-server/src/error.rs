//! The HTTP error type: every error answers `{"error": {"code", "message"}}` with its status.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maestro_shared::api::ApiError;

/// An error answer.
#[derive(Debug)]
pub struct HttpError {
    /// Status code.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message.
    pub message: String,
}

impl HttpError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        HttpError {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 422 with a code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.status, Json(ApiError::new(self.code, self.message))).into_response()
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => HttpError::not_found(format!("{m} not found")),
            StoreError::Conflict(m) => HttpError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(m) => HttpError::unprocessable("invalid_request", m),
            // The SQLite text (paths, internals) is in the log, not in the answer.
            StoreError::Unavailable { .. } => HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the store cannot write right now: nothing was stored (details in the server log)",
            ),
            // The cause (a panic message) is in the log, not in the answer.
            StoreError::Internal { .. } => HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error: the request was not stored (details in the server log)",
            ),
        }
    }
}

/// Handler result.
pub type HttpResult<T> = Result<T, HttpError>;

/// Maps a JSON body rejection to a clear 400/413/415/422.
pub fn json_rejection(r: axum::extract::rejection::JsonRejection) -> HttpError {
    use axum::extract::rejection::JsonRejection as J;
    match r {
        J::JsonSyntaxError(e) => HttpError::bad_request("invalid_json", e.body_text()),
        J::JsonDataError(e) => HttpError::unprocessable("invalid_request", e.body_text()),
        J::MissingJsonContentType(e) => HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            e.body_text(),
        ),
        J::BytesRejection(e) => body_rejection(e.status(), e.body_text()),
        other => HttpError::bad_request("invalid_request", other.body_text()),
    }
}

/// Maps a body-read failure (size limit) to a JSON error.
pub fn body_rejection(status: StatusCode, text: String) -> HttpError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        HttpError::new(status, "payload_too_large", text)
    } else {
        HttpError::new(status, "invalid_body", text)
    }
}
