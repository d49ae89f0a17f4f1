//! The connection loop of a TLS listener: the handshake, then the same request handling as
//! plain connections (`serve_burst`), with an idle wait that reads through TLS.
//!
//! It differs from the plain loop where TLS forces it: the idle wait is a read of the TLS
//! stream (a readable socket may carry only a TLS record with no request bytes, such as a
//! key update), connections never park (their session state is kilobytes and lives in the
//! task), and every close sends close_notify first, as nginx's `SSL_shutdown` does.

use super::connection::serve_burst;
use super::exchange::Handler;
use super::idle::SlotState;
use super::shared::ConnSlot;
use crate::conn_info::ConnInfo;
use crate::http::reason_phrase;
use bytes::BytesMut;
use keepsight_tlsio::rustls::ServerConfig as TlsConfig;
use keepsight_tlsio::{accept, Accepted, Stream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a close waits for close_notify to leave; a client that stopped reading does not
/// hold the connection longer.
const CLOSE_NOTIFY_WAIT: Duration = Duration::from_secs(1);

/// One TLS client connection, from accept to close.
pub(super) async fn tls_connection<H: Handler>(
    tcp: TcpStream,
    info: ConnInfo,
    shared: ConnSlot<H>,
    tls: Arc<TlsConfig>,
) {
    // A shutdown does not wait for a handshake (up to `header_timeout`) to finish.
    let mut shutdown = shared.ctl.subscribe();
    let accepted = tokio::select! {
        a = accept(tcp, tls, shared.cfg.header_timeout) => a,
        _ = shutdown.wait_for(|stopping| *stopping) => return,
    };
    drop(shutdown);
    let mut stream = match accepted {
        Accepted::Tls(s) => s,
        Accepted::PlainText(tcp) => return plain_http_on_tls_port(tcp).await,
        // A failed or stalled handshake: nothing can be said in a TLS the client never set up.
        Accepted::Failed(_) | Accepted::TimedOut => return,
    };
    let mut req_no = 0u32;
    loop {
        let timeout = if req_no == 0 {
            shared.cfg.header_timeout
        } else {
            shared.cfg.keepalive_timeout
        };
        // Empty until the request's first bytes come: an idle connection holds no buffer here.
        let mut rbuf = BytesMut::new();
        let Some(guard) = shared.idle.enter(Instant::now() + timeout, None) else {
            // Shutting down: serve a request already here, else close.
            shared
                .ctl
                .stats
                .closed_shutdown
                .fetch_add(1, Ordering::Relaxed);
            break;
        };
        let ended = tokio::select! {
            biased;
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(n) if n > 0 => None,
                // The client closed (close_notify or FIN) or the session broke.
                _ => return,
            },
            (state, _) = std::future::poll_fn(|cx| guard.poll(cx)) => Some(state),
        };
        drop(guard);
        match ended {
            None => {}
            Some(SlotState::TimedOut) => {
                let stats = &shared.ctl.stats;
                stats.closed_idle.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Some(_) => {
                let stats = &shared.ctl.stats;
                stats.closed_shutdown.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        match Box::pin(serve_burst(stream, rbuf, &mut req_no, &info, &shared)).await {
            Some(s) => stream = s,
            // serve_burst has closed it (with close_notify when it lingered).
            None => return,
        }
    }
    close_notify(&mut stream).await;
}

/// Send close_notify and shut our side, bounded in time.
async fn close_notify(stream: &mut Stream) {
    let _ = tokio::time::timeout(CLOSE_NOTIFY_WAIT, stream.shutdown()).await;
}

/// A client that speaks plain HTTP to the TLS port gets a plain answer saying so (nginx answers
/// 400 "The plain HTTP request was sent to HTTPS port"), instead of a handshake failure it
/// cannot read.
async fn plain_http_on_tls_port(mut tcp: TcpStream) {
    let body =
        "this port speaks TLS: the plain HTTP request was sent to an HTTPS port; use https://\n";
    let head = format!(
        "HTTP/1.1 400 {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(400),
        body.len()
    );
    let answer = async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        tcp.shutdown().await?;
        // Read what the client still sends (its request), so closing does not reset it
        // before it has read the answer.
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}
