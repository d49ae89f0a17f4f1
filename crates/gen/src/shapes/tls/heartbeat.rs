//! Application heartbeats inside TLS, server port 8443 (a payment link's liveness check).
//!
//! A fixed population of client slots keeps one TLS connection each (TLS 1.2 or 1.3 as in
//! [`super::https`], SNI `hb.example.com`, no ALPN):
//!
//! * after the handshake, every 20 s (± 2 ms) the client sends one application-data record
//!   carrying a 12-byte ping, the server answers 150-500 µs later with one record carrying a
//!   20-byte pong, and the client's delayed ACK follows 40 ms after the pong reaches it. The
//!   record lengths are fixed per connection (12 or 20 bytes plus the cipher's overhead), the
//!   bytes are random: only the record pattern and its timing show the heartbeat;
//! * about 1 beat in 800 is **late** (the client stalls, 27-31 s after the previous one): the
//!   server still answers, the client, past its own deadline, resets 0.1-2 ms after the pong
//!   reaches it ([`CloseCause::LateHeartbeat`]) and reconnects 0.5-3 s later. The first
//!   slot's 4th beat is always late;
//! * about 1 beat in 3000 is replaced by the client quitting ([`CloseCause::ClientQuit`]):
//!   close_notify and FIN, or a bare FIN; the server answers with close_notify (reaching a
//!   closed socket: the client's kernel resets) or a bare FIN.
//!
//! Truth: [`TlsHeartbeatTruth`] (the TLS parameters, record lengths, period, jitter, reply
//! latency, late beats), the close, and the `tls_heartbeat_probes`/`replies` counts.

use super::{Conn, Opened};
use crate::clock::{Micros, MS, SEC};
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, LateBeat, Side, Teardown, TlsHeartbeatTruth};
use crate::world::{Host, Network};
use keepsight_wire::TcpFlags;

pub(crate) const PERIOD: Micros = 20 * SEC;
const JITTER: Micros = 2 * MS;
const REPLY_LATENCY: [Micros; 2] = [150, 500];
const LATE_GAP: [Micros; 2] = [27 * SEC, 31 * SEC];
const PING: usize = 12;
const PONG: usize = 20;
const P_LATE: f64 = 1.0 / 800.0;
const P_QUIT: f64 = 1.0 / 3000.0;
const DELAYED_ACK: Micros = 40 * MS;
const FORCED_LATE_BEAT: u32 = 4;

/// Packets one slot adds per period (ping, pong, ACK): sizes the population.
pub(crate) const PACKETS_PER_PERIOD: f64 = 3.0;

struct Beating {
    conn: Conn,
    beats: u32,
    previous: Micros,
    late: bool,
}

/// One client keeping one TLS heartbeat connection, reconnecting when it ends.
pub(crate) struct Slot {
    host: Host,
    first: bool,
    connections: u32,
    state: Option<Beating>,
}

impl Slot {
    pub(crate) fn new(ctx: &mut Ctx, first: bool) -> Slot {
        let host = ctx.world.new_host(&mut ctx.rng, Network::DataCentre);
        Slot {
            host,
            first,
            connections: 0,
            state: None,
        }
    }

    fn connect(&mut self, now: Micros, ctx: &mut Ctx) -> Micros {
        let p = super::https::heartbeat_params(ctx);
        let detail = Detail::TlsHeartbeat(TlsHeartbeatTruth {
            tls: super::https::tls_truth(&p, None),
            probe_record_len: p.sealed_len(PING) as u16,
            reply_record_len: p.sealed_len(PONG) as u16,
            period_us: PERIOD,
            jitter_us: JITTER,
            reply_latency_us: REPLY_LATENCY,
            late_beats: Vec::new(),
        });
        let server = ctx.world.tls_heartbeat;
        let tcp = Tcp::new(ctx, self.host.connect(), server, detail);
        let mut conn = Conn::new(tcp, p);
        self.connections += 1;
        let Opened::Ready(at) = conn.open(ctx, now, None) else {
            unreachable!("the heartbeat server accepts every hello")
        };
        let (_, end, _) = conn.finish(ctx, at, 0);
        let first_beat = end + PERIOD + ctx.rng.range(0, 2 * JITTER) - JITTER;
        conn.flush_owed(ctx, first_beat);
        self.state = Some(Beating {
            conn,
            beats: 0,
            previous: end,
            late: false,
        });
        first_beat
    }

    fn quit(b: &mut Beating, now: Micros, ctx: &mut Ctx) -> Micros {
        let id = b.conn.tcp.id;
        ctx.plan_close(id, Teardown::Fin, Side::Client, CloseCause::ClientQuit);
        let client_notify = ctx.rng.chance(0.5);
        let server_notify = ctx.rng.chance(0.5);
        let Detail::TlsHeartbeat(h) = ctx.detail(id) else {
            unreachable!("a TLS heartbeat connection")
        };
        if client_notify {
            h.tls.close_notify.push(Side::Client);
        }
        if server_notify {
            h.tls.close_notify.push(Side::Server);
        }
        let fin = b
            .conn
            .close(ctx, Dir::ToServer, now, client_notify, Mark::Close);
        let after = ctx.rng.range(20, 80);
        b.conn
            .answer_close(ctx, Dir::ToServer, fin, after, server_notify)
    }
}

impl Actor for Slot {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let Some(b) = self.state.as_mut() else {
            return Some(self.connect(now, ctx));
        };
        let reconnect = |ctx: &mut Ctx, at: Micros| at + ctx.rng.range(500 * MS, 3 * SEC);
        if !b.late && b.beats > 0 && ctx.rng.chance(P_QUIT) {
            let end = Self::quit(b, now, ctx);
            self.state = None;
            return Some(reconnect(ctx, end));
        }
        b.beats += 1;
        let id = b.conn.tcp.id;
        let mark = if b.late {
            let Detail::TlsHeartbeat(h) = ctx.detail(id) else {
                unreachable!("a TLS heartbeat connection")
            };
            h.late_beats.push(LateBeat {
                frame: 0,
                gap_us: now - b.previous,
            });
            Mark::LateBeat((h.late_beats.len() - 1) as u32)
        } else {
            Mark::None
        };
        let pa = TcpFlags::PSH | TcpFlags::ACK;
        let p = b.conn.params.clone();
        p.app_data(&mut ctx.rng, &mut b.conn.buf, PING);
        b.conn
            .segment(ctx, Dir::ToServer, now, pa, Tag::TlsHeartbeatProbe, mark);
        let reply_at = now + ctx.rng.range(REPLY_LATENCY[0], REPLY_LATENCY[1]);
        p.app_data(&mut ctx.rng, &mut b.conn.buf, PONG);
        b.conn.segment(
            ctx,
            Dir::ToClient,
            reply_at,
            pa,
            Tag::TlsHeartbeatReply,
            Mark::None,
        );
        let rtt = b.conn.tcp.rtt;
        if b.late {
            ctx.plan_close(id, Teardown::Rst, Side::Client, CloseCause::LateHeartbeat);
            let rst_at = reply_at + rtt + ctx.rng.range(100, 2_000);
            let flags = TcpFlags::RST | TcpFlags::ACK;
            b.conn
                .segment(ctx, Dir::ToServer, rst_at, flags, Tag::Plain, Mark::Close);
            self.state = None;
            return Some(reconnect(ctx, rst_at));
        }
        b.conn
            .tcp
            .ack(ctx, Dir::ToServer, reply_at + rtt + DELAYED_ACK);
        b.previous = now;
        let forced = self.first && self.connections == 1 && b.beats + 1 == FORCED_LATE_BEAT;
        b.late = forced || ctx.rng.chance(P_LATE);
        Some(if b.late {
            now + ctx.rng.range(LATE_GAP[0], LATE_GAP[1])
        } else {
            now + PERIOD + ctx.rng.range(0, 2 * JITTER) - JITTER
        })
    }
}
