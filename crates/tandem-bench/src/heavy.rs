//! Heavy HTTP work beside a typist (issue 20, item 2): a document of `--doc-mb` MB in the
//! editor's structure, then `--exports` clients exporting it as Markdown over and over while a
//! typist on another document types at `--rate` keystrokes a second. The typist's ack p99 is
//! compared with the same typist on an idle server; exports that found the pool full are
//! answered 503 with Retry-After and counted.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tandem_core::protocol::{Ext, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as Ws;
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
use yrs::{Transact, XmlFragment};

use crate::client;
use crate::server::{Paths, Spawned};
use crate::wire::Kind;

#[derive(clap::Args, Debug, Clone)]
pub struct HeavyArgs {
    /// Size of the exported document, in MB of text
    #[arg(long, default_value_t = 10)]
    pub doc_mb: usize,
    /// Clients exporting it at once, each again as soon as its last export finished
    #[arg(long, default_value_t = 20)]
    pub exports: usize,
    /// The typist's keystrokes per second
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds of each phase (idle, then under exports)
    #[arg(long, default_value_t = 15)]
    pub duration: u64,
    /// Edits per second to the exported document while it is exported: each makes a new
    /// revision, so exports cannot be served from the cache of built results (0: a document
    /// nobody edits, where they mostly are)
    #[arg(long, default_value_t = 0.0)]
    pub big_edits: f64,
}

pub async fn main(args: HeavyArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    // The typist's writer sends into the test text, the filler sends megabytes: both fit the
    // default message cap; the rate limits stay out of the way (Spawned raises them).
    let server = Spawned::start(Kind::Tandem, paths, &[])?;
    let url = format!("ws://{}", server.addr);
    let started = Instant::now();
    fill(&url, "big", args.doc_mb).await?;
    eprintln!(
        "filled a {} MB document in {:.1?}",
        args.doc_mb,
        started.elapsed()
    );
    let plan = client::Plan {
        duration: Duration::from_secs(args.duration),
        rate: args.rate,
        window: 64,
        record_acks: false,
    };
    let idle = client::writer(url.clone(), "typist-idle".into(), plan).await?;
    // The exporters are a process of their own (this binary, `exporters`), so the typist's
    // client is never queued behind twenty downloads in this one: what is measured is the server.
    let exporters = std::process::Command::new(std::env::current_exe()?)
        .args(["exporters", "--addr", &server.addr])
        .args(["--exports", &args.exports.to_string()])
        .args(["--seconds", &args.duration.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let editor = (args.big_edits > 0.0).then(|| {
        let plan = client::Plan {
            rate: args.big_edits,
            ..plan
        };
        tokio::spawn(client::writer(url.clone(), "big".into(), plan))
    });
    let loaded = client::writer(url, "typist".into(), plan).await?;
    if let Some(e) = editor {
        e.await??;
    }
    let out = tokio::task::spawn_blocking(move || exporters.wait_with_output()).await??;
    anyhow::ensure!(out.status.success(), "the exporters failed");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let (done, refused) = (n("done"), n("refused"));
    let (export_p50, export_p99) = (n("p50_ms"), n("p99_ms"));
    let p99 = |h: &Histogram<u64>| h.value_at_quantile(0.99) as f64 / 1000.0;
    let (idle_p99, loaded_p99) = (p99(&idle.latency_us), p99(&loaded.latency_us));
    println!("| document | exports at once | its edits/s | typist ack p99 idle | under exports | ratio | exports done | 503 Retry-After | export p50 / p99 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} MB | {} | {} | {:.2} ms | {:.2} ms | {:.2}× | {} | {} | {} / {} ms |",
        args.doc_mb,
        args.exports,
        args.big_edits,
        idle_p99,
        loaded_p99,
        loaded_p99 / idle_p99.max(0.001),
        done,
        refused,
        export_p50,
        export_p99,
    );
    eprintln!(
        "{}",
        serde_json::json!({
            "scenario": "heavy", "doc_mb": args.doc_mb, "exports": args.exports, "big_edits": args.big_edits,
            "typist_idle_p99_ms": idle_p99, "typist_loaded_p99_ms": loaded_p99,
            "typist_idle_p50_ms": idle.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            "typist_loaded_p50_ms": loaded.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            "exports_done": done, "exports_refused": refused,
        })
    );
    Ok(())
}

/// How much memory an open document holds per byte of its encoded state (what the memory
/// budget's `MEMORY_PER_ENCODED_BYTE` estimates): fills documents of several sizes on a fresh
/// server and divides the process's growth by their total size.
pub async fn memory(paths: &Paths<'_>) -> anyhow::Result<()> {
    println!("| documents × size | encoded bytes | server RSS growth | bytes of memory per encoded byte |");
    println!("|---:|---:|---:|---:|");
    for (docs, mb) in [(1, 8), (4, 2), (16, 1)] {
        let server = Spawned::start(Kind::Tandem, paths, &[])?;
        let url = format!("ws://{}", server.addr);
        // One small document first, so the runtime's own start-up costs are not counted.
        fill(&url, "warm-up", 0).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = crate::server::rss(server.pid()).unwrap_or(0);
        for d in 0..docs {
            fill(&url, &format!("m{d}"), mb).await?;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = crate::server::rss(server.pid()).unwrap_or(0);
        let mut encoded = 0;
        for d in 0..docs {
            encoded += state_len(&server.addr, &format!("m{d}")).await?;
        }
        let grew = after.saturating_sub(before);
        println!(
            "| {docs} × {mb} MB | {:.1} MB | {:.1} MB | {:.1} |",
            encoded as f64 / 1e6,
            grew as f64 / 1e6,
            grew as f64 / encoded.max(1) as f64
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct BudgetArgs {
    /// The server's --memory-budget, in MB
    #[arg(long, default_value_t = 100)]
    budget_mb: u64,
    /// Documents to fill, one after another (each 1 MB, estimated at 6 MB of memory)
    #[arg(long, default_value_t = 100)]
    docs: usize,
}

/// Soaks a server with more documents than its memory budget holds: each is filled with 1 MB
/// and left idle, so the budget must evict the older ones for the newer to open. Reports the
/// server's RSS as it goes, the evictions and refusals, and checks that the first documents
/// still load whole afterwards (eviction writes a last snapshot; nothing is lost).
pub async fn budget(args: BudgetArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    let budget = (args.budget_mb * 1_000_000).to_string();
    let server = Spawned::start(Kind::Tandem, paths, &["--memory-budget", &budget])?;
    let url = format!("ws://{}", server.addr);
    let mut peak = 0;
    println!("| documents filled | server RSS | open documents | evictions under pressure |");
    println!("|---:|---:|---:|---:|");
    for d in 0..args.docs {
        fill(&url, &format!("b{d}"), 1).await?;
        let rss = crate::server::rss(server.pid()).unwrap_or(0);
        peak = peak.max(rss);
        if (d + 1) % (args.docs / 10).max(1) == 0 {
            let open = crate::soak::metric(&server.addr, "tandem_open_documents").await?;
            let evicted =
                crate::soak::metric(&server.addr, "tandem_pressure_evictions_total").await?;
            println!(
                "| {} | {:.0} MB | {open} | {evicted} |",
                d + 1,
                rss as f64 / 1e6
            );
        }
    }
    let mut whole = 0;
    for d in 0..args.docs.min(10) {
        if state_len(&server.addr, &format!("b{d}")).await? > 1_000_000 {
            whole += 1;
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "scenario": "budget", "budget_mb": args.budget_mb, "docs": args.docs,
            "estimated_mb": args.docs * 6, "peak_rss_mb": peak / 1_000_000,
            "first_ten_whole": whole,
        })
    );
    anyhow::ensure!(whole == args.docs.min(10), "a document lost content");
    Ok(())
}

async fn state_len(addr: &str, doc: &str) -> anyhow::Result<usize> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET /api/docs/{doc}/state HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).await?;
    let head = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    Ok(body.len().saturating_sub(head + 4))
}

/// Writes `mb` MB of paragraphs (1 kB each) into `doc`'s editor fragment, 1 MB per update,
/// each acked before the next.
pub(crate) async fn fill(url: &str, doc: &str, mb: usize) -> anyhow::Result<()> {
    send_acked(url, doc, paragraph_updates(mb)).await
}

/// `mb` updates that each add 1 MB of paragraphs (1 kB each) to the editor fragment.
pub(crate) fn paragraph_updates(mb: usize) -> Vec<Vec<u8>> {
    let ydoc = yrs::Doc::new();
    let frag = ydoc.get_or_insert_xml_fragment("default");
    let line = "lorem ipsum dolor sit amet ".repeat(37); // ~1 kB
    (0..mb)
        .map(|_| {
            let mut txn = ydoc.transact_mut();
            for _ in 0..1000 {
                let at = frag.len(&txn);
                let p = frag.insert(&mut txn, at, XmlElementPrelim::empty("paragraph"));
                p.insert(&mut txn, 0, XmlTextPrelim::new(line.as_str()));
            }
            txn.encode_update_v1()
        })
        .collect()
}

/// Joins `doc` as a `tandem.v1` writer and sends `updates`, each acked before the next.
pub(crate) async fn send_acked(url: &str, doc: &str, updates: Vec<Vec<u8>>) -> anyhow::Result<()> {
    let ws = crate::wire::connect_tandem(url, doc).await?;
    let (mut tx, mut rx) = ws.split();
    let mut updates = updates.into_iter();
    let mut acks_wanted = 0;
    let mut synced = false;
    loop {
        if synced && acks_wanted == 0 {
            let Some(update) = updates.next() else {
                return Ok(());
            };
            tx.send(Ws::Binary(Bytes::from(Message::Update(update).encode())))
                .await?;
            acks_wanted = 1;
        }
        let Some(frame) = rx.next().await else {
            anyhow::bail!("closed while filling")
        };
        let Ws::Binary(b) = frame? else { continue };
        match Message::decode(&b)? {
            Message::SyncStep1(_) => {
                tx.send(Ws::Binary(Message::SyncStep2(vec![0, 0]).encode().into()))
                    .await?;
                acks_wanted = 1;
                synced = true;
            }
            Message::Ext(Ext::Ack { .. }) => acks_wanted = 0,
            Message::Ext(Ext::Error { message, .. }) => anyhow::bail!("refused: {message}"),
            _ => {}
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct ExportersArgs {
    #[arg(long)]
    pub addr: String,
    #[arg(long)]
    pub exports: usize,
    #[arg(long)]
    pub seconds: u64,
}

/// `heavy`'s exporters: prints what they did as one JSON line.
pub async fn exporters(args: ExportersArgs) -> anyhow::Result<()> {
    let stop = Instant::now() + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.exports)
        .map(|_| tokio::spawn(export_loop(args.addr.clone(), stop)))
        .collect();
    let (mut done, mut refused, mut ms) = (0, 0, Histogram::<u64>::new(3)?);
    for t in tasks {
        let r = t.await??;
        done += r.0;
        refused += r.1;
        ms.add(&r.2)?;
    }
    println!(
        "{}",
        serde_json::json!({"done": done, "refused": refused,
            "p50_ms": ms.value_at_quantile(0.5), "p99_ms": ms.value_at_quantile(0.99)})
    );
    Ok(())
}

/// Exports `big` until `stop`: (completed, refused with 503, latency of completed ones in ms).
async fn export_loop(addr: String, stop: Instant) -> anyhow::Result<(u64, u64, Histogram<u64>)> {
    let (mut done, mut refused) = (0, 0);
    let mut ms = Histogram::<u64>::new(3)?;
    while Instant::now() < stop {
        let t = Instant::now();
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        s.write_all(
            format!("GET /api/docs/big/export?format=markdown HTTP/1.0\r\nHost: {addr}\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await?;
        let status = String::from_utf8_lossy(&body[..body.len().min(12)]).to_string();
        if status.contains(" 200") {
            done += 1;
            ms.record(t.elapsed().as_millis().max(1) as u64)?;
        } else if status.contains(" 503") {
            refused += 1;
            // As a client honouring Retry-After would, but sooner: keep the pool under pressure.
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            anyhow::bail!("export answered {status:?}");
        }
    }
    Ok((done, refused, ms))
}
