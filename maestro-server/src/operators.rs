//! `maestro-server operators add|list|revoke`: named operators, run against the data dir's
//! database like `machines` (a running server sees the change on its next request: tokens
//! are looked up by hash every time).

use crate::config::{generate_token, Config, OperatorsCommand, ServerOpts};
use crate::machines::hash_token;
use crate::store::people;

/// Runs an `operators` subcommand; prints what it did.
pub fn cli(opts: &ServerOpts, action: &OperatorsCommand) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(opts)?;
    let admin = crate::store::sql_store::AdminDb::open(&config)?;
    let conn = admin.db();
    let now = chrono::Utc::now();
    match action {
        OperatorsCommand::Add { name } => {
            let token = generate_token();
            people::add_operator(conn, name, &hash_token(&token), now)?;
            println!("operator {name} added; their login token (shown once):");
            println!("{token}");
        }
        OperatorsCommand::List => {
            let list = people::list_operators(conn)?;
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
            people::revoke_operator(conn, name, now)?;
            println!("operator {name} revoked");
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
