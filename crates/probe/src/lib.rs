//! Active probing of live peers: how long a server or a network path keeps an idle TCP
//! connection, and how an HTTP/1.x server handles keep-alive.
//!
//! What it is for: answering "what is the idle timeout of that load balancer?", "after how
//! many requests does the server close?", "does it honour the `Keep-Alive: timeout=5` it
//! advertises?" in minutes, by opening real connections and idling them.
//!
//! - [`http::probe`] measures an HTTP/1.x server: idle timeout (observed close or request
//!   after idle), requests per connection, advertised `Keep-Alive` versus measured, HTTP/1.0
//!   keep-alive, pipelining, and the framing of every response it reads.
//! - [`path::probe`] measures the idle timeout of the NATs and firewalls between here and a
//!   `keepsight heartbeat serve`, by idling connections and checking whether a heartbeat
//!   still gets through.
//! - [`search`] is the parallel idle search both use; [`response`] the response reader both
//!   use, with the workspace's shared HTTP/1 framing rules.
//!
//! `https://` URLs are probed through TLS (rustls, [`http::TlsOptions`]): every measurement
//! above, plus the handshake time and whether a second connection resumes the session.
//!
//! What it is not: a load generator, nor a passive analyzer (that is `keepsight http` /
//! `keepsight diagnose` on a capture). Every connection, read and round is bounded by the [`Budget`]: a total time cap and a connection cap.

pub mod conn;
pub mod http;
pub mod path;
pub mod response;
pub mod run;
pub mod search;
pub mod text;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a probe could not run at all (as opposed to what it found).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The command line or the target is wrong.
    #[error("{0}")]
    Usage(String),
    /// The target refused or did not answer the first connection.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address tried.
        addr: String,
        /// What the connect returned.
        reason: String,
    },
    /// The peer answered, but not as the probe expects.
    #[error("{0}")]
    Protocol(String),
}

/// The hard caps of one probe run, shared by every part of it.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Nothing is started after this instant, and everything running is stopped at it.
    pub deadline: Instant,
    connections_left: Arc<AtomicU32>,
    connections_used: Arc<AtomicU32>,
}

impl Budget {
    /// A budget of `max_time` from now and `max_connections` connections.
    pub fn new(max_time: Duration, max_connections: u32) -> Budget {
        Budget {
            deadline: Instant::now() + max_time,
            connections_left: Arc::new(AtomicU32::new(max_connections)),
            connections_used: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Takes `n` connections from the cap; false (and nothing taken) if fewer are left.
    pub fn take(&self, n: u32) -> bool {
        let ok = self
            .connections_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok();
        if ok {
            self.connections_used.fetch_add(n, Ordering::Relaxed);
        }
        ok
    }

    /// Connections still allowed.
    pub fn left(&self) -> u32 {
        self.connections_left.load(Ordering::Relaxed)
    }

    /// Connections opened (or attempted) so far.
    pub fn used(&self) -> u32 {
        self.connections_used.load(Ordering::Relaxed)
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Receives one-line progress messages (the CLI shows them on stderr).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// A progress sink that drops everything.
pub fn no_progress() -> Progress {
    Arc::new(|_: &str| {})
}

/// Seconds as f64 rounded to the millisecond, for reports.
pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
