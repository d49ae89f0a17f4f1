//! Scenario `reconnect-storm`: a server goes down and comes back; its clients retry.
//!
//! Three clients (10.60.1.1-3, 0.5 ms away) each hold a connection to 192.0.2.17:7443 from the
//! start, exchanging a 200-byte request and a 200-byte response every 2 s (too long to pass for
//! a heartbeat). At [`CRASH`] (20 s) the server application crashes: its kernel resets every
//! connection (RST/ACK, [`CloseCause::ServerCrash`]; role [`ReconnectRole::Died`]). Until
//! [`BACK`] (30 s) nothing listens: every attempt is refused (SYN, RST/ACK 30 µs later; role
//! [`ReconnectRole::Refused`]). The first attempt at or after [`BACK`] gets through (role
//! [`ReconnectRole::GotThrough`]) and exchanges as before until 1 s before `--duration`
//! (default 45 s), when the client closes (FIN first, [`CloseCause::ScenarioEnd`]).
//!
//! When each client tries again, after the reset reaches it ([`POLICIES`]):
//!
//! | client | first retry after the reset | then | attempts refused | gets through at |
//! |---|---|---|---|---|
//! | 0 (10.60.1.1) | 0.5 s | doubling: 1, 2, 4, 8 s | 4 (20.5, 21.5, 23.5, 27.5 s) | 35.5 s |
//! | 1 (10.60.1.2) | 0.3 s | every 1 s, no backoff | 10 (20.3 ... 29.3 s) | 30.3 s |
//! | 2 (10.60.1.3) | 0.25 s | doubling: 0.5, 1, 2, 4 s, capped at 4 s | 5 (20.25, 20.75, 21.75, 23.75, 27.75 s) | 31.75 s |
//!
//! Truth: one [`Detail::Reconnect`] connection per connection with its client, role and SYN
//! time. A duration under 40 s cuts the story (the clients close at `duration - 1` s).

use crate::clock::{Micros, MS, SEC};
use crate::packet::Ip;
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, ReconnectRole, ReconnectTruth, Side, Teardown};
use crate::world::{Client, Server, World};
use crate::Config;
use keepsight_wire::TcpFlags;

/// `--shape reconnect-storm`.
pub const SCENARIO: Scenario = Scenario {
    name: "reconnect-storm",
    about: "a server crashes at 20 s and is back at 30 s; three clients retry with their backoffs",
    default_duration_s: 45,
    world,
    populate,
};

/// When the server crashes.
pub const CRASH: Micros = 20 * SEC;
/// When it listens again.
pub const BACK: Micros = 30 * SEC;
/// The server.
pub const SERVER_PORT: u16 = 7443;
/// Request and response size: longer than any heartbeat.
const MESSAGE: usize = 200;
/// Spacing of the exchanges.
const EXCHANGE_EVERY: Micros = 2 * SEC;
const RTT: Micros = 500;

/// A client's retry policy: the delay before its first retry, the delay after it, the factor
/// each later delay is multiplied by, and the cap.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// From the reset to the first retry.
    pub first: Micros,
    /// From the first retry to the second.
    pub next: Micros,
    /// Each later delay is the previous times this.
    pub factor: u64,
    /// No delay exceeds this.
    pub cap: Micros,
}

/// The clients' policies, client 0 first.
pub const POLICIES: [Policy; 3] = [
    Policy {
        first: 500 * MS,
        next: SEC,
        factor: 2,
        cap: 60 * SEC,
    },
    Policy {
        first: 300 * MS,
        next: SEC,
        factor: 1,
        cap: SEC,
    },
    Policy {
        first: 250 * MS,
        next: 500 * MS,
        factor: 2,
        cap: 4 * SEC,
    },
];

fn world(config: &Config, rng: &mut Rng, epoch_us: u64) -> World {
    let (idle, interval) = config.keepalive_us();
    World::new(rng, 1, 1, idle, interval, epoch_us)
}

fn populate(ctx: &mut Ctx, config: &Config) {
    let end = (config.duration_s * SEC).saturating_sub(SEC).max(SEC);
    for (i, policy) in POLICIES.iter().enumerate() {
        let client = StormClient {
            index: i as u32,
            host: Client {
                ip: Ip::V4([10, 60, 1, 1 + i as u8]),
                ttl: 64,
                rtt: RTT,
                port: 41_000 + 100 * i as u16,
            },
            policy: *policy,
            end,
            tcp: None,
            delay: policy.next.min(policy.cap),
            crashed: false,
        };
        ctx.spawn(100 * MS + 200 * MS * i as u64, Box::new(client));
    }
}

struct StormClient {
    index: u32,
    /// The client host; `port` is the next source port.
    host: Client,
    policy: Policy,
    end: Micros,
    /// The live connection.
    tcp: Option<Tcp>,
    /// The delay after the next refused retry.
    delay: Micros,
    crashed: bool,
}

impl StormClient {
    fn connection(&mut self, ctx: &mut Ctx, now: Micros, role: ReconnectRole) -> Tcp {
        let client = self.host;
        self.host.port += 1;
        let syn_us = ctx.world.epoch_us + now;
        Tcp::new(
            ctx,
            client,
            Server::new(7, SERVER_PORT),
            Detail::Reconnect(ReconnectTruth {
                client: self.index,
                role,
                syn_us,
            }),
        )
    }

    /// Opens a connection that gets through; returns when its first exchange is due.
    fn open(&mut self, ctx: &mut Ctx, now: Micros, role: ReconnectRole) -> Micros {
        let mut tcp = self.connection(ctx, now, role);
        let ack_at = tcp.handshake(ctx, now);
        self.tcp = Some(tcp);
        ack_at + SEC
    }

    /// A request, its response 50 µs later, the client's ACK one round trip after that.
    fn exchange(&mut self, ctx: &mut Ctx, now: Micros) {
        let Some(tcp) = self.tcp.as_mut() else {
            return;
        };
        let body = [b'x'; MESSAGE];
        let pa = TcpFlags::PSH | TcpFlags::ACK;
        tcp.send(ctx, Dir::ToServer, now, pa, &body, Tag::Plain, Mark::None);
        let reply_at = now + 50;
        tcp.send(
            ctx,
            Dir::ToClient,
            reply_at,
            pa,
            &body,
            Tag::Plain,
            Mark::None,
        );
        tcp.ack(ctx, Dir::ToServer, reply_at + RTT);
    }

    fn refused(&mut self, ctx: &mut Ctx, now: Micros) {
        let mut tcp = self.connection(ctx, now, ReconnectRole::Refused);
        ctx.plan_close(tcp.id, Teardown::Rst, Side::Server, CloseCause::Refused);
        let ack = tcp.client.nxt.wrapping_add(1);
        tcp.syn(ctx, now);
        tcp.server.window = 0;
        tcp.raw(
            ctx,
            Dir::ToClient,
            now + 30,
            TcpFlags::RST | TcpFlags::ACK,
            0,
            ack,
            &[],
            Tag::Plain,
            Mark::Close,
        );
    }
}

impl Actor for StormClient {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        if self.tcp.is_none() {
            if !self.crashed {
                return Some(self.open(ctx, now, ReconnectRole::Died));
            }
            if now < BACK {
                self.refused(ctx, now);
                let next = now + self.delay;
                self.delay = (self.delay * self.policy.factor).min(self.policy.cap);
                return Some(next);
            }
            return Some(self.open(ctx, now, ReconnectRole::GotThrough));
        }
        if !self.crashed && now >= CRASH {
            // The crash: the server's kernel resets the connection (50 µs apart per client).
            let crash_at = CRASH + 50 * u64::from(self.index);
            let mut tcp = self.tcp.take().expect("live connection");
            ctx.plan_close(tcp.id, Teardown::Rst, Side::Server, CloseCause::ServerCrash);
            let (seq, ack) = (tcp.server.nxt, tcp.server.rcv);
            tcp.raw(
                ctx,
                Dir::ToClient,
                crash_at.max(now),
                TcpFlags::RST | TcpFlags::ACK,
                seq,
                ack,
                &[],
                Tag::Plain,
                Mark::Close,
            );
            self.crashed = true;
            return Some(crash_at.max(now) + self.policy.first);
        }
        if now >= self.end {
            let mut tcp = self.tcp.take().expect("live connection");
            ctx.plan_close(tcp.id, Teardown::Fin, Side::Client, CloseCause::ScenarioEnd);
            tcp.close_both(ctx, Dir::ToServer, now, 40, Mark::Close);
            return None;
        }
        self.exchange(ctx, now);
        let next = now + EXCHANGE_EVERY;
        Some(if !self.crashed {
            next.min(CRASH)
        } else {
            next.min(self.end)
        })
    }
}
