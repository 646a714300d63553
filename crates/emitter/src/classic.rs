//! The classic adapter's messages, as `@socket.io/redis-emitter` 5.1 writes them
//! (PROTOCOL.md §5.1): `PUBLISH` of notepack.io broadcasts on `<key>#<nsp>#[<room>#]`
//! and of JSON requests on `<key>-request#<nsp>#`.

use sio_redis_wire::channels::ClassicChannels;
use sio_redis_wire::classic::{ClassicBroadcast, ClassicRequest, RequestBody};
use sio_redis_wire::ids::EMITTER_UID;
use sio_redis_wire::{BroadcastOptions, Value};

use crate::kind::PublishCommand;
use crate::selection::{Message, Operation, Selection};

/// The classic message of `op` on `sel`.
pub(crate) fn message(sel: &Selection, op: Operation) -> Message {
    let channels = ClassicChannels::new(sel.key(), sel.namespace());
    // Requests: `{rooms, except}` without flags (the Node emitter sends none).
    let opts = || BroadcastOptions {
        flags: None,
        ..BroadcastOptions::new(sel.rooms().to_vec(), sel.excepted().to_vec())
    };
    let (uid, body) = match op {
        Operation::Broadcast(data) => {
            let msg = ClassicBroadcast::from_emitter(
                sel.namespace(),
                data,
                sel.rooms().to_vec(),
                sel.excepted().to_vec(),
                sel.flags().clone(),
            );
            return Message {
                command: PublishCommand::Publish,
                channel: msg.channel(&channels),
                payload: msg.encode(),
                xadd: None,
            };
        }
        Operation::Join(rooms) => (
            None,
            RequestBody::RemoteJoin {
                opts: opts(),
                rooms,
            },
        ),
        Operation::Leave(rooms) => (
            None,
            RequestBody::RemoteLeave {
                opts: opts(),
                rooms,
            },
        ),
        Operation::Disconnect { close } => (
            None,
            RequestBody::RemoteDisconnect {
                opts: opts(),
                close,
            },
        ),
        Operation::ServerSideEmit(data) => (
            Some(EMITTER_UID.to_owned()),
            RequestBody::ServerSideEmit {
                data: Value::Array(data),
            },
        ),
    };
    let request = ClassicRequest {
        uid,
        request_id: None,
        body,
    };
    Message {
        command: PublishCommand::Publish,
        channel: channels.request,
        payload: request.encode(),
        xadd: None,
    }
}
