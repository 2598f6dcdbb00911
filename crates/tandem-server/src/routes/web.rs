//! The built web client, served from `--web-dir` (default `./web/dist`): hashed files under
//! `/assets/` are cached for a year, `index.html` is revalidated on every load, and any other path
//! (e.g. `/d/{doc}`) falls back to `index.html` for the single-page app. Every page carries a
//! strict Content-Security-Policy.

use std::path::PathBuf;

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::startup::AppState;

/// No inline script, no plugins, no framing. Inline *styles* are allowed because ProseMirror and
/// the collaboration carets set style attributes.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: https:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";

pub fn router(dir: Option<PathBuf>) -> Router<AppState> {
    let Some(dir) = dir else { return Router::new() };
    let index = dir.join("index.html");
    let assets = Router::new()
        .nest_service("/assets", ServeDir::new(dir.join("assets")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ));
    let pages = Router::new()
        .fallback_service(ServeDir::new(&dir).fallback(ServeFile::new(index)))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ));
    assets
        .merge(pages)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}
