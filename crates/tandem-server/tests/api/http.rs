//! Health, readiness and metrics endpoints.

use crate::helpers::*;

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    assert_eq!(http_get(app.addr, "/healthz").await.0, 200);
    let (status, _, body) = http_get(app.addr, "/readyz").await;
    assert_eq!((status, body.as_slice()), (200, &b"ready"[..]));
    let mut c = app.connect("metrics").await;
    c.push("x").await;
    c.wait_acked().await;
    let (status, _, body) = http_get(app.addr, "/metrics").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    for name in [
        "tandem_connections",
        "tandem_open_documents",
        "tandem_updates_accepted_total",
        "tandem_commit_batch_size_bucket",
        "tandem_commit_seconds_bucket",
        "tandem_ack_seconds_bucket",
        "tandem_bytes_in_total",
    ] {
        assert!(text.contains(name), "missing {name} in /metrics");
    }
    for family in [
        "tandem_connections",
        "tandem_updates_accepted_total",
        "tandem_ack_seconds",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no help text for {family}"
        );
    }
}

#[tokio::test]
async fn readyz_fails_when_the_store_is_gone() {
    let app = spawn_app().await;
    // The volume goes away under the server (deleted files stand in for a lost disk).
    for f in ["tandem.db", "tandem.db-wal", "tandem.db-shm"] {
        let _ = std::fs::remove_file(app.dir.path().join(f));
    }
    let (status, _, _) = http_get(app.addr, "/readyz").await;
    assert_eq!(status, 503);
}
