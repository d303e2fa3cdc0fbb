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
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Statement;

/// A pool error with its causes (deadpool's and tokio-postgres's own texts say only "db
/// error": the server's message is in the source chain).
fn pool_error(e: deadpool_postgres::PoolError) -> DbError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    DbError::Pool(text)
}

/// A statement's PostgreSQL text and the kinds of the values bound to it.
type StatementShape = (Arc<str>, Vec<u8>);

/// What every connection of one store shares: the pool, the runtime, the learnt types.
pub struct PgShared {
    /// The connection pool.
    pub pool: Pool,
    /// The connection settings (for the connections outside the pool: the writer's and the
    /// LISTEN connection).
    pub config: tokio_postgres::Config,
    /// The TLS connector of every connection.
    pub tls: super::tls::Connector,
    /// The runtime the connections' I/O runs on.
    pub handle: Handle,
    /// Parameter types that prepare, by statement and kinds of the values bound.
    types: Mutex<HashMap<StatementShape, Vec<Type>>>,
    /// PostgreSQL text of each statement.
    texts: Mutex<HashMap<String, Arc<str>>>,
}

impl PgShared {
    /// Shares `pool` (made from `config` and `tls`), whose connections' I/O runs on
    /// `handle`.
    pub fn new(
        pool: Pool,
        config: tokio_postgres::Config,
        tls: super::tls::Connector,
        handle: Handle,
    ) -> Arc<PgShared> {
        Arc::new(PgShared {
            pool,
            config,
            tls,
            handle,
            types: Mutex::default(),
            texts: Mutex::default(),
        })
    }

    /// A connection from the pool (blocks this thread).
    pub fn connect(self: &Arc<Self>) -> DbResult<PgDb> {
        let client = self.handle.block_on(self.pool.get()).map_err(pool_error)?;
        Ok(PgDb {
            shared: Arc::clone(self),
            link: Link::Pooled(client),
            in_tx: Cell::new(false),
            deferred: RefCell::default(),
        })
    }

    /// A connection of its own for the calling thread (the writer's), outside the pool: its
    /// I/O runs on a current-thread runtime of that thread, inside each call, so a round trip
    /// wakes no other thread of this process (see ARCHITECTURE.md, "Team mode").
    pub fn connect_own(self: &Arc<Self>) -> DbResult<PgDb> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DbError::Pool(format!("cannot start the writer's runtime: {e}")))?;
        let (client, connection) = rt
            .block_on(self.config.connect(self.tls.clone()))
            .map_err(DbError::Postgres)?;
        rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the writer's PostgreSQL connection ended");
            }
        });
        Ok(PgDb {
            shared: Arc::clone(self),
            link: Link::Own {
                client,
                rt,
                prepared: RefCell::default(),
            },
            in_tx: Cell::new(false),
            deferred: RefCell::default(),
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

/// Most statements queued by [`Db::exec_deferred`] before they are sent anyway.
const MAX_DEFERRED: usize = 256;

/// A statement queued by [`Db::exec_deferred`], with its own copy of the values.
struct Deferred {
    statement: Statement,
    params: Vec<Val<'static>>,
}

/// One connection: pooled, or the writer's own.
pub struct PgDb {
    shared: Arc<PgShared>,
    link: Link,
    in_tx: Cell<bool>,
    /// Statements whose results nobody needs, sent with the next one that is waited for.
    deferred: RefCell<Vec<Deferred>>,
}

/// Prepared statements by PostgreSQL text, each with the parameter types it was prepared for.
type Prepared = HashMap<Arc<str>, Vec<(Vec<Type>, Statement)>>;

/// How a [`PgDb`] reaches the server.
enum Link {
    /// A pooled connection; its I/O runs on the store's runtime.
    Pooled(Object),
    /// A connection of its own, driven by a current-thread runtime inside each call, with
    /// its prepared statements.
    Own {
        client: tokio_postgres::Client,
        rt: tokio::runtime::Runtime,
        prepared: RefCell<Prepared>,
    },
}

fn owned(v: &Val<'_>) -> Val<'static> {
    match v {
        Val::Null => Val::Null,
        Val::Int(i) => Val::Int(*i),
        Val::Real(f) => Val::Real(*f),
        Val::Text(t) => Val::Text(Cow::Owned(t.to_string())),
        Val::Blob(b) => Val::Blob(Cow::Owned(b.to_vec())),
    }
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

/// Whether a prepare failed for the parameter types (so another candidate may fit): 42P18 or
/// 42P08
/// (type not determined), 42883 (no operator for those types), 42804 (datatype mismatch),
/// 42725 (ambiguous function).
fn type_trouble(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "42P18" | "42P08" | "42883" | "42804" | "42725"))
}

impl PgDb {
    /// Runs `f` on the connection's runtime, blocking this thread until it is done.
    pub(super) fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        match &self.link {
            Link::Pooled(_) => self.shared.handle.block_on(f),
            Link::Own { rt, .. } => rt.block_on(f),
        }
    }

    /// The client (for the writer's own statements).
    pub(super) fn client(&self) -> &tokio_postgres::Client {
        match &self.link {
            Link::Pooled(o) => o,
            Link::Own { client, .. } => client,
        }
    }

    /// The statement `text` prepared with `types` (once per connection).
    fn prepared(&self, text: &Arc<str>, types: &[Type]) -> DbResult<Statement> {
        match &self.link {
            Link::Pooled(o) => self
                .block(o.prepare_typed_cached(text, types))
                .map_err(DbError::Postgres),
            Link::Own {
                client,
                rt,
                prepared,
            } => {
                let hit = prepared.borrow().get(&**text).and_then(|v| {
                    v.iter()
                        .find(|(t, _)| t.as_slice() == types)
                        .map(|(_, st)| st.clone())
                });
                if let Some(st) = hit {
                    return Ok(st);
                }
                let st = rt
                    .block_on(client.prepare_typed(text, types))
                    .map_err(DbError::Postgres)?;
                prepared
                    .borrow_mut()
                    .entry(Arc::clone(text))
                    .or_default()
                    .push((types.to_vec(), st.clone()));
                Ok(st)
            }
        }
    }

    /// Records whether a transaction is open (the writer's BEGIN and COMMIT).
    pub(super) fn set_in_transaction(&self, open: bool) {
        self.in_tx.set(open);
    }

    /// Whether the connection to the server is gone.
    pub(super) fn is_closed(&self) -> bool {
        self.client().is_closed()
    }

    fn statement(&self, sql: &str, params: &[Val<'_>]) -> DbResult<Statement> {
        let text = self.shared.text(sql);
        let key = (
            Arc::clone(&text),
            params.iter().map(kind).collect::<Vec<u8>>(),
        );
        let known = self
            .shared
            .types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let types = match known {
            Some(types) => types,
            None => {
                let types = self.learn_types(&text, &key.1)?;
                self.shared
                    .types
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, types.clone());
                types
            }
        };
        self.prepared(&text, &types)
    }

    /// Finds parameter types that prepare, on a spare connection: first the values' own
    /// types (NULLs left to the server); a NULL whose type the server cannot determine is
    /// tried as TEXT, BIGINT, then DOUBLE PRECISION; if a value's own type does not fit, the
    /// server picks the types of the non-NULL values.
    fn learn_types(&self, text: &str, kinds: &[u8]) -> DbResult<Vec<Type>> {
        const NULL_TYPES: [Type; 3] = [Type::TEXT, Type::INT8, Type::FLOAT8];
        // On the store's runtime, whatever this connection's: a pooled connection's I/O task
        // must live there (created on the writer's runtime, it would stall between calls).
        let spare = self
            .shared
            .handle
            .block_on(self.shared.pool.get())
            .map_err(pool_error)?;
        let mut types: Vec<Type> = kinds.iter().map(|k| type_of(*k, &Type::UNKNOWN)).collect();
        // NULL parameters given a type, and which of NULL_TYPES each has now.
        let mut tried: HashMap<usize, usize> = HashMap::new();
        let mut last: Option<usize> = None;
        let mut values_untyped = false;
        for _ in 0..(4 * kinds.len() + 2) {
            let e = match self
                .shared
                .handle
                .block_on(spare.prepare_typed(text, &types))
            {
                Ok(_) => return Ok(types),
                Err(e) => e,
            };
            let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            if code == "42P18" || code == "42P08" {
                // "could not determine data type of parameter $N"
                let n = e
                    .as_db_error()
                    .and_then(|d| d.message().rsplit('$').next()?.trim().parse::<usize>().ok())
                    .filter(|n| (1..=types.len()).contains(n));
                let Some(n) = n else {
                    return Err(DbError::Postgres(e));
                };
                if tried.contains_key(&(n - 1)) {
                    return Err(DbError::Postgres(e));
                }
                tried.insert(n - 1, 0);
                types[n - 1] = NULL_TYPES[0].clone();
                last = Some(n - 1);
                continue;
            }
            if !type_trouble(&e) {
                return Err(DbError::Postgres(e));
            }
            if let Some(i) = last {
                let next = tried.get(&i).map_or(0, |t| t + 1);
                if next < NULL_TYPES.len() {
                    tried.insert(i, next);
                    types[i] = NULL_TYPES[next].clone();
                    continue;
                }
            }
            if values_untyped {
                return Err(DbError::Postgres(e));
            }
            // A value's own type does not fit: let the server type the values.
            values_untyped = true;
            last = None;
            for (i, t) in types.iter_mut().enumerate() {
                if kinds[i] != 0 {
                    *t = Type::UNKNOWN;
                }
            }
        }
        Err(DbError::Pool(format!("no parameter types prepare: {text}")))
    }

    fn args<'a>(params: &'a [Val<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
        params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
    }

    /// Runs `last` after the deferred statements, all sent at once: tokio-postgres sends a
    /// request when its future is first polled and pipelines requests made before their
    /// answers are awaited, and [`in_order`] polls the futures in queue order, `last` last.
    /// The first error wins: after it, PostgreSQL refuses the rest of the transaction.
    fn with_deferred<T, F>(&self, last: F) -> DbResult<T>
    where
        F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let queued = std::mem::take(&mut *self.deferred.borrow_mut());
        if queued.is_empty() {
            return self.block(last).map_err(DbError::Postgres);
        }
        let args: Vec<Vec<&(dyn ToSql + Sync)>> =
            queued.iter().map(|d| Self::args(&d.params)).collect();
        let sent = queued
            .iter()
            .zip(&args)
            .map(|(d, a)| self.client().execute(&d.statement, a));
        let (earlier, last) = self.block(in_order(sent, last));
        for r in earlier {
            r.map_err(DbError::Postgres)?;
        }
        last.map_err(DbError::Postgres)
    }
}

/// Awaits `first` and then `last`, polling every unfinished one in order on each wake-up (so
/// each is first polled in order, whatever their number: `join_all` stops guaranteeing that
/// beyond a few dozen).
async fn in_order<A, B>(
    first: impl Iterator<Item = impl std::future::Future<Output = A>>,
    last: impl std::future::Future<Output = B>,
) -> (Vec<A>, B) {
    use std::task::Poll;
    let mut first: Vec<_> = first.map(Box::pin).collect();
    let mut done: Vec<Option<A>> = first.iter().map(|_| None).collect();
    let mut last = std::pin::pin!(last);
    let mut last_done: Option<B> = None;
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in first.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if last_done.is_none() {
            match last.as_mut().poll(cx) {
                Poll::Ready(v) => last_done = Some(v),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    (
        done.into_iter().flatten().collect(),
        last_done.expect("polled to completion"),
    )
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let n = self.deferred.get_mut().len();
        if n > 0 {
            tracing::error!(statements = n, "statements deferred and never sent (a bug)");
        }
    }
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&self, sql: &str, params: &[Val<'_>]) -> DbResult<usize> {
        let st = self.statement(sql, params)?;
        let args = Self::args(params);
        let n = self.with_deferred(self.client().execute(&st, &args))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn exec_deferred(&self, sql: &str, params: &[Val<'_>]) -> DbResult<()> {
        let statement = self.statement(sql, params)?;
        let full = {
            let mut queued = self.deferred.borrow_mut();
            queued.push(Deferred {
                statement,
                params: params.iter().map(owned).collect(),
            });
            queued.len() >= MAX_DEFERRED
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&self) -> DbResult<()> {
        if self.deferred.borrow().is_empty() {
            return Ok(());
        }
        self.with_deferred(std::future::ready(Ok(())))
    }

    fn discard_deferred(&self) {
        self.deferred.borrow_mut().clear();
    }

    fn each(
        &self,
        sql: &str,
        params: &[Val<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<bool>,
    ) -> DbResult<()> {
        let st = self.statement(sql, params)?;
        let args = Self::args(params);
        let rows = self.with_deferred(self.client().query(&st, &args))?;
        for r in &rows {
            if !f(&Row::Postgres(r))? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> DbResult<()> {
        self.with_deferred(self.client().batch_execute(sql))
    }

    fn last_insert_id(&self) -> DbResult<i64> {
        let row = self.with_deferred(self.client().query_one("SELECT lastval()", &[]))?;
        row.try_get(0).map_err(DbError::Postgres)
    }

    fn in_transaction(&self) -> bool {
        self.in_tx.get() && !self.client().is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::{params, DbExt};

    async fn shared() -> Arc<PgShared> {
        let url = maestro_testpg::shared_database().expect("a test database");
        super::super::connect(&url).await.expect("connect").db
    }

    /// NULLs whose type only a later use (or nothing) determines, and values whose own type
    /// is not the column's, still prepare and bind; the learnt types are reused.
    #[tokio::test(flavor = "multi_thread")]
    async fn parameters_get_types_the_server_accepts() {
        let shared = shared().await;
        tokio::task::block_in_place(|| {
            let db = shared.connect().expect("connection");
            db.batch("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, s TEXT, f DOUBLE PRECISION)")
                .expect("table");
            db.execute(
                "INSERT INTO t (id, n, s, f) VALUES (?1, ?2, ?3, ?4)",
                params!["a", 1i64, "x", 1.5f64],
            )
            .expect("insert");
            for (n, s) in [(None, None), (Some(7i64), None), (None, Some("y"))] {
                db.execute(
                    "UPDATE t SET n = CASE WHEN ?2 IS NOT NULL THEN ?2 ELSE n END, \
                     s = CASE WHEN ?3 IS NOT NULL THEN ?3 ELSE s END WHERE id = ?1",
                    params!["a", n, s],
                )
                .expect("update with NULLs");
            }
            let got: (i64, String) = db
                .query_row(
                    "SELECT n, s FROM t WHERE (?1 IS NULL OR id = ?1)",
                    [None::<String>],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("select with a NULL");
            assert_eq!(got, (7, "y".to_string()));
            // An integer where the column is text, text where it is a number.
            let n: i64 = db
                .query_row(
                    "SELECT COUNT(*) FROM t WHERE s = ?1 OR f = ?2",
                    params![5i64, "1.5"],
                    |r| r.get(0),
                )
                .expect("mismatched kinds");
            assert_eq!(n, 1);
        });
    }

    /// Deferred writes are sent in order with the next statement that is waited for, an
    /// error one of them meets is returned by that statement (or the flush), and discarded
    /// ones never run.
    #[tokio::test(flavor = "multi_thread")]
    async fn deferred_writes_run_in_order_and_report_their_errors() {
        let shared = shared().await;
        tokio::task::block_in_place(|| {
            let db = shared.connect().expect("connection");
            db.batch("CREATE TABLE d (id BIGINT PRIMARY KEY, s TEXT NOT NULL)")
                .expect("table");
            db.batch("BEGIN").expect("begin");
            for i in 0..5i64 {
                db.exec_later("INSERT INTO d (id, s) VALUES (?1, ?2)", params![i, "x"])
                    .expect("queued");
            }
            db.exec_later("UPDATE d SET s = 'y' WHERE id = ?1", [3i64])
                .expect("queued");
            // Many more than a handful, each depending on the one before: run in order.
            for i in 0..100i64 {
                db.exec_later(
                    "UPDATE d SET s = s || ?2 WHERE id = ?1",
                    params![4i64, i % 10],
                )
                .expect("queued");
            }
            // The read sees every write queued before it.
            let seen: String = db
                .query_row(
                    "SELECT string_agg(id || s, ',' ORDER BY id) FROM d",
                    [],
                    |r| r.get(0),
                )
                .expect("read after the queued writes");
            let digits: String = (0..100)
                .map(|i| char::from(b'0' + (i % 10) as u8))
                .collect();
            assert_eq!(seen, format!("0x,1x,2x,3y,4x{digits}"));
            // A write that fails: its error comes back from the flush, not later.
            db.exec_later(
                "INSERT INTO d (id, s) VALUES (?1, ?2)",
                params![1i64, "dup"],
            )
            .expect("queued");
            let e = db
                .flush()
                .expect_err("the duplicate key fails at the flush");
            assert!(
                matches!(&e, DbError::Postgres(p) if p.code().map(|c| c.code()) == Some("23505")),
                "{e}"
            );
            db.batch("ROLLBACK").expect("rollback");
            // Discarded writes never reach the server.
            db.exec_later("INSERT INTO d (id, s) VALUES (?1, ?2)", params![9i64, "x"])
                .expect("queued");
            db.discard_deferred();
            let n: i64 = db
                .query_row("SELECT COUNT(*) FROM d", [], |r| r.get(0))
                .expect("count");
            assert_eq!(
                n, 0,
                "the rolled-back and the discarded writes are not stored"
            );
        });
    }
}
