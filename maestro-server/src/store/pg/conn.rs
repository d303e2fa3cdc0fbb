//! [`Db`] on a pooled PostgreSQL connection, called from blocking threads (the writer thread,
//! reads under `block_in_place`): each call runs on the tokio runtime through its handle.
//!
//! Statements arrive in the store's SQLite form (`?N` placeholders) and are rewritten
//! ([`to_postgres_placeholders`]). PostgreSQL must know every parameter's type when it
//! prepares a statement, and cannot guess one from `?1 IS NULL` alone; the store's statements
//! do not name types (SQLite has none to name), so the types come from the values bound: an
//! integer is a BIGINT, text is TEXT, and so on. Where those do not fit (a NULL whose type
//! nothing else determines, a value the column needs in another type), the next candidate is
//! tried on a spare connection (a failed prepare would abort the caller's transaction), and
//! the one that prepares is remembered for the statement and value kinds.

use crate::store::sql::{to_postgres_placeholders, Db, DbError, DbResult, Dialect, Row, Val};
use deadpool_postgres::{Object, Pool};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Statement;

/// What every connection of one store shares: the pool, the runtime, the learnt types.
pub struct PgShared {
    /// The connection pool.
    pub pool: Pool,
    /// The runtime the connections' I/O runs on.
    pub handle: Handle,
    /// Parameter types that prepare, by statement and kinds of the values bound.
    types: Mutex<HashMap<(String, Vec<u8>), Vec<Type>>>,
    /// PostgreSQL text of each statement.
    texts: Mutex<HashMap<String, Arc<str>>>,
}

impl PgShared {
    /// Shares `pool`, whose connections' I/O runs on `handle`.
    pub fn new(pool: Pool, handle: Handle) -> Arc<PgShared> {
        Arc::new(PgShared {
            pool,
            handle,
            types: Mutex::default(),
            texts: Mutex::default(),
        })
    }

    /// A connection from the pool (blocks this thread).
    pub fn connect(self: &Arc<Self>) -> DbResult<PgDb> {
        let client = self
            .handle
            .block_on(self.pool.get())
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(PgDb {
            shared: Arc::clone(self),
            client,
            in_tx: Cell::new(false),
        })
    }

    fn text(&self, sql: &str) -> Arc<str> {
        let mut texts = self.texts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = texts.get(sql) {
            return Arc::clone(t);
        }
        let t: Arc<str> = to_postgres_placeholders(sql).into();
        texts.insert(sql.to_string(), Arc::clone(&t));
        t
    }
}

/// One pooled connection.
pub struct PgDb {
    shared: Arc<PgShared>,
    client: Object,
    in_tx: Cell<bool>,
}

fn kind(v: &Val<'_>) -> u8 {
    match v {
        Val::Null => 0,
        Val::Int(_) => 1,
        Val::Real(_) => 2,
        Val::Text(_) => 3,
        Val::Blob(_) => 4,
    }
}

fn type_of(kind: u8, null: &Type) -> Type {
    match kind {
        1 => Type::INT8,
        2 => Type::FLOAT8,
        3 => Type::TEXT,
        4 => Type::BYTEA,
        _ => null.clone(),
    }
}

/// Whether a prepare failed for the parameter types (so another candidate may fit): 42P18
/// (type not determined), 42883 (no operator for those types), 42804 (datatype mismatch),
/// 42725 (ambiguous function).
fn type_trouble(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "42P18" | "42883" | "42804" | "42725"))
}

impl PgDb {
    /// Runs `f` on the runtime, blocking this thread until it is done.
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.shared.handle.block_on(f)
    }

    /// The client (for the writer's own statements).
    pub(super) fn client(&self) -> &Object {
        &self.client
    }

    /// Records whether a transaction is open (the writer's BEGIN and COMMIT).
    pub(super) fn set_in_transaction(&self, open: bool) {
        self.in_tx.set(open);
    }

    /// Whether the connection to the server is gone.
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&self, sql: &str, params: &[Val<'_>]) -> DbResult<Statement> {
        let text = self.shared.text(sql);
        let kinds: Vec<u8> = params.iter().map(kind).collect();
        let key = (text.to_string(), kinds);
        let known = self
            .shared
            .types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let types = match known {
            Some(types) => types,
            None => self.learn_types(&text, &key.1)?,
        };
        let st = self
            .block(self.client.prepare_typed_cached(&text, &types))
            .map_err(DbError::Postgres)?;
        self.shared
            .types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, types);
        Ok(st)
    }

    /// Finds parameter types that prepare, on a spare connection.
    fn learn_types(&self, text: &str, kinds: &[u8]) -> DbResult<Vec<Type>> {
        let candidates = [
            kinds.iter().map(|k| type_of(*k, &Type::UNKNOWN)).collect(),
            kinds.iter().map(|k| type_of(*k, &Type::TEXT)).collect(),
            Vec::new(),
        ];
        let spare = self
            .block(self.shared.pool.get())
            .map_err(|e| DbError::Pool(e.to_string()))?;
        let mut first_error = None;
        for types in candidates {
            match self.block(spare.prepare_typed(text, &types)) {
                Ok(_) => return Ok(types),
                Err(e) if type_trouble(&e) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(DbError::Postgres(e)),
            }
        }
        Err(first_error.map_or(DbError::NoRow, DbError::Postgres))
    }

    fn args<'a>(params: &'a [Val<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
        params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
    }
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&self, sql: &str, params: &[Val<'_>]) -> DbResult<usize> {
        let st = self.statement(sql, params)?;
        let n = self
            .block(self.client.execute(&st, &Self::args(params)))
            .map_err(DbError::Postgres)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn each(
        &self,
        sql: &str,
        params: &[Val<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<()>,
    ) -> DbResult<()> {
        let st = self.statement(sql, params)?;
        let rows = self
            .block(self.client.query(&st, &Self::args(params)))
            .map_err(DbError::Postgres)?;
        for r in &rows {
            f(&Row::Postgres(r))?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> DbResult<()> {
        self.block(self.client.batch_execute(sql))
            .map_err(DbError::Postgres)
    }

    fn last_insert_id(&self) -> DbResult<i64> {
        let row = self
            .block(self.client.query_one("SELECT lastval()", &[]))
            .map_err(DbError::Postgres)?;
        row.try_get(0).map_err(DbError::Postgres)
    }

    fn in_transaction(&self) -> bool {
        self.in_tx.get() && !self.client.is_closed()
    }
}
