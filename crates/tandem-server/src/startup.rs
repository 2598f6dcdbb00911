//! Builds the application from [`Settings`] (store, group-commit writer, document registry,
//! router, listener) and runs it until the shutdown token fires. Tests call the same
//! [`Application::build`] with port 0.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tandem_core::commit::{group_commit, GroupCommitConfig};
use tandem_core::fanout::{Fanout, LocalFanout};
use tandem_core::room::{RoomConfig, Rooms};
use tandem_core::store::DocStore;
use tandem_store::{Accounts, PostgresConfig, PostgresStore, Search, SqliteConfig, SqliteStore};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::config::{AuthMode, Settings, StoreConfig};
use crate::files::Files;
use crate::nats::{NatsConfig, NatsFanout};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("cannot open the store: {0}")]
    Store(#[from] tandem_core::store::StoreError),
    #[error("{0}")]
    Config(String),
}

/// How often the storage gauges (log and snapshot rows and bytes) are refreshed.
const STORAGE_GAUGES_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Shared by every route and connection task.
#[derive(Clone)]
pub struct AppState {
    pub rooms: Rooms,
    /// Every store concern (the rooms hold only its op log).
    pub store: Arc<dyn DocStore>,
    pub auth: Arc<Auth>,
    pub settings: Arc<Settings>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    pub next_conn_id: Arc<AtomicU64>,
    pub metrics: PrometheusHandle,
    /// Connections in their join (access check, room join, first sync exchange), shared fairly
    /// between users and addresses.
    pub gate: Arc<crate::auth::gate::JoinGate>,
    /// Attached files; `None` in cluster mode without a shared `--blob-url`.
    pub files: Option<Files>,
    /// Exports, past revisions, imports and restores, off the async workers.
    pub heavy: Arc<crate::heavy::Heavy>,
    /// The full-text index and the documents waiting for it.
    pub search: Arc<crate::search::Indexer>,
    /// Records notifications and signals the streams of those they reach.
    pub notifier: Arc<crate::notify::Notifier>,
    /// Signs and checks the unsubscribe links of notification email.
    pub unsubscribe: crate::mail::Unsubscribe,
    /// Documents with a new durable revision on this node (the change feed's streams).
    pub changes: Arc<crate::routes::changes::Changes>,
    /// Other nodes' revisions (the change feed's streams; nothing on one node).
    pub fanout: Arc<dyn Fanout>,
    /// Webhook deliveries (`None` without accounts).
    pub webhooks: Option<Arc<crate::webhooks::Sender>>,
    /// Hocuspocus connections by document, for stateless messages.
    pub hocuspocus: crate::connection::hocuspocus::Stateless,
}

pub struct Application {
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    state: AppState,
    writer: JoinHandle<()>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, BuildError> {
        let mut identity = None;
        let (store, accounts, index): (Arc<dyn DocStore>, Arc<dyn Accounts>, Arc<dyn Search>) =
            match &settings.store {
                StoreConfig::Sqlite(path) => {
                    let store = SqliteStore::open(&SqliteConfig { path: path.clone() })?;
                    let accounts = Arc::new(store.accounts()?);
                    let index = Arc::new(store.search()?);
                    (Arc::new(store), accounts, index)
                }
                StoreConfig::Postgres(url) => {
                    let store = PostgresStore::connect(&PostgresConfig {
                        url: url.clone(),
                        schema: None,
                        pool_size: settings.database_pool_size,
                        timeout: settings.database_timeout,
                    })
                    .await?;
                    if settings.nats_url.is_some() {
                        identity = Some(store.cluster_identity().await?);
                    }
                    let accounts = Arc::new(store.accounts());
                    let index = Arc::new(store.search());
                    (Arc::new(store), accounts, index)
                }
            };
        let search = crate::search::Indexer::new(index);
        if settings.auth.mode == AuthMode::None {
            tracing::warn!(
                "--auth none: anyone who can reach {} can read, change and delete every document",
                settings.listen
            );
        }
        let auth = Arc::new(Auth::new(settings.auth.clone(), Some(accounts.clone())).await?);
        let accounts = auth.enabled().then_some(accounts);
        let mut nats_fanout = None;
        let fanout: Arc<dyn Fanout> = match (&settings.nats_url, identity) {
            (Some(url), Some(identity)) => {
                let prefix = settings
                    .nats_subject_prefix
                    .clone()
                    .unwrap_or_else(|| format!("tandem.{}", identity.deployment));
                tracing::info!(%prefix, "cluster mode: NATS subjects");
                let nats = NatsFanout::connect(NatsConfig {
                    url,
                    prefix,
                    security: &settings.nats_security,
                    secret: identity.secret,
                    drop_publishes: settings.fault_drop_publishes,
                })
                .await
                .map_err(|e| BuildError::Config(format!("NATS at {url}: {e}")))?;
                // Access changes made on any node reach the open sockets on every node.
                auth.set_bus(nats.clone());
                nats_fanout = Some(nats.clone());
                nats
            }
            _ => Arc::new(LocalFanout),
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| BuildError::Listen(settings.listen, e))?;
        let admin_listener = match settings.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| BuildError::Listen(addr, e))?,
            ),
            None => None,
        };
        let cfg = GroupCommitConfig {
            linger: settings.commit_linger,
            fault_delay: settings.fault_commit_delay,
            ..GroupCommitConfig::default()
        };
        let (commit, writer) = group_commit(store.clone(), cfg);
        let writer = tokio::spawn(writer);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let notifier =
            crate::notify::Notifier::new(accounts.clone(), auth.clone(), tracker.clone());
        let unsubscribe = crate::mail::Unsubscribe::new(&match &accounts {
            Some(a) => {
                a.secret("unsubscribe-key", rand::random::<[u8; 32]>().to_vec())
                    .await?
            }
            None => rand::random::<[u8; 32]>().to_vec(),
        });
        let changes = Arc::new(crate::routes::changes::Changes::default());
        let webhooks = accounts
            .as_ref()
            .map(|a| crate::webhooks::Sender::new(&settings.webhooks, a.clone(), notifier.clone()));
        let on_durable = {
            let (changes, index, webhooks) = (
                changes.clone(),
                settings.search_index.then(|| search.durable_hook()),
                webhooks.clone(),
            );
            tandem_core::room::DurableHook(Arc::new(move |doc: &str, rev| {
                changes.durable(doc, rev);
                if let Some(webhooks) = &webhooks {
                    webhooks.wake(); // the commit may have queued deliveries
                }
                if let Some(index) = &index {
                    (index.0)(doc, rev);
                }
            }))
        };
        let room_cfg = RoomConfig {
            server_id: settings.server_id.clone(),
            snapshot_every: settings.snapshot_every,
            snapshot_idle: settings.snapshot_idle,
            evict_after: settings.evict_after,
            awareness_ttl: settings.awareness_ttl,
            presence: settings.presence,
            max_message: settings.max_message_bytes,
            // Other nodes may append to a PostgreSQL log; SQLite has one writer, this process.
            shared_store: matches!(settings.store, StoreConfig::Postgres(_)),
            retention: settings.history_retention,
            schema: (settings.schema == crate::config::SchemaMode::Editor)
                .then(tandem_core::schema::Schema::editor),
            // With accounts, documents are made through the API (with an owner); an append to
            // one deleted meanwhile closes its room instead of bringing it back.
            create_on_open: settings.auth.mode == AuthMode::None,
            anti_entropy: Some(settings.anti_entropy),
            max_open_docs: Some(settings.max_open_docs),
            memory_budget: Some(settings.memory_budget),
            max_doc_bytes: Some(settings.max_doc_bytes),
            max_reassembly_bytes: settings.max_reassembly_bytes,
            on_durable: Some(on_durable),
            people: accounts
                .is_some()
                .then(|| notifier.clone() as Arc<dyn tandem_core::room::People>),
            ..RoomConfig::default()
        };
        let rooms = Rooms::new(
            store.clone(),
            fanout.clone(),
            commit,
            room_cfg,
            tracker.clone(),
            shutdown.clone(),
        );
        if let Some(nats) = &nats_fanout {
            nats.listen_for_cluster_events(auth.clone(), rooms.clone(), notifier.clone());
        }
        let joins_per_ip = settings.auth.joins_per_ip;
        let files = open_files(&settings)?;
        if let Some(files) = &files {
            // Unreferenced files go once no restorable version mentions them; with the whole
            // history kept, only those never referenced at all, after a day.
            let grace = settings
                .history_retention
                .unwrap_or(std::time::Duration::from_secs(24 * 3600));
            let every = settings.files.sweep_every;
            let (files, store, stop) = (files.clone(), store.clone(), shutdown.clone());
            tracker.spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                    match files.sweep(store.as_ref(), grace).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "unreferenced files deleted"),
                        Err(e) => tracing::warn!(error = %e, "file sweep failed"),
                    }
                }
            });
        }
        {
            // Storage gauges: a full count, so once a minute rather than per scrape.
            let (store, stop) = (store.clone(), shutdown.clone());
            tracker.spawn(async move {
                loop {
                    match store.usage().await {
                        Ok(u) => {
                            metrics::gauge!("tandem_log_rows").set(u.log_rows as f64);
                            metrics::gauge!("tandem_log_bytes").set(u.log_bytes as f64);
                            metrics::gauge!("tandem_snapshot_rows").set(u.snapshot_rows as f64);
                            metrics::gauge!("tandem_snapshot_bytes").set(u.snapshot_bytes as f64);
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot measure storage"),
                    }
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(STORAGE_GAUGES_EVERY) => {}
                    }
                }
            });
        }
        if settings.search_index {
            tracker.spawn(search.clone().run(store.clone(), shutdown.clone()));
        }
        if let Some(webhooks) = &webhooks {
            // One node on SQLite: a claim left by a killed process is nobody's any more.
            let release = matches!(settings.store, StoreConfig::Sqlite(_));
            tracker.spawn(webhooks.clone().run(release, shutdown.clone()));
        }
        if let (Some(url), Some(accounts)) = (&settings.email.smtp_url, &accounts) {
            let origin = settings.auth.public_origin.clone().unwrap_or_else(|| {
                format!(
                    "http://{}",
                    listener.local_addr().unwrap_or(settings.listen)
                )
            });
            let cfg = crate::mail::MailerConfig {
                smtp_url: url,
                from: &settings.email.from,
                origin,
                batch: settings.email.batch,
            };
            let mailer = crate::mail::Mailer::new(
                cfg,
                accounts.clone(),
                unsubscribe.clone(),
                notifier.mail_signal(),
            )
            .map_err(BuildError::Config)?;
            tracker.spawn(mailer.run(shutdown.clone()));
        }
        let heavy = Arc::new(
            crate::heavy::Heavy::new(settings.heavy_workers, settings.heavy_queue)
                .with_send_rate(settings.heavy_send_bytes_per_sec),
        );
        let state = AppState {
            rooms,
            store,
            auth,
            settings: Arc::new(settings),
            shutdown,
            tracker,
            next_conn_id: Arc::new(AtomicU64::new(1)),
            hocuspocus: Default::default(),
            metrics: crate::telemetry::metrics_handle(),
            gate: Arc::new(crate::auth::gate::JoinGate::new(joins_per_ip)),
            files,
            heavy,
            search,
            notifier,
            unsubscribe,
            changes,
            fanout,
            webhooks,
        };
        Ok(Application {
            listener,
            admin_listener,
            state,
            writer,
        })
    }

    /// The state every route sees (tests reach the stores through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Where `--admin-listen` bound (port 0 resolved), if set.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Cancel this to shut down gracefully (what SIGTERM and ctrl-c do in `main`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serves until the shutdown token fires, then: stops accepting, tells clients to reconnect
    /// (drain notice + 1012), lets in-flight commits land, snapshots open documents, and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            listener,
            admin_listener,
            state,
            writer,
        } = self;
        let shutdown = state.shutdown.clone();
        let tracker = state.tracker.clone();
        let grace = state.settings.shutdown_grace;
        let router = crate::routes::router(state.clone());
        tracing::info!(addr = %listener.local_addr()?, "listening");
        let s = &state.settings;
        let limits = crate::serve::HttpLimits {
            max_connections: s.max_http_connections,
            header_timeout: s.http_header_timeout,
            body_timeout: s.http_body_timeout,
        };
        let admin = admin_listener.map(|l| {
            tracing::info!(addr = ?l.local_addr().ok(), "admin endpoints (metrics, probes) listening");
            let router = crate::routes::admin_router(state.clone());
            tokio::spawn(crate::serve::serve(l, router, limits, shutdown.clone()))
        });
        crate::serve::serve(listener, router, limits, shutdown).await;
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("some connections or documents did not finish within the grace period");
        }
        // Every document actor has dropped its commit queue, and so does the state (the rooms
        // hold one for new documents); the writer drains and exits.
        drop(state);
        let _ = tokio::time::timeout(grace, writer).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The file store, or `None` in cluster mode without a shared one (uploads then answer 503).
pub fn open_files(settings: &Settings) -> Result<Option<Files>, BuildError> {
    let f = &settings.files;
    if f.blob_url.is_none() && settings.nats_url.is_some() {
        tracing::warn!(
            "cluster mode without --blob-url: file uploads are off (every node must see every \
             file: use s3://bucket/prefix or file:///a/shared/directory)"
        );
        return Ok(None);
    }
    Files::open(f.blob_url.as_deref(), &f.default_dir)
        .map(Some)
        .map_err(|e| BuildError::Config(e.to_string()))
}
