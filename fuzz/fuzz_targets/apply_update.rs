//! Update application as the document actor does it: the frame decoder's checks, then
//! `apply_client_update` on a document with content. An arbitrary update is refused, applied or
//! partly applied, never a panic or an allocation out of proportion to its size; afterwards
//! the document still encodes, and a replica built from that encoding has the same content (what
//! the actor logs is what a reload would rebuild).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::protocol::Message;
use tandem_core::room::apply_client_update;
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
    let _ = apply_client_update(&doc, &update);
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
