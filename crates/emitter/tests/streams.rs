//! The streams emitter ([`EmitterKind::Streams`]): its stream entries against what
//! `@socket.io/redis-streams-emitter` 0.1 writes for the same calls (its
//! `flattenPayload`, read in the socket.io monorepo, `packages/socket.io-redis-streams-
//! emitter/lib/index.ts`: fields `uid, nsp, type, data`, `data` = `JSON.stringify` of the
//! body, or base64 of @msgpack/msgpack when a broadcast or serverSideEmit carries binary;
//! a broadcast's packet has `nsp`, its options `{rooms, flags, except}`), the stream
//! choice with `streamCount` (the adapter's, negative index included), what the streams
//! adapter's decoder reads back, and what a real redis-server holds after each operation
//! (`XRANGE`), trimming (`MAXLEN ~`) included, on the transport and on a caller's
//! connection; and `sio-emit --streams`.

use std::process::Command;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::json;
use sio_redis_emitter::{
    Args, Emitter, EmitterConfig, EmitterKind, Message, PublishCommand, Selection,
};
use sio_redis_testkit::hex::decode as unhex;
use sio_redis_testkit::{RedisServer, RespValue, redis_server_available};
use sio_redis_wire::{ClusterBody, ClusterMessage, Limits};

fn args<T: serde::Serialize + ?Sized>(v: &T) -> Args {
    Args::from_serialize(v).expect("serializable")
}

/// The entry's fields as `(name, value)` text pairs.
fn fields(m: &Message) -> Vec<(&str, &str)> {
    assert_eq!(m.command, PublishCommand::Xadd);
    assert!(m.payload.is_empty(), "XADD carries its entry in `xadd`");
    let x = m.xadd.as_ref().expect("an XADD message");
    x.fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `uid emitter nsp <nsp> type <type> data <data>`.
fn entry<'a>(nsp: &'a str, kind: &'a str, data: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("uid", "emitter"),
        ("nsp", nsp),
        ("type", kind),
        ("data", data),
    ]
}

/// What Node's streams emitter writes for each call, written out by hand from its
/// source (`JSON.stringify` keeps insertion order: packet `type, data, nsp`; broadcast
/// options `rooms, flags, except`; other options `rooms, except, flags`).
#[test]
fn entries_are_those_of_node_streams_emitter() {
    let s = Selection::streams("socket.io", "/");
    let emit = |sel: Selection, ev: &str, a: Args| sel.emit_message(ev, &a).expect("emits");

    // emitter.emit("greet", "hello", 1, 2.5, true, null)
    let m = emit(s.clone(), "greet", args(&("hello", 1, 2.5, true, ())));
    assert_eq!(m.channel, "socket.io");
    assert_eq!(m.xadd.as_ref().map(|x| x.max_len), Some(10_000));
    assert_eq!(
        fields(&m),
        entry(
            "/",
            "3",
            r#"{"packet":{"type":2,"data":["greet","hello",1,2.5,true,null],"nsp":"/"},"opts":{"rooms":[],"flags":{},"except":[]}}"#
        )
    );
    // emitter.to("room1").to(["room2"]).except("room3").volatile.compress(true).emit("news", {a: 1})
    let m = emit(
        s.clone()
            .to("room1")
            .to(["room2"])
            .except("room3")
            .volatile()
            .compress(true),
        "news",
        args(&(json!({"a": 1}),)),
    );
    assert_eq!(
        fields(&m),
        entry(
            "/",
            "3",
            r#"{"packet":{"type":2,"data":["news",{"a":1}],"nsp":"/"},"opts":{"rooms":["room1","room2"],"flags":{"volatile":true,"compress":true},"except":["room3"]}}"#
        )
    );
    // emitter.of("/chat").compress(false).emit("x")
    let m = emit(s.of("chat").compress(false), "x", Args::new());
    assert_eq!(
        fields(&m),
        entry(
            "/chat",
            "3",
            r#"{"packet":{"type":2,"data":["x"],"nsp":"/chat"},"opts":{"rooms":[],"flags":{"compress":false},"except":[]}}"#
        )
    );
    // emitter.to("room1").socketsJoin(["room2", "room3"]) (flags {} even when set)
    let m = s
        .clone()
        .to("room1")
        .volatile()
        .sockets_join_message(["room2", "room3"]);
    assert_eq!(
        fields(&m),
        entry(
            "/",
            "4",
            r#"{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["room2","room3"]}"#
        )
    );
    // emitter.except("room3").socketsLeave("room1")
    let m = s.clone().except("room3").sockets_leave_message("room1");
    assert_eq!(
        fields(&m),
        entry(
            "/",
            "5",
            r#"{"opts":{"rooms":[],"except":["room3"],"flags":{}},"rooms":["room1"]}"#
        )
    );
    // emitter.in("room2").disconnectSockets(true); emitter.disconnectSockets()
    let m = s.clone().to("room2").disconnect_sockets_message(true);
    assert_eq!(
        fields(&m),
        entry(
            "/",
            "6",
            r#"{"opts":{"rooms":["room2"],"except":[],"flags":{}},"close":true}"#
        )
    );
    let m = s.disconnect_sockets_message(false);
    assert_eq!(
        fields(&m),
        entry(
            "/",
            "6",
            r#"{"opts":{"rooms":[],"except":[],"flags":{}},"close":false}"#
        )
    );
    // emitter.serverSideEmit("hello", "world", {n: 1}): in the stream too
    let m = s
        .server_side_emit_message("hello", &args(&("world", json!({"n": 1}))))
        .expect("server-side emit");
    assert_eq!(m.channel, "socket.io");
    assert_eq!(
        fields(&m),
        entry("/", "9", r#"{"packet":["hello","world",{"n":1}]}"#)
    );
}

/// With binary, `data` is base64 (standard, padded) of the @msgpack/msgpack encoding of
/// the same body, for broadcasts and serverSideEmit (the types Node checks).
#[test]
fn binary_data_is_base64_msgpack() {
    let s = Selection::streams("socket.io", "/");
    let bin = || Bytes::from_static(&[1, 2, 3]);
    let b64 = |hex: &str| base64::engine::general_purpose::STANDARD.encode(unhex(hex));
    // emitter.to("room1").emit("greet", Buffer.from([1, 2, 3]))
    let m = s
        .clone()
        .to("room1")
        .emit_message("greet", &args(&bin()))
        .expect("emits");
    let want = b64(concat!(
        "82",                                    // {
        "a67061636b6574",                        // "packet":
        "83a474797065 02",                       //   {"type": 2,
        "a464617461 92 a56772656574 c403010203", // "data": ["greet", <bin 01 02 03>],
        "a36e7370 a12f",                         //   "nsp": "/"},
        "a46f707473",                            // "opts":
        "83a5726f6f6d73 91a5726f6f6d31",         //   {"rooms": ["room1"],
        "a5666c616773 80",                       //   "flags": {},
        "a6657863657074 90",                     //   "except": []}}
    )
    .replace(' ', "")
    .as_str());
    assert_eq!(fields(&m), entry("/", "3", &want));
    // emitter.serverSideEmit("blob", Buffer.from([1, 2, 3]))
    let m = s
        .server_side_emit_message("blob", &args(&bin()))
        .expect("server-side emit");
    let want = b64("81a67061636b657492a4626c6f62c403010203"); // {"packet": ["blob", <bin>]}
    assert_eq!(fields(&m), entry("/", "9", &want));
}

/// One stream unless `streamCount` > 1; then the adapter's choice, `<name>-<hash % n>`,
/// negative index included (PROTOCOL.md §4.2: `/notifications` → `socket.io--2`).
#[test]
fn the_stream_follows_stream_count() {
    let stream = |count: u32, nsp: &str| {
        Selection::with_kind("socket.io", nsp, EmitterKind::streams_with(count, 5))
            .emit_message("e", &Args::new())
            .expect("emits")
            .channel
    };
    assert_eq!(stream(1, "/notifications"), "socket.io");
    assert_eq!(stream(3, "/"), "socket.io-2");
    assert_eq!(stream(3, "/orders"), "socket.io-2");
    assert_eq!(stream(3, "/notifications"), "socket.io--2");
    for nsp in ["/", "/ns2", "/chat", "/notifications"] {
        assert_eq!(
            stream(3, nsp),
            sio_redis_wire::channels::stream_for("socket.io", 3, nsp),
            "{nsp}"
        );
    }
    let m = Selection::with_kind("app", "/", EmitterKind::streams_with(1, 77))
        .sockets_join_message("r");
    assert_eq!(m.channel, "app");
    assert_eq!(m.xadd.map(|x| x.max_len), Some(77));
}

/// The streams adapter's decoder (a Rust streams node) reads every entry back as the
/// ClusterAdapter message of the call, from uid `"emitter"`.
#[test]
fn the_adapter_reads_the_entries_back() {
    let s = Selection::streams("socket.io", "/ns2");
    let msgs = [
        s.clone()
            .to("r")
            .emit_message("greet", &args(&("x", Bytes::from_static(b"\x00"))))
            .expect("emits"),
        s.clone().sockets_join_message("j"),
        s.clone().sockets_leave_message("j"),
        s.clone().disconnect_sockets_message(true),
        s.server_side_emit_message("hello", &args(&1))
            .expect("server-side emit"),
    ];
    let kinds: Vec<u8> = msgs
        .iter()
        .map(|m| {
            let x = m.xadd.as_ref().expect("xadd");
            let read = ClusterMessage::from_stream_fields(
                x.fields.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
                &Limits::default(),
            )
            .expect("decodes");
            assert_eq!(read.uid, "emitter");
            assert_eq!(read.nsp, "/ns2");
            // and writes the same fields again
            assert_eq!(read.to_stream_fields(false).fields, x.fields);
            let code = read.body.message_type().code();
            match read.body {
                ClusterBody::Broadcast {
                    packet,
                    request_id: None,
                    opts,
                } => {
                    assert_eq!(packet.nsp.as_deref(), Some("/ns2"));
                    assert_eq!(opts.rooms, ["r"]);
                }
                ClusterBody::ServerSideEmit {
                    request_id: None, ..
                } => {}
                ClusterBody::SocketsJoin { .. }
                | ClusterBody::SocketsLeave { .. }
                | ClusterBody::DisconnectSockets { close: true, .. } => {}
                other => panic!("unexpected body {other:?}"),
            }
            code
        })
        .collect();
    assert_eq!(kinds, [3, 4, 5, 6, 9]);
}

/// `XRANGE <stream> - +` as (id, fields).
fn xrange(server: &RedisServer, stream: &str) -> Vec<Vec<(String, String)>> {
    let reply = server
        .command(&["XRANGE", stream, "-", "+"])
        .expect("xrange");
    let RespValue::Array(entries) = reply else {
        panic!("XRANGE reply {reply:?}")
    };
    entries
        .into_iter()
        .map(|e| {
            let RespValue::Array(e) = e else {
                panic!("entry {e:?}")
            };
            let fields = e[1].as_array().expect("fields");
            fields
                .chunks(2)
                .map(|kv| {
                    (
                        kv[0].as_str().expect("name").to_owned(),
                        kv[1].as_str().expect("value").to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn owned(m: &Message) -> Vec<(String, String)> {
    fields(m)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn xlen(server: &RedisServer, stream: &str) -> i64 {
    match server.command(&["XLEN", stream]).expect("xlen") {
        RespValue::Integer(n) => n,
        other => panic!("XLEN reply {other:?}"),
    }
}

/// Every operation of an emitter on the transport, and of one on a caller's redis-rs
/// connection, is one entry of the namespace's stream, with the exact fields; `MAXLEN ~`
/// keeps the stream short.
#[tokio::test]
async fn every_operation_is_one_entry_of_the_stream() {
    if !redis_server_available() {
        eprintln!("redis-server not found: skipped");
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    let config = EmitterConfig::new()
        .kind(EmitterKind::streams_with(3, 10))
        .stream_name("st");
    let transport = Emitter::connect_with(&server.url(), config.clone())
        .await
        .expect("emitter");
    let client = redis::Client::open(server.url()).expect("client");
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let caller = Emitter::from_multiplexed_connection(conn, config).expect("emitter");
    let kind = EmitterKind::streams_with(3, 10);
    for (emitter, nsp, stream) in [
        (&transport, "/orders", "st-2"),
        (&caller, "/notifications", "st--2"),
    ] {
        let e = emitter.of(nsp);
        let sel = Selection::with_kind("st", nsp, kind);
        e.to("lobby")
            .emit("greet", &("hello", Bytes::from_static(b"\x00\xff")))
            .await
            .expect("emit");
        e.except("x")
            .volatile()
            .emit("tick", &1)
            .await
            .expect("emit");
        e.to("lobby").sockets_join(["a", "b"]).await.expect("join");
        e.sockets_leave("a").await.expect("leave");
        e.to("lobby")
            .disconnect_sockets(true)
            .await
            .expect("disconnect");
        e.server_side_emit("reload", &("config",))
            .await
            .expect("sse");
        let want: Vec<Vec<(String, String)>> = [
            sel.clone()
                .to("lobby")
                .emit_message("greet", &args(&("hello", Bytes::from_static(b"\x00\xff"))))
                .expect("message"),
            sel.clone()
                .except("x")
                .volatile()
                .emit_message("tick", &args(&1))
                .expect("message"),
            sel.clone().to("lobby").sockets_join_message(["a", "b"]),
            sel.clone().sockets_leave_message("a"),
            sel.clone().to("lobby").disconnect_sockets_message(true),
            sel.server_side_emit_message("reload", &args(&("config",)))
                .expect("message"),
        ]
        .iter()
        .map(owned)
        .collect();
        assert_eq!(xrange(&server, stream), want, "{nsp} in {stream}");
    }
    // MAXLEN ~ 10: Redis trims whole macro nodes (100 entries by default)
    for i in 0..1000 {
        transport.emit("fill", &i).await.expect("emit");
    }
    let len = xlen(&server, "st-2");
    assert!(len <= 200, "XLEN {len} after 1000 entries with MAXLEN ~ 10");
}

fn sio_emit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sio-emit"))
        .args(args)
        .output()
        .expect("sio-emit runs")
}

/// `sio-emit --streams [--stream-name N] [--stream-count K] [--max-len L]` adds the
/// entry of the library's message to the stream of the namespace; options that do not
/// fit are usage errors (exit 2).
#[test]
fn sio_emit_streams() {
    if !redis_server_available() {
        eprintln!("redis-server not found: skipped");
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    let url = server.url();
    let out = sio_emit(&[
        "--redis",
        &url,
        "--streams",
        "--stream-name",
        "app",
        "--stream-count",
        "3",
        "--max-len",
        "50",
        "--nsp",
        "notifications",
        "--to",
        "lobby",
        "greet",
        "\"hi\"",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = sio_emit(&[
        "--redis",
        &url,
        "--streams",
        "server-side-emit",
        "peer:sse",
        "1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let want = Selection::with_kind("app", "/notifications", EmitterKind::streams_with(3, 50))
        .to("lobby")
        .emit_message("greet", &args(&"hi"))
        .expect("message");
    assert_eq!(want.channel, "app--2");
    assert_eq!(xrange(&server, "app--2"), vec![owned(&want)]);
    let sse = Selection::streams("socket.io", "/")
        .server_side_emit_message("peer:sse", &args(&1))
        .expect("message");
    assert_eq!(xrange(&server, "socket.io"), vec![owned(&sse)]);
    for bad in [
        &["--streams", "--key", "k", "x"][..],
        &["--streams", "--sharded", "x"][..],
        &["--streams", "--stream-count", "0", "x"][..],
        &["--stream-name", "s", "x"][..],
        &["--max-len", "5", "x"][..],
    ] {
        let mut argv = vec!["--redis", url.as_str()];
        argv.extend_from_slice(bad);
        let out = sio_emit(&argv);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
    }
}
