//! Outgoing notifications against a real local receiver: Slack and signed JSON payloads for a
//! held permission and a failed session, retries after the receiver was down (across a server
//! crash), the delivery log, and ingest that does not wait for a hanging destination.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use maestro_tests::envelopes::envelope;
use maestro_tests::server::TestServer;
use maestro_tests::wait_for;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "receiver-shared-secret";

/// What the receiver does with a request.
const OK: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

#[derive(Default)]
struct Inbox {
    mode: AtomicU8,
    attempts: AtomicUsize,
    /// (path, signature header, body) of each request answered 200.
    got: Mutex<Vec<(String, Option<String>, Value)>>,
}

/// A webhook receiver on a random loopback port, in its own runtime thread.
struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
}

impl Receiver {
    fn start() -> Receiver {
        let inbox = Arc::new(Inbox::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let state = Arc::clone(&inbox);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let app = Router::new()
                    .route("/{name}", post(receive))
                    .with_state(state);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("receiver address");
        Receiver {
            url: format!("http://{addr}"),
            inbox,
        }
    }

    fn got(&self, path: &str) -> Vec<(Option<String>, Value)> {
        self.inbox
            .got
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, s, b)| (s.clone(), b.clone()))
            .collect()
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    inbox.attempts.fetch_add(1, Ordering::SeqCst);
    match inbox.mode.load(Ordering::SeqCst) {
        FAIL => return StatusCode::SERVICE_UNAVAILABLE,
        HANG => std::future::pending::<()>().await,
        _ => {}
    }
    let sig = headers
        .get("x-maestro-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // Keep the raw body for the signature check (it signs the exact bytes).
    let raw = String::from_utf8_lossy(&body).to_string();
    inbox
        .got
        .lock()
        .expect("lock")
        .push((name, sig, json!({"json": json, "raw": raw})));
    StatusCode::OK
}

/// Checks `t=<ts>,v1=<hex>` against HMAC-SHA256(secret, "<ts>.<body>").
fn signature_valid(header: &str, body: &str) -> bool {
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    want == v1
}

const POLICY: &str = maestro_tests::HOLD_DEPLOYS_POLICY;

/// A server whose config sends to `receiver`: Slack for permissions, signed JSON for
/// permissions and failed sessions.
fn server_for(receiver: &Receiver, dir: &std::path::Path) -> TestServer {
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).expect("policy");
    let config = dir.join("maestro.toml");
    std::fs::write(
        &config,
        format!(
            r#"
public_url = "http://maestro.test:8420"

[[notify]]
name = "team-slack"
url = "{url}/slack"
format = "slack"
on = ["permission"]

[[notify]]
name = "ops-json"
url = "{url}/json"
format = "json"
secret = "{SECRET}"
on = ["permission", "session_failed"]
"#,
            url = receiver.url
        ),
    )
    .expect("config");
    TestServer::start_with_env(&[
        ("MAESTRO_CONFIG", config.to_str().expect("utf8")),
        ("MAESTRO_POLICY_FILE", policy.to_str().expect("utf8")),
        ("MAESTRO_HOLD_TIMEOUT_MS", "60000"),
    ])
}

fn send(server: &TestServer, payload: Value) -> (u16, Value) {
    server.ingest(&envelope(&payload, chrono::Utc::now()))
}

fn log(server: &TestServer) -> Vec<Value> {
    server
        .get("/api/notifications")
        .as_array()
        .cloned()
        .expect("a list")
}

#[test]
fn a_held_permission_and_a_failed_session_reach_slack_and_a_signed_json_webhook() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("dir");
    let server = server_for(&receiver, dir.path());
    assert_eq!(
        send(
            &server,
            json!({"session_id": "c-notify", "hook_event_name": "SessionStart", "cwd": "/tmp/proj"})
        )
        .0,
        200
    );
    // The held call blocks its webhook request until an operator decides.
    let held = {
        let (url, ingest) = (
            server.url.clone(),
            envelope(
                &json!({"session_id": "c-notify", "hook_event_name": "PreToolUse", "cwd": "/tmp/proj",
                "tool_name": "Bash", "tool_input": {"command": "deploy prod"},
                "tool_use_id": "toolu_deploy"}),
                chrono::Utc::now(),
            ),
        );
        std::thread::spawn(move || {
            reqwest::blocking::Client::new()
                .post(format!("{url}/api/webhooks/hook-event"))
                .bearer_auth(maestro_tests::server::INGEST_TOKEN)
                .timeout(Duration::from_secs(90))
                .json(&ingest)
                .send()
                .expect("held request")
                .status()
                .as_u16()
        })
    };
    let slack = wait_for("the Slack message", Duration::from_secs(30), || {
        receiver.got("slack").into_iter().next()
    });
    let text = slack.1["json"]["text"].as_str().expect("text").to_string();
    assert!(text.starts_with("Permission needed"), "{text}");
    assert!(text.contains("deploy prod"), "{text}");
    assert!(
        text.contains("<http://maestro.test:8420/#/session/"),
        "links to the session in the UI: {text}"
    );
    assert!(slack.0.is_none(), "Slack destinations have no secret");
    let signed = wait_for("the JSON message", Duration::from_secs(30), || {
        receiver.got("json").into_iter().next()
    });
    let body = &signed.1["json"];
    assert_eq!(body["kind"], "permission", "{body}");
    let approval_id = body["approval_id"]
        .as_str()
        .expect("approval id")
        .to_string();
    let header = signed.0.expect("a signature header");
    assert!(
        signature_valid(&header, signed.1["raw"].as_str().expect("raw")),
        "HMAC-SHA256 verifies: {header}"
    );
    assert!(
        !signature_valid(&header, "tampered"),
        "and fails on another body"
    );

    // The operator approves from the link; the held call goes on.
    let (status, _) = server.post(
        &format!("/api/approvals/{approval_id}"),
        &json!({"decision": "approve"}),
    );
    assert_eq!(status, 200);
    assert_eq!(held.join().expect("held thread"), 200);

    // A failed session: the JSON destination wants it, Slack does not.
    for p in [
        json!({"session_id": "c-notify", "hook_event_name": "StopFailure", "error": "rate_limit"}),
        json!({"session_id": "c-notify", "hook_event_name": "SessionEnd", "reason": "other"}),
    ] {
        assert_eq!(send(&server, p).0, 200);
    }
    let failed = wait_for("the failure message", Duration::from_secs(30), || {
        receiver
            .got("json")
            .into_iter()
            .find(|(_, b)| b["json"]["kind"] == "session_failed")
    });
    assert!(
        failed.1["json"]["session_id"].is_string(),
        "{}",
        failed.1["json"]
    );

    // The log: three deliveries, each delivered at the first attempt, one per subject.
    let entries = wait_for("every delivery logged", Duration::from_secs(30), || {
        let l = log(&server);
        (l.len() == 3 && l.iter().all(|e| e["status"] == "delivered")).then_some(l)
    });
    for e in &entries {
        assert_eq!(e["attempts"], 1, "{e}");
        assert!(e["delivered_at"].is_string(), "{e}");
    }
    assert_eq!(receiver.got("slack").len(), 1, "one message per permission");
    assert_eq!(
        receiver
            .got("json")
            .iter()
            .filter(|(_, b)| b["json"]["kind"] == "permission")
            .count(),
        1
    );
}

#[test]
fn a_destination_that_is_down_gets_its_notification_later_even_across_a_crash() {
    let receiver = Receiver::start();
    receiver.inbox.mode.store(FAIL, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("dir");
    let mut server = server_for(&receiver, dir.path());
    for p in [
        json!({"session_id": "c-down", "hook_event_name": "SessionStart"}),
        json!({"session_id": "c-down", "hook_event_name": "StopFailure", "error": "server_error"}),
        json!({"session_id": "c-down", "hook_event_name": "SessionEnd", "reason": "other"}),
    ] {
        assert_eq!(send(&server, p).0, 200);
    }
    // Refused twice, with the reason in the log.
    let entry = wait_for("two failed attempts", Duration::from_secs(30), || {
        log(&server)
            .into_iter()
            .find(|e| e["attempts"].as_u64().is_some_and(|n| n >= 2))
    });
    assert_eq!(entry["status"], "pending", "{entry}");
    assert_eq!(entry["destination"], "ops-json");
    assert!(
        entry["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{entry}"
    );
    // The server crashes; the receiver comes back; the restarted server delivers.
    server.kill9();
    receiver.inbox.mode.store(OK, Ordering::SeqCst);
    server.restart();
    let delivered = wait_for("the retry after the crash", Duration::from_secs(60), || {
        log(&server)
            .into_iter()
            .find(|e| e["status"] == "delivered")
    });
    assert!(
        delivered["attempts"].as_u64().is_some_and(|n| n >= 3),
        "{delivered}"
    );
    assert!(delivered["last_error"].is_null(), "{delivered}");
    assert_eq!(
        receiver.got("json").len(),
        1,
        "delivered once (the failed attempts were refused by the receiver)"
    );
}

#[test]
fn ingest_does_not_wait_for_a_hanging_destination() {
    let receiver = Receiver::start();
    receiver.inbox.mode.store(HANG, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("dir");
    let server = server_for(&receiver, dir.path());
    for p in [
        json!({"session_id": "c-hang", "hook_event_name": "SessionStart"}),
        json!({"session_id": "c-hang", "hook_event_name": "StopFailure", "error": "server_error"}),
        json!({"session_id": "c-hang", "hook_event_name": "SessionEnd", "reason": "other"}),
    ] {
        assert_eq!(send(&server, p).0, 200);
    }
    wait_for(
        "the destination to be called",
        Duration::from_secs(30),
        || (receiver.inbox.attempts.load(Ordering::SeqCst) > 0).then_some(()),
    );
    // While that request hangs, events keep being stored and answered.
    for n in 0..50 {
        let (status, _) = send(
            &server,
            json!({"session_id": "c-busy", "hook_event_name": "PostToolUse", "tool_name": "Bash",
                "tool_input": {"command": "ls"}, "tool_use_id": format!("toolu_{n}"),
                "tool_response": {"stdout": "", "stderr": "", "interrupted": false}}),
        );
        assert_eq!(status, 200);
    }
    let sessions = server.get("/api/sessions");
    let busy = sessions
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["claude_session_id"] == "c-busy")
        .cloned()
        .expect("the busy session");
    assert_eq!(busy["event_count"], 50);
    let pending = log(&server);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["status"], "pending", "{}", pending[0]);
}

/// Sends `method` with the operator token; returns (status, JSON or Null).
fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    server.request(method, path, body.as_ref())
}

#[test]
fn destinations_added_through_the_api_work_at_once_survive_a_restart_and_are_audited() {
    use reqwest::Method;
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("dir");
    let mut server = server_for(&receiver, dir.path());
    // A session failed before the new destination existed: it is not sent to it (the config
    // file's JSON destination gets it).
    for p in [
        json!({"session_id": "c-old", "hook_event_name": "SessionStart", "cwd": "/tmp/old"}),
        json!({"session_id": "c-old", "hook_event_name": "StopFailure", "error": "rate_limit"}),
        json!({"session_id": "c-old", "hook_event_name": "SessionEnd", "reason": "other"}),
    ] {
        assert_eq!(send(&server, p).0, 200);
    }
    wait_for(
        "the old failure on the config destination",
        Duration::from_secs(30),
        || {
            receiver
                .got("json")
                .into_iter()
                .find(|(_, b)| b["json"]["kind"] == "session_failed")
        },
    );
    assert_eq!(
        send(
            &server,
            json!({"session_id": "c-api", "hook_event_name": "SessionStart", "cwd": "/tmp/api"})
        )
        .0,
        200
    );
    let dests = |s: &TestServer| call(s, Method::GET, "/api/notify/destinations", None).1;
    let listed = dests(&server);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert!(listed
        .as_array()
        .expect("list")
        .iter()
        .all(|d| d["source"] == "config"));

    // Bad input is refused with a reason; config names cannot be taken or edited.
    let (status, err) = call(
        &server,
        Method::POST,
        "/api/notify/destinations",
        Some(json!({"name": "x", "url": "ftp://nope"})),
    );
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("http"),
        "{err}"
    );
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/notify/destinations",
        Some(json!({"name": "team-slack", "url": format!("{}/other", receiver.url)})),
    );
    assert_eq!(status, 409);
    let (status, _) = call(
        &server,
        Method::PUT,
        "/api/notify/destinations/team-slack",
        Some(json!({"format": "json"})),
    );
    assert_eq!(status, 409);
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/notify/destinations/team-slack",
        None,
    );
    assert_eq!(status, 409);

    // A signed JSON destination for failed sessions only, added through the API.
    let (status, added) = call(
        &server,
        Method::POST,
        "/api/notify/destinations",
        Some(
            json!({"name": "api-json", "url": format!("{}/apijson", receiver.url),
            "format": "json", "secret": SECRET, "on": ["session_failed"]}),
        ),
    );
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["source"], "api");
    assert_eq!(added["signed"], true);
    assert_eq!(
        added["url"],
        format!("{}/…", receiver.url),
        "the path is not shown back"
    );
    assert!(added.get("secret").is_none(), "{added}");
    assert_eq!(added["updated_by"], "operator");

    // Its test message arrives signed.
    let (status, tested) = call(
        &server,
        Method::POST,
        "/api/notify/destinations/api-json/test",
        None,
    );
    assert_eq!(
        (status, &tested["delivered"]),
        (200, &json!(true)),
        "{tested}"
    );
    let test_msg = wait_for("the test message", Duration::from_secs(10), || {
        receiver.got("apijson").into_iter().next()
    });
    assert_eq!(test_msg.1["json"]["kind"], "test");
    assert!(signature_valid(
        test_msg.0.as_deref().expect("signed"),
        test_msg.1["raw"].as_str().expect("raw")
    ));

    // It survives a restart, and it is in force without one: a failed session reaches it.
    server.stop();
    server.restart();
    assert_eq!(dests(&server).as_array().map(Vec::len), Some(3));
    for p in [
        json!({"session_id": "c-api", "hook_event_name": "StopFailure", "error": "rate_limit"}),
        json!({"session_id": "c-api", "hook_event_name": "SessionEnd", "reason": "other"}),
    ] {
        assert_eq!(send(&server, p).0, 200);
    }
    let failed = wait_for(
        "the failure on the API destination",
        Duration::from_secs(30),
        || {
            receiver
                .got("apijson")
                .into_iter()
                .find(|(_, b)| b["json"]["kind"] == "session_failed")
        },
    );
    assert!(signature_valid(
        failed.0.as_deref().expect("signed"),
        failed.1["raw"].as_str().expect("raw")
    ));
    let got = receiver.got("apijson");
    assert_eq!(
        got.len(),
        2,
        "the test and the new failure; nothing from before it was added: {got:?}"
    );
    assert!(
        got[1].1["json"]["summary"]
            .as_str()
            .unwrap_or("")
            .contains("/tmp/api"),
        "{got:?}"
    );

    // Changing it keeps the URL and secret unless given; removing it stops it.
    let (status, changed) = call(
        &server,
        Method::PUT,
        "/api/notify/destinations/api-json",
        Some(json!({"format": "json", "on": ["session_failed", "session_lost"]})),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["signed"], true);
    assert_eq!(changed["on"], json!(["session_failed", "session_lost"]));
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/notify/destinations/api-json",
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/notify/destinations/api-json",
        None,
    );
    assert_eq!(status, 404);
    assert_eq!(dests(&server).as_array().map(Vec::len), Some(2));

    let audit = server.get("/api/audit");
    let actions: Vec<&str> = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|e| e["subject"] == "api-json")
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["notify.remove", "notify.update", "notify.add"]);
    assert!(
        !audit.to_string().contains(SECRET),
        "the secret is never in the audit"
    );
}
