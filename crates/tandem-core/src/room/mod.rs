//! One open document: a single actor task owns the [`ServerDoc`](crate::doc::ServerDoc),
//! assigns revisions, submits appends to the group-commit writer and releases broadcasts, echoes
//! and acks only once they are durable. [`Rooms`] (in `registry.rs`) opens (loads) and evicts
//! these actors; [`RoomHandle`] is the only way to talk to one.
//!
//! The actor keeps `applied_rev >= durable_rev`. Anything that must reflect exactly the durable
//! state (a join, a client's sync step 1, a `/state` read, a snapshot) waits behind a barrier:
//! the mailbox is not read until `durable_rev == applied_rev`, then the request is answered from
//! the document. Presence (clients' awareness, and other nodes') comes in a lane of its own,
//! read first and even while the mailbox is not: it depends on no revision, so carets keep moving
//! while updates wait. The actor never touches a socket: it only pushes frames into `Outbox`es.
//!
//! The files: `actor.rs` (the lifecycle and the mailbox loop), `durability.rs` (the two commit
//! modes and the release of what became durable), `clients.rs` (joins, sync, presence, fanout
//! to connections), `snapshot.rs` (snapshots and housekeeping) and `content.rs` (the document
//! itself, kept as its encoded state until someone writes to it).
//!
//! **Lifecycle** (`actor::Lifecycle`; each arrow is one match arm):
//!
//! ```text
//!                 poisoned update (sender closed 4400)
//!        ┌──────────────────────────────────────────────┐
//!        │                                              ▼
//!  load ─▶ Open ◀── rebuilt from the log once ──── Reloading
//!        │  │       applied == durable                  │
//!        │  │ shutdown     delete, or an   commit or │ store error
//!        │  │              append finds it   │         │
//!        │  │              missing (4403)    │         │
//!        │  ▼                    ▼            ▼         │
//!        │ Draining           Closing       Failed ◀────┘
//!        │  │ (last snapshot)    │ (none)     │ (clients closed 1011)
//!        │  └─────────── held acks empty ─────┘
//!        ▼                      ▼
//!   evicted (idle, no clients)  Closed: `run` returns, `finish` writes the last words
//! ```
//!
//! **Commit modes** (`durability::CommitMode`). `Local`: this node alone writes the log; every
//! update is appended at its own revision and many are in flight at once (the group-commit
//! writer batches them). `Shared` (cluster mode: other nodes append to the same PostgreSQL log):
//! the store's conditional append decides every revision. A document keeps one append in
//! flight and coalesces what arrives meanwhile into the next one (one log entry, one revision,
//! several client updates). Local updates carry *provisional* revisions until they land; when an
//! append is refused because another node took that revision, the actor reads what it missed
//! from the store, applies and broadcasts it, shifts its provisional revisions past it, and
//! retries. Other nodes' revisions also arrive through the [`Fanout`](crate::fanout::Fanout)
//! (applied in order; a gap is read from the store). So `applied_rev >= durable_rev` and the
//! barrier keep their meaning in both modes.

mod actor;
mod clients;
mod content;
mod durability;
mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::presence::PresenceLimits;
use crate::protocol::Ext;
pub use crate::registry::{RoomError, RoomHandle, Rooms};
pub use crate::schema::Mention;
use crate::session::{CloseReason, Inbound, Outbox};
pub(crate) use actor::Room;

/// The log since the last snapshot must reach at least this many bytes before its size alone
/// calls for a snapshot.
pub const SNAPSHOT_MIN_LOG_BYTES: u64 = 256 << 10;

/// The origin of updates the server makes itself (restores): no subscriber has this id.
pub const SERVER_CONN: u64 = u64::MAX;

/// How long a drained client is told to wait before reconnecting (it adds its own jitter).
pub const DRAIN_RECONNECT_MS: u64 = 500;

#[derive(Debug, Clone)]
pub struct RoomConfig {
    pub server_id: String,
    /// Snapshot after this many updates since the last one.
    pub snapshot_every: u64,
    /// Snapshot once no update has arrived for this long.
    pub snapshot_idle: Duration,
    /// Snapshot once the log since the last snapshot holds this share of the state's size (at
    /// least `SNAPSHOT_MIN_LOG_BYTES`): a few large pastes, not only many keystrokes.
    pub snapshot_log_share: f64,
    /// Snapshot at least this often while a document keeps changing.
    pub snapshot_interval: Duration,
    /// Snapshots kept per document besides named versions' (older ones are pruned after each
    /// new one).
    pub keep_snapshots: usize,
    /// Evict the document this long after its last client left.
    pub evict_after: Duration,
    /// Presence entries not refreshed for this long are removed.
    pub awareness_ttl: Duration,
    /// What presence may cost per connection and per document.
    pub presence: PresenceLimits,
    /// Housekeeping period (TTL, idle snapshot, eviction).
    pub tick: Duration,
    pub max_message: usize,
    /// Updates applied but not yet durable; past this the actor stops reading its mailbox.
    pub max_inflight: usize,
    /// Requests queued for the actor; senders wait when it is full.
    pub mailbox: usize,
    /// zstd level for snapshots.
    pub zstd_level: i32,
    /// History older than this is compacted into snapshots after each snapshot (named versions
    /// are kept); `None` keeps the whole log.
    pub retention: Option<Duration>,
    /// Other nodes append to the same store (PostgreSQL): the `Shared` commit mode.
    pub shared_store: bool,
    /// The editor's document schema every client update must keep to (`None`: a plain relay).
    pub schema: Option<Arc<crate::schema::Schema>>,
    /// Opening a document that does not exist creates it (an open server, `--auth none`, where
    /// any name is a document). Otherwise documents are created through the API only, and one
    /// that is missing (deleted meanwhile) gets its appends refused and its clients closed 4403.
    pub create_on_open: bool,
    /// Cluster mode: how often the node compares the heads of its open documents with the log
    /// (one batched query) and catches up any it is behind, so a revision whose fanout message
    /// was lost (a node died between commit and publish, a full queue) reaches every node.
    pub anti_entropy: Option<Duration>,
    /// Documents open at once; past it the least recently active idle ones are evicted, and
    /// opening another is refused when none is idle.
    pub max_open_docs: Option<usize>,
    /// Estimated memory of the open documents (`registry::MEMORY_PER_ENCODED_BYTE`); the same
    /// rule as `max_open_docs`.
    pub memory_budget: Option<u64>,
    /// An update that would grow a document's encoded state past this is refused (4413).
    pub max_doc_bytes: Option<u64>,
    /// Bytes of split messages (`tandem.v1` part) being put back together on one document at
    /// once: one larger is refused (1009), one that does not fit beside others waits (1013).
    pub max_reassembly_bytes: u64,
    /// Told of each revision this node makes durable (work that follows the log: the search
    /// index). Called on the actor, so it must return at once.
    pub on_durable: Option<DurableHook>,
    /// Who may be mentioned, and who hears of it once the mention is durable (the server's
    /// accounts). `None`: a mention is only checked against the schema.
    pub people: Option<Arc<dyn People>>,
}

/// The accounts behind mentions (`<mention id=…>` nodes, see [`crate::schema::Mention`]).
#[async_trait::async_trait]
pub trait People: Send + Sync + 'static {
    /// Whether `author` may mention these accounts in `doc`; `Err(why)` refuses the update
    /// (its sender is closed 4400 and the document rebuilt from the log, as for any schema
    /// violation). Awaited on the document's actor, only for updates that add a mention.
    async fn check(&self, doc: &str, author: Option<&str>, added: &[Mention])
        -> Result<(), String>;
    /// The update that added `added` is durable at `rev`. Called on the actor: must return at once.
    fn mentioned(&self, doc: &str, author: Option<&str>, rev: u64, added: Vec<Mention>);
}

impl std::fmt::Debug for dyn People {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("People")
    }
}

/// See [`RoomConfig::on_durable`]: `(document, revision)`.
#[derive(Clone)]
pub struct DurableHook(pub Arc<DurableFn>);

pub type DurableFn = dyn Fn(&str, u64) + Send + Sync;

impl std::fmt::Debug for DurableHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DurableHook")
    }
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            server_id: "tandem".into(),
            snapshot_every: 1000,
            snapshot_idle: Duration::from_secs(30),
            snapshot_log_share: 0.5,
            snapshot_interval: Duration::from_secs(600),
            keep_snapshots: 3,
            evict_after: Duration::from_secs(60),
            awareness_ttl: Duration::from_secs(30),
            presence: PresenceLimits::default(),
            tick: Duration::from_secs(1),
            max_message: 8 << 20,
            max_inflight: 8192,
            mailbox: 4096,
            zstd_level: 3,
            shared_store: false,
            retention: None,
            schema: None,
            create_on_open: true,
            anti_entropy: None,
            max_open_docs: None,
            memory_budget: None,
            max_doc_bytes: None,
            max_reassembly_bytes: 64 << 20,
            on_durable: None,
            people: None,
        }
    }
}

/// What a [`RoomHandle`] asks of the actor. A busy document's mailbox holds thousands of these,
/// so the rare large variants are boxed (see the size check below).
pub(crate) enum RoomMsg {
    Join {
        outbox: Box<Outbox>,
        reply: oneshot::Sender<()>,
    },
    Leave {
        conn: u64,
    },
    Inbound {
        conn: u64,
        msg: Inbound,
    },
    State {
        reply: oneshot::Sender<DocState>,
    },
    /// Make the content equal to `state` (an encoded document, e.g. as it was at a past revision)
    /// with a new revision. Replies with the provisional revision, or `None` if nothing changed.
    Restore {
        state: Box<[u8]>,
        how: crate::doc::Put,
        author: Option<Arc<str>>,
        reply: oneshot::Sender<Result<Option<u64>, String>>,
    },
    Revision {
        reply: oneshot::Sender<u64>,
    },
    /// Anti-entropy: the log's head revision of this document, as just read.
    Head {
        rev: u64,
    },
    /// Memory pressure: leave memory now if no client is connected and nothing is in flight.
    Evict,
    /// Tell every `tandem.v1` client something (e.g. comments changed).
    Notify {
        ext: Box<Ext>,
    },
    /// Close every connection with `reason` and drop the document from memory (it is being
    /// deleted). The actor exits once its in-flight commits return; then `done` is dropped.
    Close {
        reason: CloseReason,
        done: oneshot::Sender<()>,
    },
}

// An update's message (`Inbound`) is the largest that is not boxed.
const _: () = assert!(std::mem::size_of::<RoomMsg>() <= 56);

/// The durable state of a document at an exact revision.
#[derive(Debug, Clone)]
pub struct DocState {
    pub revision: u64,
    pub update: bytes::Bytes,
}

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod fault_tests;
