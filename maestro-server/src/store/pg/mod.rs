//! The PostgreSQL store (team mode): the same SQL as the SQLite store ([`super::sql`]) on a
//! PostgreSQL server shared by several replicas.

pub mod value;
