//! Process, port and temporary-directory plumbing shared by the fixtures.

use std::collections::BTreeSet;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Result, TestkitError};

/// The port of the developer's own Redis; the kit never uses it.
pub(crate) const RESERVED_PORT: u16 = 6379;

/// Offset between a cluster node's client port and its cluster bus port.
pub(crate) const CLUSTER_BUS_OFFSET: u16 = 10000;

/// How often conditions are polled while waiting on a deadline.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How many candidate ports [`free_port`] tries before giving up.
const PORT_CANDIDATES: u32 = 64;

/// Ports already handed out by this process, never handed out twice, so that
/// fixtures started in parallel by one test binary cannot collide.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free loopback port: bind `127.0.0.1:0`, read the port, close.
///
/// Never returns 6379 or a port handed out before by this process. With
/// `cluster_bus`, the port + 10000 (the cluster bus) must be free too.
/// The port may still be taken by someone else before `redis-server` binds
/// it; callers retry with another port when that happens.
pub(crate) fn free_port(cluster_bus: bool) -> Result<u16> {
    for _ in 0..PORT_CANDIDATES {
        let Ok(listener) = TcpListener::bind(("127.0.0.1", 0)) else {
            continue;
        };
        let Ok(addr) = listener.local_addr() else {
            continue;
        };
        let port = addr.port();
        drop(listener);
        if port == RESERVED_PORT {
            continue;
        }
        if cluster_bus {
            let Some(bus) = port.checked_add(CLUSTER_BUS_OFFSET) else {
                continue;
            };
            if TcpListener::bind(("127.0.0.1", bus)).is_err() {
                continue;
            }
        }
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(TestkitError::NoFreePort {
        attempts: PORT_CANDIDATES,
    })
}

/// A directory under the system temp dir, removed (recursively) on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, uniquely named directory
    /// `$TMPDIR/sio-redis-testkit-<label>-<pid>-<n>-<nanos>`.
    pub(crate) fn new(label: &str) -> Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let path = base.join(format!(
                "sio-redis-testkit-{label}-{}-{n}-{nanos}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(TestkitError::TempDir { path, source }),
            }
        }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> &str {
    let trimmed = text.trim_end_matches('\n');
    let mut seen = 0;
    for (i, b) in trimmed.bytes().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == lines {
                return &text[i + 1..];
            }
        }
    }
    text
}

/// Reads a file as lossy UTF-8; empty if it does not exist.
pub(crate) fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Maps a spawn error: `NotFound` becomes [`TestkitError::BinaryNotFound`].
pub(crate) fn spawn_error(binary: &str, source: io::Error) -> TestkitError {
    if source.kind() == io::ErrorKind::NotFound {
        TestkitError::BinaryNotFound {
            binary: binary.to_owned(),
        }
    } else {
        TestkitError::Spawn {
            binary: binary.to_owned(),
            source,
        }
    }
}

/// Whether `binary --version` runs and exits successfully.
pub(crate) fn binary_runs(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Polls `child` until it exits or `deadline` passes; `Ok(None)` on timeout.
pub(crate) fn wait_until(
    child: &mut Child,
    deadline: Instant,
) -> io::Result<Option<std::process::ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// SIGKILLs `child` and reaps it, so no zombie is left. Errors are ignored:
/// the child may already be gone.
pub(crate) fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Milliseconds since `start`.
pub(crate) fn elapsed_ms(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn free_ports_are_distinct_and_not_6379() {
        let a = free_port(true).unwrap();
        let b = free_port(false).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, RESERVED_PORT);
        assert!(a <= u16::MAX - CLUSTER_BUS_OFFSET);
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("unit").unwrap();
        let path = dir.path().to_owned();
        std::fs::write(path.join("f"), b"x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
