//! The wire decoder: any bytes either decode or give an error, never a panic; whatever decodes
//! re-encodes to bytes that decode to the same message; awareness payloads likewise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::protocol::{decode_awareness, encode_awareness, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let again = Message::decode(&msg.encode()).expect("re-encoded message decodes");
        assert_eq!(format!("{msg:?}"), format!("{again:?}"));
    }
    if let Ok(entries) = decode_awareness(data) {
        let again = decode_awareness(&encode_awareness(entries.iter())).expect("re-encodes");
        assert_eq!(format!("{entries:?}"), format!("{again:?}"));
    }
});
