//! The floor servers (issue 21): the least a server must do per update, with nothing else, so
//! that Tandem's CPU per delivery can be split into what its promises cost and what its own
//! structure costs. `tandem-bench serve-floor`, started by the fanout runs like any other server:
//!
//! - **relay**: what y-websocket does. Each update is applied to the document (a joiner's sync
//!   step 2 comes from it) and sent to every client of the document, its writer included.
//! - **durable** (`--durable`): the least a server keeping Tandem's promises does. Each update is
//!   appended to a log file and synced (group commit: a thread of its own writes whatever has
//!   arrived and makes one `fdatasync` for it) before it is sent to the others, and the writer
//!   gets an ack (`tandem.v1`'s, with the document's revision) instead of the relay's echo: the
//!   same number of sends per update as the relay.
//!
//! Both run on one thread (the log's thread aside), take no locks and check nothing: no
//! accounts, limits, schema or placement checks, no snapshots, presence or search. Never a
//! server for anything but these measurements.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::{Ext, Message};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Ws;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, StateVector, Transact, Update};

#[derive(clap::Args, Clone)]
pub struct FloorArgs {
    /// Log every update to this file, synced before it is relayed and acked
    #[arg(long)]
    durable: Option<PathBuf>,
}

/// An update on its way through the log's thread and back.
struct Logged {
    doc: Arc<str>,
    from: u64,
    frame: Bytes,
}

struct FloorDoc {
    ydoc: yrs::Doc,
    conns: Vec<(u64, mpsc::UnboundedSender<Bytes>)>,
    revision: u64,
}

#[derive(Default)]
struct State {
    docs: HashMap<Arc<str>, FloorDoc>,
    next_conn: u64,
}

type Shared = Rc<RefCell<State>>;

/// Serves until killed; prints `listening on PORT` once bound.
pub fn serve(args: FloorArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&rt, async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?.port());
        run(listener, args.durable).await
    })
}

/// Accepts connections for ever; must run inside a `LocalSet`.
async fn run(listener: TcpListener, durable: Option<PathBuf>) -> anyhow::Result<()> {
    let state: Shared = Rc::default();
    let log = match durable {
        Some(path) => Some(start_log(path, state.clone())?),
        None => None,
    };
    loop {
        let (stream, _) = listener.accept().await?;
        let (state, log) = (state.clone(), log.clone());
        tokio::task::spawn_local(async move {
            let _ = connection(stream, state, log).await;
        });
    }
}

/// The log's thread: appends whatever has arrived, syncs once, hands the batch back.
fn start_log(path: PathBuf, state: Shared) -> anyhow::Result<std::sync::mpsc::Sender<Logged>> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let (to_log, from_server) = std::sync::mpsc::channel::<Logged>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Vec<Logged>>();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        while let Ok(first) = from_server.recv() {
            let mut batch = vec![first];
            batch.extend(from_server.try_iter());
            buf.clear();
            for u in &batch {
                buf.extend_from_slice(&(u.frame.len() as u32).to_le_bytes());
                buf.extend_from_slice(&u.frame);
            }
            // A failed write or sync stops the log: nothing more is acked, and the run fails.
            if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
                eprintln!("floor: the log failed: {e}");
                return;
            }
            if done_tx.send(batch).is_err() {
                return;
            }
        }
    });
    tokio::task::spawn_local(async move {
        while let Some(batch) = done_rx.recv().await {
            let mut s = state.borrow_mut();
            for u in batch {
                if let Some(d) = s.docs.get_mut(&u.doc) {
                    d.revision += 1;
                    relay(d, Some(u.from), &u.frame);
                    let ack = Message::Ext(Ext::Ack {
                        revision: d.revision,
                    });
                    send_to(d, u.from, Bytes::from(ack.encode()));
                }
            }
        }
    });
    Ok(to_log)
}

/// Sends `frame` to the document's clients but `except`.
fn relay(d: &FloorDoc, except: Option<u64>, frame: &Bytes) {
    for (id, out) in &d.conns {
        if Some(*id) != except {
            let _ = out.send(frame.clone());
        }
    }
}

fn send_to(d: &FloorDoc, to: u64, frame: Bytes) {
    if let Some((_, out)) = d.conns.iter().find(|(id, _)| *id == to) {
        let _ = out.send(frame);
    }
}

async fn connection(
    stream: TcpStream,
    state: Shared,
    log: Option<std::sync::mpsc::Sender<Logged>>,
) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut path = String::new();
    // tungstenite's `Callback` fixes the error type (a whole HTTP response).
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| {
        path = req.uri().path().to_owned();
        if let Some(p) = req.headers().get("sec-websocket-protocol") {
            resp.headers_mut()
                .insert("sec-websocket-protocol", p.clone());
        }
        Ok(resp)
    };
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await?;
    let doc: Arc<str> = path.rsplit('/').next().unwrap_or_default().into();
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    let me = {
        let mut s = state.borrow_mut();
        s.next_conn += 1;
        let me = s.next_conn;
        let d = s.docs.entry(doc.clone()).or_insert_with(|| FloorDoc {
            ydoc: yrs::Doc::new(),
            conns: Vec::new(),
            revision: 0,
        });
        d.conns.push((me, out_tx.clone()));
        let sv = d.ydoc.transact().state_vector().encode_v1();
        let _ = out_tx.send(Bytes::from(Message::SyncStep1(sv).encode()));
        me
    };
    drop(out_tx);
    // The writer: whatever is queued, then one flush.
    let writer = tokio::task::spawn_local(async move {
        while let Some(first) = out_rx.recv().await {
            sink.feed(Ws::Binary(first)).await?;
            while let Ok(more) = out_rx.try_recv() {
                sink.feed(Ws::Binary(more)).await?;
            }
            sink.flush().await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    while let Some(frame) = source.next().await {
        let Ws::Binary(bytes) = frame? else { continue };
        let Ok(msg) = Message::decode(&bytes) else {
            continue;
        };
        let mut s = state.borrow_mut();
        let Some(d) = s.docs.get_mut(&doc) else { break };
        match msg {
            Message::SyncStep1(sv) => {
                let sv = StateVector::decode_v1(&sv).unwrap_or_default();
                let diff = d.ydoc.transact().encode_state_as_update_v1(&sv);
                send_to(d, me, Bytes::from(Message::SyncStep2(diff).encode()));
            }
            Message::SyncStep2(u) | Message::Update(u) => {
                let empty = u.len() <= 2;
                if let Ok(update) = Update::decode_v1(&u) {
                    let _ = d.ydoc.transact_mut().apply_update(update);
                }
                let frame = Bytes::from(Message::Update(u).encode());
                match &log {
                    None if !empty => relay(d, None, &frame), // y-websocket echoes it too
                    None => {}
                    Some(_) if empty => {
                        let ack = Message::Ext(Ext::Ack {
                            revision: d.revision,
                        });
                        send_to(d, me, Bytes::from(ack.encode()));
                    }
                    Some(log) => {
                        let _ = log.send(Logged {
                            doc: doc.clone(),
                            from: me,
                            frame,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(d) = state.borrow_mut().docs.get_mut(&doc) {
        d.conns.retain(|(id, _)| *id != me);
    }
    writer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::{connect, Rx};
    use crate::wire::Kind;
    use yrs::Text;

    async fn next_message(rx: &mut Rx) -> Message {
        loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(5), rx.next())
                .await
                .expect("a frame within 5 s")
                .expect("the socket open")
                .expect("a frame");
            if let Ws::Binary(b) = frame {
                return Message::decode(&b).expect("a message");
            }
        }
    }

    /// The durable floor keeps its one promise: an update is in the synced log before its ack
    /// and before the document's other clients get it; and the writer gets an ack, no echo.
    #[test]
    fn the_durable_floor_logs_an_update_before_it_is_acked_or_relayed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("log");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        tokio::task::LocalSet::new().block_on(&rt, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
            let addr = listener.local_addr().expect("an address").to_string();
            tokio::task::spawn_local(run(listener, Some(log.clone())));
            let (mut a_tx, mut a_rx, _) = connect(Kind::Floor, &addr, "d").await.expect("a");
            let (_b_tx, mut b_rx, _) = connect(Kind::Floor, &addr, "d").await.expect("b");
            // Each client's empty sync step 2 is acked at revision 0, without a log entry.
            assert_eq!(
                next_message(&mut a_rx).await,
                Message::Ext(Ext::Ack { revision: 0 })
            );
            assert_eq!(
                next_message(&mut b_rx).await,
                Message::Ext(Ext::Ack { revision: 0 })
            );

            let ydoc = yrs::Doc::with_client_id(7);
            let text = ydoc.get_or_insert_text("t");
            let update = {
                let mut txn = ydoc.transact_mut();
                text.insert(&mut txn, 0, "x");
                txn.encode_update_v1()
            };
            let frame = Message::Update(update.clone()).encode();
            a_tx.send(Ws::Binary(frame.clone().into()))
                .await
                .expect("sent");
            assert_eq!(
                next_message(&mut a_rx).await,
                Message::Ext(Ext::Ack { revision: 1 })
            );
            let logged = std::fs::read(&log).expect("the log");
            assert_eq!(logged[..4], (frame.len() as u32).to_le_bytes());
            assert_eq!(logged[4..], frame[..]);
            assert_eq!(next_message(&mut b_rx).await, Message::Update(update));
        });
    }
}
