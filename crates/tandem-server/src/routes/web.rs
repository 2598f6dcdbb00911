//! The web client. By default the one built into the binary (web/dist at build time, embedded by
//! `rust-embed`), so the binary alone, copied anywhere, serves the editor; `--web-dir DIR` serves
//! a directory instead (development: a fresh `npm run build` without rebuilding the server).
//!
//! Either way: hashed files under `/assets/` are cached for a year (only when found: a 404 is
//! `no-store`, so a file deployed a moment later is not hidden for a year), `index.html` is
//! revalidated on every load, and any other path (e.g. `/d/{doc}`) falls back to `index.html` for
//! the single-page app. The security headers (CSP and the rest) are added for every response in
//! [`super::router`].

use std::path::PathBuf;

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
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

async fn serve_embedded(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let file = (!path.is_empty()).then(|| Bundle::get(path)).flatten();
    let (file, cache) = match file {
        Some(f) if path.starts_with("assets/") => (f, IMMUTABLE),
        Some(f) => (f, "no-cache"),
        None if path.starts_with("assets/") => return StatusCode::NOT_FOUND.into_response(),
        None => match Bundle::get("index.html") {
            Some(f) => (f, "no-cache"),
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
    let mime = file.metadata.mimetype().to_owned();
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        file.data,
    )
        .into_response()
}

fn from_dir(dir: PathBuf) -> Router<AppState> {
    let index = dir.join("index.html");
    let assets = Router::new()
        .nest_service("/assets", ServeDir::new(dir.join("assets")))
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
        .fallback_service(ServeDir::new(&dir).fallback(ServeFile::new(index)))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ));
    assets.merge(pages)
}
