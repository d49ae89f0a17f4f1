//! A connection (plain TCP or TLS) with a read buffer, where every operation has a deadline.

use crate::{Budget, ProbeError};
use keepsight_tlsio::rustls::pki_types::ServerName;
use keepsight_tlsio::rustls::ClientConfig;
use keepsight_tlsio::Stream;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Where the probe's connections go: an address, and the TLS to speak there if any.
#[derive(Debug, Clone)]
pub struct Dest {
    /// The address connected to.
    pub addr: SocketAddr,
    /// TLS on top of TCP (`https://`).
    pub tls: Option<TlsDest>,
}

/// The TLS side of a [`Dest`]: one client configuration for every connection of a run, so
/// its session cache lets later connections resume the first one's session.
#[derive(Debug, Clone)]
pub struct TlsDest {
    /// Trust, ALPN and the session cache.
    pub config: Arc<ClientConfig>,
    /// Sent as SNI and checked against the certificate.
    pub name: ServerName<'static>,
}

impl Dest {
    /// Plain TCP to `addr`.
    pub fn plain(addr: SocketAddr) -> Dest {
        Dest { addr, tls: None }
    }
}

/// Largest amount of unparsed input kept; a peer cannot make us buffer more.
pub const MAX_BUFFER: usize = 256 * 1024;

/// How a read or write on a probe connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoFail {
    /// The peer closed its side (FIN): read returned 0.
    Eof,
    /// The connection was reset (RST).
    Reset,
    /// Nothing arrived before the deadline.
    Timeout,
    /// Anything else (the OS error text).
    Other(String),
}

impl IoFail {
    /// The failure an I/O error stands for.
    pub fn from_io(e: &io::Error) -> IoFail {
        match e.kind() {
            // TLS reports a FIN that came without close_notify this way.
            io::ErrorKind::UnexpectedEof => IoFail::Eof,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => IoFail::Reset,
            io::ErrorKind::TimedOut => IoFail::Timeout,
            _ => IoFail::Other(e.to_string()),
        }
    }

    /// Short name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            IoFail::Eof => "fin",
            IoFail::Reset => "rst",
            IoFail::Timeout => "no-response",
            IoFail::Other(_) => "error",
        }
    }
}

impl std::fmt::Display for IoFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IoFail::Eof => f.write_str("the peer closed the connection (FIN)"),
            IoFail::Reset => f.write_str("the connection was reset (RST)"),
            IoFail::Timeout => f.write_str("no answer before the deadline"),
            IoFail::Other(e) => f.write_str(e),
        }
    }
}

/// A probe connection: the socket and what was read from it but not consumed yet.
pub struct Conn {
    /// The connection, plain or TLS.
    pub stream: Stream,
    /// Bytes read but not consumed yet.
    pub buf: Vec<u8>,
    /// How long the TLS handshake took (from the TCP connection's establishment).
    pub handshake: Option<Duration>,
}

impl Conn {
    /// Connects (and completes the TLS handshake) within `timeout` each, and before the
    /// budget's deadline, taking one connection from the budget.
    pub async fn open(dest: &Dest, timeout: Duration, budget: &Budget) -> Result<Conn, ProbeError> {
        let addr = dest.addr;
        if !budget.take(1) {
            return Err(ProbeError::Usage(
                "the connection cap (--max-connections) is used up".into(),
            ));
        }
        let deadline = (Instant::now() + timeout).min(budget.deadline);
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(ProbeError::Connect {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })
            }
            Err(_) => {
                return Err(ProbeError::Connect {
                    addr: addr.to_string(),
                    reason: format!("no answer within {timeout:?}"),
                })
            }
        };
        // Small requests must leave at once: Nagle would add delays to the timings.
        let _ = stream.set_nodelay(true);
        let Some(tls) = &dest.tls else {
            return Ok(Conn {
                stream: Stream::Plain(stream),
                buf: Vec::new(),
                handshake: None,
            });
        };
        let started = Instant::now();
        let deadline = (started + timeout).min(budget.deadline);
        let handshake = Stream::connect(stream, tls.config.clone(), tls.name.clone());
        let stream = match tokio::time::timeout_at(deadline, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let hint = if e.to_string().contains("invalid peer certificate") {
                    " (name the CA that signed it with --cacert FILE, or accept any certificate with --insecure)"
                } else {
                    ""
                };
                return Err(ProbeError::Connect {
                    addr: addr.to_string(),
                    reason: format!("TLS handshake failed: {e}{hint}"),
                });
            }
            Err(_) => {
                return Err(ProbeError::Connect {
                    addr: addr.to_string(),
                    reason: format!(
                        "the TLS handshake did not complete within {timeout:?} (is the port TLS?)"
                    ),
                })
            }
        };
        Ok(Conn {
            stream,
            buf: Vec::new(),
            handshake: Some(started.elapsed()),
        })
    }

    /// Writes all of `data`, or fails at `deadline`.
    pub async fn write_all(&mut self, data: &[u8], deadline: Instant) -> Result<(), IoFail> {
        // `flush` pushes out TLS records rustls may still hold.
        let stream = &mut self.stream;
        let write = async move {
            stream.write_all(data).await?;
            stream.flush().await
        };
        match tokio::time::timeout_at(deadline, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(IoFail::from_io(&e)),
            Err(_) => Err(IoFail::Timeout),
        }
    }

    /// Reads more bytes into the buffer; `Err(Eof)` when the peer has closed.
    pub async fn fill(&mut self, deadline: Instant) -> Result<usize, IoFail> {
        if self.buf.len() >= MAX_BUFFER {
            return Err(IoFail::Other(format!(
                "more than {MAX_BUFFER} bytes without a complete message"
            )));
        }
        let mut chunk = [0u8; 16 * 1024];
        let room = (MAX_BUFFER - self.buf.len()).min(chunk.len());
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk[..room])).await {
            Ok(Ok(0)) => Err(IoFail::Eof),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Ok(Err(e)) => Err(IoFail::from_io(&e)),
            Err(_) => Err(IoFail::Timeout),
        }
    }

    /// Drops the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
    }
}
