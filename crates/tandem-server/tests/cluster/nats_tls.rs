//! Cluster mode over a private NATS that takes TLS only and verifies client certificates
//! (`nats-server --tlsverify`), with certificates the test makes: two nodes given
//! `--nats-tls-ca`, `--nats-tls-cert` and `--nats-tls-key` carry an edit between them.

use std::process::{Child, Command};
use std::time::Duration;

use tandem_server::config::Options;

use crate::certs::make_certs;
use crate::helpers::*;
use crate::postgres::Schema;

struct PrivateNats(Child);

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn two_nodes_over_a_tls_only_nats_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "ca");
    let file = |name: &str| dir.path().join(name);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _nats = PrivateNats(
        Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--tlsverify"])
            .arg("--tlscert")
            .arg(file("server.pem"))
            .arg("--tlskey")
            .arg(file("server.key"))
            .arg("--tlscacert")
            .arg(file("ca.pem"))
            .spawn()
            .expect("nats-server"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let schema = Schema::create().await;
    let options = |o: Options| Options {
        database_url: Some(schema.database_url()),
        nats_url: Some(format!("nats://localhost:{port}")),
        nats_tls_ca: Some(file("ca.pem")),
        // The server certificate doubles as the client's: the same CA signed it.
        nats_tls_cert: Some(file("server.pem")),
        nats_tls_key: Some(file("server.key")),
        // Only NATS may carry the edit across (not the log's anti-entropy).
        anti_entropy_ms: Some(600_000),
        ..o
    };
    let a = spawn_app_with(options).await;
    let b = spawn_app_with(options).await;
    let mut on_a = a.connect("tls").await;
    let mut on_b = b.connect("tls").await;
    on_a.push("over tls;").await;
    on_a.wait_acked().await;
    on_b.wait_text(|t| t.contains("over tls;")).await;
    a.stop().await;
    b.stop().await;
    schema.drop().await;
}
