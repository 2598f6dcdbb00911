use std::collections::BTreeSet;

use tandem_core::store::OpLog;
use tandem_store::{SqliteConfig, SqliteStore};
use yrs::updates::decoder::Decode;
use yrs::{GetString, ReadTxn, Transact, Update};

use crate::helpers::*;

#[tokio::test]
async fn acks_carry_gap_free_increasing_revisions() {
    let app = spawn_app().await;
    let mut a = app.connect("revs").await;
    let mut b = app.connect("revs").await;
    assert_eq!(a.hello_rev, Some(0));
    for i in 0..50 {
        a.push(&format!("a{i} ")).await;
        b.push(&format!("b{i} ")).await;
    }
    a.wait_acked().await;
    b.wait_acked().await;
    for c in [&a, &b] {
        assert!(
            c.acks.windows(2).all(|w| w[0] < w[1]),
            "acks not increasing: {:?}",
            c.acks
        );
    }
    let all: BTreeSet<u64> = a.acks.iter().chain(&b.acks).copied().collect();
    assert_eq!(
        all,
        (1..=100).collect::<BTreeSet<u64>>(),
        "revisions must be exactly 1..=100"
    );
    // Each sees the other's 50 edits; a tandem sender gets acks, not echoes of its own.
    a.wait_text(|t| t.matches('b').count() == 50).await;
    b.wait_text(|t| t.matches('a').count() == 50).await;
    assert_eq!(a.text(), b.text());
    let (status, _, body) = http_get(app.addr, "/api/docs/revs").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["revision"], 100);
}

#[tokio::test]
async fn stock_clients_get_their_own_echo() {
    let app = spawn_app().await;
    let mut s = app.connect_stock("echo").await;
    let mut t = app.connect("echo").await;
    s.push("stock").await;
    s.wait_text(|_| true).await;
    tokio::time::timeout(WAIT, async {
        while s.forwarded < 1 {
            assert!(s.recv().await);
        }
    })
    .await
    .unwrap();
    t.wait_text(|x| x == "stock").await;
    t.push("!").await;
    t.wait_acked().await;
    s.wait_text(|x| x == "stock!").await;
    assert_eq!(
        t.forwarded, 1,
        "tandem client must not get an echo of its own update"
    );
    assert!(
        s.acks.is_empty() && s.hello_rev.is_none(),
        "stock clients never get extensions"
    );
}

#[tokio::test]
async fn duplicate_update_is_acked_once_logged_and_not_rebroadcast() {
    let app = spawn_app().await;
    let mut a = app.connect("dup").await;
    let mut b = app.connect("dup").await;
    let u = a.push("x").await;
    a.wait_acked().await;
    a.send_update(u.clone()).await;
    a.send_update(u).await;
    a.wait_acked().await;
    assert_eq!(
        a.acks,
        vec![1, 1, 1],
        "a no-op is acked with the current revision"
    );
    // b got exactly one forwarded update: the original.
    b.wait_text(|t| t == "x").await;
    b.drain_for(std::time::Duration::from_millis(200)).await;
    assert_eq!(b.forwarded, 1);
    let dir = app.stop().await;
    let store = SqliteStore::open(&SqliteConfig {
        path: dir.path().join("tandem.db"),
    })
    .unwrap();
    assert_eq!(
        store.updates_since("dup", 0).await.unwrap().len(),
        1,
        "one log entry"
    );
}

#[tokio::test]
async fn fetch_then_subscribe_misses_nothing() {
    let app = spawn_app().await;
    let mut a = app.connect("fetch").await;
    a.push("hello").await;
    a.wait_acked().await;
    let (status, headers, body) = http_get(app.addr, "/api/docs/fetch/state").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    let rev: u64 = header(&headers, "x-tandem-revision")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rev, 1);
    // An edit commits between the fetch and the subscribe.
    a.push(" world").await;
    a.wait_acked().await;
    let doc = yrs::Doc::new();
    doc.transact_mut()
        .apply_update(Update::decode_v1(&body).unwrap())
        .unwrap();
    assert_eq!(
        doc.get_or_insert_text("t").get_string(&doc.transact()),
        "hello"
    );
    let mut late = Client::connect_with_doc(app.addr, "fetch", true, doc).await;
    assert_eq!(late.hello_rev, Some(2));
    assert_eq!(
        late.text(),
        "hello world",
        "nothing missed, nothing duplicated"
    );
    late.push("!").await;
    late.wait_acked().await;
    a.wait_text(|t| t == "hello world!").await;
}

#[tokio::test]
async fn unknown_documents_and_bad_names_over_http() {
    let app = spawn_app().await;
    let (status, headers, _) = http_get(app.addr, "/api/docs/never-written").await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert_eq!(
        http_get(app.addr, "/api/docs/never-written/state").await.0,
        404
    );
    assert_eq!(http_get(app.addr, "/api/docs/..bad/state").await.0, 400);
}

#[tokio::test]
async fn snapshot_revision_is_exact_and_restart_is_equivalent() {
    let app = spawn_app_with(|o| tandem_server::config::Options {
        snapshot_every: Some(10),
        ..o
    })
    .await;
    let mut a = app.connect("snap").await;
    // One at a time, so the every-10 rule fires when exactly 10 are durable and nothing is
    // in flight: the snapshot must then cover exactly revisions 1..=10.
    for ch in 'a'..='o' {
        a.push(&ch.to_string()).await;
        a.wait_acked().await;
    }
    let before = a.text();
    let path = app.dir.path().join("tandem.db");
    let store = SqliteStore::open(&SqliteConfig { path }).unwrap();
    // The 1,000-update rule (here 10) fired at 10; wait for the write to land.
    let mut loaded = store.load("snap").await.unwrap();
    for _ in 0..100 {
        if loaded.snapshot.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        loaded = store.load("snap").await.unwrap();
    }
    let (rev, snap) = loaded.snapshot.clone().expect("a snapshot");
    assert_eq!(rev, 10);
    let doc = yrs::Doc::new();
    let raw = zstd::decode_all(&snap[..]).unwrap();
    doc.transact_mut()
        .apply_update(Update::decode_v1(&raw).unwrap())
        .unwrap();
    let text = doc.get_or_insert_text("t");
    assert_eq!(
        text.get_string(&doc.transact()),
        "abcdefghij",
        "snapshot covers exactly 1..=10"
    );
    assert_eq!(
        loaded.updates.iter().map(|u| u.0).collect::<Vec<_>>(),
        (11..=15).collect::<Vec<_>>()
    );
    for (_, u) in &loaded.updates {
        doc.transact_mut()
            .apply_update(Update::decode_v1(u).unwrap())
            .unwrap();
    }
    assert_eq!(text.get_string(&doc.transact()), before);
    assert_eq!(
        doc.transact().state_vector(),
        a.doc.transact().state_vector()
    );
    drop(a);
    let app = spawn_app_in(app.stop().await, |o| o).await;
    let b = app.connect("snap").await;
    assert_eq!(b.text(), before);
    assert_eq!(b.hello_rev, Some(15));
}

#[tokio::test]
async fn xml_fragment_and_text_converge_between_rust_clients() {
    // Structured content (an XmlFragment like ProseMirror's) syncs like text does.
    use yrs::{XmlFragment, XmlTextPrelim};
    let app = spawn_app().await;
    let mut a = app.connect("xml").await;
    let mut b = app.connect("xml").await;
    let update = {
        let f = a.doc.get_or_insert_xml_fragment("prosemirror");
        let mut txn = a.doc.transact_mut();
        f.insert(&mut txn, 0, XmlTextPrelim::new("para"));
        txn.encode_update_v1()
    };
    a.send_update(update).await;
    a.wait_acked().await;
    tokio::time::timeout(WAIT, async {
        loop {
            let f = b.doc.get_or_insert_xml_fragment("prosemirror");
            if f.get_string(&b.doc.transact()) == "para" {
                break;
            }
            assert!(b.recv().await);
        }
    })
    .await
    .unwrap();
}
