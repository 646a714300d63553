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
