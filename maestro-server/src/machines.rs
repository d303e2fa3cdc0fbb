//! Machine credentials: each machine's hook has its own revocable ingest credential, and the
//! server records which machine posted each event (never what the payload claims).
//!
//! A credential is `mch_` + 64 hex digits (256 random bits), printed once by
//! `maestro-server machines add NAME`; the database keeps only its SHA-256. The webhook takes
//! the local ingest token (the single-machine default) or a live machine credential; a revoked
//! one is answered `401 machine_revoked`, which the hook reports as such.

use crate::auth::{bearer, token_eq};
use crate::config::{Config, MachinesCommand, ServerOpts};
use crate::error::HttpError;
use crate::store::machines::{self, Credential};
use crate::store::SharedStore;
use axum::http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Prefix of machine credentials (tells them apart from the local tokens at a glance).
pub const CREDENTIAL_PREFIX: &str = "mch_";

/// How long a looked-up credential is trusted without asking the database again: a
/// `machines revoke` (another process) takes effect within this long.
pub const CACHE_TTL: Duration = Duration::from_secs(1);

/// Most credentials cached (the cache is cleared when it would grow past this).
const CACHE_MAX: usize = 4096;

/// Who posted an event, as the server verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poster {
    /// The local ingest token.
    Local,
    /// A machine's credential.
    Machine(String),
}

impl Poster {
    /// The machine name, for a machine credential.
    pub fn machine(&self) -> Option<&str> {
        match self {
            Poster::Local => None,
            Poster::Machine(m) => Some(m),
        }
    }
}

/// Hex SHA-256 of a token (what the database keeps).
pub fn hash_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new machine credential.
pub fn new_credential() -> String {
    format!("{CREDENTIAL_PREFIX}{}", crate::config::generate_token())
}

/// The webhook's credential check with a short-lived cache of machine credentials.
#[derive(Default)]
pub struct MachineAuth {
    cache: Mutex<HashMap<String, (Option<Credential>, Instant)>>,
}

impl MachineAuth {
    /// Identifies the poster of a webhook request: only `Authorization: Bearer` counts (the
    /// operator's cookie never authorizes an event), and only the local ingest token or a
    /// live machine credential. The operator token is refused like any wrong token.
    pub async fn authenticate(
        &self,
        config: &Config,
        store: &SharedStore,
        headers: &HeaderMap,
    ) -> Result<Poster, HttpError> {
        let Some(token) = bearer(headers) else {
            return Err(HttpError::unauthorized(
                "ingest token required (Authorization: Bearer TOKEN)",
            ));
        };
        if token_eq(token, &config.ingest_token) {
            return Ok(Poster::Local);
        }
        let wrong = || {
            HttpError::unauthorized(
                "wrong token: the webhook takes only the ingest token or a machine credential (Authorization: Bearer TOKEN)",
            )
        };
        if !token.starts_with(CREDENTIAL_PREFIX) {
            return Err(wrong());
        }
        match self.lookup(store, hash_token(token)).await? {
            Some(Credential::Active(name)) => Ok(Poster::Machine(name)),
            Some(Credential::Revoked { name, revoked_at }) => Err(HttpError::new(
                StatusCode::UNAUTHORIZED,
                "machine_revoked",
                format!(
                    "the credential of machine {name} was revoked at {revoked_at}; ask for a new one (`maestro-server machines add`) and run `maestro-hook login` again"
                ),
            )),
            None => Err(wrong()),
        }
    }

    async fn lookup(
        &self,
        store: &SharedStore,
        hash: String,
    ) -> Result<Option<Credential>, HttpError> {
        let now = Instant::now();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((cred, at)) = cache.get(&hash) {
                if now.saturating_duration_since(*at) < CACHE_TTL {
                    return Ok(cred.clone());
                }
            }
        }
        let found = store
            .machine_credential(hash.clone())
            .await
            .map_err(HttpError::from)?;
        // Unknown tokens are not cached: a machine added a moment ago works at once, and a
        // stream of made-up tokens cannot fill the cache.
        if found.is_some() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(hash, (found.clone(), now));
        }
        Ok(found)
    }
}

/// `maestro-server machines ...`: works on the data dir's database, whether or not the server
/// is running.
pub fn cli(opts: &ServerOpts, action: &MachinesCommand) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(opts)?;
    let admin = crate::store::sql_store::AdminDb::open(&config)?;
    let conn = admin.db();
    let now = crate::time::fmt_ts(chrono::Utc::now());
    match action {
        MachinesCommand::Add { name } => {
            let credential = new_credential();
            machines::add(conn, name, &hash_token(&credential), &now)?;
            println!("machine {name} added. Its ingest credential (shown only this once):");
            println!();
            println!("  {credential}");
            println!();
            println!("On that machine: echo '<credential>' | maestro-hook login <server URL>");
        }
        MachinesCommand::List => {
            let rows = machines::list(conn)?;
            if rows.is_empty() {
                println!("no machines (add one with `maestro-server machines add NAME`)");
            } else {
                println!(
                    "{:<24} {:<28} {:<28} {:>8}  status",
                    "NAME", "CREATED", "LAST SEEN", "EVENTS"
                );
                for m in rows {
                    let status = match &m.revoked_at {
                        Some(at) => format!("revoked {at}"),
                        None => "active".to_string(),
                    };
                    println!(
                        "{:<24} {:<28} {:<28} {:>8}  {status}",
                        m.name,
                        m.created_at,
                        m.last_seen_at.as_deref().unwrap_or("never"),
                        m.events
                    );
                }
            }
        }
        MachinesCommand::Revoke { name } => {
            machines::revoke(conn, name, &now)?;
            println!(
                "machine {name} revoked: the server refuses its credential within {} s; its events stay",
                CACHE_TTL.as_secs()
            );
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_prefixed_random_and_hashed() {
        let a = new_credential();
        let b = new_credential();
        assert!(a.starts_with(CREDENTIAL_PREFIX) && a.len() == CREDENTIAL_PREFIX.len() + 64);
        assert_ne!(a, b);
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
