//! Keep long-lived TCP connections alive, and notice quickly when they are dead.
//!
//! This crate is for two jobs:
//!
//! * **Kernel keep-alive done right** ([`KeepaliveSettings`], [`SystemDefaults`],
//!   [`Effective`]): enable and tune `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
//!   `TCP_KEEPCNT` and `TCP_USER_TIMEOUT` on one socket, validated against Linux's limits and
//!   verified by reading them back; parse nginx's `so_keepalive=` syntax and nginx-style
//!   durations; compute when a dead peer is noticed and whether a middlebox forgets the
//!   connection first. With Linux's defaults keep-alive is off, and when turned on it takes
//!   7200 + 9 × 75 = 7875 s to drop a dead peer; NATs forget idle connections much sooner.
//! * **An application heartbeat** (`heartbeat`): a tokio server and client that exchange
//!   probes and replies on a fixed schedule.
//!
//! It is not a capture analyzer (see keepsight-diagnose), an HTTP server or proxy
//! (keepsight-proxy), nor a general RPC framework: application frames on a heartbeat
//! connection are carried, not interpreted. It targets Linux; the socket options it tunes are
//! Linux's.

mod duration;
mod settings;
mod system;
mod timeline;

pub use duration::{format_duration, parse_duration, ParseError};
pub use settings::{
    KeepaliveError, KeepaliveSettings, SoKeepalive, SocketKeepalive, KEEPCNT_MAX,
    KEEPIDLE_MAX_SECS, KEEPINTVL_MAX_SECS, USER_TIMEOUT_MAX_MS,
};
pub use system::SystemDefaults;
pub use timeline::{Effective, MiddleboxVerdict};
