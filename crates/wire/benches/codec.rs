//! Codec speed: encode + decode of the two messages on the broadcast path, and decoding
//! a large object against an array of the same values (member names must cost no more
//! than a constant per member).
//! Run with `cargo bench -p sio-redis-wire --bench codec`.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use sio_redis_wire::classic::ClassicBroadcast;
use sio_redis_wire::{
    BroadcastOptions, ClusterBody, ClusterMessage, Limits, Packet, Value, json, msgpack,
};
use std::hint::black_box;

fn payload() -> Vec<Value> {
    vec![Value::from("chat"), Value::Str("x".repeat(100))]
}

fn classic(c: &mut Criterion) {
    let limits = Limits::default();
    let msg = ClassicBroadcast {
        uid: "MPVgyK".into(),
        packet: Packet::event(payload(), Some("/".into())),
        opts: BroadcastOptions::new(vec!["room1".into()], vec!["AAAAAAAAAAAAAAAAAAAA".into()]),
    };
    c.bench_function("classic broadcast 100 B: encode + decode", |b| {
        b.iter(|| {
            let bytes = black_box(&msg).encode();
            ClassicBroadcast::decode(black_box(&bytes), &limits).expect("decodes")
        })
    });
}

fn cluster(c: &mut Criterion) {
    let limits = Limits::default();
    let msg = ClusterMessage {
        uid: "273fd5511329e8bc".into(),
        nsp: "/".into(),
        body: ClusterBody::Broadcast {
            packet: Packet::event(payload(), None),
            request_id: None,
            opts: BroadcastOptions::new(vec!["room1".into()], vec![]),
        },
    };
    c.bench_function(
        "cluster BROADCAST 100 B, sharded JSON: encode + decode",
        |b| {
            b.iter(|| {
                let bytes = black_box(&msg).encode_sharded();
                ClusterMessage::decode(black_box(&bytes), &limits).expect("decodes")
            })
        },
    );
    c.bench_function(
        "cluster BROADCAST 100 B, streams msgpack: encode + decode",
        |b| {
            b.iter(|| {
                let bytes = black_box(&msg).encode_streams_pubsub();
                ClusterMessage::decode(black_box(&bytes), &limits).expect("decodes")
            })
        },
    );
}

/// How many members / elements the large containers have.
const LARGE: usize = 8_000;

/// Element `i` of the large containers: a small record, as in an object keyed by user
/// id (`{"u0":{"id":0,"name":"user 0"},…}`) or the array of the same records.
fn record(i: usize) -> Value {
    Value::Map(vec![
        ("id".into(), Value::from(i as u64)),
        ("name".into(), Value::from(format!("user {i}"))),
    ])
}

fn large(c: &mut Criterion) {
    let limits = Limits::default();
    let object = Value::Map(
        (0..LARGE)
            .map(|i| (format!("u{i}").into(), record(i)))
            .collect(),
    );
    let array = Value::Array((0..LARGE).map(record).collect());
    let mut g = c.benchmark_group("decode 8 000");
    let (object_json, array_json) = (json::encode(&object), json::encode(&array));
    g.bench_function("JSON object of 8 000 members", |b| {
        b.iter(|| json::decode(black_box(&object_json), &limits).expect("decodes"))
    });
    g.bench_function("JSON array of 8 000 elements", |b| {
        b.iter(|| json::decode(black_box(&array_json), &limits).expect("decodes"))
    });
    let flavor = msgpack::Flavor::Notepack;
    let (object_mp, array_mp) = (
        msgpack::encode(&object, flavor),
        msgpack::encode(&array, flavor),
    );
    g.bench_function("msgpack map of 8 000 members", |b| {
        b.iter(|| msgpack::decode(black_box(&object_mp), &limits).expect("decodes"))
    });
    g.bench_function("msgpack array of 8 000 elements", |b| {
        b.iter(|| msgpack::decode(black_box(&array_mp), &limits).expect("decodes"))
    });
    g.finish();
    // A hostile node message (issue 10): 1 MB of 100 000 small members; target: decoded
    // within 50 ms.
    let huge = Value::Map(
        (0..100_000u64)
            .map(|i| (format!("m{i}").into(), Value::from(i)))
            .collect(),
    );
    let huge_json = json::encode(&huge);
    let mut g = c.benchmark_group("decode 100 000");
    g.sample_size(10);
    g.bench_function("JSON object of 100 000 members", |b| {
        b.iter(|| json::decode(black_box(&huge_json), &limits).expect("decodes"))
    });
    g.finish();
}

criterion_group!(benches, classic, cluster, large);
criterion_main!(benches);
