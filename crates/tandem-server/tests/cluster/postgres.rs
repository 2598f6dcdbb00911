//! The server on PostgreSQL (`--database-url postgres://…`): acks, revisions and restarts behave
//! exactly as on SQLite. Each test gets its own schema. Reads `TANDEM_TEST_DATABASE_URL` (default:
//! the local server every machine of this project runs) and fails if it cannot connect.

use tandem_server::config::Options;

use crate::helpers::*;

pub fn url() -> String {
    std::env::var("TANDEM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub struct Schema(pub String);

impl Schema {
    pub async fn create() -> Schema {
        let name = format!("tandem_api_{}", rand::random::<u64>());
        let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {} unreachable: {e}", url()));
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Schema(name)
    }
    /// The database URL with every connection's search path pinned to this schema.
    pub fn database_url(&self) -> String {
        let sep = if url().contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", url(), self.0)
    }
    /// The log's revisions for `doc`, in order.
    pub async fn revisions(&self, doc: &str) -> Vec<i64> {
        let (client, conn) = tokio_postgres::connect(&self.database_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query(
                "SELECT rev FROM updates WHERE doc = $1 ORDER BY rev",
                &[&doc],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .collect()
    }

    /// Whether the `documents` table has a row for `doc`.
    pub async fn has_document(&self, doc: &str) -> bool {
        let (client, conn) = tokio_postgres::connect(&self.database_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_opt("SELECT 1 FROM documents WHERE id = $1", &[&doc])
            .await
            .unwrap()
            .is_some()
    }

    pub async fn drop(self) {
        let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        // The test's nodes may still be running queries on the schema (a killed node's session
        // until PostgreSQL notices, anti-entropy on the others): a DROP that PostgreSQL picks as
        // the victim of a deadlock with one of them is tried again.
        for attempt in 1.. {
            let dropped = client
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.0))
                .await;
            match dropped {
                Ok(()) => return,
                Err(e)
                    if attempt < 20
                        && e.code()
                            == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                Err(e) => panic!("dropping the schema {}: {e:?}", self.0),
            }
        }
    }
}

#[tokio::test]
async fn acks_revisions_and_restart_on_postgres() {
    let schema = Schema::create().await;
    let db = schema.database_url();
    let app = spawn_app_with(|o| Options {
        database_url: Some(db.clone()),
        ..o
    })
    .await;
    let mut a = app.connect("pg").await;
    let mut b = app.connect("pg").await;
    for i in 0..20 {
        a.push(&format!("a{i} ")).await;
        b.push(&format!("b{i} ")).await;
    }
    a.wait_acked().await;
    b.wait_acked().await;
    // On a shared store, updates that arrive while an append is in flight share the next log
    // entry; the log itself is gap-free and every ack names a revision in it, in order.
    let revs = schema.revisions("pg").await;
    let head = revs.len() as u64;
    assert_eq!(
        revs,
        (1..=head as i64).collect::<Vec<_>>(),
        "gap-free revisions on PostgreSQL"
    );
    for acks in [&a.acks, &b.acks] {
        assert!(acks.windows(2).all(|w| w[0] <= w[1]), "{acks:?}");
        assert!(acks.iter().all(|r| (1..=head).contains(r)));
    }
    assert_eq!(a.acks.iter().chain(&b.acks).max(), Some(&head));
    let text = {
        a.wait_text(|t| t.matches('b').count() == 20).await;
        a.text()
    };
    drop((a, b));
    let app = spawn_app_in(app.stop().await, |o| Options {
        database_url: Some(db.clone()),
        ..o
    })
    .await;
    let c = app.connect("pg").await;
    assert_eq!(c.text(), text);
    assert_eq!(c.hello_rev, Some(head));
    app.stop().await;
    schema.drop().await;
}
