//! The behaviour suite every [`DocStore`](crate::store::DocStore) must pass. Each backend's tests
//! invoke [`store_suite!`](crate::store_suite) with an expression that builds a fresh store, so
//! one set of assertions defends every implementation.

use bytes::Bytes;

use crate::store::{Append, AppendStatus, DocStore};

fn ap(doc: &str, rev: u64, data: &[u8]) -> Append {
    Append {
        doc: doc.into(),
        rev,
        data: Bytes::copy_from_slice(data),
        author: Some(format!("user:{rev}").into()),
    }
}

/// Creates each document (appends never do).
async fn create(store: &dyn DocStore, docs: &[&str]) {
    for d in docs {
        store.create_doc(d, "").await.unwrap();
    }
}

pub async fn appends_in_order_and_loads(store: &dyn DocStore) {
    create(store, &["a", "b"]).await;
    let st = store
        .append(&[ap("a", 1, b"x"), ap("b", 1, b"y"), ap("a", 2, b"z")])
        .await
        .unwrap();
    assert_eq!(st, vec![AppendStatus::Ok; 3]);
    let a = store.load("a").await.unwrap();
    assert!(a.snapshot.is_none());
    assert_eq!(
        a.updates,
        vec![(1, Bytes::from_static(b"x")), (2, Bytes::from_static(b"z"))]
    );
    assert_eq!(store.doc_info("a").await.unwrap().unwrap().head_rev, 2);
    assert_eq!(store.doc_info("b").await.unwrap().unwrap().head_rev, 1);
    let mut heads = store
        .heads(&["b".into(), "nope".into(), "a".into()])
        .await
        .unwrap();
    heads.sort();
    assert_eq!(heads, vec![("a".into(), 2), ("b".into(), 1)]);
    assert!(store.doc_info("nope").await.unwrap().is_none());
    assert_eq!(store.load("nope").await.unwrap().head(), 0);
}

pub async fn refuses_taken_or_gapped_revisions(store: &dyn DocStore) {
    create(store, &["d", "e"]).await;
    store.append(&[ap("d", 1, b"one")]).await.unwrap();
    // Revision 1 is taken, 3 would leave a gap; the valid entry in the same batch still lands.
    let st = store
        .append(&[ap("d", 1, b"fork"), ap("d", 3, b"gap"), ap("e", 1, b"ok")])
        .await
        .unwrap();
    assert_eq!(
        st,
        vec![
            AppendStatus::Conflict,
            AppendStatus::Conflict,
            AppendStatus::Ok
        ]
    );
    let d = store.load("d").await.unwrap();
    assert_eq!(d.updates, vec![(1, Bytes::from_static(b"one"))]);
    // Each entry must be exactly the next revision at its turn, so a run after a gap fails whole.
    let st = store
        .append(&[ap("d", 5, b"x"), ap("d", 6, b"y")])
        .await
        .unwrap();
    assert_eq!(st, vec![AppendStatus::Conflict, AppendStatus::Conflict]);
    assert_eq!(store.doc_info("d").await.unwrap().unwrap().head_rev, 1);
}

pub async fn snapshot_then_replay(store: &dyn DocStore) {
    create(store, &["s"]).await;
    for rev in 1..=5u64 {
        store.append(&[ap("s", rev, &[rev as u8])]).await.unwrap();
    }
    store
        .put_snapshot("s", 3, Bytes::from_static(b"snap3"))
        .await
        .unwrap();
    store
        .put_snapshot("s", 3, Bytes::from_static(b"snap3"))
        .await
        .unwrap(); // idempotent
    let l = store.load("s").await.unwrap();
    assert_eq!(l.snapshot, Some((3, Bytes::from_static(b"snap3"))));
    assert_eq!(
        l.updates.iter().map(|u| u.0).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(l.head(), 5);
    assert_eq!(store.updates_since("s", 1).await.unwrap().len(), 4);
}

pub async fn snapshot_never_ahead_of_log(store: &dyn DocStore) {
    create(store, &["h"]).await;
    store.append(&[ap("h", 1, b"x")]).await.unwrap();
    assert!(store
        .put_snapshot("h", 2, Bytes::from_static(b"ahead"))
        .await
        .is_err());
    assert!(store.load("h").await.unwrap().snapshot.is_none());
}

pub async fn empty_batch_and_ping(store: &dyn DocStore) {
    assert!(store.append(&[]).await.unwrap().is_empty());
    store.ping().await.unwrap();
}

pub async fn documents_create_list_rename_delete(store: &dyn DocStore) {
    let a = store.create_doc("one", "First").await.unwrap();
    assert_eq!((a.title.as_str(), a.head_rev), ("First", 0));
    // Creating again keeps what is there.
    assert_eq!(
        store.create_doc("one", "Other").await.unwrap().title,
        "First"
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.create_doc("two", "").await.unwrap();
    store.append(&[ap("two", 1, b"x")]).await.unwrap();
    let list = store.list_docs(10).await.unwrap();
    assert_eq!(
        list.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        vec!["two", "one"],
        "newest first"
    );
    assert_eq!(list[0].head_rev, 1);
    assert_eq!(store.list_docs(1).await.unwrap().len(), 1);
    assert!(store.set_title("one", "Renamed").await.unwrap());
    assert!(!store.set_title("nope", "x").await.unwrap());
    assert_eq!(
        store.doc_info("one").await.unwrap().unwrap().title,
        "Renamed"
    );
    assert!(store.delete_doc("two").await.unwrap());
    assert!(!store.delete_doc("two").await.unwrap());
    assert!(store.doc_info("two").await.unwrap().is_none());
    assert!(
        store.load("two").await.unwrap().updates.is_empty(),
        "the log goes with the document"
    );
    // A writer that missed the deletion cannot bring the document back (nor create one).
    assert_eq!(
        store
            .append(&[
                ap("two", 2, b"late"),
                ap("two", 1, b"new"),
                ap("never", 1, b"x")
            ])
            .await
            .unwrap(),
        vec![AppendStatus::Missing; 3]
    );
    assert!(store.doc_info("two").await.unwrap().is_none());
    assert!(store.doc_info("never").await.unwrap().is_none());
    assert!(store.load("two").await.unwrap().updates.is_empty());
    // Created again, the name starts from revision 1; a batch mixing both answers each entry.
    store.create_doc("two", "").await.unwrap();
    assert_eq!(
        store
            .append(&[ap("two", 1, b"new"), ap("never", 1, b"x")])
            .await
            .unwrap(),
        vec![AppendStatus::Ok, AppendStatus::Missing]
    );
}

/// `ensure_doc` says whether it made the document: the room skips the load of one it made.
pub async fn ensure_doc_says_whether_it_made_the_document(store: &dyn DocStore) {
    assert!(store.ensure_doc("new").await.unwrap(), "made now");
    assert!(!store.ensure_doc("new").await.unwrap(), "already there");
    store.append(&[ap("new", 1, b"x")]).await.unwrap();
    assert!(!store.ensure_doc("new").await.unwrap(), "written to");
    assert_eq!(store.load("new").await.unwrap().head(), 1, "kept");
    store.create_doc("titled", "T").await.unwrap();
    assert!(
        !store.ensure_doc("titled").await.unwrap(),
        "created by the API"
    );
    assert!(store.delete_doc("new").await.unwrap());
    assert!(
        store.ensure_doc("new").await.unwrap(),
        "made again after deletion"
    );
    assert_eq!(store.load("new").await.unwrap().head(), 0);
}

pub async fn load_at_gives_the_document_as_it_was(store: &dyn DocStore) {
    create(store, &["h"]).await;
    for rev in 1..=5 {
        store.append(&[ap("h", rev, &[rev as u8])]).await.unwrap();
    }
    store
        .put_snapshot("h", 3, Bytes::from_static(b"s3"))
        .await
        .unwrap();
    let at4 = store.load_at("h", 4).await.unwrap();
    assert_eq!(at4.snapshot, Some((3, Bytes::from_static(b"s3"))));
    assert_eq!(at4.updates, vec![(4, Bytes::from_static(&[4]))]);
    assert_eq!(at4.head(), 4);
    // Below the snapshot: replay from the start.
    let at2 = store.load_at("h", 2).await.unwrap();
    assert!(at2.snapshot.is_none());
    assert_eq!(
        at2.updates.iter().map(|u| u.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(store.load_at("h", 3).await.unwrap().head(), 3);
    assert_eq!(store.load_at("h", 99).await.unwrap().head(), 5);
    assert_eq!(store.load_at("h", 0).await.unwrap().head(), 0);
    // History metadata, newest first, with who made each revision.
    let metas = store.revisions("h", 4, 2).await.unwrap();
    assert_eq!(metas.iter().map(|m| m.rev).collect::<Vec<_>>(), vec![4, 3]);
    assert_eq!(metas[0].author.as_deref(), Some("user:4"));
    assert!(metas[0].created_at > 0);
    assert!(store
        .revisions("nope", u64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    // The change feed: in order after a revision, with the updates, paged by `limit`.
    let (page, first) = store.changes("h", 1, 2).await.unwrap();
    assert_eq!(page.iter().map(|c| c.meta.rev).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(first, Some(1));
    let all = store.updates_since("h", 1).await.unwrap();
    assert_eq!(page[0].data, all[0].1);
    assert_eq!(page[1].meta.author.as_deref(), Some("user:3"));
    let (rest, _) = store.changes("h", 3, 100).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.meta.rev).collect::<Vec<_>>(), [4, 5]);
    assert!(store.changes("h", 5, 10).await.unwrap().0.is_empty());
    assert!(store.changes("h", u64::MAX, 10).await.unwrap().0.is_empty());
    assert_eq!(
        store.changes("nope", 0, 10).await.unwrap(),
        (Vec::new(), None)
    );
    // Named versions: only existing revisions, renamed in place, removable.
    assert!(store
        .name_version("h", 2, Some("draft"), Some("7"))
        .await
        .unwrap());
    assert!(store
        .name_version("h", 4, Some("final"), None)
        .await
        .unwrap());
    assert!(store
        .name_version("h", 4, Some("final v2"), None)
        .await
        .unwrap());
    assert!(!store
        .name_version("h", 9, Some("future"), None)
        .await
        .unwrap());
    assert_eq!(
        store.version_names("h").await.unwrap(),
        vec![(4, "final v2".to_string()), (2, "draft".to_string())]
    );
    assert!(store.name_version("h", 2, None, None).await.unwrap());
    assert_eq!(store.version_names("h").await.unwrap().len(), 1);
}

pub async fn compaction_keeps_the_document_and_named_versions(store: &dyn DocStore) {
    create(store, &["k"]).await;
    for rev in 1..=6 {
        store.append(&[ap("k", rev, &[rev as u8])]).await.unwrap();
    }
    // Nothing to compact without a snapshot old enough.
    assert_eq!(store.compact("k", 0).await.unwrap(), 0);
    for rev in [2, 4] {
        store
            .put_snapshot("k", rev, Bytes::from(vec![b's', rev as u8]))
            .await
            .unwrap();
    }
    assert!(store
        .name_version("k", 2, Some("kept"), None)
        .await
        .unwrap());
    let future = crate::store::now_millis() + 60_000;
    assert_eq!(
        store.compact("k", future).await.unwrap(),
        4,
        "revisions 1..=4 go"
    );
    let now = store.load("k").await.unwrap();
    assert_eq!(now.snapshot, Some((4, Bytes::from_static(&[b's', 4]))));
    // The feed starts at the first revision left (a consumer further back is told so).
    let (page, first) = store.changes("k", 0, 10).await.unwrap();
    assert_eq!(first, Some(5));
    assert_eq!(page.iter().map(|c| c.meta.rev).collect::<Vec<_>>(), [5, 6]);
    assert_eq!(
        now.updates.iter().map(|u| u.0).collect::<Vec<_>>(),
        vec![5, 6]
    );
    // The named version's snapshot stays; an unnamed compacted revision cannot be rebuilt.
    assert_eq!(store.load_at("k", 2).await.unwrap().head(), 2);
    assert_ne!(store.load_at("k", 3).await.unwrap().head(), 3);
    assert_eq!(store.compact("k", future).await.unwrap(), 0, "idempotent");
    assert_eq!(store.doc_info("k").await.unwrap().unwrap().head_rev, 6);
}

pub async fn pruning_keeps_the_newest_snapshots_named_versions_and_the_base(store: &dyn DocStore) {
    create(store, &["p"]).await;
    let snapshot_at = |upto| async move {
        store
            .load_at("p", upto)
            .await
            .unwrap()
            .snapshot
            .map(|s| s.0)
    };
    for rev in 1..=12 {
        store.append(&[ap("p", rev, &[rev as u8])]).await.unwrap();
    }
    assert_eq!(
        store.prune_snapshots("p", 2).await.unwrap(),
        0,
        "no snapshots yet"
    );
    for rev in [2, 4, 6, 8, 10] {
        store
            .put_snapshot("p", rev, Bytes::from(vec![rev as u8]))
            .await
            .unwrap();
    }
    assert!(store
        .name_version("p", 4, Some("kept"), None)
        .await
        .unwrap());
    let before = store.usage().await.unwrap();
    assert_eq!(
        store.prune_snapshots("p", 2).await.unwrap(),
        2,
        "2 and 6 go"
    );
    assert_eq!(snapshot_at(3).await, None);
    assert_eq!(snapshot_at(7).await, Some(4), "the named version stays");
    assert_eq!(snapshot_at(9).await, Some(8));
    assert_eq!(snapshot_at(12).await, Some(10));
    // Every revision still loads (from an older snapshot or the start of the log).
    for rev in 1..=12 {
        assert_eq!(store.load_at("p", rev).await.unwrap().head(), rev);
    }
    let after = store.usage().await.unwrap();
    assert_eq!(before.snapshot_rows - after.snapshot_rows, 2);
    assert_eq!(before.snapshot_bytes - after.snapshot_bytes, 2);
    assert_eq!(after.log_rows, before.log_rows);
    assert!(after.log_bytes >= 12);
    // After compaction the log starts after snapshot 10: that base is kept even when it is not
    // among the newest `keep`, so every revision since stays loadable.
    let future = crate::store::now_millis() + 60_000;
    store.compact("p", future).await.unwrap();
    for rev in 13..=14 {
        store.append(&[ap("p", rev, &[rev as u8])]).await.unwrap();
    }
    store
        .put_snapshot("p", 12, Bytes::from_static(b"12"))
        .await
        .unwrap();
    store
        .put_snapshot("p", 14, Bytes::from_static(b"14"))
        .await
        .unwrap();
    store.prune_snapshots("p", 1).await.unwrap();
    assert_eq!(store.load("p").await.unwrap().head(), 14);
    assert_eq!(
        snapshot_at(13).await,
        Some(10),
        "12 went; the base 10 stayed"
    );
    assert_eq!(store.load_at("p", 13).await.unwrap().head(), 13);
    assert_eq!(snapshot_at(5).await, Some(4), "the named version stayed");
}

pub async fn comments_threads_and_resolution(store: &dyn DocStore) {
    use crate::store::Comment;
    store.create_doc("c", "t").await.unwrap();
    let c = |id: &str, thread: &str, body: &str, at: i64| Comment {
        id: id.into(),
        doc: "c".into(),
        thread: thread.into(),
        author: Some("7".into()),
        body: body.into(),
        anchor: if id == thread {
            "anchor".into()
        } else {
            String::new()
        },
        quote: String::new(),
        created_at: at,
        resolved_at: None,
    };
    assert!(store.add_comment(&c("t1", "t1", "first", 1)).await.unwrap());
    assert!(store.add_comment(&c("r1", "t1", "reply", 2)).await.unwrap());
    // A reply to a thread that does not exist (or is itself a reply) is refused.
    assert!(!store
        .add_comment(&c("r2", "nope", "lost", 3))
        .await
        .unwrap());
    assert!(!store
        .add_comment(&c("r3", "r1", "nested", 4))
        .await
        .unwrap());
    let all = store.comments("c").await.unwrap();
    assert_eq!(
        all.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        vec!["t1", "r1"]
    );
    assert_eq!(all[0].anchor, "anchor");
    // "first" + "anchor" + "reply", in bytes (é is two).
    assert_eq!(store.comment_usage("c").await.unwrap(), (2, 16));
    assert!(store.add_comment(&c("r4", "t1", "é", 5)).await.unwrap());
    assert_eq!(store.comment_usage("c").await.unwrap(), (3, 18));
    assert_eq!(store.comment_usage("none").await.unwrap(), (0, 0));
    assert!(store.set_resolved("c", "t1", Some(9)).await.unwrap());
    assert_eq!(store.comments("c").await.unwrap()[0].resolved_at, Some(9));
    assert!(store.set_resolved("c", "t1", None).await.unwrap());
    assert!(
        !store.set_resolved("c", "r1", Some(9)).await.unwrap(),
        "replies are not threads"
    );
    assert_eq!(store.comments("c").await.unwrap()[0].resolved_at, None);
    // Edit and delete: a reply alone; a thread's first comment takes its replies with it.
    assert!(store
        .edit_comment("c", "r1", "reply, edited")
        .await
        .unwrap());
    assert!(!store.edit_comment("c", "nope", "x").await.unwrap());
    let all = store.comments("c").await.unwrap();
    assert_eq!(
        all.iter().find(|x| x.id == "r1").unwrap().body,
        "reply, edited"
    );
    assert!(store.delete_comment("c", "r4").await.unwrap());
    assert_eq!(store.comments("c").await.unwrap().len(), 2);
    assert!(store
        .add_comment(&c("t2", "t2", "second", 6))
        .await
        .unwrap());
    assert!(store.delete_comment("c", "t1").await.unwrap());
    let left: Vec<_> = store
        .comments("c")
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(left, vec!["t2"]);
    assert!(!store.delete_comment("c", "t1").await.unwrap());
    assert!(store.delete_doc("c").await.unwrap());
    assert!(
        store.comments("c").await.unwrap().is_empty(),
        "deleted with the document"
    );
}

/// Expands to one `#[tokio::test]` per behaviour; `$make` builds `(store, guard)` afresh for each.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@t $make; appends_in_order_and_loads, refuses_taken_or_gapped_revisions,
            snapshot_then_replay, snapshot_never_ahead_of_log, empty_batch_and_ping,
            documents_create_list_rename_delete, ensure_doc_says_whether_it_made_the_document,
            load_at_gives_the_document_as_it_was,
            compaction_keeps_the_document_and_named_versions,
            pruning_keeps_the_newest_snapshots_named_versions_and_the_base,
            comments_threads_and_resolution);
    };
    (@t $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                // `$make` yields (store, guard); the guard (a temp dir, a schema) lives for the test.
                let (store, _guard) = $make;
                $crate::store_suite::$name(&store).await;
            }
        )*
    };
}
