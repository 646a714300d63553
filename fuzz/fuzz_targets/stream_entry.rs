//! Stream entry decoder: the input is split into field/value pairs at NUL bytes; never
//! panics; what it accepts re-encodes to fields that decode again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{ClusterMessage, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let pairs = parts.chunks_exact(2).map(|p| (p[0], p[1]));
    if let Ok(m) = ClusterMessage::from_stream_fields(pairs, &limits) {
        let fields = m.to_stream_fields(false).fields;
        ClusterMessage::from_stream_fields(fields.iter().map(|(k, v)| (k, v)), &limits)
            .expect("re-encoded entry decodes");
    }
});
