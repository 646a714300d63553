//! msgpack decoder: never panics; what it accepts re-encodes and decodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{Limits, msgpack};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(v) = msgpack::decode(data, &limits) {
        let again = msgpack::encode(&v, msgpack::Flavor::Notepack);
        let v2 = msgpack::decode(&again, &limits).expect("re-encoded value decodes");
        assert!(v2 == v || format!("{v2:?}") == format!("{v:?}"), "round trip changed the value");
    }
});
