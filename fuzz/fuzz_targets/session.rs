//! Session record decoder: never panics; what it accepts re-encodes to a string that
//! decodes again, and whose own re-encoding is identical (the first round may turn an
//! integer beyond ±(2^53 − 1) into a float, as @msgpack/msgpack does).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{Limits, SessionRecord};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(s) = SessionRecord::decode(data, &limits) {
        let once = s.encode();
        let again = SessionRecord::decode(once.as_bytes(), &limits).expect("re-encoded session decodes");
        assert_eq!(again.encode(), once, "encoding is stable after one round trip");
    }
});
