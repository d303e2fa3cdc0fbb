//! The command line (clap): one subcommand per hook event, plus install, uninstall, status
//! and flush (and the hidden `drain` used by the background drainer).

use crate::install::Scope;
use clap::{Arg, ArgAction, ArgMatches, Command};
use maestro_shared::cli_versions::ClaudeVersion;
use maestro_shared::HookEventName;
use std::path::PathBuf;
use std::time::Duration;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Cli {
    /// Handle one hook event (stdin JSON).
    Event(HookEventName),
    /// Register the hooks.
    Install {
        /// Settings scope.
        scope: Scope,
        /// Show instead of writing.
        dry_run: bool,
        /// Server URL to save in the config file.
        server: Option<String>,
        /// Project dir for project/local scope.
        project_dir: Option<PathBuf>,
        /// `--claude-version`: register for this Claude Code version instead of detecting it.
        claude_version: Option<ClaudeVersion>,
        /// `--telemetry`: also write Claude Code's OpenTelemetry export settings (to this
        /// server's OTLP receiver) into the settings file's `env`.
        telemetry: bool,
    },
    /// Remove the hooks.
    Uninstall {
        /// Settings scope.
        scope: Scope,
        /// Show instead of writing.
        dry_run: bool,
        /// Project dir for project/local scope.
        project_dir: Option<PathBuf>,
        /// `--telemetry`: also remove the OpenTelemetry export settings `install --telemetry`
        /// wrote into the user settings file.
        telemetry: bool,
    },
    /// Print the status report.
    Status {
        /// Project dir whose settings are inspected.
        project_dir: Option<PathBuf>,
        /// `--claude-version`: check against this Claude Code version instead of detecting it.
        claude_version: Option<ClaudeVersion>,
    },
    /// Drain the spool in the foreground.
    Flush {
        /// Move quarantined events back into the spool first.
        requeue: bool,
        /// Give up after this long without progress.
        timeout: Duration,
    },
    /// Enrol with a server: check the credential, then write the config file.
    Login(crate::login::LoginArgs),
    /// The background drainer (hidden).
    Drain,
}

const AFTER_HELP: &str = "\
Environment (or the same KEY=VALUE lines in $MAESTRO_HOOK_CONFIG, default
~/.config/maestro-hook/config.env; the environment wins):
  MAESTRO_URL                         server (default http://127.0.0.1:8420); several
                                      servers comma-separated, tried in turn
  MAESTRO_TOKEN / MAESTRO_TOKEN_FILE  ingest token or machine credential (default:
                                      <server data dir>/ingest.token)
  MAESTRO_CA_FILE                     PEM CA certificates to verify an https server with
  MAESTRO_TLS_FINGERPRINT             SHA-256 of a self-signed server certificate, pinned
  MAESTRO_DATA_DIR                    the server's data dir
  MAESTRO_SPOOL_DIR                   spool (default ~/.local/share/maestro-hook/spool)
  MAESTRO_HOOK_LOG                    problem log (default <spool>/hook.log)
  MAESTRO_CONNECT_TIMEOUT_MS          connect timeout (500)
  MAESTRO_HOOK_DELIVERY               spool: observe-only events go to the spool and the
                                      drainer forwards them (default); direct: POST them
  MAESTRO_TIMEOUT_MS                  total time for observe-only events sent direct (1000)
  MAESTRO_PRE_TOOL_USE_WAIT_MS        wait for a PreToolUse decision (110000)
  MAESTRO_PERMISSION_REQUEST_WAIT_MS  wait for a PermissionRequest decision (590000)
  MAESTRO_DRAIN_TIMEOUT_MS            drainer per-request timeout (10000)
  MAESTRO_DRAIN_GIVE_UP_SECS          drainer gives up after this long without progress (600)
  MAESTRO_DRAIN_LINGER_SECS           idle drainer waits this long for the next event (60)
  MAESTRO_MAX_STRING_BYTES            cap for one payload string (262144)
  MAESTRO_SESSION_ID, MAESTRO_TASK_ID Maestro ids forwarded with every event";

fn scope_arg() -> Arg {
    Arg::new("scope")
        .long("scope")
        .value_parser(["project", "local", "user"])
        .default_value("local")
        .help("Settings file: project (.claude/settings.json), local (.claude/settings.local.json) or user (~/.claude/settings.json)")
}

fn project_dir_arg() -> Arg {
    Arg::new("project-dir")
        .long("project-dir")
        .value_name("DIR")
        .value_parser(clap::value_parser!(PathBuf))
        .help("Project dir (default: $CLAUDE_PROJECT_DIR, else the current dir)")
}

fn claude_version_arg() -> Arg {
    Arg::new("claude-version")
        .long("claude-version")
        .value_name("X.Y.Z")
        .value_parser(|s: &str| ClaudeVersion::parse(s).map_err(|e| e.to_string()))
        .help("The Claude Code version to register for (default: `claude --version` of the claude on PATH; when that fails, the oldest supported version)")
}

fn dry_run_arg() -> Arg {
    Arg::new("dry-run")
        .long("dry-run")
        .action(ArgAction::SetTrue)
        .help("Print the result instead of writing it")
}

/// The clap command.
pub fn command() -> Command {
    let mut cmd = Command::new("maestro-hook")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Claude Code hook client for Maestro: forwards hook events to the Maestro server, spools them when it is down, and answers permission decisions.")
        .after_help(AFTER_HELP)
        .subcommand_required(true)
        .arg_required_else_help(true);
    for ev in HookEventName::ALL {
        if let Some(sub) = ev.subcommand() {
            let about = if ev.is_decision() {
                format!(
                    "Handle a {} hook event from stdin; prints the decision",
                    ev.as_str()
                )
            } else {
                format!(
                    "Handle a {} hook event from stdin (prints nothing)",
                    ev.as_str()
                )
            };
            cmd = cmd.subcommand(
                Command::new(sub).about(about).arg(
                    Arg::new("rest")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true)
                        .hide(true),
                ),
            );
        }
    }
    cmd.subcommand(
        Command::new("install")
            .about("Register maestro-hook for every hook event your Claude Code knows in a settings file")
            .arg(scope_arg())
            .arg(dry_run_arg())
            .arg(claude_version_arg())
            .arg(
                Arg::new("server")
                    .long("server")
                    .value_name("URL")
                    .help("Save this server URL as MAESTRO_URL in the config file"),
            )
            .arg(
                Arg::new("telemetry")
                    .long("telemetry")
                    .action(ArgAction::SetTrue)
                    .help("Also make Claude Code export its cost and token telemetry (OpenTelemetry) to the server: writes the exporter settings, with the ingest token, into the settings file's env"),
            )
            .arg(project_dir_arg()),
    )
    .subcommand(
        Command::new("uninstall")
            .about("Remove exactly what install added")
            .arg(scope_arg())
            .arg(dry_run_arg())
            .arg(
                Arg::new("telemetry")
                    .long("telemetry")
                    .action(ArgAction::SetTrue)
                    .help("Also remove the telemetry settings install --telemetry wrote into the user settings file's env"),
            )
            .arg(project_dir_arg()),
    )
    .subcommand(
        Command::new("status")
            .about("Server reachability, token source, spool, quarantine, the Claude Code found, installed events")
            .arg(project_dir_arg())
            .arg(claude_version_arg()),
    )
    .subcommand(
        Command::new("flush")
            .about("Deliver the spool now, in the foreground, and report what happened")
            .arg(
                Arg::new("requeue")
                    .long("requeue")
                    .action(ArgAction::SetTrue)
                    .help("Move quarantined events back into the spool first"),
            )
            .arg(
                Arg::new("timeout")
                    .long("timeout")
                    .value_name("SECS")
                    .value_parser(clap::value_parser!(u64))
                    .default_value("15")
                    .help("Give up after this many seconds without progress"),
            ),
    )
    .subcommand(
        Command::new("login")
            .about("Enrol this machine: check URL and credential with the server, then save them (and the TLS settings) in the config file, mode 0600. The credential comes from --token or stdin")
            .arg(Arg::new("url").required(true).value_name("URL").help("Server URL (https://host:port)"))
            .arg(
                Arg::new("token")
                    .long("token")
                    .value_name("TOKEN")
                    .help("The machine credential (`maestro-server machines add NAME`); default: read from stdin"),
            )
            .arg(
                Arg::new("ca-file")
                    .long("ca-file")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Verify the server with the CA certificates of this PEM file"),
            )
            .arg(
                Arg::new("fingerprint")
                    .long("fingerprint")
                    .value_name("SHA256")
                    .conflicts_with("ca-file")
                    .help("Pin the server's certificate by its SHA-256 fingerprint (what maestro-server prints for a self-signed certificate)"),
            ),
    )
    .subcommand(Command::new("drain").hide(true))
}

fn scope_of(m: &ArgMatches) -> Scope {
    m.get_one::<String>("scope")
        .and_then(|s| Scope::parse(s))
        .unwrap_or(Scope::Local)
}

/// Parses the command line (exits with clap's message on errors, `--help`, `--version`).
pub fn parse<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    from_matches(&command().get_matches_from(args))
}

fn from_matches(m: &ArgMatches) -> Cli {
    let Some((name, sub)) = m.subcommand() else {
        return Cli::Drain;
    };
    let project_dir = || sub.get_one::<PathBuf>("project-dir").cloned();
    let claude_version = || {
        sub.try_get_one::<ClaudeVersion>("claude-version")
            .ok()
            .flatten()
            .copied()
    };
    match name {
        "install" => Cli::Install {
            scope: scope_of(sub),
            dry_run: sub.get_flag("dry-run"),
            server: sub.get_one::<String>("server").cloned(),
            project_dir: project_dir(),
            claude_version: claude_version(),
            telemetry: sub.get_flag("telemetry"),
        },
        "uninstall" => Cli::Uninstall {
            scope: scope_of(sub),
            dry_run: sub.get_flag("dry-run"),
            project_dir: project_dir(),
            telemetry: sub.get_flag("telemetry"),
        },
        "status" => Cli::Status {
            project_dir: project_dir(),
            claude_version: claude_version(),
        },
        "flush" => Cli::Flush {
            requeue: sub.get_flag("requeue"),
            timeout: Duration::from_secs(sub.get_one::<u64>("timeout").copied().unwrap_or(15)),
        },
        "login" => Cli::Login(crate::login::LoginArgs {
            url: sub.get_one::<String>("url").cloned().unwrap_or_default(),
            token: sub.get_one::<String>("token").cloned(),
            ca_file: sub.get_one::<PathBuf>("ca-file").cloned(),
            fingerprint: sub.get_one::<String>("fingerprint").cloned(),
        }),
        "drain" => Cli::Drain,
        other => match HookEventName::from_subcommand(other) {
            Some(ev) => Cli::Event(ev),
            None => Cli::Drain,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_valid() {
        command().debug_assert();
    }

    #[test]
    fn every_event_has_a_subcommand() {
        for ev in HookEventName::ALL {
            let sub = ev.subcommand().expect("sub");
            assert_eq!(parse(["maestro-hook", sub]), Cli::Event(ev.clone()));
        }
    }

    #[test]
    fn parses_install_and_flush() {
        assert_eq!(
            parse([
                "maestro-hook",
                "install",
                "--scope",
                "user",
                "--dry-run",
                "--server",
                "http://h:1",
                "--claude-version",
                "2.1.251"
            ]),
            Cli::Install {
                scope: Scope::User,
                dry_run: true,
                server: Some("http://h:1".into()),
                project_dir: None,
                claude_version: Some(ClaudeVersion::new(2, 1, 251)),
                telemetry: false,
            }
        );
        assert_eq!(
            parse([
                "maestro-hook",
                "status",
                "--claude-version",
                "2.1.332 (Claude Code)"
            ]),
            Cli::Status {
                project_dir: None,
                claude_version: Some(ClaudeVersion::new(2, 1, 332)),
            }
        );
        assert!(command()
            .try_get_matches_from(["maestro-hook", "install", "--claude-version", "latest"])
            .is_err());
        assert_eq!(
            parse(["maestro-hook", "uninstall", "--project-dir", "/p"]),
            Cli::Uninstall {
                scope: Scope::Local,
                dry_run: false,
                project_dir: Some(PathBuf::from("/p")),
                telemetry: false,
            }
        );
        assert_eq!(
            parse(["maestro-hook", "flush", "--requeue", "--timeout", "3"]),
            Cli::Flush {
                requeue: true,
                timeout: Duration::from_secs(3)
            }
        );
    }
}
