//! Application heartbeats, server port 7443.
//!
//! A fixed population of client *slots* (one client host each) keeps one connection each to the
//! heartbeat service:
//!
//! * handshake; the client's hello (text, one segment), the server's welcome, the client's
//!   delayed ACK (40 ms);
//! * then every 30 s (± 2 ms) the client sends the 1-byte probe `0x05` (ENQ), the server
//!   answers the 1-byte reply `0x06` (ACK) 120-400 µs later, and the client's delayed ACK
//!   follows 40 ms after the reply reaches it. These are the only 1-byte segments of the capture
//!   (`tcp.len == 1` selects exactly probes and replies);
//! * about 1 beat in 800 is **late**: the client stalls and sends it 38-42 s after the previous
//!   one. The server still answers; the client, whose own deadline has passed, aborts with
//!   RST/ACK 0.1-2 ms after the reply reaches it ([`CloseCause::LateHeartbeat`]), and the slot
//!   reconnects on a new port 0.5-3 s later. The first slot's 4th beat is always late, so every
//!   capture that reaches it has one;
//! * about 1 beat in 3000 is replaced by a graceful close (client FIN, server FIN/ACK, last ACK;
//!   [`CloseCause::ClientQuit`]), followed by a reconnect 0.5-3 s later.
//!
//! Truth: [`HeartbeatTruth`] per connection (probe and reply bytes, period, jitter, reply
//! latency bounds, each late beat's frame and gap), the close, and the probe/reply counts.

use crate::clock::{Micros, MS, SEC};
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, HeartbeatTruth, LateBeat, Side, Teardown};
use crate::world::{Host, Network};
use keepsight_wire::TcpFlags;

pub(crate) const PERIOD: Micros = 30 * SEC;
const JITTER: Micros = 2 * MS;
const REPLY_LATENCY: [Micros; 2] = [120, 400];
const LATE_GAP: [Micros; 2] = [38 * SEC, 42 * SEC];
const PROBE: u8 = 0x05;
const REPLY: u8 = 0x06;
const P_LATE: f64 = 1.0 / 800.0;
const P_QUIT: f64 = 1.0 / 3000.0;
const DELAYED_ACK: Micros = 40 * MS;
/// Beat (1-based) of the first slot's first connection that is late.
const FORCED_LATE_BEAT: u32 = 4;

/// Packets one slot adds per period (probe, reply, ACK): sizes the population.
pub(crate) const PACKETS_PER_PERIOD: f64 = 3.0;

enum State {
    Connect,
    Beat {
        tcp: Tcp,
        /// Beats sent on this connection.
        beats: u32,
        previous: Micros,
        late: bool,
    },
}

/// One client keeping one heartbeat connection, reconnecting when it ends.
pub(crate) struct Slot {
    host: Host,
    first: bool,
    connections: u32,
    state: State,
}

impl Slot {
    pub(crate) fn new(ctx: &mut Ctx, first: bool) -> Slot {
        let host = ctx.world.new_host(&mut ctx.rng, Network::Internet);
        Slot {
            host,
            first,
            connections: 0,
            state: State::Connect,
        }
    }

    fn connect(&mut self, now: Micros, ctx: &mut Ctx) -> Micros {
        let detail = Detail::Heartbeat(HeartbeatTruth {
            probe: PROBE,
            reply: REPLY,
            period_us: PERIOD,
            jitter_us: JITTER,
            reply_latency_us: REPLY_LATENCY,
            late_beats: Vec::new(),
        });
        let server = ctx.world.heartbeat;
        let mut tcp = Tcp::new(ctx, self.host.connect(), server, detail);
        self.connections += 1;
        let mut t = tcp.handshake(ctx, now) + ctx.rng.range(300, 1_500);
        let hello = format!("HELLO hb/2 node={:08x}\r\n", ctx.rng.u32());
        tcp.send(
            ctx,
            Dir::ToServer,
            t,
            PA,
            hello.as_bytes(),
            Tag::Plain,
            Mark::None,
        );
        t += ctx.rng.range(200, 600);
        tcp.send(
            ctx,
            Dir::ToClient,
            t,
            PA,
            b"WELCOME every=30s\r\n",
            Tag::Plain,
            Mark::None,
        );
        tcp.ack(ctx, Dir::ToServer, t + tcp.rtt + DELAYED_ACK);
        let first_beat = t + PERIOD + ctx.rng.range(0, 2 * JITTER) - JITTER;
        self.state = State::Beat {
            tcp,
            beats: 0,
            previous: t,
            late: false,
        };
        first_beat
    }
}

const PA: u16 = TcpFlags::PSH | TcpFlags::ACK;

impl Actor for Slot {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let State::Beat {
            tcp,
            beats,
            previous,
            late,
        } = &mut self.state
        else {
            return Some(self.connect(now, ctx));
        };
        let reconnect = |ctx: &mut Ctx, at: Micros| at + ctx.rng.range(500 * MS, 3 * SEC);
        if !*late && *beats > 0 && ctx.rng.chance(P_QUIT) {
            ctx.plan_close(tcp.id, Teardown::Fin, Side::Client, CloseCause::ClientQuit);
            let reply_after = ctx.rng.range(20, 80);
            let end = tcp.close_both(ctx, Dir::ToServer, now, reply_after, Mark::Close);
            self.state = State::Connect;
            return Some(reconnect(ctx, end));
        }
        *beats += 1;
        let mark = if *late {
            let Detail::Heartbeat(h) = ctx.detail(tcp.id) else {
                unreachable!("a heartbeat connection")
            };
            h.late_beats.push(LateBeat {
                frame: 0,
                gap_us: now - *previous,
            });
            Mark::LateBeat((h.late_beats.len() - 1) as u32)
        } else {
            Mark::None
        };
        tcp.send(
            ctx,
            Dir::ToServer,
            now,
            PA,
            &[PROBE],
            Tag::HeartbeatProbe,
            mark,
        );
        let reply_at = now + ctx.rng.range(REPLY_LATENCY[0], REPLY_LATENCY[1]);
        tcp.send(
            ctx,
            Dir::ToClient,
            reply_at,
            PA,
            &[REPLY],
            Tag::HeartbeatReply,
            Mark::None,
        );
        if *late {
            ctx.plan_close(
                tcp.id,
                Teardown::Rst,
                Side::Client,
                CloseCause::LateHeartbeat,
            );
            let rst_at = reply_at + tcp.rtt + ctx.rng.range(100, 2_000);
            let flags = TcpFlags::RST | TcpFlags::ACK;
            tcp.send(
                ctx,
                Dir::ToServer,
                rst_at,
                flags,
                &[],
                Tag::Plain,
                Mark::Close,
            );
            self.state = State::Connect;
            return Some(reconnect(ctx, rst_at));
        }
        tcp.ack(ctx, Dir::ToServer, reply_at + tcp.rtt + DELAYED_ACK);
        *previous = now;
        let forced = self.first && self.connections == 1 && *beats + 1 == FORCED_LATE_BEAT;
        *late = forced || ctx.rng.chance(P_LATE);
        Some(if *late {
            now + ctx.rng.range(LATE_GAP[0], LATE_GAP[1])
        } else {
            now + PERIOD + ctx.rng.range(0, 2 * JITTER) - JITTER
        })
    }
}
