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
//! Both ends may be TLS (rustls, through `keepsight_tlsio`): `ServerConfig::tls` terminates
//! it on the listener with every control above unchanged (`server` module `tls`), and
//! `UpstreamConfig::tls` speaks it to an `https://` upstream.
//!
//! What it is not: a general web server or load balancer. One upstream address, no client
//! certificates, no HTTP/2, no caching, no upgrades (`Upgrade` is stripped like every hop-by-hop header, so an
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

mod addr;
mod admin;
mod conn_info;
pub mod drain;
#[cfg(feature = "clap")]
pub mod flags;
#[doc(hidden)]
pub mod fuzzing;
mod http;
pub mod log;
mod park;
pub mod proxy;
mod run;
pub mod serve;
pub mod server;
mod start;

pub use addr::parse_socket_addr;
pub use keepsight_keepalive::SoKeepalive;
pub use run::{serve_until_stopped, RunError};
pub use start::{start, start_workers, Options, Running, StartError, Workers};

use std::time::Duration;

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
