//! [`StallProxy`]: a TCP proxy on a free loopback port that can stop
//! forwarding without closing anything, as a network that drops every packet
//! does (a half-open connection: no FIN, no reset).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::error::{Result, TestkitError};

/// How often a stalled or idle forwarding thread looks at the switches again.
const TICK: Duration = Duration::from_millis(5);

/// A proxy from a free loopback port to `target`.
///
/// Connections made while it [`stalls`](StallProxy::stall) are accepted but
/// nothing is forwarded; connections that were stalled stay stalled forever
/// (their bytes are never delivered, they are never closed: the peer must
/// notice by itself), while connections made after
/// [`resume`](StallProxy::resume) are forwarded again. Dropping the proxy
/// closes every connection.
#[derive(Debug)]
pub struct StallProxy {
    addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    stalled: AtomicBool,
    /// Bumped by `stall`: connections of an older epoch are dead for good.
    epoch: AtomicU64,
    closed: AtomicBool,
}

impl StallProxy {
    /// Listens on `127.0.0.1:0` and forwards to `target`.
    ///
    /// # Errors
    /// [`TestkitError::Io`] (naming `target`) when the bind fails.
    pub fn start(target: SocketAddr) -> Result<StallProxy> {
        let io = |source| TestkitError::Io {
            addr: target,
            source,
        };
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        let state = Arc::new(State::default());
        let st = state.clone();
        thread::spawn(move || accept_loop(&listener, target, &st));
        Ok(StallProxy { addr, state })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:<port>` of the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Stops forwarding on every connection, open or new, without closing any.
    pub fn stall(&self) {
        self.state.epoch.fetch_add(1, Ordering::SeqCst);
        self.state.stalled.store(true, Ordering::SeqCst);
    }

    /// New connections are forwarded again; those open during the stall stay
    /// dead.
    pub fn resume(&self) {
        self.state.stalled.store(false, Ordering::SeqCst);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, state: &Arc<State>) {
    while !state.closed.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                // Made during a stall: it belongs to the stalled epoch.
                let epoch = if state.stalled.load(Ordering::SeqCst) {
                    u64::MAX
                } else {
                    state.epoch.load(Ordering::SeqCst)
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    let st = state.clone();
                    thread::spawn(move || forward(from, to, epoch, &st));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(TICK),
            Err(_) => thread::sleep(TICK),
        }
    }
}

fn forward(mut from: TcpStream, mut to: TcpStream, epoch: u64, state: &State) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if state.closed.load(Ordering::SeqCst) {
            break;
        }
        let dead = epoch != state.epoch.load(Ordering::SeqCst);
        if dead {
            // Holds the connection open, forwarding nothing, until the proxy
            // is dropped.
            thread::sleep(TICK);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
