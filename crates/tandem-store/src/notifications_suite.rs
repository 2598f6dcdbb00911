//! The behaviour every [`Notifications`](crate::notifications::Notifications) backend must
//! show: `notifications_suite!(expr)` where `expr` (awaited if async) yields
//! `(store, accounts, guard)`, as for `home_suite!`.

#[macro_export]
macro_rules! notifications_suite {
    ($make:expr) => {
        mod notifications {
            #[allow(unused_imports)]
            use tandem_core::store::{Catalogue, OpLog};
            #[allow(unused_imports)]
            use $crate::accounts::*;
            #[allow(unused_imports)]
            use $crate::notifications::*;

            const NOW: i64 = 1_000_000;

            async fn user(a: &(impl Users + ?Sized), email: &str, name: &str) -> i64 {
                let u = NewUser {
                    email: email.into(),
                    name: name.into(),
                    password_hash: "h".into(),
                };
                a.create_user(u).await.unwrap().id
            }

            fn new(user_id: i64, kind: Kind, doc: &str, place: &str, at: i64) -> NewNotification {
                NewNotification {
                    user_id,
                    kind,
                    doc: doc.into(),
                    actor_id: None,
                    place: place.into(),
                    detail: String::new(),
                    at,
                }
            }

            async fn ids(a: &impl Notifications, user: i64) -> Vec<(Kind, String)> {
                let list = a.notifications(user, NOW, None, 50).await.unwrap();
                list.into_iter().map(|n| (n.kind, n.place)).collect()
            }

            #[tokio::test]
            async fn listed_newest_first_once_each_read_one_or_all() {
                let (store, a, _g) = $make;
                let ann = user(&a, "ann@x.org", "Ann").await;
                let bob = user(&a, "bob@x.org", "Bob").await;
                store.create_doc("d", "Plans").await.unwrap();
                a.grant("d", ann, Role::Owner).await.unwrap();
                a.grant("d", bob, Role::Editor).await.unwrap();

                let mut n = new(bob, Kind::Mention, "d", "m1", 10);
                n.actor_id = Some(ann);
                let first = a.notify(&n).await.unwrap();
                assert!(first.is_some());
                // The same mention again (pasted, undone and redone) is not a second one.
                assert_eq!(a.notify(&n).await.unwrap(), None);
                a.notify(&new(bob, Kind::Reply, "d", "t1", 20))
                    .await
                    .unwrap();
                a.notify(&new(bob, Kind::Share, "d", "editor", 30))
                    .await
                    .unwrap();
                a.notify(&new(ann, Kind::Reply, "d", "t2", 40))
                    .await
                    .unwrap();

                assert_eq!(
                    ids(&a, bob).await,
                    [
                        (Kind::Share, "editor".to_string()),
                        (Kind::Reply, "t1".to_string()),
                        (Kind::Mention, "m1".to_string())
                    ]
                );
                let list = a.notifications(bob, NOW, None, 50).await.unwrap();
                let mention = &list[2];
                assert_eq!(mention.doc_title, "Plans");
                assert_eq!(mention.actor_name.as_deref(), Some("Ann"));
                assert_eq!(Some(mention.id), first);
                // Pages: ids below the last one seen.
                let page = a
                    .notifications(bob, NOW, Some(list[0].id), 1)
                    .await
                    .unwrap();
                assert_eq!(page.len(), 1);
                assert_eq!(page[0].id, list[1].id);

                assert_eq!(a.unread(bob, NOW).await.unwrap(), 3);
                // One's own notification only.
                assert_eq!(a.mark_read(ann, Some(list[0].id), NOW).await.unwrap(), 0);
                assert_eq!(a.mark_read(bob, Some(list[0].id), NOW).await.unwrap(), 1);
                assert_eq!(a.unread(bob, NOW).await.unwrap(), 2);
                assert_eq!(a.mark_read(bob, None, NOW).await.unwrap(), 2);
                assert_eq!(a.unread(bob, NOW).await.unwrap(), 0);
                assert_eq!(a.unread(ann, NOW).await.unwrap(), 1);
                let list = a.notifications(bob, NOW, None, 50).await.unwrap();
                assert!(list.iter().all(|n| n.read));
            }

            #[tokio::test]
            async fn nothing_about_a_document_the_recipient_cannot_read() {
                let (store, a, _g) = $make;
                let ann = user(&a, "ann@x.org", "Ann").await;
                let bob = user(&a, "bob@x.org", "Bob").await;
                store.create_doc("secret", "Secret plans").await.unwrap();
                a.grant("secret", ann, Role::Owner).await.unwrap();
                // Ann mentions Bob in a document he cannot open: recorded, not shown or mailed.
                a.notify(&new(bob, Kind::Mention, "secret", "m1", 10))
                    .await
                    .unwrap();
                assert!(ids(&a, bob).await.is_empty());
                assert_eq!(a.unread(bob, NOW).await.unwrap(), 0);
                assert!(a.unmailed(0, NOW, 50).await.unwrap().is_empty());
                // Shared with him: it shows; unshared: gone again, at once.
                a.grant("secret", bob, Role::Commenter).await.unwrap();
                assert_eq!(ids(&a, bob).await.len(), 1);
                assert_eq!(a.unread(bob, NOW).await.unwrap(), 1);
                assert_eq!(a.unmailed(0, NOW, 50).await.unwrap().len(), 1);
                a.revoke("secret", bob).await.unwrap();
                assert!(ids(&a, bob).await.is_empty());
                assert!(a.unmailed(0, NOW, 50).await.unwrap().is_empty());
                // A deleted document takes its notifications with it.
                a.grant("secret", bob, Role::Viewer).await.unwrap();
                a.forget_doc("secret").await.unwrap();
                a.grant("secret", bob, Role::Viewer).await.unwrap();
                assert!(ids(&a, bob).await.is_empty());
            }

            #[tokio::test]
            async fn the_mail_queue_claims_once_and_honours_opt_outs() {
                let (store, a, _g) = $make;
                let bob = user(&a, "bob@x.org", "Bob").await;
                let guest = user(&a, "guest-1@guest.invalid", "Guest Otter").await;
                store.create_doc("d", "Plans").await.unwrap();
                for u in [bob, guest] {
                    a.grant("d", u, Role::Viewer).await.unwrap();
                }
                let m = a
                    .notify(&new(bob, Kind::Mention, "d", "m1", 100))
                    .await
                    .unwrap()
                    .unwrap();
                let r = a
                    .notify(&new(bob, Kind::Reply, "d", "t1", 200))
                    .await
                    .unwrap()
                    .unwrap();
                let s = a
                    .notify(&new(bob, Kind::Share, "d", "viewer", 300))
                    .await
                    .unwrap()
                    .unwrap();
                // A guest has no address: never mailed.
                a.notify(&new(guest, Kind::Mention, "d", "m2", 400))
                    .await
                    .unwrap();

                let queue = a.unmailed(0, NOW, 50).await.unwrap();
                let got: Vec<_> = queue.iter().map(|(u, n)| (u.id, n.id)).collect();
                assert_eq!(got, [(bob, m), (bob, r), (bob, s)]);
                assert_eq!(queue[0].0.email, "bob@x.org");
                // Only what was made after `since`.
                assert_eq!(a.unmailed(150, NOW, 50).await.unwrap().len(), 2);

                a.set_email_optout(bob, Kind::Reply, true).await.unwrap();
                a.set_email_optout(bob, Kind::Reply, true).await.unwrap();
                assert_eq!(a.email_optouts(bob).await.unwrap(), [Kind::Reply]);
                let got: Vec<_> = a
                    .unmailed(0, NOW, 50)
                    .await
                    .unwrap()
                    .iter()
                    .map(|(_, n)| n.id)
                    .collect();
                assert_eq!(got, [m, s]);

                // Two mailers: each notification is claimed by one.
                assert_eq!(a.claim_mail(&[m], NOW).await.unwrap(), [m]);
                assert!(a.claim_mail(&[m], NOW).await.unwrap().is_empty());
                let got: Vec<_> = a
                    .unmailed(0, NOW, 50)
                    .await
                    .unwrap()
                    .iter()
                    .map(|(_, n)| n.id)
                    .collect();
                assert_eq!(got, [s]);
                // A failed send gives its claim back; read in the app, it is not mailed.
                a.unclaim_mail(&[m]).await.unwrap();
                assert_eq!(a.unmailed(0, NOW, 50).await.unwrap().len(), 2);
                a.mark_read(bob, Some(s), NOW).await.unwrap();
                let got: Vec<_> = a
                    .unmailed(0, NOW, 50)
                    .await
                    .unwrap()
                    .iter()
                    .map(|(_, n)| n.id)
                    .collect();
                assert_eq!(got, [m]);
                a.set_email_optout(bob, Kind::Reply, false).await.unwrap();
                assert!(a.email_optouts(bob).await.unwrap().is_empty());
            }

            #[tokio::test]
            async fn people_one_may_mention() {
                let (store, a, _g) = $make;
                let ann = user(&a, "ann@x.org", "Ann Lee").await;
                let bob = user(&a, "bob@x.org", "Bob 100%_real").await;
                let cy = user(&a, "cy@x.org", "Cy").await;
                let stranger = user(&a, "st@x.org", "Stan").await;
                let guest = user(&a, "guest-9@guest.invalid", "Guest Ant").await;
                for (id, title) in [("d", "Plans"), ("other", "Other"), ("far", "Far")] {
                    store.create_doc(id, title).await.unwrap();
                }
                a.grant("d", ann, Role::Owner).await.unwrap();
                a.grant("d", bob, Role::Commenter).await.unwrap();
                a.grant("d", guest, Role::Viewer).await.unwrap();
                // Cy shares another document with Ann: Ann may mention (and share with) Cy.
                a.grant("other", cy, Role::Owner).await.unwrap();
                a.grant("other", ann, Role::Viewer).await.unwrap();
                a.grant("far", stranger, Role::Owner).await.unwrap();

                let q = |text: &str, only| PeopleQuery {
                    text: text.into(),
                    only,
                    limit: 10,
                };
                let people = a.people("d", ann, NOW, &q("", None)).await.unwrap();
                let got: Vec<_> = people.iter().map(|p| (p.id, p.role)).collect();
                assert_eq!(
                    got,
                    [
                        (ann, Some(Role::Owner)),
                        (bob, Some(Role::Commenter)),
                        (cy, None)
                    ]
                );
                assert_eq!(people[1].name, "Bob 100%_real");
                // By name, any case; LIKE's wildcards are only characters.
                let names = |p: Vec<Person>| p.into_iter().map(|p| p.name).collect::<Vec<_>>();
                assert_eq!(
                    names(a.people("d", ann, NOW, &q("LEE", None)).await.unwrap()),
                    ["Ann Lee"]
                );
                assert_eq!(
                    names(a.people("d", ann, NOW, &q("0%_", None)).await.unwrap()),
                    ["Bob 100%_real"]
                );
                assert!(a
                    .people("d", ann, NOW, &q("_%", None))
                    .await
                    .unwrap()
                    .is_empty());
                // One account: the server's mention check.
                assert_eq!(
                    a.people("d", ann, NOW, &q("", Some(cy)))
                        .await
                        .unwrap()
                        .len(),
                    1
                );
                assert!(a
                    .people("d", ann, NOW, &q("", Some(stranger)))
                    .await
                    .unwrap()
                    .is_empty());
                assert!(a
                    .people("d", ann, NOW, &q("", Some(guest)))
                    .await
                    .unwrap()
                    .is_empty());
                // Bob sees the document's people, not Ann's other circles.
                let got: Vec<_> = a
                    .people("d", bob, NOW, &q("", None))
                    .await
                    .unwrap()
                    .iter()
                    .map(|p| p.id)
                    .collect();
                assert_eq!(got, [ann, bob]);
                // Someone who cannot read the document mentions nobody in it.
                assert!(a
                    .people("d", stranger, NOW, &q("", None))
                    .await
                    .unwrap()
                    .is_empty());
            }
        }
    };
}
