//! What every backend provides, split by concern: [`OpLog`] (the log and its snapshots),
//! [`Versions`] (revision metadata, named versions), [`Catalogue`] (documents and titles) and
//! [`Comments`]; [`DocStore`] is all four. Plus
//! [`MemoryStore`], the in-memory implementation used by unit tests, and [`UnreliableStore`],
//! which wraps an op log to inject faults.
//!
//! A store never interprets update bytes: the document actor owns the CRDT. The store's one
//! job beyond keeping bytes is invariant 2: per document, revisions are appended as 1, 2, 3, …
//! with no gap and no reuse. [`OpLog::append`] enforces it per entry and reports a
//! [`AppendStatus::Conflict`] instead of writing a revision that is taken or not next.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// One op-log entry to append.
#[derive(Debug, Clone)]
pub struct Append {
    pub doc: String,
    pub rev: u64,
    pub data: Bytes,
    /// Who made it (an account id), if known; shown in version history.
    pub author: Option<std::sync::Arc<str>>,
}

/// One comment. A thread is its first comment plus the replies naming it in `thread`; the
/// thread's anchor, quote and resolved state live on the first comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: String,
    pub doc: String,
    pub thread: String,
    /// An account id, if known.
    pub author: Option<String>,
    pub body: String,
    /// The client's encoded anchor (Yjs relative positions); opaque to the server.
    pub anchor: String,
    /// The text the thread was made on, as it was then.
    pub quote: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

/// One durable revision as the change feed gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub meta: RevisionMeta,
    /// The Yjs update (v1) the revision made.
    pub data: Bytes,
}

/// What version history shows of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionMeta {
    pub rev: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub author: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendStatus {
    /// Durable at this revision.
    Ok,
    /// The revision is taken or is not the document's next one; nothing was written.
    Conflict,
    /// The document does not exist (deleted, or never created); nothing was written. Appends
    /// never create documents, so a writer that missed a deletion cannot bring the document back.
    Missing,
}

/// What a document needs to come back into memory: the newest snapshot (zstd-compressed
/// encoded state) and every log entry after it, in revision order.
#[derive(Debug, Clone, Default)]
pub struct LoadedDoc {
    pub snapshot: Option<(u64, Bytes)>,
    pub updates: Vec<(u64, Bytes)>,
}

impl LoadedDoc {
    /// The revision this load reaches.
    pub fn head(&self) -> u64 {
        self.updates
            .last()
            .map(|u| u.0)
            .or(self.snapshot.as_ref().map(|s| s.0))
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    pub id: String,
    pub title: String,
    pub head_rev: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage full: {0}")]
    Full(String),
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// The op log and its snapshots: what the document actor and the commit writer need. The store
/// never interprets update bytes; it keeps invariant 2 (revisions 1, 2, 3, … per document, no
/// gap, no reuse).
#[async_trait::async_trait]
pub trait OpLog: Send + Sync + 'static {
    /// Appends a batch (entries of many documents, each document's in revision order) in one
    /// durable transaction. Returns one status per entry, or an error if nothing was written.
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError>;
    /// The same appends as blocking calls on the caller's thread, for a store whose appends
    /// block anyway (SQLite). The commit writer then runs on a thread of its own and commits
    /// there: no hand-off to a blocking pool and back for every commit. `None`: append async.
    fn blocking(&self) -> Option<&dyn BlockingAppend> {
        None
    }
    /// Creates the document if it does not exist (appends never do): an open server
    /// (`RoomConfig::create_on_open`) makes any name a document when it is first opened.
    /// Returns whether this call created it: then it holds nothing, and need not be loaded.
    async fn ensure_doc(&self, doc: &str) -> Result<bool, StoreError>;
    /// Newest snapshot plus the log after it.
    async fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        self.load_at(doc, u64::MAX).await
    }
    /// The document as it was at `upto`: the newest snapshot at or below it and the log up to it.
    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError>;
    /// Log entries with `rev > after`, in order.
    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError>;
    /// The head revision of each of `docs` that exists, in one query (anti-entropy: a node
    /// compares its open documents with the log).
    async fn heads(&self, docs: &[String]) -> Result<Vec<(String, u64)>, StoreError>;
    /// Stores a snapshot covering exactly revisions `1..=rev`. Idempotent.
    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError>;
    /// Retention: finds the newest snapshot whose revision was made before `cutoff_ms` and deletes
    /// the log up to it and every older snapshot that is not a named version's. The document and
    /// every named version stay loadable. Returns how many log entries were removed.
    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError>;
    /// Deletes snapshots older than the newest `keep`, except named versions' and the one the
    /// log starts after (a compacted log needs it). Returns how many went.
    async fn prune_snapshots(&self, doc: &str, keep: usize) -> Result<u64, StoreError>;
}

/// [`OpLog::append`] as a blocking call, made on the thread that needs it done.
pub trait BlockingAppend: Send + Sync {
    fn append_blocking(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError>;
}

/// What a store holds, for the storage gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    pub log_rows: u64,
    pub log_bytes: u64,
    pub snapshot_rows: u64,
    pub snapshot_bytes: u64,
}

/// Version history: each revision's time and author, and named versions. Read by the history
/// routes only, so the op log (all the actor needs) stays small.
#[async_trait::async_trait]
pub trait Versions: Send + Sync + 'static {
    /// The change feed: revisions after `after`, oldest first, at most `limit`, with their
    /// updates; and the first revision the log still holds (`None` when it holds none: no
    /// revisions yet, or all compacted into snapshots).
    async fn changes(
        &self,
        doc: &str,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<u64>), StoreError>;
    /// Metadata of the newest `limit` revisions at or below `upto`, newest first.
    async fn revisions(
        &self,
        doc: &str,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<RevisionMeta>, StoreError>;
    /// Names revision `rev` (or removes its name with `None`). False if the revision does not exist.
    async fn name_version(
        &self,
        doc: &str,
        rev: u64,
        name: Option<&str>,
        by: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Every named revision of a document: (revision, name), newest first.
    async fn version_names(&self, doc: &str) -> Result<Vec<(u64, String)>, StoreError>;
}

/// The documents a store knows: their metadata and titles.
#[async_trait::async_trait]
pub trait Catalogue: Send + Sync + 'static {
    /// Metadata, or `None` for a document never written.
    async fn doc_info(&self, doc: &str) -> Result<Option<DocInfo>, StoreError>;
    /// Creates an empty document (no-op if it exists) and returns its metadata.
    async fn create_doc(&self, doc: &str, title: &str) -> Result<DocInfo, StoreError>;
    /// Newest first (by creation), at most `limit`.
    async fn list_docs(&self, limit: usize) -> Result<Vec<DocInfo>, StoreError>;
    /// Returns false if the document does not exist.
    async fn set_title(&self, doc: &str, title: &str) -> Result<bool, StoreError>;
    /// Removes the document, its log and its snapshots. Returns false if it did not exist.
    async fn delete_doc(&self, doc: &str) -> Result<bool, StoreError>;
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Rows and bytes of the log and the snapshots, all documents together (a full scan: the
    /// server samples it once a minute, not per scrape).
    async fn usage(&self) -> Result<StorageUsage, StoreError>;
}

/// Comment threads on documents.
#[async_trait::async_trait]
pub trait Comments: Send + Sync + 'static {
    /// Adds a comment. A reply (`thread != id`) needs its thread to exist on the same document;
    /// returns false otherwise.
    async fn add_comment(&self, c: &Comment) -> Result<bool, StoreError>;
    /// A document's comments, oldest first.
    async fn comments(&self, doc: &str) -> Result<Vec<Comment>, StoreError>;
    /// How many comments a document has and their bytes (body, anchor and quote), for its budget.
    async fn comment_usage(&self, doc: &str) -> Result<(u64, u64), StoreError> {
        let all = self.comments(doc).await?;
        let bytes = all
            .iter()
            .map(|c| (c.body.len() + c.anchor.len() + c.quote.len()) as u64)
            .sum();
        Ok((all.len() as u64, bytes))
    }
    /// Resolves (`Some(at)`) or reopens (`None`) a thread; false if there is no such thread.
    async fn set_resolved(
        &self,
        doc: &str,
        thread: &str,
        at: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Replaces a comment's text; false if there is no such comment.
    async fn edit_comment(&self, doc: &str, id: &str, body: &str) -> Result<bool, StoreError>;
    /// Deletes a comment; a thread's first comment takes the thread and its replies with it.
    /// False if there is no such comment.
    async fn delete_comment(&self, doc: &str, id: &str) -> Result<bool, StoreError>;
}

/// Everything a backend provides: the four concerns above, behind one object.
pub trait DocStore: OpLog + Versions + Catalogue + Comments {}

impl<T: OpLog + Versions + Catalogue + Comments> DocStore for T {}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

mod memory;
mod unreliable;

pub use memory::MemoryStore;
pub use unreliable::UnreliableStore;
