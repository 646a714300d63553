//! A small Socket.IO client: Engine.IO v4 + Socket.IO v5 over WebSocket only, for the
//! `common` (JSON) parser, as socket.io-client 4.8 speaks it.
//!
//! One client is one tokio task that owns its WebSocket; it answers Engine.IO pings,
//! resolves acknowledgements, and hands every event to an optional handler, so that
//! thousands of clients fit in one process. What it does not do: HTTP long-polling,
//! binary attachments (`45`/`46` packets are ignored), reconnection.
//!
//! Wire format (socket.io-parser 4.x): `4` (Engine.IO message) + packet type digit +
//! optional `/nsp,` + optional ack id + JSON data; e.g. `42/ns2,7["info"]`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value as Json;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::stats::now_ms;

/// An event received by a client, handed to its [`EventHandler`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    /// When the frame was read, in epoch milliseconds (before any parsing).
    pub(crate) at_ms: f64,
    /// The JSON array `[event, ...args]`, unparsed.
    pub(crate) data: &'a str,
}

/// Called, on the client's own task, for every event (`42`) packet of its namespace.
pub(crate) type EventHandler = Arc<dyn Fn(Incoming<'_>) + Send + Sync>;

/// Why a client failed.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// TCP connect, WebSocket handshake or I/O failure.
    Io(String),
    /// The server spoke something else than expected.
    Protocol(String),
    /// The namespace refused the connection (`44` packet).
    Refused(String),
    /// No answer in time.
    Timeout(&'static str),
    /// The connection is gone.
    Closed,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "I/O: {e}"),
            ClientError::Protocol(e) => write!(f, "protocol: {e}"),
            ClientError::Refused(e) => write!(f, "connection refused by the namespace: {e}"),
            ClientError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            ClientError::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for ClientError {}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Json>>>>;
type Ws = WebSocketStream<TcpStream>;

/// A connected Socket.IO client of one namespace. Dropping it closes the connection.
pub(crate) struct Client {
    out: mpsc::Sender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    /// The Socket.IO session id the server gave.
    pub(crate) sid: String,
    nsp: String,
    task: JoinHandle<()>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("sid", &self.sid)
            .field("nsp", &self.nsp)
            .finish_non_exhaustive()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Per-connection WebSocket buffers: small, so that 10 000 clients stay cheap
/// (tungstenite's default read buffer is 128 KiB per connection).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(64 << 20))
}

/// The Socket.IO packet prefix of namespace `nsp`: `""` for `/`, `"/ns2,"` otherwise.
fn nsp_prefix(nsp: &str) -> String {
    if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    }
}

impl Client {
    /// Connects to `ws://127.0.0.1:{port}/socket.io/` and joins namespace `nsp`
    /// (`auth` is sent as the CONNECT payload), within `timeout`.
    ///
    /// # Errors
    ///
    /// [`ClientError`] on any failure, including a refused namespace.
    pub(crate) async fn connect(
        port: u16,
        nsp: &str,
        auth: Option<&Json>,
        handler: Option<EventHandler>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let (ws, sid) = tokio::time::timeout(timeout, handshake(port, nsp, auth))
            .await
            .map_err(|_| ClientError::Timeout("the Socket.IO handshake"))??;
        // Outgoing packets are few (calls); a small bound is enough.
        let (out, rx) = mpsc::channel(64);
        let pending: Pending = Arc::default();
        let task = tokio::spawn(run(ws, rx, nsp_prefix(nsp), handler, pending.clone()));
        Ok(Client {
            out,
            pending,
            next_id: AtomicU64::new(0),
            sid,
            nsp: nsp.to_owned(),
            task,
        })
    }

    /// Emits `event` with `payload` (no argument when `Json::Null`) and waits for the
    /// acknowledgement; returns its first argument (`null` if it has none).
    ///
    /// # Errors
    ///
    /// [`ClientError::Timeout`] after `timeout`, [`ClientError::Closed`] if the
    /// connection ends first.
    pub(crate) async fn call(
        &self,
        event: &str,
        payload: &Json,
        timeout: Duration,
    ) -> Result<Json, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let args = if payload.is_null() {
            Json::Array(vec![Json::String(event.to_owned())])
        } else {
            Json::Array(vec![Json::String(event.to_owned()), payload.clone()])
        };
        let text = format!("42{}{id}{args}", nsp_prefix(&self.nsp));
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let result = async {
            self.out
                .send(Message::text(text))
                .await
                .map_err(|_| ClientError::Closed)?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(_)) => Err(ClientError::Closed),
                Err(_) => Err(ClientError::Timeout("an acknowledgement")),
            }
        }
        .await;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        result
    }

    /// [`Client::call`] for idempotent events, tried up to `attempts` times with
    /// `timeout` each: an event sent right after the CONNECT answer can be dropped by a
    /// server whose connect handler registers its event handlers later (socketioxide
    /// runs an async connect handler on a spawned task, after sending CONNECT).
    ///
    /// # Errors
    ///
    /// The last attempt's error.
    pub(crate) async fn call_retry(
        &self,
        event: &str,
        payload: &Json,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Json, ClientError> {
        let mut last = ClientError::Timeout("an acknowledgement");
        for _ in 0..attempts.max(1) {
            match self.call(event, payload, timeout).await {
                Ok(v) => return Ok(v),
                Err(ClientError::Timeout(w)) => last = ClientError::Timeout(w),
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Whether the connection task is still running.
    pub(crate) fn is_connected(&self) -> bool {
        !self.task.is_finished()
    }
}

async fn handshake(port: u16, nsp: &str, auth: Option<&Json>) -> Result<(Ws, String), ClientError> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| ClientError::Io(format!("connect 127.0.0.1:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = client_async_with_config(url, tcp, Some(ws_config()))
        .await
        .map_err(|e| ClientError::Io(format!("WebSocket handshake: {e}")))?;
    // Engine.IO OPEN: `0{"sid":…,"pingInterval":…}`.
    let open = next_text(&mut ws).await?;
    if !open.starts_with('0') {
        return Err(ClientError::Protocol(format!(
            "expected the Engine.IO open packet, got {open:.80}"
        )));
    }
    let prefix = nsp_prefix(nsp);
    let connect = match auth {
        Some(a) => format!("40{prefix}{a}"),
        None => format!("40{prefix}"),
    };
    ws.send(Message::text(connect))
        .await
        .map_err(|e| ClientError::Io(e.to_string()))?;
    loop {
        let text = next_text(&mut ws).await?;
        if text == "2" {
            ws.send(Message::text("3"))
                .await
                .map_err(|e| ClientError::Io(e.to_string()))?;
            continue;
        }
        let Some(rest) = text.strip_prefix('4') else {
            continue;
        };
        let (kind, rest) = rest.split_at(rest.len().min(1));
        let Some(body) = rest.strip_prefix(prefix.as_str()) else {
            continue; // another namespace
        };
        match kind {
            "0" => {
                let v: Json = serde_json::from_str(body)
                    .map_err(|e| ClientError::Protocol(format!("CONNECT payload: {e}")))?;
                let sid = v["sid"].as_str().unwrap_or_default().to_owned();
                return Ok((ws, sid));
            }
            "4" => return Err(ClientError::Refused(body.to_owned())),
            _ => {}
        }
    }
}

async fn next_text(ws: &mut Ws) -> Result<String, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err(ClientError::Closed),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ClientError::Io(e.to_string())),
        }
    }
}

/// The connection task: reads frames, answers pings, resolves acks, calls the handler,
/// and writes what [`Client::call`] queues. Ends when the connection ends.
async fn run(
    mut ws: Ws,
    mut rx: mpsc::Receiver<Message>,
    prefix: String,
    handler: Option<EventHandler>,
    pending: Pending,
) {
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let at_ms = now_ms();
                let text = text.as_str();
                if text == "2" {
                    if ws.send(Message::text("3")).await.is_err() {
                        break;
                    }
                    continue;
                }
                if text.starts_with('1') {
                    break; // Engine.IO close
                }
                let Some(rest) = text.strip_prefix('4') else { continue };
                let (kind, rest) = rest.split_at(rest.len().min(1));
                let Some(body) = rest.strip_prefix(prefix.as_str()) else { continue };
                if prefix.is_empty() && body.starts_with('/') {
                    continue; // a packet of another namespace on this connection
                }
                match kind {
                    "2" => {
                        if let Some(h) = &handler {
                            // An event that asks for an ack carries an id before the data:
                            // skip it; nothing here answers server-side acks.
                            let data = body.trim_start_matches(|c: char| c.is_ascii_digit());
                            h(Incoming { at_ms, data });
                        }
                    }
                    "3" => {
                        let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                        let (id, data) = body.split_at(digits);
                        let Ok(id) = id.parse::<u64>() else { continue };
                        let tx = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                        if let Some(tx) = tx {
                            let first = match serde_json::from_str::<Json>(data) {
                                Ok(Json::Array(mut items)) if !items.is_empty() => items.swap_remove(0),
                                _ => Json::Null,
                            };
                            let _ = tx.send(first);
                        }
                    }
                    "1" => break, // DISCONNECT from the server
                    _ => {}
                }
            }
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
        }
    }
    // Callers waiting for an ack learn that the connection is gone.
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(nsp_prefix("/"), "");
        assert_eq!(nsp_prefix("/ns2"), "/ns2,");
    }
}
