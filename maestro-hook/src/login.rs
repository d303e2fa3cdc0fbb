//! `login`: enrols this machine with a server. It checks the URL and credential with an
//! authenticated request first (the webhook's `GET`), and only then writes them, with the TLS
//! settings, into the hook's config file (mode 0600). Also the credential check that `status`
//! shows.

use crate::config::{self, Config};
use crate::send::{self, Sender};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the server said about the configured credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Accepted: the local ingest token.
    Local,
    /// Accepted: the credential of this machine.
    Machine(String),
    /// This machine's credential was revoked (the server's message).
    Revoked(String),
    /// Refused (status, message).
    Rejected(u16, String),
    /// Another answer.
    Other(u16),
    /// No answer: unreachable, TLS verification failed, timeout.
    Failed(String),
}

impl Check {
    /// Whether the server accepts the credential.
    pub fn accepted(&self) -> bool {
        matches!(self, Check::Local | Check::Machine(_))
    }

    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            Check::Local => "accepted by the server (the local ingest token)".into(),
            Check::Machine(name) => format!("accepted by the server as machine {name}"),
            Check::Revoked(msg) => format!(
                "REVOKED: this machine's credential was revoked on the server; every event is kept in quarantine ({msg})"
            ),
            Check::Rejected(status, msg) => format!(
                "REJECTED by the server ({status}): every event would be quarantined; set MAESTRO_TOKEN to the server's ingest token or a machine credential ({msg})"
            ),
            Check::Other(status) => format!("not checked (server answered {status})"),
            Check::Failed(e) => format!("not checked ({e})"),
        }
    }
}

/// Asks the server about the configured credential (`None` without one).
pub fn check(sender: &Sender) -> Option<Check> {
    Some(match sender.check_token()? {
        Err(e) => Check::Failed(e),
        Ok((204, _)) => Check::Local,
        Ok((200, body)) => {
            let machine = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("machine")?.as_str().map(str::to_string));
            match machine {
                Some(m) => Check::Machine(m),
                None => Check::Local,
            }
        }
        Ok((status @ (401 | 403), body)) => {
            let msg = send::error_message(&body).unwrap_or_else(|| body.trim().to_string());
            if send::error_code(&body).as_deref() == Some(send::MACHINE_REVOKED) {
                Check::Revoked(msg)
            } else {
                Check::Rejected(status, msg)
            }
        }
        Ok((status, _)) => Check::Other(status),
    })
}

/// How `https://` is verified, for `status`.
pub fn tls_line(cfg: &Config) -> String {
    if !cfg.servers().iter().any(|u| u.starts_with("https://")) {
        return "none (plain http)".into();
    }
    #[cfg(feature = "tls")]
    {
        match cfg.verification() {
            Ok(v) => format!("verifies the server by {v}"),
            Err(e) => format!("MISCONFIGURED, every https request fails: {e}"),
        }
    }
    #[cfg(not(feature = "tls"))]
    {
        "NOT AVAILABLE: this maestro-hook was built without TLS (build with --features tls)".into()
    }
}

/// What `login` was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginArgs {
    /// Server URL.
    pub url: String,
    /// `--token` (else read from stdin).
    pub token: Option<String>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--fingerprint`.
    pub fingerprint: Option<String>,
}

/// `maestro-hook login`. Returns the exit code.
pub fn run(args: &LoginArgs) -> i32 {
    match login(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("maestro-hook login: {e}");
            1
        }
    }
}

fn login(args: &LoginArgs) -> Result<(), String> {
    let url = args.url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{url:?}: expected an http:// or https:// URL"));
    }
    let token = match &args.token {
        Some(t) => t.trim().to_string(),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("reading the credential from stdin: {e}"))?;
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or_default()
                .to_string()
        }
    };
    if token.is_empty() {
        return Err("no credential: pass --token TOKEN or write it on stdin".into());
    }
    let ca_file = match &args.ca_file {
        Some(p) => {
            Some(std::fs::canonicalize(p).map_err(|e| format!("--ca-file {}: {e}", p.display()))?)
        }
        None => None,
    };
    #[cfg(feature = "tls")]
    if let Some(fp) = &args.fingerprint {
        crate::tls::parse_fingerprint(fp).map_err(|e| format!("--fingerprint: {e}"))?;
    }
    let env = |k: &str| std::env::var(k).ok();
    let path = config::config_file_path(&env)
        .ok_or("cannot find a config dir for maestro-hook (is HOME set?)")?;

    // Check exactly what will be written.
    let mut candidate = Config::load();
    candidate.url = url.clone();
    candidate.token = Some(token.clone());
    candidate.ca_file = ca_file.clone();
    candidate.tls_fingerprint = args.fingerprint.clone();
    let sender = Sender::new(&candidate, Duration::from_secs(10));
    let check = check(&sender).unwrap_or_else(|| Check::Failed("no credential".into()));
    if !check.accepted() {
        return Err(format!("{url}: {}; nothing was written", check.describe()));
    }

    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let ca_text = ca_file.as_ref().map(|p| p.display().to_string());
    let new = with_keys(
        &old,
        &[
            ("MAESTRO_URL", Some(url.as_str())),
            ("MAESTRO_TOKEN", Some(token.as_str())),
            ("MAESTRO_CA_FILE", ca_text.as_deref()),
            ("MAESTRO_TLS_FINGERPRINT", args.fingerprint.as_deref()),
        ],
    );
    write_private(&path, &new)?;
    match &check {
        Check::Machine(name) => println!("logged in to {url} as machine {name}"),
        _ => println!("logged in to {url} with the local ingest token"),
    }
    println!("config written to {} (mode 0600)", path.display());
    println!("tls: {}", tls_line(&candidate));
    if url.starts_with("http://") && !is_loopback_url(&url) {
        println!("WARNING: plain http to another machine: the credential and every event cross the network in clear");
    }
    for key in [
        "MAESTRO_URL",
        "MAESTRO_TOKEN",
        "MAESTRO_CA_FILE",
        "MAESTRO_TLS_FINGERPRINT",
    ] {
        if env(key).is_some_and(|v| !v.is_empty()) {
            println!("note: {key} is set in this environment and overrides the config file");
        }
    }
    Ok(())
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or("");
    let host = rest.split('/').next().unwrap_or("");
    let host = match host.rfind(':') {
        Some(i) if !host.ends_with(']') => &host[..i],
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `old` with each key set to its value (the first line of the key replaced, later ones
/// dropped) or removed (`None`); other lines kept.
fn with_keys(old: &str, keys: &[(&str, Option<&str>)]) -> String {
    let key_of = |l: &str| -> Option<String> {
        let t = l.trim_start();
        let t = t.strip_prefix("export ").unwrap_or(t);
        if t.starts_with('#') {
            return None;
        }
        t.split_once('=').map(|(k, _)| k.trim().to_string())
    };
    let mut done: Vec<&str> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for l in old.lines() {
        match key_of(l).and_then(|k| keys.iter().find(|(name, _)| *name == k)) {
            Some((name, value)) => {
                if !done.contains(name) {
                    done.push(name);
                    if let Some(v) = value {
                        lines.push(format!("{name}={v}"));
                    }
                }
            }
            None => lines.push(l.to_string()),
        }
    }
    for (name, value) in keys {
        if let (false, Some(v)) = (done.contains(name), value) {
            lines.push(format!("{name}={v}"));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Writes `text` to `path` atomically with mode 0600 (parent dirs 0700).
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".config.env.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("writing {}: {e}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_set_replaced_and_removed_keeping_other_lines() {
        let old = "# mine\nMAESTRO_URL=http://old\nMAESTRO_TIMEOUT_MS=5\nexport MAESTRO_TOKEN=x\nMAESTRO_CA_FILE=/ca.pem\nMAESTRO_URL=http://dup\n";
        let new = with_keys(
            old,
            &[
                ("MAESTRO_URL", Some("https://h:1")),
                ("MAESTRO_TOKEN", Some("mch_1")),
                ("MAESTRO_CA_FILE", None),
                ("MAESTRO_TLS_FINGERPRINT", Some("AB")),
            ],
        );
        assert_eq!(
            new,
            "# mine\nMAESTRO_URL=https://h:1\nMAESTRO_TIMEOUT_MS=5\nMAESTRO_TOKEN=mch_1\nMAESTRO_TLS_FINGERPRINT=AB\n"
        );
        assert_eq!(
            with_keys("", &[("MAESTRO_URL", Some("http://a"))]),
            "MAESTRO_URL=http://a\n"
        );
    }

    #[test]
    fn loopback_urls() {
        assert!(is_loopback_url("http://127.0.0.2:8420"));
        assert!(is_loopback_url("http://localhost:1/x"));
        assert!(is_loopback_url("http://[::1]:9"));
        assert!(!is_loopback_url("http://10.0.0.1:8420"));
        assert!(!is_loopback_url("http://maestro.example"));
    }
}
