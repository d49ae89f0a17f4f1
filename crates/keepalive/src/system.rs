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
