//! The smaller findings of the attacker's probe, one test each: `--auth none` against DNS
//! rebinding and cross-site posts, uncacheable 404s under `/assets/`, people who joined by link
//! listed and removable, sockets closed when their link expires or their refreshed session signs
//! out, comment budgets, email validation and folding, login throttling that cannot lock the
//! owner out, and what sign-up and sharing reveal about accounts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tandem_server::config::Options;

use crate::auth_helpers::*;
use crate::helpers::*;

/// A request written out in full (any Host, any headers); the status and body.
async fn raw(addr: SocketAddr, head: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn auth_none_answers_only_to_this_machine_and_its_own_page() {
    let app = spawn_app().await;
    let port = app.addr.port();
    let get = |host: String| {
        let addr = app.addr;
        async move { raw(addr, &format!("GET /api/docs HTTP/1.1\r\nHost: {host}"), "").await }
    };
    // A page on evil.example whose name now points at 127.0.0.1 (DNS rebinding).
    let (status, text) = get(format!("evil.example:{port}")).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("localhost"), "{text}");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(get(host).await.0, 200);
    }
    // A plain-text form posted from another site, and one with no sign of its origin.
    let post = |extra: &str| {
        let addr = app.addr;
        let head = format!(
            "POST /api/docs/import?format=markdown HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: text/plain{extra}"
        );
        async move { raw(addr, &head, "# planted").await }
    };
    assert_eq!(post("\r\nOrigin: https://evil.example").await.0, 403);
    assert_eq!(post("\r\nSec-Fetch-Site: cross-site").await.0, 403);
    assert_eq!(post("").await.0, 403);
    let ours = format!("\r\nOrigin: http://127.0.0.1:{port}");
    assert_eq!(post(&ours).await.0, 201);
    assert_eq!(post("\r\nSec-Fetch-Site: same-origin").await.0, 201);
    // Rebinding with our own origin's shape but its own name is still refused.
    let (status, _) = raw(
        app.addr,
        &format!("DELETE /api/docs/x HTTP/1.1\r\nHost: evil.example:{port}\r\nOrigin: http://evil.example:{port}"),
        "",
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_missing_asset_is_a_404_no_one_caches() {
    let web = tempfile::tempdir().unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(web.path().join("assets/app-1234.js"), "1").unwrap();
    let dir = web.path().to_path_buf();
    let app = spawn_app_with(|o| Options {
        web_dir: Some(dir),
        ..o
    })
    .await;
    let (status, headers, _) = http_get(app.addr, "/assets/app-1234.js").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let (status, headers, _) = http_get(app.addr, "/assets/app-5678.js").await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
}

/// An owner, a document, and Bob who opened a link to it (with `expires_in_hours`).
async fn joined_by_link(
    app: &TestApp,
    role: &str,
    hours: Option<f64>,
) -> (Account, Account, String) {
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("linked").await;
    let mut body = json!({ "role": role });
    if let Some(h) = hours {
        body["expires_in_hours"] = json!(h);
    }
    let link = ann
        .call("POST", &format!("/api/docs/{doc}/links"), Some(body))
        .await;
    assert_eq!(link.status, 201, "{}", link.json);
    let token = link.json["token"].as_str().unwrap();
    let r = bob
        .call("POST", "/api/links/redeem", Some(json!({ "token": token })))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    (ann, bob, doc)
}

#[tokio::test]
async fn people_who_joined_by_link_are_listed_and_can_be_removed() {
    let app = spawn_auth_app().await;
    let (ann, bob, doc) = joined_by_link(&app, "editor", None).await;
    let shares = ann
        .call("GET", &format!("/api/docs/{doc}/shares"), None)
        .await;
    let people = shares.json["shares"].as_array().unwrap();
    let listed: Vec<_> = people
        .iter()
        .filter(|p| p["user"]["id"] == bob.id)
        .collect();
    assert_eq!(listed.len(), 1, "{}", shares.json);
    assert_eq!(listed[0]["role"], "editor");
    assert!(listed[0]["via_link"].is_string());
    let mut socket = bob.connect(&doc).await;
    let r = ann
        .call(
            "DELETE",
            &format!("/api/docs/{doc}/shares/{}", bob.id),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    assert_eq!(socket.expect_close().await.0, 4403);
    assert_eq!(
        bob.call("GET", &format!("/api/docs/{doc}"), None)
            .await
            .status,
        404
    );
    let shares = ann
        .call("GET", &format!("/api/docs/{doc}/shares"), None)
        .await;
    let people = shares.json["shares"].as_array().unwrap();
    assert!(
        people.iter().all(|p| p["user"]["id"] != bob.id),
        "{}",
        shares.json
    );
}

#[tokio::test]
async fn a_socket_opened_through_a_link_closes_when_the_link_expires() {
    let app = spawn_auth_app().await;
    // 0.0005 h = 1.8 s.
    let (_ann, bob, doc) = joined_by_link(&app, "editor", Some(0.0005)).await;
    let opened = Instant::now();
    let mut socket = bob.connect(&doc).await;
    socket.push("while the link lasts").await;
    socket.wait_acked().await;
    let (code, reason) = socket.expect_close().await;
    let at = opened.elapsed();
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    // The link ran out 1.8 s after it was made (a little before the socket opened); the
    // socket closes at that moment, with a second of headroom for a busy machine.
    assert!(
        at < Duration::from_millis(2800),
        "closed {at:?} after opening"
    );
}

#[tokio::test]
async fn signing_out_the_session_a_socket_was_refreshed_into_closes_it() {
    let app = spawn_auth_app().await;
    let first = Account::signup(app.addr, "ann@example.org").await;
    let doc = first.new_doc("d").await;
    let mut socket = first.connect(&doc).await;
    // Ann signs in again (a second session) and the client sends that token in band.
    let second = Account::login(app.addr, &first.email).await;
    socket.auth(&second.token).await;
    socket.push("after refresh").await;
    socket.wait_acked().await;
    let r = second.call("POST", "/api/auth/logout", None).await;
    assert_eq!(r.status, 204, "{}", r.json);
    assert_eq!(socket.expect_close().await.0, 4401);
}

#[tokio::test]
async fn comments_have_a_rate_per_author_and_a_budget_per_document() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("talk").await;
    let comment = |n: usize| json!({ "body": format!("comment {n}"), "anchor": "", "quote": "" });
    let path = format!("/api/docs/{doc}/comments");
    for n in 0..60 {
        assert_eq!(ann.call("POST", &path, Some(comment(n))).await.status, 201);
    }
    let r = ann.call("POST", &path, Some(comment(60))).await;
    assert_eq!(r.status, 429, "{}", r.json);
    assert!(r.header("retry-after").is_some());
    // Fill the document to its budget behind the server's back (as many authors over time
    // would), then another author's comment is refused with a clear reason.
    let db = rusqlite::Connection::open(app.dir.path().join("tandem.db")).unwrap();
    db.execute_batch("BEGIN").unwrap();
    for n in 60..tandem_server::routes::comments::MAX_COMMENTS_PER_DOC {
        db.execute(
            "INSERT INTO comments (id, doc, thread, author, body, anchor, quote, created_at)
             VALUES (?1, ?2, ?1, NULL, 'x', '', '', ?3)",
            rusqlite::params![format!("c{n}"), doc, n as i64],
        )
        .unwrap();
    }
    db.execute_batch("COMMIT").unwrap();
    let cat = Account::signup(app.addr, "cat@example.org").await;
    ann.share(&doc, &cat.email, "commenter").await;
    let r = cat.call("POST", &path, Some(comment(0))).await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert!(r.json["error"].as_str().unwrap().contains("comment limit"));
}

#[tokio::test]
async fn emails_are_validated_folded_alike_and_logged_escaped() {
    let app = spawn_auth_app().await;
    let signup = |email: String| {
        let addr = app.addr;
        async move {
            let body = json!({ "email": email, "name": "x", "password": PASSWORD });
            api(addr, "POST", "/api/auth/signup", None, Some(body)).await
        }
    };
    let long = format!("{}@example.org", "a".repeat(1_500_000));
    assert_eq!(signup(long.clone()).await.status, 400);
    assert_eq!(signup("eve@example.org\nforged".into()).await.status, 400);
    // Case folding is the same (Unicode-aware) on every path.
    let r = signup("ÉVE@Example.org".into()).await;
    assert_eq!(r.status, 201, "{}", r.json);
    Account::login(app.addr, "éve@example.org").await;
    let admin = Account::login(app.addr, "ÉVE@EXAMPLE.ORG").await;
    assert_eq!(admin.email, "éve@example.org");
    assert_eq!(signup("éve@EXAMPLE.org".into()).await.status, 409);
    // A failed login's email lands in the audit log as one escaped field.
    let body = json!({ "email": long, "password": "wrong password" });
    assert_eq!(
        api(app.addr, "POST", "/api/auth/login", None, Some(body))
            .await
            .status,
        400
    );
    let body = json!({ "email": "x@y.org\u{7f}", "password": "wrong password" });
    assert_eq!(
        api(app.addr, "POST", "/api/auth/login", None, Some(body))
            .await
            .status,
        400
    );
    let body = json!({ "email": "who\"ever@y.org", "password": "wrong password" });
    assert_eq!(
        api(app.addr, "POST", "/api/auth/login", None, Some(body))
            .await
            .status,
        401
    );
    let audit = admin.call("GET", "/api/admin/audit", None).await;
    let text = audit.json.to_string();
    assert!(text.contains(r#"email=\"who\\\"ever@y.org\""#), "{text}");
}

#[tokio::test]
async fn a_guesser_cannot_lock_the_owner_out() {
    let app = spawn_auth_app().await;
    let login = |email: &'static str, password: &'static str, from: &'static str| {
        let addr = app.addr;
        async move {
            let body = json!({ "email": email, "password": password }).to_string();
            let (status, headers, _) = http(
                addr,
                "POST",
                "/api/auth/login",
                &[("X-Forwarded-For", from)],
                Some(&body),
            )
            .await;
            (status, header(&headers, "retry-after").map(str::to_owned))
        }
    };
    let (status, _) = login("eve@example.org", "x", "10.0.0.1").await;
    assert_eq!(status, 401, "no account yet");
    Account::signup(app.addr, "eve@example.org").await;
    assert_eq!(login("eve@example.org", PASSWORD, "10.0.0.1").await.0, 200);
    // A few wrong passwords, then the account backs off guesses from addresses it does not know
    // (the pair limit of 10 a minute per account and address is `throttle`'s unit test).
    for _ in 0..=tandem_server::auth::throttle::FREE_FAILURES {
        assert_eq!(
            login("eve@example.org", "wrong guess", "10.0.0.66").await.0,
            401
        );
    }
    let (status, retry) = login("eve@example.org", "wrong guess", "10.0.0.66").await;
    assert_eq!(status, 429);
    assert!(retry.is_some());
    // Another unknown address meets the account's back-off too…
    assert_eq!(
        login("eve@example.org", "wrong guess", "10.0.0.67").await.0,
        429
    );
    // …but Eve at her usual address signs in.
    assert_eq!(login("eve@example.org", PASSWORD, "10.0.0.1").await.0, 200);
}

#[tokio::test]
async fn what_sign_up_and_sharing_reveal_is_said_and_paced() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("d").await;
    // Sign-up says an email is taken (docs/security.md, "Account existence").
    let body = json!({ "email": "ANN@example.org", "name": "x", "password": PASSWORD });
    let r = api(app.addr, "POST", "/api/auth/signup", None, Some(body)).await;
    assert_eq!(r.status, 409);
    // Sharing with an email that has no account says so by inviting it (202, an invitation that
    // becomes the share at sign-up); past 30 such answers a minute, every share by email waits
    // (the one that went over is answered as usual, so a 429 never tells a hit from a miss).
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let path = format!("/api/docs/{doc}/shares");
    for n in 0..31 {
        let body = json!({ "email": format!("nobody{n}@example.org"), "role": "viewer" });
        let r = ann.call("POST", &path, Some(body)).await;
        assert_eq!(r.status, 202, "{}", r.json);
        assert_eq!(r.json["email"], format!("nobody{n}@example.org"));
    }
    let body = json!({ "email": "nobody@example.org", "role": "viewer" });
    assert_eq!(ann.call("POST", &path, Some(body)).await.status, 429);
    let body = json!({ "email": bob.email, "role": "viewer" });
    assert_eq!(ann.call("POST", &path, Some(body)).await.status, 429);
}

/// Behind a proxy on another address (127.0.0.2 here, trusted with `--trusted-proxies`), every
/// per-address limit and the audit log see the client the proxy names, not the proxy; anyone
/// else's `X-Forwarded-For` (127.0.0.1 is no longer trusted) is ignored.
#[tokio::test]
async fn limits_and_the_audit_log_see_the_client_behind_a_trusted_proxy() {
    let app = spawn_auth_app_with(|o| Options {
        trusted_proxies: Some("127.0.0.2/32".into()),
        login_per_minute: Some(3),
        ..o
    })
    .await;
    let proxy: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let direct: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let signup = |from, xff: &'static str, email: &'static str| {
        let addr = app.addr;
        async move {
            let body = json!({ "email": email, "password": PASSWORD }).to_string();
            let r = http_from(
                from,
                addr,
                "POST",
                "/api/auth/signup",
                &[("X-Forwarded-For", xff)],
                Some(&body),
            )
            .await;
            assert_eq!(r.0, 201, "{}", String::from_utf8_lossy(&r.2));
        }
    };
    // The client forged a left-most entry; the proxy appended the address it saw.
    signup(proxy, "6.6.6.6, 203.0.113.7", "admin@example.org").await;
    signup(direct, "203.0.113.8", "direct@example.org").await;
    let admin = Account::login(app.addr, "admin@example.org").await;
    let audit = admin.call("GET", "/api/admin/audit", None).await.json;
    let ip_of = |event: &str, uid: i64| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == event && e["user_id"] == uid)
            .map(|e| e["ip"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        ip_of("signup", admin.id).as_deref(),
        Some("203.0.113.7"),
        "{audit}"
    );
    let direct_id = Account::login(app.addr, "direct@example.org").await.id;
    assert_eq!(
        ip_of("signup", direct_id).as_deref(),
        Some("127.0.0.1"),
        "{audit}"
    );

    // One client's failed logins through the proxy use up that client's allowance only.
    let login = |xff: &'static str, email: &'static str| {
        let addr = app.addr;
        async move {
            let body = json!({ "email": email, "password": "wrong guess" }).to_string();
            http_from(
                proxy,
                addr,
                "POST",
                "/api/auth/login",
                &[("X-Forwarded-For", xff)],
                Some(&body),
            )
            .await
            .0
        }
    };
    let attacker: Vec<u16> = futures_util::future::join_all(
        ["a@x.org", "b@x.org", "c@x.org", "d@x.org"].map(|e| login("198.51.100.66", e)),
    )
    .await;
    assert_eq!(
        attacker.iter().filter(|s| **s == 429).count(),
        1,
        "{attacker:?}"
    );
    assert_eq!(login("198.51.100.66", "e@x.org").await, 429);
    assert_eq!(
        login("198.51.100.20", "e@x.org").await,
        401,
        "a bystander is not locked out"
    );
}

/// The page may talk only to its own origin (and the configured public one); `/metrics` can move
/// to an admin address, after which the public one answers 404.
#[tokio::test]
async fn the_page_talks_to_its_own_origin_and_metrics_can_move_off_the_public_address() {
    let app = spawn_auth_app_with(|o| Options {
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        public_url: Some("https://docs.example.org".into()),
        ..o
    })
    .await;
    let (_, headers, _) = http_get(app.addr, "/healthz").await;
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(
        csp.contains("connect-src 'self' https://docs.example.org wss://docs.example.org;"),
        "{csp}"
    );
    assert!(csp.contains("img-src 'self' data: blob:;"), "{csp}");
    assert!(
        !csp.contains("ws: ") && !csp.contains("https:;"),
        "no scheme-wide sources: {csp}"
    );
    assert_eq!(http_get(app.addr, "/metrics").await.0, 404);
    let admin = app.admin.expect("admin address");
    let (status, headers, _) = http_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(http_get(admin, "/readyz").await.0, 200);
    // The admin address serves nothing else.
    assert_eq!(http_get(admin, "/api/docs").await.0, 404);
    // Without an admin address, /metrics stays where it was.
    let plain = spawn_app().await;
    assert_eq!(http_get(plain.addr, "/metrics").await.0, 200);
}
