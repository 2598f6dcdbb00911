//! The web client. By default the one built into the binary (web/dist at build time, embedded by
//! `rust-embed`), so the binary alone, copied anywhere, serves the editor; `--web-dir DIR` serves
//! a directory instead (development: a fresh `npm run build` without rebuilding the server).
//!
//! Either way: text files go compressed when the browser takes it (brotli or gzip, written beside
//! them by the web build, so nothing is compressed per request); hashed files under `/assets/`
//! are cached for a year (only when found: a 404 is
//! `no-store`, so a file deployed a moment later is not hidden for a year), `index.html` is
//! revalidated on every load, and any other path (e.g. `/d/{doc}`) falls back to `index.html` for
//! the single-page app. The security headers (CSP and the rest) are added for every response in
//! [`super::router`].

use std::path::PathBuf;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::startup::AppState;

/// web/dist as it was when this binary was built (empty if it was not built then).
#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"] // relative to this crate
#[allow_missing = true]
pub struct Bundle;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Whether this binary carries the web client.
pub fn embedded() -> bool {
    Bundle::get("index.html").is_some()
}

pub fn router(dir: Option<PathBuf>) -> Router<AppState> {
    match dir {
        Some(dir) => from_dir(dir),
        None => Router::new().fallback(serve_embedded),
    }
}

async fn serve_embedded(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let found = (!path.is_empty() && Bundle::get(path).is_some()).then_some(path);
    let (path, cache) = match found {
        Some(p) if p.starts_with("assets/") => (p, IMMUTABLE),
        Some(p) => (p, "no-cache"),
        None if path.starts_with("assets/") => return StatusCode::NOT_FOUND.into_response(),
        None => match Bundle::get("index.html") {
            Some(_) => ("index.html", "no-cache"),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    "This tandem binary was built without the web client: build it with \
                     `make build-release` (which builds web/dist first), or pass --web-dir.\n",
                )
                    .into_response()
            }
        },
    };
    let Some(file) = Bundle::get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = file.metadata.mimetype().to_owned();
    // The build wrote text files compressed beside them (web/vite.config.js): the best the
    // browser takes.
    let compressed = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(&headers, coding))
        .find_map(|(coding, ext)| Some((coding, Bundle::get(&format!("{path}{ext}"))?)));
    let (data, coding) = match compressed {
        Some((coding, packed)) => (packed.data, Some(coding)),
        None => (file.data, None),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, cache.to_owned()),
            (header::VARY, "accept-encoding".to_owned()),
        ],
        data,
    )
        .into_response();
    if let Some(coding) = coding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    response
}

/// Whether the request's `Accept-Encoding` takes `coding` (named, or `*`, without `q=0`).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    let accepted = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    accepted.into_iter().any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (name.eq_ignore_ascii_case(coding) || name == "*") && !refused
    })
}

fn from_dir(dir: PathBuf) -> Router<AppState> {
    let index = dir.join("index.html");
    let assets = Router::new()
        .nest_service(
            "/assets",
            ServeDir::new(dir.join("assets"))
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            |res: &axum::response::Response| {
                Some(HeaderValue::from_static(if res.status().is_success() {
                    IMMUTABLE
                } else {
                    "no-store"
                }))
            },
        ));
    let pages = Router::new()
        .fallback_service(
            ServeDir::new(&dir)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(
                    ServeFile::new(index)
                        .precompressed_br()
                        .precompressed_gzip(),
                ),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ));
    assets.merge(pages)
}
