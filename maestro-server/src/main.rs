//! `maestro-server` entry point.

use clap::Parser;
use maestro_server::config::{Cli, Command, Config};

// Every event allocates and frees its JSON values on the HTTP workers: mimalloc's per-thread
// free lists cost less than glibc's arenas there (A/B in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // First, while nothing else can have read the environment or started a thread: the
    // server's /proc files (environ, mem) become unreadable to the user's other processes,
    // agents included.
    let dumpable = maestro_server::hardening::set_non_dumpable();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = dumpable {
        tracing::warn!(error = %e, "cannot make the process non-dumpable; its environment stays readable by the same user");
    }
    let result = match &cli.command {
        Some(Command::Policy { action }) => maestro_server::decide::cli(&cli.opts, action),
        Some(Command::Operators { action }) => maestro_server::operators::cli(&cli.opts, action),
        Some(Command::Machines { action }) => maestro_server::machines::cli(&cli.opts, action),
        None => run(&cli),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("maestro-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(&cli.opts)?;
    // The tokens are in `config` now: erase them from the environment (and its original
    // block, which /proc/<pid>/environ shows) before the runtime starts any thread, so no
    // spawned session inherits them and no process can read them back.
    let erased = maestro_server::hardening::scrub_secret_env();
    if !erased.is_empty() {
        tracing::info!(variables = ?erased, "token variables erased from the process environment");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let state = maestro_server::app::AppState::open(config)?;
        maestro_server::app::serve(state).await
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}
