//! ClusterAdapter message decoder (sharded and streams pub/sub): never panics; what it
//! accepts re-encodes in both encodings to bytes that decode again. The borrowing
//! decoder of sharded JSON broadcasts reads only what the tree decoder reads, alike.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::{ClusterBody, ClusterBroadcastRef, ClusterMessage, Limits, json};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Some(r) = ClusterBroadcastRef::decode(data, &limits) {
        let m = ClusterMessage::decode(data, &limits).expect("the tree decoder reads it too");
        let ClusterBody::Broadcast { packet, request_id: None, opts } = m.body else {
            panic!("not a broadcast without acknowledgements: {m:?}");
        };
        assert_eq!((&r.uid, &r.nsp), (&m.uid, &m.nsp));
        assert_eq!(format!("{:?}", r.opts), format!("{opts:?}"));
        let d = json::decode(r.data.as_bytes(), &limits).expect("data is JSON");
        assert_eq!(format!("{d:?}"), format!("{:?}", packet.data));
    }
    if let Ok(m) = ClusterMessage::decode(data, &limits) {
        ClusterMessage::decode(&m.encode_sharded(), &limits).expect("sharded re-encoding decodes");
        ClusterMessage::decode(&m.encode_streams_pubsub(), &limits).expect("streams re-encoding decodes");
    }
});
