//! Access changes reach open sockets: revocations close them within 1 s (4403), a downgrade makes
//! them read-only, an expired token closes them (4401) unless refreshed in band, and the client
//! recovers with nothing lost. Stock clients authenticate with `?token=`, which is never logged.

use std::time::{Duration, Instant};

use serde_json::json;
use tandem_server::config::Options;

use crate::auth_helpers::*;
use crate::helpers::*;

/// Waits for the server to close `c`; returns the code and how long it took.
async fn closed_within(c: &mut Client, limit: Duration) -> (u16, Duration) {
    let start = Instant::now();
    let ok = tokio::time::timeout(limit, async { while c.recv().await {} }).await;
    assert!(ok.is_ok(), "not closed within {limit:?}");
    (c.closed.clone().unwrap().0, start.elapsed())
}

#[tokio::test]
async fn revocations_close_open_sockets_within_one_second() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let ed = Account::signup(app.addr, "ed@example.org").await;
    let vic = Account::signup(app.addr, "vic@example.org").await;
    let lou = Account::signup(app.addr, "lou@example.org").await;
    let doc = owner.new_doc("d").await;
    owner.share(&doc, &ed.email, "editor").await;
    owner.share(&doc, &vic.email, "viewer").await;
    let link = owner
        .call(
            "POST",
            &format!("/api/docs/{doc}/links"),
            Some(json!({"role": "editor"})),
        )
        .await;
    let redeem = lou
        .call(
            "POST",
            "/api/links/redeem",
            Some(json!({"token": link.json["token"]})),
        )
        .await;
    assert_eq!(redeem.status, 200);
    let mut bystander = owner.connect(&doc).await;

    // A revoked share.
    let mut e = ed.connect(&doc).await;
    assert_eq!(
        owner
            .call("DELETE", &format!("/api/docs/{doc}/shares/{}", ed.id), None)
            .await
            .status,
        204
    );
    let (code, took) = closed_within(&mut e, Duration::from_secs(1)).await;
    assert_eq!(code, 4403);
    assert!(
        e.errors
            .iter()
            .any(|(c, m)| *c == 4403 && m.contains("removed")),
        "{:?}",
        e.errors
    );
    println!("share revoked → closed in {took:?}");

    // A revoked link: its members lose access.
    let mut l = lou.connect(&doc).await;
    let link_id = link.json["link"]["id"].as_str().unwrap();
    assert_eq!(
        owner
            .call("DELETE", &format!("/api/docs/{doc}/links/{link_id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(closed_within(&mut l, Duration::from_secs(1)).await.0, 4403);

    // A disabled account: every socket of it closes.
    let mut v = vic.connect(&doc).await;
    assert_eq!(
        owner
            .call(
                "POST",
                &format!("/api/admin/users/{}/disable", vic.id),
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(closed_within(&mut v, Duration::from_secs(1)).await.0, 4403);
    assert_eq!(vic.call("GET", "/api/me", None).await.status, 401);

    // The owner's socket saw none of that and still works.
    bystander.push("still here").await;
    bystander.wait_acked().await;

    // A deleted document closes everyone.
    assert_eq!(
        owner
            .call("DELETE", &format!("/api/docs/{doc}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        closed_within(&mut bystander, Duration::from_secs(1))
            .await
            .0,
        4403
    );
    let audit = owner.call("GET", "/api/admin/audit", None).await.json;
    let events: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for e in [
        "share_granted",
        "share_revoked",
        "link_created",
        "link_redeemed",
        "link_revoked",
        "user_disabled",
        "doc_deleted",
    ] {
        assert!(events.contains(&e), "audit log lacks {e}: {events:?}");
    }
}

#[tokio::test]
async fn a_downgrade_to_viewer_makes_the_open_socket_read_only() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let ed = Account::signup(app.addr, "ed@example.org").await;
    let doc = owner.new_doc("d").await;
    owner.share(&doc, &ed.email, "editor").await;
    let mut e = ed.connect(&doc).await;
    e.push("mine").await;
    e.wait_acked().await;
    owner.share(&doc, &ed.email, "viewer").await;
    // Still connected and still receiving…
    let mut o = owner.connect(&doc).await;
    o.push(" + owner").await;
    o.wait_acked().await;
    e.wait_text(|t| t == "mine + owner").await;
    // …but an edit is refused and not saved.
    e.push("!").await;
    assert_eq!(closed_within(&mut e, Duration::from_secs(2)).await.0, 4403);
    let mut check = owner.connect(&doc).await;
    check.drain_for(Duration::from_millis(100)).await;
    assert_eq!(check.text(), "mine + owner");
}

#[tokio::test]
async fn an_expired_token_closes_the_socket_and_the_client_recovers_without_loss() {
    let app = spawn_auth_app_with(|o| Options {
        access_token_ttl_secs: Some(2),
        ..o
    })
    .await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let doc = a.new_doc("d").await;
    let mut c = a.connect(&doc).await;
    c.push("before ").await;
    c.wait_acked().await;
    let (code, _) = closed_within(&mut c, Duration::from_secs(4)).await;
    assert_eq!(code, 4401);
    assert!(c
        .errors
        .iter()
        .any(|(code, m)| *code == 4401 && m.contains("expired")));
    // Offline edit, then what the client does on 4401: refresh with its cookie, reconnect with the
    // same document. The sync exchange carries the edit.
    let ydoc = std::mem::replace(&mut c.doc, yrs::Doc::new());
    {
        use yrs::{Text, Transact};
        let t = ydoc.get_or_insert_text("t");
        let mut txn = ydoc.transact_mut();
        let len = yrs::GetString::get_string(&t, &txn).len() as u32;
        t.insert(&mut txn, len, "after");
    }
    let fresh = a.refresh_with(&a.cookie).await;
    assert_eq!(fresh.status, 200);
    let token = fresh.json["access_token"].as_str().unwrap();
    let c2 = Client::connect_as_with_doc(app.addr, &doc, token, ydoc).await;
    assert_eq!(c2.text(), "before after");
    let mut other = Client::connect_as(app.addr, &doc, token).await;
    other.drain_for(Duration::from_millis(100)).await;
    assert_eq!(
        other.text(),
        "before after",
        "the offline edit reached the server"
    );
}

/// Tokens live 4 s, with expiry in whole seconds (so at least 3 s), and are refreshed every
/// second, a quarter of the lifetime: a slow refresh on a loaded machine still lands in time.
#[tokio::test]
async fn an_in_band_refresh_keeps_the_socket_open_and_bad_tokens_close_it() {
    let app = spawn_auth_app_with(|o| Options {
        access_token_ttl_secs: Some(4),
        ..o
    })
    .await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let doc = a.new_doc("d").await;
    let mut c = a.connect(&doc).await;
    let mut cookie = a.cookie.clone();
    let mut token = a.token.clone();
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let r = a.refresh_with(&cookie).await;
        cookie = refresh_cookie(&r.headers).unwrap();
        token = r.json["access_token"].as_str().unwrap().to_string();
        c.auth(&token).await;
        c.push(&format!("{i}")).await;
        c.wait_acked().await;
    }
    assert!(c.closed.is_none(), "alive after 5 s with a 4 s token");
    assert_eq!(c.text(), "01234");
    // Another account's token on this socket is refused.
    let b = Account::signup(app.addr, "bob@example.org").await;
    c.auth(&b.token).await;
    assert_eq!(closed_within(&mut c, Duration::from_secs(1)).await.0, 4403);
    // Garbage as a token.
    let mut d = Client::connect_as(app.addr, &doc, &token).await;
    d.auth("not-a-token").await;
    assert_eq!(closed_within(&mut d, Duration::from_secs(1)).await.0, 4401);
}

#[tokio::test]
async fn stock_clients_use_a_query_token_and_are_refused_without_one() {
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let doc = a.new_doc("d").await;
    let mut anon = Client::from_socket(raw_connect(app.addr, &doc, false).await, false);
    assert_eq!(anon.expect_close().await.0, 4401);
    let ws = raw_connect_path(app.addr, &format!("/ws/{doc}?token={}", a.token), false).await;
    let mut c = Client::from_socket(ws, false)
        .sync_with(yrs::Doc::new())
        .await;
    c.push("stock").await;
    c.wait_text(|t| t == "stock").await; // stock clients get their own echo once durable
                                         // A tandem client that does not authenticate first is refused with a structured error.
    let mut t = Client::from_socket(raw_connect(app.addr, &doc, true).await, true);
    t.send(tandem_core::protocol::Message::SyncStep1(vec![0]))
        .await;
    assert_eq!(t.expect_close().await.0, 4401);
    assert!(
        t.errors
            .iter()
            .any(|(c, m)| *c == 4401 && m.contains("auth")),
        "{:?}",
        t.errors
    );
    // Someone else's document: 4403, the same as one that does not exist.
    let b = Account::signup(app.addr, "bob@example.org").await;
    let mut other = Client::from_socket(raw_connect(app.addr, &doc, true).await, true);
    other.auth(&b.token).await;
    assert_eq!(other.expect_close().await.0, 4403);
    let mut nowhere = Client::from_socket(raw_connect(app.addr, "no-such-doc", true).await, true);
    nowhere.auth(&b.token).await;
    assert_eq!(nowhere.expect_close().await.0, 4403);
}

#[tokio::test]
async fn the_per_user_message_limit_spans_connections() {
    let app = spawn_auth_app_with(|o| Options {
        user_messages_per_sec: Some(10),
        ..o
    })
    .await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let b = Account::signup(app.addr, "bob@example.org").await;
    let doc = a.new_doc("d").await;
    a.share(&doc, &b.email, "editor").await;
    // 10/s with a burst of 20 for Ann over both her connections; joining takes a few messages
    // each. Ten more on each stay under the burst of either connection alone (a per-connection
    // limit lets them all through); together they are over it. The first ten are processed (the
    // push's ack comes after them) before the second connection sends, so it is the one cut off.
    let mut c1 = a.connect(&doc).await;
    let mut c2 = a.connect(&doc).await;
    let other = b.connect(&doc).await;
    for _ in 0..9 {
        c1.send(tandem_core::protocol::Message::QueryAwareness)
            .await;
    }
    c1.push("1").await;
    c1.wait_acked().await;
    for _ in 0..10 {
        c2.send(tandem_core::protocol::Message::QueryAwareness)
            .await;
    }
    let (code, _) = closed_within(&mut c2, Duration::from_secs(2)).await;
    assert_eq!(code, 1008, "over the burst across connections");
    c1.drain_for(Duration::from_millis(100)).await;
    assert!(c1.closed.is_none(), "the connection under the limit stays");
    // Bob is not affected; Ann recovers after a second.
    let mut other = other;
    other.push("b").await;
    other.wait_acked().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c1.push("a").await;
    c1.wait_acked().await;
    let mut again = a.connect(&doc).await;
    again.push("a").await;
    again.wait_acked().await;
}

#[tokio::test]
async fn access_tokens_are_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = ServerProcess::start_logging(
        &dir.path().join("data"),
        &["--auth", "accounts", "--log-format", "json"],
        "trace",
        &log,
    );
    let a = Account::signup(server.addr, "ann@example.org").await;
    let doc = a.new_doc("d").await;
    let ws = raw_connect_path(server.addr, &format!("/ws/{doc}?token={}", a.token), false).await;
    let mut stock = Client::from_socket(ws, false)
        .sync_with(yrs::Doc::new())
        .await;
    stock.push("x").await;
    stock.wait_text(|t| t == "x").await;
    let mut c = a.connect(&doc).await;
    c.push("y").await;
    c.wait_acked().await;
    let bad = raw_connect_path(
        server.addr,
        &format!("/ws/{doc}?token=bogus{}", a.token),
        false,
    )
    .await;
    let mut bad = Client::from_socket(bad, false);
    assert_eq!(bad.expect_close().await.0, 4401);
    server.kill9();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 20,
        "trace logging produced too little to be meaningful"
    );
    let secret_part = &a.token[a.token.len() - 30..];
    assert!(!text.contains(secret_part), "an access token was logged");
    let cookie_value = a.cookie.split_once('=').unwrap().1;
    assert!(!text.contains(cookie_value), "a refresh token was logged");
    assert!(!text.contains(PASSWORD), "a password was logged");
}
