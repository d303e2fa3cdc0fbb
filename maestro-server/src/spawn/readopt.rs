//! After a server restart: processes that still run are re-adopted (watched by pid; their
//! output keeps going to the session log, their exit status can no longer be known),
//! processes that are gone are recorded as ended (lost, unless their log holds a `result`
//! record or SessionEnd already ended them), and sessions that were waiting in the queue
//! wait again in their original order.

use super::process::{self, SessionFiles};
use super::Spawner;
use super::{record_exit, Pending};
use crate::store::{ProcessUpdate, SessionFilter, Store, StoreError};
use maestro_shared::api::{Session, SessionState};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Non-terminal states.
pub const LIVE_STATES: [SessionState; 5] = [
    SessionState::Queued,
    SessionState::Starting,
    SessionState::Active,
    SessionState::Blocked,
    SessionState::WaitingForInput,
];

/// Every session in a live state (read from the store; a failed read counts as none).
pub async fn live_sessions(store: &Arc<dyn Store>) -> Vec<Session> {
    let mut all = Vec::new();
    for state in LIVE_STATES {
        if let Ok(list) = store
            .list_sessions(SessionFilter {
                state: Some(state),
                limit: Some(10_000),
                ..Default::default()
            })
            .await
        {
            all.extend(list);
        }
    }
    all
}

/// Session ids with a file ending in `suffix` in the sessions dir.
fn ids_with(dir: &std::path::Path, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(suffix).map(str::to_string))
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort();
    ids
}

/// Runs once at start-up.
pub async fn run(st: &Spawner) {
    let sup = Arc::clone(&st.supervisor);
    let store = &st.store;
    let dir = process::sessions_dir(&sup.settings.data_dir);
    let mut handled: HashSet<String> = HashSet::new();

    for id in ids_with(&dir, ".proc.json") {
        let files = SessionFiles::new(&sup.settings.data_dir, &id);
        handled.insert(id.clone());
        let session = match store.get_session(&id).await {
            Ok(s) => s,
            Err(StoreError::NotFound(_)) => {
                let _ = std::fs::remove_file(&files.proc);
                continue;
            }
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "re-adoption: cannot read the session");
                continue;
            }
        };
        let record = process::read_json(&files.proc).unwrap_or(Value::Null);
        let pid = record
            .get("pid")
            .and_then(Value::as_i64)
            .or(session.claude_pid)
            .unwrap_or(0);
        if process::pid_alive(pid) && process::same_process(&record, pid) {
            sup.adopt(&id, pid as i32);
            let line = format!(
                "Re-adopted after a server restart (pid {pid}): watched by pid; output still goes \
                 to the session log, but the exit status will not be known"
            );
            tracing::info!(session = %id, pid, "re-adopted a running session");
            let _ = store
                .update_process(
                    &id,
                    ProcessUpdate {
                        timeline: Some((
                            "process".into(),
                            line,
                            "info".into(),
                            Some(json!({"pid": pid})),
                        )),
                        ..Default::default()
                    },
                )
                .await;
        } else {
            tracing::info!(session = %id, pid, "spawned process gone during the restart");
            record_exit(store, &files, &id, None, false).await;
        }
    }

    let mut queued = Vec::new();
    for id in ids_with(&dir, ".spawn.json") {
        if handled.contains(&id) {
            continue;
        }
        let files = SessionFiles::new(&sup.settings.data_dir, &id);
        let session = match store.get_session(&id).await {
            Ok(s) => s,
            Err(_) => {
                let _ = std::fs::remove_file(&files.spawn);
                continue;
            }
        };
        let pending = process::read_json(&files.spawn).and_then(|v| {
            Some(Pending {
                task_id: v.get("task_id")?.as_str()?.to_string(),
                spawn: serde_json::from_value(v.get("spawn")?.clone()).ok()?,
            })
        });
        match pending {
            Some(p) if !session.state.is_terminal() => {
                handled.insert(id.clone());
                queued.push((session.started_at, id, p));
            }
            _ => {
                let _ = std::fs::remove_file(&files.spawn);
            }
        }
    }
    queued.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for (_, id, p) in queued {
        let _ = store
            .update_process(
                &id,
                ProcessUpdate {
                    state: Some(SessionState::Queued),
                    timeline: Some((
                        "process".into(),
                        "Queued again after a server restart".into(),
                        "info".into(),
                        None,
                    )),
                    ..Default::default()
                },
            )
            .await;
        // Back in line in creation order; started below as slots allow.
        sup.lock().slots.enqueue(&id, p);
    }
    sup.start_waiting(store);

    // Spawned sessions that are not over and have neither a process nor a queue entry.
    for s in live_sessions(store).await {
        if !s.spawned || handled.contains(&s.id) || sup.is_managed(&s.id) {
            continue;
        }
        let lost = ProcessUpdate::lost(
            "Lost: no process record after a server restart".into(),
            None,
        );
        let _ = store.update_process(&s.id, lost).await;
    }
}
