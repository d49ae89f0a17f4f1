//! Heartbeat connections with a chosen trouble, for tests of the heartbeat model: replies that
//! turn slow, a server that stops answering, a client that gives up. Not part of the estate's
//! mix: [`crate::generate_troubled_heartbeats`] makes a capture of these connections only.
//!
//! Each connection of a [`Trouble`]: handshake; then every `period` (± 1 ms) the client sends the
//! probe, the server's TCP acknowledges it 40 ms later (delayed ACK) unless the reply comes first,
//! and the server application answers after `reply_latency` — or after `slow_latency` from beat
//! `slow_from` on, or never from beat `stop_after + 1` on. The client acknowledges each reply one
//! round trip plus 40 ms later. A client with `give_up_after = n` counts replies missing when its
//! next beat is due; after `n` in a row it closes (FIN or RST, [`CloseCause::HeartbeatGaveUp`])
//! at that moment instead of beating. Otherwise it closes with FIN after `beats` beats
//! ([`CloseCause::ClientQuit`]). Replies always come within the period (the configuration is
//! checked), so the client's schedule never waits for them.
//!
//! Truth: [`TroubledHeartbeatTruth`] per connection: the bytes, the period, every beat's time and
//! its reply's latency (none when unanswered), and the close.

use crate::clock::{Micros, MS, SEC};
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, Side, Teardown, TroubledBeat, TroubledHeartbeatTruth};
use crate::world::{Network, Server};
use keepsight_wire::TcpFlags;

const DELAYED_ACK: Micros = 40 * MS;
const JITTER: Micros = MS;

/// One heartbeat connection's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    /// Sent by the client (1-64 bytes).
    pub probe: Vec<u8>,
    /// Sent by the server (1-64 bytes).
    pub reply: Vec<u8>,
    /// Time between probes, µs.
    pub period_us: u64,
    /// The server's usual answer delay, µs.
    pub reply_latency_us: u64,
    /// From this beat (1-based) on, the server answers after `slow_latency_us`.
    pub slow_from: Option<u32>,
    /// The slow answer delay, µs.
    pub slow_latency_us: u64,
    /// The server answers beats 1..=n only.
    pub stop_after: Option<u32>,
    /// The client gives up after this many unanswered beats in a row, with this teardown.
    pub give_up_after: Option<(u32, Teardown)>,
    /// Beats before a client that never gives up quits (FIN).
    pub beats: u32,
}

impl Trouble {
    /// A 1-byte `0x01` → `0x41` heartbeat every `period_us`, answered in 300 µs, 10 beats.
    pub fn new(period_us: u64) -> Trouble {
        Trouble {
            probe: vec![0x01],
            reply: vec![0x41],
            period_us,
            reply_latency_us: 300,
            slow_from: None,
            slow_latency_us: 0,
            stop_after: None,
            give_up_after: None,
            beats: 10,
        }
    }

    /// Why this plan cannot be made, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let len_ok = |b: &[u8]| (1..=64).contains(&b.len());
        if !len_ok(&self.probe) || !len_ok(&self.reply) {
            return Err("probe and reply must be 1-64 bytes".into());
        }
        if self.period_us < 20 * MS {
            return Err("the period must be at least 20 ms".into());
        }
        let latest = self.reply_latency_us.max(if self.slow_from.is_some() {
            self.slow_latency_us
        } else {
            0
        });
        // The reply and the client's ACK of it come before the next probe.
        if latest + 100 * MS + 2 * JITTER >= self.period_us {
            return Err("replies must come well within the period".into());
        }
        if self.beats == 0 || self.give_up_after.is_some_and(|(n, _)| n == 0) {
            return Err("beats and give_up_after must be at least 1".into());
        }
        Ok(())
    }
}

/// One client keeping one troubled heartbeat connection.
pub(crate) struct Client {
    plan: Trouble,
    server: Server,
    tcp: Option<Tcp>,
    beat: u32,
    misses: u32,
}

impl Client {
    pub(crate) fn new(plan: Trouble, port: u16, ctx: &Ctx) -> Client {
        let server = Server {
            port,
            ..ctx.world.heartbeat
        };
        Client {
            plan,
            server,
            tcp: None,
            beat: 0,
            misses: 0,
        }
    }

    fn truth<'a>(ctx: &'a mut Ctx, tcp: &Tcp) -> &'a mut TroubledHeartbeatTruth {
        match ctx.detail(tcp.id) {
            Detail::TroubledHeartbeat(t) => t,
            _ => unreachable!("a troubled heartbeat connection"),
        }
    }
}

/// The server's answer delay for beat `k`, or none.
fn answer(p: &Trouble, k: u32) -> Option<u64> {
    if p.stop_after.is_some_and(|n| k > n) {
        return None;
    }
    Some(match p.slow_from {
        Some(s) if k >= s => p.slow_latency_us,
        _ => p.reply_latency_us,
    })
}

const PA: u16 = TcpFlags::PSH | TcpFlags::ACK;

impl Actor for Client {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let Some(tcp) = self.tcp.as_mut() else {
            let mut host = ctx.world.new_host(&mut ctx.rng, Network::DataCentre);
            let detail = Detail::TroubledHeartbeat(TroubledHeartbeatTruth {
                probe: self.plan.probe.clone(),
                reply: self.plan.reply.clone(),
                period_us: self.plan.period_us,
                beats: Vec::new(),
            });
            let mut tcp = Tcp::new(ctx, host.connect(), self.server, detail);
            let t = tcp.handshake(ctx, now);
            self.tcp = Some(tcp);
            return Some(t + self.plan.period_us);
        };
        // Is the time for the next beat, or for giving up?
        if let Some((n, how)) = self.plan.give_up_after {
            if self.misses >= n {
                ctx.plan_close(tcp.id, how, Side::Client, CloseCause::HeartbeatGaveUp);
                match how {
                    Teardown::Fin => {
                        tcp.close_both(ctx, Dir::ToServer, now, 50, Mark::Close);
                    }
                    Teardown::Rst => {
                        let flags = TcpFlags::RST | TcpFlags::ACK;
                        tcp.send(ctx, Dir::ToServer, now, flags, &[], Tag::Plain, Mark::Close);
                    }
                }
                return None;
            }
        }
        if self.beat >= self.plan.beats {
            ctx.plan_close(tcp.id, Teardown::Fin, Side::Client, CloseCause::ClientQuit);
            tcp.close_both(ctx, Dir::ToServer, now, 50, Mark::Close);
            return None;
        }
        self.beat += 1;
        let answer = answer(&self.plan, self.beat);
        let probe = self.plan.probe.clone();
        let probe_tag = Tag::HeartbeatProbe;
        tcp.send(ctx, Dir::ToServer, now, PA, &probe, probe_tag, Mark::None);
        match answer {
            Some(lat) if lat < DELAYED_ACK => {}
            // The server's TCP acknowledges the probe before its application answers.
            _ => tcp.ack(ctx, Dir::ToClient, now + DELAYED_ACK),
        }
        if let Some(lat) = answer {
            let reply = self.plan.reply.clone();
            let at = now + lat;
            let reply_tag = Tag::HeartbeatReply;
            tcp.send(ctx, Dir::ToClient, at, PA, &reply, reply_tag, Mark::None);
            let ack_at = at + tcp.rtt + DELAYED_ACK;
            tcp.ack(ctx, Dir::ToServer, ack_at);
            self.misses = 0;
        } else {
            self.misses += 1;
        }
        Self::truth(ctx, tcp).beats.push(TroubledBeat {
            sent_us: crate::EPOCH_S * SEC + now,
            reply_latency_us: answer,
        });
        let jitter = ctx.rng.range(0, 2 * JITTER);
        Some(now + self.plan.period_us + jitter - JITTER)
    }
}
