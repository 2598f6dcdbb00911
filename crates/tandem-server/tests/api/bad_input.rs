//! Invariant 5: bad input closes only its sender, with the documented code; the document and
//! every other client carry on.

use futures_util::SinkExt;
use tandem_core::session::close;
use tandem_server::config::Options;
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::helpers::*;

/// Sends `frame` on a fresh connection and returns the close code; then checks a bystander on
/// the same document still gets acks and broadcasts.
async fn assert_closes(app: &TestApp, doc: &str, frame: Ws, code: u16) {
    let mut bystander = app.connect(doc).await;
    let mut bad = app.connect(doc).await;
    bad.ws.send(frame).await.unwrap();
    let (got, reason) = bad.expect_close().await;
    assert_eq!(got, code, "reason: {reason}");
    assert!(!reason.is_empty(), "a close must say why");
    bystander.push("ok").await;
    bystander.wait_acked().await;
    let mut other = app.connect(doc).await;
    other.wait_text(|t| t.contains("ok")).await;
}

#[tokio::test]
async fn malformed_messages_close_with_4400() {
    let app = spawn_app().await;
    let cases: Vec<Vec<u8>> = vec![
        vec![0xff, 0xff, 0xff],          // bad varint
        vec![0, 2, 50, 1, 2],            // truncated update
        vec![42],                        // unknown type
        vec![0, 2, 3, 0xde, 0xad, 0xbe], // well-framed but not a Yjs update
        vec![],                          // empty frame
    ];
    for (i, frame) in cases.into_iter().enumerate() {
        assert_closes(
            &app,
            &format!("malformed-{i}"),
            Ws::Binary(frame.into()),
            close::MALFORMED,
        )
        .await;
    }
    assert_closes(&app, "text", Ws::Text("hello".into()), close::MALFORMED).await;
}

#[tokio::test]
async fn structured_error_before_close_for_tandem_clients() {
    let app = spawn_app().await;
    let mut c = app.connect("err").await;
    c.ws.send(Ws::Binary(vec![42].into())).await.unwrap();
    c.expect_close().await;
    assert_eq!(c.errors.first().map(|e| e.0), Some(close::MALFORMED as u32));
}

#[tokio::test]
async fn oversized_message_closes_with_1009() {
    let app = spawn_app_with(|o| Options {
        max_message_bytes: Some(64 * 1024),
        ..o
    })
    .await;
    let big = tandem_core::protocol::Message::Update(vec![0; 100 * 1024]).encode();
    assert_closes(&app, "big", Ws::Binary(big.into()), close::TOO_BIG).await;
}

#[tokio::test]
async fn rate_limit_closes_with_1008() {
    let app = spawn_app_with(|o| Options {
        rate_limit_per_sec: Some(5),
        rate_limit_burst: Some(20),
        ..o
    })
    .await;
    let mut bystander = app.connect("rate").await;
    let mut flood = app.connect("rate").await;
    for _ in 0..50 {
        if flood.ws.send(Ws::Binary(vec![3].into())).await.is_err() {
            break;
        }
    }
    let (code, _) = flood.expect_close().await;
    assert_eq!(code, close::RATE_LIMITED);
    bystander.push("still here").await;
    bystander.wait_acked().await;
}

#[tokio::test]
async fn bad_document_names_close_with_4404() {
    let app = spawn_app().await;
    for name in ["..x", "a%20b", &"n".repeat(129)] {
        let mut c = Client::from_socket(raw_connect(app.addr, name, true).await, true);
        let (code, reason) = c.expect_close().await;
        assert_eq!(code, close::BAD_DOCUMENT, "{name}: {reason}");
    }
    // The server still serves good names.
    let mut ok = app.connect("fine").await;
    ok.push("x").await;
    ok.wait_acked().await;
}

/// Found by the `apply_update` fuzzer: a few bytes whose length prefixes claim billions of
/// entries made the decoder try to allocate for all of them (an allocation failure aborts the
/// process). The server must refuse such an update like any other malformed one.
#[tokio::test]
async fn an_update_claiming_billions_of_entries_is_refused_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let mut bystander = Client::connect(server.addr, "huge", true).await;
    for update in [
        vec![0xfa, 0xfe, 0xfe, 0x71, 0x00, 0x26, 0x61],
        vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x26, 0x61],
        vec![0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x00],
    ] {
        let mut bad = Client::connect(server.addr, "huge", true).await;
        let frame = tandem_core::protocol::Message::Update(update).encode();
        bad.ws.send(Ws::Binary(frame.into())).await.unwrap();
        let (code, reason) = bad.expect_close().await;
        assert_eq!(code, close::MALFORMED, "{reason}");
    }
    let peak = server.status_kb("VmHWM");
    assert!(
        peak < 512 * 1024,
        "the server allocated for the claim: peak {peak} kB"
    );
    bystander.push("still here").await;
    bystander.wait_acked().await;
}

/// What a modified client might write into the editor's document: a `<script>` element, an
/// event-handler attribute, a `javascript:` link. Each is closed with 4400 and never stored
/// (the document's revision does not move), while a bystander keeps its acks. With
/// `--schema off` (a plain Yjs relay) the same `<script>` element is stored like anything else.
#[tokio::test]
async fn content_outside_the_editor_schema_is_refused_unless_the_check_is_off() {
    use std::collections::HashMap;
    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::types::Attrs;
    use yrs::{Any, Text, Transact, Xml, XmlFragment};
    let update = |f: &dyn Fn(&yrs::XmlFragmentRef, &mut yrs::TransactionMut)| {
        let d = yrs::Doc::with_client_id(99);
        let frag = d.get_or_insert_xml_fragment("default");
        let mut txn = d.transact_mut();
        f(&frag, &mut txn);
        txn.encode_update_v1()
    };
    let script = update(&|f, t| {
        f.push_back(t, XmlElementPrelim::empty("script"));
    });
    let onclick = update(&|f, t| {
        let p = f.push_back(t, XmlElementPrelim::empty("paragraph"));
        p.insert_attribute(t, "onclick", "steal()");
    });
    let javascript = update(&|f, t| {
        let p = f.push_back(t, XmlElementPrelim::empty("paragraph"));
        let text = p.push_back(t, XmlTextPrelim::new(""));
        let href = HashMap::from([("href".to_string(), Any::from("javascript:steal()"))]);
        let link = Attrs::from([("link".into(), Any::from(href))]);
        text.insert_with_attributes(t, 0, "click me", link);
    });
    let id = "0123456789abcdef".repeat(4);
    let image = |src: String| {
        update(&|f, t| {
            let img = f.push_back(t, XmlElementPrelim::empty("image"));
            img.insert_attribute(t, "src", src.clone());
        })
    };
    let foreign = image("https://tracker.example/pixel.png".into());
    let other_doc = image(format!("/api/docs/elsewhere/files/{id}"));
    let app = spawn_app().await;
    for (name, u) in [
        ("script", &script),
        ("onclick", &onclick),
        ("javascript", &javascript),
        ("foreign image", &foreign),
        ("another document's file", &other_doc),
    ] {
        assert_closes(
            &app,
            "hostile-doc",
            Ws::Binary(
                tandem_core::protocol::Message::Update(u.clone())
                    .encode()
                    .into(),
            ),
            close::MALFORMED,
        )
        .await;
        let after = http_get(app.addr, "/api/docs/hostile-doc/export?format=html").await;
        let html = String::from_utf8(after.2).unwrap();
        assert!(
            !html.contains("script")
                && !html.contains("steal")
                && !html.contains("click me")
                && !html.contains("<img"),
            "{name}: nothing of it was stored: {html}"
        );
    }
    // An image of the document's own files is the editor's: accepted.
    let mut c = app.connect("hostile-doc").await;
    c.send_update(image(format!("/api/docs/hostile-doc/files/{id}")))
        .await;
    c.wait_acked().await;
    assert!(c.closed.is_none(), "the document's own file");
    let relay = spawn_app_with(|o| Options {
        schema: Some(tandem_server::config::SchemaMode::Off),
        ..o
    })
    .await;
    let mut c = relay.connect("plain").await;
    c.send_update(script.clone()).await;
    c.wait_acked().await;
    assert!(c.closed.is_none(), "a plain relay takes it");
}
