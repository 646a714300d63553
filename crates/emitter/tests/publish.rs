//! The emitter against real `redis-server`s (sio-redis-testkit): what a subscriber on a
//! standalone server, or on any node of a Redis Cluster, receives; connection errors;
//! reconnection after a server restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sio_redis_emitter::{Args, Emitter, EmitterConfig, Error, Message, NoArgs, Selection, Value};
use sio_redis_testkit::{
    RedisCluster, RedisServer, RespConnection, RespValue, redis_cli_available,
    redis_server_available,
};
use sio_redis_wire::Limits;
use sio_redis_wire::classic::{ClassicBroadcast, ClassicRequest, RequestBody};

const WAIT: Duration = Duration::from_secs(10);

/// A connection subscribed to every channel of the default prefix (`PSUBSCRIBE
/// socket.io*`), ready once the subscription is confirmed.
fn subscriber(conn: RespConnection) -> RespConnection {
    let mut conn = conn;
    conn.set_timeout(WAIT).expect("timeout");
    let reply = conn
        .command(&["PSUBSCRIBE", "socket.io*"])
        .expect("psubscribe");
    let confirm = reply.as_array().expect("psubscribe confirmation");
    assert_eq!(confirm[0].as_str(), Some("psubscribe"));
    conn
}

/// The next `pmessage`: (channel, payload).
fn next_message(conn: &mut RespConnection) -> (String, Vec<u8>) {
    loop {
        let push = conn.read_reply().expect("a published message within 10 s");
        let Some(items) = push.as_array() else {
            panic!("unexpected reply {push:?}")
        };
        if items[0].as_str() != Some("pmessage") {
            continue;
        }
        let channel = items[2].as_str().expect("channel").to_owned();
        let RespValue::Bulk(payload) = &items[3] else {
            panic!("payload is not a bulk string: {:?}", items[3])
        };
        return (channel, payload.clone());
    }
}

fn assert_received(conn: &mut RespConnection, expected: &Message) {
    let (channel, payload) = next_message(conn);
    assert_eq!(channel, expected.channel);
    assert_eq!(payload, expected.payload, "payload on {channel}");
}

fn skip() -> bool {
    if redis_server_available() {
        return false;
    }
    eprintln!("redis-server not found: skipped");
    true
}

#[tokio::test]
async fn standalone_subscriber_receives_every_operation() {
    if skip() {
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    let mut sub = subscriber(server.connect().expect("connect"));
    let emitter = Emitter::connect(&server.url()).await.expect("emitter");
    let main = Selection::main();

    // emit to all, with a binary argument
    emitter
        .emit("greet", &("hello", 1, Bytes::from_static(b"\x00\xff")))
        .await
        .expect("emit");
    let (channel, payload) = next_message(&mut sub);
    assert_eq!(channel, "socket.io#/#");
    let msg = ClassicBroadcast::decode(&payload, &Limits::default()).expect("a classic broadcast");
    assert_eq!(msg.uid, "emitter");
    assert_eq!(msg.packet.nsp.as_deref(), Some("/"));
    assert_eq!(
        msg.packet.data,
        Value::Array(vec![
            Value::Str("greet".into()),
            Value::Str("hello".into()),
            Value::Int(1),
            Value::Bin(Bytes::from_static(b"\x00\xff")),
        ])
    );

    // one room, volatile, in a namespace without its slash
    let chat = emitter.of("chat");
    chat.to("lobby")
        .volatile()
        .emit("news", &NoArgs)
        .await
        .expect("emit");
    let expected = main
        .of("/chat")
        .to("lobby")
        .volatile()
        .emit_message("news", &Args::new())
        .expect("message");
    assert_eq!(expected.channel, "socket.io#/chat#lobby#");
    assert_received(&mut sub, &expected);

    // several rooms, except, compress: the namespace channel
    emitter
        .to(["a", "b"])
        .except("c")
        .compress(false)
        .emit("x", &[1, 2])
        .await
        .expect("emit");
    let expected = main
        .clone()
        .to(["a", "b"])
        .except("c")
        .compress(false)
        .emit_message("x", &Args::from_values(vec![Value::Int(1), Value::Int(2)]))
        .expect("message");
    assert_eq!(expected.channel, "socket.io#/#");
    assert_received(&mut sub, &expected);

    // requests
    emitter
        .in_("r1")
        .sockets_join(["j1", "j2"])
        .await
        .expect("join");
    assert_received(
        &mut sub,
        &main.clone().to("r1").sockets_join_message(["j1", "j2"]),
    );
    emitter.sockets_leave("j1").await.expect("leave");
    assert_received(&mut sub, &main.sockets_leave_message("j1"));
    emitter
        .except("keep")
        .disconnect_sockets(true)
        .await
        .expect("disconnect");
    let (channel, payload) = next_message(&mut sub);
    assert_eq!(channel, "socket.io-request#/#");
    let req = ClassicRequest::decode(&payload, &Limits::default()).expect("a classic request");
    assert_eq!(req.uid, None);
    assert!(
        matches!(&req.body, RequestBody::RemoteDisconnect { opts, close: true } if opts.except == ["keep"]),
        "{req:?}"
    );
    chat.server_side_emit("peer:sse", &("ping", 7))
        .await
        .expect("server-side emit");
    let (channel, payload) = next_message(&mut sub);
    assert_eq!(channel, "socket.io-request#/chat#");
    assert_eq!(
        String::from_utf8(payload).expect("JSON"),
        r#"{"uid":"emitter","type":6,"data":["peer:sse","ping",7]}"#
    );

    // a reserved name is refused before anything is sent
    let err = emitter
        .emit("disconnect", &NoArgs)
        .await
        .expect_err("reserved");
    assert!(matches!(err, Error::ReservedEvent { .. }), "{err:?}");
    emitter.emit("after", &NoArgs).await.expect("emit");
    let (channel, payload) = next_message(&mut sub);
    assert_eq!(channel, "socket.io#/#");
    let msg = ClassicBroadcast::decode(&payload, &Limits::default()).expect("broadcast");
    assert_eq!(
        msg.packet.event_name(),
        Some("after"),
        "nothing came before it"
    );
}

#[tokio::test]
async fn custom_key_and_password() {
    if skip() {
        return;
    }
    let server = RedisServer::builder()
        .password("s3cret")
        .start()
        .expect("redis-server");
    let mut sub = server.connect().expect("connect");
    sub.set_timeout(WAIT).expect("timeout");
    sub.command(&["SUBSCRIBE", "myapp#/#"]).expect("subscribe");
    let config = EmitterConfig::new().key("myapp");
    let emitter = Emitter::connect_with(&server.url_with_credentials(), config.clone())
        .await
        .expect("emitter");
    assert_eq!(emitter.key(), "myapp");
    emitter.emit("e", &1).await.expect("emit");
    let push = sub.read_reply().expect("message");
    let items = push.as_array().expect("message");
    assert_eq!(items[0].as_str(), Some("message"));
    assert_eq!(items[1].as_str(), Some("myapp#/#"));

    // a wrong password fails at once with the cause, and no password is shown
    let bad = server
        .url_with_credentials()
        .replace("s3cret", "wrong-password");
    let err = Emitter::connect_with(&bad, config)
        .await
        .expect_err("wrong password");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong-password"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn connection_errors_are_returned_not_hung() {
    // nothing listens on a port just released by the OS
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let started = Instant::now();
    let err = Emitter::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.is_retryable(), "a refused connection may pass");
    assert!(started.elapsed() < Duration::from_secs(5), "failed at once");

    let err = Emitter::connect("not a url").await.expect_err("bad url");
    assert!(
        matches!(err, Error::Config { setting: "url", .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = Emitter::connect_with(
        "redis://127.0.0.1:1",
        EmitterConfig::new().response_timeout(Duration::ZERO),
    )
    .await
    .expect_err("zero timeout");
    assert!(
        matches!(
            err,
            Error::Config {
                setting: "response_timeout",
                ..
            }
        ),
        "{err:?}"
    );

    let none: [&str; 0] = [];
    let err = Emitter::connect_cluster(&none).await.expect_err("no seed");
    assert!(
        matches!(
            err,
            Error::Config {
                setting: "urls",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn reconnects_after_a_restart_and_times_out_while_down() {
    if skip() {
        return;
    }
    let mut server = RedisServer::start().expect("redis-server");
    let config = EmitterConfig::new().response_timeout(Duration::from_millis(500));
    let emitter = Emitter::connect_with(&server.url(), config)
        .await
        .expect("emitter");
    emitter.emit("before", &NoArgs).await.expect("emit");

    // while Redis is down, each operation fails within about the response timeout
    server.stop().expect("stop");
    let started = Instant::now();
    let err = emitter
        .emit("down", &NoArgs)
        .await
        .expect_err("Redis is down");
    assert!(
        matches!(err, Error::Timeout { .. } | Error::Publish { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // back on the same port: the emitter reconnects by itself
    server.restart().expect("restart");
    let mut sub = subscriber(server.connect().expect("connect"));
    let deadline = Instant::now() + WAIT;
    loop {
        match emitter.emit("back", &NoArgs).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_retryable(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no reconnection within 10 s: {e:?}"),
        }
    }
    let expected = Selection::main()
        .emit_message("back", &Args::new())
        .expect("message");
    assert_received(&mut sub, &expected);
}

#[tokio::test]
async fn cluster_subscriber_on_any_node_receives_the_publish() {
    if skip() || !redis_cli_available() {
        return;
    }
    let cluster = RedisCluster::start().expect("redis cluster");
    let mut subs: Vec<RespConnection> = cluster
        .nodes()
        .iter()
        .map(|node| subscriber(node.connect().expect("connect")))
        .collect();
    let emitter = Emitter::connect_cluster(&cluster.urls())
        .await
        .expect("cluster emitter");
    let ops = emitter.of("/ns2");
    ops.to("room1").emit("greet", &("hi",)).await.expect("emit");
    ops.sockets_join("j").await.expect("join");
    let sel = Selection::main().of("/ns2");
    let expected = [
        sel.clone()
            .to("room1")
            .emit_message("greet", &Args::from_serialize(&("hi",)).expect("args"))
            .expect("message"),
        sel.sockets_join_message("j"),
    ];
    assert_eq!(expected[0].channel, "socket.io#/ns2#room1#");
    // The two PUBLISHes go to different channels, routed to whichever nodes the cluster
    // client picks; the cluster bus keeps the order per channel only, so compare as sets.
    let mut want: Vec<(String, Vec<u8>)> = expected
        .iter()
        .map(|m| (m.channel.clone(), m.payload.clone()))
        .collect();
    want.sort();
    for (i, sub) in subs.iter_mut().enumerate() {
        let mut got: Vec<(String, Vec<u8>)> = expected.iter().map(|_| next_message(sub)).collect();
        got.sort();
        assert_eq!(got, want, "node {i}");
    }
}
