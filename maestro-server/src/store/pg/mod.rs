//! The PostgreSQL store (team mode): the same SQL as the SQLite store ([`super::sql`]) on a
//! PostgreSQL server shared by several replicas.
//!
//! Client: tokio-postgres with a deadpool-postgres pool (see ARCHITECTURE.md for why).

pub mod conn;
pub mod follow;
pub mod schema;
pub mod tls;
pub mod value;
pub mod write;

use anyhow::Context;
use std::sync::Arc;

/// Connections in the pool of one replica: the writer's, the follower's, and the reads.
const POOL_SIZE: usize = 10;

/// A connected, migrated database.
pub struct Connected {
    /// The pool and what its connections share.
    pub db: Arc<conn::PgShared>,
}

/// Connects to `url`, migrates the schema (under an advisory lock: replicas starting together
/// do not race; a database newer than this binary is refused) and builds the pool.
pub async fn connect(url: &str) -> anyhow::Result<Connected> {
    let tls::Target {
        config,
        verify,
        mode,
        tls,
    } = tls::target(url)?;
    let (mut client, connection) = config.connect(tls.clone()).await.with_context(|| {
        format!(
            "connecting to PostgreSQL at {} (sslmode={mode})",
            describe(&config)
        )
    })?;
    tracing::info!(
        database = %describe(&config),
        sslmode = %mode,
        certificate_checked = ?verify,
        "connected to PostgreSQL"
    );
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the migration connection ended");
        }
    });
    let version = schema::migrate(&mut client)
        .await
        .context("migrating the PostgreSQL schema")?;
    tracing::info!(version, "PostgreSQL schema ready");
    drop(client);
    let _ = driver.await;
    let manager = deadpool_postgres::Manager::from_config(
        config.clone(),
        tls.clone(),
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .create_timeout(Some(std::time::Duration::from_secs(10)))
        .build()
        .context("building the PostgreSQL pool")?;
    Ok(Connected {
        db: conn::PgShared::new(pool, config, tls, tokio::runtime::Handle::current()),
    })
}

/// Host, port and database of a connection string, without its password.
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config.get_dbname().unwrap_or("postgres")
    )
}
