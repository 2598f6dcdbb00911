//! The durable-ack scenario (Foundation issue): W writers over D documents, single-character
//! inserts, counted when Tandem's ack arrives (after fsync).

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::client;
use crate::server::{cpu_time, Paths, Spawned};
use crate::wire::Kind;

#[derive(clap::Args, Debug, Clone)]
pub struct AcksArgs {
    /// Concurrent writers (one WebSocket each)
    #[arg(long, default_value_t = 10)]
    pub writers: usize,
    /// Documents the writers are spread over
    #[arg(long, default_value_t = 1)]
    pub docs: usize,
    /// Seconds of measurement per run
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Total updates per second across all writers; 0 = as fast as the window allows
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Unacked updates a writer may have in flight
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Run the standard matrix (1/10/100 writers × 1/10/100 documents, plus the latency runs)
    #[arg(long)]
    pub matrix: bool,
    /// Run the server on this store (e.g. a postgres:// URL) instead of a fresh SQLite file
    #[arg(long)]
    pub database_url: Option<String>,
}

pub async fn main(args: AcksArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    let runs: Vec<AcksArgs> = if args.matrix {
        let mut v = Vec::new();
        for (writers, docs) in [(1, 1), (10, 1), (10, 10), (100, 100)] {
            v.push(AcksArgs {
                writers,
                docs,
                rate: 0,
                ..args.clone()
            });
        }
        // 100 writers on one document each receive every other writer's updates: at full speed
        // that is a fanout test (see `fanout`), so here they type at 5 updates/s each.
        v.push(AcksArgs {
            writers: 100,
            docs: 1,
            rate: 500,
            ..args.clone()
        });
        v.push(AcksArgs {
            writers: 100,
            docs: 100,
            rate: 2000,
            ..args.clone()
        });
        v
    } else {
        vec![args.clone()]
    };
    println!("| writers | docs | mode | acked updates/s | ack p50 | ack p99 | ack max | server CPU µs/update |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    for run in runs {
        let extra: Vec<&str> = match &run.database_url {
            Some(url) => vec!["--database-url", url],
            None => vec![],
        };
        let server = Spawned::start(Kind::Tandem, paths, &extra)?;
        let before = cpu_time(server.pid());
        let per_writer_rate = if run.rate == 0 {
            0.0
        } else {
            run.rate as f64 / run.writers as f64
        };
        let plan = client::Plan {
            duration: Duration::from_secs(run.duration),
            rate: per_writer_rate,
            window: run.window,
            record_acks: false,
        };
        let mut tasks = Vec::new();
        for w in 0..run.writers {
            let doc = format!("bench-{}", w % run.docs);
            tasks.push(tokio::spawn(client::writer(
                format!("ws://{}", server.addr),
                doc,
                plan,
            )));
        }
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let (mut acked, mut elapsed) = (0, Duration::ZERO);
        for t in tasks {
            let r = t.await??;
            acked += r.acked;
            elapsed = elapsed.max(r.elapsed);
            h.add(&r.latency_us)?;
        }
        let cpu = before
            .zip(cpu_time(server.pid()))
            .map(|(b, a)| a.saturating_sub(b));
        let rate = acked as f64 / elapsed.as_secs_f64();
        let mode = if run.rate == 0 {
            format!("max, window {}", run.window)
        } else {
            format!("{} /s total", run.rate)
        };
        let cpu_per = cpu.map(|c| c.as_secs_f64() * 1e6 / acked.max(1) as f64);
        println!(
            "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            run.writers,
            run.docs,
            mode,
            rate,
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0,
            cpu_per.map(|c| format!("{c:.1}")).unwrap_or("-".into())
        );
        eprintln!(
            "{}",
            serde_json::json!({
                "scenario": "acks", "writers": run.writers, "docs": run.docs, "rate": run.rate, "window": run.window,
                "acked": acked, "acked_per_sec": rate, "ack_p50_us": h.value_at_quantile(0.5),
                "ack_p99_us": h.value_at_quantile(0.99), "ack_max_us": h.max(), "server_cpu_us_per_update": cpu_per,
            })
        );
    }
    Ok(())
}
