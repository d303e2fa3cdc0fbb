//! Held decisions waiting for an operator: the webhook request of a held PreToolUse or
//! PermissionRequest waits here until `POST /api/approvals/{id}` resolves it (or it times out).

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
