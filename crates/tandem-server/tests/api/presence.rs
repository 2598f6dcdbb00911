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

/// Awareness frames `c` receives within `d`, as (client id, state length) pairs.
async fn presence_seen(c: &mut Client, d: Duration) -> Vec<(u64, usize)> {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(d, async {
        while let Some(Ok(frame)) = c.ws.next().await {
            if let Ws::Binary(b) = frame {
                if let Ok(Message::Awareness(body)) = Message::decode(&b) {
                    let entries = decode_awareness(&body).unwrap();
                    seen.extend(entries.iter().map(|e| (e.client_id, e.state.len())));
                }
            }
        }
    })
    .await;
    seen
}

/// One connection may hold presence for a few client ids, each state at most the state limit:
/// past either, the socket is closed with 1008 and a reason, and nothing of that update reaches
/// anyone. The document's own budget refuses a state that would overflow it.
#[tokio::test]
async fn presence_past_its_limits_closes_the_socket_and_relays_nothing() {
    let app = spawn_app_with(|o| Options {
        max_presence_state_bytes: Some(1024),
        max_presence_doc_bytes: Some(3000),
        ..o
    })
    .await;
    let mut watcher = app.connect("caps").await;
    // Five client ids from one socket (the default allows four).
    let mut many = app.connect("caps").await;
    let five: Vec<AwarenessEntry> = (100..105)
        .map(|id| AwarenessEntry {
            client_id: id,
            clock: 1,
            state: r#"{"user":"x"}"#.into(),
        })
        .collect();
    many.send(Message::Awareness(encode_awareness(five.iter())))
        .await;
    let (code, reason) = many.expect_close().await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("client ids"), "{reason}");
    // A state over the size limit.
    let mut big = app.connect("caps").await;
    big.send(awareness(
        200,
        1,
        &format!(r#"{{"user":"{}"}}"#, "x".repeat(2000)),
    ))
    .await;
    let (code, reason) = big.expect_close().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("bytes"), "{reason}");
    // Two states of ~1 KB fit the document's 3,000 bytes; a third does not.
    let kb = format!(r#"{{"user":"{}"}}"#, "y".repeat(1000));
    let mut a = app.connect("caps").await;
    a.send(awareness(300, 1, &kb)).await;
    let mut b = app.connect("caps").await;
    b.send(awareness(301, 1, &kb)).await;
    wait_awareness(&mut watcher, 301, |s| s.len() == kb.len()).await;
    let mut c = app.connect("caps").await;
    c.send(awareness(302, 1, &kb)).await;
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("document"), "{reason}");
    let seen = presence_seen(&mut watcher, Duration::from_millis(300)).await;
    assert!(
        seen.iter()
            .all(|(id, _)| !(100..105).contains(id) && *id != 200 && *id != 302),
        "refused presence was relayed: {seen:?}"
    );
}
