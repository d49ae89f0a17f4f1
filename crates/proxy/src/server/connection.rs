//! The connection loop: one client connection from accept to close, its idle waits, and the
//! requests served in between.

use super::config::{CloseReason, Control, ServerConfig};
use super::exchange::{BodyState, ClientIo, Exchange, Handler, HandlerError, OutFraming};
use super::ready::{nothing_pending, wait_first_byte, Wait};
use super::shared::ConnSlot;
use super::shared::Shared;
use crate::conn_info::ConnInfo;
use crate::http::{self, Parsed, RequestError};
use crate::log::{AccessLog, LogEntry};
use crate::park::Refused;
use bytes::BytesMut;
use keepsight_tlsio::Stream;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One client connection, from accept to close. Its future is the whole task of an idle
/// keep-alive client, so everything it holds across the idle wait costs memory per client:
/// the socket, who the connection is, one pointer to the listener's shared state and the
/// request count. Everything needed to serve requests (buffers, parser and handler state) is
/// in a boxed future that exists only while a request is being served.
/// (A plain function returning an `async move` block: an `async fn` would store its arguments
/// twice, once as passed and once as moved into its body.)
#[allow(clippy::manual_async_fn)]
pub(super) fn connection<H: Handler>(
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
            let plain = Stream::Plain(stream);
            match Box::pin(serve_burst(plain, rbuf, &mut req_no, &info, &shared)).await {
                Some(Stream::Plain(s)) => stream = s,
                _ => break,
            }
        }
    }
}

/// Serve requests until the client has sent nothing more (the socket comes back for the idle
/// wait) or the connection is to be closed (`None`). Holds the connection's buffers, which
/// are freed when it returns, so an idle keep-alive connection holds none.
pub(super) async fn serve_burst<H: Handler>(
    stream: Stream,
    rbuf: BytesMut,
    req_no: &mut u32,
    info: &ConnInfo,
    shared: &Shared<H>,
) -> Option<Stream> {
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
                    let _ = io.stream.tcp().set_nodelay(true);
                }
                if io.rbuf.is_empty() {
                    return Some(io.stream);
                }
            }
            Next::Drop => return None,
            // TLS always closes through the lingering close, which sends close_notify first.
            Next::ClientClose if !io.stream.is_tls() && nothing_pending(io.stream.tcp()) => {
                return None
            }
            Next::Linger | Next::ClientClose => {
                io.lingering_close().await;
                return None;
            }
            Next::Abort => {
                // No lingering: a FIN is what would make the cut body look complete.
                let _ = socket2::SockRef::from(io.stream.tcp()).set_linger(Some(Duration::ZERO));
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
    /// A close-delimited response was cut after its head went out (its upstream failed): the
    /// connection's end is the body's only end marker, so close with a reset, which a client
    /// reads as an error, never with the FIN that says "this is all of it".
    Abort,
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
            Ok(Parsed::Complete(h)) => break Ok(h),
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
    let body = match BodyState::for_request(&head, cfg.max_body, cfg.max_head) {
        Ok(body) => body,
        Err(e) => {
            reject(io, &e, cfg, ctl, conn_id, req_no, peer, log).await;
            return Next::Linger;
        }
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
    let cut_until_close = !ok && ex.head_sent && matches!(ex.out, OutFraming::Close);
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
    if cut_until_close {
        return Next::Abort;
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
