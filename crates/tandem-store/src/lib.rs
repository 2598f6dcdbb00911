//! Durable [`DocStore`](tandem_core::store::DocStore) backends: [`SqliteStore`], the embedded
//! default, and [`PostgresStore`] for cluster mode. Every backend passes the shared behaviour
//! suite in `tandem_core::store_suite`.
//! [`Accounts`] (users, sessions, roles, share links, audit log) lives beside them: [`SqliteAccounts`],
//! [`PostgresAccounts`]; both pass `accounts_suite!`. [`Search`], the full-text index, likewise:
//! [`SqliteSearch`], [`PostgresSearch`], `search_suite!`. [`Notifications`](notifications::Notifications)
//! (and the people one may mention) are part of the accounts stores: `notifications_suite!`;
//! so are [`Webhooks`](webhooks::Webhooks) and their outbox: `webhooks_suite!`.

pub mod accounts;
#[doc(hidden)]
pub mod accounts_suite;
pub mod notifications;
#[doc(hidden)]
pub mod notifications_suite;
mod postgres;
mod postgres_accounts;
mod postgres_comments;
mod postgres_notifications;
mod postgres_search;
mod postgres_sharing;
mod postgres_tokens;
mod postgres_webhooks;
pub mod search;
#[doc(hidden)]
pub mod search_suite;
mod sqlite;
mod sqlite_accounts;
mod sqlite_comments;
mod sqlite_notifications;
mod sqlite_search;
mod sqlite_sharing;
mod sqlite_tokens;
mod sqlite_webhooks;
pub mod tokens;
#[doc(hidden)]
pub mod tokens_suite;
pub mod webhooks;
#[doc(hidden)]
pub mod webhooks_suite;

pub use accounts::{Accounts, Role};
pub use postgres::{ClusterIdentity, PostgresConfig, PostgresStore};
pub use postgres_accounts::PostgresAccounts;
pub use postgres_search::PostgresSearch;
pub use search::Search;
pub use sqlite::{sqlite_memory_used, SqliteConfig, SqliteStore};
pub use sqlite_accounts::SqliteAccounts;
pub use sqlite_search::SqliteSearch;
