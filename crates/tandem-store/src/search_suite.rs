//! The behaviour suite every [`Search`](crate::search::Search) backend passes:
//! `search_suite!(expr)` expands to tests, where `expr` (awaited if async) yields
//! `(index, store, accounts, guard)`: the index, the document store it follows and the accounts
//! that hold the roles.

#[macro_export]
macro_rules! search_suite {
    ($make:expr) => {
        #[allow(unused_imports)]
        use bytes::Bytes;
        #[allow(unused_imports)]
        use tandem_core::store::{now_millis, Append, Catalogue, Comment, Comments, OpLog};
        #[allow(unused_imports)]
        use $crate::accounts::{NewUser, Role, Sharing, Users};
        #[allow(unused_imports)]
        use $crate::search::*;

        fn entry(doc: &str, rev: u64, title: &str, body: &str) -> IndexEntry {
            IndexEntry {
                doc: doc.into(),
                rev,
                title: title.into(),
                body: body.into(),
                comments: String::new(),
                read_at: now_millis(),
            }
        }

        fn query(q: &str, reader: Reader) -> SearchQuery {
            SearchQuery {
                terms: Terms::parse(q),
                reader,
                now: now_millis(),
                limit: 50,
                offset: 0,
            }
        }

        async fn found(s: &impl Search, q: &str, reader: Reader) -> Vec<String> {
            let hits = s.search(&query(q, reader)).await.unwrap();
            hits.into_iter().map(|h| h.doc).collect()
        }

        async fn user(a: &impl Users, email: &str) -> i64 {
            let u = NewUser {
                email: email.into(),
                name: email.into(),
                password_hash: "h".into(),
            };
            a.create_user(u).await.unwrap().id
        }

        #[tokio::test]
        async fn words_match_as_prefixes_in_titles_text_and_comments() {
            let (s, store, _a, _g) = $make;
            for d in ["t", "b", "c", "none"] {
                store.create_doc(d, "").await.unwrap();
            }
            s.put(entry("t", 0, "Quarterly planning", ""))
                .await
                .unwrap();
            s.put(entry("b", 0, "", "we talked about quarterly numbers"))
                .await
                .unwrap();
            let mut c = entry("c", 0, "", "");
            c.comments = "is this quarterly?".into();
            s.put(c).await.unwrap();
            s.put(entry("none", 0, "Weekly", "nothing here"))
                .await
                .unwrap();
            // A title match ranks first; every column is searched; a prefix is enough.
            let hits = found(&s, "quar", Reader::Anyone).await;
            assert_eq!(hits.len(), 3, "{hits:?}");
            assert_eq!(hits[0], "t");
            assert!(hits.contains(&"b".to_string()) && hits.contains(&"c".to_string()));
            // Every word must match.
            assert_eq!(found(&s, "quarterly numb", Reader::Anyone).await, ["b"]);
            assert!(found(&s, "quarterly zebra", Reader::Anyone)
                .await
                .is_empty());
            // Case and (on SQLite) accents do not matter.
            assert_eq!(found(&s, "WEEKLY", Reader::Anyone).await, ["none"]);
        }

        #[tokio::test]
        async fn only_documents_the_reader_may_open_are_found() {
            let (s, store, a, _g) = $make;
            let (u1, u2) = (user(&a, "a@x.org").await, user(&a, "b@x.org").await);
            // Thirty matching documents the reader may not open, then one they may: the filter
            // is inside the query, so a limit of five still finds theirs.
            for i in 0..30 {
                let d = format!("other{i:02}");
                store.create_doc(&d, "").await.unwrap();
                s.put(entry(&d, 0, "secret plans", "secret")).await.unwrap();
                a.grant(&d, u2, Role::Owner).await.unwrap();
            }
            store.create_doc("mine", "").await.unwrap();
            s.put(entry("mine", 0, "", "secret, but mine"))
                .await
                .unwrap();
            a.grant("mine", u1, Role::Viewer).await.unwrap();
            let mut q = query("secret", Reader::User(u1));
            q.limit = 5;
            let hits = s.search(&q).await.unwrap();
            assert_eq!(hits.len(), 1);
            assert_eq!(hits[0].doc, "mine");
            assert_eq!(found(&s, "secret", Reader::User(u2)).await.len(), 30);
            assert_eq!(found(&s, "secret", Reader::Anyone).await.len(), 31);
            // Shared, then unshared: found, then gone at once.
            a.grant("other07", u1, Role::Commenter).await.unwrap();
            assert_eq!(found(&s, "plans", Reader::User(u1)).await, ["other07"]);
            a.revoke("other07", u1).await.unwrap();
            assert!(found(&s, "plans", Reader::User(u1)).await.is_empty());
            // Nobody with no role finds anything.
            let u3 = user(&a, "c@x.org").await;
            assert!(found(&s, "secret", Reader::User(u3)).await.is_empty());
        }

        #[tokio::test]
        async fn snippets_escape_the_text_and_mark_the_match() {
            let (s, store, _a, _g) = $make;
            store.create_doc("x", "A title").await.unwrap();
            let body = "before <script>alert(1)</script> the needle & \"more\" after";
            s.put(entry("x", 0, "Old title", body)).await.unwrap();
            let hits = s.search(&query("needle", Reader::Anyone)).await.unwrap();
            assert_eq!(hits.len(), 1);
            let snip = &hits[0].snippet;
            assert!(snip.contains("<mark>needle</mark>"), "{snip}");
            assert!(!snip.contains("<script>"), "{snip}");
            assert!(
                snip.contains("&lt;script&gt;") || !snip.contains("script"),
                "{snip}"
            );
            // The title shown is the document's own now, whatever the index was built with.
            assert_eq!(hits[0].title, "A title");
        }

        #[tokio::test]
        async fn hostile_queries_answer_results_or_nothing() {
            let (s, store, _a, _g) = $make;
            store.create_doc("x", "").await.unwrap();
            s.put(entry("x", 0, "", "ordinary words 日本語のテキスト"))
                .await
                .unwrap();
            let long = "ab".repeat(50_000);
            for q in [
                "\"",
                "'",
                "*",
                "ord*",
                "NEAR(ordinary words)",
                "ordinary OR x",
                "-ordinary",
                "a:* & b",
                "!!",
                "\\",
                "%_",
                "); DROP TABLE search_docs; --",
                long.as_str(),
                "\u{0}",
                "ordinary\u{E000}words",
            ] {
                s.search(&query(q, Reader::Anyone)).await.unwrap();
            }
            assert_eq!(found(&s, "ord*", Reader::Anyone).await, ["x"]);
            assert_eq!(found(&s, "\"ordinary\"", Reader::Anyone).await, ["x"]);
            assert_eq!(found(&s, "日本語のテキスト", Reader::Anyone).await, ["x"]);
            assert!(found(&s, "", Reader::Anyone).await.is_empty());
        }

        #[tokio::test]
        async fn a_later_revision_is_never_replaced_by_an_earlier_one() {
            let (s, store, _a, _g) = $make;
            store.create_doc("x", "").await.unwrap();
            s.put(entry("x", 2, "", "newer text")).await.unwrap();
            s.put(entry("x", 1, "", "older text")).await.unwrap();
            assert_eq!(found(&s, "newer", Reader::Anyone).await, ["x"]);
            assert!(found(&s, "older", Reader::Anyone).await.is_empty());
            // The same revision again (a comment or a title changed) replaces it.
            s.put(entry("x", 2, "", "same revision")).await.unwrap();
            assert_eq!(found(&s, "same", Reader::Anyone).await, ["x"]);
        }

        #[tokio::test]
        async fn behind_lists_what_changed_since_it_was_indexed() {
            let (s, store, _a, _g) = $make;
            for d in ["fresh", "edited", "renamed", "commented", "current"] {
                store.create_doc(d, "").await.unwrap();
            }
            for d in ["edited", "renamed", "commented", "current"] {
                s.put(entry(d, 0, "", "text")).await.unwrap();
            }
            let mut behind = s.behind(100).await.unwrap();
            behind.sort();
            assert_eq!(behind, ["fresh"]);
            let ap = Append {
                doc: "edited".into(),
                rev: 1,
                data: Bytes::from_static(b"u"),
                author: None,
            };
            store.append(&[ap]).await.unwrap();
            store.set_title("renamed", "New name").await.unwrap();
            store
                .add_comment(&Comment {
                    id: "c1".into(),
                    doc: "commented".into(),
                    thread: "c1".into(),
                    author: None,
                    body: "a remark".into(),
                    anchor: String::new(),
                    quote: String::new(),
                    created_at: now_millis() + 1,
                    resolved_at: None,
                })
                .await
                .unwrap();
            let mut behind = s.behind(100).await.unwrap();
            behind.sort();
            assert_eq!(behind, ["commented", "edited", "fresh", "renamed"]);
            assert_eq!(s.behind(2).await.unwrap().len(), 2);
            // Indexed again as they are now: nothing left behind but the fresh one.
            let later = now_millis() + 2;
            for (d, rev, title) in [
                ("edited", 1, ""),
                ("renamed", 0, "New name"),
                ("commented", 0, ""),
            ] {
                let mut e = entry(d, rev, title, "text");
                e.read_at = later;
                s.put(e).await.unwrap();
            }
            assert_eq!(s.behind(100).await.unwrap(), ["fresh"]);
        }

        #[tokio::test]
        async fn removed_and_deleted_documents_are_not_found() {
            let (s, store, _a, _g) = $make;
            for d in ["gone", "deleted", "kept"] {
                store.create_doc(d, "").await.unwrap();
                s.put(entry(d, 0, "", "findable")).await.unwrap();
            }
            s.remove("gone").await.unwrap();
            store.delete_doc("deleted").await.unwrap();
            assert_eq!(found(&s, "findable", Reader::Anyone).await, ["kept"]);
        }

        #[tokio::test]
        async fn pages_follow_one_another_without_overlap() {
            let (s, store, _a, _g) = $make;
            for i in 0..25 {
                let d = format!("d{i:02}");
                store.create_doc(&d, "").await.unwrap();
                s.put(entry(&d, 0, "", "page me")).await.unwrap();
            }
            let mut seen = Vec::new();
            for offset in [0, 10, 20] {
                let mut q = query("page", Reader::Anyone);
                q.limit = 10;
                q.offset = offset;
                seen.extend(s.search(&q).await.unwrap().into_iter().map(|h| h.doc));
            }
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 25);
        }

        #[tokio::test]
        async fn clear_empties_the_index_and_size_counts_it() {
            let (s, store, _a, _g) = $make;
            store.create_doc("x", "").await.unwrap();
            s.put(entry("x", 0, "", &"word ".repeat(2000)))
                .await
                .unwrap();
            assert!(s.size().await.unwrap() > 0);
            s.clear().await.unwrap();
            assert!(found(&s, "word", Reader::Anyone).await.is_empty());
            assert_eq!(s.behind(10).await.unwrap(), ["x"]);
        }
    };
}
