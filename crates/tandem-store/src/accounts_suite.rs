//! The behaviour suite every [`Accounts`](crate::Accounts) backend passes: `accounts_suite!(expr)`
//! expands to tests, where `expr` (awaited if async) yields `(store, guard)`.

#[macro_export]
macro_rules! accounts_suite {
    ($make:expr) => {
        #[allow(unused_imports)]
        use tandem_core::store::now_millis;
        #[allow(unused_imports)]
        use $crate::accounts::*;

        fn new_user(email: &str) -> NewUser {
            NewUser {
                email: email.into(),
                name: email.into(),
                password_hash: "h".into(),
            }
        }

        #[tokio::test]
        async fn first_user_is_admin_and_emails_are_unique() {
            let (a, _d) = $make;
            let u1 = a.create_user(new_user("a@x.org")).await.unwrap();
            let u2 = a.create_user(new_user("b@x.org")).await.unwrap();
            assert!(u1.is_admin && !u2.is_admin);
            assert!(matches!(
                a.create_user(new_user("A@X.org")).await,
                Err(AccountError::EmailTaken)
            ));
        }

        #[tokio::test]
        async fn refresh_rotation_and_reuse_revokes_the_family() {
            let (a, _d) = $make;
            let u = a.create_user(new_user("a@x.org")).await.unwrap();
            a.create_session(NewSession {
                id: "s1".into(),
                user_id: u.id,
                refresh_hash: "r0".into(),
                expires_at: i64::MAX,
            })
            .await
            .unwrap();
            let now = now_millis();
            assert!(matches!(
                a.rotate_refresh("r0", "r1", now).await.unwrap(),
                Rotation::Rotated { .. }
            ));
            assert!(matches!(
                a.rotate_refresh("r1", "r2", now).await.unwrap(),
                Rotation::Rotated { .. }
            ));
            // r0 again: reuse; the family is revoked, so even the current r2 stops working.
            assert!(matches!(
                a.rotate_refresh("r0", "r9", now).await.unwrap(),
                Rotation::Reused { .. }
            ));
            assert_eq!(
                a.rotate_refresh("r2", "r3", now).await.unwrap(),
                Rotation::Invalid
            );
            assert!(a.session_user("s1", now).await.unwrap().is_none());
        }

        #[tokio::test]
        async fn roles_from_grants_and_live_links() {
            let (a, _d) = $make;
            let u = a.create_user(new_user("a@x.org")).await.unwrap();
            let now = now_millis();
            assert_eq!(a.role_of("d", u.id, now).await.unwrap(), None);
            a.grant("d", u.id, Role::Viewer).await.unwrap();
            assert_eq!(a.role_of("d", u.id, now).await.unwrap(), Some(Role::Viewer));
            let link = ShareLink {
                id: "l1".into(),
                doc: "d".into(),
                role: Role::Editor,
                expires_at: Some(now + 1000),
                revoked: false,
                created_at: now,
                public: false,
            };
            a.create_link(&link, "th", u.id).await.unwrap();
            assert_eq!(a.link_access_until("d", u.id, now).await.unwrap(), None);
            assert!(a.redeem_link("th", u.id, now).await.unwrap().is_some());
            assert_eq!(a.role_of("d", u.id, now).await.unwrap(), Some(Role::Editor));
            assert_eq!(
                a.link_access_until("d", u.id, now).await.unwrap(),
                Some(now + 1000)
            );
            assert_eq!(
                a.link_access_until("d", u.id, now + 1000).await.unwrap(),
                None
            );
            // Listed once, with the higher role, as coming from the link.
            let shares = a.shares("d").await.unwrap();
            assert_eq!(shares.len(), 1);
            assert_eq!(shares[0].role, Role::Editor);
            assert_eq!(shares[0].via_link.as_deref(), Some("l1"));
            // After expiry the link no longer counts; the direct grant remains.
            assert_eq!(
                a.role_of("d", u.id, now + 2000).await.unwrap(),
                Some(Role::Viewer)
            );
            assert!(a
                .redeem_link("th", u.id, now + 2000)
                .await
                .unwrap()
                .is_none());
            a.revoke_link("d", "l1").await.unwrap();
            assert_eq!(a.role_of("d", u.id, now).await.unwrap(), Some(Role::Viewer));
            assert!(a.revoke("d", u.id).await.unwrap());
            assert_eq!(a.role_of("d", u.id, now).await.unwrap(), None);
        }

        #[tokio::test]
        async fn editors_may_share_only_when_owners_say_so() {
            let (a, _d) = $make;
            assert!(!a.editors_can_share("d").await.unwrap());
            a.set_editors_can_share("d", true).await.unwrap();
            assert!(a.editors_can_share("d").await.unwrap());
            assert!(!a.editors_can_share("e").await.unwrap());
            a.set_editors_can_share("d", false).await.unwrap();
            assert!(!a.editors_can_share("d").await.unwrap());
            a.set_editors_can_share("d", true).await.unwrap();
            a.forget_doc("d").await.unwrap();
            assert!(!a.editors_can_share("d").await.unwrap());
        }

        #[tokio::test]
        async fn invitations_become_grants_at_sign_up() {
            let (a, _d) = $make;
            let owner = a.create_user(new_user("o@x.org")).await.unwrap();
            a.invite("d", "new@x.org", Role::Viewer, owner.id, 1)
                .await
                .unwrap();
            a.invite("d", "new@x.org", Role::Editor, owner.id, 2)
                .await
                .unwrap();
            a.invite("e", "new@x.org", Role::Commenter, owner.id, 3)
                .await
                .unwrap();
            a.invite("d", "gone@x.org", Role::Viewer, owner.id, 4)
                .await
                .unwrap();
            assert_eq!(
                a.invitations("d").await.unwrap(),
                vec![
                    ("new@x.org".to_string(), Role::Editor, 1),
                    ("gone@x.org".to_string(), Role::Viewer, 4)
                ]
            );
            assert!(a.cancel_invitation("d", "gone@x.org").await.unwrap());
            assert!(!a.cancel_invitation("d", "gone@x.org").await.unwrap());
            let u = a.create_user(new_user("new@x.org")).await.unwrap();
            let mut docs = a.claim_invitations("new@x.org", u.id).await.unwrap();
            docs.sort();
            assert_eq!(docs, vec!["d", "e"]);
            let now = now_millis();
            assert_eq!(a.role_of("d", u.id, now).await.unwrap(), Some(Role::Editor));
            assert_eq!(
                a.role_of("e", u.id, now).await.unwrap(),
                Some(Role::Commenter)
            );
            assert!(a.invitations("d").await.unwrap().is_empty());
            assert!(a
                .claim_invitations("new@x.org", u.id)
                .await
                .unwrap()
                .is_empty());
        }

        #[tokio::test]
        async fn access_requests_are_kept_once_and_go_with_the_document() {
            let (a, _d) = $make;
            let u = a.create_user(new_user("r@x.org")).await.unwrap();
            a.request_access("d", u.id, 1).await.unwrap();
            a.request_access("d", u.id, 5).await.unwrap();
            a.request_access("e", u.id, 2).await.unwrap();
            let reqs = a.access_requests("d").await.unwrap();
            assert_eq!(reqs.len(), 1);
            assert_eq!((reqs[0].0.id, reqs[0].1), (u.id, 5));
            assert!(a.drop_access_request("d", u.id).await.unwrap());
            assert!(!a.drop_access_request("d", u.id).await.unwrap());
            a.forget_doc("e").await.unwrap();
            assert!(a.access_requests("e").await.unwrap().is_empty());
        }

        #[tokio::test]
        async fn people_who_joined_by_link_are_listed_and_removable() {
            let (a, _d) = $make;
            let owner = a.create_user(new_user("o@x.org")).await.unwrap();
            let u = a.create_user(new_user("l@x.org")).await.unwrap();
            let now = now_millis();
            let link = ShareLink {
                id: "l2".into(),
                doc: "d".into(),
                role: Role::Commenter,
                expires_at: None,
                revoked: false,
                created_at: now,
                public: true,
            };
            a.create_link(&link, "th2", owner.id).await.unwrap();
            let (seen, by) = a.link_preview("th2", now).await.unwrap().unwrap();
            assert_eq!(
                (seen.id.as_str(), seen.role, by.id, seen.public),
                ("l2", Role::Commenter, owner.id, true)
            );
            assert!(a.links("d").await.unwrap()[0].public);
            assert!(a.link_preview("nope", now).await.unwrap().is_none());
            a.redeem_link("th2", u.id, now).await.unwrap().unwrap();
            let shares = a.shares("d").await.unwrap();
            assert_eq!(shares.len(), 1);
            assert_eq!((shares[0].user.id, shares[0].role), (u.id, Role::Commenter));
            assert!(
                a.revoke("d", u.id).await.unwrap(),
                "a link member is removable"
            );
            assert_eq!(a.role_of("d", u.id, now).await.unwrap(), None);
            assert!(a.shares("d").await.unwrap().is_empty());
            assert!(!a.revoke("d", u.id).await.unwrap());
        }
    };
}

/// The home's views over a user's documents, for every backend: `home_suite!(expr)` where
/// `expr` (awaited if async) yields `(store, accounts, guard)`.
#[macro_export]
macro_rules! home_suite {
    ($make:expr) => {
        mod home {
            #[allow(unused_imports)]
            use tandem_core::store::{Catalogue, OpLog};
            #[allow(unused_imports)]
            use $crate::accounts::*;

            fn q(view: DocView, sort: DocSort) -> DocQuery {
                DocQuery {
                    view,
                    sort,
                    limit: 100,
                    offset: 0,
                }
            }

            async fn ids(a: &impl Sharing, user: i64, q: DocQuery) -> Vec<String> {
                let rows = a.docs_for(user, i64::MAX / 2, &q).await.unwrap();
                rows.into_iter().map(|d| d.info.id).collect()
            }

            #[tokio::test]
            async fn views_sorts_stars_and_pages() {
                let (store, a, _g) = $make;
                let new_user = |e: &str| NewUser {
                    email: e.into(),
                    name: e.into(),
                    password_hash: "h".into(),
                };
                let me = a.create_user(new_user("me@x.org")).await.unwrap().id;
                let other = a.create_user(new_user("o@x.org")).await.unwrap().id;
                // Made in this order (created_at rises), titled out of order; one untitled.
                for (id, title) in [
                    ("d1", "banana"),
                    ("d2", "Apple"),
                    ("d3", ""),
                    ("d4", "cherry"),
                ] {
                    store.create_doc(id, title).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
                }
                a.grant("d1", me, Role::Owner).await.unwrap();
                a.grant("d2", me, Role::Owner).await.unwrap();
                a.grant("d3", other, Role::Owner).await.unwrap();
                a.grant("d3", me, Role::Editor).await.unwrap();
                a.grant("d4", other, Role::Owner).await.unwrap();
                a.grant("d4", me, Role::Viewer).await.unwrap();

                let all = |s| q(DocView::All, s);
                assert_eq!(
                    ids(&a, me, all(DocSort::Name)).await,
                    ["d2", "d1", "d4", "d3"]
                );
                assert_eq!(
                    ids(&a, me, all(DocSort::Created)).await,
                    ["d4", "d3", "d2", "d1"]
                );
                assert_eq!(
                    ids(&a, me, q(DocView::Owned, DocSort::Name)).await,
                    ["d2", "d1"]
                );
                assert_eq!(
                    ids(&a, me, q(DocView::Shared, DocSort::Name)).await,
                    ["d4", "d3"]
                );
                assert_eq!(
                    ids(&a, other, q(DocView::Shared, DocSort::Name))
                        .await
                        .len(),
                    0
                );

                // Stars are one user's own.
                a.set_starred("d4", me, true, 1).await.unwrap();
                a.set_starred("d4", me, true, 2).await.unwrap();
                a.set_starred("d1", me, true, 3).await.unwrap();
                assert_eq!(
                    ids(&a, me, q(DocView::Starred, DocSort::Name)).await,
                    ["d1", "d4"]
                );
                assert!(ids(&a, other, q(DocView::Starred, DocSort::Name))
                    .await
                    .is_empty());
                a.set_starred("d1", me, false, 4).await.unwrap();
                let rows = a.docs_for(me, 0, &all(DocSort::Name)).await.unwrap();
                let starred: Vec<_> = rows
                    .iter()
                    .filter(|d| d.starred)
                    .map(|d| d.info.id.as_str())
                    .collect();
                assert_eq!(starred, ["d4"]);
                assert_eq!(
                    rows.iter().find(|d| d.info.id == "d4").unwrap().role,
                    Role::Viewer
                );

                // Recent: what was opened, last opened first, whatever the sort.
                a.note_opened("d2", me, 10).await.unwrap();
                a.note_opened("d3", me, 20).await.unwrap();
                a.note_opened("d2", me, 30).await.unwrap();
                assert_eq!(
                    ids(&a, me, q(DocView::Recent, DocSort::Name)).await,
                    ["d2", "d3"]
                );

                // Pages follow one another; a revoked document leaves every view.
                let mut page = all(DocSort::Name);
                page.limit = 3;
                assert_eq!(ids(&a, me, page).await, ["d2", "d1", "d4"]);
                page.offset = 3;
                assert_eq!(ids(&a, me, page).await, ["d3"]);
                a.revoke("d4", me).await.unwrap();
                assert!(ids(&a, me, q(DocView::Starred, DocSort::Name))
                    .await
                    .is_empty());
                // A forgotten (deleted) document takes its stars and opens with it.
                a.forget_doc("d2").await.unwrap();
                assert_eq!(ids(&a, me, q(DocView::Recent, DocSort::Name)).await, ["d3"]);
            }
        }
    };
}
