//! The system-wide keep-alive defaults (`net.ipv4.tcp_keepalive_{time,intvl,probes}`).

use serde::Serialize;
use std::io;
use std::path::Path;
use std::time::Duration;

/// The keep-alive values a socket uses when it does not set its own.
///
/// These sysctls are per network namespace: read them from inside the namespace whose sockets
/// you care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SystemDefaults {
    /// `net.ipv4.tcp_keepalive_time`
    pub idle: Duration,
    /// `net.ipv4.tcp_keepalive_intvl`
    pub interval: Duration,
    /// `net.ipv4.tcp_keepalive_probes`
    pub count: u32,
}

impl SystemDefaults {
    /// Linux's compiled-in defaults: 7200 s idle, 75 s between probes, 9 probes.
    pub const LINUX: SystemDefaults = SystemDefaults {
        idle: Duration::from_secs(7200),
        interval: Duration::from_secs(75),
        count: 9,
    };

    /// Reads the current values from `/proc/sys/net/ipv4/`.
    pub fn read() -> io::Result<SystemDefaults> {
        Self::read_from(Path::new("/proc/sys/net/ipv4"))
    }

    /// Reads `tcp_keepalive_time`, `tcp_keepalive_intvl` and `tcp_keepalive_probes` from a
    /// directory laid out like `/proc/sys/net/ipv4`.
    pub fn read_from(dir: &Path) -> io::Result<SystemDefaults> {
        let number = |name: &str| -> io::Result<u64> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
            })?;
            text.trim().parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} holds `{}`, not a whole number",
                        path.display(),
                        text.trim()
                    ),
                )
            })
        };
        let count = number("tcp_keepalive_probes")?;
        Ok(SystemDefaults {
            idle: Duration::from_secs(number("tcp_keepalive_time")?),
            interval: Duration::from_secs(number("tcp_keepalive_intvl")?),
            count: u32::try_from(count).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "tcp_keepalive_probes is too large",
                )
            })?,
        })
    }
}

/// Raises this process's open-file limit (`RLIMIT_NOFILE`) to its hard limit, so a server can
/// hold as many connections as the administrator allows. Returns the new (soft, hard) limit.
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the kernel to fill and read.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// CPU seconds (user + system) this process has used and its resident memory in KiB, for the
/// `--stats` summaries and the benchmark.
pub fn process_usage() -> (f64, u64) {
    // SAFETY: a zeroed rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage to fill.
    let cpu = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    } else {
        0.0
    };
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    (cpu, rss)
}
