//! `status`: CLI version, server reachability, TLS verification, token source and what the
//! server says about it (machine name, revoked), spool and quarantine, the Claude Code found,
//! installed events (and whether they match that Claude Code).

use crate::claude::Choice;
use crate::config::Config;
use crate::install::{self, Scope};
use crate::send::Sender;
use crate::spool::{self, DRAINER_LOCK};
use maestro_shared::cli_versions::{self, ClaudeVersion, Support, NEWEST_KNOWN, OLDEST_SUPPORTED};
use maestro_shared::registration;
use maestro_shared::HookEventName;
use std::path::Path;
use std::time::Duration;

/// Prints the status report. Returns the exit code (0, or 1 when the server is unreachable or
/// does not accept the token).
pub fn run(cfg: &Config, project_dir: &Path, home: &Path, claude: &Choice) -> i32 {
    println!("maestro-hook {}", env!("CARGO_PKG_VERSION"));
    match &cfg.config_file {
        Some(p) => println!("config file: {}", p.display()),
        None => println!("config file: none"),
    }
    for w in &cfg.warnings {
        println!("config warning: {w}");
    }

    let origin = match &cfg.url_origin {
        crate::config::Origin::Env => "MAESTRO_URL".to_string(),
        crate::config::Origin::File(p) => format!("config file {}", p.display()),
        crate::config::Origin::Default => "default".to_string(),
    };
    let servers = cfg.servers();
    let sender = Sender::new(cfg, cfg.timeout.max(Duration::from_secs(2)));
    let mut reachable = false;
    for (i, server) in servers.iter().enumerate() {
        if servers.len() == 1 {
            println!("server: {server} (from {origin})");
        } else {
            println!(
                "server {} of {}: {server} (from {origin})",
                i + 1,
                servers.len()
            );
        }
        reachable |= match sender.get(&format!("{server}/healthz")) {
            Ok((status, body)) => {
                let health = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                    .unwrap_or_else(|| body.trim().chars().take(80).collect());
                println!("  reachable: yes (GET /healthz: {status} {health})");
                (200..300).contains(&status)
            }
            Err(e) => {
                println!("  reachable: no ({e})");
                false
            }
        };
    }
    println!("tls: {}", crate::login::tls_line(cfg));
    println!("token: {}", cfg.token_source);
    // A wrong token looks fine until every event lands in quarantine with a 401: ask.
    let check = crate::login::check(&sender);
    let token_ok = match &check {
        None => false,
        Some(c) => {
            println!("  {}", c.describe());
            c.accepted() || (matches!(c, crate::login::Check::Other(_)) && reachable)
        }
    };
    match &check {
        Some(crate::login::Check::Machine(name)) => {
            println!("machine: {name} (as verified by the server)")
        }
        Some(crate::login::Check::Local) => println!("machine: none (the local ingest token)"),
        Some(crate::login::Check::Revoked(_)) => {
            println!("machine: REVOKED (run `maestro-hook login` with a new credential)")
        }
        _ => println!("machine: unknown"),
    }

    println!("spool: {}", cfg.spool_dir.display());
    match spool::stats(&cfg.spool_dir) {
        Ok(st) => {
            let oldest = st
                .oldest
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                .unwrap_or_else(|| "-".into());
            println!(
                "  {} event(s), {} bytes, oldest {oldest}",
                st.count, st.bytes
            );
        }
        Err(e) => println!("  unreadable: {e}"),
    }
    let q = spool::stats(&cfg.quarantine_dir()).unwrap_or_default();
    println!(
        "  quarantine: {} event(s) in {}",
        q.count,
        cfg.quarantine_dir().display()
    );
    if let Some(loss) = crate::loss::read(&cfg.spool_dir).filter(|l| l.count > 0) {
        println!(
            "  LOST: {} event(s) could be neither delivered nor spooled (last: {}); reported to the server when it is reachable",
            loss.count, loss.reason
        );
    }
    let running = spool::is_locked(&cfg.spool_dir, DRAINER_LOCK);
    println!(
        "  drainer: {}",
        if running { "running" } else { "not running" }
    );
    println!("  log: {}", cfg.log_file.display());

    println!("{}", claude.describe());
    let version = claude.version();
    match (claude, version.support()) {
        (Choice::Unknown(_), _) => {}
        (_, Support::TooOld) => println!(
            "  WARNING: older than the oldest supported version {OLDEST_SUPPORTED} (supported: {OLDEST_SUPPORTED} - {NEWEST_KNOWN})"
        ),
        (_, Support::Newer) => println!(
            "  note: newer than the newest version this maestro-hook knows ({NEWEST_KNOWN})"
        ),
        (_, Support::Supported) => {}
    }

    println!("installed:");
    let total = install::installed_events(&version).count();
    for scope in Scope::ALL {
        let path = scope.settings_path(project_dir, home);
        let line = match install::read_settings(&path) {
            Ok((v, None)) if v == serde_json::json!({}) => "no file".to_string(),
            Ok((v, _)) => scope_report(&v, &version, total),
            Err(e) => e,
        };
        println!("  {:<7} {}: {line}", scope.as_str(), path.display());
    }
    if reachable && token_ok {
        0
    } else {
        1
    }
}

/// One scope's line: how many of the events `version` knows have our handler, with which
/// binary; a WARNING for entries `version` does not know (Claude Code shows a blocking
/// "Settings Warning" at every interactive start), a note for known events not registered.
fn scope_report(settings: &serde_json::Value, version: &ClaudeVersion, total: usize) -> String {
    let found = install::installed_in(settings);
    let mut s = if found.is_empty() {
        "not installed".to_string()
    } else {
        let mut cmds: Vec<String> = found.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
        cmds.sort();
        cmds.dedup();
        let registered = found
            .iter()
            .filter(|(k, _)| registration::is_registered(version, k))
            .count();
        let mut s = format!("{registered}/{total} events via {}", cmds.join(", "));
        for c in &cmds {
            if !Path::new(c).exists() {
                s.push_str(&format!(" (WARNING: {c} does not exist)"));
            }
        }
        let missing: Vec<&str> = install::installed_events(version)
            .map(|e| e.as_str())
            .filter(|e| !found.iter().any(|(k, _)| k == e))
            .collect();
        if !missing.is_empty() {
            s.push_str(&format!(
                "; note: not registered (Claude Code {version} knows them): {}",
                missing.join(", ")
            ));
        }
        s
    };
    let unknown = unknown_events(settings, version);
    if !unknown.is_empty() {
        s.push_str(&format!(
            "; WARNING: entries for events Claude Code {version} does not know: {} (every interactive start shows a \"Settings Warning\"; run `maestro-hook install` again)",
            unknown.join(", ")
        ));
    }
    s
}

/// Event keys of `settings.hooks` that Claude Code `version` does not know (ours or not).
pub fn unknown_events(settings: &serde_json::Value, version: &ClaudeVersion) -> Vec<String> {
    settings
        .get("hooks")
        .and_then(serde_json::Value::as_object)
        .map(|hooks| {
            hooks
                .keys()
                .filter(|k| !cli_versions::knows(version, &HookEventName::parse(k)))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn reports_entries_the_cli_does_not_know_and_events_not_registered() {
        let mut s = serde_json::json!({});
        install::merge(&mut s, "/x/maestro-hook", Path::new("x"), &NEWEST_KNOWN).expect("merge");
        let old = OLDEST_SUPPORTED;
        let line = scope_report(&s, &old, install::installed_events(&old).count());
        assert!(line.starts_with("28/28 events"), "{line}");
        assert!(line.contains("WARNING: entries for events Claude Code 2.1.197 does not know"));
        for e in [
            "DirectoryAdded",
            "PreModelSwitch",
            "PostModelSwitch",
            "PreSkillShellCommand",
        ] {
            assert!(line.contains(e), "{e}: {line}");
        }
        let mut s = serde_json::json!({});
        install::merge(&mut s, "/x/maestro-hook", Path::new("x"), &old).expect("merge");
        let line = scope_report(&s, &NEWEST_KNOWN, 32);
        assert!(line.starts_with("28/32 events"), "{line}");
        assert!(!line.contains("WARNING: entries"), "{line}");
        assert!(line.contains("note: not registered"), "{line}");
        let line = scope_report(&s, &old, 28);
        assert!(
            !line.contains("WARNING: entries") && !line.contains("note:"),
            "{line}"
        );
    }
}
