//! Embedded web UI assets. (Being written.)

use axum::Router;

/// Routes serving the UI.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
}
