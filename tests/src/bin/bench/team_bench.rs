//! `bench team`: team mode (issue 19). Durable events/s and hook→WebSocket latency at a fixed
//! rate, side by side in one run, for three deployments on this machine:
//!
//! - SQLite: one release server on its data dir (the default, synchronous=FULL);
//! - PostgreSQL, one replica: one server with `MAESTRO_DATABASE_URL` on a fresh database of a
//!   private PostgreSQL 15 (`maestro_testpg`: fsync=on, synchronous_commit=on);
//! - PostgreSQL, two replicas: two servers on one fresh database; the load is split evenly
//!   over both (event i to replica i mod 2) and the WebSocket clients are spread over both.
//!
//! Per deployment: a warm-up (connections, pools), then `--n` distinct PostToolUse envelopes
//! from `--senders` keep-alive senders, every answer waited for (200 = committed), then
//! `--duration` seconds of posts at `--rate` events/s with `--clients` WebSocket clients, the
//! latency measured from just before each POST to the message's arrival at every client.
//! `--rounds N` repeats the three, the order rotated each round. Every server's stderr goes to
//! a log file whose tail is printed when something failed. `--pg-statements 1` preloads
//! `pg_stat_statements` (a restart of the private cluster) and prints the statements each
//! event costs on PostgreSQL (off by default: it adds its own overhead).

use super::{
    client, envelope_bytes, f, get_json, log_tail, ms, ratio, release_bin, spawn_ws_clients,
    summarize, tool_payload, ws_connect, Args, BenchServer, Table,
};
use anyhow::{bail, Context, Result};
use maestro_tests::server::INGEST_TOKEN;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The deployments compared: (label, replicas, on PostgreSQL).
const CONFIGS: [(&str, usize, bool); 3] = [
    ("SQLite (FULL)", 1, false),
    ("PostgreSQL, 1 replica", 1, true),
    ("PostgreSQL, 2 replicas", 2, true),
];

/// Starts a release server like [`BenchServer::start`], with its stderr in `log`.
fn start_server(env: &[(&str, &str)], log: &Path) -> Result<BenchServer> {
    let tmp = tempfile::Builder::new()
        .prefix("maestro-bench-team")
        .tempdir()?;
    let data = tmp.path().join("data");
    let mut server = BenchServer::spawn(&release_bin("maestro-server")?, &data, env, Some(log))?;
    server._tmp = Some(tmp);
    Ok(server)
}

/// `/proc/<pid>/stat` fields after the `(comm)`: state is field 0, ppid 1, utime 11 ...
fn stat_fields(pid: u32) -> Vec<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn clock_hz() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// CPU seconds (user + system) of fields `from..=to` of a stat line.
fn ticks(f: &[String], from: usize, to: usize) -> f64 {
    (from..=to)
        .map(|i| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        .sum::<f64>()
        / clock_hz()
}

/// CPU seconds used so far by the PostgreSQL cluster: the postmaster with its reaped
/// children, and its live children (backends, WAL writer, checkpointer, ...).
fn pg_cpu(postmaster: u32) -> f64 {
    let mut total = ticks(&stat_fields(postmaster), 11, 14);
    let pm = postmaster.to_string();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let f = stat_fields(pid);
            if f.get(1) == Some(&pm) {
                total += ticks(&f, 11, 12);
            }
        }
    }
    total
}

/// CPU seconds this bench process used so far.
fn own_cpu() -> f64 {
    ticks(&stat_fields(std::process::id()), 11, 12)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The private PostgreSQL cluster and the database counters read from it.
struct Pg {
    pg: maestro_testpg::TestPg,
    statements: bool,
}

/// Cumulative counters of one database and of the cluster's WAL.
#[derive(Default, Clone, Copy)]
struct PgCounters {
    commits: f64,
    rows: f64,
    wal_records: f64,
    wal_syncs: f64,
    wal_bytes: f64,
}

impl Pg {
    fn start(statements: bool) -> Result<Pg> {
        let mut pg = maestro_testpg::TestPg::start().context("starting PostgreSQL")?;
        if statements {
            pg.psql(
                "postgres",
                "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
            )?;
            pg.stop()?;
            pg.start_again()?;
        }
        Ok(Pg { pg, statements })
    }

    fn database(&self, name: &str) -> Result<String> {
        let url = self.pg.create_database(name)?;
        if self.statements {
            self.pg
                .psql(name, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")?;
        }
        Ok(url)
    }

    fn counters(&self, db: &str) -> Result<PgCounters> {
        let out = self.pg.psql(
            "postgres",
            &format!(
                "SELECT d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted, \
                 w.wal_records, w.wal_sync, w.wal_bytes \
                 FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = '{db}'"
            ),
        )?;
        let v: Vec<f64> = out
            .trim()
            .split('|')
            .map(|x| x.trim().parse().unwrap_or(0.0))
            .collect();
        if v.len() < 5 {
            bail!("unexpected pg_stat output {out:?}");
        }
        Ok(PgCounters {
            commits: v[0],
            rows: v[1],
            wal_records: v[2],
            wal_syncs: v[3],
            wal_bytes: v[4],
        })
    }

    fn reset_statements(&self, db: &str) -> Result<()> {
        if self.statements {
            self.pg.psql(db, "SELECT pg_stat_statements_reset()")?;
        }
        Ok(())
    }

    /// The statements run in `db` since the reset: (calls, execution ms, query), most
    /// called first.
    fn statements(&self, db: &str) -> Result<Vec<(f64, f64, String)>> {
        let out = self.pg.psql(
            db,
            &format!(
                "SELECT calls, total_exec_time, \
                 regexp_replace(left(query, 110), '\\s+', ' ', 'g') \
                 FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database \
                 WHERE datname = '{db}') ORDER BY calls DESC"
            ),
        )?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let (c, rest) = l.split_once('|')?;
                let (t, q) = rest.split_once('|')?;
                Some((
                    c.trim().parse().ok()?,
                    t.trim().parse().ok()?,
                    q.replace('|', "/"),
                ))
            })
            .collect())
    }
}

/// One deployment's servers.
struct Deployment {
    label: &'static str,
    servers: Vec<BenchServer>,
    logs: Vec<PathBuf>,
}

impl Deployment {
    fn urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.url.clone()).collect()
    }

    fn cpu(&self) -> f64 {
        self.servers
            .iter()
            .map(|s| {
                let (u, k) = s.cpu_secs();
                u + k
            })
            .sum()
    }

    /// CPU seconds of the replicas' writer threads (the one thread that runs transactions).
    fn writer_cpu(&self) -> f64 {
        self.servers
            .iter()
            .map(|s| s.thread_cpu_secs("maestro-writer"))
            .sum()
    }

    fn print_logs(&self) {
        for (i, l) in self.logs.iter().enumerate() {
            let t = log_tail(l, 3000);
            if !t.trim().is_empty() {
                println!(
                    "\n{} replica {i} stderr (tail):\n```\n{}\n```",
                    self.label,
                    t.trim_end()
                );
            }
        }
    }

    /// Events stored, as each replica's `/healthz` says.
    async fn stored(&self, http: &reqwest::Client) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.servers {
            let v = match get_json(http, &s.url, "/healthz").await {
                Ok((_, h)) => h["store"]["events"].to_string(),
                Err(e) => format!("error: {e}"),
            };
            out.push(v);
        }
        out
    }
}

/// Posts every body, `senders` at a time over keep-alive connections, body i to
/// `urls[i % urls.len()]`; returns (events/s, per-request ms, failures, first failure).
async fn blast_split(
    urls: &[String],
    bodies: Arc<Vec<Vec<u8>>>,
    senders: usize,
) -> (f64, Vec<f64>, usize, Option<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let http = client(true);
    let endpoints: Arc<Vec<String>> = Arc::new(
        urls.iter()
            .map(|u| format!("{u}/api/webhooks/hook-event"))
            .collect(),
    );
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (next, bodies, endpoints, http) = (
            next.clone(),
            bodies.clone(),
            endpoints.clone(),
            http.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut bad = 0;
            let mut first = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return (lat, bad, first);
                };
                let s = Instant::now();
                let r = http
                    .post(&endpoints[i % endpoints.len()])
                    .bearer_auth(INGEST_TOKEN)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().as_u16() == 200 => {
                        let _ = resp.bytes().await;
                    }
                    Ok(resp) => {
                        bad += 1;
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        first.get_or_insert(format!("HTTP {status}: {text}"));
                    }
                    Err(e) => {
                        bad += 1;
                        first.get_or_insert(format!("{e}"));
                    }
                }
                lat.push(ms(s.elapsed()));
            }
        }));
    }
    let mut lat = Vec::new();
    let mut bad = 0;
    let mut first = None;
    for t in tasks {
        let (l, b, e) = t.await.expect("sender");
        lat.extend(l);
        bad += b;
        if first.is_none() {
            first = e;
        }
    }
    (
        bodies.len() as f64 / t.elapsed().as_secs_f64(),
        lat,
        bad,
        first,
    )
}

/// The result of one deployment's durable ingest.
struct IngestResult {
    rate: f64,
    lat: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
    stored: Vec<String>,
    server_cpu_us: f64,
    writer_cpu_us: f64,
    pg_cpu_us: Option<f64>,
    bench_cpu_us: f64,
    /// Share of the machine's CPU time (all cores) used by server, PostgreSQL and bench.
    busy: f64,
    pg: Option<(PgCounters, f64)>,
    statements: Vec<(f64, f64, String)>,
}

/// The result of one deployment's latency run.
struct LatencyResult {
    clients: usize,
    achieved: f64,
    sent: usize,
    lat: Vec<f64>,
    same: Vec<f64>,
    cross: Vec<f64>,
    post_lat: Vec<f64>,
    post_errors: usize,
    missing: usize,
    duplicates: usize,
    server_cpu_pct: f64,
    pg_cpu_pct: Option<f64>,
}

/// `rate` events/s for `secs` seconds, event i posted to replica i mod k; `nclients` WebSocket
/// clients, client j on replica j mod k.
async fn latency_split(
    servers: &[BenchServer],
    nclients: usize,
    rate: u64,
    secs: u64,
    tag: &str,
    postmaster: Option<u32>,
) -> Result<LatencyResult> {
    let k = servers.len();
    let total = (rate * secs) as usize;
    let mut clients = Vec::new();
    for j in 0..nclients {
        clients.push(ws_connect(servers[j % k].port).await?);
    }
    let readers = spawn_ws_clients(clients, total, Duration::from_secs(secs + 30));
    let http = client(true);
    let endpoints: Vec<String> = servers
        .iter()
        .map(|s| format!("{}/api/webhooks/hook-event", s.url))
        .collect();
    let sent: Arc<Mutex<HashMap<String, (Instant, usize)>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(total)));
    let post_lat: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let post_errors = Arc::new(AtomicUsize::new(0));
    let inflight = Arc::new(tokio::sync::Semaphore::new(256));
    let bodies: Vec<(String, Vec<u8>)> = (0..total)
        .map(|i| {
            let p = tool_payload(&format!("team-lat-{tag}-{}", i % 20), i);
            (
                p["tool_use_id"].as_str().unwrap_or("").to_string(),
                envelope_bytes(&p),
            )
        })
        .collect();
    let cpu0: f64 = servers
        .iter()
        .map(|s| {
            let (u, k) = s.cpu_secs();
            u + k
        })
        .sum();
    let pg0 = postmaster.map(pg_cpu);
    let start = tokio::time::Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::with_capacity(total);
    for (i, (id, body)) in bodies.into_iter().enumerate() {
        tokio::time::sleep_until(start + period * i as u32).await;
        let permit = inflight.clone().acquire_owned().await?;
        let (http, endpoint, sent, post_lat, post_errors) = (
            http.clone(),
            endpoints[i % k].clone(),
            sent.clone(),
            post_lat.clone(),
            post_errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            sent.lock().expect("lock").insert(id, (t, i % k));
            let r = http
                .post(&endpoint)
                .bearer_auth(INGEST_TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().as_u16() == 200 => {
                    let _ = resp.bytes().await;
                }
                _ => {
                    post_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            post_lat.lock().expect("lock").push(ms(t.elapsed()));
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let wall = start.elapsed().as_secs_f64();
    let achieved = total as f64 / wall;
    let cpu1: f64 = servers
        .iter()
        .map(|s| {
            let (u, k) = s.cpu_secs();
            u + k
        })
        .sum();
    let pg1 = postmaster.map(pg_cpu);
    let mut received = Vec::new();
    for r in readers {
        received.push(r.await?);
    }
    let sent = std::mem::take(&mut *sent.lock().expect("lock"));
    let (mut lat, mut same, mut cross) = (Vec::new(), Vec::new(), Vec::new());
    let (mut missing, mut duplicates) = (0, 0);
    for (j, got) in received.into_iter().enumerate() {
        let replica = j % k;
        let mut seen = HashSet::with_capacity(got.len());
        for (id, at) in got {
            let Some((t, origin)) = sent.get(&id) else {
                continue;
            };
            if !seen.insert(id) {
                duplicates += 1;
                continue;
            }
            let l = ms(at.saturating_duration_since(*t));
            lat.push(l);
            if *origin == replica {
                same.push(l);
            } else {
                cross.push(l);
            }
        }
        missing += sent.len().saturating_sub(seen.len());
    }
    let post_lat = std::mem::take(&mut *post_lat.lock().expect("lock"));
    Ok(LatencyResult {
        clients: nclients,
        achieved,
        sent: total,
        lat,
        same,
        cross,
        post_lat,
        post_errors: post_errors.load(Ordering::Relaxed),
        missing,
        duplicates,
        server_cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        pg_cpu_pct: pg0.zip(pg1).map(|(a, b)| (b - a) / wall * 100.0),
    })
}

/// Everything measured of one deployment in one round.
struct Measured {
    round: u64,
    config: usize,
    ingest: IngestResult,
    latency: LatencyResult,
}

struct Params {
    n: usize,
    senders: usize,
    warmup: usize,
    rate: u64,
    secs: u64,
    clients: usize,
    settle: Duration,
}

async fn measure(
    p: &Params,
    pg: &Pg,
    round: u64,
    config: usize,
    logdir: &Path,
) -> Result<Measured> {
    let (label, replicas, on_pg) = CONFIGS[config];
    let db = on_pg.then(|| format!("team_r{round}_c{config}"));
    let url = match &db {
        Some(name) => Some(pg.database(name)?),
        None => None,
    };
    let mut d = Deployment {
        label,
        servers: Vec::new(),
        logs: Vec::new(),
    };
    for r in 0..replicas {
        let log = logdir.join(format!("r{round}-c{config}-replica{r}.log"));
        let env: Vec<(&str, &str)> = url
            .as_deref()
            .map(|u| vec![("MAESTRO_DATABASE_URL", u)])
            .unwrap_or_default();
        match start_server(&env, &log) {
            Ok(s) => d.servers.push(s),
            Err(e) => {
                d.print_logs();
                return Err(e.context(format!("{label}: starting replica {r}")));
            }
        }
        d.logs.push(log);
    }
    let urls = d.urls();
    let postmaster = if on_pg { pg.pg.pid() } else { None };
    let http = client(true);
    let tag = format!("r{round}c{config}");

    // Warm-up: connections, pools, prepared statements; not counted.
    let warm: Vec<Vec<u8>> = (0..p.warmup)
        .map(|i| envelope_bytes(&tool_payload(&format!("team-warm-{tag}-{}", i % 64), i)))
        .collect();
    let (_, _, bad, first) = blast_split(&urls, Arc::new(warm), p.senders).await;
    if bad > 0 {
        println!("{label}: {bad} errors in the warm-up; first: {first:?}");
    }
    tokio::time::sleep(p.settle).await;

    // Durable ingest.
    let bodies: Vec<Vec<u8>> = (0..p.n)
        .map(|i| envelope_bytes(&tool_payload(&format!("team-{tag}-{}", i % 64), i)))
        .collect();
    if let Some(db) = &db {
        pg.reset_statements(db)?;
    }
    let before = match &db {
        Some(db) => Some(pg.counters(db)?),
        None => None,
    };
    let (cpu0, pg0, own0, w0) = (d.cpu(), postmaster.map(pg_cpu), own_cpu(), d.writer_cpu());
    let t = Instant::now();
    let (rate, lat, errors, first_error) = blast_split(&urls, Arc::new(bodies), p.senders).await;
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, pg1, own1, w1) = (d.cpu(), postmaster.map(pg_cpu), own_cpu(), d.writer_cpu());
    tokio::time::sleep(p.settle).await;
    let after = match &db {
        Some(db) => Some(pg.counters(db)?),
        None => None,
    };
    let statements = match &db {
        Some(db) if pg.statements => pg.statements(db)?,
        _ => Vec::new(),
    };
    let stored = d.stored(&http).await;
    let n = p.n as f64;
    let pg_used = pg0.zip(pg1).map(|(a, b)| b - a);
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1) as f64;
    let ingest = IngestResult {
        rate,
        lat,
        errors,
        first_error,
        stored,
        server_cpu_us: (cpu1 - cpu0) * 1e6 / n,
        writer_cpu_us: (w1 - w0) * 1e6 / n,
        pg_cpu_us: pg_used.map(|c| c * 1e6 / n),
        bench_cpu_us: (own1 - own0) * 1e6 / n,
        busy: ((cpu1 - cpu0) + pg_used.unwrap_or(0.0) + (own1 - own0)) / (wall * cores),
        pg: before.zip(after).map(|(b, a)| {
            (
                PgCounters {
                    commits: a.commits - b.commits,
                    rows: a.rows - b.rows,
                    wal_records: a.wal_records - b.wal_records,
                    wal_syncs: a.wal_syncs - b.wal_syncs,
                    wal_bytes: a.wal_bytes - b.wal_bytes,
                },
                n,
            )
        }),
        statements,
    };
    println!(
        "round {round}, {label}: ingest {:.0} ev/s, {} errors, stored {:?} (expected {}), \
         loadavg {}",
        ingest.rate,
        ingest.errors,
        ingest.stored,
        p.warmup + p.n,
        loadavg()
    );

    // Latency at a fixed rate.
    let latency = latency_split(&d.servers, p.clients, p.rate, p.secs, &tag, postmaster).await?;
    let stored = d.stored(&http).await;
    println!(
        "round {round}, {label}: latency run {:.0} ev/s achieved, missing {}, duplicates {}, \
         stored {stored:?} (expected {}), loadavg {}",
        latency.achieved,
        latency.missing,
        latency.duplicates,
        p.warmup + p.n + latency.sent,
        loadavg()
    );
    if ingest.errors > 0 || latency.missing > 0 || latency.post_errors > 0 {
        if let Some(e) = &ingest.first_error {
            println!("{label}: first ingest error: {e}");
        }
        d.print_logs();
        if on_pg {
            println!(
                "\nPostgreSQL log (tail):\n```\n{}\n```",
                log_tail(&pg.pg.log_path(), 3000).trim_end()
            );
        }
    }
    for s in &mut d.servers {
        s.stop();
    }
    Ok(Measured {
        round,
        config,
        ingest,
        latency,
    })
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub async fn run(a: &Args) -> Result<()> {
    let p = Params {
        n: a.num("n", 10_000, 2_000)? as usize,
        senders: a.num("senders", 32, 32)? as usize,
        warmup: a.num("warmup", 1_000, 300)? as usize,
        rate: a.num("rate", 1_000, 1_000)?,
        secs: a.num("duration", 10, 3)?,
        clients: a.num("clients", 10, 4)? as usize,
        settle: Duration::from_secs(a.num("settle", 3, 2)?),
    };
    let rounds = a.num("rounds", 1, 1)?.max(1);
    let statements = a.num("pg-statements", 0, 0)? == 1;
    if p.n == 0 || p.senders == 0 || p.rate == 0 || p.secs == 0 || p.clients == 0 {
        bail!("--n, --senders, --rate, --duration and --clients must be positive");
    }
    let pg = Pg::start(statements)?;
    let version = pg
        .pg
        .psql("postgres", "SHOW server_version")
        .unwrap_or_default();
    let settings = pg
        .pg
        .psql(
            "postgres",
            "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings \
             WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'max_connections', \
             'shared_buffers', 'commit_delay')",
        )
        .unwrap_or_default();
    println!(
        "PostgreSQL {} (private cluster on 127.0.0.1, same machine): {}{}\n",
        version.trim(),
        settings.trim(),
        if statements {
            ", pg_stat_statements preloaded"
        } else {
            ""
        }
    );
    println!(
        "Per deployment: {} warm-up events, then {} distinct PostToolUse envelopes (~1 KB, 64 \
         sessions) from {} keep-alive senders, every answer waited for (200 = committed); then \
         {} s at {} ev/s (keep-alive POSTs, up to 256 in flight) with {} WebSocket clients, \
         latency from just before the POST to the message at every client. Two replicas: event \
         i posted to replica i mod 2, client j on replica j mod 2. A fresh SQLite data dir or \
         PostgreSQL database per deployment and round; {} round(s), order rotated each round. \
         Bench client, servers and PostgreSQL share this machine's cores.\n",
        p.warmup, p.n, p.senders, p.secs, p.rate, p.clients, rounds
    );
    let logs = tempfile::Builder::new()
        .prefix("maestro-bench-team-logs")
        .tempdir()?;
    let mut results: Vec<Measured> = Vec::new();
    for round in 0..rounds {
        for step in 0..CONFIGS.len() {
            let config = (step + round as usize) % CONFIGS.len();
            results.push(measure(&p, &pg, round, config, logs.path()).await?);
        }
    }
    println!();
    report(&p, &results, rounds);
    Ok(())
}

fn find(results: &[Measured], round: u64, config: usize) -> Option<&Measured> {
    results
        .iter()
        .find(|m| m.round == round && m.config == config)
}

fn report(p: &Params, results: &[Measured], rounds: u64) {
    let mut rows: Vec<&Measured> = results.iter().collect();
    rows.sort_by_key(|m| (m.round, m.config));

    println!("Durable events/s ({} events per deployment):\n", p.n);
    let mut t = Table::new(&[
        "round",
        "deployment",
        "ev/s",
        "vs SQLite",
        "PG-2 / PG-1",
        "answer p50 ms",
        "answer p99 ms",
        "errors",
        "stored (/healthz, each replica)",
        "wall µs/event (1 / ev/s)",
        "server CPU µs/event (all replicas)",
        "writer threads CPU µs/event",
        "PostgreSQL CPU µs/event",
        "bench CPU µs/event",
        "CPU busy (all cores)",
    ]);
    for m in &rows {
        let sqlite = find(results, m.round, 0).map(|x| x.ingest.rate);
        let pg1 = find(results, m.round, 1).map(|x| x.ingest.rate);
        let s = summarize(&m.ingest.lat);
        t.row(vec![
            m.round.to_string(),
            CONFIGS[m.config].0.to_string(),
            format!("{:.0}", m.ingest.rate),
            sqlite.map_or("-".into(), |b| ratio(m.ingest.rate, b)),
            if m.config == 2 {
                pg1.map_or("-".into(), |b| ratio(m.ingest.rate, b))
            } else {
                "-".into()
            },
            f(s.p50),
            f(s.p99),
            m.ingest.errors.to_string(),
            m.ingest.stored.join(" / "),
            format!("{:.0}", 1e6 / m.ingest.rate),
            format!("{:.0}", m.ingest.server_cpu_us),
            format!("{:.0}", m.ingest.writer_cpu_us),
            m.ingest.pg_cpu_us.map_or("-".into(), |c| format!("{c:.0}")),
            format!("{:.0}", m.ingest.bench_cpu_us),
            format!("{:.0}%", m.ingest.busy * 100.0),
        ]);
    }
    t.print();

    if rows.iter().any(|m| m.ingest.pg.is_some()) {
        println!(
            "\nPostgreSQL per durable event during the ingest (pg_stat_database, pg_stat_wal):\n"
        );
        let mut t = Table::new(&[
            "round",
            "deployment",
            "transactions committed / event",
            "events / transaction",
            "rows written / event",
            "WAL records / event",
            "WAL bytes / event",
            "WAL fsyncs / event",
            "WAL fsyncs / s",
        ]);
        for m in &rows {
            let Some((c, n)) = m.ingest.pg else {
                continue;
            };
            t.row(vec![
                m.round.to_string(),
                CONFIGS[m.config].0.to_string(),
                format!("{:.3}", c.commits / n),
                if c.commits > 0.0 {
                    format!("{:.1}", n / c.commits)
                } else {
                    "-".into()
                },
                format!("{:.1}", c.rows / n),
                format!("{:.1}", c.wal_records / n),
                format!("{:.0}", c.wal_bytes / n),
                format!("{:.3}", c.wal_syncs / n),
                format!("{:.0}", c.wal_syncs / n * m.ingest.rate),
            ]);
        }
        t.print();
    }

    for m in &rows {
        if m.ingest.statements.is_empty() {
            continue;
        }
        let n = p.n as f64;
        let calls: f64 = m.ingest.statements.iter().map(|(c, _, _)| c).sum();
        let exec: f64 = m.ingest.statements.iter().map(|(_, t, _)| t).sum();
        println!(
            "\nround {}, {}: {:.1} statements per event, {:.0} µs of PostgreSQL execution per \
             event (pg_stat_statements: calls and total_exec_time, all replicas, during the \
             ingest); the 12 most called, then the 3 slowest of the others:\n",
            m.round,
            CONFIGS[m.config].0,
            calls / n,
            exec * 1e3 / n
        );
        let mut t = Table::new(&["calls / event", "exec µs / event", "statement"]);
        // The most called (round trips), then the slowest not among them (lock waits).
        let mut shown: Vec<&(f64, f64, String)> = m.ingest.statements.iter().take(12).collect();
        let mut slow: Vec<&(f64, f64, String)> = m.ingest.statements.iter().skip(12).collect();
        slow.sort_by(|a, b| b.1.total_cmp(&a.1));
        shown.extend(slow.into_iter().take(3));
        for (c, e, q) in shown {
            t.row(vec![
                format!("{:.2}", c / n),
                format!("{:.0}", e * 1e3 / n),
                format!("`{q}`"),
            ]);
        }
        t.print();
    }

    println!(
        "\nhook→WebSocket latency at {} ev/s for {} s ({} WebSocket clients; two replicas: half \
         on each):\n",
        p.rate, p.secs, p.clients
    );
    let mut t = Table::new(&[
        "round",
        "deployment",
        "pairs",
        "achieved ev/s",
        "events",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "p99 vs SQLite",
        "POST->200 p50 / p99 ms",
        "POST errors",
        "missing (client, event) pairs",
        "duplicates",
        "server CPU % of a core (all replicas)",
        "PostgreSQL CPU % of a core",
    ]);
    for m in &rows {
        let l = &m.latency;
        let sqlite_p99 = find(results, m.round, 0).map(|x| summarize(&x.latency.lat).p99);
        let po = summarize(&l.post_lat);
        let mut cells = |pairs: &str, v: &[f64], full: bool| {
            let s = summarize(v);
            t.row(vec![
                m.round.to_string(),
                CONFIGS[m.config].0.to_string(),
                pairs.to_string(),
                format!("{:.0}", l.achieved),
                l.sent.to_string(),
                f(s.p50),
                f(s.p95),
                f(s.p99),
                f(s.max),
                sqlite_p99.map_or("-".into(), |b| ratio(s.p99, b)),
                if full {
                    format!("{} / {}", f(po.p50), f(po.p99))
                } else {
                    "".into()
                },
                if full {
                    l.post_errors.to_string()
                } else {
                    "".into()
                },
                if full {
                    format!("{} of {}", l.missing, l.sent * l.clients)
                } else {
                    "".into()
                },
                if full {
                    l.duplicates.to_string()
                } else {
                    "".into()
                },
                if full {
                    format!("{:.0}%", l.server_cpu_pct)
                } else {
                    "".into()
                },
                if full {
                    l.pg_cpu_pct.map_or("-".into(), |c| format!("{c:.0}%"))
                } else {
                    "".into()
                },
            ]);
        };
        cells("all", &l.lat, true);
        if m.config == 2 {
            cells("posted to the client's replica", &l.same, false);
            cells("posted to the other replica", &l.cross, false);
        }
    }
    t.print();

    if rounds > 1 {
        println!("\nMedians over {rounds} rounds:\n");
        let mut t = Table::new(&[
            "deployment",
            "durable ev/s (median)",
            "min - max",
            "vs SQLite",
            "hook→WS p99 ms (median)",
            "min - max",
        ]);
        let mut meds = Vec::new();
        for (c, (label, _, _)) in CONFIGS.iter().enumerate() {
            let mut r: Vec<f64> = results
                .iter()
                .filter(|m| m.config == c)
                .map(|m| m.ingest.rate)
                .collect();
            let mut l: Vec<f64> = results
                .iter()
                .filter(|m| m.config == c)
                .map(|m| summarize(&m.latency.lat).p99)
                .collect();
            let (rm, lm) = (median(&mut r), median(&mut l));
            meds.push(rm);
            t.row(vec![
                label.to_string(),
                format!("{rm:.0}"),
                format!("{:.0} - {:.0}", r[0], r[r.len() - 1]),
                ratio(rm, meds[0]),
                f(lm),
                format!("{} - {}", f(l[0]), f(l[l.len() - 1])),
            ]);
        }
        t.print();
    }
    println!(
        "\ngoals: PostgreSQL with one replica at least 5,000 durable events/s; two replicas not \
         slower than one"
    );
}
