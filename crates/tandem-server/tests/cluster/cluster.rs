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

pub struct Cluster {
    pub schema: Schema,
    pub prefix: String,
    pub nats: String,
}

impl Cluster {
    pub async fn new() -> Cluster {
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
    pub fn options(&self, o: Options) -> Options {
        Options {
            database_url: Some(self.schema.database_url()),
            nats_url: Some(self.nats.clone()),
            nats_subject_prefix: Some(self.prefix.clone()),
            ..o
        }
    }
    /// Two in-process nodes with accounts.
    pub async fn accounts_nodes(&self) -> (TestApp, TestApp) {
        self.accounts_nodes_with(|o| o).await
    }
    /// Two nodes with accounts and more options.
    pub async fn accounts_nodes_with(&self, f: impl Fn(Options) -> Options) -> (TestApp, TestApp) {
        let with_accounts = |o: Options| Options {
            auth: Some(tandem_server::config::AuthMode::Accounts),
            ..f(self.options(o))
        };
        (
            spawn_app_with(with_accounts).await,
            spawn_app_with(with_accounts).await,
        )
    }
    pub fn node(&self, dir: &std::path::Path) -> ServerProcess {
        self.node_with(dir, &[])
    }
    /// A node with more command-line options.
    pub fn node_with(&self, dir: &std::path::Path, extra: &[&str]) -> ServerProcess {
        let db = self.schema.database_url();
        let mut args = vec![
            "--database-url",
            &db,
            "--nats-url",
            &self.nats,
            "--nats-subject-prefix",
            &self.prefix,
        ];
        args.extend_from_slice(extra);
        ServerProcess::start(dir, &args)
    }
    /// The log is 1..=n with no gap and no reuse (the primary key forbids reuse; this checks gaps).
    pub async fn assert_gap_free(&self, doc: &str) -> u64 {
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
    let mut sent = [0usize; 6];
    // Tokens known durable when each client's current connection began: a reconnect's sync is
    // acked only once everything the client holds is durable, and the new connection's acks
    // answer only what is pushed on it.
    let mut base = [0usize; 6];
    for round in 0..40 {
        if round == 20 {
            nodes[2].kill9();
        }
        for (n, c) in clients.iter_mut().enumerate() {
            if c.closed.is_some() {
                // Its node died: reconnect elsewhere with the same document. The sync exchange
                // re-sends whatever the server lacks, including unacked edits.
                let doc = std::mem::replace(&mut c.doc, yrs::Doc::new());
                *c = Client::connect_with_doc(addrs[n % 2], "three", true, doc).await;
                base[n] = sent[n];
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
        assert_eq!(
            base[n] + c.acks.len(),
            sent[n],
            "client {n}: every push acked"
        );
        tokens.extend((0..sent[n]).map(|i| format!("k{n}-{i};")));
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

#[tokio::test]
async fn sigterm_on_one_node_drains_its_clients_to_another_and_loses_nothing() {
    let cluster = Cluster::new().await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut node_a = cluster.node(da.path());
    let node_b = cluster.node(db.path());
    let mut c = Client::connect(node_a.addr, "drain", true).await;
    let mut watcher = Client::connect(node_b.addr, "drain", true).await;
    let mut acked_before = 0;
    for i in 0..10 {
        c.push(&format!("d{i};")).await;
    }
    c.wait_acked().await;
    node_a.sigterm();
    // The node tells its clients to go elsewhere (drain notice, then 1012) and exits cleanly.
    let (code, _) = c.expect_close().await;
    assert_eq!(code, 1012);
    let status = tokio::task::spawn_blocking(move || node_a.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "a drained node exits 0");
    acked_before += c.acks.len();
    // The client moves to B with its document; edits made meanwhile travel in the sync.
    let doc = std::mem::replace(&mut c.doc, yrs::Doc::new());
    {
        use yrs::{Text, Transact};
        let t = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        let len = yrs::GetString::get_string(&t, &txn).len() as u32;
        t.insert(&mut txn, len, "offline;");
    }
    let mut moved = Client::connect_with_doc(node_b.addr, "drain", true, doc).await;
    moved.push("after;").await;
    moved.wait_acked().await;
    assert_eq!(acked_before, 10);
    watcher.wait_text(|t| t.matches(';').count() == 12).await;
    let tokens: Vec<String> = (0..10)
        .map(|i| format!("d{i};"))
        .chain(["offline;".into(), "after;".into()])
        .collect();
    assert_has_all(&watcher.text(), &tokens, "the other node's client");
    cluster.assert_gap_free("drain").await;
    cluster.schema.drop().await;
}

/// A PostgreSQL cluster of this test's own (initdb under a temp dir, run as the `postgres` user),
/// so it can be stopped without touching the shared one.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    fn pg_ctl(&self, args: &[&str]) -> bool {
        let data = self.dir.path().join("data");
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
    fn init() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (Debian's package) are needed for this test")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        std::process::Command::new("chmod")
            .arg("777")
            .arg(dir.path())
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ok = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "initdb failed");
        let pg = PrivatePostgres { dir, port, bin };
        assert!(pg.start(), "the private PostgreSQL did not start");
        pg
    }
    fn start(&self) -> bool {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.pg_ctl(&["-w", "-o", &opts, "-l", log.to_str().unwrap(), "start"])
    }
    fn stop(&self) -> bool {
        self.pg_ctl(&["-w", "-m", "fast", "stop"])
    }
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_postgres_restart_mid_load_fails_clearly_loses_nothing_acked_and_resumes() {
    require(&nats_url()).await;
    let pg = PrivatePostgres::init();
    let prefix = format!("test{}", rand::random::<u32>());
    let opts = |o: Options| Options {
        database_url: Some(pg.url()),
        nats_url: Some(nats_url()),
        nats_subject_prefix: Some(prefix.clone()),
        ..o
    };
    let a = spawn_app_with(opts).await;
    let b = spawn_app_with(opts).await;
    let addrs = [a.addr, b.addr];
    let mut clients = vec![
        Client::connect(a.addr, "pgdown", true).await,
        Client::connect(b.addr, "pgdown", true).await,
    ];
    // Tokens whose ack a client received, across reconnects.
    let mut durable: Vec<String> = vec![];
    let mut errors_seen = vec![];
    for round in 0..60 {
        if round == 15 {
            assert!(pg.stop(), "stopping the private PostgreSQL");
        }
        if round == 35 {
            assert!(pg.start(), "restarting the private PostgreSQL");
        }
        for (n, slot) in clients.iter_mut().enumerate() {
            if slot.closed.is_some() {
                errors_seen.extend(slot.errors.drain(..).map(|e| e.0));
                errors_seen.extend(slot.closed.iter().map(|c| c.0 as u32));
                let doc = std::mem::replace(&mut slot.doc, yrs::Doc::new());
                match Client::try_connect_with_doc(addrs[n], "pgdown", doc).await {
                    Ok(c) => *slot = c,
                    Err(doc) => {
                        slot.doc = doc;
                        continue;
                    }
                }
            }
            let token = format!("p{n}-{round};");
            let before = slot.acks.len();
            slot.push(&token).await;
            // Wait briefly for this one ack: acked ⇒ durable, the rest is resent on reconnect.
            let _ = tokio::time::timeout(Duration::from_millis(300), async {
                while slot.acks.len() == before && slot.recv().await {}
            })
            .await;
            if slot.acks.len() > before {
                durable.push(token);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        durable.len() > 40,
        "service resumed after the restart ({} acked)",
        durable.len()
    );
    assert!(
        errors_seen.iter().any(|c| [1011, 1012].contains(c)),
        "clients were told clearly while the database was down: {errors_seen:?}"
    );
    // Everything acked is there, on both nodes.
    for addr in addrs {
        let mut late = Client::connect(addr, "pgdown", true).await;
        late.wait_text(|t| durable.iter().all(|d| t.contains(d.as_str())))
            .await;
    }
    drop(clients);
    a.stop().await;
    b.stop().await;
}

/// A notification made on one node (a share) reaches the bell's stream on another at once.
#[tokio::test]
async fn a_notification_on_one_node_reaches_a_bell_on_another() {
    use crate::auth_helpers::{Account, UnreadStream};
    let cluster = Cluster::new().await;
    let (a, b) = cluster.accounts_nodes().await;
    let owner = Account::signup(a.addr, "owner@example.org").await;
    let bob = Account::signup(b.addr, "bob@example.org").await;
    let mut bell = UnreadStream::open(b.addr, &bob.token).await;
    assert_eq!(bell.next().await, 0);
    let doc = owner.new_doc("shared").await;
    owner.share(&doc, &bob.email, "editor").await;
    assert_eq!(bell.next().await, 1, "the share on node A rang on node B");
    // Read on node A: the count on node B follows.
    let r = crate::auth_helpers::api(
        a.addr,
        "POST",
        "/api/notifications/read",
        Some(&bob.token),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(bell.next().await, 0);
    a.stop().await;
    b.stop().await;
}

/// Any node serves any feed: revisions made on node A reach a document's stream and the stream
/// across documents on node B at once (through NATS, well before the half-minute rescan).
#[tokio::test]
async fn the_change_feed_on_one_node_hears_revisions_made_on_another() {
    use crate::auth_helpers::{Account, SseStream};
    let cluster = Cluster::new().await;
    let (a, b) = cluster.accounts_nodes().await;
    let ann = Account::signup(a.addr, "ann@example.org").await;
    let doc = ann.new_doc("fed").await;
    let path = format!("/api/docs/{doc}/changes/stream?after=1");
    let mut one = SseStream::open(b.addr, &ann.token, &path, None).await;
    let mut all = SseStream::open(b.addr, &ann.token, "/api/changes/stream", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Client::connect_as(a.addr, &doc, &ann.token).await;
    c.push("from A").await;
    c.wait_acked().await;
    let rev = c.acks[0];
    assert_eq!(one.next().await, rev);
    assert_eq!(all.next_id().await, format!("{doc}:{rev}"));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn accounts_and_revocations_hold_on_every_node() {
    use crate::auth_helpers::Account;
    let cluster = Cluster::new().await;
    let (a, b) = cluster.accounts_nodes().await;
    // One account store and one signing key: a token from node A works on node B.
    let owner = Account::signup(a.addr, "owner@example.org").await;
    let bob = Account::signup(b.addr, "bob@example.org").await;
    let on_b = crate::auth_helpers::api(b.addr, "GET", "/api/me", Some(&owner.token), None).await;
    assert_eq!(on_b.status, 200);
    let doc = owner.new_doc("shared").await;
    owner.share(&doc, &bob.email, "editor").await;
    let mut o = Client::connect_as(a.addr, &doc, &owner.token).await;
    let mut bc = Client::connect_as(b.addr, &doc, &bob.token).await;
    bc.push("bob;").await;
    bc.wait_acked().await;
    o.wait_text(|t| t.contains("bob;")).await;
    // Revoked on node A; Bob's socket is on node B.
    let start = std::time::Instant::now();
    let r = owner
        .call(
            "DELETE",
            &format!("/api/docs/{doc}/shares/{}", bob.id),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let closed =
        tokio::time::timeout(Duration::from_secs(1), async { while bc.recv().await {} }).await;
    assert!(
        closed.is_ok(),
        "Bob's socket on the other node was not closed within 1 s"
    );
    assert_eq!(bc.closed.as_ref().map(|c| c.0), Some(4403));
    println!(
        "revocation on node A closed the socket on node B in {:?}",
        start.elapsed()
    );
    // Disabling on B closes the owner's socket on A.
    let admin_on_b = Account::login(b.addr, "owner@example.org").await;
    let carol = Account::signup(a.addr, "carol@example.org").await;
    owner.share(&doc, &carol.email, "viewer").await;
    let mut cc = Client::connect_as(a.addr, &doc, &carol.token).await;
    let r = admin_on_b
        .call(
            "POST",
            &format!("/api/admin/users/{}/disable", carol.id),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(cc.expect_close().await.0, 4403);
    drop(o);
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}

/// Deleting a document through one node closes its sockets on every node with 4403 within 1 s,
/// even a stock client typing on another node, and nothing that node appends afterwards brings
/// the document back (appends never create documents).
#[tokio::test]
async fn deleting_a_document_closes_its_sockets_on_every_node() {
    use crate::auth_helpers::Account;
    let cluster = Cluster::new().await;
    let (a, b) = cluster.accounts_nodes().await;
    let owner = Account::signup(a.addr, "owner@example.org").await;
    let doc = owner.new_doc("doomed").await;
    let path = format!("/ws/{doc}?token={}", owner.token);
    let mut stock = Client::from_socket(raw_connect_path(b.addr, &path, false).await, false)
        .sync_with(yrs::Doc::new())
        .await;
    let mut tandem = Client::connect_as(b.addr, &doc, &owner.token).await;
    tandem.push("before;").await;
    tandem.wait_acked().await;
    let start = std::time::Instant::now();
    let deleted = tokio::spawn({
        let owner_token = owner.token.clone();
        let (addr, doc) = (a.addr, doc.clone());
        async move {
            crate::auth_helpers::api(
                addr,
                "DELETE",
                &format!("/api/docs/{doc}"),
                Some(&owner_token),
                None,
            )
            .await
            .status
        }
    });
    // The stock client keeps typing on node B until it is closed.
    let closed = tokio::time::timeout(Duration::from_secs(1), async {
        let mut i = 0;
        loop {
            i += 1;
            stock.push(&format!("t{i};")).await;
            let read = tokio::time::timeout(Duration::from_millis(20), stock.recv()).await;
            if matches!(read, Ok(false)) {
                break;
            }
        }
    })
    .await;
    let elapsed = start.elapsed();
    assert!(
        closed.is_ok(),
        "the stock client on node B was not closed within 1 s"
    );
    assert_eq!(stock.closed.as_ref().map(|c| c.0), Some(4403));
    assert_eq!(tandem.expect_close().await.0, 4403);
    assert_eq!(deleted.await.unwrap(), 204);
    println!("deleting through node A closed node B's sockets in {elapsed:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !cluster.schema.has_document(&doc).await,
        "an append from node B brought the document back"
    );
    assert!(cluster.schema.revisions(&doc).await.is_empty());
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}

/// Every node serves every file when the nodes share a file store (`--blob-url`); without one,
/// cluster mode refuses uploads with a clear 503 instead of keeping a file only one node has.
#[tokio::test]
async fn every_node_serves_every_file_from_the_shared_store() {
    use crate::auth_helpers::{api, Account};
    use tandem_server::config::AuthMode;
    let cluster = Cluster::new().await;
    let shared = tempfile::tempdir().unwrap();
    let blob_url = format!("file://{}", shared.path().display());
    let with = |blob: Option<String>| {
        let cluster = &cluster;
        move |o: Options| Options {
            auth: Some(AuthMode::Accounts),
            blob_url: blob,
            ..cluster.options(o)
        }
    };
    let a = spawn_app_with(with(Some(blob_url.clone()))).await;
    let b = spawn_app_with(with(Some(blob_url))).await;
    let owner = Account::signup(a.addr, "owner@example.org").await;
    let doc = owner.new_doc("files").await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let up = raw_post(a.addr, &format!("/api/docs/{doc}/files"), &owner.token, png).await;
    assert_eq!(up.0, 201, "{}", up.1);
    let url: serde_json::Value = serde_json::from_str(&up.1).unwrap();
    let url = url["url"].as_str().unwrap();
    let auth = format!("Bearer {}", owner.token);
    let (status, _, body) = http(b.addr, "GET", url, &[("Authorization", &auth)], None).await;
    assert_eq!(
        (status, body.as_slice()),
        (200, png.as_slice()),
        "node B serves node A's upload"
    );
    // Deleted through node B: gone for node A too.
    let r = api(
        b.addr,
        "DELETE",
        &format!("/api/docs/{doc}"),
        Some(&owner.token),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        http(a.addr, "GET", url, &[("Authorization", &auth)], None)
            .await
            .0,
        404
    );

    let lone = spawn_app_with(with(None)).await;
    let doc = owner.new_doc("no store").await;
    let up = raw_post(
        lone.addr,
        &format!("/api/docs/{doc}/files"),
        &owner.token,
        png,
    )
    .await;
    assert_eq!(up.0, 503, "{}", up.1);
    assert!(up.1.contains("--blob-url"), "{}", up.1);
    a.stop().await;
    b.stop().await;
    lone.stop().await;
    cluster.schema.drop().await;
}

/// A POST with a binary body: (status, body as text).
async fn raw_post(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let (status, _, body) =
        http_bytes(addr, "POST", path, &[("Authorization", &auth)], body, None).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A revision whose NATS message is lost (here every publish of node A is dropped, as if A
/// died between its commit and its publish) still reaches an idle viewer on node B within the
/// anti-entropy interval: B compares its open documents' heads with the log and catches up.
#[tokio::test]
async fn anti_entropy_delivers_a_revision_whose_publish_was_lost() {
    let cluster = Cluster::new().await;
    let every = Duration::from_millis(1000);
    let a = spawn_app_with(|o| Options {
        fault_drop_publishes: Some(true),
        anti_entropy_ms: Some(every.as_millis() as u64),
        ..cluster.options(o)
    })
    .await;
    let b = spawn_app_with(|o| Options {
        anti_entropy_ms: Some(every.as_millis() as u64),
        ..cluster.options(o)
    })
    .await;
    let mut writer = a.connect("quiet").await;
    let mut viewer = b.connect("quiet").await;
    let mut waits = Vec::new();
    for i in 0..3 {
        writer.push(&format!("w{i};")).await;
        writer.wait_acked().await;
        let start = std::time::Instant::now();
        viewer.wait_text(|t| t.contains(&format!("w{i};"))).await;
        waits.push(start.elapsed());
    }
    println!("an edit whose publish was lost reached the other node after {waits:?} (interval {every:?})");
    for w in &waits {
        assert!(*w <= every + Duration::from_millis(700), "{w:?}");
    }
    // Both nodes run in this process and share its metrics recorder.
    assert!(metric(a.addr, "tandem_anti_entropy_catchups_total").await >= 3.0);
    assert!(metric(a.addr, "tandem_fanout_dropped_total").await >= 3.0);
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}

/// A node that fell behind a range compacted meanwhile (it missed the NATS messages, and the
/// history retention folded those revisions into a snapshot) reloads from the newest snapshot
/// instead of failing on a gap in the log: its idle viewer and a new joiner get everything.
#[tokio::test]
async fn a_node_behind_a_compacted_range_reloads_from_the_snapshot() {
    let cluster = Cluster::new().await;
    let a = spawn_app_with(|o| Options {
        fault_drop_publishes: Some(true),
        snapshot_every: Some(5),
        history_retention_secs: Some(0),
        ..cluster.options(o)
    })
    .await;
    let b = spawn_app_with(|o| Options {
        anti_entropy_ms: Some(600_000),
        ..cluster.options(o)
    })
    .await;
    let mut viewer = b.connect("compacted").await;
    let mut writer = a.connect("compacted").await;
    for i in 0..12 {
        writer.push(&format!("w{i};")).await;
        writer.wait_acked().await;
    }
    let text = writer.text();
    // Revisions up to the newest snapshot's are gone from the log.
    let mut first = 1;
    for _ in 0..100 {
        first = cluster.schema.revisions("compacted").await[0];
        if first > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(first > 2, "nothing was compacted (log starts at {first})");
    // Node B is at revision 0 (it heard nothing); a joiner makes it catch up.
    let mut joiner = b.connect("compacted").await;
    joiner.wait_text(|t| t == text).await;
    viewer.wait_text(|t| t == text).await;
    assert_eq!(metric(b.addr, "tandem_compaction_reloads_total").await, 1.0);
    // And it keeps working: an edit on B reaches A.
    viewer.push("from b;").await;
    viewer.wait_acked().await;
    writer.wait_text(|t| t.contains("from b;")).await;
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}

/// A client of the broker that is not a node cannot act as one: a forged revision (the next
/// one, a valid update), a forged deletion and forged presence, unsigned or signed with another
/// key, change nothing any client sees; they are dropped and counted.
#[tokio::test]
async fn forged_nats_messages_change_nothing() {
    use tandem_core::protocol::{encode_awareness, AwarenessEntry};
    use yrs::updates::decoder::Decode;
    use yrs::{ReadTxn, Text, Transact};
    let cluster = Cluster::new().await;
    let a = spawn_app_with(|o| cluster.options(o)).await;
    let mut c = a.connect("target").await;
    c.push("real;").await;
    c.wait_acked().await;
    let head = *c.acks.last().unwrap();
    // A valid update that would append "FORGED", at exactly the next revision.
    let forged = {
        let d = yrs::Doc::new();
        let state = c
            .doc
            .transact()
            .encode_state_as_update_v1(&Default::default());
        d.transact_mut()
            .apply_update(yrs::Update::decode_v1(&state).unwrap())
            .unwrap();
        let t = d.get_or_insert_text("t");
        let mut txn = d.transact_mut();
        t.insert(&mut txn, 5, "FORGED");
        txn.encode_update_v1()
    };
    let attacker = async_nats::connect(&cluster.nats).await.unwrap();
    let p = &cluster.prefix;
    let revision = [&(head + 1).to_be_bytes()[..], &forged].concat();
    let presence = [
        &[0u8][..],
        &99u64.to_be_bytes(),
        &encode_awareness(
            [AwarenessEntry {
                client_id: 666,
                clock: 1,
                state: "{\"user\":{\"name\":\"Mallory\"}}".into(),
            }]
            .iter(),
        ),
    ]
    .concat();
    let deletion = br#"{"kind":"deleted","doc":"target"}"#.to_vec();
    let forged_before = metric(a.addr, "tandem_fanout_forged_total").await;
    for (subject, body) in [
        (format!("{p}.doc.target"), revision),
        (format!("{p}.presence.target"), presence),
        (format!("{p}.access"), deletion),
    ] {
        // Unsigned, and with a tag made under a key that is not the deployment's.
        let fake_tag = [body.clone(), vec![7u8; 32]].concat();
        for payload in [body, fake_tag] {
            attacker
                .publish(subject.clone(), payload.into())
                .await
                .unwrap();
        }
    }
    attacker.flush().await.unwrap();
    c.drain_for(Duration::from_millis(800)).await;
    assert_eq!(c.closed, None, "a forged deletion closed the socket");
    assert_eq!(c.text(), "real;", "a forged revision reached the client");
    let mut late = a.connect("target").await;
    late.drain_for(Duration::from_millis(200)).await;
    assert_eq!(late.text(), "real;");
    assert_eq!(
        metric(a.addr, "tandem_fanout_forged_total").await - forged_before,
        6.0
    );
    // Signed messages still flow: a second node's edit arrives.
    let b = spawn_app_with(|o| cluster.options(o)).await;
    let mut on_b = b.connect("target").await;
    on_b.push("from b;").await;
    on_b.wait_acked().await;
    c.wait_text(|t| t.contains("from b;")).await;
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}

/// Two deployments on one NATS with the default subject prefix (`tandem.<deployment id>`, from
/// each one's database) never hear each other, even for documents of the same name.
#[tokio::test]
async fn deployments_sharing_a_nats_do_not_mix() {
    let (one, two) = (Cluster::new().await, Cluster::new().await);
    let default_prefix = |c: &Cluster| {
        let c = c.options(Options::default());
        move |o: Options| Options {
            nats_subject_prefix: None,
            ..c.clone().or(o)
        }
    };
    let a = spawn_app_with(default_prefix(&one)).await;
    let b = spawn_app_with(default_prefix(&two)).await;
    let mut on_a = a.connect("same").await;
    let mut on_b = b.connect("same").await;
    let forged_before = metric(a.addr, "tandem_fanout_forged_total").await;
    on_a.push("deployment one;").await;
    on_a.wait_acked().await;
    on_b.drain_for(Duration::from_millis(800)).await;
    assert_eq!(on_b.text(), "", "an edit crossed deployments");
    // Separated by subject, not merely refused by signature.
    assert_eq!(
        metric(a.addr, "tandem_fanout_forged_total").await,
        forged_before
    );
    a.stop().await;
    b.stop().await;
    one.schema.drop().await;
    two.schema.drop().await;
}

/// Both nodes send webhooks from the one outbox in PostgreSQL: edits made on both are delivered
/// as revision ranges in order, every revision once (a row claimed by one node is never sent by
/// the other at the same time).
#[tokio::test]
async fn webhooks_are_sent_once_in_order_whichever_node_committed() {
    use crate::auth_helpers::Account;
    use crate::webhook_receiver::*;
    let rx = Receiver::start(Mode::Ok).await;
    let cluster = Cluster::new().await;
    let (a, b) = cluster
        .accounts_nodes_with(|o| Options {
            webhook_allow_private: Some(true),
            ..o
        })
        .await;
    let ann = Account::signup(a.addr, "ann@example.org").await;
    let doc = ann.new_doc("hooked").await;
    let body = serde_json::json!({"url": rx.url(), "events": ["changed"], "secret": "a-secret-of-16-chars"});
    let r = ann
        .call("POST", &format!("/api/docs/{doc}/webhooks"), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let mut on_a = Client::connect_as(a.addr, &doc, &ann.token).await;
    let mut on_b = Client::connect_as(b.addr, &doc, &ann.token).await;
    for i in 0..10 {
        on_a.push(&format!("a{i};")).await;
        on_b.push(&format!("b{i};")).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    on_a.wait_acked().await;
    on_b.wait_acked().await;
    let all = || on_a.acks.iter().chain(&on_b.acks).copied();
    let (first, head) = (all().min().unwrap(), all().max().unwrap());
    let got = rx
        .wait_for(15, |got| covers(&answered_ranges(got), first, head))
        .await;
    let ranges = answered_ranges(&got);
    let mut next = first;
    for (from, to) in &ranges {
        assert_eq!(*from, next, "in order, none twice: {ranges:?}");
        next = to + 1;
    }
    for r in &got {
        assert!(signature_valid("a-secret-of-16-chars", r));
    }
    a.stop().await;
    b.stop().await;
}

/// The outbox on PostgreSQL across a crash: node A commits an edit and is SIGKILLed while its
/// delivery is held by the receiver; node B, started after, sends it once A's claim lapses (the
/// request timeout plus a margin), so the revision is delivered although its node died.
#[tokio::test]
async fn a_delivery_claimed_by_a_killed_node_is_sent_by_another() {
    use crate::auth_helpers::Account;
    use crate::webhook_receiver::*;
    let rx = Receiver::start(Mode::Hang).await;
    let cluster = Cluster::new().await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = [
        "--auth",
        "accounts",
        "--webhook-allow-private",
        "--webhook-timeout-secs",
        "1",
    ];
    let mut a = cluster.node_with(da.path(), &args);
    let ann = Account::signup(a.addr, "ann@example.org").await;
    let doc = ann.new_doc("crashing").await;
    let body = serde_json::json!({"url": rx.url(), "events": ["changed"], "secret": "a-secret-of-16-chars"});
    let r = ann
        .call("POST", &format!("/api/docs/{doc}/webhooks"), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let mut c = Client::connect_as(a.addr, &doc, &ann.token).await;
    c.push("before the crash").await;
    c.wait_acked().await;
    let rev = *c.acks.last().unwrap();
    // Held at the receiver: node A's request (the only node yet). Then A dies and B starts.
    rx.wait_for(10, |got| {
        got.iter().any(|r| r.json["to_rev"].as_u64() >= Some(rev))
    })
    .await;
    a.kill9();
    rx.set(Mode::Ok);
    let _b = cluster.node_with(db.path(), &args);
    let got = rx
        .wait_for(20, |got| {
            answered_ranges(got)
                .iter()
                .any(|(f, t)| (*f..=*t).contains(&rev))
        })
        .await;
    assert!(got
        .iter()
        .all(|r| signature_valid("a-secret-of-16-chars", r)));
}
