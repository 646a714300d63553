//! Property tests: encoders and decoders are inverse, and no decoder panics on any input.

use bytes::Bytes;
use proptest::prelude::*;
use sio_redis_wire::classic::{
    ClassicBroadcast, ClassicBroadcastRef, ClassicRequest, ClassicResponse, RequestBody,
};
use sio_redis_wire::{
    BroadcastFlags, BroadcastOptions, ClusterBody, ClusterBroadcastRef, ClusterMessage,
    DecodeError, Limits, Packet, SessionRecord, SocketDescription, Value, json, msgpack,
};

/// Any value msgpack can carry (NaN left out so that `==` holds).
fn any_value() -> impl Strategy<Value = Value> {
    msgpack_value(i64::MIN, i64::MAX)
}

/// Any value @msgpack/msgpack carries without loss: integers within ±(2^53 − 1).
fn js_value() -> impl Strategy<Value = Value> {
    msgpack_value(-(1 << 53) + 1, (1 << 53) - 1)
}

fn msgpack_value(min: i64, max: i64) -> impl Strategy<Value = Value> {
    let big = if max == i64::MAX {
        (i64::MAX as u64 + 1)..=u64::MAX
    } else {
        0..=0
    };
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        (min..=max).prop_map(Value::Int),
        big.prop_map(Value::from),
        any::<f32>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::F32),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::F64),
        ".{0,40}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::Bin(Bytes::from(b))),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, b)| Value::Ext(t, Bytes::from(b))),
    ];
    leaf.prop_recursive(4, 64, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            proptest::collection::vec((".{0,10}", inner), 0..20).prop_map(|m| Value::Map(dedup(m))),
        ]
    })
}

/// Values JSON holds exactly: no binary, extensions or float32; integers within ±2^53;
/// floats non-integral and finite.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::Int),
        any::<f64>()
            .prop_filter("non-integral finite", |f| f.is_finite() && f.fract() != 0.0)
            .prop_map(Value::F64),
        "\\PC{0,20}".prop_map(Value::Str),
        "[\\x00-\\x1f\"\\\\]{0,5}".prop_map(Value::Str),
    ];
    leaf.prop_recursive(4, 64, 10, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            proptest::collection::vec(("\\PC{0,8}", inner), 0..10)
                .prop_map(|m| Value::Map(dedup(m))),
        ]
    })
}

fn dedup(members: Vec<(String, Value)>) -> Vec<(sio_redis_wire::Key, Value)> {
    let mut out: Vec<(sio_redis_wire::Key, Value)> = Vec::new();
    for (k, v) in members {
        if !out.iter().any(|(key, _)| *key == k) {
            out.push((k.into(), v));
        }
    }
    out
}

fn rooms() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-zA-Z0-9_-]{1,24}", 0..4)
}

fn flags() -> impl Strategy<Value = BroadcastFlags> {
    (
        any::<bool>(),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
        proptest::option::of(0u64..100_000),
    )
        .prop_map(|(volatile, compress, local, timeout)| BroadcastFlags {
            volatile,
            compress,
            local,
            timeout,
            ..Default::default()
        })
}

fn opts() -> impl Strategy<Value = BroadcastOptions> {
    (rooms(), rooms(), flags()).prop_map(|(r, e, f)| BroadcastOptions {
        flags: Some(f),
        ..BroadcastOptions::new(r, e)
    })
}

fn event_data() -> impl Strategy<Value = Vec<Value>> {
    event_data_of(js_value())
}

fn json_event_data() -> impl Strategy<Value = Vec<Value>> {
    event_data_of(json_value())
}

fn event_data_of(arg: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<Value>> {
    ("[a-z]{1,10}", proptest::collection::vec(arg, 0..4)).prop_map(|(ev, mut args)| {
        args.insert(0, Value::Str(ev));
        args
    })
}

fn uid() -> impl Strategy<Value = String> {
    "[0-9a-f]{16}"
}

fn socket() -> impl Strategy<Value = SocketDescription> {
    ("[A-Za-z0-9_-]{20}", json_value(), rooms(), js_value()).prop_map(
        |(id, handshake, rooms, data)| SocketDescription {
            id,
            handshake,
            rooms,
            data,
        },
    )
}

fn cluster_body() -> impl Strategy<Value = ClusterBody> {
    let rid = "[0-9a-f]{16}";
    prop_oneof![
        Just(ClusterBody::Heartbeat),
        (event_data(), proptest::option::of(rid), opts()).prop_map(|(d, request_id, opts)| {
            ClusterBody::Broadcast {
                packet: Packet::event(d, None),
                request_id,
                opts,
            }
        }),
        (opts(), rooms()).prop_map(|(opts, rooms)| ClusterBody::SocketsJoin { opts, rooms }),
        (opts(), any::<bool>())
            .prop_map(|(opts, close)| ClusterBody::DisconnectSockets { opts, close }),
        (opts(), rid).prop_map(|(opts, request_id)| ClusterBody::FetchSockets { opts, request_id }),
        (rid, proptest::collection::vec(socket(), 0..3)).prop_map(|(request_id, sockets)| {
            ClusterBody::FetchSocketsResponse {
                request_id,
                sockets,
            }
        }),
        (proptest::option::of(rid), event_data()).prop_map(|(request_id, d)| {
            ClusterBody::ServerSideEmit {
                request_id,
                packet: Value::Array(d),
            }
        }),
        (rid, proptest::option::of(js_value()))
            .prop_map(|(request_id, packet)| ClusterBody::BroadcastAck { request_id, packet }),
        (rid, any::<u32>()).prop_map(|(request_id, n)| ClusterBody::BroadcastClientCount {
            request_id,
            client_count: u64::from(n)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn msgpack_round_trip(v in any_value()) {
        let limits = Limits::default();
        prop_assert_eq!(msgpack::decode(&msgpack::encode(&v, msgpack::Flavor::Notepack), &limits).unwrap(), v);
    }

    #[test]
    fn json_round_trip(v in json_value()) {
        let bytes = json::encode(&v);
        prop_assert_eq!(json::decode(&bytes, &Limits::default()).unwrap(), v.clone());
        let text = std::str::from_utf8(&bytes).unwrap();
        prop_assert_eq!(json::decode_str(text, &Limits::default()).unwrap(), v);
        // What we write is JSON any parser accepts.
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
    }

    #[test]
    fn classic_broadcast_round_trip(uid in "[A-Za-z0-9_-]{6}", d in event_data(), o in opts()) {
        let m = ClassicBroadcast { uid, packet: Packet::event(d, Some("/".into())), opts: o };
        let bytes = m.encode();
        prop_assert_eq!(ClassicBroadcast::decode(&bytes, &Limits::default()).unwrap(), m.clone());
        let r = ClassicBroadcastRef::decode(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!((r.uid, r.nsp, &r.opts), (m.uid.as_str(), Some("/"), &m.opts));
        prop_assert_eq!(r.data_value(&Limits::default()).unwrap(), m.packet.data);
    }

    #[test]
    fn classic_request_round_trip(uid in uid(), rid in "[a-z]{6}", rooms in rooms(), o in opts(), d in json_event_data(), b in event_data()) {
        let o = BroadcastOptions { flags: None, ..o };
        for body in [
            RequestBody::AllRooms,
            RequestBody::RemoteJoin { opts: o.clone(), rooms: rooms.clone() },
            RequestBody::RemoteDisconnect { opts: o.clone(), close: true },
            RequestBody::RemoteFetch { opts: o.clone() },
            RequestBody::ServerSideEmit { data: Value::Array(d.clone()) },
            RequestBody::Broadcast { packet: Packet::event(b.clone(), Some("/".into())), opts: o.clone() },
        ] {
            let m = ClassicRequest { uid: Some(uid.clone()), request_id: Some(rid.clone()), body };
            prop_assert_eq!(ClassicRequest::decode(&m.encode(), &Limits::default()).unwrap(), m);
        }
    }

    #[test]
    fn classic_response_round_trip(rid in "[a-z]{6}", rooms in rooms(), ack in proptest::option::of(json_value())) {
        for m in [
            ClassicResponse::AllRooms { request_id: rid.clone(), rooms: rooms.clone() },
            ClassicResponse::ServerSideEmit { request_id: rid.clone(), data: ack.clone() },
            ClassicResponse::BroadcastClientCount { request_id: rid.clone(), client_count: 3 },
            ClassicResponse::BroadcastAck { request_id: rid.clone(), packet: ack.clone() },
        ] {
            prop_assert_eq!(ClassicResponse::decode(&m.encode(), &Limits::default()).unwrap(), m);
        }
    }

    #[test]
    fn cluster_message_round_trips_in_every_encoding(uid in uid(), body in cluster_body()) {
        let limits = Limits::default();
        let m = ClusterMessage { uid, nsp: "/chat".into(), body };
        prop_assert_eq!(&ClusterMessage::decode(&m.encode_streams_pubsub(), &limits).unwrap(), &m);
        let fields = m.to_stream_fields(false).fields;
        let from_stream = ClusterMessage::from_stream_fields(fields.iter().map(|(k, v)| (k, v)), &limits).unwrap();
        prop_assert_eq!(from_stream.to_stream_fields(false).fields, fields);
        // JSON carries no binary; the sharded encoding keeps what it carries.
        if !m.body.has_binary() {
            prop_assert_eq!(&ClusterMessage::decode(&m.encode_sharded(), &limits).unwrap().encode_sharded(), &m.encode_sharded());
        }
    }

    /// A JSON broadcast without acknowledgements: its data's text spliced into the
    /// envelope gives the tree encoder's bytes, the borrowing decoder reads it as the
    /// tree decoder does, and both refuse it one value short of its element count.
    #[test]
    fn sharded_json_broadcast_agrees_with_the_tree(uid in uid(), d in json_event_data(), o in opts()) {
        let limits = Limits::default();
        let m = ClusterMessage {
            uid,
            nsp: "/chat".into(),
            body: ClusterBody::Broadcast { packet: Packet::event(d, None), request_id: None, opts: o },
        };
        let ClusterBody::Broadcast { packet, opts, .. } = &m.body else { unreachable!() };
        let bytes = m.encode_sharded();
        let text = String::from_utf8(json::encode(&packet.data)).unwrap();
        prop_assert_eq!(&ClusterMessage::encode_sharded_broadcast_json(&m.uid, &m.nsp, &text, opts), &bytes);
        let r = ClusterBroadcastRef::decode(&bytes, &limits).expect("read by the borrowing decoder");
        prop_assert_eq!(r.data, text.as_str());
        let tree = ClusterMessage::decode(&bytes, &limits).unwrap();
        let ClusterBody::Broadcast { opts: tree_opts, .. } = &tree.body else { unreachable!() };
        prop_assert_eq!((&r.uid, &r.nsp, &r.opts), (&tree.uid, &tree.nsp, tree_opts));
        let n = values(&json::decode(&bytes, &limits).unwrap());
        let over = Limits::new().max_elements(n - 1);
        prop_assert!(ClusterBroadcastRef::decode(&bytes, &Limits::new().max_elements(n)).is_some());
        prop_assert!(ClusterBroadcastRef::decode(&bytes, &over).is_none());
        prop_assert!(ClusterMessage::decode(&bytes, &over).is_err());
    }

    #[test]
    fn session_round_trip(sid in "[A-Za-z0-9_-]{20}", pid in "[A-Za-z0-9_-]{20}", rooms in rooms(), data in js_value()) {
        let s = SessionRecord { sid, pid, rooms, data };
        prop_assert_eq!(SessionRecord::decode(s.encode().as_bytes(), &Limits::default()).unwrap(), s);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), max_elements in 1usize..40) {
        for limits in [
            Limits::new().max_bytes(150).max_depth(8),
            Limits::new().max_bytes(150).max_depth(8).max_elements(max_elements),
        ] {
            decoders_never_panic_on(&bytes, &limits)?;
        }
    }

    /// The element budget counts exactly the values of the message (the limit at
    /// that count accepts it, one fewer refuses it), in every decoder.
    #[test]
    fn element_budget_is_exact(v in any_value()) {
        let n = values(&v);
        let bytes = msgpack::encode(&v, msgpack::Flavor::Notepack);
        let (fits, over) = (Limits::new().max_elements(n), Limits::new().max_elements(n - 1));
        prop_assert!(msgpack::decode(&bytes, &fits).is_ok());
        prop_assert_eq!(msgpack::decode(&bytes, &over), Err(too_many(n - 1)));
        prop_assert!(msgpack::to_json(&bytes, &fits).is_ok());
        prop_assert_eq!(msgpack::to_json(&bytes, &over), Err(too_many(n - 1)));
    }

    #[test]
    fn json_element_budget_is_exact(v in json_value()) {
        let n = values(&v);
        let bytes = json::encode(&v);
        let (fits, over) = (Limits::new().max_elements(n), Limits::new().max_elements(n - 1));
        prop_assert!(json::decode(&bytes, &fits).is_ok());
        prop_assert_eq!(json::decode(&bytes, &over), Err(too_many(n - 1)));
        let text = std::str::from_utf8(&bytes).unwrap();
        prop_assert_eq!(json::decode_str(text, &over), Err(too_many(n - 1)));
    }

    #[test]
    fn limits_are_enforced(depth in 9usize..40) {
        let limits = Limits::new().max_bytes(1024).max_depth(8);
        let nested = vec![0x91u8; depth].into_iter().chain([0xc0]).collect::<Vec<_>>();
        let r = msgpack::decode(&nested, &limits);
        prop_assert!(matches!(r, Err(sio_redis_wire::DecodeError::TooDeep { .. })), "{:?}", r);
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let r = json::decode(json.as_bytes(), &limits);
        prop_assert!(matches!(r, Err(sio_redis_wire::DecodeError::TooDeep { .. })), "{:?}", r);
        let big = vec![b' '; 2000];
        let r = json::decode(&big, &limits);
        prop_assert!(matches!(r, Err(sio_redis_wire::DecodeError::TooLarge { .. })), "{:?}", r);
    }
}

/// The body of `decoders_never_panic`, for one `limits`.
fn decoders_never_panic_on(bytes: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let _ = sio_redis_wire::decode_any(bytes, limits);
    // Where the tree decoder refuses, the borrowing one refuses, or reading its
    // data does.
    match (
        ClassicBroadcast::decode(bytes, limits),
        ClassicBroadcastRef::decode(bytes, limits),
    ) {
        (Ok(_), r) => prop_assert!(r.is_ok()),
        (Err(_), Ok(r)) => {
            prop_assert!(r.data_value(limits).is_err() && r.data_json(limits).is_err())
        }
        (Err(_), Err(_)) => {}
    }
    let _ = msgpack::to_json(bytes, limits);
    let _ = ClassicRequest::decode(bytes, limits);
    let _ = ClassicResponse::decode(bytes, limits);
    // What the borrowing sharded decoder reads, the tree decoder reads alike.
    let tree = ClusterMessage::decode(bytes, limits);
    if let Some(r) = ClusterBroadcastRef::decode(bytes, limits) {
        let Ok(ClusterMessage {
            uid,
            nsp,
            body:
                ClusterBody::Broadcast {
                    packet,
                    request_id: None,
                    opts,
                },
        }) = tree
        else {
            return Err(TestCaseError::fail(format!(
                "tree decoder disagrees: {tree:?}"
            )));
        };
        prop_assert_eq!((r.uid, r.nsp, r.opts), (uid, nsp, opts));
        prop_assert_eq!(
            json::decode(r.data.as_bytes(), &Limits::default()).unwrap(),
            packet.data
        );
    }
    let _ = SessionRecord::decode(bytes, limits);
    let fields = [
        ("type", &b"3"[..]),
        ("uid", b"u"),
        ("nsp", b"/"),
        ("data", bytes),
    ];
    let _ = ClusterMessage::from_stream_fields(fields, limits);
    Ok(())
}

/// How many values `v` holds, as [`Limits::max_elements`] counts them.
fn values(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(values).sum(),
        Value::Map(members) => members.iter().map(|(_, v)| values(v)).sum(),
        _ => 0,
    }
}

fn too_many(max: usize) -> DecodeError {
    DecodeError::TooManyElements { max }
}

/// `decode` accepts its message with a budget of exactly `n` values (what the whole
/// message holds) and refuses it, with the typed error, with one fewer.
fn budget_is_exact<T: std::fmt::Debug>(
    what: &str,
    n: usize,
    decode: impl Fn(&Limits) -> Result<T, DecodeError>,
) {
    if let Err(e) = decode(&Limits::new().max_elements(n)) {
        panic!("{what}: refused with a budget of {n}: {e}");
    }
    assert_eq!(
        decode(&Limits::new().max_elements(n - 1)).map(|_| ()),
        Err(too_many(n - 1)),
        "{what}"
    );
}

fn unbase64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Every decoder of a message type enforces `Limits::max_elements` over the whole
/// message, counting what the tree decoders count.
#[test]
fn element_budget_is_enforced_by_every_decoder() {
    let data: Vec<Value> = vec![
        "event".into(),
        Value::Array((0..100).map(Value::Int).collect()),
        Value::Map(vec![("a".into(), Value::Array(vec![Value::Nil; 10]))]),
    ];
    let opts = BroadcastOptions::new(vec!["r1".into(), "r2".into()], vec!["x".into()]);
    let count =
        |bytes: &[u8]| values(&sio_redis_wire::decode_any(bytes, &Limits::default()).unwrap());

    let broadcast = ClassicBroadcast {
        uid: "MPVgyK".into(),
        packet: Packet::event(data.clone(), Some("/".into())),
        opts: opts.clone(),
    }
    .encode();
    let n = count(&broadcast);
    assert!(n > 115, "{n}");
    budget_is_exact("ClassicBroadcast", n, |l| {
        ClassicBroadcast::decode(&broadcast, l)
    });
    budget_is_exact("ClassicBroadcastRef", n, |l| {
        let r = ClassicBroadcastRef::decode(&broadcast, l)?;
        // Read with the same limits, the data alone is within the budget.
        r.data_json(l)?;
        r.data_value(l)
    });

    let request = ClassicRequest {
        uid: Some("MPVgyK".into()),
        request_id: Some("abcdef".into()),
        body: RequestBody::ServerSideEmit {
            data: Value::Array(data.clone()),
        },
    }
    .encode();
    budget_is_exact("ClassicRequest", count(&request), |l| {
        ClassicRequest::decode(&request, l)
    });

    let response = ClassicResponse::AllRooms {
        request_id: "abcdef".into(),
        rooms: (0..50).map(|i| format!("room{i}")).collect(),
    }
    .encode();
    budget_is_exact("ClassicResponse", count(&response), |l| {
        ClassicResponse::decode(&response, l)
    });

    let cluster = ClusterMessage {
        uid: "273fd5511329e8bc".into(),
        nsp: "/".into(),
        body: ClusterBody::Broadcast {
            packet: Packet::event(data.clone(), None),
            request_id: None,
            opts,
        },
    };
    for bytes in [cluster.encode_sharded(), cluster.encode_streams_pubsub()] {
        budget_is_exact("ClusterMessage", count(&bytes), |l| {
            ClusterMessage::decode(&bytes, l)
        });
    }
    // Stream entries: the budget applies to `data`, JSON or base64 msgpack.
    let mut binary = cluster.clone();
    if let ClusterBody::Broadcast { packet, .. } = &mut binary.body
        && let Value::Array(items) = &mut packet.data
    {
        items.push(Value::Bin(Bytes::from_static(b"\x01")));
    }
    for m in [&cluster, &binary] {
        let fields = m.to_stream_fields(false).fields;
        let data = &fields.iter().find(|(k, _)| *k == "data").unwrap().1;
        assert_eq!(data.starts_with('{'), std::ptr::eq(m, &cluster), "{data}");
        let n = if data.starts_with('{') {
            count(data.as_bytes())
        } else {
            count(&unbase64(data))
        };
        budget_is_exact("stream entry", n, |l| {
            ClusterMessage::from_stream_fields(fields.iter().map(|(k, v)| (k, v)), l)
        });
    }

    let session = SessionRecord {
        sid: "A".repeat(20),
        pid: "B".repeat(20),
        rooms: vec!["r".into(); 30],
        data: Value::Array(data),
    }
    .encode();
    let n = count(&unbase64(&session));
    budget_is_exact("SessionRecord", n, |l| {
        SessionRecord::decode(session.as_bytes(), l)
    });
}

/// Found by the `session` fuzz target: a session whose data holds an integer beyond
/// ±(2^53 − 1) re-encodes it as float64 (as @msgpack/msgpack 2.8 does); the result then
/// round-trips unchanged.
#[test]
fn session_with_an_unsafe_integer_reencodes_stably() {
    let stored = "hKNzaWS0QkJCQkJCQkJCQkJCQkJCQkJCQkKjcGlktFBQUFBQUFBQUFBQUFBQUFBQUFBQpXJvb10zk7RCQkJCQkJCQkJCQkJCQkJCQkJCQqVyb29tM6tzYWxsZS3DqXTDqaRkYXRhhqR1c2VypWNhcm9spmF2YXRhcsQE3q2+76VzaW5jZdf/oaXWAGWlJXWobmlja25hbWXAqGNvdW50ZXJzlAD/zwAsidEAAAABy0AEAAAAAAAApXByZWZzgA==";
    let limits = Limits::default();
    let first = SessionRecord::decode(stored.as_bytes(), &limits).unwrap();
    let once = first.encode();
    let again = SessionRecord::decode(once.as_bytes(), &limits).unwrap();
    assert_eq!(again.encode(), once);
    let counters = again
        .data
        .get("counters")
        .and_then(Value::as_array)
        .unwrap();
    assert_eq!(counters[2], Value::F64(12_536_429_716_439_041.0));
}

/// Found by the `classic` fuzz target: a packet member other than type/data/nsp whose
/// value holds a map key that is not UTF-8. The tree decoder refuses the message, so
/// the borrowing decoder must too (it once stepped over such members unread).
#[test]
fn borrowed_broadcast_refuses_a_bad_unknown_packet_member() {
    // [uid, {type: 2, data: [7 values], "/": {rooms: [], except: [], "fla\x8fg": 115}}, {}]
    let hex = concat!(
        "93a6614b4762313983a47479706502a46461746197aa7374727563747572657382a47573657284a26964",
        "2aa46e616d65a3626f62a5726f6c657392a561646d696ea3646576a770726f66696c6584a36167651ea8",
        "7665726966696564c3a573636f7265cb4023000000000000a761646472657373c0a46c70747994908091",
        "9081a1618083a16101a163a178a1649301c003c3c2c0a36e7370a12f83a5726f6f6d7390a66578636570",
        "7490a5666c618f677380",
    );
    let bytes = sio_redis_testkit::hex::decode(hex);
    let limits = Limits::default();
    assert!(ClassicBroadcast::decode(&bytes, &limits).is_err());
    assert!(ClassicBroadcastRef::decode(&bytes, &limits).is_err());
}

/// Found by the `classic` fuzz target: a packet that repeats `data`. The first one
/// counts, for both decoders.
#[test]
fn borrowed_broadcast_takes_the_first_of_repeated_members() {
    // [uid "u", {type: 2, data: ["a"], data: ["b"], nsp: "/"}, {}]
    let bytes = [
        &[0x93, 0xa1, b'u', 0x84, 0xa4][..],
        b"type",
        &[0x02, 0xa4],
        b"data",
        &[0x91, 0xa1, b'a', 0xa4],
        b"data",
        &[0x91, 0xa1, b'b', 0xa3],
        b"nsp",
        &[0xa1, b'/', 0x80],
    ]
    .concat();
    let limits = Limits::default();
    let tree = ClassicBroadcast::decode(&bytes, &limits).unwrap();
    let r = ClassicBroadcastRef::decode(&bytes, &limits).unwrap();
    assert_eq!(r.data_value(&limits).unwrap(), tree.packet.data);
    assert_eq!(r.data_json(&limits).unwrap().as_deref(), Some(r#"["a"]"#));
}
