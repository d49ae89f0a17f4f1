//! The client-facing HTTP/1.1 server: accept loop, per-connection keep-alive policy, graceful
//! shutdown, and the `Exchange` through which a handler reads one request and writes its response.

use crate::drain::Drain;
use crate::http::{self, Chunk, ChunkedDecoder, Framing, Parsed, RequestError, RequestHead};
use crate::log::{AccessLog, LogEntry};
use crate::park::{ParkedSet, Refused, Unparked};
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Client-side connection policy, named after the nginx directives it mirrors.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `keepalive_timeout` first value: idle time allowed between requests. Zero disables
    /// keep-alive (every response says `Connection: close`).
    pub keepalive_timeout: Duration,
    /// `keepalive_timeout` second value: advertised as `Keep-Alive: timeout=N`.
    pub keepalive_header: Option<Duration>,
    /// `keepalive_requests`: the connection closes after this many responses. Zero: no limit.
    pub keepalive_requests: u64,
    /// `keepalive_time`: a connection older than this closes after its current response.
    pub keepalive_time: Duration,
    /// `client_header_timeout`: time for a whole request head, counted from the first byte (for
    /// the first request, from the accept).
    pub header_timeout: Duration,
    /// `client_body_timeout`: longest wait between two reads of a request body.
    pub body_timeout: Duration,
    /// `send_timeout`: longest wait for one write to the client to make progress.
    pub send_timeout: Duration,
    /// Largest request head, bytes.
    pub max_head: usize,
    /// `client_max_body_size`. Zero: no limit.
    pub max_body: u64,
    /// Most connections open at once; further clients wait in the listen backlog.
    pub max_connections: u32,
    /// How long graceful shutdown waits for in-flight requests before giving up.
    pub shutdown_timeout: Duration,
    /// `Server` header value; empty sends none.
    pub server_name: String,
    /// An idle keep-alive connection quiet this long leaves its task and waits in the
    /// listener's parked set (about 60 bytes instead of about 850; see [`crate::park`]). Zero:
    /// never.
    pub park_after: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            keepalive_timeout: Duration::from_secs(75),
            keepalive_header: None,
            keepalive_requests: 1000,
            keepalive_time: Duration::from_secs(3600),
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_head: 8192,
            max_body: 1 << 20,
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(30),
            server_name: "keepsight".to_string(),
            park_after: Duration::from_secs(1),
        }
    }
}

/// Why a connection ended (or was marked to end after the current response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    KeepAlive,
    ClientAsked,
    KeepaliveDisabled,
    KeepaliveRequests,
    KeepaliveTime,
    Drain,
    Shutdown,
    BadRequest,
    Unframed,
    Error,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::KeepAlive => "keep-alive",
            CloseReason::ClientAsked => "client-close",
            CloseReason::KeepaliveDisabled => "keepalive-off",
            CloseReason::KeepaliveRequests => "keepalive-requests",
            CloseReason::KeepaliveTime => "keepalive-time",
            CloseReason::Drain => "drain",
            CloseReason::Shutdown => "shutdown",
            CloseReason::BadRequest => "bad-request",
            CloseReason::Unframed => "unframed",
            CloseReason::Error => "error",
        }
    }
}

/// Counters, readable while the server runs (the admin endpoint prints them).
#[derive(Debug, Default)]
pub struct Stats {
    pub connections_accepted: AtomicU64,
    pub connections_closed: AtomicU64,
    pub requests: AtomicU64,
    pub rejected: AtomicU64,
    pub closed_drain: AtomicU64,
    pub closed_keepalive_requests: AtomicU64,
    pub closed_keepalive_time: AtomicU64,
    pub closed_idle: AtomicU64,
    pub closed_shutdown: AtomicU64,
    /// Idle connections parked without a task now (a gauge, not a counter; kept by the
    /// parked sets).
    pub connections_parked: Arc<AtomicU64>,
}

impl Stats {
    pub fn to_json(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let open = g(&self.connections_accepted).saturating_sub(g(&self.connections_closed));
        format!(
            "{{\"connections_accepted\":{},\"connections_open\":{},\"requests\":{},\"rejected\":{},\
             \"closed_drain\":{},\"closed_keepalive_requests\":{},\"closed_keepalive_time\":{},\
             \"closed_idle\":{},\"closed_shutdown\":{},\"connections_parked\":{}}}",
            g(&self.connections_accepted),
            open,
            g(&self.requests),
            g(&self.rejected),
            g(&self.closed_drain),
            g(&self.closed_keepalive_requests),
            g(&self.closed_keepalive_time),
            g(&self.closed_idle),
            g(&self.closed_shutdown),
            g(&self.connections_parked),
        )
    }
}

/// What a running server shares with its connections and its operator.
#[derive(Debug)]
pub struct Control {
    pub drain: Drain,
    pub stats: Stats,
    shutdown_tx: watch::Sender<bool>,
    /// Shared by all workers so connection ids in the access log are unique.
    next_conn_id: AtomicU64,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            drain: Drain::default(),
            stats: Stats::default(),
            shutdown_tx: watch::channel(false).0,
            next_conn_id: AtomicU64::new(1),
        }
    }
}

impl Control {
    /// Begin graceful shutdown: stop accepting, finish in-flight requests with
    /// `Connection: close`, close idle connections.
    pub fn shutdown(&self) {
        // Each listener's idle sweeper sees this and wakes its idle connections.
        self.shutdown_tx.send_replace(true);
    }
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown_tx.borrow()
    }
    fn subscribe(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }
}

/// Errors a handler reports. The connection is closed after any of them.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("client connection: {0}")]
    Client(#[from] io::Error),
    #[error("client request body: {0}")]
    Body(RequestError),
    #[error("{0}")]
    Other(String),
}

/// Produces one response per request. Implemented by the fixed/static server, the proxy and the
/// admin endpoint.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        ex: &mut Exchange<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// How long the response body is, as the handler knows it before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    /// Exactly this many bytes (`Content-Length`).
    Known(u64),
    /// Not known in advance: chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0.
    Unknown,
}

/// One request and its response on a client connection.
pub struct Exchange<'c> {
    io: &'c mut ClientIo,
    req: RequestHead,
    body: BodyState,
    body_read: u64,
    cfg: &'c ServerConfig,
    ctl: &'c Control,
    conn_id: u64,
    req_no: u64,
    conn_started: Instant,
    peer: SocketAddr,
    // Response side.
    head_sent: bool,
    out: OutFraming,
    out_left: u64,
    finished: bool,
    status: u16,
    sent_body: u64,
    close: CloseReason,
    note: &'static str,
}

#[derive(Debug)]
enum BodyState {
    Done,
    Length(u64),
    Chunked(ChunkedDecoder),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFraming {
    None,
    Length,
    Chunked,
    Close,
}

impl<'c> Exchange<'c> {
    pub fn request(&self) -> &RequestHead {
        &self.req
    }
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    pub fn conn_id(&self) -> u64 {
        self.conn_id
    }
    /// 1 for the first request on the connection.
    pub fn request_number(&self) -> u64 {
        self.req_no
    }
    /// A short tag for the access log (e.g. why the upstream failed, or `retried`).
    pub fn set_note(&mut self, note: &'static str) {
        self.note = note;
    }
    pub fn body_is_done(&self) -> bool {
        matches!(self.body, BodyState::Done)
    }
    /// How the request body is framed (the proxy re-frames it for the upstream).
    pub fn request_framing(&self) -> Framing {
        self.req.framing
    }

    /// Next piece of the request body; `None` at its end.
    pub async fn read_body(&mut self) -> Result<Option<Bytes>, HandlerError> {
        // A client that sent `Expect: 100-continue` waits for this before sending the body.
        self.send_continue().await?;
        loop {
            match &mut self.body {
                BodyState::Done => return Ok(None),
                BodyState::Length(left) => {
                    if !self.io.rbuf.is_empty() {
                        let take = (self.io.rbuf.len() as u64).min(*left) as usize;
                        let data = self.io.rbuf.split_to(take).freeze();
                        *left -= take as u64;
                        if *left == 0 {
                            self.body = BodyState::Done;
                        }
                        self.body_read += take as u64;
                        return Ok(Some(data));
                    }
                }
                BodyState::Chunked(dec) => match dec.decode(&mut self.io.rbuf) {
                    Ok(Chunk::Data(d)) => {
                        self.body_read += d.len() as u64;
                        if self.cfg.max_body > 0 && self.body_read > self.cfg.max_body {
                            return Err(HandlerError::Body(RequestError::BodyTooLarge(
                                self.cfg.max_body,
                            )));
                        }
                        return Ok(Some(d));
                    }
                    Ok(Chunk::End) => {
                        self.body = BodyState::Done;
                        return Ok(None);
                    }
                    Ok(Chunk::NeedMore) => {}
                    Err(e) => return Err(HandlerError::Body(RequestError::BadChunk(e))),
                },
            }
            let n = self.io.read_more(self.cfg.body_timeout).await?;
            if n == 0 {
                return Err(HandlerError::Client(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed inside the request body",
                )));
            }
        }
    }

    /// Read and drop the rest of the request body (bounded by `max_body`), so the connection can
    /// stay open for the next request.
    pub async fn discard_body(&mut self) -> Result<(), HandlerError> {
        while self.read_body().await?.is_some() {}
        Ok(())
    }

    /// Decide whether the connection stays open after this response; counted once per response.
    fn decide_keep_alive(&mut self, len: BodyLen) -> CloseReason {
        let cfg = self.cfg;
        if !self.req.wants_keep_alive {
            return CloseReason::ClientAsked;
        }
        if cfg.keepalive_timeout.is_zero() {
            return CloseReason::KeepaliveDisabled;
        }
        if !self.body_is_done() {
            // Whatever the handler left unread would be taken for the next request.
            return CloseReason::Unframed;
        }
        if len == BodyLen::Unknown && self.req.minor == 0 {
            return CloseReason::Unframed;
        }
        if cfg.keepalive_requests > 0 && self.req_no >= cfg.keepalive_requests {
            return CloseReason::KeepaliveRequests;
        }
        if self.conn_started.elapsed() >= cfg.keepalive_time {
            return CloseReason::KeepaliveTime;
        }
        if self.ctl.is_shutting_down() {
            return CloseReason::Shutdown;
        }
        if self.ctl.drain.should_close() {
            return CloseReason::Drain;
        }
        CloseReason::KeepAlive
    }

    /// Send an interim `100 Continue` (only if the client asked for it).
    pub async fn send_continue(&mut self) -> Result<(), HandlerError> {
        if self.req.expects_continue && !self.head_sent && !self.body_is_done() {
            self.req.expects_continue = false;
            // The final response follows this one, maybe before it is acknowledged.
            let _ = self.io.stream.set_nodelay(true);
            self.io
                .wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.io.flush(self.cfg.send_timeout).await?;
        }
        Ok(())
    }

    /// Write the status line and headers. `headers` are complete `Name: value\r\n` lines that
    /// must not include framing or connection headers: those are added here, from `len` and the
    /// keep-alive decision, so they cannot disagree with the body actually sent.
    pub fn send_head(&mut self, status: u16, reason: &[u8], headers: &[u8], len: BodyLen) {
        debug_assert!(!self.head_sent);
        self.head_sent = true;
        self.status = status;
        self.close = self.decide_keep_alive(len);
        let w = &mut self.io.wbuf;
        // One allocation for the whole head rather than a doubling series of them.
        w.reserve(192 + headers.len());
        w.extend_from_slice(b"HTTP/1.1 ");
        push_num(w, status as u64);
        w.push(b' ');
        w.extend_from_slice(reason);
        w.extend_from_slice(b"\r\n");
        if !self.cfg.server_name.is_empty() {
            w.extend_from_slice(b"Server: ");
            w.extend_from_slice(self.cfg.server_name.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(headers);
        let no_body_status = (100..200).contains(&status) || status == 204 || status == 304;
        self.out = if no_body_status {
            OutFraming::None
        } else {
            match len {
                BodyLen::Known(n) => {
                    w.extend_from_slice(b"Content-Length: ");
                    push_num(w, n);
                    w.extend_from_slice(b"\r\n");
                    self.out_left = n;
                    OutFraming::Length
                }
                BodyLen::Unknown if self.req.minor >= 1 => {
                    w.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                    OutFraming::Chunked
                }
                BodyLen::Unknown => OutFraming::Close,
            }
        };
        if self.req.is_head() {
            self.out = OutFraming::None;
        }
        if self.close == CloseReason::KeepAlive {
            if self.req.minor == 0 {
                w.extend_from_slice(b"Connection: keep-alive\r\n");
            }
            if let Some(t) = self.cfg.keepalive_header {
                w.extend_from_slice(b"Keep-Alive: timeout=");
                push_num(w, t.as_secs());
                w.extend_from_slice(b"\r\n");
            }
        } else {
            w.extend_from_slice(b"Connection: close\r\n");
        }
        w.extend_from_slice(b"\r\n");
    }

    /// Append body bytes. Writing past a declared length is refused, so a response can never
    /// carry more than its `Content-Length` says.
    pub async fn send_data(&mut self, data: &[u8]) -> Result<(), HandlerError> {
        if data.is_empty() {
            return Ok(());
        }
        match self.out {
            OutFraming::None => return Ok(()),
            OutFraming::Length => {
                if data.len() as u64 > self.out_left {
                    return Err(HandlerError::Other(
                        "response body longer than its Content-Length".into(),
                    ));
                }
                self.out_left -= data.len() as u64;
                self.io.wbuf.extend_from_slice(data);
            }
            OutFraming::Chunked => {
                let w = &mut self.io.wbuf;
                w.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                w.extend_from_slice(data);
                w.extend_from_slice(b"\r\n");
            }
            OutFraming::Close => self.io.wbuf.extend_from_slice(data),
        }
        self.sent_body += data.len() as u64;
        if self.io.wbuf.len() >= 64 * 1024 {
            // The response takes more than one write: its tail must not wait for an ACK.
            let _ = self.io.stream.set_nodelay(true);
            self.io.flush(self.cfg.send_timeout).await?;
        }
        Ok(())
    }

    /// End the response and flush it.
    pub async fn finish(&mut self) -> Result<(), HandlerError> {
        if self.finished {
            return Ok(());
        }
        match self.out {
            OutFraming::Length if self.out_left > 0 => {
                // The body came up short: the only honest signal left is to close.
                self.io.flush(self.cfg.send_timeout).await?;
                return Err(HandlerError::Other(
                    "response body shorter than its Content-Length".into(),
                ));
            }
            OutFraming::Chunked => self.io.wbuf.extend_from_slice(b"0\r\n\r\n"),
            _ => {}
        }
        self.finished = true;
        self.io.flush(self.cfg.send_timeout).await?;
        Ok(())
    }

    /// A complete response with a body in memory.
    pub async fn respond(
        &mut self,
        status: u16,
        headers: &[u8],
        body: &[u8],
    ) -> Result<(), HandlerError> {
        self.send_head(
            status,
            http::reason_phrase(status).as_bytes(),
            headers,
            BodyLen::Known(body.len() as u64),
        );
        self.send_data(body).await?;
        self.finish().await
    }

    pub fn head_sent(&self) -> bool {
        self.head_sent
    }
}

/// Decimal digits without a heap allocation.
fn push_num(w: &mut Vec<u8>, n: u64) {
    w.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The client socket and its buffers while requests are being served. It exists only inside
/// [`serve_burst`]: an idle keep-alive connection keeps the bare socket and no buffers.
struct ClientIo {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
}

const READ_CHUNK: usize = 8192;

impl ClientIo {
    /// Read more bytes into `rbuf`, waiting at most `timeout`.
    async fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(READ_CHUNK);
        }
        match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.rbuf)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
        }
    }

    async fn flush(&mut self, timeout: Duration) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        // Most responses fit the socket buffer: write directly and only arm the send timer when
        // the kernel pushes back.
        let mut done = 0;
        while done < self.wbuf.len() {
            match self.stream.try_write(&self.wbuf[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.wbuf.clear();
                    return Err(e);
                }
            }
        }
        if done == self.wbuf.len() {
            self.wbuf.clear();
            return Ok(());
        }
        let r = tokio::time::timeout(timeout, self.stream.write_all(&self.wbuf[done..])).await;
        self.wbuf.clear();
        match r {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Close so that the client reads what we sent rather than a reset: shut our side, then
    /// read and drop what the client still sends, for a bounded time and amount. Closing with
    /// unread bytes in the kernel buffer would send RST and could destroy our last response.
    async fn lingering_close(mut self) {
        let _ = self.stream.shutdown().await;
        let deadline = Instant::now() + Duration::from_secs(2);
        // On the heap: an array here would be part of every connection task's size, idle or not.
        let mut sink = vec![0u8; 4096];
        let mut total = 0usize;
        while total < 1 << 20 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, self.stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => break,
            }
        }
    }
}

/// The connections of one listener (one worker) that wait for their next request.
///
/// An idle keep-alive connection needs two wake-ups besides its socket: its idle timeout and
/// graceful shutdown. A tokio `Sleep` plus a `Notified` per connection cost 176 bytes of every
/// idle connection's task, a timer-wheel insert and removal per request, and a lock on a
/// `Notify` shared by all workers. Instead each idle connection takes a slot here (deadline and
/// waker, about 40 bytes) and one sweeper task per listener wakes the expired ones every tick,
/// and all of them at shutdown. The timeout is thus late by at most one tick (a sixteenth of
/// the shortest timeout, at most 250 ms), never early, which is how nginx's own timers behave
/// too (`timer_resolution`). The lock is per worker, so it is never contended across threads.
pub(crate) struct IdleSet {
    inner: std::sync::Mutex<IdleInner>,
}

#[derive(Default)]
struct IdleInner {
    slots: Vec<IdleSlot>,
    free: Vec<u32>,
    /// Set at shutdown: new idle waits end at once.
    closing: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Waiting,
    TimedOut,
    Shutdown,
    /// Quiet long enough to leave its task (see [`crate::park`]).
    Park,
}

struct IdleSlot {
    deadline: Instant,
    /// When to park it; `None`: never.
    park_at: Option<Instant>,
    waker: Option<std::task::Waker>,
    state: SlotState,
}

impl IdleSet {
    fn new() -> Self {
        IdleSet {
            inner: std::sync::Mutex::new(IdleInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdleInner> {
        // Nothing panics while holding the lock; recover the data if something ever did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take a slot until `deadline`; `None` when the listener is shutting down.
    fn enter(&self, deadline: Instant, park_at: Option<Instant>) -> Option<IdleGuard<'_>> {
        let mut g = self.lock();
        if g.closing {
            return None;
        }
        let slot = IdleSlot {
            deadline,
            park_at: park_at.filter(|&p| p < deadline),
            waker: None,
            state: SlotState::Waiting,
        };
        let idx = match g.free.pop() {
            Some(i) => {
                g.slots[i as usize] = slot;
                i
            }
            None => {
                g.slots.push(slot);
                (g.slots.len() - 1) as u32
            }
        };
        Some(IdleGuard { set: self, idx })
    }

    /// Wake every slot whose deadline has passed, and every one due to park.
    fn expire(&self, now: Instant) {
        let mut wake = Vec::new();
        {
            let mut g = self.lock();
            for s in g.slots.iter_mut() {
                if s.state != SlotState::Waiting {
                    continue;
                }
                if s.deadline <= now {
                    s.state = SlotState::TimedOut;
                    wake.extend(s.waker.take());
                } else if s.park_at.is_some_and(|p| p <= now) {
                    s.state = SlotState::Park;
                    wake.extend(s.waker.take());
                }
            }
            // Give the table's memory back once a crowd of idle clients has gone (or parked).
            if g.free.len() == g.slots.len() && g.slots.capacity() > 64 {
                g.slots = Vec::new();
                g.free = Vec::new();
            }
        }
        // Woken outside the lock: a waker may run the task's scheduling code.
        wake.into_iter().for_each(|w| w.wake());
    }

    fn close_all(&self) {
        let mut wake = Vec::new();
        {
            let mut g = self.lock();
            g.closing = true;
            for s in g.slots.iter_mut() {
                if s.state == SlotState::Waiting {
                    s.state = SlotState::Shutdown;
                    wake.extend(s.waker.take());
                }
            }
        }
        wake.into_iter().for_each(|w| w.wake());
    }
}

/// A connection's place in its [`IdleSet`]; freed on drop, so a cancelled wait leaves nothing.
struct IdleGuard<'a> {
    set: &'a IdleSet,
    idx: u32,
}

impl IdleGuard<'_> {
    /// How the wait ended, with its deadline.
    fn poll(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<(SlotState, Instant)> {
        let mut g = self.set.lock();
        let s = &mut g.slots[self.idx as usize];
        match s.state {
            SlotState::Waiting => {
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                std::task::Poll::Pending
            }
            other => std::task::Poll::Ready((other, s.deadline)),
        }
    }
}

impl Drop for IdleGuard<'_> {
    fn drop(&mut self) {
        let waker = {
            let mut g = self.set.lock();
            let s = &mut g.slots[self.idx as usize];
            s.state = SlotState::Free;
            let w = s.waker.take();
            g.free.push(self.idx);
            w
        };
        drop(waker);
    }
}

/// Tick of the idle sweeper: fine enough for the shortest timeout, coarse for the usual ones.
fn sweep_tick(cfg: &ServerConfig) -> Duration {
    let shortest = [cfg.keepalive_timeout, cfg.header_timeout]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
        .unwrap_or(Duration::from_secs(1));
    (shortest / 16).clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// The listener's clock: idle deadlines, parking, and at shutdown the wake-up of every idle
/// and parked connection.
async fn sweep<H: Handler>(
    shared: Arc<Shared<H>>,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trim = TrimPolicy::default();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            _ = every.tick() => {}
            r = shutdown.changed() => if r.is_err() { break } else { continue },
        }
        let now = Instant::now();
        shared.idle.expire(now);
        if let Some(parked) = &shared.parked {
            let now_ns = shared.ns_since_epoch(now);
            for un in parked.expire(now_ns) {
                shared.ctl.stats.closed_idle.fetch_add(1, Ordering::Relaxed);
                drop(un.stream);
                // Counts the connection closed and gives back its place in the limit.
                drop(ConnSlot(shared.clone()));
            }
            trim.after_tick(parked.len(), now);
        }
    }
    shared.idle.close_all();
    if let Some(parked) = &shared.parked {
        for un in parked.close_all() {
            resume(&shared, un);
        }
    }
}

/// Give freed memory back to the system after many connections parked. Their tasks and
/// reactor registrations are freed into the allocator's bins, where glibc keeps them resident
/// (it only returns the top of the heap by itself); `malloc_trim` returns the free pages in
/// the middle too. At most once a second, and only after at least 64 more connections parked.
#[derive(Default)]
struct TrimPolicy {
    parked_at_last: usize,
    last: Option<Instant>,
}

impl TrimPolicy {
    fn after_tick(&mut self, parked: usize, now: Instant) {
        if parked < self.parked_at_last {
            self.parked_at_last = parked;
        }
        let recent = self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1));
        if parked >= self.parked_at_last + 64 && !recent {
            self.parked_at_last = parked;
            self.last = Some(now);
            trim_heap();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// A connection just accepted, its slot in the limit already taken: count it and give it a task.
fn start_connection<H: Handler>(shared: &Arc<Shared<H>>, stream: TcpStream, peer: SocketAddr) {
    // TCP_NODELAY is set when it matters (a second response on the connection, or a
    // response written in several parts), as nginx does: a client that sends one request
    // and closes gets its answer in one write and saves the system call.
    let ctl = &shared.ctl;
    ctl.stats
        .connections_accepted
        .fetch_add(1, Ordering::Relaxed);
    let conn_id = ctl.next_conn_id.fetch_add(1, Ordering::Relaxed);
    // The connection future is built here and spawned as is: wrapping it in an `async`
    // block would keep a second copy of its arguments in every connection task.
    let info = ConnInfo {
        conn_id,
        started_ns: shared.epoch.elapsed().as_nanos() as u64,
        peer: CompactAddr::new(peer),
    };
    tokio::spawn(connection(stream, info, ConnSlot(shared.clone()), 0));
}

/// Shutting down: closing the listener would reset the connections the kernel has already
/// completed into its backlog, requests and all (nginx resets them). Take them instead and
/// serve what they sent; every response says `Connection: close`. Only a client that connects
/// in the instant between this and the close is still reset, and one beyond the connection
/// limit.
fn take_backlog<H: Handler>(listener: &TcpListener, shared: &Arc<Shared<H>>) {
    let sock = socket2::SockRef::from(listener);
    while let Ok(permit) = shared.slots.try_acquire() {
        let Ok((conn, addr)) = sock.accept() else {
            break; // WouldBlock: the backlog is empty (or accept failed: nothing to rescue).
        };
        let (Some(peer), Ok(())) = (addr.as_socket(), conn.set_nonblocking(true)) else {
            continue;
        };
        let Ok(stream) = TcpStream::from_std(std::net::TcpStream::from(conn)) else {
            continue;
        };
        permit.forget();
        start_connection(shared, stream, peer);
    }
}

/// Give a parked connection a task again.
fn resume<H: Handler>(shared: &Arc<Shared<H>>, un: Unparked) {
    let slot = ConnSlot(shared.clone());
    match TcpStream::from_std(un.stream) {
        Ok(stream) => {
            tokio::spawn(connection(stream, un.info, slot, un.req_no));
        }
        // Dropping the slot counts the connection closed.
        Err(_) => drop(slot),
    }
}

/// What every connection of one listener shares: one pointer in each connection task instead
/// of one per field.
struct Shared<H> {
    cfg: Arc<ServerConfig>,
    ctl: Arc<Control>,
    handler: Arc<H>,
    log: Option<Arc<AccessLog>>,
    idle: IdleSet,
    /// Idle connections kept without a task; `None` when parking is off (or the epoll set
    /// could not be made).
    parked: Option<ParkedSet>,
    /// The listener's connection limit (`max_connections`); each connection takes one and
    /// gives it back when its [`ConnSlot`] drops.
    slots: Semaphore,
    /// Start of the connections' `started_ns` clock.
    epoch: Instant,
}

impl<H> Shared<H> {
    fn ns_since_epoch(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

/// Run a server on `listener` until `ctl.shutdown()` is called, then drain and return.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    cfg: Arc<ServerConfig>,
    ctl: Arc<Control>,
    handler: Arc<H>,
    log: Option<Arc<AccessLog>>,
) {
    let permits = cfg.max_connections.clamp(1, Semaphore::MAX_PERMITS as u32);
    let mut shutdown = ctl.subscribe();
    let (parked, parker) = match cfg.park_after.is_zero() {
        true => (None, None),
        false => match ParkedSet::new(ctl.stats.connections_parked.clone()) {
            Ok((set, parker)) => (Some(set), Some(parker)),
            Err(e) => {
                eprintln!("keepsight: idle connections stay in their tasks: epoll: {e}");
                (None, None)
            }
        },
    };
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        ctl: ctl.clone(),
        handler,
        log,
        idle: IdleSet::new(),
        parked,
        slots: Semaphore::new(permits as usize),
        epoch: Instant::now(),
    });
    let sweeper = tokio::spawn(sweep(shared.clone(), sweep_tick(&cfg), ctl.subscribe()));
    let watcher = parker.map(|parker| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let set = shared.parked.as_ref().expect("a parker comes with its set");
            parker.run(set, |un| resume(&shared, un)).await
        })
    });
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Hold a slot before accepting: at the limit, new clients wait in the listen backlog
        // (as with nginx's worker_connections) instead of being accepted and dropped.
        let permit = tokio::select! {
            p = shared.slots.acquire() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                eprintln!("keepsight: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // From here the slot belongs to the connection's `ConnSlot`, which gives it back.
        permit.forget();
        start_connection(&shared, stream, peer);
    }
    take_backlog(&listener, &shared);
    drop(listener);
    // Every connection holds one permit; having them all back means every connection is done.
    let _ = tokio::time::timeout(cfg.shutdown_timeout, shared.slots.acquire_many(permits)).await;
    sweeper.abort();
    if let Some(w) = watcher {
        w.abort();
    }
}

/// How an idle wait ended.
enum Wait {
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
fn wait_first_byte<'a>(
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
enum IdleWait<'a> {
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
fn nothing_pending(stream: &TcpStream) -> bool {
    let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    // A real peek, not tokio's cached readiness, which may not have seen the latest bytes.
    // Nothing, or the client's FIN (it read our response and closed first) means nothing unread.
    match socket2::SockRef::from(stream).peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    }
}

/// Who a connection is; kept for its whole life, so kept small: an idle keep-alive client's
/// task (or its parked slot) holds it.
#[derive(Clone, Copy)]
pub(crate) struct ConnInfo {
    conn_id: u64,
    /// Nanoseconds from the listener's `Shared::epoch` to the accept (584 years of range).
    started_ns: u64,
    peer: CompactAddr,
}

/// A peer address in 24 bytes instead of `SocketAddr`'s 32 (IPv6 flow info is not kept; it
/// is not part of the address and nothing here uses it).
#[derive(Clone, Copy)]
struct CompactAddr {
    ip: [u8; 16],
    scope_id: u32,
    port: u16,
    v6: bool,
}

impl CompactAddr {
    fn new(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(a) => {
                let mut ip = [0u8; 16];
                ip[..4].copy_from_slice(&a.ip().octets());
                CompactAddr {
                    ip,
                    scope_id: 0,
                    port: a.port(),
                    v6: false,
                }
            }
            SocketAddr::V6(a) => CompactAddr {
                ip: a.ip().octets(),
                scope_id: a.scope_id(),
                port: a.port(),
                v6: true,
            },
        }
    }

    fn get(self) -> SocketAddr {
        if self.v6 {
            let ip = std::net::Ipv6Addr::from(self.ip);
            SocketAddr::V6(std::net::SocketAddrV6::new(ip, self.port, 0, self.scope_id))
        } else {
            let ip = std::net::Ipv4Addr::new(self.ip[0], self.ip[1], self.ip[2], self.ip[3]);
            SocketAddr::V4(std::net::SocketAddrV4::new(ip, self.port))
        }
    }
}

/// The connection's share of the listener. Dropping it gives back the connection's slot in
/// the listener's limit, also when the task is dropped without finishing (a panicking handler,
/// runtime shutdown): one pointer per connection instead of a pointer and a `u32` for an
/// `OwnedSemaphorePermit`.
struct ConnSlot<H>(Arc<Shared<H>>);

impl<H> std::ops::Deref for ConnSlot<H> {
    type Target = Shared<H>;
    fn deref(&self) -> &Shared<H> {
        &self.0
    }
}

impl<H> ConnSlot<H> {
    /// The connection goes on parked: its slot in the limit stays taken, and is given back
    /// when the parked connection closes or gets a task (and a new `ConnSlot`) again.
    fn keep_for_parked(self) {
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

/// One client connection, from accept to close. Its future is the whole task of an idle
/// keep-alive client, so everything it holds across the idle wait costs memory per client:
/// the socket, who the connection is, one pointer to the listener's shared state and the
/// request count. Everything needed to serve requests (buffers, parser and handler state) is
/// in a boxed future that exists only while a request is being served.
/// (A plain function returning an `async move` block: an `async fn` would store its arguments
/// twice, once as passed and once as moved into its body.)
#[allow(clippy::manual_async_fn)]
fn connection<H: Handler>(
    mut stream: TcpStream,
    info: ConnInfo,
    shared: ConnSlot<H>,
    mut req_no: u32,
) -> impl Future<Output = ()> + Send {
    async move {
        // The deadline of an idle wait that could not park and goes on here (nanoseconds
        // from the listener's epoch; 0: none), so that a refused park never extends it.
        let mut carried_ns = 0u64;
        loop {
            // Everything here is a temporary: a local that lived across the wait (or the
            // burst) would be part of every idle connection's task.
            let carried = std::mem::take(&mut carried_ns);
            let rbuf = match wait_first_byte(
                &mut stream,
                if carried != 0 {
                    let now = shared.ns_since_epoch(Instant::now());
                    Duration::from_nanos(carried.saturating_sub(now))
                } else if req_no == 0 {
                    shared.cfg.header_timeout
                } else {
                    shared.cfg.keepalive_timeout
                },
                match shared.parked {
                    Some(_) if carried == 0 => Some(shared.cfg.park_after),
                    _ => None,
                },
                &shared.idle,
            )
            .await
            {
                Wait::Data(b) => b,
                Wait::Park(deadline) => {
                    let deadline_ns = shared.ns_since_epoch(deadline);
                    let Some(parked) = &shared.parked else { break };
                    match parked.park(stream, info, req_no, deadline_ns) {
                        Ok(()) => {
                            shared.keep_for_parked();
                            return;
                        }
                        Err(Refused::Keep(s)) => {
                            stream = s;
                            carried_ns = deadline_ns.max(1);
                            continue;
                        }
                        Err(Refused::Closed) => break,
                    }
                }
                Wait::Closed => break,
                Wait::Timeout => {
                    let stats = &shared.ctl.stats;
                    stats.closed_idle.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Wait::Shutdown => {
                    let stats = &shared.ctl.stats;
                    stats.closed_shutdown.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            };
            match Box::pin(serve_burst(stream, rbuf, &mut req_no, &info, &shared)).await {
                Some(s) => stream = s,
                None => break,
            }
        }
    }
}

/// Serve requests until the client has sent nothing more (the socket comes back for the idle
/// wait) or the connection is to be closed (`None`). Holds the connection's buffers, which
/// are freed when it returns, so an idle keep-alive connection holds none.
async fn serve_burst<H: Handler>(
    stream: TcpStream,
    rbuf: BytesMut,
    req_no: &mut u32,
    info: &ConnInfo,
    shared: &Shared<H>,
) -> Option<TcpStream> {
    let mut io = ClientIo {
        stream,
        rbuf,
        wbuf: Vec::new(),
    };
    loop {
        match one_request(&mut io, req_no, info, shared).await {
            Next::Continue => {
                if *req_no == 1 {
                    // From now on a response may follow one not yet acknowledged.
                    let _ = io.stream.set_nodelay(true);
                }
                if io.rbuf.is_empty() {
                    return Some(io.stream);
                }
            }
            Next::Drop => return None,
            Next::ClientClose if nothing_pending(&io.stream) => return None,
            Next::Linger | Next::ClientClose => {
                io.lingering_close().await;
                return None;
            }
        }
    }
}

struct ConnCtx<'a, H> {
    peer: SocketAddr,
    conn_id: u64,
    cfg: &'a ServerConfig,
    ctl: &'a Control,
    handler: &'a H,
    log: Option<&'a AccessLog>,
    started: Instant,
}

enum Next {
    /// Keep the connection for the next request.
    Continue,
    /// Close at once (the client went away or timed out).
    Drop,
    /// Close after letting the client read what we sent.
    Linger,
    /// The client asked to close: close now unless it sent something more anyway.
    ClientClose,
}

async fn one_request<H: Handler>(
    io: &mut ClientIo,
    req_no: &mut u32,
    info: &ConnInfo,
    sh: &Shared<H>,
) -> Next {
    let c = ConnCtx {
        peer: info.peer.get(),
        conn_id: info.conn_id,
        cfg: &sh.cfg,
        ctl: &sh.ctl,
        handler: &*sh.handler,
        log: sh.log.as_deref(),
        started: sh.epoch + Duration::from_nanos(info.started_ns),
    };
    let ConnCtx {
        peer,
        conn_id,
        cfg,
        ctl,
        handler,
        log,
        started: conn_started,
    } = c;
    let head_started = Instant::now();
    let head = loop {
        match http::parse_request(&mut io.rbuf, cfg.max_head) {
            Ok(Parsed::Complete(h, _)) => break Ok(h),
            Ok(Parsed::Partial) => {}
            Err(e) => break Err(e),
        }
        let left = cfg
            .header_timeout
            .saturating_sub(head_started.elapsed())
            .max(Duration::from_millis(1));
        match io.read_more(left).await {
            Ok(0) => return Next::Drop,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                // nginx closes silently here too; a 408 would race the client's next send.
                return Next::Drop;
            }
            Err(_) => return Next::Drop,
        }
    };
    // Saturating: with no request limit a connection could outlive a u32 count.
    *req_no = req_no.saturating_add(1);
    let req_no = u64::from(*req_no);
    let head = match head {
        Ok(h) => h,
        Err(e) => {
            reject(io, &e, cfg, ctl, conn_id, req_no, peer, log).await;
            return Next::Linger;
        }
    };
    ctl.stats.requests.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let body = match head.framing {
        Framing::ContentLength(n) => {
            if cfg.max_body > 0 && n > cfg.max_body {
                reject(
                    io,
                    &RequestError::BodyTooLarge(cfg.max_body),
                    cfg,
                    ctl,
                    conn_id,
                    req_no,
                    peer,
                    log,
                )
                .await;
                return Next::Linger;
            }
            BodyState::Length(n)
        }
        Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new(cfg.max_head)),
        _ => BodyState::Done,
    };
    let mut ex = Exchange {
        io,
        req: head,
        body,
        body_read: 0,
        cfg,
        ctl,
        conn_id,
        req_no,
        conn_started,
        peer,
        head_sent: false,
        out: OutFraming::None,
        out_left: 0,
        finished: false,
        status: 0,
        sent_body: 0,
        close: CloseReason::KeepAlive,
        note: "",
    };
    // Boxed so that the connection task, which lives as long as the client stays, carries
    // only its own small state while idle instead of room for the largest handler future.
    let result = Box::pin(handler.handle(&mut ex)).await;
    let mut close = ex.close;
    let ok = match result {
        Ok(()) if ex.finished => true,
        Ok(()) => {
            if !ex.head_sent {
                let _ = ex.respond(500, b"", b"handler sent no response\n").await;
            }
            close = CloseReason::Error;
            false
        }
        Err(HandlerError::Body(e)) if !ex.head_sent => {
            let status = e.status();
            ex.note = e.reason();
            ex.req.wants_keep_alive = false;
            let _ = ex.respond(status, b"", format!("{e}\n").as_bytes()).await;
            ctl.stats.rejected.fetch_add(1, Ordering::Relaxed);
            close = CloseReason::BadRequest;
            false
        }
        Err(_) => {
            close = CloseReason::Error;
            false
        }
    };
    if let Some(log) = log {
        log.write(&LogEntry {
            conn_id,
            req_no,
            peer,
            method: ex.req.method(),
            target: ex.req.target(),
            minor: ex.req.minor,
            status: ex.status,
            body_bytes: ex.sent_body,
            duration: started.elapsed(),
            close: close.as_str(),
            note: ex.note,
        });
    }
    match close {
        CloseReason::KeepAlive if ok => return Next::Continue,
        CloseReason::Drain => ctl.stats.closed_drain.fetch_add(1, Ordering::Relaxed),
        CloseReason::KeepaliveRequests => ctl
            .stats
            .closed_keepalive_requests
            .fetch_add(1, Ordering::Relaxed),
        CloseReason::KeepaliveTime => ctl
            .stats
            .closed_keepalive_time
            .fetch_add(1, Ordering::Relaxed),
        CloseReason::Shutdown => ctl.stats.closed_shutdown.fetch_add(1, Ordering::Relaxed),
        CloseReason::ClientAsked if ok && io.rbuf.is_empty() => return Next::ClientClose,
        _ => 0,
    };
    Next::Linger
}

#[allow(clippy::too_many_arguments)]
async fn reject(
    io: &mut ClientIo,
    e: &RequestError,
    cfg: &ServerConfig,
    ctl: &Control,
    conn_id: u64,
    req_no: u64,
    peer: SocketAddr,
    log: Option<&AccessLog>,
) {
    ctl.stats.rejected.fetch_add(1, Ordering::Relaxed);
    let status = e.status();
    let body = format!("{e}\n");
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        http::reason_phrase(status),
        body.len()
    );
    io.wbuf.clear();
    io.wbuf.extend_from_slice(head.as_bytes());
    io.wbuf.extend_from_slice(body.as_bytes());
    let _ = io.flush(cfg.send_timeout).await;
    if let Some(log) = log {
        log.write(&LogEntry {
            conn_id,
            req_no,
            peer,
            method: "-",
            target: b"-",
            minor: 1,
            status,
            body_bytes: body.len() as u64,
            duration: Duration::ZERO,
            close: CloseReason::BadRequest.as_str(),
            note: e.reason(),
        });
    }
    // Discard what is already buffered: it belongs to a request we refused to frame.
    io.rbuf.clear();
}

#[cfg(test)]
mod tests {
    /// Every idle keep-alive client costs one connection task; its size is the size of this
    /// future. Guard it so a large local held across an await does not creep back in (a 4 KiB
    /// array in the lingering close once made it 5.7 KB; a per-connection `Sleep` and
    /// `Notified`, and arguments stored twice by an `async fn`, made it 650 bytes; the buffers
    /// and a semaphore permit held while idle, 216 bytes).
    #[tokio::test]
    async fn idle_connection_task_stays_small() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = l.accept().await.unwrap();
        let h = crate::serve::ServeHandler::new(
            crate::serve::Content::Fixed {
                status: 200,
                body: bytes::Bytes::new(),
                headers: vec![],
            },
            std::time::Duration::ZERO,
        );
        let shared = std::sync::Arc::new(super::Shared {
            cfg: Default::default(),
            ctl: Default::default(),
            handler: std::sync::Arc::new(h),
            log: None,
            idle: super::IdleSet::new(),
            parked: super::ParkedSet::new(Default::default())
                .ok()
                .map(|(set, _)| set),
            slots: tokio::sync::Semaphore::new(1),
            epoch: std::time::Instant::now(),
        });
        let info = super::ConnInfo {
            conn_id: 1,
            started_ns: 0,
            peer: super::CompactAddr::new(peer),
        };
        // Exactly what `serve` spawns.
        let f = super::connection(stream, info, super::ConnSlot(shared), 0);
        let size = std::mem::size_of_val(&f);
        eprintln!("connection task future: {size} bytes");
        // 128 bytes now (socket 32, who the connection is 40, shared pointer 8, request
        // count 4, the idle wait 40). tokio 1.54 puts its header, scheduler, id and trailer
        // (about 104 bytes) around the future and rounds the task to 128 bytes: a future of
        // up to 152 bytes keeps the task a 256-byte allocation instead of 384.
        assert!(size <= 152, "connection future is {size} bytes");
    }

    /// The compact peer address gives back the address the socket reported.
    #[test]
    fn compact_addr_round_trips() {
        for a in [
            "127.0.0.1:80",
            "255.254.253.252:65535",
            "0.0.0.0:0",
            "[::1]:8080",
            "[fe80::1%7]:443",
            "[2001:db8::ff00:42:8329]:1",
            "[::ffff:10.0.0.1]:22",
        ] {
            let addr: std::net::SocketAddr = a.parse().unwrap();
            assert_eq!(super::CompactAddr::new(addr).get(), addr, "{a}");
        }
    }
}
