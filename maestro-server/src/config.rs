//! Server configuration: command-line flags, `MAESTRO_*` environment variables and an
//! optional TOML file, in that order of precedence (flag > env > file > default).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `maestro-server` command line.
#[derive(Debug, Parser)]
#[command(
    name = "maestro-server",
    version,
    about = "Observe and steer Claude Code sessions"
)]
pub struct Cli {
    /// Server options.
    #[command(flatten)]
    pub opts: ServerOpts,
    /// Subcommand (default: run the server).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands besides running the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Permission policy tools.
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: PolicyCommand,
    },
    /// Named operators: each has a login token of their own, and the audit names them.
    Operators {
        /// What to do.
        #[command(subcommand)]
        action: OperatorsCommand,
    },
    /// Machine credentials: each machine's hook gets its own revocable ingest credential.
    Machines {
        /// What to do.
        #[command(subcommand)]
        action: MachinesCommand,
    },
}

/// `maestro-server operators ...` (on the data dir's database; the server may be running).
#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Adds an operator and prints their login token (once: only its hash is stored).
    Add {
        /// Name (letters, digits, `.`, `_`, `-`, `@`).
        name: String,
    },
    /// Lists operators (never their tokens).
    List,
    /// Revokes an operator's token at once (their sessions in the UI end).
    Revoke {
        /// Name.
        name: String,
    },
}

/// `maestro-server machines ...` (works on the data dir's database, server running or not).
#[derive(Debug, Subcommand)]
pub enum MachinesCommand {
    /// Issues a credential for a new machine and prints it once (only its hash is kept).
    Add {
        /// The machine's name, shown on the board (letters, digits, '.', '_', '-').
        name: String,
    },
    /// Lists machines: name, created, last seen, events, status.
    List,
    /// Revokes a machine's credential: the server answers its hook 401 `machine_revoked`.
    Revoke {
        /// The machine's name.
        name: String,
    },
}

/// `maestro-server policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluates a hook payload file (PreToolUse / PermissionRequest JSON) against the
    /// effective policy and prints the decision and the rule.
    Check {
        /// Payload file (`-` for stdin).
        file: PathBuf,
        /// A per-task override file (TOML) to layer on the effective policy.
        #[arg(long)]
        task_policy: Option<PathBuf>,
    },
    /// Prints the effective rules in order.
    Show,
}

/// Flags shared by the server and its subcommands.
#[derive(Debug, Args, Default)]
pub struct ServerOpts {
    /// Address to bind (default 127.0.0.1:8420).
    #[arg(long, env = "MAESTRO_BIND")]
    pub bind: Option<SocketAddr>,
    /// Data directory (database, tokens, logs).
    #[arg(long, env = "MAESTRO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "MAESTRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "MAESTRO_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "MAESTRO_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made on first start and kept (0600) in the
    /// data dir; its SHA-256 fingerprint is printed for `maestro-hook login --fingerprint`.
    #[arg(long, env = "MAESTRO_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy only).
    #[arg(long, env = "MAESTRO_ALLOW_PLAIN_HTTP")]
    pub allow_plain_http: bool,
    /// Team mode: store everything in this PostgreSQL database (`postgres://user@host/db`)
    /// instead of the data dir's SQLite file; several replicas may share it.
    #[arg(
        long,
        env = "MAESTRO_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

/// How the server speaks to its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP.
    Off,
    /// HTTPS with the given PEM certificate chain and key.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// HTTPS with a self-signed certificate kept in the data dir.
    SelfSigned,
}

/// The optional TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Bind address.
    pub bind: Option<SocketAddr>,
    /// Data dir.
    pub data_dir: Option<PathBuf>,
    /// Ingest token (prefer the env var or the generated file).
    pub ingest_token: Option<String>,
    /// Operator token.
    pub operator_token: Option<String>,
    /// Webhook body limit in bytes.
    pub body_limit_bytes: Option<usize>,
    /// Idle threshold in seconds.
    pub idle_after_secs: Option<u64>,
    /// Stale threshold in seconds.
    pub stale_after_secs: Option<u64>,
    /// Health ticker period in milliseconds.
    pub health_tick_ms: Option<u64>,
    /// Longest time a held decision waits for an operator, in milliseconds.
    pub hold_timeout_ms: Option<u64>,
    /// Spend limit in USD of every task without its own (`budget_usd` on the task).
    pub default_budget_usd: Option<f64>,
    /// User policy file (TOML).
    pub policy_file: Option<PathBuf>,
    /// Command that starts Claude Code for spawned sessions.
    pub claude_command: Option<String>,
    /// Concurrent spawned sessions (more are queued).
    pub max_concurrent_sessions: Option<usize>,
    /// Raw events older than this many days are dropped (tasks, sessions, timelines and
    /// metrics are kept).
    pub retention_days: Option<u64>,
    /// Raw event payload bytes kept at most (oldest dropped first).
    pub retention_max_bytes: Option<u64>,
    /// `full` (default: the WAL is fsynced before an event is acknowledged, durable across
    /// power loss) or `normal` (no fsync on commit).
    pub sqlite_synchronous: Option<String>,
    /// Team mode: the PostgreSQL database (`postgres://...`; see `--database-url`).
    pub database_url: Option<String>,
    /// Allowed WebSocket origins besides the server's own.
    pub allowed_origins: Option<Vec<String>>,
    /// Host names (`Host` header, without the port) accepted besides `localhost`, `127.0.0.1`
    /// and `[::1]`, e.g. the name a reverse proxy forwards. On a loopback bind any other `Host`
    /// is refused (DNS rebinding).
    pub allowed_hosts: Option<Vec<String>>,
    /// Open connections served at once (default 1024, at most the open-file limit less a
    /// reserve); more wait in the kernel's accept queue.
    pub max_connections: Option<usize>,
    /// How long a connection may take to send a request's headers, and how long an idle
    /// keep-alive connection is kept, in milliseconds (default 10000).
    pub header_read_timeout_ms: Option<u64>,
    /// PEM certificate chain to serve HTTPS with (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made on first start.
    pub tls_self_signed: Option<bool>,
    /// Extra names (DNS names or IP addresses) for the self-signed certificate.
    pub tls_names: Option<Vec<String>>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    pub allow_plain_http: Option<bool>,
    /// The URL people open Maestro at (links in notifications).
    pub public_url: Option<String>,
    /// Outgoing notification destinations (`[[notify]]` tables).
    #[serde(default)]
    pub notify: Vec<crate::notify::Destination>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bind address.
    pub bind: SocketAddr,
    /// Data dir.
    pub data_dir: PathBuf,
    /// Ingest token (hooks).
    pub ingest_token: String,
    /// Operator token (UI and API).
    pub operator_token: String,
    /// Where each token came from, for the start-up message.
    pub token_sources: (String, String),
    /// Webhook body limit.
    pub body_limit_bytes: usize,
    /// Idle threshold.
    pub idle_after: Duration,
    /// Stale threshold.
    pub stale_after: Duration,
    /// Health ticker period.
    pub health_tick: Duration,
    /// Hold timeout.
    pub hold_timeout: Duration,
    /// Spend limit of tasks without their own.
    pub default_budget_usd: Option<f64>,
    /// User policy file.
    pub policy_file: Option<PathBuf>,
    /// Claude command for spawning.
    pub claude_command: String,
    /// Concurrent spawned sessions.
    pub max_concurrent_sessions: usize,
    /// Raw event age limit.
    pub retention: Option<Duration>,
    /// Raw event size limit.
    pub retention_max_bytes: Option<u64>,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// Acknowledge events only after the WAL is fsynced (`sqlite_synchronous = "full"`).
    pub sync_full: bool,
    /// Extra allowed WebSocket origins.
    pub allowed_origins: Vec<String>,
    /// Extra accepted `Host` names (see [`FileConfig::allowed_hosts`]).
    pub allowed_hosts: Vec<String>,
    /// Connections served at once (see [`FileConfig::max_connections`]).
    pub max_connections: usize,
    /// Header-read and keep-alive idle timeout (see [`FileConfig::header_read_timeout_ms`]).
    pub header_read_timeout: Duration,
    /// The URL people open Maestro at (notification links); default `http://<bind>`.
    pub public_url: String,
    /// Outgoing notification destinations.
    pub notify: std::sync::Arc<Vec<crate::notify::Destination>>,
    /// The TOML file read (`--config` / `MAESTRO_CONFIG`): it may hold both tokens, so the
    /// policy protects it like the token files.
    pub config_file: Option<PathBuf>,
    /// HTTPS or not.
    pub tls: TlsMode,
    /// Extra names for the self-signed certificate (`tls_names`).
    pub tls_names: Vec<String>,
    /// Plain HTTP on a non-loopback address was asked for explicitly.
    pub allow_plain_http: bool,
    /// Team mode: the PostgreSQL database; None: the data dir's SQLite file.
    pub database_url: Option<String>,
}

/// Default bind address.
pub use maestro_shared::wire::DEFAULT_BIND;
/// Default webhook body limit (8 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The default data dir (`~/.local/share/maestro` on Linux).
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", maestro_shared::wire::DATA_DIR_APP)
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".maestro"))
}

fn env_parse<T: std::str::FromStr>(key: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key}={v}: {e}")),
        _ => Ok(None),
    }
}

fn env_string(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// A comma-separated list from the environment (empty items dropped).
fn env_list(key: &str) -> Option<Vec<String>> {
    env_string(key).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

impl Config {
    /// Resolves the configuration and makes sure the data dir and tokens exist.
    pub fn load(opts: &ServerOpts) -> Result<Config> {
        let file: FileConfig = match &opts.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let bind = match opts.bind.or(file.bind) {
            Some(b) => b,
            None => DEFAULT_BIND.parse().context("default bind")?,
        };
        let data_dir = opts
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(default_data_dir);
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        restrict_dir(&data_dir);
        let (ingest_token, ingest_src) = resolve_token(
            "MAESTRO_INGEST_TOKEN",
            file.ingest_token.clone(),
            &data_dir.join("ingest.token"),
        )?;
        let (operator_token, operator_src) = resolve_token(
            "MAESTRO_OPERATOR_TOKEN",
            file.operator_token.clone(),
            &data_dir.join("operator.token"),
        )?;
        anyhow::ensure!(
            ingest_token != operator_token,
            "the ingest token and the operator token must differ (an agent holding the ingest token must not be able to approve)"
        );
        let tls_cert = opts.tls_cert.clone().or(file.tls_cert.clone());
        let tls_key = opts.tls_key.clone().or(file.tls_key.clone());
        let self_signed = opts.tls_self_signed || file.tls_self_signed.unwrap_or(false);
        let tls = match (tls_cert, tls_key, self_signed) {
            (Some(cert), Some(key), false) => TlsMode::Files { cert, key },
            (None, None, true) => TlsMode::SelfSigned,
            (None, None, false) => TlsMode::Off,
            (Some(_), Some(_), true) => anyhow::bail!(
                "choose either a certificate (--tls-cert/--tls-key) or --tls-self-signed, not both"
            ),
            _ => anyhow::bail!(
                "--tls-cert and --tls-key go together (a PEM certificate chain and its key)"
            ),
        };
        let secs = |env: &str, file: Option<u64>, default: u64| -> Result<Duration> {
            Ok(Duration::from_secs(
                env_parse::<u64>(env)?.or(file).unwrap_or(default),
            ))
        };
        let millis = |env: &str, file: Option<u64>, default: u64| -> Result<Duration> {
            Ok(Duration::from_millis(
                env_parse::<u64>(env)?.or(file).unwrap_or(default),
            ))
        };
        Ok(Config {
            bind,
            data_dir,
            ingest_token,
            operator_token,
            token_sources: (ingest_src, operator_src),
            body_limit_bytes: env_parse("MAESTRO_BODY_LIMIT_BYTES")?
                .or(file.body_limit_bytes)
                .unwrap_or(DEFAULT_BODY_LIMIT),
            idle_after: secs("MAESTRO_IDLE_AFTER_SECS", file.idle_after_secs, 300)?,
            stale_after: secs("MAESTRO_STALE_AFTER_SECS", file.stale_after_secs, 900)?,
            health_tick: millis("MAESTRO_HEALTH_TICK_MS", file.health_tick_ms, 5_000)?,
            hold_timeout: millis("MAESTRO_HOLD_TIMEOUT_MS", file.hold_timeout_ms, 100_000)?,
            default_budget_usd: {
                let v = env_parse::<f64>("MAESTRO_DEFAULT_BUDGET_USD")?.or(file.default_budget_usd);
                crate::store::budget::validate(v).map_err(|e| {
                    anyhow::anyhow!("default_budget_usd (MAESTRO_DEFAULT_BUDGET_USD): {e}")
                })?;
                v
            },
            policy_file: env_string("MAESTRO_POLICY_FILE")
                .map(PathBuf::from)
                .or(file.policy_file),
            claude_command: env_string("MAESTRO_CLAUDE_COMMAND")
                .or(file.claude_command)
                .unwrap_or_else(|| "claude".to_string()),
            max_concurrent_sessions: env_parse("MAESTRO_MAX_CONCURRENT_SESSIONS")?
                .or(file.max_concurrent_sessions)
                .unwrap_or(4)
                .max(1),
            retention: match env_parse::<u64>("MAESTRO_RETENTION_SECS")? {
                Some(s) => Some(Duration::from_secs(s)),
                None => env_parse::<u64>("MAESTRO_RETENTION_DAYS")?
                    .or(file.retention_days)
                    .map(|d| Duration::from_secs(d * 86_400)),
            },
            retention_interval: secs("MAESTRO_RETENTION_INTERVAL_SECS", None, 600)?,
            retention_max_bytes: env_parse("MAESTRO_RETENTION_MAX_BYTES")?
                .or(file.retention_max_bytes),
            sync_full: !matches!(
                env_string("MAESTRO_SQLITE_SYNCHRONOUS")
                    .or(file.sqlite_synchronous)
                    .as_deref(),
                Some("normal") | Some("NORMAL")
            ),
            allowed_origins: file.allowed_origins.unwrap_or_default(),
            allowed_hosts: env_list("MAESTRO_ALLOWED_HOSTS")
                .or(file.allowed_hosts)
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            max_connections: env_parse("MAESTRO_MAX_CONNECTIONS")?
                .or(file.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS)
                .max(1),
            header_read_timeout: millis(
                "MAESTRO_HEADER_READ_TIMEOUT_MS",
                file.header_read_timeout_ms,
                10_000,
            )?,
            public_url: env_string("MAESTRO_PUBLIC_URL")
                .or(file.public_url.clone())
                .unwrap_or_else(|| format!("http://{bind}")),
            notify: {
                crate::notify::Destination::validate(&file.notify)
                    .map_err(|e| anyhow::anyhow!("config file: {e}"))?;
                std::sync::Arc::new(file.notify.clone())
            },
            config_file: opts
                .config
                .as_ref()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            tls,
            tls_names: file.tls_names.unwrap_or_default(),
            allow_plain_http: opts.allow_plain_http || file.allow_plain_http.unwrap_or(false),
            database_url: match opts.database_url.clone().or(file.database_url.clone()) {
                Some(url) if url.trim().is_empty() => None,
                Some(url) => {
                    anyhow::ensure!(
                        url.starts_with("postgres://") || url.starts_with("postgresql://"),
                        "--database-url (MAESTRO_DATABASE_URL) must be a postgres:// URL"
                    );
                    Some(url)
                }
                None => None,
            },
        })
    }

    /// Path of the SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("maestro.db")
    }
}

fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

/// Default of [`Config::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The shortest token accepted: 32 bytes (a guessable token is no protection on a shared host).
pub const MIN_TOKEN_BYTES: usize = 32;

/// Token precedence: env var, config file, token file in the data dir, else generate one and
/// write it (mode 0600).
/// A token shorter than [`MIN_TOKEN_BYTES`] from any of them stops the start with an error that
/// says where it came from.
fn resolve_token(env: &str, file_value: Option<String>, path: &Path) -> Result<(String, String)> {
    let given = if let Some(v) = env_string(env) {
        Some((v.trim().to_string(), format!("env {env}")))
    } else if let Some(v) = file_value.filter(|v| !v.trim().is_empty()) {
        Some((v.trim().to_string(), "config file".to_string()))
    } else {
        std::fs::read_to_string(path)
            .ok()
            .map(|text| text.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(|t| (t, path.display().to_string()))
    };
    if let Some((token, source)) = given {
        anyhow::ensure!(
            token.len() >= MIN_TOKEN_BYTES,
            "the token from {source} is {} bytes long; tokens must be at least {MIN_TOKEN_BYTES} bytes (generate one with `openssl rand -hex 32`, or remove it and a strong one is generated)",
            token.len()
        );
        return Ok((token, source));
    }
    let token = generate_token();
    write_secret(path, &token).with_context(|| format!("writing token {}", path.display()))?;
    Ok((token, format!("{} (generated)", path.display())))
}

/// A 256-bit random token, hex encoded.
pub fn generate_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a new file readable by the user only (fails when it exists).
pub fn write_secret(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(value.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}
