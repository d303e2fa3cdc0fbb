//! TLS between the server and PostgreSQL, against a real PostgreSQL that accepts TCP
//! connections only over TLS (`hostssl`), with a certificate issued by a test CA for
//! `db.internal`: libpq's `sslmode` meanings (`verify-full`, `verify-ca`, `require`,
//! `disable`) and `sslrootcert`, each with a server started as a user would.
//!
//! Runs in the PostgreSQL pass of `tests/run-all.sh` (its own cluster; the SQLite pass has no
//! PostgreSQL to speak of). Waits poll for a condition; nothing asserts on time.

use maestro_tests::envelopes::envelope;
use maestro_tests::server::{on_postgres, refused_start, TestServer};
use serde_json::json;
use std::path::Path;

/// A CA and a certificate it issued for `names`, as PEM: (CA, server certificate, key).
fn issue(ca_name: &str, names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, ca_name.to_string());
    let issuer = rcgen::CertifiedIssuer::self_signed(ca, ca_key).expect("CA certificate");
    let key = rcgen::KeyPair::generate().expect("server key");
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    (issuer.pem(), cert.pem(), key.serialize_pem())
}

/// Starts a server on `url` expecting it to refuse to start; returns what it printed.
fn refused(url: &str, data_dir: &Path) -> String {
    refused_start(&[
        "--database-url".as_ref(),
        url.as_ref(),
        "--bind".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
}

#[test]
fn the_database_connection_follows_libpq_sslmode() {
    if !on_postgres() {
        eprintln!("pg_tls: runs in the PostgreSQL pass");
        return;
    }
    let pg = maestro_testpg::TestPg::start().expect("PostgreSQL");
    let (ca, cert, key) = issue("Maestro test CA", &["db.internal"]);
    let (other_ca, _, _) = issue("Another CA", &["db.internal"]);
    pg.enable_tls(&cert, &key, true).expect("TLS on");
    let dir = tempfile::tempdir().expect("tmp");
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca).expect("CA file");
    let other_path = dir.path().join("other-ca.pem");
    std::fs::write(&other_path, other_ca).expect("other CA file");
    let port = pg.port();
    let url = |db: &str, host: &str, query: &str| {
        let db_url = pg.create_database(db).expect("database");
        assert!(db_url.ends_with(db));
        format!("postgres://postgres@{host}:{port}/{db}?{query}")
    };
    let ca_q = format!("sslrootcert={}", ca_path.display());

    // verify-full: the certificate names db.internal (reached at 127.0.0.1 through hostaddr)
    // and chains to the CA given.
    let full = url(
        "full",
        "db.internal",
        &format!("hostaddr=127.0.0.1&sslmode=verify-full&{ca_q}"),
    );
    let server = TestServer::start_with_env(&[("MAESTRO_DATABASE_URL", &full)]);
    let env = envelope(
        &json!({"session_id": "tls-1", "hook_event_name": "PostToolUse", "cwd": "/tmp/p",
            "tool_name": "Bash", "tool_use_id": "toolu_tls_1",
            "tool_input": {"command": "true"}, "tool_response": {"stdout": ""}}),
        chrono::Utc::now(),
    );
    let (status, body) = server.ingest(&env);
    assert_eq!(status, 200, "{body}");
    let health = server.get("/healthz");
    assert!(
        health["store"]["database"]
            .as_str()
            .is_some_and(|d| d.starts_with("postgresql")),
        "healthz reports the database: {health}"
    );
    // Every connection of the server to its database is encrypted.
    let conns = pg
        .psql(
            "postgres",
            "SELECT count(*) || '|' || bool_and(s.ssl) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'full'",
        )
        .expect("pg_stat_ssl");
    let (n, all_tls) = conns.trim().split_once('|').expect("count|bool");
    assert!(
        n.parse::<u32>().expect("count") >= 2,
        "connections: {conns}"
    );
    assert_eq!(all_tls, "true", "every connection over TLS: {conns}");
    drop(server);

    // verify-full to a name the certificate does not carry: refused, and the error says why.
    let wrong_name = url(
        "wrong_name",
        "127.0.0.1",
        &format!("sslmode=verify-full&{ca_q}"),
    );
    let text = refused(&wrong_name, &dir.path().join("d1"));
    assert!(
        text.contains("sslmode=verify-full") && text.contains("not valid for name"),
        "the refusal says the certificate is not for that name: {text}"
    );

    // verify-full against another CA: refused.
    let wrong_ca = url(
        "wrong_ca",
        "db.internal",
        &format!(
            "hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
            other_path.display()
        ),
    );
    let text = refused(&wrong_ca, &dir.path().join("d2"));
    assert!(
        text.contains("UnknownIssuer"),
        "the refusal says the certificate's issuer is not trusted: {text}"
    );

    // verify-ca checks the chain, not the name.
    let ca_only = url("ca_only", "127.0.0.1", &format!("sslmode=verify-ca&{ca_q}"));
    let server = TestServer::start_with_env(&[("MAESTRO_DATABASE_URL", &ca_only)]);
    assert_eq!(server.ingest(&env).0, 200);
    drop(server);
    let text = refused(
        &url(
            "ca_only_wrong",
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={}", other_path.display()),
        ),
        &dir.path().join("d3"),
    );
    assert!(text.contains("UnknownIssuer"), "{text}");

    // require encrypts without a CA (libpq's meaning).
    let require = url("req", "127.0.0.1", "sslmode=require");
    let server = TestServer::start_with_env(&[("MAESTRO_DATABASE_URL", &require)]);
    assert_eq!(server.ingest(&env).0, 200);
    drop(server);

    // disable: this server takes TLS only, so it is refused by PostgreSQL itself.
    let text = refused(
        &url("plain", "127.0.0.1", "sslmode=disable"),
        &dir.path().join("d4"),
    );
    assert!(text.contains("no encryption"), "{text}");
}
