//! WebSocket client helpers for the tests and the bench: `/ws` with the operator token, JSON
//! messages read with a bounded wait.

use crate::server::OPERATOR_TOKEN;
use anyhow::Result;
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A client connection to `/ws`.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `ws://127.0.0.1:<port>/ws` (with `?since=` when given) as the operator.
pub async fn connect(port: u16, since: Option<i64>) -> Result<Ws> {
    let url = match since {
        Some(s) => format!("ws://127.0.0.1:{port}/ws?since={s}"),
        None => format!("ws://127.0.0.1:{port}/ws"),
    };
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {OPERATOR_TOKEN}").parse()?);
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(ws)
}

/// The next JSON text message (pings skipped); panics when none comes within `bound`.
pub async fn next_json(ws: &mut Ws, bound: Duration) -> Value {
    loop {
        let msg = tokio::time::timeout(bound, ws.next())
            .await
            .expect("a message within the bound")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("JSON message");
        }
    }
}
