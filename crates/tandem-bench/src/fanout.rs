//! The fanout scenario: D documents × C clients, each writer inserting one character at a fixed
//! rate; every client reads everything. Measures send → each receiver and send → last receiver
//! latency, deliveries per second, completeness, and (for Tandem) ack latency; then checks that a
//! late joiner converges to exactly what was written.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tandem_core::protocol::{Ext, Message, SUBPROTOCOL};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Ws;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, Text, Transact};

use crate::wire::{update_id, Kind};

#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub docs: usize,
    pub clients: usize,
    /// Inserts per second per writing client.
    pub rate: f64,
    pub duration: Duration,
    /// Share of each document's clients that only listen.
    pub listeners: f64,
    /// Insert at a random position of the writer's own text instead of at its end.
    pub random_position: bool,
    /// Decode every received update to credit each (client, clock) it holds (merged updates
    /// from another node); otherwise read the first id from the header, which is cheaper.
    pub exact_ids: bool,
}

pub struct FanoutResult {
    pub fanout_us: Histogram<u64>,
    /// With several nodes: deliveries to a client on the writer's node, and on another node.
    pub same_node_us: Histogram<u64>,
    pub cross_node_us: Histogram<u64>,
    pub last_us: Histogram<u64>,
    pub ack_us: Histogram<u64>,
    pub deliveries: u64,
    pub expected: u64,
    pub sent: u64,
    pub elapsed: Duration,
    pub late_joiner_ok: bool,
}

/// Send times (ns since start, 0 = not sent) and receipt counts per writer, indexed by clock.
struct Board {
    start: Instant,
    sent_ns: Vec<Vec<AtomicU64>>,
    receipts: Vec<Vec<AtomicU32>>,
    /// Receivers per writer (clients in its document minus itself).
    receivers: Vec<u32>,
    /// The node each client is connected to.
    node: Vec<usize>,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds")
}

/// Runs the scenario with each document's clients spread over `addrs` round-robin (no affinity:
/// with two nodes, half of every writer's receivers are on the other node).
pub async fn run(kind: Kind, addrs: &[String], sc: Scenario) -> anyhow::Result<FanoutResult> {
    let addr = addrs[0].as_str();
    let writers_per_doc =
        sc.clients - ((sc.clients as f64 * sc.listeners).round() as usize).min(sc.clients);
    let per_writer = (sc.rate * sc.duration.as_secs_f64() * 1.5) as usize + 16;
    let total = sc.docs * sc.clients;
    let board = Arc::new(Board {
        start: Instant::now(),
        sent_ns: (0..total)
            .map(|_| (0..per_writer).map(|_| AtomicU64::new(0)).collect())
            .collect(),
        receipts: (0..total)
            .map(|_| (0..per_writer).map(|_| AtomicU32::new(0)).collect())
            .collect(),
        receivers: vec![(sc.clients - 1) as u32; total],
        node: (0..total).map(|i| (i % sc.clients) % addrs.len()).collect(),
    });
    // Connect and sync everyone before anyone writes.
    let mut conns = Vec::with_capacity(total);
    for d in 0..sc.docs {
        for c in 0..sc.clients {
            let doc = format!("fanout-{d}");
            conns.push(connect(kind, &addrs[c % addrs.len()], &doc).await?);
        }
    }
    let begin = Instant::now() + Duration::from_millis(200);
    let end = begin + sc.duration;
    let mut tasks = Vec::with_capacity(total);
    for (i, (tx, rx, doc)) in conns.into_iter().enumerate() {
        let writes = i % sc.clients < writers_per_doc;
        let board = board.clone();
        tasks.push(tokio::spawn(client(
            kind, i, doc, tx, rx, writes, sc, begin, end, board,
        )));
    }
    let mut out = FanoutResult {
        fanout_us: hist(),
        same_node_us: hist(),
        cross_node_us: hist(),
        last_us: hist(),
        ack_us: hist(),
        deliveries: 0,
        expected: 0,
        sent: 0,
        elapsed: sc.duration,
        late_joiner_ok: true,
    };
    let mut sent_per_writer = vec![0u64; total];
    let mut open = Vec::with_capacity(total);
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await??;
        open.push(r.conn);
        out.fanout_us.add(&r.stats.fanout)?;
        out.same_node_us.add(&r.stats.same)?;
        out.cross_node_us.add(&r.stats.cross)?;
        out.last_us.add(&r.stats.last)?;
        out.ack_us.add(&r.stats.ack)?;
        out.deliveries += r.stats.deliveries;
        sent_per_writer[i] = r.sent;
        out.sent += r.sent;
    }
    out.expected = sent_per_writer
        .iter()
        .enumerate()
        .map(|(i, s)| s * board.receivers[i] as u64)
        .sum();
    // A late joiner per document (up to 5) must see exactly every insert.
    for d in 0..sc.docs.min(5) {
        let doc = format!("fanout-{d}");
        let sv = late_joiner_state(kind, addr, &doc).await?;
        for c in 0..sc.clients {
            let w = d * sc.clients + c;
            if sv.get(&yrs::block::ClientID::new(w as u64 + 1)) as u64 != sent_per_writer[w] {
                out.late_joiner_ok = false;
            }
        }
    }
    drop(open);
    Ok(out)
}

pub(crate) type Tx = futures_util::stream::SplitSink<crate::wire::Socket, Ws>;
pub(crate) type Rx = futures_util::stream::SplitStream<crate::wire::Socket>;

/// Opens a socket (Nagle off, `tandem.v1` for the servers that ack) and sends the preamble and
/// sync step 1.
pub(crate) async fn open(kind: Kind, addr: &str, doc: &str) -> anyhow::Result<(Tx, Rx)> {
    let mut req = kind.url(addr, doc).into_client_request()?;
    if kind.acks() {
        req.headers_mut()
            .insert("sec-websocket-protocol", SUBPROTOCOL.parse()?);
    }
    // tungstenite's default read buffer is 128 KiB, zeroed when the socket is made: page faults
    // and a memset per connection that were most of the generator's CPU while opening idle
    // connections (`perf record` of `tandem-bench idle`), for every server alike.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
    let (mut tx, rx) = ws.split();
    for m in kind.preamble(doc) {
        tx.send(Ws::Binary(m.into())).await?;
    }
    tx.send(Ws::Binary(
        kind.frame(doc, &Message::SyncStep1(vec![0]).encode())
            .into(),
    ))
    .await?;
    Ok((tx, rx))
}

/// Connects, sends the preamble and sync step 1, answers the server's step 1 with an empty
/// step 2, and returns once the server's step 2 arrived.
pub async fn connect(kind: Kind, addr: &str, doc: &str) -> anyhow::Result<(Tx, Rx, String)> {
    let (mut tx, mut rx) = open(kind, addr, doc).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let frame = tokio::time::timeout_at(deadline, rx.next()).await?;
        let Some(frame) = frame else {
            anyhow::bail!("closed during sync")
        };
        let Ws::Binary(b) = frame? else { continue };
        let Some(m) = kind.unframe(&b) else { continue };
        match Message::decode(&m) {
            Ok(Message::SyncStep1(_)) => {
                let step2 = kind.frame(doc, &Message::SyncStep2(vec![0, 0]).encode());
                tx.send(Ws::Binary(step2.into())).await?;
            }
            Ok(Message::SyncStep2(_)) => break,
            _ => {}
        }
    }
    Ok((tx, rx, doc.to_string()))
}

struct ClientResult {
    /// The connection, kept open until the late-joiner check (some servers drop a document's
    /// content when its last client leaves).
    conn: (Tx, Rx),
    stats: Stats,
    sent: u64,
}

#[allow(clippy::too_many_arguments)]
async fn client(
    kind: Kind,
    me: usize,
    doc: String,
    mut tx: Tx,
    mut rx: Rx,
    writes: bool,
    sc: Scenario,
    begin: Instant,
    end: Instant,
    board: Arc<Board>,
) -> anyhow::Result<ClientResult> {
    let client_id = me as u64 + 1;
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let (board, sent, doc) = (board.clone(), sent.clone(), doc.clone());
        tokio::spawn(async move {
            if !writes {
                return Ok::<_, anyhow::Error>(tx);
            }
            let ydoc = yrs::Doc::with_client_id(client_id);
            let text = ydoc.get_or_insert_text("t");
            let gap = Duration::from_secs_f64(1.0 / sc.rate);
            // Spread writers' phases over one gap so they do not fire in lockstep.
            let mut next = begin + gap.mul_f64(rand::random::<f64>());
            let mut len = 0u32;
            let capacity = board.sent_ns[me].len();
            while next < end && (len as usize) < capacity {
                tokio::time::sleep_until(next.into()).await;
                let at = if sc.random_position {
                    rand::random_range(0..=len)
                } else {
                    len
                };
                let update = {
                    let mut txn = ydoc.transact_mut();
                    text.insert(&mut txn, at, "x");
                    txn.encode_update_v1()
                };
                board.sent_ns[me][len as usize]
                    .store(board.start.elapsed().as_nanos() as u64, Ordering::Release);
                tx.send(Ws::Binary(
                    kind.frame(&doc, &Message::Update(update).encode()).into(),
                ))
                .await?;
                len += 1;
                sent.store(len as u64, Ordering::Release);
                next += gap;
            }
            Ok(tx)
        })
    };
    let mut r = Stats {
        fanout: hist(),
        same: hist(),
        cross: hist(),
        last: hist(),
        ack: hist(),
        deliveries: 0,
    };
    let mut acks = 0u64;
    let mut skipped_sync_ack = false;
    // Read until the end, then until nothing arrives for a second (stragglers).
    loop {
        let now = Instant::now();
        let wait = if now < end {
            end - now + Duration::from_secs(1)
        } else {
            Duration::from_secs(1)
        };
        let Ok(frame) = tokio::time::timeout(wait, rx.next()).await else {
            break;
        };
        let Some(frame) = frame else { break };
        let Ws::Binary(b) = frame? else { continue };
        let received_ns = board.start.elapsed().as_nanos() as u64;
        let Some(m) = kind.unframe(&b) else { continue };
        match Message::decode(&m) {
            Ok(Message::Update(u)) => {
                let ids = if sc.exact_ids {
                    all_ids(&u)
                } else {
                    update_id(&u).into_iter().collect()
                };
                for (client, clock) in ids {
                    if client == client_id || client == 0 {
                        continue; // our own echo (stock servers)
                    }
                    let w = (client - 1) as usize;
                    let (Some(sent_at), Some(count)) = (
                        board.sent_ns.get(w).and_then(|v| v.get(clock as usize)),
                        board.receipts.get(w).and_then(|v| v.get(clock as usize)),
                    ) else {
                        continue;
                    };
                    let lat = received_ns.saturating_sub(sent_at.load(Ordering::Acquire)) / 1000;
                    r.fanout.record(lat.max(1))?;
                    if board.node[w] == board.node[me] {
                        r.same.record(lat.max(1))?;
                    } else {
                        r.cross.record(lat.max(1))?;
                    }
                    r.deliveries += 1;
                    if count.fetch_add(1, Ordering::AcqRel) + 1 == board.receivers[w] {
                        r.last.record(lat.max(1))?;
                    }
                }
            }
            Ok(Message::Ext(Ext::Ack { .. })) => {
                if !skipped_sync_ack {
                    skipped_sync_ack = true; // the ack of our empty sync step 2
                    continue;
                }
                if let Some(at) = board.sent_ns[me].get(acks as usize) {
                    r.ack.record(
                        (received_ns.saturating_sub(at.load(Ordering::Acquire)) / 1000).max(1),
                    )?;
                }
                acks += 1;
            }
            _ => {}
        }
        if Instant::now() > end + Duration::from_secs(10) {
            break;
        }
    }
    let tx = writer.await??;
    let sent = sent.load(Ordering::Acquire);
    Ok(ClientResult {
        conn: (tx, rx),
        stats: r,
        sent,
    })
}

/// Every (client, clock) an update inserts.
fn all_ids(update: &[u8]) -> Vec<(u64, u64)> {
    let Ok(u) = yrs::Update::decode_v1(update) else {
        return vec![];
    };
    let mut out = vec![];
    for (client, ranges) in u.insertions(true).iter() {
        for r in ranges.iter() {
            out.extend((r.start..r.end).map(|c| (client.get(), c as u64)));
        }
    }
    out
}

/// One client's latencies (µs) and how many updates reached it.
struct Stats {
    fanout: Histogram<u64>,
    same: Histogram<u64>,
    cross: Histogram<u64>,
    last: Histogram<u64>,
    ack: Histogram<u64>,
    deliveries: u64,
}

/// Joins late and returns the state vector after a full sync (applying everything received).
async fn late_joiner_state(kind: Kind, addr: &str, doc: &str) -> anyhow::Result<yrs::StateVector> {
    let (mut tx, mut rx) = open(kind, addr, doc).await?;
    let ydoc = yrs::Doc::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), rx.next()).await?;
        let Some(frame) = frame else {
            anyhow::bail!("closed during late sync")
        };
        let Ws::Binary(b) = frame? else { continue };
        let Some(m) = kind.unframe(&b) else { continue };
        if let Ok(Message::SyncStep2(u)) = Message::decode(&m) {
            ydoc.transact_mut()
                .apply_update(yrs::Update::decode_v1(&u)?)?;
            break;
        }
    }
    let _ = tx.close().await;
    let sv = ydoc.transact().state_vector();
    Ok(sv)
}
