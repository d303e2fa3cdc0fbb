//! `maestro-server` entry point.

use clap::Parser;
use maestro_server::config::{Cli, Command, Config};

// Every event allocates and frees its JSON values on the HTTP workers: mimalloc's per-thread
// free lists cost less than glibc's arenas there (A/B in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Some(Command::Policy { action }) => maestro_server::decide::cli(&cli.opts, action),
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let state = maestro_server::app::AppState::open(config)?;
        maestro_server::app::serve(state).await
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}
