//! Webhook delivery latency under load (issue 24's goal: p99 ≤ 1 s after the revision is
//! durable, at 100 documents × 5 writers × 2 inserts/s). Tandem runs with accounts; one API
//! token (write scope) connects every writer; one server-wide webhook posts to a receiver in this
//! process. For each acked revision: the time from its durable ack at the writer to the first
//! delivery naming it at the receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::client;
use crate::server::{cpu_time, Paths, Spawned};
use crate::wire::Kind;

#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    #[arg(long, default_value_t = 100)]
    pub docs: usize,
    /// Writers per document
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Inserts per second per writer
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
}

/// (doc, first revision, last revision, when it arrived), per delivery received.
type Received = Arc<Mutex<Vec<(String, u64, u64, Instant)>>>;

async fn receiver() -> anyhow::Result<(String, Received)> {
    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app =
        axum::Router::new()
            .fallback(
                |axum::extract::State(got): axum::extract::State<Received>,
                 body: axum::body::Bytes| async move {
                    let at = Instant::now();
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        if let (Some(doc), Some(from), Some(to)) = (
                            v["doc"].as_str(),
                            v["from_rev"].as_u64(),
                            v["to_rev"].as_u64(),
                        ) {
                            got.lock().unwrap().push((doc.to_owned(), from, to, at));
                        }
                    }
                    axum::http::StatusCode::NO_CONTENT
                },
            )
            .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, got))
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn main(args: WebhookArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    let server = Spawned::start(
        Kind::Tandem,
        paths,
        &[
            "--auth",
            "accounts",
            "--webhook-allow-private",
            "--docs-per-minute",
            "100000",
        ],
    )?;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let (hook_url, got) = receiver().await?;
    let session = call(
        &http,
        &base,
        None,
        reqwest::Method::POST,
        "/api/auth/signup",
        json!({"email": "bench@example.org", "password": "correct horse battery", "name": "Bench"}),
    )
    .await?;
    let access = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = call(
        &http,
        &base,
        Some(&access),
        reqwest::Method::POST,
        "/api/tokens",
        json!({"name": "bench", "scopes": ["read", "write"]}),
    )
    .await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    call(
        &http,
        &base,
        Some(&access),
        reqwest::Method::POST,
        "/api/webhooks",
        json!({"url": hook_url, "events": ["changed"]}),
    )
    .await?;
    let mut docs = Vec::new();
    for i in 0..args.docs {
        let d = call(
            &http,
            &base,
            Some(&token),
            reqwest::Method::POST,
            "/api/docs",
            json!({"title": format!("bench {i}")}),
        )
        .await?;
        docs.push(d["id"].as_str().unwrap_or_default().to_owned());
    }
    let plan = client::Plan {
        duration: Duration::from_secs(args.duration),
        rate: args.rate,
        window: 64,
        record_acks: true,
    };
    let before = cpu_time(server.pid());
    let mut tasks = Vec::new();
    for doc in &docs {
        for _ in 0..args.clients {
            let (url, path) = (
                format!("ws://{}", server.addr),
                format!("{doc}?token={token}"),
            );
            let doc = doc.clone();
            tasks.push(tokio::spawn(async move {
                (doc, client::writer(url, path, plan).await)
            }));
        }
    }
    let mut acked: HashMap<(String, u64), Instant> = HashMap::new();
    for t in tasks {
        let (doc, r) = t.await?;
        for (rev, at) in r?.acks {
            acked.insert((doc.clone(), rev), at);
        }
    }
    // Deliveries still in flight land within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lat = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut missing;
    loop {
        let got = got.lock().unwrap().clone();
        let mut by_doc: HashMap<&str, Vec<(u64, u64, Instant)>> = HashMap::new();
        for (doc, from, to, at) in &got {
            by_doc
                .entry(doc.as_str())
                .or_default()
                .push((*from, *to, *at));
        }
        lat.reset();
        missing = 0;
        for ((doc, rev), acked_at) in &acked {
            let first = by_doc.get(doc.as_str()).and_then(|v| {
                v.iter()
                    .filter(|(f, t, _)| f <= rev && rev <= t)
                    .map(|(_, _, at)| *at)
                    .min()
            });
            match first {
                Some(at) => {
                    lat.record(at.saturating_duration_since(*acked_at).as_micros().max(1) as u64)?
                }
                None => missing += 1,
            }
        }
        if missing == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cpu = before
        .zip(cpu_time(server.pid()))
        .map(|(b, a)| a.saturating_sub(b));
    let deliveries = got.lock().unwrap().len();
    println!("| docs × writers × inserts/s | acked revisions | deliveries | revisions per delivery | delivery after ack p50 | p99 | max | never delivered | server CPU s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} × {} × {} | {} | {} | {:.1} | {:.0} ms | {:.0} ms | {:.0} ms | {} | {} |",
        args.docs,
        args.clients,
        args.rate,
        acked.len(),
        deliveries,
        acked.len() as f64 / deliveries.max(1) as f64,
        lat.value_at_quantile(0.5) as f64 / 1000.0,
        lat.value_at_quantile(0.99) as f64 / 1000.0,
        lat.max() as f64 / 1000.0,
        missing,
        cpu.map(|c| format!("{:.1}", c.as_secs_f64()))
            .unwrap_or("-".into())
    );
    anyhow::ensure!(
        missing == 0,
        "{missing} acked revisions were never delivered"
    );
    Ok(())
}
