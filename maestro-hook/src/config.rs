//! Configuration: environment first, then the optional config file, then built-in defaults.
//!
//! The config file uses the same keys as the environment, one `KEY=VALUE` a line (`#` starts
//! a comment, blank lines are ignored, values may be wrapped in single or double quotes). Its
//! path is `MAESTRO_HOOK_CONFIG`, or `config.env` in the per-user config dir of `maestro-hook`
//! (`~/.config/maestro-hook/config.env` on Linux).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default server URL.
pub use maestro_shared::wire::DEFAULT_URL;
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 500;
/// Default total time an observe-only event may spend talking to the server.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
/// Default wait for a PreToolUse decision (install writes a 120 s hook timeout).
pub const DEFAULT_PRE_TOOL_USE_WAIT_MS: u64 = 110_000;
/// Default wait for a PermissionRequest decision (install writes a 600 s hook timeout).
pub const DEFAULT_PERMISSION_REQUEST_WAIT_MS: u64 = 590_000;
/// Default per-request timeout of the drainer.
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 10_000;
/// Default time the drainer keeps retrying without any progress before it exits.
pub const DEFAULT_DRAIN_GIVE_UP_SECS: u64 = 600;
/// Default time an idle drainer waits for the next spooled event before it exits.
pub const DEFAULT_DRAIN_LINGER_SECS: u64 = 60;

/// How an observe-only event reaches the server (`MAESTRO_HOOK_DELIVERY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `spool` (the default): the hook writes the event to the spool (page cache, no fsync)
    /// and exits; the detached drainer forwards it (and fsyncs what it cannot deliver).
    Spool,
    /// `direct`: the hook POSTs the event itself and spools it only when that fails.
    Direct,
}

impl Delivery {
    /// Parses `spool` or `direct`.
    pub fn parse(s: &str) -> Option<Delivery> {
        match s.trim() {
            "spool" => Some(Delivery::Spool),
            "direct" => Some(Delivery::Direct),
            _ => None,
        }
    }
}

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The process environment.
    Env,
    /// The config file.
    File(PathBuf),
    /// The built-in default.
    Default,
}

/// Where the ingest token came from (shown by `status`; the token itself is never printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `MAESTRO_TOKEN` in the environment or the config file.
    Value(Origin),
    /// A token file (`MAESTRO_TOKEN_FILE`, or `ingest.token` in the server's data dir).
    File(PathBuf),
    /// No token could be found; the listed files were tried.
    Missing(Vec<PathBuf>),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Value(Origin::Env) => f.write_str("MAESTRO_TOKEN (environment)"),
            TokenSource::Value(Origin::File(p)) => {
                write!(f, "MAESTRO_TOKEN in config file {}", p.display())
            }
            TokenSource::Value(Origin::Default) => f.write_str("default"),
            TokenSource::File(p) => write!(f, "token file {}", p.display()),
            TokenSource::Missing(tried) => {
                f.write_str("none found (tried MAESTRO_TOKEN")?;
                for p in tried {
                    write!(f, ", {}", p.display())?;
                }
                f.write_str(")")
            }
        }
    }
}

/// The hook's effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server base URL, without a trailing slash; several replicas as a comma-separated list
    /// (`MAESTRO_URL=https://a:8420,https://b:8420`), tried in turn (see [`Config::servers`]).
    pub url: String,
    /// Where `url` came from.
    pub url_origin: Origin,
    /// The ingest token, when one was found.
    pub token: Option<String>,
    /// Where the token came from.
    pub token_source: TokenSource,
    /// Spool directory (one file per undelivered event).
    pub spool_dir: PathBuf,
    /// Local log file for problems.
    pub log_file: PathBuf,
    /// The server's data dir (protected by the local policy; default token location).
    pub server_data_dir: Option<PathBuf>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Total time for one observe-only event.
    pub timeout: Duration,
    /// Total wait for a PreToolUse decision (sent as `X-Maestro-Wait-Ms`).
    pub pre_tool_use_wait: Duration,
    /// Total wait for a PermissionRequest decision (sent as `X-Maestro-Wait-Ms`).
    pub permission_request_wait: Duration,
    /// Per-request timeout of the drainer.
    pub drain_timeout: Duration,
    /// The drainer exits after this long without progress.
    pub drain_give_up: Duration,
    /// An idle drainer (spool empty) waits this long for the next event before it exits.
    pub drain_linger: Duration,
    /// How observe-only events reach the server.
    pub delivery: Delivery,
    /// Cap for one string field of a payload, in bytes.
    pub max_string_bytes: usize,
    /// `MAESTRO_CA_FILE`: PEM CA certificates to verify an `https://` server with.
    pub ca_file: Option<PathBuf>,
    /// `MAESTRO_TLS_FINGERPRINT`: the SHA-256 of the server's certificate, pinned.
    pub tls_fingerprint: Option<String>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Problems found while reading the configuration (bad numbers, unreadable file).
    pub warnings: Vec<String>,
}

/// Looks a key up: environment, then config file.
struct Lookup<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file: HashMap<String, String>,
    file_path: Option<PathBuf>,
}

impl Lookup<'_> {
    fn get(&self, key: &str) -> Option<(String, Origin)> {
        if let Some(v) = (self.env)(key).filter(|v| !v.is_empty()) {
            return Some((v, Origin::Env));
        }
        let v = self.file.get(key).filter(|v| !v.is_empty())?;
        let origin = self
            .file_path
            .clone()
            .map(Origin::File)
            .unwrap_or(Origin::Default);
        Some((v.clone(), origin))
    }

    fn value(&self, key: &str) -> Option<String> {
        self.get(key).map(|(v, _)| v)
    }
}

/// The per-user dirs of `maestro-hook` (config and data).
pub fn hook_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "maestro-hook")
}

/// The server's default data dir (`~/.local/share/maestro` on Linux).
pub fn default_server_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", maestro_shared::wire::DATA_DIR_APP)
        .map(|d| d.data_dir().to_path_buf())
}

/// The config file path: `MAESTRO_HOOK_CONFIG` or `<config dir>/config.env`.
pub fn config_file_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = env("MAESTRO_HOOK_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    hook_dirs().map(|d| d.config_dir().join("config.env"))
}

/// Parses `KEY=VALUE` lines.
pub fn parse_config_text(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .unwrap_or(v);
        map.insert(k.trim().to_string(), v.to_string());
    }
    map
}

impl Config {
    /// Loads the configuration from the process environment and the config file.
    pub fn load() -> Config {
        Self::load_with(&|k| std::env::var(k).ok())
    }

    /// Loads the configuration with `env` standing in for the process environment.
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Config {
        let mut warnings = Vec::new();
        let file_path = config_file_path(env);
        let mut read_path = None;
        let mut file = HashMap::new();
        if let Some(p) = &file_path {
            match std::fs::read_to_string(p) {
                Ok(text) => {
                    file = parse_config_text(&text);
                    read_path = Some(p.clone());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warnings.push(format!("config file {}: {e}", p.display())),
            }
        }
        let lookup = Lookup {
            env,
            file,
            file_path: read_path.clone(),
        };

        let (url, url_origin) = lookup
            .get("MAESTRO_URL")
            .unwrap_or_else(|| (DEFAULT_URL.to_string(), Origin::Default));
        let url = normalize_urls(&url);

        let server_data_dir = lookup
            .value("MAESTRO_DATA_DIR")
            .map(PathBuf::from)
            .or_else(default_server_data_dir);
        let (token, token_source) = find_token(&lookup, server_data_dir.as_deref());

        // Absolute, because the detached drainer runs in `/`.
        let spool_dir = lookup
            .value("MAESTRO_SPOOL_DIR")
            .map(absolute)
            .or_else(|| hook_dirs().map(|d| d.data_local_dir().join("spool")))
            .unwrap_or_else(|| std::env::temp_dir().join("maestro-hook-spool"));
        let log_file = lookup
            .value("MAESTRO_HOOK_LOG")
            .map(absolute)
            .unwrap_or_else(|| spool_dir.join("hook.log"));

        let mut num = |key: &str, default: u64| -> u64 {
            match lookup.value(key) {
                None => default,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) => n,
                    Err(_) => {
                        warnings.push(format!("{key}={v:?} is not a number; using {default}"));
                        default
                    }
                },
            }
        };
        let ms = |n: u64| Duration::from_millis(n);
        let connect_timeout = ms(num(
            "MAESTRO_CONNECT_TIMEOUT_MS",
            DEFAULT_CONNECT_TIMEOUT_MS,
        ));
        let timeout = ms(num("MAESTRO_TIMEOUT_MS", DEFAULT_TIMEOUT_MS).max(1));
        let pre_tool_use_wait =
            ms(num("MAESTRO_PRE_TOOL_USE_WAIT_MS", DEFAULT_PRE_TOOL_USE_WAIT_MS).max(1));
        let permission_request_wait = ms(num(
            "MAESTRO_PERMISSION_REQUEST_WAIT_MS",
            DEFAULT_PERMISSION_REQUEST_WAIT_MS,
        )
        .max(1));
        let drain_timeout = ms(num("MAESTRO_DRAIN_TIMEOUT_MS", DEFAULT_DRAIN_TIMEOUT_MS).max(1));
        let drain_give_up = Duration::from_secs(num(
            "MAESTRO_DRAIN_GIVE_UP_SECS",
            DEFAULT_DRAIN_GIVE_UP_SECS,
        ));
        let drain_linger =
            Duration::from_secs(num("MAESTRO_DRAIN_LINGER_SECS", DEFAULT_DRAIN_LINGER_SECS));
        let max_string_bytes = num(
            "MAESTRO_MAX_STRING_BYTES",
            maestro_shared::envelope::DEFAULT_STRING_CAP as u64,
        )
        .max(1) as usize;

        let delivery = match lookup.value("MAESTRO_HOOK_DELIVERY") {
            None => Delivery::Spool,
            Some(v) => Delivery::parse(&v).unwrap_or_else(|| {
                warnings.push(format!(
                    "MAESTRO_HOOK_DELIVERY={v:?} is neither spool nor direct; using spool"
                ));
                Delivery::Spool
            }),
        };
        let ca_file = lookup.value("MAESTRO_CA_FILE").map(absolute);
        let tls_fingerprint = lookup.value("MAESTRO_TLS_FINGERPRINT");
        Config {
            ca_file,
            tls_fingerprint,
            url,
            url_origin,
            token,
            token_source,
            spool_dir,
            log_file,
            server_data_dir,
            connect_timeout,
            timeout,
            pre_tool_use_wait,
            permission_request_wait,
            drain_timeout,
            drain_give_up,
            drain_linger,
            delivery,
            max_string_bytes,
            config_file: read_path,
            warnings,
        }
    }

    /// The servers, in the order written (one unless `MAESTRO_URL` lists replicas).
    pub fn servers(&self) -> Vec<&str> {
        self.url.split(',').filter(|u| !u.is_empty()).collect()
    }

    /// How an `https://` server is verified: a pinned fingerprint wins over a CA file, which
    /// wins over the public CAs. An unparseable fingerprint is an error (never "no check").
    #[cfg(feature = "tls")]
    pub fn verification(&self) -> Result<crate::tls::Verification, String> {
        use crate::tls::{parse_fingerprint, Verification};
        if let Some(fp) = &self.tls_fingerprint {
            return parse_fingerprint(fp)
                .map(Verification::Pinned)
                .map_err(|e| format!("MAESTRO_TLS_FINGERPRINT: {e}"));
        }
        Ok(match &self.ca_file {
            Some(p) => Verification::CaFile(p.clone()),
            None => Verification::PublicRoots,
        })
    }

    /// The quarantine dir (inside the spool dir).
    pub fn quarantine_dir(&self) -> PathBuf {
        self.spool_dir.join("quarantine")
    }
}

/// `p` made absolute against the current dir (unchanged when that is unknown).
fn absolute(p: String) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
}

fn find_token(lookup: &Lookup<'_>, data_dir: Option<&Path>) -> (Option<String>, TokenSource) {
    if let Some((v, origin)) = lookup.get("MAESTRO_TOKEN") {
        let v = v.trim().to_string();
        if !v.is_empty() {
            return (Some(v), TokenSource::Value(origin));
        }
    }
    let mut tried = Vec::new();
    let explicit = lookup.value("MAESTRO_TOKEN_FILE").map(PathBuf::from);
    let candidates = explicit
        .into_iter()
        .chain(data_dir.map(|d| d.join("ingest.token")));
    for path in candidates {
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                return (Some(text.trim().to_string()), TokenSource::File(path));
            }
            _ => tried.push(path),
        }
    }
    (None, TokenSource::Missing(tried))
}

/// `a/, b` → `a,b`: each server without spaces or trailing slashes, empty entries dropped;
/// nothing left is the default server.
fn normalize_urls(list: &str) -> String {
    let urls: Vec<&str> = list
        .split(',')
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        DEFAULT_URL.to_string()
    } else {
        urls.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn parses_config_lines() {
        let m = parse_config_text(
            "# comment\n\nMAESTRO_URL = \"http://x:1\"\nexport MAESTRO_TOKEN='abc'\nbad line\nMAESTRO_TIMEOUT_MS=5\n",
        );
        assert_eq!(m["MAESTRO_URL"], "http://x:1");
        assert_eq!(m["MAESTRO_TOKEN"], "abc");
        assert_eq!(m["MAESTRO_TIMEOUT_MS"], "5");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn env_beats_file_beats_default() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg_path = dir.path().join("c.env");
        std::fs::write(
            &cfg_path,
            "MAESTRO_URL=http://file:1/\nMAESTRO_TOKEN=filetok\nMAESTRO_TIMEOUT_MS=250\n",
        )
        .expect("write");
        let cfg_s = cfg_path.to_string_lossy().to_string();
        let spool = dir.path().join("spool").to_string_lossy().to_string();
        let env = env_of(&[
            ("MAESTRO_HOOK_CONFIG", &cfg_s),
            ("MAESTRO_SPOOL_DIR", &spool),
            ("MAESTRO_TOKEN", "envtok"),
        ]);
        let c = Config::load_with(&env);
        assert_eq!(c.url, "http://file:1");
        assert_eq!(c.url_origin, Origin::File(cfg_path.clone()));
        assert_eq!(c.token.as_deref(), Some("envtok"));
        assert_eq!(c.token_source, TokenSource::Value(Origin::Env));
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(
            c.pre_tool_use_wait,
            Duration::from_millis(DEFAULT_PRE_TOOL_USE_WAIT_MS)
        );
        assert_eq!(c.log_file, dir.path().join("spool").join("hook.log"));
        assert_eq!(c.config_file, Some(cfg_path));
    }

    #[test]
    fn token_falls_back_to_data_dir_file_and_bad_numbers_warn() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("ingest.token"), "  tok123\n").expect("write");
        let data = dir.path().to_string_lossy().to_string();
        let env = env_of(&[
            ("MAESTRO_HOOK_CONFIG", "/nonexistent/maestro-hook.env"),
            ("MAESTRO_DATA_DIR", &data),
            ("MAESTRO_TIMEOUT_MS", "soon"),
            ("MAESTRO_SPOOL_DIR", "relative/spool"),
        ]);
        let c = Config::load_with(&env);
        assert_eq!(c.token.as_deref(), Some("tok123"));
        assert_eq!(
            c.token_source,
            TokenSource::File(dir.path().join("ingest.token"))
        );
        assert_eq!(c.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(c.warnings.len(), 1);
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(c.servers(), vec![DEFAULT_URL]);
        assert!(c.spool_dir.is_absolute());
    }

    #[test]
    fn delivery_defaults_to_spool_and_warns_on_nonsense() {
        let base = [("MAESTRO_HOOK_CONFIG", "/nonexistent/x.env")];
        let c = Config::load_with(&env_of(&base));
        assert_eq!(c.delivery, Delivery::Spool);
        assert_eq!(
            c.drain_linger,
            Duration::from_secs(DEFAULT_DRAIN_LINGER_SECS)
        );
        let direct = Config::load_with(&env_of(&[
            base[0],
            ("MAESTRO_HOOK_DELIVERY", "direct"),
            ("MAESTRO_DRAIN_LINGER_SECS", "0"),
        ]));
        assert_eq!(direct.delivery, Delivery::Direct);
        assert_eq!(direct.drain_linger, Duration::ZERO);
        let bad = Config::load_with(&env_of(&[base[0], ("MAESTRO_HOOK_DELIVERY", "fast")]));
        assert_eq!(bad.delivery, Delivery::Spool);
        assert!(
            bad.warnings[0].contains("MAESTRO_HOOK_DELIVERY"),
            "{:?}",
            bad.warnings
        );
    }

    #[test]
    fn missing_token_lists_what_was_tried() {
        let env = env_of(&[
            ("MAESTRO_HOOK_CONFIG", "/nonexistent/x.env"),
            ("MAESTRO_DATA_DIR", "/nonexistent/data"),
        ]);
        let c = Config::load_with(&env);
        assert!(c.token.is_none());
        assert!(c
            .token_source
            .to_string()
            .contains("/nonexistent/data/ingest.token"));
    }

    #[test]
    fn several_servers_are_listed_in_order() {
        assert_eq!(
            normalize_urls(" https://a:1/ , https://b:2,,"),
            "https://a:1,https://b:2"
        );
        assert_eq!(normalize_urls(" , "), DEFAULT_URL);
        let c = Config::load_with(&|k| match k {
            "MAESTRO_HOOK_CONFIG" => Some("/nonexistent/x.env".into()),
            "MAESTRO_URL" => Some("http://a:1/,http://b:2".into()),
            _ => None,
        });
        assert_eq!(c.servers(), vec!["http://a:1", "http://b:2"]);
    }
}
