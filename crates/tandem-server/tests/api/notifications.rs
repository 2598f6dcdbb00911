//! Mentions and notifications through the API: a mention in the document reaches the person
//! named once it is durable, linking to its place; the server refuses a mention of an account
//! that does not exist or that its author may not mention; replies and shares notify; nothing
//! names a document its reader cannot open; the unread count streams live (server-sent events).

use std::time::Duration;

use serde_json::{json, Value};
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
use yrs::{GetString, Transact, Xml, XmlElementRef, XmlFragment};

use crate::auth_helpers::*;
use crate::helpers::*;

/// A new paragraph: `text`, then a mention of account `user` with its place `place`.
fn mention_update(c: &Client, text: &str, user: &str, place: &str) -> Vec<u8> {
    let frag = c.doc.get_or_insert_xml_fragment("default");
    let mut txn = c.doc.transact_mut();
    let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
    p.push_back(&mut txn, XmlTextPrelim::new(text));
    let m: XmlElementRef = p.push_back(&mut txn, XmlElementPrelim::empty("mention"));
    m.insert_attribute(&mut txn, "id", user);
    m.insert_attribute(&mut txn, "label", "Someone");
    m.insert_attribute(&mut txn, "mentionSuggestionChar", "@");
    m.insert_attribute(&mut txn, "ref", place);
    txn.encode_update_v1()
}

async fn notifications(a: &Account) -> Value {
    let r = a.call("GET", "/api/notifications", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

/// Reads the list until it holds `n` notifications (they are recorded just after the edit or
/// request that caused them).
async fn wait_count(a: &Account, n: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = notifications(a).await;
        if page["notifications"].as_array().unwrap().len() >= n {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {n} notifications: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_mention_reaches_its_person_at_its_place_and_strangers_are_refused() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let cy = Account::signup(app.addr, "cy@example.org").await;
    let stan = Account::signup(app.addr, "stan@example.org").await;
    let doc = ann.new_doc("Launch plan").await;
    ann.share(&doc, &bob.email, "editor").await;
    // Cy shares another document with Ann: Ann may mention Cy (and share with Cy).
    let other = cy.new_doc("Cy's notes").await;
    cy.share(&other, &ann.email, "viewer").await;
    let _ = wait_count(&ann, 1).await; // the share of Cy's notes

    // The "@" list: the document's people first, then Ann's other circles; names, no addresses.
    let r = ann
        .call("GET", &format!("/api/docs/{doc}/people?q="), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let ids: Vec<i64> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [ann.id, bob.id, cy.id], "{}", r.json);
    assert!(
        r.json
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("email").is_none()),
        "{}",
        r.json
    );
    assert_eq!(r.json[2]["role"], Value::Null);
    // Stan may not even ask: he cannot open the document.
    let r = stan
        .call("GET", &format!("/api/docs/{doc}/people"), None)
        .await;
    assert_eq!(r.status, 404, "{}", r.json);

    // Ann mentions Bob: once it is durable, Bob has a notification linking to the mention.
    let mut c = ann.connect(&doc).await;
    let u = mention_update(&c, "Ask ", &bob.id.to_string(), "r1");
    c.send_update(u).await;
    c.wait_acked().await;
    let page = wait_count(&bob, 2).await; // the share, then the mention
    let n = &page["notifications"][0];
    assert_eq!(n["kind"], "mention", "{page}");
    assert_eq!(n["link"], format!("/d/{doc}#mention=r1"));
    assert_eq!(n["doc_title"], "Launch plan");
    assert!(n["text"].as_str().unwrap().contains("mentioned you"), "{n}");
    assert_eq!(page["unread"], 2);
    // Mentioning oneself notifies nobody; the same mention again is not a second notification.
    let u = mention_update(&c, "Me: ", &ann.id.to_string(), "r2");
    c.send_update(u).await;
    let u = mention_update(&c, "Again ", &bob.id.to_string(), "r1");
    c.send_update(u).await;
    c.wait_acked().await;

    // Cy cannot open the document: mentioning Cy is allowed (the editor offers to share), but
    // Cy sees nothing about a document Cy cannot open...
    let u = mention_update(&c, "And ", &cy.id.to_string(), "r3");
    c.send_update(u).await;
    c.wait_acked().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cy_page = notifications(&cy).await;
    assert!(
        !cy_page.to_string().contains(&doc),
        "a notification revealed the document: {cy_page}"
    );
    // ...until Ann shares it with Cy, by account (the offer), without knowing Cy's address.
    let r = stan.share_with_id(&doc, cy.id).await;
    assert_eq!(r.status, 404, "only the document's sharers: {}", r.json);
    let r = ann.share_with_id(&doc, stan.id).await;
    assert_eq!(r.status, 404, "Stan is no one Ann may mention: {}", r.json);
    let r = ann.share_with_id(&doc, cy.id).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let cy_page = wait_count(&cy, 2).await;
    let kinds: Vec<&str> = cy_page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["share", "mention"], "{cy_page}");

    // Bob's count: the share and one mention; the self-mention and the repeat added nothing.
    let page = notifications(&bob).await;
    assert_eq!(page["notifications"].as_array().unwrap().len(), 2, "{page}");

    // Stan shares nothing with Ann: a mention of him is refused by the schema check (4400),
    // and so is an account that does not exist or an id that is not one.
    for who in [
        stan.id.to_string(),
        "999999".to_string(),
        "not-a-number".to_string(),
    ] {
        let mut c = ann.connect(&doc).await;
        let u = mention_update(&c, "Hey ", &who, "bad");
        c.send_update(u).await;
        let (code, reason) = c.expect_close().await;
        assert_eq!(code, 4400, "{who}: {reason}");
        assert!(
            reason.contains("schema") && reason.contains("mention"),
            "{reason}"
        );
    }
    // Nothing of them was kept: a fresh client sees the three mentions of before, and Stan
    // heard of nothing.
    let mut fresh = ann.connect(&doc).await;
    fresh.drain_for(Duration::from_millis(300)).await;
    let frag = fresh.doc.get_or_insert_xml_fragment("default");
    let xml = frag.get_string(&fresh.doc.transact());
    assert!(!xml.contains("bad"), "{xml}");
    assert!(xml.contains("r3"), "{xml}");
    assert!(notifications(&stan).await["notifications"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn replies_notify_the_thread_starter_and_read_marks_clear_the_count() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("Budget").await;
    ann.share(&doc, &bob.email, "commenter").await;
    let r = ann
        .call(
            "POST",
            &format!("/api/docs/{doc}/comments"),
            Some(json!({ "body": "Is this right?", "anchor": "", "quote": "" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let thread = r.json["id"].as_str().unwrap().to_string();
    // Ann's own reply is no news to her; Bob's is.
    for (who, body) in [
        (&ann, "Adding context"),
        (&bob, "Looks fine to me\nsecond line"),
    ] {
        let r = who
            .call(
                "POST",
                &format!("/api/docs/{doc}/comments/{thread}/replies"),
                Some(json!({ "body": body })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let page = wait_count(&ann, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page2 = notifications(&ann).await;
    assert_eq!(
        page2["notifications"].as_array().unwrap().len(),
        1,
        "{page2}"
    );
    let n = &page["notifications"][0];
    assert_eq!(n["kind"], "reply");
    assert_eq!(n["detail"], "Looks fine to me");
    assert_eq!(n["link"], format!("/d/{doc}#thread={thread}"));
    assert_eq!(n["actor_id"], bob.id);

    // Read one, then all; someone else's id marks nothing of theirs.
    let id = n["id"].as_i64().unwrap();
    let r = bob
        .call("POST", "/api/notifications/read", Some(json!({ "id": id })))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(notifications(&ann).await["unread"], 1);
    let r = ann
        .call("POST", "/api/notifications/read", Some(json!({ "id": id })))
        .await;
    assert_eq!(r.json["unread"], 0, "{}", r.json);
    assert_eq!(notifications(&bob).await["unread"], 1); // the share
    let r = bob.call("POST", "/api/notifications/read", None).await;
    assert_eq!(r.json["unread"], 0, "{}", r.json);
    let page = notifications(&bob).await;
    assert!(
        page["notifications"][0]["read"].as_bool().unwrap(),
        "{page}"
    );

    // Unshared: Bob's notifications about the document are gone at once.
    ann.unshare(&doc, bob.id).await;
    assert!(notifications(&bob).await["notifications"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_unread_count_streams_live() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let mut s = UnreadStream::open(bob.addr, &bob.token).await;
    assert_eq!(s.next().await, 0);
    assert!(s.buf.is_empty() || !s.buf.contains("unread"));
    let doc = ann.new_doc("Live").await;
    ann.share(&doc, &bob.email, "editor").await;
    assert_eq!(s.next().await, 1);
    // Another user's news does not reach Bob's stream; his own read does.
    let other = bob.new_doc("Bob's").await;
    bob.share(&other, &ann.email, "viewer").await;
    let r = bob.call("POST", "/api/notifications/read", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.next().await, 0);
    // Without a token, no stream.
    let r = api(app.addr, "GET", "/api/notifications/stream", None, None).await;
    assert_eq!(r.status, 401);
}
