//! The PostgreSQL store for cluster mode: the same tables and the same behaviour suite as
//! SQLite. Appends are conditional: inside one transaction each touched document's row is locked
//! (`FOR UPDATE`), an entry is written only if it is exactly `head_rev + 1`, and the `(doc, rev)`
//! primary key backs that up, so a stale or paused node can never reuse or skip a revision.
//!
//! Two deadpool pools: a small one of its own for appends (the commit writer), so requests,
//! auth look-ups and loads cannot starve it, and the main one for everything else. A database
//! that stops answering fails loudly: connecting, waiting for a pooled connection, recycling one,
//! and every append, load and ping have a deadline (`PostgresConfig::timeout`; connections that
//! miss one are discarded), statements have a server-side `statement_timeout`, and TCP
//! keepalives find a peer that vanished. Migrations embedded and tracked in
//! `tandem_schema_version`.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tandem_core::store::{
    now_millis, Append, AppendStatus, Catalogue, Change, DocInfo, LoadedDoc, OpLog, RevisionMeta,
    StorageUsage, StoreError, Versions,
};
use tokio_postgres::NoTls;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_accounts.sql"),
    include_str!("../migrations/postgres/0003_version_names.sql"),
    include_str!("../migrations/postgres/0004_comments.sql"),
    include_str!("../migrations/postgres/0005_access_requests.sql"),
    include_str!("../migrations/postgres/0006_invitations.sql"),
    include_str!("../migrations/postgres/0007_doc_settings.sql"),
    include_str!("../migrations/postgres/0008_cluster_identity.sql"),
    include_str!("../migrations/postgres/0009_search.sql"),
    include_str!("../migrations/postgres/0010_stars_and_opens.sql"),
    include_str!("../migrations/postgres/0011_public_links.sql"),
    include_str!("../migrations/postgres/0012_notifications.sql"),
    include_str!("../migrations/postgres/0013_webhooks.sql"),
    include_str!("../migrations/postgres/0014_api_tokens.sql"),
];

/// What the nodes of one deployment share (see `0008_cluster_identity.sql`).
#[derive(Clone)]
pub struct ClusterIdentity {
    /// 12 hex digits, made by the first node to start.
    pub deployment: String,
    /// 32 random bytes that sign the nodes' NATS messages.
    pub secret: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct PostgresConfig {
    pub url: String,
    /// Schema to use (created if missing); `None` uses the server's default search path.
    pub schema: Option<String>,
    /// Connections of the main pool (the append pool has two of its own).
    pub pool_size: usize,
    /// How long any one database step may take: connecting, waiting for a pooled connection,
    /// an append, a load, a ping. Past it the step fails (an append's clients get 1011 and keep
    /// their edits) instead of hanging on a database that stopped answering.
    pub timeout: Duration,
}

/// Connections reserved for appends.
const APPEND_POOL: usize = 2;

pub struct PostgresStore {
    pool: Pool,
    appends: Pool,
    timeout: Duration,
}

/// The error with its causes ("… : error performing TLS handshake: invalid peer certificate").
pub(crate) fn err(e: impl std::error::Error) -> StoreError {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    StoreError::Unavailable(text)
}

impl PostgresStore {
    pub async fn connect(cfg: &PostgresConfig) -> Result<Self, StoreError> {
        let (url, root_cert) = tls_params(&cfg.url);
        let mut pg: tokio_postgres::Config = url.parse().map_err(err)?;
        let tls = match pg.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => Tls::On(tls_connector(root_cert)?),
            _ => Tls::Off,
        };
        if let Some(schema) = &cfg.schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Unavailable(format!(
                    "invalid schema name {schema:?}"
                )));
            }
            // Create it on a connection of its own first, then pin every pooled one to it.
            let pool = Pool::builder(tls.manager(&pg, RecyclingMethod::Fast))
                .max_size(1)
                .build()
                .map_err(err)?;
            pool.get()
                .await
                .map_err(err)?
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(err)?;
            pool.close();
            pg.options(format!("-c search_path={schema}"));
        }
        let t = cfg.timeout;
        let statement_timeout = format!("-c statement_timeout={}", t.as_millis());
        let options = match pg.get_options() {
            Some(o) => format!("{o} {statement_timeout}"),
            None => statement_timeout,
        };
        pg.options(options)
            .connect_timeout(t)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        let pool = |size: usize| {
            // A round trip on checkout: a connection stuck on a stalled database fails it
            // (within the recycle timeout) and is replaced instead of handed out.
            Pool::builder(tls.manager(&pg, RecyclingMethod::Verified))
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(t))
                .create_timeout(Some(t))
                .recycle_timeout(Some(t.min(Duration::from_secs(2))))
                .build()
                .map_err(err)
        };
        let store = Self {
            pool: pool(cfg.pool_size.max(2))?,
            appends: pool(APPEND_POOL)?,
            timeout: t,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs `step` (which takes its own pooled connection) within the deadline.
    async fn within<T>(
        &self,
        what: &str,
        step: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, step)
            .await
            .unwrap_or_else(|_| Err(self.late(what)))
    }

    fn late(&self, what: &str) -> StoreError {
        metrics::counter!("tandem_database_timeouts_total").increment(1);
        StoreError::Unavailable(format!(
            "the database did not answer {what} within {:?}",
            self.timeout
        ))
    }

    /// The deployment's identity, made by whichever node starts first.
    pub async fn cluster_identity(&self) -> Result<ClusterIdentity, StoreError> {
        let c = self.client().await?;
        let deployment = format!("{:012x}", rand::random::<u64>() >> 16);
        let secret = rand::random::<[u8; 32]>().to_vec();
        c.execute(
            "INSERT INTO cluster_identity (id, deployment, secret) VALUES (1, $1, $2)
             ON CONFLICT DO NOTHING",
            &[&deployment, &secret],
        )
        .await
        .map_err(err)?;
        let row = c
            .query_one(
                "SELECT deployment, secret FROM cluster_identity WHERE id = 1",
                &[],
            )
            .await
            .map_err(err)?;
        Ok(ClusterIdentity {
            deployment: row.get(0),
            secret: row.get(1),
        })
    }

    /// Accounts, sessions and roles in the same database, on the same pool.
    /// The full-text index in the same database.
    pub fn search(&self) -> crate::PostgresSearch {
        crate::PostgresSearch::new(self.pool.clone())
    }

    pub fn accounts(&self) -> crate::PostgresAccounts {
        crate::PostgresAccounts::new(self.pool.clone())
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(err)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        // One migrator at a time across nodes.
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7261726);
             CREATE TABLE IF NOT EXISTS tandem_schema_version (version INT NOT NULL)",
        )
        .await
        .map_err(err)?;
        let version: i32 = tx
            .query_opt("SELECT version FROM tandem_schema_version", &[])
            .await
            .map_err(err)?
            .map(|r| r.get(0))
            .unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await.map_err(err)?;
            tx.execute("DELETE FROM tandem_schema_version", &[])
                .await
                .map_err(err)?;
            tx.execute(
                "INSERT INTO tandem_schema_version VALUES ($1)",
                &[&(i as i32 + 1)],
            )
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }
}

fn doc_info(r: &tokio_postgres::Row) -> DocInfo {
    DocInfo {
        id: r.get(0),
        title: r.get(1),
        head_rev: r.get::<_, i64>(2) as u64,
        created_at: r.get(3),
        updated_at: r.get(4),
    }
}

/// One append transaction on `c` (see [`OpLog::append`] for `PostgresStore`).
/// A document's row, unless it exists.
/// A document's row, unless it exists; whether it was made now.
async fn insert_doc(c: &Object, doc: &str, title: &str) -> Result<bool, StoreError> {
    c.execute(
        "INSERT INTO documents (id, title, created_at, updated_at, head_rev) VALUES ($1, $2, $3, $3, 0) ON CONFLICT DO NOTHING",
        &[&doc, &title, &now_millis()],
    )
    .await
    .map(|n| n == 1)
    .map_err(err)
}

async fn append_on(c: &mut Object, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
    let now = now_millis();
    let tx = c.transaction().await.map_err(err)?;
    // Lock every touched row in id order (LockRows runs above the sort, so nodes always lock
    // in the same order and cannot deadlock). Appends never create documents: one that is
    // missing (deleted while a node still had it open) gets `Missing`. Three statements per
    // batch, however many documents it touches.
    let mut docs: Vec<&str> = batch.iter().map(|a| a.doc.as_str()).collect();
    docs.sort_unstable();
    docs.dedup();
    let rows = tx
        .query(
            "SELECT id, head_rev FROM documents WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[&docs],
        )
        .await
        .map_err(err)?;
    // Each document's head as the batch advances it, and its first new revision.
    let mut heads: HashMap<&str, (i64, Option<i64>)> = HashMap::new();
    for r in &rows {
        let id: &str = r.get(0);
        let d = docs.iter().find(|d| **d == id).copied().unwrap_or_default();
        heads.insert(d, (r.get(1), None));
    }
    let mut out = Vec::with_capacity(batch.len());
    let (mut ids, mut revs, mut datas, mut authors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for a in batch {
        let Some(h) = heads.get_mut(a.doc.as_str()) else {
            out.push(AppendStatus::Missing);
            continue;
        };
        if a.rev as i64 != h.0 + 1 {
            out.push(AppendStatus::Conflict);
            continue;
        }
        h.0 = a.rev as i64;
        h.1.get_or_insert(a.rev as i64);
        ids.push(a.doc.as_str());
        revs.push(a.rev as i64);
        datas.push(&a.data[..]);
        authors.push(a.author.as_deref());
        out.push(AppendStatus::Ok);
    }
    if !ids.is_empty() {
        // One multi-row insert; the primary key refuses any revision another node took.
        let inserted = tx
            .execute(
                "INSERT INTO updates (doc, rev, data, created_at, author)
                 SELECT d, r, x, $4, w FROM unnest($1::text[], $2::bigint[], $3::bytea[], $5::text[]) AS t(d, r, x, w)
                 ON CONFLICT DO NOTHING",
                &[&ids, &revs, &datas, &now, &authors],
            )
            .await
            .map_err(err)?;
        if inserted as usize != ids.len() {
            // Impossible while head_rev is honoured; refuse the whole batch rather than guess.
            return Err(StoreError::Corrupt(format!(
                "{} of {} revisions were already taken",
                ids.len() - inserted as usize,
                ids.len()
            )));
        }
    }
    let (mut moved, mut firsts, mut new_heads) = (Vec::new(), Vec::new(), Vec::new());
    for (d, (h, first)) in &heads {
        if let Some(first) = first {
            moved.push(*d);
            firsts.push(*first);
            new_heads.push(*h);
        }
    }
    if !moved.is_empty() {
        tx.execute(
            "UPDATE documents AS d SET head_rev = t.h, updated_at = $3
             FROM unnest($1::text[], $2::bigint[]) AS t(id, h) WHERE d.id = t.id",
            &[&moved, &new_heads, &now],
        )
        .await
        .map_err(err)?;
        // The webhooks' deliveries, in the same transaction (one row per webhook and document).
        tx.execute(
            crate::webhooks::enqueue::POSTGRES_CHANGED,
            &[&moved, &firsts, &new_heads, &now],
        )
        .await
        .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    Ok(out)
}

const DOC_COLUMNS: &str = "id, title, head_rev, created_at, updated_at";

#[async_trait::async_trait]
impl OpLog for PostgresStore {
    /// One statement, no read back: the row is all an open needs.
    async fn ensure_doc(&self, doc: &str) -> Result<bool, StoreError> {
        let insert = async {
            let c = self.client().await?;
            insert_doc(&c, doc, "").await
        };
        self.within("creating a document", insert).await
    }
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // One deadline for the whole append, waiting for a connection included.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut c = match tokio::time::timeout_at(deadline, self.appends.get()).await {
            Ok(c) => c.map_err(err)?,
            Err(_) => return Err(self.late("an append")),
        };
        match tokio::time::timeout_at(deadline, append_on(&mut c, batch)).await {
            Ok(result) => result,
            Err(_) => {
                // Mid-transaction on a database that stopped answering: never reuse it. (If the
                // commit did land, the actor finds it in the log; nothing is acked meanwhile.)
                drop(Object::take(c));
                Err(self.late("an append"))
            }
        }
    }
    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError> {
        self.within("a load", async {
            let upto = upto.min(i64::MAX as u64) as i64;
            let mut c = self.client().await?;
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await
                .map_err(err)?;
            let snapshot = tx
                .query_opt(
                    "SELECT rev, state FROM snapshots WHERE doc = $1 AND rev <= $2 ORDER BY rev DESC LIMIT 1",
                    &[&doc, &upto],
                )
                .await
                .map_err(err)?
                .map(|r| {
                    (
                        r.get::<_, i64>(0) as u64,
                        Bytes::from(r.get::<_, Vec<u8>>(1)),
                    )
                });
            let after = snapshot.as_ref().map_or(0, |s| s.0) as i64;
            let rows = tx
                .query(
                    "SELECT rev, data FROM updates WHERE doc = $1 AND rev > $2 AND rev <= $3 ORDER BY rev",
                    &[&doc, &after, &upto],
                )
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)?;
            let updates = rows
                .iter()
                .map(|r| {
                    (
                        r.get::<_, i64>(0) as u64,
                        Bytes::from(r.get::<_, Vec<u8>>(1)),
                    )
                })
                .collect();
            Ok(LoadedDoc { snapshot, updates })
        })
        .await
    }
    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let s: Option<i64> = tx
            .query_one(
                "SELECT MAX(s.rev) FROM snapshots s JOIN updates u ON u.doc = s.doc AND u.rev = s.rev
                 WHERE s.doc = $1 AND u.created_at < $2",
                &[&doc, &cutoff_ms],
            )
            .await
            .map_err(err)?
            .get(0);
        let Some(s) = s else { return Ok(0) };
        let n = tx
            .execute(
                "DELETE FROM updates WHERE doc = $1 AND rev <= $2",
                &[&doc, &s],
            )
            .await
            .map_err(err)?;
        tx.execute(
            "DELETE FROM snapshots WHERE doc = $1 AND rev < $2
             AND rev NOT IN (SELECT rev FROM version_names WHERE doc = $1)",
            &[&doc, &s],
        )
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(n)
    }
    async fn prune_snapshots(&self, doc: &str, keep: usize) -> Result<u64, StoreError> {
        let offset = keep.max(1) as i64 - 1;
        let c = self.client().await?;
        c.execute(
            "DELETE FROM snapshots WHERE doc = $1
             AND rev < (SELECT rev FROM snapshots WHERE doc = $1 ORDER BY rev DESC LIMIT 1 OFFSET $2)
             AND rev >= (SELECT MIN(rev) FROM updates WHERE doc = $1)
             AND rev NOT IN (SELECT rev FROM version_names WHERE doc = $1)",
            &[&doc, &offset],
        )
        .await
        .map_err(err)
    }
    async fn heads(&self, docs: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        self.within("a head check", async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT id, head_rev FROM documents WHERE id = ANY($1)",
                    &[&docs],
                )
                .await
                .map_err(err)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
                .collect())
        })
        .await
    }
    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError> {
        self.within("a catch-up", async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT rev, data FROM updates WHERE doc = $1 AND rev > $2 ORDER BY rev",
                    &[&doc, &(after as i64)],
                )
                .await
                .map_err(err)?;
            Ok(rows
                .iter()
                .map(|r| {
                    (
                        r.get::<_, i64>(0) as u64,
                        Bytes::from(r.get::<_, Vec<u8>>(1)),
                    )
                })
                .collect())
        })
        .await
    }
    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError> {
        let c = self.client().await?;
        let rev = rev as i64;
        c.execute(
            "INSERT INTO snapshots (doc, rev, state, created_at)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM documents WHERE id = $1 AND head_rev >= $2 FOR SHARE)
             ON CONFLICT DO NOTHING",
            &[&doc, &rev, &&state[..], &now_millis()],
        )
        .await
        .map_err(err)?;
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM snapshots WHERE doc = $1 AND rev = $2",
                &[&doc, &rev],
            )
            .await
            .map_err(err)?
            .get(0);
        if n == 0 {
            return Err(StoreError::Corrupt(format!(
                "snapshot of {doc} at {rev} is ahead of the log"
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Versions for PostgresStore {
    async fn changes(
        &self,
        doc: &str,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<u64>), StoreError> {
        let after = after.min(i64::MAX as u64) as i64;
        let c = self.client().await?;
        // One statement, one snapshot: the first revision and the page agree.
        let rows = c
            .query(
                "SELECT u.rev, u.created_at, u.author, u.data,
                        (SELECT MIN(rev) FROM updates WHERE doc = $1)
                   FROM (SELECT 1) one
                   LEFT JOIN LATERAL (SELECT rev, created_at, author, data FROM updates
                                       WHERE doc = $1 AND rev > $2 ORDER BY rev LIMIT $3) u ON TRUE",
                &[&doc, &after, &(limit as i64)],
            )
            .await
            .map_err(err)?;
        let first = rows
            .first()
            .and_then(|r| r.get::<_, Option<i64>>(4))
            .map(|v| v as u64);
        let changes = rows
            .iter()
            .filter_map(|r| {
                let rev = r.get::<_, Option<i64>>(0)?;
                Some(Change {
                    meta: RevisionMeta {
                        rev: rev as u64,
                        created_at: r.get(1),
                        author: r.get(2),
                    },
                    data: Bytes::from(r.get::<_, Vec<u8>>(3)),
                })
            })
            .collect();
        Ok((changes, first))
    }
    async fn name_version(
        &self,
        doc: &str,
        rev: u64,
        name: Option<&str>,
        by: Option<&str>,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let rev = rev as i64;
        let exists: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM updates WHERE doc = $1 AND rev = $2)",
                &[&doc, &rev],
            )
            .await
            .map_err(err)?
            .get(0);
        if !exists {
            return Ok(false);
        }
        match name {
            Some(n) => c
                .execute(
                    "INSERT INTO version_names (doc, rev, name, created_by, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (doc, rev) DO UPDATE SET name = excluded.name",
                    &[&doc, &rev, &n, &by, &now_millis()],
                )
                .await
                .map_err(err)?,
            None => c
                .execute("DELETE FROM version_names WHERE doc = $1 AND rev = $2", &[&doc, &rev])
                .await
                .map_err(err)?,
        };
        Ok(true)
    }
    async fn version_names(&self, doc: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT rev, name FROM version_names WHERE doc = $1 ORDER BY rev DESC",
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }
    async fn revisions(
        &self,
        doc: &str,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<RevisionMeta>, StoreError> {
        let upto = upto.min(i64::MAX as u64) as i64;
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT rev, created_at, author FROM updates WHERE doc = $1 AND rev <= $2
                 ORDER BY rev DESC LIMIT $3",
                &[&doc, &upto, &(limit as i64)],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| RevisionMeta {
                rev: r.get::<_, i64>(0) as u64,
                created_at: r.get(1),
                author: r.get(2),
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl Catalogue for PostgresStore {
    async fn doc_info(&self, doc: &str) -> Result<Option<DocInfo>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {DOC_COLUMNS} FROM documents WHERE id = $1"),
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok(row.as_ref().map(doc_info))
    }

    async fn usage(&self) -> Result<StorageUsage, StoreError> {
        self.within("a usage count", async {
            let c = self.client().await?;
            let row = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM updates),
                            (SELECT COALESCE(SUM(octet_length(data)), 0)::BIGINT FROM updates),
                            (SELECT COUNT(*) FROM snapshots),
                            (SELECT COALESCE(SUM(octet_length(state)), 0)::BIGINT FROM snapshots)",
                    &[],
                )
                .await
                .map_err(err)?;
            let n = |i: usize| row.get::<_, i64>(i) as u64;
            Ok(StorageUsage {
                log_rows: n(0),
                log_bytes: n(1),
                snapshot_rows: n(2),
                snapshot_bytes: n(3),
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.within("a ping", async {
            self.client()
                .await?
                .query_opt("SELECT 1 FROM documents LIMIT 1", &[])
                .await
                .map_err(err)
                .map(|_| ())
        })
        .await
    }

    async fn create_doc(&self, doc: &str, title: &str) -> Result<DocInfo, StoreError> {
        let c = self.client().await?;
        insert_doc(&c, doc, title).await?;
        let row = c
            .query_one(
                &format!("SELECT {DOC_COLUMNS} FROM documents WHERE id = $1"),
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok(doc_info(&row))
    }

    async fn list_docs(&self, limit: usize) -> Result<Vec<DocInfo>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(&format!("SELECT {DOC_COLUMNS} FROM documents ORDER BY created_at DESC, id DESC LIMIT $1"), &[&(limit as i64)])
            .await
            .map_err(err)?;
        Ok(rows.iter().map(doc_info).collect())
    }

    async fn set_title(&self, doc: &str, title: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE documents SET title = $2, updated_at = $3 WHERE id = $1",
                &[&doc, &title, &now_millis()],
            )
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn delete_doc(&self, doc: &str) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        // The document's row first: that waits for an append holding its lock to commit, and
        // makes every later append find it missing, so the log deleted next is the whole log.
        let n = tx
            .execute("DELETE FROM documents WHERE id = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM updates WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM snapshots WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM version_names WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        tx.execute("DELETE FROM comments WHERE doc = $1", &[&doc])
            .await
            .map_err(err)?;
        if n > 0 {
            // Told once, in the same transaction; the document's own webhooks end with it.
            let deleted = crate::webhooks::Event::Deleted;
            tx.execute(
                crate::webhooks::enqueue::POSTGRES_EVENT,
                &[
                    &doc,
                    &deleted.as_str(),
                    &"{}",
                    &now_millis(),
                    &deleted.bit(),
                ],
            )
            .await
            .map_err(err)?;
            tx.execute(
                "UPDATE webhooks SET enabled = FALSE, disabled_reason = 'the document was deleted' WHERE doc = $1",
                &[&doc],
            )
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }
}

/// TLS to PostgreSQL, when the URL asks for it (`sslmode=require`, `verify-ca` or
/// `verify-full`): rustls, which always verifies the server's certificate and name, against
/// `sslrootcert` if given, else the system's roots. Otherwise plain TCP, as before.
enum Tls {
    Off,
    On(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Tls {
    fn manager(&self, pg: &tokio_postgres::Config, recycling_method: RecyclingMethod) -> Manager {
        let cfg = ManagerConfig { recycling_method };
        match self {
            Tls::Off => Manager::from_config(pg.clone(), NoTls, cfg),
            Tls::On(tls) => Manager::from_config(pg.clone(), tls.clone(), cfg),
        }
    }
}

/// libpq's TLS parameters, which tokio-postgres does not all read: returns the URL with
/// `sslrootcert` taken out and `verify-ca` / `verify-full` read as `require` (rustls verifies as
/// `verify-full` does in every case), and the root certificate file.
fn tls_params(url: &str) -> (String, Option<std::path::PathBuf>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut root = None;
    let mut kept = Vec::new();
    for param in query.split('&') {
        match param.split_once('=') {
            Some(("sslrootcert", path)) => root = Some(std::path::PathBuf::from(path)),
            Some(("sslmode", "verify-ca" | "verify-full")) => kept.push("sslmode=require"),
            _ => kept.push(param),
        }
    }
    match kept.is_empty() {
        true => (base.to_owned(), root),
        false => (format!("{base}?{}", kept.join("&")), root),
    }
}

fn tls_connector(
    root_cert: Option<std::path::PathBuf>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match &root_cert {
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| {
                StoreError::Unavailable(format!("sslrootcert {}: {e}", path.display()))
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert); // the system's store may hold some rustls refuses
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tls_tests {
    #[test]
    fn libpq_tls_parameters_are_read() {
        let (url, root) =
            super::tls_params("postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&x=1");
        assert_eq!(url, "postgres://u@h/db?sslmode=require&x=1");
        assert_eq!(root.unwrap().to_str(), Some("/etc/ca.pem"));
        let (url, root) = super::tls_params("postgres://u@h/db?sslrootcert=/ca.pem");
        assert_eq!((url.as_str(), root.is_some()), ("postgres://u@h/db", true));
        assert_eq!(super::tls_params("postgres://h/db").0, "postgres://h/db");
    }
}
