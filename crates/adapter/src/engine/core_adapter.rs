//! socketioxide's `CoreAdapter`, the same for every adapter kind: each call forwarded to
//! the kind's [`Engine`](super::Engine).

/// Implements `Debug`, `DefinedAdapter` and socketioxide's `CoreAdapter` for
/// `$adapter<E>`, a struct whose one field `engine` is an `Arc<Engine<E, $codec>>`: every
/// operation is the engine's, the wire format, channels and commands are `$codec`'s.
macro_rules! core_adapter {
    ($adapter:ident, $codec:ty) => {
        impl<E> std::fmt::Debug for $adapter<E> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($adapter))
                    .field("uid", &self.engine.uid)
                    .field("nsp", &self.engine.nsp)
                    .finish()
            }
        }

        impl<E> socketioxide_core::adapter::DefinedAdapter for $adapter<E> {}

        impl<E: socketioxide_core::adapter::SocketEmitter>
            socketioxide_core::adapter::CoreAdapter<E> for $adapter<E>
        {
            type Error = $crate::error::Error;
            type State = $crate::state::RedisAdapterState;
            type AckStream = $crate::engine::ack_stream::AckStream<E>;
            type InitRes = $crate::engine::InitRes;

            fn new(
                state: &Self::State,
                local: socketioxide_core::adapter::CoreLocalAdapter<E>,
            ) -> Self {
                Self {
                    engine: std::sync::Arc::new($crate::engine::Engine::<E, $codec>::new(
                        state, local,
                    )),
                }
            }

            fn init(
                self: std::sync::Arc<Self>,
                on_success: impl FnOnce() + Send + 'static,
            ) -> Self::InitRes {
                self.engine.clone().init(on_success)
            }

            async fn close(&self) -> Result<(), Self::Error> {
                self.engine.close().await
            }

            async fn server_count(&self) -> Result<u16, Self::Error> {
                self.engine.server_count().await
            }

            async fn broadcast(
                &self,
                packet: socketioxide_core::packet::Packet,
                opts: socketioxide_core::adapter::BroadcastOptions,
            ) -> Result<(), socketioxide_core::adapter::errors::BroadcastError> {
                self.engine.broadcast(packet, opts).await
            }

            async fn broadcast_with_ack(
                &self,
                packet: socketioxide_core::packet::Packet,
                opts: socketioxide_core::adapter::BroadcastOptions,
                timeout: Option<std::time::Duration>,
            ) -> Result<Self::AckStream, Self::Error> {
                self.engine.broadcast_with_ack(packet, opts, timeout).await
            }

            async fn add_sockets(
                &self,
                opts: socketioxide_core::adapter::BroadcastOptions,
                rooms: impl socketioxide_core::adapter::RoomParam,
            ) -> Result<(), Self::Error> {
                let rooms: Vec<socketioxide_core::adapter::Room> = rooms.into_room_iter().collect();
                self.engine.room_request(opts, rooms, true).await
            }

            async fn del_sockets(
                &self,
                opts: socketioxide_core::adapter::BroadcastOptions,
                rooms: impl socketioxide_core::adapter::RoomParam,
            ) -> Result<(), Self::Error> {
                let rooms: Vec<socketioxide_core::adapter::Room> = rooms.into_room_iter().collect();
                self.engine.room_request(opts, rooms, false).await
            }

            async fn disconnect_socket(
                &self,
                opts: socketioxide_core::adapter::BroadcastOptions,
            ) -> Result<(), socketioxide_core::adapter::errors::BroadcastError> {
                self.engine.disconnect_socket(opts).await
            }

            async fn rooms(
                &self,
                opts: socketioxide_core::adapter::BroadcastOptions,
            ) -> Result<Vec<socketioxide_core::adapter::Room>, Self::Error> {
                self.engine.rooms(opts).await
            }

            async fn fetch_sockets(
                &self,
                opts: socketioxide_core::adapter::BroadcastOptions,
            ) -> Result<Vec<socketioxide_core::adapter::RemoteSocketData>, Self::Error> {
                self.engine.fetch_sockets(opts).await
            }

            fn get_local(&self) -> &socketioxide_core::adapter::CoreLocalAdapter<E> {
                &self.engine.local
            }
        }
    };
}

pub(crate) use core_adapter;
