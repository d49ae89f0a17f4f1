//! Every dissector through the engine: the input is a list of frames of one link type, written
//! into a pcap, optionally with a `-d tcp.port==N,PROTOCOL` rule, and every field of every frame
//! is visited (Ethernet … IP … TCP/UDP, TLS, HTTP/2 with HPACK, FIX/SMPP/AMQP/RESP, HTTP).
//!
//! Layout: `[link][rule][port: u16 le]` then frames `[len: u16 le][ms since last][bytes]`.
//! `link` picks from [`LINK_TYPES`]; `rule` 0 is none, otherwise it picks the protocol of
//! `keepsight_engine::decode_as::AppProtocol::ALL` decoded on `port`.

use crate::input::Reader;
use keepsight_engine::decode_as::{AppProtocol, DecodeAs};
use keepsight_engine::{capture::CaptureReader, Engine};
use keepsight_fields::{all_fields, Packet};

/// Link types the engine dissects: Ethernet, BSD null, raw IP, Linux SLL, SLL2, IPv4, IPv6,
/// loopback.
pub const LINK_TYPES: [u32; 8] = [1, 0, 101, 113, 276, 228, 229, 108];

/// A pcap file of `frames` (each with its gap in ms since the previous) on `link`.
pub fn pcap(link: u32, frames: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + frames.iter().map(|f| 16 + f.1.len()).sum::<usize>());
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&link.to_le_bytes());
    let mut us = 1_700_000_000_000_000u64;
    for (gap_ms, data) in frames {
        us += u64::from(*gap_ms) * 1000;
        out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

pub(super) fn dissect(data: &[u8]) {
    let mut r = Reader::new(data);
    let link = LINK_TYPES[usize::from(r.byte()) % LINK_TYPES.len()];
    let rule = usize::from(r.byte()) % (AppProtocol::ALL.len() + 1);
    let port = r.u16();
    let mut frames = Vec::new();
    while !r.is_empty() {
        let len = usize::from(r.u16());
        let gap = r.byte();
        frames.push((gap, r.take(len)));
    }
    let file = pcap(link, &frames);
    let reader = CaptureReader::from_bytes(file).expect("a pcap written here reads back");
    let mut engine = Engine::from_reader(reader);
    if rule > 0 {
        let mut rules = DecodeAs::default();
        rules.add_tcp_ports(port, port, AppProtocol::ALL[rule - 1].1);
        engine.set_decode_as(rules);
    }
    let mut seen = 0usize;
    loop {
        match engine.next_frame() {
            Ok(Some(frame)) => {
                seen += 1;
                for (id, _) in all_fields() {
                    frame.visit(id, &mut |_| {});
                }
                let _ = frame.segment();
                let _ = frame.application_segment();
            }
            Ok(None) => break,
            Err(e) => panic!("a well-formed pcap failed to read: {e}"),
        }
    }
    assert_eq!(seen, frames.len(), "the engine lost or added frames");
}
