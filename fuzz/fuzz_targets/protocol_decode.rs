//! The wire decoder: any bytes either decode or give an error, never a panic; whatever decodes
//! re-encodes to bytes that decode to the same message; awareness payloads likewise.
//! The body is `tandem_core::fuzzing::protocol_decode`, which `make test` also runs on the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tandem_core::fuzzing::protocol_decode(data));
