//! What the connections of one listener share, and each connection's slot in its limit.

use super::config::{Control, ServerConfig};
use super::idle::IdleSet;
use crate::log::AccessLog;
use crate::park::ParkedSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// What every connection of one listener shares: one pointer in each connection task instead
/// of one per field.
pub(super) struct Shared<H> {
    pub(super) cfg: Arc<ServerConfig>,
    pub(super) ctl: Arc<Control>,
    pub(super) handler: Arc<H>,
    pub(super) log: Option<Arc<AccessLog>>,
    pub(super) idle: IdleSet,
    /// Idle connections kept without a task; `None` when parking is off (or the epoll set
    /// could not be made).
    pub(super) parked: Option<ParkedSet>,
    /// The listener's connection limit (`max_connections`); each connection takes one and
    /// gives it back when its [`ConnSlot`] drops.
    pub(super) slots: Semaphore,
    /// Start of the connections' `started_ns` clock.
    pub(super) epoch: Instant,
}

impl<H> Shared<H> {
    pub(super) fn ns_since_epoch(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

/// The connection's share of the listener. Dropping it gives back the connection's slot in
/// the listener's limit, also when the task is dropped without finishing (a panicking handler,
/// runtime shutdown): one pointer per connection instead of a pointer and a `u32` for an
/// `OwnedSemaphorePermit`.
pub(super) struct ConnSlot<H>(pub(super) Arc<Shared<H>>);

impl<H> std::ops::Deref for ConnSlot<H> {
    type Target = Shared<H>;
    fn deref(&self) -> &Shared<H> {
        &self.0
    }
}

impl<H> ConnSlot<H> {
    /// The connection goes on parked: its slot in the limit stays taken, and is given back
    /// when the parked connection closes or gets a task (and a new `ConnSlot`) again.
    pub(super) fn keep_for_parked(self) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; this moves its one field out.
        drop(unsafe { std::ptr::read(&this.0) });
    }
}

impl<H> Drop for ConnSlot<H> {
    fn drop(&mut self) {
        self.0
            .ctl
            .stats
            .connections_closed
            .fetch_add(1, Ordering::Relaxed);
        self.0.slots.add_permits(1);
    }
}
