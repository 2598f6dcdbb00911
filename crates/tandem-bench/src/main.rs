//! `tandem-bench`: a load generator that speaks the Yjs sync protocol plus `tandem.v1` acks over
//! real WebSockets. It measures durable acked updates per second and ack latency (send → ack)
//! for W writers spread over D documents, either as fast as a window of unacked updates allows
//! or at a fixed total rate, and samples the server's CPU time from `/proc` when it spawned it.

mod client;
mod server;

use std::time::Duration;

use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Parser, Debug, Clone)]
#[command(about = "Load generator for Tandem (durable acked updates/s and ack latency)")]
struct Args {
    /// Server to drive, e.g. ws://127.0.0.1:8080 (ignored with --spawn)
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    url: String,
    /// Start this tandem binary on a free port with a fresh data directory for every run
    #[arg(long)]
    spawn: Option<String>,
    /// Concurrent writers (one WebSocket each)
    #[arg(long, default_value_t = 10)]
    writers: usize,
    /// Documents the writers are spread over
    #[arg(long, default_value_t = 1)]
    docs: usize,
    /// Seconds of measurement per run
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Total updates per second across all writers; 0 = as fast as the window allows
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Unacked updates a writer may have in flight
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Run the standard matrix (1/10/100 writers × 1/10/100 documents, plus the latency runs)
    #[arg(long)]
    matrix: bool,
}

/// What one run measured.
pub struct Outcome {
    pub acked: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
    pub server_cpu: Option<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs: Vec<Args> = if args.matrix {
        let mut v = Vec::new();
        for (writers, docs) in [(1, 1), (10, 1), (10, 10), (100, 100)] {
            v.push(Args { writers, docs, rate: 0, ..args.clone() });
        }
        // 100 writers on one document each receive every other writer's updates: at full speed
        // that is a fanout test (issue 6), so here they type at 5 updates/s each.
        v.push(Args { writers: 100, docs: 1, rate: 500, ..args.clone() });
        v.push(Args { writers: 100, docs: 100, rate: 2000, ..args.clone() });
        v
    } else {
        vec![args.clone()]
    };
    println!("| writers | docs | mode | acked updates/s | ack p50 | ack p99 | ack max | server CPU µs/update |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    for run in runs {
        let out = run_one(&run).await?;
        let secs = out.elapsed.as_secs_f64();
        let rate = out.acked as f64 / secs;
        let h = &out.latency_us;
        let mode = if run.rate == 0 { format!("max, window {}", run.window) } else { format!("{} /s total", run.rate) };
        let cpu = out.server_cpu.map(|c| format!("{:.1}", c.as_secs_f64() * 1e6 / out.acked.max(1) as f64)).unwrap_or("-".into());
        println!(
            "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            run.writers,
            run.docs,
            mode,
            rate,
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0,
            cpu
        );
        let json = serde_json::json!({
            "writers": run.writers, "docs": run.docs, "rate": run.rate, "window": run.window,
            "acked": out.acked, "seconds": secs, "acked_per_sec": rate,
            "ack_p50_us": h.value_at_quantile(0.5), "ack_p99_us": h.value_at_quantile(0.99), "ack_max_us": h.max(),
            "server_cpu_us_per_update": out.server_cpu.map(|c| c.as_secs_f64() * 1e6 / out.acked.max(1) as f64),
        });
        eprintln!("{json}");
    }
    Ok(())
}

async fn run_one(args: &Args) -> anyhow::Result<Outcome> {
    let server = match &args.spawn {
        Some(bin) => Some(server::Spawned::start(bin)?),
        None => None,
    };
    let url = server.as_ref().map(|s| s.url.clone()).unwrap_or_else(|| args.url.clone());
    let cpu_before = server.as_ref().and_then(|s| s.cpu_time());
    let per_writer_rate = if args.rate == 0 { 0.0 } else { args.rate as f64 / args.writers as f64 };
    let plan = client::Plan { duration: Duration::from_secs(args.duration), rate: per_writer_rate, window: args.window };
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let doc = format!("bench-{}", w % args.docs);
        tasks.push(tokio::spawn(client::writer(url.clone(), doc, plan)));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut acked = 0;
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        let r = t.await??;
        acked += r.acked;
        elapsed = elapsed.max(r.elapsed);
        latency.add(&r.latency_us)?;
    }
    let server_cpu = match (&server, cpu_before) {
        (Some(s), Some(before)) => s.cpu_time().map(|after| after.saturating_sub(before)),
        _ => None,
    };
    Ok(Outcome { acked, elapsed, latency_us: latency, server_cpu })
}
