//! `status`: server reachability, token source, spool and quarantine, installed events.

use crate::config::Config;
use crate::install::{self, Scope};
use crate::send::Sender;
use crate::spool::{self, DRAINER_LOCK};
use std::path::Path;
use std::time::Duration;

/// Prints the status report. Returns the exit code (0, or 1 when the server is unreachable).
pub fn run(cfg: &Config, project_dir: &Path, home: &Path) -> i32 {
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
    println!("server: {} (from {origin})", cfg.url);
    let sender = Sender::new(cfg, cfg.timeout.max(Duration::from_secs(2)));
    let reachable = match sender.get(&format!("{}/healthz", cfg.url)) {
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
    println!("token: {}", cfg.token_source);

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
    let running = spool::is_locked(&cfg.spool_dir, DRAINER_LOCK);
    println!(
        "  drainer: {}",
        if running { "running" } else { "not running" }
    );
    println!("  log: {}", cfg.log_file.display());

    println!("installed:");
    let total = install::installed_events().count();
    for scope in Scope::ALL {
        let path = scope.settings_path(project_dir, home);
        let line = match install::read_settings(&path) {
            Ok((v, None)) if v == serde_json::json!({}) => "no file".to_string(),
            Ok((v, _)) => {
                let found = install::installed_in(&v);
                if found.is_empty() {
                    "not installed".to_string()
                } else {
                    let mut cmds: Vec<String> =
                        found.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
                    cmds.sort();
                    cmds.dedup();
                    let missing: Vec<&str> = install::installed_events()
                        .map(|e| e.as_str())
                        .filter(|e| !found.iter().any(|(k, _)| k == e))
                        .collect();
                    let mut s = format!("{}/{total} events via {}", found.len(), cmds.join(", "));
                    for c in &cmds {
                        if !Path::new(c).exists() {
                            s.push_str(&format!(" (WARNING: {c} does not exist)"));
                        }
                    }
                    if !missing.is_empty() {
                        s.push_str(&format!("; missing: {}", missing.join(", ")));
                    }
                    s
                }
            }
            Err(e) => e,
        };
        println!("  {:<7} {}: {line}", scope.as_str(), path.display());
    }
    if reachable {
        0
    } else {
        1
    }
}
