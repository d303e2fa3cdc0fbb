//! The SQL both stores run: one connection interface ([`Db`]) over SQLite (rusqlite) and
//! PostgreSQL (tokio-postgres), so that every projection, query and write job is written once.
//!
//! Statements use SQLite's numbered placeholders (`?1`, `?2`, ...); on PostgreSQL they are
//! rewritten to `$1`, `$2`, ... ([`to_postgres_placeholders`]). Where the dialects differ, the
//! caller asks [`Db::dialect`]. Values cross as [`Val`]: integers, reals, text, bytes, NULL:
//! the SQLite storage classes, which PostgreSQL columns of type BIGINT, DOUBLE PRECISION, TEXT
//! and BYTEA hold as they are.

use std::borrow::Cow;

/// Which SQL the connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server (team mode).
    Postgres,
}

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(Cow<'a, str>),
    /// Bytes.
    Blob(Cow<'a, [u8]>),
}

/// A value a statement can bind.
pub trait ToVal {
    /// The value to bind.
    fn to_val(&self) -> Val<'_>;
}

impl ToVal for Val<'_> {
    fn to_val(&self) -> Val<'_> {
        match self {
            Val::Null => Val::Null,
            Val::Int(v) => Val::Int(*v),
            Val::Real(v) => Val::Real(*v),
            Val::Text(t) => Val::Text(Cow::Borrowed(t)),
            Val::Blob(b) => Val::Blob(Cow::Borrowed(b)),
        }
    }
}

macro_rules! int_to_val {
    ($($t:ty),*) => {$(
        impl ToVal for $t {
            fn to_val(&self) -> Val<'_> {
                Val::Int(*self as i64)
            }
        }
    )*};
}
int_to_val!(i64, i32, u32, i16, u16, u8, isize);

impl ToVal for u64 {
    fn to_val(&self) -> Val<'_> {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToVal for usize {
    fn to_val(&self) -> Val<'_> {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToVal for bool {
    fn to_val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}
impl ToVal for f64 {
    fn to_val(&self) -> Val<'_> {
        Val::Real(*self)
    }
}
impl ToVal for f32 {
    fn to_val(&self) -> Val<'_> {
        Val::Real(f64::from(*self))
    }
}
impl ToVal for str {
    fn to_val(&self) -> Val<'_> {
        Val::Text(Cow::Borrowed(self))
    }
}
impl ToVal for String {
    fn to_val(&self) -> Val<'_> {
        Val::Text(Cow::Borrowed(self))
    }
}
impl ToVal for [u8] {
    fn to_val(&self) -> Val<'_> {
        Val::Blob(Cow::Borrowed(self))
    }
}
impl ToVal for Vec<u8> {
    fn to_val(&self) -> Val<'_> {
        Val::Blob(Cow::Borrowed(self))
    }
}
impl<T: ToVal + ?Sized> ToVal for &T {
    fn to_val(&self) -> Val<'_> {
        (**self).to_val()
    }
}
impl<T: ToVal + ?Sized> ToVal for Box<T> {
    fn to_val(&self) -> Val<'_> {
        (**self).to_val()
    }
}
impl<T: ToVal> ToVal for Option<T> {
    fn to_val(&self) -> Val<'_> {
        match self {
            Some(v) => v.to_val(),
            None => Val::Null,
        }
    }
}

/// The parameters of a statement: `[]`, `params![a, b]`, `[&x, &y]`, a slice.
pub trait Params {
    /// The values, in placeholder order.
    fn vals(&self) -> Vec<Val<'_>>;
}

impl Params for [&dyn ToVal; 0] {
    fn vals(&self) -> Vec<Val<'_>> {
        Vec::new()
    }
}
impl Params for &[&dyn ToVal] {
    fn vals(&self) -> Vec<Val<'_>> {
        self.iter().map(|v| v.to_val()).collect()
    }
}
macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToVal> Params for [T; $n] {
            fn vals(&self) -> Vec<Val<'_>> {
                self.iter().map(ToVal::to_val).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
impl<T: ToVal, const N: usize> Params for &[T; N] {
    fn vals(&self) -> Vec<Val<'_>> {
        self.iter().map(ToVal::to_val).collect()
    }
}
impl<T: ToVal> Params for Vec<T> {
    fn vals(&self) -> Vec<Val<'_>> {
        self.iter().map(ToVal::to_val).collect()
    }
}
impl<T: ToVal> Params for &Vec<T> {
    fn vals(&self) -> Vec<Val<'_>> {
        self.iter().map(ToVal::to_val).collect()
    }
}

/// Statement parameters of mixed types, as rusqlite's `params!`.
#[macro_export]
macro_rules! sql_params {
    () => { [] as [&dyn $crate::store::sql::ToVal; 0] };
    ($($v:expr),+ $(,)?) => { [$(&$v as &dyn $crate::store::sql::ToVal),+] };
}
pub use sql_params as params;

/// A database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite said no.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no (or its connection is gone).
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// The connection pool could not give a connection.
    #[error("no PostgreSQL connection: {0}")]
    Pool(String),
    /// A column did not hold what the code reads from it.
    #[error("column {index}: {message}")]
    Column {
        /// Column index.
        index: usize,
        /// What was wrong.
        message: String,
    },
    /// A query that must return a row returned none.
    #[error("query returned no rows")]
    NoRow,
}

/// Result of a database call.
pub type DbResult<T> = Result<T, DbError>;

/// `Ok(None)` for [`DbError::NoRow`], as rusqlite's `OptionalExtension`.
pub trait OptionalExt<T> {
    /// The row, or None when the query returned none.
    fn optional(self) -> DbResult<Option<T>>;
}

impl<T> OptionalExt<T> for DbResult<T> {
    fn optional(self) -> DbResult<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRow) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A column position (rusqlite's `RowIndex`; only `usize`, so `r.get(0)` infers it).
pub trait RowIndex {
    /// The position.
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of a result.
pub enum Row<'r> {
    /// A SQLite row.
    Sqlite(&'r rusqlite::Row<'r>),
    /// A PostgreSQL row.
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `index` as `T` (rusqlite's call shape: `r.get(0)?`, `r.get::<_, String>(1)?`).
    pub fn get<I: RowIndex, T: FromVal>(&self, index: I) -> DbResult<T> {
        let index = index.index();
        let v = self.value(index)?;
        T::from_val(v).map_err(|message| DbError::Column { index, message })
    }

    /// Column `index` as it is.
    pub fn value(&self, index: usize) -> DbResult<Val<'_>> {
        match self {
            Row::Sqlite(r) => {
                use rusqlite::types::ValueRef;
                Ok(match r.get_ref(index)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Real(v),
                    ValueRef::Text(t) => match std::str::from_utf8(t) {
                        Ok(s) => Val::Text(Cow::Borrowed(s)),
                        Err(_) => Val::Blob(Cow::Borrowed(t)),
                    },
                    ValueRef::Blob(b) => Val::Blob(Cow::Borrowed(b)),
                })
            }
            Row::Postgres(r) => super::pg::value::read(r, index),
        }
    }
}

/// A type a column can be read as.
pub trait FromVal: Sized {
    /// The value as `Self`, or what was wrong.
    fn from_val(v: Val<'_>) -> Result<Self, String>;
}

fn mismatch(want: &str, got: &Val<'_>) -> String {
    let got = match got {
        Val::Null => "NULL",
        Val::Int(_) => "an integer",
        Val::Real(_) => "a real",
        Val::Text(_) => "text",
        Val::Blob(_) => "bytes",
    };
    format!("expected {want}, found {got}")
}

impl FromVal for i64 {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Int(i) => Ok(i),
            other => Err(mismatch("an integer", &other)),
        }
    }
}
macro_rules! int_from_val {
    ($($t:ty),*) => {$(
        impl FromVal for $t {
            fn from_val(v: Val<'_>) -> Result<Self, String> {
                let i = i64::from_val(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} out of range"))
            }
        }
    )*};
}
int_from_val!(i32, u32, u64, usize, i16, u16, u8);

impl FromVal for bool {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        Ok(i64::from_val(v)? != 0)
    }
}
impl FromVal for f64 {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Real(f) => Ok(f),
            Val::Int(i) => Ok(i as f64),
            other => Err(mismatch("a number", &other)),
        }
    }
}
impl FromVal for String {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Text(t) => Ok(t.into_owned()),
            other => Err(mismatch("text", &other)),
        }
    }
}
impl FromVal for Vec<u8> {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Blob(b) => Ok(b.into_owned()),
            Val::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(mismatch("bytes", &other)),
        }
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        match v {
            Val::Null => Ok(None),
            v => T::from_val(v).map(Some),
        }
    }
}
impl FromVal for Val<'static> {
    fn from_val(v: Val<'_>) -> Result<Self, String> {
        Ok(match v {
            Val::Null => Val::Null,
            Val::Int(i) => Val::Int(i),
            Val::Real(f) => Val::Real(f),
            Val::Text(t) => Val::Text(Cow::Owned(t.into_owned())),
            Val::Blob(b) => Val::Blob(Cow::Owned(b.into_owned())),
        })
    }
}

/// A connection (or the writer's open transaction) of either store.
pub trait Db {
    /// Which SQL it speaks.
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the rows it changed.
    fn exec(&self, sql: &str, params: &[Val<'_>]) -> DbResult<usize>;
    /// Runs a query, calling `f` with each row in order until it returns `Ok(false)`.
    fn each(
        &self,
        sql: &str,
        params: &[Val<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<bool>,
    ) -> DbResult<()>;
    /// Runs statements without parameters (DDL, savepoints).
    fn batch(&self, sql: &str) -> DbResult<()>;
    /// The id the last INSERT gave its row (SQLite's rowid; PostgreSQL's `lastval()`).
    fn last_insert_id(&self) -> DbResult<i64>;
    /// Whether a transaction is open (SQLite rolls the whole transaction back on some I/O
    /// errors; a PostgreSQL connection can be lost).
    fn in_transaction(&self) -> bool;
    /// Runs a statement whose result the caller does not need. SQLite runs it at once; on
    /// PostgreSQL it is queued and sent in one pipeline with the next statement that needs an
    /// answer, or at [`Db::flush`]: one round trip for all of them. An error it meets is
    /// returned by that later call. Only the writer's jobs use it (each job is flushed
    /// when it returns, so an error is the job's own).
    fn exec_deferred(&self, sql: &str, params: &[Val<'_>]) -> DbResult<()> {
        self.exec(sql, params).map(|_| ())
    }
    /// Sends what [`Db::exec_deferred`] queued and waits for it; its first error.
    fn flush(&self) -> DbResult<()> {
        Ok(())
    }
    /// Drops what [`Db::exec_deferred`] queued without sending it (a job that failed is
    /// rolled back anyway).
    fn discard_deferred(&self) {}
}

/// The calls the store code makes, on any [`Db`] (rusqlite's names and shapes).
pub trait DbExt: Db {
    /// Runs a statement; returns the rows it changed.
    fn execute<P: Params>(&self, sql: &str, params: P) -> DbResult<usize> {
        self.exec(sql, &params.vals())
    }
    /// Same as [`DbExt::execute`] (every statement is prepared once per connection).
    fn exec_cached<P: Params>(&self, sql: &str, params: P) -> DbResult<usize> {
        self.exec(sql, &params.vals())
    }
    /// A write whose result is not needed, sent with the next statement that needs one
    /// ([`Db::exec_deferred`]).
    fn exec_later<P: Params>(&self, sql: &str, params: P) -> DbResult<()> {
        self.exec_deferred(sql, &params.vals())
    }
    /// The first row mapped by `f`; [`DbError::NoRow`] when there is none.
    fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> DbResult<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> DbResult<T> {
        let mut f = Some(f);
        let mut out = None;
        // The first row only: the rest are not read.
        self.each(sql, &params.vals(), &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(false)
        })?;
        out.ok_or(DbError::NoRow)
    }
    /// Same as [`DbExt::query_row`].
    fn row_cached<T, P: Params, F: FnOnce(&Row<'_>) -> DbResult<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> DbResult<T> {
        self.query_row(sql, params, f)
    }
    /// Every row mapped by `f`.
    fn rows<T, P: Params, F: FnMut(&Row<'_>) -> DbResult<T>>(
        &self,
        sql: &str,
        params: P,
        mut f: F,
    ) -> DbResult<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, &params.vals(), &mut |r| {
            out.push(f(r)?);
            Ok(true)
        })?;
        Ok(out)
    }
    /// A statement to run later (rusqlite's `prepare` shape; preparing happens on the first
    /// run, and each connection keeps what it prepared).
    fn prepare<'c>(&'c self, sql: &str) -> DbResult<Stmt<'c, Self>> {
        Ok(Stmt {
            db: self,
            sql: sql.to_string(),
        })
    }
    /// Same as [`DbExt::prepare`].
    fn prepare_cached<'c>(&'c self, sql: &str) -> DbResult<Stmt<'c, Self>> {
        self.prepare(sql)
    }
}

/// A statement of [`DbExt::prepare`].
pub struct Stmt<'c, D: ?Sized> {
    db: &'c D,
    sql: String,
}

impl<D: Db + ?Sized> Stmt<'_, D> {
    /// Every row mapped by `f`, as an iterator of results (rusqlite's `query_map` shape).
    pub fn query_map<T, P: Params, F: FnMut(&Row<'_>) -> DbResult<T>>(
        &mut self,
        params: P,
        mut f: F,
    ) -> DbResult<std::vec::IntoIter<DbResult<T>>> {
        let mut out = Vec::new();
        self.db.each(&self.sql, &params.vals(), &mut |r| {
            out.push(Ok(f(r)?));
            Ok(true)
        })?;
        Ok(out.into_iter())
    }
    /// The first row mapped by `f`.
    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> DbResult<T>>(
        &mut self,
        params: P,
        f: F,
    ) -> DbResult<T> {
        self.db.query_row(&self.sql, params, f)
    }
    /// Calls `f` with each row in order.
    pub fn for_each<P: Params, F: FnMut(&Row<'_>) -> DbResult<()>>(
        &mut self,
        params: P,
        mut f: F,
    ) -> DbResult<()> {
        self.db
            .each(&self.sql, &params.vals(), &mut |r| f(r).map(|()| true))
    }
    /// Runs it; returns the rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> DbResult<usize> {
        self.db.execute(&self.sql, params)
    }
}

impl<D: Db + ?Sized> DbExt for D {}

/// Binds a [`Val`] to a SQLite statement.
impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => ValueRef::Null,
            Val::Int(v) => ValueRef::Integer(*v),
            Val::Real(v) => ValueRef::Real(*v),
            Val::Text(t) => ValueRef::Text(t.as_bytes()),
            Val::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Db for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&self, sql: &str, params: &[Val<'_>]) -> DbResult<usize> {
        let mut stmt = self.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))?)
    }

    fn each(
        &self,
        sql: &str,
        params: &[Val<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> DbResult<bool>,
    ) -> DbResult<()> {
        let mut stmt = self.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(r) = rows.next()? {
            if !f(&Row::Sqlite(r))? {
                break;
            }
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> DbResult<()> {
        Ok(self.execute_batch(sql)?)
    }

    fn in_transaction(&self) -> bool {
        !self.is_autocommit()
    }

    fn last_insert_id(&self) -> DbResult<i64> {
        Ok(self.last_insert_rowid())
    }
}

/// Rewrites SQLite's `?N` placeholders (and bare `?`, numbered in order) to PostgreSQL's `$N`,
/// leaving string literals, quoted identifiers and comments alone.
pub fn to_postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 1;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        assert_eq!(
            to_postgres_placeholders("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?3'"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?3'"
        );
        assert_eq!(
            to_postgres_placeholders("UPDATE t SET a = ? -- why?\n WHERE \"x?\" = ?"),
            "UPDATE t SET a = $1 -- why?\n WHERE \"x?\" = $2"
        );
    }

    #[test]
    fn sqlite_round_trips_every_value_kind() {
        let sqlite = rusqlite::Connection::open_in_memory().expect("db");
        let conn: &dyn Db = &sqlite;
        conn.batch("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)")
            .expect("table");
        let blob = vec![0u8, 255, 7];
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            params![42i64, 1.5f64, "é", blob, None::<String>],
        )
        .expect("insert");
        let got = conn
            .query_row("SELECT i, r, s, b, n FROM t", [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, f64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .expect("row");
        assert_eq!(got, (42, 1.5, "é".to_string(), blob, None));
        let none = conn
            .query_row("SELECT i FROM t WHERE i = ?1", [7i64], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .expect("query");
        assert_eq!(none, None);
        let wrong = conn
            .query_row("SELECT s FROM t", [], |r| r.get::<_, i64>(0))
            .expect_err("text is not an integer");
        assert!(matches!(wrong, DbError::Column { index: 0, .. }), "{wrong}");
    }
}
