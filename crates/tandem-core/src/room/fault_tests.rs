//! The document actor under storage faults injected by `UnreliableStore`: slow fsyncs, failing
//! snapshots, a database that is down. Virtual time throughout.

use std::time::Duration;

use bytes::Bytes;
use yrs::{Text, Transact};

use super::tests::{fixture, is_ack, join, join_as, reopened_text, Conn};
use super::*;
use crate::protocol::{Ext, Message};
use crate::session::{close, Inbound};
use crate::store::OpLog;

/// Appends `s` to the connection's own document and sends the update (so each one is new).
async fn append(c: &Conn, doc: &yrs::Doc, s: &str) {
    let t = doc.get_or_insert_text("t");
    let update = {
        let mut txn = doc.transact_mut();
        let end = t.len(&txn);
        t.insert(&mut txn, end, s);
        txn.encode_update_v1()
    };
    c.room
        .send(RoomMsg::Inbound {
            conn: c.id,
            msg: Inbound::Update(Bytes::from(update)),
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn slow_fsyncs_delay_acks_in_order_and_nothing_goes_out_early() {
    let f = fixture(RoomConfig::default());
    let mut a = join(&f, "d", 1).await;
    let mut b = join(&f, "d", 2).await;
    f.store.delay_appends(Some(Duration::from_millis(500)));
    let start = tokio::time::Instant::now();
    let ydoc = yrs::Doc::with_client_id(1);
    for i in 0..10 {
        append(&a, &ydoc, &format!("{i}")).await;
    }
    let mut revisions = Vec::new();
    while revisions.len() < 10 {
        match a.next_matching(is_ack).await {
            Some(Message::Ext(Ext::Ack { revision })) => revisions.push(revision),
            other => panic!("expected an ack, got {other:?}"),
        }
        assert!(
            start.elapsed() >= Duration::from_millis(500),
            "acked before the fsync"
        );
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    // B saw every update, also only after the delay.
    let mut seen = 0;
    while seen < 10 {
        if let Some(Message::Update(_)) = b.next().await {
            seen += 1;
        }
    }
    assert_eq!(
        f.store.inner().load("d").await.unwrap().head(),
        revisions[9]
    );
}

#[tokio::test(start_paused = true)]
async fn failing_snapshots_lose_nothing_because_the_log_is_the_truth() {
    let f = fixture(RoomConfig {
        snapshot_every: 2,
        evict_after: Duration::from_secs(1),
        ..RoomConfig::default()
    });
    f.store.fail_snapshots(true);
    let mut a = join(&f, "d", 1).await;
    let ydoc = yrs::Doc::with_client_id(1);
    for i in 0..7 {
        append(&a, &ydoc, &format!("{i}")).await;
        assert!(a.next_matching(is_ack).await.is_some());
    }
    a.room.send(RoomMsg::Leave { conn: 1 }).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!f.rooms.is_open("d"), "evicted");
    let loaded = f.store.load("d").await.unwrap();
    assert!(loaded.snapshot.is_none(), "every snapshot failed");
    // Reopened from the log alone: all seven updates are there.
    assert_eq!(reopened_text(&f, "d").await, (7, "0123456".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_dead_database_refuses_clearly_keeps_what_was_acked_and_recovers() {
    let f = fixture(RoomConfig::default());
    let mut a = join(&f, "open", 1).await;
    let ydoc = yrs::Doc::with_client_id(1);
    append(&a, &ydoc, "before").await;
    assert!(a.next_matching(is_ack).await.is_some());
    f.store.database_down(true);
    // A document that is not open cannot be loaded: the join fails with a reason.
    let (ob, _rx) = crate::session::outbox(9, true, Default::default());
    match f.rooms.join("closed", ob).await {
        Err(RoomError::Unavailable(why)) => assert!(!why.is_empty()),
        other => panic!("expected Unavailable, got {:?}", other.err()),
    }
    // An edit to the open one is refused with 1011 and never acked.
    append(&a, &ydoc, "during").await;
    let err = a
        .next_matching(|m| {
            matches!(
                m,
                Message::Ext(Ext::Error { .. }) | Message::Ext(Ext::Ack { .. })
            )
        })
        .await;
    assert!(
        matches!(err, Some(Message::Ext(Ext::Error { code: 1011, .. }))),
        "{err:?}"
    );
    f.store.database_down(false);
    let (revision, text) = reopened_text(&f, "open").await;
    assert_eq!(
        (revision, text.as_str()),
        (1, "before"),
        "the acked update, and only it"
    );
    let mut c = join(&f, "closed", 3).await;
    c.update("after").await;
    assert!(c.next_matching(is_ack).await.is_some(), "service resumed");
}

/// Found by the `apply_update` fuzzer, against a document holding "hello world" from client 1:
/// an update on which yrs panics (merging pending structs, `transaction.rs:390`), one whose
/// pending structs yrs encodes with origins they never had, so a fresh document refuses the
/// state (`InvalidParent`), one whose state a fresh document loads as "hello world" and three
/// more characters the server holds pending, and one whose right origin comes first. Each
/// poisons the in-memory document. Only the sender is closed (4400): a bystander typing before,
/// during (its append still in flight) and after gets every ack and stays connected, the first
/// writer stays connected, and the document, rebuilt from the log in place, holds every acked
/// edit and nothing of the hostile one.
#[tokio::test(start_paused = true)]
async fn a_poisoning_update_closes_only_its_sender_and_everyone_else_keeps_their_acks() {
    for update in [
        &include_bytes!("../../../../fuzz/corpus/apply_update/regression-pending-merge-panic")[..],
        &include_bytes!(
            "../../../../fuzz/corpus/apply_update/regression-pending-reload-invalid-parent"
        )[..],
        &include_bytes!("../../../../fuzz/corpus/apply_update/regression-pending-reload-diverges")
            [..],
        &include_bytes!("../../../../fuzz/corpus/apply_update/regression-right-origin-first")[..],
    ] {
        let f = fixture(RoomConfig::default());
        let mut a = join(&f, "d", 1).await;
        a.update("hello world").await;
        assert!(a.next_matching(is_ack).await.is_some());
        let mut by = join(&f, "d", 3).await;
        let by_doc = yrs::Doc::with_client_id(3);
        append(&by, &by_doc, "before").await;
        assert!(by.next_matching(is_ack).await.is_some(), "ack before");

        // Joined before the hold: a join waits for everything applied to be durable.
        let bad = join(&f, "d", 2).await;
        let hold = f.store.hold_appends().await;
        append(&by, &by_doc, "during").await;
        bad.room
            .inbound(2, Inbound::Update(Bytes::from(update.to_vec())))
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            bad.outbox.closer.reason().map(|r| r.code),
            Some(close::MALFORMED)
        );
        drop(hold);
        assert!(by.next_matching(is_ack).await.is_some(), "ack during");
        append(&by, &by_doc, "after").await;
        assert!(by.next_matching(is_ack).await.is_some(), "ack after");

        assert!(
            by.outbox.closer.reason().is_none(),
            "the bystander stays open"
        );
        assert!(
            a.outbox.closer.reason().is_none(),
            "the first writer stays open"
        );
        let (rev, text) = reopened_text(&f, "d").await;
        assert_eq!(rev, 4);
        assert!(text.contains("hello world"), "{text:?}");
        assert!(text.contains("beforeduringafter"), "{text:?}");
        assert_eq!(text.len(), "hello worldbeforeduringafter".len(), "{text:?}");
    }
}

/// The editor's schema: in the `default` fragment, an element, attribute or format the editor
/// does not have, or a link that is not http(s) or mailto, is refused (4400 to its sender,
/// nothing logged, nothing broadcast) while a bystander keeps typing and getting acks. What the
/// editor writes (a paragraph with bold text and an https link, a table) passes, and a stock
/// client's own `Y.Text` is not looked at.
#[tokio::test(start_paused = true)]
async fn updates_outside_the_editor_schema_are_refused_and_nobody_else_notices() {
    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::types::Attrs;
    use yrs::{Any, Xml, XmlFragment};
    let cfg = RoomConfig {
        schema: Some(crate::schema::Schema::editor()),
        ..RoomConfig::default()
    };
    let edit = |client: u64, f: &dyn Fn(&yrs::XmlFragmentRef, &mut yrs::TransactionMut)| {
        let d = yrs::Doc::with_client_id(client);
        let frag = d.get_or_insert_xml_fragment("default");
        let mut txn = d.transact_mut();
        f(&frag, &mut txn);
        txn.encode_update_v1()
    };
    let link = |href: &str| {
        Attrs::from([(
            "link".into(),
            Any::from(std::collections::HashMap::from([(
                "href".to_string(),
                Any::from(href),
            )])),
        )])
    };
    let good = [
        edit(10, &|f, t| {
            let p = f.push_back(t, XmlElementPrelim::empty("paragraph"));
            let text = p.push_back(t, XmlTextPrelim::new(""));
            text.insert_with_attributes(
                t,
                0,
                "bold",
                Attrs::from([(
                    "bold".into(),
                    Any::from(std::collections::HashMap::<String, Any>::new()),
                )]),
            );
            text.insert_with_attributes(t, 4, " site", link("https://example.org"));
        }),
        edit(11, &|f, t| {
            let table = f.push_back(t, XmlElementPrelim::empty("table"));
            let row = table.push_back(t, XmlElementPrelim::empty("tableRow"));
            let cell = row.push_back(t, XmlElementPrelim::empty("tableHeader"));
            cell.insert_attribute(t, "colspan", Any::from(1));
            cell.push_back(t, XmlElementPrelim::empty("paragraph"));
        }),
    ];
    let bad: [(&str, Vec<u8>); 5] = [
        (
            "script",
            edit(20, &|f, t| {
                f.push_back(t, XmlElementPrelim::empty("script"));
            }),
        ),
        (
            "attribute",
            edit(21, &|f, t| {
                let p = f.push_back(t, XmlElementPrelim::empty("paragraph"));
                p.insert_attribute(t, "onclick", "alert(1)");
            }),
        ),
        (
            "javascript link",
            edit(22, &|f, t| {
                let p = f.push_back(t, XmlElementPrelim::empty("paragraph"));
                let text = p.push_back(t, XmlTextPrelim::new(""));
                text.insert_with_attributes(t, 0, "click", link("javascript:alert(1)"));
            }),
        ),
        (
            "unknown format",
            edit(23, &|f, t| {
                let p = f.push_back(t, XmlElementPrelim::empty("paragraph"));
                let text = p.push_back(t, XmlTextPrelim::new(""));
                text.insert_with_attributes(
                    t,
                    0,
                    "x",
                    Attrs::from([("blink".into(), Any::Bool(true))]),
                );
            }),
        ),
        (
            "a style attribute",
            edit(24, &|f, t| {
                let p = f.push_back(t, XmlElementPrelim::empty("paragraph"));
                p.insert_attribute(t, "style", "x");
            }),
        ),
    ];
    let f = fixture(cfg);
    let mut by = join(&f, "d", 1).await;
    by.update("stock client text").await; // a Y.Text "t": not the editor's fragment
    assert!(by.next_matching(is_ack).await.is_some());
    let by_doc = yrs::Doc::with_client_id(7); // its own client: `update` used client 1
    for (i, u) in good.iter().enumerate() {
        let c = join(&f, "d", 100 + i as u64).await;
        c.room
            .inbound(c.id, Inbound::Update(Bytes::from(u.clone())))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            c.outbox.closer.reason().is_none(),
            "the editor's own update {i} passes"
        );
    }
    let (rev_before, _) = reopened_text(&f, "d").await;
    assert_eq!(rev_before, 3);
    for (i, (name, u)) in bad.iter().enumerate() {
        let c = join(&f, "d", 200 + i as u64).await;
        c.room
            .inbound(c.id, Inbound::Update(Bytes::from(u.clone())))
            .await;
        append(&by, &by_doc, "k").await;
        assert!(
            by.next_matching(is_ack).await.is_some(),
            "{name}: the bystander's ack"
        );
        let reason = c.outbox.closer.reason().cloned();
        assert_eq!(
            reason.as_ref().map(|r| r.code),
            Some(close::MALFORMED),
            "{name}"
        );
        assert!(reason.unwrap().reason.contains("schema"), "{name}");
    }
    assert!(
        by.outbox.closer.reason().is_none(),
        "the bystander stays open"
    );
    let (rev, _) = reopened_text(&f, "d").await;
    assert_eq!(
        rev,
        rev_before + bad.len() as u64,
        "only the bystander's edits were logged"
    );
}

/// What a [`Directory`] was told: the author, the revision and the mentions.
type Told = (Option<String>, u64, Vec<crate::schema::Mention>);

/// Who may be mentioned, as the server's accounts would say; records what it was asked and told.
#[derive(Default)]
struct Directory {
    checked: std::sync::Mutex<Vec<(Option<String>, Vec<String>)>>,
    told: std::sync::Mutex<Vec<Told>>,
}

#[async_trait::async_trait]
impl People for Directory {
    async fn check(
        &self,
        _doc: &str,
        author: Option<&str>,
        added: &[Mention],
    ) -> Result<(), String> {
        let users: Vec<String> = added.iter().map(|m| m.user.clone()).collect();
        self.checked
            .lock()
            .unwrap()
            .push((author.map(str::to_owned), users.clone()));
        match users.iter().any(|u| u == "9") {
            true => Err("a mention of account 9, whom the author may not mention".into()),
            false => Ok(()),
        }
    }
    fn mentioned(&self, _doc: &str, author: Option<&str>, rev: u64, added: Vec<Mention>) {
        self.told
            .lock()
            .unwrap()
            .push((author.map(str::to_owned), rev, added));
    }
}

/// A mention is asked about before its update counts (its author's account with it); one the
/// directory refuses closes its sender 4400 and leaves nothing behind, and an accepted one is
/// told, with its place and revision, only once that revision is durable. Updates without a
/// mention never ask.
#[tokio::test(start_paused = true)]
async fn mentions_are_checked_before_they_count_and_told_once_durable() {
    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::{Xml, XmlFragment};
    let people = Arc::new(Directory::default());
    let f = fixture(RoomConfig {
        schema: Some(crate::schema::Schema::editor()),
        people: Some(people.clone()),
        ..RoomConfig::default()
    });
    let mention = |client: u64, user: &str, place: &str| {
        let d = yrs::Doc::with_client_id(client);
        let frag = d.get_or_insert_xml_fragment("default");
        let mut txn = d.transact_mut();
        let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(&mut txn, XmlTextPrelim::new("hi "));
        let m = p.push_back(&mut txn, XmlElementPrelim::empty("mention"));
        m.insert_attribute(&mut txn, "id", user);
        m.insert_attribute(&mut txn, "ref", place);
        Bytes::from(txn.encode_update_v1())
    };
    let mut ann = join_as(&f, "d", 1, "42").await;
    ann.update("plain text").await;
    ann.next_matching(is_ack).await.unwrap();
    assert!(
        people.checked.lock().unwrap().is_empty(),
        "no mention, no question"
    );

    let hold = f.store.hold_appends().await;
    ann.room
        .inbound(1, Inbound::Update(mention(50, "7", "r1")))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        *people.checked.lock().unwrap(),
        [(Some("42".to_owned()), vec!["7".to_owned()])]
    );
    assert!(
        people.told.lock().unwrap().is_empty(),
        "not before it is durable"
    );
    drop(hold);
    ann.next_matching(is_ack).await.unwrap();
    let told = people.told.lock().unwrap().clone();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0.as_deref(), Some("42"));
    assert_eq!(told[0].1, 2, "the mention's revision");
    assert_eq!(
        told[0].2,
        [crate::schema::Mention {
            user: "7".into(),
            place: Some("r1".into())
        }]
    );

    // Refused: closed 4400 with the reason, nothing logged, nobody told.
    let c = join(&f, "d", 2).await;
    c.room
        .inbound(2, Inbound::Update(mention(51, "9", "r2")))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reason = c.outbox.closer.reason().cloned().expect("closed");
    assert_eq!(reason.code, close::MALFORMED);
    assert!(reason.reason.contains("account 9"), "{}", reason.reason);
    assert_eq!(people.told.lock().unwrap().len(), 1);
    let (rev, _) = reopened_text(&f, "d").await;
    assert_eq!(rev, 2, "the refused mention was never logged");
}

/// Presence does not wait behind durability: with the actor holding all the updates it may have
/// in flight (fsyncs taking 3 s) and more waiting in its mailbox, a caret still reaches the
/// other client at once, and the updates are acked once durable.
#[tokio::test(start_paused = true)]
async fn carets_move_while_updates_wait_on_a_slow_disk() {
    use crate::protocol::{decode_awareness, AwarenessEntry};
    let f = fixture(RoomConfig {
        max_inflight: 2,
        ..RoomConfig::default()
    });
    let mut a = join(&f, "d", 1).await;
    let mut b = join(&f, "d", 2).await;
    f.store.delay_appends(Some(Duration::from_secs(3)));
    let ydoc = yrs::Doc::with_client_id(1);
    for i in 0..6 {
        append(&a, &ydoc, &format!("{i}")).await;
    }
    let start = tokio::time::Instant::now();
    let caret = AwarenessEntry {
        client_id: 100,
        clock: 1,
        state: "{\"cursor\":3}".into(),
    };
    let msg = Inbound::Awareness {
        entries: vec![caret.clone()],
    };
    assert!(a.room.inbound(a.id, msg).await);
    let seen = b
        .next_matching(|m| matches!(m, Message::Awareness(_)))
        .await;
    let Some(Message::Awareness(body)) = seen else {
        panic!("the caret never came: {seen:?}")
    };
    assert_eq!(decode_awareness(&body).unwrap(), vec![caret]);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "the caret waited {:?} behind the updates",
        start.elapsed()
    );
    // The updates were only waiting: all six are acked once the disk answers.
    for _ in 0..6 {
        assert!(a.next_matching(is_ack).await.is_some());
    }
    assert!(start.elapsed() >= Duration::from_secs(3));
}
