//! The behaviour every [`ApiTokens`](crate::tokens::ApiTokens) backend must show:
//! `tokens_suite!(expr)` where `expr` (awaited if async) yields `(store, accounts, guard)`.

#[macro_export]
macro_rules! tokens_suite {
    ($make:expr) => {
        mod tokens {
            #[allow(unused_imports)]
            use $crate::accounts::*;
            #[allow(unused_imports)]
            use $crate::tokens::*;

            async fn user(a: &(impl Users + ?Sized), email: &str) -> User {
                let u = NewUser {
                    email: email.into(),
                    name: email.split('@').next().unwrap().into(),
                    password_hash: "h".into(),
                };
                a.create_user(u).await.unwrap()
            }

            fn new(id: &str, user_id: i64, scopes: &[Scope], expires_at: Option<i64>) -> NewToken {
                NewToken {
                    id: id.into(),
                    user_id,
                    name: format!("token {id}"),
                    hash: format!("hash-{id}"),
                    scopes: scopes.to_vec(),
                    at: 100,
                    expires_at,
                }
            }

            #[tokio::test]
            async fn found_by_hash_while_live_and_gone_once_revoked() {
                let (_store, a, _g) = $make;
                let ann = user(&a, "ann@x.org").await;
                a.create_token(&new("t1", ann.id, &[Scope::Read, Scope::Write], None))
                    .await
                    .unwrap();
                let (t, u) = a.token_user("hash-t1", 1_000).await.unwrap().unwrap();
                assert_eq!((t.id.as_str(), u.id), ("t1", ann.id));
                assert_eq!(t.scopes, vec![Scope::Read, Scope::Write]);
                assert_eq!(t.user_name, "ann");
                assert!(a.token_user("hash-other", 1_000).await.unwrap().is_none());
                // Its use is noted, at most once a minute.
                assert_eq!(
                    a.token("t1").await.unwrap().unwrap().last_used_at,
                    Some(1_000)
                );
                a.token_user("hash-t1", 2_000).await.unwrap();
                assert_eq!(
                    a.token("t1").await.unwrap().unwrap().last_used_at,
                    Some(1_000)
                );
                a.token_user("hash-t1", 1_000 + TOUCH_EVERY_MS)
                    .await
                    .unwrap();
                assert_eq!(
                    a.token("t1").await.unwrap().unwrap().last_used_at,
                    Some(1_000 + TOUCH_EVERY_MS)
                );
                assert!(a.revoke_token("t1").await.unwrap());
                assert!(!a.revoke_token("t1").await.unwrap());
                assert!(a.token_user("hash-t1", 1_000).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn expired_tokens_and_disabled_accounts_are_refused() {
                let (_store, a, _g) = $make;
                let ann = user(&a, "ann@x.org").await;
                a.create_token(&new("soon", ann.id, &[Scope::Read], Some(5_000)))
                    .await
                    .unwrap();
                assert!(a.token_user("hash-soon", 4_999).await.unwrap().is_some());
                assert!(a.token_user("hash-soon", 5_000).await.unwrap().is_none());
                a.create_token(&new("t", ann.id, &[Scope::Read], None))
                    .await
                    .unwrap();
                a.set_disabled(ann.id, true).await.unwrap();
                assert!(a.token_user("hash-t", 1).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn listed_per_account_and_for_service_accounts() {
                let (_store, a, _g) = $make;
                let ann = user(&a, "ann@x.org").await;
                let bot = user(&a, "indexer@service.invalid").await;
                a.create_token(&new("a1", ann.id, &[Scope::Read], None))
                    .await
                    .unwrap();
                a.create_token(&new("b1", bot.id, &[Scope::Read], None))
                    .await
                    .unwrap();
                let mine: Vec<_> = a
                    .tokens_of(ann.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| t.id)
                    .collect();
                assert_eq!(mine, ["a1"]);
                let bots: Vec<_> = a
                    .service_tokens("@service.invalid")
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| (t.id, t.user_name))
                    .collect();
                assert_eq!(bots, [("b1".to_string(), "indexer".to_string())]);
            }
        }
    };
}
