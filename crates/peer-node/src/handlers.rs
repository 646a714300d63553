//! The client → server events of the peer-node contract (PEER-NODE.md), for any adapter.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use futures_util::StreamExt;
use serde_json::{Value as Json, json};
use sio_redis::SessionRecord;
use sio_redis::convert::{EventArgs, to_json, to_value};
use sio_redis::wire::{BroadcastOptions, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::operators::BroadcastOperators;

use peer_node::{BenchEmit, BenchPayload, room_list};

use crate::{NAMESPACES, Node};

/// A request's reply, boxed.
type BoxedReply<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Json, String>> + Send + 'a>>;

/// What a socket shows in fetchSockets answers: `{node, name}`.
#[derive(Debug, Clone)]
struct PeerData(Json);

/// Handles the server-side events of namespace `nsp`: `peer:sse` is logged and
/// acknowledged with `{node, nsp, args}`.
pub(crate) fn register<A: Adapter>(node: &Arc<Node<A>>, nsp: &'static str) {
    let Some(state) = &node.redis else { return };
    let n = node.clone();
    state.on_server_side_emit(nsp, move |ev| {
        if ev.event != "peer:sse" {
            return;
        }
        let args: Vec<Json> = ev.args.iter().map(to_json).collect();
        n.sse_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(ev.nsp.clone())
            .or_default()
            .push(json!({
                "nsp": ev.nsp,
                "args": args,
            }));
        if let Some(ack) = ev.ack {
            let reply = json!({ "node": n.settings.node, "nsp": ev.nsp, "args": args });
            if let Ok(v) = to_value(&reply) {
                ack.send(v);
            }
        }
    });
}

pub(crate) async fn on_connect<A: Adapter>(
    node: Arc<Node<A>>,
    socket: SocketRef<A>,
    auth: Option<Json>,
) {
    // Node servers address a single socket through the room named after its id.
    socket.join(socket.id.to_string());
    let name = auth
        .and_then(|a| a.get("name").cloned())
        .unwrap_or(Json::Null);
    set_data(&node, &socket, name);
    if !node.settings.quiet {
        tracing::info!(sid = %socket.id, nsp = socket.ns(), "connected");
    }
    // Handlers first: the client may call right away, and an event that arrives before
    // its handler is dropped.
    attach(node.clone(), socket.clone());
    sync_rooms(&node, &socket).await;
}

/// Registers `event` on `socket`: its payload (`null` when absent) goes to `f`, and what
/// `f` returns is the acknowledgement (`{error}` when it fails), as the contract wants.
fn on_request<A, F, Fut>(node: &Arc<Node<A>>, socket: &SocketRef<A>, event: &'static str, f: F)
where
    A: Adapter,
    F: Fn(Arc<Node<A>>, SocketRef<A>, Json) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Json, String>> + Send + 'static,
{
    let n = node.clone();
    socket.on(
        event,
        move |s: SocketRef<A>, TryData(p): TryData<Json>, ack: AckSender<A>| {
            let (n, f) = (n.clone(), f.clone());
            async move {
                let reply = f(n, s, p.unwrap_or(Json::Null)).await;
                let _ = ack.send(&reply.unwrap_or_else(|e| json!({ "error": e })));
            }
        },
    );
}

/// With the sharded adapter's dynamic modes, subscribes the room channels of the rooms
/// `socket` just joined before going on (so that the next broadcast to them is not
/// missed); nothing for the other adapters.
async fn sync_rooms<A: Adapter>(node: &Node<A>, socket: &SocketRef<A>) {
    if let Some(state) = &node.redis
        && let Err(e) = state.sync_rooms(socket.ns()).await
    {
        tracing::warn!(error = %e, "cannot subscribe room channels");
    }
}

/// Registers every contract event on `socket`.
fn attach<A: Adapter>(node: Arc<Node<A>>, socket: SocketRef<A>) {
    on_request(&node, &socket, "info", |n, s, _| async move {
        let rooms: Vec<String> = s.rooms().into_iter().map(|r| r.to_string()).collect();
        Ok(json!({
            "node": n.settings.node, "sid": s.id.to_string(), "nsp": s.ns(),
            "adapter": n.settings.adapter, "runtime": "rust", "pid": std::process::id(), "rooms": rooms,
        }))
    });
    on_request(&node, &socket, "join", |n, s, p| async move {
        s.join(room_list(Some(&p)));
        sync_rooms(&n, &s).await;
        Ok(json!(s.rooms()))
    });
    on_request(&node, &socket, "leave", |_, s, p| async move {
        s.leave(room_list(Some(&p)));
        Ok(json!(s.rooms()))
    });
    on_request(&node, &socket, "broadcast", |n, s, p| async move {
        let mut op = if p["fromSocket"].as_bool() == Some(true) {
            s.broadcast()
        } else {
            n.op(s.ns())?
        };
        op = narrow(op, &p);
        if p["volatile"].as_bool() == Some(true) {
            op = op.volatile();
        }
        let event = p["event"].as_str().unwrap_or("message").to_owned();
        op.emit(event, &args_of(&p)?)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Json::Bool(true))
    });
    on_request(&node, &socket, "broadcastWithAck", |n, s, p| async move {
        let timeout = Duration::from_millis(p["timeout"].as_u64().unwrap_or(5000));
        let op = narrow(n.op(s.ns())?, &p).timeout(timeout);
        let event = p["event"].as_str().unwrap_or("message").to_owned();
        let stream = op
            .emit_with_ack::<_, Json>(event, &args_of(&p)?)
            .await
            .map_err(|e| e.to_string())?;
        let items: Vec<_> = stream.collect().await;
        let mut responses = Vec::new();
        let mut err = Json::Null;
        for (_, r) in items {
            match r {
                Ok(v) => responses.push(v),
                // Node's message for an emitWithAck that timed out.
                Err(_) => err = json!("operation has timed out"),
            }
        }
        Ok(json!({ "err": err, "responses": responses }))
    });
    on_request(&node, &socket, "fetchSockets", |n, s, p| async move {
        n.fetch_sockets(s.ns(), &p).await
    });
    on_request(&node, &socket, "socketsJoin", |n, s, p| async move {
        narrow(n.op(s.ns())?, &p)
            .join(room_list(p.get("join")))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Json::Bool(true))
    });
    on_request(&node, &socket, "socketsLeave", |n, s, p| async move {
        narrow(n.op(s.ns())?, &p)
            .leave(room_list(p.get("leave")))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Json::Bool(true))
    });
    on_request(&node, &socket, "disconnectSockets", |n, s, p| async move {
        match &n.redis {
            // The handle carries `close` to Node servers (socketioxide's API has none).
            Some(state) => {
                let opts =
                    BroadcastOptions::new(room_list(p.get("rooms")), room_list(p.get("except")));
                let close = p["close"].as_bool() == Some(true);
                state
                    .disconnect_sockets(s.ns(), opts, close)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            None => narrow(n.op(s.ns())?, &p)
                .disconnect()
                .await
                .map_err(|e| e.to_string())?,
        }
        Ok(Json::Bool(true))
    });
    on_request(&node, &socket, "remoteSocket", |n, s, p| async move {
        n.remote_socket(s.ns(), &p).await
    });
    on_request(&node, &socket, "serverSideEmit", |n, s, p| async move {
        n.server_side_emit(s.ns(), &p).await
    });
    // Boxed: these futures are too deep for the layout of the handler's future.
    on_request(&node, &socket, "session:persist", |n, _, p| async move {
        let f: BoxedReply<'_> = Box::pin(n.persist_session(&p));
        f.await
    });
    on_request(&node, &socket, "session:restore", |n, s, p| async move {
        let f: BoxedReply<'_> = Box::pin(n.restore_session(s.ns(), &p));
        f.await
    });
    on_request(&node, &socket, "sseLog", |n, s, _| async move {
        let log = n.sse_log.lock().unwrap_or_else(|e| e.into_inner());
        Ok(json!(log.get(s.ns()).cloned().unwrap_or_default()))
    });
    on_request(&node, &socket, "bench:emit", |n, s, p| async move {
        n.bench_emit(s.ns(), &p).await
    });
    on_request(&node, &socket, "bench:stats", |n, _, _| async move {
        let (user, sys) = sio_redis_testkit::proc::cpu_micros(None).unwrap_or_default();
        let clients: usize = NAMESPACES
            .iter()
            .filter_map(|nsp| n.io.of(nsp))
            .map(|op| op.sockets().len())
            .sum();
        // every message the adapter got from its Redis subscriptions (sio-bench `rooms`)
        let received = n.redis.as_ref().map(|state| state.stats().received);
        Ok(json!({
            "node": n.settings.node, "pid": std::process::id(), "cpuUserUs": user, "cpuSysUs": sys,
            "rss": sio_redis_testkit::proc::rss_bytes(None).unwrap_or(0), "clients": clients,
            "redisReceived": received,
        }))
    });

    socket.on_disconnect(move |s: SocketRef<A>| {
        let n = node.clone();
        async move {
            if let Some(state) = &n.redis {
                state.remove_socket_data(s.ns(), s.id);
            }
        }
    });
}

fn set_data<A: Adapter>(node: &Node<A>, socket: &SocketRef<A>, name: Json) {
    let data = json!({ "node": node.settings.node, "name": name });
    socket.extensions.insert(PeerData(data.clone()));
    if let Some(state) = &node.redis
        && let Ok(v) = to_value(&data)
    {
        state.set_socket_data(socket.ns(), socket.id, v, Some(handshake(socket)));
    }
}

/// `socket.handshake` in Node's shape, from the HTTP request of the connection.
fn handshake<A: Adapter>(socket: &SocketRef<A>) -> Value {
    let parts = socket.req_parts();
    let headers: serde_json::Map<String, Json> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                Json::String(v.to_str().unwrap_or_default().to_owned()),
            )
        })
        .collect();
    let query: serde_json::Map<String, Json> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), Json::String(v.to_owned())))
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let h = json!({
        "headers": headers, "time": now.to_string(), "address": "127.0.0.1", "xdomain": false,
        "secure": false, "issued": now, "url": parts.uri.to_string(), "query": query, "auth": {},
    });
    to_value(&h).unwrap_or_default()
}

fn narrow<A: Adapter>(op: BroadcastOperators<A>, p: &Json) -> BroadcastOperators<A> {
    let rooms = room_list(p.get("rooms"));
    let except = room_list(p.get("except"));
    let op = if rooms.is_empty() { op } else { op.to(rooms) };
    if except.is_empty() {
        op
    } else {
        op.except(except)
    }
}

/// The `args` of a payload, plus the `binary` member (base64) as a binary argument.
fn args_of(p: &Json) -> Result<EventArgs, String> {
    let mut args: Vec<Value> = match p.get("args") {
        Some(Json::Array(items)) => items
            .iter()
            .map(|a| to_value(a).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?,
        Some(Json::Null) | None => Vec::new(),
        Some(other) => vec![to_value(other).map_err(|e| e.to_string())?],
    };
    if let Some(b64) = p.get("binary").and_then(Json::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("binary: {e}"))?;
        args.push(Value::Bin(bytes.into()));
    }
    Ok(EventArgs(args))
}

impl<A: Adapter> Node<A> {
    fn op(&self, nsp: &str) -> Result<BroadcastOperators<A>, String> {
        self.io.of(nsp).ok_or_else(|| format!("no namespace {nsp}"))
    }

    async fn fetch_sockets(&self, nsp: &str, p: &Json) -> Result<Json, String> {
        let describe = |id: String, rooms: Vec<String>, data: Json| json!({ "id": id, "rooms": rooms, "data": data });
        if let Some(state) = &self.redis {
            let opts = BroadcastOptions {
                flags: None,
                ..BroadcastOptions::new(room_list(p.get("rooms")), room_list(p.get("except")))
            };
            let sockets = state
                .fetch_sockets(nsp, opts)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Json::Array(
                sockets
                    .into_iter()
                    .map(|s| describe(s.id, s.rooms, to_json(&s.data)))
                    .collect(),
            ));
        }
        let sockets = narrow(self.op(nsp)?, p).sockets();
        Ok(Json::Array(
            sockets
                .into_iter()
                .map(|s| {
                    let data = s
                        .extensions
                        .get::<PeerData>()
                        .map(|d| d.0)
                        .unwrap_or(Json::Null);
                    describe(
                        s.id.to_string(),
                        s.rooms().into_iter().map(|r| r.to_string()).collect(),
                        data,
                    )
                })
                .collect(),
        ))
    }

    /// Rust-only extension of the contract: `{id, op, event?, args?, room?}` drives
    /// socketioxide's own `RemoteSocket` API (from `fetch_sockets()`) on the socket `id` of
    /// any node: `op` is `emit`, `join`, `leave`, `rooms` or `disconnect`.
    async fn remote_socket(&self, nsp: &str, p: &Json) -> Result<Json, String> {
        let state = self
            .redis
            .as_ref()
            .ok_or("remoteSocket needs ADAPTER=pubsub")?;
        let id = p["id"].as_str().ok_or("remoteSocket needs `id`")?;
        let sid = state.sid_for_socket_id(id);
        let sockets = self
            .op(nsp)?
            .fetch_sockets()
            .await
            .map_err(|e| e.to_string())?;
        let socket = sockets
            .into_iter()
            .find(|r| r.data().id == sid)
            .ok_or_else(|| format!("no socket {id}"))?;
        let rooms = room_list(p.get("room"));
        match p["op"].as_str().unwrap_or_default() {
            "emit" => {
                let event = p["event"].as_str().unwrap_or("message").to_owned();
                socket
                    .emit(event, &args_of(p)?)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            "join" => socket.join(rooms).await.map_err(|e| e.to_string())?,
            "leave" => socket.leave(rooms).await.map_err(|e| e.to_string())?,
            "rooms" => {
                let mut rooms: Vec<String> = socket
                    .rooms()
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|r| r.to_string())
                    .collect();
                rooms.sort();
                return Ok(json!(rooms));
            }
            "disconnect" => socket.disconnect().await.map_err(|e| e.to_string())?,
            other => return Err(format!("unknown op `{other}`")),
        }
        Ok(Json::Bool(true))
    }

    async fn server_side_emit(&self, nsp: &str, p: &Json) -> Result<Json, String> {
        let event = p["event"].as_str().unwrap_or("peer:sse");
        let args = args_of(p)?.0;
        let with_ack = p["withAck"].as_bool() == Some(true);
        let Some(state) = &self.redis else {
            return Ok(if with_ack {
                json!({ "err": null, "responses": [] })
            } else {
                Json::Bool(true)
            });
        };
        if !with_ack {
            state
                .server_side_emit(nsp, event, args)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Json::Bool(true));
        }
        Ok(
            match state.server_side_emit_with_ack(nsp, event, args).await {
                Ok(responses) => {
                    json!({ "err": null, "responses": responses.iter().map(to_json).collect::<Vec<_>>() })
                }
                Err((e, responses)) => {
                    json!({ "err": e.to_string(), "responses": responses.iter().map(to_json).collect::<Vec<_>>() })
                }
            },
        )
    }

    /// Rust-only extension of the contract (streams adapter): `session:persist`
    /// `{sid, pid, rooms, data, maxDisconnectionDuration?}` stores that session record
    /// through [`RedisAdapterState::persist_session`](sio_redis::RedisAdapterState::persist_session)
    /// for `maxDisconnectionDuration` ms (default 120 000, socket.io's); answers `true`.
    async fn persist_session(&self, p: &Json) -> Result<Json, String> {
        let state = self
            .redis
            .as_ref()
            .ok_or("session:persist needs ADAPTER=streams")?;
        let text = |k: &str| {
            p[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("session:persist needs `{k}`"))
        };
        let session = SessionRecord {
            sid: text("sid")?,
            pid: text("pid")?,
            rooms: room_list(p.get("rooms")),
            data: to_value(&p["data"]).map_err(|e| e.to_string())?,
        };
        let ms = p["maxDisconnectionDuration"].as_u64().unwrap_or(120_000);
        state
            .persist_session(&session, Duration::from_millis(ms))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Json::Bool(true))
    }

    /// Rust-only extension of the contract (streams adapter): `session:restore`
    /// `{pid, offset, nsp?}` (`nsp`: default the socket's) restores that session through
    /// [`RedisAdapterState::restore_session`](sio_redis::RedisAdapterState::restore_session)
    /// and answers `{sid, pid, rooms, data, missedPackets}` (`missedPackets`: each
    /// `[event, ...args, "<entry id>"]`), or `{error}` with the reason it was not.
    async fn restore_session(&self, nsp: &str, p: &Json) -> Result<Json, String> {
        let state = self
            .redis
            .as_ref()
            .ok_or("session:restore needs ADAPTER=streams")?;
        let nsp = p["nsp"].as_str().unwrap_or(nsp);
        let pid = p["pid"].as_str().ok_or("session:restore needs `pid`")?;
        let offset = p["offset"]
            .as_str()
            .ok_or("session:restore needs `offset`")?;
        let restored = state
            .restore_session(nsp, pid, offset)
            .await
            .map_err(|e| match &e {
                sio_redis::Error::SessionNotRestored(why) => format!("{e}: {why}"),
                _ => e.to_string(),
            })?;
        let s = &restored.session;
        let missed: Vec<Json> = restored
            .missed_packets
            .iter()
            .map(|m| Json::Array(m.data.iter().map(to_json).collect()))
            .collect();
        Ok(json!({
            "sid": s.sid, "pid": s.pid, "rooms": s.rooms, "data": to_json(&s.data),
            "missedPackets": missed,
        }))
    }

    /// `bench:emit`: `{sent, ms, errors}`; `{error}` only for an unknown namespace (a
    /// failed broadcast is counted in `errors` and the run goes on).
    async fn bench_emit(&self, nsp: &str, p: &Json) -> Result<Json, String> {
        let req = BenchEmit::from_json(nsp, p);
        self.op(&req.nsp)?;
        let (event, pad) = (req.event.as_str(), req.pad.as_str());
        let reply = req.run(|s, t| {
            let op = self.op(&req.nsp).map(|op| {
                if req.rooms.is_empty() {
                    op
                } else {
                    op.to(req.rooms.clone())
                }
            });
            async move {
                op?.emit(event, &BenchPayload { s, t, p: pad })
                    .await
                    .map_err(|e| e.to_string())
            }
        });
        Ok(reply.await)
    }
}
