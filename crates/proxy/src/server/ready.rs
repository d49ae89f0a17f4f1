//! Readiness: waiting for a keep-alive connection's next request without holding buffers, the
//! first read of a request, and the peek before a plain close.

use super::idle::{IdleGuard, IdleSet, SlotState};
use bytes::BytesMut;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How an idle wait ended.
pub(super) enum Wait {
    /// The next request started: its first bytes.
    Data(BytesMut),
    Closed,
    Timeout,
    Shutdown,
    /// Quiet for `park_after`: leave the task; the idle wait's deadline goes with it.
    Park(Instant),
}

/// Wait for the next request's first bytes with no buffers held. Not an `async fn` (whose
/// arguments and locals would all be kept in every idle connection's task): the quick case, a
/// pipelined or fast client, is answered at once without taking an idle slot, and the slow one
/// is an [`IdleWait`] of 40 bytes.
pub(super) fn wait_first_byte<'a>(
    stream: &'a mut TcpStream,
    timeout: Duration,
    park_after: Option<Duration>,
    idle: &'a IdleSet,
) -> IdleWait<'a> {
    match first_read(stream) {
        // Served after the other ready connections, not before: see `IdleWait::YieldFirst`.
        Ok(Some(b)) => return IdleWait::YieldFirst(Wait::Data(b)),
        Ok(None) => return IdleWait::Done(Wait::Closed),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(_) => return IdleWait::Done(Wait::Closed),
    }
    let now = Instant::now();
    match idle.enter(now + timeout, park_after.map(|p| now + p)) {
        Some(guard) => IdleWait::Waiting { stream, guard },
        None => IdleWait::Done(shutdown_probe(stream)),
    }
}

/// Shutting down. A request may already be on its way; serve it rather than drop it.
///
/// A real read, not tokio's `try_read`: that answers from the readiness the runtime has seen
/// so far, and a socket registered a moment ago (taken from the listen backlog at shutdown,
/// or back from the parked set) has seen none yet although its request is waiting. Closing
/// it unread would reset the client and lose the request.
fn shutdown_probe(stream: &mut TcpStream) -> Wait {
    match read_start(stream, Readiness::Ignore) {
        Ok(Some(b)) => Wait::Data(b),
        Ok(None) => Wait::Closed,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Wait::Shutdown,
        Err(_) => Wait::Closed,
    }
}

/// An idle connection waiting for its socket to become readable, its idle slot to expire, or
/// shutdown. Polled by hand: `poll_read_ready` keeps the waker in the socket's own slot, where
/// a `readable()` future would add 150 bytes to every idle connection's task.
pub(super) enum IdleWait<'a> {
    /// Answered without waiting.
    Done(Wait),
    /// The next request was already there when the last response went out. Serving it at once
    /// would let a fast client be served again and again while the other ready connections
    /// wait for this task to yield (a lower median, a worse tail): go to the back of the run
    /// queue first, as nginx posts such a connection's read event behind the others.
    YieldFirst(Wait),
    Waiting {
        stream: &'a mut TcpStream,
        guard: IdleGuard<'a>,
    },
    Finished,
}

impl Future for IdleWait<'_> {
    type Output = Wait;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Wait> {
        use std::task::Poll;
        let this = self.get_mut();
        let (stream, guard) = match this {
            IdleWait::Waiting { stream, guard } => (&mut **stream, &*guard),
            IdleWait::YieldFirst(_) => match std::mem::replace(this, IdleWait::Finished) {
                IdleWait::YieldFirst(w) => {
                    *this = IdleWait::Done(w);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                _ => unreachable!(),
            },
            IdleWait::Done(_) => match std::mem::replace(this, IdleWait::Finished) {
                IdleWait::Done(w) => return Poll::Ready(w),
                _ => unreachable!(),
            },
            IdleWait::Finished => return Poll::Ready(Wait::Closed),
        };
        loop {
            match stream.poll_read_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(_)) => return Poll::Ready(Wait::Closed),
                Poll::Ready(Ok(())) => match first_read(stream) {
                    Ok(Some(b)) => return Poll::Ready(Wait::Data(b)),
                    Ok(None) => return Poll::Ready(Wait::Closed),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(_) => return Poll::Ready(Wait::Closed),
                },
            }
        }
        match guard.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((SlotState::TimedOut, _)) => Poll::Ready(Wait::Timeout),
            Poll::Ready((SlotState::Park, deadline)) => Poll::Ready(Wait::Park(deadline)),
            Poll::Ready(_) => Poll::Ready(shutdown_probe(stream)),
        }
    }
}

thread_local! {
    /// Scratch for the first read of a request. Allocated (and zeroed) once per thread rather
    /// than as a zeroed stack array on every request.
    static FIRST_READ: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; FIRST_READ_LEN].into_boxed_slice());
}

const FIRST_READ_LEN: usize = 4096;

/// Read the start of a request through a scratch buffer and keep only what arrived (`None`
/// when the client closed): a typical request head is a few hundred bytes, and a larger heap
/// buffer per connection would be held (and, after it is freed, kept by the allocator) for
/// every keep-alive client at once.
///
/// A read shorter than the buffer has taken everything the socket held, so the runtime's read
/// readiness is cleared on the spot (nginx does the same with `EPOLLRDHUP`): the next wait
/// sleeps until new data arrives instead of first asking the kernel again and being told
/// `EAGAIN`, one system call less per keep-alive request. It is exact: tokio clears only the
/// readiness it had seen before this read, and with edge-triggered epoll anything arriving
/// after the read is a new event.
fn first_read(stream: &TcpStream) -> io::Result<Option<BytesMut>> {
    read_start(stream, Readiness::Use)
}

/// Whether a read consults (and keeps up to date) the runtime's readiness of the socket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Readiness {
    Use,
    /// Read from the socket itself: see [`shutdown_probe`].
    Ignore,
}

fn read_start(stream: &TcpStream, readiness: Readiness) -> io::Result<Option<BytesMut>> {
    use std::io::Read;
    FIRST_READ.with(|b| {
        let mut buf = b.borrow_mut();
        let mut drained = 0;
        let mut read = || (&*socket2::SockRef::from(stream)).read(&mut buf);
        let read = match readiness {
            Readiness::Ignore => read(),
            Readiness::Use => stream.try_io(tokio::io::Interest::READABLE, || {
                let n = read()?;
                if n > 0 && n < FIRST_READ_LEN {
                    drained = n;
                    // Not an error: the way to have tokio clear the readiness it had seen.
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }),
        };
        let n = match read {
            _ if drained > 0 => drained,
            Ok(n) => n,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        let mut r = BytesMut::with_capacity(n.max(1024));
        r.extend_from_slice(&buf[..n]);
        Ok(Some(r))
    })
}

/// True when the client has sent nothing we have not read. A client that asked to close
/// (`Connection: close`, or HTTP/1.0 without keep-alive) then gets a plain close, as nginx
/// does: no lingering, no timer, no extra reads. Closing with unread bytes would send a reset
/// that can destroy our response in the client's buffer, so those still linger.
pub(super) fn nothing_pending(stream: &TcpStream) -> bool {
    let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    // A real peek, not tokio's cached readiness, which may not have seen the latest bytes.
    // Nothing, or the client's FIN (it read our response and closed first) means nothing unread.
    match socket2::SockRef::from(stream).peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    }
}
