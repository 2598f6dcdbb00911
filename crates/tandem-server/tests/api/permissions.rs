//! The permission matrix: every role × every action, over HTTP and the WebSocket, asserting
//! allowed or denied for each cell. A role that may not see a document gets 404 / 4403 (no
//! existence oracle); one that may see but not do gets 403; no valid token gets 401 / 4401.

use std::time::Duration;

use serde_json::json;

use crate::auth_helpers::*;
use crate::helpers::*;

/// The owner comes last so its deletion runs after every other role tried to delete.
const ROLES: [&str; 8] = [
    "anonymous",
    "viewer",
    "commenter",
    "editor",
    "revoked",
    "disabled",
    "expired link",
    "owner",
];
const ACTIONS: [&str; 8] = [
    "list", "read", "connect", "update", "share", "rename", "export", "delete",
];

/// The answer each role gets for each action: the HTTP status, or for the WebSocket the close
/// code (`200` when it synced, or its update was acked). Without a valid token (anonymous, a
/// disabled account): 401 / 4401. Cannot see the document (a revoked share, an expired link):
/// 404 / 4403, as for a document that does not exist, and it is left out of the list (`0`).
/// Sees it but may not do this: 403 / 4403.
fn expected(role: &str, action: &str) -> u16 {
    let ws = matches!(action, "connect" | "update");
    let allowed = match role {
        "owner" => true,
        "editor" => !matches!(action, "share" | "delete"),
        "viewer" | "commenter" => matches!(action, "list" | "read" | "connect" | "export"),
        _ => false,
    };
    match (role, allowed) {
        (_, true) if action == "delete" => 204,
        (_, true) => 200,
        ("anonymous" | "disabled", _) if ws => 4401,
        ("anonymous" | "disabled", _) => 401,
        (_, _) if ws => 4403,
        ("revoked" | "expired link", _) if action == "list" => 0, // 200, without it
        ("revoked" | "expired link", _) => 404,
        _ => 403,
    }
}

/// Tries one action on `doc` as `token` (None = anonymous); the answer as [`expected`] spells
/// it. A listing that answers 200 without the document counts as "not listed" (`0`).
async fn attempt(app: &TestApp, token: Option<&str>, doc: &str, action: &str) -> u16 {
    let d = doc.to_string();
    let call = |method: &'static str, path: String, body| async move {
        api(app.addr, method, &path, token, body).await
    };
    match action {
        "list" => {
            let r = call("GET", "/api/docs".into(), None).await;
            let listed = r.status == 200
                && r.json
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["id"] == d.as_str());
            match (r.status, listed) {
                (200, true) => 200,
                (200, false) => 0,
                (status, _) => status,
            }
        }
        "read" => {
            call("GET", format!("/api/docs/{d}/state"), None)
                .await
                .status
        }
        "export" => {
            call("GET", format!("/api/docs/{d}/export?format=text"), None)
                .await
                .status
        }
        "share" => {
            let body = json!({"email": "bystander@example.org", "role": "viewer"});
            call("POST", format!("/api/docs/{d}/shares"), Some(body))
                .await
                .status
        }
        "rename" => {
            let body = json!({"title": "renamed"});
            call("PATCH", format!("/api/docs/{d}"), Some(body))
                .await
                .status
        }
        "delete" => call("DELETE", format!("/api/docs/{d}"), None).await.status,
        "connect" | "update" => {
            let mut ws = Client::from_socket(raw_connect(app.addr, doc, true).await, true);
            if let Some(t) = token {
                ws.auth(t).await;
            }
            let sv = yrs::updates::encoder::Encode::encode_v1(&yrs::StateVector::default());
            ws.send(tandem_core::protocol::Message::SyncStep1(sv)).await;
            let synced = tokio::time::timeout(WAIT, async {
                while !ws.synced {
                    if !ws.recv().await {
                        return false;
                    }
                }
                true
            })
            .await
            .unwrap_or(false);
            let close_code = |ws: &Client| ws.closed.as_ref().map_or(0, |c| c.0);
            if !synced {
                return close_code(&ws);
            }
            if action == "connect" {
                return 200;
            }
            ws.wait_acked().await; // our (empty) sync step 2 is acked even for viewers
            let before = ws.acks.len();
            ws.push("!").await;
            let acked = tokio::time::timeout(Duration::from_secs(3), async {
                while ws.acks.len() == before {
                    if !ws.recv().await {
                        return false;
                    }
                }
                true
            })
            .await
            .unwrap_or(false);
            if acked {
                200
            } else {
                close_code(&ws)
            }
        }
        other => panic!("unknown action {other}"),
    }
}

#[tokio::test]
async fn every_role_times_every_action() {
    let app = spawn_auth_app().await;
    let owner = Account::signup(app.addr, "owner@example.org").await; // first account: admin
    let mut tokens = vec![];
    let mut accounts = vec![];
    for role in ROLES.iter().skip(1) {
        let email = format!("{}@example.org", role.replace(' ', "-"));
        accounts.push(if *role == "owner" {
            owner.clone()
        } else {
            Account::signup(app.addr, &email).await
        });
    }
    Account::signup(app.addr, "bystander@example.org").await;
    // One document per action, so that a destructive cell (rename, delete) never changes what
    // another cell sees; every document gets the same grants.
    let mut docs = vec![];
    for action in ACTIONS {
        let doc = owner.new_doc(action).await;
        let mut w = owner.connect(&doc).await;
        w.push("hello").await;
        w.wait_acked().await;
        for (role, acc) in ROLES.iter().skip(1).zip(&accounts) {
            match *role {
                "viewer" | "commenter" | "editor" => owner.share(&doc, &acc.email, role).await,
                "revoked" | "disabled" => owner.share(&doc, &acc.email, "editor").await,
                "expired link" => {
                    let r = owner
                        .call(
                            "POST",
                            &format!("/api/docs/{doc}/links"),
                            Some(json!({"role": "editor", "expires_in_hours": 0.0003})),
                        )
                        .await;
                    assert_eq!(r.status, 201, "{}", r.json);
                    let redeem = acc
                        .call(
                            "POST",
                            "/api/links/redeem",
                            Some(json!({"token": r.json["token"]})),
                        )
                        .await;
                    assert_eq!(
                        redeem.status, 200,
                        "the link works before it expires: {}",
                        redeem.json
                    );
                }
                _ => {}
            }
        }
        docs.push(doc);
    }
    let idx = |r: &str| ROLES.iter().position(|x| *x == r).unwrap() - 1;
    let revoked = &accounts[idx("revoked")];
    let disabled = &accounts[idx("disabled")];
    for doc in &docs {
        assert_eq!(
            owner
                .call(
                    "DELETE",
                    &format!("/api/docs/{doc}/shares/{}", revoked.id),
                    None
                )
                .await
                .status,
            204
        );
    }
    assert_eq!(
        owner
            .call(
                "POST",
                &format!("/api/admin/users/{}/disable", disabled.id),
                None
            )
            .await
            .status,
        204
    );
    tokio::time::sleep(Duration::from_millis(1200)).await; // the links expire (≈1.08 s)
    tokens.push(None);
    tokens.extend(accounts.iter().map(|a| Some(a.token.clone())));

    let mut mismatches = vec![];
    let mut table = String::from("role          | ");
    table += &ACTIONS.map(|a| format!("{a:>7}")).join(" ");
    for (r, role) in ROLES.iter().enumerate() {
        table += &format!("\n{role:<13} | ");
        for (a, action) in ACTIONS.iter().enumerate() {
            let got = attempt(&app, tokens[r].as_deref(), &docs[a], action).await;
            let want = expected(role, action);
            table += &format!("{got:>7} ");
            if got != want {
                mismatches.push(format!("{role} × {action}: got {got}, want {want}"));
            }
        }
    }
    println!("{table}");
    assert!(mismatches.is_empty(), "{table}\n{mismatches:#?}");
    // No existence oracle: whoever may not see a document gets, for every action, the answer a
    // document that does not exist gets.
    let missing = "zzzzzzzzzzzzzzzz";
    for (r, role) in ROLES.iter().enumerate() {
        if !matches!(*role, "anonymous" | "revoked" | "disabled" | "expired link") {
            continue;
        }
        for action in ACTIONS.iter().filter(|a| **a != "list") {
            let token = tokens[r].as_deref();
            let hidden = attempt(&app, token, &docs[1], action).await;
            let absent = attempt(&app, token, missing, action).await;
            assert_eq!(hidden, absent, "{role} × {action}: hidden vs missing");
        }
    }
    // Denied updates changed nothing: only the editor's and the owner's "!" landed.
    let mut reader = owner.connect(&docs[3]).await;
    reader.drain_for(Duration::from_millis(200)).await;
    assert_eq!(
        reader.text(),
        "hello!!",
        "only the editor's and the owner's updates landed"
    );
}
