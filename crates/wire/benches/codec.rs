//! Codec speed: encode + decode of the two messages on the broadcast path.
//! Run with `cargo bench -p sio-redis-wire --bench codec`.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use sio_redis_wire::classic::ClassicBroadcast;
use sio_redis_wire::{BroadcastOptions, ClusterBody, ClusterMessage, Limits, Packet, Value};
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

criterion_group!(benches, classic, cluster);
criterion_main!(benches);
