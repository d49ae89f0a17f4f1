//! Scenario `scan`: two scanners, one sweeping the ports of a host, one sweeping a port over
//! many hosts, half-open (SYN) scans as nmap's `-sS` does them.
//!
//! * **Port scan.** 203.0.113.66 probes ports 1-1024 of 192.0.2.16 in a seeded pseudo-random
//!   order, evenly spaced over `--duration` (default 10 s). Ports 22, 80 and 443 are open
//!   (SYN-ACK, then the scanner's kernel resets: [`CloseCause::ScanAbort`]); 135-139 and 445 are
//!   filtered (a firewall drops the SYN: nothing comes back, and the scanner does not re-send);
//!   every other port is closed (RST/ACK 20-40 µs later: [`CloseCause::Refused`]).
//! * **Host scan.** 203.0.113.77 probes port 22 on the 100 hosts 192.0.2.30-129, evenly spaced
//!   over the same span: hosts whose index (0-99) ends in 0 answer SYN-ACK (open), in 5 refuse
//!   (RST/ACK), the rest do not exist (no answer).
//!
//! Every probe comes from its own source port, so each is its own `tcp.stream`. Truth: one
//! [`Detail::ScanProbe`] connection per probe with its [`ProbeOutcome`]; the scanner is the
//! connection's client. The capture holds 2,136 frames in all (fewer with a smaller
//! `--packets`, which cuts it).

use crate::clock::{Micros, SEC};
use crate::packet::Ip;
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, ProbeOutcome, ScanProbeTruth, Side, Teardown};
use crate::world::{Client, Server, World};
use crate::Config;
use keepsight_wire::TcpFlags;

/// `--shape scan`.
pub const SCENARIO: Scenario = Scenario {
    name: "scan",
    about: "a port scan of one host (1024 ports) and a host scan of port 22 (100 hosts)",
    default_duration_s: 10,
    world,
    populate,
};

/// Ports the port scan probes: 1..=PORTS.
pub const PORTS: u16 = 1024;
/// Open ports of the port-scanned host.
pub const OPEN_PORTS: &[u16] = &[22, 80, 443];
/// Filtered ports of the port-scanned host.
pub const FILTERED_PORTS: &[u16] = &[135, 136, 137, 138, 139, 445];
/// Hosts the host scan probes.
pub const HOSTS: u8 = 100;
/// The port the host scan probes.
pub const HOST_SCAN_PORT: u16 = 22;
/// The port scanner's address.
pub const PORT_SCANNER: [u8; 4] = [203, 0, 113, 66];
/// The host scanner's address.
pub const HOST_SCANNER: [u8; 4] = [203, 0, 113, 77];

fn world(config: &Config, rng: &mut Rng, epoch_us: u64) -> World {
    let (idle, interval) = config.keepalive_us();
    World::new(rng, 1, 1, idle, interval, epoch_us)
}

fn populate(ctx: &mut Ctx, config: &Config) {
    let span = config.duration_s * SEC;
    let ports = PortScan {
        multiplier: (ctx.rng.u32() % u32::from(PORTS)) | 1,
        offset: ctx.rng.u32() % u32::from(PORTS),
        gap: span / u64::from(PORTS),
        sent: 0,
    };
    ctx.spawn(0, Box::new(ports));
    let hosts = HostScan {
        gap: span / u64::from(HOSTS),
        sent: 0,
    };
    ctx.spawn(span / u64::from(HOSTS) / 2, Box::new(hosts));
}

/// One probe from `scanner`'s port `sport` to `target`, answered as `outcome` says.
fn probe(
    ctx: &mut Ctx,
    now: Micros,
    scanner: [u8; 4],
    sport: u16,
    target: Server,
    outcome: ProbeOutcome,
) {
    let client = Client {
        ip: Ip::V4(scanner),
        ttl: 49,
        rtt: 24_000,
        port: sport,
    };
    let mut tcp = Tcp::new(
        ctx,
        client,
        target,
        Detail::ScanProbe(ScanProbeTruth {
            outcome,
            syn_us: ctx.world.epoch_us + now,
        }),
    );
    let syn_seq = tcp.client.nxt;
    tcp.syn(ctx, now);
    let answer_at = now + ctx.rng.range(20, 40);
    match outcome {
        ProbeOutcome::Filtered => {}
        ProbeOutcome::Closed => {
            ctx.plan_close(tcp.id, Teardown::Rst, Side::Server, CloseCause::Refused);
            tcp.server.window = 0;
            let ack = syn_seq.wrapping_add(1);
            tcp.raw(
                ctx,
                Dir::ToClient,
                answer_at,
                TcpFlags::RST | TcpFlags::ACK,
                0,
                ack,
                &[],
                Tag::Plain,
                Mark::Close,
            );
        }
        ProbeOutcome::Open => {
            ctx.plan_close(tcp.id, Teardown::Rst, Side::Client, CloseCause::ScanAbort);
            let server_seq = tcp.server.nxt;
            let ack = syn_seq.wrapping_add(1);
            tcp.raw(
                ctx,
                Dir::ToClient,
                answer_at,
                TcpFlags::SYN | TcpFlags::ACK,
                server_seq,
                ack,
                &[],
                Tag::Plain,
                Mark::None,
            );
            // The scanner's kernel knows no such connection: a bare RST at the SYN-ACK's ack.
            let rst_at = answer_at + client.rtt;
            tcp.raw(
                ctx,
                Dir::ToServer,
                rst_at,
                TcpFlags::RST,
                ack,
                0,
                &[],
                Tag::Plain,
                Mark::Close,
            );
        }
    }
}

struct PortScan {
    multiplier: u32,
    offset: u32,
    gap: Micros,
    sent: u32,
}

impl Actor for PortScan {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let n = u32::from(PORTS);
        let port = ((self
            .sent
            .wrapping_mul(self.multiplier)
            .wrapping_add(self.offset))
            % n
            + 1) as u16;
        let outcome = if OPEN_PORTS.contains(&port) {
            ProbeOutcome::Open
        } else if FILTERED_PORTS.contains(&port) {
            ProbeOutcome::Filtered
        } else {
            ProbeOutcome::Closed
        };
        let sport = 40_000 + self.sent as u16;
        probe(ctx, now, PORT_SCANNER, sport, Server::new(6, port), outcome);
        self.sent += 1;
        (self.sent < n).then_some(now + self.gap)
    }
}

struct HostScan {
    gap: Micros,
    sent: u8,
}

impl Actor for HostScan {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let i = self.sent;
        let outcome = match i % 10 {
            0 => ProbeOutcome::Open,
            5 => ProbeOutcome::Closed,
            _ => ProbeOutcome::Filtered,
        };
        let sport = 50_000 + u16::from(i);
        probe(
            ctx,
            now,
            HOST_SCANNER,
            sport,
            Server::new(20 + i, HOST_SCAN_PORT),
            outcome,
        );
        self.sent += 1;
        (self.sent < HOSTS).then_some(now + self.gap)
    }
}
