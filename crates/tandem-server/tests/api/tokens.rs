//! API tokens: shown once and stored as a hash; a bearer token on the HTTP API and the
//! WebSocket, bounded by its scopes (a read token reads and its socket is read-only, a wrong
//! scope is 403); only a signed-in person makes or revokes them; revoking one closes its
//! sockets at once; administrators make tokens for service accounts, shared with like anyone.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::auth_helpers::*;
use crate::feed::type_end;
use crate::helpers::Client;

async fn make_token(a: &Account, body: Value) -> (String, Value) {
    let r = a.call("POST", "/api/tokens", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let secret = r.json["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tdm_"), "{secret}");
    (secret, r.json)
}

async fn as_token(
    app_addr: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Resp {
    api(app_addr, method, path, Some(token), body).await
}

#[tokio::test]
async fn tokens_act_within_their_scopes_over_http_and_websocket() {
    let app = spawn_auth_app().await;
    let _admin = Account::signup(app.addr, "admin@example.org").await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("Scoped").await;
    let (read, info) = make_token(&ann, json!({"name": "dashboard", "scopes": ["read"]})).await;
    let (write, _) = make_token(
        &ann,
        json!({"name": "importer", "scopes": ["read", "write"]}),
    )
    .await;
    assert_eq!(info["scopes"], json!(["read"]));

    // Listed without their secrets; the database holds only their SHA-256.
    let list = ann.call("GET", "/api/tokens", None).await;
    assert_eq!(list.json["tokens"].as_array().unwrap().len(), 2);
    assert!(
        !list.json.to_string().contains(&read[4..]),
        "a secret listed"
    );
    let db = rusqlite::Connection::open(app.dir.path().join("tandem.db")).unwrap();
    let hashes: Vec<String> = db
        .prepare("SELECT hash FROM api_tokens")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(hashes.contains(&tandem_server::auth::tokens::hash_token(&read)));
    assert!(hashes
        .iter()
        .all(|h| !h.contains(&read[4..]) && !h.contains(&write[4..])));

    // Read: GETs yes, anything else 403 with a reason.
    let r = as_token(app.addr, &read, "GET", &format!("/api/docs/{doc}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = as_token(
        app.addr,
        &read,
        "POST",
        "/api/docs",
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(
        r.json["error"].as_str().unwrap().contains("write scope"),
        "{}",
        r.json
    );
    let r = as_token(
        app.addr,
        &read,
        "POST",
        &format!("/api/docs/{doc}/content"),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    // Write: the write API answers with the durable revision.
    let (status, _, body) = crate::helpers::http(
        app.addr,
        "POST",
        &format!("/api/docs/{doc}/content?mode=append"),
        &[
            ("Authorization", &format!("Bearer {write}")),
            ("Content-Type", "text/markdown"),
        ],
        Some("From the importer"),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // The socket: a write token edits, a read token syncs but cannot.
    let mut w = Client::connect_as(app.addr, &doc, &write).await;
    type_end(&mut w, " and more").await;
    let mut r = Client::connect_as(app.addr, &doc, &read).await;
    r.wait_acked().await;
    let before = r.acks.len();
    r.push("!").await;
    let acked = tokio::time::timeout(Duration::from_secs(2), async {
        while r.acks.len() == before {
            if !r.recv().await {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    assert!(!acked, "a read token's edit was accepted");
    let text = Client::connect_as(app.addr, &doc, &ann.token).await.text();
    assert!(!text.contains('!'), "{text}");

    // Tokens never make or revoke tokens; a bad token is 401; a bad scope is 400.
    let r = as_token(
        app.addr,
        &write,
        "POST",
        "/api/tokens",
        Some(json!({"name": "n", "scopes": ["read"]})),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        as_token(app.addr, &write, "GET", "/api/tokens", None)
            .await
            .status,
        403
    );
    assert_eq!(
        as_token(app.addr, "tdm_nonsense", "GET", "/api/docs", None)
            .await
            .status,
        401
    );
    for bad in [
        json!({"name": "n", "scopes": ["root"]}),
        json!({"name": "n", "scopes": []}),
        json!({"name": "", "scopes": ["read"]}),
    ] {
        assert_eq!(
            ann.call("POST", "/api/tokens", Some(bad.clone()))
                .await
                .status,
            400,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_admin_scope_is_an_administrators_and_bounds_their_tokens() {
    let app = spawn_auth_app().await;
    let admin = Account::signup(app.addr, "admin@example.org").await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let r = ann
        .call(
            "POST",
            "/api/tokens",
            Some(json!({"name": "n", "scopes": ["admin"]})),
        )
        .await;
    assert_eq!(r.status, 403);
    let (plain, _) = make_token(&admin, json!({"name": "n", "scopes": ["read"]})).await;
    let (full, _) = make_token(&admin, json!({"name": "ops", "scopes": ["read", "admin"]})).await;
    assert_eq!(
        as_token(app.addr, &plain, "GET", "/api/admin/users", None)
            .await
            .status,
        403
    );
    assert_eq!(
        as_token(app.addr, &full, "GET", "/api/admin/users", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn revoking_a_token_closes_its_sockets_at_once() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("Live").await;
    let (secret, info) =
        make_token(&ann, json!({"name": "bot", "scopes": ["read", "write"]})).await;
    let mut c = Client::connect_as(app.addr, &doc, &secret).await;
    type_end(&mut c, "hi").await;
    let id = info["id"].as_str().unwrap();
    let start = Instant::now();
    assert_eq!(
        ann.call("DELETE", &format!("/api/tokens/{id}"), None)
            .await
            .status,
        204
    );
    let closed =
        tokio::time::timeout(Duration::from_secs(2), async { while c.recv().await {} }).await;
    assert!(closed.is_ok(), "still open after revocation");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(c.closed.as_ref().unwrap().0, 4401, "{:?}", c.closed);
    assert_eq!(
        as_token(app.addr, &secret, "GET", "/api/docs", None)
            .await
            .status,
        401
    );
    assert_eq!(
        ann.call("DELETE", &format!("/api/tokens/{id}"), None)
            .await
            .status,
        404
    );
    // Someone else's token is not theirs to see or revoke.
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let (_, other) = make_token(&ann, json!({"name": "mine", "scopes": ["read"]})).await;
    let path = format!("/api/tokens/{}", other["id"].as_str().unwrap());
    assert_eq!(bob.call("DELETE", &path, None).await.status, 404);
}

#[tokio::test]
async fn service_accounts_get_tokens_from_administrators_and_documents_from_owners() {
    let app = spawn_auth_app().await;
    let admin = Account::signup(app.addr, "admin@example.org").await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("Indexed").await;
    let body = json!({"name": "crawler", "scopes": ["read"], "service": "Search indexer", "expires_in_days": 30});
    assert_eq!(
        ann.call("POST", "/api/tokens", Some(body.clone()))
            .await
            .status,
        403
    );
    let (secret, info) = make_token(&admin, body).await;
    assert_eq!(info["user_name"], "Search indexer");
    assert!(info["expires_at"].as_i64().is_some());
    // Nothing shared with it yet: the document does not exist for it.
    assert_eq!(
        as_token(
            app.addr,
            &secret,
            "GET",
            &format!("/api/docs/{doc}/changes"),
            None
        )
        .await
        .status,
        404
    );
    ann.share(&doc, "search-indexer@service.invalid", "viewer")
        .await;
    let r = as_token(
        app.addr,
        &secret,
        "GET",
        &format!("/api/docs/{doc}/changes"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // A second token reuses the account; the administrator lists and revokes them.
    let (_, again) = make_token(
        &admin,
        json!({"name": "crawler 2", "scopes": ["read"], "service": "Search indexer"}),
    )
    .await;
    assert_eq!(again["user_id"], info["user_id"]);
    let list = admin.call("GET", "/api/tokens", None).await;
    assert_eq!(
        list.json["service"].as_array().unwrap().len(),
        2,
        "{}",
        list.json
    );
    assert_eq!(list.json["tokens"].as_array().unwrap().len(), 0);
    let path = format!("/api/tokens/{}", info["id"].as_str().unwrap());
    assert_eq!(admin.call("DELETE", &path, None).await.status, 204);
    // A service account never signs in.
    let login = json!({"email": "search-indexer@service.invalid", "password": "whatever it is"});
    let r = api(app.addr, "POST", "/api/auth/login", None, Some(login)).await;
    assert_eq!(r.status, 400, "{}", r.json); // `.invalid` addresses never sign in
}
