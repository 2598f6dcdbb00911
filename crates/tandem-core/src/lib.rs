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
#[doc(hidden)]
pub mod fuzzing;
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
pub mod suggest;

/// Document names: 1–128 characters of `A–Z a–z 0–9 . _ -`, not starting with `.`.
pub fn valid_doc_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The property tests' configuration. `make test` replays the same schedules every run (a fixed
/// seed, `cases` of them, after the saved regressions), so CI fails only for a change of ours;
/// `make proptest` explores new ones (`TANDEM_PROPTEST_RANDOM=1`, `PROPTEST_CASES` of them) and a
/// failure it finds is saved under `proptest-regressions/` to be fixed and checked in.
#[cfg(test)]
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let from_env = Config::default(); // reads PROPTEST_CASES and PROPTEST_RNG_SEED
    let set = |var| std::env::var_os(var).is_some();
    Config {
        cases: if set("PROPTEST_CASES") {
            from_env.cases
        } else {
            cases
        },
        rng_seed: match (set("TANDEM_PROPTEST_RANDOM"), set("PROPTEST_RNG_SEED")) {
            (true, _) => RngSeed::Random,
            (false, true) => from_env.rng_seed,
            (false, false) => RngSeed::Fixed(0x007a_9de3),
        },
        ..from_env
    }
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
