//! `/healthz` (the process answers) and `/readyz` (the store answers too).

use axum::extract::State;
use axum::http::StatusCode;

use crate::startup::AppState;

/// How long `/readyz` waits for the store.
const READY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    // A load balancer's probe must get an answer: a store that does not answer in time is down.
    match tokio::time::timeout(READY_DEADLINE, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        Err(_) => {
            tracing::warn!("readiness check: the store did not answer within {READY_DEADLINE:?}");
            (StatusCode::SERVICE_UNAVAILABLE, "store not answering")
        }
    }
}
