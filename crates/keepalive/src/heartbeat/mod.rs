//! Application heartbeat runtime: a server that answers probes and a client that sends them on
//! schedule. See the crate documentation for the protocol and the scheduling rules.

mod client;
mod dialect;
pub mod fleet;
mod histogram;
pub mod lifetime;
mod protocol;
pub mod run;
mod server;
pub mod text;

pub use client::{
    run_client, run_client_with_app, Backoff, ClientConfig, ClientEvent, ClientExit, ClientStats,
    ClientStatsSnapshot, EventSink, MAX_DURATION,
};
pub use dialect::Dialect;
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
    keepsight_time::rfc3339::now_millis()
}

/// Scheduling priority for a heartbeat thread.
///
/// On a machine whose cores are all busy, a thread that wakes up for a beat waits for the
/// scheduler to give it a core, which costs milliseconds at normal priority. A heartbeat
/// thread works for microseconds per beat, so giving it a higher priority costs the rest of
/// the machine almost nothing and keeps the beat on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadPriority {
    /// Leave the thread as created.
    Inherit,
    /// A nice value (-20..=19); below 0 needs root or `CAP_SYS_NICE`.
    Nice(i32),
    /// `SCHED_FIFO` at this priority (1..=99); needs root or `CAP_SYS_NICE`. The kernel's
    /// real-time throttling (`kernel.sched_rt_runtime_us`) still leaves the other tasks
    /// some CPU even if the thread misbehaves.
    Realtime(u8),
}

impl ThreadPriority {
    /// Parses `normal`, `nice:N` or `realtime[:N]` (default real-time priority 10).
    pub fn parse(s: &str) -> Result<ThreadPriority, crate::ParseError> {
        let err = |why: &str| crate::ParseError::new("priority", s, why.to_string());
        let usage = "expected `normal`, `nice:N` (-20..=19) or `realtime[:N]` (1..=99)";
        match s.split_once(':') {
            None if s == "normal" => Ok(ThreadPriority::Inherit),
            None if s == "realtime" => Ok(ThreadPriority::Realtime(10)),
            Some(("nice", n)) => match n.parse::<i32>() {
                Ok(n) if (-20..=19).contains(&n) => Ok(ThreadPriority::Nice(n)),
                _ => Err(err(usage)),
            },
            Some(("realtime", n)) => match n.parse::<u8>() {
                Ok(n) if (1..=99).contains(&n) => Ok(ThreadPriority::Realtime(n)),
                _ => Err(err(usage)),
            },
            _ => Err(err(usage)),
        }
    }

    /// Applies this priority to the calling thread.
    pub fn apply_to_current_thread(self) -> std::io::Result<()> {
        match self {
            ThreadPriority::Inherit => Ok(()),
            ThreadPriority::Nice(n) => {
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                // On Linux, PRIO_PROCESS with a thread id sets that thread only.
                // SAFETY: plain syscall on our own thread id.
                let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, n) };
                if rc != 0 {
                    return Err(priority_error("nice", std::io::Error::last_os_error()));
                }
                Ok(())
            }
            ThreadPriority::Realtime(p) => {
                let param = libc::sched_param {
                    sched_priority: i32::from(p),
                };
                // SAFETY: pid 0 means the calling thread; `param` is valid for the call.
                let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
                if rc != 0 {
                    return Err(priority_error(
                        "SCHED_FIFO",
                        std::io::Error::last_os_error(),
                    ));
                }
                Ok(())
            }
        }
    }
}

fn priority_error(what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!(
            "cannot set {what} priority for the heartbeat thread: {e} (needs root or CAP_SYS_NICE)"
        ),
    )
}

/// Runs `make()`'s future on a current-thread tokio runtime of its own, on a new OS thread
/// with the given priority.
///
/// Why: a heartbeat sharing a runtime with application tasks fires only when a worker gets
/// back to the timer, so one task that computes for 13 s without yielding delays the beat by
/// 13 s (the incident). On its own thread the beat waits only for the OS scheduler, and with a
/// raised priority hardly even for that.
pub fn spawn_on_own_thread<F, Fut>(
    name: &str,
    priority: ThreadPriority,
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
            priority.apply_to_current_thread()?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(make()))
        })
}
