//! `make bench`: every scenario against Tandem and the peers, a fresh server process per run,
//! repeated; medians and spreads; the result replaces the marked section of BENCHMARKS.md.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::fanout::{self, Scenario};
use crate::server::{cpu_time, rss, Paths, Spawned};
use crate::wire::Kind;

#[derive(clap::Args)]
pub struct MatrixArgs {
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Idle connections for the memory scenario
    #[arg(long, default_value_t = 2000)]
    idle: usize,
    /// File whose marked section is replaced with the results
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: std::path::PathBuf,
}

#[derive(Serialize, Clone, Debug)]
pub struct FanoutMeasure {
    pub server: &'static str,
    pub fanout_p50_ms: f64,
    pub fanout_p99_ms: f64,
    pub fanout_max_ms: f64,
    pub last_p99_ms: f64,
    pub ack_p99_ms: Option<f64>,
    pub deliveries_per_sec: f64,
    pub completeness: f64,
    pub late_joiner_ok: bool,
    pub server_cpu_us_per_delivery: f64,
    pub server_cpu_share: f64,
    pub server_rss_mb: f64,
    pub generator_cpu_us_per_delivery: f64,
    /// Tandem: documents indexed for search during the run, and the p99 of the time from a
    /// document's first change to its indexing (the upper bound of its histogram bucket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_indexed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_lag_p99_s: Option<f64>,
}

#[derive(Serialize, Clone, Debug)]
pub struct IdleMeasure {
    pub server: &'static str,
    pub conns: usize,
    pub conns_per_sec: f64,
    pub rss_per_conn_kb: f64,
    /// The server's CPU time (user and system) while the connections were being opened, per
    /// connection: what the rate would be bound by with a generator on cores of its own.
    pub server_cpu_us_per_conn: f64,
}

fn self_cpu() -> Duration {
    cpu_time(std::process::id()).unwrap_or_default()
}

pub async fn measure_fanout(
    kind: Kind,
    paths: &Paths<'_>,
    sc: Scenario,
) -> anyhow::Result<FanoutMeasure> {
    let server = Spawned::start(kind, paths, &[])?;
    let (cpu0, gen0) = (cpu_time(server.pid()).unwrap_or_default(), self_cpu());
    let t0 = Instant::now();
    let r = fanout::run(kind, std::slice::from_ref(&server.addr), sc).await?;
    let wall = t0.elapsed();
    let cpu = cpu_time(server.pid())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    let gen = self_cpu().saturating_sub(gen0);
    let ms = |us: u64| us as f64 / 1000.0;
    let d = r.deliveries.max(1) as f64;
    let (search_indexed, search_lag_p99_s) = if kind == Kind::Tandem {
        // The last marks fall due within 1.5 s of the run's end.
        tokio::time::sleep(Duration::from_secs(2)).await;
        match crate::soak::histogram(&server.addr, "tandem_search_lag_seconds").await {
            Ok(h) => (Some(h.count), h.quantile_bound(0.99)),
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    Ok(FanoutMeasure {
        search_indexed,
        search_lag_p99_s,
        server: kind.name(),
        fanout_p50_ms: ms(r.fanout_us.value_at_quantile(0.5)),
        fanout_p99_ms: ms(r.fanout_us.value_at_quantile(0.99)),
        fanout_max_ms: ms(r.fanout_us.max()),
        last_p99_ms: ms(r.last_us.value_at_quantile(0.99)),
        ack_p99_ms: (!r.ack_us.is_empty()).then(|| ms(r.ack_us.value_at_quantile(0.99))),
        deliveries_per_sec: r.deliveries as f64 / r.elapsed.as_secs_f64(),
        completeness: r.deliveries as f64 / r.expected.max(1) as f64,
        late_joiner_ok: r.late_joiner_ok,
        server_cpu_us_per_delivery: cpu.as_secs_f64() * 1e6 / d,
        server_cpu_share: cpu.as_secs_f64() / wall.as_secs_f64(),
        server_rss_mb: rss(server.pid()).unwrap_or(0) as f64 / (1 << 20) as f64,
        generator_cpu_us_per_delivery: gen.as_secs_f64() * 1e6 / d,
    })
}

/// `one_doc`: every connection joins the same document, separating per-connection memory from
/// per-document memory. `doc_mb` > 0: that document holds this many MB of paragraphs, written
/// and loaded before the memory is first read, so what is measured is each reader's cost.
pub async fn measure_idle_on(
    kind: Kind,
    paths: &Paths<'_>,
    n: usize,
    one_doc: bool,
    doc_mb: usize,
) -> anyhow::Result<IdleMeasure> {
    let one_doc = one_doc || doc_mb > 0;
    let server = Spawned::start(kind, paths, &[])?;
    // Kept open while the readers come: some servers drop a document nobody has open.
    let _writer = match doc_mb {
        0 => None,
        mb => Some(fill_idle_doc(kind, &server.addr, mb).await?),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = rss(server.pid()).unwrap_or(0);
    let cpu0 = cpu_time(server.pid()).unwrap_or_default();
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(n);
    let addr = server.addr.clone();
    // 64 handshakes in flight at a time.
    let mut pending = futures_util::stream::iter((0..n).map(|i| {
        let addr = addr.clone();
        let doc = if one_doc {
            "idle".to_string()
        } else {
            format!("idle-{i}")
        };
        async move { fanout::connect(kind, &addr, &doc).await }
    }))
    .buffer_unordered(64);
    use futures_util::StreamExt;
    while let Some(c) = pending.next().await {
        conns.push(c?);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_time(server.pid())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = rss(server.pid()).unwrap_or(0);
    drop(conns);
    Ok(IdleMeasure {
        server: kind.name(),
        conns: n,
        conns_per_sec: n as f64 / secs,
        rss_per_conn_kb: rss1.saturating_sub(rss0) as f64 / n as f64 / 1024.0,
        server_cpu_us_per_conn: cpu.as_secs_f64() * 1e6 / n as f64,
    })
}

/// Writes `mb` MB of 1 kB paragraphs into the document `idle`, 1 MB per update (the stock
/// protocol, so every server takes it), then checks that a new reader's sync step 2 holds it.
async fn fill_idle_doc(
    kind: Kind,
    addr: &str,
    mb: usize,
) -> anyhow::Result<(fanout::Tx, fanout::Rx)> {
    use futures_util::{SinkExt, StreamExt};
    use tandem_core::protocol::Message;
    use tokio_tungstenite::tungstenite::Message as Ws;
    let (mut tx, rx, _) = fanout::connect(kind, addr, "idle").await?;
    for update in crate::heavy::paragraph_updates(mb) {
        let frame = kind.frame("idle", &Message::Update(update).encode());
        tx.send(Ws::Binary(frame.into())).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the {mb} MB document never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_reader_tx, mut reader_rx) = fanout::open(kind, addr, "idle").await?;
        let mut len = 0;
        while let Some(frame) = reader_rx.next().await {
            let Ws::Binary(b) = frame? else { continue };
            let Some(m) = kind.unframe(&b) else { continue };
            if let Ok(Message::SyncStep2(state)) = Message::decode(&m) {
                len = state.len();
                break;
            }
        }
        if len >= mb * 1_000_000 {
            return Ok((tx, rx));
        }
    }
}

const SCENARIOS: [(usize, usize, f64); 4] =
    [(1, 20, 20.0), (1, 100, 5.0), (1, 200, 2.0), (100, 5, 2.0)];
const KINDS: [Kind; 3] = [Kind::Tandem, Kind::YWebsocket, Kind::Hocuspocus];
/// The fanout runs add the floor servers ([`crate::floor`]): what the work itself costs.
const FANOUT_KINDS: [Kind; 5] = [
    Kind::Tandem,
    Kind::YWebsocket,
    Kind::Hocuspocus,
    Kind::Relay,
    Kind::Floor,
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.2}–{hi:.2}")
}

pub async fn main(args: MatrixArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    let mut md = String::new();
    let cmd = format!(
        "tandem-bench matrix --repeats {} --duration {} --idle {}",
        args.repeats, args.duration, args.idle
    );
    md += &format!("Generated by `make bench` ({cmd}) on {} cores; each cell is the median of {} runs, a fresh server process per run, with the min–max spread below it.\n\n", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), args.repeats);
    for (docs, clients, rate) in SCENARIOS {
        let sc = Scenario {
            docs,
            clients,
            rate,
            duration: Duration::from_secs(args.duration),
            listeners: 0.0,
            random_position: false,
            exact_ids: false,
        };
        md += &format!("### {docs} doc × {clients} clients × {rate} inserts/s per client\n\n");
        md += "| server | fanout p50 ms | fanout p99 ms | fanout max ms | last-receiver p99 ms | deliveries/s | complete | late joiner | server CPU µs/delivery | server CPU % | generator CPU µs/delivery |\n";
        md += "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n";
        let mut cpu_by_kind = Vec::new();
        let mut p99_by_kind = Vec::new();
        for kind in FANOUT_KINDS {
            let mut runs = Vec::new();
            for _ in 0..args.repeats {
                let m = measure_fanout(kind, paths, sc).await?;
                eprintln!(
                    "{}",
                    serde_json::json!({"docs": docs, "clients": clients, "rate": rate, "result": m})
                );
                runs.push(m);
            }
            let col = |f: fn(&FanoutMeasure) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
            let cells: Vec<Vec<f64>> = vec![
                col(|m| m.fanout_p50_ms),
                col(|m| m.fanout_p99_ms),
                col(|m| m.fanout_max_ms),
                col(|m| m.last_p99_ms),
                col(|m| m.deliveries_per_sec),
                col(|m| m.completeness * 100.0),
            ];
            let cpu = col(|m| m.server_cpu_us_per_delivery);
            let share = col(|m| m.server_cpu_share * 100.0);
            let gen = col(|m| m.generator_cpu_us_per_delivery);
            let late = runs.iter().all(|m| m.late_joiner_ok);
            cpu_by_kind.push((kind, median(cpu.clone())));
            p99_by_kind.push((kind, median(cells[1].clone())));
            md += &format!("| {} ", kind.name());
            for (i, c) in cells.iter().enumerate() {
                md += &if i == 4 {
                    format!("| {:.0}<br><sub>{}</sub> ", median(c.clone()), spread(c))
                } else {
                    format!("| {:.2}<br><sub>{}</sub> ", median(c.clone()), spread(c))
                };
            }
            md += &format!(
                "| {} | {:.2}<br><sub>{}</sub> | {:.0}<br><sub>{}</sub> | {:.2} |\n",
                if late { "matches" } else { "**differs**" },
                median(cpu.clone()),
                spread(&cpu),
                median(share.clone()),
                spread(&share),
                median(gen)
            );
        }
        let t_cpu = cpu_by_kind[0].1;
        let t_p99 = p99_by_kind[0].1;
        md += "\nTandem/peer: ";
        md += &KINDS[1..]
            .iter()
            .enumerate()
            .map(|(i, k)| {
                format!(
                    "{}: CPU per delivery **{:.2}×**, fanout p99 **{:.2}×**",
                    k.name(),
                    t_cpu / cpu_by_kind[i + 1].1,
                    t_p99 / p99_by_kind[i + 1].1
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let cpu_of = |k: Kind| {
            cpu_by_kind
                .iter()
                .find(|c| c.0 == k)
                .map_or(f64::NAN, |c| c.1)
        };
        let y = cpu_of(Kind::YWebsocket);
        md += &format!(
            ". CPU per delivery against y-websocket's: relay **{:.2}×**, durable floor **{:.2}×**; Tandem/durable floor **{:.2}×**",
            cpu_of(Kind::Relay) / y,
            cpu_of(Kind::Floor) / y,
            t_cpu / cpu_of(Kind::Floor)
        );
        md += "\n\n";
    }
    // Each connection on a document of its own, then all on one (which separates what a
    // connection costs from what an open document does), then readers of one big document
    // (each is sent the whole of it on joining).
    let idle_runs = [
        (
            format!("{} idle connections on {} documents", args.idle, args.idle),
            args.idle,
            false,
            0,
        ),
        (
            format!("{} idle connections on one document", args.idle),
            args.idle,
            true,
            0,
        ),
        (
            "200 idle readers of one 1 MB document".to_string(),
            200,
            true,
            1,
        ),
    ];
    for (title, conns, one_doc, doc_mb) in idle_runs {
        md += &format!(
            "### {title}\n\n| server | connections/s | RSS per connection | server CPU µs per connection |\n|---|---:|---:|---:|\n"
        );
        let mut by_kind = Vec::new();
        for kind in KINDS {
            let mut rate = Vec::new();
            let mut mem = Vec::new();
            let mut cpu = Vec::new();
            for _ in 0..args.repeats {
                let m = measure_idle_on(kind, paths, conns, one_doc, doc_mb).await?;
                eprintln!(
                    "{}",
                    serde_json::json!({"idle": m, "one_doc": one_doc, "doc_mb": doc_mb})
                );
                rate.push(m.conns_per_sec);
                mem.push(m.rss_per_conn_kb);
                cpu.push(m.server_cpu_us_per_conn);
            }
            md += &format!(
                "| {} | {:.0}<br><sub>{}</sub> | {:.1} kB<br><sub>{}</sub> | {:.0}<br><sub>{}</sub> |\n",
                kind.name(),
                median(rate.clone()),
                spread(&rate),
                median(mem.clone()),
                spread(&mem),
                median(cpu.clone()),
                spread(&cpu)
            );
            by_kind.push((kind, median(rate), median(mem), median(cpu)));
        }
        let (_, t_rate, t_mem, t_cpu) = by_kind[0];
        md += "\nTandem/peer: ";
        md += &by_kind[1..]
            .iter()
            .map(|(k, rate, mem, cpu)| {
                format!(
                    "{}: connections/s **{:.2}×**, RSS per connection **{:.2}×**, server CPU per connection **{:.2}×**",
                    k.name(),
                    t_rate / rate,
                    t_mem / mem,
                    t_cpu / cpu
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        md += "\n\n";
    }
    print!("{md}");
    write_section(&args.out, &md)?;
    Ok(())
}

const BEGIN: &str = "<!-- bench:matrix:begin -->";
const END: &str = "<!-- bench:matrix:end -->";

/// Replaces the text between the markers (appending a section if they are missing).
fn write_section(path: &std::path::Path, body: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{BEGIN}\n{body}{}", &text[..b], &text[e..]),
        _ => format!(
            "{text}\n## Fanout against the peers (Benchmarks issue)\n\n{BEGIN}\n{body}{END}\n"
        ),
    };
    std::fs::write(path, new)?;
    Ok(())
}
