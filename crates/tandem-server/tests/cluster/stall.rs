//! A PostgreSQL that stops answering without closing its connections (a frozen host, a
//! partition that drops packets): a TCP proxy the test places between Tandem and the real
//! database stops forwarding. Tandem must fail loudly within its deadline (clients closed 1011,
//! keeping their edits; `/readyz` 503), lose nothing acked, and resume once the proxy forwards.

use std::time::{Duration, Instant};

use tandem_server::config::Options;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::cluster::Cluster;
use crate::helpers::*;

/// Forwards to `upstream` until told to stall; then reads and writes nothing (connections stay
/// open) until told to go on.
struct StallProxy {
    addr: std::net::SocketAddr,
    stalled: watch::Sender<bool>,
}

impl StallProxy {
    async fn start(upstream: String) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stalled, rx) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, rx.clone()));
                tokio::spawn(pump(sr, cw, rx.clone()));
            }
        });
        StallProxy { addr, stalled }
    }

    fn stall(&self, on: bool) {
        self.stalled.send_replace(on);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just before a stall are held back too.
        if stalled.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn ready(addr: std::net::SocketAddr) -> (u16, Duration) {
    let start = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), http_get(addr, "/readyz"))
        .await
        .expect("/readyz gave no answer in 10 s")
        .0;
    (status, start.elapsed())
}

#[tokio::test]
async fn a_stalled_database_fails_loudly_loses_nothing_and_resumes() {
    let cluster = Cluster::new().await;
    let direct = cluster.schema.database_url();
    // postgres://user@HOST:PORT/db?options=… → the same through the proxy.
    let authority = direct.split('@').nth(1).unwrap().split('/').next().unwrap();
    let proxy = StallProxy::start(authority.to_owned()).await;
    let proxied = direct.replacen(authority, &proxy.addr.to_string(), 1);
    let deadline = Duration::from_millis(2000);
    let node = spawn_app_with(|o| Options {
        database_url: Some(proxied),
        database_timeout_ms: Some(deadline.as_millis() as u64),
        ..cluster.options(o)
    })
    .await;
    let mut typist = node.connect("stall").await;
    typist.push("before;").await;
    typist.wait_acked().await;
    assert_eq!(ready(node.addr).await.0, 200);

    proxy.stall(true);
    let start = Instant::now();
    typist.push("during;").await;
    let (code, reason) = typist.expect_close().await;
    let closed_after = start.elapsed();
    assert_eq!(code, 1011, "{reason}");
    assert!(
        closed_after < deadline + Duration::from_secs(2),
        "closed after {closed_after:?}"
    );
    assert_eq!(
        typist.acks.len(),
        1,
        "nothing was acked while the database was stalled"
    );
    let (status, took) = ready(node.addr).await;
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(3), "/readyz took {took:?}");
    println!("stalled database: the typist was closed 1011 after {closed_after:?}, /readyz answered 503 in {took:?} (deadline {deadline:?})");

    proxy.stall(false);
    // The typist reconnects with what it kept: the unsaved edit goes in now.
    let kept = std::mem::replace(&mut typist.doc, yrs::Doc::new());
    let resumed = Instant::now();
    let mut again = loop {
        match Client::try_connect_with_doc(node.addr, "stall", kept.clone()).await {
            Ok(c) => break c,
            Err(_) if resumed.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(_) => panic!("service did not resume"),
        }
    };
    again
        .wait_text(|t| t.contains("before;") && t.contains("during;"))
        .await;
    println!(
        "service resumed {:?} after the proxy forwarded again",
        resumed.elapsed()
    );
    let mut fresh = node.connect("stall").await;
    fresh
        .wait_text(|t| t.contains("before;") && t.contains("during;"))
        .await;
    assert_eq!(ready(node.addr).await.0, 200);
    node.stop().await;
    cluster.schema.drop().await;
}
