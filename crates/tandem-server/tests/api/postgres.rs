//! The server on PostgreSQL (`--database-url postgres://…`): acks, revisions and restarts behave
//! exactly as on SQLite. Each test gets its own schema. Reads `TANDEM_TEST_DATABASE_URL` (default:
//! the local server every machine of this project runs) and fails if it cannot connect.

use tandem_server::config::Options;

use crate::helpers::*;

fn url() -> String {
    std::env::var("TANDEM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

struct Schema(String);

impl Schema {
    async fn create() -> Schema {
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
    fn database_url(&self) -> String {
        let sep = if url().contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", url(), self.0)
    }
    async fn drop(self) {
        let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.0))
            .await
            .unwrap();
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
    let mut all: Vec<u64> = a.acks.iter().chain(&b.acks).copied().collect();
    all.sort();
    assert_eq!(
        all,
        (1..=40).collect::<Vec<u64>>(),
        "gap-free revisions on PostgreSQL"
    );
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
    assert_eq!(c.hello_rev, Some(40));
    app.stop().await;
    schema.drop().await;
}
