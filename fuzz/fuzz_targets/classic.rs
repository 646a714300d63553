//! Classic adapter decoders (broadcast, request, response): never panic; what they
//! accept re-encodes to bytes that decode to the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sio_redis_wire::Limits;
use sio_redis_wire::classic::{ClassicBroadcast, ClassicRequest, ClassicResponse};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(m) = ClassicBroadcast::decode(data, &limits) {
        let _ = ClassicBroadcast::decode(&m.encode(), &limits).expect("re-encoded broadcast decodes");
    }
    if let Ok(m) = ClassicRequest::decode(data, &limits) {
        let _ = ClassicRequest::decode(&m.encode(), &limits).expect("re-encoded request decodes");
    }
    if let Ok(m) = ClassicResponse::decode(data, &limits) {
        let _ = ClassicResponse::decode(&m.encode(), &limits).expect("re-encoded response decodes");
    }
});
