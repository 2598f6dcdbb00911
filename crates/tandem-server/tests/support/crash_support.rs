//! What the crash loops share (one node in `api::crash`, three in `cluster::cluster_crash`):
//! writers that type and count their acks, an observer that records every forwarded update,
//! and the ledger of what must survive.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::watch;

use crate::helpers::*;

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

/// A client that records what the server forwarded to it until its connection ends or `stop`.
pub async fn observer(
    addr: std::net::SocketAddr,
    doc: &'static str,
    mut stop: watch::Receiver<bool>,
) -> String {
    match Client::try_connect_with_doc(addr, doc, yrs::Doc::new()).await {
        Ok(mut c) => {
            loop {
                tokio::select! {
                    alive = c.recv() => if !alive { break },
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            c.text()
        }
        // Its server was killed before the sync finished (a loaded machine): what it had
        // received by then was still forwarded.
        Err(d) => {
            use yrs::{GetString, Transact};
            d.get_or_insert_text("t").get_string(&d.transact())
        }
    }
}

/// The `<…>` tokens of a text (which must hold nothing else, and each token once: a writer that
/// resent an edit as a new insert would show twice).
pub fn tokens(text: &str) -> BTreeSet<String> {
    let list: Vec<&str> = text.split_inclusive('>').collect();
    assert!(
        list.iter().all(|t| t.starts_with('<') && t.ends_with('>')),
        "text is not whole tokens: {text:.200}"
    );
    let all: BTreeSet<String> = list.iter().map(|t| t.to_string()).collect();
    assert_eq!(all.len(), list.len(), "a token twice: {text:.400}");
    all
}

/// What a crash loop knows must survive: every token acked or forwarded, and (once writers have
/// resent) every token written; and how many checks were made.
#[derive(Default)]
pub struct Ledger {
    pub must_have: BTreeSet<String>,
    pub written: BTreeSet<String>,
    pub checked: usize,
}

impl Ledger {
    /// Asserts `text` holds everything acked or forwarded; returns the tokens it holds.
    pub fn check_kept(&mut self, text: &str, when: &str) -> BTreeSet<String> {
        let present = tokens(text);
        let lost: Vec<_> = self.must_have.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "{when}: acked or forwarded but gone: {lost:?}"
        );
        self.checked += self.must_have.len();
        present
    }
    /// Asserts `text` holds every token ever written (after the writers resent theirs).
    pub fn check_all(&mut self, text: &str, when: &str) {
        let present = self.check_kept(text, when);
        let missing: Vec<_> = self.written.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "{when}: written but never resent: {missing:?}"
        );
        self.checked += self.written.len();
    }
    /// Records a writer's round: what it wrote, and what was acked.
    pub fn record(&mut self, written: Vec<String>, acked: Vec<String>) {
        self.written.extend(written);
        self.must_have.extend(acked);
    }
    pub fn assert_load(&self, rounds: usize) {
        let n = self.must_have.len();
        assert!(n > 20 * rounds, "too little load to mean anything: {n}");
    }
}
