//! Tandem's sync engine, free of network and disk I/O.
//!
//! - [`protocol`]: the wire codec (Yjs sync + awareness, and the `tandem.v1` extensions).
//! - [`session`]: per-connection checks and the bounded send queue.
//! - [`room`]: the per-document actor (lifecycle, commit modes, durability barrier, presence,
//!   snapshots); [`registry`]: the registry that opens and evicts documents, and the handles.
//! - [`doc`]: `ServerDoc`, the only owner of a `yrs::Doc` (the server's options, checked and
//!   trusted application, restore).
//! - [`apply`]: the yrs guards the fuzzer and the property tests called for; [`scan`]: reading an
//!   update's structs as yrs would, without applying them; [`schema`]: the editor's document
//!   schema, checked on every client update.
//! - [`presence`]: awareness entries with y-protocols' clock rules, owner and TTL.
//! - [`commit`]: the group-commit writer shared by all documents.
//! - [`store`]: the `DocStore` trait every backend implements, and `MemoryStore`.
//! - [`fanout`]: the `Fanout` trait (other nodes' revisions), `LocalFanout` and `MemoryFanout`.
//!
//! It may use tokio's channels and timers but never binds a socket or opens a file.

pub mod apply;
pub mod commit;
#[cfg(test)]
mod convergence_tests;
pub mod doc;
pub mod fanout;
pub mod presence;
pub mod protocol;
pub mod registry;
pub mod room;
pub mod scan;
pub mod schema;
pub mod session;
pub mod store;
#[doc(hidden)]
pub mod store_suite;

/// Document names: 1–128 characters of `A–Z a–z 0–9 . _ -`, not starting with `.`.
pub fn valid_doc_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn doc_names() {
        assert!(super::valid_doc_name("my-doc_1.v2"));
        for bad in ["", ".hidden", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(!super::valid_doc_name(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod memory_store_suite {
    crate::store_suite!((crate::store::MemoryStore::new(), ()));
}
