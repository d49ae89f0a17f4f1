//! keepsight's own capture generator: deterministic synthetic captures of a long-lived-connection
//! estate, each with its documented ground truth ([`Truth`]).
//!
//! ```no_run
//! let config = keepsight_gen::Config::new(50_000, 1);
//! let truth = keepsight_gen::generate_file(&config, "small.pcap".as_ref()).unwrap();
//! assert_eq!(truth.counts.frames, 50_000);
//! ```
//!
//! **Determinism.** The same [`Config`] gives a byte-identical file: one seeded ChaCha8 stream
//! drives every choice, actors run in (time, creation) order, frames are ordered by (time,
//! emission). **Size.** Exactly `packets` frames are written; the simulation stops there, so
//! connections still open are cut as in any real capture (the truth says which). **Memory**
//! follows the live connections, not the file: frames wait in a reorder buffer only until no
//! earlier frame can come. The truth keeps one small record per connection.
//!
//! **Capture point.** The servers' switch port: frames from clients arrive through the router
//! and are padded to Ethernet's 60 bytes, server frames are captured unpadded before the NIC.
//! Servers answer within microseconds; clients answer one round trip later. Losses happen beyond
//! the capture point, so every original segment is in the file (tshark never reports "previous
//! segment not captured"). Every connection starts with a three-way handshake (MSS, NOP,
//! window scale 7; no SACK, no timestamps), uses a fresh client port (one `tcp.stream` each) and
//! keeps its window constant (no window updates). IPv4 (DF, per-socket IP ID) for ~85 % of the
//! client hosts, IPv6 with a flow label for the rest. Checksums are correct everywhere.
//!
//! **Traffic** (shares of packets, scaled from `packets` and `duration`; see each module for
//! exactly what it emits and what its truth claims):
//!
//! | share | shape | port | module |
//! |---|---|---|---|
//! | 25 % | application heartbeats, late beats with a reset, reconnects | 7443 | [`shapes::heartbeat`] |
//! | 2.5 % | idle connections with Linux TCP keep-alive, dead peers reset | 15432 | [`shapes::keepalive`] |
//! | 22 % | HTTP/1.1 keep-alive: Content-Length, chunked, 304, idle-timeout closes, races, `Connection: close`, one short body | 80 | [`shapes::http`] |
//! | 12 % | HTTPS keep-alive over TLS 1.2 and 1.3: handshakes, records split and coalesced, lost and resent segments, close_notify or bare FIN, refused handshakes | 443 | [`shapes::tls::https`] |
//! | 8 % | heartbeats inside TLS: fixed-length records every 20 s, late beats with a reset | 8443 | [`shapes::tls::heartbeat`] |
//! | 30 % | bulk downloads with loss: duplicate ACKs, fast and timer retransmissions, aborts | 8873 | [`shapes::bulk`] |
//! | 0.5 % | refused connection attempts (SYN, RST/ACK) | 8874 | [`shapes::refused`] |
//!
//! **Scenarios.** That mix is the default scenario, `estate`. [`Config::shape`] picks another
//! from [`shapes::SCENARIOS`]: `syn-flood` ([`shapes::syn_flood`]), `scan` ([`shapes::scan`]),
//! `reconnect-storm` ([`shapes::reconnect_storm`]) and `short-http`
//! ([`shapes::short_http`]), stream-heavy captures for the benches and the findings about them.
//!
//! What tshark 4.0.17 makes of it is checked by `tests/oracle.rs`: the truth's counts equal
//! tshark's (keep-alive, keep-alive ACK, duplicate ACK, fast retransmission, retransmission,
//! resets, SYN, FIN, streams, HTTP requests and responses, `tcp.len == 1`, TLS ClientHellos and
//! cleartext alerts), per stream and in total; every checksum is good; nothing is malformed.

#![warn(missing_docs)]

pub mod shapes;
pub mod truth;

mod clock;
mod output;
mod packet;
mod rng;
mod scenario;
mod sim;
mod tcp;
mod world;

pub use truth::Truth;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// 2025-01-06T07:00:00Z: the world's time 0 (the first frame comes a little later).
pub const EPOCH_S: u64 = 1_736_146_800;

/// Linux's `tcp_keepalive_time` and `tcp_keepalive_intvl`.
const LINUX_KEEPALIVE_IDLE_S: u64 = 7_200;
const LINUX_KEEPALIVE_INTERVAL_S: u64 = 75;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Frames to write (exactly).
    pub packets: u64,
    /// Seed of the random stream: the same configuration always gives the same bytes.
    pub seed: u64,
    /// Span the populations are sized for, in seconds (the capture spans about this long).
    pub duration_s: u64,
    /// pcapng instead of pcap.
    pub pcapng: bool,
    /// Keep-alive idle time; by default Linux's 7200 s, or two thirds of the duration when that
    /// is shorter (so probes happen inside the capture).
    pub keepalive_idle_s: Option<u64>,
    /// Keep-alive interval; by default Linux's 75 s, scaled down with a shortened idle time.
    pub keepalive_interval_s: Option<u64>,
    /// Which scenario: a name from [`shapes::SCENARIOS`] (`"estate"`, the default, is the mix
    /// described above).
    pub shape: &'static str,
}

impl Config {
    /// `packets` frames from `seed`, over 3 hours, pcap.
    pub fn new(packets: u64, seed: u64) -> Config {
        Config {
            packets,
            seed,
            duration_s: 3 * 3600,
            pcapng: false,
            keepalive_idle_s: None,
            keepalive_interval_s: None,
            shape: shapes::ESTATE.name,
        }
    }

    /// `packets` frames of `scenario` from `seed`, over its default duration, pcap.
    pub fn scenario(scenario: &shapes::Scenario, packets: u64, seed: u64) -> Config {
        Config {
            duration_s: scenario.default_duration_s,
            shape: scenario.name,
            ..Config::new(packets, seed)
        }
    }

    /// The keep-alive idle time and interval in effect, seconds.
    pub fn keepalive(&self) -> (u64, u64) {
        let idle = self
            .keepalive_idle_s
            .unwrap_or(LINUX_KEEPALIVE_IDLE_S.min(self.duration_s * 2 / 3))
            .max(1);
        let interval = self.keepalive_interval_s.unwrap_or(
            (LINUX_KEEPALIVE_INTERVAL_S * idle / LINUX_KEEPALIVE_IDLE_S)
                .clamp(1, LINUX_KEEPALIVE_INTERVAL_S),
        );
        (idle, interval.max(1))
    }

    /// [`Config::keepalive`] in simulated time.
    fn keepalive_us(&self) -> (clock::Micros, clock::Micros) {
        let (idle_s, interval_s) = self.keepalive();
        (idle_s * clock::SEC, interval_s * clock::SEC)
    }
}

/// Writes the capture to `out` and returns it with the truth.
pub fn generate<W: Write>(config: &Config, out: W) -> io::Result<(W, Truth)> {
    if config.packets == 0 || config.duration_s == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "packets and duration must be at least 1",
        ));
    }
    let scenario = shapes::scenario(config.shape).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no scenario named {:?}", config.shape),
        )
    })?;
    let epoch_us = EPOCH_S * clock::SEC;
    let mut rng = rng::Rng::new(config.seed);
    let world = (scenario.world)(config, &mut rng, epoch_us);
    let sink = output::Sink::new(out, config.pcapng)?;
    let mut simulation = sim::Simulation::new(rng, world, sink, epoch_us);
    (scenario.populate)(simulation.ctx(), config);
    let outcome = simulation.run(config.packets)?;
    let truth = Truth {
        generator: concat!("keepsight-gen ", env!("CARGO_PKG_VERSION")).to_string(),
        packets: config.packets,
        seed: config.seed,
        pcapng: config.pcapng,
        first_time_us: outcome.first_us.unwrap_or(epoch_us),
        last_time_us: outcome.last_us,
        counts: outcome.counts,
        connections: outcome.connections,
    };
    Ok((outcome.out, truth))
}

/// Writes a capture of troubled heartbeat connections only (one per plan, to the server
/// `192.0.2.11:port`, started 300 ms apart), until the last one closes; returns it with the
/// truth. See [`shapes::troubled_heartbeat`].
pub fn generate_troubled_heartbeats<W: Write>(
    plans: &[shapes::troubled_heartbeat::Trouble],
    port: u16,
    seed: u64,
    pcapng: bool,
    out: W,
) -> io::Result<(W, Truth)> {
    for p in plans {
        p.check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    let epoch_us = EPOCH_S * clock::SEC;
    let mut rng = rng::Rng::new(seed);
    let (idle, interval) = (LINUX_KEEPALIVE_IDLE_S, LINUX_KEEPALIVE_INTERVAL_S);
    let world = world::World::new(
        &mut rng,
        1,
        1,
        idle * clock::SEC,
        interval * clock::SEC,
        epoch_us,
    );
    let sink = output::Sink::new(out, pcapng)?;
    let mut simulation = sim::Simulation::new(rng, world, sink, epoch_us);
    let ctx = simulation.ctx();
    for (i, p) in plans.iter().enumerate() {
        let client = shapes::troubled_heartbeat::Client::new(p.clone(), port, ctx);
        ctx.spawn(i as u64 * 300 * clock::MS, Box::new(client));
    }
    let outcome = simulation.run(u64::MAX)?;
    let truth = Truth {
        generator: concat!("keepsight-gen ", env!("CARGO_PKG_VERSION")).to_string(),
        packets: outcome.counts.frames,
        seed,
        pcapng,
        first_time_us: outcome.first_us.unwrap_or(epoch_us),
        last_time_us: outcome.last_us,
        counts: outcome.counts,
        connections: outcome.connections,
    };
    Ok((outcome.out, truth))
}

/// Writes the capture to `path`.
pub fn generate_file(config: &Config, path: &Path) -> io::Result<Truth> {
    let file = File::create(path)?;
    let (out, truth) = generate(config, BufWriter::with_capacity(1 << 20, file))?;
    // Flushes the buffer; a write error surfaces here.
    out.into_inner().map_err(|e| e.into_error())?;
    Ok(truth)
}
