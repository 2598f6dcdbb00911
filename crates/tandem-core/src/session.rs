//! Per-connection state, free of sockets: [`Session`] turns received frames into checked
//! [`Inbound`] requests for the document actor (decode, size cap, rate limit, role), and
//! [`Outbox`] is the bounded queue through which the actor sends frames back.
//!
//! The WebSocket glue in `tandem-server` owns the socket and only moves bytes between it and
//! these two types.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

use crate::protocol::{decode_awareness, AwarenessEntry, Ext, Message, ProtocolError};

/// WebSocket close codes (see `docs/protocol.md`).
pub mod close {
    pub const INTERNAL: u16 = 1011;
    pub const RATE_LIMITED: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const RESTARTING: u16 = 1012;
    pub const TOO_SLOW: u16 = 1013;
    /// The same code, for "at capacity: come back later" (the memory budget).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const MALFORMED: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const BAD_DOCUMENT: u16 = 4404;
    /// The update would grow the document past `--max-doc-bytes`; it was not applied.
    pub const DOC_TOO_LARGE: u16 = 4413;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

impl CloseReason {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        // A close frame's reason must fit in 123 bytes.
        while reason.len() > 123 {
            reason.pop();
        }
        Self { code, reason }
    }
}

impl From<ProtocolError> for CloseReason {
    fn from(e: ProtocolError) -> Self {
        CloseReason::new(close::MALFORMED, e.to_string())
    }
}

/// Asks a connection to close with a code; the first reason wins. Shared by the actor (slow
/// consumer, storage failure, shutdown) and the glue (bad input).
///
/// An atomic flag plus a `Notify` rather than a `CancellationToken`: the glue polls this on every
/// frame, and a token's check takes a mutex each time.
#[derive(Clone, Default)]
pub struct Closer {
    inner: Arc<CloserInner>,
}

#[derive(Default)]
struct CloserInner {
    closed: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
    reason: OnceLock<CloseReason>,
}

impl Closer {
    pub fn close(&self, reason: CloseReason) {
        let _ = self.inner.reason.set(reason);
        self.inner.closed.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }
    /// Completes once `close` has been called (at once if it already was).
    pub async fn closed(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so a close in between is not missed.
            notified.as_mut().enable();
            if self.inner.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
    pub fn reason(&self) -> Option<&CloseReason> {
        self.inner.reason.get()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    pub max_messages: usize,
    pub max_bytes: usize,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_messages: 1024,
            max_bytes: 16 << 20,
        }
    }
}

/// The sending half of a connection's bounded send queue, held by the document actor.
#[derive(Clone)]
pub struct Outbox {
    pub id: u64,
    /// The client negotiated `tandem.v1`: it gets hello, acks, errors and drain notices.
    pub tandem: bool,
    /// Who is connected (an account id), recorded with each update it makes.
    pub author: Option<Arc<str>>,
    tx: mpsc::Sender<Bytes>,
    /// Bytes queued and not yet taken by the writer; bounds memory as well as message count.
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
    pub closer: Closer,
}

pub struct OutboxReceiver {
    rx: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

pub fn outbox(id: u64, tandem: bool, limits: OutboxLimits) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(limits.max_messages.max(1));
    let queued = Arc::new(AtomicUsize::new(0));
    let ob = Outbox {
        id,
        tandem,
        author: None,
        tx,
        queued: queued.clone(),
        max_bytes: limits.max_bytes,
        closer: Closer::default(),
    };
    (ob, OutboxReceiver { rx, queued })
}

impl Outbox {
    /// Queues a frame without waiting. A full queue means the client cannot keep up: it is closed
    /// with 1013 (it resyncs on reconnect) and `false` is returned so the caller drops it.
    pub fn send(&self, frame: Bytes) -> bool {
        let len = frame.len();
        // One frame larger than the byte bound still goes through on an empty queue (a big
        // document's sync step 2 must be deliverable); the bound is max(max_bytes, one frame).
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        let over = before > 0 && before + len > self.max_bytes;
        if !over && self.tx.try_send(frame).is_ok() {
            return true;
        }
        self.queued.fetch_sub(len, Ordering::Relaxed);
        if self.tx.is_closed() {
            return false;
        }
        metrics::counter!("tandem_send_queue_overflows_total").increment(1);
        self.closer.close(CloseReason::new(
            close::TOO_SLOW,
            "send queue overflow: reconnect and resync",
        ));
        false
    }

    pub fn send_msg(&self, msg: &Message) -> bool {
        self.send(Bytes::from(msg.encode()))
    }

    /// Sends an extension message, only to `tandem.v1` clients (stock clients would log errors).
    pub fn send_ext(&self, ext: Ext) -> bool {
        !self.tandem || self.send_msg(&Message::Ext(ext))
    }

    /// Tells a `tandem.v1` client why (a structured error), then closes with the code.
    pub fn reject(&self, reason: CloseReason) {
        self.send_ext(Ext::Error {
            code: reason.code as u32,
            message: reason.reason.clone(),
        });
        self.closer.close(reason);
    }
}

impl OutboxReceiver {
    pub async fn recv(&mut self) -> Option<Bytes> {
        let f = self.rx.recv().await?;
        self.queued.fetch_sub(f.len(), Ordering::Relaxed);
        Some(f)
    }
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let f = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(f.len(), Ordering::Relaxed);
        Some(f)
    }
}

/// A checked request for the document actor.
#[derive(Debug, Clone)]
pub enum Inbound {
    SyncStep1(Vec<u8>),
    /// Sync step 2 or update: both are updates to apply, log and acknowledge.
    Update(Bytes),
    /// An update from a connection that may not edit: acknowledged if it brings nothing new
    /// (a viewer's sync step 2), otherwise refused with 4403; never applied or logged.
    ReadOnlyUpdate(Bytes),
    /// A fresh access token sent in band (`tandem.v1` auth). The glue handles it; it never
    /// reaches the document.
    Auth {
        token: String,
    },
    Awareness {
        entries: Vec<AwarenessEntry>,
    },
    QueryAwareness,
}

#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub max_message: usize,
    /// Sustained messages per second and burst.
    pub rate_per_sec: u32,
    pub burst: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_message: 8 << 20,
            rate_per_sec: 1000,
            burst: 2000,
        }
    }
}

pub struct Session {
    tandem: bool,
    /// Whether this connection may edit. Shared with whoever can revoke or downgrade access
    /// while the socket is open; read on every update, so a change takes effect at once.
    writable: Arc<AtomicBool>,
    max_message: usize,
    limiter: DefaultDirectRateLimiter,
}

impl Session {
    pub fn new(tandem: bool, limits: SessionLimits) -> Self {
        Self::with_access(tandem, limits, Arc::new(AtomicBool::new(true)))
    }

    pub fn with_access(tandem: bool, limits: SessionLimits, writable: Arc<AtomicBool>) -> Self {
        let rate = NonZeroU32::new(limits.rate_per_sec.max(1)).expect("nonzero");
        let burst = NonZeroU32::new(limits.burst.max(1)).expect("nonzero");
        Self {
            tandem,
            writable,
            max_message: limits.max_message,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Checks and decodes one binary frame. `Ok(None)` means "nothing for the document"
    /// (e.g. an auth message before auth exists). `Err` closes the connection.
    pub fn handle(&mut self, frame: Bytes) -> Result<Option<Inbound>, CloseReason> {
        if frame.len() > self.max_message {
            return Err(CloseReason::new(
                close::TOO_BIG,
                format!("message larger than {} bytes", self.max_message),
            ));
        }
        if self.limiter.check().is_err() {
            return Err(CloseReason::new(close::RATE_LIMITED, "rate limit exceeded"));
        }
        Ok(Some(match Message::decode(&frame)? {
            Message::SyncStep1(sv) => Inbound::SyncStep1(sv),
            Message::SyncStep2(u) | Message::Update(u) => {
                if self.writable.load(Ordering::Acquire) {
                    Inbound::Update(Bytes::from(u))
                } else {
                    Inbound::ReadOnlyUpdate(Bytes::from(u))
                }
            }
            Message::Awareness(body) => Inbound::Awareness {
                entries: decode_awareness(&body)?,
            },
            Message::QueryAwareness => Inbound::QueryAwareness,
            Message::Ext(_) if !self.tandem => {
                return Err(ProtocolError::UnknownType(crate::protocol::MSG_TANDEM).into())
            }
            Message::Ext(Ext::Auth { token }) => Inbound::Auth { token },
            Message::Ext(other) => {
                return Err(CloseReason::new(
                    close::MALFORMED,
                    format!("unexpected extension from client: {other:?}"),
                ))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_size_type_and_rate() {
        let limits = SessionLimits {
            max_message: 16,
            rate_per_sec: 1,
            burst: 3,
        };
        let mut s = Session::new(false, limits);
        assert_eq!(
            s.handle(Bytes::from(vec![0; 17])).unwrap_err().code,
            close::TOO_BIG
        );
        assert_eq!(
            s.handle(Bytes::from_static(&[9])).unwrap_err().code,
            close::MALFORMED
        );
        assert!(matches!(
            s.handle(Bytes::from_static(&[3])),
            Ok(Some(Inbound::QueryAwareness))
        ));
        // Stock clients may not send extensions.
        assert_eq!(
            s.handle(Bytes::from_static(&[100, 4, 0])).unwrap_err().code,
            close::MALFORMED
        );
        // Burst of 3 used up (the oversized frame did not count).
        assert_eq!(
            s.handle(Bytes::from_static(&[3])).unwrap_err().code,
            close::RATE_LIMITED
        );
    }

    #[test]
    fn outbox_overflow_closes_with_1013() {
        let (ob, mut rx) = outbox(
            1,
            true,
            OutboxLimits {
                max_messages: 2,
                max_bytes: 1 << 20,
            },
        );
        assert!(ob.send(Bytes::from_static(b"a")));
        assert!(ob.send(Bytes::from_static(b"b")));
        assert!(!ob.send(Bytes::from_static(b"c")));
        assert_eq!(ob.closer.reason().unwrap().code, close::TOO_SLOW);
        assert_eq!(rx.try_recv().unwrap(), Bytes::from_static(b"a"));
    }

    #[test]
    fn outbox_byte_bound() {
        let (ob, _rx) = outbox(
            1,
            false,
            OutboxLimits {
                max_messages: 100,
                max_bytes: 10,
            },
        );
        assert!(ob.send(Bytes::from(vec![0; 8])));
        assert!(!ob.send(Bytes::from(vec![0; 8])));
        assert_eq!(ob.closer.reason().unwrap().code, close::TOO_SLOW);
        // A single oversized frame passes when nothing else is queued.
        let (ob, _rx) = outbox(
            2,
            false,
            OutboxLimits {
                max_messages: 100,
                max_bytes: 10,
            },
        );
        assert!(ob.send(Bytes::from(vec![0; 50])));
        assert!(!ob.send(Bytes::from(vec![0; 1])));
    }
}
