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

fn expected(role: &str, action: &str) -> bool {
    match role {
        "owner" => true,
        "editor" => !matches!(action, "share" | "delete"),
        "viewer" | "commenter" => matches!(action, "list" | "read" | "connect" | "export"),
        _ => false,
    }
}

/// Tries one action on `doc` as `token` (None = anonymous); true if it was allowed.
async fn attempt(app: &TestApp, token: Option<&str>, doc: &str, action: &str) -> bool {
    let d = doc.to_string();
    match action {
        "list" => {
            let r = api(app.addr, "GET", "/api/docs", token, None).await;
            r.status == 200
                && r.json
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["id"] == d.as_str())
        }
        "read" => {
            api(
                app.addr,
                "GET",
                &format!("/api/docs/{d}/state"),
                token,
                None,
            )
            .await
            .status
                == 200
        }
        "export" => {
            api(
                app.addr,
                "GET",
                &format!("/api/docs/{d}/export?format=text"),
                token,
                None,
            )
            .await
            .status
                == 200
        }
        "share" => {
            let r = api(
                app.addr,
                "POST",
                &format!("/api/docs/{d}/shares"),
                token,
                Some(json!({"email": "bystander@example.org", "role": "viewer"})),
            )
            .await;
            r.status == 200
        }
        "rename" => {
            api(
                app.addr,
                "PATCH",
                &format!("/api/docs/{d}"),
                token,
                Some(json!({"title": "renamed"})),
            )
            .await
            .status
                == 200
        }
        "delete" => {
            api(app.addr, "DELETE", &format!("/api/docs/{d}"), token, None)
                .await
                .status
                == 204
        }
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
            if action == "connect" || !synced {
                return synced;
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
            if !acked {
                assert_eq!(
                    ws.closed.as_ref().map(|c| c.0),
                    Some(4403),
                    "a refused update closes with 4403"
                );
            }
            acked
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
            table += &format!("{:>7} ", if got { "allow" } else { "deny" });
            if got != want {
                mismatches.push(format!("{role} × {action}: got {got}, want {want}"));
            }
        }
    }
    println!("{table}");
    assert!(mismatches.is_empty(), "{table}\n{mismatches:#?}");
    // Denied updates changed nothing: only the editor's and the owner's "!" landed.
    let mut reader = owner.connect(&docs[3]).await;
    reader.drain_for(Duration::from_millis(200)).await;
    assert_eq!(
        reader.text(),
        "hello!!",
        "only the editor's and the owner's updates landed"
    );
}
