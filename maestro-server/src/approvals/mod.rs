//! Approvals: the one owner of a held request's life.
//!
//! - [`machine`]: the state machine (every status and what may move it), pure.
//! - `crate::store::approvals`: applies a transition inside a write transaction (the row, the
//!   audit line on the timeline, the session state, the tool call's line, the committed
//!   `approval:resolved` feed message), for operator decisions, timeouts, dropped hooks and
//!   the events of the raising process alike.
//! - [`Approvals`] (this file): the registry where the webhook request of a held PreToolUse or
//!   PermissionRequest waits until a transition releases it.

pub mod machine;

use maestro_shared::api::Approval;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// Registry of waiting requests.
#[derive(Default)]
pub struct Approvals {
    waiters: Mutex<HashMap<String, watch::Sender<Option<Approval>>>>,
}

impl Approvals {
    /// Registers interest in an approval before it can be decided.
    pub fn register(&self, id: &str) -> watch::Receiver<Option<Approval>> {
        let mut map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.to_string())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// Wakes the request waiting on this approval.
    pub fn notify(&self, approval: &Approval) {
        let map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&approval.id) {
            let _ = tx.send(Some(approval.clone()));
        }
    }

    /// Forgets an approval once its request answered.
    pub fn forget(&self, id: &str) {
        let mut map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }
}
