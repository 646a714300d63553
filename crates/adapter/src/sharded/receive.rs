//! The receive side of the sharded adapter: ClusterAdapter messages from the main,
//! own-response and room channels (JSON or notepack, PROTOCOL §2.3), decoded and handed
//! to the engine (`engine/cluster.rs`). A JSON broadcast without acknowledgements, the
//! common message, is read by `ClusterBroadcastRef` with its `packet.data` left as text.

use std::sync::Arc;

use sio_redis_transport::Message;
use sio_redis_wire::{ClusterBroadcastRef, ClusterMessage};
use socketioxide_core::adapter::SocketEmitter;

use super::codec::ShardedCodec;
use crate::engine::Engine;

pub(super) fn on_message<E: SocketEmitter>(engine: &Arc<Engine<E, ShardedCodec>>, msg: Message) {
    let limits = &engine.state.inner.engine.limits;
    if let Some(b) = ClusterBroadcastRef::decode(&msg.payload, limits) {
        return engine.apply_cluster_broadcast_json(&b, &msg);
    }
    match ClusterMessage::decode(&msg.payload, limits) {
        Ok(m) => engine.apply_cluster_message(m, &msg),
        Err(e) => engine.decode_failed(&msg, &e),
    }
}
