//! The cluster scenario (Cluster issue): N Tandem nodes on one PostgreSQL schema and one NATS
//! subject prefix, each document's clients split over the nodes with no affinity. Reports fanout
//! latency to receivers on the writer's node versus on another node, then durable acked
//! updates/s of one node on PostgreSQL. With `--via-nginx`, the clients connect through nginx
//! configured as `deploy/nginx.conf` (doc-affinity hashing) instead of straight to the nodes.

use std::time::Duration;

use crate::fanout::{self, Scenario};
use crate::server::{Paths, Spawned};
use crate::wire::Kind;

#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// PostgreSQL to create a fresh schema in
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub database_url: String,
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    #[arg(long, default_value_t = 2)]
    pub nodes: usize,
    #[arg(long, default_value_t = 10)]
    pub docs: usize,
    /// Clients per document (split over the nodes)
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// Inserts per second per client
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Share of each document's clients that only listen. Writers are the first clients, which
    /// sit on node 1 when few: e.g. 0.9 with 10 clients = one writer on node 1, listeners on both
    #[arg(long, default_value_t = 0.0)]
    pub listeners: f64,
    /// Connect every client through nginx (deploy/nginx.conf, its upstreams set to these nodes)
    #[arg(long)]
    pub via_nginx: bool,
}

/// nginx in front of `nodes`, configured from deploy/nginx.conf; stopped when dropped.
struct Nginx {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn start(nodes: &[String]) -> anyhow::Result<Nginx> {
        let conf = std::fs::read_to_string("deploy/nginx.conf")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let servers: String = nodes
            .iter()
            .map(|a| format!("        server {a} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        let mut out = String::new();
        let mut upstream_done = false;
        for line in conf.lines() {
            let t = line.trim_start();
            if t.starts_with("server 127.0.0.1:808") {
                if !upstream_done {
                    out.push_str(&servers);
                    upstream_done = true;
                }
                continue;
            }
            if t.starts_with("listen 127.0.0.1:8080") {
                out.push_str(&format!("        listen 127.0.0.1:{port};\n"));
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        anyhow::ensure!(
            upstream_done,
            "deploy/nginx.conf has no upstream servers to replace"
        );
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("tmp"))?;
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, out)?;
        let child = std::process::Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            // Its workers outlive a killed master for a moment: never hand them our stdout.
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("nginx: {e} (make bench-nginx installs it)"))?;
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(Nginx {
                    child,
                    addr,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("nginx did not start listening on {addr}")
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub async fn main(args: ClusterArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    let schema = format!("tandem_bench_{}", rand::random::<u32>());
    let (client, conn) = tokio_postgres::connect(&args.database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let sep = if args.database_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{sep}options=-c%20search_path%3D{schema}",
        args.database_url
    );
    let prefix = format!("bench{}", rand::random::<u32>());
    let result = run(&args, paths, &url, &prefix).await;
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    result
}

async fn run(args: &ClusterArgs, paths: &Paths<'_>, url: &str, prefix: &str) -> anyhow::Result<()> {
    let extra = [
        "--database-url",
        url,
        "--nats-url",
        &args.nats_url,
        "--nats-subject-prefix",
        prefix,
    ];
    let nodes: Vec<Spawned> = (0..args.nodes)
        .map(|_| Spawned::start(Kind::Tandem, paths, &extra))
        .collect::<anyhow::Result<_>>()?;
    let mut addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let nginx = match args.via_nginx {
        true => Some(Nginx::start(&addrs)?),
        false => None,
    };
    if let Some(n) = &nginx {
        addrs = vec![n.addr.clone()];
    }
    let sc = Scenario {
        docs: args.docs,
        clients: args.clients,
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
        listeners: args.listeners,
        random_position: false,
        // Another node forwards a revision as one merged update covering several writers.
        exact_ids: true,
    };
    let r = fanout::run(Kind::Tandem, &addrs, sc).await?;
    println!(
        "| {} nodes{}, {} docs × {} clients ({:.0} % listening) at {}/s | same node p50 {:.2} ms, p99 {:.2} ms | cross node p50 {:.2} ms, p99 {:.2} ms | ack p99 {:.2} ms | completeness {:.2} % | late joiners {} |",
        args.nodes,
        if args.via_nginx { " via nginx" } else { "" },
        args.docs,
        args.clients,
        args.listeners * 100.0,
        args.rate,
        ms(r.same_node_us.value_at_quantile(0.5)),
        ms(r.same_node_us.value_at_quantile(0.99)),
        ms(r.cross_node_us.value_at_quantile(0.5)),
        ms(r.cross_node_us.value_at_quantile(0.99)),
        ms(r.ack_us.value_at_quantile(0.99)),
        100.0 * r.deliveries as f64 / r.expected.max(1) as f64,
        if r.late_joiner_ok { "match" } else { "DIFFER" },
    );
    eprintln!(
        "{}",
        serde_json::json!({
            "scenario": "cluster-fanout", "nodes": args.nodes, "via_nginx": args.via_nginx, "docs": args.docs, "clients": args.clients,
            "rate": args.rate, "same_p50_us": r.same_node_us.value_at_quantile(0.5),
            "same_p99_us": r.same_node_us.value_at_quantile(0.99), "cross_p50_us": r.cross_node_us.value_at_quantile(0.5),
            "cross_p99_us": r.cross_node_us.value_at_quantile(0.99), "deliveries": r.deliveries, "expected": r.expected,
            "late_joiner_ok": r.late_joiner_ok,
        })
    );
    Ok(())
}
