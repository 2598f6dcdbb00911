//! Full-text search through the API: text, titles and comments become searchable within
//! seconds of being saved; results are only documents the caller may open, and a document
//! shared and then unshared appears and disappears at once; snippets are escaped; hostile
//! queries answer a list; a restart before indexing loses nothing; `tandem reindex` rebuilds.
//! What is indexed is the editor's document (the `default` fragment, as exports read it).

use std::time::Duration;

use serde_json::{json, Value};
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
use yrs::{Text, Transact, XmlFragment};

use crate::auth_helpers::*;
use crate::helpers::*;

/// Every byte but letters and digits percent-encoded.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn search(a: &Account, q: &str) -> Value {
    let r = a
        .call("GET", &format!("/api/search?q={}", encode(q)), None)
        .await;
    assert_eq!(r.status, 200, "{q:?}: {}", r.json);
    r.json
}

fn docs(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["doc"].as_str().unwrap().to_string())
        .collect()
}

/// Searches until `doc` is among the results (the index follows saves within seconds).
async fn wait_found(a: &Account, q: &str, doc: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page = search(a, q).await;
        if docs(&page).iter().any(|d| d == doc) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{q:?} never found {doc}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `text` into the first paragraph of a new document and waits for the ack.
async fn type_into(c: &mut Client, text: &str) {
    let update = {
        let frag = c.doc.get_or_insert_xml_fragment("default");
        let mut txn = c.doc.transact_mut();
        let p = frag.get(&txn, 0).unwrap().into_xml_element().unwrap();
        let t = p.get(&txn, 0).unwrap().into_xml_text().unwrap();
        t.insert(&mut txn, 0, text);
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.wait_acked().await;
}

/// Appends a paragraph holding `text` (a document opened by name starts empty).
async fn add_paragraph(c: &mut Client, text: &str) {
    let update = {
        let frag = c.doc.get_or_insert_xml_fragment("default");
        let mut txn = c.doc.transact_mut();
        let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(&mut txn, XmlTextPrelim::new(text));
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.wait_acked().await;
}

#[tokio::test]
async fn search_finds_what_the_caller_may_open_and_follows_sharing_at_once() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = owner.new_doc("Roadmap for 2027").await;
    let mut c = owner.connect(&doc).await;
    type_into(
        &mut c,
        "the <img src=x onerror=alert(1)> zebra migration & friends",
    )
    .await;

    // The text, escaped, with the match marked.
    let page = wait_found(&owner, "zebr", &doc).await;
    let hit = &page["results"][0];
    assert_eq!(hit["title"], "Roadmap for 2027");
    let snippet = hit["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>zebra</mark>"), "{snippet}");
    assert!(
        snippet.contains("&lt;img") && !snippet.contains("<img"),
        "{snippet}"
    );
    assert!(snippet.contains("&amp;"), "{snippet}");
    // The title, by a prefix.
    assert_eq!(docs(&search(&owner, "roadm").await), vec![doc.clone()]);

    // Bob may not open it: not found. Shared: found at once. Unshared: gone at once.
    assert!(docs(&search(&bob, "zebra").await).is_empty());
    owner.share(&doc, &bob.email, "viewer").await;
    assert_eq!(docs(&search(&bob, "zebra").await), vec![doc.clone()]);
    owner.unshare(&doc, bob.id).await;
    assert!(docs(&search(&bob, "zebra").await).is_empty());

    // Comments are searched too.
    let r = owner
        .call(
            "POST",
            &format!("/api/docs/{doc}/comments"),
            Some(json!({ "body": "what about unicorns?", "anchor": "", "quote": "" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    wait_found(&owner, "unicorn", &doc).await;

    // A rename is searchable soon after.
    let r = owner
        .call(
            "PATCH",
            &format!("/api/docs/{doc}"),
            Some(json!({ "title": "Quokka plans" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let page = wait_found(&owner, "quokka", &doc).await;
    assert_eq!(page["results"][0]["title"], "Quokka plans");

    // Typed long after the document was made and indexed: each saved revision marks it.
    type_into(&mut c, "narwhal ").await;
    wait_found(&owner, "narwh", &doc).await;

    // Deleted: gone.
    let r = owner
        .call("DELETE", &format!("/api/docs/{doc}"), None)
        .await;
    assert_eq!(r.status, 204);
    assert!(docs(&search(&owner, "zebra").await).is_empty());

    // The lag and the index's size are metrics.
    assert!(metric(app.addr, "tandem_search_lag_seconds_count").await >= 1.0);
}

#[tokio::test]
async fn hostile_queries_answer_a_list_and_pages_follow_the_cursor() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let mut made = Vec::new();
    for i in 0..3 {
        made.push(owner.new_doc(&format!("Pager {i}")).await);
    }
    for d in &made {
        wait_found(&owner, "pager", d).await;
    }
    let long = "x".repeat(4000);
    for q in [
        "\"",
        "'",
        "*",
        "pag*",
        "NEAR(a b)",
        "a OR b",
        "-pager",
        "a:* & b",
        "\\",
        "%_",
        "'); DROP TABLE search_docs; --",
        long.as_str(),
        "日本語",
        "\u{E000}",
        "",
    ] {
        let page = search(&owner, q).await;
        assert!(page["results"].is_array(), "{q:?}: {page}");
    }
    // One result a page, three pages, no overlap; a bad cursor is a clear 400.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = owner
            .call(
                "GET",
                &format!("/api/search?q=pager&limit=1&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        seen.extend(docs(&r.json));
        match r.json["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    seen.sort();
    made.sort();
    assert_eq!(seen, made);
    let r = owner
        .call("GET", "/api/search?q=pager&cursor=zz", None)
        .await;
    assert_eq!(r.status, 400);
    // Signed out: refused.
    let r = api(app.addr, "GET", "/api/search?q=pager", None, None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn text_saved_just_before_a_restart_is_indexed_after_it() {
    let app = spawn_app().await;
    let mut c = app.connect("restart-doc").await;
    add_paragraph(&mut c, "platypus").await;
    // Stopped at once, before the debounce ends: nothing was indexed yet.
    drop(c);
    let dir = app.stop().await;
    let app = spawn_app_in(dir, |o| o).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, body) = http_get(app.addr, "/api/search?q=platyp").await;
        assert_eq!(status, 200);
        let page: Value = serde_json::from_slice(&body).unwrap();
        if docs(&page) == ["restart-doc"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never indexed: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tandem_reindex_rebuilds_the_index_from_the_documents() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir, |o| o).await;
    for d in ["one", "two"] {
        let mut c = app.connect(d).await;
        add_paragraph(&mut c, "wombat").await;
    }
    let dir = app.stop().await;
    std::fs::remove_file(dir.path().join("tandem-search.db")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "reindex"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("indexed 2 documents"), "{stdout}");
}
