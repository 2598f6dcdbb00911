//! Update application as the document actor does it: the frame decoder's checks, then
//! `apply_client_update` on a document with content, under `catch_unwind` as in `ServerDoc` (a
//! panic there, or a poisoning the guards report, drops the update unlogged and the actor
//! reloads the document; the fuzzer found yrs panics it must contain). An
//! arbitrary update is refused, applied or partly applied, never an allocation out of proportion
//! to its size; when it was accepted, the document still encodes (a joiner's sync, a snapshot)
//! and a replica built from that encoding has the same content. Any panic outside
//! `apply_client_update` is a finding.
//! The body is `tandem_core::fuzzing::apply_update`, which `make test` also runs on the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tandem_core::fuzzing::apply_update(data));
