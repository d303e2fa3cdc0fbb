//! Prometheus metrics (`GET /metrics`): events by type, ingest and broadcast latency, WebSocket
//! clients, malformed and rejected events, sessions by state.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// All metrics of the server.
pub struct Telemetry {
    registry: Registry,
    /// Stored events by hook event name.
    pub events: IntCounterVec,
    /// Duplicates answered without storing.
    pub duplicates: IntCounter,
    /// Malformed stdin forwarded by hooks.
    pub malformed: IntCounter,
    /// Rejected requests by reason.
    pub rejected: IntCounterVec,
    /// Webhook latency (request in to answer out, without held decisions).
    pub ingest_seconds: Histogram,
    /// Capture to WebSocket send (the frame queued for the socket; the flush follows at once,
    /// after the rest of its batch), for live messages.
    pub broadcast_seconds: Histogram,
    /// Connected WebSocket clients.
    pub ws_clients: IntGauge,
    /// Messages replayed from the store to catch clients up.
    pub ws_catchup: IntCounter,
    /// Sessions by state (refreshed at scrape).
    pub sessions: IntGaugeVec,
    /// Pending approvals (refreshed at scrape).
    pub pending_approvals: IntGauge,
    /// Failed store writes.
    pub store_failures: IntCounter,
}

fn buckets() -> Vec<f64> {
    vec![
        0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ]
}

impl Telemetry {
    /// Registers every metric.
    pub fn new() -> anyhow::Result<Telemetry> {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new("maestro_events_total", "Stored hook events by event name"),
            &["event"],
        )?;
        let duplicates = IntCounter::new(
            "maestro_duplicate_events_total",
            "Events answered as duplicates (already stored)",
        )?;
        let malformed = IntCounter::new(
            "maestro_malformed_events_total",
            "Events whose hook stdin was not a valid payload",
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "maestro_rejected_requests_total",
                "Rejected requests by reason",
            ),
            &["reason"],
        )?;
        let ingest_seconds = Histogram::with_opts(
            HistogramOpts::new("maestro_ingest_seconds", "Webhook latency until durable")
                .buckets(buckets()),
        )?;
        let broadcast_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "maestro_broadcast_seconds",
                "Capture time to WebSocket send for live messages",
            )
            .buckets(buckets()),
        )?;
        let ws_clients = IntGauge::new("maestro_ws_clients", "Connected WebSocket clients")?;
        let ws_catchup = IntCounter::new(
            "maestro_ws_catchup_messages_total",
            "Messages replayed from the store to catch up clients",
        )?;
        let sessions = IntGaugeVec::new(
            Opts::new("maestro_sessions", "Sessions by state"),
            &["state"],
        )?;
        let pending_approvals = IntGauge::new(
            "maestro_pending_approvals",
            "Approvals waiting for an operator",
        )?;
        let store_failures = IntCounter::new(
            "maestro_store_failures_total",
            "Writes the store could not commit",
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(duplicates.clone()))?;
        registry.register(Box::new(malformed.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(ingest_seconds.clone()))?;
        registry.register(Box::new(broadcast_seconds.clone()))?;
        registry.register(Box::new(ws_clients.clone()))?;
        registry.register(Box::new(ws_catchup.clone()))?;
        registry.register(Box::new(sessions.clone()))?;
        registry.register(Box::new(pending_approvals.clone()))?;
        registry.register(Box::new(store_failures.clone()))?;
        Ok(Telemetry {
            registry,
            events,
            duplicates,
            malformed,
            rejected,
            ingest_seconds,
            broadcast_seconds,
            ws_clients,
            ws_catchup,
            sessions,
            pending_approvals,
            store_failures,
        })
    }

    /// Counts a rejected request.
    pub fn rejected(&self, reason: &str) {
        self.rejected.with_label_values(&[reason]).inc();
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
