//! Suggestion mode, enforced by the server: a commenter's connection may only send its own
//! suggestions. A hostile stock y-websocket client with a commenter's token tries each kind of
//! forbidden change; each is refused with 4403 and the document is unchanged for everyone, while
//! a bystander editor keeps typing and getting acks. A legitimate suggestion is accepted,
//! broadcast, and accepted for real by the owner.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::types::xml::XmlOut;
use yrs::types::Attrs;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, GetString, Text, Transact, TransactionMut, Update, WriteTxn, Xml, XmlElementPrelim,
    XmlFragment, XmlFragmentRef, XmlTextPrelim, XmlTextRef,
};

use crate::auth_helpers::*;
use crate::helpers::*;

const INSERT: &str = "suggestionInsert";
const DELETE: &str = "suggestionDelete";

fn mark(user: i64, id: &str) -> Any {
    Any::Map(Arc::new(HashMap::from([
        ("id".to_owned(), Any::String(id.into())),
        ("user".to_owned(), Any::String(user.to_string().into())),
        ("time".to_owned(), Any::from(1_764_000_000_000.0_f64)),
    ])))
}

fn attrs(name: &str, v: Any) -> Attrs {
    Attrs::from([(Arc::from(name), v)])
}

fn first_text(frag: &XmlFragmentRef, txn: &TransactionMut) -> XmlTextRef {
    let Some(XmlOut::Element(p)) = frag.get(txn, 0) else {
        panic!("no paragraph")
    };
    match p.get(txn, 0) {
        Some(XmlOut::Text(t)) => t,
        _ => panic!("no text"),
    }
}

/// The editor's document as text with markup, from the server's `/state`.
async fn server_doc(app: &TestApp, owner: &Account, doc: &str) -> String {
    let auth = format!("Bearer {}", owner.token);
    let path = format!("/api/docs/{doc}/state");
    let (status, _, body) = http(app.addr, "GET", &path, &[("Authorization", &auth)], None).await;
    assert_eq!(status, 200);
    let d = yrs::Doc::new();
    d.transact_mut()
        .apply_update(Update::decode_v1(&body).unwrap())
        .unwrap();
    let frag = d.get_or_insert_xml_fragment("default");
    let s = frag.get_string(&d.transact());
    s
}

/// A stock y-websocket client (no `tandem.v1`) with `token` in the address, synced.
async fn stock(app: &TestApp, doc: &str, token: &str) -> Client {
    let ws = raw_connect_path(app.addr, &format!("/ws/{doc}?token={token}"), false).await;
    Client::from_socket(ws, false)
        .sync_with(yrs::Doc::new())
        .await
}

/// Sends one edit from a fresh stock commenter connection and returns how the server answered.
async fn attempt(
    app: &TestApp,
    doc: &str,
    token: &str,
    edit: impl FnOnce(&yrs::Doc, &XmlFragmentRef, &mut TransactionMut),
) -> (u16, String) {
    let mut c = stock(app, doc, token).await;
    let update = {
        let d = c.doc.clone();
        let frag = d.get_or_insert_xml_fragment("default");
        let mut txn = d.transact_mut();
        edit(&d, &frag, &mut txn);
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.expect_close().await
}

#[tokio::test]
async fn a_commenter_may_only_suggest_and_everyone_else_carries_on() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner-sg@example.org").await;
    let cat = Account::signup(app.addr, "cat-sg@example.org").await;
    let doc = owner.new_doc("s").await;
    owner.share(&doc, &cat.email, "commenter").await;
    let mut o = owner.connect(&doc).await;
    let update = {
        let frag = o.doc.get_or_insert_xml_fragment("default");
        let mut txn = o.doc.transact_mut();
        first_text(&frag, &txn).insert(&mut txn, 0, "hello world");
        txn.encode_update_v1()
    };
    o.send_update(update).await;
    o.wait_acked().await;
    let before = server_doc(&app, &owner, &doc).await;
    assert_eq!(before, "<paragraph>hello world</paragraph>");

    let own = || mark(cat.id, "c1");
    type Edit = Box<dyn FnOnce(&yrs::Doc, &XmlFragmentRef, &mut TransactionMut)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "a plain insert",
            Box::new(|_, f, txn| first_text(f, txn).insert(txn, 0, "X")),
        ),
        (
            "a plain delete of someone else's text",
            Box::new(|_, f, txn| first_text(f, txn).remove_range(txn, 0, 5)),
        ),
        (
            "a suggestion mark with another user's id",
            Box::new({
                let forged = mark(owner.id, "o1");
                move |_, f, txn| {
                    first_text(f, txn).insert_with_attributes(txn, 0, "X", attrs(INSERT, forged))
                }
            }),
        ),
        (
            "a suggestion mark on text it did not insert",
            Box::new({
                let m = own();
                move |_, f, txn| first_text(f, txn).format(txn, 0, 5, attrs(INSERT, m))
            }),
        ),
        (
            "an attribute change on a paragraph",
            Box::new(|_, f, txn| {
                let Some(XmlOut::Element(p)) = f.get(txn, 0) else {
                    panic!()
                };
                p.insert_attribute(txn, "level", Any::from(1.0_f64));
            }),
        ),
        (
            "a new root type",
            Box::new(|_, _, txn| txn.get_or_insert_text("t").insert(txn, 0, "hidden")),
        ),
        (
            "a huge suggestion",
            Box::new({
                let m = own();
                move |_, f, txn| {
                    let big = "y".repeat(600 << 10);
                    first_text(f, txn).insert_with_attributes(txn, 11, &big, attrs(INSERT, m))
                }
            }),
        ),
    ];
    for (what, edit) in cases {
        let (code, reason) = attempt(&app, &doc, &cat.token, edit).await;
        assert_eq!(code, 4403, "{what}: {reason}");
        assert!(reason.contains("suggest"), "{what}: {reason}");
        // The bystander keeps typing, and is acked.
        let n = o.acks.len();
        let update = {
            let frag = o.doc.get_or_insert_xml_fragment("default");
            let mut txn = o.doc.transact_mut();
            let t = first_text(&frag, &txn);
            let end = t.len(&txn);
            t.insert(&mut txn, end, ".");
            txn.encode_update_v1()
        };
        o.send_update(update).await;
        o.wait_acked().await;
        assert_eq!(o.acks.len(), n + 1, "{what}: the bystander's edit is acked");
    }
    let after = server_doc(&app, &owner, &doc).await;
    assert_eq!(
        after, "<paragraph>hello world.......</paragraph>",
        "nothing of theirs got in"
    );

    // A real suggestion: the tail proposed for deletion, a new proposed paragraph, typed text.
    let mut c = stock(&app, &doc, &cat.token).await;
    let update = {
        let frag = c.doc.get_or_insert_xml_fragment("default");
        let mut txn = c.doc.transact_mut();
        let t = first_text(&frag, &txn);
        t.format(&mut txn, 6, 5, attrs(DELETE, mark(cat.id, "c3")));
        t.insert_with_attributes(&mut txn, 5, ",", attrs(INSERT, own()));
        let p = frag.insert(&mut txn, 1, XmlElementPrelim::empty("paragraph"));
        p.insert_attribute(&mut txn, INSERT, mark(cat.id, "c2"));
        let t2 = p.push_back(&mut txn, XmlTextPrelim::new(""));
        t2.insert_with_attributes(&mut txn, 0, "world", attrs(INSERT, mark(cat.id, "c2")));
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.drain_for(std::time::Duration::from_millis(300)).await;
    assert!(
        c.closed.is_none(),
        "a suggestion is accepted: {:?}",
        c.closed
    );
    let frag = o.doc.get_or_insert_xml_fragment("default");
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !frag.get_string(&o.doc.transact()).contains(">world<") {
            assert!(o.recv().await, "the owner hears the suggestion");
        }
    })
    .await
    .expect("the suggestion reaches the owner");
    let suggested = server_doc(&app, &owner, &doc).await;
    assert!(suggested.contains(">,</suggestionInsert>"), "{suggested}");
    assert!(
        suggested.contains("<paragraph suggestionInsert="),
        "{suggested}"
    );

    // Exports leave pending suggestions out, or mark them up when asked.
    let auth = format!("Bearer {}", owner.token);
    let export = |q: &'static str| {
        let (auth, doc) = (auth.clone(), doc.clone());
        async move {
            let path = format!("/api/docs/{doc}/export?format=markdown{q}");
            let (status, _, body) =
                http(app.addr, "GET", &path, &[("Authorization", &auth)], None).await;
            assert_eq!(status, 200);
            String::from_utf8(body).unwrap()
        }
    };
    assert_eq!(export("").await.trim(), "hello world.......");
    let marked = export("&suggestions=include").await;
    assert!(marked.contains("hello{++,++} {--world--}"), "{marked}");
    assert!(marked.contains("{++world++}"), "{marked}");

    // The owner accepts the comma and rejects the deletion; the history says who did what.
    let update = {
        let frag = o.doc.get_or_insert_xml_fragment("default");
        let mut txn = o.doc.transact_mut();
        let t = first_text(&frag, &txn);
        t.format(&mut txn, 5, 1, attrs(INSERT, Any::Null));
        t.format(&mut txn, 7, 5, attrs(DELETE, Any::Null));
        txn.encode_update_v1()
    };
    o.send_update(update).await;
    o.wait_acked().await;
    let (status, _, body) = http(
        app.addr,
        "GET",
        &format!("/api/docs/{doc}/history"),
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let versions: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let lines: Vec<Vec<String>> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let who = v["author"]["id"].as_i64().unwrap_or(0);
            v["suggestions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    format!(
                        "{who}: {} {} {} {:?} by {}",
                        s["outcome"].as_str().unwrap(),
                        s["kind"].as_str().unwrap(),
                        s["id"].as_str().unwrap(),
                        s["quote"].as_str().unwrap(),
                        s["suggested_by"]["id"].as_i64().unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    let (o_name, c_name) = (owner.id, cat.id);
    assert_eq!(
        lines,
        vec![
            vec![
                format!("{o_name}: accepted insert c1 \",\" by {c_name}"),
                format!("{o_name}: rejected delete c3 \"world\" by {c_name}"),
            ],
            vec![
                format!("{c_name}: made insert c1 \",\" by {c_name}"),
                format!("{c_name}: made delete c3 \"world\" by {c_name}"),
                format!("{c_name}: made insert c2 \"world\" by {c_name}"),
            ],
            vec![],
        ],
        "newest version first"
    );
}
