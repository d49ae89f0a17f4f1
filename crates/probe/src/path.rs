//! `probe path`: the idle timeout of the NATs and firewalls between here and a
//! `keepsight heartbeat serve`.
//!
//! The far end answers every probe byte at once and never closes an idle connection by
//! itself (unless started with `--idle-timeout`), so a connection that stops carrying a probe
//! and its reply after an idle period was forgotten by something on the path.

use crate::search::{idle_search, Check, IdleResult, SearchConfig};
use crate::{secs, Budget, ProbeError, Progress};
use keepsight_keepalive::heartbeat::Wire;
use serde::Serialize;
use std::net::{SocketAddr, ToSocketAddrs};
use tokio::time::Instant;

/// What `keepsight probe path` measured (its JSON is the crate README's schema).
#[derive(Debug, Clone, Serialize)]
pub struct PathReport {
    /// Always `path`.
    pub kind: &'static str,
    /// The target as given.
    pub target: String,
    /// The address it resolved to.
    pub address: String,
    /// The path's idle timeout.
    pub idle_timeout: IdleResult,
    /// Longest keep-alive (heartbeat or TCP keep-alive) interval that keeps connections on
    /// this path alive, seconds: half the longest idle known to work, so that one lost
    /// probe still leaves time for the next.
    pub keepalive_interval_s: Option<f64>,
    /// What the search showed, for a person.
    pub findings: Vec<String>,
    /// The keep-alive interval to use, for a person.
    pub recommendation: Vec<String>,
    /// Connections opened in all.
    pub connections_used: u32,
    /// Time the whole probe took.
    pub elapsed_s: f64,
}

/// The first address `HOST:PORT` resolves to.
pub fn resolve(target: &str) -> Result<SocketAddr, ProbeError> {
    target
        .to_socket_addrs()
        .map_err(|e| {
            ProbeError::Usage(format!(
                "cannot resolve `{target}` (expected HOST:PORT): {e}"
            ))
        })?
        .next()
        .ok_or_else(|| ProbeError::Usage(format!("`{target}` resolves to no address")))
}

/// Measures the idle timeout of the NATs and firewalls between here and the
/// `keepsight heartbeat serve` at `target`: connections idle for increasing times, then a
/// heartbeat must still get through.
pub async fn probe(
    target: &str,
    wire: Wire,
    search: &SearchConfig,
    budget: &Budget,
    progress: &Progress,
) -> Result<PathReport, ProbeError> {
    let started = Instant::now();
    wire.validate()
        .map_err(|e| ProbeError::Usage(e.to_string()))?;
    let addr = resolve(target)?;
    // One exchange first, so a wrong address or a peer that is not a heartbeat server is a
    // precise error, not a "timeout of 0 s".
    progress(&format!("first heartbeat to {addr}"));
    let dest = crate::conn::Dest::plain(addr);
    let mut conn = crate::conn::Conn::open(&dest, search.connect_timeout, budget).await?;
    let deadline = (Instant::now() + search.reply_timeout).min(budget.deadline);
    Check::Heartbeat(wire)
        .run(&mut conn, deadline)
        .await
        .map_err(|e| {
            ProbeError::Protocol(format!(
                "{addr} does not answer heartbeats ({e}): run `keepsight heartbeat serve --listen ADDR` there"
            ))
        })?;
    drop(conn);
    let idle = idle_search(&dest, Check::Heartbeat(wire), search, budget, progress).await;
    let mut findings = Vec::new();
    let mut recommendation = Vec::new();
    let interval = match idle.method.as_str() {
        "check-after-idle" | "observed-close" => {
            let lower = if idle.method == "observed-close" {
                idle.estimate_s.unwrap_or(0.0) - idle.precision_s.unwrap_or(0.0)
            } else {
                idle.lower_s
            };
            let every = ((lower / 2.0) * 10.0).floor() / 10.0;
            match &idle.close {
                Some(c) => findings.push(format!(
                    "idle connections are closed with {} after {} ± {} s (by a middlebox that says so, or by the server's --idle-timeout)",
                    c.how.to_uppercase(),
                    idle.estimate_s.unwrap_or(0.0),
                    idle.precision_s.unwrap_or(0.0)
                )),
                None => findings.push(format!(
                    "the path forgets idle connections after {}..{} s, silently ({}): data sent later is lost",
                    idle.lower_s,
                    idle.upper_s.unwrap_or(0.0),
                    idle.failure.as_deref().unwrap_or("?")
                )),
            }
            if every > 0.0 {
                let every_d =
                    keepsight_keepalive::format_duration(std::time::Duration::from_secs_f64(every));
                let tcp = every.floor() as u64;
                let tcp_part = if tcp >= 1 {
                    format!(", or TCP keep-alive with idle and interval of {tcp}s or less (e.g. nginx `so_keepalive={tcp}s:{tcp}s:3`)")
                } else {
                    String::new()
                };
                recommendation.push(format!(
                    "send a heartbeat at least every {every_d} (`keepsight heartbeat client --every {every_d}`){tcp_part}"
                ));
            } else {
                recommendation.push(
                    "the timeout is below a second: check the measurement with a larger --precision".into(),
                );
            }
            Some(every)
        }
        "none-found" => {
            recommendation.push(format!(
                "no idle timeout up to {} s on this path: a keep-alive interval below that is enough",
                idle.lower_s
            ));
            Some(((idle.lower_s / 2.0) * 10.0).floor() / 10.0)
        }
        _ => None,
    };
    Ok(PathReport {
        kind: "probe-path",
        target: target.to_string(),
        address: addr.to_string(),
        idle_timeout: idle,
        keepalive_interval_s: interval,
        findings,
        recommendation,
        connections_used: budget.used(),
        elapsed_s: secs(started.elapsed()),
    })
}
