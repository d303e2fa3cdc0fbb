//! Team mode with real processes: several `maestro-server` replicas on one PostgreSQL
//! database. Every replica's WebSocket clients get every replica's feed messages, once each,
//! in one seq order; a client resumes on any replica; a hook held on one replica is released
//! by an operator's decision on another; and neither `kill -9` of a replica nor a restart of
//! PostgreSQL under load from real `maestro-hook` processes loses or duplicates an event.
//!
//! Every wait is a poll for a condition with a generous deadline; nothing asserts on time.

mod hook_support;

use futures_util::{SinkExt, StreamExt};
use hook_support::{
    all_events, drain, hook_load, load_payload, pre_tool_use, start_hook, HookEnv, Running,
};
use maestro_tests::envelopes::envelope;
use maestro_tests::server::TestServer;
use maestro_tests::{wait_for, ws};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Hook calls are paced to ~500/s so the faults land in the middle of the load.
const LOAD_PERIOD: Duration = Duration::from_millis(2);

/// Bound on waits for the feed to reach every client.
const FEED_BOUND: Duration = Duration::from_secs(120);

/// Starts `n` replicas on one fresh database of the shared test cluster.
fn replicas(n: usize, extra: &[(&str, &str)]) -> Vec<TestServer> {
    let url = maestro_testpg::shared_database().expect("a PostgreSQL database");
    replicas_on(&url, n, extra)
}

/// Starts `n` replicas on the database at `url`.
fn replicas_on(url: &str, n: usize, extra: &[(&str, &str)]) -> Vec<TestServer> {
    let mut env = vec![("MAESTRO_DATABASE_URL", url)];
    env.extend_from_slice(extra);
    (0..n).map(|_| TestServer::start_with_env(&env)).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A WebSocket client that records every feed message (seq > 0) it receives, in order.
struct Feed {
    name: String,
    msgs: Arc<Mutex<Vec<Value>>>,
    ready: Arc<Mutex<Option<Value>>>,
    closed: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Feed {
    /// Connects to `server`'s `/ws` (with `?since=` when given) and records in the background.
    fn connect(
        rt: &tokio::runtime::Runtime,
        name: &str,
        server: &TestServer,
        since: Option<i64>,
    ) -> Feed {
        let mut socket = rt
            .block_on(ws::connect(server.port, since))
            .unwrap_or_else(|e| panic!("{name}: connect: {e}"));
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let ready = Arc::new(Mutex::new(None));
        let closed = Arc::new(AtomicBool::new(false));
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (m, r, c) = (Arc::clone(&msgs), Arc::clone(&ready), Arc::clone(&closed));
        let task = rt.spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stop_rx => {
                        let _ = socket.close(None).await;
                        return;
                    }
                    next = socket.next() => match next {
                        Some(Ok(Message::Text(t))) => {
                            let v: Value = serde_json::from_str(&t).expect("JSON message");
                            if v["seq"].as_i64() == Some(0) {
                                if v["type"] == "ready" {
                                    *r.lock().expect("lock") = Some(v);
                                }
                            } else {
                                m.lock().expect("lock").push(v);
                            }
                        }
                        Some(Ok(Message::Ping(p))) => {
                            let _ = socket.send(Message::Pong(p)).await;
                        }
                        Some(Ok(_)) => {}
                        None | Some(Err(_)) => {
                            c.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            }
        });
        let feed = Feed {
            name: name.to_string(),
            msgs,
            ready,
            closed,
            stop: Some(stop_tx),
            task: Some(task),
        };
        wait_for(&format!("{name}: the ready message"), FEED_BOUND, || {
            feed.ready.lock().expect("lock").clone()
        });
        feed
    }

    /// A copy of what was received so far.
    fn snapshot(&self) -> Vec<Value> {
        self.msgs.lock().expect("lock").clone()
    }

    /// Closes the connection and stops recording; returns what was received.
    fn close(mut self, rt: &tokio::runtime::Runtime) -> Vec<Value> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = rt.block_on(task);
        }
        self.snapshot()
    }

    /// Waits until `done` holds for the messages received, failing early if the connection
    /// closed.
    fn wait_until(&self, what: &str, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        wait_for(&format!("{}: {what}", self.name), FEED_BOUND, || {
            let msgs = self.snapshot();
            if done(&msgs) {
                return Some(msgs);
            }
            assert!(
                !self.closed.load(Ordering::SeqCst),
                "{}: the feed closed while waiting for {what} ({} messages, last {:?})",
                self.name,
                msgs.len(),
                msgs.last().map(|m| (&m["seq"], &m["type"]))
            );
            None
        })
    }

    /// Waits for the hook message of `event_id`; returns its seq.
    fn wait_event(&self, event_id: &str) -> i64 {
        let msgs = self.wait_until(&format!("event {event_id}"), |msgs| {
            msgs.iter().any(|m| is_hook_of(m, event_id))
        });
        msgs.iter()
            .find(|m| is_hook_of(m, event_id))
            .and_then(|m| m["seq"].as_i64())
            .expect("seq")
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn is_hook(m: &Value) -> bool {
    m["type"].as_str().is_some_and(|t| t.starts_with("hook:"))
}

fn is_hook_of(m: &Value, event_id: &str) -> bool {
    is_hook(m) && m["data"]["event_id"] == event_id
}

/// The event ids of the `hook:*` messages, in order.
fn hook_ids(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .filter(|m| is_hook(m))
        .map(|m| {
            m["data"]["event_id"]
                .as_str()
                .expect("event_id")
                .to_string()
        })
        .collect()
}

/// (seq, type) of every message up to and including seq `upto`.
fn seq_types(msgs: &[Value], upto: i64) -> Vec<(i64, String)> {
    msgs.iter()
        .map(|m| {
            (
                m["seq"].as_i64().expect("seq"),
                m["type"].as_str().expect("type").to_string(),
            )
        })
        .filter(|(s, _)| *s <= upto)
        .collect()
}

/// Asserts the seqs are strictly increasing by exactly one (no duplicate, reorder or hole).
fn assert_gap_free(what: &str, list: &[(i64, String)]) {
    assert!(!list.is_empty(), "{what}: no messages");
    for w in list.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0 + 1,
            "{what}: seq {} ({}) followed by {} ({}): a duplicate, reorder or hole",
            w[0].0,
            w[0].1,
            w[1].0,
            w[1].1
        );
    }
}

/// Asserts each id appears exactly once in `ids`.
fn assert_once_each(what: &str, ids: &[String]) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for id in ids {
        *count.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = count.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: delivered more than once: {twice:?}"
    );
}

/// A PostToolUse envelope of `echo n` in one of a few sessions.
fn event(tag: &str, n: usize) -> Value {
    envelope(
        &json!({"session_id": format!("{tag}-{}", n % 5), "hook_event_name": "PostToolUse",
            "cwd": "/tmp/proj", "tool_name": "Bash", "tool_use_id": format!("toolu_{tag}_{n:05}"),
            "tool_input": {"command": format!("echo {n}")}, "tool_response": {"stdout": "x"}}),
        chrono::Utc::now(),
    )
}

fn id_of(env: &Value) -> String {
    env["event_id"].as_str().expect("event_id").to_string()
}

/// Posts a fresh event to `server` and returns its event id (a marker in the feed: every
/// message before its seq is committed, so every client must have it once it has the marker).
fn marker(server: &TestServer, tag: &str) -> String {
    let env = event(tag, 0);
    let (status, body) = server.ingest(&env);
    assert_eq!(status, 200, "marker {tag}: {body}");
    assert_eq!(body["duplicate"], false, "marker {tag}: {body}");
    id_of(&env)
}

/// Stored events (`/api/events`) per event id.
fn stored_counts(server: &TestServer) -> HashMap<String, usize> {
    let mut out: HashMap<String, usize> = HashMap::new();
    for e in all_events(server) {
        *out.entry(e["event_id"].as_str().expect("event_id").to_string())
            .or_default() += 1;
    }
    out
}

/// Three replicas, a client on each, ~300 events posted concurrently across all three: every
/// client receives the same feed (same seqs, same kinds, same order), gap-free, with each
/// event's message exactly once. Re-posting envelopes to another replica than the one that
/// stored them is answered as a duplicate (same seq) and adds nothing to the feed or store.
#[test]
fn events_posted_to_every_replica_reach_every_client_in_one_order() {
    const N: usize = 300;
    let rt = runtime();
    let servers = replicas(3, &[]);
    let feeds: Vec<Feed> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| Feed::connect(&rt, &format!("client on replica {i}"), s, Some(0)))
        .collect();

    let envs: Vec<Value> = (0..N).map(|n| event("fan", n)).collect();
    let answers: Mutex<HashMap<usize, (usize, Value)>> = Mutex::new(HashMap::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..9 {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= N {
                    return;
                }
                let replica = n % 3;
                let (status, body) = servers[replica].ingest(&envs[n]);
                assert_eq!(status, 200, "event {n} on replica {replica}: {body}");
                assert_eq!(body["duplicate"], false, "event {n}: {body}");
                answers
                    .lock()
                    .expect("lock")
                    .insert(n, (replica, body["seq"].clone()));
            });
        }
    });
    let answers = answers.into_inner().expect("lock");
    assert_eq!(answers.len(), N);
    let posted: BTreeSet<String> = envs.iter().map(id_of).collect();
    assert_eq!(posted.len(), N, "unique event ids");

    for f in &feeds {
        f.wait_until("every posted event", |msgs| {
            let got: HashSet<String> = hook_ids(msgs).into_iter().collect();
            posted.iter().all(|id| got.contains(id))
        });
    }
    let m1 = marker(&servers[1], "mark1");
    let m1_seq: Vec<i64> = feeds.iter().map(|f| f.wait_event(&m1)).collect();
    assert!(
        m1_seq.iter().all(|s| *s == m1_seq[0]),
        "marker seqs {m1_seq:?}"
    );
    let m1_seq = m1_seq[0];

    let lists: Vec<Vec<(i64, String)>> = feeds
        .iter()
        .map(|f| seq_types(&f.snapshot(), m1_seq))
        .collect();
    for (f, list) in feeds.iter().zip(&lists) {
        assert_gap_free(&f.name, list);
        assert!(
            list[0].0 <= 1,
            "{}: a client from since=0 starts at the first message, got {:?}",
            f.name,
            list[0]
        );
    }
    for (i, list) in lists.iter().enumerate().skip(1) {
        if list != &lists[0] {
            let diff = list
                .iter()
                .zip(&lists[0])
                .position(|(a, b)| a != b)
                .unwrap_or(list.len().min(lists[0].len()));
            panic!(
                "client {i} and client 0 differ at index {diff}: {:?} vs {:?} (lengths {} and {})",
                list.get(diff),
                lists[0].get(diff),
                list.len(),
                lists[0].len()
            );
        }
    }
    for f in &feeds {
        let msgs: Vec<Value> = f
            .snapshot()
            .into_iter()
            .filter(|m| m["seq"].as_i64().is_some_and(|s| s <= m1_seq))
            .collect();
        let ids = hook_ids(&msgs);
        assert_once_each(&f.name, &ids);
        let got: BTreeSet<String> = ids.into_iter().collect();
        let mut want = posted.clone();
        want.insert(m1.clone());
        assert_eq!(got, want, "{}: exactly the posted events", f.name);
    }

    // Re-post every tenth envelope to another replica than the first time.
    for n in (0..N).step_by(10) {
        let (first, seq) = &answers[&n];
        let other = (first + 1) % 3;
        let (status, body) = servers[other].ingest(&envs[n]);
        assert_eq!(status, 200, "re-post of {n} to replica {other}: {body}");
        assert_eq!(
            body["duplicate"], true,
            "re-post of {n} to replica {other}: {body}"
        );
        assert_eq!(&body["seq"], seq, "re-post of {n}: the first answer's seq");
    }
    let m2 = marker(&servers[2], "mark2");
    for f in &feeds {
        let m2_seq = f.wait_event(&m2);
        let after: Vec<Value> = f
            .snapshot()
            .into_iter()
            .filter(|m| m["seq"].as_i64().is_some_and(|s| s > m1_seq && s <= m2_seq))
            .collect();
        assert_eq!(
            hook_ids(&after),
            vec![m2.clone()],
            "{}: duplicates add no hook message",
            f.name
        );
        let all = seq_types(&f.snapshot(), m2_seq);
        assert_gap_free(&f.name, &all);
    }
    for (i, s) in servers.iter().enumerate() {
        let counts = stored_counts(s);
        assert_eq!(counts.len(), N + 2, "replica {i}: stored events");
        assert!(
            counts.values().all(|c| *c == 1),
            "replica {i}: an event stored twice"
        );
        for id in &posted {
            assert!(counts.contains_key(id), "replica {i}: {id} not stored");
        }
    }
}

/// A client that read the feed on replica A, disconnected, and resumes with `since=<last>`
/// on replica C gets exactly the messages committed after `last` (those posted meanwhile via
/// B and C, and whatever else the feed carried), the same as a client that stayed connected
/// on B the whole time.
#[test]
fn a_client_resuming_on_another_replica_misses_nothing() {
    let rt = runtime();
    let servers = replicas(3, &[]);
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);
    let stayed = Feed::connect(&rt, "client staying on B", b, Some(0));
    let first = Feed::connect(&rt, "first client on A", a, Some(0));

    let before: Vec<Value> = (0..20).map(|n| event("before", n)).collect();
    for e in &before {
        assert_eq!(a.ingest(e).0, 200);
    }
    let last_id = id_of(before.last().expect("last"));
    first.wait_event(&last_id);
    let seen = first.close(&rt);
    let last = seen
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .max()
        .expect("a seq");
    assert_gap_free("first client on A", &seq_types(&seen, last));

    // Posted via B and C while nobody is connected to A or C.
    let during: Vec<Value> = (0..120).map(|n| event("during", n)).collect();
    std::thread::scope(|s| {
        for (k, chunk) in during.chunks(30).enumerate() {
            let server = if k % 2 == 0 { b } else { c };
            s.spawn(move || {
                for e in chunk {
                    let (status, body) = server.ingest(e);
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
    });
    let during_ids: BTreeSet<String> = during.iter().map(id_of).collect();
    stayed.wait_until("the events posted meanwhile", |msgs| {
        let got: HashSet<String> = hook_ids(msgs).into_iter().collect();
        during_ids.iter().all(|id| got.contains(id))
    });

    let resumed = Feed::connect(&rt, "client resuming on C", c, Some(last));
    let m = marker(a, "resume-mark");
    let m_seq = resumed.wait_event(&m);
    assert_eq!(stayed.wait_event(&m), m_seq, "one seq for the marker");

    let got = seq_types(&resumed.snapshot(), m_seq);
    assert_eq!(
        got.first().map(|x| x.0),
        Some(last + 1),
        "the resumed feed starts right after {last}"
    );
    assert_gap_free("client resuming on C", &got);
    let want: Vec<(i64, String)> = seq_types(&stayed.snapshot(), m_seq)
        .into_iter()
        .filter(|(s, _)| *s > last)
        .collect();
    assert_eq!(
        got, want,
        "the resumed client gets exactly what the staying one got after {last}"
    );
    let resumed_msgs: Vec<Value> = resumed
        .snapshot()
        .into_iter()
        .filter(|x| x["seq"].as_i64().is_some_and(|s| s <= m_seq))
        .collect();
    let ids = hook_ids(&resumed_msgs);
    assert_once_each("client resuming on C", &ids);
    let mut want_ids = during_ids.clone();
    want_ids.insert(m);
    assert_eq!(
        ids.into_iter().collect::<BTreeSet<_>>(),
        want_ids,
        "the resumed client gets the events posted while away, and none from before"
    );
}

/// A real `maestro-hook pre-tool-use` pointed at one replica only.
fn hold_hook(server: &TestServer, session: &str, command: &str) -> Running {
    start_hook(server, "pre-tool-use", &pre_tool_use(session, command))
}

/// A hook held on replica A (its webhook request waiting for a human) is released when an
/// operator decides the approval through replica B's API (the `approval:resolved` message
/// reaches A through the database), with B's decision and reason; and the other way round.
#[test]
fn an_approval_held_on_one_replica_is_released_by_a_decision_on_another() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, maestro_tests::HOLD_DEPLOYS_POLICY).expect("policy");
    let policy = policy.display().to_string();
    let servers = replicas(2, &[("MAESTRO_POLICY_FILE", &policy)]);

    for (holder, decider, decision, expected, session) in [
        (0, 1, "approve", "allow", "held-a"),
        (1, 0, "deny", "deny", "held-b"),
    ] {
        let (h, d) = (&servers[holder], &servers[decider]);
        let mut hook = hold_hook(h, session, "deploy prod");
        let approval = wait_for(
            "the pending approval, seen through the deciding replica",
            FEED_BOUND,
            || {
                let list = d.get("/api/approvals?status=pending");
                list.as_array().and_then(|a| a.first().cloned())
            },
        );
        let id = approval["id"].as_str().expect("id").to_string();
        assert_eq!(approval["rule_id"], "hold-deploys");
        assert!(
            hook.child.try_wait().expect("try_wait").is_none(),
            "the hook is held until a decision"
        );
        let reason = format!("decided on replica {decider}");
        let (status, body) = d.post(
            &format!("/api/approvals/{id}"),
            &json!({"decision": decision, "reason": reason}),
        );
        assert_eq!(status, 200, "{body}");

        // Released on the holding replica: well before the 100 s hold timeout, whose answer
        // would be an empty stdout rather than this decision.
        wait_for(
            "the held hook to be released",
            Duration::from_secs(60),
            || hook.child.try_wait().expect("try_wait"),
        );
        let out = hook.child.wait_with_output().expect("hook output");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("decision JSON ({e}): {stdout:?}"));
        assert_eq!(
            v["hookSpecificOutput"]["permissionDecision"], expected,
            "{stdout}"
        );
        assert!(stdout.contains(&reason), "{stdout}");

        // Both replicas agree on the outcome.
        for s in &servers {
            let audit = s.get(&format!("/api/approvals/{id}"));
            assert_eq!(audit["decided_by"], "operator", "{audit}");
            let sess = s.get(&format!(
                "/api/sessions/{}",
                approval["session_id"].as_str().expect("sid")
            ));
            assert_eq!(sess["state"], "active", "{sess}");
        }
        let (status, _) = h.post(
            &format!("/api/approvals/{id}"),
            &json!({"decision": "approve"}),
        );
        assert_eq!(status, 409, "decided once, on whichever replica");
    }
}

/// A replica that dies leaves no approval pending forever: the hook held on replica A loses its
/// connection when A is killed (-9), and replica B, noticing that A stopped heartbeating,
/// releases A's pending approval (as "hook gone", the reason naming the replica); the session
/// is not left blocked.
#[test]
fn a_dead_replicas_held_approval_is_released_by_another() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, maestro_tests::HOLD_DEPLOYS_POLICY).expect("policy");
    let policy = policy.display().to_string();
    let mut servers = replicas(2, &[("MAESTRO_POLICY_FILE", &policy)]);
    let mut hook = hold_hook(&servers[0], "held-dead", "deploy prod");
    let approval = wait_for("the pending approval, seen through B", FEED_BOUND, || {
        let list = servers[1].get("/api/approvals?status=pending");
        list.as_array().and_then(|a| a.first().cloned())
    });
    let id = approval["id"].as_str().expect("id").to_string();
    servers[0].kill9();
    // The hook's request died with A (it answers on its own: spooled or asked in the terminal).
    wait_for(
        "the held hook to end with its replica",
        Duration::from_secs(60),
        || hook.child.try_wait().expect("try_wait"),
    );
    // B notices the silence (15 s without a heartbeat) and releases what A held.
    let released = wait_for(
        "B to release the dead replica's approval",
        Duration::from_secs(90),
        || {
            let a = servers[1].get(&format!("/api/approvals/{id}"));
            (a["status"] != "pending").then_some(a)
        },
    );
    assert_ne!(
        released["status"], "approved",
        "never allowed by a replica's death: {released}"
    );
    assert!(
        released.to_string().contains("stopped"),
        "the reason names the stopped replica: {released}"
    );
    let sess = servers[1].get(&format!(
        "/api/sessions/{}",
        approval["session_id"].as_str().expect("sid")
    ));
    assert_ne!(sess["state"], "blocked", "{sess}");
}

/// Asserts `server` stored each of the `events` calls of `tag` exactly once, and nothing
/// else of `tag`; returns the stored event ids.
fn assert_stored_once(server: &TestServer, tag: &str, events: usize) -> BTreeSet<String> {
    let mut per_call: HashMap<String, usize> = HashMap::new();
    let mut ids = BTreeSet::new();
    let prefix = format!("toolu_{tag}_");
    for e in all_events(server) {
        let Some(call) = e["envelope"]["payload"]["tool_use_id"].as_str() else {
            continue;
        };
        if !call.starts_with(&prefix) {
            continue;
        }
        let id = e["event_id"].as_str().expect("event_id").to_string();
        assert!(ids.insert(id.clone()), "event_id {id} stored twice");
        *per_call.entry(call.to_string()).or_default() += 1;
    }
    let missing: Vec<usize> = (0..events)
        .filter(|n| !per_call.contains_key(&format!("{prefix}{n:05}")))
        .collect();
    assert!(missing.is_empty(), "lost events: {missing:?}");
    let doubled: Vec<_> = per_call.iter().filter(|(_, c)| **c > 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    assert_eq!(per_call.len(), events, "one stored event per hook call");
    ids
}

/// Two replicas, real hooks failing over between them (`MAESTRO_URL=a,b`); replica A is
/// killed with SIGKILL in the middle of the load and restarted later. Every hook call is
/// stored exactly once; the client on the surviving replica B saw a gap-free feed with every
/// stored event once; and a client on the restarted A replays the very same feed.
#[test]
fn kill9_of_a_replica_under_load_loses_and_duplicates_nothing() {
    const EVENTS: usize = 1200;
    let rt = runtime();
    let mut servers = replicas(2, &[]);
    let survivor = Feed::connect(&rt, "client on surviving replica B", &servers[1], Some(0));
    let mut hook = HookEnv::new(&format!("{},{}", servers[0].url, servers[1].url));
    hook.set("MAESTRO_CONNECT_TIMEOUT_MS", "200");
    hook.set("MAESTRO_TIMEOUT_MS", "2000");
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "30");

    let (mut killed_at, mut restarted_at) = (0, 0);
    {
        let a = &mut servers[0];
        hook_load(
            &hook,
            EVENTS,
            12,
            LOAD_PERIOD,
            |n| load_payload("k9", n, 8),
            |done| {
                wait_for("a third of the load", Duration::from_secs(600), || {
                    (done.load(Ordering::Relaxed) >= EVENTS / 3).then_some(())
                });
                killed_at = done.load(Ordering::Relaxed);
                a.kill9();
                wait_for("two thirds of the load", Duration::from_secs(600), || {
                    (done.load(Ordering::Relaxed) >= 2 * EVENTS / 3).then_some(())
                });
                restarted_at = done.load(Ordering::Relaxed);
                a.restart();
            },
        );
    }
    eprintln!(
        "replica A killed after {killed_at} calls, restarted after {restarted_at}; {} spooled",
        hook.spooled().len()
    );
    drain(&hook);

    let stored = assert_stored_once(&servers[1], "k9", EVENTS);
    assert_eq!(
        assert_stored_once(&servers[0], "k9", EVENTS),
        stored,
        "both replicas read the same store"
    );

    let m = marker(&servers[1], "k9-mark");
    let m_seq = survivor.wait_event(&m);
    let msgs: Vec<Value> = survivor
        .snapshot()
        .into_iter()
        .filter(|x| x["seq"].as_i64().is_some_and(|s| s <= m_seq))
        .collect();
    let list = seq_types(&msgs, m_seq);
    assert_gap_free(&survivor.name, &list);
    let ids = hook_ids(&msgs);
    assert_once_each(&survivor.name, &ids);
    let got: BTreeSet<String> = ids.into_iter().filter(|id| *id != m).collect();
    assert_eq!(
        got, stored,
        "the surviving replica's client saw every stored event, once"
    );

    let replay = Feed::connect(&rt, "client on restarted replica A", &servers[0], Some(0));
    assert_eq!(replay.wait_event(&m), m_seq);
    assert_eq!(
        seq_types(&replay.snapshot(), m_seq),
        list,
        "the restarted replica replays the same feed"
    );
}

/// A private PostgreSQL killed (SIGKILL) in the middle of a load from real hooks sending to
/// two replicas, then started again: the replicas answer errors while it is down (the hooks
/// spool), reconnect once it is back, and every hook call ends up stored exactly once; fresh
/// clients on both replicas then replay one identical, gap-free feed with every event once.
#[test]
fn a_postgresql_restart_under_load_is_survived() {
    const EVENTS: usize = 900;
    let rt = runtime();
    let mut pg = maestro_testpg::TestPg::start().expect("a private PostgreSQL");
    let url = pg.create_database("team").expect("database");
    let servers = replicas_on(&url, 2, &[]);
    let mut hook = HookEnv::new(&format!("{},{}", servers[0].url, servers[1].url));
    hook.set("MAESTRO_CONNECT_TIMEOUT_MS", "200");
    hook.set("MAESTRO_TIMEOUT_MS", "2000");
    hook.set("MAESTRO_DRAIN_GIVE_UP_SECS", "60");

    let (mut killed_at, mut restarted_at) = (0, 0);
    hook_load(
        &hook,
        EVENTS,
        12,
        LOAD_PERIOD,
        |n| load_payload("pgr", n, 8),
        |done| {
            wait_for("a third of the load", Duration::from_secs(600), || {
                (done.load(Ordering::Relaxed) >= EVENTS / 3).then_some(())
            });
            killed_at = done.load(Ordering::Relaxed);
            pg.kill();
            wait_for("half of the load", Duration::from_secs(600), || {
                (done.load(Ordering::Relaxed) >= EVENTS / 2).then_some(())
            });
            restarted_at = done.load(Ordering::Relaxed);
            pg.start_again().expect("PostgreSQL starts again");
        },
    );
    eprintln!(
        "PostgreSQL killed after {killed_at} calls, started again after {restarted_at}; {} \
         spooled",
        hook.spooled().len()
    );
    drain(&hook);

    let stored = assert_stored_once(&servers[0], "pgr", EVENTS);
    assert_eq!(assert_stored_once(&servers[1], "pgr", EVENTS), stored);

    let m = marker(&servers[0], "pgr-mark");
    let feeds: Vec<Feed> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| Feed::connect(&rt, &format!("client on replica {i}"), s, Some(0)))
        .collect();
    let mut lists = Vec::new();
    for f in &feeds {
        let m_seq = f.wait_event(&m);
        let msgs: Vec<Value> = f
            .snapshot()
            .into_iter()
            .filter(|x| x["seq"].as_i64().is_some_and(|s| s <= m_seq))
            .collect();
        let list = seq_types(&msgs, m_seq);
        assert_gap_free(&f.name, &list);
        let ids = hook_ids(&msgs);
        assert_once_each(&f.name, &ids);
        let got: BTreeSet<String> = ids.into_iter().filter(|id| *id != m).collect();
        assert_eq!(got, stored, "{}: every stored event once", f.name);
        lists.push(list);
    }
    assert_eq!(lists[0], lists[1], "both replicas replay the same feed");
    // The live path works again too: an event posted now reaches both clients.
    let live = marker(&servers[1], "pgr-live");
    for f in &feeds {
        f.wait_event(&live);
    }
}
