//! OTLP/HTTP bodies: content encoding, protobuf or JSON, and the `claude_code.api_request`,
//! `claude_code.tool_result` and `claude_code.tool_decision` records inside a logs export.

use crate::store::cost::ApiRequest;
use crate::store::tool_telemetry::{ToolEvent, ToolEventKind};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use sha2::{Digest, Sha256};
use std::io::Read;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// A content encoding other than identity or gzip.
    #[error("unsupported Content-Encoding {0:?} (identity and gzip are accepted)")]
    Encoding(String),
    /// The gzip stream is broken.
    #[error("the gzip body could not be inflated: {0}")]
    Gzip(String),
    /// The inflated body is larger than the limit.
    #[error("the inflated body is larger than {0} bytes")]
    TooLarge(usize),
    /// Not a valid message of the expected type.
    #[error("{0}")]
    Malformed(String),
}

/// The two OTLP/HTTP body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Format {
    /// The format named by a `Content-Type` value, if it is one of the two.
    pub fn from_content_type(value: &str) -> Option<Format> {
        let mime = value.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf")
            || mime.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Format::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// Undoes `Content-Encoding` (none, `identity` or `gzip`), refusing more than `limit` bytes
/// once inflated.
pub fn inflate(body: &[u8], encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, DecodeError> {
    match encoding.map(str::trim) {
        None | Some("") => Ok(body.to_vec()),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(body.to_vec()),
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| DecodeError::Gzip(e.to_string()))?;
            if out.len() > limit {
                return Err(DecodeError::TooLarge(limit));
            }
            Ok(out)
        }
        Some(other) => Err(DecodeError::Encoding(other.to_string())),
    }
}

/// Decodes a message of type `T` in `format`.
pub fn message<T>(bytes: &[u8], format: Format) -> Result<T, DecodeError>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    match format {
        Format::Protobuf => {
            T::decode(bytes).map_err(|e| DecodeError::Malformed(format!("invalid protobuf: {e}")))
        }
        Format::Json => serde_json::from_slice(bytes)
            .map_err(|e| DecodeError::Malformed(format!("invalid OTLP JSON: {e}"))),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        any_value::Value::StringValue(s) if !s.is_empty() => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        // Finite only; `as` saturates at the i64 range.
        any_value::Value::DoubleValue(d) if d.is_finite() => Some(*d as i64),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn float(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match attr(attrs, key)? {
        any_value::Value::DoubleValue(d) if d.is_finite() => Some(*d),
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::StringValue(s) => s.trim().parse().ok().filter(|d: &f64| d.is_finite()),
        _ => None,
    }
}

/// The event name of a Claude Code log record: the `event.name` attribute, else the body
/// (`claude_code.<name>`), without the `claude_code.` prefix.
fn event_name(record: &LogRecord) -> Option<String> {
    if let Some(name) = text(&record.attributes, "event.name") {
        return Some(name.trim_start_matches("claude_code.").to_string());
    }
    match record.body.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.trim_start_matches("claude_code.").to_string()),
        _ => None,
    }
}

fn nanos_to_rfc3339(nanos: u64) -> Option<String> {
    if nanos == 0 {
        return None;
    }
    let secs = i64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    chrono::DateTime::from_timestamp(secs, sub).map(crate::time::fmt_ts)
}

/// The records of a logs export Maestro keeps.
#[derive(Debug, Default)]
pub struct Records {
    /// `claude_code.api_request`: cost and tokens.
    pub api_requests: Vec<ApiRequest>,
    /// `claude_code.tool_result` and `claude_code.tool_decision`: per tool call.
    pub tool_events: Vec<ToolEvent>,
}

/// The records of a logs export Maestro keeps. Records without a `session.id` (or, for tool
/// events, a `tool_use_id`) cannot be joined to anything and are skipped; so are other events.
pub fn records(export: &ExportLogsServiceRequest) -> Records {
    let mut out = Records::default();
    for resource_logs in &export.resource_logs {
        let resource: &[KeyValue] = resource_logs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                match event_name(record).as_deref() {
                    Some("api_request") => out.api_requests.extend(api_request(record, resource)),
                    Some("tool_result") => {
                        out.tool_events
                            .extend(tool_event(record, resource, ToolEventKind::Result))
                    }
                    Some("tool_decision") => out.tool_events.extend(tool_event(
                        record,
                        resource,
                        ToolEventKind::Decision,
                    )),
                    _ => {}
                }
            }
        }
    }
    out
}

/// What every kept record has: its session, turn, time and idempotency key.
struct Common {
    record_key: String,
    claude_session_id: String,
    maestro_session_id: Option<String>,
    prompt_id: Option<String>,
    at: String,
}

fn common(record: &LogRecord, resource: &[KeyValue]) -> Option<Common> {
    let a = record.attributes.as_slice();
    let look = |key: &str| text(a, key).or_else(|| text(resource, key));
    let claude_session_id = look("session.id")?;
    let time = if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    };
    let at = text(a, "event.timestamp")
        .or_else(|| nanos_to_rfc3339(time))
        .unwrap_or_else(|| crate::time::fmt_ts(chrono::Utc::now()));
    let prompt_id = look("prompt.id");
    let sequence = text(a, "event.sequence").unwrap_or_default();
    // Stable across retries of the same export: the session, the time, the session's event
    // counter and the prompt identify one record (the counter restarts on --resume, the
    // time does not repeat).
    let mut hash = Sha256::new();
    for part in [
        claude_session_id.as_str(),
        &time.to_string(),
        &at,
        &sequence,
        prompt_id.as_deref().unwrap_or(""),
    ] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let digest = hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let record_key = ordered_key(&at, &digest);
    Some(Common {
        record_key,
        claude_session_id,
        maestro_session_id: look("maestro.session_id"),
        prompt_id,
        at,
    })
}

/// A record's key: its time, then the hash (which covers the time). Records arrive about in
/// time order, so a new key goes at the end of the key index instead of at a random place in
/// it (a random place costs a page written per record, in the writer's transaction and again
/// at the checkpoint). Must stay the migration's `at || '/' || hash` (`store::schema`), so
/// that a retry of a record stored under the older bare-hash key still finds it.
fn ordered_key(at: &str, digest: &str) -> String {
    format!("{at}/{digest}")
}

fn flag(attrs: &[KeyValue], key: &str) -> Option<bool> {
    match attr(attrs, key)? {
        any_value::Value::BoolValue(b) => Some(*b),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A `tool_result` or `tool_decision` record (Claude Code sends the numbers as strings).
fn tool_event(record: &LogRecord, resource: &[KeyValue], kind: ToolEventKind) -> Option<ToolEvent> {
    let a = record.attributes.as_slice();
    let tool_use_id = text(a, "tool_use_id")?;
    let c = common(record, resource)?;
    let (decision, source) = match kind {
        ToolEventKind::Decision => ("decision", "source"),
        ToolEventKind::Result => ("decision_type", "decision_source"),
    };
    Some(ToolEvent {
        record_key: c.record_key,
        claude_session_id: c.claude_session_id,
        maestro_session_id: c.maestro_session_id,
        prompt_id: c.prompt_id,
        tool_use_id,
        kind,
        tool_name: text(a, "tool_name"),
        at: c.at,
        success: flag(a, "success"),
        duration_ms: int(a, "duration_ms"),
        error_type: text(a, "error_type"),
        decision: text(a, decision),
        decision_source: text(a, source),
        input_size_bytes: int(a, "tool_input_size_bytes"),
        result_size_bytes: int(a, "tool_result_size_bytes"),
    })
}

fn api_request(record: &LogRecord, resource: &[KeyValue]) -> Option<ApiRequest> {
    let a = record.attributes.as_slice();
    let look = |key: &str| text(a, key).or_else(|| text(resource, key));
    let c = common(record, resource)?;
    Some(ApiRequest {
        record_key: c.record_key,
        claude_session_id: c.claude_session_id,
        maestro_session_id: c.maestro_session_id,
        prompt_id: c.prompt_id,
        tool_use_id: look("tool_use_id"),
        model: look("model").unwrap_or_else(|| "unknown".to_string()),
        at: c.at,
        // Spend only grows: a negative figure (which would let a session lower its own spend
        // under its budget) counts as nothing.
        cost_usd: float(a, "cost_usd")
            .filter(|c| c.is_finite() && *c > 0.0)
            .unwrap_or(0.0),
        input_tokens: int(a, "input_tokens").unwrap_or(0).max(0),
        output_tokens: int(a, "output_tokens").unwrap_or(0).max(0),
        cache_read_tokens: int(a, "cache_read_tokens").unwrap_or(0).max(0),
        cache_creation_tokens: int(a, "cache_creation_tokens").unwrap_or(0).max(0),
        duration_ms: int(a, "duration_ms"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_inflated_within_the_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'x'; 1000]).expect("write");
        let packed = gz.finish().expect("finish");
        assert_eq!(
            inflate(&packed, Some("gzip"), 1000).expect("ok").len(),
            1000
        );
        assert_eq!(
            inflate(&packed, Some("gzip"), 999),
            Err(DecodeError::TooLarge(999))
        );
        assert!(matches!(
            inflate(b"nope", Some("gzip"), 10),
            Err(DecodeError::Gzip(_))
        ));
        assert!(matches!(
            inflate(b"x", Some("br"), 10),
            Err(DecodeError::Encoding(_))
        ));
    }

    #[test]
    fn tool_events_carry_their_call_and_figures() {
        use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        let result = LogRecord {
            time_unix_nano: 1_000_000_000,
            attributes: vec![
                kv("event.name", "tool_result"),
                kv("session.id", "c1"),
                kv("tool_use_id", "toolu_1"),
                kv("tool_name", "Bash"),
                kv("success", "false"),
                kv("duration_ms", "12"),
                kv("error_type", "ShellError"),
                kv("tool_input_size_bytes", "30"),
                kv("decision_source", "config"),
                kv("decision_type", "accept"),
            ],
            ..Default::default()
        };
        let decision = LogRecord {
            time_unix_nano: 900_000_000,
            attributes: vec![
                kv("event.name", "tool_decision"),
                kv("session.id", "c1"),
                kv("tool_use_id", "toolu_1"),
                kv("decision", "reject"),
                kv("source", "hook"),
            ],
            ..Default::default()
        };
        let mut no_call = result.clone();
        no_call.attributes.retain(|a| a.key != "tool_use_id");
        let export = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![result, decision, no_call],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let got = records(&export);
        assert!(got.api_requests.is_empty());
        assert_eq!(got.tool_events.len(), 2, "no tool_use_id, nothing to join");
        let r = &got.tool_events[0];
        assert_eq!(r.kind, ToolEventKind::Result);
        assert_eq!(r.tool_use_id, "toolu_1");
        assert_eq!(r.success, Some(false));
        assert_eq!(r.duration_ms, Some(12));
        assert_eq!(r.error_type.as_deref(), Some("ShellError"));
        assert_eq!(r.input_size_bytes, Some(30));
        assert_eq!(r.result_size_bytes, None);
        assert_eq!(r.decision.as_deref(), Some("accept"));
        assert_eq!(r.decision_source.as_deref(), Some("config"));
        let d = &got.tool_events[1];
        assert_eq!(d.kind, ToolEventKind::Decision);
        assert_eq!(d.decision.as_deref(), Some("reject"));
        assert_eq!(d.decision_source.as_deref(), Some("hook"));
        assert_ne!(d.record_key, r.record_key);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type("application/x-protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(
            Format::from_content_type("application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
    }
}
