//! Heartbeat client: probes on a fixed monotonic schedule, measures each reply against its own
//! send time, declares the peer dead after N consecutive misses, reconnects with jittered
//! exponential backoff.

use super::dialect::{Dialect, Heard, Slot, Speaker};
use super::histogram::{Histogram, Summary};
use super::protocol::Wire;
use crate::settings::{KeepaliveSettings, SocketKeepalive};
use rand::Rng;
use serde::Serialize;
use socket2::SockRef;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// Reconnect delays: the n-th consecutive failure waits a random time in
/// `[cap/2, cap]` with `cap = min(max, min × 2^n)`. The randomness keeps many clients that lost
/// the same server from reconnecting in lockstep; the lower half keeps the delay from
/// collapsing to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The smallest cap: how quickly a client retries a server that just went away.
    pub min: Duration,
    /// The largest cap: how long a client may wait for a server that stays away.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before the next attempt after `failures` consecutive failures.
    pub fn delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        let cap = self.min.saturating_mul(factor).min(self.max).max(self.min);
        let low = cap / 2;
        let span = (cap - low).as_micros() as u64;
        low + Duration::from_micros(rng.gen_range(0..=span))
    }
}

/// Longest period, timeout or delay accepted (366 days).
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// What a heartbeat client connects to and how it beats; [`ClientConfig::new`] has the defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The heartbeat server's address.
    pub connect: SocketAddr,
    /// Source address to connect from (`None`: the kernel chooses).
    pub bind: Option<IpAddr>,
    /// Time between probes, measured from the first probe: probe k is due at `start + k × every`.
    pub every: Duration,
    /// A probe without a reply after this long is a miss.
    pub timeout: Duration,
    /// Consecutive misses that declare the peer dead (the incident's client restarted on one).
    pub misses: u32,
    /// The probe and reply bytes; must match the server's.
    pub wire: Wire,
    /// What the probes are: the byte protocol of `wire`, or an application protocol's messages.
    pub dialect: Dialect,
    /// Kernel keep-alive on the client socket underneath the heartbeat.
    pub keepalive: Option<KeepaliveSettings>,
    /// How long one connection attempt may take before it counts as failed.
    pub connect_timeout: Duration,
    /// Delays between reconnection attempts.
    pub backoff: Backoff,
    /// Reconnect after the peer is dead or the connection ends; `false` returns instead.
    pub reconnect: bool,
    /// Delay before the first probe of each connection; spreads many connections over the
    /// period instead of beating all at once.
    pub first_probe_delay: Duration,
}

impl ClientConfig {
    /// A client for `connect` that probes every 45 s, gives a reply 1 s, declares the peer dead
    /// after 3 consecutive misses and reconnects.
    pub fn new(connect: SocketAddr) -> Self {
        ClientConfig {
            connect,
            bind: None,
            every: Duration::from_secs(45),
            timeout: Duration::from_secs(1),
            misses: 3,
            wire: Wire::default(),
            dialect: Dialect::Bytes,
            keepalive: None,
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            reconnect: true,
            first_probe_delay: Duration::ZERO,
        }
    }

    /// Checks the values that would make the client misbehave, with a message for a user.
    pub fn validate(&self) -> Result<(), String> {
        if self.every.is_zero() {
            return Err("the probe period must be above zero".into());
        }
        if self.timeout.is_zero() {
            return Err("the reply timeout must be above zero".into());
        }
        if self.misses == 0 {
            return Err("misses must be at least 1".into());
        }
        if self.backoff.min.is_zero() || self.backoff.max < self.backoff.min {
            return Err("backoff needs 0 < min <= max".into());
        }
        // Deadlines are monotonic instants; absurd durations would overflow them.
        for (name, d) in [
            ("the probe period", self.every),
            ("the reply timeout", self.timeout),
            ("the connect timeout", self.connect_timeout),
            ("the longest backoff", self.backoff.max),
            ("the first probe delay", self.first_probe_delay),
        ] {
            if d > MAX_DURATION {
                return Err(format!(
                    "{name} of {} is too long (at most 366 days)",
                    crate::format_duration(d)
                ));
            }
        }
        self.wire.validate().map_err(|e| e.to_string())?;
        self.dialect.validate_period(self.every)?;
        if let Some(k) = &self.keepalive {
            k.validate().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// What happened, for logs. `conn` in [`EventSink`] tells connections of one process apart.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// A connection is up.
    Connected {
        /// Our address and port, to find the connection in a capture.
        local: SocketAddr,
        /// The server's address and port.
        peer: SocketAddr,
        /// The kernel keep-alive values the socket reports, when keep-alive was configured.
        keepalive: Option<SocketKeepalive>,
    },
    /// A connection attempt failed; a reconnect follows unless disabled.
    ConnectFailed {
        /// The operating system's error, or the connect timeout.
        error: String,
    },
    /// A reply within the timeout.
    Reply {
        /// The probe's number on this connection, from 0.
        seq: u64,
        /// Time from the probe's sending to its reply.
        rtt: Duration,
        /// How late the probe left against its schedule.
        lateness: Duration,
    },
    /// The session of an application protocol is open (Logon answered, AMQP connection
    /// opened); beats start now.
    SessionOpen {
        /// The period beats follow (AMQP's negotiated heartbeat).
        every: Duration,
    },
    /// An unsolicited beat left (FIX Heartbeat, AMQP heartbeat frame) while the peer was
    /// heard from recently enough.
    Beat {
        /// The slot's number on this connection, from 0.
        seq: u64,
        /// How late it left against its schedule.
        lateness: Duration,
        /// Time since the peer last sent anything.
        peer_silent_for: Duration,
    },
    /// A reply to a probe already counted as missed: the peer is slow, not gone.
    LateReply {
        /// The probe's number on this connection.
        seq: u64,
        /// Time from the probe's sending to its reply.
        rtt: Duration,
    },
    /// A probe got no reply within the timeout.
    Miss {
        /// The probe's number on this connection.
        seq: u64,
        /// Misses in a row so far, this one included.
        consecutive: u32,
    },
    /// Probe slots skipped because the client itself fell more than a period behind.
    Skipped {
        /// Probes not sent.
        slots: u64,
        /// How far behind schedule the client was.
        behind: Duration,
    },
    /// Enough consecutive misses: the peer is declared dead and the connection dropped.
    Dead {
        /// The misses in a row that decided it.
        consecutive: u32,
        /// Time since the peer last sent anything.
        silent_for: Duration,
    },
    /// The connection ended for another reason than a dead peer.
    Closed {
        /// Closed by the peer, reset, kernel timeout, or a protocol error.
        reason: String,
    },
    /// A reconnection attempt is scheduled.
    Reconnecting {
        /// The backoff delay before it.
        delay: Duration,
    },
    /// An application frame from the peer.
    App {
        /// The frame's payload.
        payload: Vec<u8>,
    },
    /// An outgoing application payload longer than the wire's limit, not sent.
    AppTooLong {
        /// The payload's length.
        len: usize,
    },
}

/// Receives every [`ClientEvent`] with the number of the connection it concerns (0-based
/// within the process), so one sink can log many connections.
pub type EventSink = Arc<dyn Fn(usize, &ClientEvent) + Send + Sync>;

/// How [`run_client`] ended when it does not reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientExit {
    /// `misses` consecutive probes went unanswered.
    Dead,
    /// The connection ended (closed by the peer, reset, timed out by the kernel, bad data).
    Closed(String),
    /// The connection could not be made, or the configuration is invalid (with the reason).
    ConnectFailed(String),
}

#[derive(Default)]
struct Counters {
    probes: u64,
    replies: u64,
    late_replies: u64,
    misses: u64,
    dead: u64,
    connects: u64,
    connect_failures: u64,
    reconnects: u64,
    skipped_slots: u64,
    closed: u64,
    rtt: Histogram,
    lateness: Histogram,
}

/// Metrics shared by every connection of a client process.
#[derive(Default)]
pub struct ClientStats {
    inner: Mutex<Counters>,
}

/// The counters of [`ClientStats`] at one moment, for `--stats` output.
#[derive(Debug, Clone, Serialize)]
pub struct ClientStatsSnapshot {
    /// Probes sent on all connections.
    pub probes_sent: u64,
    /// Replies within the timeout.
    pub replies: u64,
    /// Replies after the timeout (the probe was already a miss).
    pub late_replies: u64,
    /// Probes without a reply within the timeout.
    pub misses: u64,
    /// Times a peer was declared dead.
    pub dead_declared: u64,
    /// Successful connections.
    pub connects: u64,
    /// Failed connection attempts.
    pub connect_failures: u64,
    /// Connection attempts after the first (each follows a failure or an ended connection).
    pub reconnects: u64,
    /// Connections that ended, whatever the reason.
    pub connections_ended: u64,
    /// Probe slots skipped because the client fell behind its schedule.
    pub skipped_slots: u64,
    /// Reply time of each probe, measured from its own send time.
    pub rtt: Summary,
    /// How late each probe left against its scheduled deadline.
    pub lateness: Summary,
}

impl ClientStats {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        // A panic elsewhere while holding the lock leaves plain counters: still usable.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Reads every counter at once (under the lock, so they are consistent).
    pub fn snapshot(&self) -> ClientStatsSnapshot {
        self.with(|c| ClientStatsSnapshot {
            probes_sent: c.probes,
            replies: c.replies,
            late_replies: c.late_replies,
            misses: c.misses,
            dead_declared: c.dead,
            connects: c.connects,
            connect_failures: c.connect_failures,
            reconnects: c.reconnects,
            connections_ended: c.closed,
            skipped_slots: c.skipped_slots,
            rtt: c.rtt.summary(),
            lateness: c.lateness.summary(),
        })
    }

    /// Empties the RTT and lateness histograms, keeping the counters: to leave a warm-up
    /// (connection setup) out of the latency figures without hiding its misses.
    pub fn reset_histograms(&self) {
        self.with(|c| {
            c.rtt = Histogram::default();
            c.lateness = Histogram::default();
        })
    }

    /// Copies of the raw histograms (RTT, lateness), e.g. to merge across processes.
    pub fn histograms(&self) -> (Histogram, Histogram) {
        self.with(|c| (c.rtt.clone(), c.lateness.clone()))
    }
}

struct Outstanding {
    seq: u64,
    sent: Instant,
    lateness: Duration,
    missed: bool,
}

enum SessionEnd {
    Dead,
    Closed(String),
}

/// Runs one heartbeat client connection: connect, beat, and (with `reconnect`) start over after
/// each death, forever. Drop the future to stop it.
pub async fn run_client(
    config: ClientConfig,
    conn: usize,
    stats: Arc<ClientStats>,
    events: EventSink,
) -> ClientExit {
    run_client_with_app(config, conn, stats, events, None).await
}

/// [`run_client`] that also sends application payloads received on `outbound` as application
/// frames on the same connection, between probes. Payloads sent while disconnected wait in the
/// channel for the next connection (its capacity is the application's bound). Frames from the
/// peer arrive as [`ClientEvent::App`].
pub async fn run_client_with_app(
    config: ClientConfig,
    conn: usize,
    stats: Arc<ClientStats>,
    events: EventSink,
    mut outbound: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
) -> ClientExit {
    if let Err(e) = config.validate() {
        return ClientExit::ConnectFailed(e);
    }
    let mut failures: u32 = 0;
    let mut first = true;
    loop {
        if !first {
            stats.with(|c| c.reconnects += 1);
        }
        first = false;
        let exit = match connect(&config).await {
            Err(e) => {
                stats.with(|c| c.connect_failures += 1);
                let error = format!("connect to {} failed: {e}", config.connect);
                events(
                    conn,
                    &ClientEvent::ConnectFailed {
                        error: error.clone(),
                    },
                );
                ClientExit::ConnectFailed(error)
            }
            Ok((stream, keepalive)) => {
                stats.with(|c| c.connects += 1);
                if let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) {
                    events(
                        conn,
                        &ClientEvent::Connected {
                            local,
                            peer,
                            keepalive,
                        },
                    );
                }
                let (end, got_reply) =
                    session(&stream, &config, conn, &stats, &events, &mut outbound).await;
                if got_reply {
                    failures = 0;
                }
                stats.with(|c| c.closed += 1);
                match end {
                    SessionEnd::Dead => ClientExit::Dead,
                    SessionEnd::Closed(reason) => {
                        events(
                            conn,
                            &ClientEvent::Closed {
                                reason: reason.clone(),
                            },
                        );
                        ClientExit::Closed(reason)
                    }
                }
            }
        };
        if !config.reconnect {
            return exit;
        }
        let delay = config.backoff.delay(failures, &mut rand::thread_rng());
        failures = failures.saturating_add(1);
        events(conn, &ClientEvent::Reconnecting { delay });
        tokio::time::sleep(delay).await;
    }
}

async fn connect(config: &ClientConfig) -> io::Result<(TcpStream, Option<SocketKeepalive>)> {
    let socket = if config.connect.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = config.bind {
        // Let connect() pick the port per destination, so one source address serves more than
        // the ephemeral range's worth of bound-but-unconnected sockets.
        set_bind_address_no_port(&socket);
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = tokio::time::timeout(config.connect_timeout, socket.connect(config.connect))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer within {}",
                    crate::format_duration(config.connect_timeout)
                ),
            )
        })??;
    // Probes are single bytes: Nagle would hold one back while an earlier one is unacknowledged.
    stream.set_nodelay(true)?;
    let keepalive = match &config.keepalive {
        None => None,
        Some(k) => Some(
            k.apply(SockRef::from(&stream))
                .map_err(|e| io::Error::other(e.to_string()))?,
        ),
    };
    Ok((stream, keepalive))
}

fn set_bind_address_no_port(socket: &TcpSocket) {
    let one: libc::c_int = 1;
    // SAFETY: the fd is a live socket owned by `socket`; the value is a c_int of the given size.
    // Failure only costs port-range headroom, so it is ignored.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Beats on one connection until the peer is dead or the connection ends. Returns whether any
/// reply arrived in time (which resets the reconnect backoff).
///
/// One engine for every dialect: slot k is due at `start + k × every`; a probe slot expects its
/// answer within `timeout`; a beat slot (FIX Heartbeat, AMQP heartbeat frame) is a miss when
/// the peer has sent nothing for longer than `every + timeout`, since a peer beating on the same
/// period is then overdue. `misses` consecutive misses declare the peer dead.
async fn session(
    stream: &TcpStream,
    config: &ClientConfig,
    conn: usize,
    stats: &ClientStats,
    events: &EventSink,
    outbound: &mut Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
) -> (SessionEnd, bool) {
    let mut speaker = Speaker::new(config.dialect, config.wire, config.every);
    let mut outstanding: VecDeque<Outstanding> = VecDeque::new();
    let mut out: Vec<u8> = Vec::new();
    let mut every = config.every;
    // Application protocols beat only once their session is open; until then the handshake
    // has the connect timeout to finish.
    let opened = speaker.open(&mut out);
    let mut next_due = opened.then(|| Instant::now() + config.first_probe_delay);
    let mut handshake_deadline = (!opened).then(|| Instant::now() + config.connect_timeout);
    let mut seq: u64 = 0;
    let mut consecutive: u32 = 0;
    let mut got_reply = false;
    let mut last_heard = Instant::now();
    if let Err(e) = flush(stream, &mut out) {
        return (SessionEnd::Closed(format!("write failed: {e}")), got_reply);
    }
    loop {
        let next_timeout = outstanding
            .iter()
            .find(|p| !p.missed)
            .map(|p| p.sent + config.timeout);
        tokio::select! {
            // Timer branches first: when a reply and its deadline are ready together, the
            // deadline decides, so a timeout means "not in time" without racing the reader.
            biased;
            _ = sleep_until_opt(handshake_deadline) => {
                return (SessionEnd::Closed(format!(
                    "no {} within {}", speaker.awaited(), crate::format_duration(config.connect_timeout)
                )), got_reply);
            }
            _ = sleep_until_opt(next_due) => {
                let due = next_due.unwrap_or_else(Instant::now);
                let now = Instant::now();
                let lateness = now.saturating_duration_since(due);
                let peer_silent_for = now.saturating_duration_since(last_heard);
                let peer_overdue = peer_silent_for > every + config.timeout;
                let slot = speaker.slot(seq, peer_overdue, &mut out);
                stats.with(|c| { c.probes += 1; c.lateness.record(lateness); });
                match slot {
                    Slot::Probe => {
                        outstanding.push_back(Outstanding { seq, sent: now, lateness, missed: false });
                    }
                    Slot::Beat if peer_overdue => {
                        consecutive += 1;
                        stats.with(|c| c.misses += 1);
                        events(conn, &ClientEvent::Miss { seq, consecutive });
                    }
                    Slot::Beat => {
                        consecutive = 0;
                        events(conn, &ClientEvent::Beat { seq, lateness, peer_silent_for });
                    }
                }
                seq += 1;
                if let Err(e) = flush(stream, &mut out) {
                    return (SessionEnd::Closed(format!("write failed: {e}")), got_reply);
                }
                if consecutive >= config.misses {
                    return declare_dead(stream, &mut speaker, stats, events, conn, consecutive, last_heard, got_reply);
                }
                let mut due = due + every;
                if due <= now {
                    // More than a period behind: skip the slots already past rather than
                    // bursting probes; the schedule stays anchored at `start`.
                    let behind = now - due;
                    let slots = behind.as_nanos() / every.as_nanos() + 1;
                    due += every.saturating_mul(u32::try_from(slots).unwrap_or(u32::MAX));
                    stats.with(|c| c.skipped_slots += slots as u64);
                    events(conn, &ClientEvent::Skipped { slots: slots as u64, behind });
                }
                next_due = Some(due);
            }
            _ = sleep_until_opt(next_timeout) => {
                let Some(p) = outstanding.iter_mut().find(|p| !p.missed) else { continue };
                p.missed = true;
                consecutive += 1;
                stats.with(|c| c.misses += 1);
                events(conn, &ClientEvent::Miss { seq: p.seq, consecutive });
                if consecutive >= config.misses {
                    return declare_dead(stream, &mut speaker, stats, events, conn, consecutive, last_heard, got_reply);
                }
            }
            message = recv_opt(outbound), if outbound.is_some() => {
                match message {
                    // The application hung up: no more outbound frames, beats go on.
                    None => *outbound = None,
                    Some(payload) => {
                        if config.dialect != Dialect::Bytes {
                            // The application speaks the protocol itself: its bytes go as given.
                            out.extend_from_slice(&payload);
                        } else if config.wire.encode_app(&payload, &mut out).is_err() {
                            events(conn, &ClientEvent::AppTooLong { len: payload.len() });
                            continue;
                        }
                        if let Err(e) = flush(stream, &mut out) {
                            return (SessionEnd::Closed(format!("write failed: {e}")), got_reply);
                        }
                    }
                }
            }
            ready = stream.writable(), if !out.is_empty() => {
                if let Err(e) = ready.and_then(|_| flush(stream, &mut out)) {
                    return (SessionEnd::Closed(format!("write failed: {e}")), got_reply);
                }
            }
            ready = stream.readable() => {
                if let Err(e) = ready {
                    return (SessionEnd::Closed(e.to_string()), got_reply);
                }
                let now = Instant::now();
                let mut buf = [0u8; 2048];
                let n = match stream.try_read(&mut buf) {
                    Ok(0) => return (SessionEnd::Closed("peer closed the connection".into()), got_reply),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return (SessionEnd::Closed(e.to_string()), got_reply),
                };
                last_heard = now;
                let mut unexpected_reply = false;
                let mut goodbye = None;
                let dialect = config.dialect;
                let fed = speaker.feed(&buf[..n], &mut out, &mut |heard| match heard {
                    Heard::Ready { every: negotiated } => {
                        if let Some(e) = negotiated {
                            every = e;
                        }
                        handshake_deadline = None;
                        next_due = Some(now + config.first_probe_delay);
                        events(conn, &ClientEvent::SessionOpen { every });
                    }
                    Heard::Reply { id } => {
                        // Without an id, TCP's order and the peer's in-order answers say
                        // this reply belongs to the oldest unanswered probe.
                        let at = match id {
                            None => (!outstanding.is_empty()).then_some(0),
                            Some(id) => outstanding.iter().position(|p| dialect.probe_id(p.seq) == id),
                        };
                        let Some(p) = at.and_then(|at| outstanding.remove(at)) else {
                            // An answer naming no probe of ours (a stale id) proves the peer
                            // alive and nothing more; an anonymous one breaks the order.
                            unexpected_reply |= id.is_none();
                            return;
                        };
                        let rtt = now - p.sent;
                        if p.missed {
                            stats.with(|c| { c.late_replies += 1; c.rtt.record(rtt); });
                            events(conn, &ClientEvent::LateReply { seq: p.seq, rtt });
                        } else {
                            consecutive = 0;
                            got_reply = true;
                            stats.with(|c| { c.replies += 1; c.rtt.record(rtt); });
                            events(conn, &ClientEvent::Reply { seq: p.seq, rtt, lateness: p.lateness });
                        }
                    }
                    Heard::App(payload) => events(conn, &ClientEvent::App { payload }),
                    Heard::Goodbye(text) => goodbye = Some(text),
                });
                if let Err(e) = fed {
                    return (SessionEnd::Closed(format!("protocol error: {e}")), got_reply);
                }
                if unexpected_reply {
                    return (SessionEnd::Closed("protocol error: a reply with no probe outstanding".into()), got_reply);
                }
                if let Err(e) = flush(stream, &mut out) {
                    return (SessionEnd::Closed(format!("write failed: {e}")), got_reply);
                }
                if let Some(text) = goodbye {
                    return (SessionEnd::Closed(text), got_reply);
                }
            }
        }
    }
}

/// Ends a session whose peer missed `consecutive` beats: the protocol's goodbye (FIX Logout
/// "no heartbeat", AMQP Connection.Close) is written if the socket takes it now, then the
/// connection is dropped.
#[allow(clippy::too_many_arguments)]
fn declare_dead(
    stream: &TcpStream,
    speaker: &mut Speaker,
    stats: &ClientStats,
    events: &EventSink,
    conn: usize,
    consecutive: u32,
    last_heard: Instant,
    got_reply: bool,
) -> (SessionEnd, bool) {
    stats.with(|c| c.dead += 1);
    events(
        conn,
        &ClientEvent::Dead {
            consecutive,
            silent_for: last_heard.elapsed(),
        },
    );
    let mut out = Vec::new();
    speaker.goodbye("no heartbeat", &mut out);
    let _ = flush(stream, &mut out);
    (SessionEnd::Dead, got_reply)
}

async fn recv_opt(rx: &mut Option<tokio::sync::mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Writes what the socket takes now; the rest waits for the `writable` branch.
fn flush(stream: &TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    while !out.is_empty() {
        match stream.try_write(out) {
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let mut rng = rand::thread_rng();
        let mut distinct = std::collections::HashSet::new();
        for failures in 0..40 {
            let cap =
                Duration::from_millis(100u64.saturating_mul(1 << failures.min(20))).min(b.max);
            for _ in 0..20 {
                let d = b.delay(failures, &mut rng);
                assert!(
                    d >= cap / 2 && d <= cap,
                    "failures={failures} d={d:?} cap={cap:?}"
                );
                distinct.insert(d);
            }
        }
        assert!(distinct.len() > 100, "delays must be jittered");
    }
}
