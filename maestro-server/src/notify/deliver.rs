//! One delivery attempt: the body in the destination's format, the signature, the POST.

use super::{Destination, Format, Notification};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The HTTP client (rustls, system-independent roots; redirects not followed: a webhook that
/// redirects is misconfigured, and following one would re-send the body elsewhere).
pub(super) fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("maestro/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The `X-Maestro-Signature` value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. A receiver recomputes
/// it and rejects old timestamps (replays).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let hex = hmac_hex(
        secret.as_bytes(),
        &[timestamp.to_string().as_bytes(), b".", body],
    );
    format!("t={timestamp},v1={hex}")
}

/// Hex HMAC-SHA256 of the concatenated `parts` (HMAC takes a key of any length).
fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Slack's escaping for text (`&`, `<`, `>`): event data never becomes markup or a link.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body for `dest`'s format.
pub(super) fn body(dest: &Destination, n: &Notification) -> serde_json::Result<Vec<u8>> {
    match dest.format {
        Format::Json => serde_json::to_vec(n),
        Format::Slack => serde_json::to_vec(&serde_json::json!({
            "text": format!("{} <{}|Open in Maestro>", slack_escape(&n.summary), n.link),
        })),
    }
}

/// Sends `n` to `dest`; `Err` says why it was not delivered (non-2xx, timeout, refused).
pub(super) async fn send(
    client: &reqwest::Client,
    dest: &Destination,
    n: &Notification,
) -> Result<(), String> {
    let body = body(dest, n).map_err(|e| format!("encoding the body: {e}"))?;
    let mut req = client
        .post(&dest.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(secret) = dest.secret.as_deref().filter(|s| !s.is_empty()) {
        let ts = chrono::Utc::now().timestamp();
        req = req.header("X-Maestro-Signature", signature(secret, ts, &body));
    }
    let resp = req
        .body(body)
        .send()
        .await
        // Without the URL: a Slack webhook URL is a credential, and this text is shown to every
        // operator (the delivery log, the test button).
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2, and the `timestamp.body` framing.
    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        assert_eq!(
            hmac_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sig = signature("Jefe", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            format!("t=1700000000,v1={}", hmac_hex(b"Jefe", &[b"1700000000.{}"]))
        );
        assert_ne!(signature("other", 1, b"x"), signature("Jefe", 1, b"x"));
    }

    #[test]
    fn slack_text_is_escaped() {
        assert_eq!(slack_escape("<a&b>"), "&lt;a&amp;b&gt;");
    }
}
