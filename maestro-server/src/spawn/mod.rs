//! Spawning and supervising Claude Code sessions. (Being written.)

use crate::app::AppState;
use axum::Router;

/// Supervises spawned sessions and watches unmanaged ones.
#[derive(Default)]
pub struct Supervisor {}

impl Supervisor {
    /// Builds the supervisor from the configuration.
    pub fn new(_config: &crate::config::Config) -> Supervisor {
        Supervisor {}
    }
}

/// Operator routes: `POST /tasks/{id}/sessions`, `POST /sessions/{id}/stop` (nested under `/api`).
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Starts background supervision (re-adoption after restart, pid watching).
pub fn start(_state: &AppState) {}
