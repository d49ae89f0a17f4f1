//! The connection-attempt findings, built once at the end from the tallies: one
//! `syn_unanswered` and one `connection_refused` per server address, one `scan` per scanning
//! source, one `reconnect_storm` per run of failed retries.

use super::distinct::Distinct;
use super::sources::Source;
use super::storm::StormRecord;
use super::tally::{
    Endpoint, Outcome, Tally, SOURCE_EXACT, STREAM_SAMPLE, TOP_SOURCES as TOP_SOURCES_KEPT,
};
use crate::finding::{
    Details, EarlierConnection, Finding, Kind, PortTally, Refused, Scan, Severity, SilenceVerdict,
    SourceTally, Storm, SynUnanswered,
};
use crate::report::{human, round, secs, StreamReport};
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::{IpAddr, SocketAddr};

/// Ports listed per finding.
const PORTS_LISTED: usize = 16;
/// Sources listed per finding.
const SOURCES_LISTED: usize = 5;
/// A flood: at least this many distinct sources ...
const FLOOD_SOURCES: u64 = 100;
/// ... sending at least this many SYNs per second.
const FLOOD_RATE: f64 = 50.0;
/// A server that is down is retried by at most this many clients.
const DOWN_MAX_SOURCES: u64 = 10;
/// A scan tries at least this many distinct ports or hosts ...
pub(crate) const SCAN_TARGETS: u64 = 16;
/// ... and at most this share of its attempts are answered.
const SCAN_MAX_ANSWERED: f64 = 0.5;
/// The earlier connection of a storm ended at most this long before its first failed attempt.
const EARLIER_WITHIN_NS: i64 = 60_000_000_000;

fn s6(ns: i64) -> f64 {
    round(secs(ns), 6)
}

/// The attempt findings (unanswered, refused, scans), and the storms that are not a flood's
/// (their reconnect findings need the streams' reports, see [`reconnect_storms`]).
pub(crate) fn attempt_findings<'a>(
    endpoints: &[Endpoint],
    sources: &[Source],
    storms: &'a [StormRecord],
) -> (Vec<Finding>, Vec<&'a StormRecord>) {
    let mut out = Vec::new();
    // Server addresses in order of their first attempt's endpoint.
    let mut hosts: Vec<IpAddr> = Vec::new();
    let mut by_host: FxHashMap<IpAddr, Vec<&Endpoint>> = FxHashMap::default();
    for e in endpoints {
        let v = by_host.entry(e.addr.ip()).or_default();
        if v.is_empty() {
            hosts.push(e.addr.ip());
        }
        v.push(e);
    }
    let scans: Vec<Finding> = sources.iter().filter_map(scan).collect();
    let scanners: FxHashSet<IpAddr> = sources
        .iter()
        .filter(|s| is_scan(s))
        .map(|s| s.ip)
        .collect();
    // Servers under a SYN flood: a spoofed source that comes round again looks like a client
    // retrying, so silent retry runs to them are the flood's, not storms of their own.
    let mut flooded: FxHashSet<IpAddr> = FxHashSet::default();
    for host in &hosts {
        let eps = &by_host[host];
        if let Some(f) = unanswered(*host, eps, &scanners) {
            if matches!(&f.details, Details::SynUnanswered(u) if u.verdict == SilenceVerdict::Flood)
            {
                flooded.insert(*host);
            }
            out.push(f);
        }
        if let Some(f) = refused(*host, eps, &scanners) {
            out.push(f);
        }
    }
    out.extend(scans);
    let storms = storms
        .iter()
        .filter(|s| {
            let silent = s.failed.iter().all(|a| a.outcome == Outcome::Unanswered);
            !(silent && flooded.contains(&endpoints[s.endpoint as usize].addr.ip()))
        })
        .collect();
    (out, storms)
}

/// The tallies of one kind of the server's endpoints, merged.
struct Merged<'a> {
    tallies: Vec<(u16, &'a Tally)>,
    attempts: u64,
    syns: u64,
    first: (i64, u32),
    last_ts: i64,
    sources: Distinct<{ SOURCE_EXACT }>,
    estimated: bool,
    streams: Vec<u32>,
}

fn merge<'a>(
    eps: &[&'a Endpoint],
    pick: impl Fn(&'a Endpoint) -> Option<&'a Tally>,
) -> Option<Merged<'a>> {
    let mut tallies: Vec<(u16, &Tally)> = eps
        .iter()
        .filter_map(|e| pick(e).map(|t| (e.addr.port(), t)))
        .filter(|(_, t)| t.attempts > 0)
        .collect();
    if tallies.is_empty() {
        return None;
    }
    tallies.sort_by(|a, b| b.1.attempts.cmp(&a.1.attempts).then(a.0.cmp(&b.0)));
    let mut m = Merged {
        attempts: 0,
        syns: 0,
        first: (i64::MAX, 0),
        last_ts: i64::MIN,
        sources: Distinct::default(),
        estimated: false,
        streams: Vec::new(),
        tallies,
    };
    for (_, t) in &m.tallies {
        m.attempts += t.attempts;
        m.syns += t.syns;
        m.first = m.first.min((t.first_ts, t.first_frame));
        m.last_ts = m.last_ts.max(t.last_ts);
        m.sources.merge(&t.sources);
        m.estimated |= t.sources.estimated();
    }
    m.estimated |= m.sources.estimated();
    let mut streams: Vec<u32> = m
        .tallies
        .iter()
        .flat_map(|(_, t)| t.streams.iter().copied())
        .collect();
    streams.sort_unstable();
    streams.truncate(STREAM_SAMPLE);
    m.streams = streams;
    Some(m)
}

/// Every attempt of the merged tallies came from a scanner (their few sources are all known).
fn only_scanners(m: &Merged<'_>, scanners: &FxHashSet<IpAddr>) -> bool {
    !scanners.is_empty()
        && m.tallies.iter().all(|(_, t)| {
            t.sources.count() as usize <= TOP_SOURCES_KEPT
                && !t.sources.estimated()
                && t.top.iter().all(|(ip, _)| scanners.contains(ip))
        })
}

fn port_tallies(m: &Merged<'_>) -> Vec<PortTally> {
    m.tallies
        .iter()
        .take(PORTS_LISTED)
        .map(|(port, t)| PortTally {
            attempts: t.attempts,
            port: *port,
            sources: t.sources.count(),
        })
        .collect()
}

fn ports_text(ports: &[PortTally], total: usize) -> String {
    let listed: Vec<String> = ports
        .iter()
        .take(5)
        .map(|p| format!("{} ({})", p.port, p.attempts))
        .collect();
    let more = total.saturating_sub(listed.len());
    format!(
        "port{} {}{}",
        if total == 1 { "" } else { "s" },
        listed.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

fn unanswered(host: IpAddr, eps: &[&Endpoint], scanners: &FxHashSet<IpAddr>) -> Option<Finding> {
    let m = merge(eps, |e| e.unanswered.as_deref())?;
    if !m.tallies.iter().any(|(_, t)| t.waited) {
        return None;
    }
    // Late answers turned some of them into answered ones.
    let late: u64 = eps
        .iter()
        .filter(|e| e.unanswered.is_some())
        .map(|e| e.late_answered)
        .sum();
    let attempts = m.attempts.saturating_sub(late);
    if attempts == 0 {
        return None;
    }
    let silent_ports: FxHashSet<u16> = m.tallies.iter().map(|(p, _)| *p).collect();
    let mut answered_ports: Vec<u16> = eps
        .iter()
        .filter(|e| e.answered > 0 || e.refused.is_some())
        .map(|e| e.addr.port())
        .collect();
    answered_ports.sort_unstable();
    answered_ports.dedup();
    let other_port_answered = answered_ports.iter().any(|p| !silent_ports.contains(p));
    answered_ports.truncate(PORTS_LISTED);
    let duration = m.last_ts - m.first.0;
    let rate = m.syns as f64 / secs(duration.max(1_000_000_000));
    let sources = m.sources.count();
    let sources_text = about(sources, m.sources.estimated());
    let ports_count = m.tallies.len() as u64;
    let verdict = if sources >= FLOOD_SOURCES && rate >= FLOOD_RATE {
        SilenceVerdict::Flood
    } else if only_scanners(&m, scanners) || ports_count >= SCAN_TARGETS && sources <= 4 {
        SilenceVerdict::Scan
    } else if other_port_answered {
        SilenceVerdict::FirewallDrop
    } else if sources <= DOWN_MAX_SOURCES {
        SilenceVerdict::ServerDown
    } else {
        SilenceVerdict::Unclear
    };
    let mut top: FxHashMap<IpAddr, u64> = FxHashMap::default();
    for (_, t) in &m.tallies {
        for (ip, n) in &t.top {
            *top.entry(*ip).or_default() += n;
        }
    }
    let mut top: Vec<(IpAddr, u64)> = top.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(SOURCES_LISTED);
    let ports = port_tallies(&m);
    let server = host.to_string();
    let what = match verdict {
        SilenceVerdict::Flood => format!(
            "{sources_text} sources at {rate:.0} SYN/s: a SYN flood (or a stampede of clients) — check SYN cookies and the listen backlog, and filter upstream"
        ),
        SilenceVerdict::Scan => "one source trying many ports: a scan (see the scan finding)".to_string(),
        SilenceVerdict::FirewallDrop => format!(
            "the same server answered port{} {} meanwhile: a firewall drops these — check its rules for the silent ports",
            if answered_ports.len() == 1 { "" } else { "s" },
            answered_ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
        ),
        SilenceVerdict::ServerDown => format!(
            "{sources_text} client(s) retrying and the server answered nothing: it (or its host) was down or unreachable"
        ),
        SilenceVerdict::Unclear => format!("{sources_text} sources"),
    };
    let message = format!(
        "{attempts} connection attempt(s) ({} SYNs) to {server} got no answer over {} — {}; {what}",
        m.syns,
        human(duration),
        ports_text(&ports, m.tallies.len()),
    );
    let severity = match verdict {
        SilenceVerdict::Flood | SilenceVerdict::ServerDown => Severity::Error,
        // The scan finding tells it.
        SilenceVerdict::Scan => Severity::Info,
        _ => Severity::Warning,
    };
    Some(Finding::new(
        severity,
        None,
        vec![m.first.1],
        m.first.0,
        message,
        Details::SynUnanswered(SynUnanswered {
            answered_ports,
            attempts,
            duration_s: s6(duration),
            estimated: m.estimated,
            ports,
            ports_count,
            rate_per_s: round(rate, 3),
            server,
            sources,
            streams: m.streams.clone(),
            syns: m.syns,
            top_sources: top
                .into_iter()
                .map(|(ip, n)| SourceTally {
                    attempts: n,
                    source: ip.to_string(),
                })
                .collect(),
            verdict,
        }),
    ))
}

fn refused(host: IpAddr, eps: &[&Endpoint], scanners: &FxHashSet<IpAddr>) -> Option<Finding> {
    let m = merge(eps, |e| e.refused.as_deref())?;
    let by_scanners = only_scanners(&m, scanners);
    let ports = port_tallies(&m);
    let server = host.to_string();
    let sources = m.sources.count();
    let duration = m.last_ts - m.first.0;
    let message = format!(
        "{} connection attempt(s) to {server} from {} source(s) were refused with a reset (RST answering the SYN) — {}: {}",
        m.attempts,
        about(sources, m.sources.estimated()),
        ports_text(&ports, m.tallies.len()),
        if by_scanners {
            "all from a scanner (see the scan finding)"
        } else {
            "nothing listened there, or the server (or a firewall) rejects them"
        }
    );
    Some(Finding::new(
        // The scan finding tells a scanner's refusals.
        if by_scanners {
            Severity::Info
        } else {
            Severity::Warning
        },
        None,
        vec![m.first.1],
        m.first.0,
        message,
        Details::ConnectionRefused(Refused {
            attempts: m.attempts,
            duration_s: s6(duration),
            estimated: m.estimated,
            ports_count: m.tallies.len() as u64,
            ports,
            server,
            sources,
            streams: m.streams.clone(),
        }),
    ))
}

/// Many ports or hosts, mostly failed.
fn is_scan(s: &Source) -> bool {
    (s.ports.count() >= SCAN_TARGETS || s.hosts.count() >= SCAN_TARGETS)
        && s.answered as f64 <= SCAN_MAX_ANSWERED * s.attempts as f64
}

fn scan(s: &Source) -> Option<Finding> {
    if !is_scan(s) {
        return None;
    }
    let (ports, hosts) = (s.ports.count(), s.hosts.count());
    let many_ports = ports >= SCAN_TARGETS;
    let many_hosts = hosts >= SCAN_TARGETS;
    let swept = match (many_ports, many_hosts) {
        (true, true) => "ports_and_hosts",
        (true, false) => "ports",
        _ => "hosts",
    };
    let duration = s.last_ts - s.first_ts;
    let message = format!(
        "{} tried {} port(s) on {} host(s) in {} ({} attempts): {} refused, {} unanswered, {} answered — a {} scan",
        s.ip,
        about(ports, s.ports.estimated()),
        about(hosts, s.hosts.estimated()),
        human(duration),
        s.attempts,
        s.refused,
        s.unanswered,
        s.answered,
        match swept {
            "ports" => "port",
            "hosts" => "host (one port on many hosts)",
            _ => "port and host",
        }
    );
    Some(Finding::new(
        Severity::Warning,
        None,
        Vec::new(),
        s.first_ts,
        message,
        Details::Scan(Scan {
            answered: s.answered,
            attempts: s.attempts,
            duration_s: s6(duration),
            estimated: s.ports.estimated() || s.hosts.estimated(),
            hosts,
            ports,
            refused: s.refused,
            source: s.ip.to_string(),
            streams: s.streams.clone(),
            swept,
            unanswered: s.unanswered,
        }),
    ))
}

/// How the spacing of the attempts grows.
fn backoff(gaps: &[i64]) -> (&'static str, Option<f64>) {
    if gaps.len() < 2 {
        return ("unknown", None);
    }
    let mut ratios: Vec<f64> = gaps
        .windows(2)
        .map(|w| w[1] as f64 / (w[0].max(1)) as f64)
        .collect();
    let all_even = ratios.iter().all(|r| (0.8..=1.25).contains(r));
    let all_double = ratios.iter().all(|&r| r >= 1.5);
    let rising = ratios.iter().all(|&r| r >= 1.0);
    ratios.sort_by(|a, b| a.total_cmp(b));
    let factor = round(ratios[ratios.len() / 2], 3);
    let kind = if all_even {
        "none"
    } else if all_double {
        "exponential"
    } else if rising {
        "increasing"
    } else {
        "irregular"
    };
    (kind, Some(factor))
}

fn median(v: &[i64]) -> i64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or(0)
}

/// What a finding kind says happened to a connection.
fn died_by(kind: Kind) -> &'static str {
    match kind {
        Kind::ResetAfterHeartbeatDeadline => "a reset after a heartbeat deadline",
        Kind::HeartbeatGaveUp => "its heartbeat giving up",
        Kind::LateHeartbeat => "a late beat",
        Kind::MissedHeartbeat => "missed beats",
        Kind::UnansweredHeartbeat => "an unanswered beat",
        Kind::KeepaliveUnanswered => "keep-alive finding the peer gone",
        Kind::MiddleboxStateLoss => "a middlebox losing its state",
        Kind::MiddleboxIdleReset => "a middlebox reset after idle",
        Kind::InjectedReset => "a forged reset",
        Kind::ConnectionReset => "a reset",
        _ => "",
    }
}

/// The (client, server) pairs whose connections [`reconnect_storms`] looks at for the one a
/// storm followed.
pub(crate) fn storm_pairs(
    storms: &[&StormRecord],
    endpoints: &[Endpoint],
) -> FxHashSet<(IpAddr, SocketAddr)> {
    storms
        .iter()
        .map(|s| (s.client, endpoints[s.endpoint as usize].addr))
        .collect()
}

/// One `reconnect_storm` per storm (see [`attempt_findings`]), tied to the connection of the
/// same client and server that ended shortly before it, from the streams' reports.
pub(crate) fn reconnect_storms(
    storms: &[&StormRecord],
    endpoints: &[Endpoint],
    reports: &[StreamReport],
    others: &[Finding],
) -> Vec<Finding> {
    if storms.is_empty() {
        return Vec::new();
    }
    // The connections of the storms' (client, server) pairs, in one pass over the reports.
    let keys = storm_pairs(storms, endpoints);
    let mut conns: FxHashMap<(IpAddr, SocketAddr), Vec<&StreamReport>> = FxHashMap::default();
    for r in reports {
        let (c, s) = (r.endpoints.client, r.endpoints.server);
        if keys.contains(&(c.ip(), s)) {
            conns.entry((c.ip(), s)).or_default().push(r);
        }
    }
    let worst: FxHashMap<u32, (Severity, Kind)> = {
        let streams: FxHashSet<u32> = conns.values().flatten().map(|r| r.stream).collect();
        let mut w: FxHashMap<u32, (Severity, Kind)> = FxHashMap::default();
        for f in others {
            let Some(s) = f.stream.filter(|s| streams.contains(s)) else {
                continue;
            };
            if died_by(f.kind()).is_empty() {
                continue;
            }
            let e = w.entry(s).or_insert((f.severity, f.kind()));
            *e = (*e).min((f.severity, f.kind()));
        }
        w
    };
    let mut out = Vec::new();
    for st in storms {
        let server = endpoints[st.endpoint as usize].addr;
        let failed_streams: FxHashSet<u32> = st.failed.iter().map(|a| a.stream).collect();
        let earlier = conns.get(&(st.client, server)).and_then(|rs| {
            rs.iter()
                .filter(|r| !failed_streams.contains(&r.stream))
                .map(|r| (r.end.shown_ns(), *r))
                .filter(|(end, _)| *end <= st.first_ts && st.first_ts - end <= EARLIER_WITHIN_NS)
                .max_by_key(|(end, r)| (*end, r.stream))
        });
        let after = earlier.map(|(end, r)| EarlierConnection {
            by: r.close.as_ref().map(|c| c.by),
            cause: worst.get(&r.stream).map(|w| w.1),
            close: r.close.as_ref().map(|c| c.kind),
            ended: r.end.to_string(),
            reconnect_after_s: s6(st.first_ts - end),
            stream: r.stream,
        });
        let mut times: Vec<i64> = st.failed.iter().map(|a| a.ts).collect();
        if let Some(s) = st.success {
            times.push(s.ts);
        }
        let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let (backoff, factor) = backoff(&gaps);
        let spacing = median(&gaps);
        let refused = st
            .failed
            .iter()
            .filter(|a| a.outcome == Outcome::Refused)
            .count() as u32;
        let unanswered = st.failed_count - refused;
        let mut frames: Vec<u32> = st.failed.iter().take(16).map(|a| a.frame).collect();
        frames.extend(st.success.map(|s| s.frame));
        let failures = match (refused, unanswered) {
            (r, 0) => format!("{r} refused attempts"),
            (0, u) => format!("{u} unanswered attempts"),
            (r, u) => format!("{} failed attempts ({r} refused, {u} unanswered)", r + u),
        };
        let spacing_text = match backoff {
            "none" => format!("at {} spacing (no backoff)", human(spacing)),
            "exponential" => format!(
                "with exponential backoff (×{} each time, {} to {})",
                factor.unwrap_or(0.0),
                human(gaps.first().copied().unwrap_or(0)),
                human(gaps.last().copied().unwrap_or(0))
            ),
            other => format!("{} apart typically ({other} spacing)", human(spacing)),
        };
        let death = after
            .as_ref()
            .map(|a| {
                let how = a
                    .cause
                    .map(died_by)
                    .map(|d| format!("died by {d}"))
                    .or_else(|| {
                        a.close.map(|c| {
                            format!(
                                "ended ({} by the {})",
                                c.to_uppercase(),
                                a.by.unwrap_or("?")
                            )
                        })
                    })
                    .unwrap_or_else(|| "ended".into());
                format!("stream {} {how}; ", a.stream)
            })
            .unwrap_or_default();
        let through = match st.success {
            Some(s) => format!(
                "; it got through {} after the first (stream {})",
                human(s.ts - st.first_ts),
                s.stream
            ),
            None => "; it had not got through by the end of the capture".to_string(),
        };
        let message = format!(
            "{death}client {} retried {server}: {failures} {spacing_text}{through}",
            st.client
        );
        out.push(Finding::new(
            Severity::Warning,
            st.success.map(|s| s.stream),
            frames,
            st.first_ts,
            message,
            Details::ReconnectStorm(Storm {
                after,
                attempts: st.failed_count,
                backoff,
                backoff_factor: factor,
                client: st.client.to_string(),
                gaps_s: gaps.iter().take(16).map(|&g| s6(g)).collect(),
                got_through: st.success.map(|s| s.stream),
                got_through_after_s: st.success.map(|s| s6(s.ts - st.first_ts)),
                refused,
                server: server.to_string(),
                spacing_s: s6(spacing),
                streams: st.failed.iter().take(16).map(|a| a.stream).collect(),
                unanswered,
            }),
        ));
    }
    out
}

/// A count as the text says it: "about N" when it is a sketch's estimate (±3 %), so that a
/// million-source flood does not read as an exact "128000 sources".
pub(crate) fn about(n: u64, estimated: bool) -> String {
    if estimated {
        format!("about {n}")
    } else {
        n.to_string()
    }
}
