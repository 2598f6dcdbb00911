//! `tandem-bench`: a load generator that speaks the Yjs sync protocol over real WebSockets, so
//! it drives Tandem and the peer servers alike (y-websocket, Hocuspocus).
//!
//! - `acks`: durable acked updates/s and ack latency (Tandem's `tandem.v1` acks).
//! - `fanout`: one fanout run against one server: latency send → receivers, deliveries/s,
//!   completeness, late-joiner convergence, server CPU per delivered update. `--server relay`
//!   and `--server floor` run it against the floor servers (`floor.rs`): the least work the
//!   load needs, without and with a synced log and acks.
//! - `idle`: N idle connections on N documents: memory per connection, connections per second.
//! - `heavy`: exports of a large document beside a typist: the typist's ack p99 with and
//!   without them (the bounded pool for heavy HTTP work).
//! - `cold`: a cold open of a large document: restart, connect, the server's sync step 2.
//! - `cluster`: N nodes on PostgreSQL + NATS: same-node vs cross-node fanout latency.
//! - `soak`: half of the measured capacity for 30 minutes, sampling RSS, descriptors, open
//!   documents and latency; fails on growth or on documents never evicted.
//! - `matrix`: what `make bench` runs: every scenario × every server × repeats, medians and
//!   spreads, written into BENCHMARKS.md.
#![allow(clippy::disallowed_methods)] // these documents are clients', plain yrs ones

mod acks;
mod client;
mod cluster;
mod cold;
mod fanout;
mod floor;
mod heavy;
mod matrix;
mod search;
mod server;
mod soak;
mod webhooks;
mod wire;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generator for Tandem and other Yjs servers")]
struct Cli {
    /// The tandem binary to start for each run
    #[arg(long, global = true, default_value = "target/release/tandem")]
    tandem: PathBuf,
    /// Directory with the peer servers' start scripts (npm ci'd)
    #[arg(long, global = true, default_value = "bench/peers")]
    peers: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Acks(acks::AcksArgs),
    Fanout(FanoutArgs),
    Idle {
        #[arg(long, value_enum, default_value = "tandem")]
        server: wire::Kind,
        #[arg(long, default_value_t = 2000)]
        conns: usize,
        /// All connections on one document (per-connection cost without per-document cost)
        #[arg(long)]
        one_doc: bool,
        /// That one document holds this many MB of paragraphs (implies --one-doc): what an
        /// idle reader of a real document costs
        #[arg(long, default_value_t = 0)]
        doc_mb: usize,
    },
    Matrix(matrix::MatrixArgs),
    Cluster(cluster::ClusterArgs),
    Heavy(heavy::HeavyArgs),
    /// Memory per encoded byte of open documents (the memory budget's estimate)
    Memory,
    /// More documents than the memory budget holds, opened one after another: RSS, evictions,
    /// refusals, and whether the first ones still load whole
    Budget(heavy::BudgetArgs),
    /// (internal) the exporters of `heavy`, run as a process of their own
    #[command(hide = true)]
    Exporters(heavy::ExportersArgs),
    Soak(soak::SoakArgs),
    /// A cold open of a large document: the server restarted, one client's sync step 2 timed
    Cold(cold::ColdArgs),
    /// Full-text search latency over many documents, on SQLite and PostgreSQL
    Search(search::SearchArgs),
    /// Webhook delivery latency after the durable ack, under the 100 × 5 × 2 load
    Webhooks(webhooks::WebhookArgs),
    /// (internal) the floor servers of `fanout --server relay|floor`, a process of their own
    #[command(hide = true)]
    ServeFloor(floor::FloorArgs),
}

#[derive(clap::Args)]
struct FanoutArgs {
    #[arg(long, value_enum, default_value = "tandem")]
    server: wire::Kind,
    #[arg(long, default_value_t = 1)]
    docs: usize,
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Inserts per second per writing client
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Share of clients that only listen (0.0–1.0)
    #[arg(long, default_value_t = 0.0)]
    listeners: f64,
    /// Insert at random positions instead of at the end
    #[arg(long)]
    random_position: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Cmd::ServeFloor(args) = cli.cmd {
        return floor::serve(args); // a runtime of one thread
    }
    tokio::runtime::Runtime::new()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = server::Paths {
        tandem: &cli.tandem,
        peers: &cli.peers,
    };
    match cli.cmd {
        Cmd::Acks(a) => acks::main(a, &paths).await,
        Cmd::Fanout(f) => {
            let sc = fanout::Scenario {
                docs: f.docs,
                clients: f.clients,
                rate: f.rate,
                duration: Duration::from_secs(f.duration),
                listeners: f.listeners,
                random_position: f.random_position,
                exact_ids: false,
            };
            let m = matrix::measure_fanout(f.server, &paths, sc).await?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            Ok(())
        }
        Cmd::Idle {
            server,
            conns,
            one_doc,
            doc_mb,
        } => {
            let m = matrix::measure_idle_on(server, &paths, conns, one_doc, doc_mb).await?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            Ok(())
        }
        Cmd::Matrix(m) => matrix::main(m, &paths).await,
        Cmd::Cluster(c) => cluster::main(c, &paths).await,
        Cmd::Heavy(h) => heavy::main(h, &paths).await,
        Cmd::Memory => heavy::memory(&paths).await,
        Cmd::Budget(b) => heavy::budget(b, &paths).await,
        Cmd::Exporters(e) => heavy::exporters(e).await,
        Cmd::Soak(s) => soak::main(s, &paths).await,
        Cmd::Cold(c) => cold::main(c, &paths).await,
        Cmd::Search(s) => search::main(s).await,
        Cmd::Webhooks(w) => webhooks::main(w, &paths).await,
        Cmd::ServeFloor(_) => anyhow::bail!("the floor is served before the runtime starts"),
    }
}
