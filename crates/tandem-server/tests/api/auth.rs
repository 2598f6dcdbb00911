//! Accounts and sessions over HTTP: sign-up, login, refresh rotation and reuse detection, logout,
//! password change, cookie attributes, CSRF, security headers on every route, rate limits.

use std::time::Duration;

use serde_json::json;
use tandem_server::config::Options;

use crate::auth_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn first_account_is_admin_and_duplicates_and_weak_passwords_are_refused() {
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let b = Account::signup(app.addr, "bob@example.org").await;
    let me = |acc: Account| async move { acc.call("GET", "/api/me", None).await.json };
    assert_eq!(me(a.clone()).await["is_admin"], true);
    assert_eq!(me(b.clone()).await["is_admin"], false);
    let dup = api(
        app.addr,
        "POST",
        "/api/auth/signup",
        None,
        Some(json!({"email": "ANN@example.org", "password": PASSWORD})),
    )
    .await;
    assert_eq!(dup.status, 409, "{}", dup.json);
    let weak = api(
        app.addr,
        "POST",
        "/api/auth/signup",
        None,
        Some(json!({"email": "c@example.org", "password": "short"})),
    )
    .await;
    assert_eq!(weak.status, 400);
    let wrong = api(
        app.addr,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "ann@example.org", "password": "not the password"})),
    )
    .await;
    assert_eq!(wrong.status, 401);
    // Without a token nothing is served; a forged one is refused.
    assert_eq!(
        api(app.addr, "GET", "/api/docs", None, None).await.status,
        401
    );
    let forged = format!("{}x", a.token);
    assert_eq!(
        api(app.addr, "GET", "/api/docs", Some(&forged), None)
            .await
            .status,
        401
    );
    let audit = a.call("GET", "/api/admin/audit", None).await;
    let events: Vec<&str> = audit
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"signup") && events.contains(&"login_failed"),
        "{events:?}"
    );
    assert_eq!(b.call("GET", "/api/admin/audit", None).await.status, 403);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_session() {
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let r1 = a.refresh_with(&a.cookie).await;
    assert_eq!(r1.status, 200, "{}", r1.json);
    let c1 = refresh_cookie(&r1.headers).unwrap();
    assert_ne!(c1, a.cookie, "the refresh token must rotate on every use");
    let t1 = r1.json["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        api(app.addr, "GET", "/api/me", Some(&t1), None)
            .await
            .status,
        200
    );
    let r2 = a.refresh_with(&c1).await;
    let c2 = refresh_cookie(&r2.headers).unwrap();
    // The first cookie again: theft. The family dies, including the newest cookie and tokens.
    let reuse = a.refresh_with(&a.cookie).await;
    assert_eq!(reuse.status, 401);
    assert_eq!(a.refresh_with(&c2).await.status, 401);
    assert_eq!(
        api(app.addr, "GET", "/api/me", Some(&t1), None)
            .await
            .status,
        401
    );
    assert_eq!(a.call("GET", "/api/me", None).await.status, 401);
    // A fresh login is a new, healthy session.
    let again = Account::login(app.addr, "ann@example.org").await;
    assert_eq!(again.call("GET", "/api/me", None).await.status, 200);
    let audit = again.call("GET", "/api/admin/audit", None).await.json;
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "refresh_reuse"));
}

#[tokio::test]
async fn logout_revokes_server_side() {
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let other = Account::login(app.addr, "ann@example.org").await;
    let origin = format!("http://{}", app.addr);
    let bearer = format!("Bearer {}", a.token);
    let (status, headers, _) = http(
        app.addr,
        "POST",
        "/api/auth/logout",
        &[("Authorization", &bearer), ("Origin", &origin)],
        None,
    )
    .await;
    assert_eq!(status, 204);
    // The cookie is cleared in the browser and dead on the server; the access token is dead too.
    let cleared = headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("tandem_refresh="))
        .unwrap();
    assert!(cleared.1.contains("Max-Age=0"), "{}", cleared.1);
    assert_eq!(a.call("GET", "/api/me", None).await.status, 401);
    assert_eq!(a.refresh_with(&a.cookie).await.status, 401);
    // Another session of the same account is untouched.
    assert_eq!(other.call("GET", "/api/me", None).await.status, 200);
}

#[tokio::test]
async fn refresh_cookie_is_httponly_strict_scoped_and_secure_under_https() {
    let app = spawn_auth_app().await;
    let body = json!({"email": "ann@example.org", "password": PASSWORD}).to_string();
    let (_, headers, raw) = http(app.addr, "POST", "/api/auth/signup", &[], Some(&body)).await;
    let cookie = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .find(|(k, v)| k == "set-cookie" && v.starts_with(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} cookie"))
    };
    let set = cookie(&headers, "tandem_refresh=");
    // The files cookie (the access token for <img> file requests only) is as strict, and scoped
    // to the document routes.
    let files = cookie(&headers, "tandem_files=");
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/docs/",
        "Max-Age=600",
    ] {
        assert!(files.contains(attr), "{attr} missing in {files}");
    }
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/auth/refresh",
        "Max-Age=",
    ] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain HTTP cannot set Secure cookies: {set}"
    );
    // The refresh token is only in the cookie, never in the body.
    let json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let cookie_value = set.split(';').next().unwrap().split_once('=').unwrap().1;
    assert!(!String::from_utf8_lossy(&raw).contains(cookie_value));
    assert!(json["access_token"].is_string());
    // Behind a TLS-terminating proxy: Secure cookie and HSTS.
    let body = json!({"email": "ann@example.org", "password": PASSWORD}).to_string();
    let (status, headers, _) = http(
        app.addr,
        "POST",
        "/api/auth/login",
        &[("X-Forwarded-Proto", "https")],
        Some(&body),
    )
    .await;
    assert_eq!(status, 200);
    assert!(cookie(&headers, "tandem_refresh=").contains("Secure"));
    assert!(cookie(&headers, "tandem_files=").contains("Secure"));
    assert!(header(&headers, "strict-transport-security").is_some());
    let (_, plain, _) = http_get(app.addr, "/healthz").await;
    assert!(header(&plain, "strict-transport-security").is_none());
}

#[tokio::test]
async fn cross_origin_requests_to_cookie_endpoints_are_refused() {
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    for (name, value) in [
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let (status, _, _) = http(
            app.addr,
            "POST",
            "/api/auth/refresh",
            &[("Cookie", &a.cookie), (name, value)],
            None,
        )
        .await;
        assert_eq!(status, 403, "{name}: {value}");
    }
    let body = json!({"email": "ann@example.org", "password": PASSWORD}).to_string();
    let (status, _, _) = http(
        app.addr,
        "POST",
        "/api/auth/login",
        &[("Origin", "http://evil.example")],
        Some(&body),
    )
    .await;
    assert_eq!(status, 403);
    // The refused attempts did not consume the cookie.
    assert_eq!(a.refresh_with(&a.cookie).await.status, 200);
}

#[tokio::test]
async fn password_change_signs_out_other_sessions() {
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let b = Account::login(app.addr, "ann@example.org").await;
    let wrong = a
        .call(
            "POST",
            "/api/auth/password",
            Some(json!({"current": "nope", "new": "a new password 1"})),
        )
        .await;
    assert_eq!(wrong.status, 403);
    let ok = a
        .call(
            "POST",
            "/api/auth/password",
            Some(json!({"current": PASSWORD, "new": "a new password 1"})),
        )
        .await;
    assert_eq!(ok.status, 204);
    assert_eq!(a.call("GET", "/api/me", None).await.status, 200);
    assert_eq!(b.call("GET", "/api/me", None).await.status, 401);
    assert_eq!(b.refresh_with(&b.cookie).await.status, 401);
    let old = api(
        app.addr,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "ann@example.org", "password": PASSWORD})),
    )
    .await;
    assert_eq!(old.status, 401);
}

/// Every route in the router's table answers with the security headers and `no-store`, whoever
/// asks and whatever the status.
#[tokio::test]
async fn every_route_has_security_headers_and_is_never_cacheable() {
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let doc = a.new_doc("t").await;
    let mut checked = 0;
    let routes = tandem_server::routes::ROUTES
        .iter()
        .map(|(m, p)| (*m, p.to_string()))
        .chain([
            ("GET", "/api/nope".to_string()),
            // A file that is not there (any other page is the web client's, revalidated on
            // every load: `http::a_binary_copied_…` checks it).
            ("GET", "/assets/no-such-file.js".to_string()),
        ]);
    for (method, path) in routes {
        let path = path
            .replace("{doc}", &doc)
            .replace("{user}", "999")
            .replace("{link}", "nolink")
            .replace("{rev}", "1");
        for token in [None, Some(a.token.as_str())] {
            let r = api(app.addr, method, &path, token, Some(json!({}))).await;
            let csp = r
                .header("content-security-policy")
                .unwrap_or_else(|| panic!("{method} {path}: no CSP"));
            for d in [
                "default-src 'self'",
                "script-src 'self'",
                "object-src 'none'",
                "frame-ancestors 'none'",
                "require-trusted-types-for 'script'",
            ] {
                assert!(csp.contains(d), "{method} {path}: CSP lacks {d}");
            }
            assert!(
                !csp.contains("unsafe-eval") && !csp.contains("script-src 'self' 'unsafe-inline'")
            );
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "{method} {path}"
            );
            assert!(r.header("referrer-policy").is_some(), "{method} {path}");
            assert_eq!(r.header("x-frame-options"), Some("DENY"), "{method} {path}");
            assert_eq!(
                r.header("cache-control"),
                Some("no-store"),
                "{method} {path} ({})",
                r.status
            );
            checked += 1;
        }
    }
    assert!(checked >= 2 * tandem_server::routes::ROUTES.len());
    // Unknown API paths are a JSON error, not the web client's index page.
    let r = api(app.addr, "GET", "/api/nope", Some(&a.token), None).await;
    assert!(r.status >= 400 && r.json["error"].is_string());
}

#[tokio::test]
async fn rate_limits_trigger_with_retry_after_and_recover() {
    let app = spawn_auth_app_with(|o| Options {
        login_per_minute: Some(60),
        docs_per_minute: Some(3),
        signup_per_hour: Some(3),
        ..o
    })
    .await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let login = |ip: String, email: String| {
        let addr = app.addr;
        async move {
            let body = json!({"email": email, "password": "wrong password!"}).to_string();
            http(
                addr,
                "POST",
                "/api/auth/login",
                &[("X-Forwarded-For", &ip)],
                Some(&body),
            )
            .await
        }
    };
    // Per client address: 60 attempts in a burst, then 429 with Retry-After.
    let mut limited = None;
    let started = std::time::Instant::now();
    for i in 0..400 {
        // A different account each time, so the per-account back-off stays out of it.
        let (status, headers, _) = login("10.0.0.1".into(), format!("u{i}@example.org")).await;
        if status == 429 {
            limited = Some((i, header(&headers, "retry-after").map(str::to_owned)));
            break;
        }
        assert_eq!(status, 401);
    }
    let (n, retry) = limited.expect("login by address was never limited");
    // A burst of 60, plus what refilled (1/s) while the attempts ran (each costs an argon2 hash).
    let refilled = started.elapsed().as_secs() as usize + 1;
    assert!(
        (60..=60 + refilled).contains(&n),
        "limited after {n} in {:?}",
        started.elapsed()
    );
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    // Another address is not affected; the limited one recovers after Retry-After.
    assert_eq!(
        login("10.0.0.2".into(), "z@example.org".into()).await.0,
        401
    );
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(100)).await;
    assert_eq!(
        login("10.0.0.1".into(), "x@example.org".into()).await.0,
        401
    );
    // Per account: from a new address every time, one account backs off after a few failures
    // (`hardening::a_guesser_cannot_lock_the_owner_out` shows the owner still gets in).
    let mut first_429 = None;
    for i in 0..400 {
        let from = format!("10.1.{}.{}", i / 256, i % 256);
        if login(from, "victim@example.org".into()).await.0 == 429 {
            first_429 = Some(i);
            break;
        }
    }
    let n = first_429.expect("login by account was never limited");
    assert_eq!(n, tandem_server::auth::throttle::FREE_FAILURES as usize + 1);
    // Document creation per user, sign-ups per address.
    let mut created = vec![];
    for _ in 0..4 {
        created.push(
            a.call("POST", "/api/docs", Some(json!({"title": "x"})))
                .await
                .status,
        );
    }
    assert_eq!(created, vec![201, 201, 201, 429]);
    let mut signups = vec![];
    for i in 0..4 {
        let body = json!({"email": format!("s{i}@example.org"), "password": PASSWORD}).to_string();
        signups.push(
            http(
                app.addr,
                "POST",
                "/api/auth/signup",
                &[("X-Forwarded-For", "10.9.9.9")],
                Some(&body),
            )
            .await
            .0,
        );
    }
    assert_eq!(signups, vec![201, 201, 201, 429]);
}

/// A new document's first revision is one empty paragraph (holding one empty text) the server
/// wrote (revision 1, by its owner), so two people who open it at the same moment both type
/// into that text: one paragraph, each one's words whole.
#[tokio::test]
async fn a_new_document_starts_with_the_paragraph_both_first_writers_type_into() {
    use yrs::types::xml::XmlOut;
    use yrs::{Text, Transact, XmlFragment};
    let app = spawn_auth_app().await;
    let a = Account::signup(app.addr, "ann@example.org").await;
    let doc = a.new_doc("Fresh").await;
    let info = a.call("GET", &format!("/api/docs/{doc}"), None).await;
    assert_eq!(info.json["revision"], 1, "{}", info.json);
    let (mut one, mut two) = (a.connect(&doc).await, a.connect(&doc).await);
    for (c, text) in [(&mut one, "from one"), (&mut two, "from two")] {
        let frag = c.doc.get_or_insert_xml_fragment("default");
        let update = {
            let mut txn = c.doc.transact_mut();
            let Some(XmlOut::Element(p)) = frag.get(&txn, 0) else {
                panic!("no first paragraph synced");
            };
            assert_eq!(p.tag().as_ref(), "paragraph");
            let Some(XmlOut::Text(t)) = p.get(&txn, 0) else {
                panic!("no text in the first paragraph");
            };
            t.insert(&mut txn, 0, text);
            txn.encode_update_v1()
        };
        c.send_update(update).await;
    }
    one.wait_acked().await;
    two.wait_acked().await;
    let json = a
        .call("GET", &format!("/api/docs/{doc}/export?format=json"), None)
        .await;
    let blocks = json.json["content"].as_array().expect("content").clone();
    assert_eq!(blocks.len(), 1, "one paragraph: {}", json.json);
    let text = json.json.to_string();
    assert!(
        text.contains("from one") && text.contains("from two"),
        "{text}"
    );
}
