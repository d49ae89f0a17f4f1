//! The handler's side of one request: the [`Handler`] trait and the [`Exchange`] through which a
//! handler reads the request body and writes its response, with the framing and keep-alive
//! decision done here; and the client socket with its buffers while requests are served.

use super::config::{CloseReason, Control, ServerConfig};
use crate::http::{self, Chunk, ChunkedDecoder, Framing, RequestError, RequestHead};
use bytes::{Bytes, BytesMut};
use keepsight_tlsio::Stream;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Errors a handler reports. The connection is closed after any of them.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Reading from or writing to the client failed.
    #[error("client connection: {0}")]
    Client(#[from] io::Error),
    /// The client's request body is malformed.
    #[error("client request body: {0}")]
    Body(RequestError),
    /// Anything else, said as text.
    #[error("{0}")]
    Other(String),
}

/// Produces one response per request. Implemented by the fixed/static server, the proxy and the
/// admin endpoint.
pub trait Handler: Send + Sync + 'static {
    /// Answers the request in `ex`: reads its body if needed and sends one response.
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
    pub(super) io: &'c mut ClientIo,
    pub(super) req: RequestHead,
    pub(super) body: BodyState,
    pub(super) body_read: u64,
    pub(super) cfg: &'c ServerConfig,
    pub(super) ctl: &'c Control,
    pub(super) conn_id: u64,
    pub(super) req_no: u64,
    pub(super) conn_started: Instant,
    pub(super) peer: SocketAddr,
    // Response side.
    pub(super) head_sent: bool,
    pub(super) out: OutFraming,
    pub(super) out_left: u64,
    pub(super) finished: bool,
    pub(super) status: u16,
    pub(super) sent_body: u64,
    pub(super) close: CloseReason,
    pub(super) note: &'static str,
}

#[derive(Debug)]
pub(crate) enum BodyState {
    Done,
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// What the buffered bytes gave of a request body.
pub(crate) enum BodyPiece {
    /// Body bytes.
    Data(Bytes),
    /// The body ended (the state is `Done`).
    End,
    /// All buffered bytes were used; read more.
    NeedMore,
}

impl BodyState {
    /// How the body of `head` is read, or why it is refused before reading it (a
    /// `Content-Length` beyond `max_body`; 0 is no limit).
    pub(crate) fn for_request(
        head: &RequestHead,
        max_body: u64,
        max_line: usize,
    ) -> Result<BodyState, RequestError> {
        Ok(match head.framing {
            Framing::ContentLength(n) if max_body > 0 && n > max_body => {
                return Err(RequestError::BodyTooLarge(max_body))
            }
            Framing::ContentLength(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new(max_line)),
            _ => BodyState::Done,
        })
    }

    /// The next piece of body from the front of `rbuf` (the connection's read buffer),
    /// counting body bytes in `body_read` against `max_body` (0 is no limit). The socket-free
    /// half of [`Exchange::read_body`], which reads more on `NeedMore`.
    pub(crate) fn next_piece(
        &mut self,
        rbuf: &mut BytesMut,
        body_read: &mut u64,
        max_body: u64,
    ) -> Result<BodyPiece, RequestError> {
        match self {
            BodyState::Done => Ok(BodyPiece::End),
            BodyState::Length(_) if rbuf.is_empty() => Ok(BodyPiece::NeedMore),
            BodyState::Length(left) => {
                let take = (rbuf.len() as u64).min(*left) as usize;
                let data = rbuf.split_to(take).freeze();
                *left -= take as u64;
                if *left == 0 {
                    *self = BodyState::Done;
                }
                *body_read += take as u64;
                Ok(BodyPiece::Data(data))
            }
            BodyState::Chunked(dec) => match dec.decode(rbuf) {
                Ok(Chunk::Data(d)) => {
                    *body_read += d.len() as u64;
                    if max_body > 0 && *body_read > max_body {
                        return Err(RequestError::BodyTooLarge(max_body));
                    }
                    Ok(BodyPiece::Data(d))
                }
                Ok(Chunk::End) => {
                    *self = BodyState::Done;
                    Ok(BodyPiece::End)
                }
                Ok(Chunk::NeedMore) => Ok(BodyPiece::NeedMore),
                Err(e) => Err(RequestError::BadChunk(e)),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutFraming {
    None,
    Length,
    Chunked,
    Close,
}

impl<'c> Exchange<'c> {
    /// The request head.
    pub fn request(&self) -> &RequestHead {
        &self.req
    }
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    /// The connection's number (as in the access log).
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
    /// True once the whole request body was read.
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
            match self
                .body
                .next_piece(&mut self.io.rbuf, &mut self.body_read, self.cfg.max_body)
            {
                Ok(BodyPiece::Data(d)) => return Ok(Some(d)),
                Ok(BodyPiece::End) => return Ok(None),
                Ok(BodyPiece::NeedMore) => {}
                Err(e) => return Err(HandlerError::Body(e)),
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
            let _ = self.io.stream.tcp().set_nodelay(true);
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
            let _ = self.io.stream.tcp().set_nodelay(true);
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

    /// True once the response head was sent (a failure can no longer become an error response).
    pub fn head_sent(&self) -> bool {
        self.head_sent
    }
}

/// Decimal digits without a heap allocation.
fn push_num(w: &mut Vec<u8>, n: u64) {
    w.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The client socket and its buffers while requests are being served. It exists only inside
/// `serve_burst`: an idle keep-alive connection keeps the bare socket and no buffers.
pub(super) struct ClientIo {
    pub(super) stream: Stream,
    pub(super) rbuf: BytesMut,
    pub(super) wbuf: Vec<u8>,
}

const READ_CHUNK: usize = 8192;

impl ClientIo {
    /// Read more bytes into `rbuf`, waiting at most `timeout`.
    pub(super) async fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(READ_CHUNK);
        }
        match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.rbuf)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
        }
    }

    pub(super) async fn flush(&mut self, timeout: Duration) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        // Most responses fit the socket buffer: write directly and only arm the send timer when
        // the kernel pushes back. (TLS encrypts first: it always takes the timed path.)
        let mut done = 0;
        while let Stream::Plain(tcp) = &self.stream {
            if done == self.wbuf.len() {
                break;
            }
            match tcp.try_write(&self.wbuf[done..]) {
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
        let stream = &mut self.stream;
        let rest = &self.wbuf[done..];
        // `flush` pushes out the TLS records rustls may still hold when the socket pushed back.
        let r = tokio::time::timeout(timeout, async move {
            stream.write_all(rest).await?;
            stream.flush().await
        })
        .await;
        self.wbuf.clear();
        match r {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Close so that the client reads what we sent rather than a reset: shut our side, then
    /// read and drop what the client still sends, for a bounded time and amount. Closing with
    /// unread bytes in the kernel buffer would send RST and could destroy our last response.
    pub(super) async fn lingering_close(mut self) {
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
