//! TLS traffic: HTTPS keep-alive on port 443 ([`https`]) and application heartbeats inside TLS
//! on port 8443 ([`heartbeat`]), TLS 1.2 and 1.3.
//!
//! The records are well formed (tshark 4.0.17 dissects every one: ClientHello with SNI, ALPN,
//! supported_versions and key_share, ServerHello, the TLS 1.2 Certificate, ServerKeyExchange and
//! ServerHelloDone, ChangeCipherSpec, cleartext alerts) and whatever TLS encrypts is random bytes
//! of the length the cipher suite gives it (no keys exist, so no key log either). A write is
//! one or more records sent as MSS-sized segments, so long records are split across segments
//! and short ones share a segment. What each shape does with them is in its module.

pub mod heartbeat;
pub mod https;
pub(crate) mod wire;

use crate::clock::{Micros, MS};
use crate::sim::{Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use keepsight_wire::TcpFlags;
use wire::{Params, Version};

/// Linux's delayed ACK.
const DELAYED_ACK: Micros = 40 * MS;
/// Linux's minimum retransmission timeout (the round trip comes on top).
const MIN_RTO: Micros = 200 * MS;
/// Time between back-to-back segments of one write (1 Gbit/s).
const SEGMENT_GAP: Micros = 12;
/// Segments a write sends before waiting a round trip for ACKs (doubling each round).
const INITIAL_WINDOW: u32 = 10;
const MAX_IN_FLIGHT: u32 = 40;

const PA: u16 = TcpFlags::PSH | TcpFlags::ACK;
const FA: u16 = TcpFlags::FIN | TcpFlags::ACK;

/// Index of the side that sends in `dir`: 0 the client, 1 the server.
fn sender(dir: Dir) -> usize {
    match dir {
        Dir::ToServer => 0,
        Dir::ToClient => 1,
    }
}

fn reverse(dir: Dir) -> Dir {
    match dir {
        Dir::ToServer => Dir::ToClient,
        Dir::ToClient => Dir::ToServer,
    }
}

/// How the handshake went.
pub(crate) enum Opened {
    /// The client may send application data from this time on (its Finished is out).
    Ready(Micros),
    /// The server refused the ClientHello with a cleartext fatal alert and closed.
    Refused,
}

/// One TLS connection: its TCP connection, what it negotiated, and the delayed ACKs its sides
/// still owe.
pub(crate) struct Conn {
    pub(crate) tcp: Tcp,
    pub(crate) params: Params,
    /// When each side (client, server) sends the ACK it owes for data it has not acknowledged
    /// yet, unless it sends something first.
    owed: [Option<Micros>; 2],
    /// The write being assembled (records, concatenated).
    pub(crate) buf: Vec<u8>,
}

impl Conn {
    pub(crate) fn new(tcp: Tcp, params: Params) -> Conn {
        Conn {
            tcp,
            params,
            owed: [None, None],
            buf: Vec::with_capacity(4096),
        }
    }

    /// Before `side` sends at `at`: the ACK it owed goes out first if it was due by then;
    /// otherwise what it sends carries the acknowledgement.
    fn settle(&mut self, ctx: &mut Ctx, dir: Dir, at: Micros) {
        if let Some(due) = self.owed[sender(dir)].take() {
            if due <= at {
                self.tcp.ack(ctx, dir, due);
            }
        }
    }

    /// Sends every owed ACK due before `next` (the connection's next step), so that no frame
    /// is ever stamped before a later step's time.
    pub(crate) fn flush_owed(&mut self, ctx: &mut Ctx, next: Micros) {
        for dir in [Dir::ToServer, Dir::ToClient] {
            if self.owed[sender(dir)].is_some_and(|due| due < next) {
                self.settle(ctx, dir, Micros::MAX);
            }
        }
    }

    /// One segment (data, FIN or both) from `dir`'s sender at `at`, received by its peer.
    pub(crate) fn segment(
        &mut self,
        ctx: &mut Ctx,
        dir: Dir,
        at: Micros,
        flags: u16,
        tag: Tag,
        mark: Mark,
    ) {
        self.settle(ctx, dir, at);
        let payload = std::mem::take(&mut self.buf);
        self.tcp.send(ctx, dir, at, flags, &payload, tag, mark);
        self.buf = payload;
        self.buf.clear();
    }

    /// Sends the records in `buf` from `dir`'s sender as one write starting at `at`: MSS-sized
    /// segments (never a 1-byte one: `tcp.len == 1` is the cleartext heartbeats'), in
    /// slow-start rounds, the receiver ACKing every second segment. With `lose_last`, the last
    /// segment is lost beyond the capture point and resent after the retransmission timeout.
    /// Returns the time of the last segment sent (the resent one when lost).
    pub(crate) fn write(
        &mut self,
        ctx: &mut Ctx,
        dir: Dir,
        at: Micros,
        tag: Tag,
        lose_last: bool,
    ) -> Micros {
        self.settle(ctx, dir, at);
        let receiver = reverse(dir);
        let leg = self.tcp.leg(receiver);
        // A receiver still holding back an ACK answers the first new segment at once.
        let mut unacked = u32::from(self.owed[sender(receiver)].take().is_some());
        let data = std::mem::take(&mut self.buf);
        let mss = usize::from(self.tcp.mss);
        let rtt = self.tcp.rtt;
        let (mut window, mut in_round, mut round_start) = (INITIAL_WINDOW, 0, at);
        let (mut t, mut last, mut offset) = (at, at, 0);
        while offset < data.len() {
            let mut end = (offset + mss).min(data.len());
            if data.len() - end == 1 {
                end -= 1;
            }
            if in_round == window {
                round_start = (round_start + rtt + SEGMENT_GAP).max(t);
                t = round_start;
                window = (window * 2).min(MAX_IN_FLIGHT);
                in_round = 0;
            }
            let final_segment = end == data.len();
            let flags = if final_segment { PA } else { TcpFlags::ACK };
            let payload = &data[offset..end];
            if final_segment && lose_last {
                let seq = match dir {
                    Dir::ToServer => self.tcp.client.nxt,
                    Dir::ToClient => self.tcp.server.nxt,
                };
                self.tcp
                    .send_in_flight(ctx, dir, t, flags, payload, Tag::Plain, Mark::None);
                if unacked > 0 {
                    let received = seq;
                    self.tcp.ack_to(
                        ctx,
                        receiver,
                        last + leg + DELAYED_ACK,
                        received,
                        Tag::Plain,
                    );
                }
                let resent = t + rtt + MIN_RTO;
                let ack = match dir {
                    Dir::ToServer => self.tcp.client.rcv,
                    Dir::ToClient => self.tcp.server.rcv,
                };
                self.tcp.raw(
                    ctx,
                    dir,
                    resent,
                    flags,
                    seq,
                    ack,
                    payload,
                    Tag::RtoRetransmission,
                    Mark::None,
                );
                self.tcp.deliver(dir);
                self.tcp.ack(ctx, receiver, resent + leg);
                self.buf = data;
                self.buf.clear();
                return resent;
            }
            let seg_tag = if final_segment { tag } else { Tag::Plain };
            self.tcp
                .send(ctx, dir, t, flags, payload, seg_tag, Mark::None);
            in_round += 1;
            unacked += 1;
            if unacked == 2 {
                self.tcp.ack(ctx, receiver, t + leg);
                unacked = 0;
            }
            last = t;
            t += SEGMENT_GAP;
            offset = end;
        }
        if unacked > 0 {
            self.owed[sender(receiver)] = Some(last + leg + DELAYED_ACK);
        }
        self.buf = data;
        self.buf.clear();
        last
    }

    /// TCP handshake, ClientHello, the server's first flight (or its refusal: a cleartext
    /// fatal alert with its FIN, the client's bare FIN after it). `refuse` is the alert
    /// description, if the server refuses.
    pub(crate) fn open(&mut self, ctx: &mut Ctx, at: Micros, refuse: Option<u8>) -> Opened {
        let ready = self.tcp.handshake(ctx, at);
        let hello_at = ready + ctx.rng.range(30, 300);
        wire::client_hello(&mut ctx.rng, &self.params, &mut self.buf);
        self.segment(
            ctx,
            Dir::ToServer,
            hello_at,
            PA,
            Tag::TlsClientHello,
            Mark::None,
        );
        let flight_at = hello_at + ctx.rng.range(300, 3_000);
        if let Some(description) = refuse {
            wire::fatal_alert(&mut self.buf, description);
            self.segment(ctx, Dir::ToClient, flight_at, PA, Tag::TlsAlert, Mark::None);
            let fin_at = flight_at + ctx.rng.range(10, 40);
            self.segment(ctx, Dir::ToClient, fin_at, FA, Tag::Plain, Mark::Close);
            let client_fin = fin_at + self.tcp.rtt + ctx.rng.range(100, 2_000);
            self.segment(ctx, Dir::ToServer, client_fin, FA, Tag::Plain, Mark::None);
            let last = client_fin + ctx.rng.range(10, 40);
            self.tcp.ack(ctx, Dir::ToClient, last);
            return Opened::Refused;
        }
        wire::server_flight(
            &mut ctx.rng,
            &self.params,
            self.params.client_tls13,
            &mut self.buf,
        );
        let flight_end = self.write(ctx, Dir::ToClient, flight_at, Tag::Plain, false);
        let finish_at = flight_end + self.tcp.rtt + ctx.rng.range(200, 2_000);
        Opened::Ready(finish_at)
    }

    /// The client's Finished flight at `at`, with `plaintext` bytes of application data
    /// coalesced behind it in TLS 1.3 (TLS 1.2 must wait for the server's Finished); then the
    /// server's answer (TLS 1.2: ChangeCipherSpec and Finished; TLS 1.3: two session tickets).
    /// Returns when the client may send next, when the server's answer ends, and whether the
    /// client's data went with its Finished.
    pub(crate) fn finish(
        &mut self,
        ctx: &mut Ctx,
        at: Micros,
        plaintext: usize,
    ) -> (Micros, Micros, bool) {
        wire::client_finish(&mut ctx.rng, &self.params, &mut self.buf);
        let coalesced = self.params.version == Version::Tls13 && plaintext > 0;
        if coalesced {
            self.params.app_data(&mut ctx.rng, &mut self.buf, plaintext);
        }
        let sent = self.write(ctx, Dir::ToServer, at, Tag::Plain, false);
        let answer_at = sent + ctx.rng.range(100, 800);
        match self.params.version {
            Version::Tls12 => {
                wire::change_cipher_spec(&mut self.buf);
                wire::finished(&mut ctx.rng, &self.params, &mut self.buf);
            }
            Version::Tls13 => wire::session_tickets(&mut ctx.rng, &self.params, &mut self.buf),
        }
        let end = self.write(ctx, Dir::ToClient, answer_at, Tag::Plain, false);
        (end + self.tcp.rtt + ctx.rng.range(50, 500), end, coalesced)
    }

    /// `dir`'s sender closes at `at`: with `close_notify`, an encrypted close_notify first (its
    /// FIN in the same segment or just after); without, a bare FIN. `mark` goes on the FIN.
    /// Returns the FIN's time.
    pub(crate) fn close(
        &mut self,
        ctx: &mut Ctx,
        dir: Dir,
        at: Micros,
        close_notify: bool,
        mark: Mark,
    ) -> Micros {
        if !close_notify {
            self.segment(ctx, dir, at, FA, Tag::Plain, mark);
            return at;
        }
        self.params.close_notify(&mut ctx.rng, &mut self.buf);
        if ctx.rng.chance(0.5) {
            self.segment(ctx, dir, at, FA | TcpFlags::PSH, Tag::Plain, mark);
            return at;
        }
        self.segment(ctx, dir, at, PA, Tag::Plain, Mark::None);
        let fin_at = at + ctx.rng.range(10, 40);
        self.segment(ctx, dir, fin_at, FA, Tag::Plain, mark);
        fin_at
    }

    /// The peer of a side that closed at `at` closes in turn (`close_notify` or bare FIN)
    /// after `after`, and the first closer ACKs. The first closer has closed its socket: a
    /// close_notify from the peer reaches it after its FIN, and its kernel answers with a reset
    /// ([`Mark::TlsShutdownRst`]) instead of an ACK.
    pub(crate) fn answer_close(
        &mut self,
        ctx: &mut Ctx,
        first: Dir,
        at: Micros,
        after: Micros,
        close_notify: bool,
    ) -> Micros {
        let other = reverse(first);
        let reply_at = at + after;
        self.close(ctx, other, reply_at, close_notify, Mark::None);
        let last_at = reply_at + self.tcp.leg(first);
        if close_notify {
            let seq = match first {
                Dir::ToServer => self.tcp.client.nxt,
                Dir::ToClient => self.tcp.server.nxt,
            };
            self.tcp.raw(
                ctx,
                first,
                last_at,
                TcpFlags::RST,
                seq,
                0,
                &[],
                Tag::Plain,
                Mark::TlsShutdownRst,
            );
        } else {
            self.tcp.ack(ctx, first, last_at);
        }
        self.owed = [None, None];
        last_at
    }
}
