//! Liveness by pid. Every few seconds:
//!
//! - re-adopted spawned processes (not our children any more, so nothing awaits their exit)
//!   are probed; a vanished one is recorded as ended;
//! - sessions Maestro did not spawn but which report a `claude_pid` from this host are
//!   probed; a vanished process marks the session lost ("process gone") unless SessionEnd
//!   already ended it, so it does not stay "active" forever.
//!
//! A probe is `kill(pid, 0)` plus a zombie check in `/proc`, and for unmanaged sessions the
//! process start time the hook reported (`/proc/<pid>/stat`), so a pid reused by an unrelated
//! process is not taken for the CLI.

use super::process;
use super::readopt::live_sessions;
use super::Spawner;
use crate::store::ProcessUpdate;
use serde_json::json;
use std::sync::Arc;

/// Runs forever.
pub async fn run(st: &Spawner) {
    let sup = Arc::clone(&st.supervisor);
    let mut tick = tokio::time::interval(sup.settings.watch_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (id, pid) in sup.adopted() {
            if !process::pid_alive(i64::from(pid)) {
                sup.end_adopted(&st.store, &id, false).await;
            }
        }
        check_unmanaged(st).await;
    }
}

/// Probes the live sessions that were not spawned here and come from this host.
pub async fn check_unmanaged(st: &Spawner) {
    let sup = &st.supervisor;
    let Some(host) = sup.settings.host.clone() else {
        return;
    };
    for s in live_sessions(&st.store).await {
        let Some(pid) = s.claude_pid else { continue };
        if s.spawned || s.host.as_deref() != Some(host.as_str()) || sup.is_managed(&s.id) {
            continue;
        }
        if process::pid_alive(pid) && same_start(st, &s.id, pid).await {
            continue;
        }
        // SessionEnd may have landed since the list was read.
        match st.store.get_session(&s.id).await {
            Ok(now) if !now.state.is_terminal() => {}
            _ => continue,
        }
        tracing::info!(session = %s.id, pid, "Claude Code process gone without SessionEnd");
        let lost = ProcessUpdate::lost(
            format!("Claude Code process {pid} is gone (no SessionEnd)"),
            Some(json!({"pid": pid})),
        );
        let _ = st.store.update_process(&s.id, lost).await;
    }
}

/// Whether the live process `pid` started when the hook said the session's CLI did (true
/// when the hook reported no start time or `/proc` cannot tell).
async fn same_start(st: &Spawner, session_id: &str, pid: i64) -> bool {
    let Ok(Some(want)) = st.store.claude_pid_start(session_id).await else {
        return true;
    };
    match i32::try_from(pid).ok().and_then(process::proc_stat) {
        Some((_, start)) => start == want,
        None => true,
    }
}
