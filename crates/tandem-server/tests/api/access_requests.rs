//! "Request access" from the no-access page: the owner sees who asked in the share dialog,
//! sharing with them answers it, and asking reveals nothing about documents one cannot see.

use crate::auth_helpers::*;

#[tokio::test]
async fn a_request_reaches_the_owner_and_sharing_answers_it() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("plans").await;
    let ask = |who: &Account, doc: &str| {
        let path = format!("/api/docs/{doc}/access-requests");
        let who = who.clone();
        async move { who.call("POST", &path, None).await.status }
    };
    // The same answer for a document that exists and one that does not.
    assert_eq!(ask(&bob, &doc).await, 202);
    assert_eq!(ask(&bob, "no-such-doc").await, 202);
    // Bob still cannot see it; Ann sees his request.
    assert_eq!(
        bob.call("GET", &format!("/api/docs/{doc}"), None)
            .await
            .status,
        404
    );
    let shares = ann
        .call("GET", &format!("/api/docs/{doc}/shares"), None)
        .await;
    let requests = shares.json["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{}", shares.json);
    assert_eq!(requests[0]["user"]["email"], "bob@example.org");
    assert!(requests[0]["requested_at"].as_i64().unwrap() > 0);
    // Only owners see or dismiss requests.
    let r = bob
        .call("GET", &format!("/api/docs/{doc}/shares"), None)
        .await;
    assert_eq!(r.status, 404);
    // Sharing with Bob answers the request.
    ann.share(&doc, &bob.email, "commenter").await;
    let shares = ann
        .call("GET", &format!("/api/docs/{doc}/shares"), None)
        .await;
    assert!(shares.json["requests"].as_array().unwrap().is_empty());
    assert_eq!(
        bob.call("GET", &format!("/api/docs/{doc}"), None)
            .await
            .status,
        200
    );
    // Someone with a role who asks again leaves no request; a dismissed one goes.
    assert_eq!(ask(&bob, &doc).await, 202);
    let cat = Account::signup(app.addr, "cat@example.org").await;
    assert_eq!(ask(&cat, &doc).await, 202);
    let shares = ann
        .call("GET", &format!("/api/docs/{doc}/shares"), None)
        .await;
    let requests = shares.json["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{}", shares.json);
    let path = format!("/api/docs/{doc}/access-requests/{}", cat.id);
    assert_eq!(ann.call("DELETE", &path, None).await.status, 204);
    assert_eq!(ann.call("DELETE", &path, None).await.status, 404);
}

#[tokio::test]
async fn sharing_with_an_email_that_has_no_account_invites_it() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("plans").await;
    let path = format!("/api/docs/{doc}/shares");
    let body = serde_json::json!({ "email": "Dora@Example.org", "role": "editor" });
    let r = ann.call("POST", &path, Some(body)).await;
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["email"], "dora@example.org");
    let listed = ann.call("GET", &path, None).await.json;
    assert_eq!(listed["invitations"][0]["email"], "dora@example.org");
    assert_eq!(listed["invitations"][0]["role"], "editor");
    // A second invitation, withdrawn before its person signs up, gives nothing.
    let body = serde_json::json!({ "email": "eve@example.org", "role": "viewer" });
    assert_eq!(ann.call("POST", &path, Some(body)).await.status, 202);
    let cancel = format!("/api/docs/{doc}/invitations/eve@example.org");
    assert_eq!(ann.call("DELETE", &cancel, None).await.status, 204);
    // Dora signs up and has the document, as an editor; the invitation is gone.
    let dora = Account::signup(app.addr, "dora@example.org").await;
    let info = dora.call("GET", &format!("/api/docs/{doc}"), None).await;
    assert_eq!(info.status, 200, "{}", info.json);
    assert_eq!(info.json["role"], "editor");
    let listed = ann.call("GET", &path, None).await.json;
    assert!(listed["invitations"].as_array().unwrap().is_empty());
    let eve = Account::signup(app.addr, "eve@example.org").await;
    assert_eq!(
        eve.call("GET", &format!("/api/docs/{doc}"), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn editors_share_up_to_their_own_role_when_the_owner_allows_it() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let ed = Account::signup(app.addr, "ed@example.org").await;
    let vic = Account::signup(app.addr, "vic@example.org").await;
    let doc = ann.new_doc("plans").await;
    ann.share(&doc, &ed.email, "editor").await;
    let shares = format!("/api/docs/{doc}/shares");
    let grant = |role: &str, email: &str| serde_json::json!({ "email": email, "role": role });
    // Off by default: an editor may not share.
    let r = ed
        .call("POST", &shares, Some(grant("viewer", &vic.email)))
        .await;
    assert_eq!(r.status, 403, "{}", r.json);
    assert_eq!(ed.call("GET", &shares, None).await.status, 403);
    let info = ed.call("GET", &format!("/api/docs/{doc}"), None).await;
    assert_eq!(info.json["editors_can_share"], false);
    // Only an owner turns it on.
    let settings = format!("/api/docs/{doc}/settings");
    let on = serde_json::json!({ "editors_can_share": true });
    assert_eq!(
        ed.call("PUT", &settings, Some(on.clone())).await.status,
        403
    );
    assert_eq!(ann.call("PUT", &settings, Some(on)).await.status, 204);
    assert_eq!(
        ed.call("GET", &format!("/api/docs/{doc}"), None).await.json["editors_can_share"],
        true
    );
    // Now up to editor, never owner, and never an owner's role; links likewise.
    assert_eq!(
        ed.call("POST", &shares, Some(grant("editor", &vic.email)))
            .await
            .status,
        200
    );
    assert_eq!(
        ed.call("POST", &shares, Some(grant("owner", &vic.email)))
            .await
            .status,
        403
    );
    assert_eq!(
        ed.call("POST", &shares, Some(grant("viewer", &ann.email)))
            .await
            .status,
        403
    );
    assert_eq!(ed.call("GET", &shares, None).await.status, 200);
    let link = serde_json::json!({ "role": "editor" });
    assert_eq!(
        ed.call("POST", &format!("/api/docs/{doc}/links"), Some(link))
            .await
            .status,
        201
    );
    // Removing people stays with owners.
    let remove = format!("/api/docs/{doc}/shares/{}", vic.id);
    assert_eq!(ed.call("DELETE", &remove, None).await.status, 403);
    assert_eq!(
        vic.call("GET", &format!("/api/docs/{doc}"), None)
            .await
            .json["role"],
        "editor"
    );
}

#[tokio::test]
async fn the_list_says_who_edited_each_document_last() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("plans").await;
    ann.share(&doc, &bob.email, "editor").await;
    let mut a = ann.connect(&doc).await;
    a.push("ann's line").await;
    a.wait_acked().await;
    let list = ann.call("GET", "/api/docs", None).await.json;
    assert_eq!(list[0]["updated_by"]["name"], "ann@example.org");
    let mut b = bob.connect(&doc).await;
    b.push(" and bob's").await;
    b.wait_acked().await;
    let list = ann.call("GET", "/api/docs", None).await.json;
    assert_eq!(list[0]["updated_by"]["name"], "bob@example.org");
}
