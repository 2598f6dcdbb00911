//! `soak`: hours-long health at a steady load. A short closed-loop run measures capacity; then
//! writers run at half of it, in sessions that join a document, type for a while and leave, on a
//! document pool that moves on every few minutes (so documents open, go idle and must be evicted,
//! and no document grows without bound: typing only ever adds). Every `--sample-secs` the server's
//! RSS, open descriptors, open documents and the ack p99 of the last interval are printed. Fails if
//! the peak RSS or descriptors of the last pool window exceed those of the first window after
//! warm-up by more than 5 % (windows, because memory follows the pool's documents as they grow and
//! are evicted), or if any document is still open after every client left and the eviction delay
//! passed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{self, Plan};
use crate::server::{rss, Paths, Spawned};
use crate::wire::Kind;

#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    /// Seconds at the steady load (after warm-up)
    #[arg(long, default_value_t = 1800)]
    pub duration: u64,
    /// Seconds of warm-up whose samples are not judged
    #[arg(long, default_value_t = 120)]
    pub warmup: u64,
    #[arg(long, default_value_t = 10)]
    pub sample_secs: u64,
    /// Concurrent writer sessions
    #[arg(long, default_value_t = 100)]
    pub writers: usize,
    /// Documents in the live pool
    #[arg(long, default_value_t = 500)]
    pub docs: usize,
    /// Seconds a writer stays on a document before leaving for another
    #[arg(long, default_value_t = 20)]
    pub session_secs: u64,
    /// Minutes before the pool moves on to fresh documents
    #[arg(long, default_value_t = 2)]
    pub pool_minutes: u64,
    /// Fraction of the measured capacity to run at
    #[arg(long, default_value_t = 0.5)]
    pub load: f64,
}

const EVICT_MS: u64 = 5_000;

struct Sample {
    at: Duration,
    rss_mb: f64,
    /// SQLite's own heap (page caches, statements): the part of RSS that follows the database.
    sqlite_mb: f64,
    fds: usize,
    open_docs: f64,
    acked: u64,
    p99_ms: f64,
}

pub async fn main(args: SoakArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    let server = Spawned::start(
        Kind::Tandem,
        paths,
        &[
            "--evict-after-ms",
            &EVICT_MS.to_string(),
            // Compaction keeps the log (and the disk) from growing without bound over hours.
            "--history-retention-secs",
            "300",
        ],
    )?;
    let url = format!("ws://{}", server.addr);
    let capacity = measure_capacity(&url, args.writers, args.docs).await?;
    let rate = capacity * args.load;
    eprintln!(
        "soak: capacity {capacity:.0} updates/s; running {rate:.0}/s ({}%) for {} s after {} s of warm-up",
        (args.load * 100.0) as u32,
        args.duration,
        args.warmup
    );
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let total = Duration::from_secs(args.warmup + args.duration);
    let mut slots = Vec::new();
    for w in 0..args.writers {
        let (url, latency, acked, args) =
            (url.clone(), latency.clone(), acked.clone(), args.clone());
        let per_writer = rate / args.writers as f64;
        slots.push(tokio::spawn(async move {
            while start.elapsed() < total {
                let pool = start.elapsed().as_secs() / (60 * args.pool_minutes);
                let doc = format!("soak-{pool}-{}", rand::random_range(0..args.docs));
                let left = total.saturating_sub(start.elapsed());
                let plan = Plan {
                    duration: Duration::from_secs(args.session_secs).min(left),
                    rate: per_writer,
                    window: 64,
                    record_acks: false,
                };
                match client::writer(url.clone(), doc, plan).await {
                    Ok(r) => {
                        acked.fetch_add(r.acked, std::sync::atomic::Ordering::Relaxed);
                        latency.lock().expect("histogram").add(&r.latency_us)?;
                    }
                    Err(e) => anyhow::bail!("writer {w}: {e}"),
                }
            }
            Ok(())
        }));
    }
    let mut samples: Vec<Sample> = Vec::new();
    let mut last_acked = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(args.sample_secs));
    tick.tick().await;
    while start.elapsed() < total {
        tick.tick().await;
        let hist = std::mem::replace(
            &mut *latency.lock().expect("histogram"),
            Histogram::new_with_bounds(1, 60_000_000, 3)?,
        );
        let now_acked = acked.load(std::sync::atomic::Ordering::Relaxed);
        let s = Sample {
            at: start.elapsed(),
            rss_mb: rss(server.pid()).unwrap_or(0) as f64 / 1048576.0,
            sqlite_mb: metric(&server.addr, "tandem_sqlite_memory_bytes").await? / 1048576.0,
            fds: open_fds(server.pid()),
            open_docs: metric(&server.addr, "tandem_open_documents").await?,
            acked: now_acked - last_acked,
            p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        };
        last_acked = now_acked;
        eprintln!(
            "t={:>5}s rss={:>7.1} MB sqlite={:>5.1} MB fds={:>5} open_docs={:>4} acked={:>8} p99={:>7.2} ms",
            s.at.as_secs(),
            s.rss_mb,
            s.sqlite_mb,
            s.fds,
            s.open_docs,
            s.acked,
            s.p99_ms
        );
        samples.push(s);
    }
    for s in slots {
        s.await??;
    }
    // Every client has left: after the eviction delay (plus a snapshot) nothing may stay open.
    tokio::time::sleep(Duration::from_millis(EVICT_MS * 2 + 2_000)).await;
    let left_open = metric(&server.addr, "tandem_open_documents").await?;
    verdict(&args, &samples, left_open)
}

fn verdict(args: &SoakArgs, samples: &[Sample], left_open: f64) -> anyhow::Result<()> {
    let judged: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at.as_secs() > args.warmup)
        .collect();
    anyhow::ensure!(
        judged.len() as u64 * args.sample_secs >= 2 * 60 * args.pool_minutes,
        "run at least two pool windows after warm-up"
    );
    // Peaks of the first pool window after warm-up and of the last one.
    let window = Duration::from_secs(60 * args.pool_minutes);
    let first_end = judged[0].at + window;
    let last_start = judged[judged.len() - 1].at.saturating_sub(window);
    let peak = |f: &dyn Fn(&Sample) -> f64, keep: &dyn Fn(&Sample) -> bool| {
        judged
            .iter()
            .filter(|s| keep(s))
            .map(|s| f(s))
            .fold(0.0, f64::max)
    };
    let first = |s: &Sample| s.at < first_end;
    let last = |s: &Sample| s.at > last_start;
    let rss_growth = peak(&|s| s.rss_mb, &last) / peak(&|s| s.rss_mb, &first) - 1.0;
    let fd_growth = peak(&|s| s.fds as f64, &last) / peak(&|s| s.fds as f64, &first) - 1.0;
    let acked: u64 = samples.iter().map(|s| s.acked).sum();
    let worst_p99 = judged.iter().map(|s| s.p99_ms).fold(0.0, f64::max);
    println!(
        "{}",
        serde_json::json!({
            "samples": samples.len(),
            "acked": acked,
            "rss_growth_pct": rss_growth * 100.0,
            "rss_peak_mb": [peak(&|s| s.rss_mb, &first), peak(&|s| s.rss_mb, &last)],
            "sqlite_peak_mb": [peak(&|s| s.sqlite_mb, &first), peak(&|s| s.sqlite_mb, &last)],
            "fd_growth_pct": fd_growth * 100.0,
            "worst_interval_p99_ms": worst_p99,
            "documents_open_after_clients_left": left_open,
        })
    );
    anyhow::ensure!(
        rss_growth <= 0.05,
        "RSS grew {:.1} % after warm-up",
        rss_growth * 100.0
    );
    anyhow::ensure!(
        fd_growth <= 0.05,
        "descriptors grew {:.1} % after warm-up",
        fd_growth * 100.0
    );
    anyhow::ensure!(
        left_open == 0.0,
        "{left_open} documents still open after every client left"
    );
    Ok(())
}

/// Closed-loop updates/s over 10 s with the soak's shape (writers spread over the pool).
async fn measure_capacity(url: &str, writers: usize, docs: usize) -> anyhow::Result<f64> {
    let plan = Plan {
        duration: Duration::from_secs(10),
        rate: 0.0,
        window: 64,
        record_acks: false,
    };
    let runs: Vec<_> = (0..writers)
        .map(|w| {
            tokio::spawn(client::writer(
                url.to_string(),
                format!("capacity-{}", w % docs),
                plan,
            ))
        })
        .collect();
    let mut acked = 0;
    for r in runs {
        acked += r.await??.acked;
    }
    Ok(acked as f64 / 10.0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A histogram from the server's `/metrics`: its cumulative buckets and count.
pub struct Buckets {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
}

impl Buckets {
    /// The upper bound of the bucket holding quantile `q`; `None` if empty or past the last.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let want = (self.count as f64 * q).ceil() as u64;
        if self.count == 0 {
            return None;
        }
        self.buckets
            .iter()
            .find(|(_, n)| *n >= want)
            .map(|(le, _)| *le)
            .filter(|le| le.is_finite())
    }
}

pub async fn histogram(addr: &str, name: &str) -> anyhow::Result<Buckets> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    let bucket = format!("{name}_bucket{{le=\"");
    let mut buckets = Vec::new();
    let mut count = 0;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix(&bucket) {
            let (le, n) = rest.split_once("\"} ").unwrap_or(("", ""));
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::NAN)
            };
            buckets.push((le, n.trim().parse().unwrap_or(0)));
        } else if let Some(n) = line.strip_prefix(&format!("{name}_count ")) {
            count = n.trim().parse().unwrap_or(0);
        }
    }
    Ok(Buckets { buckets, count })
}

/// A gauge or counter from the server's `/metrics`.
pub async fn metric(addr: &str, name: &str) -> anyhow::Result<f64> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    Ok(body
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0))
}
