//! The harness against a real PostgreSQL.

use maestro_testpg::{psql, shared_database, stop_detached, TestPg};
use std::process::Command;

#[test]
fn starts_answers_queries_and_creates_databases() {
    let pg = TestPg::start().expect("start");
    assert_eq!(
        pg.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
    );
    assert_eq!(
        pg.psql("postgres", "SELECT 1 + 1").expect("query").trim(),
        "2"
    );
    assert_eq!(
        psql(&pg.url(), "SELECT current_user")
            .expect("query")
            .trim(),
        "postgres"
    );
    // The server runs with the settings the tests rely on.
    assert_eq!(
        pg.psql("postgres", "SHOW fsync").expect("fsync").trim(),
        "on"
    );
    assert_eq!(
        pg.psql("postgres", "SHOW max_connections")
            .expect("max")
            .trim(),
        "200"
    );
    let url = pg.create_database("app_db").expect("create");
    assert_eq!(url, pg.database_url("app_db"));
    let out = psql(
        &url,
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2); \
         SELECT current_database(), count(*) FROM t",
    )
    .expect("use the new database");
    assert_eq!(out.trim(), "app_db|2");
    assert!(pg.create_database("app_db").is_err(), "exists already");
    assert!(pg.create_database("bad-name").is_err());
}

#[test]
fn a_killed_server_starts_again_with_its_committed_data() {
    let mut pg = TestPg::start().expect("start");
    let port = pg.port();
    pg.psql(
        "postgres",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (42)",
    )
    .expect("write");
    let pid = pg.pid().expect("running");
    pg.kill();
    assert_eq!(pg.pid(), None);
    // SAFETY: signal 0 only checks whether the process exists.
    assert_ne!(
        unsafe { libc::kill(pid as libc::pid_t, 0) },
        0,
        "the postmaster is gone"
    );
    assert!(pg.psql("postgres", "SELECT 1").is_err(), "nothing answers");
    pg.start_again().expect("start again after a crash");
    assert_eq!(pg.port(), port);
    assert_eq!(
        pg.psql("postgres", "SELECT x FROM t").expect("read").trim(),
        "42"
    );
}

#[test]
fn a_stopped_server_starts_again_and_drop_removes_its_directory() {
    let mut pg = TestPg::start().expect("start");
    pg.psql(
        "postgres",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (7)",
    )
    .expect("write");
    pg.stop().expect("stop");
    pg.stop().expect("stopping twice is fine");
    assert!(pg.psql("postgres", "SELECT 1").is_err(), "nothing answers");
    pg.start_again().expect("start again");
    assert!(pg.start_again().is_err(), "already running");
    assert_eq!(
        pg.psql("postgres", "SELECT x FROM t").expect("read").trim(),
        "7"
    );
    let data = pg.data_dir();
    assert!(data.join("PG_VERSION").is_file());
    drop(pg);
    assert!(!data.exists(), "the directory is removed");
}

#[test]
fn shared_databases_are_fresh_and_distinct() {
    let a = shared_database().expect("first");
    let b = shared_database().expect("second");
    assert_ne!(a, b);
    psql(&a, "CREATE TABLE only_in_a (x int)").expect("create in a");
    psql(&b, "CREATE TABLE only_in_a (x int)").expect("b is a database of its own");
    let n = psql(
        &b,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    )
    .expect("count");
    assert_eq!(n.trim(), "1");
}

#[test]
fn the_binary_starts_a_detached_server_and_stops_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("cluster");
    let out = Command::new(env!("CARGO_BIN_EXE_testpg"))
        .args(["start", "--dir"])
        .arg(&dir)
        .output()
        .expect("run testpg start");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    assert_eq!(psql(&url, "SELECT 3").expect("query").trim(), "3");
    // The tree is the harness's: a random directory is refused.
    assert!(stop_detached(tmp.path()).is_err());
    let out = Command::new(env!("CARGO_BIN_EXE_testpg"))
        .args(["stop", "--dir"])
        .arg(&dir)
        .output()
        .expect("run testpg stop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.exists(), "stop removes the directory");
    assert!(psql(&url, "SELECT 3").is_err(), "nothing answers");
}
