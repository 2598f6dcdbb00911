//! `tandem user …`: operator commands on the account store, for when there is no admin to click
//! through the web client (the first account, a lockout, a compromised user). They work on the
//! database directly; a server that is running sees the change on each user's next request or
//! token refresh (at most the access-token lifetime). The admin API closes sockets at once.

use std::sync::Arc;

use tandem_core::store::DocStore;
use tandem_store::accounts::{Accounts, NewUser, User};
use tandem_store::{SqliteConfig, SqliteStore};

use crate::auth::password;
use crate::config::{Settings, StoreConfig};
use crate::routes::auth::{clean_email, clean_name};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input (one line)
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List accounts
    List,
    /// Disable an account: it can no longer sign in, and its sessions are revoked
    Disable { email: String },
    /// Enable a disabled account
    Enable { email: String },
}

pub async fn open_accounts(settings: &Settings) -> anyhow::Result<Arc<dyn Accounts>> {
    match &settings.store {
        StoreConfig::Sqlite(path) => {
            let store = SqliteStore::open(&SqliteConfig { path: path.clone() })?;
            Ok(Arc::new(store.accounts()?))
        }
        StoreConfig::Postgres(url) => {
            let store = tandem_store::PostgresStore::connect(&tandem_store::PostgresConfig {
                url: url.clone(),
                schema: None,
                pool_size: 2,
                timeout: settings.database_timeout,
            })
            .await?;
            Ok(Arc::new(store.accounts()))
        }
    }
}

/// Runs one command; returns what to print.
pub async fn run(
    accounts: &dyn Accounts,
    cmd: UserCommand,
    password: Option<String>,
) -> anyhow::Result<String> {
    match cmd {
        UserCommand::Add { email, name } => {
            let email = clean_email(&email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let password = password.unwrap_or_default();
            password::check_strength(&password).map_err(|e| anyhow::anyhow!(e))?;
            let hash = password::Hasher::new(1).hash(password).await?;
            let user = accounts
                .create_user(NewUser {
                    name: clean_name(&name, &email),
                    email,
                    password_hash: hash,
                })
                .await?;
            // Documents shared with this email before the account existed.
            accounts.claim_invitations(&user.email, user.id).await?;
            Ok(format!("created {}", line(&user)))
        }
        UserCommand::List => {
            let users = accounts.list_users().await?;
            Ok(users.iter().map(line).collect::<Vec<_>>().join("\n"))
        }
        UserCommand::Disable { email } => set_disabled(accounts, &email, true).await,
        UserCommand::Enable { email } => set_disabled(accounts, &email, false).await,
    }
}

async fn set_disabled(accounts: &dyn Accounts, email: &str, yes: bool) -> anyhow::Result<String> {
    let (user, _) = accounts
        .user_by_email(&email.trim().to_lowercase())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account has the email {email:?}"))?;
    accounts.set_disabled(user.id, yes).await?;
    let user = accounts.user_by_id(user.id).await?.unwrap_or(user);
    Ok(format!(
        "{} {}",
        if yes { "disabled" } else { "enabled" },
        line(&user)
    ))
}

fn line(u: &User) -> String {
    format!(
        "{}\t{}\t{}{}{}",
        u.id,
        u.email,
        u.name,
        if u.is_admin { "\tadmin" } else { "" },
        if u.disabled { "\tdisabled" } else { "" }
    )
}

/// The document store the settings name, for a command run beside (or instead of) the server.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn DocStore>> {
    Ok(match &settings.store {
        StoreConfig::Sqlite(path) => {
            Arc::new(SqliteStore::open(&SqliteConfig { path: path.clone() })?)
        }
        StoreConfig::Postgres(_) => Arc::new(postgres(settings).await?),
    })
}

async fn postgres(settings: &Settings) -> anyhow::Result<tandem_store::PostgresStore> {
    let StoreConfig::Postgres(url) = &settings.store else {
        anyhow::bail!("not a PostgreSQL store");
    };
    Ok(
        tandem_store::PostgresStore::connect(&tandem_store::PostgresConfig {
            url: url.clone(),
            schema: None,
            pool_size: 4,
            timeout: settings.database_timeout,
        })
        .await?,
    )
}

/// `tandem reindex`: empties the search index and builds it again from every document. Safe
/// while a server runs (it indexes as it goes; an entry is never replaced by an older one).
pub async fn reindex(settings: &Settings) -> anyhow::Result<String> {
    let store = open_store(settings).await?;
    let index: Arc<dyn tandem_store::Search> = match &settings.store {
        StoreConfig::Sqlite(path) => {
            Arc::new(SqliteStore::open(&SqliteConfig { path: path.clone() })?.search()?)
        }
        StoreConfig::Postgres(_) => Arc::new(postgres(settings).await?.search()),
    };
    let indexer = crate::search::Indexer::new(index);
    let started = std::time::Instant::now();
    let (done, failed) = indexer.reindex(&store).await?;
    let mut out = format!(
        "indexed {done} documents in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        out.push_str(&format!(
            "; {} could not be read: {}",
            failed.len(),
            failed.join(", ")
        ));
    }
    Ok(out)
}

/// `tandem health`: `GET /readyz` on this configuration's own address (a container's health check,
/// where no curl is at hand). Fails unless it answers 200 within 3 s.
pub async fn health(settings: &Settings) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = settings.admin_listen.unwrap_or(settings.listen);
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(3), ask)
        .await
        .map_err(|_| anyhow::anyhow!("{addr} did not answer within 3 s"))??;
    let status = answer.lines().next().unwrap_or_default();
    anyhow::ensure!(status.contains(" 200 "), "{addr}/readyz: {status}");
    Ok(format!("ready ({addr})"))
}
