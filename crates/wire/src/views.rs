//! Typed accessors over header bytes. Each view is constructed only over a slice that the
//! dissector has checked to be long enough for the fixed part of the header.

use crate::big_endian::{be16, be32};

/// An IPv4 header (at least 20 bytes available).
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Header<'a>(pub(crate) &'a [u8]);

impl<'a> Ipv4Header<'a> {
    /// The header and everything after it in the frame, for fields that show raw bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    /// `ip.hdr_len` in bytes (IHL × 4): where the options end and the transport starts.
    pub fn header_len(&self) -> usize {
        ((self.0[0] & 0x0f) as usize) * 4
    }
    /// `ip.dsfield`: the DSCP class in the upper six bits, ECN in the lower two.
    pub fn dscp_ecn(&self) -> u8 {
        self.0[1]
    }
    /// `ip.len`: the packet's length as sent, which bounds the payload even when Ethernet padding follows.
    pub fn total_len(&self) -> u16 {
        be16(self.0, 2)
    }
    /// `ip.id`: ties the fragments of one datagram together.
    pub fn ident(&self) -> u16 {
        be16(self.0, 4)
    }
    /// The three flag bits, right-aligned (`0x2` = don't fragment).
    pub fn flags(&self) -> u8 {
        self.0[6] >> 5
    }
    /// `ip.flags.df`: routers must drop rather than fragment (path MTU discovery).
    pub fn dont_fragment(&self) -> bool {
        self.0[6] & 0x40 != 0
    }
    /// `ip.flags.mf`: more fragments of this datagram follow.
    pub fn more_fragments(&self) -> bool {
        self.0[6] & 0x20 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.0, 6) & 0x1fff) * 8
    }
    /// `ip.ttl`: hops left; a change within one connection hints at a middlebox answering.
    pub fn ttl(&self) -> u8 {
        self.0[8]
    }
    /// `ip.proto`: what the payload is (6 TCP, 17 UDP).
    pub fn protocol(&self) -> u8 {
        self.0[9]
    }
    /// `ip.checksum` as on the wire (not verified, as tshark does by default).
    pub fn checksum(&self) -> u16 {
        be16(self.0, 10)
    }
    /// `ip.src`: the sender's address.
    pub fn src(&self) -> [u8; 4] {
        [self.0[12], self.0[13], self.0[14], self.0[15]]
    }
    /// `ip.dst`: the receiver's address.
    pub fn dst(&self) -> [u8; 4] {
        [self.0[16], self.0[17], self.0[18], self.0[19]]
    }
}

/// An IPv6 fixed header (40 bytes available).
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Header<'a>(pub(crate) &'a [u8]);

impl<'a> Ipv6Header<'a> {
    /// The fixed header and everything after it in the frame.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    /// `ipv6.tclass`: DSCP and ECN, as IPv4's DS field.
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.0, 0) >> 4) & 0xff) as u8
    }
    /// `ipv6.flow`: the sender's label for packets to keep on one path.
    pub fn flow_label(&self) -> u32 {
        be32(self.0, 0) & 0x000f_ffff
    }
    /// `ipv6.plen`: bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        be16(self.0, 4)
    }
    /// `ipv6.nxt`: the first extension header or the transport protocol.
    pub fn next_header(&self) -> u8 {
        self.0[6]
    }
    /// `ipv6.hlim`: IPv6's TTL.
    pub fn hop_limit(&self) -> u8 {
        self.0[7]
    }
    /// `ipv6.src`: the sender's address.
    pub fn src(&self) -> [u8; 16] {
        self.0[8..24].try_into().unwrap_or([0; 16])
    }
    /// `ipv6.dst`: the receiver's address.
    pub fn dst(&self) -> [u8; 16] {
        self.0[24..40].try_into().unwrap_or([0; 16])
    }
}

/// TCP flag bits as in the header's 12-bit flags field: the one definition of the flag values
/// in the workspace (the tracker, the analyses and the printers all read them from here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// The sender has no more data (an orderly close).
    pub const FIN: u16 = 0x001;
    /// Opens a connection and carries the initial sequence number.
    pub const SYN: u16 = 0x002;
    /// Aborts the connection at once; what a NAT, firewall or closed port sends.
    pub const RST: u16 = 0x004;
    /// The sender asks for the data to be delivered without waiting.
    pub const PSH: u16 = 0x008;
    /// The acknowledgment number is valid; set on every segment after the SYN.
    pub const ACK: u16 = 0x010;
    /// The urgent pointer is valid (almost never used).
    pub const URG: u16 = 0x020;
    /// ECN echo: the receiver saw congestion marks.
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced: the sender reacted to an ECN echo.
    pub const CWR: u16 = 0x080;
    /// Accurate ECN (RFC 9768), formerly the nonce sum bit.
    pub const AE: u16 = 0x100;
    /// The three reserved bits.
    pub const RES: u16 = 0xe00;

    /// True when any of `bits` is set.
    #[inline]
    pub fn has(self, bits: u16) -> bool {
        self.0 & bits != 0
    }
    /// True on a FIN segment.
    #[inline]
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// True on a SYN or SYN+ACK.
    #[inline]
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// True on a reset.
    #[inline]
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    /// True when PSH is set.
    #[inline]
    pub fn psh(self) -> bool {
        self.has(Self::PSH)
    }
    /// True when the acknowledgment number is valid.
    #[inline]
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    /// True when URG is set.
    #[inline]
    pub fn urg(self) -> bool {
        self.has(Self::URG)
    }
    /// True when ECE is set.
    #[inline]
    pub fn ece(self) -> bool {
        self.has(Self::ECE)
    }
    /// True when CWR is set.
    #[inline]
    pub fn cwr(self) -> bool {
        self.has(Self::CWR)
    }
    /// True when the AE (formerly NS) bit is set.
    #[inline]
    pub fn ae(self) -> bool {
        self.has(Self::AE)
    }
}

/// A TCP header (at least the 20-byte fixed part available; options as far as captured).
#[derive(Clone, Copy, Debug)]
pub struct TcpHeader<'a>(pub(crate) &'a [u8]);

impl<'a> TcpHeader<'a> {
    /// A TCP header at the start of `b` (header, options, payload), as a reassembled IP
    /// datagram carries it: `None` unless the data offset is at least 20 bytes and all of the
    /// header is in `b`.
    pub fn new(b: &'a [u8]) -> Option<Self> {
        let hlen = ((*b.get(12)? >> 4) as usize) * 4;
        (b.len() >= 20 && hlen >= 20 && hlen <= b.len()).then_some(TcpHeader(b))
    }
    /// The header, its options and the payload as captured.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    /// `tcp.srcport`: the sender's port.
    pub fn src_port(&self) -> u16 {
        be16(self.0, 0)
    }
    /// `tcp.dstport`: the receiver's port.
    pub fn dst_port(&self) -> u16 {
        be16(self.0, 2)
    }
    /// The absolute sequence number (`tcp.seq_raw`); the tracker makes it relative.
    pub fn seq(&self) -> u32 {
        be32(self.0, 4)
    }
    /// The absolute acknowledgment number (`tcp.ack_raw`).
    pub fn ack(&self) -> u32 {
        be32(self.0, 8)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        ((self.0[12] >> 4) as usize) * 4
    }
    /// `tcp.flags`: the 12 flag bits, reserved bits included.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(be16(self.0, 12) & 0x0fff)
    }
    /// `tcp.window_size_value`: the window as sent, before scaling.
    pub fn window(&self) -> u16 {
        be16(self.0, 14)
    }
    /// `tcp.checksum` as on the wire (not verified, as tshark does by default).
    pub fn checksum(&self) -> u16 {
        be16(self.0, 16)
    }
    /// `tcp.urgent_pointer`, meaningful only with URG.
    pub fn urgent_pointer(&self) -> u16 {
        be16(self.0, 18)
    }
    /// The option bytes that were captured (may be fewer than the header announces).
    pub fn option_bytes(&self) -> &'a [u8] {
        let end = self
            .header_len()
            .clamp(20, self.0.len().max(20))
            .min(self.0.len());
        &self.0[20.min(end)..end]
    }
    /// The options as parsed items (MSS, window scale, SACK, time stamps, ...).
    pub fn options(&self) -> TcpOptions<'a> {
        TcpOptions(self.option_bytes())
    }
}

/// One parsed TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 1: padding that aligns the next option.
    Nop,
    /// Kind 2: the largest segment the sender wants to receive.
    Mss(u16),
    /// Kind 3: the shift the sender applies to its windows (SYN only).
    WindowScale(u8),
    /// Kind 4: the sender understands selective acknowledgments (SYN only).
    SackPermitted,
    /// SACK blocks as raw (left, right) pairs, 8 bytes each.
    Sack(&'a [u8]),
    /// Kind 8: RFC 7323 time stamps, used for RTT measurement and PAWS.
    Timestamps {
        /// The sender's clock.
        tsval: u32,
        /// The peer's clock value being echoed.
        tsecr: u32,
    },
    /// Any other option, kept raw.
    Other {
        /// The option kind byte.
        kind: u8,
        /// The option's bytes after kind and length.
        data: &'a [u8],
    },
}

/// Iterator over TCP options; stops at end-of-options or at the first malformed option.
#[derive(Clone, Copy, Debug)]
pub struct TcpOptions<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for TcpOptions<'a> {
    type Item = TcpOption<'a>;
    fn next(&mut self) -> Option<TcpOption<'a>> {
        let b = self.0;
        let kind = *b.first()?;
        match kind {
            0 => {
                self.0 = &[];
                None
            }
            1 => {
                self.0 = &b[1..];
                Some(TcpOption::Nop)
            }
            _ => {
                let len = *b.get(1)? as usize;
                if len < 2 || len > b.len() {
                    self.0 = &[];
                    return None;
                }
                let data = &b[2..len];
                self.0 = &b[len..];
                Some(match (kind, data.len()) {
                    (2, 2) => TcpOption::Mss(be16(data, 0)),
                    (3, 1) => TcpOption::WindowScale(data[0]),
                    (4, 0) => TcpOption::SackPermitted,
                    (5, n) if n % 8 == 0 => TcpOption::Sack(data),
                    (8, 8) => TcpOption::Timestamps {
                        tsval: be32(data, 0),
                        tsecr: be32(data, 4),
                    },
                    _ => TcpOption::Other { kind, data },
                })
            }
        }
    }
}

/// A UDP header (8 bytes available).
#[derive(Clone, Copy, Debug)]
pub struct UdpHeader<'a>(pub(crate) &'a [u8]);

impl<'a> UdpHeader<'a> {
    /// A view over `b`, when it holds at least the 8-byte header (used for a UDP header that
    /// is not inside one frame, e.g. at the start of a reassembled IP datagram).
    pub fn new(b: &'a [u8]) -> Option<Self> {
        (b.len() >= 8).then_some(UdpHeader(b))
    }
    /// `udp.srcport`: the sender's port.
    pub fn src_port(&self) -> u16 {
        be16(self.0, 0)
    }
    /// `udp.dstport`: the receiver's port.
    pub fn dst_port(&self) -> u16 {
        be16(self.0, 2)
    }
    /// `udp.length`: header plus payload as the sender declared it.
    pub fn length(&self) -> u16 {
        be16(self.0, 4)
    }
    /// `udp.checksum` as on the wire (0: the sender computed none).
    pub fn checksum(&self) -> u16 {
        be16(self.0, 6)
    }
}
