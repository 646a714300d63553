//! The sharded emitter ([`EmitterKind::Sharded`]): its bytes against the messages a Node
//! server of `@socket.io/redis-adapter` 8.3 `createShardedAdapter` publishes for the same
//! calls (the golden vectors `sharded/*` of `crates/wire/tests/golden/vectors.json`,
//! with the server's uid replaced by `"emitter"`), its channel choice in each mode
//! (Node's `computeChannel`), and what an `SSUBSCRIBE`r on a real redis-server gets.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value as Json, json};
use sio_redis_emitter::{
    Args, Emitter, EmitterConfig, EmitterKind, Message, PublishCommand, Selection, SubscriptionMode,
};
use sio_redis_testkit::hex::decode as unhex;
use sio_redis_testkit::{RedisServer, RespConnection, RespValue, redis_server_available};
use sio_redis_wire::{ClusterBody, ClusterMessage, Limits, Value};

const VECTORS: &str = include_str!("../../wire/tests/golden/vectors.json");
const SOURCE: &str = "@socket.io/redis-adapter@8.3.0";
const MODES: [SubscriptionMode; 3] = [
    SubscriptionMode::Static,
    SubscriptionMode::Dynamic,
    SubscriptionMode::DynamicPrivate,
];

fn args<T: serde::Serialize + ?Sized>(v: &T) -> Args {
    Args::from_serialize(v).expect("serializable")
}

/// The Rust call reproducing each Node call of the vectors, in `mode`.
fn build(name: &str, mode: SubscriptionMode) -> Option<Message> {
    let s = Selection::sharded("socket.io", "/", mode);
    let emit = |sel: Selection, ev: &str, a: Args| sel.emit_message(ev, &a).expect("emits");
    let bin = || Bytes::from_static(&[1, 2, 3]);
    Some(match name {
        // io.emit("greet", "hello", 1, 2.5, true, null)
        "sharded/broadcast/all-basic" => emit(s, "greet", args(&("hello", 1, 2.5, true, ()))),
        // io.to("room1").emit("greet", { a: 1 })
        "sharded/broadcast/one-room" => emit(s.to("room1"), "greet", args(&(json!({"a": 1}),))),
        // io.to("BBBBBBBBBBBBBBBBBBBA").emit("private", "psst")
        "sharded/broadcast/socket-id-room" => {
            emit(s.to("BBBBBBBBBBBBBBBBBBBA"), "private", args(&"psst"))
        }
        // io.to(["room1", "room3"]).except("room2").emit("news", "héllo wörld, ça va ?")
        "sharded/broadcast/several-rooms-except" => emit(
            s.to(["room1", "room3"]).except("room2"),
            "news",
            args(&"héllo wörld, ça va ?"),
        ),
        // io.volatile.compress(false).emit("tick", 1)
        "sharded/broadcast/volatile-compress" => {
            emit(s.volatile().compress(false), "tick", args(&1))
        }
        // io.to("room1").emit("greet", Buffer.from([1, 2, 3]))
        "sharded/broadcast/one-room-binary" => emit(s.to("room1"), "greet", args(&bin())),
        // io.of("/chat").to("lobby").emit("msg", { from: "alice", text: "hi" })
        "sharded/broadcast/namespace-chat" => emit(
            s.of("chat").to("lobby"),
            "msg",
            args(&(json!({"from": "alice", "text": "hi"}),)),
        ),
        // io.in("room1").socketsJoin(["room2", "room3"])
        "sharded/sockets-join" => s.to("room1").sockets_join_message(["room2", "room3"]),
        // io.except("room3").socketsLeave("room1")
        "sharded/sockets-leave" => s.except("room3").sockets_leave_message("room1"),
        // io.in("room2").disconnectSockets(true)
        "sharded/disconnect-sockets/close-true" => s.to("room2").disconnect_sockets_message(true),
        // io.disconnectSockets()
        "sharded/disconnect-sockets/close-false" => s.disconnect_sockets_message(false),
        // io.serverSideEmit("hello", "world", { n: 1 })
        "sharded/server-side-emit/no-ack" => s
            .server_side_emit_message("hello", &args(&("world", json!({"n": 1}))))
            .expect("server-side emit"),
        // io.serverSideEmit("blob", Buffer.from([1, 2, 3]))
        "sharded/server-side-emit/no-ack-binary" => s
            .server_side_emit_message("blob", &args(&bin()))
            .expect("server-side emit"),
        _ => return None,
    })
}

/// Node's bytes with the server's uid replaced by `"emitter"` (JSON or notepack).
fn as_from_emitter(node: &[u8]) -> Vec<u8> {
    let uid = ClusterMessage::decode(node, &Limits::default())
        .expect("a vector decodes")
        .uid;
    let (from, to): (Vec<u8>, Vec<u8>) = if node.first() == Some(&b'{') {
        (
            format!("\"uid\":\"{uid}\"").into_bytes(),
            b"\"uid\":\"emitter\"".to_vec(),
        )
    } else {
        assert_eq!(uid.len(), 16, "a server uid");
        (
            [&b"\xa3uid\xb0"[..], uid.as_bytes()].concat(),
            b"\xa3uid\xa7emitter".to_vec(),
        )
    };
    let at = node
        .windows(from.len())
        .position(|w| w == from.as_slice())
        .expect("the uid member is in the vector");
    [&node[..at], to.as_slice(), &node[at + from.len()..]].concat()
}

/// (name, target, bytes) of the sharded adapter's vectors.
fn vectors() -> Vec<(String, String, Vec<u8>)> {
    let file: Json = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    file["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["source"] == SOURCE && c["command"] == "SPUBLISH")
        .filter(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("sharded/"))
        })
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["target"].as_str().expect("target").to_owned(),
                unhex(c["hex"].as_str().expect("hex")),
            )
        })
        .collect()
}

/// Every emitter-made operation of the Node vectors (recorded in the adapter's default
/// mode, `dynamic`) gives Node's bytes and channel, uid aside.
#[test]
fn node_sharded_vectors_are_reproduced_byte_for_byte() {
    let mut checked = 0;
    for (name, target, node) in vectors() {
        let Some(msg) = build(&name, SubscriptionMode::Dynamic) else {
            continue;
        };
        assert_eq!(msg.command, PublishCommand::Spublish, "{name}");
        assert_eq!(msg.channel, target, "channel of {name}");
        let want = as_from_emitter(&node);
        assert!(
            msg.payload == want,
            "bytes of {name}\n got: {}\nwant: {}",
            String::from_utf8_lossy(&msg.payload),
            String::from_utf8_lossy(&want)
        );
        checked += 1;
    }
    assert_eq!(checked, 13, "every emitter operation has its vector");
}

/// The payload does not depend on the mode; the channel of a one-room broadcast does.
#[test]
fn channel_choice_follows_compute_channel_in_each_mode() {
    use SubscriptionMode::*;
    let node_sid = "BBBBBBBBBBBBBBBBBBBA"; // 20 characters: looks like a Node socket id
    let rust_sid = "abcdefgh01234567"; // 16: socketioxide's
    let a = Args::new();
    for mode in MODES {
        let s = Selection::sharded("p", "/n", mode);
        let ch = |sel: Selection| sel.emit_message("e", &a).expect("emits").channel;
        let room = |r: &str| match mode {
            Static => "p#/n#".to_owned(),
            Dynamic if r.len() == 20 => "p#/n#".to_owned(),
            _ => format!("p#/n#{r}#"),
        };
        assert_eq!(ch(s.clone()), "p#/n#", "{mode:?} all");
        assert_eq!(ch(s.clone().to("r")), room("r"), "{mode:?} one room");
        assert_eq!(
            ch(s.clone().to(node_sid)),
            room(node_sid),
            "{mode:?} node sid"
        );
        assert_eq!(
            ch(s.clone().to(rust_sid)),
            room(rust_sid),
            "{mode:?} rust sid"
        );
        assert_eq!(ch(s.clone().to("r").except("x")), room("r"), "{mode:?}");
        assert_eq!(ch(s.clone().to(["r", "s"])), "p#/n#", "{mode:?} rooms");
        assert_eq!(ch(s.clone().except("x")), "p#/n#", "{mode:?} except");
        // requests: always the main channel, whatever the rooms
        let one = s.clone().to("r");
        for msg in [
            one.sockets_join_message("j"),
            one.sockets_leave_message("j"),
            one.disconnect_sockets_message(true),
            one.server_side_emit_message("e", &a).expect("sse"),
        ] {
            assert_eq!(msg.channel, "p#/n#", "{mode:?}");
            assert_eq!(msg.command, PublishCommand::Spublish);
        }
        // the same bytes in every mode
        let dynamic = Selection::sharded("p", "/n", Dynamic).to("r");
        assert_eq!(
            s.clone()
                .to("r")
                .emit_message("e", &a)
                .expect("emits")
                .payload,
            dynamic.emit_message("e", &a).expect("emits").payload
        );
        // of() keeps the kind
        assert_eq!(s.of("x").kind(), EmitterKind::sharded_with(mode));
    }
    // the classic kind is unchanged: PUBLISH, classic channels
    let classic = Selection::new("p", "/n").to("r");
    let msg = classic.emit_message("e", &a).expect("emits");
    assert_eq!(
        (msg.command, msg.channel.as_str()),
        (PublishCommand::Publish, "p#/n#r#")
    );
    assert_eq!(classic.sockets_join_message("j").channel, "p-request#/n#");
}

/// The messages decode as ClusterAdapter messages from uid "emitter", with no `nsp` in
/// the packet and `flags` in every `opts`; reserved names are refused as in the classic
/// kind.
#[test]
fn messages_are_cluster_messages_from_the_emitter() {
    let s = Selection::sharded("socket.io", "/chat", SubscriptionMode::Dynamic);
    let decode =
        |m: &Message| ClusterMessage::decode(&m.payload, &Limits::default()).expect("decodes");
    let m = decode(
        &s.clone()
            .to("r")
            .volatile()
            .emit_message("e", &args(&1))
            .expect("emits"),
    );
    assert_eq!((m.uid.as_str(), m.nsp.as_str()), ("emitter", "/chat"));
    let ClusterBody::Broadcast {
        packet,
        request_id,
        opts,
    } = m.body
    else {
        panic!("a broadcast: {:?}", m.body)
    };
    assert_eq!(packet.nsp, None);
    assert_eq!(request_id, None);
    assert!(opts.flags().volatile);
    let join = s.sockets_join_message("j");
    assert!(
        String::from_utf8_lossy(&join.payload).contains(r#""flags":{}"#),
        "opts carry flags"
    );
    assert!(s.emit_message("connect", &Args::new()).is_err());
    assert!(
        s.server_side_emit_message("connection", &Args::new())
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// against a real redis-server (7.0 or later: SPUBLISH)

const WAIT: Duration = Duration::from_secs(10);

/// The next `smessage` on `conn`: (channel, payload).
fn next_smessage(conn: &mut RespConnection) -> (String, Vec<u8>) {
    loop {
        let push = conn.read_reply().expect("a published message within 10 s");
        let Some(items) = push.as_array() else {
            panic!("unexpected reply {push:?}")
        };
        if items[0].as_str() != Some("smessage") {
            continue;
        }
        let channel = items[1].as_str().expect("channel").to_owned();
        let RespValue::Bulk(payload) = &items[2] else {
            panic!("payload is not a bulk string: {:?}", items[2])
        };
        return (channel, payload.clone());
    }
}

#[tokio::test]
async fn an_ssubscriber_receives_every_operation() {
    if !redis_server_available() {
        eprintln!("redis-server not found: skipped");
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    let mut sub = server.connect().expect("connect");
    sub.set_timeout(WAIT).expect("timeout");
    for ch in ["socket.io#/#", "socket.io#/#lobby#"] {
        let reply = sub.command(&["SSUBSCRIBE", ch]).expect("ssubscribe");
        assert_eq!(
            reply.as_array().expect("confirmation")[0].as_str(),
            Some("ssubscribe")
        );
    }
    let config = EmitterConfig::new().kind(EmitterKind::sharded());
    let emitter = Emitter::connect_with(&server.url(), config)
        .await
        .expect("emitter");
    let main = Selection::sharded("socket.io", "/", SubscriptionMode::Dynamic);
    let mut expect = |want: Message| {
        let (channel, payload) = next_smessage(&mut sub);
        assert_eq!(channel, want.channel);
        assert_eq!(payload, want.payload, "payload on {channel}");
    };

    emitter
        .emit("greet", &("hello", Bytes::from_static(b"\x00\xff")))
        .await
        .expect("emit");
    expect(
        main.emit_message(
            "greet",
            &Args::from_values(vec![
                Value::Str("hello".into()),
                Value::Bin(Bytes::from_static(b"\x00\xff")),
            ]),
        )
        .expect("message"),
    );
    emitter.to("lobby").emit("news", &"x").await.expect("emit");
    expect(
        main.clone()
            .to("lobby")
            .emit_message("news", &args(&"x"))
            .expect("message"),
    );
    emitter
        .to(["a", "b"])
        .sockets_join("j")
        .await
        .expect("join");
    expect(main.clone().to(["a", "b"]).sockets_join_message("j"));
    emitter
        .except("a")
        .sockets_leave(["j"])
        .await
        .expect("leave");
    expect(main.clone().except("a").sockets_leave_message("j"));
    emitter.disconnect_sockets(true).await.expect("disconnect");
    expect(main.disconnect_sockets_message(true));
    emitter
        .server_side_emit("reload", &("config",))
        .await
        .expect("sse");
    expect(
        main.server_side_emit_message("reload", &args(&("config",)))
            .expect("message"),
    );
}

/// On a Redis Cluster an `SPUBLISH` must reach the primary of the channel's slot: an
/// `SSUBSCRIBE`r there gets the messages of the transport-backed emitter
/// (`connect_cluster_with`) and of one on a caller's redis-rs `ClusterConnection` (its
/// routing by first key), channels on different slots included.
#[tokio::test]
async fn on_a_redis_cluster_spublish_reaches_the_slot_owner() {
    if !redis_server_available() || !sio_redis_testkit::redis_cli_available() {
        eprintln!("redis-server / redis-cli not found: skipped");
        return;
    }
    let cluster = sio_redis_testkit::RedisCluster::start().expect("redis cluster");
    let sel = Selection::sharded("socket.io", "/ns2", SubscriptionMode::Dynamic);
    let msgs = [
        sel.clone()
            .to("room1")
            .emit_message("greet", &args(&"hi"))
            .expect("message"),
        sel.clone()
            .to("room2")
            .emit_message("greet", &args(&"hi"))
            .expect("message"),
        sel.sockets_join_message("j"),
    ];
    let slots: std::collections::HashSet<u16> = msgs
        .iter()
        .map(|m| sio_redis_testkit::key_slot(m.channel.as_bytes()))
        .collect();
    assert_eq!(slots.len(), 3, "three slots");
    // one subscriber per channel, on the primary owning its slot
    let mut subs: Vec<(RespConnection, &Message)> = msgs
        .iter()
        .map(|m| {
            let node = cluster
                .node_for_key(m.channel.as_bytes())
                .expect("slot owner");
            let mut sub = node.connect().expect("connect");
            sub.set_timeout(WAIT).expect("timeout");
            sub.command(&["SSUBSCRIBE", &m.channel])
                .expect("ssubscribe");
            (sub, m)
        })
        .collect();
    let config = || EmitterConfig::new().kind(EmitterKind::sharded());
    let transport = Emitter::connect_cluster_with(&cluster.urls(), config())
        .await
        .expect("cluster emitter");
    let client = redis::cluster::ClusterClient::new(cluster.urls()).expect("cluster client");
    let conn = client
        .get_async_connection()
        .await
        .expect("cluster connection");
    let caller = Emitter::from_cluster_connection(conn, config()).expect("emitter");
    for emitter in [transport, caller] {
        for m in &msgs {
            emitter.publish(m).await.expect("spublish");
        }
        for (sub, m) in &mut subs {
            let (channel, payload) = next_smessage(sub);
            assert_eq!(channel, m.channel);
            assert_eq!(payload, m.payload);
        }
    }
}
