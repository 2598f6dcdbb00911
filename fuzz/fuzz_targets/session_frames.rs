//! A connection's state machine fed arbitrary frames (sync, awareness and every `tandem.v1`
//! extension message, for a Tandem client and a stock one): each frame is accepted or closes the
//! connection with a documented code and a reason, never a panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tandem_core::session::{Session, SessionLimits};

const CODES: [u16; 4] = [1008, 1009, 4400, 4403];

fuzz_target!(|data: &[u8]| {
    let limits = SessionLimits { max_message: 4096, rate_per_sec: 1000, burst: 1000 };
    for tandem in [true, false] {
        let mut s = Session::new(tandem, limits);
        // Frames are separated by 0xFE in the input, so one input holds a conversation.
        for frame in data.split(|b| *b == 0xfe) {
            if let Err(reason) = s.handle(Bytes::copy_from_slice(frame)) {
                assert!(CODES.contains(&reason.code), "undocumented close {}", reason.code);
                assert!(!reason.reason.is_empty());
                break;
            }
        }
    }
});
