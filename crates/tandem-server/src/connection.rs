//! The WebSocket glue: moves frames between one socket and the sync engine. It owns no sync
//! logic: [`Session`] checks and decodes what arrives, the document actor decides what to send,
//! and this task only reads, writes, pings and closes.
//!
//! Reading and writing run as two futures of one task so a client that stops reading can never
//! stall the reader, and neither ever holds a document lock across a socket write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::Ext;
use tandem_core::room::RoomMsg;
use tandem_core::session::{
    close, outbox, CloseReason, Closer, OutboxLimits, Session, SessionLimits,
};
use tracing::Instrument;

use crate::startup::AppState;

pub async fn serve(socket: WebSocket, doc: String, state: AppState) {
    let conn = state.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let span = tracing::debug_span!("conn", conn, doc_id = %doc);
    run(socket, doc, conn, state).instrument(span).await
}

async fn run(socket: WebSocket, doc: String, conn: u64, state: AppState) {
    let tandem = socket.protocol().is_some();
    let (mut sink, mut stream) = socket.split();
    if !tandem_core::valid_doc_name(&doc) {
        let reason = CloseReason::new(
            close::BAD_DOCUMENT,
            "invalid document name: use 1-128 characters of A-Z a-z 0-9 . _ -",
        );
        let _ = sink.send(close_msg(&reason)).await;
        return;
    }
    let s = &state.settings;
    let limits = OutboxLimits {
        max_messages: s.send_queue_messages,
        max_bytes: s.send_queue_bytes,
    };
    let (outbox, mut out_rx) = outbox(conn, tandem, limits);
    let closer = outbox.closer.clone();
    let room = match state.rooms.join(&doc, outbox.clone()).await {
        Ok(room) => room,
        Err(e) => {
            let _ = sink
                .send(close_msg(&CloseReason::new(
                    close::RESTARTING,
                    e.to_string(),
                )))
                .await;
            return;
        }
    };
    tracing::debug!(tandem, "joined");
    let mut session = Session::new(
        tandem,
        SessionLimits {
            max_message: s.max_message_bytes,
            rate_per_sec: s.rate_limit_per_sec,
            burst: s.rate_limit_burst,
        },
    );
    // Metric handles are looked up once per connection, not once per frame.
    let bytes_in = metrics::counter!("tandem_bytes_in_total");
    let bytes_out = metrics::counter!("tandem_bytes_out_total");
    let started = Instant::now();
    // Milliseconds since `started` at which the client last sent anything (pongs included).
    let last_seen = AtomicU64::new(0);
    let ping_every = s.ping_interval;

    let reader = async {
        // Created once and pinned, not once per frame. Shutdown reaches this connection through
        // its document actor, which sends the drain notice and closes it with 1012.
        let closed = closer.closed();
        tokio::pin!(closed);
        loop {
            let frame = tokio::select! {
                f = stream.next() => f,
                _ = &mut closed => break,
            };
            last_seen.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            let bytes = match frame {
                Some(Ok(WsMessage::Binary(b))) => b,
                Some(Ok(WsMessage::Text(_))) => {
                    reject(
                        &outbox,
                        CloseReason::new(
                            close::MALFORMED,
                            "text frames are not supported: send binary Yjs messages",
                        ),
                    );
                    break;
                }
                Some(Ok(WsMessage::Close(_))) | None => break,
                Some(Ok(_)) => continue, // ping/pong: tungstenite answers pings itself
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "read error");
                    if is_capacity(&e) {
                        let max = state.settings.max_message_bytes;
                        reject(
                            &outbox,
                            CloseReason::new(
                                close::TOO_BIG,
                                format!("message larger than {max} bytes"),
                            ),
                        );
                        linger(&mut stream).await;
                    } else {
                        closer.close(CloseReason::new(close::MALFORMED, "protocol error"));
                    }
                    break;
                }
            };
            bytes_in.increment(bytes.len() as u64);
            match session.handle(bytes) {
                Ok(Some(msg)) => {
                    let sent = tokio::select! {
                        ok = room.send(RoomMsg::Inbound { conn, msg }) => ok,
                        _ = &mut closed => break,
                    };
                    if !sent {
                        closer.close(CloseReason::new(
                            close::RESTARTING,
                            "document closed: reconnect",
                        ));
                        break;
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    tracing::debug!(code = reason.code, reason = %reason.reason, "closing connection");
                    reject(&outbox, reason);
                    break;
                }
            }
        }
        // However the reader ended (peer gone, bad input, shutdown), the writer ends too.
        closer.close(CloseReason::new(1000, "closing"));
    };

    let writer = async {
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let closed = closer.closed();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                frame = out_rx.recv() => {
                    let Some(frame) = frame else { break };
                    let mut batch = vec![frame];
                    while batch.len() < 64 {
                        let Some(f) = out_rx.try_recv() else { break };
                        batch.push(f);
                    }
                    let write = write_all(&mut sink, batch, &bytes_out);
                    tokio::pin!(write);
                    let sent = tokio::select! {
                        biased;
                        r = &mut write => r.is_ok(),
                        // Closing mid-write: finish it (it may be the drain notice) unless this
                        // client is being dropped for being too slow to take it.
                        _ = &mut closed => {
                            closer.reason().is_some_and(|r| r.code != close::TOO_SLOW)
                                && matches!(tokio::time::timeout(Duration::from_secs(1), &mut write).await, Ok(Ok(())))
                        }
                    };
                    if !sent {
                        break;
                    }
                }
                _ = ping.tick() => {
                    let silent = started.elapsed().as_millis() as u64 - last_seen.load(Ordering::Relaxed);
                    if silent > 2 * ping_every.as_millis() as u64 {
                        closer.close(CloseReason::new(1001, "heartbeat timeout"));
                        break;
                    }
                    if sink.send(WsMessage::Ping(Bytes::new())).await.is_err() {
                        break;
                    }
                }
                _ = &mut closed => break,
            }
        }
        finish(&mut sink, &mut out_rx, &closer, &bytes_out).await;
    };

    tokio::join!(reader, writer);
    let _ = room.send(RoomMsg::Leave { conn }).await;
    tracing::debug!(reason = ?closer.reason(), "connection closed");
}

/// Tells a tandem.v1 client why (structured error), then closes with the code.
fn reject(outbox: &tandem_core::session::Outbox, reason: CloseReason) {
    outbox.send_ext(Ext::Error {
        code: reason.code as u32,
        message: reason.reason.clone(),
    });
    outbox.closer.close(reason);
}

async fn write_all<S>(
    sink: &mut S,
    frames: Vec<Bytes>,
    bytes_out: &metrics::Counter,
) -> Result<(), axum::Error>
where
    S: SinkExt<WsMessage, Error = axum::Error> + Unpin,
{
    let mut out = 0;
    for f in frames {
        out += f.len();
        sink.feed(WsMessage::Binary(f)).await?;
    }
    bytes_out.increment(out as u64);
    sink.flush().await
}

/// Sends what is still queued (unless the client is too slow to take it) and the close frame.
async fn finish<S>(
    sink: &mut S,
    out_rx: &mut tandem_core::session::OutboxReceiver,
    closer: &Closer,
    bytes_out: &metrics::Counter,
) where
    S: SinkExt<WsMessage, Error = axum::Error> + Unpin,
{
    let reason = closer
        .reason()
        .cloned()
        .unwrap_or_else(|| CloseReason::new(1000, ""));
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if reason.code != close::TOO_SLOW {
            let mut rest = Vec::new();
            while let Some(f) = out_rx.try_recv() {
                rest.push(f);
            }
            write_all(sink, rest, bytes_out).await?;
        }
        sink.send(close_msg(&reason)).await
    })
    .await;
}

/// After refusing an oversized frame its payload is still unread; closing the socket now would
/// reset the connection and destroy our close frame before the client reads it. So read and
/// discard for a moment, until the client answers the close or goes away.
async fn linger<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<WsMessage, axum::Error>> + Unpin,
{
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match stream.next().await {
                Some(Ok(WsMessage::Close(_))) => break,
                Some(Ok(_)) => {}
                // The stream may give up after the error; hold the socket open regardless.
                Some(Err(_)) | None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
}

fn close_msg(reason: &CloseReason) -> WsMessage {
    WsMessage::Close(Some(CloseFrame {
        code: reason.code,
        reason: reason.reason.as_str().into(),
    }))
}

fn is_capacity(e: &axum::Error) -> bool {
    // axum does not expose tungstenite's error type; its message names the limit.
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}
