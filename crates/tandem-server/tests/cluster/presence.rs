//! Presence across nodes (issue 19, item 1) on the real NATS: stock-protocol clients on two
//! nodes see each other's awareness under a typing load, and a killed node's entries disappear
//! from the others. Figures are printed; docs/guarantees.md says what presence promises.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::{decode_awareness, encode_awareness, AwarenessEntry, Message};
use tokio_tungstenite::tungstenite::Message as Ws;
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Text, Transact};

use crate::cluster::Cluster;
use crate::helpers::*;

fn awareness(client_id: u64, clock: u64, state: &str) -> Ws {
    let e = AwarenessEntry {
        client_id,
        clock,
        state: state.into(),
    };
    Ws::Binary(
        Message::Awareness(encode_awareness([e].iter()))
            .encode()
            .into(),
    )
}

/// A stock client that types `per_sec` single characters a second and reads (without applying)
/// whatever the server sends: the load generator of the benchmarks, in miniature. Connected
/// before it returns (a client address may only be joining a few sockets at once).
async fn typist(
    addr: std::net::SocketAddr,
    doc: &str,
    id: u64,
    per_sec: u64,
) -> tokio::task::JoinHandle<()> {
    let mut ws = raw_connect(addr, doc, false).await;
    tokio::spawn(async move {
        let ydoc = yrs::Doc::with_client_id(id);
        let text = ydoc.get_or_insert_text("t");
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / per_sec));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let u = {
                        let mut txn = ydoc.transact_mut();
                        text.insert(&mut txn, 0, "x");
                        txn.encode_update_v1()
                    };
                    let frame = Message::Update(u).encode();
                    if ws.send(Ws::Binary(frame.into())).await.is_err() {
                        return;
                    }
                }
                f = ws.next() => if !matches!(f, Some(Ok(_))) { return },
            }
        }
    })
}

/// Reads `ws` until an awareness message holds `client` at `clock` (any state), or `limit`.
async fn wait_presence(
    ws: &mut Socket,
    client: u64,
    clock: u64,
    limit: Duration,
) -> Option<String> {
    match watch_presence(ws, client, clock, limit).await {
        Seen::State(s) => Some(s),
        _ => None,
    }
}

#[derive(Debug)]
enum Seen {
    State(String),
    /// The socket ended (with its close frame, if any: read through `Debug`, in a failure).
    #[allow(dead_code)]
    Closed(Option<String>),
    TimedOut,
}

async fn watch_presence(ws: &mut Socket, client: u64, clock: u64, limit: Duration) -> Seen {
    let read = async {
        while let Some(f) = ws.next().await {
            let b = match f {
                Ok(Ws::Binary(b)) => b,
                Ok(Ws::Close(c)) => {
                    return Seen::Closed(c.map(|c| format!("{} {}", c.code, c.reason)))
                }
                Ok(_) => continue,
                Err(e) => return Seen::Closed(Some(e.to_string())),
            };
            if let Ok(Message::Awareness(body)) = Message::decode(&b) {
                let entries = decode_awareness(&body).unwrap();
                if let Some(e) = entries
                    .iter()
                    .find(|e| e.client_id == client && e.clock >= clock)
                {
                    return Seen::State(e.state.clone());
                }
            }
        }
        Seen::Closed(None)
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or(Seen::TimedOut)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// A caret moved on node A reaches a viewer on node B, 60 times, while `TANDEM_PRESENCE_TYPISTS`
/// clients (100 by default) split across both nodes type 5 characters a second each; the viewer
/// joined after the mover, so its first sight comes through node B's query. Then the mover
/// leaves and its entry is removed on node B at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_nodes_under_load() {
    let cluster = Cluster::new().await;
    let a = spawn_app_with(|o| cluster.options(o)).await;
    let b = spawn_app_with(|o| cluster.options(o)).await;
    let typists: u64 = std::env::var("TANDEM_PRESENCE_TYPISTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut load = Vec::new();
    for i in 0..typists {
        let node = if i % 2 == 0 { a.addr } else { b.addr };
        load.push(typist(node, "load", 1000 + i, 5).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Both nodes run in this process and share its metrics recorder (installed by the first).
    let accepted = || metric(a.addr, "tandem_updates_accepted_total");
    let (load_start, before) = (Instant::now(), accepted().await);
    let (mut mover_tx, mut mover_rx) = raw_connect(a.addr, "load", false).await.split();
    // Reads what the mover is sent; ends with how its socket was closed, should it be.
    let drain = tokio::spawn(async move {
        while let Some(f) = mover_rx.next().await {
            match f {
                Ok(Ws::Close(c)) => return format!("{c:?}"),
                Ok(_) => {}
                Err(e) => return e.to_string(),
            }
        }
        "ended".to_string()
    });
    mover_tx
        .send(awareness(4242, 1, "{\"user\":{\"name\":\"Ada\"}}"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut viewer = raw_connect(b.addr, "load", false).await;
    // A stock client opens with its sync request (a silent socket is closed after 5 s).
    let step1 = Message::SyncStep1(yrs::Doc::new().transact().state_vector().encode_v1());
    viewer
        .send(Ws::Binary(step1.encode().into()))
        .await
        .unwrap();
    assert!(
        wait_presence(&mut viewer, 4242, 1, Duration::from_secs(5))
            .await
            .is_some(),
        "a viewer joining node B never learned of the caret on node A"
    );
    let mut lat = Vec::new();
    for clock in 2..=61 {
        let state = format!("{{\"user\":{{\"name\":\"Ada\"}},\"cursor\":{clock}}}");
        let sent = Instant::now();
        mover_tx.send(awareness(4242, clock, &state)).await.unwrap();
        let seen = watch_presence(&mut viewer, 4242, clock, Duration::from_secs(5)).await;
        if !matches!(&seen, Seen::State(s) if *s == state) {
            // Whether it was dropped on a full queue (counted) or lost or late elsewhere.
            let dropped = metric(a.addr, "tandem_fanout_dropped_total").await;
            let mover = if drain.is_finished() {
                drain.await.unwrap()
            } else {
                "open".into()
            };
            panic!(
                "caret {clock} never crossed (saw {seen:?}; fanout drops counted: {dropped}; \
                 the mover's socket: {mover})"
            );
        }
        lat.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The load was real: the nodes accepted (nearly) every keystroke meanwhile.
    let rate = (accepted().await - before) / load_start.elapsed().as_secs_f64();
    println!("the nodes accepted {rate:.0} updates/s from the typists");
    let closed = load.iter().filter(|t| t.is_finished()).count();
    assert_eq!(closed, 0, "typists were closed");
    assert!(rate > typists as f64 * 5.0 * 0.5, "{rate:.0} updates/s");
    lat.sort();
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "presence across nodes with {typists} typists at 5/s: p50 {p50:?}, p99 {p99:?}, max {:?}",
        lat[lat.len() - 1]
    );
    // The goal is 1 s; a debug build on a busy CI machine gets this bound (see BENCHMARKS.md).
    assert!(p99 < Duration::from_secs(3), "p99 {p99:?}");
    // The mover leaves: node B's viewer sees it removed (a null state) right away.
    drop(mover_tx);
    drain.abort();
    let start = Instant::now();
    let gone = wait_presence(&mut viewer, 4242, 62, Duration::from_secs(5)).await;
    assert_eq!(
        gone.as_deref(),
        Some("null"),
        "the leaver's caret stayed on node B"
    );
    println!(
        "a client leaving node A was removed on node B in {:?}",
        start.elapsed()
    );
    for t in load {
        t.abort();
    }
    a.stop().await;
    b.stop().await;
    cluster.schema.drop().await;
}

/// A node killed with SIGKILL says nothing: its clients' entries expire on the other nodes at
/// 5/6 of the awareness TTL (25 s by default; 2.5 s here with a 3 s TTL).
#[tokio::test]
async fn a_killed_nodes_presence_expires_on_the_others() {
    let cluster = Cluster::new().await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ttl = ["--awareness-ttl-ms", "3000"];
    let mut a = cluster.node_with(da.path(), &ttl);
    let b = cluster.node_with(db.path(), &ttl);
    let mut on_a = raw_connect(a.addr, "p", false).await;
    on_a.send(awareness(7, 1, "{\"user\":{\"name\":\"Ada\"}}"))
        .await
        .unwrap();
    let mut viewer = raw_connect(b.addr, "p", false).await;
    assert!(wait_presence(&mut viewer, 7, 1, Duration::from_secs(5))
        .await
        .is_some());
    a.kill9();
    let start = Instant::now();
    let gone = wait_presence(&mut viewer, 7, 2, Duration::from_secs(10)).await;
    let waited = start.elapsed();
    assert_eq!(
        gone.as_deref(),
        Some("null"),
        "the killed node's caret stayed"
    );
    assert!(waited < Duration::from_secs(5), "expired after {waited:?}");
    println!("a killed node's caret expired on the other node after {waited:?} (TTL 3 s)");
    drop(b);
    cluster.schema.drop().await;
}
