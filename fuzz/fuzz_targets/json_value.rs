//! JSON decoder: never panics; what it accepts re-encodes to JSON that decodes again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{Limits, json};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(v) = json::decode(data, &limits) {
        let again = json::encode(&v);
        json::decode(&again, &limits).expect("re-encoded JSON decodes");
    }
});
