//! The behaviour every [`Webhooks`](crate::webhooks::Webhooks) backend must show, with the
//! outbox rows its op log, comments and sharing write: `webhooks_suite!(expr)` where `expr`
//! (awaited if async) yields `(store, accounts, guard)`, as for `notifications_suite!`.

#[macro_export]
macro_rules! webhooks_suite {
    ($make:expr) => {
        mod webhooks {
            #[allow(unused_imports)]
            use tandem_core::store::{now_millis, Append, Catalogue, Comment, Comments, OpLog};
            #[allow(unused_imports)]
            use $crate::accounts::*;
            #[allow(unused_imports)]
            use $crate::webhooks::*;

            fn hook(id: &str, doc: Option<&str>, events: &[Event]) -> NewWebhook {
                NewWebhook {
                    id: id.into(),
                    doc: doc.map(Into::into),
                    owner_id: 1,
                    url: format!("http://127.0.0.1:9/{id}"),
                    secret: "s".into(),
                    events: events.to_vec(),
                    at: 1,
                }
            }

            async fn append(store: &impl OpLog, doc: &str, revs: std::ops::RangeInclusive<u64>) {
                let batch: Vec<Append> = revs
                    .map(|rev| Append {
                        doc: doc.into(),
                        rev,
                        data: bytes::Bytes::from_static(b"x"),
                        author: None,
                    })
                    .collect();
                store.append(&batch).await.unwrap();
            }

            fn later() -> i64 {
                now_millis() + 1_000
            }

            /// (hook, doc, event, rev_from, rev_to) of what a claim returns.
            fn shape(due: &[Due]) -> Vec<(String, String, Event, u64, u64)> {
                let mut v: Vec<_> = due
                    .iter()
                    .map(|d| {
                        (
                            d.hook.id.clone(),
                            d.doc.clone(),
                            d.event,
                            d.rev_from,
                            d.rev_to,
                        )
                    })
                    .collect();
                v.sort();
                v
            }

            fn attempt(d: &Due, ok: bool, at: i64, retry_at: i64) -> Attempt {
                Attempt {
                    outbox_id: Some(d.id),
                    hook: d.hook.id.clone(),
                    delivery: format!("{}-{}", d.id, d.rev_from),
                    event: d.event.as_str().into(),
                    doc: d.doc.clone(),
                    rev_from: d.rev_from,
                    rev_to: d.rev_to,
                    ok,
                    status: Some(if ok { 200 } else { 500 }),
                    latency_ms: 3,
                    error: String::new(),
                    at,
                    retry_at,
                }
            }

            #[tokio::test]
            async fn commits_coalesce_into_one_range_per_webhook_and_document() {
                let (store, a, _g) = $make;
                store.create_doc("d", "D").await.unwrap();
                store.create_doc("e", "E").await.unwrap();
                a.create_webhook(&hook("on-d", Some("d"), &[Event::Changed]))
                    .await
                    .unwrap();
                a.create_webhook(&hook("all", None, &[Event::Changed, Event::Deleted]))
                    .await
                    .unwrap();
                a.create_webhook(&hook("comments-only", Some("d"), &[Event::Comment]))
                    .await
                    .unwrap();
                append(&store, "d", 1..=3).await;
                append(&store, "d", 4..=4).await;
                append(&store, "e", 1..=2).await;
                let due = a.claim_deliveries(later(), 30_000, 50).await.unwrap();
                assert_eq!(
                    shape(&due),
                    vec![
                        ("all".into(), "d".into(), Event::Changed, 1, 4),
                        ("all".into(), "e".into(), Event::Changed, 1, 2),
                        ("on-d".into(), "d".into(), Event::Changed, 1, 4),
                    ]
                );
                assert_eq!(
                    due[0].hook.secret, "s",
                    "the claim carries what signing needs"
                );
                // Claimed rows are not claimed twice while their lease runs.
                assert!(a
                    .claim_deliveries(later(), 30_000, 50)
                    .await
                    .unwrap()
                    .is_empty());
                assert_eq!(
                    a.claim_deliveries(later() + 31_000, 30_000, 50)
                        .await
                        .unwrap()
                        .len(),
                    3
                );
            }

            #[tokio::test]
            async fn a_range_extended_while_in_flight_leaves_the_rest_queued_behind_other_events() {
                let (store, a, _g) = $make;
                store.create_doc("d", "D").await.unwrap();
                a.create_webhook(&hook("h", Some("d"), &[Event::Changed, Event::Comment]))
                    .await
                    .unwrap();
                append(&store, "d", 1..=2).await;
                let due = a.claim_deliveries(later(), 30_000, 50).await.unwrap();
                assert_eq!(
                    shape(&due),
                    vec![("h".into(), "d".into(), Event::Changed, 1, 2)]
                );
                // While it is in flight: more revisions (the same row) and a comment (a new one).
                append(&store, "d", 3..=5).await;
                let cm = Comment {
                    id: "c1".into(),
                    doc: "d".into(),
                    thread: "c1".into(),
                    author: Some("7".into()),
                    body: "hello".into(),
                    anchor: String::new(),
                    quote: String::new(),
                    created_at: now_millis(),
                    resolved_at: None,
                };
                assert!(store.add_comment(&cm).await.unwrap());
                // The document's next row waits for the one in flight.
                assert!(a
                    .claim_deliveries(later(), 30_000, 50)
                    .await
                    .unwrap()
                    .is_empty());
                a.finish_deliveries(&[attempt(&due[0], true, later(), 0)], 60_000)
                    .await
                    .unwrap();
                let next = a.claim_deliveries(later(), 30_000, 50).await.unwrap();
                assert_eq!(next.len(), 1, "{next:?}");
                assert_eq!(
                    next[0].event,
                    Event::Comment,
                    "the rest of the range went behind"
                );
                let payload: serde_json::Value = serde_json::from_str(&next[0].payload).unwrap();
                assert_eq!(payload["thread"], "c1");
                assert_eq!(payload["body"], "hello");
                a.finish_deliveries(&[attempt(&next[0], true, later(), 0)], 60_000)
                    .await
                    .unwrap();
                let rest = a.claim_deliveries(later(), 30_000, 50).await.unwrap();
                assert_eq!(
                    shape(&rest),
                    vec![("h".into(), "d".into(), Event::Changed, 3, 5)]
                );
                a.finish_deliveries(&[attempt(&rest[0], true, later(), 0)], 60_000)
                    .await
                    .unwrap();
                assert_eq!(a.pending_deliveries("h").await.unwrap(), 0);
                let log = a.deliveries("h", 10).await.unwrap();
                assert_eq!(log.len(), 3);
                assert_eq!((log[0].rev_from, log[0].rev_to, log[0].ok), (3, 5, true));
                assert_eq!(log[1].event, "comment");
            }

            #[tokio::test]
            async fn failures_retry_when_due_and_a_day_of_them_disables_the_webhook() {
                let (store, a, _g) = $make;
                store.create_doc("d", "D").await.unwrap();
                a.create_webhook(&hook("h", Some("d"), &[Event::Changed]))
                    .await
                    .unwrap();
                append(&store, "d", 1..=1).await;
                let t0 = later();
                let due = a.claim_deliveries(t0, 30_000, 50).await.unwrap();
                let off = a
                    .finish_deliveries(&[attempt(&due[0], false, t0, t0 + 5_000)], 60_000)
                    .await
                    .unwrap();
                assert!(off.is_empty());
                let w = a.webhook("h").await.unwrap().unwrap();
                assert_eq!(w.failing_since, Some(t0));
                // Not before its back-off; then again, with the revisions committed meanwhile.
                assert!(a
                    .claim_deliveries(t0 + 4_000, 30_000, 50)
                    .await
                    .unwrap()
                    .is_empty());
                append(&store, "d", 2..=2).await;
                let again = a.claim_deliveries(t0 + 5_000, 30_000, 50).await.unwrap();
                assert_eq!(
                    shape(&again),
                    vec![("h".into(), "d".into(), Event::Changed, 1, 2)]
                );
                assert_eq!(again[0].attempts, 1);
                // A minute of failures (the give-up window here) turns it off, outbox and all.
                let off = a
                    .finish_deliveries(
                        &[attempt(&again[0], false, t0 + 61_000, t0 + 70_000)],
                        60_000,
                    )
                    .await
                    .unwrap();
                assert_eq!(off.len(), 1);
                assert!(!off[0].enabled);
                assert!(!off[0].disabled_reason.is_empty());
                assert_eq!(a.pending_deliveries("h").await.unwrap(), 0);
                append(&store, "d", 3..=3).await;
                assert_eq!(
                    a.pending_deliveries("h").await.unwrap(),
                    0,
                    "disabled: nothing queued"
                );
                // Turned on again by hand: deliveries start with the next change.
                assert!(a.set_webhook_enabled("h", true).await.unwrap());
                assert_eq!(a.webhook("h").await.unwrap().unwrap().failing_since, None);
                append(&store, "d", 4..=4).await;
                let due = a
                    .claim_deliveries(later() + 100_000, 30_000, 50)
                    .await
                    .unwrap();
                assert_eq!(
                    shape(&due),
                    vec![("h".into(), "d".into(), Event::Changed, 4, 4)]
                );
            }

            #[tokio::test]
            async fn a_success_ends_a_run_of_failures() {
                let (store, a, _g) = $make;
                store.create_doc("d", "D").await.unwrap();
                a.create_webhook(&hook("h", Some("d"), &[Event::Changed]))
                    .await
                    .unwrap();
                append(&store, "d", 1..=1).await;
                let t0 = later();
                let due = a.claim_deliveries(t0, 30_000, 50).await.unwrap();
                a.finish_deliveries(&[attempt(&due[0], false, t0, t0)], 60_000)
                    .await
                    .unwrap();
                let due = a.claim_deliveries(t0, 30_000, 50).await.unwrap();
                a.finish_deliveries(&[attempt(&due[0], true, t0 + 59_000, 0)], 60_000)
                    .await
                    .unwrap();
                assert_eq!(a.webhook("h").await.unwrap().unwrap().failing_since, None);
                assert!(a.webhook("h").await.unwrap().unwrap().enabled);
            }

            #[tokio::test]
            async fn shares_and_deletions_are_queued_with_the_change() {
                let (store, a, _g) = $make;
                store.create_doc("d", "D").await.unwrap();
                a.create_webhook(&hook("own", Some("d"), &[Event::Share, Event::Deleted]))
                    .await
                    .unwrap();
                a.create_webhook(&hook("all", None, &[Event::Deleted]))
                    .await
                    .unwrap();
                let u = a
                    .create_user(NewUser {
                        email: "ann@x.org".into(),
                        name: "Ann".into(),
                        password_hash: "h".into(),
                    })
                    .await
                    .unwrap();
                a.grant("d", u.id, Role::Editor).await.unwrap();
                let due = a.claim_deliveries(later(), 30_000, 50).await.unwrap();
                assert_eq!(
                    shape(&due),
                    vec![("own".into(), "d".into(), Event::Share, 0, 0)]
                );
                let payload: serde_json::Value = serde_json::from_str(&due[0].payload).unwrap();
                assert_eq!(
                    (payload["user"].as_i64(), payload["role"].as_str()),
                    (Some(u.id), Some("editor"))
                );
                a.finish_deliveries(&[attempt(&due[0], true, later(), 0)], 60_000)
                    .await
                    .unwrap();
                assert!(a.revoke("d", u.id).await.unwrap());
                let due = a.claim_deliveries(later(), 30_000, 50).await.unwrap();
                let payload: serde_json::Value = serde_json::from_str(&due[0].payload).unwrap();
                assert!(payload["role"].is_null(), "a revocation names no role");
                a.finish_deliveries(&[attempt(&due[0], true, later(), 0)], 60_000)
                    .await
                    .unwrap();

                assert!(store.delete_doc("d").await.unwrap());
                let due = a.claim_deliveries(later(), 30_000, 50).await.unwrap();
                assert_eq!(
                    shape(&due),
                    vec![
                        ("all".into(), "d".into(), Event::Deleted, 0, 0),
                        ("own".into(), "d".into(), Event::Deleted, 0, 0),
                    ]
                );
                let own = a.webhook("own").await.unwrap().unwrap();
                assert!(!own.enabled, "a deleted document's webhooks end with it");
            }

            #[tokio::test]
            async fn listed_by_document_or_server_and_deleted_with_their_queue() {
                let (store, a, _g) = $make;
                store.create_doc("d", "D").await.unwrap();
                a.create_webhook(&hook("on-d", Some("d"), &[Event::Changed]))
                    .await
                    .unwrap();
                a.create_webhook(&hook("all", None, &[Event::Changed]))
                    .await
                    .unwrap();
                let on_d: Vec<_> = a
                    .webhooks(Some("d"))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|w| w.id)
                    .collect();
                assert_eq!(on_d, vec!["on-d".to_string()]);
                let all: Vec<_> = a
                    .webhooks(None)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|w| w.id)
                    .collect();
                assert_eq!(all, vec!["all".to_string()]);
                append(&store, "d", 1..=1).await;
                assert_eq!(a.pending_deliveries("on-d").await.unwrap(), 1);
                assert!(a.delete_webhook("on-d").await.unwrap());
                assert!(!a.delete_webhook("on-d").await.unwrap());
                assert_eq!(a.pending_deliveries("on-d").await.unwrap(), 0);
                assert!(a.webhook("on-d").await.unwrap().is_none());
            }

            #[tokio::test]
            async fn the_log_keeps_the_last_hundred() {
                let (store, a, _g) = $make;
                store.create_doc("d", "D").await.unwrap();
                a.create_webhook(&hook("h", Some("d"), &[Event::Changed]))
                    .await
                    .unwrap();
                let tests: Vec<Attempt> = (0..LOG_KEEP + 5)
                    .map(|i| Attempt {
                        outbox_id: None,
                        hook: "h".into(),
                        delivery: format!("t{i}"),
                        event: "ping".into(),
                        doc: "d".into(),
                        rev_from: 0,
                        rev_to: 0,
                        ok: true,
                        status: Some(204),
                        latency_ms: 1,
                        error: String::new(),
                        at: i,
                        retry_at: 0,
                    })
                    .collect();
                a.finish_deliveries(&tests, 60_000).await.unwrap();
                let log = a.deliveries("h", 1000).await.unwrap();
                assert_eq!(log.len() as i64, LOG_KEEP);
                assert_eq!(
                    log[0].delivery,
                    format!("t{}", LOG_KEEP + 4),
                    "newest first"
                );
            }
        }
    };
}
