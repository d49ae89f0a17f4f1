//! `keepsight proxy`: forward each request to one upstream over a pool of kept-alive
//! connections, re-framing both directions so nothing ambiguous passes through.

use crate::http::{self, Chunk, ChunkedDecoder, Framing, Parsed, ResponseHead};
use crate::serve::push_date;
use crate::server::{BodyLen, Exchange, Handler, HandlerError};
use bytes::BytesMut;
use keepsight_tlsio::rustls::pki_types::ServerName;
use keepsight_tlsio::rustls::ClientConfig;
use keepsight_tlsio::Stream;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upstream side, named after nginx's `proxy_*` and `upstream { keepalive ... }` directives.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The upstream server.
    pub addr: SocketAddr,
    /// `proxy_connect_timeout`.
    pub connect_timeout: Duration,
    /// `proxy_read_timeout`: longest wait between two reads from the upstream.
    pub read_timeout: Duration,
    /// `proxy_send_timeout`.
    pub send_timeout: Duration,
    /// `keepalive N`: most idle connections kept. Zero: a new connection per request.
    pub keepalive: usize,
    /// `keepalive_timeout` (upstream block): an idle pooled connection older than this is closed.
    pub keepalive_timeout: Duration,
    /// `keepalive_requests` (upstream block): requests per upstream connection. Zero: no limit.
    pub keepalive_requests: u64,
    /// Largest upstream response head.
    pub max_head: usize,
    /// Resend an idempotent, bodiless request once on a fresh connection when a reused one
    /// turns out to have been closed by the upstream before answering.
    pub retry_reused: bool,
    /// One pool per thread, for servers run with [`crate::start_workers`]: a connection is
    /// registered with the event loop of the thread that opened it, and used from another
    /// thread its wake-ups would have to cross threads (and wait for that loop). `keepalive`
    /// then counts per thread, as nginx's `keepalive` counts per worker process.
    pub per_thread_pool: bool,
    /// Speak TLS to the upstream (`https://` upstream).
    pub tls: Option<UpstreamTls>,
}

/// TLS to the upstream: one client configuration for the pool, so new connections resume the
/// sessions of earlier ones.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// Trust and ALPN (`keepsight_tlsio::client_config`).
    pub config: Arc<ClientConfig>,
    /// Sent as SNI and checked against the upstream's certificate.
    pub name: ServerName<'static>,
}

/// An `--upstream` value: `HOST:PORT`, `http://HOST[:PORT]` (port 80) or
/// `https://HOST[:PORT]` (port 443, TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamAddr {
    /// Where to connect.
    pub addr: SocketAddr,
    /// For `https://`: the host as written, the default SNI.
    pub tls_host: Option<String>,
}

/// Reads an `--upstream` value (see [`UpstreamAddr`]); a path after the authority is refused,
/// since the proxy forwards each request's own target.
pub fn parse_upstream(s: &str) -> Result<UpstreamAddr, String> {
    let (rest, tls, default_port) = if let Some(r) = s.strip_prefix("https://") {
        (r, true, 443)
    } else if let Some(r) = s.strip_prefix("http://") {
        (r, false, 80)
    } else {
        let addr = crate::addr::parse_socket_addr(s)?;
        return Ok(UpstreamAddr {
            addr,
            tls_host: None,
        });
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '@']) {
        return Err(format!(
            "`{s}`: expected http[s]://HOST[:PORT] (no path: each request keeps its own)"
        ));
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let with_port = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addr = crate::addr::parse_socket_addr(&with_port)?;
    let host = match authority.rfind(']') {
        Some(end) => authority[..=end].to_string(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_string(),
    };
    Ok(UpstreamAddr {
        addr,
        tls_host: tls.then_some(host),
    })
}

impl UpstreamConfig {
    /// Defaults like nginx's for the upstream at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        UpstreamConfig {
            addr,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            keepalive: 64,
            keepalive_timeout: Duration::from_secs(60),
            keepalive_requests: 1000,
            max_head: 16 * 1024,
            retry_reused: true,
            per_thread_pool: false,
            tls: None,
        }
    }
}

struct UpConn {
    stream: Stream,
    rbuf: BytesMut,
    requests: u64,
    idle_since: Instant,
}

impl UpConn {
    async fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(16 * 1024);
        }
        // Arm the read timer only when there is nothing to read yet (plain TCP: TLS decrypts
        // inside its own read).
        if let Stream::Plain(tcp) = &self.stream {
            match tcp.try_read_buf(&mut self.rbuf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
        }
        match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.rbuf)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "upstream read timed out",
            )),
        }
    }
}

/// A non-blocking peek of one byte: `WouldBlock` when nothing waits on the socket.
fn peek_now(tcp: &TcpStream) -> io::Result<usize> {
    let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    socket2::SockRef::from(tcp).peek(&mut b)
}

const POOL_SHARDS: usize = 64;
static NEXT_SLOT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
thread_local! {
    static THREAD_SLOT: usize = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Request bodies up to this size are read completely before going upstream.
const REQUEST_BUFFER: usize = 64 * 1024;

/// Forwards each request to the upstream over pooled keep-alive connections, resending
/// idempotent ones that hit a connection the upstream had just closed.
pub struct ProxyHandler {
    cfg: UpstreamConfig,
    idle: Vec<Mutex<Vec<UpConn>>>,
    /// Requests resent after the reuse race (for tests and the admin endpoint).
    pub retries: std::sync::atomic::AtomicU64,
    /// Upstream connections opened.
    pub upstream_connects: std::sync::atomic::AtomicU64,
}

enum Failure {
    /// Nothing came back on a reused connection: the upstream had closed it (the reuse race).
    Stale(io::Error),
    Connect(io::Error),
    Timeout,
    Io(io::Error),
    Bad(String),
    /// The client's side failed (bad chunked body, timeout, went away): not the upstream's fault.
    Client(HandlerError),
}

impl ProxyHandler {
    /// A proxy to `cfg`'s upstream with an empty pool.
    pub fn new(cfg: UpstreamConfig) -> Self {
        ProxyHandler {
            cfg,
            idle: (0..POOL_SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
            retries: Default::default(),
            upstream_connects: Default::default(),
        }
    }

    /// Close pooled connections idle for longer than the upstream keep-alive timeout. The
    /// caller runs this on a timer.
    pub fn prune_idle(&self) {
        let limit = self.cfg.keepalive_timeout;
        for shard in &self.idle {
            if let Ok(mut idle) = shard.lock() {
                idle.retain(|c| c.idle_since.elapsed() < limit);
            }
        }
    }

    /// Pooled upstream connections now idle.
    pub fn idle_connections(&self) -> usize {
        self.idle
            .iter()
            .map(|s| s.lock().map(|v| v.len()).unwrap_or(0))
            .sum()
    }

    fn pool(&self) -> &Mutex<Vec<UpConn>> {
        if self.cfg.per_thread_pool {
            &self.idle[THREAD_SLOT.with(|s| *s) % POOL_SHARDS]
        } else {
            &self.idle[0]
        }
    }

    fn take_idle(&self) -> Option<UpConn> {
        let mut idle = self.pool().lock().ok()?;
        while let Some(c) = idle.pop() {
            if c.idle_since.elapsed() >= self.cfg.keepalive_timeout {
                continue;
            }
            // A pooled connection with something to read has been closed (EOF) or is sending
            // unsolicited bytes; either way it cannot carry a request.
            // On TLS the bytes are peeked, not read (they belong to the session): a late session
            // ticket then costs a new connection, which is the safe side.
            let mut probe = [0u8; 1];
            let waiting = match &c.stream {
                Stream::Plain(tcp) => tcp.try_read(&mut probe),
                tls => peek_now(tls.tcp()),
            };
            match waiting {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(c),
                _ => continue,
            }
        }
        None
    }

    fn put_idle(&self, mut c: UpConn) {
        if self.cfg.keepalive == 0
            || (self.cfg.keepalive_requests > 0 && c.requests >= self.cfg.keepalive_requests)
            || !c.rbuf.is_empty()
        {
            return;
        }
        c.idle_since = Instant::now();
        // Keep an ordinary read buffer for the next request (the pool is bounded, so is the
        // memory); drop one that grew for a large head.
        if c.rbuf.capacity() > 32 * 1024 {
            c.rbuf = BytesMut::new();
        }
        if let Ok(mut idle) = self.pool().lock() {
            if idle.len() < self.cfg.keepalive {
                idle.push(c);
            }
        }
    }

    async fn connect(&self) -> Result<UpConn, Failure> {
        self.upstream_connects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stream =
            match tokio::time::timeout(self.cfg.connect_timeout, TcpStream::connect(self.cfg.addr))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(Failure::Connect(e)),
                Err(_) => return Err(Failure::Timeout),
            };
        let _ = stream.set_nodelay(true);
        let stream = match &self.cfg.tls {
            None => Stream::Plain(stream),
            Some(tls) => {
                let handshake = Stream::connect(stream, tls.config.clone(), tls.name.clone());
                match tokio::time::timeout(self.cfg.connect_timeout, handshake).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return Err(Failure::Connect(io::Error::new(
                            e.kind(),
                            format!("TLS handshake: {e}"),
                        )))
                    }
                    Err(_) => return Err(Failure::Timeout),
                }
            }
        };
        Ok(UpConn {
            stream,
            rbuf: BytesMut::new(),
            requests: 0,
            idle_since: Instant::now(),
        })
    }

    /// Build the request head sent upstream: hop-by-hop headers out, framing set from what we
    /// will actually send.
    fn upstream_head(ex: &Exchange<'_>, buffered: Option<usize>) -> Vec<u8> {
        let req = ex.request();
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(req.method().as_bytes());
        out.push(b' ');
        out.extend_from_slice(req.target());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let options = http::connection_options(req.headers());
        let mut had_length = false;
        for (n, v) in req.headers() {
            if n.eq_ignore_ascii_case(b"content-length") {
                had_length = true;
            }
            if http::is_hop_by_hop(n) || options.iter().any(|o| o.eq_ignore_ascii_case(n)) {
                continue;
            }
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if req.minor == 0 && req.header("host").is_none() {
            // HTTP/1.1 requires Host; an HTTP/1.0 client may have sent none.
            out.extend_from_slice(b"Host: ");
            out.extend_from_slice(ex_host(ex).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match (buffered, req.framing) {
            (Some(0), Framing::NoBody) if !had_length => {}
            (Some(n), _) => out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes()),
            (None, Framing::ContentLength(n)) => {
                out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
            }
            (None, _) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Send the request (head and body) and read the response head.
    async fn exchange_head(
        &self,
        ex: &mut Exchange<'_>,
        conn: &mut UpConn,
        head: &[u8],
        prefix: &[u8],
        streaming: bool,
        reused: bool,
    ) -> Result<ResponseHead, Failure> {
        let send = self.cfg.send_timeout;
        let write = |r: Result<io::Result<()>, _>| -> Result<(), Failure> {
            match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) if reused => Err(Failure::Stale(e)),
                Ok(Err(e)) => Err(Failure::Io(e)),
                Err(_) => Err(Failure::Timeout),
            }
        };
        let chunked = streaming && ex.request_framing() == Framing::Chunked;
        let mut joined = Vec::new();
        let first: &[u8] = if prefix.is_empty() {
            head
        } else {
            joined.reserve(head.len() + prefix.len() + 16);
            joined.extend_from_slice(head);
            if chunked {
                joined.extend_from_slice(format!("{:x}\r\n", prefix.len()).as_bytes());
                joined.extend_from_slice(prefix);
                joined.extend_from_slice(b"\r\n");
            } else {
                joined.extend_from_slice(prefix);
            }
            &joined
        };
        // A request head fits the socket buffer: write it directly and arm the send timer only
        // if the kernel pushes back.
        let tried = match &conn.stream {
            Stream::Plain(tcp) => tcp.try_write(first),
            // TLS encrypts inside its own write.
            _ => Ok(0),
        };
        let sent = match tried {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) if reused => return Err(Failure::Stale(e)),
            Err(e) => return Err(Failure::Io(e)),
        };
        if sent < first.len() {
            write(tokio::time::timeout(send, conn.stream.write_all(&first[sent..])).await)?;
        }
        if streaming {
            while let Some(data) = ex.read_body().await.map_err(Failure::Client)? {
                if chunked {
                    let mut framed = Vec::with_capacity(data.len() + 16);
                    framed.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                    framed.extend_from_slice(&data);
                    framed.extend_from_slice(b"\r\n");
                    write(tokio::time::timeout(send, conn.stream.write_all(&framed)).await)?;
                } else {
                    write(tokio::time::timeout(send, conn.stream.write_all(&data)).await)?;
                }
            }
            if chunked {
                write(tokio::time::timeout(send, conn.stream.write_all(b"0\r\n\r\n")).await)?;
            }
        }
        if conn.stream.is_tls() {
            // rustls may still hold records the socket did not take.
            write(tokio::time::timeout(send, conn.stream.flush()).await)?;
        }
        conn.requests += 1;
        let is_head = ex.request().is_head();
        loop {
            match http::parse_response(&mut conn.rbuf, self.cfg.max_head, is_head) {
                Ok(Parsed::Complete(h)) => {
                    if h.status == 101 {
                        return Err(Failure::Bad("upstream switched protocols".into()));
                    }
                    if (100..200).contains(&h.status) {
                        // Interim responses are ours to handle, not the client's.
                        continue;
                    }
                    return Ok(h);
                }
                Ok(Parsed::Partial) => {}
                Err(e) => return Err(Failure::Bad(e.to_string())),
            }
            let got_nothing = conn.rbuf.is_empty();
            match conn.read_more(self.cfg.read_timeout).await {
                Ok(0) if got_nothing && reused => {
                    return Err(Failure::Stale(io::ErrorKind::UnexpectedEof.into()))
                }
                Ok(0) => {
                    return Err(Failure::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "upstream closed before a full response head",
                    )))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Failure::Timeout),
                Err(e) if got_nothing && reused => return Err(Failure::Stale(e)),
                Err(e) => return Err(Failure::Io(e)),
            }
        }
    }
}

fn ex_host(ex: &Exchange<'_>) -> String {
    ex.peer().ip().to_string()
}

impl Handler for ProxyHandler {
    async fn handle(&self, ex: &mut Exchange<'_>) -> Result<(), HandlerError> {
        let method = ex.request().method();
        if method == "CONNECT" {
            return ex.respond(501, b"", b"CONNECT is not supported\n").await;
        }
        // Like nginx's proxy_request_buffering, read a small body completely before choosing
        // an upstream connection: a malformed body is then refused before the upstream sees
        // any of the request, the upstream gets a plain Content-Length, and the request can be
        // resent after the reuse race. Larger bodies stream, re-chunked or with their length.
        let mut prefix = Vec::new();
        let mut complete = ex.body_is_done();
        while !complete && prefix.len() < REQUEST_BUFFER {
            match ex.read_body().await? {
                Some(d) => prefix.extend_from_slice(&d),
                None => complete = true,
            }
        }
        let head = Self::upstream_head(ex, complete.then_some(prefix.len()));
        let retryable = self.cfg.retry_reused && ex.request().is_idempotent() && complete;
        let mut attempt = 0;
        let (mut conn, resp) = loop {
            attempt += 1;
            let (mut conn, reused) = match self.take_idle() {
                Some(c) => (c, true),
                None => match self.connect().await {
                    Ok(c) => (c, false),
                    Err(f) => return fail(ex, f).await,
                },
            };
            match self
                .exchange_head(ex, &mut conn, &head, &prefix, !complete, reused)
                .await
            {
                Ok(r) => break (conn, r),
                Err(Failure::Stale(_)) if retryable && attempt == 1 => {
                    self.retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    ex.set_note("retried");
                    // The next attempt must not pick another pooled connection that died in
                    // the same upstream restart; `take_idle` probes, and a second failure is
                    // reported rather than retried.
                    continue;
                }
                Err(f) => return fail(ex, f).await,
            }
        };

        let options = http::connection_options(resp.headers());
        let mut headers = Vec::with_capacity(512);
        push_date(&mut headers);
        let mut declared_len: Option<u64> = None;
        for (n, v) in resp.headers() {
            if n.eq_ignore_ascii_case(b"content-length") {
                declared_len = http::parse_content_length(v);
            }
            if http::is_hop_by_hop(n)
                || options.iter().any(|o| o.eq_ignore_ascii_case(n))
                || n.eq_ignore_ascii_case(b"date")
                || n.eq_ignore_ascii_case(b"server")
            {
                continue;
            }
            headers.extend_from_slice(n);
            headers.extend_from_slice(b": ");
            headers.extend_from_slice(v);
            headers.extend_from_slice(b"\r\n");
        }
        let len = match resp.framing {
            Framing::ContentLength(n) => BodyLen::Known(n),
            Framing::NoBody if ex.request().is_head() => match declared_len {
                Some(n) => BodyLen::Known(n),
                None => BodyLen::Unknown,
            },
            Framing::NoBody => BodyLen::Known(0),
            Framing::Chunked | Framing::UntilClose | Framing::Tunnel => BodyLen::Unknown,
        };
        ex.send_head(resp.status, resp.reason(), &headers, len);

        let read_timeout = self.cfg.read_timeout;
        let upstream_err = |e: io::Error| HandlerError::Other(format!("upstream: {e}"));
        match resp.framing {
            Framing::NoBody | Framing::Tunnel => {}
            Framing::ContentLength(mut left) => {
                while left > 0 {
                    if conn.rbuf.is_empty() {
                        let n = conn.read_more(read_timeout).await.map_err(upstream_err)?;
                        if n == 0 {
                            return Err(HandlerError::Other(
                                "upstream closed inside the response body".into(),
                            ));
                        }
                    }
                    let take = (conn.rbuf.len() as u64).min(left) as usize;
                    let data = conn.rbuf.split_to(take);
                    left -= take as u64;
                    ex.send_data(&data).await?;
                }
            }
            Framing::Chunked => {
                let mut dec = ChunkedDecoder::new(self.cfg.max_head);
                loop {
                    match dec.decode(&mut conn.rbuf) {
                        Ok(Chunk::Data(d)) => ex.send_data(&d).await?,
                        Ok(Chunk::End) => break,
                        Ok(Chunk::NeedMore) => {
                            let n = conn.read_more(read_timeout).await.map_err(upstream_err)?;
                            if n == 0 {
                                return Err(HandlerError::Other(
                                    "upstream closed inside a chunked body".into(),
                                ));
                            }
                        }
                        Err(e) => {
                            return Err(HandlerError::Other(format!("upstream chunked body: {e}")))
                        }
                    }
                }
            }
            Framing::UntilClose => loop {
                if !conn.rbuf.is_empty() {
                    let data = conn.rbuf.split();
                    ex.send_data(&data).await?;
                }
                let n = conn.read_more(read_timeout).await.map_err(upstream_err)?;
                if n == 0 {
                    break;
                }
            },
        }
        ex.finish().await?;
        if !resp.closes {
            self.put_idle(conn);
        }
        Ok(())
    }
}

async fn fail(ex: &mut Exchange<'_>, f: Failure) -> Result<(), HandlerError> {
    let (status, note, msg) = match f {
        Failure::Client(e) => return Err(e),
        Failure::Timeout => (504, "upstream-timeout", "upstream timed out".to_string()),
        Failure::Connect(e) => (502, "upstream-connect", format!("upstream connect: {e}")),
        Failure::Stale(e) => (502, "upstream-closed", format!("upstream closed: {e}")),
        Failure::Io(e) => (502, "upstream-io", format!("upstream: {e}")),
        Failure::Bad(m) => (502, "upstream-bad", m),
    };
    ex.set_note(note);
    if ex.head_sent() {
        return Err(HandlerError::Other(msg));
    }
    let mut headers = Vec::new();
    push_date(&mut headers);
    headers.extend_from_slice(b"Content-Type: text/plain\r\n");
    ex.respond(status, &headers, format!("{msg}\n").as_bytes())
        .await
}

#[cfg(test)]
mod upstream_addr_tests {
    use super::parse_upstream;

    #[test]
    fn upstream_spellings() {
        let plain = parse_upstream("127.0.0.1:8080").unwrap();
        assert_eq!(
            (plain.addr.to_string(), plain.tls_host),
            ("127.0.0.1:8080".into(), None)
        );
        let http = parse_upstream("http://127.0.0.1").unwrap();
        assert_eq!((http.addr.port(), http.tls_host), (80, None));
        let https = parse_upstream("https://localhost:8443/").unwrap();
        assert_eq!(https.addr.port(), 8443);
        assert_eq!(https.tls_host.as_deref(), Some("localhost"));
        let v6 = parse_upstream("https://[::1]").unwrap();
        assert_eq!(
            (v6.addr.port(), v6.tls_host.as_deref()),
            (443, Some("[::1]"))
        );
        for bad in ["https://", "https://h:1/path", "https://u@h:1", "127.0.0.1"] {
            assert!(parse_upstream(bad).is_err(), "{bad}");
        }
    }
}
