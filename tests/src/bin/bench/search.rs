//! `bench search`: the activity search (`GET /api/activity`) at a large number of stored
//! events, and what the index costs ingest.
//!
//! Fills one release server with `--events` varied events (Bash commands, file reads and
//! edits, failures with error text, prompts, notifications over 200 sessions; every event has
//! one unique token, as real commands and paths do), 32 keep-alive senders. With `--baseline
//! DIR`, the same events go, chunk by chunk interleaved, into a second server built from
//! `DIR/maestro-server` (the build before the index), so both ingest rates share the machine's
//! noise. Then each query class runs `--queries` times on the idle filled server, each time
//! with other terms, and the latency of the whole HTTP call is reported.

use super::{blast, client, f, get_json, summarize, Args, BenchServer, Table};
use anyhow::{bail, Result};
use maestro_shared::Envelope;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const WORDS: &[&str] = &[
    "auth",
    "billing",
    "cache",
    "config",
    "database",
    "deploy",
    "events",
    "gateway",
    "health",
    "ingest",
    "invoice",
    "login",
    "metrics",
    "migration",
    "notify",
    "orders",
    "payments",
    "policy",
    "queue",
    "ratelimit",
    "render",
    "report",
    "router",
    "schema",
    "search",
    "session",
    "storage",
    "stream",
    "sync",
    "tasks",
    "telemetry",
    "tenant",
    "timeline",
    "tokens",
    "upload",
    "users",
    "webhook",
    "worker",
    "export",
    "import",
];
const SESSIONS: usize = 200;

/// A small deterministic generator (xorshift), so every run stores the same events.
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

fn word(n: u64) -> &'static str {
    WORDS[(n % WORDS.len() as u64) as usize]
}

/// The `n`-th event: its envelope's bytes.
fn event(n: u64) -> Vec<u8> {
    let r = mix(n);
    let session = format!("bench-search-{}", r % SESSIONS as u64);
    let (w1, w2) = (word(r >> 8), word(r >> 16));
    let file = format!("src/{w1}/{w2}_{n}.rs");
    let command = match (r >> 24) % 6 {
        0 => format!("cargo test -p {w1} -- {w2}::case_{n}"),
        1 => format!("cargo build --release -p {w1}"),
        2 => format!("rg -n {w2} src/{w1} --max-count {n}"),
        3 => format!("git diff --stat HEAD~{} -- {file}", n % 9),
        4 => format!("npm run lint -- web/{w1}/{w2}-{n}.ts"),
        _ => format!("python3 scripts/{w1}_{w2}.py --run {n}"),
    };
    let base = |event: &str| {
        json!({
            "session_id": session,
            "transcript_path": format!("/home/dev/.claude/projects/-home-dev-proj/{session}.jsonl"),
            "cwd": format!("/home/dev/{}", word(r % 7)),
            "permission_mode": "default",
            "hook_event_name": event,
        })
    };
    let kind = (r >> 40) % 100;
    let payload = if kind < 3 {
        let mut p = base("UserPromptSubmit");
        p["prompt"] = json!(format!(
            "Make the {w1} {w2} code path faster and add a regression test (ticket {n})"
        ));
        p
    } else if kind < 5 {
        let mut p = base("Notification");
        p["message"] = json!(format!("Claude needs your permission to use Bash ({n})"));
        p["notification_type"] = json!("permission_prompt");
        p
    } else if kind < 10 {
        let mut p = base("PostToolUseFailure");
        p["tool_name"] = json!("Read");
        p["tool_input"] = json!({"file_path": format!("/home/dev/proj/{file}")});
        p["tool_use_id"] = json!(format!("toolu_{n:09}"));
        p["error"] = json!(if n.is_multiple_of(2) {
            format!("EACCES: permission denied, open '/home/dev/proj/{file}'")
        } else {
            format!("File does not exist: {file}")
        });
        p
    } else if kind < 30 {
        let mut p = base("PostToolUse");
        p["tool_name"] = json!(if kind < 20 { "Read" } else { "Edit" });
        p["tool_input"] = json!({"file_path": format!("/home/dev/proj/{file}")});
        p["tool_response"] = json!({"type": "text", "file": {"numLines": n % 400}});
        p["tool_use_id"] = json!(format!("toolu_{n:09}"));
        p
    } else {
        let mut p = base("PostToolUse");
        p["tool_name"] = json!("Bash");
        p["tool_input"] = json!({"command": command, "description": "run"});
        p["tool_response"] = json!({"stdout": format!("ok {n}\n{}", "line of output\n".repeat(12)),
                                    "stderr": "", "interrupted": false, "isImage": false});
        p["tool_use_id"] = json!(format!("toolu_{n:09}"));
        p
    };
    let mut env = Envelope::new(
        payload["hook_event_name"].as_str().unwrap_or("PostToolUse"),
        payload.clone(),
    );
    env.source.host = Some(format!("host-{}", r % 3));
    serde_json::to_vec(&env).expect("envelope JSON")
}

/// Query classes: (name, what it is, query string for iteration `i`).
type Class = (&'static str, &'static str, Box<dyn Fn(u64) -> String>);

fn classes(total: u64, sessions: Vec<String>, mid_seq: i64) -> Vec<Class> {
    let sessions = Arc::new(sessions);
    let s2 = sessions.clone();
    let s3 = sessions.clone();
    vec![
        (
            "rare word",
            "a number one event has (`N`)",
            Box::new(move |i| format!("q={}", mix(i + 7) % total)),
        ),
        (
            "common word",
            "`cargo` (~23% of events), newest 50",
            Box::new(|_| "q=cargo".into()),
        ),
        (
            "word",
            "one of 40 module names (~5% each)",
            Box::new(|i| format!("q={}", word(mix(i)))),
        ),
        (
            "two words",
            "two module names (AND)",
            Box::new(|i| format!("q={}+{}", word(mix(i)), word(mix(i + 99)))),
        ),
        (
            "phrase",
            "`\"permission denied\"`",
            Box::new(|_| "q=%22permission%20denied%22".to_string()),
        ),
        (
            "prefix",
            "`migrat*`, `tele*`, ...",
            Box::new(|i| format!("q={}*", &word(mix(i))[..4])),
        ),
        (
            "exclusion",
            "`cargo -release`",
            Box::new(|_| "q=cargo+-release".into()),
        ),
        (
            "no match",
            "a word no event has",
            Box::new(|i| format!("q=zqx{i}")),
        ),
        (
            "word + session",
            "`cargo` in one of 200 sessions",
            Box::new(move |i| {
                format!(
                    "q=cargo&session_id={}",
                    sessions[(mix(i) % sessions.len() as u64) as usize]
                )
            }),
        ),
        (
            "word + host",
            "`cargo` on one of 3 hosts (~67 sessions)",
            Box::new(|_| "q=cargo&host=host-2".into()),
        ),
        (
            "word + status",
            "`denied` with status=error",
            Box::new(|_| "q=denied&status=error".into()),
        ),
        (
            "word, older page",
            "`cargo`, 50 events below the middle seq",
            Box::new(move |_| format!("q=cargo&before={mid_seq}")),
        ),
        (
            "no text: newest",
            "every event, newest 50",
            Box::new(|_| String::new()),
        ),
        (
            "no text: session",
            "one session's newest 50",
            Box::new(move |i| format!("session_id={}", s2[(mix(i) % s2.len() as u64) as usize])),
        ),
        (
            "no text: status",
            "status=error, newest 50",
            Box::new(|_| "status=error".into()),
        ),
        (
            "no text: tool + host",
            "tool=Edit&host=host-1",
            Box::new(|_| "tool=Edit&host=host-1".into()),
        ),
        (
            "no text: session, older page",
            "one session, below the middle seq",
            Box::new(move |i| {
                format!(
                    "session_id={}&before={mid_seq}",
                    s3[(mix(i) % s3.len() as u64) as usize]
                )
            }),
        ),
    ]
}

/// Runs the benchmark.
pub async fn run(a: &Args) -> Result<()> {
    let total = a.num("events", 1_000_000, 50_000)?;
    let queries = a.num("queries", 40, 10)?;
    let senders = a.num("senders", 32, 32)? as usize;
    let baseline = a.flags.get("baseline").map(PathBuf::from);
    println!(
        "{total} events from {senders} keep-alive senders into a release server \
         (synchronous=FULL){}; then each query class {queries} times on the idle server, \
         the whole HTTP call timed (keep-alive client).\n",
        if baseline.is_some() {
            ", interleaved chunk by chunk with the same events into the baseline server"
        } else {
            ""
        }
    );
    let tmp = tempfile::Builder::new()
        .prefix("maestro-bench-search")
        .tempdir()?;
    let server = BenchServer::start_in(&tmp.path().join("new"), &[])?;
    let base = match &baseline {
        Some(dir) => Some(BenchServer::start_bin_in(
            &dir.join("maestro-server"),
            &tmp.path().join("base"),
            &[],
        )?),
        None => None,
    };
    let chunks = 20u64.min(total);
    let chunk = total / chunks;
    let mut fill = Table::new(&[
        "stored events",
        "with index ev/s (chunk)",
        "without index ev/s (chunk)",
        "with / without",
        "with index db+wal MiB",
        "without index db+wal MiB",
    ]);
    let (mut t_new, mut t_base) = (0.0f64, 0.0f64);
    for c in 0..chunks {
        let bodies: Arc<Vec<Vec<u8>>> = Arc::new((c * chunk..(c + 1) * chunk).map(event).collect());
        let t = Instant::now();
        let (rate, _, bad) = blast(&server.url, bodies.clone(), senders, true).await;
        t_new += t.elapsed().as_secs_f64();
        if bad > 0 {
            bail!("{bad} events refused by the server with the index");
        }
        let mut base_rate = None;
        if let Some(b) = &base {
            let t = Instant::now();
            let (r, _, bad) = blast(&b.url, bodies, senders, true).await;
            t_base += t.elapsed().as_secs_f64();
            if bad > 0 {
                bail!("{bad} events refused by the baseline server");
            }
            base_rate = Some(r);
        }
        if c % 4 == 3 || c == chunks - 1 {
            let size = |s: &BenchServer| {
                let (db, wal) = s.db_bytes();
                format!("{:.0}", (db + wal) as f64 / 1048576.0)
            };
            fill.row(vec![
                ((c + 1) * chunk).to_string(),
                format!("{rate:.0}"),
                base_rate.map_or("-".into(), |r| format!("{r:.0}")),
                base_rate.map_or("-".into(), |r| format!("{:.2}x", rate / r)),
                size(&server),
                base.as_ref().map_or("-".into(), size),
            ]);
        }
    }
    let stored = chunks * chunk;
    fill.row(vec![
        format!("**all {stored}**"),
        format!("**{:.0}**", stored as f64 / t_new),
        if base.is_some() {
            format!("**{:.0}**", stored as f64 / t_base)
        } else {
            "-".into()
        },
        if base.is_some() {
            format!("**{:.2}x**", t_base / t_new)
        } else {
            "-".into()
        },
        "".into(),
        "".into(),
    ]);
    fill.print();
    drop(base);

    let http = client(true);
    let (_, h) = get_json(&http, &server.url, "/healthz").await?;
    println!("\nstored: {} events", h["store"]["events"]);
    let (_, sessions) = get_json(&http, &server.url, "/api/sessions?limit=10000").await?;
    let sessions: Vec<String> = sessions
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if sessions.is_empty() {
        bail!("no sessions stored");
    }
    let (_, newest) = get_json(&http, &server.url, "/api/activity?limit=1").await?;
    let mid_seq = newest["items"][0]["seq"].as_i64().unwrap_or(2) / 2;
    // Warm-up: one pass of each class (the first query of a class reads its pages from disk).
    let cls = classes(stored, sessions, mid_seq);
    for (_, _, q) in &cls {
        let _ = get_json(
            &http,
            &server.url,
            &format!("/api/activity?{}", q(1_000_000)),
        )
        .await?;
    }
    let mut table = Table::new(&[
        "query",
        "what",
        "results (mean)",
        "p50 ms",
        "p95 ms",
        "max ms",
    ]);
    let mut all = Vec::new();
    for (name, what, q) in &cls {
        let mut lat = Vec::new();
        let mut results = 0usize;
        for i in 0..queries {
            let path = format!("/api/activity?{}", q(i));
            let t = Instant::now();
            let (code, body) = get_json(&http, &server.url, &path).await?;
            lat.push(super::ms(t.elapsed()));
            if code != 200 {
                bail!("{path}: {code} {body}");
            }
            results += body["items"].as_array().map_or(0, Vec::len);
        }
        all.extend(lat.iter().copied());
        let s = summarize(&lat);
        table.row(vec![
            (*name).into(),
            (*what).into(),
            format!("{:.0}", results as f64 / queries.max(1) as f64),
            f(s.p50),
            f(s.p95),
            f(s.max),
        ]);
    }
    let s = summarize(&all);
    table.row(vec![
        "**all queries**".into(),
        format!("{} calls", s.n),
        "".into(),
        format!("**{}**", f(s.p50)),
        format!("**{}**", f(s.p95)),
        format!("**{}**", f(s.max)),
    ]);
    println!();
    table.print();
    Ok(())
}
