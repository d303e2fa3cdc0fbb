//! Embedded web UI assets: `GET /` serves `index.html`, `GET /assets/<file>` the CSS and the
//! JavaScript modules. Everything is compiled into the binary with `include_str!`, so no
//! Node.js and no files on disk are needed. Every answer carries a strict
//! `Content-Security-Policy` (scripts only from this origin, no inline scripts or styles),
//! `X-Content-Type-Options: nosniff`, and a strong `ETag` so browsers revalidate cheaply.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::OnceLock;

/// The policy sent with every UI answer. WebSocket connections go to the same origin
/// (`connect-src 'self'` covers `ws:`/`wss:` on the same host in CSP level 3 browsers).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
     object-src 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $ct:expr) => {
        Asset {
            path: $path,
            content_type: $ct,
            body: include_str!(concat!("../assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("views.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/ws.js", JS),
    asset!("js/store.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/format.js", JS),
    asset!("js/login.js", JS),
    asset!("js/board.js", JS),
    asset!("js/card.js", JS),
    asset!("js/modal.js", JS),
    asset!("js/approvals.js", JS),
    asset!("js/session-view.js", JS),
    asset!("js/task-view.js", JS),
    asset!("js/timeline.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/cost.js", JS),
    asset!("js/errors.js", JS),
    asset!("js/toasts.js", JS),
    asset!("js/unassigned.js", JS),
    asset!("js/links.js", JS),
    asset!("js/activity.js", JS),
    asset!("js/sessions-list.js", JS),
    asset!("js/notify.js", JS),
    asset!("js/webhooks.js", JS),
];

/// Strong ETags, computed once (FNV-1a over the content).
fn etags() -> &'static Vec<String> {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in a.body.as_bytes() {
                    h ^= u64::from(*b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                format!("\"{h:016x}\"")
            })
            .collect()
    })
}

/// Routes serving the UI.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/favicon.ico", get(favicon))
        .route("/assets/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn favicon(headers: HeaderMap) -> Response {
    serve("favicon.svg", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if path == "index.html" {
        return not_found();
    }
    serve(&path, &headers)
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

fn not_found() -> Response {
    let mut resp = (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found",
    )
        .into_response();
    security_headers(resp.headers_mut());
    resp
}

fn serve(path: &str, req: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return not_found();
    };
    let a = &ASSETS[i];
    let etag = &etags()[i];
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
    };
    let h = resp.headers_mut();
    // Revalidate every time (names are not content-hashed); the ETag makes it a 304.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    security_headers(h);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_and_typed() {
        for a in ASSETS {
            let resp = serve(a.path, &HeaderMap::new());
            assert_eq!(resp.status(), StatusCode::OK, "{}", a.path);
            assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
            assert_eq!(
                resp.headers()[header::CONTENT_TYPE].to_str().unwrap(),
                a.content_type
            );
        }
        assert_eq!(
            serve("nope.js", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn every_file_in_assets_is_embedded() {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else {
                    out.push(
                        p.strip_prefix(base)
                            .unwrap()
                            .to_string_lossy()
                            .replace('\\', "/"),
                    );
                }
            }
        }
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut files = Vec::new();
        walk(&base, &base, &mut files);
        for f in files {
            assert!(
                ASSETS.iter().any(|a| a.path == f),
                "assets/{f} is not listed in web.rs ASSETS"
            );
        }
    }

    #[test]
    fn etag_gives_304() {
        let tag = etags()[0].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&tag).unwrap());
        assert_eq!(serve("index.html", &h).status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn index_has_no_inline_script() {
        let html = ASSETS[0].body;
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains("src="), "inline script in index.html: {tag}");
        }
    }
}
