//! Scenario `syn-flood`: spoofed SYNs to one server port, none answered.
//!
//! Every frame is a SYN from a made-up source to 192.0.2.15:443 (a listener behind a firewall
//! that drops them, or a server too busy to answer: the capture cannot tell, and nothing comes
//! back). SYNs arrive as a Poisson process sized so that `--packets` of them span `--duration`
//! (default 10 s); 1M SYNs over 10 s is ~100k per second.
//!
//! Sources are 198.18.0.0/15 (131,072 addresses), visited in a seeded pseudo-random order (an
//! odd multiplier modulo 2^17); every round through the addresses draws its ports from its own
//! slice of 1024-65535, so no address and port repeats and every SYN is its own `tcp.stream`.
//! Each SYN has a random initial sequence number, IP ID, TTL (32-255) and window from a few
//! tools' defaults, and the options MSS 1460, NOP, window scale 7.
//!
//! Truth: one [`Detail::SynFlood`] connection per SYN, one frame, no close (it stays half-open
//! for tshark: `tcp.flags.syn == 1`, nothing else).

use crate::clock::{Micros, SEC};
use crate::packet::{Ip, Path, SegmentSpec};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::truth::Detail;
use crate::world::{Server, World, ROUTER_MAC};
use crate::Config;
use keepsight_wire::TcpFlags;

/// `--shape syn-flood`.
pub const SCENARIO: Scenario = Scenario {
    name: "syn-flood",
    about: "spoofed SYNs from 198.18.0.0/15 to one port, none answered (10 s)",
    default_duration_s: 10,
    world,
    populate,
};

/// The flooded service.
pub const TARGET_PORT: u16 = 443;

/// Source addresses: 198.18.0.0/15.
const SOURCES: u32 = 1 << 17;
const FIRST_PORT: u32 = 1024;
const PORTS: u32 = 65_536 - FIRST_PORT;
/// SYN windows of common flood tools and stacks.
const WINDOWS: &[u16] = &[512, 1024, 5840, 29_200, 64_240, 65_535];

fn world(config: &Config, rng: &mut Rng, epoch_us: u64) -> World {
    let (idle, interval) = config.keepalive_us();
    World::new(rng, 1, 1, idle, interval, epoch_us)
}

fn populate(ctx: &mut Ctx, config: &Config) {
    let rounds = (config.packets.div_ceil(u64::from(SOURCES)) as u32).clamp(1, PORTS);
    let flood = Flood {
        target: Server::new(5, TARGET_PORT),
        mean_gap: (config.duration_s * SEC) as f64 / config.packets as f64,
        multiplier: (ctx.rng.u32() % SOURCES) | 1,
        offset: ctx.rng.u32() % SOURCES,
        ports_per_round: PORTS / rounds,
        sent: 0,
    };
    let first = ctx.rng.exp(flood.mean_gap).round() as Micros;
    ctx.spawn(first, Box::new(flood));
}

/// Sends the SYNs.
struct Flood {
    target: Server,
    mean_gap: f64,
    multiplier: u32,
    offset: u32,
    ports_per_round: u32,
    sent: u32,
}

impl Actor for Flood {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let address = self
            .sent
            .wrapping_mul(self.multiplier)
            .wrapping_add(self.offset)
            % SOURCES;
        let round = self.sent / SOURCES;
        let port = FIRST_PORT
            + (round % (PORTS / self.ports_per_round)) * self.ports_per_round
            + ctx.rng.range(0, u64::from(self.ports_per_round) - 1) as u32;
        self.sent = self.sent.wrapping_add(1);
        let src = Ip::V4([
            198,
            18 + (address >> 16) as u8,
            (address >> 8) as u8,
            address as u8,
        ]);
        let dst = self.target.v4;
        let mut path = Path {
            src_mac: ROUTER_MAC,
            dst_mac: self.target.mac,
            src,
            dst,
            sport: port as u16,
            dport: self.target.port,
            ttl: ctx.rng.range(32, 255) as u8,
            ip_id: ctx.rng.u32() as u16,
            flow_label: 0,
            padded: true,
        };
        let seg = SegmentSpec {
            flags: TcpFlags::SYN,
            seq: ctx.rng.u32(),
            ack: 0,
            window: *ctx.rng.pick(WINDOWS),
            payload: &[],
            syn_mss: Some(1460),
        };
        let conn = ctx.new_connection(
            src.socket(path.sport),
            dst.socket(self.target.port),
            Detail::SynFlood,
        );
        ctx.emit(now, conn, &mut path, &seg, Tag::Plain, Mark::None);
        Some(now + ctx.rng.exp(self.mean_gap).round() as Micros)
    }
}
