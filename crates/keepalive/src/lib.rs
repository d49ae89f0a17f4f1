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
//! * **An application heartbeat** ([`heartbeat`]): a tokio server that answers probes and a
//!   client that sends them on a fixed schedule, notices a dead peer after N consecutive misses
//!   (not the first) and reconnects with jittered exponential backoff.
//!
//! It is not a capture analyzer (see keepsight-diagnose), an HTTP server or proxy
//! (keepsight-proxy), nor an RPC framework: application frames on a heartbeat connection are
//! carried, not interpreted. It targets Linux; the socket options it tunes are Linux's.
//!
//! # The heartbeat protocol
//!
//! One TCP connection carries a byte stream of frames. The first byte of each frame says what
//! it is:
//!
//! | first byte | frame | length |
//! | --- | --- | --- |
//! | probe byte, default `01` | heartbeat probe | that byte alone |
//! | reply byte, default `41` (`A`) | heartbeat reply | that byte alone |
//! | `02` | application frame | `02`, payload length as 4 bytes big-endian, payload |
//! | anything else | protocol error: the receiver answers what came before, then closes | |
//!
//! So the incident's peers, which send a bare `01` and answer a bare `41`, speak it unchanged,
//! and applications can interleave their own messages without ambiguity. Probe and reply bytes
//! are configurable (both ends must agree); they must differ from each other and from `02`.
//! Application payloads are limited (1 MiB by default) so a peer cannot make the other side
//! buffer without bound.
//!
//! Either side answers every probe it receives with one reply, in order. Because TCP keeps
//! order, the n-th reply answers the n-th probe: the client matches replies to its oldest
//! unanswered probe and measures each reply against that probe's own send time. The server in
//! this crate echoes application frames back unless given another handler.
//!
//! # Scheduling
//!
//! Probe k of a connection is due at `start + k × every` on the monotonic clock, whatever
//! happened before: work done between probes, slow replies and timer wake-up delays do not
//! accumulate (no drift). How late each probe actually left is recorded (the lateness
//! histogram). If the client falls more than a whole period behind, the missed slots are
//! skipped and counted rather than sent in a burst. A probe without a reply within `timeout` is
//! a miss; `misses` consecutive misses declare the peer dead; a reply that arrives after its
//! timeout is logged as late (the peer is slow, not gone) but does not undo the miss.
//! To keep other work in the same process from delaying beats, run the client on its own
//! thread ([`heartbeat::spawn_on_own_thread`]); to keep other processes from delaying it when
//! every core is busy, give that thread a higher priority ([`heartbeat::ThreadPriority`]).
//! Measured on 2 busy cores with 20,000 connections: lateness p99.9 of 3.4 ms with
//! `SCHED_FIFO`, about 200 ms without (see `benches/heartbeat/README.md`).
//!
//! The client can also speak an application protocol's own heartbeat instead of this byte
//! protocol ([`heartbeat::Dialect`]: FIX, ISO 8583, AMQP 0-9-1, Redis), framed with
//! keepsight-apps, so lab tests and probes produce the bytes real sessions do; the schedule,
//! the timeout and the miss count stay the ones above.
//!
//! Applications send their own messages on the heartbeat connection with
//! [`heartbeat::run_client_with_app`] and receive the peer's as [`heartbeat::ClientEvent::App`].

mod duration;
pub mod explain;
pub mod grpc;
pub mod heartbeat;
mod settings;
mod system;
mod timeline;

pub use duration::{format_duration, parse_duration, ParseError};
pub use settings::{
    KeepaliveError, KeepaliveSettings, SoKeepalive, SocketKeepalive, KEEPCNT_MAX,
    KEEPIDLE_MAX_SECS, KEEPINTVL_MAX_SECS, USER_TIMEOUT_MAX_MS,
};
pub use system::{process_usage, raise_fd_limit, SystemDefaults};
pub use timeline::{Effective, MiddleboxVerdict, PROBES_LISTED};
