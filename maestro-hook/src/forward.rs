//! One hook event: read stdin, build the envelope; an observe-only event is written to the
//! spool for the drainer (`MAESTRO_HOOK_DELIVERY=spool`, the default; sent directly only when
//! it cannot be spooled); a decision event (or any with `direct`) is sent, spooled on failure,
//! and PreToolUse / PermissionRequest print the decision. Always exits 0.

use crate::config::{Config, Delivery};
use crate::send::{SendOutcome, Sender};
use crate::{decide, drain, envelope, log, spool};
use maestro_shared::HookEventName;
use std::time::Duration;

/// How long the hook waits for the server for `event`, and the `X-Maestro-Wait-Ms` value
/// to send (decision events only).
pub fn budget(cfg: &Config, event: &HookEventName) -> (Duration, Option<u64>) {
    let wait = match event {
        HookEventName::PreToolUse => cfg.pre_tool_use_wait,
        HookEventName::PermissionRequest => cfg.permission_request_wait,
        _ => return (cfg.timeout, None),
    };
    (
        wait,
        Some(wait.as_millis().min(u128::from(u64::MAX)) as u64),
    )
}

/// Whether `event` goes to the spool first (`MAESTRO_HOOK_DELIVERY=spool`): every observe-only
/// event but the session's bounds. SessionStart and SessionEnd are sent directly, once per
/// session: the server sees them while the CLI process still runs (it adopts the process for
/// the liveness watch only while it is alive, and a SessionEnd that arrives after the exit it
/// observed itself would not give the session its end reason).
pub fn spool_first(event: &HookEventName) -> bool {
    !event.is_decision()
        && !matches!(
            event,
            HookEventName::SessionStart | HookEventName::SessionEnd
        )
}

/// Runs the hook for `event`. Returns the exit code (always 0).
pub fn run_event(event: &HookEventName) -> i32 {
    // Read stdin to EOF first, whatever happens next (no EPIPE for Claude Code).
    let (stdin, read_error) = envelope::read_stdin();
    let cfg = Config::load();
    for w in &cfg.warnings {
        log::problem(&cfg.log_file, &format!("config: {w}"));
    }
    let env = |k: &str| std::env::var(k).ok();
    let env_ref: &dyn Fn(&str) -> Option<String> = &env;
    let envelope = envelope::build(event, &stdin, read_error, env_ref, cfg.max_string_bytes);
    drop(stdin);
    if let Some(pe) = &envelope.parse_error {
        log::problem(
            &cfg.log_file,
            &format!("{event}: malformed stdin ({pe}); forwarding it raw"),
        );
    }
    let body = match serde_json::to_vec(&envelope) {
        Ok(b) => b,
        Err(e) => {
            log::problem(
                &cfg.log_file,
                &format!("{event}: cannot serialise envelope: {e}"),
            );
            return 0;
        }
    };

    if spool_first(event) && cfg.delivery == Delivery::Spool {
        // The hot path: on disk (page cache) before Claude Code goes on; the drainer forwards.
        match spool::write_unsynced(&cfg.spool_dir, &envelope.spool_name(), &body) {
            Ok(_) => {
                if cfg.token.is_some() {
                    drain::ensure_drainer(&cfg);
                }
                return 0;
            }
            // A full disk: the server may still take it.
            Err(e) => log::problem(
                &cfg.log_file,
                &format!("{event}: cannot spool ({e}); sending it directly"),
            ),
        }
    }

    let (total, wait_ms) = budget(&cfg, event);
    let outcome = Sender::new(&cfg, total).post(&body, wait_ms);
    let decided = match outcome {
        SendOutcome::Delivered(resp) => {
            if event.is_decision() {
                if let Some(text) = resp.and_then(|r| r.stdout).filter(|s| !s.is_empty()) {
                    decide::print_stdout(&text);
                }
            }
            // Spooled events, or lost ones still to report: the drainer does both.
            if spool::needs_drainer(&cfg.spool_dir) {
                drain::ensure_drainer(&cfg);
            }
            true
        }
        SendOutcome::Retry(why) => {
            spool_event(&cfg, event, &envelope, &body, &why);
            // Without a token the drainer could not deliver either; it starts again once
            // one is configured (next call).
            if cfg.token.is_some() {
                drain::ensure_drainer(&cfg);
            }
            false
        }
        SendOutcome::Reject {
            status,
            body: answer,
        } => {
            let name = envelope.spool_name();
            let reason = crate::send::reject_reason(status, &answer);
            match spool::quarantine_bytes(&cfg.quarantine_dir(), &name, &body, &reason) {
                Ok(p) => log::problem(
                    &cfg.log_file,
                    &format!("{event}: {reason}; kept in {}", p.display()),
                ),
                Err(e) => log::problem(
                    &cfg.log_file,
                    &format!("{event}: {reason}; could not keep it: {e}"),
                ),
            }
            false
        }
    };
    if !decided {
        if let Some(text) = decide::fallback_output(event, &envelope, &cfg, env_ref) {
            decide::print_stdout(&text);
        }
    }
    0
}

/// Writes the envelope that could not be delivered (`why`) to the spool (no fsync: the
/// drainer makes it durable); when even that fails, counts it lost.
fn spool_event(
    cfg: &Config,
    event: &HookEventName,
    envelope: &maestro_shared::Envelope,
    body: &[u8],
    why: &str,
) {
    let name = envelope.spool_name();
    match spool::write_unsynced(&cfg.spool_dir, &name, body) {
        Ok(_) => log::problem(
            &cfg.log_file,
            &format!(
                "{event}: not delivered to {} ({why}); spooled {name}",
                cfg.url
            ),
        ),
        Err(e) => {
            let session = envelope
                .payload
                .get("session_id")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let counted = crate::loss::record(
                &cfg.spool_dir,
                session,
                &format!("not delivered ({why}) and not spooled ({e})"),
            );
            log::problem(
                &cfg.log_file,
                &format!(
                    "{event}: not delivered to {} ({why}) and NOT spooled: {e}; lost events counted: {}",
                    cfg.url,
                    counted.map_or_else(|c| format!("not even counted: {c}"), |n| n.to_string())
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_observe_events_inside_a_session_go_to_the_spool_first() {
        assert!(spool_first(&HookEventName::PostToolUse));
        assert!(spool_first(&HookEventName::PostToolBatch));
        assert!(spool_first(&HookEventName::Stop));
        assert!(!spool_first(&HookEventName::PreToolUse));
        assert!(!spool_first(&HookEventName::PermissionRequest));
        assert!(!spool_first(&HookEventName::SessionStart));
        assert!(!spool_first(&HookEventName::SessionEnd));
    }

    #[test]
    fn budgets() {
        let cfg = Config::load_with(&|k| match k {
            "MAESTRO_HOOK_CONFIG" => Some("/nonexistent/x.env".into()),
            _ => None,
        });
        assert_eq!(
            budget(&cfg, &HookEventName::PostToolUse),
            (Duration::from_millis(1000), None)
        );
        assert_eq!(
            budget(&cfg, &HookEventName::PreToolUse),
            (Duration::from_secs(110), Some(110_000))
        );
        assert_eq!(
            budget(&cfg, &HookEventName::PermissionRequest),
            (Duration::from_secs(590), Some(590_000))
        );
    }
}
