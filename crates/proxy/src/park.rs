//! Idle keep-alive connections kept without a task ("parked").
//!
//! A keep-alive client that waits between requests costs, as a tokio task, about 850 bytes: the
//! 256-byte task, the reactor's 256-byte registration (both 128-byte aligned, so the allocator
//! leaves holes around them) and its idle slot. Clients of long-lived pools (databases behind a
//! proxy, load balancers, browsers) sit idle most of their lives, so that is the figure that
//! decides how many clients a server holds. After `park_after` of silence the connection's task
//! ends and its bare socket moves here: a 56-byte slot, and an entry in this listener's own
//! epoll set (kernel memory, like nginx's own epoll registrations). When the socket becomes
//! readable (the next request, the client's FIN or a reset) it gets a new task that carries on
//! with the same connection id, request count and idle deadline, as if it had never left.
//!
//! Parking costs four `epoll_ctl` calls and a task spawn per idle period longer than
//! `park_after`; a busy connection, which never waits that long, never parks.
//!
//! What this is not: a second event loop. The listener's runtime polls the epoll set's file
//! descriptor like any socket ([`tokio::io::unix::AsyncFd`]); the idle deadlines of parked
//! connections are kept by the listener's sweeper, which already ticks for the idle set.

use crate::conn_info::ConnInfo;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

/// The parked connections of one listener.
pub(crate) struct ParkedSet {
    /// Registers sockets with the epoll set that [`Parker`] waits on.
    registry: Registry,
    inner: Mutex<ParkedInner>,
    /// The server's gauge of parked connections, shared by all its listeners.
    gauge: Arc<AtomicU64>,
}

/// The epoll set itself, owned by the listener's watcher task.
pub(crate) struct Parker {
    poll: mio::Poll,
}

#[derive(Default)]
struct ParkedInner {
    slots: Vec<ParkedSlot>,
    free: Vec<u32>,
    /// Connections parked now.
    count: usize,
    /// Set at shutdown: nothing parks any more.
    closing: bool,
}

/// One parked connection: everything its task held while idle, in 56 bytes.
struct ParkedSlot {
    /// `None` for a free slot.
    stream: Option<TcpStream>,
    req_no: u32,
    /// End of its idle wait, nanoseconds from the listener's epoch.
    deadline_ns: u64,
    info: ConnInfo,
}

/// A connection that leaves the parked set, with what its new task needs.
pub(crate) struct Unparked {
    pub stream: TcpStream,
    pub info: ConnInfo,
    pub req_no: u32,
}

/// Why [`ParkedSet::park`] kept the caller's socket.
pub(crate) enum Refused {
    /// The listener is shutting down, or the kernel would not take the socket (e.g.
    /// `fs.epoll.max_user_watches`): the caller keeps waiting in its task.
    Keep(tokio::net::TcpStream),
    /// The socket could not be taken out of the runtime and is closed.
    Closed,
}

impl ParkedSet {
    pub(crate) fn new(gauge: Arc<AtomicU64>) -> io::Result<(ParkedSet, Parker)> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok((
            ParkedSet {
                registry,
                inner: Mutex::new(ParkedInner::default()),
                gauge,
            },
            Parker { poll },
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ParkedInner> {
        // Nothing panics while holding the lock; recover the data if something ever did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().count
    }

    /// Take an idle connection out of its task. On success the caller's task ends without
    /// closing anything: the socket and the connection's slot in the listener's limit now
    /// belong to the parked set.
    pub(crate) fn park(
        &self,
        stream: tokio::net::TcpStream,
        info: ConnInfo,
        req_no: u32,
        deadline_ns: u64,
    ) -> Result<(), Refused> {
        let mut g = self.lock();
        if g.closing {
            return Err(Refused::Keep(stream));
        }
        // Leaves the runtime's reactor; the descriptor stays open and non-blocking.
        let Ok(stream) = stream.into_std() else {
            return Err(Refused::Closed);
        };
        let idx = match g.free.last() {
            Some(&i) => i as usize,
            None => g.slots.len(),
        };
        let fd = stream.as_raw_fd();
        // Readable covers data, the peer's FIN and errors; a socket already readable is
        // reported at once, so nothing that arrived before this call is missed.
        if self
            .registry
            .register(&mut SourceFd(&fd), Token(idx), Interest::READABLE)
            .is_err()
        {
            return match tokio::net::TcpStream::from_std(stream) {
                Ok(s) => Err(Refused::Keep(s)),
                Err(_) => Err(Refused::Closed),
            };
        }
        let slot = ParkedSlot {
            stream: Some(stream),
            req_no,
            deadline_ns,
            info,
        };
        if idx == g.slots.len() {
            g.slots.push(slot);
        } else {
            g.free.pop();
            g.slots[idx] = slot;
        }
        g.count += 1;
        self.gauge.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The socket at `idx` reported readiness: hand it back if it has something to read (or
    /// has closed), else leave it parked. Stale tokens (a slot freed, or freed and reused, since
    /// the event was queued) are harmless: a free slot is skipped, and a reused one is checked
    /// like any other.
    fn unpark_ready(&self, idx: usize) -> Option<Unparked> {
        let mut g = self.lock();
        let ready = match g.slots.get(idx).and_then(|s| s.stream.as_ref()) {
            Some(s) => has_input(s),
            None => return None,
        };
        if !ready {
            return None;
        }
        Some(self.take(&mut g, idx))
    }

    fn take(&self, g: &mut ParkedInner, idx: usize) -> Unparked {
        let slot = &mut g.slots[idx];
        let stream = slot.stream.take().expect("taken slot is occupied");
        let _ = self.registry.deregister(&mut SourceFd(&stream.as_raw_fd()));
        self.gauge.fetch_sub(1, Ordering::Relaxed);
        let un = Unparked {
            stream,
            info: slot.info,
            req_no: slot.req_no,
        };
        g.free.push(idx as u32);
        g.count -= 1;
        un
    }

    /// Remove the connections whose idle deadline has passed and return them, to be closed.
    pub(crate) fn expire(&self, now_ns: u64) -> Vec<Unparked> {
        let mut g = self.lock();
        let due: Vec<usize> = g
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.stream.is_some() && s.deadline_ns <= now_ns)
            .map(|(i, _)| i)
            .collect();
        let out = due.into_iter().map(|i| self.take(&mut g, i)).collect();
        Self::shrink_if_empty(&mut g);
        out
    }

    /// Shutdown: nothing parks any more, and every parked connection comes back, so that a
    /// request already on its way is served before the connection closes.
    pub(crate) fn close_all(&self) -> Vec<Unparked> {
        let mut g = self.lock();
        g.closing = true;
        let all: Vec<usize> = (0..g.slots.len())
            .filter(|&i| g.slots[i].stream.is_some())
            .collect();
        let out = all.into_iter().map(|i| self.take(&mut g, i)).collect();
        Self::shrink_if_empty(&mut g);
        out
    }

    /// Give the table's memory back once every parked connection has gone: after a crowd of
    /// idle clients leaves, the table would otherwise keep its largest size for good.
    fn shrink_if_empty(g: &mut ParkedInner) {
        if g.count == 0 && g.slots.capacity() > 64 {
            g.slots = Vec::new();
            g.free = Vec::new();
        }
    }
}

impl Parker {
    /// Wait until parked sockets are ready and hand each one with input to `resume`. Returns
    /// only if the epoll set fails, which leaves parked connections to their deadlines.
    pub(crate) async fn run(self, set: &ParkedSet, mut resume: impl FnMut(Unparked)) {
        // SAFETY: the `mio::Poll` owns its epoll descriptor, which stays open and the same
        // until the poll is dropped, and the `AsyncFd` owns the poll.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                self.poll,
                tokio::io::Interest::READABLE,
            )
        };
        let Ok(mut fd) = registered else {
            return;
        };
        let mut events = mio::Events::with_capacity(256);
        loop {
            let Ok(mut guard) = fd.readable_mut().await else {
                return;
            };
            match guard
                .get_inner_mut()
                .poll(&mut events, Some(std::time::Duration::ZERO))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
            if events.is_empty() {
                // Drained: wait for the next edge. A socket that became ready after the
                // `poll` above has already re-armed the readiness this clears, and is kept.
                guard.clear_ready();
                continue;
            }
            for ev in events.iter() {
                if let Some(un) = set.unpark_ready(ev.token().0) {
                    resume(un);
                }
            }
        }
    }
}

/// True when a read would not block: data, the peer's FIN, or an error to report.
fn has_input(stream: &TcpStream) -> bool {
    let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(stream).peek(&mut b) {
        Ok(_) => true,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    }
}
