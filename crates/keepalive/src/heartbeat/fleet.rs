//! Many heartbeat connections from one client: phases spread over the period so they do not
//! beat in lockstep, connections opened over a ramp so they do not all connect at once.

use super::client::{run_client, ClientConfig, ClientExit, ClientStats, EventSink};
use super::lifetime;
use crate::format_duration;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The ramp used when none is given: one millisecond per connection.
pub fn default_ramp(connections: usize) -> Duration {
    Duration::from_millis(connections as u64)
}

/// When connection `i` of `n` starts (`start_at`, along the ramp) and how long after connecting
/// it sends its first probe, so that first probes are spread evenly over one period `every`.
pub fn schedule(i: usize, n: usize, every: Duration, ramp: Duration) -> (Duration, Duration) {
    let share = i as f64 / n.max(1) as f64;
    let phase = every.mul_f64(share);
    let start_at = ramp.mul_f64(share);
    (start_at, phase.saturating_sub(start_at))
}

/// Starts `n` clients like `base` on the current tokio runtime, source addresses taken from
/// `bind` in turn (none: the kernel chooses), each at its place on the ramp (default
/// [`default_ramp`]) with its phase from [`schedule`]. Each task ends with its client.
pub fn spawn_fleet(
    base: &ClientConfig,
    n: usize,
    bind: &[IpAddr],
    ramp: Option<Duration>,
    stats: &Arc<ClientStats>,
    events: &EventSink,
) -> tokio::task::JoinSet<ClientExit> {
    let ramp = ramp.unwrap_or_else(|| default_ramp(n));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut config = base.clone();
        if !bind.is_empty() {
            config.bind = Some(bind[i % bind.len()]);
        }
        let (start_at, first_probe_delay) = schedule(i, n, base.every, ramp);
        config.first_probe_delay = first_probe_delay;
        let stats = stats.clone();
        let events = events.clone();
        tasks.spawn(async move {
            tokio::time::sleep(start_at).await;
            run_client(config, i, stats, events).await
        });
    }
    tasks
}

/// How a fleet runs: its size, where it connects from, and when it stops.
#[derive(Clone, Debug, Default)]
pub struct FleetPlan {
    /// Connections to hold.
    pub connections: usize,
    /// Source addresses, used in turn (none: the kernel chooses).
    pub bind: Vec<IpAddr>,
    /// Time over which to open the connections (default: [`default_ramp`]).
    pub ramp: Option<Duration>,
    /// After this long, the latency histograms restart (connection set-up left out).
    pub warmup: Option<Duration>,
    /// Stop after this long (else at Ctrl-C or SIGTERM).
    pub duration: Option<Duration>,
    /// Print statistics this often.
    pub stats_every: Option<Duration>,
}

/// Why a fleet stopped.
#[derive(Debug)]
pub enum FleetEnd {
    /// Ctrl-C, SIGTERM or the end of the duration (the words say which).
    Stopped(&'static str),
    /// A client ended by itself (only one that does not reconnect does).
    ClientEnded(ClientExit),
}

/// Runs the fleet `plan` describes with clients like `base` until it stops, calling
/// `print_stats(false)` every `stats_every` and telling `log` when the warm-up is over. The
/// clients are stopped before it returns.
pub async fn run_fleet(
    base: &ClientConfig,
    plan: &FleetPlan,
    stats: &Arc<ClientStats>,
    events: &EventSink,
    print_stats: impl Fn(bool),
    log: impl Fn(&str),
) -> FleetEnd {
    let mut tasks = spawn_fleet(base, plan.connections, &plan.bind, plan.ramp, stats, events);
    let warmup = async {
        if let Some(w) = plan.warmup {
            tokio::time::sleep(w).await;
            stats.reset_histograms();
            log(&format!(
                "warm-up of {} over: latency histograms restart",
                format_duration(w)
            ));
        }
        std::future::pending::<()>().await
    };
    let end = tokio::select! {
        _ = warmup => unreachable!("the warm-up task never ends"),
        why = lifetime::stop_signal(plan.duration) => FleetEnd::Stopped(why),
        _ = lifetime::every(plan.stats_every, &print_stats) => unreachable!("never ends"),
        done = tasks.join_next() => match done {
            Some(Ok(exit)) => FleetEnd::ClientEnded(exit),
            // A client task that panicked or was cancelled: nothing left to run for.
            _ => FleetEnd::Stopped("a client task failed"),
        },
    };
    tasks.abort_all();
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_probes_spread_over_one_period_whatever_the_ramp() {
        let every = Duration::from_secs(10);
        let n = 4;
        for ramp in [Duration::ZERO, default_ramp(n), Duration::from_secs(4)] {
            let firsts: Vec<Duration> = (0..n)
                .map(|i| {
                    let (start, delay) = schedule(i, n, every, ramp);
                    start + delay
                })
                .collect();
            assert_eq!(
                firsts,
                [0, 2_500, 5_000, 7_500].map(Duration::from_millis),
                "{ramp:?}"
            );
        }
        // A ramp longer than the period starts connections later than their phase: they probe
        // at once.
        let (start, delay) = schedule(3, 4, every, Duration::from_secs(40));
        assert_eq!((start, delay), (Duration::from_secs(30), Duration::ZERO));
        assert_eq!(
            schedule(0, 1, every, Duration::ZERO),
            (Duration::ZERO, Duration::ZERO)
        );
    }
}
