//! `/metrics` in the Prometheus text format.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::startup::AppState;

/// On the public address: the metrics, unless they moved to `--admin-listen`.
pub async fn public(State(state): State<AppState>) -> axum::response::Response {
    if state.settings.admin_listen.is_some() {
        return crate::error::AppError::NotFound.into_response();
    }
    render(State(state)).await.into_response()
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    // Sampled here rather than kept: SQLite counts its own heap.
    metrics::gauge!("tandem_sqlite_memory_bytes").set(tandem_store::sqlite_memory_used() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
