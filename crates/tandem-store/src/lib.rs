//! Durable [`DocStore`](tandem_core::store::DocStore) backends. Today: [`SqliteStore`], the
//! embedded default. Every backend passes the shared behaviour suite in `tandem_core::store_suite`.

mod sqlite;

pub use sqlite::{SqliteConfig, SqliteStore};
