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
    // Compressed as the browser takes it (the build wrote .br and .gz beside each text file).
    assert_eq!(header(&headers, "content-encoding"), None);
    let (status, headers, gz) = get_encoded(addr, script, "gzip").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unpacked).unwrap();
    assert_eq!(unpacked, body, "the gzip copy is the file");
    let (_, headers, br) = get_encoded(addr, script, "gzip, br").await;
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    assert!(
        br.len() < gz.len() && gz.len() < body.len() / 2,
        "{} {} {}",
        br.len(),
        gz.len(),
        body.len()
    );
    let (_, headers, plain) = get_encoded(addr, script, "br;q=0, gzip;q=0").await;
    assert_eq!((header(&headers, "content-encoding"), plain), (None, body));
    let (_, headers, _) = get_encoded(addr, "/d/x", "br").await;
    assert_eq!(
        header(&headers, "content-type").map(|t| t.starts_with("text/html")),
        Some(true)
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

    // The container's health check: `tandem health` asks the configured address for /readyz.
    let health = |listen: String| {
        Command::new(&bin)
            .args(["--listen", &listen, "health"])
            .output()
            .unwrap()
    };
    let ok = health(addr.to_string());
    assert!(ok.status.success(), "{ok:?}");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = free.local_addr().unwrap().to_string();
    drop(free);
    let down = health(closed);
    assert!(!down.status.success(), "{down:?}");
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
        for macro_ in [
            "metrics::counter!(",
            "metrics::gauge!(",
            "metrics::histogram!(",
        ] {
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

/// The Grafana dashboard and the Prometheus alert rules in `deploy/` name only metrics the server
/// exports (a histogram's `_bucket`/`_sum`/`_count` only for a histogram family).
#[test]
fn the_dashboard_and_alert_rules_use_only_exported_metrics() {
    use tandem_server::telemetry::{Kind, FAMILIES};
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let dashboard = std::fs::read_to_string(deploy.join("grafana/tandem.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    assert!(parsed["panels"].as_array().unwrap().len() >= 10);
    let alerts = std::fs::read_to_string(deploy.join("prometheus/alerts.yml")).unwrap();
    assert!(alerts.matches("- alert: ").count() >= 10);
    for (file, text) in [("dashboard", &dashboard), ("alerts", &alerts)] {
        let mut names = 0;
        for (at, _) in text.match_indices("tandem_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let (family, histogram_part) = match ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
            {
                Some(f) => (f.to_string(), true),
                None => (name.clone(), false),
            };
            let Some(&(kind, ..)) = FAMILIES.iter().find(|f| f.1 == family) else {
                panic!("{file} names {name}, which the server does not export");
            };
            assert!(
                !histogram_part || kind == Kind::Histogram,
                "{file}: {name} is not a histogram's series"
            );
            names += 1;
        }
        assert!(names >= 15, "{file} names only {names} metrics");
    }
}

/// The Kubernetes ConfigMap's `tandem.toml` is a valid configuration, and its preStop wait plus
/// the shutdown grace fit in the pod's termination grace period.
#[test]
fn the_kubernetes_config_map_is_a_valid_configuration() {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s/tandem.yaml"),
    )
    .unwrap();
    let start = manifest.find("tandem.toml: |\n").unwrap() + "tandem.toml: |\n".len();
    let toml: String = manifest[start..]
        .lines()
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tandem.toml");
    std::fs::write(&file, &toml).unwrap();
    let options = tandem_server::config::Options::from_toml_file(&file).unwrap();
    let settings = tandem_server::config::Settings::from_options(options).unwrap();
    assert_eq!(settings.listen.port(), 8080);
    assert_eq!(settings.admin_listen.unwrap().port(), 9100);
    let number = |key: &str| -> u64 {
        let at = manifest.find(key).unwrap() + key.len();
        let digits: String = manifest[at..]
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().unwrap()
    };
    let grace = number("terminationGracePeriodSeconds:");
    let pre_stop = number("sleep: { seconds:");
    assert!(
        pre_stop + settings.shutdown_grace.as_secs() + 2 <= grace,
        "preStop {pre_stop} s + drain {:?} do not fit in {grace} s",
        settings.shutdown_grace
    );
}

/// A GET that accepts `encodings` (an `Accept-Encoding` value).
async fn get_encoded(
    addr: std::net::SocketAddr,
    path: &str,
    encodings: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http(addr, "GET", path, &[("accept-encoding", encodings)], None).await
}
