//! Tiptap's Hocuspocus provider (`@hocuspocus/provider` 3.x and later), unmodified, on
//! `/hocuspocus`. Its protocol puts a document name in front of every message, so one socket
//! carries several documents:
//!
//! ```text
//! frame   = varString(document) varUint(type) payload
//! type    = 0 sync | 1 awareness | 2 auth | 3 query awareness | 5 stateless | 7 close
//!         | 8 sync status (server → client: varInt 1 = saved)
//! auth    = varUint(0 token) varString(token) [varString(provider version)]     client → server
//!         | varUint(1 permission denied) varString(reason)                      server → client
//!         | varUint(2 authenticated) varString("read-write" | "readonly")       server → client
//! ```
//!
//! Types 0, 1 and 3 are y-websocket's own, byte for byte. So each document the client opens
//! becomes one ordinary connection of this server (the same authentication with the token from
//! the auth message, the same gate, roles, limits, live revocation and actor), fed the frames
//! addressed to it; what that connection sends goes back with the name in front. Its acks
//! become sync-status messages: the provider counts one per update or sync step 2 it sent, so
//! its "unsynced changes" reach 0 only when everything it sent is durable, as Tandem's "Saved".
//!
//! A document the client closes (type 7) leaves alone. A refusal of access is the provider's
//! permission-denied for that document; anything after which the client must reconnect (a
//! drain, an expired token, a refused update) closes the socket with the usual code, and the
//! provider reconnects every document on it. Stateless messages go to the document's other
//! Hocuspocus connections on this node. Each ping interval without traffic, each open document
//! gets an empty awareness message, because the provider reconnects after 30 s of silence and
//! WebSocket pings do not reach it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::socket::{feed_binary, Socket, WsError, WsMessage};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::{Ext, Message, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC};
use tandem_core::session::{close, Can, CloseReason};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;

use super::writer::Writer;
use super::{close_msg, Connection, Heartbeat, Peer};
use crate::startup::AppState;

const AUTH: u32 = 2;
const STATELESS: u32 = 5;
const CLOSE: u32 = 7;
const SYNC_STATUS: u32 = 8;
const PONG: u8 = 10;
const AUTH_TOKEN: u32 = 0;
const PERMISSION_DENIED: u32 = 1;
const AUTHENTICATED: u32 = 2;

/// Messages a document may have waiting for its auth message.
const MAX_WAITING: usize = 32;
/// Documents one socket may have open at once.
const MAX_DOCS: usize = 64;

/// The documents' Hocuspocus connections on this node, for stateless messages.
#[derive(Default, Clone)]
pub struct Stateless {
    by_doc: Arc<Mutex<HashMap<String, Vec<Member>>>>,
}

impl Stateless {
    fn add(&self, doc: &str, id: u64, out: mpsc::Sender<Out>) {
        let mut m = self.by_doc.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(doc.to_owned()).or_default().push((id, out));
    }

    fn remove(&self, doc: &str, id: u64) {
        let mut m = self.by_doc.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = m.get_mut(doc) {
            v.retain(|(i, _)| *i != id);
            if v.is_empty() {
                m.remove(doc);
            }
        }
    }

    /// Sends `payload` to every other connection to `doc`; one that cannot take it now misses it.
    fn relay(&self, doc: &str, from: u64, payload: &str) {
        let m = self.by_doc.lock().unwrap_or_else(|p| p.into_inner());
        let frame = Bytes::from(head(doc, STATELESS, |b| b.write_string(payload)));
        for (id, out) in m.get(doc).into_iter().flatten() {
            if *id != from {
                let _ = out.try_send(Out::Frame(frame.clone()));
            }
        }
    }
}

/// A connection to a document: its id and its socket's writer.
type Member = (u64, mpsc::Sender<Out>);

/// What the socket's writer is asked to do.
enum Out {
    Frame(Bytes),
    Joined(String),
    /// A document's connection ended, with its reason.
    Left(String, CloseReason),
}

/// One open document on the socket: where its frames go.
struct Link {
    id: u64,
    inbound: mpsc::Sender<Result<WsMessage, WsError>>,
}

pub async fn serve(socket: Socket, ip: Option<IpAddr>, state: AppState) {
    let (sink, mut stream) = socket.split();
    let heartbeat = Arc::new(Heartbeat::new());
    let (out, out_rx) = mpsc::channel::<Out>(256);
    let done = CancellationToken::new();
    let writer = tokio::spawn(write(
        sink,
        out_rx,
        state.settings.ping_interval,
        done.clone(),
    ));
    let (gone_tx, mut gone) = mpsc::unbounded_channel::<(String, u64)>();
    let mut docs: HashMap<String, Link> = HashMap::new();
    let mut waiting: HashMap<String, Vec<Bytes>> = HashMap::new();
    // Documents whose connection ended (refused, revoked, closed): what the provider still sends
    // for them is dropped until it authenticates again.
    let mut ended: HashSet<String> = HashSet::new();
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            Some((doc, id)) = gone.recv() => {
                if docs.get(&doc).is_some_and(|l| l.id == id) {
                    docs.remove(&doc);
                    ended.insert(doc);
                }
                continue;
            }
            _ = done.cancelled() => break,
        };
        heartbeat.seen();
        let bytes = match frame {
            Some(Ok(WsMessage::Binary(b))) => b,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(WsMessage::Text(_))) => {
                let why = CloseReason::new(close::MALFORMED, "text frames are not supported");
                let _ = out.send(Out::Left(String::new(), why)).await;
                break;
            }
            Some(Ok(_)) => continue,
        };
        if bytes.as_ref() == [PONG] {
            continue;
        }
        let Some((doc, kind, at)) = parse_head(&bytes) else {
            let why = CloseReason::new(close::MALFORMED, "malformed Hocuspocus message");
            let _ = out.send(Out::Left(String::new(), why)).await;
            break;
        };
        match kind {
            AUTH => {
                let mut cur = Cursor::new(&bytes[at..]);
                let token = match cur.read_var::<u32>() {
                    Ok(AUTH_TOKEN) => cur.read_string().unwrap_or_default().to_owned(),
                    _ => continue,
                };
                if let Some(link) = docs.get(&doc) {
                    // A fresh token in band (the provider sends one when asked or on refresh).
                    let refresh = Message::Ext(Ext::Auth { token }).encode();
                    let _ = link
                        .inbound
                        .send(Ok(WsMessage::Binary(refresh.into())))
                        .await;
                    continue;
                }
                if docs.len() >= MAX_DOCS {
                    let why = "too many documents on one connection";
                    let _ = out.send(Out::Frame(denied(&doc, why))).await;
                    continue;
                }
                ended.remove(&doc);
                let id = state.next_conn_id.fetch_add(1, Ordering::Relaxed);
                let (inbound, rx) = mpsc::channel(64);
                for early in waiting.remove(&doc).into_iter().flatten() {
                    let _ = inbound.try_send(Ok(WsMessage::Binary(early)));
                }
                docs.insert(doc.clone(), Link { id, inbound });
                let task = Open {
                    doc,
                    token,
                    ip,
                    id,
                    rx,
                    state: state.clone(),
                    out: out.clone(),
                };
                let gone = gone_tx.clone();
                let heartbeat = heartbeat.clone();
                state.tracker.spawn(async move {
                    let doc = task.run(&heartbeat).await;
                    let _ = gone.send((doc, id));
                });
            }
            MSG_SYNC | MSG_AWARENESS | MSG_QUERY_AWARENESS => {
                // From the type on, the frame is a y-websocket message.
                let inner = bytes.slice(at - var_len(kind)..);
                match docs.get(&doc) {
                    Some(link) => {
                        let _ = link.inbound.send(Ok(WsMessage::Binary(inner))).await;
                    }
                    None if ended.contains(&doc) => {}
                    None => {
                        let full = waiting.len() >= MAX_WAITING && !waiting.contains_key(&doc);
                        let w = waiting.entry(doc).or_default();
                        if full || w.len() >= MAX_WAITING {
                            let why = CloseReason::new(
                                close::RATE_LIMITED,
                                "too many messages before the auth message",
                            );
                            let _ = out.send(Out::Left(String::new(), why)).await;
                            break;
                        }
                        w.push(inner);
                    }
                }
            }
            STATELESS => {
                if let Some(link) = docs.get(&doc) {
                    let mut cur = Cursor::new(&bytes[at..]);
                    if let Ok(payload) = cur.read_string() {
                        state.hocuspocus.relay(&doc, link.id, payload);
                    }
                }
            }
            // The provider closed this document (destroyed or detached).
            CLOSE => {
                docs.remove(&doc);
                waiting.remove(&doc);
                ended.insert(doc);
            }
            other => tracing::debug!(kind = other, "ignored a Hocuspocus message"),
        }
    }
    // Every document's stream ends, so each leaves; then the writer ends.
    docs.clear();
    drop(out);
    let _ = writer.await;
}

/// A document the client authenticated for, about to join.
struct Open {
    doc: String,
    token: String,
    ip: Option<IpAddr>,
    id: u64,
    rx: mpsc::Receiver<Result<WsMessage, WsError>>,
    state: AppState,
    out: mpsc::Sender<Out>,
}

impl Open {
    /// Joins as any connection would, then runs until either side ends it. Returns the name.
    async fn run(self, heartbeat: &Heartbeat) -> String {
        let Open {
            doc,
            token,
            ip,
            id,
            mut rx,
            state,
            out,
        } = self;
        let mut stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let peer = Peer {
            doc: doc.clone(),
            query_token: Some(token),
            ip,
            // The socket's permit is held by the socket's task, for all its documents.
            permit: None,
            tandem: true,
        };
        let hub = state.hocuspocus.clone();
        let (mut conn, out_rx) = match Connection::join(id, peer, true, &mut stream, state.clone())
            .await
        {
            Ok(joined) => joined,
            Err(reason) => {
                tracing::debug!(code = reason.code, reason = %reason.reason, "hocuspocus: refused");
                let m = match reason.code {
                    close::UNAUTHORIZED | close::FORBIDDEN | close::BAD_DOCUMENT => {
                        Out::Frame(denied(&doc, &reason.reason))
                    }
                    // Busy or restarting: the provider reconnects, and tries again.
                    _ => Out::Left(String::new(), reason),
                };
                let _ = out.send(m).await;
                return doc;
            }
        };
        let scope = match conn.right.get() {
            Can::Edit | Can::Suggest => "read-write",
            Can::Read => "readonly",
        };
        let ok = head(&doc, AUTH, |b| {
            b.write_var(AUTHENTICATED);
            b.write_string(scope);
        });
        let _ = out.send(Out::Frame(ok.into())).await;
        let _ = out.send(Out::Joined(doc.clone())).await;
        hub.add(&doc, id, out.clone());
        let writer = Writer {
            closer: conn.outbox.closer.clone(),
            ping_every: state.settings.ping_interval,
            bytes_out: metrics::counter!("tandem_bytes_out_total"),
        };
        let mut sink = Box::pin(addressed(doc.clone(), out));
        tokio::join!(
            conn.read(&mut stream, heartbeat),
            writer.write(&mut sink, out_rx, heartbeat)
        );
        hub.remove(&doc, id);
        conn.room.leave(id).await;
        doc
    }
}

/// The sink a document's connection writes to: its frames with the name in front, its acks as
/// sync-status messages, its close as [`Out::Left`]. Pings are the socket's business.
fn addressed(
    doc: String,
    out: mpsc::Sender<Out>,
) -> impl futures_util::Sink<WsMessage, Error = WsError> {
    futures_util::sink::unfold((doc, out), |(doc, out), msg: WsMessage| async move {
        let sent = match msg {
            WsMessage::Binary(b) => match b.first().copied().map(u32::from) {
                Some(MSG_SYNC | MSG_AWARENESS | MSG_QUERY_AWARENESS) => {
                    let mut f = Vec::with_capacity(doc.len() + 1 + b.len());
                    f.write_string(&doc);
                    f.extend_from_slice(&b);
                    Some(Out::Frame(f.into()))
                }
                _ => match Message::decode(&b) {
                    Ok(Message::Ext(Ext::Ack { .. })) => {
                        let saved = head(&doc, SYNC_STATUS, |f| f.write_var(1u32));
                        Some(Out::Frame(saved.into()))
                    }
                    // Hello, notices, errors (the close that follows says it all).
                    _ => None,
                },
            },
            WsMessage::Close(frame) => {
                let reason = frame.map_or_else(
                    || CloseReason::new(1000, ""),
                    |f| CloseReason::new(u16::from(f.code), f.reason.to_string()),
                );
                Some(Out::Left(doc.clone(), reason))
            }
            _ => None,
        };
        if let Some(m) = sent {
            out.send(m)
                .await
                .map_err(|_| WsError::Io(std::io::Error::other("the socket is gone")))?;
        }
        Ok((doc, out))
    })
}

/// The socket's one writer: frames from every document, keepalives, pings, and the close.
async fn write(
    mut sink: futures_util::stream::SplitSink<Socket, WsMessage>,
    mut rx: mpsc::Receiver<Out>,
    ping_every: Duration,
    done: CancellationToken,
) {
    let mut open: HashSet<String> = HashSet::new();
    // The provider must hear something every 30 s; the ping interval is well inside that.
    let mut keepalive = tokio::time::interval(ping_every);
    let mut ping = tokio::time::interval(ping_every);
    let mut quiet = true;
    let bytes_out = metrics::counter!("tandem_bytes_out_total");
    let end = loop {
        let r = tokio::select! {
            m = rx.recv() => match m {
                None => break None,
                Some(Out::Frame(b)) => {
                    quiet = false;
                    bytes_out.increment(b.len() as u64);
                    match feed_binary(&mut sink, b).await {
                        Ok(()) => sink.flush().await,
                        Err(e) => Err(e),
                    }
                }
                Some(Out::Joined(doc)) => {
                    open.insert(doc);
                    Ok(())
                }
                Some(Out::Left(doc, reason)) => {
                    open.remove(&doc);
                    match reason.code {
                        // The client closed it: the socket stays.
                        1000 if !doc.is_empty() => Ok(()),
                        // Its access was revoked or the document deleted: that document only.
                        close::FORBIDDEN if !doc.is_empty() => {
                            sink.send(WsMessage::Binary(denied(&doc, &reason.reason))).await
                        }
                        _ => break Some(reason),
                    }
                }
            },
            _ = keepalive.tick() => {
                if std::mem::replace(&mut quiet, true) {
                    for doc in &open {
                        // An awareness update about no one: the provider applies nothing.
                        let frame = head(doc, MSG_AWARENESS, |b| b.write_buf([0u8]));
                        if sink.feed(WsMessage::Binary(frame.into())).await.is_err() {
                            break;
                        }
                    }
                    sink.flush().await
                } else {
                    Ok(())
                }
            }
            _ = ping.tick() => sink.send(WsMessage::Ping(Bytes::new())).await,
        };
        if r.is_err() {
            break None;
        }
    };
    if let Some(reason) = end {
        tracing::debug!(code = reason.code, reason = %reason.reason, "hocuspocus: closing the socket");
        let _ = sink.send(close_msg(&reason)).await;
    }
    done.cancel();
}

/// Permission denied for `doc`, with the reason.
fn denied(doc: &str, why: &str) -> Bytes {
    let frame = head(doc, AUTH, |b| {
        b.write_var(PERMISSION_DENIED);
        b.write_string(why);
    });
    frame.into()
}

/// `varString(doc) varUint(kind)` then what `body` writes.
fn head(doc: &str, kind: u32, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = Vec::with_capacity(doc.len() + 16);
    b.write_string(doc);
    b.write_var(kind);
    body(&mut b);
    b
}

/// The document name, the type, and where the payload starts.
fn parse_head(bytes: &[u8]) -> Option<(String, u32, usize)> {
    let mut cur = Cursor::new(bytes);
    let doc = cur.read_string().ok()?.to_owned();
    let kind = cur.read_var::<u32>().ok()?;
    Some((doc, kind, cur.next))
}

/// Bytes a varUint takes.
fn var_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_and_the_payload_starts_after_them() {
        let f = head("notes", MSG_SYNC, |b| b.write_all(&[0u8, 1, 2]));
        let (doc, kind, at) = parse_head(&f).unwrap();
        assert_eq!(
            (doc.as_str(), kind, &f[at..]),
            ("notes", MSG_SYNC, &[0u8, 1, 2][..])
        );
        assert_eq!(&f[at - var_len(kind)..], &[0u8, 0, 1, 2][..]);
        assert!(parse_head(&[0xff]).is_none());
        assert_eq!((var_len(0), var_len(127), var_len(128)), (1, 1, 2));
    }
}
