//! Locating the layers of one frame.

use crate::big_endian::{be16, be32};
use crate::views::{Ipv4Header, Ipv6Header, TcpHeader, UdpHeader};

/// The link-layer encapsulation, from the capture's link type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Link {
    /// A link type this crate does not dissect; the frame is listed, not decoded.
    #[default]
    Unknown,
    /// Ethernet II, possibly with up to two 802.1Q/802.1ad tags.
    Ethernet,
    /// Linux cooked capture v1 (16-byte header).
    Sll,
    /// Linux cooked capture v2 (20-byte header).
    Sll2,
    /// BSD loopback: a 4-byte address family, host order (`NULL`) or network order (`LOOP`).
    Null,
    /// IP directly, no link header.
    Raw,
}

/// The network layer found, with its offset in the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Network {
    /// No IP layer (ARP, an unknown EtherType, or a frame too short).
    #[default]
    None,
    /// IPv4, with or without options.
    Ipv4 {
        /// Where the IPv4 header starts in the frame.
        offset: u16,
        /// The IPv4 header's length, options included.
        header_len: u16,
    },
    /// `header_len` includes the extension headers walked.
    Ipv6 {
        /// Where the IPv6 fixed header starts in the frame.
        offset: u16,
        /// The fixed header plus the extension headers walked.
        header_len: u16,
        /// How many extension headers were walked.
        ext_headers: u8,
    },
}

/// The transport layer found, with its offset in the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    /// No transport layer here: not TCP/UDP, a non-first fragment, or too short.
    #[default]
    None,
    /// TCP; its payload starts at `offset + header_len`.
    Tcp {
        /// Where the TCP header starts in the frame.
        offset: u16,
        /// The TCP header's length (data offset × 4), options included.
        header_len: u16,
    },
    /// UDP; its payload starts 8 bytes after `offset`.
    Udp {
        /// Where the UDP header starts in the frame.
        offset: u16,
    },
}

/// Things about a frame that a user may need to know (all are "keep going" conditions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Problem {
    /// The capture kept fewer bytes than a header needs (snap length).
    Truncated = 1,
    /// An IP fragment: the transport layer is in the reassembled datagram, not here.
    Fragment = 2,
    /// A header field is impossible (IPv4 header length < 20, TCP data offset < 5, ...).
    Malformed = 4,
    /// The link type is not one this crate dissects.
    UnknownLinkType = 8,
}

/// Where the layers of one frame are. `Copy`, a few dozen bytes, built without allocation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dissection {
    /// Which link-layer header the frame starts with.
    pub link: Link,
    /// Bytes of link-layer header, including any VLAN tags.
    pub link_len: u16,
    /// Offsets of up to two 802.1Q tags (the 4 bytes after each tag-protocol identifier).
    pub vlan_offsets: [u16; 2],
    /// Tag protocol identifier of each tag (0x8100 802.1Q, 0x88a8 802.1ad service tag).
    pub vlan_tpids: [u16; 2],
    /// How many of `vlan_offsets` are used (0–2).
    pub vlan_count: u8,
    /// EtherType (or equivalent) of what the link layer carries; 0 when not known.
    pub ethertype: u16,
    /// The IP layer and where it is.
    pub network: Network,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub ip_proto: u8,
    /// Next-header values of the first IPv6 extension headers walked, in order (0 = unused).
    pub ipv6_ext: [u8; 4],
    /// End of the IP packet as the IP header reports it (may exceed the captured bytes).
    pub ip_end: u32,
    /// The transport layer and where it is.
    pub transport: Transport,
    /// Transport payload length as reported by the IP header (`tcp.len`), when known.
    pub payload_len: Option<u32>,
    /// For an IP fragment: identification (IPv4's 16 bits or IPv6's 32), offset in bytes and
    /// the more-fragments flag. Meaningful only with [`Problem::Fragment`].
    pub frag_id: u32,
    /// For an IP fragment: this piece's offset in the datagram, in bytes.
    pub frag_offset: u16,
    /// For an IP fragment: more pieces follow (the last piece has it clear).
    pub frag_more: bool,
    /// Offset in the frame of the IPv6 fragment header walked (atomic or not); 0 when none.
    pub ipv6_fraghdr: u16,
    problems: u8,
}

/// One IP fragment, as [`Dissection::fragment`] finds it.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// The datagram is IPv6; IPv4 and IPv6 pieces are reassembled in separate tables.
    pub ipv6: bool,
    /// Addresses; IPv4 ones in the first 4 bytes.
    pub src: [u8; 16],
    /// The receiver's address; IPv4 in the first 4 bytes.
    pub dst: [u8; 16],
    /// The datagram's identification: pieces with the same one belong together.
    pub id: u32,
    /// The protocol of the whole datagram (IPv4 protocol, IPv6 next header after the fragment
    /// header).
    pub proto: u8,
    /// Byte offset of this piece in the datagram's payload.
    pub offset: u32,
    /// More pieces follow; the piece without it fixes the datagram's length.
    pub more: bool,
    /// The piece's bytes as captured (a snap length may have cut them).
    pub data: &'a [u8],
    /// The piece's length as the IP header reports it.
    pub reported_len: u32,
    /// VLAN id of the innermost tag (0 untagged): tshark keys IPv4 reassembly on it.
    pub vlan: u16,
}

impl Dissection {
    /// True when the dissector met `p` in this frame (see [`Problem`]).
    pub fn has_problem(&self, p: Problem) -> bool {
        self.problems & p as u8 != 0
    }
    fn flag(&mut self, p: Problem) {
        self.problems |= p as u8;
    }

    /// The IPv4 header, when the frame has one.
    pub fn ipv4<'a>(&self, frame: &'a [u8]) -> Option<Ipv4Header<'a>> {
        match self.network {
            Network::Ipv4 { offset, .. } => Some(Ipv4Header(&frame[offset as usize..])),
            _ => None,
        }
    }

    /// The IPv6 fixed header, when the frame has one.
    pub fn ipv6<'a>(&self, frame: &'a [u8]) -> Option<Ipv6Header<'a>> {
        match self.network {
            Network::Ipv6 { offset, .. } => Some(Ipv6Header(&frame[offset as usize..])),
            _ => None,
        }
    }

    /// The IP fragment this frame carries, if it is one.
    pub fn fragment<'a>(&self, frame: &'a [u8]) -> Option<Fragment<'a>> {
        if !self.has_problem(Problem::Fragment) {
            return None;
        }
        let (start, ipv6, src, dst) = match self.network {
            Network::Ipv4 { offset, header_len } => {
                let h = self.ipv4(frame)?;
                let (mut s, mut t) = ([0u8; 16], [0u8; 16]);
                s[..4].copy_from_slice(&h.src());
                t[..4].copy_from_slice(&h.dst());
                (offset as usize + header_len as usize, false, s, t)
            }
            Network::Ipv6 {
                offset, header_len, ..
            } => {
                let h = self.ipv6(frame)?;
                (
                    offset as usize + header_len as usize,
                    true,
                    h.src(),
                    h.dst(),
                )
            }
            Network::None => return None,
        };
        let end = self.captured_ip_end(frame);
        let data = frame.get(start..end.max(start)).unwrap_or(&[]);
        Some(Fragment {
            ipv6,
            src,
            dst,
            id: self.frag_id,
            proto: self.ip_proto,
            offset: self.frag_offset as u32,
            more: self.frag_more,
            data,
            reported_len: (self.ip_end as usize).saturating_sub(start) as u32,
            vlan: match self.vlan_count.min(2) {
                0 => 0,
                n => {
                    let at = self.vlan_offsets[n as usize - 1] as usize;
                    frame.get(at..at + 2).map_or(0, |b| be16(b, 0) & 0x0fff)
                }
            },
        })
    }

    /// Offset of the network header in the frame.
    pub fn network_offset(&self) -> Option<usize> {
        match self.network {
            Network::Ipv4 { offset, .. } | Network::Ipv6 { offset, .. } => Some(offset as usize),
            Network::None => None,
        }
    }

    /// The TCP header (options and payload as far as captured) when this frame carries one
    /// itself; see [`Fragment`] for TCP inside IP fragments.
    pub fn tcp<'a>(&self, frame: &'a [u8]) -> Option<TcpHeader<'a>> {
        match self.transport {
            Transport::Tcp { offset, .. } => Some(TcpHeader(
                &frame[offset as usize..self.captured_ip_end(frame)],
            )),
            _ => None,
        }
    }

    /// The UDP header when this frame carries one itself.
    pub fn udp<'a>(&self, frame: &'a [u8]) -> Option<UdpHeader<'a>> {
        match self.transport {
            Transport::Udp { offset } => Some(UdpHeader(&frame[offset as usize..])),
            _ => None,
        }
    }

    /// Offset of the transport header in the frame.
    pub fn transport_offset(&self) -> Option<usize> {
        match self.transport {
            Transport::Tcp { offset, .. } | Transport::Udp { offset } => Some(offset as usize),
            Transport::None => None,
        }
    }

    /// The transport layer's bytes as captured: header and payload, stopping at the IP
    /// packet's end (Ethernet padding excluded). This is the value of the `tcp`/`udp` protocol
    /// field in filters.
    pub fn transport_bytes<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        match self.transport_offset() {
            Some(off) => &frame[off..self.captured_ip_end(frame).max(off)],
            None => &[],
        }
    }

    /// The transport payload as captured (may be shorter than `payload_len`).
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = match self.transport {
            Transport::Tcp { offset, header_len } => offset as usize + header_len as usize,
            Transport::Udp { offset } => offset as usize + 8,
            Transport::None => return &[],
        };
        let end = self.captured_ip_end(frame);
        if start >= end {
            &[]
        } else {
            &frame[start..end]
        }
    }

    /// Bytes after the IP packet inside the frame (Ethernet padding or trailer).
    pub fn trailer<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        if self.network == Network::None {
            return &[];
        }
        let end = self.captured_ip_end(frame);
        &frame[end..]
    }

    fn captured_ip_end(&self, frame: &[u8]) -> usize {
        (self.ip_end as usize).min(frame.len())
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// Dissects one frame. `orig_len` is the length on the wire (from the capture record), used to
/// bound the IP packet's reported length the way tshark's "reported length" does.
pub fn dissect(link_type: u32, frame: &[u8], orig_len: u32) -> Dissection {
    let mut d = Dissection::default();
    let (link, offset, ethertype) = match link_type {
        1 => {
            d.link = Link::Ethernet;
            if frame.len() < 14 {
                d.flag(Problem::Truncated);
                return d;
            }
            let mut off = 12;
            let mut et = be16(frame, off);
            while matches!(et, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
                if frame.len() < off + 6 {
                    d.flag(Problem::Truncated);
                    return d;
                }
                if (d.vlan_count as usize) < d.vlan_offsets.len() {
                    d.vlan_offsets[d.vlan_count as usize] = (off + 2) as u16;
                    d.vlan_tpids[d.vlan_count as usize] = et;
                }
                d.vlan_count = d.vlan_count.saturating_add(1);
                off += 4;
                et = be16(frame, off);
            }
            (Link::Ethernet, off + 2, et)
        }
        113 => {
            if frame.len() < 16 {
                d.link = Link::Sll;
                d.flag(Problem::Truncated);
                return d;
            }
            (Link::Sll, 16, be16(frame, 14))
        }
        276 => {
            if frame.len() < 20 {
                d.link = Link::Sll2;
                d.flag(Problem::Truncated);
                return d;
            }
            (Link::Sll2, 20, be16(frame, 0))
        }
        0 | 108 => {
            if frame.len() < 4 {
                d.link = Link::Null;
                d.flag(Problem::Truncated);
                return d;
            }
            // NULL stores the family in the capturing host's byte order; a value that does not
            // fit in 16 bits was written by a host of the other endianness.
            let raw = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let family = if link_type == 108 {
                be32(frame, 0)
            } else if raw & 0xffff_0000 != 0 {
                raw.swap_bytes()
            } else {
                raw
            };
            let et = match family {
                2 => ETHERTYPE_IPV4,
                10 | 24 | 28 | 30 => ETHERTYPE_IPV6,
                _ => 0,
            };
            (Link::Null, 4, et)
        }
        101 | 12 | 14 => {
            let et = match frame.first().map(|b| b >> 4) {
                Some(4) => ETHERTYPE_IPV4,
                Some(6) => ETHERTYPE_IPV6,
                _ => 0,
            };
            (Link::Raw, 0, et)
        }
        228 => (Link::Raw, 0, ETHERTYPE_IPV4),
        229 => (Link::Raw, 0, ETHERTYPE_IPV6),
        _ => {
            d.flag(Problem::UnknownLinkType);
            return d;
        }
    };
    d.link = link;
    d.link_len = offset as u16;
    d.ethertype = ethertype;
    let reported_end = (orig_len as usize).max(frame.len());
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(&mut d, frame, offset, reported_end),
        ETHERTYPE_IPV6 => ipv6(&mut d, frame, offset, reported_end),
        _ => {}
    }
    d
}

fn ipv4(d: &mut Dissection, frame: &[u8], off: usize, reported_end: usize) {
    if frame.len() < off + 20 {
        d.flag(Problem::Truncated);
        return;
    }
    let h = Ipv4Header(&frame[off..]);
    let hlen = h.header_len();
    let total = h.total_len() as usize;
    if hlen < 20 || total < hlen || (h.0[0] >> 4) != 4 {
        d.flag(Problem::Malformed);
        return;
    }
    if frame.len() < off + hlen {
        d.flag(Problem::Truncated);
        d.network = Network::Ipv4 {
            offset: off as u16,
            header_len: hlen as u16,
        };
        d.ip_end = (off + total).min(reported_end) as u32;
        return;
    }
    d.network = Network::Ipv4 {
        offset: off as u16,
        header_len: hlen as u16,
    };
    d.ip_proto = h.protocol();
    // tshark bounds the IP payload by what the frame reports, so a bogus total length cannot
    // claim bytes beyond the frame.
    d.ip_end = (off + total).min(reported_end) as u32;
    if h.more_fragments() || h.frag_offset() != 0 {
        d.flag(Problem::Fragment);
        d.frag_id = h.ident() as u32;
        d.frag_offset = h.frag_offset();
        d.frag_more = h.more_fragments();
        // tshark cannot reassemble a piece the snap length cut, and then dissects the first
        // piece's payload as the transport layer anyway (IPv4 only; IPv6 shows it as data).
        let cut = frame.len() < d.ip_end as usize;
        if !(cut && h.frag_offset() == 0) {
            return;
        }
    }
    transport(d, frame, off + hlen, h.protocol());
}

fn ipv6(d: &mut Dissection, frame: &[u8], off: usize, reported_end: usize) {
    if frame.len() < off + 40 {
        d.flag(Problem::Truncated);
        return;
    }
    let h = Ipv6Header(&frame[off..]);
    if (h.0[0] >> 4) != 6 {
        d.flag(Problem::Malformed);
        return;
    }
    d.ip_end = (off + 40 + h.payload_len() as usize).min(reported_end) as u32;
    let mut next = h.next_header();
    let mut pos = off + 40;
    let mut ext = 0u8;
    loop {
        match next {
            // Hop-by-hop, routing, destination options, mobility: (next, len in 8-octet units - 1).
            0 | 43 | 60 | 135 | 139 | 140 => {
                if frame.len() < pos + 2 {
                    d.flag(Problem::Truncated);
                    break;
                }
                let len = (frame[pos + 1] as usize + 1) * 8;
                if (ext as usize) < d.ipv6_ext.len() {
                    d.ipv6_ext[ext as usize] = next;
                }
                next = frame[pos];
                pos += len;
                ext += 1;
            }
            // Fragment header: fixed 8 bytes; only an unfragmented ("atomic") one lets us go on.
            44 => {
                if frame.len() < pos + 8 {
                    d.flag(Problem::Truncated);
                    break;
                }
                let offset_flags = be16(frame, pos + 2);
                if d.ipv6_fraghdr == 0 {
                    d.ipv6_fraghdr = pos as u16;
                }
                if (ext as usize) < d.ipv6_ext.len() {
                    d.ipv6_ext[ext as usize] = 44;
                }
                next = frame[pos];
                pos += 8;
                ext += 1;
                if offset_flags & 0xfff9 != 0 {
                    d.flag(Problem::Fragment);
                    d.frag_id = be32(frame, pos - 4);
                    d.frag_offset = offset_flags & 0xfff8;
                    d.frag_more = offset_flags & 1 != 0;
                    d.network = Network::Ipv6 {
                        offset: off as u16,
                        header_len: (pos - off) as u16,
                        ext_headers: ext,
                    };
                    d.ip_proto = next;
                    return;
                }
            }
            // Authentication header: length in 4-octet units - 2.
            51 => {
                if frame.len() < pos + 2 {
                    d.flag(Problem::Truncated);
                    break;
                }
                let len = (frame[pos + 1] as usize + 2) * 4;
                if (ext as usize) < d.ipv6_ext.len() {
                    d.ipv6_ext[ext as usize] = 51;
                }
                next = frame[pos];
                pos += len;
                ext += 1;
            }
            _ => break,
        }
        if ext > 16 {
            d.flag(Problem::Malformed);
            break;
        }
    }
    d.network = Network::Ipv6 {
        offset: off as u16,
        header_len: (pos - off) as u16,
        ext_headers: ext,
    };
    d.ip_proto = next;
    if pos > frame.len() {
        d.flag(Problem::Truncated);
        return;
    }
    transport(d, frame, pos, next);
}

fn transport(d: &mut Dissection, frame: &[u8], off: usize, proto: u8) {
    let ip_end = d.ip_end as usize;
    match proto {
        6 => {
            if frame.len() < off + 20 {
                d.flag(Problem::Truncated);
                return;
            }
            let hlen = ((frame[off + 12] >> 4) as usize) * 4;
            if hlen < 20 {
                d.flag(Problem::Malformed);
                return;
            }
            if off + hlen > ip_end {
                // The header claims more than the IP packet holds: tshark reports a bogus
                // header length and gives no tcp.len.
                d.flag(Problem::Malformed);
                return;
            }
            if frame.len() < off + hlen {
                d.flag(Problem::Truncated);
            }
            d.transport = Transport::Tcp {
                offset: off as u16,
                header_len: hlen as u16,
            };
            d.payload_len = Some((ip_end - off - hlen) as u32);
        }
        17 => {
            if frame.len() < off + 8 {
                d.flag(Problem::Truncated);
                return;
            }
            d.transport = Transport::Udp { offset: off as u16 };
            d.payload_len = Some(ip_end.saturating_sub(off + 8) as u32);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 20 + 20 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ]);
        f.extend_from_slice(&[
            0x9c, 0x40, 0x1e, 0x61, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x01, 0xf6, 0, 0, 0, 0,
        ]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn finds_tcp_and_payload() {
        let f = eth_ipv4_tcp(b"\x01");
        let d = dissect(1, &f, f.len() as u32);
        let tcp = d.tcp(&f).unwrap();
        assert_eq!(
            (tcp.src_port(), tcp.dst_port(), tcp.seq()),
            (40000, 7777, 1)
        );
        assert!(tcp.flags().psh() && tcp.flags().ack());
        assert_eq!(d.payload_len, Some(1));
        assert_eq!(d.payload(&f), b"\x01");
    }

    #[test]
    fn snaplen_cut_keeps_reported_length_and_padding_is_not_payload() {
        let mut f = eth_ipv4_tcp(b"abcdefg");
        let orig = f.len() as u32;
        f.truncate(f.len() - 1);
        let d = dissect(1, &f, orig);
        assert_eq!(d.payload_len, Some(7));
        assert_eq!(d.payload(&f), b"abcdef");

        let mut padded = eth_ipv4_tcp(b"");
        padded.extend_from_slice(&[0; 6]);
        let d = dissect(1, &padded, padded.len() as u32);
        assert_eq!(d.payload_len, Some(0));
        assert!(d.payload(&padded).is_empty());
        assert_eq!(d.trailer(&padded).len(), 6);
    }

    #[test]
    fn vlan_and_qinq_tags_are_walked() {
        let plain = eth_ipv4_tcp(b"x");
        let mut f = plain[..12].to_vec();
        f.extend_from_slice(&[0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200]);
        f.extend_from_slice(&plain[12..]);
        let d = dissect(1, &f, f.len() as u32);
        assert_eq!(d.vlan_count, 2);
        assert_eq!(d.tcp(&f).unwrap().dst_port(), 7777);
    }

    #[test]
    fn never_panics_on_short_or_random_frames() {
        let mut seed = 0x1234_5678_u32;
        for len in 0..200usize {
            for lt in [0u32, 1, 12, 101, 108, 113, 228, 229, 276, 147] {
                let f: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        (seed & 0xff) as u8
                    })
                    .collect();
                let d = dissect(lt, &f, len as u32);
                let _ = (
                    d.tcp(&f).map(|t| t.options().count()),
                    d.payload(&f),
                    d.trailer(&f),
                    d.transport_bytes(&f),
                );
            }
        }
    }
}
