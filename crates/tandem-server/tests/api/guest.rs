//! "Anyone with the link can view": a public link opens without an account as a guest with a
//! generated name who can only view that one document, loses it the moment the link is revoked,
//! and is limited per address. A link that is not public still needs an account.

use std::time::Duration;

use serde_json::json;
use tandem_server::config::Options;

use crate::auth_helpers::*;

#[tokio::test]
async fn a_public_link_opens_as_a_guest_who_only_views_until_it_is_revoked() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let doc = owner.new_doc("Public notes").await;
    let other = owner.new_doc("Private").await;
    let mut o = owner.connect(&doc).await;
    o.push("for everyone").await;
    o.wait_acked().await;

    // Only viewing links may be public.
    let links = format!("/api/docs/{doc}/links");
    let r = owner
        .call(
            "POST",
            &links,
            Some(json!({"role": "editor", "public": true})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.json);
    let private = owner
        .call("POST", &links, Some(json!({"role": "viewer"})))
        .await;
    let link = owner
        .call(
            "POST",
            &links,
            Some(json!({"role": "viewer", "public": true})),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.json);
    assert_eq!(link.json["link"]["public"], true);
    let token = link.json["token"].as_str().unwrap();

    // A signed-out person sees that it is public, and opens it with no account.
    let preview = api(
        app.addr,
        "POST",
        "/api/links/preview",
        None,
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(preview.json["public"], true);
    let r = api(
        app.addr,
        "POST",
        "/api/auth/guest",
        None,
        Some(json!({"token": private.json["token"]})),
    )
    .await;
    assert_eq!(
        r.status, 403,
        "a link that is not public needs an account: {}",
        r.json
    );
    let r = api(
        app.addr,
        "POST",
        "/api/auth/guest",
        None,
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert!(r.json["user"]["name"]
        .as_str()
        .unwrap()
        .starts_with("Guest "));
    let guest = Account::from_session(app.addr, &r);

    // The guest views this document and nothing else.
    let info = guest.call("GET", &format!("/api/docs/{doc}"), None).await;
    assert_eq!(
        (info.status, info.json["role"].as_str()),
        (200, Some("viewer"))
    );
    assert_eq!(
        guest
            .call("GET", &format!("/api/docs/{other}"), None)
            .await
            .status,
        404
    );
    let listed = guest.call("GET", "/api/docs", None).await;
    assert_eq!(listed.json.as_array().unwrap().len(), 1);
    let r = guest
        .call("POST", "/api/docs", Some(json!({"title": "mine"})))
        .await;
    assert_eq!(r.status, 403, "a guest only views: {}", r.json);
    let mut g = guest.connect(&doc).await;
    g.wait_text(|t| t == "for everyone").await;
    g.push(" and more").await;
    assert_eq!(g.expect_close().await.0, 4403, "a viewer's edit is refused");
    let mut g = guest.connect(&doc).await;
    g.wait_text(|t| t == "for everyone").await;

    // Revoked: the open socket closes and the document is gone for the guest.
    let link_id = link.json["link"]["id"].as_str().unwrap();
    let r = owner
        .call("DELETE", &format!("/api/docs/{doc}/links/{link_id}"), None)
        .await;
    assert_eq!(r.status, 204);
    let closed = tokio::time::timeout(Duration::from_secs(2), g.expect_close()).await;
    assert_eq!(closed.expect("closed at once").0, 4403);
    assert_eq!(
        guest
            .call("GET", &format!("/api/docs/{doc}"), None)
            .await
            .status,
        404
    );
    let r = api(
        app.addr,
        "POST",
        "/api/auth/guest",
        None,
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(r.status, 403, "a revoked link makes no more guests");
}

#[tokio::test]
async fn guests_are_limited_per_address() {
    let app = spawn_auth_app_with(|o| Options {
        signup_per_hour: Some(3),
        ..o
    })
    .await;
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let doc = owner.new_doc("d").await;
    let link = owner
        .call(
            "POST",
            &format!("/api/docs/{doc}/links"),
            Some(json!({"role": "viewer", "public": true})),
        )
        .await;
    let body = json!({"token": link.json["token"]});
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            api(
                app.addr,
                "POST",
                "/api/auth/guest",
                None,
                Some(body.clone()),
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
}
