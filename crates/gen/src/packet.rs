//! Frames on the wire: Ethernet II, IPv4 or IPv6, TCP. Headers and checksums are written by
//! `etherparse`; this module decides the field values a Linux host would put there.

use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, TcpHeader,
    TcpOptionElement,
};
use keepsight_wire::TcpFlags;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An address of either family; both ends of one connection share the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Ip {
    pub(crate) fn is_v6(self) -> bool {
        matches!(self, Ip::V6(_))
    }

    pub(crate) fn socket(self, port: u16) -> SocketAddr {
        match self {
            Ip::V4(a) => SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port),
            Ip::V6(a) => SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port),
        }
    }
}

/// Ethernet's minimum frame (without FCS): shorter frames arrive padded from the wire.
const MIN_FRAME: usize = 60;

/// Window scale both ends announce (shift 7, as Linux does for its default buffers).
pub(crate) const WINDOW_SCALE: u8 = 7;

/// One direction of one connection, as the capture point sees it.
pub(crate) struct Path {
    pub(crate) src_mac: [u8; 6],
    pub(crate) dst_mac: [u8; 6],
    pub(crate) src: Ip,
    pub(crate) dst: Ip,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
    pub(crate) ttl: u8,
    /// IPv4 identification: Linux keeps a per-socket counter for DF traffic.
    pub(crate) ip_id: u16,
    pub(crate) flow_label: u32,
    /// Frames that came in from the wire are at least 60 bytes (Ethernet padding); frames the
    /// capturing host sends are captured before the NIC pads them.
    pub(crate) padded: bool,
}

/// What goes into one TCP header the generator writes (not `keepsight_tcp::Segment`, the
/// parsed view the analyses read).
pub(crate) struct SegmentSpec<'a> {
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) window: u16,
    pub(crate) payload: &'a [u8],
    /// A SYN's MSS option (sent with NOP and window scale; no SACK, no timestamps).
    pub(crate) syn_mss: Option<u16>,
}

impl Path {
    /// Appends the whole frame to `out`.
    pub(crate) fn encode(&mut self, seg: &SegmentSpec, out: &mut Vec<u8>) {
        let mut tcp = TcpHeader::new(self.sport, self.dport, seg.seq, seg.window);
        tcp.fin = seg.flags & TcpFlags::FIN != 0;
        tcp.syn = seg.flags & TcpFlags::SYN != 0;
        tcp.rst = seg.flags & TcpFlags::RST != 0;
        tcp.psh = seg.flags & TcpFlags::PSH != 0;
        tcp.ack = seg.flags & TcpFlags::ACK != 0;
        if tcp.ack {
            tcp.acknowledgment_number = seg.ack;
        }
        if let Some(mss) = seg.syn_mss {
            tcp.set_options(&[
                TcpOptionElement::MaximumSegmentSize(mss),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(WINDOW_SCALE),
            ])
            .expect("three options fit in a TCP header");
        }
        let tcp_len = tcp.header_len() + seg.payload.len();
        let start = out.len();
        match (self.src, self.dst) {
            (Ip::V4(src), Ip::V4(dst)) => {
                Ethernet2Header {
                    source: self.src_mac,
                    destination: self.dst_mac,
                    ether_type: EtherType::IPV4,
                }
                .write(out)
                .expect("writing to a Vec");
                let mut ip = Ipv4Header::new(tcp_len as u16, self.ttl, IpNumber::TCP, src, dst)
                    .expect("a segment fits in an IPv4 packet");
                self.ip_id = self.ip_id.wrapping_add(1);
                ip.identification = self.ip_id;
                ip.dont_fragment = true;
                ip.write(out).expect("writing to a Vec");
                tcp.checksum = tcp
                    .calc_checksum_ipv4_raw(src, dst, seg.payload)
                    .expect("a segment fits in an IPv4 packet");
            }
            (Ip::V6(src), Ip::V6(dst)) => {
                Ethernet2Header {
                    source: self.src_mac,
                    destination: self.dst_mac,
                    ether_type: EtherType::IPV6,
                }
                .write(out)
                .expect("writing to a Vec");
                Ipv6Header {
                    traffic_class: 0,
                    flow_label: Ipv6FlowLabel::try_new(self.flow_label & 0xF_FFFF)
                        .expect("20 bits"),
                    payload_length: tcp_len as u16,
                    next_header: IpNumber::TCP,
                    hop_limit: self.ttl,
                    source: src,
                    destination: dst,
                }
                .write(out)
                .expect("writing to a Vec");
                tcp.checksum = tcp
                    .calc_checksum_ipv6_raw(src, dst, seg.payload)
                    .expect("a segment fits in an IPv6 packet");
            }
            _ => unreachable!("both ends of a connection have the same address family"),
        }
        tcp.write(out).expect("writing to a Vec");
        out.extend_from_slice(seg.payload);
        if self.padded && out.len() - start < MIN_FRAME {
            out.resize(start + MIN_FRAME, 0);
        }
    }
}
