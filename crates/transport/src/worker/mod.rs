//! The worker tasks, one per connection to one endpoint (plus the ordered
//! publish queue in front of the publisher), owned by a [`Supervisor`].
//!
//! * [`publisher`]: the multiplexed command connection and the worker that
//!   reconnects it;
//! * [`offline_buffer`]: the bounded, ordered queue (bytes, items, age) in
//!   front of a connection that may be down, for both of:
//! * [`publish_queue`]: every `PUBLISH`, in order, sent in pipelines;
//! * [`stream_writer`]: every `XADD`, in order, with the check of entries
//!   whose reply was lost before they are written again;
//! * [`subscriber`]: the dedicated pub/sub connection, its [`registry`] of
//!   subscriptions, re-subscribed after any reconnect;
//! * [`stream_reader`]: a dedicated connection blocked in `XREAD`, one per
//!   stream reader, resuming from the last entry id after any reconnect;
//! * [`retry`]: the failed-attempt bookkeeping both reconnect loops share;
//! * [`probe`]: the subscriber's liveness probe through Redis;
//! * [`supervisor`]: spawns, stops and replaces them.
//!
//! [`Supervisor`]: supervisor::Supervisor

pub(crate) mod offline_buffer;
pub(crate) mod probe;
pub(crate) mod publish_queue;
pub(crate) mod publisher;
pub(crate) mod registry;
pub(crate) mod retry;
pub(crate) mod stream_reader;
pub(crate) mod stream_writer;
pub(crate) mod subscriber;
pub(crate) mod supervisor;
