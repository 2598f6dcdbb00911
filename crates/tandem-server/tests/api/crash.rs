//! Crash durability: writers edit while an observer records every update the server forwarded;
//! the `tandem` process is SIGKILLed at a random moment and restarted on the same data. Every
//! acked edit and every forwarded edit must be there afterwards, in every round.

use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::helpers::*;

const ROUNDS: usize = 5;
const WRITERS: usize = 3;

/// Writes tokens `<round.w.n>` at the end of the text until the connection dies; returns the
/// tokens the server acknowledged.
async fn writer(
    addr: std::net::SocketAddr,
    round: usize,
    w: usize,
    stop: watch::Receiver<bool>,
) -> Vec<String> {
    let mut c = Client::connect(addr, "crash", true).await;
    let base = c.acks.len();
    let mut n = 0;
    while c.closed.is_none() && !*stop.borrow() {
        c.push(&format!("<{round}.{w}.{n}>")).await;
        n += 1;
        // Keep a small window of unacked updates so acks keep flowing.
        while c.closed.is_none() && c.sent_updates - c.acks.len() > 8 {
            let _ = tokio::time::timeout(Duration::from_millis(200), c.recv()).await;
        }
    }
    (base..c.acks.len())
        .map(|i| format!("<{round}.{w}.{i}>"))
        .collect()
}

/// A stock client that records what the server forwarded to it.
async fn observer(addr: std::net::SocketAddr) -> String {
    let mut c = Client::connect(addr, "crash", false).await;
    while c.recv().await {}
    c.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_acked_or_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let mut must_have: Vec<String> = Vec::new();
    let mut checked = 0;
    for round in 0..ROUNDS {
        let mut server = ServerProcess::start(dir.path(), &[]);
        let addr = server.addr;
        // Everything acked in earlier rounds is present after this restart.
        let check = Client::connect(addr, "crash", true).await;
        let text = check.text();
        for t in &must_have {
            assert!(
                text.contains(t.as_str()),
                "round {round}: {t} was acked or forwarded but is gone"
            );
        }
        checked += must_have.len();
        drop(check);
        let (stop_tx, stop_rx) = watch::channel(false);
        let obs = tokio::spawn(observer(addr));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(addr, round, w, stop_rx.clone())))
            .collect();
        let delay = rand::rng().random_range(150..600);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill9();
        let _ = stop_tx.send(true);
        for w in writers {
            must_have.extend(w.await.unwrap());
        }
        let seen = obs.await.unwrap();
        // Every token the observer saw forwarded must survive too.
        let forwarded: Vec<String> = seen.split_inclusive('>').map(str::to_owned).collect();
        assert!(
            forwarded.iter().all(|t| t.starts_with('<')),
            "observer text is not whole tokens: {seen:.200}"
        );
        must_have.extend(forwarded);
        must_have.sort();
        must_have.dedup();
    }
    let server = ServerProcess::start(dir.path(), &[]);
    let text = Client::connect(server.addr, "crash", true).await.text();
    for t in &must_have {
        assert!(text.contains(t.as_str()), "final: {t} lost");
    }
    checked += must_have.len();
    assert!(
        must_have.len() > 50,
        "too little load to mean anything: {}",
        must_have.len()
    );
    eprintln!(
        "crash test: {ROUNDS} kill rounds, {checked} token checks, {} distinct tokens",
        must_have.len()
    );
}
