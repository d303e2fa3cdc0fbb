//! `bench otlp`: Claude Code's OpenTelemetry export beside the hook events.
//!
//! One release server. First the OTLP receiver alone, flat out (`--senders` keep-alive
//! senders posting protobuf log exports, each `--batch` records: a third `api_request`, a
//! third `tool_result`, a third `tool_decision`, as the CLI sends them): records/s stored.
//! Then the hook→WebSocket latency at `--rate` hook events/s (the `latency` load generator,
//! 10 WebSocket clients) four times in one run: without OTLP, with OTLP at a steady
//! `--otlp-rate` records/s (what many live sessions export), with OTLP flat out, and without
//! OTLP again (the machine's drift). Every record posted is checked to be stored (the cost
//! total's request count).
//!
//! `--rounds N` repeats the pair (without OTLP, steady OTLP) N times, interleaved, and adds
//! the pooled p99 of each over all rounds (the host's noise moves single runs by 1.5x).
//! `--baseline DIR` runs `DIR/maestro-server` (an earlier build) beside this one, each phase
//! on both in turn, the order flipped every round. `--flat-out 0` skips the flat-out phase.
//! `--slice-ms S` replaces the phases by one hook run per round and build during which the
//! steady OTLP load is off and on in alternate slices of S ms, each hook event counted for
//! the side it was sent in: the fairest comparison on a noisy host.

use super::{client, f, get_json, latency_loadgen, summarize, Args, BenchServer, Table};
use anyhow::{bail, Result};
use maestro_tests::server::INGEST_TOKEN;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.to_string()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

/// One export of `batch` records for Claude session `session`, numbered from `first` (every
/// record unique: the stored count must equal the posted one). Returns the body and how many
/// of its records are `api_request`s.
fn export(session: &str, first: u64, batch: u64) -> (Vec<u8>, u64) {
    let mut records = Vec::with_capacity(batch as usize);
    let mut requests = 0;
    let base_ns: u64 = 1_764_000_000_000_000_000;
    for n in first..first + batch {
        let tool_use_id = format!("toolu_{session}_{}", n / 3);
        let mut attrs = vec![
            s("session.id", session),
            s("prompt.id", &format!("prompt-{session}-{}", n / 30)),
            i("event.sequence", n as i64),
            s(
                "event.timestamp",
                &chrono::DateTime::from_timestamp_millis((base_ns / 1_000_000 + n) as i64)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
            ),
        ];
        let name = match n % 3 {
            0 => {
                requests += 1;
                attrs.extend([
                    s("event.name", "api_request"),
                    s("model", "claude-bench-1"),
                    i("input_tokens", 1200),
                    i("output_tokens", 300),
                    i("cache_read_tokens", 5000),
                    i("cache_creation_tokens", 100),
                    kv("cost_usd", any_value::Value::DoubleValue(0.0123)),
                    i("duration_ms", 900),
                ]);
                "claude_code.api_request"
            }
            1 => {
                attrs.extend([
                    s("event.name", "tool_decision"),
                    s("tool_use_id", &tool_use_id),
                    s("tool_name", "Bash"),
                    s("decision", "accept"),
                    s("source", "config"),
                ]);
                "claude_code.tool_decision"
            }
            _ => {
                attrs.extend([
                    s("event.name", "tool_result"),
                    s("tool_use_id", &tool_use_id),
                    s("tool_name", "Bash"),
                    s("success", "true"),
                    s("duration_ms", "37"),
                    s("tool_input_size_bytes", "64"),
                    s("tool_result_size_bytes", "2048"),
                ]);
                "claude_code.tool_result"
            }
        };
        records.push(LogRecord {
            time_unix_nano: base_ns + n * 1_000_000,
            observed_time_unix_nano: base_ns + n * 1_000_000,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(name.to_string())),
            }),
            attributes: attrs,
            ..Default::default()
        });
    }
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![s("service.name", "claude-code")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (req.encode_to_vec(), requests)
}

/// What an OTLP load posted.
#[derive(Default)]
struct Posted {
    records: AtomicU64,
    api_requests: AtomicU64,
    failures: AtomicU64,
    post_ms: std::sync::Mutex<Vec<f64>>,
}

/// Time cut in slices of `len`, OTLP off in the even ones and on in the odd ones, so that the
/// hook events sent with and without OTLP share the host's noise.
#[derive(Clone, Copy)]
struct Slices {
    t0: Instant,
    len: Duration,
}

impl Slices {
    /// Whether OTLP is on at `t`.
    fn on(&self, t: Instant) -> bool {
        self.index(t) % 2 == 1
    }

    fn index(&self, t: Instant) -> u128 {
        t.saturating_duration_since(self.t0).as_nanos() / self.len.as_nanos().max(1)
    }

    /// Whether `t` is within `settle` of its slice's start (the load of the slice before it may
    /// still be draining; such samples count for neither side).
    fn settling(&self, t: Instant, settle: Duration) -> bool {
        let into = t.saturating_duration_since(self.t0).as_nanos() % self.len.as_nanos().max(1);
        into < settle.as_nanos()
    }
}

/// How fast a sender posts: `exports_per_sec` (0: flat out), only while `gate` is on.
#[derive(Clone, Copy)]
struct Pace {
    exports_per_sec: f64,
    gate: Option<Slices>,
}

/// Posts exports until `stop` (with a gate, only while it is on): `senders` loops, each paced to `per_sender_exports_per_sec`
/// (0: flat out). Sessions are `otlp-{tag}-{sender}`; record numbers never repeat.
fn spawn_load(
    url: &str,
    tag: &str,
    senders: u64,
    batch: u64,
    pace: Pace,
    stop: Arc<AtomicBool>,
    posted: Arc<Posted>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..senders)
        .map(|k| {
            let http = client(true);
            let endpoint = format!("{url}/v1/logs");
            let session = format!("otlp-{tag}-{k}");
            let (stop, posted) = (stop.clone(), posted.clone());
            let Pace {
                exports_per_sec: per_sender_exports_per_sec,
                gate,
            } = pace;
            tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if per_sender_exports_per_sec > 0.0 {
                        let due =
                            start + Duration::from_secs_f64(n as f64 / per_sender_exports_per_sec);
                        tokio::time::sleep_until(due).await;
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    if gate.is_some_and(|g| !g.on(Instant::now())) {
                        n += 1;
                        continue;
                    }
                    let (body, requests) = export(&session, n * batch, batch);
                    n += 1;
                    let t = Instant::now();
                    let r = http
                        .post(&endpoint)
                        .bearer_auth(INGEST_TOKEN)
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send()
                        .await;
                    let ok = match r {
                        Ok(resp) => {
                            let ok = resp.status().is_success();
                            let _ = resp.bytes().await;
                            ok
                        }
                        Err(_) => false,
                    };
                    if ok {
                        posted.records.fetch_add(batch, Ordering::Relaxed);
                        posted.api_requests.fetch_add(requests, Ordering::Relaxed);
                        if let Ok(mut v) = posted.post_ms.lock() {
                            v.push(super::ms(t.elapsed()));
                        }
                    } else {
                        posted.failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect()
}

/// The number of `api_request` records the server has stored.
async fn stored_requests(url: &str) -> Result<u64> {
    let (status, v) = get_json(&client(true), url, "/api/cost").await?;
    if status != 200 {
        bail!("GET /api/cost: {status} {v}");
    }
    Ok(v["total"]["requests"].as_u64().unwrap_or(0))
}

/// The median of `v` (0 when empty).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One server under test and the `api_request` records posted to it.
struct Build {
    label: &'static str,
    server: BenchServer,
    expected_requests: u64,
    /// Hook latencies of every phase without OTLP, and with steady OTLP, over all rounds.
    none_ms: Vec<f64>,
    steady_ms: Vec<f64>,
    /// Per round: the p99 with steady OTLP over the p99 without.
    ratios: Vec<f64>,
}

impl Build {
    /// Fails when the server stored fewer `api_request` records than were posted to it.
    async fn check_stored(&self) -> Result<u64> {
        let stored = stored_requests(&self.server.url).await?;
        if stored < self.expected_requests {
            bail!(
                "{}: stored {stored} api_request records of {} posted",
                self.label,
                self.expected_requests
            );
        }
        Ok(stored)
    }
}

/// What the server's process used over a phase.
struct Usage {
    cpu: f64,
    writer: f64,
    disk: u64,
    at: Instant,
}

impl Usage {
    fn now(server: &BenchServer) -> Usage {
        let (user, system) = server.cpu_secs();
        Usage {
            cpu: user + system,
            writer: server.thread_cpu_secs("maestro-writer"),
            disk: server.disk_write_bytes(),
            at: Instant::now(),
        }
    }

    /// (server CPU %, writer thread CPU %, disk MB/s) since `self`.
    fn since(&self, server: &BenchServer) -> [String; 3] {
        let end = Usage::now(server);
        let secs = end.at.duration_since(self.at).as_secs_f64().max(1e-3);
        [
            format!("{:.0}", (end.cpu - self.cpu) * 100.0 / secs),
            format!("{:.0}", (end.writer - self.writer) * 100.0 / secs),
            format!(
                "{:.1}",
                end.disk.saturating_sub(self.disk) as f64 / secs / 1e6
            ),
        ]
    }
}

/// The receiver alone, flat out until `target` records are stored: one row of `table`.
async fn alone(
    b: &mut Build,
    senders: u64,
    batch: u64,
    target: u64,
    table: &mut Table,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(Posted::default());
    let usage = Usage::now(&b.server);
    let t = Instant::now();
    let load = spawn_load(
        &b.server.url,
        "alone",
        senders,
        batch,
        Pace {
            exports_per_sec: 0.0,
            gate: None,
        },
        stop.clone(),
        posted.clone(),
    );
    // Until `target` records are stored (every build gets the same data before the latency
    // phases), at most a minute.
    while posted.records.load(Ordering::Relaxed) < target && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for h in load {
        let _ = h.await;
    }
    let elapsed = t.elapsed().as_secs_f64();
    let end = Usage::now(&b.server);
    b.expected_requests += posted.api_requests.load(Ordering::Relaxed);
    let stored = b.check_stored().await?;
    let post = summarize(&posted.post_ms.lock().map(|v| v.clone()).unwrap_or_default());
    let records = posted.records.load(Ordering::Relaxed);
    table.row(vec![
        b.label.to_string(),
        format!("OTLP alone, {senders} senders flat out"),
        format!("{elapsed:.1}"),
        records.to_string(),
        format!("{:.0}", records as f64 / elapsed),
        format!("{:.0}", records as f64 / batch as f64 / elapsed),
        format!("{} / {}", f(post.p50), f(post.p99)),
        format!(
            "{:.0} / {:.0}",
            (end.cpu - usage.cpu) * 1e6 / records.max(1) as f64,
            (end.writer - usage.writer) * 1e6 / records.max(1) as f64
        ),
        posted.failures.load(Ordering::Relaxed).to_string(),
        format!("{stored} / {}", b.expected_requests),
    ]);
    Ok(())
}

/// The OTLP load of one phase.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    None,
    Steady,
    FlatOut,
}

/// Runs the OTLP benchmark.
pub async fn run(a: &Args) -> Result<()> {
    let secs = a.num("duration", 20, 4)?;
    let rate = a.num("rate", 1000, 1000)?;
    let otlp_rate = a.num("otlp-rate", 600, 600)?;
    let senders = a.num("senders", 4, 4)?;
    let batch = a.num("batch", 30, 30)?;
    let alone_records = a.num("otlp-records", 90_000, 9_000)?;
    let rounds = a.num("rounds", 1, 1)?.max(1);
    let flat_out = a.num("flat-out", 1, 1)? != 0;
    let baseline = a.flags.get("baseline").map(PathBuf::from);
    let slice_ms = a.num("slice-ms", 0, 0)?;
    println!(
        "OTLP/HTTP protobuf log exports of {batch} records each (1/3 api_request, 1/3 \
         tool_decision, 1/3 tool_result), keep-alive. (1) The receiver alone, {senders} senders \
         flat out until {alone_records} records are stored. (2) hook->WebSocket latency at {rate} ev/s ({secs} s, \
         load generator, 10 WS clients) without OTLP and with OTLP at {otlp_rate} records/s \
         ({senders} senders), {rounds} round(s){}{}.\n",
        if slice_ms > 0 {
            format!(
                ", the OTLP load off and on in alternate slices of {slice_ms} ms within each run \
                 (events sent in a slice's first quarter not counted)"
            )
        } else if flat_out {
            ", then with OTLP flat out".to_string()
        } else {
            String::new()
        },
        if baseline.is_some() {
            "; this build and the baseline in turn, the order flipped every round"
        } else {
            ""
        }
    );
    let tmp = tempfile::Builder::new()
        .prefix("maestro-bench-otlp")
        .tempdir()?;
    let mut builds = vec![Build {
        label: "this build",
        server: BenchServer::start_in(&tmp.path().join("new"), &[])?,
        expected_requests: 0,
        none_ms: Vec::new(),
        steady_ms: Vec::new(),
        ratios: Vec::new(),
    }];
    if let Some(dir) = &baseline {
        builds.push(Build {
            label: "baseline",
            server: BenchServer::start_bin_in(
                &dir.join("maestro-server"),
                &tmp.path().join("base"),
                &[],
            )?,
            expected_requests: 0,
            none_ms: Vec::new(),
            steady_ms: Vec::new(),
            ratios: Vec::new(),
        });
    }

    // (1) The receiver alone.
    let mut table = Table::new(&[
        "build",
        "load",
        "s",
        "records",
        "records/s",
        "exports/s",
        "POST p50 / p99 ms",
        "server / writer CPU µs/record",
        "failed POSTs",
        "api_request stored / posted",
    ]);
    for b in &mut builds {
        alone(b, senders, batch, alone_records, &mut table).await?;
    }
    table.print();
    println!();
    if slice_ms > 0 {
        let load = Load {
            rate,
            secs,
            senders,
            batch,
            per_sender: otlp_rate as f64 / batch as f64 / senders as f64,
            slice: Duration::from_millis(slice_ms),
        };
        toggled(&mut builds, rounds, &load).await?;
        return report_stored(&builds).await;
    }

    // (2) Hook latency with and without OTLP.
    let mut table = Table::new(&[
        "build",
        "round",
        "OTLP beside the hooks",
        "OTLP records/s",
        "hook target ev/s",
        "achieved ev/s",
        "events",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "p99 / no-OTLP p99",
        "server CPU %",
        "writer CPU %",
        "disk MB/s",
        "missing",
    ]);
    let per_sender = otlp_rate as f64 / batch as f64 / senders as f64;
    // (round, phases in order); each phase runs on every build, the order flipped by round.
    let mut plan: Vec<(String, Vec<(&str, Phase)>)> = (1..=rounds)
        .map(|r| {
            let mut phases = vec![("none", Phase::None), ("steady", Phase::Steady)];
            if r % 2 == 0 {
                phases.reverse();
            }
            (r.to_string(), phases)
        })
        .collect();
    if flat_out {
        plan.push(("-".into(), vec![("flat out", Phase::FlatOut)]));
    }
    if rounds == 1 {
        plan.push(("-".into(), vec![("none (again)", Phase::None)]));
    }
    let mut run_no = 0u64;
    for (round, phases) in plan {
        let mut order: Vec<usize> = (0..builds.len()).collect();
        if round.parse::<u64>().is_ok_and(|r| r % 2 == 0) {
            order.reverse();
        }
        for k in order {
            let b = &mut builds[k];
            // Rows of this build's phases and their p99, until the round's no-OTLP p99 is known.
            let mut rows: Vec<(Vec<String>, f64)> = Vec::new();
            let mut base_p99 = None;
            for &(label, phase) in &phases {
                run_no += 1;
                let stop = Arc::new(AtomicBool::new(false));
                let posted = Arc::new(Posted::default());
                let tag = format!("{}{run_no}", label.replace([' ', '(', ')'], ""));
                let load = match phase {
                    Phase::None => Vec::new(),
                    Phase::Steady | Phase::FlatOut => spawn_load(
                        &b.server.url,
                        &tag,
                        senders,
                        batch,
                        Pace {
                            exports_per_sec: if phase == Phase::Steady {
                                per_sender
                            } else {
                                0.0
                            },
                            gate: None,
                        },
                        stop.clone(),
                        posted.clone(),
                    ),
                };
                let usage = Usage::now(&b.server);
                let t = Instant::now();
                let run = latency_loadgen(&b.server, rate, secs, &format!("o{tag}")).await?;
                stop.store(true, Ordering::Relaxed);
                for h in load {
                    let _ = h.await;
                }
                let elapsed = t.elapsed().as_secs_f64();
                let [cpu, writer, disk] = usage.since(&b.server);
                b.expected_requests += posted.api_requests.load(Ordering::Relaxed);
                let s = summarize(&run.lat);
                match phase {
                    Phase::None => {
                        base_p99.get_or_insert(s.p99);
                        b.none_ms.extend_from_slice(&run.lat);
                    }
                    Phase::Steady => b.steady_ms.extend_from_slice(&run.lat),
                    Phase::FlatOut => {}
                }
                let records = posted.records.load(Ordering::Relaxed);
                rows.push((
                    vec![
                        b.label.to_string(),
                        round.clone(),
                        label.to_string(),
                        if phase == Phase::None {
                            "0".into()
                        } else {
                            format!("{:.0}", records as f64 / elapsed)
                        },
                        rate.to_string(),
                        format!("{:.0}", run.achieved_rate),
                        run.sent.to_string(),
                        f(s.p50),
                        f(s.p95),
                        f(s.p99),
                        f(s.max),
                        String::new(),
                        cpu,
                        writer,
                        disk,
                        run.missing.to_string(),
                    ],
                    s.p99,
                ));
            }
            for (mut cells, p99) in rows {
                if let Some(p) = base_p99 {
                    if cells[2] == "steady" {
                        b.ratios.push(p99 / p);
                    }
                }
                cells[11] = base_p99.map_or("-".into(), |p| format!("{:.2}x", p99 / p));
                table.row(cells);
            }
        }
    }
    table.print();
    if rounds > 1 {
        let mut pooled = Table::new(&[
            "build",
            "rounds",
            "no-OTLP events",
            "no-OTLP p95 / p99 ms",
            "steady events",
            "steady p95 / p99 ms",
            "steady p99 / no-OTLP p99",
            "median of the rounds' ratios",
        ]);
        for b in &builds {
            let (none, steady) = (summarize(&b.none_ms), summarize(&b.steady_ms));
            pooled.row(vec![
                b.label.to_string(),
                rounds.to_string(),
                none.n.to_string(),
                format!("{} / {}", f(none.p95), f(none.p99)),
                steady.n.to_string(),
                format!("{} / {}", f(steady.p95), f(steady.p99)),
                format!("{:.2}x", steady.p99 / none.p99.max(1e-9)),
                format!("{:.2}x", median(&b.ratios)),
            ]);
        }
        println!("\nPooled over all rounds:\n");
        pooled.print();
    }
    report_stored(&builds).await
}

/// Checks and prints that every `api_request` posted to each build was stored.
async fn report_stored(builds: &[Build]) -> Result<()> {
    println!();
    for b in builds {
        let stored = b.check_stored().await?;
        println!(
            "{}: api_request records stored / posted over the whole run: {stored} / {}",
            b.label, b.expected_requests
        );
    }
    println!("goal: the hook->WS p99 unchanged with OTLP beside it");
    Ok(())
}

/// The hook load and the OTLP load of the sliced runs.
struct Load {
    rate: u64,
    secs: u64,
    senders: u64,
    batch: u64,
    per_sender: f64,
    slice: Duration,
}

/// `--slice-ms`: each round, on every build in turn (the order flipped every round), one hook
/// latency run during which the steady OTLP load is off and on in alternate slices; each hook
/// event counts for the side it was sent in (those sent in the first quarter of a slice for
/// neither). Host noise that lasts longer than a slice hits both sides alike.
async fn toggled(builds: &mut [Build], rounds: u64, load: &Load) -> Result<()> {
    let settle = load.slice / 4;
    let mut table = Table::new(&[
        "build",
        "round",
        "achieved ev/s",
        "OTLP records/s while on",
        "off: samples",
        "off: p50 / p95 / p99 ms",
        "on: samples",
        "on: p50 / p95 / p99 ms",
        "p99 on / off",
        "server CPU %",
        "writer CPU %",
        "missing",
    ]);
    let mut pooled: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> =
        builds.iter().map(|_| Default::default()).collect();
    for round in 1..=rounds {
        let mut order: Vec<usize> = (0..builds.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for k in order {
            let b = &mut builds[k];
            let stop = Arc::new(AtomicBool::new(false));
            let posted = Arc::new(Posted::default());
            let tag = format!("slices{round}");
            let usage = Usage::now(&b.server);
            // The load generator connects its clients first; the slices start about now.
            let gate = Slices {
                t0: Instant::now(),
                len: load.slice,
            };
            let senders = spawn_load(
                &b.server.url,
                &tag,
                load.senders,
                load.batch,
                Pace {
                    exports_per_sec: load.per_sender,
                    gate: Some(gate),
                },
                stop.clone(),
                posted.clone(),
            );
            let t = Instant::now();
            let run = latency_loadgen(&b.server, load.rate, load.secs, &format!("o{tag}")).await?;
            stop.store(true, Ordering::Relaxed);
            for h in senders {
                let _ = h.await;
            }
            let elapsed = t.elapsed().as_secs_f64();
            let [cpu, writer, _] = usage.since(&b.server);
            b.expected_requests += posted.api_requests.load(Ordering::Relaxed);
            let (mut off, mut on) = (Vec::new(), Vec::new());
            for (ms, at) in run.lat.iter().zip(&run.sent_at) {
                if gate.settling(*at, settle) {
                    continue;
                }
                if gate.on(*at) {
                    on.push(*ms);
                } else {
                    off.push(*ms);
                }
            }
            let (so, sn) = (summarize(&off), summarize(&on));
            let records = posted.records.load(Ordering::Relaxed) as f64;
            let ratio = sn.p99 / so.p99.max(1e-9);
            table.row(vec![
                b.label.to_string(),
                round.to_string(),
                format!("{:.0}", run.achieved_rate),
                format!("{:.0}", records / (elapsed / 2.0)),
                so.n.to_string(),
                format!("{} / {} / {}", f(so.p50), f(so.p95), f(so.p99)),
                sn.n.to_string(),
                format!("{} / {} / {}", f(sn.p50), f(sn.p95), f(sn.p99)),
                format!("{ratio:.2}x"),
                cpu,
                writer,
                run.missing.to_string(),
            ]);
            pooled[k].0.extend(off);
            pooled[k].1.extend(on);
            pooled[k].2.push(ratio);
        }
    }
    table.print();
    let mut total = Table::new(&[
        "build",
        "rounds",
        "off: p50 / p95 / p99 ms",
        "on: p50 / p95 / p99 ms",
        "pooled p99 on / off",
        "median of the rounds' p99 on / off",
        "rounds' range",
    ]);
    for (b, (off, on, ratios)) in builds.iter().zip(&pooled) {
        let (so, sn) = (summarize(off), summarize(on));
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        total.row(vec![
            b.label.to_string(),
            rounds.to_string(),
            format!("{} / {} / {}", f(so.p50), f(so.p95), f(so.p99)),
            format!("{} / {} / {}", f(sn.p50), f(sn.p95), f(sn.p99)),
            format!("{:.2}x", sn.p99 / so.p99.max(1e-9)),
            format!("{:.2}x", median(ratios)),
            format!("{lo:.2}-{hi:.2}x"),
        ]);
    }
    println!("\nPooled over all rounds:\n");
    total.print();
    Ok(())
}
