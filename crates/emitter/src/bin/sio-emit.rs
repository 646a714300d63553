//! `sio-emit`: emit Socket.IO events and cluster requests through Redis from a shell, as
//! `@socket.io/redis-emitter` 5.1 does for the classic adapter, (`--sharded [--mode
//! M]`) as a server of the sharded adapter would, or (`--streams [--stream-name N]
//! [--stream-count K] [--max-len L]`) as `@socket.io/redis-streams-emitter` 0.1 does for
//! the streams adapter (see `sio-emit --help`).
//!
//! Run with: `cargo run --release --bin sio-emit -- --redis redis://127.0.0.1:6380 greet '"hi"'`
//!
//! Exit status: 0 on success; 1 with one line `sio-emit: <message>` on stderr when the
//! operation fails; 2 for usage errors (clap).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use sio_redis_emitter::{Args, Emitter, EmitterConfig, EmitterKind, SubscriptionMode, Value};
use sio_redis_wire::{Limits, json};

const AFTER_HELP: &str = "\
Each JSON_ARG is one argument, read as JSON.parse reads it: strings need JSON quotes
('\"hello\"'), numbers, true/false/null, arrays and objects (member order kept) are
written as they are. --binary @FILE appends the file's bytes as a binary argument, after
the JSON arguments, in the order given.

Channels (classic adapter, PUBLISH): <key>#<nsp># (or <key>#<nsp>#<room># with exactly
one --to) for events, <key>-request#<nsp># for join, leave, disconnect and
server-side-emit.

Channels (--sharded, SPUBLISH, Redis >= 7.0): everything on <key>#<nsp>#, except an event
to exactly one room, which goes on <key>#<nsp>#<room># in --mode dynamic (unless the
room is 20 characters long, the length of a Node socket id) and in --mode
dynamic-private, as @socket.io/redis-adapter 8.3 createShardedAdapter chooses. --mode
must be the servers' subscriptionMode. Messages are ClusterAdapter messages with uid
\"emitter\" (JSON, or msgpack when an argument is binary).

Streams (--streams, XADD, as @socket.io/redis-streams-emitter 0.1): every operation,
server-side-emit included, is one entry XADD <stream> MAXLEN ~ <max-len> * uid emitter
nsp <nsp> type <type> data <JSON, or base64 msgpack when an argument is binary>. The
stream is --stream-name, or with --stream-count K > 1 <stream-name>-<i> where i =
hashCode(nsp) % K as the streams adapter computes it (negative for some namespaces:
Node servers do not read those streams). --stream-count must be the servers'
streamCount. --key does not apply (no channel is used).

Examples:
  sio-emit --redis redis://127.0.0.1:6380 greet '\"hello\"' 42
  sio-emit --redis redis://127.0.0.1:6380 --nsp /chat --to lobby --except muted news '{\"title\":\"hi\"}'
  sio-emit --redis redis://127.0.0.1:6380 --binary @photo.png upload '\"photo.png\"'
  sio-emit --redis redis://127.0.0.1:6380 --to lobby join vip
  sio-emit --redis redis://127.0.0.1:6380 --to banned disconnect --close
  sio-emit --redis redis://10.0.0.1:7000,redis://10.0.0.2:7000 server-side-emit reload '\"config\"'
  sio-emit --redis redis://127.0.0.1:6380 emit join   # an event named like a sub-command
  sio-emit --redis redis://127.0.0.1:6380 --sharded --to lobby greet '\"hello\"'
  sio-emit --redis redis://127.0.0.1:6380 --sharded --mode static server-side-emit reload
  sio-emit --redis redis://127.0.0.1:6380 --streams --to lobby greet '\"hello\"'
  sio-emit --redis redis://127.0.0.1:6380 --streams --stream-name app --stream-count 3 --max-len 1000 --nsp /chat news 1

Exit status: 0 on success, 1 when the operation fails (one line \"sio-emit: <message>\" on
stderr), 2 for usage errors.";

/// Emit Socket.IO events, room changes, disconnections and server-side events to a
/// Socket.IO cluster through Redis, as @socket.io/redis-emitter 5.1 does (classic Redis
/// adapter), with --sharded to servers of the sharded adapter, or with --streams to
/// servers of the streams adapter (Node.js and Rust servers alike).
#[derive(Debug, Parser)]
#[command(
    name = "sio-emit",
    version,
    after_help = AFTER_HELP,
    override_usage = "sio-emit --redis URL [OPTIONS] EVENT [JSON_ARG]...\n       \
                      sio-emit --redis URL [OPTIONS] <COMMAND> ...",
    subcommand_negates_reqs = true,
    allow_negative_numbers = true
)]
struct Cli {
    #[arg(
        long,
        value_name = "URL",
        global = true,
        env = "REDIS_URL",
        hide_env_values = true,
        help = "Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS); \
                several comma-separated URLs are the seed nodes of a Redis Cluster. \
                Read from REDIS_URL when not given, so that a password need not be \
                on the command line"
    )]
    redis: Option<String>,

    /// Treat --redis as a Redis Cluster even with a single URL.
    #[arg(long, global = true)]
    cluster: bool,

    /// Channel prefix: the `key` option of the servers' classic Redis adapter, the
    /// `channelPrefix` option of the sharded adapter.
    #[arg(
        long,
        visible_alias = "channel-prefix",
        value_name = "K",
        default_value = "socket.io",
        global = true
    )]
    key: String,

    /// The servers run the sharded adapter (createShardedAdapter, Redis >= 7.0): send
    /// ClusterAdapter messages with SPUBLISH instead of the classic emitter's PUBLISH.
    #[arg(long, global = true, conflicts_with = "streams")]
    sharded: bool,

    /// The servers run the streams adapter (@socket.io/redis-streams-adapter 0.3): write
    /// each operation as a stream entry (XADD), as @socket.io/redis-streams-emitter does.
    #[arg(long, global = true, conflicts_with = "key")]
    streams: bool,

    /// The servers' streamName (with --streams).
    #[arg(
        long,
        value_name = "N",
        default_value = "socket.io",
        requires = "streams",
        global = true
    )]
    stream_name: String,

    /// The servers' streamCount (with --streams): which stream a namespace's entries go to.
    #[arg(
        long,
        value_name = "K",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..),
        requires = "streams",
        global = true
    )]
    stream_count: u32,

    /// MAXLEN ~ of each XADD, in entries (with --streams): Redis trims the stream to
    /// about this many.
    #[arg(
        long,
        value_name = "L",
        default_value_t = sio_redis_emitter::DEFAULT_MAX_LEN,
        requires = "streams",
        global = true
    )]
    max_len: u64,

    /// The servers' subscriptionMode (with --sharded): where an event to one room goes.
    #[arg(
        long,
        value_name = "MODE",
        default_value = "dynamic",
        value_parser = ["static", "dynamic", "dynamic-private"],
        requires = "sharded",
        global = true
    )]
    mode: String,

    /// Namespace (a leading / is added when missing).
    #[arg(long, value_name = "NSP", default_value = "/", global = true)]
    nsp: String,

    /// Target the sockets in ROOM (repeat for several rooms: a socket in any of them).
    #[arg(long = "to", visible_alias = "in", value_name = "ROOM", global = true)]
    to: Vec<String>,

    /// Leave out the sockets in ROOM (may repeat).
    #[arg(long, value_name = "ROOM", global = true)]
    except: Vec<String>,

    /// Mark the event volatile (servers may drop it for clients that are not ready).
    #[arg(long, global = true)]
    volatile: bool,

    /// Set the event's compress flag.
    #[arg(long, global = true)]
    compress: bool,

    /// Append the bytes of FILE as a binary argument (may repeat).
    #[arg(long = "binary", value_name = "@FILE", value_parser = parse_binary, global = true)]
    binary: Vec<PathBuf>,

    /// How long connecting, and then the PUBLISH (SPUBLISH, XADD), may each take, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000, global = true)]
    timeout_ms: u64,

    #[command(subcommand)]
    command: Option<Command>,

    /// Event name (emit to the selected clients).
    #[arg(value_name = "EVENT", required = true)]
    event: Option<String>,

    /// Event arguments, each one JSON value.
    #[arg(value_name = "JSON_ARG", value_parser = parse_json)]
    args: Vec<Value>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Emit EVENT to the selected clients (the default when no sub-command is given;
    /// use it for events named like a sub-command).
    Emit {
        /// Event name.
        #[arg(value_name = "EVENT")]
        event: String,
        /// Event arguments, each one JSON value.
        #[arg(value_name = "JSON_ARG", value_parser = parse_json)]
        args: Vec<Value>,
    },
    /// Make the selected sockets join ROOM… (socketsJoin).
    Join {
        /// Rooms to join.
        #[arg(value_name = "ROOM", required = true)]
        rooms: Vec<String>,
    },
    /// Make the selected sockets leave ROOM… (socketsLeave).
    Leave {
        /// Rooms to leave.
        #[arg(value_name = "ROOM", required = true)]
        rooms: Vec<String>,
    },
    /// Disconnect the selected sockets (disconnectSockets).
    Disconnect {
        /// Also close their underlying connections.
        #[arg(long)]
        close: bool,
    },
    /// Emit EVENT to the Socket.IO servers of the namespace (serverSideEmit; no
    /// acknowledgement; --to/--except/--volatile/--compress do not apply).
    ServerSideEmit {
        /// Event name.
        #[arg(value_name = "EVENT")]
        event: String,
        /// Event arguments, each one JSON value.
        #[arg(value_name = "JSON_ARG", value_parser = parse_json)]
        args: Vec<Value>,
    },
}

/// What to do, after the command line is checked.
enum Op {
    Emit { event: String, args: Vec<Value> },
    Join(Vec<String>),
    Leave(Vec<String>),
    Disconnect { close: bool },
    ServerSideEmit { event: String, args: Vec<Value> },
}

fn parse_json(s: &str) -> Result<Value, String> {
    json::decode(s.as_bytes(), &Limits::default())
        .map_err(|e| format!("not a JSON value ({e}); strings need JSON quotes, e.g. '\"hello\"'"))
}

fn parse_binary(s: &str) -> Result<PathBuf, String> {
    match s.strip_prefix('@') {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err("expected @FILE (the path of the file to send, after an @)".into()),
    }
}

fn usage_error(msg: impl std::fmt::Display) -> ! {
    Cli::command()
        .error(ErrorKind::ArgumentConflict, msg)
        .exit()
}

impl Cli {
    /// The operation, refusing options that do not apply to it (exits with status 2).
    fn op(&mut self) -> Op {
        let selection = !self.to.is_empty() || !self.except.is_empty();
        let flags = self.volatile || self.compress;
        match self.command.take() {
            None => Op::Emit {
                event: self.event.take().unwrap_or_default(),
                args: std::mem::take(&mut self.args),
            },
            Some(Command::Emit { event, args }) => Op::Emit { event, args },
            Some(Command::ServerSideEmit { event, args }) => {
                if selection || flags {
                    usage_error(
                        "server-side-emit reaches every server of the namespace: \
                         --to, --except, --volatile and --compress do not apply",
                    );
                }
                Op::ServerSideEmit { event, args }
            }
            Some(cmd) => {
                if flags || !self.binary.is_empty() {
                    usage_error(
                        "--volatile, --compress and --binary apply to events only, \
                         not to join, leave or disconnect",
                    );
                }
                match cmd {
                    Command::Join { rooms } => Op::Join(rooms),
                    Command::Leave { rooms } => Op::Leave(rooms),
                    Command::Disconnect { close } => Op::Disconnect { close },
                    Command::Emit { .. } | Command::ServerSideEmit { .. } => {
                        unreachable!("handled above")
                    }
                }
            }
        }
    }
}

/// `err` and its causes on one line: `a: b: c`.
fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = e.source();
    }
    line.replace(['\n', '\r'], " ")
}

/// Reads the `--binary` files, in order.
fn read_binaries(paths: &[PathBuf]) -> Result<Vec<Value>, String> {
    paths
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map(|b| Value::Bin(b.into()))
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .collect()
}

async fn run(cli: Cli, op: Op) -> Result<(), String> {
    let Some(redis) = cli.redis.as_deref() else {
        usage_error("--redis URL (or REDIS_URL) is required");
    };
    let timeout = Duration::from_millis(cli.timeout_ms.max(1));
    let (kind, key) = if cli.sharded {
        let mode = SubscriptionMode::from_name(&cli.mode)
            .unwrap_or_else(|| usage_error(format!("unknown --mode {}", cli.mode)));
        (EmitterKind::sharded_with(mode), &cli.key)
    } else if cli.streams {
        (
            EmitterKind::streams_with(cli.stream_count, cli.max_len),
            &cli.stream_name,
        )
    } else {
        (EmitterKind::Classic, &cli.key)
    };
    let config = EmitterConfig::new()
        .kind(kind)
        .key(key.clone())
        .connection_timeout(timeout)
        .response_timeout(timeout);
    let urls: Vec<&str> = redis
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    let binaries = read_binaries(&cli.binary)?;
    let err = |e: sio_redis_emitter::Error| one_line(&e);
    let emitter = if cli.cluster || urls.len() > 1 {
        Emitter::connect_cluster_with(&urls, config).await
    } else {
        Emitter::connect_with(urls.first().copied().unwrap_or(redis), config).await
    }
    .map_err(err)?
    .of(&cli.nsp);
    let operator = emitter.to(cli.to.clone()).except(cli.except.clone());
    let operator = if cli.volatile {
        operator.volatile()
    } else {
        operator
    };
    let operator = if cli.compress {
        operator.compress(true)
    } else {
        operator
    };
    let args_of = |mut values: Vec<Value>| {
        values.extend(binaries.iter().cloned());
        Args::from_values(values)
    };
    match op {
        Op::Emit { event, args } => operator.emit_args(&event, &args_of(args)).await,
        Op::ServerSideEmit { event, args } => {
            emitter.server_side_emit_args(&event, &args_of(args)).await
        }
        Op::Join(rooms) => operator.sockets_join(rooms).await,
        Op::Leave(rooms) => operator.sockets_leave(rooms).await,
        Op::Disconnect { close } => operator.disconnect_sockets(close).await,
    }
    .map_err(err)
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let op = cli.op();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sio-emit: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, op)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sio-emit: {msg}");
            ExitCode::FAILURE
        }
    }
}
