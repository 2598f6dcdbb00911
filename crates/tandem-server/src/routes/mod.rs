//! HTTP routes, one file each, composed in [`router`].

mod docs;
mod health;
mod metrics;
mod ws;

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::startup::AppState;

pub fn router(state: AppState) -> Router {
    let private = Router::new()
        .route("/api/docs/{doc}", get(docs::info))
        .route("/api/docs/{doc}/state", get(docs::state))
        .route("/ws/{doc}", get(ws::upgrade))
        // Nothing about a document may be cached by a browser or a CDN.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .merge(private)
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .with_state(state)
}
