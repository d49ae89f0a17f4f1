//! Starting a listener, or one per worker: the options they take and the handles they return.

use crate::{admin, drain, log, server};
use keepsight_keepalive::SoKeepalive;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

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
