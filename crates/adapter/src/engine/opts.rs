//! socketioxide's broadcast options to the wire's and back, and the own-id rooms that
//! Node servers address single sockets by.

use std::str::FromStr;
use std::time::Duration;

use sio_redis_wire::{BroadcastFlags, BroadcastOptions, Packet, PacketType, Value};
use socketioxide_core::adapter::{
    BroadcastFlags as SioFlags, BroadcastOptions as SioOpts, Room, SocketEmitter,
};
use socketioxide_core::packet::{Packet as SioPacket, PacketData};
use socketioxide_core::{Sid, Value as SioValue};

use super::{Codec, Engine};

/// The `[event, ...args]` payload of an event packet; `None` for other packet types.
pub(super) fn event_data(packet: &SioPacket) -> Option<&SioValue> {
    match &packet.inner {
        PacketData::Event(v, _) | PacketData::BinaryEvent(v, _) => Some(v),
        _ => None,
    }
}

/// How long this server waits for its clients' acknowledgements of another server's
/// broadcast with acknowledgements: the request's `flags.timeout` (ms), else the
/// namespace's `ack_timeout`, at most `max` (`max_remote_ack_timeout`).
pub(super) fn remote_ack_timeout(
    flags_timeout_ms: Option<u64>,
    ack_timeout: Duration,
    max: Duration,
) -> Duration {
    flags_timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(ack_timeout)
        .min(max)
}

/// socketioxide options for a remote operation: rooms, except and volatile from the wire;
/// the broadcast flag makes an empty room list mean "every socket".
pub(super) fn sio_opts(opts: &BroadcastOptions) -> SioOpts {
    let mut o = SioOpts::default();
    o.add_flag(SioFlags::Broadcast);
    if opts.flags.as_ref().is_some_and(|f| f.volatile) {
        o.add_flag(SioFlags::Volatile);
    }
    o.rooms = opts.rooms.iter().cloned().map(Room::Owned).collect();
    o.except = opts.except.iter().cloned().map(Room::Owned).collect();
    o
}

impl<E: SocketEmitter, C: Codec> Engine<E, C> {
    /// An event packet of this namespace (`nsp` set), `data` = `[event, ...args]`.
    pub(super) fn wire_packet(&self, data: Value) -> Packet {
        Packet {
            kind: PacketType::Event,
            data,
            nsp: Some(self.nsp.clone()),
        }
    }

    /// The wire form of socketioxide's options. `with_flags`: broadcasts carry `flags`,
    /// room requests do not. Also says whether the target is one remote socket
    /// (`RemoteSocket` API), which nothing local matches.
    pub(super) fn wire_opts(&self, opts: &SioOpts, with_flags: bool) -> (BroadcastOptions, bool) {
        let foreign = &self.state.inner.foreign;
        let mut rooms: Vec<String> = opts.rooms.iter().map(|r| foreign.wire_room(r)).collect();
        let mut except: Vec<String> = opts.except.iter().map(|r| foreign.wire_room(r)).collect();
        let broadcast = opts.has_flag(SioFlags::Broadcast);
        let mut single_remote = false;
        if let Some(sid) = opts.sid {
            if broadcast {
                except.push(sid.to_string());
            } else if rooms.is_empty() {
                rooms.push(foreign.id_for(sid));
                single_remote = opts
                    .server_id
                    .is_some_and(|id| id != self.local.server_id());
            }
        }
        let flags = with_flags.then(|| BroadcastFlags {
            volatile: opts.has_flag(SioFlags::Volatile),
            ..BroadcastFlags::default()
        });
        (
            BroadcastOptions {
                rooms,
                except,
                flags,
                layout: Default::default(),
            },
            single_remote,
        )
    }

    /// Puts every local socket named in the rooms or except list of `opts` into its
    /// own-id room, which Node servers address single sockets by (socketioxide does not
    /// join it by itself).
    pub(super) fn ensure_own_rooms(&self, opts: &SioOpts) {
        for room in opts.rooms.iter().chain(&opts.except) {
            let Ok(sid) = Sid::from_str(room) else {
                continue;
            };
            if self.local.socket_rooms(sid).contains(room) {
                continue;
            }
            if !self.local.fetch_sockets(SioOpts::new(sid)).is_empty() {
                self.local.add_all(sid, room.to_string());
            }
        }
    }

    /// socketioxide options for wire options received from another server, after the
    /// own-id rooms they name are ensured.
    pub(super) fn local_opts(&self, opts: &BroadcastOptions) -> SioOpts {
        let sio = sio_opts(opts);
        self.ensure_own_rooms(&sio);
        sio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_flags_timeout_is_capped() {
        let (ack, max) = (Duration::from_secs(5), Duration::from_secs(60));
        assert_eq!(remote_ack_timeout(Some(u64::MAX), ack, max), max);
        assert_eq!(remote_ack_timeout(Some(60_001), ack, max), max);
        assert_eq!(
            remote_ack_timeout(Some(250), ack, max),
            Duration::from_millis(250)
        );
        assert_eq!(remote_ack_timeout(None, ack, max), ack);
        assert_eq!(
            remote_ack_timeout(None, Duration::from_secs(600), max),
            max,
            "socketioxide's ack_timeout is capped too"
        );
    }
}
