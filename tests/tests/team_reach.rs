//! Team reach with real processes: machine credentials (`maestro-server machines`), enrolment
//! (`maestro-hook login`), events attributed to the machine the server verified, a revoked
//! machine refused and its events quarantined, and hook and server over TLS (a self-signed
//! certificate with a pinned fingerprint, a private CA) on distinct loopback addresses; a wrong
//! fingerprint is reported clearly and the hook spools (nothing lost).

mod hook_support;

use hook_support::{run_bounded, HookEnv, Run, HOOK_BOUND};
use maestro_tests::server::{with_test_tokens, TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use maestro_tests::{bin_path, wait_for};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `maestro-server --data-dir DIR <args>` (a subcommand next to a running server or alone).
fn server_cli(data_dir: &Path, args: &[&str]) -> Run {
    let mut cmd = maestro_tests::server::server_command(data_dir);
    with_test_tokens(cmd.args(args));
    run_bounded(cmd, b"", HOOK_BOUND)
}

/// `machines add NAME`: the credential it printed.
fn add_machine(data_dir: &Path, name: &str) -> String {
    let run = server_cli(data_dir, &["machines", "add", name]);
    assert_eq!(run.status.code(), Some(0), "machines add: {}", run.stderr);
    let out = run.out();
    let cred = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("mch_"))
        .unwrap_or_else(|| panic!("no credential printed: {out}"))
        .to_string();
    assert_eq!(cred.len(), 4 + 64, "{cred}");
    cred
}

/// `machines list` as (name, events, status) rows.
fn machines(data_dir: &Path) -> Vec<(String, i64, String)> {
    let run = server_cli(data_dir, &["machines", "list"]);
    assert_eq!(run.status.code(), Some(0), "machines list: {}", run.stderr);
    run.out()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // name, created, last seen, events, status...
            Some((
                cols.first()?.to_string(),
                cols.get(3)?.parse().ok()?,
                cols.get(4..)?.join(" "),
            ))
        })
        .collect()
}

fn events_of(data_dir: &Path, name: &str) -> i64 {
    machines(data_dir)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, e, _)| e)
        .unwrap_or_else(|| panic!("machine {name} not listed"))
}

/// A hook environment that takes its server and credential from its config file only (what
/// `login` writes).
fn enrolled_env(url: &str) -> HookEnv {
    let mut env = HookEnv::new(url);
    env.vars
        .retain(|(k, _)| k != "MAESTRO_URL" && k != "MAESTRO_TOKEN");
    env
}

fn config_path(env: &HookEnv) -> PathBuf {
    env.tmp.path().join("config.env")
}

fn login(env: &HookEnv, url: &str, credential: &str, extra: &[&str]) -> Run {
    let mut args = vec!["login", url];
    args.extend_from_slice(extra);
    env.run(&args, format!("{credential}\n").as_bytes())
}

fn session_start(claude_sid: &str) -> Value {
    json!({"session_id": claude_sid, "hook_event_name": "SessionStart", "cwd": "/tmp",
           "source": "startup", "transcript_path": "/tmp/t.jsonl"})
}

fn stop(claude_sid: &str) -> Value {
    json!({"session_id": claude_sid, "hook_event_name": "Stop", "cwd": "/tmp",
           "transcript_path": "/tmp/t.jsonl", "stop_hook_active": false})
}

fn session_of(server: &TestServer, claude_sid: &str) -> Value {
    let list = server.get(&format!("/api/sessions?claude_session_id={claude_sid}"));
    list.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("no session for {claude_sid}: {list}"))
}

fn webhook_status(url: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{url}/api/webhooks/hook-event"))
        .bearer_auth(token)
        .send()
        .expect("GET webhook");
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

#[test]
fn machines_enrol_with_login_and_their_events_carry_the_verified_name() {
    let server = TestServer::start();
    let laptop = add_machine(&server.data_dir, "laptop-a");
    let ci = add_machine(&server.data_dir, "ci-b");
    assert_ne!(laptop, ci);
    // Only hashes are stored: the database never holds a credential.
    let (db, wal) = match maestro_tests::server::database_for(&server.data_dir) {
        Some(url) => (
            maestro_testpg::psql(&url, "SELECT * FROM machines")
                .expect("read the machines table")
                .into_bytes(),
            Vec::new(),
        ),
        None => (
            std::fs::read(server.data_dir.join("maestro.db")).unwrap_or_default(),
            std::fs::read(server.data_dir.join("maestro.db-wal")).unwrap_or_default(),
        ),
    };
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(laptop.len()).any(|w| w == laptop.as_bytes()),
            "a credential is stored in clear"
        );
    }

    let a = enrolled_env(&server.url);
    let b = enrolled_env(&server.url);
    let run = login(&a, &server.url, &laptop, &[]);
    assert_eq!(run.status.code(), Some(0), "login: {}", run.stderr);
    assert!(run.out().contains("as machine laptop-a"), "{}", run.out());
    let mode = std::fs::metadata(config_path(&a))
        .expect("config written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "config mode {mode:o}");
    let text = std::fs::read_to_string(config_path(&a)).expect("config");
    assert!(
        text.contains(&format!("MAESTRO_URL={}", server.url)),
        "{text}"
    );
    assert!(text.contains(&format!("MAESTRO_TOKEN={laptop}")), "{text}");
    let run = b.run(&["login", &server.url, "--token", &ci], b"");
    assert_eq!(run.status.code(), Some(0), "login: {}", run.stderr);

    // A wrong credential is refused and nothing is written.
    let c = enrolled_env(&server.url);
    let run = login(&c, &server.url, "mch_not-a-credential", &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stderr.contains("REJECTED"), "{}", run.stderr);
    assert!(!config_path(&c).exists());

    for (env, sid) in [(&a, "sess-laptop-a"), (&b, "sess-ci-b")] {
        env.send(&session_start(sid)).assert_silent_success("start");
        env.send(&stop(sid)).assert_silent_success("stop");
        assert!(env.spooled().is_empty() && env.quarantined().is_empty());
    }
    // The local ingest token still works, and its events carry no machine.
    let local = HookEnv::for_server(&server);
    local
        .send(&session_start("sess-local"))
        .assert_silent_success("local");

    assert_eq!(session_of(&server, "sess-laptop-a")["machine"], "laptop-a");
    assert_eq!(session_of(&server, "sess-ci-b")["machine"], "ci-b");
    assert!(session_of(&server, "sess-local").get("machine").is_none());
    assert_eq!(events_of(&server.data_dir, "laptop-a"), 2);
    assert_eq!(events_of(&server.data_dir, "ci-b"), 2);

    let status = a.run(&["status"], b"");
    let out = status.out();
    assert!(out.contains("machine: laptop-a"), "{out}");
    assert!(out.contains("tls: none (plain http)"), "{out}");
    assert!(out.contains("maestro-hook "), "{out}");

    // The webhook takes neither the operator token nor the cookie; operator routes take no
    // machine credential.
    assert_eq!(webhook_status(&server.url, OPERATOR_TOKEN).0, 401);
    let (s, body) = webhook_status(&server.url, &laptop);
    assert_eq!((s, body["machine"].as_str()), (200, Some("laptop-a")));
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/api/sessions", server.url))
        .bearer_auth(&laptop)
        .send()
        .expect("GET sessions");
    assert_eq!(resp.status().as_u16(), 403);
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/login", server.url))
        .json(&json!({"token": laptop}))
        .send()
        .expect("login");
    assert_eq!(resp.status().as_u16(), 403);
}

#[test]
fn a_revoked_machine_is_refused_and_its_events_are_quarantined() {
    let server = TestServer::start();
    let cred = add_machine(&server.data_dir, "old-box");
    let env = enrolled_env(&server.url);
    assert_eq!(login(&env, &server.url, &cred, &[]).status.code(), Some(0));
    env.send(&session_start("sess-old-box"))
        .assert_silent_success("before revoke");
    assert_eq!(events_of(&server.data_dir, "old-box"), 1);

    let run = server_cli(&server.data_dir, &["machines", "revoke", "old-box"]);
    assert_eq!(run.status.code(), Some(0), "revoke: {}", run.stderr);
    let (_, status) = machines(&server.data_dir)
        .into_iter()
        .map(|(n, _, s)| (n, s))
        .find(|(n, _)| n == "old-box")
        .expect("listed");
    assert!(status.starts_with("revoked"), "{status}");
    // Revocation reaches the running server within its cache time.
    let body = wait_for("the credential refused", Duration::from_secs(30), || {
        let (s, body) = webhook_status(&server.url, &cred);
        (s == 401).then_some(body)
    });
    assert_eq!(body["error"]["code"], "machine_revoked");

    env.send(&stop("sess-old-box"))
        .assert_silent_success("after revoke");
    let q = env.quarantined();
    assert_eq!(q.len(), 1, "the refused event is kept");
    let mut reason_path = q[0].clone().into_os_string();
    reason_path.push(".reason");
    let reason = std::fs::read_to_string(reason_path).expect("reason");
    assert!(reason.contains("machine revoked"), "{reason}");
    assert!(env.spooled().is_empty(), "not retried forever");
    assert_eq!(events_of(&server.data_dir, "old-box"), 1, "nothing stored");

    let status = env.run(&["status"], b"");
    assert_eq!(status.status.code(), Some(1));
    assert!(status.out().contains("REVOKED"), "{}", status.out());
}

/// A server child with its own arguments; its stdout lines are collected.
struct Server {
    child: Child,
    url: String,
    fingerprint: Option<String>,
    data_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(bind: &str, args: &[&str]) -> Server {
    start_server_with_env(bind, args, &[])
}

fn start_server_with_env(bind: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    let tmp = tempfile::tempdir().expect("tmp");
    let data_dir = tmp.path().join("data");
    let mut child = with_test_tokens(&mut maestro_tests::server::server_command(&data_dir))
        .args(["--bind", bind])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keeps reading after the start lines are found: the server's stdout stays open.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut url = None;
    let mut fingerprint = None;
    while url.is_none() || (fingerprint.is_none() && args.iter().any(|a| a.starts_with("--tls"))) {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server start line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            url = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.split("TLS SHA-256 fingerprint: ").nth(1) {
            fingerprint = Some(rest.trim().to_string());
        }
    }
    Server {
        child,
        url: url.expect("url"),
        fingerprint,
        data_dir,
        _tmp: tmp,
    }
}

fn hook_log(env: &HookEnv) -> String {
    std::fs::read_to_string(env.spool.join("hook.log")).unwrap_or_default()
}

#[test]
fn hook_and_server_over_tls_with_a_pinned_self_signed_certificate() {
    let server = start_server("127.0.0.2:0", &["--tls-self-signed"]);
    assert!(
        server.url.starts_with("https://127.0.0.2:"),
        "{}",
        server.url
    );
    let fp = server.fingerprint.clone().expect("fingerprint printed");
    for f in ["tls-self-signed.key", "tls-self-signed.crt"] {
        let mode = std::fs::metadata(server.data_dir.join(f))
            .expect("kept in the data dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}: {mode:o}");
    }
    let cred = add_machine(&server.data_dir, "remote-1");

    // Without a pin the self-signed certificate is not trusted: refused, and the message
    // names the certificate the server presented.
    let env = enrolled_env(&server.url);
    let run = login(&env, &server.url, &cred, &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stderr.contains(&fp), "{}", run.stderr);
    assert!(!config_path(&env).exists());

    let run = login(&env, &server.url, &cred, &["--fingerprint", &fp]);
    assert_eq!(run.status.code(), Some(0), "login: {}", run.stderr);
    assert!(run.out().contains("as machine remote-1"), "{}", run.out());
    let text = std::fs::read_to_string(config_path(&env)).expect("config");
    assert!(
        text.contains(&format!("MAESTRO_TLS_FINGERPRINT={fp}")),
        "{text}"
    );
    env.send(&session_start("sess-tls"))
        .assert_silent_success("over TLS");
    assert!(env.spooled().is_empty(), "{}", hook_log(&env));
    assert_eq!(events_of(&server.data_dir, "remote-1"), 1);
    let status = env.run(&["status"], b"");
    assert!(
        status
            .out()
            .contains("verifies the server by pinned certificate"),
        "{}",
        status.out()
    );
    assert!(
        status.out().contains("machine: remote-1"),
        "{}",
        status.out()
    );

    // A wrong pin: reported clearly, the event spooled, nothing lost once the pin is right.
    let wrong = "AA:".repeat(31) + "AA";
    let mut bad = enrolled_env(&server.url);
    bad.set("MAESTRO_URL", &server.url);
    bad.set("MAESTRO_TOKEN", &cred);
    bad.set("MAESTRO_TLS_FINGERPRINT", &wrong);
    bad.send(&session_start("sess-wrong-pin"))
        .assert_silent_success("wrong pin");
    assert_eq!(bad.spooled().len(), 1, "spooled, not lost");
    let log = hook_log(&bad);
    assert!(log.contains("is not the pinned one"), "{log}");
    assert!(log.contains(&fp), "names the presented certificate: {log}");
    let status = bad.run(&["status"], b"");
    assert_eq!(status.status.code(), Some(1));
    assert!(
        status.out().contains("is not the pinned one"),
        "{}",
        status.out()
    );
    bad.set("MAESTRO_TLS_FINGERPRINT", &fp);
    let flush = bad.flush();
    assert_eq!(flush.status.code(), Some(0), "{}", flush.out());
    assert!(bad.spooled().is_empty());
    assert_eq!(events_of(&server.data_dir, "remote-1"), 2);
}

#[test]
fn hook_and_server_over_tls_with_a_private_ca() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let tmp = tempfile::tempdir().expect("tmp");
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Maestro test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["127.0.0.3".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    let ca_file = tmp.path().join("ca.pem");
    let cert_file = tmp.path().join("server.pem");
    let key_file = tmp.path().join("server.key");
    std::fs::write(&ca_file, ca_cert.pem()).expect("ca");
    std::fs::write(&cert_file, leaf.pem()).expect("cert");
    std::fs::write(&key_file, leaf_key.serialize_pem()).expect("key");

    let server = start_server(
        "127.0.0.3:0",
        &[
            "--tls-cert",
            cert_file.to_str().expect("utf8"),
            "--tls-key",
            key_file.to_str().expect("utf8"),
        ],
    );
    assert!(
        server.url.starts_with("https://127.0.0.3:"),
        "{}",
        server.url
    );
    let cred = add_machine(&server.data_dir, "ci-runner");
    let env = enrolled_env(&server.url);
    let run = login(
        &env,
        &server.url,
        &cred,
        &["--ca-file", ca_file.to_str().expect("utf8")],
    );
    assert_eq!(run.status.code(), Some(0), "login: {}", run.stderr);
    env.send(&session_start("sess-ca"))
        .assert_silent_success("over TLS");
    env.send(&stop("sess-ca")).assert_silent_success("over TLS");
    assert!(env.spooled().is_empty(), "{}", hook_log(&env));
    assert_eq!(events_of(&server.data_dir, "ci-runner"), 2);
    let status = env.run(&["status"], b"");
    assert_eq!(status.status.code(), Some(0), "{}", status.out());
    assert!(status.out().contains("CA file"), "{}", status.out());
}

#[test]
fn plain_http_on_a_non_loopback_address_needs_an_explicit_flag() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut cmd = Command::new(bin_path("maestro-server"));
    cmd.args(["--bind", "0.0.0.0:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .env("MAESTRO_INGEST_TOKEN", INGEST_TOKEN)
        .env("MAESTRO_OPERATOR_TOKEN", OPERATOR_TOKEN);
    let run = run_bounded(cmd, b"", HOOK_BOUND);
    assert_ne!(run.status.code(), Some(0), "started: {}", run.out());
    assert!(run.stderr.contains("--allow-plain-http"), "{}", run.stderr);
    assert!(!run.out().contains("listening"), "{}", run.out());
}

/// The operator API over HTTPS (the test's own client; what is under test is the hook's
/// verification, so this one does not verify).
/// POST with a body, GET without.
fn operator(url: &str, body: Option<Value>) -> (u16, Value) {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(true)
        .build();
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .new_agent();
    let auth = format!("Bearer {OPERATOR_TOKEN}");
    let resp = match body {
        Some(b) => agent
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(b.to_string().as_bytes()),
        None => agent.get(url).header("Authorization", &auth).call(),
    };
    let mut resp = resp.expect("operator request");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn sessions_the_server_spawns_report_over_its_https() {
    let fake = bin_path("fake_claude").display().to_string();
    let spool = tempfile::tempdir().expect("spool");
    let project = tempfile::tempdir().expect("project");
    let spool_s = spool.path().display().to_string();
    let server = start_server_with_env(
        "127.0.0.4:0",
        &["--tls-self-signed"],
        &[
            ("MAESTRO_CLAUDE_COMMAND", fake.as_str()),
            ("MAESTRO_SPOOL_DIR", spool_s.as_str()),
        ],
    );
    let (status, task) = operator(
        &format!("{}/api/tasks", server.url),
        Some(json!({"title": "over https", "working_dir": project.path().display().to_string()})),
    );
    assert_eq!(status, 201, "{task}");
    let task = task["id"].as_str().expect("task id").to_string();
    let (status, session) = operator(
        &format!("{}/api/tasks/{task}/sessions", server.url),
        Some(json!({"prompt": "write hello.txt"})),
    );
    assert_eq!(status, 201, "{session}");
    let id = session["id"].as_str().expect("session id").to_string();
    let done = wait_for(
        "the spawned session to complete",
        Duration::from_secs(60),
        || {
            let (_, s) = operator(&format!("{}/api/sessions/{id}", server.url), None);
            (s["state"] == "completed" && s["event_count"].as_i64().unwrap_or(0) >= 6).then_some(s)
        },
    );
    assert_eq!(done["task_id"], task.as_str());
    // Delivered live over HTTPS with the pinned certificate, nothing spooled.
    let left: Vec<_> = std::fs::read_dir(spool.path())
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "spooled: {left:?}");
}
