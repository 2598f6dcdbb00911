//! The change feed (`GET /api/docs/{doc}/changes`, `…/changes/stream`): durable revisions in
//! order with no gaps, their authors and updates; pages that follow one another; a stream that
//! resumes exactly after `Last-Event-ID` with nothing twice; bad starting points answer 400, and
//! compacted ones 410 with the oldest revision left; only readers of the document may follow it.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::auth_helpers::*;
use crate::helpers::Client;

fn revisions(page: &Value) -> Vec<u64> {
    page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["revision"].as_u64().unwrap())
        .collect()
}

/// Types `text` at the end of the editor's first paragraph (a new document has one, empty) and
/// waits for the ack.
pub(crate) async fn type_end(c: &mut Client, text: &str) {
    use yrs::{Text, Transact, XmlFragment};
    let update = {
        let frag = c.doc.get_or_insert_xml_fragment("default");
        let mut txn = c.doc.transact_mut();
        let p = frag.get(&txn, 0).unwrap().into_xml_element().unwrap();
        let t = p.get(&txn, 0).unwrap().into_xml_text().unwrap();
        let len = t.len(&txn);
        t.insert(&mut txn, len, text);
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.wait_acked().await;
}

#[tokio::test]
async fn the_feed_pages_and_streams_every_durable_revision_once_in_order() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let stan = Account::signup(app.addr, "stan@example.org").await;
    let doc = ann.new_doc("Feed").await;
    ann.share(&doc, &bob.email, "viewer").await;
    let mut c = ann.connect(&doc).await;
    for word in ["one ", "two ", "three "] {
        type_end(&mut c, word).await;
    }
    let head = *c.acks.last().unwrap();

    // Pages: 1..=head in order, two at a time, each following the last.
    let r = bob
        .call("GET", &format!("/api/docs/{doc}/changes?limit=2"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(revisions(&r.json), [1, 2]);
    assert_eq!(r.json["head"].as_u64(), Some(head));
    let mut seen = revisions(&r.json);
    let mut after = r.json["next_after"].as_u64().unwrap();
    loop {
        let r = bob
            .call(
                "GET",
                &format!("/api/docs/{doc}/changes?after={after}&limit=2&include=update"),
                None,
            )
            .await;
        let page = revisions(&r.json);
        if page.is_empty() {
            break;
        }
        for ch in r.json["changes"].as_array().unwrap() {
            let b64 = ch["update"].as_str().unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            assert!(!bytes.is_empty());
            assert_eq!(ch["author"], ann.id.to_string());
            assert_eq!(ch["author_name"], "ann@example.org");
        }
        seen.extend(page);
        after = r.json["next_after"].as_u64().unwrap();
    }
    assert_eq!(seen, (1..=head).collect::<Vec<_>>());

    // The words each revision added (a new document's first revision adds its empty paragraph).
    let r = bob
        .call(
            "GET",
            &format!("/api/docs/{doc}/changes?after=1&include=text"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let added: Vec<Value> = r.json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"]["added"].clone())
        .collect();
    assert_eq!(
        added,
        [
            serde_json::json!(["one"]),
            serde_json::json!(["two"]),
            serde_json::json!(["three"])
        ],
        "{}",
        r.json
    );
    let r = bob
        .call(
            "GET",
            &format!("/api/docs/{doc}/changes?include=html"),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.json);

    // Bad starting points: a clear 400; strangers: 404.
    for bad in [
        format!("{}", head + 1),
        "-1".into(),
        "abc".into(),
        "1.5".into(),
    ] {
        let r = bob
            .call("GET", &format!("/api/docs/{doc}/changes?after={bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.json);
        assert!(
            r.json["error"].as_str().unwrap().contains("after"),
            "{}",
            r.json
        );
    }
    let r = stan
        .call("GET", &format!("/api/docs/{doc}/changes"), None)
        .await;
    assert_eq!(r.status, 404);

    // The stream: from revision 2 on, then live as Ann types.
    let mut feed = SseStream::open_doc(&bob, &doc, Some(2)).await;
    for rev in 3..=head {
        assert_eq!(feed.next().await, rev);
    }
    c.push("four ").await;
    c.wait_acked().await;
    assert_eq!(feed.next().await, head + 1);
    drop(feed);
    // Gone while Ann typed more; a reconnect with the last id gets exactly what it missed.
    c.push("five ").await;
    c.push("six ").await;
    c.wait_acked().await;
    let mut feed = SseStream::open_doc(&bob, &doc, Some(head + 1)).await;
    assert_eq!(feed.next().await, head + 2);
    assert_eq!(feed.next().await, head + 3);
    feed.quiet(Duration::from_millis(300)).await;
    let path = format!("/api/docs/{doc}/changes/stream");
    assert_eq!(api(app.addr, "GET", &path, None, None).await.status, 401);
    assert_eq!(
        api(app.addr, "GET", &path, Some(&stan.token), None)
            .await
            .status,
        404
    );

    // Compacted (as retention does, after a snapshot): 410 with the oldest revision left.
    let loaded = app.store.load_at(&doc, 3).await.unwrap();
    assert!(loaded.head() == 3);
    app.store
        .put_snapshot(&doc, 3, bytes::Bytes::from(encode_loaded(&loaded)))
        .await
        .unwrap();
    let cutoff = tandem_core::store::now_millis() + 60_000;
    assert_eq!(app.store.compact(&doc, cutoff).await.unwrap(), 3);
    let r = bob
        .call("GET", &format!("/api/docs/{doc}/changes?after=1"), None)
        .await;
    assert_eq!(r.status, 410, "{}", r.json);
    assert_eq!(r.json["oldest"], 4);
    let r = bob
        .call("GET", &format!("/api/docs/{doc}/changes?after=3"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(revisions(&r.json)[0], 4);
    let r = api(
        app.addr,
        "GET",
        &format!("/api/docs/{doc}/changes/stream?after=0"),
        Some(&bob.token),
        None,
    )
    .await;
    assert_eq!(r.status, 410);

    // Unshared: the feed is closed to Bob.
    ann.unshare(&doc, bob.id).await;
    let r = bob
        .call("GET", &format!("/api/docs/{doc}/changes"), None)
        .await;
    assert_eq!(r.status, 404);
}

/// A document's state at a loaded revision, encoded as the actor writes snapshots (zstd).
fn encode_loaded(loaded: &tandem_core::store::LoadedDoc) -> Vec<u8> {
    let (doc, _) = tandem_core::doc::ServerDoc::load(loaded).unwrap();
    zstd::encode_all(&doc.encode_state()[..], 3).unwrap()
}

#[tokio::test]
async fn the_stream_across_documents_carries_only_what_the_reader_may_open() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let shared = ann.new_doc("Shared").await;
    let private = ann.new_doc("Private").await;
    ann.share(&shared, &bob.email, "viewer").await;
    let mut all = SseStream::open(bob.addr, &bob.token, "/api/changes/stream", None).await;
    // Let the stream subscribe before anything happens.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut p = ann.connect(&private).await;
    p.push("secret ").await;
    p.wait_acked().await;
    let mut s = ann.connect(&shared).await;
    s.push("hello ").await;
    s.push("again ").await;
    s.wait_acked().await;
    let (a, b) = (s.acks[0], s.acks[1]);
    assert_eq!(all.next_id().await, format!("{shared}:{a}"));
    assert_eq!(all.next_id().await, format!("{shared}:{b}"));
    assert!(!all.buf.contains(&private), "{}", all.buf);
    all.quiet(Duration::from_millis(300)).await;
}
