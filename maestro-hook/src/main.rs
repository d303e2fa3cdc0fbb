//! `maestro-hook`: the command Claude Code runs for every hook event.
//!
//! `maestro-hook <event-subcommand>` reads the event JSON on stdin, wraps it in the v1
//! envelope and POSTs it to the Maestro server. When the server is unreachable the envelope
//! is spooled to disk and a detached drainer delivers it later. Observe-only events print
//! nothing and always exit 0; PreToolUse and PermissionRequest print the server's decision
//! (or, with the server down, the local policy's deny). See `--help` for the rest.

mod claude;
mod cli;
mod config;
mod decide;
mod drain;
mod envelope;
mod forward;
mod install;
mod log;
mod login;
mod loss;
mod send;
mod spool;
mod status;
#[cfg(feature = "tls")]
mod tls;
mod watch;

use cli::Cli;
use maestro_shared::HookEventName;
use std::path::PathBuf;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Fast path: `maestro-hook <event>` (what Claude Code runs) skips building the clap
    // command for the 39 subcommands.
    let fast = match args.as_slice() {
        [_, sub] => sub.to_str().and_then(HookEventName::from_subcommand),
        _ => None,
    };
    let cli = match fast {
        Some(ev) => Cli::Event(ev),
        None => cli::parse(args),
    };
    std::process::exit(run(cli));
}

fn run(cli: Cli) -> i32 {
    match cli {
        Cli::Event(ev) => {
            // Whatever happens (even a bug), an event exits 0 with nothing stray on stdout.
            std::panic::catch_unwind(|| forward::run_event(&ev)).unwrap_or(0)
        }
        Cli::Login(args) => login::run(&args),
        Cli::Drain => {
            let cfg = config::Config::load();
            drain::run_background(&cfg);
            0
        }
        Cli::Flush { requeue, timeout } => {
            let cfg = config::Config::load();
            drain::run_flush(&cfg, requeue, timeout)
        }
        Cli::Status {
            project_dir,
            claude_version,
        } => {
            let cfg = config::Config::load();
            let claude = claude::choose(claude_version, std::env::var_os("PATH").as_deref());
            status::run(
                &cfg,
                &project_dir_or_default(project_dir),
                &home_dir(),
                &claude,
            )
        }
        Cli::Install {
            scope,
            dry_run,
            server,
            project_dir,
            claude_version,
            telemetry,
        } => {
            let target = install::Target {
                scope,
                project_dir: project_dir_or_default(project_dir),
                home: home_dir(),
                dry_run,
            };
            let exe = match this_exe() {
                Ok(e) => e,
                Err(e) => return fail(&e),
            };
            let claude = claude::choose(claude_version, std::env::var_os("PATH").as_deref());
            match install::run_install(&target, &exe, server.as_deref(), &claude, telemetry) {
                Ok(()) => 0,
                Err(e) => fail(&e),
            }
        }
        Cli::Uninstall {
            scope,
            dry_run,
            project_dir,
            telemetry,
        } => {
            let target = install::Target {
                scope,
                project_dir: project_dir_or_default(project_dir),
                home: home_dir(),
                dry_run,
            };
            match install::run_uninstall(&target, telemetry) {
                Ok(()) => 0,
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("maestro-hook: {msg}");
    1
}

/// The absolute path of this binary, as install writes it.
fn this_exe() -> Result<String, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the path of this binary: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the path of this binary is not UTF-8: {}", exe.display()))
}

fn project_dir_or_default(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| {
            std::env::var_os("CLAUDE_PROJECT_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

fn home_dir() -> PathBuf {
    directories::BaseDirs::new()
        .map(|b| b.home_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("/"))
}
