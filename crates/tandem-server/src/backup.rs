//! `tandem backup`, `tandem restore` and `tandem export-all`: copies an operator can keep and
//! bring back, taken while the server runs.
//!
//! A backup is a directory: `tandem.db` (SQLite's online backup API, one read transaction, so
//! the copy is the database as it was at one commit and writers are never held up), `files/`
//! (every document's attached files, copied from wherever they live: the data directory or an
//! S3 bucket) and `backup.json` (what was copied). The database is copied first: a file is
//! stored before any document can point at it, so every file the copy names is there to take.
//! The search index is not copied: `restore` rebuilds it.
//!
//! With PostgreSQL the database is backed up with `pg_dump` (docs/operations.md); `backup` then
//! refuses rather than copy half of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::json;
use tandem_core::store::{now_millis, Catalogue};
use tandem_store::{SqliteConfig, SqliteStore};

use crate::config::{Settings, StoreConfig};
use crate::files::Files;

const DB: &str = "tandem.db";
const FILES: &str = "files";
const MANIFEST: &str = "backup.json";

/// Copies the running server's data into `dest` (a new or empty directory).
pub async fn backup(settings: &Settings, dest: &Path) -> anyhow::Result<String> {
    let StoreConfig::Sqlite(db) = &settings.store else {
        bail!(
            "with PostgreSQL, back the database up with pg_dump (docs/operations.md); \
             `tandem backup` copies the embedded SQLite store"
        );
    };
    if !db.exists() {
        bail!("no database at {}", db.display());
    }
    empty_dir(dest)?;
    let copy = dest.join(DB);
    let (src, to) = (db.clone(), copy.clone());
    let pages = tokio::task::spawn_blocking(move || copy_database(&src, &to)).await??;

    // The copy's documents, and their files from the live store.
    let store = SqliteStore::open(&SqliteConfig { path: copy.clone() })?;
    let docs = store.list_docs(i64::MAX as usize).await?;
    let from = Files::open(
        settings.files.blob_url.as_deref(),
        &settings.files.default_dir,
    )?;
    let to = Files::open(None, &dest.join(FILES))?;
    let mut files = 0;
    for d in &docs {
        files += from.copy_doc(&d.id, &to).await?;
    }
    let manifest = json!({
        "tandem": env!("CARGO_PKG_VERSION"),
        "created_at": now_millis(),
        "documents": docs.len(),
        "files": files,
        "database_pages": pages,
    });
    std::fs::write(dest.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(format!(
        "backed up {} documents and {files} files to {}",
        docs.len(),
        dest.display()
    ))
}

/// The online backup: every page in one step, inside one read transaction (WAL lets the server
/// go on committing meanwhile). Returns the number of pages copied.
fn copy_database(src: &Path, dest: &Path) -> anyhow::Result<i32> {
    use rusqlite::backup::{Backup, StepResult};
    let from = rusqlite::Connection::open_with_flags(
        src,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    from.busy_timeout(Duration::from_secs(5))?;
    let mut to = rusqlite::Connection::open(dest)?;
    let backup = Backup::new(&from, &mut to)?;
    let mut tries = 0;
    loop {
        match backup.step(-1)? {
            StepResult::Done => break,
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => bail!("the database stayed busy: {other:?}"),
        }
    }
    let pages = backup.progress().pagecount;
    drop(backup);
    check_integrity(&to)?;
    Ok(pages)
}

fn check_integrity(c: &rusqlite::Connection) -> anyhow::Result<()> {
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        bail!("the copy failed SQLite's integrity check: {ok}");
    }
    Ok(())
}

/// Puts a backup made by [`backup`] into this server's empty data directory, then builds the
/// search index from it.
pub async fn restore(settings: &Settings, from: &Path) -> anyhow::Result<String> {
    let StoreConfig::Sqlite(db) = &settings.store else {
        bail!("with PostgreSQL, restore the database with pg_restore (docs/operations.md)");
    };
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("{} is not a Tandem backup", from.display()))?,
    )?;
    let data_dir = db.parent().ok_or_else(|| anyhow!("no data directory"))?;
    empty_dir(data_dir)?;
    {
        let copy = rusqlite::Connection::open_with_flags(
            from.join(DB),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        check_integrity(&copy)?;
    }
    std::fs::copy(from.join(DB), db).context("copying the database")?;
    // Migrations a newer binary adds run here.
    let store = Arc::new(SqliteStore::open(&SqliteConfig { path: db.clone() })?);
    let docs = store.list_docs(i64::MAX as usize).await?;
    let source = Files::open(None, &from.join(FILES))?;
    let to = Files::open(
        settings.files.blob_url.as_deref(),
        &settings.files.default_dir,
    )?;
    let mut files = 0;
    for d in &docs {
        files += source.copy_doc(&d.id, &to).await?;
    }
    drop(store);
    let indexed = crate::cli::reindex(settings).await?;
    Ok(format!(
        "restored {} documents and {files} files from a backup made at {} ({indexed})",
        docs.len(),
        manifest["created_at"]
    ))
}

/// A directory that is new or holds nothing.
fn empty_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty", dir.display());
    }
    Ok(())
}

/// Every document as `DIR/{doc}/document.md` (images pointing at `files/…` beside it),
/// `document.json` (title, revision, times, the ProseMirror JSON and the comments) and
/// `files/`; `DIR/index.json` lists them. Works on either store, while the server runs.
pub async fn export_all(settings: &Settings, dir: &Path) -> anyhow::Result<String> {
    let store = crate::cli::open_store(settings).await?;
    empty_dir(dir)?;
    let files = crate::startup::open_files(settings)?;
    let docs = store.list_docs(i64::MAX as usize).await?;
    let mut index = Vec::with_capacity(docs.len());
    let mut copied = 0;
    for info in &docs {
        if !tandem_core::valid_doc_name(&info.id) {
            bail!("unexpected document name {:?}", info.id);
        }
        let out: PathBuf = dir.join(&info.id);
        std::fs::create_dir_all(&out)?;
        let loaded = store.load(&info.id).await?;
        let (pm, rev) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let (doc, rev) = tandem_core::doc::ServerDoc::load(&loaded)?;
            let pm = crate::export::prosemirror_json(doc.doc())
                .map_err(|_| anyhow!("the document nests too deeply to export"))?;
            Ok((pm, rev))
        })
        .await??;
        let prefix = crate::files::url(&info.id, "");
        let markdown = crate::export::markdown(&pm).replace(&prefix, "files/");
        std::fs::write(out.join("document.md"), markdown)?;
        let comments: Vec<_> = store
            .comments(&info.id)
            .await?
            .into_iter()
            .map(|c| {
                json!({"id": c.id, "thread": c.thread, "author": c.author, "body": c.body,
                       "quote": c.quote, "created_at": c.created_at, "resolved_at": c.resolved_at})
            })
            .collect();
        let meta = json!({
            "id": info.id, "title": info.title, "revision": rev,
            "created_at": info.created_at, "updated_at": info.updated_at,
            "content": pm, "comments": comments,
        });
        std::fs::write(out.join("document.json"), serde_json::to_vec_pretty(&meta)?)?;
        let mut names = vec![];
        if let Some(files) = &files {
            for (id, _) in files.list(&info.id).await? {
                if let Some(bytes) = files.get(&info.id, &id).await? {
                    std::fs::create_dir_all(out.join(FILES))?;
                    std::fs::write(out.join(FILES).join(&id), &bytes)?;
                    names.push(id);
                }
            }
        }
        copied += names.len();
        index.push(json!({"id": info.id, "title": info.title, "revision": rev, "files": names}));
    }
    std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&index)?)?;
    Ok(format!(
        "exported {} documents and {copied} files to {}",
        docs.len(),
        dir.display()
    ))
}
