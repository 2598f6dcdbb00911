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

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::{Ext, Message};
use tandem_core::room::{RoomError, RoomHandle};
use tandem_core::session::{
    close, outbox, Can, CloseReason, Inbound, Outbox, OutboxLimits, OutboxReceiver, Right, Session,
    SessionLimits,
};
use tracing::Instrument;

mod access;
pub mod hocuspocus;
mod lazy_read;
pub mod socket;
mod writer;

use access::{authenticate, deadline, deadline_ms, reauthorize};
use socket::{close_msg, is_capacity, Socket, WsError, WsMessage};
use writer::Writer;

use crate::auth::gate::JoinPermit;
use crate::auth::limits::SocketPermit;
use crate::auth::live::{LiveConn, LiveGuard};
use crate::auth::Principal;
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
    /// The socket's place among its address's sockets, held until it ends.
    pub permit: Option<SocketPermit>,
    /// The client negotiated `tandem.v1`.
    pub tandem: bool,
}

/// Runs one upgraded socket to its end.
///
/// Every idle connection is this one future, so it is kept small. `serve` and `run` are not
/// `async fn`s: an `async fn` keeps its arguments for good beside the locals made from them
/// (the socket, the peer and the state, about 750 bytes a level). What the future needs only
/// to join is boxed and freed once joined; the connection's state is boxed once.
pub fn serve(socket: Socket, peer: Peer, state: AppState) -> impl Future<Output = ()> {
    let conn = state.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let span = tracing::debug_span!("conn", conn, doc_id = %peer.doc);
    run(socket, peer, conn, state).instrument(span)
}

fn run(socket: Socket, mut peer: Peer, id: u64, state: AppState) -> impl Future<Output = ()> {
    let tandem = peer.tandem;
    let (mut sink, mut stream) = socket.split();
    let permit = peer.permit.take();
    let joining = Box::new((peer, state));
    async move {
        let _permit = permit;
        // Unboxed in a block of its own, so the box is freed now rather than with the future.
        let (peer, state) = {
            let joining = joining;
            *joining
        };
        let joined = Box::pin(Connection::join(id, peer, tandem, &mut stream, state)).await;
        let (mut conn, out_rx) = match joined {
            Ok(joined) => joined,
            Err(reason) => return Box::pin(refuse(&mut sink, tandem, reason)).await,
        };
        tracing::debug!(tandem, "joined");
        let heartbeat = Heartbeat::new();
        let writer = Writer {
            closer: conn.outbox.closer.clone(),
            ping_every: conn.state.settings.ping_interval,
            bytes_out: metrics::counter!("tandem_bytes_out_total"),
        };
        tokio::join!(
            conn.read(&mut stream, &heartbeat),
            writer.write(&mut sink, out_rx, &heartbeat)
        );
        conn.room.leave(id).await;
        tracing::debug!(reason = ?conn.outbox.closer.reason(), "connection closed");
    }
}

/// When the client last sent anything (pongs included), for the writer's heartbeat check.
struct Heartbeat {
    started: Instant,
    /// Milliseconds since `started`.
    last_seen: AtomicU64,
}

impl Heartbeat {
    fn new() -> Heartbeat {
        Heartbeat {
            started: Instant::now(),
            last_seen: AtomicU64::new(0),
        }
    }

    fn seen(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_seen.store(now, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_seen.load(Ordering::Relaxed)))
    }
}

/// When a joined connection's time-bound states end (see [`Connection::read`]).
struct Deadlines {
    joined: tokio::time::Instant,
    /// The access token's expiry; an in-band auth message with a fresh one moves it.
    token: tokio::time::Instant,
    /// When the share link's access must be checked again.
    link: tokio::time::Instant,
}

/// What the reader does after a frame or a timer.
enum Flow {
    Continue,
    Stop,
}

/// One socket that joined its document: the reading half's state. The writing half is a
/// [`Writer`]; both run in the connection's task.
struct Connection {
    id: u64,
    doc: String,
    state: AppState,
    principal: Principal,
    outbox: Outbox,
    room: RoomHandle,
    session: Session,
    /// Shared with the session and [`crate::auth::live`]: cleared when the role drops below
    /// editor, so the next update is refused at once.
    right: Right,
    /// Shared with [`crate::auth::live`]: a refresh in band moves it to the new session.
    session_id: Arc<std::sync::Mutex<String>>,
    /// When access through a share link ends (Unix ms); `None` if not by link.
    link_until: Option<i64>,
    /// The place in the join gate, held until the sync exchange is through.
    joining: Option<JoinPermit>,
    messages_seen: u64,
    bytes_in: metrics::Counter,
    /// Keeps the connection in the live registry (revocation) while it is open.
    _live: Option<LiveGuard>,
}

impl Connection {
    /// Authenticates, waits for a place in the join gate, authorizes and joins the document.
    /// The refusal, if any, is sent by the caller before the socket closes.
    async fn join<S>(
        id: u64,
        peer: Peer,
        tandem: bool,
        stream: &mut S,
        state: AppState,
    ) -> Result<(Box<Connection>, OutboxReceiver), CloseReason>
    where
        S: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
    {
        let Peer {
            doc,
            query_token,
            ip,
            permit: _,
            tandem: _,
        } = peer;
        if !tandem_core::valid_doc_name(&doc) {
            return Err(CloseReason::new(
                close::BAD_DOCUMENT,
                "invalid document name: use 1-128 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        let auth = &state.auth;
        let principal = authenticate(stream, tandem, query_token, &state).await?;
        let user_id = principal.user.id;
        // With `--auth none` everyone is the one local user: only addresses get shares.
        let share_user = auth.enabled().then_some(user_id);
        let joining = Some(state.gate.enter(share_user, ip).await);
        let s = &state.settings;
        let limits = OutboxLimits {
            max_messages: s.send_queue_messages,
            max_bytes: s.send_queue_bytes,
        };
        let (mut outbox, out_rx) = outbox(id, tandem, limits);
        // Updates are recorded with their author (the account id) for version history.
        if auth.enabled() {
            outbox.author = Some(user_id.to_string().into());
        }
        // Registered before the role is read, so a revocation racing with this join is not missed.
        let right = Right::new(Can::Read);
        let session_id = Arc::new(std::sync::Mutex::new(principal.session_id.clone()));
        let live = auth.enabled().then(|| {
            let live = LiveConn {
                user_id,
                session_id: session_id.clone(),
                doc: doc.clone(),
                right: right.clone(),
                outbox: outbox.clone(),
            };
            auth.live.insert(id, live)
        });
        match auth.role(&principal, &doc).await {
            Ok(Some(role)) => right.set(role.can()),
            Ok(None) => {
                return Err(CloseReason::new(
                    close::FORBIDDEN,
                    "you have no access to this document",
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check access");
                return Err(CloseReason::new(
                    close::RESTARTING,
                    "access check failed: reconnect",
                ));
            }
        }
        // Access through a share link ends when the link expires, whether or not anyone asks.
        let link_until = auth.link_access_until(&principal, &doc).await;
        let room = state
            .rooms
            .join(&doc, outbox.clone())
            .await
            .map_err(|e| match e {
                // 1013 is "try again later": the client backs off and reconnects.
                RoomError::Overloaded => CloseReason::new(close::TRY_AGAIN_LATER, e.to_string()),
                e => CloseReason::new(close::RESTARTING, e.to_string()),
            })?;
        let session = Session::with_access(
            tandem,
            SessionLimits {
                max_message: s.max_message_bytes,
                rate_per_sec: s.rate_limit_per_sec,
                burst: s.rate_limit_burst,
            },
            right.clone(),
        )
        .with_pieces(room.piece_budget());
        let conn = Box::new(Connection {
            id,
            doc,
            principal,
            outbox,
            room,
            session,
            right,
            session_id,
            link_until,
            joining,
            messages_seen: 0,
            // Metric handles are looked up once per connection, not once per frame.
            bytes_in: metrics::counter!("tandem_bytes_in_total"),
            _live: live,
            state,
        });
        Ok((conn, out_rx))
    }

    /// Reads until the socket, the client or a deadline ends the connection; however it ends,
    /// the closer is closed so the writer ends too. Shutdown reaches this connection through
    /// its document actor, which sends the drain notice and closes it with 1012.
    ///
    /// Its four deadlines (the join's hold, the first message, the share link, the access
    /// token) share one timer, set to the earliest that still applies: a timer is 112 bytes
    /// of every idle connection.
    async fn read<S>(&mut self, stream: &mut S, heartbeat: &Heartbeat)
    where
        S: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
    {
        let closer = self.outbox.closer.clone();
        // Created once and pinned, not once per frame.
        let closed = closer.closed();
        tokio::pin!(closed);
        let mut deadlines = Deadlines {
            joined: tokio::time::Instant::now(),
            token: deadline(self.principal.expires_at),
            link: deadline_ms(self.link_until),
        };
        let timer = tokio::time::sleep_until(self.next_deadline(&deadlines));
        tokio::pin!(timer);
        loop {
            if self.messages_seen >= 2 {
                self.joining = None;
            }
            let next = self.next_deadline(&deadlines);
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            let flow = tokio::select! {
                frame = stream.next() => {
                    heartbeat.seen();
                    // Boxed, for one allocation per frame: inline, its 570 bytes would be part
                    // of every idle connection.
                    let token = &mut deadlines.token;
                    Box::pin(self.on_frame(frame, stream, &mut closed, token)).await
                }
                _ = &mut closed => Flow::Stop,
                _ = &mut timer => self.on_deadline(&mut deadlines).await,
            };
            if let Flow::Stop = flow {
                break;
            }
        }
        closer.close(CloseReason::new(1000, "closing"));
    }

    /// The earliest of the deadlines that still apply.
    fn next_deadline(&self, d: &Deadlines) -> tokio::time::Instant {
        let never = d.joined + Duration::from_secs(10 * 365 * 24 * 3600);
        let hold = self.joining.is_some().then_some(d.joined + JOIN_HOLD);
        let silent = (self.messages_seen == 0).then_some(d.joined + FIRST_MESSAGE_DEADLINE);
        let link = self.link_until.is_some().then_some(d.link);
        let token = self.state.auth.enabled().then_some(d.token);
        [hold, silent, link, token]
            .into_iter()
            .flatten()
            .fold(never, std::cmp::min)
    }

    /// Acts on whichever deadlines have passed.
    async fn on_deadline(&mut self, d: &mut Deadlines) -> Flow {
        let now = tokio::time::Instant::now();
        if self.joining.is_some() && now >= d.joined + JOIN_HOLD {
            self.joining = None;
        }
        if self.messages_seen == 0 && now >= d.joined + FIRST_MESSAGE_DEADLINE {
            let secs = FIRST_MESSAGE_DEADLINE.as_secs();
            return self.stop(CloseReason::new(
                close::RATE_LIMITED,
                format!("no message within {secs} s of connecting"),
            ));
        }
        if self.state.auth.enabled() && now >= d.token {
            return self.stop(CloseReason::new(
                close::UNAUTHORIZED,
                "access token expired: refresh it and reconnect",
            ));
        }
        if self.link_until.is_some() && now >= d.link {
            let flow = Box::pin(self.on_link_expiry()).await;
            d.link = deadline_ms(self.link_until);
            return flow;
        }
        Flow::Continue
    }

    /// Closes with `reason`, telling a `tandem.v1` client why.
    fn stop(&self, reason: CloseReason) -> Flow {
        tracing::debug!(code = reason.code, reason = %reason.reason, "closing connection");
        self.outbox.reject(reason);
        Flow::Stop
    }

    /// The share link this connection came through may have expired: read the role again.
    async fn on_link_expiry(&mut self) -> Flow {
        let auth = &self.state.auth;
        match auth.role(&self.principal, &self.doc).await {
            Ok(Some(role)) => self.right.set(role.can()),
            Ok(None) => {
                return self.stop(CloseReason::new(
                    close::FORBIDDEN,
                    "the share link you opened this document with has expired",
                ))
            }
            Err(_) => {
                return self.stop(CloseReason::new(
                    close::RESTARTING,
                    "access check failed: reconnect",
                ))
            }
        }
        self.link_until = auth.link_access_until(&self.principal, &self.doc).await;
        Flow::Continue
    }

    async fn on_frame<S>(
        &mut self,
        frame: Option<Result<WsMessage, WsError>>,
        stream: &mut S,
        closed: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        token_deadline: &mut tokio::time::Instant,
    ) -> Flow
    where
        S: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
    {
        let bytes = match frame {
            Some(Ok(WsMessage::Binary(b))) => b,
            Some(Ok(WsMessage::Text(_))) => {
                return self.stop(CloseReason::new(
                    close::MALFORMED,
                    "text frames are not supported: send binary Yjs messages",
                ))
            }
            Some(Ok(WsMessage::Close(_))) | None => return Flow::Stop,
            Some(Ok(_)) => return Flow::Continue, // ping/pong: tungstenite answers pings itself
            Some(Err(e)) => {
                tracing::debug!(error = %e, "read error");
                if !is_capacity(&e) {
                    let reason = CloseReason::new(close::MALFORMED, "protocol error");
                    self.outbox.closer.close(reason);
                    return Flow::Stop;
                }
                let max = self.state.settings.max_message_bytes;
                self.stop(CloseReason::new(
                    close::TOO_BIG,
                    format!("message larger than {max} bytes"),
                ));
                linger(stream).await;
                return Flow::Stop;
            }
        };
        self.bytes_in.increment(bytes.len() as u64);
        self.messages_seen += 1;
        let auth = &self.state.auth;
        let user_id = self.principal.user.id;
        if auth.enabled() && auth.limits.messages_by_user.check(&user_id).is_err() {
            return self.stop(CloseReason::new(
                close::RATE_LIMITED,
                "rate limit exceeded for this account",
            ));
        }
        match self.session.handle(bytes) {
            Ok(Some(Inbound::Auth { token })) => {
                // Boxed, as is the link's check: rare, and larger than the idle reader.
                let checked = Box::pin(reauthorize(
                    &self.state,
                    &token,
                    user_id,
                    &self.doc,
                    &self.right,
                ));
                match checked.await {
                    Ok((expires_at, session)) => {
                        *token_deadline = deadline(expires_at);
                        if let Some(session) = session {
                            *self.session_id.lock().unwrap_or_else(|p| p.into_inner()) = session;
                        }
                        Flow::Continue
                    }
                    Err(reason) => self.stop(reason),
                }
            }
            Ok(Some(msg)) => {
                let sent = tokio::select! {
                    ok = self.room.inbound(self.id, msg) => ok,
                    _ = closed.as_mut() => return Flow::Stop,
                };
                if !sent {
                    let reason = CloseReason::new(close::RESTARTING, "document closed: reconnect");
                    self.outbox.closer.close(reason);
                    return Flow::Stop;
                }
                Flow::Continue
            }
            Ok(None) => Flow::Continue,
            Err(reason) => self.stop(reason),
        }
    }
}

/// Refuses a connection before it joined: the structured error (tandem.v1), then the close.
async fn refuse<S>(sink: &mut S, tandem: bool, reason: CloseReason)
where
    S: SinkExt<WsMessage, Error = WsError> + Unpin,
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

/// After refusing an oversized frame its payload is still unread; closing the socket now would
/// reset the connection and destroy our close frame before the client reads it. So read and
/// discard for a moment, until the client answers the close or goes away.
async fn linger<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
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
