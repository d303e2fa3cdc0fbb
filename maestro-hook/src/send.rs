//! One blocking POST of an envelope to the webhook (`ureq`, no async runtime).

use crate::config::Config;
use maestro_shared::api::IngestResponse;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use ureq::config::Config as UreqConfig;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
#[cfg(not(feature = "tls"))]
use ureq::unversioned::transport::DefaultConnector;
use ureq::unversioned::transport::NextTimeout;

/// Header telling the server how long the hook can wait for a held decision.
pub use maestro_shared::wire::WAIT_HEADER;

/// What happened to one POST.
#[derive(Debug)]
pub enum SendOutcome {
    /// 2xx: the event is durable on the server (possibly a duplicate). The parsed answer,
    /// when the body could be read.
    Delivered(Option<IngestResponse>),
    /// Connect failure, timeout, 5xx, or another answer that a later retry can fix.
    Retry(String),
    /// A 4xx that retrying the same bytes cannot fix (400, 401, 413, 422).
    Reject {
        /// HTTP status.
        status: u16,
        /// Answer body (possibly cut).
        body: String,
    },
}

/// Statuses that retrying cannot fix: the event is quarantined instead.
pub fn is_permanent(status: u16) -> bool {
    matches!(status, 400 | 401 | 413 | 422)
}

/// A blocking HTTP client for the webhook with fixed timeouts.
///
/// With several servers (`MAESTRO_URL=a,b`: replicas on one database) a POST goes to the one
/// that answered last (remembered in the spool dir's `.server`, so the next hook process starts
/// there), and on a connection failure, a timeout or a 5xx to the next; a 2xx or a permanent
/// 4xx ends the round. Idempotent ingest makes a retry on another replica of an event the first
/// one stored a duplicate, not a second event.
pub struct Sender {
    agent: ureq::Agent,
    endpoints: Vec<String>,
    auth: Option<String>,
    /// Where the server that answered last is remembered (only with several servers).
    preferred: Option<PathBuf>,
}

impl Sender {
    /// A client whose every request gives up after `total` (connect: `cfg.connect_timeout`).
    pub fn new(cfg: &Config, total: Duration) -> Sender {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(cfg.connect_timeout.min(total)))
            .timeout_global(Some(total))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("maestro-hook/", env!("CARGO_PKG_VERSION")))
            .build();
        #[cfg(feature = "tls")]
        let agent = {
            use ureq::unversioned::transport::{Connector, TcpConnector};
            let connector =
                ().chain(TcpConnector::default())
                    .chain(crate::tls::TlsConnector::new(cfg.verification()));
            ureq::Agent::with_parts(config, connector, LiteralResolver)
        };
        #[cfg(not(feature = "tls"))]
        let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), LiteralResolver);
        let servers = cfg.servers();
        Sender {
            agent,
            endpoints: servers
                .iter()
                .map(|u| format!("{u}{}", maestro_shared::wire::WEBHOOK_PATH))
                .collect(),
            auth: cfg.token.as_ref().map(|t| format!("Bearer {t}")),
            preferred: (servers.len() > 1).then(|| cfg.spool_dir.join(PREFERRED_FILE)),
        }
    }

    /// The endpoints in the order to try: the one remembered first, then the rest as written.
    fn order(&self) -> (Vec<&str>, Option<String>) {
        let remembered = self
            .preferred
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string());
        let mut order: Vec<&str> = self.endpoints.iter().map(String::as_str).collect();
        if let Some(i) = remembered
            .as_deref()
            .and_then(|r| order.iter().position(|e| *e == r))
        {
            let first = order.remove(i);
            order.insert(0, first);
        }
        (order, remembered)
    }

    /// Remembers `endpoint` as the one to try first (atomically; a failure only costs the next
    /// hook process a failed attempt).
    fn remember(&self, endpoint: &str, remembered: Option<&str>) {
        let Some(path) = &self.preferred else {
            return;
        };
        if remembered == Some(endpoint) {
            return;
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, endpoint).is_ok() && std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// POSTs one serialised envelope, failing over between the servers. `wait_ms` is sent as
    /// `X-Maestro-Wait-Ms`.
    pub fn post(&self, body: &[u8], wait_ms: Option<u64>) -> SendOutcome {
        let (order, remembered) = self.order();
        let mut failures = Vec::new();
        for endpoint in &order {
            match self.post_to(endpoint, body, wait_ms) {
                SendOutcome::Retry(why) if order.len() > 1 => {
                    failures.push(format!("{}: {why}", server_of(endpoint)));
                }
                SendOutcome::Retry(why) => return SendOutcome::Retry(why),
                done => {
                    self.remember(endpoint, remembered.as_deref());
                    return done;
                }
            }
        }
        SendOutcome::Retry(failures.join("; "))
    }

    /// One POST to one server.
    fn post_to(&self, endpoint: &str, body: &[u8], wait_ms: Option<u64>) -> SendOutcome {
        let Some(auth) = &self.auth else {
            return SendOutcome::Retry("no ingest token configured".into());
        };
        let mut req = self
            .agent
            .post(endpoint)
            .header("Authorization", auth)
            .header("Content-Type", "application/json");
        if let Some(ms) = wait_ms {
            req = req.header(WAIT_HEADER, &ms.to_string());
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return SendOutcome::Retry(describe_error(&e)),
        };
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string();
        match status {
            200..=299 => {
                let parsed = text
                    .ok()
                    .and_then(|t| serde_json::from_str::<IngestResponse>(&t).ok());
                SendOutcome::Delivered(parsed)
            }
            s if is_permanent(s) => SendOutcome::Reject {
                status: s,
                body: cut(text.unwrap_or_default()),
            },
            s => SendOutcome::Retry(format!(
                "server answered {s}: {}",
                cut(text.unwrap_or_default())
            )),
        }
    }

    /// `GET` of the webhook with the ingest token: the server answers 204 for the local
    /// ingest token, 200 `{"machine": NAME}` for a machine credential (nothing is stored), 401
    /// when it refuses it. Returns (status, body); `None` without a configured token.
    pub fn check_token(&self) -> Option<Result<(u16, String), String>> {
        let auth = self.auth.as_ref()?;
        let (order, _) = self.order();
        Some(
            self.agent
                .get(order.first().copied().unwrap_or_default())
                .header("Authorization", auth)
                .call()
                .map_err(|e| describe_error(&e))
                .map(|mut r| {
                    let status = r.status().as_u16();
                    let body = r
                        .body_mut()
                        .with_config()
                        .limit(64 * 1024)
                        .read_to_string()
                        .unwrap_or_default();
                    (status, body)
                }),
        )
    }

    /// `GET <url><path>` with the same timeouts; returns (status, body).
    pub fn get(&self, url: &str) -> Result<(u16, String), String> {
        let mut resp = self.agent.get(url).call().map_err(|e| describe_error(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .map_err(|e| describe_error(&e))?;
        Ok((status, body))
    }
}

/// The spool dir's file naming the server that answered last (not an envelope: no `.json`).
const PREFERRED_FILE: &str = ".server";

/// `https://a:1/api/...` → `https://a:1`, for messages.
fn server_of(endpoint: &str) -> &str {
    endpoint
        .strip_suffix(maestro_shared::wire::WEBHOOK_PATH)
        .unwrap_or(endpoint)
}

/// Resolves IP literals without DNS, and without the thread that ureq's
/// default resolver spawns to bound a lookup (the common case for a loopback server, and
/// a measurable share of a hook call). Everything else goes to the default resolver.
#[derive(Debug)]
struct LiteralResolver;

impl Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &UreqConfig,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal_addr(uri) {
            let mut out = self.empty();
            out.push(addr);
            return Ok(out);
        }
        DefaultResolver::default().resolve(uri, config, timeout)
    }
}

fn literal_addr(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let port = authority.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(SocketAddr::new(host.parse::<IpAddr>().ok()?, port))
}

/// The `error.code` of a JSON error answer, if it is one.
pub fn error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error")?.get("code")?.as_str().map(str::to_string)
}

/// The `error.message` of a JSON error answer, if it is one.
pub fn error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error")?.get("message")?.as_str().map(str::to_string)
}

/// Why a refused event is kept in quarantine, in words: a revoked machine says so first.
pub fn reject_reason(status: u16, body: &str) -> String {
    if error_code(body).as_deref() == Some(MACHINE_REVOKED) {
        return format!(
            "machine revoked (server answered {status}): {}",
            error_message(body).unwrap_or_else(|| body.to_string())
        );
    }
    format!("server answered {status}: {body}")
}

/// The error code the server answers for a revoked machine credential.
pub const MACHINE_REVOKED: &str = "machine_revoked";

fn describe_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Io(io) => format!("I/O error: {io}"),
        other => other.to_string(),
    }
}

fn cut(mut s: String) -> String {
    const MAX: usize = 500;
    if s.len() > MAX {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn cfg(url: &str) -> Config {
        let mut c = Config::load_with(&|k| match k {
            "MAESTRO_HOOK_CONFIG" => Some("/nonexistent/x.env".into()),
            "MAESTRO_TOKEN" => Some("tok".into()),
            _ => None,
        });
        c.url = url.to_string();
        c
    }

    fn http(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    /// A one-shot HTTP server answering `answer`; returns its URL and the request it saw.
    fn one_shot(answer: String) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).expect("read");
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req);
                if let Some(pos) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if req.len() >= pos + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(answer.as_bytes()).expect("write");
            String::from_utf8_lossy(&req).into_owned()
        });
        (url, h)
    }

    #[test]
    fn delivered_with_decision_and_wait_header() {
        let (url, h) = one_shot(http(
            "200 OK",
            r#"{"accepted":true,"duplicate":false,"seq":7,"session_id":"s_1","stdout":"{\"a\": 1}"}"#,
        ));
        let s = Sender::new(&cfg(&url), Duration::from_secs(5));
        let out = s.post(br#"{"v":1}"#, Some(1234));
        let req = h.join().expect("server");
        assert!(req.starts_with("POST /api/webhooks/hook-event HTTP/1.1"));
        assert!(
            req.contains("authorization: Bearer tok") || req.contains("Authorization: Bearer tok")
        );
        assert!(req.to_ascii_lowercase().contains("x-maestro-wait-ms: 1234"));
        assert!(req.ends_with(r#"{"v":1}"#));
        match out {
            SendOutcome::Delivered(Some(r)) => {
                assert_eq!(r.seq, 7);
                assert_eq!(r.stdout.as_deref(), Some("{\"a\": 1}"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn classifies_statuses() {
        for (answer, permanent) in [
            (http("422 Unprocessable Entity", "{}"), true),
            (http("401 Unauthorized", "{}"), true),
            (http("503 Service Unavailable", "{}"), false),
            (http("404 Not Found", ""), false),
        ] {
            let (url, h) = one_shot(answer.clone());
            let out = Sender::new(&cfg(&url), Duration::from_secs(5)).post(b"{}", None);
            h.join().expect("server");
            match (out, permanent) {
                (SendOutcome::Reject { status, .. }, true) => assert!(is_permanent(status)),
                (SendOutcome::Retry(_), false) => {}
                (other, _) => panic!("unexpected {other:?} for {answer}"),
            }
        }
    }

    /// A URL nothing listens on (bound, then closed: refused).
    fn dead_url() -> String {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    }

    #[test]
    fn fails_over_to_the_next_server_and_starts_there_next_time() {
        let spool = tempfile::tempdir().expect("spool");
        let dead = dead_url();
        let (live, h) = one_shot(http("200 OK", "{}"));
        let mut c = cfg(&format!("{dead},{live}"));
        c.spool_dir = spool.path().to_path_buf();
        let sender = Sender::new(&c, Duration::from_secs(5));
        assert!(matches!(
            sender.post(b"{}", None),
            SendOutcome::Delivered(_)
        ));
        assert!(h.join().expect("server").starts_with("POST "));
        let live_endpoint = format!("{live}{}", maestro_shared::wire::WEBHOOK_PATH);
        let remembered =
            std::fs::read_to_string(spool.path().join(PREFERRED_FILE)).expect(".server");
        assert_eq!(remembered, live_endpoint);
        // The next hook process starts with the server that answered.
        assert_eq!(
            Sender::new(&c, Duration::from_secs(5)).order().0[0],
            live_endpoint
        );

        // A 5xx moves on too; a 4xx that retrying cannot fix does not.
        let (busy, hb) = one_shot(http("503 Service Unavailable", "{}"));
        let (bad, hr) = one_shot(http("422 Unprocessable Entity", "{}"));
        let mut c = cfg(&format!("{busy},{bad}"));
        c.spool_dir = spool.path().to_path_buf();
        let out = Sender::new(&c, Duration::from_secs(5)).post(b"{}", None);
        hb.join().expect("busy");
        hr.join().expect("bad");
        assert!(
            matches!(out, SendOutcome::Reject { status: 422, .. }),
            "{out:?}"
        );

        // Every server down: one retry naming each.
        let (a, b) = (dead_url(), dead_url());
        let mut c = cfg(&format!("{a},{b}"));
        c.spool_dir = spool.path().to_path_buf();
        match Sender::new(&c, Duration::from_secs(5)).post(b"{}", None) {
            SendOutcome::Retry(why) => {
                assert!(why.contains(&a) && why.contains(&b), "{why}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn refused_connection_is_retryable() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let out = Sender::new(
            &cfg(&format!("http://127.0.0.1:{port}")),
            Duration::from_secs(2),
        )
        .post(b"{}", None);
        assert!(matches!(out, SendOutcome::Retry(_)), "{out:?}");
    }

    #[test]
    fn silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let start = std::time::Instant::now();
        let out = Sender::new(&cfg(&url), Duration::from_millis(300)).post(b"{}", None);
        assert!(
            matches!(out, SendOutcome::Retry(ref w) if w.contains("timed out")),
            "{out:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(l);
    }

    #[test]
    fn literal_hosts_skip_dns() {
        let addr = |u: &str| literal_addr(&u.parse::<Uri>().expect("uri"));
        assert_eq!(
            addr("http://127.0.0.1:8420/x"),
            Some("127.0.0.1:8420".parse().expect("a"))
        );
        assert_eq!(
            addr("http://[::1]:9/x"),
            Some("[::1]:9".parse().expect("a"))
        );
        assert_eq!(
            addr("https://10.1.2.3/x"),
            Some("10.1.2.3:443".parse().expect("a"))
        );
        assert_eq!(addr("http://localhost/x"), None);
        assert_eq!(addr("http://example.com:80/x"), None);
    }

    #[test]
    fn no_token_is_retryable_without_sending() {
        let mut c = cfg("http://127.0.0.1:1");
        c.token = None;
        let out = Sender::new(&c, Duration::from_secs(1)).post(b"{}", None);
        assert!(matches!(out, SendOutcome::Retry(ref w) if w.contains("token")));
    }
}
