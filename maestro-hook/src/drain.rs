//! Delivering the spool: the single detached background drainer and the foreground `flush`.
//!
//! Two locks in the spool dir keep this simple:
//! - `.drainer.lock` is held by the background drainer for its whole life, so there is at
//!   most one; a hook starts a new one only when it can take this lock itself.
//! - `.deliver.lock` is held while files are delivered (by the drainer during a pass, by
//!   `flush` while it runs), so two deliverers never interleave and order is kept. The
//!   drainer does not hold it while it sleeps between retries, so `flush` never waits long.
//!
//! Files go out oldest first. 2xx (also `duplicate: true`) deletes the file; 400/401/413/422
//! and unreadable files are moved to quarantine with a reason; anything else stops the pass
//! and is retried with exponential backoff and jitter (`backon`) until the spool is empty or
//! nothing could be delivered for `MAESTRO_DRAIN_GIVE_UP_SECS`.

use crate::config::Config;
use crate::log;
use crate::send::{SendOutcome, Sender};
use crate::spool::{self, DELIVER_LOCK, DRAINER_LOCK};
use backon::{BlockingRetryable, ExponentialBuilder};
use maestro_shared::{Envelope, HookEventName};
use std::cell::Cell;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What a drain did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    /// Files delivered (2xx).
    pub delivered: usize,
    /// Of those, how many the server already had (`duplicate: true`).
    pub duplicates: usize,
    /// Files moved to quarantine, with the reason.
    pub quarantined: Vec<(String, String)>,
    /// Why the last attempt failed, if the spool is not empty.
    pub last_error: Option<String>,
    /// Files that could be neither read nor moved to quarantine (left in place, skipped so
    /// that the files behind them are still delivered), with the reason.
    pub stuck: Vec<(String, String)>,
    /// Spool files this drain fsynced (hooks write them without fsync; a file that cannot be
    /// delivered at once is made durable by the drain, once).
    pub synced: std::collections::HashSet<std::path::PathBuf>,
}

impl Report {
    fn progress(&self) -> usize {
        self.delivered + self.quarantined.len()
    }
}

/// Why a pass stopped early.
#[derive(Debug, Clone)]
pub struct PassError {
    /// What went wrong.
    pub message: String,
    /// True when waiting cannot help (no token, spool dir unusable).
    pub fatal: bool,
}

/// One pass: under the delivery lock, delivers the spool oldest first until it is empty
/// (`Ok`) or an attempt fails in a way a retry may fix (`Err`).
pub fn pass(cfg: &Config, sender: &Sender, report: &mut Report) -> Result<(), PassError> {
    if cfg.token.is_none() {
        return Err(PassError {
            message: format!("no ingest token: {}", cfg.token_source),
            fatal: true,
        });
    }
    let fatal = |message: String| PassError {
        message,
        fatal: true,
    };
    if !cfg.spool_dir.is_dir() {
        // Nothing spooled (or the dir was removed): do not recreate it for a lock file.
        return Ok(());
    }
    let _deliver = spool::lock(&cfg.spool_dir, DELIVER_LOCK).map_err(|e| fatal(e.to_string()))?;
    // Files that can be neither read nor quarantined: skipped for the rest of this pass.
    let mut skipped = std::collections::HashSet::new();
    loop {
        let files: Vec<_> = spool::list(&cfg.spool_dir)
            .map_err(|e| fatal(e.to_string()))?
            .into_iter()
            .filter(|f| !skipped.contains(f))
            .collect();
        if files.is_empty() {
            report_losses(cfg, sender);
            return Ok(());
        }
        let listed = files.clone();
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    // One unreadable file never blocks the ones behind it.
                    let reason = format!("unreadable spool file: {e}");
                    if quarantine(cfg, &file, &name, &reason, report).is_err() {
                        log::append(
                            &cfg.log_file,
                            &format!("cannot read or quarantine {name}: {e}; skipped"),
                        );
                        report.stuck.push((name, reason));
                        skipped.insert(file);
                    }
                    continue;
                }
            };
            let event = match serde_json::from_slice::<Envelope>(&bytes) {
                Ok(env) => env.event,
                Err(e) => {
                    let reason = format!("corrupt spool file (not a v1 envelope): {e}");
                    quarantine(cfg, &file, &name, &reason, report)?;
                    continue;
                }
            };
            // A replayed decision event: its answer is long past, so the server must not
            // hold it for an operator.
            let wait = HookEventName::parse(&event).is_decision().then_some(0);
            match sender.post(&bytes, wait) {
                SendOutcome::Delivered(resp) => {
                    report.delivered += 1;
                    if resp.is_some_and(|r| r.duplicate) {
                        report.duplicates += 1;
                    }
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(fatal(format!("removing {}: {e}", file.display()))),
                    }
                }
                SendOutcome::Reject { status, body } => {
                    let reason = crate::send::reject_reason(status, &body);
                    quarantine(cfg, &file, &name, &reason, report)?;
                }
                SendOutcome::Retry(why) => {
                    // Not deliverable now: make what the hooks spooled durable meanwhile.
                    spool::sync_files(&cfg.spool_dir, &listed, &mut report.synced);
                    return Err(PassError {
                        message: why,
                        fatal: false,
                    });
                }
            }
        }
    }
}

/// Tells the server about events lost since the last report (the spool is empty and the
/// server reachable now); forgets them once it answered 2xx.
fn report_losses(cfg: &Config, sender: &Sender) {
    let Some(loss) = crate::loss::read(&cfg.spool_dir).filter(|l| l.count > 0) else {
        return;
    };
    let envelope = crate::loss::report_envelope(&loss);
    let Ok(body) = serde_json::to_vec(&envelope) else {
        return;
    };
    if let SendOutcome::Delivered(_) = sender.post(&body, None) {
        if let Err(e) = crate::loss::reported(&cfg.spool_dir, loss.count) {
            log::append(
                &cfg.log_file,
                &format!("cannot update the loss record: {e}"),
            );
        }
        log::append(
            &cfg.log_file,
            &format!("reported {} lost event(s) to the server", loss.count),
        );
    }
}

fn quarantine(
    cfg: &Config,
    file: &Path,
    name: &str,
    reason: &str,
    report: &mut Report,
) -> Result<(), PassError> {
    spool::quarantine(file, &cfg.quarantine_dir(), reason).map_err(|e| PassError {
        message: e.to_string(),
        fatal: true,
    })?;
    log::append(&cfg.log_file, &format!("quarantined {name}: {reason}"));
    report
        .quarantined
        .push((name.to_string(), reason.to_string()));
    Ok(())
}

/// Delivers with backoff until the spool is empty (`Ok`) or no progress was made for
/// `give_up` (`Err` with the last error). Progress resets the backoff.
pub fn drain_with_backoff(
    cfg: &Config,
    sender: &Sender,
    give_up: Duration,
    max_delay: Duration,
    report: &mut Report,
) -> Result<(), PassError> {
    loop {
        let progressed = Cell::new(false);
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(max_delay)
            .with_factor(2.0)
            .without_max_times()
            .with_total_delay(Some(give_up));
        let result = (|| {
            let before = report.progress();
            let r = pass(cfg, sender, report);
            if report.progress() > before {
                progressed.set(true);
            }
            r
        })
        .retry(backoff)
        .sleep(std::thread::sleep)
        .when(|e: &PassError| !e.fatal && !progressed.get())
        .notify(|e: &PassError, d: Duration| {
            log::append(
                &cfg.log_file,
                &format!("drain: {}; retrying in {d:?}", e.message),
            )
        })
        .call();
        match result {
            Ok(()) => return Ok(()),
            Err(e) if progressed.get() && !e.fatal => continue,
            Err(e) => {
                report.last_error = Some(e.message.clone());
                return Err(e);
            }
        }
    }
}

/// The hidden `drain` subcommand: the detached background drainer. Once the spool is empty it
/// waits (`MAESTRO_DRAIN_LINGER_SECS`) for the next spooled event instead of exiting, so that a
/// session's events do not each start a drainer.
pub fn run_background(cfg: &Config) {
    let mut report = Report::default();
    loop {
        let guard = match spool::try_lock(&cfg.spool_dir, DRAINER_LOCK) {
            Ok(Some(g)) => g,
            Ok(None) => return, // another drainer is running
            Err(e) => {
                log::append(&cfg.log_file, &format!("drainer: {e}"));
                return;
            }
        };
        // Watch before the first listing, so that no file renamed in after it is missed.
        let mut watch = match crate::watch::SpoolWatch::new(&cfg.spool_dir) {
            Ok(w) => Some(w),
            Err(e) => {
                log::append(
                    &cfg.log_file,
                    &format!("drainer: cannot watch the spool ({e}); not lingering"),
                );
                None
            }
        };
        spool::clean_stale_temp(&cfg.spool_dir);
        let mut current = cfg.clone();
        let mut sender = Sender::new(&current, current.drain_timeout);
        let result = loop {
            if watch.as_mut().and_then(|w| w.clear()).is_some() {
                watch = None; // the dir went away
            }
            let r = drain_with_backoff(
                &current,
                &sender,
                current.drain_give_up,
                Duration::from_secs(2),
                &mut report,
            );
            if r.is_err() {
                break r;
            }
            match watch.as_mut().map(|w| w.wait(current.drain_linger)) {
                Some(crate::watch::Woke::Arrived) => {
                    // The config file may have changed while we waited (`login`).
                    let fresh = Config::load();
                    if fresh.url != current.url || fresh.token != current.token {
                        sender = Sender::new(&fresh, fresh.drain_timeout);
                        current = fresh;
                    }
                }
                _ => break r,
            }
        };
        drop(guard);
        match result {
            Ok(()) => {
                // A hook may have spooled a file after our last listing but while we still
                // held the lock (so it did not start a drainer): look once more.
                if spool::has_entries(&cfg.spool_dir) {
                    continue;
                }
                if report.progress() > 0 {
                    log::append(
                        &cfg.log_file,
                        &format!(
                            "drainer: spool empty; delivered {}, quarantined {}",
                            report.delivered,
                            report.quarantined.len()
                        ),
                    );
                }
                return;
            }
            Err(e) => {
                log::append(
                    &cfg.log_file,
                    &format!(
                        "drainer: giving up for now ({}); delivered {}, the next hook call restarts it",
                        e.message, report.delivered
                    ),
                );
                return;
            }
        }
    }
}

/// Starts the background drainer unless one is running. Never waits for it: the child is
/// in its own session, with stdio on /dev/null (Claude Code waits for EOF on the hook's
/// pipes, so the drainer must not inherit them).
pub fn ensure_drainer(cfg: &Config) {
    match spool::try_lock(&cfg.spool_dir, DRAINER_LOCK) {
        Ok(Some(probe)) => drop(probe),
        Ok(None) => return,
        Err(e) => {
            log::problem(&cfg.log_file, &format!("cannot start the drainer: {e}"));
            return;
        }
    }
    if let Err(e) = spawn_detached() {
        log::problem(&cfg.log_file, &format!("cannot start the drainer: {e}"));
    }
}

fn spawn_detached() -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("drain")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    // The child is not waited for: the hook exits right away and init reaps it.
    cmd.spawn().map(drop)
}

/// The `flush` subcommand: delivers the spool in the foreground and prints what it did.
/// Returns the process exit code (0 when the spool is empty at the end).
pub fn run_flush(cfg: &Config, requeue: bool, timeout: Duration) -> i32 {
    if requeue {
        match spool::requeue(&cfg.quarantine_dir(), &cfg.spool_dir) {
            Ok(n) => println!("requeued {n} quarantined event(s)"),
            Err(e) => {
                eprintln!("maestro-hook flush: {e}");
                return 1;
            }
        }
    }
    let before = spool::stats(&cfg.spool_dir).unwrap_or_default();
    println!(
        "spool {}: {} event(s), {} bytes",
        cfg.spool_dir.display(),
        before.count,
        before.bytes
    );
    let sender = Sender::new(
        cfg,
        cfg.drain_timeout.min(timeout.max(Duration::from_millis(1))),
    );
    let mut report = Report::default();
    let result = drain_with_backoff(cfg, &sender, timeout, Duration::from_secs(1), &mut report);
    let after = spool::stats(&cfg.spool_dir).unwrap_or_default();
    println!(
        "delivered {} ({} already on the server), quarantined {}, remaining {}",
        report.delivered,
        report.duplicates,
        report.quarantined.len(),
        after.count
    );
    for (name, reason) in &report.quarantined {
        println!("quarantined {name}: {reason}");
    }
    for (name, reason) in &report.stuck {
        println!("skipped {name}: {reason} (could not be moved to quarantine either)");
    }
    if let Err(e) = &result {
        println!("stopped: {}", e.message);
    }
    if after.count == 0 {
        0
    } else {
        1
    }
}
