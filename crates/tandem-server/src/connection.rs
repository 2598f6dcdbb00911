//! The WebSocket glue: moves frames between one socket and the sync engine. It owns no sync
//! logic: [`Session`] checks and decodes what arrives, the document actor decides what to send,
//! and this task only reads, writes, pings and closes.
//!
//! Reading and writing run as two futures of one task so a client that stops reading can never
//! stall the reader, and neither ever holds a document lock across a socket write.
//!
//! Before joining, a connection is authenticated (the `tandem.v1` auth message as its first
//! frame, or a stock client's `?token=`) and authorized (a role on the document; below editor it
//! is read-only). While open, it closes with 4401 when its access token expires unless the client
//! sent a fresh one in band, and [`crate::auth::live`] can close it or make it read-only at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::{Ext, Message};
use tandem_core::room::RoomMsg;
use tandem_core::session::{
    close, outbox, CloseReason, Closer, Inbound, OutboxLimits, Session, SessionLimits,
};
use tracing::Instrument;

use crate::auth::live::LiveConn;
use crate::auth::{AuthFailure, Principal};
use crate::startup::AppState;

/// How long a `tandem.v1` client has to send its auth message after the upgrade.
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

/// A join holds its place in the [`crate::auth::gate`] until its first two messages (the sync
/// exchange) are through, or this long, whichever comes first.
const JOIN_HOLD: Duration = Duration::from_secs(1);

/// A socket that has sent no message this long after it joined is closed (1008): every client
/// opens with its sync request, so a silent one only holds a socket and a place in the gate.
pub const FIRST_MESSAGE_DEADLINE: Duration = Duration::from_secs(5);

/// Who is at the other end, as far as the HTTP upgrade could tell.
pub struct Peer {
    pub doc: String,
    pub query_token: Option<String>,
    pub ip: Option<std::net::IpAddr>,
}

pub async fn serve(socket: WebSocket, peer: Peer, state: AppState) {
    let conn = state.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let span = tracing::debug_span!("conn", conn, doc_id = %peer.doc);
    run(socket, peer, conn, state).instrument(span).await
}

async fn run(socket: WebSocket, peer: Peer, conn: u64, state: AppState) {
    let Peer {
        doc,
        query_token,
        ip,
    } = peer;
    let tandem = socket.protocol().is_some();
    let (mut sink, mut stream) = socket.split();
    if !tandem_core::valid_doc_name(&doc) {
        let reason = CloseReason::new(
            close::BAD_DOCUMENT,
            "invalid document name: use 1-128 characters of A-Z a-z 0-9 . _ -",
        );
        refuse(&mut sink, tandem, reason).await;
        return;
    }
    let auth = &state.auth;
    let principal = match authenticate(&mut stream, tandem, query_token, &state).await {
        Ok(p) => p,
        Err(reason) => {
            refuse(&mut sink, tandem, reason).await;
            return;
        }
    };
    let user_id = principal.user.id;
    // With `--auth none` everyone is the one local user: only addresses get shares.
    let share_user = auth.enabled().then_some(user_id);
    let mut joining = Some(state.gate.enter(share_user, ip).await);
    let mut messages_seen = 0;
    let s = &state.settings;
    let limits = OutboxLimits {
        max_messages: s.send_queue_messages,
        max_bytes: s.send_queue_bytes,
    };
    let (mut outbox, mut out_rx) = outbox(conn, tandem, limits);
    // Updates are recorded with their author (the account id) for version history.
    if auth.enabled() {
        outbox.author = Some(user_id.to_string().into());
    }
    let closer = outbox.closer.clone();
    // Registered before the role is read, so a revocation racing with this join is not missed.
    let writable = Arc::new(AtomicBool::new(false));
    let session_id = Arc::new(std::sync::Mutex::new(principal.session_id.clone()));
    let _live = auth.enabled().then(|| {
        auth.live.insert(
            conn,
            LiveConn {
                user_id,
                session_id: session_id.clone(),
                doc: doc.clone(),
                writable: writable.clone(),
                outbox: outbox.clone(),
            },
        )
    });
    match auth.role(&principal, &doc).await {
        Ok(Some(role)) => writable.store(role.can_edit(), Ordering::Release),
        Ok(None) => {
            let reason = CloseReason::new(close::FORBIDDEN, "you have no access to this document");
            refuse(&mut sink, tandem, reason).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot check access");
            let reason = CloseReason::new(close::RESTARTING, "access check failed: reconnect");
            refuse(&mut sink, tandem, reason).await;
            return;
        }
    }
    // Access through a share link ends when the link expires, whether or not anyone asks.
    let mut link_until = auth.link_access_until(&principal, &doc).await;
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
    let mut session = Session::with_access(
        tandem,
        SessionLimits {
            max_message: s.max_message_bytes,
            rate_per_sec: s.rate_limit_per_sec,
            burst: s.rate_limit_burst,
        },
        writable.clone(),
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
        // When the access token runs out; an in-band auth message with a fresh one moves it.
        let expiry = tokio::time::sleep_until(deadline(principal.expires_at));
        tokio::pin!(expiry);
        let join_hold = tokio::time::sleep(JOIN_HOLD);
        tokio::pin!(join_hold);
        let silent = tokio::time::sleep(FIRST_MESSAGE_DEADLINE);
        tokio::pin!(silent);
        let link_expiry = tokio::time::sleep_until(deadline_ms(link_until));
        tokio::pin!(link_expiry);
        loop {
            if messages_seen >= 2 {
                joining = None;
            }
            let frame = tokio::select! {
                f = stream.next() => f,
                _ = &mut closed => break,
                _ = &mut join_hold, if joining.is_some() => {
                    joining = None;
                    continue;
                }
                _ = &mut link_expiry, if link_until.is_some() => {
                    match auth.role(&principal, &doc).await {
                        Ok(Some(role)) => writable.store(role.can_edit(), Ordering::Release),
                        Ok(None) => {
                            reject(&outbox, CloseReason::new(
                                close::FORBIDDEN,
                                "the share link you opened this document with has expired",
                            ));
                            break;
                        }
                        Err(_) => {
                            reject(&outbox, CloseReason::new(
                                close::RESTARTING,
                                "access check failed: reconnect",
                            ));
                            break;
                        }
                    }
                    link_until = auth.link_access_until(&principal, &doc).await;
                    link_expiry.as_mut().reset(deadline_ms(link_until));
                    continue;
                }
                _ = &mut silent, if messages_seen == 0 => {
                    reject(&outbox, CloseReason::new(
                        close::RATE_LIMITED,
                        format!("no message within {} s of connecting", FIRST_MESSAGE_DEADLINE.as_secs()),
                    ));
                    break;
                }
                _ = &mut expiry, if auth.enabled() => {
                    reject(&outbox, CloseReason::new(
                        close::UNAUTHORIZED,
                        "access token expired: refresh it and reconnect",
                    ));
                    break;
                }
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
            messages_seen += 1;
            if auth.enabled() && auth.limits.messages_by_user.check(&user_id).is_err() {
                reject(
                    &outbox,
                    CloseReason::new(close::RATE_LIMITED, "rate limit exceeded for this account"),
                );
                break;
            }
            match session.handle(bytes) {
                Ok(Some(Inbound::Auth { token })) => {
                    match reauthorize(&state, &token, user_id, &doc, &writable).await {
                        Ok((expires_at, session)) => {
                            expiry.as_mut().reset(deadline(expires_at));
                            if let Some(session) = session {
                                *session_id.lock().unwrap_or_else(|p| p.into_inner()) = session;
                            }
                        }
                        Err(reason) => {
                            reject(&outbox, reason);
                            break;
                        }
                    }
                }
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

/// Who is connecting: the token from the query string (stock clients), or from the first frame,
/// which for a `tandem.v1` client must be its auth message.
async fn authenticate<S>(
    stream: &mut S,
    tandem: bool,
    query_token: Option<String>,
    state: &AppState,
) -> Result<Principal, CloseReason>
where
    S: futures_util::Stream<Item = Result<WsMessage, axum::Error>> + Unpin,
{
    let auth = &state.auth;
    if !auth.enabled() {
        return auth
            .authenticate(None)
            .await
            .map_err(|_| CloseReason::new(close::INTERNAL, "authentication unavailable"));
    }
    let token = match query_token {
        Some(t) => t,
        None if tandem => first_frame_token(stream).await?,
        None => {
            return Err(CloseReason::new(
                close::UNAUTHORIZED,
                "authentication required: pass ?token=ACCESS_TOKEN",
            ))
        }
    };
    auth.authenticate(Some(&token)).await.map_err(|f| match f {
        AuthFailure::Store(_) => {
            CloseReason::new(close::RESTARTING, "storage unavailable: reconnect")
        }
        _ => CloseReason::new(
            close::UNAUTHORIZED,
            "access token missing, invalid or expired: refresh it and reconnect",
        ),
    })
}

async fn first_frame_token<S>(stream: &mut S) -> Result<String, CloseReason>
where
    S: futures_util::Stream<Item = Result<WsMessage, axum::Error>> + Unpin,
{
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        loop {
            match stream.next().await {
                Some(Ok(WsMessage::Binary(b))) => return Some(b),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    match first {
        Ok(Some(b)) => match Message::decode(&b) {
            Ok(Message::Ext(Ext::Auth { token })) => Ok(token),
            _ => Err(CloseReason::new(
                close::UNAUTHORIZED,
                "authentication required: send the tandem.v1 auth message first",
            )),
        },
        Ok(None) => Err(CloseReason::new(1000, "closed before authenticating")),
        Err(_) => Err(CloseReason::new(
            close::UNAUTHORIZED,
            "authentication timed out",
        )),
    }
}

/// A fresh token sent in band: it must be valid and for the same user. The role is read again,
/// so a refresh also picks up a change of access (an expired share link, a new grant).
async fn reauthorize(
    state: &AppState,
    token: &str,
    user_id: i64,
    doc: &str,
    writable: &AtomicBool,
) -> Result<(u64, Option<String>), CloseReason> {
    let auth = &state.auth;
    if !auth.enabled() {
        return Ok((u64::MAX, None));
    }
    let p = match auth.authenticate(Some(token)).await {
        Ok(p) if p.user.id == user_id => p,
        Ok(_) => {
            return Err(CloseReason::new(
                close::FORBIDDEN,
                "a token for another account was sent on this connection",
            ))
        }
        Err(_) => {
            return Err(CloseReason::new(
                close::UNAUTHORIZED,
                "access token invalid or expired: refresh it and reconnect",
            ))
        }
    };
    match auth.role(&p, doc).await {
        Ok(Some(role)) => {
            writable.store(role.can_edit(), Ordering::Release);
            Ok((p.expires_at, Some(p.session_id)))
        }
        Ok(None) => Err(CloseReason::new(
            close::FORBIDDEN,
            "your access to this document was removed",
        )),
        Err(_) => Err(CloseReason::new(
            close::RESTARTING,
            "access check failed: reconnect",
        )),
    }
}

/// The tokio instant at which a token expiring at `exp` (Unix seconds) runs out.
/// When a link-based access (Unix milliseconds) runs out; `None` is never.
fn deadline_ms(until: Option<i64>) -> tokio::time::Instant {
    match until {
        // A millisecond past it, so the re-check finds the link expired.
        Some(ms) => {
            let left = (ms + 1)
                .saturating_sub(tandem_core::store::now_millis())
                .max(0);
            tokio::time::Instant::now() + Duration::from_millis(left as u64)
        }
        None => deadline(u64::MAX),
    }
}

fn deadline(exp: u64) -> tokio::time::Instant {
    let left = exp.saturating_sub(crate::auth::tokens::unix_now());
    // Far enough for "never" (u64::MAX in --auth none) without overflowing Instant.
    let left = Duration::from_secs(left.min(10 * 365 * 24 * 3600));
    tokio::time::Instant::now() + left
}

/// Refuses a connection before it joined: the structured error (tandem.v1), then the close.
async fn refuse<S>(sink: &mut S, tandem: bool, reason: CloseReason)
where
    S: SinkExt<WsMessage, Error = axum::Error> + Unpin,
{
    tracing::debug!(code = reason.code, reason = %reason.reason, "refusing connection");
    if tandem {
        let err = Message::Ext(Ext::Error {
            code: reason.code as u32,
            message: reason.reason.clone(),
        });
        let _ = sink.feed(WsMessage::Binary(err.encode().into())).await;
    }
    let _ = sink.send(close_msg(&reason)).await;
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
