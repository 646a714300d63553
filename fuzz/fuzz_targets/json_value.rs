//! JSON decoder: never panics; what it accepts re-encodes to JSON that decodes again;
//! `decode_str` (text known to be UTF-8) reads what `decode` reads.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{Limits, json};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let v = json::decode(data, &limits);
    if let Ok(text) = std::str::from_utf8(data) {
        let w = json::decode_str(text, &limits);
        assert_eq!(format!("{v:?}"), format!("{w:?}"), "decode_str disagrees with decode");
    }
    if let Ok(v) = v {
        let again = json::encode(&v);
        json::decode(&again, &limits).expect("re-encoded JSON decodes");
    }
});
