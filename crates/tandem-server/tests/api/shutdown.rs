//! Graceful shutdown: SIGTERM under load exits 0 within the limit, clients are told to
//! reconnect (drain notice + 1012), and nothing acked is lost.

use std::time::{Duration, Instant};

use tandem_core::protocol::{Ext, Message};
use tandem_core::session::close;

use crate::helpers::*;

#[tokio::test]
async fn in_process_shutdown_sends_drain_and_1012() {
    let app = spawn_app().await;
    let mut c = app.connect("drain").await;
    c.push("x").await;
    c.wait_acked().await;
    app.shutdown.cancel();
    let mut drained = false;
    let code = tokio::time::timeout(WAIT, async {
        loop {
            match futures_util::StreamExt::next(&mut c.ws).await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b))) => {
                    drained |= matches!(Message::decode(&b), Ok(Message::Ext(Ext::Drain { .. })));
                }
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => {
                    return f.map(|f| u16::from(f.code))
                }
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .unwrap();
    assert!(drained, "tandem clients get a drain notice");
    assert_eq!(code, Some(close::RESTARTING));
    app.handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn sigterm_under_load_exits_zero_and_keeps_every_ack() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    let mut writers = Vec::new();
    for w in 0..4 {
        writers.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, "term", true).await;
            let mut acked = Vec::new();
            for n in 0.. {
                c.push(&format!("<{w}.{n}>")).await;
                // Read acks without blocking the writes for long.
                let _ = tokio::time::timeout(Duration::from_millis(2), c.recv()).await;
                if c.closed.is_some() {
                    break;
                }
                acked.truncate(0);
                acked.extend((0..c.acks.len()).map(|i| format!("<{w}.{i}>")));
                if n > 100_000 {
                    break;
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let t = Instant::now();
    server.sigterm();
    let status = tokio::task::spawn_blocking(move || {
        // Bounded: a server that hangs on shutdown fails the test instead of hanging it.
        while t.elapsed() < Duration::from_secs(15) {
            if let Some(s) = server.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    })
    .await
    .unwrap()
    .expect("tandem did not exit after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(
        acked.len() > 10,
        "the load did not run: {} acks",
        acked.len()
    );
    let server = ServerProcess::start(dir.path(), &[]);
    let c = Client::connect(server.addr, "term", true).await;
    let text = c.text();
    for token in &acked {
        assert!(
            text.contains(token.as_str()),
            "acked {token} lost after SIGTERM"
        );
    }
}
