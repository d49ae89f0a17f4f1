//! The server's configuration (nginx's directives), why connections close, its counters and
//! its run-time control.

use crate::drain::Drain;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Client-side connection policy, named after the nginx directives it mirrors.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `keepalive_timeout` first value: idle time allowed between requests. Zero disables
    /// keep-alive (every response says `Connection: close`).
    pub keepalive_timeout: Duration,
    /// `keepalive_timeout` second value: advertised as `Keep-Alive: timeout=N`.
    pub keepalive_header: Option<Duration>,
    /// `keepalive_requests`: the connection closes after this many responses. Zero: no limit.
    pub keepalive_requests: u64,
    /// `keepalive_time`: a connection older than this closes after its current response.
    pub keepalive_time: Duration,
    /// `client_header_timeout`: time for a whole request head, counted from the first byte (for
    /// the first request, from the accept).
    pub header_timeout: Duration,
    /// `client_body_timeout`: longest wait between two reads of a request body.
    pub body_timeout: Duration,
    /// `send_timeout`: longest wait for one write to the client to make progress.
    pub send_timeout: Duration,
    /// Largest request head, bytes.
    pub max_head: usize,
    /// `client_max_body_size`. Zero: no limit.
    pub max_body: u64,
    /// Most connections open at once; further clients wait in the listen backlog.
    pub max_connections: u32,
    /// How long graceful shutdown waits for in-flight requests before giving up.
    pub shutdown_timeout: Duration,
    /// `Server` header value; empty sends none.
    pub server_name: String,
    /// An idle keep-alive connection quiet this long leaves its task and waits in the
    /// listener's parked set (about 60 bytes instead of about 850; see [`crate::park`]). Zero:
    /// never.
    pub park_after: Duration,
    /// Terminate TLS on every accepted connection (`--tls-cert`/`--tls-key`). The handshake
    /// is bounded by `header_timeout`, as nginx bounds it by `client_header_timeout`. TLS
    /// connections never park: their session state cannot wait in the parked set.
    pub tls: Option<Arc<keepsight_tlsio::rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            keepalive_timeout: Duration::from_secs(75),
            keepalive_header: None,
            keepalive_requests: 1000,
            keepalive_time: Duration::from_secs(3600),
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_head: 8192,
            max_body: 1 << 20,
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(30),
            server_name: "keepsight".to_string(),
            park_after: Duration::from_secs(1),
            tls: None,
        }
    }
}

/// Why a connection ended (or was marked to end after the current response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Not closing: the connection stays open.
    KeepAlive,
    /// The client asked for `Connection: close` (or spoke HTTP/1.0 without keep-alive).
    ClientAsked,
    /// Keep-alive is off (`keepalive_timeout 0`).
    KeepaliveDisabled,
    /// The connection carried `keepalive_requests` responses.
    KeepaliveRequests,
    /// The connection is older than `keepalive_time`.
    KeepaliveTime,
    /// The drain chose this response.
    Drain,
    /// The server is shutting down.
    Shutdown,
    /// The request could not be parsed.
    BadRequest,
    /// The response has no length, so its end is the close.
    Unframed,
    /// A read or write failed.
    Error,
}

impl CloseReason {
    /// The name the access log and the counters use.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::KeepAlive => "keep-alive",
            CloseReason::ClientAsked => "client-close",
            CloseReason::KeepaliveDisabled => "keepalive-off",
            CloseReason::KeepaliveRequests => "keepalive-requests",
            CloseReason::KeepaliveTime => "keepalive-time",
            CloseReason::Drain => "drain",
            CloseReason::Shutdown => "shutdown",
            CloseReason::BadRequest => "bad-request",
            CloseReason::Unframed => "unframed",
            CloseReason::Error => "error",
        }
    }
}

/// Counters, readable while the server runs (the admin endpoint prints them).
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections closed.
    pub connections_closed: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests refused before a handler ran (bad head, too large).
    pub rejected: AtomicU64,
    /// Connections closed by the drain.
    pub closed_drain: AtomicU64,
    /// Connections closed after `keepalive_requests` responses.
    pub closed_keepalive_requests: AtomicU64,
    /// Connections closed for being older than `keepalive_time`.
    pub closed_keepalive_time: AtomicU64,
    /// Idle connections closed after `keepalive_timeout`.
    pub closed_idle: AtomicU64,
    /// Connections closed by shutdown.
    pub closed_shutdown: AtomicU64,
    /// Idle connections parked without a task now (a gauge, not a counter; kept by the
    /// parked sets).
    pub connections_parked: Arc<AtomicU64>,
}

impl Stats {
    /// The counters as one JSON object (the admin endpoint's and the final `stopped:` line's).
    pub fn to_json(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let open = g(&self.connections_accepted).saturating_sub(g(&self.connections_closed));
        format!(
            "{{\"connections_accepted\":{},\"connections_open\":{},\"requests\":{},\"rejected\":{},\
             \"closed_drain\":{},\"closed_keepalive_requests\":{},\"closed_keepalive_time\":{},\
             \"closed_idle\":{},\"closed_shutdown\":{},\"connections_parked\":{}}}",
            g(&self.connections_accepted),
            open,
            g(&self.requests),
            g(&self.rejected),
            g(&self.closed_drain),
            g(&self.closed_keepalive_requests),
            g(&self.closed_keepalive_time),
            g(&self.closed_idle),
            g(&self.closed_shutdown),
            g(&self.connections_parked),
        )
    }
}

/// What a running server shares with its connections and its operator.
#[derive(Debug)]
pub struct Control {
    /// The drain controller.
    pub drain: Drain,
    /// The counters.
    pub stats: Stats,
    shutdown_tx: watch::Sender<bool>,
    /// Shared by all workers so connection ids in the access log are unique.
    pub(super) next_conn_id: AtomicU64,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            drain: Drain::default(),
            stats: Stats::default(),
            shutdown_tx: watch::channel(false).0,
            next_conn_id: AtomicU64::new(1),
        }
    }
}

impl Control {
    /// Begin graceful shutdown: stop accepting, finish in-flight requests with
    /// `Connection: close`, close idle connections.
    pub fn shutdown(&self) {
        // Each listener's idle sweeper sees this and wakes its idle connections.
        self.shutdown_tx.send_replace(true);
    }
    /// True once [`Control::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown_tx.borrow()
    }
    pub(super) fn subscribe(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }
}
