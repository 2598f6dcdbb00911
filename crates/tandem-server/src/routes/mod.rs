//! HTTP routes, one file each, composed in [`router`].

mod docs;
mod health;
mod metrics;
mod web;
mod ws;

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::startup::AppState;

pub fn router(state: AppState) -> Router {
    let private = Router::new()
        .route("/api/docs", get(docs::list).post(docs::create))
        .route(
            "/api/docs/{doc}",
            get(docs::info).patch(docs::rename).delete(docs::delete),
        )
        .route("/api/docs/{doc}/state", get(docs::state))
        .route("/ws/{doc}", get(ws::upgrade))
        // Nothing about a document may be cached by a browser or a CDN.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .merge(private)
        .merge(web::router(state.settings.web_dir.clone()))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}
