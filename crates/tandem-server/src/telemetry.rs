//! Logging and metrics setup. Tracing goes to stdout (plain or JSON); metrics are kept by one
//! process-wide Prometheus recorder that `/metrics` renders.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` filter.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A panic (yrs's own, caught by `ServerDoc` as a poisoned update, or anything else) is a log
    // event like any other, in the chosen format, not raw text on stderr.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(panic = %info.payload_as_str().unwrap_or("a panic"), at, "panicked");
    }));
}

/// The process-wide metrics recorder (installed on first use; tests share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    let handle = HANDLE
        .get_or_init(|| {
            let secs = [
                0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ];
            let sizes = [1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 4096.0];
            // The search index follows edits within seconds, not milliseconds.
            let lag = [
                0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 5.0, 10.0, 30.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("tandem_search_lag_seconds".into()), &lag)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &secs))
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("tandem_commit_batch_size".into()),
                        &sizes,
                    )
                })
                .expect("static buckets are valid")
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
        })
        .clone();
    describe_metrics();
    handle
}

/// Help text for every metric family (`# HELP` in `/metrics`).
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        describe_counter!("tandem_updates_accepted_total", "Client updates that changed a document and were given a revision.");
        describe_counter!("tandem_remote_updates_total", "Revisions made on other nodes and applied here (cluster mode).");
        describe_counter!("tandem_append_conflicts_total", "Appends refused because another node took the revision first (cluster mode).");
        describe_counter!("tandem_document_reloads_total", "Documents rebuilt from the log after an update poisoned memory (its sender was closed).");
        describe_counter!("tandem_commit_failures_total", "Group commits the store refused; their documents were closed.");
        describe_counter!("tandem_bytes_in_total", Unit::Bytes, "WebSocket payload bytes received.");
        describe_counter!("tandem_bytes_out_total", Unit::Bytes, "WebSocket payload bytes sent.");
        describe_counter!("tandem_send_queue_overflows_total", "Connections closed (1013) because they did not read their bounded send queue.");
        describe_counter!("tandem_fanout_dropped_total", "Fanout messages dropped because a document's subscription was full (it resyncs from the store).");
        describe_counter!("tandem_fanout_publish_errors_total", "Durable revisions that could not be published to other nodes (they catch up from the store).");
        describe_counter!("tandem_http_connections_refused_total", "TCP connections refused at the --max-http-connections cap.");
        describe_gauge!("tandem_connections", "Open WebSocket connections joined to a document.");
        describe_gauge!("tandem_open_documents", "Documents held in memory by a document actor.");
        describe_gauge!("tandem_sqlite_memory_bytes", Unit::Bytes, "Memory SQLite reports in use.");
        describe_histogram!("tandem_ack_seconds", Unit::Seconds, "From an update's arrival to its durable ack.");
        describe_histogram!("tandem_commit_seconds", Unit::Seconds, "One group commit: the store transaction and its fsync.");
        describe_histogram!("tandem_commit_batch_size", "Updates per group commit.");
    });
}
