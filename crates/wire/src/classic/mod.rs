//! Messages of the classic adapter, `@socket.io/redis-adapter` 8.3 `createAdapter`, and
//! of `@socket.io/redis-emitter` 5.1, which speaks the same format (PROTOCOL.md §1, §5.1).

mod broadcast;
mod request;
mod response;

pub use broadcast::{ClassicBroadcast, ClassicBroadcastRef};
pub use request::{ClassicRequest, RequestBody};
pub use response::ClassicResponse;
