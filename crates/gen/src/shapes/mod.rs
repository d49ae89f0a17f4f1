//! The traffic shapes, one module each; the scenarios `--shape` picks ([`SCENARIOS`]); and the
//! mix that sizes the default scenario, the estate, from `--packets` and `--duration`.
//!
//! A shape is an actor of the simulation: either a long-lived population member started once (heartbeat
//! slots, keep-alive idlers) or a connection started by a Poisson arrival process. Adding a shape
//! to the estate means a module with its actor and documented truth, a
//! [`Detail`](crate::truth::Detail) variant, a share in `SHARES` and a line in `populate`.
//! Adding a capture of its own means a module that exports a [`Scenario`] and one line in
//! [`SCENARIOS`].

pub mod bulk;
pub mod heartbeat;
pub mod http;
pub mod keepalive;
pub mod reconnect_storm;
pub mod refused;
pub mod scan;
pub mod short_http;
pub mod syn_flood;
pub mod tls;
pub mod troubled_heartbeat;

use crate::clock::{Micros, SEC};
use crate::rng::Rng;
use crate::sim::{Actor, Ctx};
use crate::world::World;
use crate::Config;

pub use crate::scenario::Scenario;

/// Every scenario, the default first. A new one is a module exporting its `SCENARIO` and a line
/// here.
pub const SCENARIOS: &[&Scenario] = &[
    &ESTATE,
    &syn_flood::SCENARIO,
    &short_http::SCENARIO,
    &scan::SCENARIO,
    &reconnect_storm::SCENARIO,
];

/// The scenario `--shape name` names.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().copied().find(|s| s.name == name)
}

/// The default: the long-lived-connection estate (see the crate's documentation).
pub const ESTATE: Scenario = Scenario {
    name: "estate",
    about: "heartbeats, TCP keep-alive, HTTP keep-alive, HTTPS and heartbeats inside TLS, bulk transfers with loss, refused SYNs",
    default_duration_s: 3 * 3600,
    world: estate_world,
    populate: estate_populate,
};

fn estate_world(config: &Config, rng: &mut Rng, epoch_us: u64) -> World {
    let (idle, interval) = config.keepalive_us();
    let mix = Mix::new(config.packets, config.duration_s * SEC, idle);
    World::new(
        rng,
        mix.http_clients,
        mix.bulk_max_segments,
        idle,
        interval,
        epoch_us,
    )
}

fn estate_populate(ctx: &mut Ctx, config: &Config) {
    let duration = config.duration_s * SEC;
    let mix = Mix::new(config.packets, duration, config.keepalive_us().0);
    populate(ctx, &mix, duration);
}

/// Share of the packets each shape aims for (the mix is approximate: sizes are random and the
/// capture is cut at exactly `--packets`).
pub(crate) struct Shares {
    pub(crate) heartbeat: f64,
    pub(crate) keepalive: f64,
    pub(crate) http: f64,
    pub(crate) bulk: f64,
    pub(crate) refused: f64,
    pub(crate) https: f64,
    pub(crate) tls_heartbeat: f64,
}

pub(crate) const SHARES: Shares = Shares {
    heartbeat: 0.25,
    keepalive: 0.025,
    http: 0.22,
    bulk: 0.30,
    refused: 0.005,
    https: 0.12,
    tls_heartbeat: 0.08,
};

/// Makes the actor for one arrival.
type Start = fn(&mut Ctx) -> Box<dyn Actor>;

/// Starts one actor per arrival of a Poisson process.
struct Arrivals {
    mean_gap: f64,
    start: Start,
}

impl Actor for Arrivals {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let actor = (self.start)(ctx);
        ctx.spawn(now, actor);
        Some(now + 1 + ctx.rng.exp(self.mean_gap) as Micros)
    }
}

/// The sizes of the populations and arrival rates.
pub(crate) struct Mix {
    pub(crate) heartbeat_slots: u64,
    pub(crate) tls_heartbeat_slots: u64,
    pub(crate) keepalive_idlers: u64,
    /// Mean gap between arrivals, µs.
    http_gap: f64,
    bulk_gap: f64,
    refused_gap: f64,
    https_gap: f64,
    pub(crate) http_clients: usize,
    pub(crate) bulk_max_segments: u32,
}

impl Mix {
    pub(crate) fn new(packets: u64, duration: Micros, keepalive_idle: Micros) -> Mix {
        let packets = packets as f64;
        let per_us = packets / duration as f64;
        let gap = |share: f64, per_unit: f64| per_unit / (share * per_us);
        let heartbeat_period = heartbeat::PERIOD as f64;
        let heartbeat_slots =
            (SHARES.heartbeat * per_us * heartbeat_period / heartbeat::PACKETS_PER_PERIOD).round();
        // A keep-alive idler is mostly its opening; probes add ~2 packets when the capture is
        // long enough for them (and a dead peer's 9 probes and reset, 1 in 20).
        let tls_heartbeat_slots = (SHARES.tls_heartbeat * per_us * tls::heartbeat::PERIOD as f64
            / tls::heartbeat::PACKETS_PER_PERIOD)
            .round();
        let probing = if duration > keepalive_idle { 2.5 } else { 0.0 };
        let per_idler = keepalive::PACKETS_OPENING + probing;
        let keepalive_idlers = (SHARES.keepalive * packets / per_idler).round();
        let http_gap = gap(SHARES.http, http::PACKETS_PER_SESSION);
        let bulk_max_segments = bulk::max_segments(SHARES.bulk * packets);
        let https_gap = gap(SHARES.https, tls::https::PACKETS_PER_SESSION);
        let sessions = duration as f64 / http_gap + duration as f64 / https_gap;
        Mix {
            heartbeat_slots: heartbeat_slots.max(1.0) as u64,
            tls_heartbeat_slots: tls_heartbeat_slots.max(1.0) as u64,
            keepalive_idlers: keepalive_idlers.max(1.0) as u64,
            http_gap,
            bulk_gap: gap(SHARES.bulk, bulk::packets_per_transfer(bulk_max_segments)),
            bulk_max_segments,
            refused_gap: gap(SHARES.refused, refused::PACKETS_PER_ARRIVAL),
            https_gap,
            // ~10 connections per client: ports are never reused within a capture.
            http_clients: ((sessions / 10.0) as usize).clamp(200, 1 << 16),
        }
    }
}

/// Starts every population and arrival process.
pub(crate) fn populate(ctx: &mut Ctx, mix: &Mix, duration: Micros) {
    for i in 0..mix.heartbeat_slots {
        let slot = heartbeat::Slot::new(ctx, i == 0);
        let at = ctx.rng.range(0, heartbeat::PERIOD - 1);
        ctx.spawn(at, Box::new(slot));
    }
    for i in 0..mix.tls_heartbeat_slots {
        let slot = tls::heartbeat::Slot::new(ctx, i == 0);
        let at = ctx.rng.range(0, tls::heartbeat::PERIOD - 1);
        ctx.spawn(at, Box::new(slot));
    }
    let opening_window = (30 * 60 * SEC).min(duration / 6).max(1);
    let mut openings: Vec<Micros> = (0..mix.keepalive_idlers)
        .map(|_| ctx.rng.range(0, opening_window - 1))
        .collect();
    openings.sort_unstable();
    for (i, at) in openings.into_iter().enumerate() {
        ctx.spawn(at, Box::new(keepalive::Idler::new(i as u64)));
    }
    let processes: [(f64, Start); 4] = [
        (mix.http_gap, |ctx| Box::new(http::Session::start(ctx))),
        (mix.bulk_gap, |ctx| Box::new(bulk::Transfer::start(ctx))),
        (mix.refused_gap, |ctx| {
            Box::new(refused::Attempt::start(ctx))
        }),
        (mix.https_gap, |ctx| {
            Box::new(tls::https::Session::start(ctx))
        }),
    ];
    for (mean_gap, start) in processes {
        let first = ctx.rng.exp(mean_gap) as Micros;
        ctx.spawn(first, Box::new(Arrivals { mean_gap, start }));
    }
}
