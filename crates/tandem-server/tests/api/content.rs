//! The write API: Markdown or HTML appended, prepended or replacing a document's content as one
//! revision that an open editor receives live and the change feed lists with its author;
//! initial content on creation; viewers refused, strangers not told the document exists, bad
//! modes and formats a clear 400, content too large for one update a 413 with nothing applied.

use std::time::Duration;

use serde_json::{json, Value};
use yrs::{GetString, Transact};

use crate::auth_helpers::*;
use crate::helpers::*;

async fn write(a: &Account, doc: &str, query: &str, body: &str) -> (u16, Value) {
    let bearer = format!("Bearer {}", a.token);
    let (status, _, raw) = http(
        a.addr,
        "POST",
        &format!("/api/docs/{doc}/content?{query}"),
        &[("Authorization", &bearer), ("Content-Type", "text/plain")],
        Some(body),
    )
    .await;
    (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

async fn markdown(a: &Account, doc: &str) -> String {
    let bearer = format!("Bearer {}", a.token);
    let path = format!("/api/docs/{doc}/export?format=markdown");
    let (status, _, body) = http(a.addr, "GET", &path, &[("Authorization", &bearer)], None).await;
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn content_written_through_the_api_reaches_open_editors_as_one_durable_revision() {
    let app = spawn_auth_app_with(|o| tandem_server::config::Options {
        max_message_bytes: Some(64 * 1024),
        ..o
    })
    .await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let stan = Account::signup(app.addr, "stan@example.org").await;

    // Created with content.
    let r = ann
        .call(
            "POST",
            "/api/docs",
            Some(json!({ "title": "Notes", "content": "# Agenda\n\nFirst item" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let doc = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(markdown(&ann, &doc).await, "# Agenda\n\nFirst item\n");
    ann.share(&doc, &bob.email, "viewer").await;

    // An editor has it open; the write arrives there live, after what is there.
    let mut c = ann.connect(&doc).await;
    c.drain_for(Duration::from_millis(200)).await;
    let (status, body) = write(&ann, &doc, "mode=append", "Second **item**").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true);
    let rev = body["revision"].as_u64().unwrap();
    let fragment = |c: &Client| {
        let f = c.doc.get_or_insert_xml_fragment("default");
        let s = f.get_string(&c.doc.transact());
        s
    };
    tokio::time::timeout(Duration::from_secs(5), async {
        while !fragment(&c).contains("Second") {
            assert!(c.recv().await, "closed");
        }
    })
    .await
    .expect("the open editor never received the write");
    assert_eq!(
        markdown(&ann, &doc).await,
        "# Agenda\n\nFirst item\n\nSecond **item**\n"
    );
    // The feed lists it, by Ann, at the revision the write answered (so it was durable).
    let r = bob
        .call(
            "GET",
            &format!("/api/docs/{doc}/changes?after={}", rev - 1),
            None,
        )
        .await;
    assert_eq!(
        r.json["changes"][0]["revision"].as_u64(),
        Some(rev),
        "{}",
        r.json
    );
    assert_eq!(r.json["changes"][0]["author"], ann.id.to_string());

    // Before, in HTML (sanitized); then replacing everything.
    let (status, _) = write(
        &ann,
        &doc,
        "mode=prepend&format=html",
        "<h2>Intro</h2><script>alert(1)</script><p onclick=x>Hi</p>",
    )
    .await;
    assert_eq!(status, 200);
    let md = markdown(&ann, &doc).await;
    assert!(md.starts_with("## Intro\n\nHi\n\n# Agenda"), "{md}");
    assert!(!md.contains("alert"), "{md}");
    let (status, body) = write(&ann, &doc, "mode=replace", "Only this").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(markdown(&ann, &doc).await, "Only this\n");

    // Refusals, each leaving the document as it was.
    let (status, _) = write(&bob, &doc, "", "from a viewer").await;
    assert_eq!(status, 403);
    let (status, _) = write(&stan, &doc, "", "from a stranger").await;
    assert_eq!(status, 404);
    let (status, body) = write(&ann, &doc, "mode=insert", "x").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("mode"), "{body}");
    // ProseMirror JSON: what the editor could have typed, nothing more.
    let json = r#"{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"From JSON","marks":[{"type":"italic"}]}]}]}"#;
    let (status, body) = write(&ann, &doc, "mode=append&format=json", json).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(markdown(&ann, &doc).await, "Only this\n\n*From JSON*\n");
    let script = r#"{"type":"doc","content":[{"type":"script"}]}"#;
    let (status, body) = write(&ann, &doc, "format=json", script).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("schema"), "{body}");
    // A mention in JSON: of someone Ann may mention, notified once durable; of Stan, refused.
    let mention = |id: i64| {
        format!(
            r#"{{"type":"doc","content":[{{"type":"paragraph","content":[{{"type":"mention","attrs":{{"id":"{id}","ref":"api1"}}}}]}}]}}"#
        )
    };
    let (status, body) = write(&ann, &doc, "format=json", &mention(stan.id)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("mention"),
        "{body}"
    );
    let (status, body) = write(&ann, &doc, "format=json", &mention(bob.id)).await;
    assert_eq!(status, 200, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = bob.call("GET", "/api/notifications", None).await;
        if r.json.to_string().contains("#mention=api1") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", r.json);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = write(&ann, &doc, "mode=replace", "Only this").await;
    assert_eq!(status, 200);
    let (status, _) = write(&ann, &doc, "format=docx", "x").await;
    assert_eq!(status, 400);
    let (status, body) = write(&ann, &doc, "", &"word ".repeat(20_000)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("too large"),
        "{body}"
    );
    assert_eq!(markdown(&ann, &doc).await, "Only this\n");
}
