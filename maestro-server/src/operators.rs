//! `maestro-server operators add|list|revoke`: named operators, run against the data dir's
//! database (a running server sees the change on its next request: tokens are looked up by
//! hash every time).

use crate::auth::token_hash;
use crate::config::{Config, OperatorsCommand, ServerOpts};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use anyhow::Context;
use rand::RngCore;

/// Runs an `operators` subcommand; prints what it did.
pub fn cli(opts: &ServerOpts, action: &OperatorsCommand) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(opts)?;
    // The store's reads run with `block_in_place`: a multi-thread runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (tx, _) = tokio::sync::broadcast::channel(16);
        let store = SqliteStore::open(&config.db_path(), config.sync_full, tx)
            .context("opening the database")?;
        match action {
            OperatorsCommand::Add { name } => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                store
                    .add_operator(name, &token_hash(&token))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("operator {name} added; their login token (shown once):");
                println!("{token}");
            }
            OperatorsCommand::List => {
                let list = store
                    .list_operators()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if list.is_empty() {
                    println!("no named operators (the server's own operator token still works)");
                }
                for o in list {
                    match o.revoked_at {
                        Some(at) => println!("{}\tadded {}\trevoked {at}", o.name, o.created_at),
                        None => println!("{}\tadded {}\tactive", o.name, o.created_at),
                    }
                }
            }
            OperatorsCommand::Revoke { name } => {
                store
                    .revoke_operator(name)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("operator {name} revoked");
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}
