//! The estimate of what open documents hold in memory, and the admission of one more within
//! `--max-open-docs` and `--memory-budget` (evicting idle documents to make room). The registry
//! calls [`admit`] under its map's lock; the actors keep their [`RoomStats`] current.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Entry, RoomError};
use crate::room::{RoomConfig, RoomMsg};

/// What one open document is estimated to hold in memory per byte of its encoded state (the yrs
/// structs, their block lists and the search maps). Measured by `tandem-bench memory`, which fills
/// documents of 1 to 8 MB of paragraphs and divides the server's RSS growth by their encoded
/// size: 3.8 to 6.2 (BENCHMARKS.md); the upper end is the estimate.
pub const MEMORY_PER_ENCODED_BYTE: u64 = 6;
/// The fixed cost of an open document (actor, mailbox, presence map), in bytes.
pub const MEMORY_PER_DOCUMENT: u64 = 16 << 10;

/// What the registry knows of an open room without asking its actor: enough to choose which
/// documents to evict under memory pressure.
pub(crate) struct RoomStats {
    /// The encoded state's size at load plus every update applied since (an upper bound).
    pub(crate) bytes: AtomicU64,
    pub(crate) clients: AtomicUsize,
    /// Milliseconds after `epoch` of the last join or update.
    pub(super) active_at: AtomicU64,
    epoch: Instant,
    /// Asked to leave memory: no longer counted against the limits.
    pub(crate) evicting: AtomicBool,
    /// Bytes reserved by split messages being put together
    /// ([`PieceBudget`](crate::session::PieceBudget)).
    pub(super) pieces: Arc<AtomicU64>,
}

impl RoomStats {
    pub(super) fn new(epoch: Instant) -> Self {
        let stats = Self {
            bytes: AtomicU64::new(0),
            clients: AtomicUsize::new(0),
            active_at: AtomicU64::new(0),
            epoch,
            evicting: AtomicBool::new(false),
            pieces: Arc::default(),
        };
        stats.touch();
        stats
    }

    pub(crate) fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.active_at.store(ms, Ordering::Relaxed);
    }

    /// The estimated memory this document holds.
    pub(crate) fn memory(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed) * MEMORY_PER_ENCODED_BYTE
            + self.pieces.load(Ordering::Relaxed)
            + MEMORY_PER_DOCUMENT
    }
}

/// The open documents' memory as last summed over all of them, plus an estimate for each one
/// opened since. Summing is O(open documents), so [`admit`] does it at most every
/// [`Tally::FRESH`] while the budget is far off (it was once per open: 19,000 connections on
/// as many documents opened at a third of the rate of 2,000).
#[derive(Debug, Default)]
pub(super) struct Tally {
    at: Option<Instant>,
    used: u64,
}

impl Tally {
    const FRESH: Duration = Duration::from_millis(100);
}

/// Room for one more open document within `max_open_docs` and `memory_budget`: if the open
/// ones are at a limit, the least recently active documents without clients are asked to
/// leave memory (their actors write a last snapshot and exit); if that is not enough, the
/// open is refused. A document being evicted no longer counts.
pub(super) fn admit(
    cfg: &RoomConfig,
    map: &HashMap<String, Entry>,
    tally: &Mutex<Tally>,
) -> Result<(), RoomError> {
    let over = |count: usize, used: u64| {
        cfg.max_open_docs.is_some_and(|max| count >= max)
            || cfg.memory_budget.is_some_and(|budget| used >= budget)
    };
    let mut tally = tally.lock().expect("tally poisoned");
    // The quick answer: every entry counted (those being evicted too), the memory as last
    // summed, and a sixteenth of the budget to spare for what documents grew since.
    let fresh = tally.at.is_some_and(|at| at.elapsed() < Tally::FRESH);
    let margin = cfg.memory_budget.map_or(0, |b| b / 16);
    if fresh && !over(map.len(), tally.used + margin) {
        tally.used += MEMORY_PER_DOCUMENT;
        return Ok(());
    }
    let live: Vec<&Entry> = map
        .values()
        .filter(|e| !e.stats.evicting.load(Ordering::Relaxed))
        .collect();
    let mut count = live.len();
    let mut used: u64 = live.iter().map(|e| e.stats.memory()).sum();
    metrics::gauge!("tandem_open_documents_memory_bytes").set(used as f64);
    let admitted = |tally: &mut Tally, used: u64| {
        *tally = Tally {
            at: Some(Instant::now()),
            used: used + MEMORY_PER_DOCUMENT,
        };
        Ok(())
    };
    if !over(count, used) {
        return admitted(&mut tally, used);
    }
    let mut idle: Vec<&Entry> = live
        .into_iter()
        .filter(|e| e.stats.clients.load(Ordering::Relaxed) == 0)
        .collect();
    idle.sort_by_key(|e| e.stats.active_at.load(Ordering::Relaxed));
    for e in idle {
        if !over(count, used) {
            break;
        }
        if e.tx.try_send(RoomMsg::Evict).is_ok() {
            e.stats.evicting.store(true, Ordering::Relaxed);
            count -= 1;
            used = used.saturating_sub(e.stats.memory());
            metrics::counter!("tandem_pressure_evictions_total").increment(1);
        }
    }
    if over(count, used) {
        metrics::counter!("tandem_open_refused_total").increment(1);
        return Err(RoomError::Overloaded);
    }
    admitted(&mut tally, used)
}
