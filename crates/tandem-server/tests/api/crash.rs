//! Crash loop: writers edit while an observer records every update the server forwarded; the
//! `tandem` process is SIGKILLed at a random moment and restarted on the same data, round after
//! round (20 by default, `TANDEM_CRASH_ROUNDS` for more). After every restart: everything acked
//! or forwarded before is there; every writer reconnects with its own document, resends what was
//! never acked, and all of them converge on the same text. At the end, every edit any writer
//! ever made is present, acked or not.

use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::crash_support::*;
use crate::helpers::*;

const WRITERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_acked_or_forwarded() {
    let rounds = rounds("TANDEM_CRASH_ROUNDS", 20);
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::default();
    let mut docs: Vec<yrs::Doc> = (0..WRITERS).map(|_| yrs::Doc::new()).collect();
    let mut resent = 0;
    for round in 0..rounds {
        let mut server = ServerProcess::start(dir.path(), &[]);
        let addr = server.addr;
        // Everything acked or forwarded in earlier rounds survived the kill.
        let text = Client::connect(addr, "crash", true).await.text();
        let present = ledger.check_kept(&text, &format!("round {round}"));
        resent += ledger.written.difference(&present).count();
        // Each writer comes back with its own document: its sync resends what was never acked.
        let mut clients = Vec::new();
        for d in docs.drain(..) {
            clients.push(Client::connect_with_doc(addr, "crash", true, d).await);
        }
        let all = Client::connect(addr, "crash", true).await.text();
        for c in &mut clients {
            c.wait_text(|t| t == all).await;
        }
        ledger.check_all(&all, &format!("round {round}"));

        let (stop_tx, stop_rx) = watch::channel(false);
        // The observer ends with the killed server.
        let obs = tokio::spawn(observer(addr, "crash", watch::channel(false).1));
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
            ledger.record(written, acked);
        }
        // Every token the observer saw forwarded must survive too.
        ledger.must_have.extend(tokens(&obs.await.unwrap()));
    }
    let server = ServerProcess::start(dir.path(), &[]);
    let mut last = Vec::new();
    for d in docs {
        last.push(Client::connect_with_doc(server.addr, "crash", true, d).await);
    }
    let text = Client::connect(server.addr, "crash", true).await.text();
    ledger.check_all(&text, "final");
    ledger.assert_load(rounds);
    eprintln!(
        "crash loop: {rounds} SIGKILL rounds, {} token checks, {} acked or forwarded, \
         {} written, {resent} found missing after a kill and resent by their writers",
        ledger.checked,
        ledger.must_have.len(),
        ledger.written.len()
    );
}
