//! Classic adapter decoders (broadcast, request, response): never panic; what they
//! accept re-encodes to bytes that decode to the same message. The borrowing
//! broadcast decoder accepts what the tree decoder accepts (and more only where
//! reading its data then fails) and reads the same message; its `data_json` is the JSON encoding of the data's value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::classic::{
    ClassicBroadcast, ClassicBroadcastRef, ClassicRequest, ClassicResponse,
};
use sio_redis_wire::{Limits, json};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let tree = ClassicBroadcast::decode(data, &limits);
    let borrowed = ClassicBroadcastRef::decode(data, &limits);
    // The borrowing decoder checks only the structure of `data`; reading it fails
    // where the tree decoder failed.
    if tree.is_ok() {
        assert!(borrowed.is_ok(), "{borrowed:?}");
    } else if let Ok(r) = &borrowed {
        assert!(r.data_value(&limits).is_err(), "accepted {tree:?}");
        assert!(r.data_json(&limits).is_err(), "data_json accepted {tree:?}");
    }
    if let (Ok(m), Ok(r)) = (&tree, &borrowed) {
        let value = r.data_value(&limits).expect("accepted data decodes");
        assert_eq!(
            format!("{:?}", (r.uid, r.kind, r.nsp, &r.opts, &value)),
            format!("{:?}", (&m.uid, m.packet.kind, &m.packet.nsp, &m.opts, &m.packet.data)),
        );
        if let Some(text) = r.data_json(&limits).expect("accepted data transcodes") {
            assert_eq!(text.as_bytes(), json::encode(&value), "to_json differs from encode");
        }
    }
    if let Ok(m) = tree {
        let _ = ClassicBroadcast::decode(&m.encode(), &limits).expect("re-encoded broadcast decodes");
    }
    if let Ok(m) = ClassicRequest::decode(data, &limits) {
        let _ = ClassicRequest::decode(&m.encode(), &limits).expect("re-encoded request decodes");
    }
    if let Ok(m) = ClassicResponse::decode(data, &limits) {
        let _ = ClassicResponse::decode(&m.encode(), &limits).expect("re-encoded response decodes");
    }
});
