//! Typed accessors over header bytes. Each view is constructed only over a slice that the
//! dissector has checked to be long enough for the fixed part of the header.

use crate::{be16, be32};

/// An IPv4 header (at least 20 bytes available).
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Header<'a>(pub(crate) &'a [u8]);

impl<'a> Ipv4Header<'a> {
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    pub fn header_len(&self) -> usize {
        ((self.0[0] & 0x0f) as usize) * 4
    }
    pub fn dscp_ecn(&self) -> u8 {
        self.0[1]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.0, 2)
    }
    pub fn ident(&self) -> u16 {
        be16(self.0, 4)
    }
    /// The three flag bits, right-aligned (`0x2` = don't fragment).
    pub fn flags(&self) -> u8 {
        self.0[6] >> 5
    }
    pub fn dont_fragment(&self) -> bool {
        self.0[6] & 0x40 != 0
    }
    pub fn more_fragments(&self) -> bool {
        self.0[6] & 0x20 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.0, 6) & 0x1fff) * 8
    }
    pub fn ttl(&self) -> u8 {
        self.0[8]
    }
    pub fn protocol(&self) -> u8 {
        self.0[9]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.0, 10)
    }
    pub fn src(&self) -> [u8; 4] {
        [self.0[12], self.0[13], self.0[14], self.0[15]]
    }
    pub fn dst(&self) -> [u8; 4] {
        [self.0[16], self.0[17], self.0[18], self.0[19]]
    }
}

/// An IPv6 fixed header (40 bytes available).
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Header<'a>(pub(crate) &'a [u8]);

impl<'a> Ipv6Header<'a> {
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.0, 0) >> 4) & 0xff) as u8
    }
    pub fn flow_label(&self) -> u32 {
        be32(self.0, 0) & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.0, 4)
    }
    pub fn next_header(&self) -> u8 {
        self.0[6]
    }
    pub fn hop_limit(&self) -> u8 {
        self.0[7]
    }
    pub fn src(&self) -> [u8; 16] {
        self.0[8..24].try_into().unwrap_or([0; 16])
    }
    pub fn dst(&self) -> [u8; 16] {
        self.0[24..40].try_into().unwrap_or([0; 16])
    }
}

/// TCP flag bits as in the header's 12-bit flags field: the one definition of the flag values
/// in the workspace (the tracker, the analyses and the printers all read them from here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
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
    #[inline]
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    #[inline]
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    #[inline]
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    #[inline]
    pub fn psh(self) -> bool {
        self.has(Self::PSH)
    }
    #[inline]
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    #[inline]
    pub fn urg(self) -> bool {
        self.has(Self::URG)
    }
    #[inline]
    pub fn ece(self) -> bool {
        self.has(Self::ECE)
    }
    #[inline]
    pub fn cwr(self) -> bool {
        self.has(Self::CWR)
    }
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
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    pub fn src_port(&self) -> u16 {
        be16(self.0, 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.0, 2)
    }
    pub fn seq(&self) -> u32 {
        be32(self.0, 4)
    }
    pub fn ack(&self) -> u32 {
        be32(self.0, 8)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        ((self.0[12] >> 4) as usize) * 4
    }
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(be16(self.0, 12) & 0x0fff)
    }
    pub fn window(&self) -> u16 {
        be16(self.0, 14)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.0, 16)
    }
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
    pub fn options(&self) -> TcpOptions<'a> {
        TcpOptions(self.option_bytes())
    }
}

/// One parsed TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    /// SACK blocks as raw (left, right) pairs, 8 bytes each.
    Sack(&'a [u8]),
    Timestamps {
        tsval: u32,
        tsecr: u32,
    },
    Other {
        kind: u8,
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
    pub fn src_port(&self) -> u16 {
        be16(self.0, 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.0, 2)
    }
    pub fn length(&self) -> u16 {
        be16(self.0, 4)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.0, 6)
    }
}
