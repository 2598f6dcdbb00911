//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a committed
//! transaction is fsync'd before `append` returns.
//!
//! Two connections. The writer makes appends (on the commit writer's own thread) and snapshot
//! writes (on blocking threads), never on a runtime worker, one at a time because the
//! group-commit writer already serialises appends. The reader serves loads, which WAL lets run
//! beside the writer. Migrations are embedded and tracked in `user_version`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use tandem_core::store::{
    now_millis, Append, AppendStatus, BlockingAppend, Catalogue, Change, DocInfo, LoadedDoc, OpLog,
    RevisionMeta, StorageUsage, StoreError, Versions,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_accounts.sql"),
    include_str!("../migrations/sqlite/0003_version_names.sql"),
    include_str!("../migrations/sqlite/0004_comments.sql"),
    include_str!("../migrations/sqlite/0005_access_requests.sql"),
    include_str!("../migrations/sqlite/0006_invitations.sql"),
    include_str!("../migrations/sqlite/0007_doc_settings.sql"),
    include_str!("../migrations/sqlite/0008_stars_and_opens.sql"),
    include_str!("../migrations/sqlite/0009_public_links.sql"),
    include_str!("../migrations/sqlite/0010_notifications.sql"),
    include_str!("../migrations/sqlite/0011_webhooks.sql"),
    include_str!("../migrations/sqlite/0012_api_tokens.sql"),
];

#[derive(Debug, Clone)]
pub struct SqliteConfig {
    pub path: PathBuf,
}

pub struct SqliteStore {
    /// Appends and snapshot writes. A `std` mutex: it is only taken on blocking threads and
    /// the commit writer's.
    pub(crate) writer: Arc<Mutex<Connection>>,
    /// Loads and metadata reads; WAL readers do not block the writer.
    pub(crate) reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and runs pending migrations.
    pub fn open(cfg: &SqliteConfig) -> Result<Self, StoreError> {
        if let Some(dir) = cfg.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let writer = open_conn(&cfg.path)?;
        migrate(&writer)?;
        let reader = open_conn(&cfg.path)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            path: cfg.path.clone(),
        })
    }

    /// Accounts, sessions and roles in the same database file, on a connection of their own.
    pub fn accounts(&self) -> Result<crate::SqliteAccounts, StoreError> {
        crate::SqliteAccounts::open(&self.path)
    }

    /// The full-text index, in a file beside the database ([`crate::SqliteSearch`]).
    pub fn search(&self) -> Result<crate::SqliteSearch, StoreError> {
        crate::SqliteSearch::open(&self.path)
    }

    pub(crate) async fn with<T: Send + 'static>(
        conn: &Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        on_blocking_thread(conn, f).await
    }
}

/// Runs `f` with the connection on a blocking thread (SQLite calls block, fsync included).
pub(crate) async fn on_blocking_thread<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || f(&mut *lock(&conn)?).map_err(map_err))
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task: {e}")))?
}

/// The connection, on this thread (it blocks while another holds it).
fn lock(conn: &Mutex<Connection>) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
    conn.lock()
        .map_err(|_| StoreError::Unavailable("connection poisoned".into()))
}

/// Bytes the SQLite library holds on the heap across every connection (page caches, statements,
/// schema): the part of the server's memory that grows with the database rather than with load.
pub fn sqlite_memory_used() -> i64 {
    // SAFETY: `sqlite3_memory_used` only reads SQLite's global allocation counter, which SQLite
    // guards itself; it takes no pointers and may be called from any thread at any time.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

pub(crate) fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open(path).map_err(map_err)?;
    c.pragma_update(None, "journal_mode", "WAL")
        .map_err(map_err)?;
    c.pragma_update(None, "synchronous", "FULL")
        .map_err(map_err)?;
    c.pragma_update(None, "foreign_keys", "ON")
        .map_err(map_err)?;
    c.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(map_err)?;
    Ok(c)
}

fn migrate(c: &Connection) -> Result<(), StoreError> {
    let version: usize = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        c.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .map_err(map_err)?;
    }
    Ok(())
}

pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn append_batch(c: &mut Connection, batch: &[Append]) -> rusqlite::Result<Vec<AppendStatus>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_millis();
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(batch.len());
    {
        let mut head_of = tx.prepare_cached("SELECT head_rev FROM documents WHERE id = ?1")?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO updates (doc, rev, data, created_at, author) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut set_head =
            tx.prepare_cached("UPDATE documents SET head_rev = ?2, updated_at = ?3 WHERE id = ?1")?;
        let mut outbox = tx.prepare_cached(crate::webhooks::enqueue::SQLITE_CHANGED)?;
        // Documents' heads as this transaction advances them (`None`: no such document, which
        // an append never creates) and their first new revision; written back once per document.
        let mut heads: Vec<(&str, Option<u64>, Option<u64>)> = Vec::new();
        for a in batch {
            let idx = match heads.iter().position(|h| h.0 == a.doc) {
                Some(i) => i,
                None => {
                    let head: Option<u64> = head_of.query_row([&a.doc], |r| r.get(0)).optional()?;
                    heads.push((&a.doc, head, None));
                    heads.len() - 1
                }
            };
            let Some(head) = heads[idx].1 else {
                out.push(AppendStatus::Missing);
                continue;
            };
            if a.rev != head + 1 {
                out.push(AppendStatus::Conflict);
                continue;
            }
            insert.execute(params![a.doc, a.rev, &a.data[..], now, a.author.as_deref()])?;
            heads[idx].1 = Some(a.rev);
            heads[idx].2.get_or_insert(a.rev);
            out.push(AppendStatus::Ok);
        }
        for (doc, head, first) in heads {
            if let (Some(first), Some(head)) = (first, head) {
                set_head.execute(params![doc, head, now])?;
                // The webhooks' deliveries, in the same transaction (one row per webhook).
                outbox.execute(params![doc, first, head, now])?;
            }
        }
    }
    tx.commit()?;
    Ok(out)
}

const DOC_COLUMNS: &str = "id, title, head_rev, created_at, updated_at";

fn doc_row(r: &rusqlite::Row) -> rusqlite::Result<DocInfo> {
    Ok(DocInfo {
        id: r.get(0)?,
        title: r.get(1)?,
        head_rev: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

fn read_updates(c: &Connection, doc: &str, after: u64) -> rusqlite::Result<Vec<(u64, Bytes)>> {
    let mut st =
        c.prepare_cached("SELECT rev, data FROM updates WHERE doc = ?1 AND rev > ?2 ORDER BY rev")?;
    let rows = st.query_map(params![doc, after], |r| {
        Ok((r.get::<_, u64>(0)?, Bytes::from(r.get::<_, Vec<u8>>(1)?)))
    })?;
    rows.collect()
}

/// A document's row, unless it exists; whether it was made now.
fn insert_doc(c: &Connection, doc: &str, title: &str) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "INSERT INTO documents (id, title, created_at, updated_at, head_rev) VALUES (?1, ?2, ?3, ?3, 0) ON CONFLICT DO NOTHING",
    )?
    .execute(params![doc, title, now_millis()])
    .map(|n| n == 1)
}

/// The commit writer's appends, on its own thread (never a runtime worker's: they wait for the
/// fsync).
impl BlockingAppend for SqliteStore {
    fn append_blocking(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        append_batch(&mut *lock(&self.writer)?, batch).map_err(map_err)
    }
}

#[async_trait::async_trait]
impl OpLog for SqliteStore {
    /// The row of a document opened by its name (`--auth none`). Not synced by itself: the WAL
    /// is written in order, so the first update's synced commit makes it durable too, and an
    /// empty document lost to a crash before that is created again by the next open. One fsync
    /// per newly opened document capped how fast fresh documents could be opened (about 1,500
    /// a second here) and was all of a new idle connection's store cost.
    async fn ensure_doc(&self, doc: &str) -> Result<bool, StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.writer, move |c| {
            c.pragma_update(None, "synchronous", "NORMAL")?;
            let inserted = insert_doc(c, &doc, "");
            // Restored whatever the insert did: the next batch on this connection is acked.
            let restored = c.pragma_update(None, "synchronous", "FULL");
            restored.and(inserted)
        })
        .await
    }
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        let batch = batch.to_vec();
        Self::with(&self.writer, move |c| append_batch(c, &batch)).await
    }
    fn blocking(&self) -> Option<&dyn BlockingAppend> {
        Some(self)
    }
    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError> {
        let doc = doc.to_owned();
        let upto = upto.min(i64::MAX as u64) as i64;
        Self::with(&self.reader, move |c| {
            // One read transaction: the snapshot and the log after it are from the same moment.
            let tx = c.transaction()?;
            let snapshot = tx
                .prepare_cached(
                    "SELECT rev, state FROM snapshots WHERE doc = ?1 AND rev <= ?2 ORDER BY rev DESC LIMIT 1",
                )?
                .query_row(params![doc, upto], |r| {
                    Ok((r.get::<_, u64>(0)?, Bytes::from(r.get::<_, Vec<u8>>(1)?)))
                })
                .optional()?;
            let after = snapshot.as_ref().map_or(0, |s| s.0);
            let mut updates = read_updates(&tx, &doc, after)?;
            updates.retain(|u| u.0 as i64 <= upto);
            Ok(LoadedDoc { snapshot, updates })
        })
        .await
    }
    async fn heads(&self, docs: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let docs = docs.to_vec();
        Self::with(&self.reader, move |c| {
            let mut st = c.prepare_cached("SELECT head_rev FROM documents WHERE id = ?1")?;
            let mut out = Vec::with_capacity(docs.len());
            for d in docs {
                if let Some(head) = st.query_row([&d], |r| r.get(0)).optional()? {
                    out.push((d, head));
                }
            }
            Ok(out)
        })
        .await
    }
    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.reader, move |c| read_updates(c, &doc, after)).await
    }
    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.writer, move |c| {
            let tx = c.transaction()?;
            let s: Option<i64> = tx.query_row(
                "SELECT MAX(s.rev) FROM snapshots s JOIN updates u ON u.doc = s.doc AND u.rev = s.rev
                 WHERE s.doc = ?1 AND u.created_at < ?2",
                params![doc, cutoff_ms],
                |r| r.get(0),
            )?;
            let Some(s) = s else { return Ok(0) };
            let n = tx.execute("DELETE FROM updates WHERE doc = ?1 AND rev <= ?2", params![doc, s])?;
            tx.execute(
                "DELETE FROM snapshots WHERE doc = ?1 AND rev < ?2
                 AND rev NOT IN (SELECT rev FROM version_names WHERE doc = ?1)",
                params![doc, s],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }
    async fn prune_snapshots(&self, doc: &str, keep: usize) -> Result<u64, StoreError> {
        let doc = doc.to_owned();
        let offset = keep.max(1) as i64 - 1;
        Self::with(&self.writer, move |c| {
            // NULL (fewer snapshots than `keep`, or no log) compares false: nothing goes.
            c.execute(
                "DELETE FROM snapshots WHERE doc = ?1
                 AND rev < (SELECT rev FROM snapshots WHERE doc = ?1 ORDER BY rev DESC LIMIT 1 OFFSET ?2)
                 AND rev >= (SELECT MIN(rev) FROM updates WHERE doc = ?1)
                 AND rev NOT IN (SELECT rev FROM version_names WHERE doc = ?1)",
                params![doc, offset],
            )
            .map(|n| n as u64)
        })
        .await
    }
    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError> {
        let doc2 = doc.to_owned();
        let inserted = Self::with(&self.writer, move |c| {
            // Only store it if the log reaches `rev`: a snapshot is never ahead of the log.
            c.execute(
                "INSERT INTO snapshots (doc, rev, state, created_at)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?1 AND head_rev >= ?2)
                 ON CONFLICT DO NOTHING",
                params![doc2, rev, &state[..], now_millis()],
            )?;
            c.query_row("SELECT COUNT(*) FROM snapshots WHERE doc = ?1 AND rev = ?2", params![doc2, rev], |r| r.get::<_, i64>(0))
        })
        .await?;
        if inserted == 0 {
            return Err(StoreError::Corrupt(format!(
                "snapshot of {doc} at {rev} is ahead of the log"
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Versions for SqliteStore {
    async fn changes(
        &self,
        doc: &str,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<u64>), StoreError> {
        let doc = doc.to_owned();
        let after = after.min(i64::MAX as u64) as i64;
        Self::with(&self.reader, move |c| {
            let tx = c.transaction()?; // one snapshot of the log for both reads
            let changes = {
                let mut st = tx.prepare_cached(
                    "SELECT rev, created_at, author, data FROM updates WHERE doc = ?1 AND rev > ?2
                     ORDER BY rev LIMIT ?3",
                )?;
                let rows = st.query_map(params![doc, after, limit as i64], |r| {
                    Ok(Change {
                        meta: RevisionMeta {
                            rev: r.get(0)?,
                            created_at: r.get(1)?,
                            author: r.get(2)?,
                        },
                        data: Bytes::from(r.get::<_, Vec<u8>>(3)?),
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let first: Option<u64> = tx
                .prepare_cached("SELECT MIN(rev) FROM updates WHERE doc = ?1")?
                .query_row([&doc], |r| r.get(0))?;
            Ok((changes, first))
        })
        .await
    }
    async fn name_version(
        &self,
        doc: &str,
        rev: u64,
        name: Option<&str>,
        by: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (doc, name, by) = (
            doc.to_owned(),
            name.map(str::to_owned),
            by.map(str::to_owned),
        );
        Self::with(&self.writer, move |c| {
            let exists: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM updates WHERE doc = ?1 AND rev = ?2)",
                params![doc, rev],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(false);
            }
            match name {
                Some(n) => c.execute(
                    "INSERT INTO version_names (doc, rev, name, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (doc, rev) DO UPDATE SET name = excluded.name",
                    params![doc, rev, n, by, now_millis()],
                )?,
                None => c.execute(
                    "DELETE FROM version_names WHERE doc = ?1 AND rev = ?2",
                    params![doc, rev],
                )?,
            };
            Ok(true)
        })
        .await
    }
    async fn version_names(&self, doc: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.reader, move |c| {
            let mut st = c.prepare_cached(
                "SELECT rev, name FROM version_names WHERE doc = ?1 ORDER BY rev DESC",
            )?;
            let rows = st.query_map([doc], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }
    async fn revisions(
        &self,
        doc: &str,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<RevisionMeta>, StoreError> {
        let doc = doc.to_owned();
        let upto = upto.min(i64::MAX as u64) as i64;
        Self::with(&self.reader, move |c| {
            let mut st = c.prepare_cached(
                "SELECT rev, created_at, author FROM updates WHERE doc = ?1 AND rev <= ?2
                 ORDER BY rev DESC LIMIT ?3",
            )?;
            let rows = st.query_map(params![doc, upto, limit as i64], |r| {
                Ok(RevisionMeta {
                    rev: r.get(0)?,
                    created_at: r.get(1)?,
                    author: r.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

#[async_trait::async_trait]
impl Catalogue for SqliteStore {
    async fn doc_info(&self, doc: &str) -> Result<Option<DocInfo>, StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.reader, move |c| {
            c.prepare_cached(&format!(
                "SELECT {DOC_COLUMNS} FROM documents WHERE id = ?1"
            ))?
            .query_row([&doc], doc_row)
            .optional()
        })
        .await
    }

    async fn create_doc(&self, doc: &str, title: &str) -> Result<DocInfo, StoreError> {
        let (doc, title) = (doc.to_owned(), title.to_owned());
        Self::with(&self.writer, move |c| {
            insert_doc(c, &doc, &title)?;
            c.query_row(
                &format!("SELECT {DOC_COLUMNS} FROM documents WHERE id = ?1"),
                [&doc],
                doc_row,
            )
        })
        .await
    }

    async fn list_docs(&self, limit: usize) -> Result<Vec<DocInfo>, StoreError> {
        Self::with(&self.reader, move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {DOC_COLUMNS} FROM documents ORDER BY created_at DESC, id DESC LIMIT ?1"
            ))?;
            let rows = st.query_map([limit as i64], doc_row)?;
            rows.collect()
        })
        .await
    }

    async fn set_title(&self, doc: &str, title: &str) -> Result<bool, StoreError> {
        let (doc, title) = (doc.to_owned(), title.to_owned());
        Self::with(&self.writer, move |c| {
            c.execute(
                "UPDATE documents SET title = ?2, updated_at = ?3 WHERE id = ?1",
                params![doc, title, now_millis()],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn delete_doc(&self, doc: &str) -> Result<bool, StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.writer, move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM updates WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM snapshots WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM version_names WHERE doc = ?1", [&doc])?;
            tx.execute("DELETE FROM comments WHERE doc = ?1", [&doc])?;
            let n = tx.execute("DELETE FROM documents WHERE id = ?1", [&doc])?;
            if n > 0 {
                // Told once, in the same transaction; the document's own webhooks end with it
                // (after this last delivery, which the sender still finds by id).
                let deleted = crate::webhooks::Event::Deleted;
                tx.execute(
                    crate::webhooks::enqueue::SQLITE_EVENT,
                    params![doc, deleted.as_str(), "{}", now_millis(), deleted.bit()],
                )?;
                tx.execute(
                    "UPDATE webhooks SET enabled = 0, disabled_reason = 'the document was deleted' WHERE doc = ?1",
                    [&doc],
                )?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn usage(&self) -> Result<StorageUsage, StoreError> {
        Self::with(&self.reader, |c| {
            let (log_rows, log_bytes) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM updates",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )?;
            let (snapshot_rows, snapshot_bytes) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(state)), 0) FROM snapshots",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )?;
            Ok(StorageUsage {
                log_rows: log_rows as u64,
                log_bytes: log_bytes as u64,
                snapshot_rows: snapshot_rows as u64,
                snapshot_bytes: snapshot_bytes as u64,
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // An open handle keeps a deleted or unmounted file readable; check the path too.
        if !self.path.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} is missing",
                self.path.display()
            )));
        }
        Self::with(&self.reader, |c| {
            c.query_row("SELECT COUNT(*) FROM documents", [], |r| r.get::<_, i64>(0))
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod suite {
    fn make() -> (super::SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open(&super::SqliteConfig {
            path: dir.path().join("tandem.db"),
        })
        .unwrap();
        (store, dir)
    }
    tandem_core::store_suite!(make());

    #[tokio::test]
    async fn reopen_keeps_everything() {
        use tandem_core::store::{Append, OpLog};
        let dir = tempfile::tempdir().unwrap();
        let cfg = super::SqliteConfig {
            path: dir.path().join("t.db"),
        };
        {
            let s = super::SqliteStore::open(&cfg).unwrap();
            s.ensure_doc("a").await.unwrap();
            s.append(&[Append {
                author: None,
                doc: "a".into(),
                rev: 1,
                data: bytes::Bytes::from_static(b"x"),
            }])
            .await
            .unwrap();
        }
        let s = super::SqliteStore::open(&cfg).unwrap();
        assert_eq!(s.load("a").await.unwrap().head(), 1);
    }

    /// A SIGKILL keeps the page cache, so no crash test notices `synchronous` dropping below
    /// FULL (a power cut would lose acked commits): every connection the store opens is read.
    #[test]
    fn every_connection_is_wal_with_synchronous_full() {
        let (store, _dir) = make();
        let accounts = store.accounts().unwrap();
        for (name, conn) in [
            ("writer", &store.writer),
            ("reader", &store.reader),
            ("accounts", &accounts.conn),
        ] {
            let c = conn.lock().unwrap();
            let sync: i64 = c
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 2, "{name}: synchronous=FULL is 2");
            let journal: String = c
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(journal, "wal", "{name}");
        }
    }

    /// Opening a document by name writes its row unsynced, then puts the writer back to
    /// `synchronous=FULL` for the commits that are acknowledged.
    #[tokio::test]
    async fn ensure_doc_leaves_the_writer_synchronous_full() {
        use tandem_core::store::{Catalogue, OpLog};
        let (store, _dir) = make();
        store.ensure_doc("a").await.unwrap();
        store.ensure_doc("a").await.unwrap();
        let sync: i64 = store
            .writer
            .lock()
            .unwrap()
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL is 2");
        assert_eq!(store.list_docs(10).await.unwrap().len(), 1);
    }
}
