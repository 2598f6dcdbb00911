//! Files attached to documents: images and attachments. The bytes are stored content-addressed
//! under `docs/{doc}/{sha256}` through `object_store`: a directory under `--data-dir` by default,
//! or an S3-compatible bucket with `--blob-url s3://bucket/prefix` (credentials from the usual
//! `AWS_*` variables, or options in the URL's query: `?endpoint=http://…&allow_http=true`).
//! In cluster mode every node must see the same files, so uploads need a `--blob-url` there
//! (a bucket, or `file:///a/shared/directory`); without one they answer 503.
//!
//! A file's type is sniffed from its bytes ([`sniff`]), never taken from the request, and sniffed
//! again when it is served, so nothing but the bytes is stored. Raster images are served inline;
//! everything else (SVG and HTML included) as an attachment, all of it with a sandboxing CSP.
//!
//! The document is what references a file (an image's `src`, an attachment's `src`), so a file is
//! kept while any state a restore could bring back mentions it: the current document, every
//! update since the oldest snapshot kept, and every named version. [`Files::sweep`] deletes the
//! others once they are older than a grace period (the history retention window).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use tandem_core::store::{DocStore, LoadedDoc};

/// Where a document's files live, and the prefix of their URLs: `/api/docs/{doc}/files/`.
pub fn url(doc: &str, id: &str) -> String {
    format!("/api/docs/{doc}/files/{id}")
}

/// A file id: the lowercase hex SHA-256 of its bytes.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What the bytes are, as far as serving them goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: &'static str,
    /// A raster image shown in the page; everything else is downloaded.
    pub inline: bool,
}

/// Why a file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("programs cannot be attached ({0})")]
    Program(&'static str),
    #[error("this kind of file is not recognised, so it cannot be attached")]
    Unknown,
    #[error("the file is empty")]
    Empty,
}

/// Images a browser shows: these, and only these, are served inline.
const RASTER: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
];

/// The type of `bytes`, from their content alone.
pub fn sniff(bytes: &[u8]) -> Result<Sniffed, Refused> {
    use infer::MatcherType as M;
    if bytes.is_empty() {
        return Err(Refused::Empty);
    }
    let Some(t) = infer::get(bytes) else {
        // Text (Markdown, CSV, source, SVG, HTML…) is served as plain text, to download.
        return match std::str::from_utf8(bytes) {
            Ok(s) if !s.contains('\0') => Ok(Sniffed {
                mime: "text/plain; charset=utf-8",
                inline: false,
            }),
            _ => Err(Refused::Unknown),
        };
    };
    let mime = t.mime_type();
    match t.matcher_type() {
        M::App => Err(Refused::Program(mime)),
        M::Text if mime == "text/x-shellscript" => Err(Refused::Program(mime)),
        M::Text => Ok(Sniffed {
            mime: "text/plain; charset=utf-8",
            inline: false,
        }),
        M::Custom => Err(Refused::Unknown),
        M::Image if RASTER.contains(&mime) => Ok(Sniffed { mime, inline: true }),
        M::Archive | M::Audio | M::Book | M::Doc | M::Font | M::Image | M::Video => Ok(Sniffed {
            mime,
            inline: false,
        }),
    }
}

/// One stored file, as the upload route answers it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stored {
    pub id: String,
    pub url: String,
    #[serde(rename = "type")]
    pub mime: &'static str,
    pub size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("file storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("file storage: {0}")]
    Config(String),
}

/// The file store.
#[derive(Clone)]
pub struct Files {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Files({})", self.store)
    }
}

impl Files {
    /// `s3://bucket[/prefix][?option=value&…]`, `file:///absolute/path`, or a directory.
    pub fn open(
        blob_url: Option<&str>,
        default_dir: &std::path::Path,
    ) -> Result<Files, FilesError> {
        let store: Arc<dyn ObjectStore> = match blob_url {
            None => Arc::new(local(default_dir)?),
            Some(url) if url.starts_with("s3://") => s3(url)?,
            Some(url) => match url.strip_prefix("file://") {
                Some(dir) => Arc::new(local(std::path::Path::new(dir))?),
                None => {
                    return Err(FilesError::Config(format!(
                        "unsupported blob URL {url:?}: use s3://bucket/prefix or file:///path"
                    )))
                }
            },
        };
        Ok(Files { store })
    }

    fn key(doc: &str, id: &str) -> Path {
        Path::from(format!("docs/{doc}/{id}"))
    }

    /// Stores `bytes` for `doc` (again, if they are there already: that refreshes the file's age,
    /// so a sweep cannot take it away under this upload).
    pub async fn put(&self, doc: &str, bytes: Bytes, kind: Sniffed) -> Result<Stored, FilesError> {
        let id = hex(&Sha256::digest(&bytes));
        let size = bytes.len();
        self.store
            .put(&Self::key(doc, &id), PutPayload::from_bytes(bytes))
            .await?;
        Ok(Stored {
            url: url(doc, &id),
            id,
            mime: kind.mime,
            size,
        })
    }

    /// The bytes of a file, or `None` if `doc` has no such file.
    pub async fn get(&self, doc: &str, id: &str) -> Result<Option<Bytes>, FilesError> {
        match self.store.get(&Self::key(doc, id)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A document's files: (id, when stored).
    pub async fn list(
        &self,
        doc: &str,
    ) -> Result<Vec<(String, std::time::SystemTime)>, FilesError> {
        let prefix = Path::from(format!("docs/{doc}"));
        let mut out = vec![];
        let mut stream = self.store.list(Some(&prefix));
        while let Some(meta) = stream.next().await {
            let meta = meta?;
            if let Some(id) = meta.location.filename().filter(|id| valid_id(id)) {
                out.push((id.to_owned(), meta.last_modified.into()));
            }
        }
        Ok(out)
    }

    /// Copies every file of `doc` into `to` (a backup, a restore). Returns how many.
    pub async fn copy_doc(&self, doc: &str, to: &Files) -> Result<usize, FilesError> {
        let files = self.list(doc).await?;
        for (id, _) in &files {
            let bytes = self.store.get(&Self::key(doc, id)).await?.bytes().await?;
            to.store
                .put(&Self::key(doc, id), PutPayload::from_bytes(bytes))
                .await?;
        }
        Ok(files.len())
    }

    async fn delete(&self, doc: &str, id: &str) -> Result<(), FilesError> {
        match self.store.delete(&Self::key(doc, id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every file of `doc` (the document was deleted). Returns how many.
    pub async fn delete_doc(&self, doc: &str) -> Result<usize, FilesError> {
        let files = self.list(doc).await?;
        for (id, _) in &files {
            self.delete(doc, id).await?;
        }
        Ok(files.len())
    }

    /// Documents that have files.
    async fn docs(&self) -> Result<Vec<String>, FilesError> {
        let listed = self
            .store
            .list_with_delimiter(Some(&Path::from("docs")))
            .await?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect())
    }

    /// Deletes the files no restorable state mentions and that are older than `grace`, and
    /// every file of a document that no longer exists. Returns how many were deleted.
    pub async fn sweep(&self, store: &dyn DocStore, grace: Duration) -> Result<usize, SweepError> {
        let mut deleted = 0;
        for doc in self.docs().await? {
            if store.doc_info(&doc).await?.is_none() {
                deleted += self.delete_doc(&doc).await?;
                continue;
            }
            let files = self.list(&doc).await?;
            let old: Vec<_> = files
                .into_iter()
                .filter(|(_, at)| at.elapsed().is_ok_and(|age| age > grace))
                .map(|(id, _)| id)
                .collect();
            if old.is_empty() {
                continue;
            }
            let mentioned = mentioned(store, &doc).await?;
            for id in old.iter().filter(|id| !mentioned.contains(id.as_str())) {
                self.delete(&doc, id).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Store(#[from] tandem_core::store::StoreError),
}

/// The file ids any restorable state of `doc` mentions: the document now, every update since
/// its oldest kept snapshot, and every named version. Read from the bytes (a file's URL is an
/// attribute value, stored as text in the encoding), so deleted content still counts while an
/// update holding it is kept.
async fn mentioned(store: &dyn DocStore, doc: &str) -> Result<HashSet<String>, SweepError> {
    let mut ids = HashSet::new();
    let mut scan = |loaded: &LoadedDoc| -> Result<(), SweepError> {
        if let Some((_, snapshot)) = &loaded.snapshot {
            let raw = zstd::decode_all(&snapshot[..]).map_err(|e| {
                tandem_core::store::StoreError::Corrupt(format!("snapshot of {doc}: {e}"))
            })?;
            file_ids(&raw, &mut ids);
        }
        for (_, update) in &loaded.updates {
            file_ids(update, &mut ids);
        }
        Ok(())
    };
    scan(&store.load(doc).await?)?;
    for (rev, _) in store.version_names(doc).await? {
        scan(&store.load_at(doc, rev).await?)?;
    }
    Ok(ids)
}

/// Every `…/files/{64 hex}` in `bytes`.
fn file_ids(bytes: &[u8], out: &mut HashSet<String>) {
    const MARK: &[u8] = b"/files/";
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(MARK.len()).position(|w| w == MARK) {
        let start = at + i + MARK.len();
        if let Some(id) = bytes
            .get(start..start + 64)
            .and_then(|b| std::str::from_utf8(b).ok())
        {
            if valid_id(id) {
                out.insert(id.to_owned());
            }
        }
        at = start;
    }
}

/// A file name for a URL query or a `filename*` header: UTF-8 bytes, all but `A–Z a–z 0–9 . - _`
/// as `%XX`.
pub fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn local(dir: &std::path::Path) -> Result<object_store::local::LocalFileSystem, FilesError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| FilesError::Config(format!("{}: {e}", dir.display())))?;
    Ok(object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true))
}

/// `s3://bucket/prefix?endpoint=…&region=…`: the `AWS_*` variables first, then the query's
/// options (any key object_store's S3 builder knows).
fn s3(url: &str) -> Result<Arc<dyn ObjectStore>, FilesError> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let rest = &base["s3://".len()..];
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(FilesError::Config(format!("no bucket in {url:?}")));
    }
    // A request answers within seconds, not after object_store's default three minutes of
    // retries: a user is waiting on the other end.
    let retry = object_store::RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let client = object_store::ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(60));
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_client_options(client);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key: AmazonS3ConfigKey = k
            .parse()
            .map_err(|_| FilesError::Config(format!("unknown S3 option {k:?} in --blob-url")))?;
        b = b.with_config(key, v);
    }
    let s3: Arc<dyn ObjectStore> = Arc::new(b.build()?);
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        s3
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            sniff(png),
            Ok(Sniffed {
                mime: "image/png",
                inline: true
            })
        );
        let pdf = b"%PDF-1.7\n%\xe2\xe3";
        assert_eq!(sniff(pdf).map(|s| s.inline), Ok(false));
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
        assert_eq!(
            sniff(svg).map(|s| (s.mime, s.inline)),
            Ok(("text/plain; charset=utf-8", false))
        );
        let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>";
        assert!(!sniff(html).unwrap().inline);
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
        elf.resize(64, 0);
        assert!(matches!(sniff(&elf), Err(Refused::Program(_))));
        let mut exe = b"MZ\x90\0\x03\0\0\0".to_vec();
        exe.resize(64, 0);
        assert!(
            matches!(sniff(&exe), Err(Refused::Program(_))),
            "{:?}",
            sniff(&exe)
        );
        assert_eq!(sniff(b"\0\x01\x02\xff\xfe"), Err(Refused::Unknown));
        assert_eq!(sniff(b""), Err(Refused::Empty));
    }

    #[test]
    fn ids_are_found_in_encoded_bytes() {
        let id = "a".repeat(64);
        let other = "0123456789abcdef".repeat(4);
        let bytes = format!("\x05xx/api/docs/d/files/{id}\x01\x02/files/{other}/files/short");
        let mut found = HashSet::new();
        file_ids(bytes.as_bytes(), &mut found);
        assert_eq!(found, HashSet::from([id, other]));
        assert!(valid_id(&"f".repeat(64)) && !valid_id(&"F".repeat(64)) && !valid_id("abc"));
    }
}
