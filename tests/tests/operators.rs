//! Named operators through the real binaries: `maestro-server operators add|list|revoke` on a
//! running server's data dir, each person's decisions and changes in the audit under their
//! name, and a token revoked mid-session refused at once.

use maestro_tests::envelopes::envelope;
use maestro_tests::server::{TestServer, INGEST_TOKEN, OPERATOR_TOKEN};
use maestro_tests::wait_for;
use serde_json::{json, Value};
use std::time::Duration;

const POLICY: &str = maestro_tests::HOLD_DEPLOYS_POLICY;

/// Runs `maestro-server operators ARGS` on the server's data dir; returns stdout.
fn operators(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = maestro_tests::server::server_command(&server.data_dir)
        .arg("operators")
        .args(args)
        .env("MAESTRO_INGEST_TOKEN", INGEST_TOKEN)
        .env("MAESTRO_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run maestro-server operators");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Adds an operator; returns their token (the last line printed).
fn add(server: &TestServer, name: &str) -> String {
    let (ok, out, err) = operators(server, &["add", name]);
    assert!(ok, "operators add {name}: {out}{err}");
    let token = out.lines().last().expect("a token line").trim().to_string();
    assert_eq!(token.len(), 64, "{out}");
    token
}

fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = server.client();
    let url = format!("{}{path}", server.url);
    let req = match method {
        "POST" => client.post(url),
        "PATCH" => client.patch(url),
        _ => client.get(url),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let resp = req.bearer_auth(token).send().expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sends a held PreToolUse in a thread (it blocks until decided); returns the approval id and
/// the thread.
fn held(
    server: &TestServer,
    session: &str,
    command: &str,
) -> (String, std::thread::JoinHandle<u16>) {
    let env = envelope(
        &json!({"session_id": session, "hook_event_name": "PreToolUse", "cwd": "/tmp/proj",
            "tool_name": "Bash", "tool_input": {"command": command},
            "tool_use_id": format!("toolu_{session}")}),
        chrono::Utc::now(),
    );
    let url = server.url.clone();
    let thread = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(format!("{url}/api/webhooks/hook-event"))
            .bearer_auth(INGEST_TOKEN)
            .timeout(Duration::from_secs(90))
            .json(&env)
            .send()
            .expect("held request")
            .status()
            .as_u16()
    });
    let id = wait_for("the approval", Duration::from_secs(30), || {
        server
            .get("/api/approvals?status=pending")
            .as_array()?
            .iter()
            .find(|a| a["summary"].as_str().is_some_and(|s| s.contains(command)))
            .and_then(|a| a["id"].as_str().map(str::to_string))
    });
    (id, thread)
}

#[test]
fn each_operator_decides_under_their_own_name_and_a_revoked_token_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).expect("policy");
    let server = TestServer::start_with_env(&[
        ("MAESTRO_POLICY_FILE", policy.to_str().expect("utf8")),
        ("MAESTRO_HOLD_TIMEOUT_MS", "60000"),
    ]);
    let alice = add(&server, "alice");
    let bob = add(&server, "bob");
    assert_ne!(alice, bob);
    let (ok, _, err) = operators(&server, &["add", "alice"]);
    assert!(
        !ok && err.contains("exists"),
        "a second alice is refused: {err}"
    );
    let (ok, _, err) = operators(&server, &["add", "operator"]);
    assert!(!ok && err.contains("operator name"), "{err}");

    // Each is who they say in the UI's login check, and can log in.
    let (status, me) = request(&server, "GET", "/api/me", &alice, None);
    assert_eq!((status, me["name"].clone()), (200, json!("alice")));
    let (status, me) = request(&server, "GET", "/api/me", OPERATOR_TOKEN, None);
    assert_eq!((status, me["name"].clone()), (200, json!("operator")));
    let login = server
        .client()
        .post(format!("{}/api/login", server.url))
        .json(&json!({"token": bob}))
        .send()
        .expect("login");
    assert_eq!(login.status().as_u16(), 204);

    // Alice approves one held call, Bob denies another.
    let (first, first_call) = held(&server, "c-ops-1", "deploy web");
    let (second, second_call) = held(&server, "c-ops-2", "deploy db");
    let (status, a) = request(
        &server,
        "POST",
        &format!("/api/approvals/{first}"),
        &alice,
        Some(json!({"decision": "approve", "reason": "ship it"})),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["decided_by"], "alice");
    let (status, b) = request(
        &server,
        "POST",
        &format!("/api/approvals/{second}"),
        &bob,
        Some(json!({"decision": "deny"})),
    );
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["decided_by"], "bob");
    assert_eq!(first_call.join().expect("join"), 200);
    assert_eq!(second_call.join().expect("join"), 200);

    // Alice changes a task's policy.
    let (status, task) = request(
        &server,
        "POST",
        "/api/tasks",
        &alice,
        Some(json!({"title": "Release", "policy": POLICY})),
    );
    assert_eq!(status, 201, "{task}");

    // The audit names each person.
    let audit = server.get("/api/audit");
    let entries = audit.as_array().expect("list");
    let find = |actor: &str, action: &str| {
        entries
            .iter()
            .find(|e| e["actor"] == actor && e["action"] == action)
            .cloned()
    };
    let approved = find("alice", "approval.approve").expect("alice's approval");
    assert_eq!(approved["subject"], first.as_str());
    assert_eq!(approved["detail"]["reason"], "ship it");
    assert_eq!(
        find("bob", "approval.deny").expect("bob's denial")["subject"],
        second.as_str()
    );
    assert!(find("alice", "task.create").is_some(), "{audit}");
    assert!(find("alice", "task.policy").is_some(), "{audit}");
    let lines = server.get(&format!(
        "/api/sessions/{}/timeline",
        a["session_id"].as_str().expect("session")
    ));
    assert!(
        lines["items"]
            .as_array()
            .or_else(|| lines.as_array())
            .is_some_and(|items| items.iter().any(|l| l["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("Approved by alice")))),
        "the session's timeline says who approved: {lines}"
    );

    // Alice is revoked while the server runs: her very next request is refused; Bob and the
    // server's own token are not affected.
    let (ok, out, err) = operators(&server, &["revoke", "alice"]);
    assert!(ok, "{out}{err}");
    assert_eq!(request(&server, "GET", "/api/tasks", &alice, None).0, 401);
    assert_eq!(request(&server, "GET", "/api/tasks", &bob, None).0, 200);
    assert_eq!(
        request(&server, "GET", "/api/tasks", OPERATOR_TOKEN, None).0,
        200
    );
    let (ok, out, _) = operators(&server, &["list"]);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("alice") && l.contains("revoked")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("bob") && l.ends_with("active")),
        "{out}"
    );
    assert!(!out.contains(&bob), "list never prints tokens");
    // A named token is never an ingest credential.
    let (status, _) = server.ingest(&envelope(
        &json!({"session_id": "c-x", "hook_event_name": "SessionStart"}),
        chrono::Utc::now(),
    ));
    assert_eq!(status, 200);
    let forged = server
        .client()
        .post(format!("{}/api/webhooks/hook-event", server.url))
        .bearer_auth(&bob)
        .json(&envelope(
            &json!({"session_id": "c-x", "hook_event_name": "Stop"}),
            chrono::Utc::now(),
        ))
        .send()
        .expect("post");
    assert_eq!(forged.status().as_u16(), 401);
}
