//! Per-socket keep-alive settings: parsing nginx's `so_keepalive=` syntax, applying the values
//! with `setsockopt` and reading them back with `getsockopt`.

use crate::duration::{parse_duration_as, ParseError};
use crate::system::SystemDefaults;
use serde::Serialize;
use socket2::{SockRef, TcpKeepalive};
use std::io;
use std::time::Duration;

/// Linux's limits for `TCP_KEEPIDLE` and `TCP_KEEPINTVL`, in seconds (`MAX_TCP_KEEPIDLE`,
/// `MAX_TCP_KEEPINTVL`); the kernel answers `EINVAL` outside them.
pub const KEEPIDLE_MAX_SECS: u64 = 32_767;
/// See [`KEEPIDLE_MAX_SECS`].
pub const KEEPINTVL_MAX_SECS: u64 = 32_767;
/// Linux's limit for `TCP_KEEPCNT` (`MAX_TCP_KEEPCNT`).
pub const KEEPCNT_MAX: u32 = 127;
/// `TCP_USER_TIMEOUT` is an `int` of milliseconds in the kernel; negative values are rejected.
pub const USER_TIMEOUT_MAX_MS: u64 = i32::MAX as u64;

/// Keep-alive values for one socket. `None` leaves the kernel's value, which for a fresh socket
/// is the system default (`net.ipv4.tcp_keepalive_*`, read when the timer runs, per network
/// namespace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeepaliveSettings {
    /// `TCP_KEEPIDLE`: how long the connection must be idle before the first probe. Whole seconds.
    pub idle: Option<Duration>,
    /// `TCP_KEEPINTVL`: time between unanswered probes. Whole seconds.
    pub interval: Option<Duration>,
    /// `TCP_KEEPCNT`: unanswered probes before the connection is dropped (ignored by Linux while
    /// a user timeout is set).
    pub count: Option<u32>,
    /// `TCP_USER_TIMEOUT`: how long sent data (or, with keep-alive, the whole silence) may stay
    /// unacknowledged before the connection is dropped. Milliseconds.
    pub user_timeout: Option<Duration>,
}

/// The value of nginx's `so_keepalive=` listen parameter.
///
/// `on` means "enable `SO_KEEPALIVE`, keep every value at the system default", which is
/// `On(KeepaliveSettings::default())`; `off` means "disable it explicitly"; `idle:intvl:cnt`
/// enables it with the given values (empty fields keep the system default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", content = "settings", rename_all = "lowercase")]
pub enum SoKeepalive {
    /// `so_keepalive=off`: clear `SO_KEEPALIVE` explicitly.
    Off,
    /// `so_keepalive=on` or `idle:intvl:cnt`: enable it with these values.
    On(KeepaliveSettings),
}

impl SoKeepalive {
    /// The settings to apply, or `None` for `off`.
    pub fn settings(&self) -> Option<&KeepaliveSettings> {
        match self {
            SoKeepalive::Off => None,
            SoKeepalive::On(s) => Some(s),
        }
    }

    /// Applies this value to a socket: `off` clears `SO_KEEPALIVE`, anything else goes through
    /// [`KeepaliveSettings::apply`].
    pub fn apply(&self, sock: SockRef<'_>) -> Result<SocketKeepalive, KeepaliveError> {
        match self {
            SoKeepalive::Off => {
                sock.set_keepalive(false)
                    .map_err(|source| KeepaliveError::Sockopt {
                        option: "SO_KEEPALIVE",
                        source,
                    })?;
                SocketKeepalive::read(sock)
            }
            SoKeepalive::On(s) => s.apply(sock),
        }
    }
}

/// Why keep-alive settings could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum KeepaliveError {
    /// A value Linux would refuse (or silently clamp), caught before any system call.
    #[error("{option} = {value} is out of range: Linux accepts {accepted}")]
    OutOfRange {
        /// The socket option (`TCP_KEEPIDLE`, ...).
        option: &'static str,
        /// The value asked for, as the user wrote it.
        value: String,
        /// The range Linux accepts.
        accepted: &'static str,
    },
    /// The kernel refused the system call (not a TCP socket, closed descriptor, ...).
    #[error("setsockopt/getsockopt {option} failed: {source}")]
    Sockopt {
        /// The socket option being set or read.
        option: &'static str,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// Read back, the socket holds another value than the one set: the setting did not take.
    #[error("{option} was set to {wanted} but the socket reports {actual}")]
    Mismatch {
        /// The socket option compared.
        option: &'static str,
        /// The value set.
        wanted: String,
        /// The value the socket reports.
        actual: String,
    },
}

/// The settings validated and in the units the kernel takes; `None` leaves the option alone.
struct KernelValues {
    idle_s: Option<u32>,
    interval_s: Option<u32>,
    count: Option<u32>,
    user_timeout_ms: Option<u32>,
}

fn whole_secs(
    option: &'static str,
    value: Duration,
    max: u64,
    accepted: &'static str,
) -> Result<u32, KeepaliveError> {
    let out_of_range = || KeepaliveError::OutOfRange {
        option,
        value: crate::format_duration(value),
        accepted,
    };
    if value.subsec_nanos() != 0 || value.as_secs() == 0 || value.as_secs() > max {
        return Err(out_of_range());
    }
    Ok(value.as_secs() as u32)
}

impl KeepaliveSettings {
    /// Parses nginx's `so_keepalive=on|off|[idle]:[intvl]:[cnt]`, e.g. `30m::10`.
    ///
    /// `idle` and `intvl` are durations in nginx's syntax (a bare number is seconds) and must be
    /// whole seconds within Linux's limits; `cnt` is 1..=127. Empty fields keep the system
    /// default; all three empty is rejected as nginx does (write `on` for that).
    pub fn parse_nginx(s: &str) -> Result<SoKeepalive, ParseError> {
        const WHAT: &str = "so_keepalive value";
        let err = |reason: String| ParseError::new(WHAT, s, reason);
        match s {
            "on" => return Ok(SoKeepalive::On(KeepaliveSettings::default())),
            "off" => return Ok(SoKeepalive::Off),
            _ => {}
        }
        let fields: Vec<&str> = s.split(':').collect();
        if fields.len() != 3 {
            return Err(err(
                "expected `on`, `off` or `[idle]:[intvl]:[cnt]` (e.g. `30m::10`, `60:10:3`)".into(),
            ));
        }
        let secs_field = |name: &'static str,
                          text: &str,
                          max: u64|
         -> Result<Option<Duration>, ParseError> {
            if text.is_empty() {
                return Ok(None);
            }
            let d = parse_duration_as(WHAT, text)
                .map_err(|e| err(format!("{name} `{text}`: {}", e.reason())))?;
            if d.subsec_nanos() != 0 {
                return Err(err(format!(
                    "{name} `{text}` is not a whole number of seconds (the kernel counts {name} in seconds)"
                )));
            }
            if d.as_secs() == 0 || d.as_secs() > max {
                return Err(err(format!(
                    "{name} `{text}` is out of range: Linux accepts 1s..={max}s"
                )));
            }
            Ok(Some(d))
        };
        let idle = secs_field("idle", fields[0], KEEPIDLE_MAX_SECS)?;
        let interval = secs_field("interval", fields[1], KEEPINTVL_MAX_SECS)?;
        let count = if fields[2].is_empty() {
            None
        } else {
            let n: u32 = fields[2].parse().map_err(|_| {
                err(format!(
                    "count `{}` is not a whole number of probes",
                    fields[2]
                ))
            })?;
            if !(1..=KEEPCNT_MAX).contains(&n) {
                return Err(err(format!(
                    "count `{n}` is out of range: Linux accepts 1..={KEEPCNT_MAX}"
                )));
            }
            Some(n)
        };
        if idle.is_none() && interval.is_none() && count.is_none() {
            return Err(err(
                "all three fields are empty; write `on` to keep the system defaults".into(),
            ));
        }
        Ok(SoKeepalive::On(KeepaliveSettings {
            idle,
            interval,
            count,
            user_timeout: None,
        }))
    }

    /// Checks every value against Linux's limits without touching a socket.
    pub fn validate(&self) -> Result<(), KeepaliveError> {
        self.checked().map(|_| ())
    }

    fn checked(&self) -> Result<KernelValues, KeepaliveError> {
        let idle = self
            .idle
            .map(|d| {
                whole_secs(
                    "TCP_KEEPIDLE",
                    d,
                    KEEPIDLE_MAX_SECS,
                    "whole seconds 1..=32767",
                )
            })
            .transpose()?;
        let interval = self
            .interval
            .map(|d| {
                whole_secs(
                    "TCP_KEEPINTVL",
                    d,
                    KEEPINTVL_MAX_SECS,
                    "whole seconds 1..=32767",
                )
            })
            .transpose()?;
        let count = match self.count {
            Some(n) if !(1..=KEEPCNT_MAX).contains(&n) => {
                return Err(KeepaliveError::OutOfRange {
                    option: "TCP_KEEPCNT",
                    value: n.to_string(),
                    accepted: "1..=127",
                })
            }
            other => other,
        };
        let user_timeout = match self.user_timeout {
            None => None,
            Some(d) => {
                let ms = d.as_millis();
                if d.subsec_nanos() % 1_000_000 != 0
                    || ms == 0
                    || ms > u128::from(USER_TIMEOUT_MAX_MS)
                {
                    return Err(KeepaliveError::OutOfRange {
                        option: "TCP_USER_TIMEOUT",
                        value: crate::format_duration(d),
                        accepted: "whole milliseconds 1ms..=2147483647ms (leave it unset for the kernel's retransmission limits)",
                    });
                }
                Some(ms as u32)
            }
        };
        Ok(KernelValues {
            idle_s: idle,
            interval_s: interval,
            count,
            user_timeout_ms: user_timeout,
        })
    }

    /// Enables `SO_KEEPALIVE`, sets every value that is `Some`, then reads the socket back and
    /// fails if the kernel holds something else. Returns what the socket now reports.
    ///
    /// Values are validated first, so nothing is changed on the socket when one is out of range.
    pub fn apply(&self, sock: SockRef<'_>) -> Result<SocketKeepalive, KeepaliveError> {
        let KernelValues {
            idle_s,
            interval_s,
            count,
            user_timeout_ms,
        } = self.checked()?;
        let sockopt =
            |option: &'static str| move |source| KeepaliveError::Sockopt { option, source };
        sock.set_keepalive(true).map_err(sockopt("SO_KEEPALIVE"))?;
        // One option per call, so an error names the option the kernel refused.
        if let Some(secs) = idle_s {
            sock.set_tcp_keepalive(
                &TcpKeepalive::new().with_time(Duration::from_secs(secs.into())),
            )
            .map_err(sockopt("TCP_KEEPIDLE"))?;
        }
        if let Some(secs) = interval_s {
            sock.set_tcp_keepalive(
                &TcpKeepalive::new().with_interval(Duration::from_secs(secs.into())),
            )
            .map_err(sockopt("TCP_KEEPINTVL"))?;
        }
        if let Some(n) = count {
            sock.set_tcp_keepalive(&TcpKeepalive::new().with_retries(n))
                .map_err(sockopt("TCP_KEEPCNT"))?;
        }
        if let Some(ms) = user_timeout_ms {
            sock.set_tcp_user_timeout(Some(Duration::from_millis(ms.into())))
                .map_err(sockopt("TCP_USER_TIMEOUT"))?;
        }
        let now = SocketKeepalive::read(sock)?;
        let mismatch = |option: &'static str, wanted: String, actual: String| {
            Err(KeepaliveError::Mismatch {
                option,
                wanted,
                actual,
            })
        };
        if !now.enabled {
            return mismatch("SO_KEEPALIVE", "on".into(), "off".into());
        }
        if let Some(d) = self.idle.filter(|d| *d != now.idle) {
            return mismatch(
                "TCP_KEEPIDLE",
                crate::format_duration(d),
                crate::format_duration(now.idle),
            );
        }
        if let Some(d) = self.interval.filter(|d| *d != now.interval) {
            return mismatch(
                "TCP_KEEPINTVL",
                crate::format_duration(d),
                crate::format_duration(now.interval),
            );
        }
        if let Some(n) = self.count.filter(|n| *n != now.count) {
            return mismatch("TCP_KEEPCNT", n.to_string(), now.count.to_string());
        }
        if self.user_timeout.is_some() && self.user_timeout != now.user_timeout {
            return mismatch(
                "TCP_USER_TIMEOUT",
                format!("{:?}", self.user_timeout),
                format!("{:?}", now.user_timeout),
            );
        }
        Ok(now)
    }

    /// Fills the `None` fields from the system defaults: the values the kernel will use.
    pub fn resolve(&self, system: &SystemDefaults) -> crate::Effective {
        crate::Effective {
            idle: self.idle.unwrap_or(system.idle),
            interval: self.interval.unwrap_or(system.interval),
            count: self.count.unwrap_or(system.count),
            user_timeout: self.user_timeout,
        }
    }
}

/// What a socket reports through `getsockopt`. For an unset idle/interval/count the kernel
/// reports the value it would use (the system default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SocketKeepalive {
    /// `SO_KEEPALIVE`: without it the other values are ignored.
    pub enabled: bool,
    /// `TCP_KEEPIDLE`: silence before the first probe.
    pub idle: Duration,
    /// `TCP_KEEPINTVL`: time between unanswered probes.
    pub interval: Duration,
    /// `TCP_KEEPCNT`: unanswered probes before the connection is dropped.
    pub count: u32,
    /// `None` when `TCP_USER_TIMEOUT` is 0 (unset).
    pub user_timeout: Option<Duration>,
}

impl SocketKeepalive {
    /// Reads `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` and
    /// `TCP_USER_TIMEOUT` from a TCP socket.
    pub fn read(sock: SockRef<'_>) -> Result<SocketKeepalive, KeepaliveError> {
        let sockopt =
            |option: &'static str| move |source| KeepaliveError::Sockopt { option, source };
        Ok(SocketKeepalive {
            enabled: sock.keepalive().map_err(sockopt("SO_KEEPALIVE"))?,
            idle: sock.keepalive_time().map_err(sockopt("TCP_KEEPIDLE"))?,
            interval: sock
                .keepalive_interval()
                .map_err(sockopt("TCP_KEEPINTVL"))?,
            count: sock.keepalive_retries().map_err(sockopt("TCP_KEEPCNT"))?,
            user_timeout: sock
                .tcp_user_timeout()
                .map_err(sockopt("TCP_USER_TIMEOUT"))?,
        })
    }
}
