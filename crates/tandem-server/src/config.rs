//! One typed [`Settings`] from three sources, highest first: command-line flags, `TANDEM_*`
//! environment variables (clap reads both), and an optional TOML file (`--config`).
//! Every option is listed once, in [`Options`]; defaults live in [`Settings::from_options`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

/// What client updates to the editor's document must keep to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SchemaMode {
    /// The web editor's nodes, marks and attributes; http(s) and mailto links only (the default).
    Editor,
    /// No check: a plain Yjs relay.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Accounts, sessions and per-document roles (the default).
    Accounts,
    /// One local user who owns everything; allowed only on a loopback address.
    None,
}

/// Every option, all optional so the sources can be layered. Field names are the TOML keys.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "TANDEM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// A second address serving only /metrics, /healthz and /readyz (for Prometheus and probes);
    /// when set, the public address answers /metrics with 404 [default: /metrics on --listen]
    #[arg(long, env = "TANDEM_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Directory for the embedded database [default: ./data]
    #[arg(long, env = "TANDEM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Store URL: `sqlite://PATH` (default: DATA_DIR/tandem.db) or `postgres://…`
    #[arg(long, env = "TANDEM_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format [default: plain]
    #[arg(long, env = "TANDEM_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Name this node reports in the hello [default: tandem-<random>]
    #[arg(long, env = "TANDEM_SERVER_ID")]
    pub server_id: Option<String>,
    /// Largest WebSocket message accepted, in bytes [default: 8 MiB]
    #[arg(long, env = "TANDEM_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Messages per second a connection may send [default: 1000]
    #[arg(long, env = "TANDEM_RATE_LIMIT_PER_SEC")]
    pub rate_limit_per_sec: Option<u32>,
    /// Burst above the per-connection rate [default: 2000]
    #[arg(long, env = "TANDEM_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Frames queued per connection before it is closed as too slow [default: 1024]
    #[arg(long, env = "TANDEM_SEND_QUEUE_MESSAGES")]
    pub send_queue_messages: Option<usize>,
    /// Bytes queued per connection before it is closed as too slow [default: 16 MiB]
    #[arg(long, env = "TANDEM_SEND_QUEUE_BYTES")]
    pub send_queue_bytes: Option<usize>,
    /// WebSocket ping interval in ms; two missed pongs close the connection [default: 15000]
    #[arg(long, env = "TANDEM_PING_INTERVAL_MS")]
    pub ping_interval_ms: Option<u64>,
    /// Presence entries expire after this many ms without refresh [default: 30000]
    #[arg(long, env = "TANDEM_AWARENESS_TTL_MS")]
    pub awareness_ttl_ms: Option<u64>,
    /// Bytes of one presence (awareness) state; a larger one closes its socket with 1008 [default: 65536]
    #[arg(long, env = "TANDEM_MAX_PRESENCE_STATE_BYTES")]
    pub max_presence_state_bytes: Option<usize>,
    /// Bytes of every presence state of one document together [default: 4194304]
    #[arg(long, env = "TANDEM_MAX_PRESENCE_DOC_BYTES")]
    pub max_presence_doc_bytes: Option<usize>,
    /// Presence client ids one connection may announce [default: 4]
    #[arg(long, env = "TANDEM_PRESENCE_CLIENTS_PER_CONNECTION")]
    pub presence_clients_per_connection: Option<usize>,
    /// Evict a document this many ms after its last client leaves [default: 60000]
    #[arg(long, env = "TANDEM_EVICT_AFTER_MS")]
    pub evict_after_ms: Option<u64>,
    /// Documents held in memory at once; past it the least recently active ones without clients
    /// are evicted, and opening another is refused (WebSocket 1013, HTTP 503) when none is idle
    /// [default: 10000]
    #[arg(long, env = "TANDEM_MAX_OPEN_DOCS")]
    pub max_open_docs: Option<usize>,
    /// Bytes of memory the open documents may hold (estimated from their size), with the same
    /// rule as --max-open-docs [default: half the machine's memory]
    #[arg(long, env = "TANDEM_MEMORY_BUDGET")]
    pub memory_budget: Option<u64>,
    /// Largest encoded size of one document; an update that would grow it further is refused
    /// (closed with 4413) [default: 64 MiB]
    #[arg(long, env = "TANDEM_MAX_DOC_BYTES")]
    pub max_doc_bytes: Option<u64>,
    /// Bytes of split messages (a change above --max-message-bytes, sent in pieces) being put
    /// back together on one document at once; a change larger than this is refused (1009)
    /// [default: 64 MiB]
    #[arg(long, env = "TANDEM_MAX_REASSEMBLY_BYTES")]
    pub max_reassembly_bytes: Option<u64>,
    /// Snapshot after this many updates [default: 1000]
    #[arg(long, env = "TANDEM_SNAPSHOT_EVERY")]
    pub snapshot_every: Option<u64>,
    /// Snapshot after this many ms without updates [default: 30000]
    #[arg(long, env = "TANDEM_SNAPSHOT_IDLE_MS")]
    pub snapshot_idle_ms: Option<u64>,
    /// Microseconds a commit of fewer than 8 updates may wait for more before it is written,
    /// only while updates arrive fast enough that more are expected within the wait (one with
    /// SQLite, whose commit thread sleeps exactly that long; two with PostgreSQL, on the
    /// runtime's millisecond timer), so that many small busy documents share fewer fsyncs; 0
    /// never waits [default: 1500 (SQLite waits from about 670 updates/s on the node,
    /// PostgreSQL from about 1,330)]
    #[arg(long, env = "TANDEM_COMMIT_LINGER_US")]
    pub commit_linger_us: Option<u64>,
    /// Keep the full-text search index following the documents; false stops indexing (search
    /// answers from what is indexed; `tandem reindex` rebuilds it) [default: true]
    #[arg(long, env = "TANDEM_SEARCH_INDEX")]
    pub search_index: Option<bool>,
    /// Send notification email through this SMTP server: smtp://host:port (plain, as for a
    /// local relay), smtp://user:pass@host:587?tls=required (STARTTLS) or smtps://user:pass@host
    /// [default: no email]
    #[arg(long, env = "TANDEM_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The From of notification email [default: Tandem <tandem@localhost>]
    #[arg(long, env = "TANDEM_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Notifications reaching one person within this many seconds of the last email to them
    /// wait and go out together in one message [default: 60]
    #[arg(long, env = "TANDEM_EMAIL_BATCH_SECS")]
    pub email_batch_secs: Option<u64>,
    /// Let webhooks reach loopback, private and link-local addresses (a receiver on the same
    /// machine or network) [default: false: public addresses only]
    #[arg(long, env = "TANDEM_WEBHOOK_ALLOW_PRIVATE", num_args = 0..=1, default_missing_value = "true")]
    pub webhook_allow_private: Option<bool>,
    /// A webhook whose deliveries have failed for this many seconds is turned off, with an
    /// audit entry and a notice to its owner [default: 86400]
    #[arg(long, env = "TANDEM_WEBHOOK_GIVE_UP_SECS")]
    pub webhook_give_up_secs: Option<u64>,
    /// A webhook delivery's whole request, redirects included, may take this long [default: 10]
    #[arg(long, env = "TANDEM_WEBHOOK_TIMEOUT_SECS")]
    pub webhook_timeout_secs: Option<u64>,
    /// Serve the web client from this directory instead of the one built into the binary
    /// (development) [default: the built-in one; ./web/dist if the binary has none]
    #[arg(long, env = "TANDEM_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Milliseconds to wait for connections and commits to finish on shutdown [default: 8000]
    #[arg(long, env = "TANDEM_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// PostgreSQL: connections in the main pool (appends have two more of their own) [default: 8]
    #[arg(long, env = "TANDEM_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<usize>,
    /// PostgreSQL: milliseconds any one step may take (connect, wait for a connection, an append,
    /// a load); past it the step fails loudly instead of hanging [default: 10000]
    #[arg(long, env = "TANDEM_DATABASE_TIMEOUT_MS")]
    pub database_timeout_ms: Option<u64>,
    /// NATS server for cluster fanout, e.g. nats://127.0.0.1:4222 (with a postgres:// store)
    #[arg(long, env = "TANDEM_NATS_URL")]
    pub nats_url: Option<String>,
    /// Subject prefix on NATS; nodes of one cluster share it [default: tandem.<deployment id>,
    /// the id the first node stores in the database, so deployments sharing a NATS never mix]
    #[arg(long, env = "TANDEM_NATS_SUBJECT_PREFIX")]
    pub nats_subject_prefix: Option<String>,
    /// NATS credentials file (JWT and NKey seed, `.creds`)
    #[arg(long, env = "TANDEM_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate (PEM) to verify the NATS server with; implies TLS
    #[arg(long, env = "TANDEM_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS TLS (with --nats-tls-key)
    #[arg(long, env = "TANDEM_NATS_TLS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Client key (PEM) for NATS TLS (with --nats-tls-cert)
    #[arg(long, env = "TANDEM_NATS_TLS_KEY")]
    pub nats_tls_key: Option<PathBuf>,
    /// Cluster mode: milliseconds between comparisons of the open documents' revisions with the
    /// log (one query), which catch up any revision whose NATS message was lost [default: 3000]
    #[arg(long, env = "TANDEM_ANTI_ENTROPY_MS")]
    pub anti_entropy_ms: Option<u64>,
    /// Fault injection for tests: never publish document revisions on NATS (as if every
    /// publish after a commit were lost), so only anti-entropy carries them to other nodes
    #[arg(long, hide = true)]
    pub fault_drop_publishes: Option<bool>,
    /// Fault injection for tests: every group commit waits this many milliseconds before it is
    /// written (a slow disk), so acks visibly trail the updates they answer
    #[arg(long, hide = true)]
    pub fault_commit_delay_ms: Option<u64>,
    /// Compact history older than this many seconds into snapshots (named versions are kept)
    /// [default: keep the whole history]
    #[arg(long, env = "TANDEM_HISTORY_RETENTION_SECS")]
    pub history_retention_secs: Option<u64>,
    /// `accounts`, or `none` for a single local user (loopback only) [default: accounts]
    #[arg(long, env = "TANDEM_AUTH")]
    pub auth: Option<AuthMode>,
    /// `editor`: updates to the editor's document must keep to its schema; `off` for a plain Yjs
    /// relay [default: editor]
    #[arg(long, env = "TANDEM_SCHEMA")]
    pub schema: Option<SchemaMode>,
    /// Lifetime of an access token in seconds, at most 600 [default: 600]
    #[arg(long, env = "TANDEM_ACCESS_TOKEN_TTL_SECS")]
    pub access_token_ttl_secs: Option<u64>,
    /// Lifetime of a login session (its refresh tokens) in hours [default: 720]
    #[arg(long, env = "TANDEM_SESSION_TTL_HOURS")]
    pub session_ttl_hours: Option<u64>,
    /// The URL users reach this server at, e.g. https://docs.example.org (origin checks, Secure
    /// cookies and HSTS when https) [default: the request's Host]
    #[arg(long, env = "TANDEM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Let anyone create an account (the first account is always allowed) [default: true]
    #[arg(long, env = "TANDEM_ALLOW_SIGNUP")]
    pub allow_signup: Option<bool>,
    /// Single sign-on: the OpenID Connect issuer URL (its discovery document is
    /// ISSUER/.well-known/openid-configuration); needs --public-url, --oidc-client-id and
    /// --oidc-client-secret
    #[arg(long, env = "TANDEM_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id registered with the OpenID provider (redirect URI:
    /// PUBLIC_URL/api/auth/oidc/callback)
    #[arg(long, env = "TANDEM_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret registered with the OpenID provider
    #[arg(long, env = "TANDEM_OIDC_CLIENT_SECRET")]
    pub oidc_client_secret: Option<String>,
    /// Only these email domains may sign in with single sign-on (comma-separated) [default: any]
    #[arg(long, env = "TANDEM_OIDC_ALLOWED_DOMAINS")]
    pub oidc_allowed_domains: Option<String>,
    /// Allow signing in and up with a password; false leaves single sign-on only [default: true]
    #[arg(long, env = "TANDEM_PASSWORD_LOGIN")]
    pub password_login: Option<bool>,
    /// Login attempts per minute, per client address and per account [default: 10]
    #[arg(long, env = "TANDEM_LOGIN_PER_MINUTE")]
    pub login_per_minute: Option<u32>,
    /// Sign-ups per hour per client address [default: 20]
    #[arg(long, env = "TANDEM_SIGNUP_PER_HOUR")]
    pub signup_per_hour: Option<u32>,
    /// Documents a user may create per minute [default: 30]
    #[arg(long, env = "TANDEM_DOCS_PER_MINUTE")]
    pub docs_per_minute: Option<u32>,
    /// WebSocket messages per second per user, over all their connections [default: 2000]
    #[arg(long, env = "TANDEM_USER_MESSAGES_PER_SEC")]
    pub user_messages_per_sec: Option<u32>,
    /// Open WebSockets per client address; more are refused with 429 [default: 500]
    #[arg(long, env = "TANDEM_SOCKETS_PER_IP")]
    pub sockets_per_ip: Option<u32>,
    /// Proxies whose `X-Forwarded-For` is believed, as CIDR blocks or addresses, comma-separated;
    /// the client is the right-most address in it that is not one of them [default: 127.0.0.0/8,::1]
    #[arg(long, env = "TANDEM_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// WebSockets of one client address that may be joining at once, of 32 [default: 8]
    #[arg(long, env = "TANDEM_JOINS_PER_IP")]
    pub joins_per_ip: Option<usize>,
    /// HTTP connections open at once (WebSockets included); past it new ones are closed [default: 10000]
    #[arg(long, env = "TANDEM_MAX_HTTP_CONNECTIONS")]
    pub max_http_connections: Option<usize>,
    /// Milliseconds a client has to send a request's headers, counted from when the connection is
    /// waiting for one (so also how long a keep-alive connection may sit idle) [default: 10000]
    #[arg(long, env = "TANDEM_HTTP_HEADER_TIMEOUT_MS")]
    pub http_header_timeout_ms: Option<u64>,
    /// Milliseconds a client has to send a request's body [default: 30000]
    #[arg(long, env = "TANDEM_HTTP_BODY_TIMEOUT_MS")]
    pub http_body_timeout_ms: Option<u64>,
    /// Exports, past revisions, imports and restores that may run at once, on threads of their
    /// own [default: one less than the CPUs, at least 1]
    #[arg(long, env = "TANDEM_HEAVY_WORKERS")]
    pub heavy_workers: Option<usize>,
    /// Milliseconds such a request may wait for a worker before it is answered 503 with
    /// Retry-After [default: 5000]
    #[arg(long, env = "TANDEM_HEAVY_QUEUE_MS")]
    pub heavy_queue_ms: Option<u64>,
    /// Bytes per second that all export downloads together are sent at, so that many large
    /// downloads at once cannot take the CPU from the sockets; 0 for no limit
    /// [default: 67108864 (64 MiB/s)]
    #[arg(long, env = "TANDEM_HEAVY_SEND_BYTES_PER_SEC")]
    pub heavy_send_bytes_per_sec: Option<u64>,
    /// Where attached files live: `s3://bucket/prefix` (credentials from `AWS_*`; options such as
    /// `?endpoint=http://…&allow_http=true` in the query) or `file:///path` [default: DATA_DIR/files
    /// on one node; cluster mode needs a shared one]
    #[arg(long, env = "TANDEM_BLOB_URL")]
    pub blob_url: Option<String>,
    /// Largest file upload in bytes; larger ones get 413 [default: 20 MiB]
    #[arg(long, env = "TANDEM_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<usize>,
    /// File uploads per minute per user [default: 60]
    #[arg(long, env = "TANDEM_UPLOADS_PER_MINUTE")]
    pub uploads_per_minute: Option<u32>,
    /// Seconds between sweeps for files no restorable version mentions [default: 3600]
    #[arg(long, env = "TANDEM_FILE_SWEEP_SECS")]
    pub file_sweep_secs: Option<u64>,
}

macro_rules! layer {
    ($hi:expr, $lo:expr; $($f:ident),*) => { Options { $($f: $hi.$f.or($lo.$f)),* } };
}

impl Options {
    /// `self` wins where set; `other` fills the gaps.
    pub fn or(self, other: Options) -> Options {
        layer!(self, other; listen, admin_listen, data_dir, database_url, log_format, server_id, max_message_bytes,
            rate_limit_per_sec, rate_limit_burst, send_queue_messages, send_queue_bytes, ping_interval_ms,
            awareness_ttl_ms, max_presence_state_bytes, max_presence_doc_bytes,
            presence_clients_per_connection, evict_after_ms, max_open_docs, memory_budget, max_doc_bytes, max_reassembly_bytes, snapshot_every, snapshot_idle_ms, commit_linger_us, search_index, shutdown_grace_ms, web_dir, smtp_url, smtp_from, email_batch_secs, webhook_allow_private, webhook_give_up_secs, webhook_timeout_secs,
            database_pool_size, database_timeout_ms, nats_url, nats_subject_prefix, nats_creds, nats_tls_ca, nats_tls_cert, nats_tls_key, anti_entropy_ms, fault_drop_publishes, fault_commit_delay_ms, history_retention_secs, auth, schema, access_token_ttl_secs, session_ttl_hours, public_url, allow_signup, oidc_issuer, oidc_client_id, oidc_client_secret, oidc_allowed_domains, password_login, login_per_minute,
            signup_per_hour, docs_per_minute, user_messages_per_sec, sockets_per_ip, joins_per_ip, trusted_proxies,
            max_http_connections, http_header_timeout_ms, http_body_timeout_ms, heavy_workers, heavy_queue_ms, heavy_send_bytes_per_sec, blob_url,
            max_upload_bytes, uploads_per_minute, file_sweep_secs)
    }

    pub fn from_toml_file(path: &Path) -> Result<Options, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// How a node proves itself to NATS and checks the server.
#[derive(Debug, Clone, Default)]
pub struct NatsSecurity {
    pub creds: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key.
    pub tls_client: Option<(PathBuf, PathBuf)>,
}

/// The commit linger when none is set, on either store (BENCHMARKS.md, "a ninth session"):
/// - SQLite: about a fifth less server CPU per update at 1,000–2,000 updates/s on the node,
///   with ack p99 within 5 ms at 2,000/s; below about 670 updates/s it never waits;
/// - PostgreSQL: at 2,000 updates/s nearly a quarter less of Tandem's CPU and a third less of
///   PostgreSQL's per update, ack p99 within its own run-to-run spread; it waits from about
///   1,330 updates/s (two more appends expected, on the runtime's millisecond timer).
pub const COMMIT_LINGER_US: u64 = 1500;

#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The resolved configuration every part of the server reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Where /metrics is served instead of `listen`.
    pub admin_listen: Option<SocketAddr>,
    pub store: StoreConfig,
    pub log_format: LogFormat,
    pub server_id: String,
    pub max_message_bytes: usize,
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    pub send_queue_messages: usize,
    pub send_queue_bytes: usize,
    pub ping_interval: Duration,
    pub awareness_ttl: Duration,
    pub presence: tandem_core::presence::PresenceLimits,
    pub evict_after: Duration,
    pub max_open_docs: usize,
    pub memory_budget: u64,
    pub max_doc_bytes: u64,
    pub max_reassembly_bytes: u64,
    pub snapshot_every: u64,
    pub snapshot_idle: Duration,
    pub commit_linger: Duration,
    pub search_index: bool,
    pub shutdown_grace: Duration,
    pub max_http_connections: usize,
    pub http_header_timeout: Duration,
    pub http_body_timeout: Duration,
    /// Heavy HTTP work: workers and how long a request may wait for one.
    pub heavy_workers: usize,
    pub heavy_queue: Duration,
    pub heavy_send_bytes_per_sec: u64,
    /// Where the built web client is; `None` serves no pages (API and WebSocket only).
    pub web_dir: Option<PathBuf>,
    /// History older than this is compacted (named versions kept); `None` keeps everything.
    pub history_retention: Option<Duration>,
    pub schema: SchemaMode,
    pub auth: AuthSettings,
    /// Cluster fanout; `None` on a single node.
    pub nats_url: Option<String>,
    /// `None`: `tandem.<deployment id>` (read from the database at start).
    pub nats_subject_prefix: Option<String>,
    pub nats_security: NatsSecurity,
    /// PostgreSQL's main pool size and per-step deadline.
    pub database_pool_size: usize,
    pub database_timeout: Duration,
    pub anti_entropy: Duration,
    /// Test fault: document revisions are never published on NATS.
    pub fault_drop_publishes: bool,
    /// Test fault: each commit waits this long first.
    pub fault_commit_delay: Duration,
    pub files: FileSettings,
    pub email: EmailSettings,
    pub webhooks: crate::webhooks::WebhookConfig,
}

/// Notification email.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `None`: no email (notifications stay in the app).
    pub smtp_url: Option<String>,
    pub from: String,
    /// See `Options::email_batch_secs`.
    pub batch: Duration,
}

/// Attached files.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// `None`: a directory under the data directory on one node; no uploads in cluster mode.
    pub blob_url: Option<String>,
    /// Where files go without a `blob_url` on one node.
    pub default_dir: PathBuf,
    pub max_upload_bytes: usize,
    pub sweep_every: Duration,
}

/// OpenID Connect single sign-on.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Lowercase; empty: any domain.
    pub allowed_domains: Vec<String>,
    /// PUBLIC_URL/api/auth/oidc/callback.
    pub redirect_url: String,
}

/// Accounts, tokens and abuse limits.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub access_ttl: Duration,
    pub session_ttl: Duration,
    /// `scheme://host[:port]` with no path, if configured.
    pub public_origin: Option<String>,
    pub allow_signup: bool,
    /// Single sign-on, if configured.
    pub oidc: Option<OidcSettings>,
    /// Password sign-in and sign-up (false: single sign-on only).
    pub password_login: bool,
    pub login_per_minute: u32,
    pub signup_per_hour: u32,
    pub docs_per_minute: u32,
    pub uploads_per_minute: u32,
    pub user_messages_per_sec: u32,
    pub sockets_per_ip: u32,
    pub joins_per_ip: usize,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Settings {
    pub fn from_options(o: Options) -> Result<Settings, ConfigError> {
        let data_dir = o.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        let store = match o.database_url.as_deref() {
            None => StoreConfig::Sqlite(data_dir.join("tandem.db")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StoreConfig::Postgres(url.into())
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) => StoreConfig::Sqlite(PathBuf::from(path)),
                None => {
                    return Err(ConfigError(format!(
                        "unsupported database URL {url:?}: use sqlite://PATH or postgres://…"
                    )))
                }
            },
        };
        let ms = Duration::from_millis;
        let commit_linger_us = o.commit_linger_us.unwrap_or(COMMIT_LINGER_US);
        let listen = o
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let mode = o.auth.unwrap_or(AuthMode::Accounts);
        if mode == AuthMode::None && !listen.ip().is_loopback() {
            return Err(ConfigError(format!(
                "--auth none gives everyone who can connect full access; it is allowed only on a \
                 loopback address, not {listen}"
            )));
        }
        let access_ttl = o.access_token_ttl_secs.unwrap_or(600);
        if !(1..=600).contains(&access_ttl) {
            return Err(ConfigError(
                "access_token_ttl_secs must be between 1 and 600".into(),
            ));
        }
        let public_origin = match o.public_url {
            None => None,
            Some(url) => Some(origin_of(&url)?),
        };
        let oidc = match (o.oidc_issuer, o.oidc_client_id, o.oidc_client_secret) {
            (None, None, None) => None,
            (Some(issuer), Some(client_id), Some(client_secret)) => {
                let Some(origin) = public_origin.as_deref() else {
                    return Err(ConfigError(
                        "--oidc-issuer needs --public-url (the redirect URI is built from it)"
                            .into(),
                    ));
                };
                Some(OidcSettings {
                    issuer: issuer.trim_end_matches('/').to_owned(),
                    client_id,
                    client_secret,
                    allowed_domains: o
                        .oidc_allowed_domains
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
                        .filter(|d| !d.is_empty())
                        .collect(),
                    redirect_url: format!("{origin}/api/auth/oidc/callback"),
                })
            }
            _ => {
                return Err(ConfigError(
                    "single sign-on needs all of --oidc-issuer, --oidc-client-id and \
                     --oidc-client-secret"
                        .into(),
                ))
            }
        };
        let password_login = o.password_login.unwrap_or(true);
        if !password_login && oidc.is_none() {
            return Err(ConfigError(
                "--password-login false needs single sign-on (--oidc-issuer …)".into(),
            ));
        }
        let auth = AuthSettings {
            oidc,
            password_login,
            mode,
            access_ttl: Duration::from_secs(access_ttl),
            session_ttl: Duration::from_secs(3600 * o.session_ttl_hours.unwrap_or(720).max(1)),
            public_origin,
            allow_signup: o.allow_signup.unwrap_or(true),
            login_per_minute: o.login_per_minute.unwrap_or(10).max(1),
            signup_per_hour: o.signup_per_hour.unwrap_or(20).max(1),
            docs_per_minute: o.docs_per_minute.unwrap_or(30).max(1),
            uploads_per_minute: o.uploads_per_minute.unwrap_or(60).max(1),
            user_messages_per_sec: o.user_messages_per_sec.unwrap_or(2000).max(1),
            sockets_per_ip: o.sockets_per_ip.unwrap_or(500).max(1),
            joins_per_ip: o.joins_per_ip.unwrap_or(8).max(1),
            trusted_proxies: crate::auth::client_ip::parse_trusted(
                o.trusted_proxies.as_deref().unwrap_or("127.0.0.0/8,::1"),
            )
            .map_err(|e| ConfigError(format!("--trusted-proxies: {e}")))?,
        };
        let nats_subject_prefix = o.nats_subject_prefix;
        if nats_subject_prefix.as_deref().is_some_and(|p| {
            p.is_empty()
                || !p.split('.').all(|t| {
                    !t.is_empty()
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
        }) {
            return Err(ConfigError(format!(
                "invalid NATS subject prefix {nats_subject_prefix:?}"
            )));
        }
        if o.nats_url.is_some() && !matches!(store, StoreConfig::Postgres(_)) {
            return Err(ConfigError(
                "--nats-url needs a shared store: add --database-url postgres://…".into(),
            ));
        }
        let files = FileSettings {
            blob_url: o.blob_url,
            default_dir: data_dir.join("files"),
            max_upload_bytes: o.max_upload_bytes.unwrap_or(20 << 20).max(1),
            sweep_every: Duration::from_secs(o.file_sweep_secs.unwrap_or(3600).max(1)),
        };
        Ok(Settings {
            files,
            listen,
            admin_listen: o.admin_listen,
            auth,
            nats_url: o.nats_url,
            history_retention: o.history_retention_secs.map(Duration::from_secs),
            schema: o.schema.unwrap_or(SchemaMode::Editor),
            nats_subject_prefix,
            nats_security: NatsSecurity {
                creds: o.nats_creds,
                tls_ca: o.nats_tls_ca,
                tls_client: match (o.nats_tls_cert, o.nats_tls_key) {
                    (Some(cert), Some(key)) => Some((cert, key)),
                    (None, None) => None,
                    _ => {
                        return Err(ConfigError(
                            "--nats-tls-cert and --nats-tls-key go together".into(),
                        ))
                    }
                },
            },
            database_pool_size: o.database_pool_size.unwrap_or(8).max(2),
            database_timeout: ms(o.database_timeout_ms.unwrap_or(10_000).max(100)),
            anti_entropy: ms(o.anti_entropy_ms.unwrap_or(3000).max(100)),
            fault_drop_publishes: o.fault_drop_publishes.unwrap_or(false),
            fault_commit_delay: ms(o.fault_commit_delay_ms.unwrap_or(0)),
            store,
            log_format: o.log_format.unwrap_or(LogFormat::Plain),
            server_id: o
                .server_id
                .unwrap_or_else(|| format!("tandem-{:08x}", rand::random::<u32>())),
            max_message_bytes: o.max_message_bytes.unwrap_or(8 << 20),
            rate_limit_per_sec: o.rate_limit_per_sec.unwrap_or(1000),
            rate_limit_burst: o.rate_limit_burst.unwrap_or(2000),
            send_queue_messages: o.send_queue_messages.unwrap_or(1024),
            send_queue_bytes: o.send_queue_bytes.unwrap_or(16 << 20),
            ping_interval: ms(o.ping_interval_ms.unwrap_or(15_000)),
            awareness_ttl: ms(o.awareness_ttl_ms.unwrap_or(30_000)),
            presence: {
                let d = tandem_core::presence::PresenceLimits::default();
                tandem_core::presence::PresenceLimits {
                    clients_per_conn: o
                        .presence_clients_per_connection
                        .unwrap_or(d.clients_per_conn),
                    state_bytes: o.max_presence_state_bytes.unwrap_or(d.state_bytes),
                    doc_bytes: o.max_presence_doc_bytes.unwrap_or(d.doc_bytes),
                }
            },
            evict_after: ms(o.evict_after_ms.unwrap_or(60_000)),
            max_open_docs: o.max_open_docs.unwrap_or(10_000).max(1),
            memory_budget: o
                .memory_budget
                .unwrap_or_else(|| physical_memory() / 2)
                .max(1 << 20),
            max_doc_bytes: o.max_doc_bytes.unwrap_or(64 << 20).max(1024),
            max_reassembly_bytes: o.max_reassembly_bytes.unwrap_or(64 << 20),
            snapshot_every: o.snapshot_every.unwrap_or(1000).max(1),
            snapshot_idle: ms(o.snapshot_idle_ms.unwrap_or(30_000)),
            commit_linger: Duration::from_micros(commit_linger_us),
            search_index: o.search_index.unwrap_or(true),
            shutdown_grace: ms(o.shutdown_grace_ms.unwrap_or(8_000)),
            max_http_connections: o.max_http_connections.unwrap_or(10_000).max(1),
            http_header_timeout: ms(o.http_header_timeout_ms.unwrap_or(10_000).max(1)),
            http_body_timeout: ms(o.http_body_timeout_ms.unwrap_or(30_000).max(1)),
            heavy_workers: o
                .heavy_workers
                .unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1))
                })
                .max(1),
            heavy_queue: ms(o.heavy_queue_ms.unwrap_or(5_000)),
            heavy_send_bytes_per_sec: o.heavy_send_bytes_per_sec.unwrap_or(64 << 20),
            email: EmailSettings {
                smtp_url: o.smtp_url,
                from: o
                    .smtp_from
                    .unwrap_or_else(|| "Tandem <tandem@localhost>".into()),
                batch: Duration::from_secs(o.email_batch_secs.unwrap_or(60)),
            },
            webhooks: crate::webhooks::WebhookConfig {
                allow_private: o.webhook_allow_private.unwrap_or(false),
                give_up: Duration::from_secs(o.webhook_give_up_secs.unwrap_or(24 * 3600)),
                timeout: Duration::from_secs(o.webhook_timeout_secs.unwrap_or(10).max(1)),
            },
            web_dir: o.web_dir.or_else(|| {
                Some(PathBuf::from("web/dist"))
                    .filter(|d| !crate::routes::web::embedded() && d.join("index.html").exists())
            }),
        })
    }
}

/// The machine's memory (Linux `/proc/meminfo`), or 2 GiB where it cannot be read.
fn physical_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(2 << 30)
}

/// `https://docs.example.org/any/path` → `https://docs.example.org`.
fn origin_of(url: &str) -> Result<String, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "public_url {url:?} must look like https://host[:port]"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(bad());
    }
    Ok(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let file: Options =
            toml::from_str("listen = \"127.0.0.1:9000\"\nsnapshot_every = 5\n").unwrap();
        let cli = Options {
            snapshot_every: Some(7),
            ..Default::default()
        };
        let s = Settings::from_options(cli.or(file)).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.snapshot_every, 7);
        assert_eq!(s.max_message_bytes, 8 << 20);
        assert!(toml::from_str::<Options>("typo = 1").is_err());
        let bad = Options {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(Settings::from_options(bad).is_err());
    }

    /// Both stores linger by default; a set value wins on either, 0 included.
    #[test]
    fn the_commit_linger_defaults_on_either_store() {
        let with = |database_url: Option<&str>, linger: Option<u64>| {
            let o = Options {
                database_url: database_url.map(String::from),
                commit_linger_us: linger,
                ..Default::default()
            };
            Settings::from_options(o).unwrap().commit_linger
        };
        let default = Duration::from_micros(COMMIT_LINGER_US);
        assert_eq!(with(None, None), default);
        assert_eq!(with(Some("sqlite:///tmp/x.db"), None), default);
        assert_eq!(with(Some("postgres://h/db"), None), default);
        assert_eq!(with(None, Some(0)), Duration::ZERO);
        assert_eq!(with(Some("postgres://h/db"), Some(0)), Duration::ZERO);
        assert_eq!(
            with(Some("postgres://h/db"), Some(2000)),
            Duration::from_micros(2000)
        );
    }

    #[test]
    fn auth_none_only_on_loopback() {
        let on = |listen: &str| Options {
            listen: Some(listen.parse().unwrap()),
            auth: Some(AuthMode::None),
            ..Default::default()
        };
        assert!(Settings::from_options(on("127.0.0.1:8080")).is_ok());
        assert!(Settings::from_options(on("[::1]:8080")).is_ok());
        let err = Settings::from_options(on("0.0.0.0:8080")).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let long = Options {
            access_token_ttl_secs: Some(3600),
            ..Default::default()
        };
        assert!(Settings::from_options(long).is_err());
        let url = Options {
            public_url: Some("https://docs.example.org/x".into()),
            ..Default::default()
        };
        let s = Settings::from_options(url).unwrap();
        assert_eq!(
            s.auth.public_origin.as_deref(),
            Some("https://docs.example.org")
        );
    }
}
