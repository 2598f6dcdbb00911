//! Update application as the document actor does it: the frame decoder's checks, then
//! `apply_client_update` on a document with content, under `catch_unwind` as in `ServerDoc` (a
//! panic there, or a poisoning the guards report, drops the update unlogged and the actor
//! reloads the document; the fuzzer found yrs panics it must contain). An
//! arbitrary update is refused, applied or partly applied, never an allocation out of proportion
//! to its size; when it was accepted, the document still encodes (a joiner's sync, a snapshot)
//! and a replica built from that encoding has the same content. Any panic outside
//! `apply_client_update` is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::protocol::Message;
use tandem_core::apply::{apply_client_update, ApplyError};
use yrs::updates::decoder::Decode;
use yrs::{GetString, ReadTxn, StateVector, Text, Transact, Update};

fuzz_target!(|data: &[u8]| {
    let doc = yrs::Doc::with_client_id(1);
    let text = doc.get_or_insert_text("t");
    text.insert(&mut doc.transact_mut(), 0, "hello world");
    let frame = Message::Update(data.to_vec()).encode();
    let Ok(Message::Update(update)) = Message::decode(&frame) else {
        return;
    };
    // libFuzzer's hook aborts on any panic, even a caught one: quiet it for this call only.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        apply_client_update(&doc, &update)
    }));
    std::panic::set_hook(hook);
    if matches!(applied, Err(_) | Ok(Err(ApplyError::Poisoned(_)))) {
        return;
    }
    let state = doc.transact().encode_state_as_update_v1(&StateVector::default());
    let replica = yrs::Doc::with_client_id(2);
    replica
        .transact_mut()
        .apply_update(Update::decode_v1(&state).expect("own encoding decodes"))
        .expect("own encoding applies");
    let a = text.get_string(&doc.transact());
    let b = replica.get_or_insert_text("t").get_string(&replica.transact());
    assert_eq!(a, b);
});
