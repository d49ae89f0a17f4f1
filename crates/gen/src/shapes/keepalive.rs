//! Idle connections kept by Linux TCP keep-alive, server port 15432 (a database pool).
//!
//! Connections open during the first 30 minutes (the first sixth of the duration when that is
//! shorter), exchange 1-3 small text queries and answers (the client's delayed ACK ends the
//! exchange) and then stay silent. The prober's kernel then behaves as Linux does with
//! `SO_KEEPALIVE` (idle 7200 s, interval 75 s, 9 probes by default; see [`crate::Config`]):
//!
//! * the first probe leaves `idle` after the last segment the prober received: a segment of
//!   length 0 at sequence number next − 1 with the current acknowledgement (tshark:
//!   `tcp.analysis.keep_alive`);
//! * an alive peer answers at once with a pure ACK at its next sequence number (tshark:
//!   `tcp.analysis.keep_alive_ack`). The answer restarts the idle timer, so the next probe
//!   leaves `idle` after the answer arrived — not `interval` later;
//! * a dead peer (its host gone, NAT state lost) never answers: probes follow every `interval`,
//!   and one `interval` after the 9th the prober's kernel aborts with RST/ACK
//!   ([`CloseCause::KeepaliveDeadPeer`]).
//!
//! Who probes: connection *i* (in order of opening) is probed by the server with a dead client
//! when i ≡ 0 (mod 20) — so the first one always is —, by the server with a live client when
//! i mod 20 ∈ 1..=5, and by the client (the server answers) otherwise.
//!
//! Truth: [`KeepaliveTruth`] (prober, idle, interval, whether the peer is dead), the close, and
//! the probe and answer counts.

use crate::clock::{Micros, MS};
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, KeepaliveTruth, Side, Teardown};
use crate::world::Network;
use keepsight_wire::TcpFlags;

/// Linux's `tcp_keepalive_probes`.
pub(crate) const PROBES: u32 = 9;
const DELAYED_ACK: Micros = 40 * MS;

/// Packets of the opening exchange, on average (handshake, ~2 queries and answers, ACK).
pub(crate) const PACKETS_OPENING: f64 = 8.0;

enum State {
    Open,
    Probe { unanswered: u32 },
    Abort,
    Done,
}

pub(crate) struct Idler {
    index: u64,
    tcp: Option<Tcp>,
    prober: Side,
    peer_dead: bool,
    state: State,
}

impl Idler {
    pub(crate) fn new(index: u64) -> Idler {
        let (prober, peer_dead) = match index % 20 {
            0 => (Side::Server, true),
            1..=5 => (Side::Server, false),
            _ => (Side::Client, false),
        };
        Idler {
            index,
            tcp: None,
            prober,
            peer_dead,
            state: State::Open,
        }
    }

    /// Handshake and the opening exchange; returns when the first probe leaves.
    fn open(&mut self, now: Micros, ctx: &mut Ctx) -> Micros {
        let mut host = ctx.world.new_host(&mut ctx.rng, Network::Internet);
        let (idle, interval) = (ctx.world.keepalive_idle, ctx.world.keepalive_interval);
        let detail = Detail::Keepalive(KeepaliveTruth {
            prober: self.prober,
            idle_us: idle,
            interval_us: interval,
            peer_dead: self.peer_dead,
        });
        let server = ctx.world.keepalive;
        let mut tcp = Tcp::new(ctx, host.connect(), server, detail);
        let mut t = tcp.handshake(ctx, now);
        let pa = TcpFlags::PSH | TcpFlags::ACK;
        let mut last_reply = t;
        for q in 0..ctx.rng.range(1, 3) {
            t += ctx.rng.range(200, 3_000);
            let query = format!(
                "Q{} conn={} SELECT state FROM jobs WHERE id = {};\n",
                q,
                self.index,
                ctx.rng.range(1, 999_999)
            );
            tcp.send(
                ctx,
                Dir::ToServer,
                t,
                pa,
                query.as_bytes(),
                Tag::Plain,
                Mark::None,
            );
            t += ctx.rng.range(100, 900);
            let mut answer = String::from("ROWS");
            for _ in 0..ctx.rng.range(1, 12) {
                answer += &format!(" {}:queued", ctx.rng.range(1, 999_999));
            }
            answer += "\n";
            tcp.send(
                ctx,
                Dir::ToClient,
                t,
                pa,
                answer.as_bytes(),
                Tag::Plain,
                Mark::None,
            );
            last_reply = t;
            t += tcp.rtt;
        }
        let ack_at = last_reply + tcp.rtt + DELAYED_ACK;
        tcp.ack(ctx, Dir::ToServer, ack_at);
        self.tcp = Some(tcp);
        self.state = State::Probe { unanswered: 0 };
        let tcp = self.tcp.as_ref().expect("just opened");
        match self.prober {
            // The client last received the answer; its probe needs half a round trip each way.
            Side::Client => last_reply + tcp.rtt + idle,
            Side::Server => ack_at + idle,
        }
    }
}

impl Actor for Idler {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let interval = ctx.world.keepalive_interval;
        let idle = ctx.world.keepalive_idle;
        match self.state {
            State::Open => Some(self.open(now, ctx)),
            State::Probe { unanswered } => {
                let tcp = self.tcp.as_mut().expect("open");
                let (dir, answer_dir) = match self.prober {
                    Side::Client => (Dir::ToServer, Dir::ToClient),
                    Side::Server => (Dir::ToClient, Dir::ToServer),
                };
                let end = match dir {
                    Dir::ToServer => &tcp.client,
                    Dir::ToClient => &tcp.server,
                };
                let (seq, ack) = (end.nxt.wrapping_sub(1), end.rcv);
                let probe = TcpFlags::ACK;
                tcp.raw(
                    ctx,
                    dir,
                    now,
                    probe,
                    seq,
                    ack,
                    &[],
                    Tag::KeepAlive,
                    Mark::None,
                );
                if self.peer_dead {
                    let unanswered = unanswered + 1;
                    self.state = if unanswered == PROBES {
                        State::Abort
                    } else {
                        State::Probe { unanswered }
                    };
                    return Some(now + interval);
                }
                let answer_at = now + tcp.leg(answer_dir);
                let (seq, ack) = match answer_dir {
                    Dir::ToServer => (tcp.client.nxt, tcp.client.rcv),
                    Dir::ToClient => (tcp.server.nxt, tcp.server.rcv),
                };
                let flags = TcpFlags::ACK;
                tcp.raw(
                    ctx,
                    answer_dir,
                    answer_at,
                    flags,
                    seq,
                    ack,
                    &[],
                    Tag::KeepAliveAck,
                    Mark::None,
                );
                // The answer resets the prober's idle timer.
                Some(match self.prober {
                    Side::Client => answer_at + tcp.rtt + idle,
                    Side::Server => answer_at + idle,
                })
            }
            State::Abort => {
                let tcp = self.tcp.as_mut().expect("open");
                ctx.plan_close(
                    tcp.id,
                    Teardown::Rst,
                    Side::Server,
                    CloseCause::KeepaliveDeadPeer,
                );
                let flags = TcpFlags::RST | TcpFlags::ACK;
                tcp.send(ctx, Dir::ToClient, now, flags, &[], Tag::Plain, Mark::Close);
                self.state = State::Done;
                None
            }
            State::Done => None,
        }
    }
}
