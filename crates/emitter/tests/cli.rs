//! The `sio-emit` binary against a real `redis-server` with a password: the
//! URL can come from `REDIS_URL` (so the password is not on the command line),
//! and no output ever shows the password.

use std::process::{Command, Output};

use sio_redis_testkit::{RedisServer, redis_server_available};

fn sio_emit(redis_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sio-emit"))
        .env("REDIS_URL", redis_url)
        .args(args)
        .output()
        .expect("sio-emit runs")
}

#[test]
fn url_from_redis_url_and_no_password_in_any_output() {
    if !redis_server_available() {
        eprintln!("redis-server not found on PATH: test skipped");
        return;
    }
    let server = RedisServer::builder()
        .password("s3cret-pw")
        .start()
        .unwrap();
    let port = server.port();

    let ok = sio_emit(
        &format!("redis://:s3cret-pw@127.0.0.1:{port}"),
        &["--timeout-ms", "2000", "greet", "\"hi\""],
    );
    assert!(ok.status.success(), "{ok:?}");

    let wrong = sio_emit(
        &format!("redis://:wrong-pw-4711@127.0.0.1:{port}"),
        &["--timeout-ms", "2000", "greet", "\"hi\""],
    );
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    let help = sio_emit(&format!("redis://:s3cret-pw@127.0.0.1:{port}"), &["--help"]);
    for out in [&ok, &wrong, &help] {
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            assert!(
                !text.contains("s3cret-pw") && !text.contains("wrong-pw-4711"),
                "a password in the output: {text}"
            );
        }
    }
    assert!(
        String::from_utf8_lossy(&wrong.stderr).starts_with("sio-emit: "),
        "{wrong:?}"
    );
}

/// `--sharded [--mode M]`: SPUBLISH of the sharded message on the channel the mode
/// chooses (an SSUBSCRIBEr on the main and a room channel sees which); `--mode` without
/// `--sharded`, or an unknown mode, is a usage error.
#[test]
fn sharded_publishes_on_the_channel_of_the_mode() {
    use sio_redis_emitter::{Args, Selection, SubscriptionMode};
    use sio_redis_testkit::RespValue;

    if !redis_server_available() {
        eprintln!("redis-server not found on PATH: test skipped");
        return;
    }
    let server = RedisServer::start().unwrap();
    let mut sub = server.connect().unwrap();
    sub.set_timeout(std::time::Duration::from_secs(10)).unwrap();
    for ch in ["k#/#", "k#/#lobby#"] {
        sub.command(&["SSUBSCRIBE", ch]).unwrap();
    }
    for (mode, argv, channel) in [
        (SubscriptionMode::Dynamic, &["--sharded"][..], "k#/#lobby#"),
        (
            SubscriptionMode::Static,
            &["--sharded", "--mode", "static"][..],
            "k#/#",
        ),
        (
            SubscriptionMode::DynamicPrivate,
            &["--sharded", "--mode", "dynamic-private"][..],
            "k#/#lobby#",
        ),
    ] {
        let mut args = vec!["--key", "k", "--to", "lobby"];
        args.extend_from_slice(argv);
        args.extend(["greet", "\"hi\""]);
        let out = sio_emit(&server.url(), &args);
        assert!(out.status.success(), "{out:?}");
        let want = Selection::sharded("k", "/", mode)
            .to("lobby")
            .emit_message("greet", &Args::from_serialize(&"hi").unwrap())
            .unwrap();
        let push = loop {
            let push = sub.read_reply().expect("a message within 10 s");
            if push.as_array().and_then(|a| a[0].as_str()) == Some("smessage") {
                break push;
            }
        };
        let items = push.as_array().unwrap();
        assert_eq!(items[1].as_str(), Some(channel), "{mode:?}");
        assert_eq!(want.channel, channel);
        assert!(
            matches!(&items[2], RespValue::Bulk(p) if *p == want.payload),
            "payload in {mode:?}: {:?}",
            items[2]
        );
    }
    for bad in [
        &["--mode", "static", "x"][..],
        &["--sharded", "--mode", "Dynamic", "x"][..],
    ] {
        let out = sio_emit(&server.url(), bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
    }
}
