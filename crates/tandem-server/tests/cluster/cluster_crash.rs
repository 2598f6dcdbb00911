//! The crash loop in cluster mode: three nodes on the real PostgreSQL and NATS, writers spread
//! over them, and each round a random node is SIGKILLed under load and restarted (20 rounds by
//! default, `TANDEM_CLUSTER_CRASH_ROUNDS` for more). After every round: everything acked or
//! forwarded by any node is there, the log has no gap, writers reconnect (to any node) and
//! resend what was not acked, and everyone converges.

use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::cluster::Cluster;
use crate::crash_support::{observer, rounds, tokens, writer, Ledger};
use crate::helpers::*;

const WRITERS: usize = 3;
const DOC: &str = "cluster-crash";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_node_killed_every_round_loses_nothing_acked_or_forwarded() {
    let rounds = rounds("TANDEM_CLUSTER_CRASH_ROUNDS", 20);
    let cluster = Cluster::new().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<ServerProcess> = dirs.iter().map(|d| cluster.node(d.path())).collect();
    let mut ledger = Ledger::default();
    let mut docs: Vec<yrs::Doc> = (0..WRITERS).map(|_| yrs::Doc::new()).collect();
    for round in 0..rounds {
        let mut rng = rand::rng();
        let pick = |rng: &mut rand::rngs::ThreadRng| nodes[rng.random_range(0..3)].addr;
        let text = Client::connect(pick(&mut rng), DOC, true).await.text();
        ledger.check_kept(&text, &format!("round {round}"));
        // Writers come back on random nodes; their syncs resend what was never acked.
        let mut clients = Vec::new();
        for d in docs.drain(..) {
            clients.push(Client::connect_with_doc(pick(&mut rng), DOC, true, d).await);
        }
        let all = Client::connect(pick(&mut rng), DOC, true).await.text();
        for c in &mut clients {
            c.wait_text(|t| t == all).await;
        }
        ledger.check_all(&all, &format!("round {round}"));

        let (stop_tx, stop_rx) = watch::channel(false);
        let (obs_stop, obs_rx) = watch::channel(false);
        let obs = tokio::spawn(observer(pick(&mut rng), DOC, obs_rx));
        let writers: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(w, c)| tokio::spawn(writer(c, format!("{round}.{w}"), stop_rx.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..500))).await;
        let victim = rng.random_range(0..3);
        nodes[victim].kill9();
        // The survivors keep taking writes for a moment while their peer is dead.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop_tx.send(true);
        for w in writers {
            let (c, written, acked) = w.await.unwrap();
            docs.push(c.doc);
            ledger.record(written, acked);
        }
        // The observer ended with its node (killed) or is still open: once what was in flight
        // has arrived, stop it and keep its record either way.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = obs_stop.send(true);
        ledger.must_have.extend(tokens(&obs.await.unwrap()));
        cluster.assert_gap_free(DOC).await;
        nodes[victim] = cluster.node(dirs[victim].path());
    }
    let mut last = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        last.push(Client::connect_with_doc(nodes[i % 3].addr, DOC, true, d).await);
    }
    let revisions = cluster.assert_gap_free(DOC).await;
    for n in &nodes {
        let text = Client::connect(n.addr, DOC, true).await.text();
        ledger.check_all(&text, &format!("final, node {}", n.addr));
    }
    ledger.assert_load(rounds);
    eprintln!(
        "cluster crash loop: {rounds} rounds each killing a random one of 3 nodes, {} token \
         checks, {} acked or forwarded, {} written, {revisions} gap-free revisions",
        ledger.checked,
        ledger.must_have.len(),
        ledger.written.len()
    );
    cluster.schema.drop().await;
}
