//! The document as it was at any revision (nearest snapshot + replay) equals what the writer
//! held when that revision was acked; export formats at a revision; bad revisions are refused.

use tandem_core::protocol::Message;
use tandem_server::config::Options;
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
use yrs::{GetString, Text, Transact, XmlFragment};

use crate::helpers::*;

#[tokio::test]
async fn a_past_revision_reads_back_exactly_what_clients_had() {
    // Snapshots every 3 revisions: most reads combine a snapshot with a replay.
    let app = spawn_app_with(|o| Options {
        snapshot_every: Some(3),
        ..o
    })
    .await;
    let mut c = app.connect("hist").await;
    let frag = c.doc.get_or_insert_xml_fragment("default");
    let update = {
        let mut txn = c.doc.transact_mut();
        let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(&mut txn, XmlTextPrelim::new(""));
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.wait_acked().await;
    // The recorded run: after each ack, what this (only) writer held at that revision.
    let mut recorded = vec![(c.acks[0], String::new())];
    for i in 0..12 {
        let text = {
            let txn = c.doc.transact();
            let p = frag.get(&txn, 0).unwrap().into_xml_element().unwrap();
            p.get(&txn, 0).unwrap().into_xml_text().unwrap()
        };
        let update = {
            let mut txn = c.doc.transact_mut();
            let len = text.len(&txn);
            text.insert(&mut txn, len, &format!("w{i} "));
            txn.encode_update_v1()
        };
        c.send(Message::Update(update)).await;
        c.sent_updates += 1;
        c.wait_acked().await;
        let now = text.get_string(&c.doc.transact());
        recorded.push((*c.acks.last().unwrap(), now));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // let snapshots land
    for (rev, want) in &recorded {
        let (status, headers, body) = http_get(
            app.addr,
            &format!("/api/docs/hist/export?format=text&rev={rev}"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, "x-tandem-revision"),
            Some(rev.to_string().as_str())
        );
        assert_eq!(String::from_utf8(body).unwrap(), *want, "revision {rev}");
    }
    let head = recorded.last().unwrap().0;
    let (status, _, body) = http_get(
        app.addr,
        &format!("/api/docs/hist/export?format=markdown&rev={}", head - 1),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(body).unwrap().trim_end(),
        recorded[recorded.len() - 2].1.trim_end()
    );
    let (status, headers, body) = http_get(app.addr, "/api/docs/hist/export?format=html").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(String::from_utf8(body).unwrap().starts_with("<p>w0 w1"));
    let (status, _, body) = http_get(app.addr, "/api/docs/hist/export?format=json").await;
    assert_eq!(status, 200);
    let pm: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(pm["content"][0]["type"], "paragraph");
    // A revision that does not exist yet, and an unknown format.
    assert_eq!(
        http_get(app.addr, &format!("/api/docs/hist/export?rev={}", head + 5))
            .await
            .0,
        400
    );
    assert_eq!(
        http_get(app.addr, "/api/docs/hist/export?format=docx")
            .await
            .0,
        400
    );
}

/// The text of the first paragraph of the editor fragment, creating it on first use.
fn para_text(c: &Client) -> Option<yrs::XmlTextRef> {
    let frag = c.doc.get_or_insert_xml_fragment("default");
    let txn = c.doc.transact();
    let p = frag.get(&txn, 0)?.into_xml_element()?;
    p.get(&txn, 0)?.into_xml_text()
}

fn frag_string(c: &Client) -> String {
    para_text(c)
        .map(|t| t.get_string(&c.doc.transact()))
        .unwrap_or_default()
}

async fn type_para(c: &mut Client, s: &str) {
    let update = match para_text(c) {
        Some(t) => {
            let mut txn = c.doc.transact_mut();
            let len = t.len(&txn);
            t.insert(&mut txn, len, s);
            txn.encode_update_v1()
        }
        // The first words: into the first paragraph (a new document's, made by the server), or
        // into a new one (a document opened by name).
        None => {
            let frag = c.doc.get_or_insert_xml_fragment("default");
            let mut txn = c.doc.transact_mut();
            let p = match frag.get(&txn, 0).and_then(|n| n.into_xml_element()) {
                Some(p) => p,
                None => frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph")),
            };
            p.push_back(&mut txn, XmlTextPrelim::new(s));
            txn.encode_update_v1()
        }
    };
    c.send_update(update).await;
}

async fn wait_para(c: &mut Client, want: &str) {
    let ok = tokio::time::timeout(WAIT, async {
        while frag_string(c) != want {
            if !c.recv().await {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        matches!(ok, Ok(true)),
        "have {:?}, want {want:?}",
        frag_string(c)
    );
}

/// An app with accounts; its owner's document `name` shared with Bob as an editor, both
/// connected, and the owner's first paragraph "v1 " acked at the returned revision.
async fn owner_and_editor(
    name: &str,
) -> (
    TestApp,
    crate::auth_helpers::Account,
    String,
    Client,
    Client,
    u64,
) {
    use crate::auth_helpers::*;
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = owner.new_doc(name).await;
    owner.share(&doc, &bob.email, "editor").await;
    let mut o = owner.connect(&doc).await;
    let b = bob.connect(&doc).await;
    type_para(&mut o, "v1 ").await;
    o.wait_acked().await;
    let v1 = *o.acks.last().unwrap();
    (app, owner, doc, o, b, v1)
}

#[tokio::test]
async fn restore_under_concurrent_editing_converges_and_can_be_undone() {
    use crate::auth_helpers::*;
    let (app, owner, doc, mut o, mut b, v1) = owner_and_editor("restore").await;
    wait_para(&mut b, "v1 ").await;
    type_para(&mut b, "bob ").await;
    b.wait_acked().await;
    wait_para(&mut o, "v1 bob ").await;
    type_para(&mut o, "more").await;
    o.wait_acked().await;
    wait_para(&mut b, "v1 bob more").await;
    let before_restore = *o.acks.last().unwrap();

    let r = owner
        .call(
            "POST",
            &format!("/api/docs/{doc}/restore"),
            Some(serde_json::json!({ "rev": v1 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["changed"], true);
    let restored_rev = r.json["revision"].as_u64().unwrap();
    assert!(restored_rev > before_restore, "a restore is a new revision");
    // Both collaborators see it live; Bob types right after, and his edit is kept.
    wait_para(&mut b, "v1 ").await;
    type_para(&mut b, "after").await;
    b.wait_acked().await;
    wait_para(&mut o, "v1 after").await;
    assert_eq!(frag_string(&b), "v1 after");
    // History was not rewritten: the old revisions still read back as they were.
    let old = owner
        .call(
            "GET",
            &format!("/api/docs/{doc}/export?format=text&rev={before_restore}"),
            None,
        )
        .await;
    assert_eq!(old.status, 200);
    // The history names who did what.
    let h = owner
        .call("GET", &format!("/api/docs/{doc}/history"), None)
        .await;
    assert_eq!(h.status, 200, "{}", h.json);
    let names: Vec<&str> = h
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["author"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"bob@example.org") && names.contains(&"owner@example.org"),
        "{names:?}"
    );
    assert_eq!(
        h.json[0]["author"]["name"], "bob@example.org",
        "newest first"
    );
    // Undo the restore by restoring the revision just before it.
    let undo = owner
        .call(
            "POST",
            &format!("/api/docs/{doc}/restore"),
            Some(serde_json::json!({ "rev": before_restore })),
        )
        .await;
    assert_eq!(undo.status, 200);
    wait_para(&mut b, "v1 bob more").await;
    wait_para(&mut o, "v1 bob more").await;
    // Naming a version: it shows in the history as a version of its own.
    let named = owner
        .call(
            "PUT",
            &format!("/api/docs/{doc}/versions/{v1}"),
            Some(serde_json::json!({ "name": "First draft" })),
        )
        .await;
    assert_eq!(named.status, 204, "{}", named.json);
    let h = owner
        .call("GET", &format!("/api/docs/{doc}/history"), None)
        .await;
    let v = h
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "First draft")
        .expect("named version listed");
    assert_eq!(v["rev"].as_u64(), Some(v1));
    let missing = owner
        .call(
            "PUT",
            &format!("/api/docs/{doc}/versions/9999"),
            Some(serde_json::json!({ "name": "x" })),
        )
        .await;
    assert_eq!(missing.status, 400);
    // A viewer may read history but not restore or name.
    let vic = Account::signup(app.addr, "vic@example.org").await;
    owner.share(&doc, &vic.email, "viewer").await;
    let cannot = vic
        .call(
            "PUT",
            &format!("/api/docs/{doc}/versions/{v1}"),
            Some(serde_json::json!({ "name": "mine" })),
        )
        .await;
    assert_eq!(cannot.status, 403);
    assert_eq!(
        vic.call("GET", &format!("/api/docs/{doc}/history"), None)
            .await
            .status,
        200
    );
    let refused = vic
        .call(
            "POST",
            &format!("/api/docs/{doc}/restore"),
            Some(serde_json::json!({ "rev": v1 })),
        )
        .await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn retention_compacts_old_history_but_keeps_the_document_and_named_versions() {
    let app = spawn_app_with(|o| Options {
        snapshot_every: Some(3),
        history_retention_secs: Some(1),
        ..o
    })
    .await;
    let mut c = app.connect("kept").await;
    let mut at = vec![String::new()];
    for i in 0..6 {
        type_para(&mut c, &format!("o{i} ")).await;
        c.wait_acked().await;
        at.push(frag_string(&c));
    }
    let named = http(
        app.addr,
        "PUT",
        "/api/docs/kept/versions/2",
        &[],
        Some(r#"{"name":"keep me"}"#),
    )
    .await;
    assert_eq!(named.0, 204);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    // New revisions make a new snapshot, after which everything older than a second compacts.
    for i in 0..4 {
        type_para(&mut c, &format!("n{i} ")).await;
        c.wait_acked().await;
    }
    let now_text = frag_string(&c);
    let mut compacted = false;
    // Up to 10 s: under a loaded test run the snapshot's reload check and compaction run late.
    for _ in 0..200 {
        if http_get(app.addr, "/api/docs/kept/export?format=text&rev=4")
            .await
            .0
            == 410
        {
            compacted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(compacted, "revision 4 was not compacted");
    let (status, _, body) = http_get(app.addr, "/api/docs/kept/export?format=text&rev=2").await;
    assert_eq!(status, 200, "the named version stays viewable");
    assert_eq!(String::from_utf8(body).unwrap(), at[2]);
    let (_, _, body) = http_get(app.addr, "/api/docs/kept/export?format=text").await;
    assert_eq!(String::from_utf8(body).unwrap(), now_text);
    let (_, _, body) = http_get(app.addr, "/api/docs/kept/history").await;
    let h: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        h.as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "keep me" && v["rev"] == 2),
        "{h}"
    );
    // A restart loads the compacted document whole.
    drop(c);
    let app = spawn_app_in(app.stop().await, |o| o).await;
    let mut again = app.connect("kept").await;
    again.drain_for(std::time::Duration::from_millis(100)).await;
    assert_eq!(frag_string(&again), now_text);
}

/// A restore raced by real edits: Bob keeps typing while the owner restores. Every edit is acked,
/// both converge, an edit made after the restore is kept, and the log is not rewritten: each
/// earlier revision reads back as it did before the restore.
#[tokio::test]
async fn a_restore_raced_by_edits_converges_and_rewrites_no_history() {
    use std::time::Duration;
    let (_app, owner, doc, mut o, mut b, v1) = owner_and_editor("race").await;
    for i in 0..4 {
        type_para(&mut o, &format!("o{i} ")).await;
    }
    o.wait_acked().await;
    wait_para(&mut b, "v1 o0 o1 o2 o3 ").await;
    let head = *o.acks.last().unwrap();
    let before = read_log(&owner, &doc, head).await;

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let racer = tokio::spawn(async move {
        let mut n = 0;
        while n < 5 || !*stop.borrow() {
            type_para(&mut b, &format!("[{n}]")).await;
            n += 1;
            b.drain_for(Duration::from_millis(10)).await;
        }
        b.wait_acked().await;
        b
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let r = owner
        .call(
            "POST",
            &format!("/api/docs/{doc}/restore"),
            Some(serde_json::json!({ "rev": v1 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop_tx.send(true).unwrap();
    let mut b = racer.await.unwrap(); // every racing edit was acked
    type_para(&mut b, "after").await;
    b.wait_acked().await;
    let text = frag_string(&b);
    assert!(text.ends_with("after"), "{text}");
    wait_para(&mut o, &text).await;
    assert_eq!(
        read_log(&owner, &doc, head).await,
        before,
        "revisions read back the same"
    );
}

/// Each revision up to `head`, as text.
async fn read_log(owner: &crate::auth_helpers::Account, doc: &str, head: u64) -> Vec<String> {
    let mut revs = Vec::new();
    let bearer = format!("Bearer {}", owner.token);
    for rev in 1..=head {
        let path = format!("/api/docs/{doc}/export?format=text&rev={rev}");
        let (status, _, body) = http(
            owner.addr,
            "GET",
            &path,
            &[("Authorization", &bearer)],
            None,
        )
        .await;
        assert_eq!(status, 200);
        revs.push(String::from_utf8(body).unwrap());
    }
    revs
}
