//! When does kernel keep-alive notice a dead peer, and does it keep a middlebox's idle timer
//! from firing first?

use crate::system::SystemDefaults;
use serde::Serialize;
use std::time::Duration;

/// Longest probe list [`Effective::probe_schedule`] returns.
pub const PROBES_LISTED: u64 = 1_000;

/// Keep-alive values with every default filled in: what the kernel will actually do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// Silence after which the first probe leaves.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes after which the kernel drops the connection.
    pub count: u32,
    /// `TCP_USER_TIMEOUT`, when set: it also ends the probing once exceeded.
    pub user_timeout: Option<Duration>,
}

/// What a socket with keep-alive on and nothing else set does: the system defaults, no
/// `TCP_USER_TIMEOUT`.
impl From<SystemDefaults> for Effective {
    fn from(s: SystemDefaults) -> Self {
        Effective {
            idle: s.idle,
            interval: s.interval,
            count: s.count,
            user_timeout: None,
        }
    }
}

impl Effective {
    /// Times, counted from the last segment received from the peer, at which the kernel sends
    /// keep-alive probes to a silent peer, and the time it gives up.
    ///
    /// Linux's keep-alive timer (`tcp_keepalive_timer`) sends the first probe after `idle`, then
    /// one every `interval`. Without a user timeout it gives up at the first firing after
    /// `count` probes are out: `idle + count × interval`. With `TCP_USER_TIMEOUT` set, the count
    /// is ignored and it gives up at the first firing, after at least one probe, at which the
    /// silence has lasted `user_timeout`.
    pub fn probe_schedule(&self) -> (Vec<Duration>, Duration) {
        let n = self.probe_count();
        let shown = n.min(PROBES_LISTED);
        let probes = (0..shown)
            .map(|k| {
                self.idle
                    .saturating_add(self.interval.saturating_mul(k as u32))
            })
            .collect();
        (probes, self.worst_case_detection())
    }

    /// How many probes the kernel sends to a silent peer before giving up. With a user timeout
    /// this can be millions (24 days of 1 s probes); [`Effective::probe_schedule`] lists at most
    /// the first 1,000.
    pub fn probe_count(&self) -> u64 {
        match self.user_timeout {
            None => u64::from(self.count),
            Some(ut) => {
                // The first firing at idle + k × interval (k ≥ 1) at which the silence has
                // lasted the user timeout.
                let past_idle = ut.saturating_sub(self.idle).as_nanos();
                let step = self.interval.as_nanos().max(1);
                u64::try_from(past_idle.div_ceil(step).max(1)).unwrap_or(u64::MAX)
            }
        }
    }

    /// Worst-case time from the peer's last segment to the kernel dropping the connection
    /// (`ETIMEDOUT`) when the peer died silently and no data is in flight.
    pub fn worst_case_detection(&self) -> Duration {
        let k = u32::try_from(self.probe_count()).unwrap_or(u32::MAX);
        self.idle.saturating_add(self.interval.saturating_mul(k))
    }

    /// Compares this configuration with a middlebox (NAT, firewall, load balancer) that forgets
    /// a connection after `idle_timeout` without traffic.
    pub fn versus_middlebox(&self, idle_timeout: Duration) -> MiddleboxVerdict {
        let first_probe = self.idle;
        MiddleboxVerdict {
            idle_timeout,
            first_probe,
            // The probe refreshes the middlebox entry only if it gets there before the entry
            // expires; an answered probe restarts the idle clock, so the first one decides.
            keeps_entry_alive: first_probe < idle_timeout,
            margin: first_probe.abs_diff(idle_timeout),
            detection: self.worst_case_detection(),
        }
    }
}

/// The outcome of [`Effective::versus_middlebox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MiddleboxVerdict {
    /// The middlebox's idle timeout the settings were compared with.
    pub idle_timeout: Duration,
    /// When the first probe leaves after the connection goes idle.
    pub first_probe: Duration,
    /// Whether the first probe arrives before the middlebox forgets the connection.
    pub keeps_entry_alive: bool,
    /// How far the first probe is before (when kept alive) or after the middlebox timeout.
    pub margin: Duration,
    /// When a connection whose entry was forgotten (and whose probes are therefore lost) is
    /// finally dropped by the kernel: the worst-case detection time.
    pub detection: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_defaults_take_7875_seconds() {
        let e = Effective::from(SystemDefaults::LINUX);
        let (probes, give_up) = e.probe_schedule();
        assert_eq!(probes.len(), 9);
        assert_eq!(probes[0], Duration::from_secs(7200));
        assert_eq!(probes[8], Duration::from_secs(7200 + 8 * 75));
        assert_eq!(give_up, Duration::from_secs(7875));
    }

    #[test]
    fn user_timeout_overrides_count() {
        let e = Effective {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(5),
            count: 9,
            user_timeout: Some(Duration::from_secs(17)),
        };
        // Probes at 10, 15; at 20 the silence (20 s) exceeds 17 s: give up.
        let (probes, give_up) = e.probe_schedule();
        assert_eq!(
            probes,
            vec![Duration::from_secs(10), Duration::from_secs(15)]
        );
        assert_eq!(give_up, Duration::from_secs(20));
        // A user timeout shorter than idle still waits for one probe.
        let e = Effective {
            user_timeout: Some(Duration::from_secs(1)),
            ..e
        };
        assert_eq!(e.worst_case_detection(), Duration::from_secs(15));
    }

    #[test]
    fn middlebox_comparison() {
        let e = Effective::from(SystemDefaults::LINUX);
        let v = e.versus_middlebox(Duration::from_secs(350));
        assert!(!v.keeps_entry_alive);
        assert_eq!(v.margin, Duration::from_secs(6850));
        let e = Effective {
            idle: Duration::from_secs(300),
            ..e
        };
        let v = e.versus_middlebox(Duration::from_secs(350));
        assert!(v.keeps_entry_alive);
        assert_eq!(v.margin, Duration::from_secs(50));
    }
}
