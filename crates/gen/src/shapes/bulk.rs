//! Bulk downloads with loss, server port 8873 (a backup store pulled by data-centre agents).
//!
//! Transfers arrive as a Poisson process from 48 agents (0.2-3 ms away). A text request in one
//! segment, then 200-20,000 full-size segments (median 1500; at most an eighth of the bulk share
//! of a small capture) of incompressible data (the last one shorter,
//! never 1 byte), paced at 1 Gbit/s down to 100 Mbit/s; the agent advertises a ~3 MB window and
//! ACKs every second segment. Losses happen between the capture point and the agent, so every
//! original segment is in the capture:
//!
//! * **block loss**: in ~3 % of the blocks of 256 segments (and always in the first block of
//!   the first transfer, at an odd segment, so that the agent's first ACK for the hole still
//!   advances) one segment is lost. Each later segment reaching the agent draws an ACK
//!   for the hole's edge: after the first one, those are duplicate ACKs
//!   (`tcp.analysis.duplicate_ack`); the server resends the lost segment 15 µs after the third
//!   duplicate (`tcp.analysis.fast_retransmission`, and `retransmission`), keeps sending new
//!   data meanwhile, and one cumulative ACK covers everything once the resent segment arrives;
//! * **tail loss**: ~5 % of transfers (and always the first) lose their last segment; with no
//!   later segment to draw duplicate ACKs, the server resends it after its retransmission timer
//!   (200 ms + RTT; `retransmission` only);
//! * the agent then closes (FIN, the server's FIN/ACK, last ACK; [`CloseCause::TransferDone`]);
//! * **abort**: the 2nd transfer and every 30th after it are aborted by the agent at 20-80 % of
//!   their length: RST/ACK ([`CloseCause::TransferAborted`]); the server stops at once, and each
//!   segment it had in flight (sent within one RTT before the RST arrived) reaches a closed
//!   socket and draws a bare RST from the agent's kernel. Aborted transfers lose nothing.
//!
//! Truth: [`BulkTruth`] (planned segments), the close, and the duplicate-ACK and retransmission
//! counts.

use crate::clock::{Micros, MS};
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{BulkTruth, CloseCause, Detail, Side, Teardown};
use keepsight_wire::TcpFlags;

const BLOCK: u32 = 256;
const P_BLOCK_LOSS: f64 = 0.03;
const P_TAIL_LOSS: f64 = 0.05;
const ABORT_EVERY: u64 = 30;
const MIN_RTO: Micros = 200 * MS;
/// The server resends this long after the third duplicate ACK.
const FAST_RETRANSMIT_DELAY: Micros = 15;
/// ~3 MB receive window (window scale 7).
const AGENT_WINDOW: u16 = 24_576;
const PACING: &[Micros] = &[12, 12, 24, 60, 120];

const MEDIAN_SEGMENTS: f64 = 1_500.0;
const MIN_SEGMENTS: u32 = 200;
const MAX_SEGMENTS: u32 = 20_000;
/// Packets per data segment (the segment and half an ACK) and per transfer besides.
const PACKETS_PER_SEGMENT: f64 = 1.5;
const PACKETS_OVERHEAD: f64 = 12.0;

/// The most segments one transfer may have when the bulk share of the capture is `budget`
/// packets: small captures get several transfers, not one that takes all.
pub(crate) fn max_segments(budget: f64) -> u32 {
    ((budget / PACKETS_PER_SEGMENT / 8.0) as u32).clamp(MIN_SEGMENTS, MAX_SEGMENTS)
}

/// Packets per transfer on average, for transfers of at most `max` segments (estimated from
/// draws of a generator of its own, so the capture's stream is untouched).
pub(crate) fn packets_per_transfer(max: u32) -> f64 {
    let mut rng = crate::rng::Rng::new(0);
    let draws = 4_000;
    let total: f64 = (0..draws).map(|_| segments(&mut rng, max) as f64).sum();
    total / f64::from(draws) * PACKETS_PER_SEGMENT + PACKETS_OVERHEAD
}

fn segments(rng: &mut crate::rng::Rng, max: u32) -> u32 {
    (rng.lognormal(MEDIAN_SEGMENTS, 1.0) as u32).clamp(MIN_SEGMENTS, max)
}

enum Phase {
    Start,
    Data,
}

pub(crate) struct Transfer {
    tcp: Tcp,
    number: u64,
    segments: u32,
    last_len: usize,
    sent: u32,
    gap: Micros,
    next_at: Micros,
    /// Segments the agent has taken in since its last ACK.
    unacked: u32,
    /// The agent's last acknowledgement number.
    agent_ack: u32,
    last_sent_at: Micros,
    /// When the agent's last frame so far reaches the capture point.
    agent_last_at: Micros,
    tail_loss: bool,
    abort_at: Option<Micros>,
    /// What the agent had received when it aborted (segments not in flight at the RST).
    received_before_abort: u32,
    phase: Phase,
}

impl Transfer {
    pub(crate) fn start(ctx: &mut Ctx) -> Transfer {
        ctx.world.bulk_shared.transfers += 1;
        let number = ctx.world.bulk_shared.transfers;
        let segments = segments(&mut ctx.rng, ctx.world.bulk_max_segments);
        let agents = ctx.world.bulk_clients.len() as u64;
        let agent = ctx.rng.range(0, agents - 1) as usize;
        let client = ctx.world.bulk_clients[agent].connect();
        let server = ctx.world.bulk;
        let detail = Detail::Bulk(BulkTruth {
            planned_segments: segments,
        });
        let mut tcp = Tcp::new(ctx, client, server, detail);
        tcp.client.window = AGENT_WINDOW;
        let last_len = ctx.rng.range(100, u64::from(tcp.mss) - 1) as usize;
        let gap = *ctx.rng.pick(PACING);
        let aborted = number % ABORT_EVERY == 2;
        let tail_loss = !aborted && (number == 1 || ctx.rng.chance(P_TAIL_LOSS));
        Transfer {
            tcp,
            number,
            segments,
            last_len,
            sent: 0,
            gap,
            next_at: 0,
            unacked: 0,
            agent_ack: 0,
            last_sent_at: 0,
            agent_last_at: 0,
            tail_loss,
            abort_at: aborted.then_some(0),
            received_before_abort: 0,
            phase: Phase::Start,
        }
    }

    fn payload<'a>(&self, ctx: &'a Ctx, j: u32) -> &'a [u8] {
        let block = &ctx.world.noise[j as usize % ctx.world.noise.len()];
        if j + 1 == self.segments {
            &block[..self.last_len]
        } else {
            &block[..usize::from(self.tcp.mss)]
        }
    }

    fn flags(&self, j: u32) -> u16 {
        if j + 1 == self.segments {
            TcpFlags::PSH | TcpFlags::ACK
        } else {
            TcpFlags::ACK
        }
    }

    fn advance(&mut self, t: Micros) {
        self.last_sent_at = t;
        self.sent += 1;
        self.next_at = t + self.gap + Micros::from(self.sent & 3);
    }

    /// One segment that arrives (unless the agent aborts first).
    fn send_one(&mut self, ctx: &mut Ctx) {
        let j = self.sent;
        let t = self.next_at;
        let payload = self.payload(ctx, j).to_vec();
        let flags = self.flags(j);
        let rtt = self.tcp.rtt;
        self.tcp.send(
            ctx,
            Dir::ToClient,
            t,
            flags,
            &payload,
            Tag::Plain,
            Mark::None,
        );
        if self.abort_at.is_some_and(|a| t + rtt > a) {
            // Reaches a socket that is gone: the kernel answers with a bare RST.
            let seq = self.tcp.client.nxt;
            self.tcp.raw(
                ctx,
                Dir::ToServer,
                t + rtt,
                TcpFlags::RST,
                seq,
                0,
                &[],
                Tag::Plain,
                Mark::None,
            );
        } else {
            self.received_before_abort = self.tcp.server.nxt;
            self.unacked += 1;
            if self.unacked == 2 {
                self.ack(ctx, t + rtt, self.tcp.server.nxt, Tag::Plain);
            }
        }
        self.advance(t);
    }

    fn ack(&mut self, ctx: &mut Ctx, at: Micros, ack: u32, tag: Tag) {
        self.tcp.ack_to(ctx, Dir::ToServer, at, ack, tag);
        self.agent_last_at = self.agent_last_at.max(at);
        self.agent_ack = ack;
        self.unacked = 0;
    }

    /// Segment `self.sent` is lost downstream: duplicate ACKs, fast retransmission, recovery.
    fn lose_one(&mut self, ctx: &mut Ctx) {
        let rtt = self.tcp.rtt;
        let (hole, lost, lost_flags) = self.send_undelivered(ctx);
        let mut duplicates = 0;
        let mut resend_at = None;
        while self.sent < self.segments && resend_at.is_none_or_later(self.next_at) {
            // Reaches the agent out of order: it ACKs the hole's edge at once.
            let t = self.next_at;
            self.send_undelivered(ctx);
            let tag = if self.agent_ack == hole {
                duplicates += 1;
                Tag::DuplicateAck
            } else {
                Tag::Plain
            };
            self.ack(ctx, t + rtt, hole, tag);
            if duplicates == 3 && resend_at.is_none() {
                resend_at = Some(t + rtt + FAST_RETRANSMIT_DELAY);
            }
        }
        let (at, tag) = match resend_at {
            Some(at) => (at, Tag::FastRetransmission),
            None => (self.last_sent_at + MIN_RTO + rtt, Tag::RtoRetransmission),
        };
        self.resend(ctx, at, (hole, &lost, lost_flags), tag);
        self.next_at = self.next_at.max(at + self.gap);
    }

    /// Sends segment `self.sent` without the agent taking it in (lost downstream, or behind a
    /// hole); returns its sequence number, bytes and flags for a retransmission.
    fn send_undelivered(&mut self, ctx: &mut Ctx) -> (u32, Vec<u8>, u16) {
        let j = self.sent;
        let seq = self.tcp.server.nxt;
        let payload = self.payload(ctx, j).to_vec();
        let flags = self.flags(j);
        let t = self.next_at;
        let (tag, mark) = (Tag::Plain, Mark::None);
        self.tcp
            .send_in_flight(ctx, Dir::ToClient, t, flags, &payload, tag, mark);
        self.advance(t);
        (seq, payload, flags)
    }

    /// The lost segment again; once it arrives the agent has everything sent so far and
    /// acknowledges it all. Returns when that ACK reaches the capture point.
    fn resend(
        &mut self,
        ctx: &mut Ctx,
        at: Micros,
        (seq, payload, flags): (u32, &[u8], u16),
        tag: Tag,
    ) -> Micros {
        let ack = self.tcp.server.rcv;
        let mark = Mark::None;
        self.tcp
            .raw(ctx, Dir::ToClient, at, flags, seq, ack, payload, tag, mark);
        self.tcp.deliver(Dir::ToClient);
        let acked_at = at + self.tcp.rtt;
        self.ack(ctx, acked_at, self.tcp.server.nxt, Tag::Plain);
        acked_at
    }

    /// The last segment is lost: nothing follows to draw duplicate ACKs, so the timer resends.
    fn lose_last(&mut self, ctx: &mut Ctx) -> Micros {
        let rtt = self.tcp.rtt;
        if self.unacked == 1 {
            let at = self.last_sent_at + rtt + 40 * MS;
            self.ack(ctx, at, self.tcp.server.nxt, Tag::Plain);
        }
        let (seq, lost, flags) = self.send_undelivered(ctx);
        let at = self.last_sent_at + MIN_RTO + rtt;
        self.resend(ctx, at, (seq, &lost, flags), Tag::RtoRetransmission)
    }

    /// The agent has everything at `received_at` and closes.
    fn finish(&mut self, ctx: &mut Ctx, received_at: Micros) {
        ctx.plan_close(
            self.tcp.id,
            Teardown::Fin,
            Side::Client,
            CloseCause::TransferDone,
        );
        let fin_at = received_at.max(self.agent_last_at) + ctx.rng.range(500, 5_000);
        let reply_after = ctx.rng.range(10, 40);
        self.tcp
            .close_both(ctx, Dir::ToServer, fin_at, reply_after, Mark::Close);
    }

    fn abort(&mut self, ctx: &mut Ctx, at: Micros) {
        ctx.plan_close(
            self.tcp.id,
            Teardown::Rst,
            Side::Client,
            CloseCause::TransferAborted,
        );
        let seq = self.tcp.client.nxt;
        let flags = TcpFlags::RST | TcpFlags::ACK;
        let ack = self.received_before_abort;
        self.tcp.raw(
            ctx,
            Dir::ToServer,
            at,
            flags,
            seq,
            ack,
            &[],
            Tag::Plain,
            Mark::Close,
        );
    }
}

/// `Option<Micros>` as a deadline: `None` is no deadline yet.
trait Deadline {
    fn is_none_or_later(&self, t: Micros) -> bool;
}

impl Deadline for Option<Micros> {
    fn is_none_or_later(&self, t: Micros) -> bool {
        match self {
            None => true,
            Some(d) => t < *d,
        }
    }
}

impl Actor for Transfer {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        if let Phase::Start = self.phase {
            let ready = self.tcp.handshake(ctx, now);
            let t = ready + ctx.rng.range(50, 500);
            let request = format!(
                "PULL /snapshots/{:08x}.tar.zst offset=0 chunk={}\r\n",
                ctx.rng.u32(),
                ctx.rng.range(1, 64)
            );
            let pa = TcpFlags::PSH | TcpFlags::ACK;
            self.tcp.send(
                ctx,
                Dir::ToServer,
                t,
                pa,
                request.as_bytes(),
                Tag::Plain,
                Mark::None,
            );
            self.next_at = t + ctx.rng.range(300, 3_000);
            self.received_before_abort = self.tcp.server.nxt;
            if self.abort_at.is_some() {
                let fraction = ctx.rng.range(20, 80);
                let length = Micros::from(self.segments) * (self.gap + 2);
                self.abort_at = Some(self.next_at + length * fraction / 100);
            }
            self.phase = Phase::Data;
            return Some(self.next_at);
        }
        let block_end = (self.sent / BLOCK + 1) * BLOCK;
        let loss = if self.abort_at.is_none()
            && (self.number == 1 && self.sent == 0 || ctx.rng.chance(P_BLOCK_LOSS))
        {
            let last_candidate = block_end.min(self.segments.saturating_sub(4));
            (self.sent < last_candidate).then(|| {
                let at = ctx
                    .rng
                    .range(u64::from(self.sent), u64::from(last_candidate) - 1)
                    as u32;
                // The first transfer loses a segment right after one the agent has not
                // acknowledged yet: its first ACK for the hole still advances, and only the
                // later ones are duplicates.
                if self.number == 1 && self.sent == 0 {
                    at | 1
                } else {
                    at
                }
            })
        } else {
            None
        };
        while self.sent < block_end.min(self.segments) {
            if let Some(a) = self.abort_at {
                if self.next_at >= a {
                    self.abort(ctx, a);
                    return None;
                }
            }
            if Some(self.sent) == loss {
                self.lose_one(ctx);
            } else if self.tail_loss && self.sent + 1 == self.segments {
                let received_at = self.lose_last(ctx);
                self.finish(ctx, received_at);
                return None;
            } else {
                self.send_one(ctx);
            }
        }
        if self.sent >= self.segments {
            let received_at = self.last_sent_at + self.tcp.rtt;
            self.finish(ctx, received_at);
            return None;
        }
        Some(match self.abort_at {
            Some(a) => self.next_at.min(a),
            None => self.next_at,
        })
    }
}
