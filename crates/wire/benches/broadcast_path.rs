//! The sharded adapter's broadcast path, one side at a time, for instruction counts
//! (wall-clock rates are noise on a shared machine):
//!
//! ```text
//! cargo bench -p sio-redis-wire --bench broadcast_path --no-run
//! perf stat -e instructions:u target/release/deps/broadcast_path-<hash> <path> <n>
//! ```
//!
//! runs `<path>` `<n>` times; the instructions of `n = 0` subtracted and divided by `n`
//! are the cost of one broadcast. Paths (100-byte string argument, one room):
//! - `send-tree`: socketioxide's JSON text parsed into a [`Value`] tree, the envelope
//!   encoded from it (the path of msgpack namespaces and binary payloads);
//! - `recv-tree`: the envelope decoded into a tree, its `packet.data` written back as
//!   JSON text (standing in for socketioxide's parser, which serialises it again);
//! - `send-json`: the text spliced into the envelope as is
//!   ([`ClusterMessage::encode_sharded_broadcast_json`]);
//! - `recv-json`: the envelope read by [`ClusterBroadcastRef::decode`], `packet.data`
//!   copied out as text.
#![allow(missing_docs)]

use std::hint::black_box;

use sio_redis_wire::{
    BroadcastOptions, ClusterBody, ClusterBroadcastRef, ClusterMessage, Limits, Packet, json,
};

const TEXT: &str = concat!(
    r#"["chat","xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"#,
    r#"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]"#
);

fn opts() -> BroadcastOptions {
    BroadcastOptions::new(vec!["room1".into()], vec![])
}

fn send_tree(limits: &Limits) -> Vec<u8> {
    let data = json::decode_str(black_box(TEXT), limits).expect("decodes");
    ClusterMessage {
        uid: "273fd5511329e8bc".into(),
        nsp: "/".into(),
        body: ClusterBody::Broadcast {
            packet: Packet {
                kind: sio_redis_wire::PacketType::Event,
                data,
                nsp: None,
            },
            request_id: None,
            opts: opts(),
        },
    }
    .encode_sharded()
}

fn send_json(opts: &BroadcastOptions) -> Vec<u8> {
    ClusterMessage::encode_sharded_broadcast_json("273fd5511329e8bc", "/", black_box(TEXT), opts)
}

fn recv_tree(bytes: &[u8], limits: &Limits) -> Vec<u8> {
    let m = ClusterMessage::decode(black_box(bytes), limits).expect("decodes");
    let ClusterBody::Broadcast { packet, .. } = m.body else {
        panic!("a broadcast")
    };
    json::encode(&packet.data)
}

fn recv_json(bytes: &[u8], limits: &Limits) -> String {
    let b = ClusterBroadcastRef::decode(black_box(bytes), limits).expect("fast path");
    black_box(&b.opts);
    b.data.to_owned()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let limits = Limits::default();
    let o = opts();
    let bytes = send_tree(&limits);
    for _ in 0..n {
        match path.as_str() {
            "send-tree" => drop(black_box(send_tree(&limits))),
            "send-json" => drop(black_box(send_json(&o))),
            "recv-tree" => drop(black_box(recv_tree(&bytes, &limits))),
            "recv-json" => drop(black_box(recv_json(&bytes, &limits))),
            _ => {
                eprintln!("paths: send-tree send-json recv-tree recv-json");
                std::process::exit(2);
            }
        }
    }
}
