//! Integration tests of the testkit against real `redis-server` processes.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use sio_redis_testkit::{
    RedisCluster, RedisServer, RespConnection, RespValue, TestkitError, key_slot,
};

/// Unwraps, printing the error with `Display` (it carries the log tail).
fn ok<T>(result: Result<T, TestkitError>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn pong() -> RespValue {
    RespValue::Simple("PONG".to_owned())
}

fn bulk(s: &str) -> RespValue {
    RespValue::Bulk(s.as_bytes().to_vec())
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn redis_binaries_are_available() {
    assert!(sio_redis_testkit::redis_server_available());
    assert!(sio_redis_testkit::redis_cli_available());
}

#[test]
fn standalone_starts_answers_ping_and_stops() {
    let mut server = ok(RedisServer::start());
    assert_ne!(server.port(), 6379);
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(server.addr().port(), server.port());
    assert_eq!(ok(server.command(&["PING"])), pong());
    assert!(ok(server.command(&["SET", "k", "v"])).is_ok());
    assert_eq!(ok(server.command(&["GET", "k"])), bulk("v"));
    assert!(server.logs().contains("Ready to accept connections"));

    let pid = server.pid().expect("running server has a pid");
    assert!(process_exists(pid));
    ok(server.stop());
    assert_eq!(server.pid(), None);
    assert!(!process_exists(pid), "pid {pid} still exists after stop()");
    assert!(matches!(
        server.command(&["PING"]),
        Err(TestkitError::NotRunning { .. })
    ));
    assert!(
        RespConnection::connect(server.addr()).is_err(),
        "port still accepts connections"
    );
}

#[test]
fn restart_keeps_the_port_and_drops_connections() {
    let mut server = ok(RedisServer::start());
    let port = server.port();
    let old_pid = server.pid().unwrap();
    let mut before = ok(server.connect());
    assert!(ok(before.command(&["SET", "k", "v"])).is_ok());

    ok(server.restart());
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), Some(old_pid));
    assert!(!process_exists(old_pid));
    assert_eq!(ok(server.command(&["PING"])), pong());
    // No persistence: the restarted server is empty.
    assert_eq!(ok(server.command(&["GET", "k"])), RespValue::Nil);
    // A connection from before the restart is dead.
    assert!(before.command(&["PING"]).is_err());
}

#[test]
fn restart_starts_a_stopped_server() {
    let mut server = ok(RedisServer::start());
    ok(server.stop());
    ok(server.restart());
    assert_eq!(ok(server.command(&["PING"])), pong());
}

#[test]
fn fixed_port_is_used() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    if port == 6379 {
        return;
    }
    let server = ok(RedisServer::builder().port(port).start());
    assert_eq!(server.port(), port);
    assert_eq!(ok(server.command(&["PING"])), pong());
}

#[test]
fn fixed_port_in_use_fails_with_the_log() {
    let first = ok(RedisServer::start());
    let started = Instant::now();
    let err = RedisServer::builder()
        .port(first.port())
        .ready_timeout(Duration::from_millis(500))
        .start()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30));
    match &err {
        TestkitError::Exited { port, log_tail, .. } => {
            assert_eq!(*port, first.port());
            assert!(log_tail.contains("Address already in use"), "{err}");
        }
        other => panic!("want Exited, got {other}"),
    }
    // The first server is untouched.
    assert_eq!(ok(first.command(&["PING"])), pong());
}

#[test]
fn bad_config_reports_the_reason() {
    let err = RedisServer::builder()
        .config("no-such-directive yes")
        .start()
        .unwrap_err();
    match &err {
        TestkitError::Exited { log_tail, .. } => {
            assert!(log_tail.contains("no-such-directive"), "{err}");
        }
        other => panic!("want Exited, got {other}"),
    }
}

#[test]
fn password_server_wants_auth() {
    let server = ok(RedisServer::builder().password("s3cret pass").start());
    let mut conn = ok(RespConnection::connect(server.addr()));
    let reply = ok(conn.command(&["PING"]));
    assert!(
        reply.as_error().is_some_and(|e| e.starts_with("NOAUTH")),
        "{reply:?}"
    );
    assert!(ok(conn.command(&["AUTH", "s3cret pass"])).is_ok());
    assert_eq!(ok(conn.command(&["PING"])), pong());
    // The kit authenticates its own commands.
    assert_eq!(ok(server.command(&["PING"])), pong());
    assert_eq!(
        server.url_with_credentials(),
        format!("redis://:s3cret%20pass@127.0.0.1:{}", server.port())
    );
}

#[test]
fn acl_user_server_wants_auth() {
    let server = ok(RedisServer::builder()
        .config("user default off")
        .config("user alice on >wonderland ~* &* +@all")
        .credentials("alice", "wonderland")
        .start());
    let mut conn = ok(RespConnection::connect(server.addr()));
    let reply = ok(conn.command(&["PING"]));
    assert!(
        reply.as_error().is_some_and(|e| e.starts_with("NOAUTH")),
        "{reply:?}"
    );
    let reply = ok(conn.command(&["AUTH", "alice", "wrong"]));
    assert!(
        reply.as_error().is_some_and(|e| e.starts_with("WRONGPASS")),
        "{reply:?}"
    );
    assert!(ok(conn.command(&["AUTH", "alice", "wonderland"])).is_ok());
    assert_eq!(ok(conn.command(&["PING"])), pong());
    assert_eq!(ok(server.command(&["ACL", "WHOAMI"])), bulk("alice"));
}

#[test]
fn extra_config_enables_the_debug_command() {
    let plain = ok(RedisServer::start());
    assert!(ok(plain.command(&["DEBUG", "SLEEP", "0"])).is_error());
    let debug = ok(RedisServer::builder()
        .config("enable-debug-command yes")
        .start());
    assert!(ok(debug.command(&["DEBUG", "SLEEP", "0"])).is_ok());
}

#[test]
fn kill_clients_disconnects_normal_and_pubsub_clients() {
    let server = ok(RedisServer::start());
    let mut normal = ok(server.connect());
    assert_eq!(ok(normal.command(&["PING"])), pong());
    let mut subscriber = ok(server.connect());
    let reply = ok(subscriber.command(&["SUBSCRIBE", "chan"]));
    assert_eq!(
        reply.as_array().map(<[RespValue]>::len),
        Some(3),
        "{reply:?}"
    );

    assert_eq!(ok(server.kill_clients()), 2);
    assert!(normal.command(&["PING"]).is_err());
    assert!(subscriber.read_reply().is_err());
    assert_eq!(ok(server.command(&["PING"])), pong());
}

#[test]
fn dropping_a_server_kills_it_and_removes_its_dir() {
    let server = ok(RedisServer::start());
    let pid = server.pid().unwrap();
    let dir = server.dir().to_owned();
    assert!(process_exists(pid));
    assert!(dir.join("redis.log").exists());
    drop(server);
    assert!(!process_exists(pid), "pid {pid} still exists after drop");
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
}

#[test]
fn key_slot_matches_the_server() {
    let server = ok(RedisServer::builder()
        .arg("--cluster-enabled")
        .arg("yes")
        .start());
    for key in [
        "",
        "foo",
        "bar",
        "{user1000}.following",
        "a{}b",
        "{{x}}",
        "ünïcode",
        "123456789",
    ] {
        let reply = ok(server.command(&["CLUSTER", "KEYSLOT", key]));
        assert_eq!(
            reply.as_int(),
            Some(i64::from(key_slot(key.as_bytes()))),
            "key {key:?}"
        );
    }
}

#[test]
fn cluster_comes_up_routes_keys_fails_over_and_dies_on_drop() {
    let started = Instant::now();
    let cluster = ok(RedisCluster::start());
    eprintln!(
        "6-node cluster ready in {} ms",
        started.elapsed().as_millis()
    );

    assert_eq!(cluster.nodes().len(), 6);
    assert_eq!(cluster.urls().len(), 6);
    assert_eq!(cluster.seed_url(), cluster.nodes()[0].url());
    for node in cluster.nodes() {
        assert_ne!(node.port(), 6379);
        let info = ok(node.command(&["CLUSTER", "INFO"]));
        let info = info.as_str().unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_known_nodes:6"), "{info}");
    }
    let primaries: Vec<u16> = ok(cluster.primaries()).iter().map(|n| n.port()).collect();
    let replicas: Vec<u16> = ok(cluster.replicas()).iter().map(|n| n.port()).collect();
    assert_eq!(
        (primaries.len(), replicas.len()),
        (3, 3),
        "{primaries:?} {replicas:?}"
    );

    let keys = ["foo", "bar", "{user1}.a", "{user1}.b", "baz"];
    for key in keys {
        let slot = key_slot(key.as_bytes());
        let owner = ok(cluster.node_for_slot(slot));
        assert!(primaries.contains(&owner.port()));
        assert_eq!(
            ok(cluster.node_for_key(key.as_bytes())).port(),
            owner.port()
        );
        assert!(ok(owner.command(&["SET", key, key])).is_ok());
        assert_eq!(ok(owner.command(&["GET", key])), bulk(key));
        // Any other primary redirects to the owner.
        let other = ok(cluster.primaries())
            .into_iter()
            .find(|n| n.port() != owner.port());
        let reply = ok(other.unwrap().command(&["GET", key]));
        let want = format!("MOVED {slot} 127.0.0.1:{}", owner.port());
        assert_eq!(reply.as_error(), Some(want.as_str()));
    }

    let started = Instant::now();
    let promoted = ok(cluster.failover(0)).port();
    eprintln!("failover done in {} ms", started.elapsed().as_millis());
    assert_eq!(promoted, replicas[0]);
    let new_primaries: Vec<u16> = ok(cluster.primaries()).iter().map(|n| n.port()).collect();
    assert_eq!(new_primaries.len(), 3);
    assert!(new_primaries.contains(&promoted));
    // Replicated data is still served, now possibly by the promoted node.
    for key in keys {
        let owner = ok(cluster.node_for_key(key.as_bytes()));
        assert_eq!(ok(owner.command(&["GET", key])), bulk(key));
    }

    // A restarted replica rejoins from its nodes.conf, in the same role.
    let mut cluster = cluster;
    let replica = ok(cluster.replicas())[0].port();
    let index = cluster
        .nodes()
        .iter()
        .position(|n| n.port() == replica)
        .unwrap();
    let old_pid = cluster.nodes()[index].pid();
    let started = Instant::now();
    ok(cluster.nodes_mut()[index].restart());
    ok(cluster.wait_healthy());
    eprintln!(
        "replica restart + rejoin in {} ms",
        started.elapsed().as_millis()
    );
    assert_ne!(cluster.nodes()[index].pid(), old_pid);
    assert_eq!(cluster.nodes()[index].port(), replica);
    let after: Vec<u16> = ok(cluster.primaries()).iter().map(|n| n.port()).collect();
    assert_eq!(after, new_primaries);

    let pids: Vec<u32> = cluster
        .nodes()
        .iter()
        .filter_map(RedisServer::pid)
        .collect();
    let dirs: Vec<_> = cluster.nodes().iter().map(|n| n.dir().to_owned()).collect();
    assert_eq!(pids.len(), 6);
    drop(cluster);
    for pid in pids {
        assert!(!process_exists(pid), "pid {pid} still exists after drop");
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} still exists after drop", dir.display());
    }
}

#[test]
fn a_panicking_test_prints_the_log_and_still_cleans_up() {
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let server = ok(RedisServer::start());
        *seen.lock().unwrap() = Some((server.pid().unwrap(), server.dir().to_owned()));
        panic!(
            "deliberate failure; the log of 127.0.0.1:{} follows",
            server.port()
        );
    });
    assert!(result.is_err());
    let (pid, dir) = seen.into_inner().unwrap().expect("server started");
    assert!(
        !process_exists(pid),
        "pid {pid} still exists after a panicking drop"
    );
    assert!(
        !dir.exists(),
        "{} still exists after a panicking drop",
        dir.display()
    );
}
