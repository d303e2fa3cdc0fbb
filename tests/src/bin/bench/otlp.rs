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

use super::{client, f, get_json, latency_loadgen, summarize, Args, BenchServer, Table};
use anyhow::{bail, Result};
use maestro_tests::server::INGEST_TOKEN;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
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

/// Posts exports until `stop`: `senders` loops, each paced to `per_sender_exports_per_sec`
/// (0: flat out). Sessions are `otlp-{tag}-{sender}`; record numbers never repeat.
fn spawn_load(
    url: &str,
    tag: &str,
    senders: u64,
    batch: u64,
    per_sender_exports_per_sec: f64,
    stop: Arc<AtomicBool>,
    posted: Arc<Posted>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..senders)
        .map(|k| {
            let http = client(true);
            let endpoint = format!("{url}/v1/logs");
            let session = format!("otlp-{tag}-{k}");
            let (stop, posted) = (stop.clone(), posted.clone());
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

/// Runs the OTLP benchmark.
pub async fn run(a: &Args) -> Result<()> {
    let secs = a.num("duration", 20, 4)?;
    let rate = a.num("rate", 1000, 1000)?;
    let otlp_rate = a.num("otlp-rate", 600, 600)?;
    let senders = a.num("senders", 4, 4)?;
    let batch = a.num("batch", 30, 30)?;
    let alone_secs = a.num("otlp-duration", 10, 3)?;
    println!(
        "OTLP/HTTP protobuf log exports of {batch} records each (1/3 api_request, 1/3 \
         tool_decision, 1/3 tool_result), keep-alive. (1) The receiver alone, {senders} senders \
         flat out for {alone_secs} s. (2) hook->WebSocket latency at {rate} ev/s ({secs} s, \
         load generator, 10 WS clients) without OTLP, with OTLP at {otlp_rate} records/s \
         ({senders} senders), with OTLP flat out ({senders} senders), and without OTLP again.\n"
    );
    let server = BenchServer::start(&[])?;
    let mut expected_requests = 0u64;

    // (1) The receiver alone.
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(Posted::default());
    let t = Instant::now();
    let load = spawn_load(
        &server.url,
        "alone",
        senders,
        batch,
        0.0,
        stop.clone(),
        posted.clone(),
    );
    tokio::time::sleep(Duration::from_secs(alone_secs)).await;
    stop.store(true, Ordering::Relaxed);
    for h in load {
        let _ = h.await;
    }
    let elapsed = t.elapsed().as_secs_f64();
    expected_requests += posted.api_requests.load(Ordering::Relaxed);
    let stored = stored_requests(&server.url).await?;
    let post = summarize(&posted.post_ms.lock().map(|v| v.clone()).unwrap_or_default());
    let mut alone = Table::new(&[
        "load",
        "records",
        "records/s",
        "exports/s",
        "POST p50 / p99 ms",
        "failed POSTs",
        "api_request stored / posted",
    ]);
    let records = posted.records.load(Ordering::Relaxed);
    alone.row(vec![
        format!("OTLP alone, {senders} senders flat out"),
        records.to_string(),
        format!("{:.0}", records as f64 / elapsed),
        format!("{:.0}", records as f64 / batch as f64 / elapsed),
        format!("{} / {}", f(post.p50), f(post.p99)),
        posted.failures.load(Ordering::Relaxed).to_string(),
        format!("{stored} / {expected_requests}"),
    ]);
    alone.print();
    println!();
    if stored < expected_requests {
        bail!("stored {stored} api_request records of {expected_requests} posted");
    }

    // (2) Hook latency with and without OTLP.
    let mut table = Table::new(&[
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
        "missing",
    ]);
    let mut base_p99 = None;
    let per_sender = otlp_rate as f64 / batch as f64 / senders as f64;
    for (label, mode) in [
        ("none", None),
        ("steady", Some(per_sender)),
        ("flat out", Some(0.0)),
        ("none (again)", None),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let posted = Arc::new(Posted::default());
        let tag = label.replace([' ', '(', ')'], "");
        let load = match mode {
            Some(pace) => spawn_load(
                &server.url,
                &tag,
                senders,
                batch,
                pace,
                stop.clone(),
                posted.clone(),
            ),
            None => Vec::new(),
        };
        let t = Instant::now();
        let run = latency_loadgen(&server, rate, secs, &format!("o{tag}")).await?;
        stop.store(true, Ordering::Relaxed);
        for h in load {
            let _ = h.await;
        }
        let elapsed = t.elapsed().as_secs_f64();
        expected_requests += posted.api_requests.load(Ordering::Relaxed);
        let s = summarize(&run.lat);
        let p99 = *base_p99.get_or_insert(s.p99);
        let records = posted.records.load(Ordering::Relaxed);
        table.row(vec![
            label.to_string(),
            if mode.is_some() {
                format!("{:.0}", records as f64 / elapsed)
            } else {
                "0".into()
            },
            rate.to_string(),
            format!("{:.0}", run.achieved_rate),
            run.sent.to_string(),
            f(s.p50),
            f(s.p95),
            f(s.p99),
            f(s.max),
            format!("{:.2}x", s.p99 / p99),
            run.missing.to_string(),
        ]);
    }
    table.print();
    let stored = stored_requests(&server.url).await?;
    println!(
        "\napi_request records stored / posted over the whole run: {stored} / {expected_requests}"
    );
    if stored < expected_requests {
        bail!("stored {stored} api_request records of {expected_requests} posted");
    }
    println!("goal: the hook->WS p99 unchanged with OTLP beside it");
    Ok(())
}
