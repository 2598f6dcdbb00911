//! Crash loop: writers edit while an observer records every update the server forwarded; the
//! `tandem` process is SIGKILLed at a random moment and restarted on the same data, round after
//! round (20 by default, `TANDEM_CRASH_ROUNDS` for more). After every restart: everything acked
//! or forwarded before is there; every writer reconnects with its own document, resends what was
//! never acked, and all of them converge on the same text. At the end, every edit any writer
//! ever made is present, acked or not.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::helpers::*;

const WRITERS: usize = 3;

pub fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes tokens `<tag.n>` at the end of the text until the connection dies or `stop`; returns
/// the client (its document keeps whatever was not acked) and the tokens written and acked.
pub async fn writer(
    mut c: Client,
    tag: String,
    stop: watch::Receiver<bool>,
) -> (Client, Vec<String>, Vec<String>) {
    let mut written = Vec::new();
    while c.closed.is_none() && !*stop.borrow() {
        let t = format!("<{tag}.{}>", written.len());
        c.push(&t).await;
        written.push(t);
        // Keep a small window of unacked updates so acks keep flowing.
        while c.closed.is_none() && c.sent_updates - c.acks.len() > 8 {
            let _ = tokio::time::timeout(Duration::from_millis(200), c.recv()).await;
        }
    }
    // Acks answer updates in order: the first `acks.len()` pushes are durable.
    let acked = written[..c.acks.len().min(written.len())].to_vec();
    (c, written, acked)
}

/// A stock client that records what the server forwarded to it until its connection ends.
pub async fn observer(addr: std::net::SocketAddr, doc: &'static str) -> String {
    let mut c = Client::connect(addr, doc, false).await;
    while c.recv().await {}
    c.text()
}

/// The `<…>` tokens of a text (which must hold nothing else).
pub fn tokens(text: &str) -> BTreeSet<String> {
    let all: BTreeSet<String> = text.split_inclusive('>').map(str::to_owned).collect();
    assert!(
        all.iter().all(|t| t.starts_with('<') && t.ends_with('>')),
        "text is not whole tokens: {text:.200}"
    );
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_acked_or_forwarded() {
    let rounds = rounds("TANDEM_CRASH_ROUNDS", 20);
    let dir = tempfile::tempdir().unwrap();
    let mut must_have: BTreeSet<String> = BTreeSet::new();
    let mut ever_written: BTreeSet<String> = BTreeSet::new();
    let mut docs: Vec<yrs::Doc> = (0..WRITERS).map(|_| yrs::Doc::new()).collect();
    let mut checked = 0;
    let mut resent = 0;
    for round in 0..rounds {
        let mut server = ServerProcess::start(dir.path(), &[]);
        let addr = server.addr;
        // Everything acked or forwarded in earlier rounds survived the kill.
        let text = Client::connect(addr, "crash", true).await.text();
        let present = tokens(&text);
        for t in &must_have {
            assert!(
                present.contains(t),
                "round {round}: {t} was acked or forwarded but is gone"
            );
        }
        checked += must_have.len();
        resent += ever_written.difference(&present).count();
        // Each writer comes back with its own document: its sync resends what was never acked.
        let mut clients = Vec::new();
        for d in docs.drain(..) {
            clients.push(Client::connect_with_doc(addr, "crash", true, d).await);
        }
        let all = Client::connect(addr, "crash", true).await.text();
        for c in &mut clients {
            c.wait_text(|t| t == all).await;
        }
        let all = tokens(&all);
        assert!(
            ever_written.is_subset(&all),
            "round {round}: a written edit was not resent"
        );
        checked += ever_written.len();

        let (stop_tx, stop_rx) = watch::channel(false);
        let obs = tokio::spawn(observer(addr, "crash"));
        let writers: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(w, c)| tokio::spawn(writer(c, format!("{round}.{w}"), stop_rx.clone())))
            .collect();
        let delay = rand::rng().random_range(150..600);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill9();
        let _ = stop_tx.send(true);
        for w in writers {
            let (c, written, acked) = w.await.unwrap();
            docs.push(c.doc);
            ever_written.extend(written);
            must_have.extend(acked);
        }
        // Every token the observer saw forwarded must survive too.
        must_have.extend(tokens(&obs.await.unwrap()));
    }
    let server = ServerProcess::start(dir.path(), &[]);
    let mut last = Vec::new();
    for d in docs {
        last.push(Client::connect_with_doc(server.addr, "crash", true, d).await);
    }
    let text = Client::connect(server.addr, "crash", true).await.text();
    let present = tokens(&text);
    for t in ever_written.iter().chain(&must_have) {
        assert!(present.contains(t), "final: {t} lost");
    }
    checked += ever_written.len() + must_have.len();
    assert!(
        must_have.len() > 20 * rounds,
        "too little load to mean anything: {}",
        must_have.len()
    );
    eprintln!(
        "crash loop: {rounds} SIGKILL rounds, {checked} token checks, {} acked or forwarded, \
         {} written, {resent} found missing after a kill and resent by their writers",
        must_have.len(),
        ever_written.len()
    );
}
