//! The fuzz targets' bodies (`fuzz/fuzz_targets/*.rs` call them; `make fuzz` mutates their
//! inputs under libFuzzer and AddressSanitizer). Here too so that the ordinary test build replays
//! every checked-in corpus input (each fixed finding's input is a seed there) on every `make
//! test`, without the sanitizer build. Each body panics exactly when its input is a finding.

use bytes::Bytes;
use yrs::updates::decoder::Decode;
use yrs::{GetString, ReadTxn, StateVector, Text, Transact, Update};

use crate::apply::{apply_client_update, ApplyError};
use crate::protocol::{decode_awareness, encode_awareness, Message};
use crate::session::{Session, SessionLimits};

/// The wire decoder: any bytes either decode or give an error, never a panic; whatever decodes
/// re-encodes to bytes that decode to the same message; awareness payloads likewise.
pub fn protocol_decode(data: &[u8]) {
    if let Ok(msg) = Message::decode(data) {
        let again = Message::decode(&msg.encode()).expect("re-encoded message decodes");
        assert_eq!(format!("{msg:?}"), format!("{again:?}"));
    }
    if let Ok(entries) = decode_awareness(data) {
        let again = decode_awareness(&encode_awareness(entries.iter())).expect("re-encodes");
        assert_eq!(format!("{entries:?}"), format!("{again:?}"));
    }
}

/// A connection's state machine fed arbitrary frames (sync, awareness and every `tandem.v1`
/// extension message, for a Tandem client and a stock one): each frame is accepted or closes the
/// connection with a documented code and a reason, never a panic. Frames are separated by 0xFE
/// in the input, so one input holds a conversation.
pub fn session_frames(data: &[u8]) {
    const CODES: [u16; 4] = [1008, 1009, 4400, 4403];
    let limits = SessionLimits {
        max_message: 4096,
        rate_per_sec: 1000,
        burst: 1000,
    };
    for tandem in [true, false] {
        let mut s = Session::new(tandem, limits);
        for frame in data.split(|b| *b == 0xfe) {
            if let Err(reason) = s.handle(Bytes::copy_from_slice(frame)) {
                assert!(
                    CODES.contains(&reason.code),
                    "undocumented close {}",
                    reason.code
                );
                assert!(!reason.reason.is_empty());
                break;
            }
        }
    }
}

/// Update application as the document actor does it: the frame decoder's checks, then
/// `apply_client_update` on a document with content, under `catch_unwind` as in `ServerDoc` (a
/// panic there, or a poisoning the guards report, drops the update unlogged and the actor
/// reloads the document; the fuzzer found yrs panics it must contain). An arbitrary update is
/// refused, applied or partly applied; when it was accepted, the document still encodes (a
/// joiner's sync, a snapshot) and a replica built from that encoding has the same content. Any
/// panic outside `apply_client_update` is a finding. (That no allocation is out of proportion to
/// the input is libFuzzer's `-rss_limit_mb` in `make fuzz`.)
pub fn apply_update(data: &[u8]) {
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
    let state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let replica = yrs::Doc::with_client_id(2);
    replica
        .transact_mut()
        .apply_update(Update::decode_v1(&state).expect("own encoding decodes"))
        .expect("own encoding applies");
    let a = text.get_string(&doc.transact());
    let b = replica
        .get_or_insert_text("t")
        .get_string(&replica.transact());
    assert_eq!(a, b);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every input of `fuzz/corpus/{target}` through `body`; the count, so an empty or missing
    /// corpus fails rather than passing by replaying nothing.
    fn replay(target: &str, body: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let run = std::panic::catch_unwind(|| body(&data));
            assert!(run.is_ok(), "{} fails on {}", target, path.display());
            n += 1;
        }
        n
    }

    #[test]
    fn the_fuzz_corpora_replay_clean() {
        assert!(replay("protocol_decode", super::protocol_decode) > 10);
        assert!(replay("session_frames", super::session_frames) > 10);
        assert!(replay("apply_update", super::apply_update) > 1000);
    }
}
