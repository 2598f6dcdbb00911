//! Comments: anchored threads with replies, resolve and reopen; commenters may comment but not
//! edit; every open socket hears of a change; anchors (Yjs sticky indices, stored opaquely) follow
//! the text through edits before, inside and after the range; comments survive a restart.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Assoc, GetString, IndexedSequence, StickyIndex, Text, Transact, XmlFragment, XmlTextRef,
};

use crate::auth_helpers::*;
use crate::helpers::*;

fn text_of(c: &Client) -> XmlTextRef {
    let frag = c.doc.get_or_insert_xml_fragment("default");
    let txn = c.doc.transact();
    let p = frag.get(&txn, 0).unwrap().into_xml_element().unwrap();
    p.get(&txn, 0).unwrap().into_xml_text().unwrap()
}

async fn edit(c: &mut Client, f: impl FnOnce(&XmlTextRef, &mut yrs::TransactionMut)) {
    let t = text_of(c);
    let update = {
        let mut txn = c.doc.transact_mut();
        f(&t, &mut txn);
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.wait_acked().await;
}

/// The text between two encoded sticky indices, resolved against `c`'s document now.
fn anchored(c: &Client, anchor: &str) -> String {
    let (a, b) = anchor.split_once('.').unwrap();
    let start = StickyIndex::decode_v1(&STANDARD.decode(a).unwrap()).unwrap();
    let end = StickyIndex::decode_v1(&STANDARD.decode(b).unwrap()).unwrap();
    // One read transaction at a time: yrs transactions are not reentrant.
    let text = text_of(c);
    let txn = c.doc.transact();
    let (s, e) = (
        start.get_offset(&txn).unwrap().index,
        end.get_offset(&txn).unwrap().index,
    );
    let all: Vec<char> = text.get_string(&txn).chars().collect();
    all[s as usize..e as usize].iter().collect()
}

#[tokio::test]
async fn threads_live_notices_roles_anchors_and_restart() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let carol = Account::signup(app.addr, "carol@example.org").await;
    let vic = Account::signup(app.addr, "vic@example.org").await;
    let doc = owner.new_doc("c").await;
    owner.share(&doc, &carol.email, "commenter").await;
    owner.share(&doc, &vic.email, "viewer").await;
    let mut o = owner.connect(&doc).await;
    // A new document holds one empty paragraph (the server's first revision): type into it.
    let update = {
        let frag = o.doc.get_or_insert_xml_fragment("default");
        let mut txn = o.doc.transact_mut();
        let p = frag.get(&txn, 0).unwrap().into_xml_element().unwrap();
        let t = p.get(&txn, 0).unwrap().into_xml_text().unwrap();
        t.insert(&mut txn, 0, "hello world");
        txn.encode_update_v1()
    };
    o.send_update(update).await;
    o.wait_acked().await;

    // Carol anchors a thread on "world" (6..11): the start sticks to what follows it, the end to
    // what precedes it, so the range grows with text typed inside and not with text at its edges.
    let mut c = carol.connect(&doc).await;
    let anchor = {
        let t = text_of(&c);
        let txn = c.doc.transact();
        let s = t.sticky_index(&txn, 6, Assoc::After).unwrap();
        let e = t.sticky_index(&txn, 11, Assoc::Before).unwrap();
        format!(
            "{}.{}",
            STANDARD.encode(s.encode_v1()),
            STANDARD.encode(e.encode_v1())
        )
    };
    let r = carol
        .call(
            "POST",
            &format!("/api/docs/{doc}/comments"),
            Some(json!({ "body": "Which world?", "anchor": anchor, "quote": "world" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let thread = r.json["id"].as_str().unwrap().to_string();
    // Everyone connected hears of it at once.
    tokio::time::timeout(WAIT, async {
        while o.comment_notices.is_empty() && o.recv().await {}
    })
    .await
    .unwrap();
    assert_eq!(o.comment_notices, vec![thread.clone()]);

    // A commenter may comment but not edit; a viewer may read but not comment.
    edit_refused(&mut c).await;
    let v = vic
        .call(
            "POST",
            &format!("/api/docs/{doc}/comments"),
            Some(json!({ "body": "me too" })),
        )
        .await;
    assert_eq!(v.status, 403);
    assert_eq!(
        vic.call("GET", &format!("/api/docs/{doc}/comments"), None)
            .await
            .status,
        200
    );

    // Replies, resolve, reopen.
    let r = owner
        .call(
            "POST",
            &format!("/api/docs/{doc}/comments/{thread}/replies"),
            Some(json!({ "body": "This one." })),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        carol
            .call(
                "POST",
                &format!("/api/docs/{doc}/comments/{thread}/resolve"),
                None
            )
            .await
            .status,
        204
    );
    let list = vic
        .call("GET", &format!("/api/docs/{doc}/comments"), None)
        .await
        .json;
    assert_eq!(list[0]["comments"].as_array().unwrap().len(), 2);
    assert_eq!(
        list[0]["comments"][0]["author"]["name"],
        "carol@example.org"
    );
    assert_eq!(list[0]["comments"][1]["body"], "This one.");
    assert!(list[0]["resolved_at"].is_i64());
    assert_eq!(
        owner
            .call(
                "POST",
                &format!("/api/docs/{doc}/comments/{thread}/reopen"),
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(
        owner
            .call(
                "POST",
                &format!("/api/docs/{doc}/comments/nope/replies"),
                Some(json!({ "body": "x" }))
            )
            .await
            .status,
        404
    );

    // The anchor follows the text: inserts and deletes before, inside and after the range.
    let stored = owner
        .call("GET", &format!("/api/docs/{doc}/comments"), None)
        .await
        .json[0]["anchor"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(anchored(&o, &stored), "world");
    edit(&mut o, |t, txn| t.insert(txn, 0, "Oh, ")).await; // before
    assert_eq!(anchored(&o, &stored), "world");
    edit(&mut o, |t, txn| t.insert(txn, 4 + 6 + 2, "-w-")).await; // inside: "wo-w-rld"
    assert_eq!(anchored(&o, &stored), "wo-w-rld");
    edit(&mut o, |t, txn| t.insert(txn, t.len(txn), "!")).await; // after
    assert_eq!(anchored(&o, &stored), "wo-w-rld");
    edit(&mut o, |t, txn| t.remove_range(txn, 0, 4)).await; // delete before
    assert_eq!(anchored(&o, &stored), "wo-w-rld");
    edit(&mut o, |t, txn| t.remove_range(txn, 8, 3)).await; // delete inside: "-w-" goes
    assert_eq!(anchored(&o, &stored), "world");
    assert_eq!(text_of(&o).get_string(&o.doc.transact()), "hello world!");
    // Another client resolves the same anchor against its own copy identically.
    let mut late = owner.connect(&doc).await;
    late.drain_for(std::time::Duration::from_millis(100)).await;
    assert_eq!(anchored(&late, &stored), "world");

    // Comments survive a restart.
    drop((o, c, late));
    let app = spawn_app_in(app.stop().await, |o| tandem_server::config::Options {
        auth: Some(tandem_server::config::AuthMode::Accounts),
        ..o
    })
    .await;
    let again = Account::login(app.addr, "owner@example.org").await;
    let list = again
        .call("GET", &format!("/api/docs/{doc}/comments"), None)
        .await
        .json;
    assert_eq!(list[0]["id"], thread.as_str());
    assert_eq!(list[0]["comments"].as_array().unwrap().len(), 2);
}

async fn edit_refused(c: &mut Client) {
    let t = text_of(c);
    let update = {
        let mut txn = c.doc.transact_mut();
        t.insert(&mut txn, 0, "sneaky ");
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    assert_eq!(c.expect_close().await.0, 4403);
}

#[tokio::test]
async fn authors_edit_and_delete_their_own_comments_only() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("talk").await;
    ann.share(&doc, &bob.email, "commenter").await;
    let mut watcher = ann.connect(&doc).await;
    let base = format!("/api/docs/{doc}/comments");
    let body = json!({ "body": "first", "anchor": "", "quote": "" });
    let thread = ann.call("POST", &base, Some(body)).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = bob
        .call(
            "POST",
            &format!("{base}/{thread}/replies"),
            Some(json!({ "body": "a reply" })),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone else's comment: refused, unchanged.
    let r = bob
        .call(
            "PATCH",
            &format!("{base}/{thread}"),
            Some(json!({ "body": "hijacked" })),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.json);
    assert_eq!(
        bob.call("DELETE", &format!("{base}/{thread}"), None)
            .await
            .status,
        403
    );
    // Their own: edited, and everyone hears of it.
    watcher
        .drain_for(std::time::Duration::from_millis(100))
        .await;
    let notices = watcher.comment_notices.len();
    let r = ann
        .call(
            "PATCH",
            &format!("{base}/{thread}"),
            Some(json!({ "body": "first, edited" })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    watcher
        .drain_for(std::time::Duration::from_millis(300))
        .await;
    assert!(
        watcher.comment_notices.len() > notices,
        "no live notice of the edit"
    );
    let threads = ann.call("GET", &base, None).await.json;
    assert_eq!(threads[0]["comments"][0]["body"], "first, edited");
    // Bob deletes his reply; Ann deletes her thread, and it goes with its replies.
    assert_eq!(
        bob.call("DELETE", &format!("{base}/{reply}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        ann.call("GET", &base, None).await.json[0]["comments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        ann.call("DELETE", &format!("{base}/{thread}"), None)
            .await
            .status,
        204
    );
    assert!(ann
        .call("GET", &base, None)
        .await
        .json
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        ann.call("DELETE", &format!("{base}/{thread}"), None)
            .await
            .status,
        404
    );
}
