//! WebSocket feed: `GET /ws?since=SEQ`. Replays the store after `since`, then streams live
//! messages. A client that falls behind the in-memory broadcast ring is caught up from the
//! store in pages, so it never loses a message and never makes the server buffer for it.

use crate::auth::{identify, Caller};
use crate::config::Config;
use crate::error::HttpError;
use crate::store::writer::LiveMessage;
use crate::store::SharedStore;
use crate::telemetry::Telemetry;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use maestro_shared::ws::{types, WsMessage};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

/// Messages kept in the live ring per server.
pub const RING: usize = 4096;
/// Messages per catch-up page.
const PAGE: i64 = 1000;
/// Ping period.
const PING: Duration = Duration::from_secs(20);

/// Live fan-out.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<LiveMessage>>,
}

impl Hub {
    /// A hub and the sender the store's writer publishes committed messages to.
    pub fn new() -> (Hub, broadcast::Sender<Arc<LiveMessage>>) {
        let (tx, _) = broadcast::channel(RING);
        (Hub { tx: tx.clone() }, tx)
    }

    /// Subscribes to live messages.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveMessage>> {
        self.tx.subscribe()
    }
}

/// Query of `/ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Last seq the client has seen; omitted: live only.
    pub since: Option<i64>,
    /// Operator token (for clients that cannot set headers; browsers use the cookie).
    pub token: Option<String>,
}

/// What the feed needs (an axum substate of the app state).
#[derive(Clone)]
pub struct FeedAccess {
    /// Tokens and allowed origins.
    pub config: Arc<Config>,
    /// Live messages.
    pub hub: Hub,
    /// Catch-up pages.
    pub store: SharedStore,
    /// Counters.
    pub telemetry: Arc<Telemetry>,
}

/// Origin must be the server's own (same host) or an allowed one, when the browser sends it.
fn origin_ok(state: &FeedAccess, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let own = [format!("http://{host}"), format!("https://{host}")];
    own.iter().any(|o| o == origin) || state.config.allowed_origins.iter().any(|o| o == origin)
}

/// `GET /ws`.
pub async fn ws_handler(
    State(state): State<FeedAccess>,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_ok(&state, &headers) {
        state.telemetry.rejected("ws_origin");
        return HttpError::forbidden("WebSocket origin not allowed").into_response();
    }
    match identify(&state.config, &state.store, &headers, q.token.as_deref()).await {
        Caller::Operator(_) => {}
        Caller::Ingest => {
            return HttpError::forbidden("the ingest token cannot read the feed").into_response()
        }
        Caller::Anonymous => {
            state.telemetry.rejected("ws_auth");
            return HttpError::unauthorized("operator token required").into_response();
        }
    }
    ws.on_upgrade(move |socket| async move {
        state.telemetry.ws_clients.inc();
        if let Err(e) = serve(socket, &state, q.since).await {
            tracing::debug!(error = %e, "websocket client ended");
        }
        state.telemetry.ws_clients.dec();
    })
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Most live messages a client task writes before one flush and another look at pings and the
/// client's own messages.
const BATCH: usize = 256;

async fn send(sink: &mut Sink, msg: &WsMessage) -> anyhow::Result<()> {
    let text = serde_json::to_string(msg)?;
    sink.send(Message::Text(text.into())).await?;
    Ok(())
}

/// Sends everything after `last` from the store, page by page; returns the new last seq.
async fn catch_up(
    sink: &mut Sink,
    state: &FeedAccess,
    mut last: i64,
    upto: Option<i64>,
) -> anyhow::Result<i64> {
    loop {
        let page = state.store.feed_since(last, PAGE).await?;
        if page.is_empty() {
            return Ok(last);
        }
        for m in &page {
            if upto.is_some_and(|u| m.seq > u) {
                sink.flush().await?;
                return Ok(last);
            }
            sink.feed(Message::Text(serde_json::to_string(m)?.into()))
                .await?;
            state.telemetry.ws_catchup.inc();
            last = m.seq;
        }
        // One write per page.
        sink.flush().await?;
    }
}

/// Queues one live message for the client (without flushing), first replaying from the
/// store whatever it missed before it; returns the new last seq.
async fn forward(
    sink: &mut Sink,
    state: &FeedAccess,
    live: &LiveMessage,
    mut last: i64,
) -> anyhow::Result<i64> {
    let m = &live.msg;
    if m.seq <= last {
        return Ok(last);
    }
    if m.seq > last + 1 {
        // Something committed before this is not in our receiver (we subscribed late or it
        // is in flight): take it from the store.
        last = catch_up(sink, state, last, Some(m.seq - 1)).await?;
        if m.seq <= last {
            return Ok(last);
        }
    }
    // Serialized once for every client, and the bytes shared.
    sink.feed(Message::Text(live.text.clone())).await?;
    if m.kind.starts_with("hook:") {
        let lag = (chrono::Utc::now() - m.at).num_microseconds().unwrap_or(0);
        state
            .telemetry
            .broadcast_seconds
            .observe(lag.max(0) as f64 / 1e6);
    }
    Ok(m.seq)
}

async fn serve(socket: WebSocket, state: &FeedAccess, since: Option<i64>) -> anyhow::Result<()> {
    let (mut sink, mut stream) = socket.split();
    // Subscribe before reading the store, so nothing committed in between is missed.
    let mut rx = state.hub.subscribe();
    let mut last = match since {
        Some(s) => catch_up(&mut sink, state, s.max(0), None).await?,
        None => state.store.latest_seq(),
    };
    let ready = WsMessage {
        seq: 0,
        kind: types::READY.to_string(),
        at: chrono::Utc::now(),
        task_id: None,
        session_id: None,
        data: serde_json::json!({"seq": last}),
    };
    send(&mut sink, &ready).await?;
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(live) => {
                    // What is already in the ring goes out with one flush (under load a commit
                    // broadcasts several messages at once), at most `BATCH` at a time so that
                    // pings and the client's close are still served under a steady stream.
                    let mut next = Some(live);
                    let mut batched = 0;
                    while let Some(live) = next.take() {
                        last = forward(&mut sink, state, &live, last).await?;
                        batched += 1;
                        if batched >= BATCH {
                            break;
                        }
                        match rx.try_recv() {
                            Ok(more) => next = Some(more),
                            Err(TryRecvError::Lagged(_)) => {
                                // Queued after what is already fed, flushed page by page.
                                last = catch_up(&mut sink, state, last, None).await?;
                            }
                            Err(TryRecvError::Empty) => {}
                            Err(TryRecvError::Closed) => {
                                sink.flush().await?;
                                return Ok(());
                            }
                        }
                    }
                    sink.flush().await?;
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow for the ring: replay from the store, then continue live.
                    last = catch_up(&mut sink, state, last, None).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            incoming = stream.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                sink.send(Message::Ping(Vec::new().into())).await?;
            }
        }
    }
}
