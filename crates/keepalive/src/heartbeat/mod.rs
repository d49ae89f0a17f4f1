//! Application heartbeat runtime: a server that answers probes and a client that sends them on
//! schedule. See the crate documentation for the protocol and the scheduling rules.

mod client;
mod histogram;
mod protocol;
mod server;

pub use client::{
    run_client, Backoff, ClientConfig, ClientEvent, ClientExit, ClientStats, ClientStatsSnapshot,
    EventSink,
};
pub use histogram::{Histogram, Summary};
pub use protocol::{
    parse_hex_byte, Decoder, Frame, ProtocolError, Wire, APP_FRAME, DEFAULT_MAX_APP_LEN,
    DEFAULT_PROBE, DEFAULT_REPLY,
};
pub use server::{AppHandler, Server, ServerConfig, ServerEvent, ServerStats, ServerStatsSnapshot};

use std::future::Future;

/// The current UTC wall-clock time with milliseconds, for log lines
/// (`2026-11-29T01:34:15.123Z`). Only for display: schedules use the monotonic clock.
pub fn timestamp_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format)
        .unwrap_or_else(|_| "????-??-??T??:??:??.???Z".to_string())
}

/// Runs `make()`'s future on a current-thread tokio runtime of its own, on a new OS thread.
///
/// Why: a heartbeat sharing a runtime with application tasks fires only when a worker gets
/// back to the timer, so one task that computes for 13 s without yielding delays the beat by
/// 13 s (the incident). On its own thread the beat waits only for the OS scheduler.
pub fn spawn_on_own_thread<F, Fut>(
    name: &str,
    make: F,
) -> std::io::Result<std::thread::JoinHandle<std::io::Result<Fut::Output>>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(make()))
        })
}
