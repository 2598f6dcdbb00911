//! Per-connection state, free of sockets: [`Session`] turns received frames into checked
//! [`Inbound`] requests for the document actor (decode, size cap, rate limit, role), and
//! [`Outbox`] is the bounded queue through which the actor sends frames back.
//!
//! The WebSocket glue in `tandem-server` owns the socket and only moves bytes between it and
//! these two types.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use governor::clock::DefaultClock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

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
///
/// The queue is a `VecDeque` behind a mutex rather than a channel: a channel allocates its first
/// block of slots (here 32 frames, 1 kB) and its shared state (0.5 kB) up front, for every idle
/// connection; an empty `VecDeque` allocates nothing until a frame waits.
pub struct Outbox {
    pub id: u64,
    /// The client negotiated `tandem.v1`: it gets hello, acks, errors and drain notices.
    pub tandem: bool,
    /// Who is connected (an account id), recorded with each update it makes.
    pub author: Option<Arc<str>>,
    queue: Arc<Queue>,
    max_bytes: usize,
    pub closer: Closer,
}

/// What the senders and the receiver of one outbox share.
struct Queue {
    frames: std::sync::Mutex<std::collections::VecDeque<Bytes>>,
    max_messages: usize,
    /// Bytes queued and not yet taken by the writer; bounds memory as well as message count.
    queued: AtomicUsize,
    /// Live `Outbox` clones; the receiver ends once none is left and the queue is empty.
    senders: AtomicUsize,
    /// The receiver is gone: sends fail quietly.
    receiver_gone: std::sync::atomic::AtomicBool,
    /// Wakes the receiver; `notify_one` keeps a permit when it is not waiting, so a frame
    /// queued between its check and its wait is not missed.
    ready: tokio::sync::Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Bytes>> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.queue.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            id: self.id,
            tandem: self.tandem,
            author: self.author.clone(),
            queue: self.queue.clone(),
            max_bytes: self.max_bytes,
            closer: self.closer.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.queue.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.queue.ready.notify_one();
        }
    }
}

pub struct OutboxReceiver {
    queue: Arc<Queue>,
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.queue
            .receiver_gone
            .store(true, std::sync::atomic::Ordering::Release);
        self.queue.lock().clear();
        self.queue.queued.store(0, Ordering::Relaxed);
    }
}

pub fn outbox(id: u64, tandem: bool, limits: OutboxLimits) -> (Outbox, OutboxReceiver) {
    let queue = Arc::new(Queue {
        frames: Default::default(),
        max_messages: limits.max_messages.max(1),
        queued: AtomicUsize::new(0),
        senders: AtomicUsize::new(1),
        receiver_gone: Default::default(),
        ready: tokio::sync::Notify::new(),
    });
    let ob = Outbox {
        id,
        tandem,
        author: None,
        queue: queue.clone(),
        max_bytes: limits.max_bytes,
        closer: Closer::default(),
    };
    (ob, OutboxReceiver { queue })
}

impl Outbox {
    /// Queues a frame without waiting. A full queue means the client cannot keep up: it is closed
    /// with 1013 (it resyncs on reconnect) and `false` is returned so the caller drops it.
    pub fn send(&self, frame: Bytes) -> bool {
        let q = &self.queue;
        if q.receiver_gone.load(std::sync::atomic::Ordering::Acquire) {
            return false;
        }
        let len = frame.len();
        let queued = {
            let mut frames = q.lock();
            // One frame larger than the byte bound still goes through on an empty queue (a big
            // document's sync step 2 must be deliverable); the bound is max(max_bytes, one frame).
            let before = q.queued.load(Ordering::Relaxed);
            let over = before > 0 && before + len > self.max_bytes;
            let fits = !over && frames.len() < q.max_messages;
            if fits {
                frames.push_back(frame);
                q.queued.fetch_add(len, Ordering::Relaxed);
            }
            fits
        };
        if queued {
            q.ready.notify_one();
            return true;
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
    /// The next frame; `None` once every sender is gone and nothing is left. Cancel-safe: a
    /// frame is only taken when it is returned.
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            if let Some(f) = self.try_recv() {
                return Some(f);
            }
            if self.queue.senders.load(Ordering::Acquire) == 0 {
                return self.try_recv();
            }
            self.queue.ready.notified().await;
        }
    }

    pub fn try_recv(&mut self) -> Option<Bytes> {
        let mut frames = self.queue.lock();
        let f = frames.pop_front()?;
        self.queue.queued.fetch_sub(f.len(), Ordering::Relaxed);
        // A burst's room is not kept for good by a connection that is idle again.
        if frames.is_empty() && frames.capacity() > 64 {
            frames.shrink_to(8);
        }
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
    /// An update from a connection that may only suggest (a commenter): applied and logged like
    /// [`Inbound::Update`] only if everything it changes is its author's suggestion
    /// ([`crate::suggest`]), otherwise refused with 4403 and never applied.
    Suggestion(Bytes),
    /// A piece of a split message was received and kept (not the last): acknowledged in order
    /// with the current revision, like a no-op update.
    Piece,
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

/// The bytes of split messages ([`Ext::Part`]) being put back together on one document's
/// connections, bounded per document: each message reserves its whole size at its first piece
/// and frees it when complete or abandoned. Shared by the document's sessions and counted in
/// its memory estimate.
#[derive(Clone, Debug)]
pub struct PieceBudget {
    used: Arc<AtomicU64>,
    limit: u64,
}

impl PieceBudget {
    pub fn new(used: Arc<AtomicU64>, limit: u64) -> Self {
        Self { used, limit }
    }

    fn reserve(&self, n: u64) -> Option<Reservation> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + n <= self.limit).then_some(used + n)
            })
            .ok()
            .map(|_| Reservation {
                used: self.used.clone(),
                n,
            })
    }
}

/// Bytes held in a [`PieceBudget`] until dropped.
struct Reservation {
    used: Arc<AtomicU64>,
    n: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// A split message, pieces so far.
struct Assembly {
    total: u64,
    bytes: Vec<u8>,
    _reserved: Reservation,
}

/// What a connection may do to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Can {
    Read = 0,
    /// Only suggestions, by the connection's own account (a commenter).
    Suggest = 1,
    Edit = 2,
}

/// A connection's [`Can`], shared with whoever can revoke or change access while the socket is
/// open; read on every update, so a change takes effect at once.
#[derive(Debug, Clone)]
pub struct Right(Arc<AtomicU8>);

impl Right {
    pub fn new(can: Can) -> Self {
        Self(Arc::new(AtomicU8::new(can as u8)))
    }
    pub fn set(&self, can: Can) {
        self.0.store(can as u8, Ordering::Release);
    }
    pub fn get(&self) -> Can {
        match self.0.load(Ordering::Acquire) {
            2 => Can::Edit,
            1 => Can::Suggest,
            _ => Can::Read,
        }
    }
}

/// The clock every session's rate limiter reads, made once. Making one asks the CPU (`cpuid`)
/// whether its time-stamp counter can be used, which in a virtual machine traps to the
/// hypervisor: 6 % of the server's CPU while idle connections were being opened.
fn shared_clock() -> DefaultClock {
    static CLOCK: OnceLock<DefaultClock> = OnceLock::new();
    CLOCK.get_or_init(DefaultClock::default).clone()
}

pub struct Session {
    tandem: bool,
    right: Right,
    max_message: usize,
    limiter: DefaultDirectRateLimiter,
    pieces: Option<PieceBudget>,
    assembly: Option<Assembly>,
}

impl Session {
    pub fn new(tandem: bool, limits: SessionLimits) -> Self {
        Self::with_access(tandem, limits, Right::new(Can::Edit))
    }

    pub fn with_access(tandem: bool, limits: SessionLimits, right: Right) -> Self {
        let rate = NonZeroU32::new(limits.rate_per_sec.max(1)).expect("nonzero");
        let burst = NonZeroU32::new(limits.burst.max(1)).expect("nonzero");
        Self {
            tandem,
            right,
            max_message: limits.max_message,
            limiter: RateLimiter::direct_with_clock(
                Quota::per_second(rate).allow_burst(burst),
                shared_clock(),
            ),
            pieces: None,
            assembly: None,
        }
    }

    /// Accepts split messages within `budget` (without one, a piece is refused as too big).
    pub fn with_pieces(mut self, budget: PieceBudget) -> Self {
        self.pieces = Some(budget);
        self
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
        self.decode(&frame, false)
    }

    fn decode(&mut self, frame: &[u8], whole: bool) -> Result<Option<Inbound>, CloseReason> {
        Ok(Some(match Message::decode(frame)? {
            Message::SyncStep1(_) if whole => return Err(not_pieceable()),
            Message::SyncStep1(sv) => Inbound::SyncStep1(sv),
            Message::SyncStep2(u) | Message::Update(u) => match self.right.get() {
                Can::Edit => Inbound::Update(Bytes::from(u)),
                Can::Suggest => Inbound::Suggestion(Bytes::from(u)),
                Can::Read => Inbound::ReadOnlyUpdate(Bytes::from(u)),
            },
            _ if whole => return Err(not_pieceable()),
            Message::Awareness(body) => Inbound::Awareness {
                entries: decode_awareness(&body)?,
            },
            Message::QueryAwareness => Inbound::QueryAwareness,
            Message::Ext(_) if !self.tandem => {
                return Err(ProtocolError::UnknownType(crate::protocol::MSG_TANDEM).into())
            }
            Message::Ext(Ext::Auth { token }) => Inbound::Auth { token },
            Message::Ext(Ext::Part { total, bytes }) => return self.piece(total, bytes),
            Message::Ext(other) => {
                return Err(CloseReason::new(
                    close::MALFORMED,
                    format!("unexpected extension from client: {other:?}"),
                ))
            }
        }))
    }

    /// Takes the next piece of a split message: kept (acked as [`Inbound::Piece`]) until the
    /// last, which yields the whole message. Its first piece reserves the whole size in the
    /// document's budget: a message larger than the budget is refused for good (1009); one that
    /// does not fit beside others being put together is refused for now (1013: the client
    /// reconnects after a pause and its sync exchange sends it again).
    fn piece(&mut self, total: u64, bytes: Vec<u8>) -> Result<Option<Inbound>, CloseReason> {
        let malformed = |why: &str| CloseReason::new(close::MALFORMED, why);
        let assembly = match self.assembly.take() {
            Some(a) if a.total == total => a,
            Some(_) => {
                return Err(malformed(
                    "a piece of a different message before the last one ended",
                ))
            }
            None => {
                let Some(budget) = &self.pieces else {
                    return Err(CloseReason::new(
                        close::TOO_BIG,
                        "split messages are not accepted here",
                    ));
                };
                if total > budget.limit {
                    return Err(CloseReason::new(
                        close::TOO_BIG,
                        format!(
                            "change larger than the {} MB this document takes at once",
                            budget.limit >> 20
                        ),
                    ));
                }
                let Some(reserved) = budget.reserve(total) else {
                    metrics::counter!("tandem_pieces_refused_total").increment(1);
                    return Err(CloseReason::new(
                        close::TRY_AGAIN_LATER,
                        "other large changes to this document are being received: try again shortly",
                    ));
                };
                Assembly {
                    total,
                    bytes: Vec::new(),
                    _reserved: reserved,
                }
            }
        };
        let mut assembly = assembly;
        if bytes.is_empty() || (assembly.bytes.len() + bytes.len()) as u64 > total {
            return Err(malformed("a piece past the end of its message"));
        }
        assembly.bytes.extend_from_slice(&bytes);
        if (assembly.bytes.len() as u64) < total {
            self.assembly = Some(assembly);
            return Ok(Some(Inbound::Piece));
        }
        self.decode(&assembly.bytes, true)
    }
}

fn not_pieceable() -> CloseReason {
    CloseReason::new(
        close::MALFORMED,
        "only a sync step 2 or an update may be split into pieces",
    )
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

    /// `frame` as `tandem.v1` part frames of at most `size` bytes of it each.
    fn pieces(frame: &[u8], size: usize) -> Vec<Bytes> {
        frame
            .chunks(size)
            .map(|c| {
                let part = Ext::Part {
                    total: frame.len() as u64,
                    bytes: c.to_vec(),
                };
                Bytes::from(Message::Ext(part).encode())
            })
            .collect()
    }

    fn limited(max_message: usize) -> SessionLimits {
        SessionLimits {
            max_message,
            ..SessionLimits::default()
        }
    }

    #[test]
    fn a_split_update_is_put_back_together_within_the_budget() {
        let used = Arc::new(AtomicU64::new(0));
        let budget = PieceBudget::new(used.clone(), 1000);
        let update = vec![7u8; 600];
        let frame = Message::Update(update.clone()).encode();
        let mut s = Session::new(true, limited(256)).with_pieces(budget.clone());
        let parts = pieces(&frame, 200);
        assert_eq!(parts.len(), 4);
        for p in &parts[..3] {
            assert!(matches!(s.handle(p.clone()), Ok(Some(Inbound::Piece))));
        }
        assert_eq!(
            used.load(Ordering::Relaxed),
            frame.len() as u64,
            "reserved whole"
        );
        match s.handle(parts[3].clone()) {
            Ok(Some(Inbound::Update(u))) => assert_eq!(&u[..], &update[..]),
            other => panic!("expected the whole update, got {other:?}"),
        }
        assert_eq!(used.load(Ordering::Relaxed), 0, "freed once whole");

        // Two at once do not fit in 1000 bytes: the second waits (1013), and gets in once the
        // first connection is gone.
        let mut a = Session::new(true, limited(256)).with_pieces(budget.clone());
        let mut b = Session::new(true, limited(256)).with_pieces(budget.clone());
        assert!(matches!(
            a.handle(parts[0].clone()),
            Ok(Some(Inbound::Piece))
        ));
        let refused = b.handle(parts[0].clone()).unwrap_err();
        assert_eq!(refused.code, close::TRY_AGAIN_LATER);
        drop(a);
        assert_eq!(
            used.load(Ordering::Relaxed),
            0,
            "an abandoned message frees its bytes"
        );
        let mut b = Session::new(true, limited(256)).with_pieces(budget);
        assert!(matches!(
            b.handle(parts[0].clone()),
            Ok(Some(Inbound::Piece))
        ));
    }

    #[test]
    fn bad_pieces_are_refused() {
        let budget = || PieceBudget::new(Arc::default(), 1000);
        let session = || Session::new(true, limited(256)).with_pieces(budget());
        let frame = Message::Update(vec![7u8; 600]).encode();
        let parts = pieces(&frame, 200);
        // Larger than the whole budget: refused for good.
        let big = Message::Update(vec![1u8; 2000]).encode();
        let err = session().handle(pieces(&big, 200)[0].clone()).unwrap_err();
        assert_eq!(err.code, close::TOO_BIG);
        // A server without a budget takes none.
        let mut none = Session::new(true, limited(256));
        assert_eq!(
            none.handle(parts[0].clone()).unwrap_err().code,
            close::TOO_BIG
        );
        // A piece claiming another total mid-message, or running past the end.
        let mut s = session();
        s.handle(parts[0].clone()).unwrap();
        let other = pieces(&Message::Update(vec![1u8; 500]).encode(), 200);
        assert_eq!(
            s.handle(other[0].clone()).unwrap_err().code,
            close::MALFORMED
        );
        let mut s = session();
        let overlong = Ext::Part {
            total: 10,
            bytes: vec![0; 11],
        };
        let err = s.handle(Bytes::from(Message::Ext(overlong).encode()));
        assert_eq!(err.unwrap_err().code, close::MALFORMED);
        // Only sync step 2 and updates may be split: not awareness, not a piece in a piece.
        for inner in [
            Message::SyncStep1(vec![0]),
            Message::QueryAwareness,
            Message::Ext(Ext::Part {
                total: 1,
                bytes: vec![3],
            }),
        ] {
            let mut s = session();
            let mut last = Ok(None);
            for p in pieces(&inner.encode(), 2) {
                last = s.handle(p);
            }
            assert_eq!(last.unwrap_err().code, close::MALFORMED, "{inner:?}");
        }
        // Stock clients have no extensions at all.
        let mut stock = Session::new(false, limited(256)).with_pieces(budget());
        assert_eq!(
            stock.handle(parts[0].clone()).unwrap_err().code,
            close::MALFORMED
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

    #[tokio::test]
    async fn outbox_wakes_its_receiver_and_ends_with_its_senders() {
        let (ob, mut rx) = outbox(1, true, OutboxLimits::default());
        let second = ob.clone();
        // A frame sent while the receiver waits wakes it, in order.
        let sender = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert!(second.send(Bytes::from_static(b"a")));
            assert!(second.send(Bytes::from_static(b"b")));
        });
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"a"));
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"b"));
        sender.await.unwrap();
        // What is queued when the last sender goes is still delivered, then the end.
        assert!(ob.send(Bytes::from_static(b"c")));
        drop(ob);
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"c"));
        assert_eq!(rx.recv().await, None);
    }

    #[test]
    fn outbox_without_a_receiver_refuses_quietly_and_a_burst_is_not_kept() {
        let (ob, mut rx) = outbox(1, true, OutboxLimits::default());
        for _ in 0..500 {
            assert!(ob.send(Bytes::from_static(b"x")));
        }
        while rx.try_recv().is_some() {}
        assert!(
            rx.queue.lock().capacity() <= 64,
            "the burst's room is given back"
        );
        drop(rx);
        // A gone receiver is not a slow client: no close.
        assert!(!ob.send(Bytes::from_static(b"y")));
        assert!(ob.closer.reason().is_none());
    }
}
