//! ClusterAdapter message decoder (sharded and streams pub/sub): never panics; what it
//! accepts re-encodes in both encodings to bytes that decode again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{ClusterMessage, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(m) = ClusterMessage::decode(data, &limits) {
        ClusterMessage::decode(&m.encode_sharded(), &limits).expect("sharded re-encoding decodes");
        ClusterMessage::decode(&m.encode_streams_pubsub(), &limits).expect("streams re-encoding decodes");
    }
});
