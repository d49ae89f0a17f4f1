//! The input of the diagnoser: one TCP segment as the engine's dissector saw it.
//!
//! This crate deliberately does not depend on the capture engine: the engine (or a test) turns its
//! own packet representation into a [`Segment`] and feeds it to [`crate::Diagnoser::on_segment`].

use std::net::SocketAddr;

/// TCP header flag bits, as in the raw header.
pub mod flags {
    pub const FIN: u16 = 0x01;
    pub const SYN: u16 = 0x02;
    pub const RST: u16 = 0x04;
    pub const PSH: u16 = 0x08;
    pub const ACK: u16 = 0x10;
    pub const URG: u16 = 0x20;
    pub const ECE: u16 = 0x40;
    pub const CWR: u16 = 0x80;
}

/// tshark's TCP analysis flags (`tcp.analysis.*`), one bit each.
pub mod analysis {
    pub const RETRANSMISSION: u32 = 0x1;
    pub const LOST_PACKET: u32 = 0x2;
    pub const ACK_LOST_PACKET: u32 = 0x4;
    pub const KEEP_ALIVE: u32 = 0x8;
    pub const DUPLICATE_ACK: u32 = 0x10;
    pub const ZERO_WINDOW: u32 = 0x20;
    pub const ZERO_WINDOW_PROBE: u32 = 0x40;
    pub const ZERO_WINDOW_PROBE_ACK: u32 = 0x80;
    pub const KEEP_ALIVE_ACK: u32 = 0x100;
    pub const OUT_OF_ORDER: u32 = 0x200;
    pub const FAST_RETRANSMISSION: u32 = 0x400;
    pub const WINDOW_UPDATE: u32 = 0x800;
    pub const WINDOW_FULL: u32 = 0x1000;
    pub const REUSED_PORTS: u32 = 0x2000;
    pub const SPURIOUS_RETRANSMISSION: u32 = 0x4000;
    /// Any flavour of "this payload was sent before".
    pub const ANY_RETRANSMISSION: u32 =
        RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION;
}

/// One TCP segment, borrowed from the engine for the duration of one `on_segment` call.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Frame number, from 1.
    pub frame: u32,
    /// Absolute capture time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// `tcp.stream`, as tshark numbers it.
    pub stream: u32,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Raw TCP flags, see [`flags`].
    pub flags: u16,
    /// Relative sequence number (`tcp.seq`).
    pub seq: u32,
    /// Relative acknowledgement number (`tcp.ack`).
    pub ack: u32,
    /// `tcp.len`, from the IP length; `payload` may be shorter when the snaplen cut it.
    pub len: u32,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Scaled receive window (`tcp.window_size`).
    pub window: u32,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// tshark analysis flags, see [`analysis`].
    pub analysis: u32,
}

impl Segment<'_> {
    #[inline]
    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
}
