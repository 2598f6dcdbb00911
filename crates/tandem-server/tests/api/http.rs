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

/// One binary is the whole product: copied into an empty directory and started there with no
/// `--web-dir`, it serves the editor built into it (the page, its hashed assets cached for a
/// year, the single-page app's paths), and a missing asset is a 404 never cached. (`make test`
/// builds web/dist before the server, so the binary under test carries it.)
#[tokio::test]
async fn a_binary_copied_to_an_empty_directory_serves_the_editor() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("tandem");
    std::fs::copy(env!("CARGO_BIN_EXE_tandem"), &bin).unwrap();
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Command::new(&bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--data-dir",
            "data",
        ])
        .current_dir(dir.path())
        .env_remove("TANDEM_WEB_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _child = Killed(child);
    let addr: std::net::SocketAddr = loop {
        let line = lines.next().expect("tandem exited").unwrap();
        if let Some(a) = line.strip_prefix("tandem listening on http://") {
            break a.trim().parse().unwrap();
        }
    };
    let (status, headers, body) = http_get(addr, "/").await;
    let page = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"<div id="root">"#),
        "the web client was not built into the binary (make web): {page}"
    );
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let (status, _, body) = http_get(addr, "/d/some-document").await;
    assert_eq!(
        (status, String::from_utf8(body).unwrap()),
        (200, page.clone())
    );
    let script = page
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .expect("the page names its script");
    let (status, headers, body) = http_get(addr, script).await;
    assert_eq!(status, 200);
    assert!(!body.is_empty());
    assert!(header(&headers, "content-type")
        .unwrap()
        .contains("javascript"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        header(&headers, "content-security-policy").is_some(),
        "security headers on the page's files too"
    );
    let (status, headers, _) = http_get(addr, "/assets/not-there-123.js").await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));

    // Before any connection, every metric family is there with its help text and zero values,
    // so dashboards and alerts work from the first scrape.
    let (status, _, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    use tandem_server::telemetry::{Kind, FAMILIES};
    for &(kind, name, _, labels) in FAMILIES {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no help text for {name}"
        );
        let series = match kind {
            Kind::Histogram => format!("{name}_count"),
            _ => name.to_string(),
        };
        let values: Vec<f64> = text
            .lines()
            .filter(|l| l.split(['{', ' ']).next() == Some(series.as_str()))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        let expected = labels.map_or(1, |(_, v)| v.len());
        assert_eq!(values.len(), expected, "{series} in\n{text}");
        // Gauges measured at start (SQLite's memory, the log's size) may already be non-zero.
        if kind != Kind::Gauge {
            assert!(values.iter().all(|v| *v == 0.0), "{series} in\n{text}");
        }
    }
}

/// Every metric the server's code records is one of the families exported from the start (a new
/// `metrics::counter!` without a line in `telemetry::FAMILIES` fails here).
#[test]
fn every_recorded_metric_is_a_listed_family() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs = vec![
        root.join("tandem-core/src"),
        root.join("tandem-store/src"),
        root.join("tandem-server/src"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let listed: Vec<&str> = tandem_server::telemetry::FAMILIES
        .iter()
        .map(|f| f.1)
        .collect();
    let mut found = 0;
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        for macro_ in ["metrics::counter!(", "metrics::gauge!(", "metrics::histogram!("] {
            for (at, _) in src.match_indices(macro_) {
                let rest = src[at + macro_.len()..].trim_start();
                let Some(rest) = rest.strip_prefix('"') else {
                    continue; // the table's own loop (a name from FAMILIES)
                };
                let name = &rest[..rest.find('"').unwrap()];
                found += 1;
                assert!(
                    listed.contains(&name),
                    "{name} (in {}) is not in telemetry::FAMILIES",
                    f.display()
                );
            }
        }
    }
    assert!(found > 40, "found only {found} metric calls");
}
