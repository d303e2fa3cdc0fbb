//! OTLP/HTTP bodies: content encoding, protobuf or JSON, and the `claude_code.api_request`
//! records inside a logs export.

use crate::store::cost::ApiRequest;
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

/// The `claude_code.api_request` records of a logs export. Records without a `session.id`
/// cannot be joined to anything and are skipped; so are other events.
pub fn api_requests(export: &ExportLogsServiceRequest) -> Vec<ApiRequest> {
    let mut out = Vec::new();
    for resource_logs in &export.resource_logs {
        let resource: &[KeyValue] = resource_logs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                if event_name(record).as_deref() != Some("api_request") {
                    continue;
                }
                if let Some(r) = api_request(record, resource) {
                    out.push(r);
                }
            }
        }
    }
    out
}

fn api_request(record: &LogRecord, resource: &[KeyValue]) -> Option<ApiRequest> {
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
    let record_key = hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Some(ApiRequest {
        record_key,
        claude_session_id,
        maestro_session_id: look("maestro.session_id"),
        prompt_id,
        tool_use_id: look("tool_use_id"),
        model: look("model").unwrap_or_else(|| "unknown".to_string()),
        at,
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
