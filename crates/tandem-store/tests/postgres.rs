//! The PostgreSQL backend against a real server: the store suite, the accounts suite, and the
//! conditional append that keeps a stale writer from forking history. A binary of its own, so
//! the SQLite tests (`--lib`) run on a machine without PostgreSQL. Each test gets its own
//! schema; a test fails (never skips) when the database cannot be reached.

use bytes::Bytes;
use tandem_core::store::{Append, AppendStatus, OpLog};
use tandem_store::{PostgresConfig, PostgresStore};
use tokio_postgres::NoTls;

/// `TANDEM_TEST_DATABASE_URL`, or the local default every machine of this project runs. A
/// test fails (never skips) when the database cannot be reached.
pub fn test_url() -> String {
    std::env::var("TANDEM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Drops the test's private schema when the test ends.
pub struct SchemaGuard(String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let schema = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&test_url(), NoTls).await.ok()?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

pub async fn make() -> (PostgresStore, SchemaGuard) {
    let schema = format!("tandem_test_{:016x}", rand_u64());
    let cfg = PostgresConfig {
        url: test_url(),
        schema: Some(schema.clone()),
        pool_size: 4,
        timeout: std::time::Duration::from_secs(10),
    };
    let store = PostgresStore::connect(&cfg)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {} unreachable: {e}", test_url()));
    (store, SchemaGuard(schema))
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

mod suite {
    tandem_core::store_suite!(super::make().await);
}

mod accounts {
    tandem_store::accounts_suite!({
        let (store, guard) = super::make().await;
        (store.accounts(), guard)
    });
}

tandem_store::home_suite!({
    let (store, guard) = super::make().await;
    let accounts = store.accounts();
    (store, accounts, guard)
});

tandem_store::notifications_suite!({
    let (store, guard) = super::make().await;
    let accounts = store.accounts();
    (store, accounts, guard)
});

tandem_store::tokens_suite!({
    let (store, guard) = super::make().await;
    let accounts = store.accounts();
    (store, accounts, guard)
});

tandem_store::webhooks_suite!({
    let (store, guard) = super::make().await;
    let accounts = store.accounts();
    (store, accounts, guard)
});

mod search {
    tandem_store::search_suite!({
        let (store, guard) = super::make().await;
        let (search, accounts) = (store.search(), store.accounts());
        (search, store, accounts, guard)
    });
}

#[tokio::test]
async fn a_stale_writer_cannot_fork_history() {
    // Two "nodes" (two stores on one schema) both believe revision 2 is next.
    let (a, guard) = make().await;
    let b = PostgresStore::connect(&PostgresConfig {
        url: test_url(),
        schema: Some(guard.0.clone()),
        pool_size: 2,
        timeout: std::time::Duration::from_secs(10),
    })
    .await
    .unwrap();
    let ap = |rev, d: &'static [u8]| Append {
        author: None,
        doc: "x".into(),
        rev,
        data: Bytes::from_static(d),
    };
    a.ensure_doc("x").await.unwrap();
    assert_eq!(
        a.append(&[ap(1, b"one")]).await.unwrap(),
        vec![AppendStatus::Ok]
    );
    let (from_a, from_b) = ([ap(2, b"from a")], [ap(2, b"from b")]);
    let (ra, rb) = tokio::join!(a.append(&from_a), b.append(&from_b));
    let mut got = vec![ra.unwrap()[0], rb.unwrap()[0]];
    got.sort_by_key(|s| *s == AppendStatus::Conflict);
    assert_eq!(
        got,
        vec![AppendStatus::Ok, AppendStatus::Conflict],
        "exactly one node gets revision 2"
    );
    let log = a.updates_since("x", 0).await.unwrap();
    assert_eq!(log.len(), 2);
    // The loser catches up from the log and appends at the next free revision.
    assert_eq!(
        b.append(&[ap(3, b"retry")]).await.unwrap(),
        vec![AppendStatus::Ok]
    );
}
