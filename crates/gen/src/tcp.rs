//! One TCP connection seen from the server's NIC: both directions, their sequence numbers, and
//! the frames they send. Sequence arithmetic is exact (mod 2^32): SYN and FIN take one number,
//! data its length, and an acknowledgement names the next byte its sender has received.

use crate::clock::Micros;
use crate::packet::{Path, SegmentSpec};
use crate::sim::{ConnId, Ctx, Mark, Tag};
use crate::truth::Detail;
use crate::world::{Client, Server, ROUTER_MAC};
use keepsight_wire::TcpFlags;

/// Which way a segment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    ToServer,
    ToClient,
}

/// One end's sending state.
pub(crate) struct End {
    pub(crate) path: Path,
    /// Next sequence number it sends.
    pub(crate) nxt: u32,
    /// Next sequence number it expects from its peer (its acknowledgement number).
    pub(crate) rcv: u32,
    /// Window field after the handshake (scaled by 2^7); constant, so tshark sees no window
    /// updates.
    pub(crate) window: u16,
    /// Window field of its SYN.
    syn_window: u16,
}

pub(crate) struct Tcp {
    pub(crate) id: ConnId,
    pub(crate) client: End,
    pub(crate) server: End,
    /// Round trip between the capture point and the client.
    pub(crate) rtt: Micros,
    pub(crate) mss: u16,
}

/// Linux's SYN windows (unscaled in a SYN).
const CLIENT_SYN_WINDOW: u16 = 64_240;
const SERVER_SYN_WINDOW: u16 = 65_160;
/// Default receive windows after the handshake: 64,128 and 65,152 bytes.
pub(crate) const CLIENT_WINDOW: u16 = 501;
pub(crate) const SERVER_WINDOW: u16 = 509;

impl Tcp {
    /// A connection from `client` (a new ephemeral port) to `server`; no frame is sent yet.
    pub(crate) fn new(ctx: &mut Ctx, client: Client, server: Server, detail: Detail) -> Tcp {
        let sport = client.port;
        let server_ip = server.address(client.ip.is_v6());
        let id = ctx.new_connection(
            client.ip.socket(sport),
            server_ip.socket(server.port),
            detail,
        );
        let mss = if client.ip.is_v6() { 1440 } else { 1460 };
        let client_isn = ctx.rng.u32();
        let server_isn = ctx.rng.u32();
        let client_path = Path {
            src_mac: ROUTER_MAC,
            dst_mac: server.mac,
            src: client.ip,
            dst: server_ip,
            sport,
            dport: server.port,
            ttl: client.ttl,
            ip_id: ctx.rng.u32() as u16,
            flow_label: ctx.rng.u32() & 0xF_FFFF,
            padded: true,
        };
        let server_path = Path {
            src_mac: server.mac,
            dst_mac: ROUTER_MAC,
            src: server_ip,
            dst: client.ip,
            sport: server.port,
            dport: sport,
            ttl: 64,
            ip_id: ctx.rng.u32() as u16,
            flow_label: ctx.rng.u32() & 0xF_FFFF,
            padded: false,
        };
        Tcp {
            id,
            client: End {
                path: client_path,
                nxt: client_isn,
                rcv: 0,
                window: CLIENT_WINDOW,
                syn_window: CLIENT_SYN_WINDOW,
            },
            server: End {
                path: server_path,
                nxt: server_isn,
                rcv: 0,
                window: SERVER_WINDOW,
                syn_window: SERVER_SYN_WINDOW,
            },
            rtt: client.rtt,
            mss,
        }
    }

    fn ends(&mut self, dir: Dir) -> (&mut End, &mut End) {
        match dir {
            Dir::ToServer => (&mut self.client, &mut self.server),
            Dir::ToClient => (&mut self.server, &mut self.client),
        }
    }

    /// SYN at `at`, SYN/ACK right after, the client's ACK one round trip later. Returns the
    /// time of that ACK.
    pub(crate) fn handshake(&mut self, ctx: &mut Ctx, at: Micros) -> Micros {
        self.handshake_tagged(ctx, at, Tag::Plain)
    }

    /// [`Tcp::handshake`] with the SYN counted as `syn_tag`.
    pub(crate) fn handshake_tagged(&mut self, ctx: &mut Ctx, at: Micros, syn_tag: Tag) -> Micros {
        let syn_ack_at = at + ctx.rng.range(8, 40);
        let ack_at = syn_ack_at + self.rtt + ctx.rng.range(5, 60);
        self.opening(ctx, Dir::ToServer, at, TcpFlags::SYN, syn_tag);
        self.opening(
            ctx,
            Dir::ToClient,
            syn_ack_at,
            TcpFlags::SYN | TcpFlags::ACK,
            Tag::Plain,
        );
        self.ack(ctx, Dir::ToServer, ack_at);
        ack_at
    }

    /// The client's SYN alone.
    pub(crate) fn syn(&mut self, ctx: &mut Ctx, at: Micros) {
        self.opening(ctx, Dir::ToServer, at, TcpFlags::SYN, Tag::Plain);
    }

    fn opening(&mut self, ctx: &mut Ctx, dir: Dir, at: Micros, flags: u16, tag: Tag) {
        let (id, mss) = (self.id, self.mss);
        let (me, peer) = self.ends(dir);
        let seg = SegmentSpec {
            flags,
            seq: me.nxt,
            ack: me.rcv,
            window: me.syn_window,
            payload: &[],
            syn_mss: Some(mss),
        };
        ctx.emit(at, id, &mut me.path, &seg, tag, Mark::None);
        me.nxt = me.nxt.wrapping_add(1);
        peer.rcv = me.nxt;
    }

    /// A segment with explicit numbers; no state changes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn raw(
        &mut self,
        ctx: &mut Ctx,
        dir: Dir,
        at: Micros,
        flags: u16,
        seq: u32,
        ack: u32,
        payload: &[u8],
        tag: Tag,
        mark: Mark,
    ) {
        let id = self.id;
        let (me, _) = self.ends(dir);
        let window = if flags & TcpFlags::RST != 0 && flags & TcpFlags::ACK == 0 {
            0
        } else {
            me.window
        };
        let seg = SegmentSpec {
            flags,
            seq,
            ack,
            window,
            payload,
            syn_mss: None,
        };
        ctx.emit(at, id, &mut me.path, &seg, tag, mark);
    }

    /// Sends at the sender's next sequence number, acknowledging all it has received; the
    /// peer receives it (its acknowledgement number moves past it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &mut self,
        ctx: &mut Ctx,
        dir: Dir,
        at: Micros,
        flags: u16,
        payload: &[u8],
        tag: Tag,
        mark: Mark,
    ) {
        self.send_in_flight(ctx, dir, at, flags, payload, tag, mark);
        self.deliver(dir);
    }

    /// Like [`Tcp::send`], but the peer has not received it (yet): lost downstream of the
    /// capture point, or crossing a segment coming the other way.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_in_flight(
        &mut self,
        ctx: &mut Ctx,
        dir: Dir,
        at: Micros,
        flags: u16,
        payload: &[u8],
        tag: Tag,
        mark: Mark,
    ) {
        let (me, _) = self.ends(dir);
        let (seq, ack) = (me.nxt, me.rcv);
        let used = payload.len() as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        me.nxt = me.nxt.wrapping_add(used);
        self.raw(ctx, dir, at, flags, seq, ack, payload, tag, mark);
    }

    /// The peer now has everything the sender sent.
    pub(crate) fn deliver(&mut self, dir: Dir) {
        let (me, peer) = self.ends(dir);
        peer.rcv = me.nxt;
    }

    /// A pure ACK of everything received.
    pub(crate) fn ack(&mut self, ctx: &mut Ctx, dir: Dir, at: Micros) {
        let (me, _) = self.ends(dir);
        let (seq, ack) = (me.nxt, me.rcv);
        self.raw(
            ctx,
            dir,
            at,
            TcpFlags::ACK,
            seq,
            ack,
            &[],
            Tag::Plain,
            Mark::None,
        );
    }

    /// A pure ACK up to `ack` (the sender has not taken in later segments yet).
    pub(crate) fn ack_to(&mut self, ctx: &mut Ctx, dir: Dir, at: Micros, ack: u32, tag: Tag) {
        let (me, _) = self.ends(dir);
        let seq = me.nxt;
        self.raw(ctx, dir, at, TcpFlags::ACK, seq, ack, &[], tag, Mark::None);
    }

    /// FIN at `at`, the peer's FIN right after (`reply_after`), the last ACK one leg later.
    /// `first` closes first; `mark` goes on its FIN.
    pub(crate) fn close_both(
        &mut self,
        ctx: &mut Ctx,
        first: Dir,
        at: Micros,
        reply_after: Micros,
        mark: Mark,
    ) -> Micros {
        let other = match first {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        };
        let fa = TcpFlags::FIN | TcpFlags::ACK;
        self.send(ctx, first, at, fa, &[], Tag::Plain, mark);
        let reply_at = at + reply_after;
        self.send(ctx, other, reply_at, fa, &[], Tag::Plain, Mark::None);
        let last_at = reply_at + self.leg(first);
        self.ack(ctx, first, last_at);
        last_at
    }

    /// Time from a frame of `dir`'s peer at the capture point to the answer of the `dir` side:
    /// a round trip for the client, a few microseconds for the server.
    pub(crate) fn leg(&self, dir: Dir) -> Micros {
        match dir {
            Dir::ToServer => self.rtt,
            Dir::ToClient => 20,
        }
    }
}
