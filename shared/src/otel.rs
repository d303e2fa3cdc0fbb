//! The environment that makes Claude Code export its own OpenTelemetry events and metrics to
//! a Maestro server's OTLP receiver (`/v1/logs`, `/v1/metrics`). The server gives it to every
//! session it spawns; `maestro-hook install --telemetry` writes it into the settings file's
//! `env`.
//!
//! Measured with Claude Code 2.1.197 and 2.1.332: `OTEL_EXPORTER_OTLP_HEADERS` is sent
//! verbatim (`Bearer%20TOKEN` arrives as is, so a literal space is used here; the server
//! accepts both); `DISABLE_TELEMETRY` and `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` do not
//! turn this export off.

/// Logs are exported this often (ms): cost shows up within seconds.
pub const LOGS_INTERVAL_MS: u32 = 2_000;
/// Metrics are exported this often (ms).
pub const METRICS_INTERVAL_MS: u32 = 10_000;

/// The variables, in a stable order. `url` is the server's base URL (the exporter appends
/// `/v1/logs` and `/v1/metrics`), `token` the ingest token or machine credential, and
/// `resource` extra resource attributes (e.g. `maestro.task_id`), copied by Claude Code onto
/// every record. Attribute values with characters the list syntax reserves (`,`, `=`, `%`,
/// spaces) are percent-encoded.
pub fn env(url: &str, token: &str, resource: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    out.push((
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        url.trim_end_matches('/').to_string(),
    ));
    out.push((
        "OTEL_EXPORTER_OTLP_HEADERS".into(),
        format!("Authorization=Bearer {token}"),
    ));
    out.push((
        "OTEL_LOGS_EXPORT_INTERVAL".into(),
        LOGS_INTERVAL_MS.to_string(),
    ));
    out.push((
        "OTEL_METRIC_EXPORT_INTERVAL".into(),
        METRICS_INTERVAL_MS.to_string(),
    ));
    if !resource.is_empty() {
        let attrs: Vec<String> = resource
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        out.push(("OTEL_RESOURCE_ATTRIBUTES".into(), attrs.join(",")));
    }
    out
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_points_the_exporter_at_the_server() {
        let env = env(
            "http://127.0.0.1:7000/",
            "tok",
            &[("maestro.task_id", "t_1"), ("maestro.session_id", "s 1,=")],
        );
        let get = |k: &str| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("CLAUDE_CODE_ENABLE_TELEMETRY"), Some("1"));
        assert_eq!(
            get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            Some("http://127.0.0.1:7000")
        );
        assert_eq!(
            get("OTEL_EXPORTER_OTLP_HEADERS"),
            Some("Authorization=Bearer tok")
        );
        assert_eq!(
            get("OTEL_RESOURCE_ATTRIBUTES"),
            Some("maestro.task_id=t_1,maestro.session_id=s%201%2C%3D")
        );
    }
}
