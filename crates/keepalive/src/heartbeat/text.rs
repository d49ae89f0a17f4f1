//! The words of the heartbeat runtime: log lines for events, statistics summaries as text and
//! as JSON records (`keepsight heartbeat --stats --json`).

use super::client::{ClientEvent, ClientStatsSnapshot};
use super::histogram::Summary;
use super::server::{ServerEvent, ServerStatsSnapshot};
use crate::format_duration;
use serde_json::json;

fn ms(x: f64) -> String {
    format!("{x:.3}ms")
}

/// A histogram summary: `n=… p50=… p90=… p99=… p99.9=… max=…` in milliseconds.
pub fn summary_text(s: &Summary) -> String {
    format!(
        "n={} p50={} p90={} p99={} p99.9={} max={}",
        s.count,
        ms(s.p50_ms),
        ms(s.p90_ms),
        ms(s.p99_ms),
        ms(s.p999_ms),
        ms(s.max_ms)
    )
}

/// The log line of a client event (without time stamp and connection number).
pub fn client_event_text(e: &ClientEvent) -> String {
    match e {
        ClientEvent::Reply { seq, rtt, lateness } => {
            format!(
                "reply seq={seq} rtt={} late={}",
                ms(rtt.as_secs_f64() * 1e3),
                ms(lateness.as_secs_f64() * 1e3)
            )
        }
        ClientEvent::Connected { local, peer, keepalive } => match keepalive {
            Some(k) => format!(
                "connected {local} -> {peer} (keep-alive idle={} interval={} probes={} user_timeout={})",
                format_duration(k.idle),
                format_duration(k.interval),
                k.count,
                k.user_timeout.map(format_duration).unwrap_or_else(|| "off".into())
            ),
            None => format!("connected {local} -> {peer}"),
        },
        ClientEvent::ConnectFailed { error } => error.clone(),
        ClientEvent::SessionOpen { every } => {
            format!("session open, beating every {}", format_duration(*every))
        }
        ClientEvent::Beat {
            seq,
            lateness,
            peer_silent_for,
        } => format!(
            "beat seq={seq} late={} peer_silent={}",
            ms(lateness.as_secs_f64() * 1e3),
            ms(peer_silent_for.as_secs_f64() * 1e3)
        ),
        ClientEvent::LateReply { seq, rtt } => {
            format!("late reply seq={seq} rtt={} (already counted as a miss)", ms(rtt.as_secs_f64() * 1e3))
        }
        ClientEvent::Miss { seq, consecutive } => {
            format!("miss seq={seq} (no reply within the timeout; {consecutive} in a row)")
        }
        ClientEvent::Skipped { slots, behind } => format!(
            "client fell {} behind schedule: skipped {slots} probe slot(s)",
            format_duration(*behind)
        ),
        ClientEvent::Dead { consecutive, silent_for } => format!(
            "peer declared dead after {consecutive} consecutive misses (nothing heard for {})",
            ms(silent_for.as_secs_f64() * 1e3)
        ),
        ClientEvent::Closed { reason } => format!("connection ended: {reason}"),
        ClientEvent::Reconnecting { delay } => {
            format!("reconnecting in {}", ms(delay.as_secs_f64() * 1e3))
        }
        ClientEvent::App { payload } => format!("application frame, {} bytes", payload.len()),
        ClientEvent::AppTooLong { len } => {
            format!("application payload of {len} bytes not sent: longer than --max-frame")
        }
    }
}

/// The log line of a server event.
pub fn server_event_text(e: &ServerEvent) -> String {
    match e {
        ServerEvent::Accepted { peer } => format!("accepted {peer}"),
        ServerEvent::Closed { peer, reason } => format!("closed {peer}: {reason}"),
        ServerEvent::AcceptError { error } => format!("accept failed: {error}"),
    }
}

/// Process resources for the statistics: CPU seconds used and resident set in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// User and system CPU time so far.
    pub cpu_s: f64,
    /// Resident set size.
    pub rss_kib: u64,
}

impl Usage {
    /// This process's usage now.
    pub fn now() -> Usage {
        let (cpu_s, rss_kib) = crate::process_usage();
        Usage { cpu_s, rss_kib }
    }
}

/// The server's statistics line.
pub fn server_stats_text(s: &ServerStatsSnapshot, u: Usage) -> String {
    format!(
        "stats: open={} accepted={} probes_answered={} app_frames={} protocol_errors={} idle_closed={} cpu={:.2}s rss={}KiB",
        s.open, s.accepted, s.probes_answered, s.app_frames, s.protocol_errors, s.idle_closed, u.cpu_s, u.rss_kib
    )
}

/// The server's statistics as one JSON record; `time` is the wall-clock time stamp.
pub fn server_stats_json(
    s: &ServerStatsSnapshot,
    u: Usage,
    final_: bool,
    time: &str,
    elapsed_s: f64,
) -> serde_json::Value {
    json!({
        "kind": "server-stats",
        "final": final_,
        "time": time,
        "elapsed_s": elapsed_s,
        "server": s,
        "cpu_s": u.cpu_s,
        "rss_kib": u.rss_kib,
    })
}

/// The client's statistics lines: counters, RTT and lateness histograms.
pub fn client_stats_text(s: &ClientStatsSnapshot) -> [String; 3] {
    [
        format!(
            "stats: probes={} replies={} misses={} late_replies={} dead={} connects={} reconnects={} connect_failures={} skipped_slots={}",
            s.probes_sent, s.replies, s.misses, s.late_replies, s.dead_declared, s.connects, s.reconnects, s.connect_failures, s.skipped_slots
        ),
        format!("stats: rtt {}", summary_text(&s.rtt)),
        format!("stats: lateness {}", summary_text(&s.lateness)),
    ]
}

/// The client's statistics as one JSON record.
pub fn client_stats_json(
    s: &ClientStatsSnapshot,
    u: Usage,
    connections: usize,
    final_: bool,
    time: &str,
    elapsed_s: f64,
) -> serde_json::Value {
    json!({
        "kind": "client-stats",
        "final": final_,
        "time": time,
        "elapsed_s": elapsed_s,
        "connections": connections,
        "client": s,
        "cpu_s": u.cpu_s,
        "rss_kib": u.rss_kib,
    })
}

/// Why a client that does not reconnect stopped.
pub fn client_exit_text(exit: &super::client::ClientExit) -> String {
    use super::client::ClientExit;
    match exit {
        ClientExit::Dead => "peer declared dead".to_string(),
        ClientExit::Closed(r) => format!("connection ended: {r}"),
        ClientExit::ConnectFailed(r) => r.clone(),
    }
}
