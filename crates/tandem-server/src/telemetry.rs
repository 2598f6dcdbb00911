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

/// What a family counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A label's name and the values it is known by.
pub type Labels = Option<(&'static str, &'static [&'static str])>;
/// Kind, name, help text, labels.
pub type Family = (Kind, &'static str, &'static str, Labels);

/// Every metric family the server exports: kind, name, help text, and the label values it is
/// known by (one series per value, each exported at zero before anything happens).
pub const FAMILIES: &[Family] = {
    use Kind::{Counter as C, Gauge as G, Histogram as H};
    &[
        (C, "tandem_updates_accepted_total", "Client updates that changed a document and were given a revision.", None),
        (C, "tandem_remote_updates_total", "Revisions made on other nodes and applied here (cluster mode).", None),
        (C, "tandem_append_conflicts_total", "Appends refused because another node took the revision first (cluster mode).", None),
        (C, "tandem_conflict_stalls_total", "Append conflicts the log could not explain; the document was closed to reload.", None),
        (C, "tandem_anti_entropy_catchups_total", "Revisions found missing by the periodic check against the log and caught up.", None),
        (C, "tandem_compaction_reloads_total", "Documents reloaded from a fresh snapshot to drop deleted content's weight.", None),
        (C, "tandem_document_reloads_total", "Documents rebuilt from the log after an update poisoned memory (its sender was closed).", None),
        (C, "tandem_doc_too_large_total", "Updates refused because the document would pass --max-doc-bytes.", None),
        (C, "tandem_suggestions_refused_total", "Updates from commenters refused because they were not wholly their own suggestions (closed with 4403).", None),
        (C, "tandem_suggestion_repairs_total", "Edits the server made to restore formatting of others' text that a commenter's formatting clean-up changed (see docs/protocol.md, Suggestions).", None),
        (C, "tandem_pieces_refused_total", "Updates refused for holding more pieces than one message may.", None),
        (C, "tandem_commit_failures_total", "Group commits the store refused; their documents were closed.", None),
        (C, "tandem_database_timeouts_total", "PostgreSQL calls that did not answer within the timeout.", None),
        (C, "tandem_snapshots_total", "Snapshots written.", None),
        (C, "tandem_snapshots_deferred_total", "Snapshots put off: updates were still being committed, or too few changed.", Some(("reason", &["pending", "skips"]))),
        (C, "tandem_bytes_in_total", "WebSocket payload bytes received.", None),
        (C, "tandem_bytes_out_total", "WebSocket payload bytes sent.", None),
        (C, "tandem_send_queue_overflows_total", "Connections closed (1013) because they did not read their bounded send queue.", None),
        (C, "tandem_fanout_dropped_total", "Fanout messages dropped because a document's subscription was full (it resyncs from the store).", None),
        (C, "tandem_fanout_publish_errors_total", "Durable revisions that could not be published to other nodes (they catch up from the store).", None),
        (C, "tandem_fanout_forged_total", "NATS messages dropped for a bad signature.", None),
        (C, "tandem_http_connections_refused_total", "TCP connections refused at the --max-http-connections cap.", None),
        (C, "tandem_pressure_evictions_total", "Idle documents closed to stay under the memory budget.", None),
        (C, "tandem_open_refused_total", "Document opens refused because the memory budget was spent.", None),
        (C, "tandem_heavy_refused_total", "Exports, history views and imports refused because the rebuild queue was full.", None),
        (C, "tandem_heavy_cache_hits_total", "Rebuilds answered from the cache.", None),
        (C, "tandem_file_uploads_total", "Files uploaded.", None),
        (C, "tandem_file_upload_bytes_total", "Bytes of files uploaded.", None),
        (C, "tandem_search_failures_total", "Documents the search index could not index.", None),
        (C, "tandem_notifications_total", "Notifications recorded, by kind.", Some(("kind", &["mention", "reply", "share", "webhook"]))),
        (C, "tandem_emails_total", "Notification emails sent.", None),
        (C, "tandem_email_failures_total", "Notification emails the mail server did not take (retried).", None),
        (C, "tandem_webhook_deliveries_total", "Webhook delivery attempts, by whether the receiver answered 2xx.", Some(("ok", &["true", "false"]))),
        (C, "tandem_webhooks_disabled_total", "Webhooks turned off after failing for --webhook-give-up-secs.", None),
        (G, "tandem_connections", "Open WebSocket connections joined to a document.", None),
        (G, "tandem_open_documents", "Documents held in memory by a document actor.", None),
        (G, "tandem_open_documents_memory_bytes", "Memory the open documents are estimated to hold.", None),
        (G, "tandem_sqlite_memory_bytes", "Memory SQLite reports in use.", None),
        (G, "tandem_log_rows", "Rows in the op log.", None),
        (G, "tandem_log_bytes", "Bytes of updates in the op log.", None),
        (G, "tandem_snapshot_rows", "Snapshots kept.", None),
        (G, "tandem_snapshot_bytes", "Bytes of snapshots kept.", None),
        (G, "tandem_search_pending", "Documents waiting to be indexed.", None),
        (G, "tandem_search_index_bytes", "Size of the search index on disk.", None),
        (H, "tandem_ack_seconds", "From an update's arrival to its durable ack.", None),
        (H, "tandem_commit_seconds", "One group commit: the store transaction and its fsync.", None),
        (H, "tandem_commit_batch_size", "Updates per group commit.", None),
        (H, "tandem_heavy_queue_seconds", "Time an export, history view or import waited for the rebuild pool.", None),
        (H, "tandem_heavy_seconds", "Time an export, history view or import took on the rebuild pool.", None),
        (H, "tandem_search_lag_seconds", "From an edit to the search index holding it.", None),
        (H, "tandem_webhook_delivery_seconds", "One webhook delivery attempt, to the receiver's answer.", None),
    ]
};

/// Help text for every family (`# HELP` in `/metrics`), and each series registered at zero so
/// dashboards and alerts see the family before the first connection.
fn describe_metrics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        for &(kind, name, help, labels) in FAMILIES {
            let series: Vec<Vec<metrics::Label>> = match labels {
                None => vec![vec![]],
                Some((key, values)) => values
                    .iter()
                    .map(|v| vec![metrics::Label::new(key, *v)])
                    .collect(),
            };
            match kind {
                Kind::Counter => {
                    metrics::describe_counter!(name, help);
                    for l in series {
                        metrics::counter!(name, l).increment(0);
                    }
                }
                Kind::Gauge => {
                    metrics::describe_gauge!(name, help);
                    for l in series {
                        metrics::gauge!(name, l).increment(0.0);
                    }
                }
                Kind::Histogram => {
                    metrics::describe_histogram!(name, help);
                    for l in series {
                        // Registered, not recorded: a histogram with no samples.
                        let _ = metrics::histogram!(name, l);
                    }
                }
            }
        }
    });
}
