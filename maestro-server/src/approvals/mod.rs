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

use crate::store::writer::LiveMessage;
use maestro_shared::api::Approval;
use maestro_shared::ws::types;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::broadcast;
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

/// Releases held hooks from the committed feed: every `approval:resolved` message (whatever
/// made it: an operator, an event, the end or loss of the session found by the process watch)
/// wakes the request waiting on that approval. The callers that resolve an approval also
/// notify directly (at once, without the broadcast hop); a second notification is harmless.
pub async fn release_on_feed(
    mut rx: broadcast::Receiver<Arc<LiveMessage>>,
    approvals: Arc<Approvals>,
) {
    loop {
        match rx.recv().await {
            Ok(m) if m.msg.kind == types::APPROVAL_RESOLVED => {
                if let Ok(a) = serde_json::from_value::<Approval>(m.msg.data.clone()) {
                    approvals.notify(&a);
                }
            }
            Ok(_) => {}
            // Missed messages: the waiters of those approvals still end at their timeout.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(missed = n, "approval release fell behind the feed");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
