//! The streams adapter's messages (`@socket.io/redis-streams-adapter` 0.3), as
//! `@socket.io/redis-streams-emitter` 0.1 writes them (PROTOCOL.md §5.2): one stream
//! entry per operation, `XADD <stream> MAXLEN ~ <maxLen> * uid emitter nsp <nsp> type
//! <type> data <data>`, serverSideEmit included. `data` is the ClusterAdapter body as
//! JSON, or base64 of its @msgpack/msgpack encoding when a broadcast or serverSideEmit
//! carries binary (§4.3; the adapter's own encoding, no copy). Beyond Node's emitter:
//! `streamCount`, the stream of a namespace being chosen as the adapter chooses it
//! ([`stream_for`], negative index included).

use sio_redis_wire::channels::stream_for;

use crate::cluster::{self, Writer};
use crate::kind::PublishCommand;
use crate::selection::{Message, Operation, Selection, Xadd};

/// The stream entry of `op` on `sel` (`sel.key()` is the stream name), for servers with
/// `stream_count` streams, trimmed to about `max_len` entries.
pub(crate) fn message(sel: &Selection, stream_count: u32, max_len: u64, op: Operation) -> Message {
    let stream = stream_for(sel.key(), stream_count, sel.namespace());
    // Node's emitter has no onlyPlaintext option: binary is always looked for.
    let fields = cluster::message(sel, op, Writer::StreamsEmitter)
        .to_stream_fields(false)
        .fields;
    Message {
        command: PublishCommand::Xadd,
        channel: stream,
        payload: Vec::new(),
        xadd: Some(Xadd { max_len, fields }),
    }
}
