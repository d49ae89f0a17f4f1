//! Heartbeat server: answers every probe with a reply, passes application frames to a handler.

use super::protocol::{Decoder, Frame, ProtocolError, Wire};
use crate::settings::SoKeepalive;
use serde::Serialize;
use socket2::SockRef;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Called with each application payload; what it returns is sent back as an application frame.
pub type AppHandler = Arc<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// How a [`Server`] treats its connections.
#[derive(Clone)]
pub struct ServerConfig {
    /// The probe and reply bytes clients use.
    pub wire: Wire,
    /// Applied to every accepted socket (`None`: leave the kernel's default, off).
    pub keepalive: Option<SoKeepalive>,
    /// Close a connection that sent nothing for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Application frames go here. The default echoes them back.
    pub app: AppHandler,
    /// Receives connection events (accepted, closed). The default drops them.
    pub events: Arc<dyn Fn(&ServerEvent) + Send + Sync>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            wire: Wire::default(),
            keepalive: None,
            idle_timeout: None,
            app: Arc::new(|payload: &[u8]| Some(payload.to_vec())),
            events: Arc::new(|_: &ServerEvent| {}),
        }
    }
}

/// What happened to a server's connections, for logs (`keepsight heartbeat serve`).
#[derive(Debug)]
pub enum ServerEvent {
    /// A client connected.
    Accepted {
        /// The client's address and port.
        peer: SocketAddr,
    },
    /// A connection ended.
    Closed {
        /// The client's address and port.
        peer: SocketAddr,
        /// Why: the client closed, idle timeout, protocol error, I/O error.
        reason: String,
    },
    /// `accept` failed (for example out of file descriptors); the server pauses briefly.
    AcceptError {
        /// The operating system's error.
        error: String,
    },
}

/// Counters of a running server.
#[derive(Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    open: AtomicU64,
    probes: AtomicU64,
    app_frames: AtomicU64,
    protocol_errors: AtomicU64,
    idle_closed: AtomicU64,
}

/// The counters of [`ServerStats`] at one moment, for `--stats` output.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerStatsSnapshot {
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Probes answered with a reply.
    pub probes_answered: u64,
    /// Application frames received.
    pub app_frames: u64,
    /// Connections closed because the peer broke the protocol (often mismatched probe bytes).
    pub protocol_errors: u64,
    /// Connections closed by the idle timeout.
    pub idle_closed: u64,
}

impl ServerStats {
    /// Reads every counter (each atomically; together they may be a moment apart).
    pub fn snapshot(&self) -> ServerStatsSnapshot {
        ServerStatsSnapshot {
            accepted: self.accepted.load(Relaxed),
            open: self.open.load(Relaxed),
            probes_answered: self.probes.load(Relaxed),
            app_frames: self.app_frames.load(Relaxed),
            protocol_errors: self.protocol_errors.load(Relaxed),
            idle_closed: self.idle_closed.load(Relaxed),
        }
    }
}

/// A bound heartbeat server; [`Server::run`] serves it.
pub struct Server {
    listener: TcpListener,
    config: Arc<ServerConfig>,
    stats: Arc<ServerStats>,
}

impl Server {
    /// Binds the listening socket (with a deep backlog: a benchmark connects thousands at once).
    pub async fn bind(addr: SocketAddr, config: ServerConfig) -> io::Result<Server> {
        config
            .wire
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        if let Some(SoKeepalive::On(s)) = &config.keepalive {
            s.validate()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        }
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(4096)?;
        Ok(Server {
            listener,
            config: Arc::new(config),
            stats: Arc::default(),
        })
    }

    /// The address it listens on (the port the OS picked when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The live counters, shared with the running server.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Accepts and serves connections until the future is dropped.
    pub async fn run(self) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let config = self.config.clone();
                    let stats = self.stats.clone();
                    stats.accepted.fetch_add(1, Relaxed);
                    stats.open.fetch_add(1, Relaxed);
                    tokio::spawn(async move {
                        (config.events)(&ServerEvent::Accepted { peer });
                        let result = serve_connection(&stream, &config, &stats).await;
                        stats.open.fetch_sub(1, Relaxed);
                        let reason = match result {
                            Ok(reason) => reason.to_string(),
                            Err(e) => e.to_string(),
                        };
                        (config.events)(&ServerEvent::Closed { peer, reason });
                    });
                }
                Err(e) => {
                    // EMFILE and friends: retrying at once would spin; the backlog holds the
                    // waiting clients meanwhile.
                    (self.config.events)(&ServerEvent::AcceptError {
                        error: e.to_string(),
                    });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn serve_connection(
    stream: &TcpStream,
    config: &ServerConfig,
    stats: &ServerStats,
) -> io::Result<&'static str> {
    stream.set_nodelay(true)?;
    if let Some(ka) = &config.keepalive {
        ka.apply(SockRef::from(stream))
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let mut decoder = Decoder::new(config.wire);
    let mut out: Vec<u8> = Vec::new();
    loop {
        match config.idle_timeout {
            None => stream.readable().await?,
            Some(limit) => {
                if tokio::time::timeout(limit, stream.readable())
                    .await
                    .is_err()
                {
                    stats.idle_closed.fetch_add(1, Relaxed);
                    return Ok("closed: idle timeout");
                }
            }
        }
        // The read buffer lives only between awaits, so an idle connection holds none.
        let result = {
            let mut buf = [0u8; 2048];
            match stream.try_read(&mut buf) {
                Ok(0) => return Ok("peer closed the connection"),
                Ok(n) => decoder.feed(&buf[..n], |frame| match frame {
                    Frame::Probe => {
                        stats.probes.fetch_add(1, Relaxed);
                        out.push(config.wire.reply);
                    }
                    Frame::Reply => {}
                    Frame::App(payload) => {
                        stats.app_frames.fetch_add(1, Relaxed);
                        if let Some(answer) = (config.app)(payload) {
                            if config.wire.encode_app(&answer, &mut out).is_err() {
                                // An answer we may not send is dropped rather than framed wrongly.
                            }
                        }
                    }
                }),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        if let Err(e) = result {
            stats.protocol_errors.fetch_add(1, Relaxed);
            // Answer what was valid before the bad byte, then close.
            write_out(stream, &mut out).await?;
            return Err(protocol_io_error(e));
        }
        write_out(stream, &mut out).await?;
    }
}

fn protocol_io_error(e: ProtocolError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

async fn write_out(stream: &TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    while written < out.len() {
        match stream.try_write(&out[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    out.clear();
    if out.capacity() > 4096 {
        *out = Vec::new();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// An idle connection costs what its task holds while waiting; the read buffer must not
    /// be part of that (it lives only between awaits).
    #[tokio::test]
    async fn idle_connection_state_is_small() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let config = super::ServerConfig::default();
        let stats = super::ServerStats::default();
        let f = super::serve_connection(&s, &config, &stats);
        let size = std::mem::size_of_val(&f);
        assert!(size < 1024, "serve_connection future is {size} bytes");
    }
}
