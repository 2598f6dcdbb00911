//! Cluster mode against the real PostgreSQL and NATS: nodes without affinity, a frozen stale
//! writer, a killed node, a NATS restart. Each test has its own schema and subject prefix. Reads
//! `TANDEM_TEST_DATABASE_URL` / `TANDEM_TEST_NATS_URL` (defaulting to the local services every
//! machine of this project runs) and fails if either is unreachable.

use std::process::Command;
use std::time::Duration;

use tandem_server::config::Options;

use crate::helpers::*;
use crate::postgres::Schema;

pub fn nats_url() -> String {
    std::env::var("TANDEM_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn require(url: &str) {
    let hostport = url.split("://").nth(1).unwrap_or(url).trim_end_matches('/');
    let ok = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(hostport),
    )
    .await;
    assert!(matches!(ok, Ok(Ok(_))), "NATS at {url} unreachable");
}

struct Cluster {
    schema: Schema,
    prefix: String,
    nats: String,
}

impl Cluster {
    async fn new() -> Cluster {
        Self::with_nats(nats_url()).await
    }
    async fn with_nats(nats: String) -> Cluster {
        require(&nats).await;
        Cluster {
            schema: Schema::create().await,
            prefix: format!("test{}", rand::random::<u32>()),
            nats,
        }
    }
    fn options(&self, o: Options) -> Options {
        Options {
            database_url: Some(self.schema.database_url()),
            nats_url: Some(self.nats.clone()),
            nats_subject_prefix: Some(self.prefix.clone()),
            ..o
        }
    }
    fn node(&self, dir: &std::path::Path) -> ServerProcess {
        let db = self.schema.database_url();
        ServerProcess::start(
            dir,
            &[
                "--database-url",
                &db,
                "--nats-url",
                &self.nats,
                "--nats-subject-prefix",
                &self.prefix,
            ],
        )
    }
    /// The log is 1..=n with no gap and no reuse (the primary key forbids reuse; this checks gaps).
    async fn assert_gap_free(&self, doc: &str) -> u64 {
        let revs = self.schema.revisions(doc).await;
        assert_eq!(
            revs,
            (1..=revs.len() as i64).collect::<Vec<_>>(),
            "gaps in the log"
        );
        revs.len() as u64
    }
}

/// Tokens a client pushed whose acks it received.
fn acked(c: &Client, tag: &str, sent: usize) -> Vec<String> {
    (0..sent.min(c.acks.len()))
        .map(|i| format!("{tag}{i};"))
        .collect()
}

fn assert_has_all(text: &str, tokens: &[String], who: &str) {
    let missing: Vec<&String> = tokens
        .iter()
        .filter(|t| !text.contains(t.as_str()))
        .collect();
    assert!(missing.is_empty(), "{who} lacks acked tokens {missing:?}");
}

#[tokio::test]
async fn two_nodes_without_affinity_converge_with_gap_free_revisions() {
    let cluster = Cluster::new().await;
    let a = spawn_app_with(|o| cluster.options(o)).await;
    let b = spawn_app_with(|o| cluster.options(o)).await;
    // Clients of one document split across both nodes, writing at once.
    let mut clients = vec![
        a.connect("shared").await,
        b.connect("shared").await,
        a.connect("shared").await,
        b.connect("shared").await,
    ];
    for i in 0..30 {
        for (n, c) in clients.iter_mut().enumerate() {
            c.push(&format!("c{n}-{i};")).await;
        }
    }
    let mut tokens = vec![];
    for (n, c) in clients.iter_mut().enumerate() {
        c.wait_acked().await;
        tokens.extend(acked(c, &format!("c{n}-"), 30));
    }
    assert_eq!(tokens.len(), 120);
    let head = cluster.assert_gap_free("shared").await;
    for c in clients.iter_mut() {
        c.wait_text(|t| t.matches(';').count() == 120).await;
        assert!(c.acks.iter().all(|r| *r <= head));
    }
    let text = clients[0].text();
    for c in &clients {
        assert_eq!(c.text(), text, "every client converged");
    }
    assert_has_all(&text, &tokens, "the converged text");
    // Late joiners on either node match.
    for node in [&a, &b] {
        let mut late = node.connect("shared").await;
        late.wait_text(|t| t.matches(';').count() == 120).await;
        assert_eq!(late.text(), text);
        assert_eq!(late.hello_rev, Some(head));
    }
    drop(clients);
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[tokio::test]
async fn a_frozen_node_resumes_without_forking_history() {
    let cluster = Cluster::new().await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node_a = cluster.node(da.path());
    let node_b = cluster.node(db.path());
    let mut ca = Client::connect(node_a.addr, "frozen", true).await;
    let mut cb = Client::connect(node_b.addr, "frozen", true).await;
    ca.push("a0;").await;
    ca.wait_acked().await;
    cb.wait_text(|t| t.contains("a0;")).await;
    // A holds the document at revision 1 and is frozen; B keeps writing.
    signal(node_a.child.id(), "-STOP");
    for i in 0..20 {
        cb.push(&format!("b{i};")).await;
    }
    cb.wait_acked().await;
    // A's client writes into the frozen node (its socket buffers the frames).
    for i in 1..6 {
        ca.push(&format!("a{i};")).await;
    }
    signal(node_a.child.id(), "-CONT");
    // A resumes with a stale head: its appends conflict, it catches up, and retries.
    ca.wait_acked().await;
    let head = cluster.assert_gap_free("frozen").await;
    assert!(head >= 3, "both nodes' writes are in the log");
    let mut tokens = acked(&ca, "a", 6);
    tokens.extend(acked(&cb, "b", 20));
    for c in [&mut ca, &mut cb] {
        c.wait_text(|t| t.matches(';').count() == 26).await;
        assert_has_all(&c.text(), &tokens, "a client");
    }
    assert_eq!(ca.text(), cb.text());
    for node in [&node_a, &node_b] {
        let mut late = Client::connect(node.addr, "frozen", true).await;
        late.wait_text(|t| t.matches(';').count() == 26).await;
        assert_eq!(late.text(), ca.text());
    }
    cluster.schema.drop().await;
}

#[tokio::test]
async fn killing_one_of_three_nodes_under_load_loses_nothing_acked() {
    let cluster = Cluster::new().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<ServerProcess> = dirs.iter().map(|d| cluster.node(d.path())).collect();
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();
    let mut clients = vec![];
    for n in 0..6 {
        clients.push(Client::connect(addrs[n % 3], "three", true).await);
    }
    let mut sent = vec![0usize; 6];
    for round in 0..40 {
        if round == 20 {
            nodes[2].kill9();
        }
        for (n, c) in clients.iter_mut().enumerate() {
            if c.closed.is_some() {
                // Its node died: reconnect elsewhere with the same document. The sync exchange
                // re-sends whatever the server lacks, including unacked edits.
                let doc = std::mem::replace(&mut c.doc, yrs::Doc::new());
                let mut fresh = Client::connect_with_doc(addrs[n % 2], "three", true, doc).await;
                // Acks already received stay counted; the resent ones are covered by the sync.
                fresh.acks = std::mem::take(&mut c.acks);
                fresh.sent_updates = fresh.acks.len();
                *c = fresh;
            }
            c.push(&format!("k{n}-{};", sent[n])).await;
            sent[n] += 1;
        }
        // Read what has arrived so acks keep flowing.
        for c in clients.iter_mut() {
            c.drain_for(Duration::from_millis(5)).await;
        }
    }
    let mut tokens = vec![];
    for (n, c) in clients.iter_mut().enumerate() {
        c.wait_acked().await;
        tokens.extend(acked(c, &format!("k{n}-"), sent[n]));
    }
    cluster.assert_gap_free("three").await;
    for addr in &addrs[..2] {
        let mut late = Client::connect(*addr, "three", true).await;
        late.wait_text(|t| t.matches(';').count() >= tokens.len())
            .await;
        assert_has_all(&late.text(), &tokens, "a late joiner");
    }
    cluster.schema.drop().await;
}

/// A private NATS server, so the shared one is never stopped.
struct PrivateNats {
    child: std::process::Child,
    port: u16,
}

impl PrivateNats {
    fn start(port: u16) -> PrivateNats {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server (Debian's package) is needed for this test");
        PrivateNats { child, port }
    }
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_nats_restart_mid_load_loses_nothing_and_everyone_converges() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nats = PrivateNats::start(port);
    let url = nats.url();
    let mut ready = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "private nats-server did not start");
    let cluster = Cluster::with_nats(url).await;
    let a = spawn_app_with(|o| cluster.options(o)).await;
    let b = spawn_app_with(|o| cluster.options(o)).await;
    let mut ca = a.connect("natsdown").await;
    let mut cb = b.connect("natsdown").await;
    let mut sent = 0;
    for round in 0..30 {
        if round == 10 {
            nats.stop();
        }
        if round == 20 {
            nats = PrivateNats::start(port);
        }
        ca.push(&format!("a{sent};")).await;
        cb.push(&format!("b{sent};")).await;
        sent += 1;
        ca.drain_for(Duration::from_millis(20)).await;
        cb.drain_for(Duration::from_millis(20)).await;
    }
    ca.wait_acked().await;
    cb.wait_acked().await;
    let mut tokens = acked(&ca, "a", sent);
    tokens.extend(acked(&cb, "b", sent));
    assert_eq!(
        tokens.len(),
        60,
        "every update was acked through the outage"
    );
    // After NATS is back (and the reconnect's catch-up), both sides converge.
    ca.wait_text(|t| t.matches(';').count() == 60).await;
    cb.wait_text(|t| t.matches(';').count() == 60).await;
    assert_eq!(ca.text(), cb.text());
    assert_has_all(&ca.text(), &tokens, "a client");
    // Only A writes now: B hears it only through NATS (restarted) or the reconnect's catch-up,
    // since B makes no append of its own that could conflict.
    ca.push("final;").await;
    ca.wait_acked().await;
    cb.wait_text(|t| t.contains("final;")).await;
    cluster.assert_gap_free("natsdown").await;
    drop((ca, cb));
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}
