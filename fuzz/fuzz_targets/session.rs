//! Session record decoder: never panics; what it accepts re-encodes to a string that
//! decodes to the same record.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{Limits, SessionRecord};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(s) = SessionRecord::decode(data, &limits) {
        let again = SessionRecord::decode(s.encode().as_bytes(), &limits).expect("re-encoded session decodes");
        assert_eq!(format!("{again:?}"), format!("{s:?}"));
    }
});
