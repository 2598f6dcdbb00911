//! The `DocStore` trait: the op log, snapshots and document metadata, as every backend must
//! provide them; plus [`MemoryStore`], the in-memory implementation used by unit tests.
//!
//! A store never interprets update bytes: the document actor owns the CRDT. The store's one
//! job beyond keeping bytes is invariant 2: per document, revisions are appended as 1, 2, 3, …
//! with no gap and no reuse. [`DocStore::append`] enforces it per entry and reports a
//! [`AppendStatus::Conflict`] instead of writing a revision that is taken or not next.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
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

#[async_trait::async_trait]
pub trait DocStore: Send + Sync + 'static {
    /// Appends a batch (entries of many documents, each document's in revision order) in one
    /// durable transaction. Returns one status per entry, or an error if nothing was written.
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError>;
    /// Newest snapshot plus the log after it.
    async fn load(&self, doc: &str) -> Result<LoadedDoc, StoreError> {
        self.load_at(doc, u64::MAX).await
    }
    /// The document as it was at `upto`: the newest snapshot at or below it and the log up to it.
    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError>;
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
    /// Retention: finds the newest snapshot whose revision was made before `cutoff_ms` and deletes
    /// the log up to it and every older snapshot that is not a named version's. The document and
    /// every named version stay loadable. Returns how many log entries were removed.
    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError>;
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
    /// Every named revision of a document: (revision, name), newest first.
    async fn version_names(&self, doc: &str) -> Result<Vec<(u64, String)>, StoreError>;
    /// Log entries with `rev > after`, in order.
    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError>;
    /// Stores a snapshot covering exactly revisions `1..=rev`. Idempotent.
    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError>;
    /// Metadata, or `None` for a document never written.
    async fn doc_info(&self, doc: &str) -> Result<Option<DocInfo>, StoreError>;
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Creates an empty document (no-op if it exists) and returns its metadata.
    async fn create_doc(&self, doc: &str, title: &str) -> Result<DocInfo, StoreError>;
    /// Newest first (by creation), at most `limit`.
    async fn list_docs(&self, limit: usize) -> Result<Vec<DocInfo>, StoreError>;
    /// Returns false if the document does not exist.
    async fn set_title(&self, doc: &str, title: &str) -> Result<bool, StoreError>;
    /// Removes the document, its log and its snapshots. Returns false if it did not exist.
    async fn delete_doc(&self, doc: &str) -> Result<bool, StoreError>;
}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Default)]
struct MemDoc {
    info: Option<DocInfo>,
    updates: BTreeMap<u64, Bytes>,
    meta: BTreeMap<u64, RevisionMeta>,
    names: BTreeMap<u64, String>,
    comments: Vec<Comment>,
    snapshots: BTreeMap<u64, Bytes>,
}

/// In-memory store for tests. Not durable, obviously.
#[derive(Default)]
pub struct MemoryStore {
    /// One lock for everything: a batch must be atomic across documents.
    docs: Mutex<HashMap<String, MemDoc>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl DocStore for MemoryStore {
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let now = now_millis();
        Ok(batch
            .iter()
            .map(|a| {
                let d = docs.entry(a.doc.clone()).or_default();
                let head = d.info.as_ref().map_or(0, |i| i.head_rev);
                if a.rev != head + 1 {
                    return AppendStatus::Conflict;
                }
                d.updates.insert(a.rev, a.data.clone());
                d.meta.insert(
                    a.rev,
                    RevisionMeta {
                        rev: a.rev,
                        created_at: now,
                        author: a.author.as_deref().map(str::to_owned),
                    },
                );
                let info = d.info.get_or_insert_with(|| DocInfo {
                    id: a.doc.clone(),
                    title: String::new(),
                    head_rev: 0,
                    created_at: now,
                    updated_at: now,
                });
                info.head_rev = a.rev;
                info.updated_at = now;
                AppendStatus::Ok
            })
            .collect())
    }

    async fn revisions(
        &self,
        doc: &str,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<RevisionMeta>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| {
                d.meta
                    .range(..=upto)
                    .rev()
                    .take(limit)
                    .map(|(_, m)| m.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn name_version(
        &self,
        doc: &str,
        rev: u64,
        name: Option<&str>,
        _by: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get_mut(doc).filter(|d| d.updates.contains_key(&rev)) else {
            return Ok(false);
        };
        match name {
            Some(n) => d.names.insert(rev, n.to_owned()),
            None => d.names.remove(&rev),
        };
        Ok(true)
    }

    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get_mut(doc) else {
            return Ok(0);
        };
        let Some(s) = d
            .snapshots
            .keys()
            .rev()
            .find(|r| d.meta.get(r).is_some_and(|m| m.created_at < cutoff_ms))
            .copied()
        else {
            return Ok(0);
        };
        let before = d.updates.len();
        d.updates.retain(|r, _| *r > s);
        d.meta.retain(|r, _| *r > s);
        let names = d.names.clone();
        d.snapshots.retain(|r, _| *r >= s || names.contains_key(r));
        Ok((before - d.updates.len()) as u64)
    }

    async fn add_comment(&self, c: &Comment) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let d = docs.entry(c.doc.clone()).or_default();
        if c.thread != c.id
            && !d
                .comments
                .iter()
                .any(|x| x.id == c.thread && x.thread == x.id)
        {
            return Ok(false);
        }
        d.comments.push(c.clone());
        Ok(true)
    }

    async fn comments(&self, doc: &str) -> Result<Vec<Comment>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| d.comments.clone())
            .unwrap_or_default())
    }

    async fn set_resolved(
        &self,
        doc: &str,
        thread: &str,
        at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let found = docs.get_mut(doc).and_then(|d| {
            d.comments
                .iter_mut()
                .find(|c| c.id == thread && c.thread == thread)
        });
        Ok(found.map(|c| c.resolved_at = at).is_some())
    }

    async fn edit_comment(&self, doc: &str, id: &str, body: &str) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let found = docs
            .get_mut(doc)
            .and_then(|d| d.comments.iter_mut().find(|c| c.id == id));
        Ok(found.map(|c| c.body = body.to_owned()).is_some())
    }

    async fn delete_comment(&self, doc: &str, id: &str) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get_mut(doc) else {
            return Ok(false);
        };
        let before = d.comments.len();
        d.comments.retain(|c| c.id != id && c.thread != id);
        Ok(d.comments.len() < before)
    }

    async fn version_names(&self, doc: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| d.names.iter().rev().map(|(r, n)| (*r, n.clone())).collect())
            .unwrap_or_default())
    }

    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get(doc) else {
            return Ok(LoadedDoc::default());
        };
        let snapshot = d
            .snapshots
            .range(..=upto)
            .next_back()
            .map(|(r, s)| (*r, s.clone()));
        let after = snapshot.as_ref().map_or(0, |s| s.0);
        let updates = d
            .updates
            .range(after + 1..=upto.max(after + 1))
            .filter(|(r, _)| **r <= upto)
            .map(|(r, u)| (*r, u.clone()))
            .collect();
        Ok(LoadedDoc { snapshot, updates })
    }

    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| {
                d.updates
                    .range(after + 1..)
                    .map(|(r, u)| (*r, u.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let d = docs.entry(doc.to_owned()).or_default();
        let head = d.info.as_ref().map_or(0, |i| i.head_rev);
        if rev > head {
            return Err(StoreError::Corrupt(format!(
                "snapshot at {rev} is ahead of the log at {head}"
            )));
        }
        d.snapshots.insert(rev, state);
        Ok(())
    }

    async fn doc_info(&self, doc: &str) -> Result<Option<DocInfo>, StoreError> {
        Ok(self
            .docs
            .lock()
            .expect("memory store poisoned")
            .get(doc)
            .and_then(|d| d.info.clone()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create_doc(&self, doc: &str, title: &str) -> Result<DocInfo, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let now = now_millis();
        let d = docs.entry(doc.to_owned()).or_default();
        Ok(d.info
            .get_or_insert_with(|| DocInfo {
                id: doc.into(),
                title: title.into(),
                head_rev: 0,
                created_at: now,
                updated_at: now,
            })
            .clone())
    }

    async fn list_docs(&self, limit: usize) -> Result<Vec<DocInfo>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        let mut all: Vec<DocInfo> = docs.values().filter_map(|d| d.info.clone()).collect();
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        all.truncate(limit);
        Ok(all)
    }

    async fn set_title(&self, doc: &str, title: &str) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(info) = docs.get_mut(doc).and_then(|d| d.info.as_mut()) else {
            return Ok(false);
        };
        info.title = title.into();
        info.updated_at = now_millis();
        Ok(true)
    }

    async fn delete_doc(&self, doc: &str) -> Result<bool, StoreError> {
        Ok(self
            .docs
            .lock()
            .expect("memory store poisoned")
            .remove(doc)
            .is_some_and(|d| d.info.is_some()))
    }
}

/// Wraps a store to inject faults on command, for tests at every level: appends that fail (a full
/// disk, a failed fsync: nothing written), a database that is down (appends and loads fail),
/// appends held back or delayed (a slow fsync), and snapshots that fail.
pub struct UnreliableStore<S> {
    inner: S,
    faults: std::sync::Mutex<Faults>,
    /// Appends take a read lock; a test holding the write lock stalls every commit.
    gate: std::sync::Arc<tokio::sync::RwLock<()>>,
    /// Calls to `append` (each one store transaction), for tests of group commit.
    appends: std::sync::atomic::AtomicUsize,
}

#[derive(Default, Clone, Copy)]
struct Faults {
    full: bool,
    down: bool,
    snapshots: bool,
    append_delay: Option<std::time::Duration>,
}

impl<S: DocStore> UnreliableStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            faults: Default::default(),
            gate: Default::default(),
            appends: Default::default(),
        }
    }
    /// How many times `append` was called: the store transactions asked for.
    pub fn append_calls(&self) -> usize {
        self.appends.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// The wrapped store, without faults.
    pub fn inner(&self) -> &S {
        &self.inner
    }
    fn faults(&self) -> Faults {
        *self.faults.lock().expect("faults poisoned")
    }
    fn set(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.faults.lock().expect("faults poisoned"));
    }
    /// While set, every append fails with `StoreError::Full` and writes nothing.
    pub fn fail_appends(&self, fail: bool) {
        self.set(|f| f.full = fail);
    }
    /// While set, appends and loads fail with `StoreError::Unavailable`.
    pub fn database_down(&self, down: bool) {
        self.set(|f| f.down = down);
    }
    /// While set, every snapshot write fails.
    pub fn fail_snapshots(&self, fail: bool) {
        self.set(|f| f.snapshots = fail);
    }
    /// Every append takes at least this long (a slow fsync).
    pub fn delay_appends(&self, delay: Option<std::time::Duration>) {
        self.set(|f| f.append_delay = delay);
    }
    /// Stalls appends until the returned guard is dropped.
    pub async fn hold_appends(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }
    fn check_up(&self) -> Result<(), StoreError> {
        match self.faults().down {
            true => Err(StoreError::Unavailable("injected: database down".into())),
            false => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl<S: DocStore> DocStore for UnreliableStore<S> {
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        self.appends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _open = self.gate.read().await;
        let faults = self.faults();
        if let Some(d) = faults.append_delay {
            tokio::time::sleep(d).await;
        }
        self.check_up()?;
        if faults.full {
            return Err(StoreError::Full("injected: no space left on device".into()));
        }
        self.inner.append(batch).await
    }
    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError> {
        self.check_up()?;
        self.inner.load_at(doc, upto).await
    }
    async fn revisions(
        &self,
        doc: &str,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<RevisionMeta>, StoreError> {
        self.inner.revisions(doc, upto, limit).await
    }
    async fn name_version(
        &self,
        doc: &str,
        rev: u64,
        name: Option<&str>,
        by: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.name_version(doc, rev, name, by).await
    }
    async fn version_names(&self, doc: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.inner.version_names(doc).await
    }
    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.inner.compact(doc, cutoff_ms).await
    }
    async fn add_comment(&self, c: &Comment) -> Result<bool, StoreError> {
        self.inner.add_comment(c).await
    }
    async fn comments(&self, doc: &str) -> Result<Vec<Comment>, StoreError> {
        self.inner.comments(doc).await
    }
    async fn set_resolved(
        &self,
        doc: &str,
        thread: &str,
        at: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.inner.set_resolved(doc, thread, at).await
    }
    async fn edit_comment(&self, doc: &str, id: &str, body: &str) -> Result<bool, StoreError> {
        self.inner.edit_comment(doc, id, body).await
    }
    async fn delete_comment(&self, doc: &str, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_comment(doc, id).await
    }
    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError> {
        self.inner.updates_since(doc, after).await
    }
    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError> {
        self.check_up()?;
        if self.faults().snapshots {
            return Err(StoreError::Full("injected: snapshot write failed".into()));
        }
        self.inner.put_snapshot(doc, rev, state).await
    }
    async fn doc_info(&self, doc: &str) -> Result<Option<DocInfo>, StoreError> {
        self.inner.doc_info(doc).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check_up()?;
        self.inner.ping().await
    }
    async fn create_doc(&self, doc: &str, title: &str) -> Result<DocInfo, StoreError> {
        self.inner.create_doc(doc, title).await
    }
    async fn list_docs(&self, limit: usize) -> Result<Vec<DocInfo>, StoreError> {
        self.inner.list_docs(limit).await
    }
    async fn set_title(&self, doc: &str, title: &str) -> Result<bool, StoreError> {
        self.inner.set_title(doc, title).await
    }
    async fn delete_doc(&self, doc: &str) -> Result<bool, StoreError> {
        self.inner.delete_doc(doc).await
    }
}
