//! The built web client, served from `--web-dir` (default `./web/dist`): hashed files under
//! `/assets/` are cached for a year (only when found: a 404 is `no-store`, so a file deployed a
//! moment later is not hidden for a year), `index.html` is revalidated on every load, and any other path
//! (e.g. `/d/{doc}`) falls back to `index.html` for the single-page app. The security headers
//! (CSP and the rest) are added for every response in [`super::router`].

use std::path::PathBuf;

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::startup::AppState;

pub fn router(dir: Option<PathBuf>) -> Router<AppState> {
    let Some(dir) = dir else { return Router::new() };
    let index = dir.join("index.html");
    let assets = Router::new()
        .nest_service("/assets", ServeDir::new(dir.join("assets")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            |res: &axum::response::Response| {
                Some(HeaderValue::from_static(if res.status().is_success() {
                    "public, max-age=31536000, immutable"
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
