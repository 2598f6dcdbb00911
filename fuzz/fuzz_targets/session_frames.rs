//! A connection's state machine fed arbitrary frames (sync, awareness and every `tandem.v1`
//! extension message, for a Tandem client and a stock one): each frame is accepted or closes the
//! connection with a documented code and a reason, never a panic.
//! The body is `tandem_core::fuzzing::session_frames`, which `make test` also runs on the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tandem_core::fuzzing::session_frames(data));
