//! HTTP/1.1 server and reverse proxy with nginx-style keep-alive controls and a drain mode.
//!
//! What it is for: moving long-lived HTTP/1.1 clients. Clients keep their connections to an old
//! address for hours after DNS or GSLB weights moved, so a traffic split lags. The drain mode
//! adds `Connection: close` to a chosen share of responses (fixed, changed at run time through
//! the admin endpoint, or ramped); those clients reconnect, re-resolve and follow DNS. Around
//! that sit the keep-alive controls people know from nginx (`keepalive_timeout` with its header
//! value, `keepalive_requests`, `keepalive_time`, `client_header_timeout`, `so_keepalive` on the
//! listening socket, a connection limit), an upstream keep-alive pool with its own limits and a
//! retry for the reuse race, graceful shutdown, and an access log naming each request's
//! connection and its number on that connection.
//!
//! What it is not: a general web server or load balancer. One upstream address, no TLS, no
//! HTTP/2, no caching, no upgrades (`Upgrade` is stripped like every hop-by-hop header, so an
//! upstream never switches protocols under us), no `CONNECT`.
//!
//! # Why a hand-written HTTP/1 front end instead of hyper
//!
//! The controls above and strict smuggling rejection need decisions hyper's HTTP/1 server makes
//! internally. Reading hyper 1.x's request parser (`proto/h1/role.rs`): a request with both
//! `Content-Length` and `Transfer-Encoding: chunked` is accepted with chunked winning (RFC 9112
//! permits that; we must refuse it), and `Transfer-Encoding: gzip, chunked` is accepted. hyper
//! also has no per-connection request count or lifetime, and one timer covers both the idle wait
//! between requests and the head read. Each would need a workaround that still could not refuse
//! a request before hyper had framed it, so hyper is not used at all (this was checked by
//! reading its source, not with raw-socket tests against it). The message parsing itself is
//! `httparse`, which already refuses a space before the colon and obsolete line folding in
//! requests; framing, validation and connection policy are here:
//!
//! - [`http`]: request and response heads, `Content-Length` / `Transfer-Encoding` rules, the
//!   chunked decoder, hop-by-hop headers. The grammar (what a length or a chunk size is, how a
//!   header section frames its body) is `keepsight_http::framing`, shared with the capture
//!   analyzer and the prober; this module decides that every anomaly is refused. Every framing ambiguity is answered 400 and the
//!   connection closed: both `Content-Length` and `Transfer-Encoding`; any `Transfer-Encoding`
//!   other than exactly one `chunked` (RFC 9112 would allow 501 for unknown codings; we treat
//!   the header as the smuggling vector it usually is); differing or malformed
//!   `Content-Length`s; chunk sizes that are not hex or overflow 64 bits; bare LF in chunk
//!   framing; a missing or repeated `Host`. An oversized head gets 431 (RFC 6585's code for
//!   exactly that), a body over `max_body` 413.
//! - [`server`]: the accept loop and per-connection policy. Response framing is written by the
//!   server from what the handler declares (`Content-Length`, chunked for HTTP/1.1,
//!   close-delimited for HTTP/1.0), and a handler cannot write past a declared length or end
//!   short of it without the connection being closed. Connections that close after a response
//!   use a lingering close (shut our side, read and drop what the client still sends, bounded),
//!   so the client reads the last response instead of a reset.
//! - [`proxy`]: the upstream pool and the relay. Request bodies up to 64 KiB are read whole
//!   before an upstream connection is chosen (as nginx's `proxy_request_buffering`), so a
//!   malformed body never reaches the upstream and bodied idempotent requests can be resent
//!   after the reuse race. Responses are re-framed: chunked is decoded and re-chunked (trailers
//!   dropped), close-delimited becomes chunked for HTTP/1.1 clients, `Content-Length` with
//!   chunked from the upstream loses the length. Upstream `Date` and `Server` are replaced, as
//!   nginx does.
//! - [`serve`]: fixed and static responses; [`admin`]: the run-time control endpoint (drain
//!   ratio, ramp, counters, shutdown); [`drain`]: the close-share accumulator.
//!
//! # Threads
//!
//! [`start_workers`] runs one single-threaded tokio runtime per worker thread, each accepting
//! from its own `SO_REUSEPORT` listening socket, like nginx worker processes with `listen ...
//! reuseport`: the kernel spreads connections evenly over the workers, and a connection stays
//! on the thread that accepted it. On 2 cores this was 10-25 % faster than tokio's
//! work-stealing runtime (fewer cross-thread wake-ups, no shared timer). [`start`] serves on the
//! caller's runtime instead (the tests use it).
//!
//! Within a worker, a connection whose next request is already waiting when its response goes
//! out is served after the other ready connections, not at once (nginx posts such a read event
//! behind the others): a fast client cannot keep the worker to itself.
//!
//! # Idle connections
//!
//! A keep-alive connection idle for `park_after` (default 1 s) leaves its task: its bare socket
//! waits in the worker's own epoll set with a 56-byte record, about 60 bytes per idle client
//! instead of about 850 (the task, the runtime's registration and the allocator's holes around
//! them), and gets a new task when it becomes readable (see `park.rs`). Clients of long-lived
//! pools spend most of their lives idle; this is what lets one server hold many of them.
//!
//! # Graceful shutdown
//!
//! [`server::Control::shutdown`] stops accepting, serves the connections the kernel has already
//! completed into the listen backlog (closing the listener would reset them with their
//! requests; nginx does), lets every in-flight request finish with `Connection: close`, closes
//! idle and parked connections (serving a request whose first bytes have already arrived
//! rather than dropping it), and returns once all connections are gone or the shutdown timeout
//! passes. A client that sends on an idle connection at the very moment it is
//! closed sees the connection close with no response: the race RFC 9112 §9.3.1 leaves to
//! clients, which resend idempotent requests (nginx has the same window).

mod admin;
mod conn_info;
pub mod drain;
mod http;
pub mod log;
mod park;
pub mod proxy;
mod run;
pub mod serve;
pub mod server;

pub use keepsight_keepalive::SoKeepalive;
pub use run::{serve_until_stopped, RunError};

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Resolves `HOST:PORT` to its first address, for listen, admin and upstream flags.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .map_err(|e| format!("`{s}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{s}`: resolves to no address"))
}

/// Parse `--keepalive-timeout`: `75s`, or `75s,60s` where the second value is sent as
/// `Keep-Alive: timeout=60`. Also accepted: nginx's own spelling `75s 60s`, and
/// `75s,header 60s` / `75s,header=60s`.
pub fn parse_keepalive_timeout(s: &str) -> Result<(Duration, Option<Duration>), String> {
    let usage = || format!("`{s}`: expected `TIMEOUT[,HEADER_TIMEOUT]`, e.g. `75s,60s`");
    let t = s.trim();
    let (first, second) = match t.split_once(',').or_else(|| t.split_once(' ')) {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (t, None),
    };
    if first.is_empty() {
        return Err(usage());
    }
    let idle = keepsight_keepalive::parse_duration(first).map_err(|e| e.to_string())?;
    let header = match second {
        Some(h) => {
            let h = h
                .strip_prefix("header")
                .map(|r| r.trim_start_matches(['=', ' ']))
                .unwrap_or(h);
            if h.is_empty() || h.contains([',', ' ']) {
                return Err(usage());
            }
            Some(keepsight_keepalive::parse_duration(h).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    Ok((idle, header))
}

#[cfg(test)]
mod tests {
    use super::parse_keepalive_timeout as p;
    use std::time::Duration;

    #[test]
    fn socket_addresses_resolve_or_say_why_not() {
        let a = super::parse_socket_addr("127.0.0.1:8080").unwrap();
        assert_eq!(a.to_string(), "127.0.0.1:8080");
        assert!(super::parse_socket_addr("[::1]:0").unwrap().is_ipv6());
        let e = super::parse_socket_addr("127.0.0.1").unwrap_err();
        assert!(e.starts_with("`127.0.0.1`: "), "{e}");
    }

    #[test]
    fn keepalive_timeout_spellings() {
        let s = Duration::from_secs;
        assert_eq!(p("75s"), Ok((s(75), None)));
        assert_eq!(p("0"), Ok((s(0), None)));
        for form in [
            "75s,60s",
            "75s 60s",
            "75s, 60s",
            "75s,header 60s",
            "75s,header=60s",
        ] {
            assert_eq!(p(form), Ok((s(75), Some(s(60)))), "{form}");
        }
        for bad in [
            "",
            ",60s",
            "75s,",
            "75s,60s,10s",
            "75s 60s 10s",
            "soon",
            "75s,header",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}

/// Everything a listener needs besides its handler.
pub struct Options {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Connection policy (nginx's directives).
    pub server: server::ServerConfig,
    /// nginx `listen ... so_keepalive=`: set on the listening socket, inherited by every
    /// accepted connection.
    pub so_keepalive: Option<SoKeepalive>,
    /// Share of keep-alive responses sent with `Connection: close` from the start.
    pub drain_ratio: f64,
    /// A change of that share over time.
    pub drain_ramp: Option<drain::Ramp>,
    /// Loopback address for the admin endpoint.
    pub admin: Option<SocketAddr>,
    /// One line per request, when asked for.
    pub access_log: Option<Arc<log::AccessLog>>,
    /// `listen` backlog.
    pub backlog: i32,
}

impl Options {
    /// Defaults like nginx's, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Options {
            listen,
            server: server::ServerConfig::default(),
            so_keepalive: None,
            drain_ratio: 0.0,
            drain_ramp: None,
            admin: None,
            access_log: None,
            backlog: 511,
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Opening, binding or listening on a socket failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// Setting kernel keep-alive on the listening socket failed.
    #[error("so_keepalive on {addr}: {source}")]
    Keepalive {
        /// The address.
        addr: SocketAddr,
        /// What the kernel refused.
        source: keepsight_keepalive::KeepaliveError,
    },
    /// The admin endpoint must stay on loopback: it can shut the server down.
    #[error("admin endpoint {0} is not a loopback address")]
    AdminNotLoopback(SocketAddr),
}

/// A started server.
pub struct Running {
    /// Where it listens (the port chosen when 0 was asked for).
    pub addr: SocketAddr,
    /// Where the admin endpoint listens, if any.
    pub admin: Option<SocketAddr>,
    /// Drain ratio, counters, shutdown.
    pub ctl: Arc<server::Control>,
}

fn bind(
    addr: SocketAddr,
    backlog: i32,
    ka: Option<&SoKeepalive>,
) -> Result<TcpListener, StartError> {
    let l = bind_std(addr, backlog, ka, false)?;
    TcpListener::from_std(l).map_err(|source| StartError::Bind { addr, source })
}

fn bind_std(
    addr: SocketAddr,
    backlog: i32,
    ka: Option<&SoKeepalive>,
    reuse_port: bool,
) -> Result<std::net::TcpListener, StartError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind_err = |source| StartError::Bind { addr, source };
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(bind_err)?;
    sock.set_reuse_address(true).map_err(bind_err)?;
    if reuse_port {
        sock.set_reuse_port(true).map_err(bind_err)?;
    }
    if let Some(ka) = ka {
        ka.apply(socket2::SockRef::from(&sock))
            .map_err(|source| StartError::Keepalive { addr, source })?;
    }
    sock.bind(&addr.into()).map_err(bind_err)?;
    sock.listen(backlog).map_err(bind_err)?;
    sock.set_nonblocking(true).map_err(bind_err)?;
    Ok(sock.into())
}

/// Bind the listener (and the admin endpoint), and return the future that serves until
/// `ctl.shutdown()` and then drains. Must be called inside a tokio runtime.
pub fn start<H: server::Handler>(
    opts: Options,
    handler: Arc<H>,
    extra_stats: Option<Arc<dyn Fn() -> String + Send + Sync>>,
) -> Result<(Running, impl Future<Output = ()>), StartError> {
    let listener = bind(opts.listen, opts.backlog, opts.so_keepalive.as_ref())?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: opts.listen,
        source,
    })?;
    let ctl = Arc::new(server::Control::default());
    ctl.drain.set_ratio(opts.drain_ratio);
    if let Some(r) = opts.drain_ramp {
        ctl.drain.set_ramp(r);
    }
    let cfg = Arc::new(opts.server);
    let mut admin_addr = None;
    let admin = match opts.admin {
        Some(a) => {
            if !a.ip().is_loopback() {
                return Err(StartError::AdminNotLoopback(a));
            }
            let l = bind(a, 64, None)?;
            admin_addr = Some(
                l.local_addr()
                    .map_err(|source| StartError::Bind { addr: a, source })?,
            );
            let admin_cfg = Arc::new(server::ServerConfig {
                keepalive_timeout: Duration::from_secs(5),
                max_connections: 16,
                shutdown_timeout: Duration::from_secs(1),
                ..server::ServerConfig::default()
            });
            // The admin listener has its own Control so its own connections do not count in
            // the served figures; it stops when the main server has drained.
            let admin_ctl = Arc::new(server::Control::default());
            let h = Arc::new(admin::AdminHandler::new(ctl.clone(), extra_stats));
            Some((l, admin_cfg, admin_ctl, h))
        }
        None => None,
    };
    let running = Running {
        addr,
        admin: admin_addr,
        ctl: ctl.clone(),
    };
    let log = opts.access_log;
    let fut = async move {
        let admin_ctl = admin.as_ref().map(|a| a.2.clone());
        let admin_task =
            admin.map(|(l, c, actl, h)| tokio::spawn(server::serve(l, c, actl, h, None)));
        let flusher = log.clone().map(|log| {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    log.flush();
                }
            })
        });
        server::serve(listener, cfg, ctl, handler, log.clone()).await;
        if let Some(f) = flusher {
            f.abort();
        }
        if let Some(log) = &log {
            log.flush();
        }
        if let Some(actl) = admin_ctl {
            actl.shutdown();
        }
        if let Some(t) = admin_task {
            let _ = t.await;
        }
    };
    Ok((running, fut))
}

/// A server running on worker threads (see [`start_workers`]).
pub struct Workers {
    /// The started server's addresses and control.
    pub running: Running,
    threads: Vec<std::thread::JoinHandle<()>>,
    log: Option<Arc<log::AccessLog>>,
}

impl Workers {
    /// Wait until every worker has drained and stopped (after `running.ctl.shutdown()`).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(log) = &self.log {
            log.flush();
        }
    }
}

/// Serve on `workers` threads, each with its own single-threaded runtime accepting from its own
/// `SO_REUSEPORT` listening socket, the way nginx runs worker processes. Connections never move
/// between threads, so there is no work stealing, no cross-thread wake-up and no shared timer
/// on the request path; only the counters, the drain controller and the upstream pool are
/// shared. The connection limit is split between the workers, as nginx's worker_connections is
/// per worker.
pub fn start_workers<H: server::Handler>(
    opts: Options,
    handler: Arc<H>,
    extra_stats: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    workers: usize,
) -> Result<Workers, StartError> {
    let workers = workers.max(1);
    let listen = opts.listen;
    let ka = opts.so_keepalive.as_ref();
    // First an ordinary bind: it fails like any server's when the address is taken (even by a
    // process that set SO_REUSEPORT itself, which would otherwise silently share our port),
    // and it resolves port 0.
    let probe = bind_std(listen, opts.backlog, ka, false)?;
    let addr = probe.local_addr().map_err(|source| StartError::Bind {
        addr: listen,
        source,
    })?;
    // Then one listening socket per worker with SO_REUSEPORT (nginx's `listen ... reuseport`):
    // the kernel spreads new connections evenly over the workers. With one shared socket
    // whichever worker woke first took a burst of them; a wrk run often left one worker with
    // twice the other's connections, and their requests waited for the busier thread.
    let listeners = if workers == 1 {
        vec![probe]
    } else {
        drop(probe);
        (0..workers)
            .map(|_| bind_std(addr, opts.backlog, ka, true))
            .collect::<Result<Vec<_>, _>>()?
    };
    let ctl = Arc::new(server::Control::default());
    ctl.drain.set_ratio(opts.drain_ratio);
    if let Some(r) = opts.drain_ramp {
        ctl.drain.set_ramp(r);
    }
    let mut admin = None;
    let mut admin_addr = None;
    if let Some(a) = opts.admin {
        if !a.ip().is_loopback() {
            return Err(StartError::AdminNotLoopback(a));
        }
        let l = bind_std(a, 64, None, false)?;
        admin_addr = Some(
            l.local_addr()
                .map_err(|source| StartError::Bind { addr: a, source })?,
        );
        admin = Some(l);
    }
    let mut cfg = opts.server;
    cfg.max_connections = cfg.max_connections.div_ceil(workers as u32).max(1);
    let cfg = Arc::new(cfg);
    let log = opts.access_log;
    let log_keep = log.clone();
    let mut threads = Vec::with_capacity(workers);
    let mut admin = admin.map(|l| (l, extra_stats));
    for (i, copy) in listeners.into_iter().enumerate() {
        let (cfg, ctl, handler, log) = (cfg.clone(), ctl.clone(), handler.clone(), log.clone());
        let admin = admin.take();
        let t = std::thread::Builder::new()
            .name(format!("keepsight-worker-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("keepsight: worker {i}: {e}");
                        ctl.shutdown();
                        return;
                    }
                };
                rt.block_on(async move {
                    let l = match TcpListener::from_std(copy) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("keepsight: worker {i}: {e}");
                            ctl.shutdown();
                            return;
                        }
                    };
                    // Worker 0 also runs the admin endpoint and flushes the access log.
                    let admin_ctl = Arc::new(server::Control::default());
                    let admin_task = admin.and_then(|(al, extra)| {
                        let al = TcpListener::from_std(al).ok()?;
                        let acfg = Arc::new(server::ServerConfig {
                            keepalive_timeout: Duration::from_secs(5),
                            max_connections: 16,
                            shutdown_timeout: Duration::from_secs(1),
                            ..server::ServerConfig::default()
                        });
                        let h = Arc::new(admin::AdminHandler::new(ctl.clone(), extra));
                        Some(tokio::spawn(server::serve(
                            al,
                            acfg,
                            admin_ctl.clone(),
                            h,
                            None,
                        )))
                    });
                    let flusher = (i == 0).then(|| log.clone()).flatten().map(|log| {
                        tokio::spawn(async move {
                            loop {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                log.flush();
                            }
                        })
                    });
                    server::serve(l, cfg, ctl, handler, log).await;
                    if let Some(f) = flusher {
                        f.abort();
                    }
                    admin_ctl.shutdown();
                    if let Some(t) = admin_task {
                        let _ = t.await;
                    }
                });
            })
            .map_err(|source| StartError::Bind { addr, source })?;
        threads.push(t);
    }
    Ok(Workers {
        running: Running {
            addr,
            admin: admin_addr,
            ctl,
        },
        threads,
        log: log_keep,
    })
}
