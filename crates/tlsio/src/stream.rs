//! One connection, plain TCP or TLS (either side), read and written the same way.

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection as the runtime parts use it. The TLS sides are boxed: their session state is
/// several kilobytes, and a plain connection should not pay for it.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, this end the client.
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// TLS, this end the server.
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// What a TLS handshake settled, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// The IANA name of the cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The application protocol agreed by ALPN, if any.
    pub alpn: Option<String>,
    /// The handshake resumed an earlier session (no certificate exchanged).
    pub resumed: bool,
}

impl Stream {
    /// The TCP connection underneath (for socket options and addresses).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Client(s) => s.get_ref().0,
            Stream::Server(s) => s.get_ref().0,
        }
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// What the handshake settled; `None` on plain TCP.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let common: &rustls::CommonState = match self {
            Stream::Plain(_) => return None,
            Stream::Client(s) => s.get_ref().1,
            Stream::Server(s) => s.get_ref().1,
        };
        Some(TlsInfo {
            version: common
                .protocol_version()
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .replace("TLSv1_", "TLSv1."),
            cipher_suite: common
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                .unwrap_or("?")
                .to_string(),
            alpn: common
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            resumed: common.handshake_kind() == Some(HandshakeKind::Resumed),
        })
    }

    /// The client handshake on `tcp`, sending `name` as SNI and checking the certificate
    /// against it. Fails with the handshake's own error (an untrusted certificate, a peer
    /// that does not speak TLS, an alert); the caller bounds it in time.
    pub async fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Stream> {
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(explain_client_error)?;
        Ok(Stream::Client(Box::new(tls)))
    }
}

/// A TLS handshake error as a person should read it: a peer that answers a ClientHello with
/// plain text is most likely plain HTTP on that port.
fn explain_client_error(e: io::Error) -> io::Error {
    let text = e.to_string();
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        return io::Error::new(
            e.kind(),
            format!("the server did not answer in TLS ({text}): is it plain HTTP on that port?"),
        );
    }
    e
}

/// How the server side of a connection began.
#[derive(Debug)]
pub enum Accepted {
    /// The handshake completed.
    Tls(Stream),
    /// The client sent plain text (an HTTP request on the TLS port); the connection is handed
    /// back untouched, so the server can tell it so in plain HTTP.
    PlainText(TcpStream),
    /// The handshake failed (the client's alert, bad records) or the connection closed.
    Failed(io::Error),
    /// The client did not complete the handshake in time.
    TimedOut,
}

/// The server handshake on `tcp`, bounded by `timeout` (nginx bounds it by
/// `client_header_timeout`). A client whose first byte is not a TLS handshake record but an
/// ASCII letter is sending plain HTTP: [`Accepted::PlainText`].
pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>, timeout: Duration) -> Accepted {
    let work = async move {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(0) => return Accepted::Failed(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) if first[0].is_ascii_alphabetic() => return Accepted::PlainText(tcp),
            Ok(_) => {}
            Err(e) => return Accepted::Failed(e),
        }
        match tokio_rustls::TlsAcceptor::from(config).accept(tcp).await {
            Ok(tls) => Accepted::Tls(Stream::Server(Box::new(tls))),
            Err(e) => Accepted::Failed(e),
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Accepted::TimedOut)
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Client(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Stream::Server(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Client(s) => Pin::new(&mut **s).poll_write(cx, buf),
            Stream::Server(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Client(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
            Stream::Server(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Client(s) => s.is_write_vectored(),
            Stream::Server(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Client(s) => Pin::new(&mut **s).poll_flush(cx),
            Stream::Server(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    /// On TLS: close_notify, then the write side of the socket.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Client(s) => Pin::new(&mut **s).poll_shutdown(cx),
            Stream::Server(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
