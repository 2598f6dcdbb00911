//! Hot paths of the sync engine: wire decode/encode, applying an update as the document actor
//! does (the shape check, then apply with its "did anything change" check), and snapshot
//! encode/load of a 1 MB fragmented document (yrs encode + zstd, and back).
#![allow(clippy::disallowed_methods)] // these documents are clients', plain yrs ones

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use tandem_core::apply::{apply_checked, apply_client_update, scan_structs, Proven};
use tandem_core::protocol::Message;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Text, Transact};

/// Single-character inserts from one client, as a typist produces them.
fn keystrokes(n: usize) -> Vec<Vec<u8>> {
    let doc = yrs::Doc::with_client_id(7);
    let text = doc.get_or_insert_text("t");
    (0..n)
        .map(|i| {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, i as u32, "x");
            txn.encode_update_v1()
        })
        .collect()
}

/// A document of about `bytes` characters built by many clients inserting at random places,
/// so its block list is fragmented the way a long-lived collaborative document's is.
fn fragmented(bytes: usize) -> yrs::Doc {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let doc = yrs::Doc::with_client_id(1);
    let text = doc.get_or_insert_text("t");
    let mut len = 0u32;
    while (len as usize) < bytes {
        let chunk: String = (0..rng.random_range(1..40))
            .map(|_| rng.random_range(b'a'..=b'z') as char)
            .collect();
        let at = rng.random_range(0..=len);
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, at, &chunk);
        len += chunk.len() as u32;
        if rng.random_range(0..10) == 0 && len > 10 {
            let del = rng.random_range(0..len - 5);
            text.remove_range(&mut txn, del, 3);
            len -= 3;
        }
    }
    doc
}

fn codec(c: &mut Criterion) {
    let update = keystrokes(1).remove(0);
    let frame = Message::Update(update.clone()).encode();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode update frame", |b| {
        b.iter(|| Message::decode(black_box(&frame)).unwrap())
    });
    g.bench_function("encode update frame", |b| {
        b.iter(|| black_box(Message::Update(update.clone())).encode())
    });
    g.finish();
}

fn apply(c: &mut Criterion) {
    let updates = keystrokes(20_000);
    let mut g = c.benchmark_group("actor apply");
    // Apply the next 100 keystrokes to a document that already holds 10,000 of them.
    g.throughput(Throughput::Elements(100));
    g.bench_function("keystroke into a 10k-char doc", |b| {
        b.iter_batched(
            || {
                let doc = yrs::Doc::new();
                for u in &updates[..10_000] {
                    apply_client_update(&doc, u).unwrap();
                }
                doc
            },
            |doc| {
                for u in &updates[10_000..10_100] {
                    assert!(apply_client_update(&doc, u).unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(1));
    // The check every client update passes first (part of the keystroke figure above).
    g.bench_function("scan_structs of a keystroke", |b| {
        b.iter(|| scan_structs(black_box(&updates[500])).unwrap())
    });
    g.bench_function("duplicate (no-op) keystroke", |b| {
        let doc = yrs::Doc::new();
        for u in &updates[..1000] {
            apply_client_update(&doc, u).unwrap();
        }
        b.iter(|| assert!(!apply_client_update(&doc, black_box(&updates[500])).unwrap()))
    });
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let doc = fragmented(1 << 20);
    let raw = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let compressed = zstd::encode_all(&raw[..], 3).unwrap();
    eprintln!(
        "1 MB fragmented doc: {} bytes encoded, {} bytes zstd",
        raw.len(),
        compressed.len()
    );
    let mut g = c.benchmark_group("snapshot 1MB fragmented");
    g.sample_size(10);
    g.bench_function("encode + zstd", |b| {
        b.iter(|| {
            zstd::encode_all(
                &doc.transact()
                    .encode_state_as_update_v1(&StateVector::default())[..],
                3,
            )
            .unwrap()
        })
    });
    // Before a snapshot is stored, its state is scanned for skips.
    g.bench_function("scan_structs of the state", |b| {
        b.iter(|| scan_structs(black_box(&raw)).unwrap())
    });
    // A keystroke between two characters in the middle of the one 1 MB text: the placement
    // check walks from each origin to the start of the list (the worst case: a Tiptap document
    // is split into paragraphs, each a list of its own). The apply of a keystroke at the end of
    // a text, which has no right origin and so no check, is in "actor apply" above.
    let typist = yrs::Doc::with_client_id(9);
    typist
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(&raw).unwrap())
        .unwrap();
    // Twenty keystrokes typed in the middle: the first one's check walks the list, the rest find
    // their answer in `Proven` (each one's left origin is the one before).
    let burst: Vec<Vec<u8>> = {
        let text = typist.get_or_insert_text("t");
        let half = text.len(&typist.transact()) / 2;
        (0..20)
            .map(|i| {
                let mut txn = typist.transact_mut();
                text.insert(&mut txn, half + i, "x");
                txn.encode_update_v1()
            })
            .collect()
    };
    let mid = burst[0].clone();
    let load = || {
        let d = yrs::Doc::new();
        d.transact_mut()
            .apply_update(yrs::Update::decode_v1(&raw).unwrap())
            .unwrap();
        d
    };
    g.bench_function("keystroke mid-text (placement check)", |b| {
        b.iter_batched(
            load,
            |d| {
                assert!(apply_client_update(&d, &mid).unwrap());
                d // dropped untimed
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("20 keystrokes typed mid-text", |b| {
        b.iter_batched(
            load,
            |d| {
                let mut proven = Proven::default();
                for k in &burst {
                    assert!(apply_checked(&d, k, &mut proven).unwrap());
                }
                d // dropped untimed
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("unzstd + load", |b| {
        b.iter(|| {
            let raw = zstd::decode_all(&compressed[..]).unwrap();
            let d = yrs::Doc::new();
            d.transact_mut()
                .apply_update(yrs::Update::decode_v1(&raw).unwrap())
                .unwrap();
            d
        })
    });
    g.finish();
}

/// Keystrokes into the editor's fragment (one paragraph's text) through `ServerDoc`, with and
/// without the schema check: the difference is what the check costs a keystroke.
fn schema(c: &mut Criterion) {
    use tandem_core::doc::ServerDoc;
    use tandem_core::schema::Schema;
    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::XmlFragment;
    let client = yrs::Doc::with_client_id(7);
    let frag = client.get_or_insert_xml_fragment("default");
    let mut updates = Vec::new();
    let text = {
        let mut txn = client.transact_mut();
        let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        let t = p.push_back(&mut txn, XmlTextPrelim::new(""));
        updates.push(txn.encode_update_v1());
        t
    };
    for i in 0..1100 {
        let mut txn = client.transact_mut();
        text.insert(&mut txn, i, "x");
        updates.push(txn.encode_update_v1());
    }
    let mut g = c.benchmark_group("schema check");
    g.throughput(Throughput::Elements(100));
    for (name, schema) in [
        ("100 keystrokes without the check", None),
        (
            "100 keystrokes with the check",
            Some(Schema::editor().for_doc("bench")),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut d = ServerDoc::with_schema(schema.clone());
                    for u in &updates[..1001] {
                        d.apply_client(u).unwrap();
                    }
                    d
                },
                |mut d| {
                    for u in &updates[1001..1101] {
                        assert!(d.apply_client(u).unwrap());
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// A reviewer's keystroke on a 100 kB document (1,000 paragraphs of 100 characters): the
/// suggestion check (trying it on the copy, then applying it) against the same keystroke applied
/// as an editor's. Goal: ≤ 20 µs per checked keystroke.
fn suggestions(c: &mut Criterion) {
    use std::collections::HashMap;
    use std::sync::Arc;
    use tandem_core::doc::ServerDoc;
    use tandem_core::schema::Schema;
    use tandem_core::suggest::INSERT;
    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::{Any, XmlFragment};
    let editor = yrs::Doc::with_client_id(1);
    let frag = editor.get_or_insert_xml_fragment("default");
    let base = {
        let mut txn = editor.transact_mut();
        for _ in 0..1000 {
            let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, XmlTextPrelim::new("x".repeat(100)));
        }
        txn.encode_update_v1()
    };
    let reviewer = yrs::Doc::with_client_id(7);
    reviewer
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(&base).unwrap())
        .unwrap();
    let mark = Any::Map(Arc::new(HashMap::from([
        ("id".to_owned(), Any::String("s1".into())),
        ("user".to_owned(), Any::String("7".into())),
        ("time".to_owned(), Any::from(1.0_f64)),
    ])));
    let text = {
        let frag = reviewer.get_or_insert_xml_fragment("default");
        let txn = reviewer.transact();
        let p = frag.get(&txn, 500).unwrap().into_xml_element().unwrap();
        p.get(&txn, 0).unwrap().into_xml_text().unwrap()
    };
    let keystrokes: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            let mut txn = reviewer.transact_mut();
            let attrs = yrs::types::Attrs::from([(Arc::from(INSERT), mark.clone())]);
            text.insert_with_attributes(&mut txn, 50 + i, "y", attrs);
            txn.encode_update_v1()
        })
        .collect();
    let mut g = c.benchmark_group("suggestion check (100 kB document)");
    g.throughput(Throughput::Elements(100));
    for checked in [false, true] {
        let name = match checked {
            false => "100 keystrokes applied as an editor's",
            true => "100 keystrokes checked as a reviewer's",
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut d = ServerDoc::with_schema(Some(Schema::editor().for_doc("bench")));
                    d.apply_client(&base).unwrap();
                    // The copy exists once a reviewer has typed: it is made outside the timing.
                    match checked {
                        false => d.apply_client(&keystrokes[0]).unwrap(),
                        true => d.apply_suggestion(&keystrokes[0], "7").unwrap(),
                    };
                    d
                },
                |mut d| {
                    for u in &keystrokes[1..] {
                        let changed = match checked {
                            false => d.apply_client(u).unwrap(),
                            true => d.apply_suggestion(u, "7").unwrap(),
                        };
                        assert!(changed);
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    // The history's replay of the same 100 keystrokes (each its own revision), the pending
    // suggestions compared at every tenth: what `GET /history` adds per page of versions.
    let log: Vec<(u64, bytes::Bytes)> = keystrokes
        .iter()
        .enumerate()
        .map(|(i, u)| (i as u64 + 2, bytes::Bytes::from(u.clone())))
        .collect();
    let ends: Vec<u64> = log
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| r % 10 == 0)
        .collect();
    g.bench_function(
        "100 keystrokes replayed for the history, 10 versions",
        |b| {
            b.iter_batched(
                || {
                    let mut d = ServerDoc::new();
                    d.apply_client(&base).unwrap();
                    d
                },
                |mut d| {
                    let found = tandem_core::suggest::replay(&mut d, &log, &ends);
                    assert_eq!(found.len(), 1, "made once, then only grown");
                },
                BatchSize::LargeInput,
            )
        },
    );
    g.finish();
}

criterion_group!(benches, codec, apply, snapshot, schema, suggestions);
criterion_main!(benches);
