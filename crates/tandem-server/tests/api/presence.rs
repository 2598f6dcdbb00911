//! Presence: awareness states are relayed, removed (and broadcast as removed) when their
//! connection closes, and expire after the TTL when not refreshed.

use std::time::Duration;

use futures_util::StreamExt;
use tandem_core::protocol::{decode_awareness, encode_awareness, AwarenessEntry, Message};
use tandem_server::config::Options;
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::helpers::*;

fn awareness(client_id: u64, clock: u64, state: &str) -> Message {
    Message::Awareness(encode_awareness(
        [AwarenessEntry {
            client_id,
            clock,
            state: state.into(),
        }]
        .iter(),
    ))
}

/// Reads frames until an awareness update for `client_id` satisfies `pred`.
async fn wait_awareness(c: &mut Client, client_id: u64, pred: impl Fn(&str) -> bool) {
    tokio::time::timeout(WAIT, async {
        loop {
            let b = match c.ws.next().await {
                Some(Ok(Ws::Binary(b))) => b,
                Some(Ok(Ws::Ping(_) | Ws::Pong(_))) => continue,
                other => panic!("closed: {other:?}"),
            };
            if let Ok(Message::Awareness(body)) = Message::decode(&b) {
                if decode_awareness(&body)
                    .unwrap()
                    .iter()
                    .any(|e| e.client_id == client_id && pred(&e.state))
                {
                    return;
                }
            }
        }
    })
    .await
    .expect("awareness update never arrived");
}

#[tokio::test]
async fn presence_is_relayed_and_removed_when_the_connection_closes() {
    let app = spawn_app().await;
    let mut watcher = app.connect("pres").await;
    let mut alice = app.connect("pres").await;
    alice
        .send(awareness(77, 1, r#"{"user":{"name":"alice"}}"#))
        .await;
    wait_awareness(&mut watcher, 77, |s| s.contains("alice")).await;
    // A late joiner gets the current presence with its first messages.
    let mut late = raw_connect(app.addr, "pres", false).await;
    let mut got = false;
    for _ in 0..5 {
        let Some(Ok(Ws::Binary(b))) = late.next().await else {
            break;
        };
        if let Ok(Message::Awareness(body)) = Message::decode(&b) {
            got = decode_awareness(&body)
                .unwrap()
                .iter()
                .any(|e| e.client_id == 77);
            break;
        }
    }
    assert!(got, "joiner did not receive presence");
    drop(alice);
    wait_awareness(&mut watcher, 77, |s| s == "null").await;
}

#[tokio::test]
async fn silent_presence_expires_after_ttl() {
    let app = spawn_app_with(|o| Options {
        awareness_ttl_ms: Some(1500),
        ..o
    })
    .await;
    let mut watcher = app.connect("ttl").await;
    let mut bob = app.connect("ttl").await;
    bob.send(awareness(5, 1, r#"{"user":"bob"}"#)).await;
    wait_awareness(&mut watcher, 5, |s| s.contains("bob")).await;
    let started = std::time::Instant::now();
    wait_awareness(&mut watcher, 5, |s| s == "null").await;
    let waited = started.elapsed();
    // The actor expires entries on its 1 s housekeeping tick: after the 1.5 s TTL, and by the
    // first tick past it (2.5 s). The clock starts when the watcher saw the entry, after the
    // server stored it, so the lower bound is the TTL less delivery (100 ms); the upper one has
    // 1 s of headroom for a loaded CI machine. An expiry six times late (9 s) fails.
    assert!(
        waited >= Duration::from_millis(1400),
        "expired too early: {waited:?}"
    );
    assert!(
        waited <= Duration::from_millis(3500),
        "expired too late: {waited:?}"
    );
}

#[tokio::test]
async fn a_dead_connection_is_closed_by_heartbeat_and_its_presence_removed() {
    let app = spawn_app_with(|o| Options {
        ping_interval_ms: Some(200),
        ..o
    })
    .await;
    let mut watcher = app.connect("hb").await;
    // The ghost announces itself, then never reads again: no pongs, as if the network died.
    let mut ghost = app.connect("hb").await;
    ghost.send(awareness(9, 1, r#"{"user":"ghost"}"#)).await;
    wait_awareness(&mut watcher, 9, |s| s.contains("ghost")).await;
    let started = std::time::Instant::now();
    // The watcher keeps answering pings (it reads), so only the ghost goes.
    wait_awareness(&mut watcher, 9, |s| s == "null").await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "dead connection lingered {waited:?}"
    );
    watcher.push("still alive").await;
    watcher.wait_acked().await;
    drop(ghost);
}
