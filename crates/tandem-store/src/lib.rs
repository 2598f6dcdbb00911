//! Durable [`DocStore`](tandem_core::store::DocStore) backends: [`SqliteStore`], the embedded
//! default, and [`PostgresStore`] for cluster mode. Every backend passes the shared behaviour
//! suite in `tandem_core::store_suite`.

mod postgres;
mod sqlite;

pub use postgres::{PostgresConfig, PostgresStore};
pub use sqlite::{SqliteConfig, SqliteStore};
