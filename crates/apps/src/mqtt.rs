//! MQTT 3.1, 3.1.1 and 5 control packets: a fixed header (packet type in the high nibble of
//! the first byte, flags in the low one, then the remaining length as a variable byte
//! integer of at most 4 bytes), a variable header and a payload.
//!
//! The client declares its keep-alive in CONNECT (seconds; 0 turns it off): it must send a
//! control packet at least that often, PINGREQ when it has nothing else to say, which the
//! broker answers with PINGRESP; a broker that hears nothing for 1.5 times the keep-alive
//! closes the connection (MQTT 3.1.1 section 3.1.2.10, MQTT 5 section 3.1.2.10). MQTT 5 lets
//! the broker impose another value (CONNACK property Server Keep Alive) and lets either side
//! say why it ends the connection (DISCONNECT reason code).
//!
//! Whether a packet's variable header carries MQTT 5 properties depends on the version the
//! CONNECT of its connection declared, so the readers here take the version as an argument.

use crate::event::Framing;

/// The TCP port MQTT is registered on (tshark dissects it as MQTT without being told).
pub const PORT: u16 = 1883;

/// The protocol level of MQTT 5 in CONNECT.
pub const V5: u8 = 5;

/// Packet types (the high nibble of the first byte).
pub mod kind {
    /// Client asks to connect.
    pub const CONNECT: u8 = 1;
    /// Broker answers CONNECT.
    pub const CONNACK: u8 = 2;
    /// An application message.
    pub const PUBLISH: u8 = 3;
    /// QoS 1 acknowledgement.
    pub const PUBACK: u8 = 4;
    /// QoS 2, first acknowledgement.
    pub const PUBREC: u8 = 5;
    /// QoS 2, release.
    pub const PUBREL: u8 = 6;
    /// QoS 2, completion.
    pub const PUBCOMP: u8 = 7;
    /// Client subscribes.
    pub const SUBSCRIBE: u8 = 8;
    /// Broker acknowledges a subscription.
    pub const SUBACK: u8 = 9;
    /// Client unsubscribes.
    pub const UNSUBSCRIBE: u8 = 10;
    /// Broker acknowledges an unsubscription.
    pub const UNSUBACK: u8 = 11;
    /// Client's heartbeat.
    pub const PINGREQ: u8 = 12;
    /// Broker's answer to PINGREQ.
    pub const PINGRESP: u8 = 13;
    /// A side ends the connection (the broker may send it only in MQTT 5).
    pub const DISCONNECT: u8 = 14;
    /// MQTT 5 extended authentication.
    pub const AUTH: u8 = 15;
}

/// tshark's name of a packet type (the Info column and `mqtt.msgtype`'s value string).
pub fn type_name(ty: u8) -> &'static str {
    match ty {
        kind::CONNECT => "Connect Command",
        kind::CONNACK => "Connect Ack",
        kind::PUBLISH => "Publish Message",
        kind::PUBACK => "Publish Ack",
        kind::PUBREC => "Publish Received",
        kind::PUBREL => "Publish Release",
        kind::PUBCOMP => "Publish Complete",
        kind::SUBSCRIBE => "Subscribe Request",
        kind::SUBACK => "Subscribe Ack",
        kind::UNSUBSCRIBE => "Unsubscribe Request",
        kind::UNSUBACK => "Unsubscribe Ack",
        kind::PINGREQ => "Ping Request",
        kind::PINGRESP => "Ping Response",
        kind::DISCONNECT => "Disconnect Req",
        kind::AUTH => "Authentication Exchange",
        _ => "Unknown",
    }
}

/// The longest remaining length a fixed header can state (4 bytes of 7 bits).
pub const MAX_REMAINING: u64 = 268_435_455;

/// Reads a variable byte integer at the start of `b`: its value and its length; `None` when
/// `b` ends inside it or it runs past 4 bytes.
pub fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().take(4).enumerate() {
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// How long the packet at the start of `b` is (fixed header included).
pub fn frame_len(b: &[u8]) -> Framing {
    let Some(&first) = b.first() else {
        return Framing::More;
    };
    if first >> 4 == 0 {
        return Framing::Broken;
    }
    match varint(&b[1..]) {
        Some((n, len)) => Framing::Len(1 + len + n as usize),
        None if b.len() >= 5 => Framing::Broken,
        None => Framing::More,
    }
}

/// The length of the whole packet at the start of `b`; `None` when `b` ends inside it or it
/// is no MQTT packet.
pub fn packet_len(b: &[u8]) -> Option<usize> {
    match frame_len(b) {
        Framing::Len(n) if n <= b.len() => Some(n),
        _ => None,
    }
}

/// True when `b` starts with a CONNECT naming the protocol `MQTT` (3.1.1, 5) or `MQIsdp`
/// (3.1): how a stream is recognized as MQTT on any port.
pub fn starts_connect(b: &[u8]) -> bool {
    if b.first() != Some(&0x10) {
        return false;
    }
    let Some((_, n)) = varint(&b[1..]) else {
        return false;
    };
    let vh = &b[1 + n..];
    vh.starts_with(b"\x00\x04MQTT") || vh.starts_with(b"\x00\x06MQIsdp")
}

/// One control packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The first byte: type and flags.
    pub first: u8,
    /// The remaining length, as stated.
    pub remaining: u64,
    /// Variable header and payload.
    pub body: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The whole packet at the start of `b`.
    pub fn parse(b: &'a [u8]) -> Option<Packet<'a>> {
        let n = packet_len(b)?;
        let (remaining, len) = varint(&b[1..])?;
        Some(Packet {
            first: b[0],
            remaining,
            body: &b[1 + len..n],
        })
    }

    /// The packet type.
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    /// The flags nibble.
    pub fn flags(&self) -> u8 {
        self.first & 0x0F
    }

    /// PUBLISH's QoS (0, 1, 2; 3 is malformed).
    pub fn qos(&self) -> u8 {
        (self.first >> 1) & 3
    }
}

/// Reads MQTT's encodings one after another.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// What is left.
    pub rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.rest.get(..n)?, self.rest.get(n..)?);
        self.rest = rest;
        Some(head)
    }
    /// A byte.
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    /// A two-byte integer.
    pub fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    /// A four-byte integer.
    pub fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A variable byte integer.
    pub fn varint(&mut self) -> Option<u64> {
        let (v, n) = varint(self.rest)?;
        self.rest = &self.rest[n..];
        Some(v)
    }
    /// A string or binary data with a two-byte length.
    pub fn str16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    /// MQTT 5 properties: the length, then the bytes.
    pub fn properties(&mut self) -> Option<&'a [u8]> {
        let n = self.varint()?;
        self.take(usize::try_from(n).ok()?)
    }
}

/// A CONNECT packet's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Protocol name (`MQTT`, `MQIsdp`).
    pub protocol_name: &'a [u8],
    /// Protocol level: 3 (3.1), 4 (3.1.1), 5.
    pub version: u8,
    /// Connect flags.
    pub flags: u8,
    /// Keep-alive in seconds (0: off).
    pub keep_alive: u16,
    /// MQTT 5 properties.
    pub properties: Option<&'a [u8]>,
    /// Client identifier.
    pub client_id: &'a [u8],
    /// MQTT 5 will properties.
    pub will_properties: Option<&'a [u8]>,
    /// Will topic.
    pub will_topic: Option<&'a [u8]>,
    /// Will message.
    pub will_message: Option<&'a [u8]>,
    /// User name.
    pub username: Option<&'a [u8]>,
    /// Password.
    pub password: Option<&'a [u8]>,
}

/// Connect flag bits.
pub mod connect_flag {
    /// A user name follows.
    pub const USERNAME: u8 = 0x80;
    /// A password follows.
    pub const PASSWORD: u8 = 0x40;
    /// The will is retained.
    pub const WILL_RETAIN: u8 = 0x20;
    /// The will's QoS (2 bits).
    pub const WILL_QOS: u8 = 0x18;
    /// A will follows.
    pub const WILL: u8 = 0x04;
    /// Clean session (3.1.1) / clean start (5).
    pub const CLEAN: u8 = 0x02;
    /// Reserved.
    pub const RESERVED: u8 = 0x01;
}

impl<'a> Connect<'a> {
    /// A CONNECT's body; fields past a cut are `None` (the ones up to it are kept).
    pub fn parse(body: &'a [u8]) -> Option<Connect<'a>> {
        let mut r = Reader { rest: body };
        let protocol_name = r.str16()?;
        let version = r.u8()?;
        let flags = r.u8()?;
        let keep_alive = r.u16()?;
        let properties = if version == V5 {
            Some(r.properties()?)
        } else {
            None
        };
        let client_id = r.str16()?;
        let mut c = Connect {
            protocol_name,
            version,
            flags,
            keep_alive,
            properties,
            client_id,
            will_properties: None,
            will_topic: None,
            will_message: None,
            username: None,
            password: None,
        };
        if flags & connect_flag::WILL != 0 {
            if version == V5 {
                c.will_properties = r.properties();
            }
            c.will_topic = r.str16();
            c.will_message = r.str16();
        }
        if flags & connect_flag::USERNAME != 0 {
            c.username = r.str16();
        }
        if flags & connect_flag::PASSWORD != 0 {
            c.password = r.str16();
        }
        Some(c)
    }
}

/// A CONNACK's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connack<'a> {
    /// Acknowledge flags (bit 0: session present).
    pub flags: u8,
    /// Return code (3.1.1) or reason code (5); 0 accepts.
    pub code: u8,
    /// MQTT 5 properties.
    pub properties: Option<&'a [u8]>,
}

impl<'a> Connack<'a> {
    /// A CONNACK's body on a connection of `version`.
    pub fn parse(body: &'a [u8], version: u8) -> Option<Connack<'a>> {
        let mut r = Reader { rest: body };
        Some(Connack {
            flags: r.u8()?,
            code: r.u8()?,
            properties: if version == V5 { r.properties() } else { None },
        })
    }
}

/// A DISCONNECT's (or AUTH's) reason code and properties, MQTT 5 only (0 when omitted).
pub fn disconnect_reason(body: &[u8]) -> (u8, Option<&[u8]>) {
    let mut r = Reader { rest: body };
    match r.u8() {
        Some(code) => (code, r.properties()),
        None => (0, None),
    }
}

/// An MQTT 5 property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropValue<'a> {
    /// A byte, two- or four-byte integer or variable byte integer.
    Number(u64),
    /// A UTF-8 string.
    Str(&'a [u8]),
    /// Binary data.
    Binary(&'a [u8]),
    /// A user property (key, value).
    Pair(&'a [u8], &'a [u8]),
}

/// Property identifiers keepsight reads.
pub mod prop {
    /// Content Type (PUBLISH, will).
    pub const CONTENT_TYPE: u8 = 0x03;
    /// Session Expiry Interval.
    pub const SESSION_EXPIRY: u8 = 0x11;
    /// Server Keep Alive (CONNACK): the keep-alive the broker imposes.
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    /// Reason String.
    pub const REASON_STRING: u8 = 0x1F;
    /// Maximum QoS.
    pub const MAX_QOS: u8 = 0x24;
    /// Topic Alias.
    pub const TOPIC_ALIAS: u8 = 0x23;
    /// User Property.
    pub const USER_PROPERTY: u8 = 0x26;
}

/// The properties in `b`, in order; iteration stops at an unknown identifier or a cut value.
pub fn properties(b: &[u8]) -> impl Iterator<Item = (u8, PropValue<'_>)> + '_ {
    let mut r = Reader { rest: b };
    std::iter::from_fn(move || {
        let id = r.u8()?;
        let v = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                PropValue::Number(r.u8()?.into())
            }
            0x13 | 0x21 | 0x22 | 0x23 => PropValue::Number(r.u16()?.into()),
            0x02 | 0x11 | 0x18 | 0x27 => PropValue::Number(r.u32()?.into()),
            0x0B => PropValue::Number(r.varint()?),
            0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => PropValue::Str(r.str16()?),
            0x09 | 0x16 => PropValue::Binary(r.str16()?),
            0x26 => PropValue::Pair(r.str16()?, r.str16()?),
            _ => {
                r.rest = &[];
                return None;
            }
        };
        Some((id, v))
    })
}

/// The MQTT 3.1.1 CONNACK return code's meaning; `None` for codes it does not define.
pub fn connack_return_text(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "Connection Accepted",
        1 => "Connection Refused: unacceptable protocol version",
        2 => "Connection Refused: identifier rejected",
        3 => "Connection Refused: server unavailable",
        4 => "Connection Refused: bad user name or password",
        5 => "Connection Refused: not authorized",
        _ => return None,
    })
}

/// An MQTT 5 reason code's name (MQTT 5 section 2.4), as a DISCONNECT, CONNACK or
/// acknowledgement carries it; `None` for codes the specification does not define.
pub fn reason_text(code: u8) -> Option<&'static str> {
    Some(match code {
        0x00 => "Success",
        0x04 => "Disconnect with Will Message",
        0x80 => "Unspecified error",
        0x81 => "Malformed Packet",
        0x82 => "Protocol Error",
        0x83 => "Implementation specific error",
        0x84 => "Unsupported Protocol Version",
        0x85 => "Client Identifier not valid",
        0x86 => "Bad User Name or Password",
        0x87 => "Not authorized",
        0x88 => "Server unavailable",
        0x89 => "Server busy",
        0x8A => "Banned",
        0x8B => "Server shutting down",
        0x8C => "Bad authentication method",
        0x8D => "Keep Alive timeout",
        0x8E => "Session taken over",
        0x8F => "Topic Filter invalid",
        0x90 => "Topic Name invalid",
        0x93 => "Receive Maximum exceeded",
        0x94 => "Topic Alias invalid",
        0x95 => "Packet too large",
        0x96 => "Message rate too high",
        0x97 => "Quota exceeded",
        0x98 => "Administrative action",
        0x99 => "Payload format invalid",
        0x9A => "Retain not supported",
        0x9B => "QoS not supported",
        0x9C => "Use another server",
        0x9D => "Server moved",
        0x9E => "Shared Subscriptions not supported",
        0x9F => "Connection rate exceeded",
        0xA0 => "Maximum connect time",
        0xA1 => "Subscription Identifiers not supported",
        0xA2 => "Wildcard Subscriptions not supported",
        _ => return None,
    })
}

/// The topic (and message id) at the start of a PUBLISH body, and what follows them
/// (properties in MQTT 5, then the message).
pub fn publish_head<'a>(p: &Packet<'a>) -> Option<(&'a [u8], Option<u16>, usize)> {
    let mut r = Reader { rest: p.body };
    let topic = r.str16()?;
    let id = if p.qos() > 0 { Some(r.u16()?) } else { None };
    Some((topic, id, p.body.len() - r.rest.len()))
}

/// One direction of an MQTT connection cut into packets: in-order payload in, whole packets
/// out, at most one partial packet ([`crate::MAX_MESSAGE`] bytes) held.
#[derive(Debug, Clone, Default)]
pub struct Direction {
    reasm: crate::Reassembly,
}

/// What feeding one segment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// Retransmitted bytes, or nothing new.
    Nothing,
    /// It completed at least one packet.
    Packets,
    /// It starts a packet it does not complete.
    Starts,
    /// It continues a packet begun earlier without completing it.
    Continues,
    /// The direction can no longer be cut (a gap, a broken length): nothing more comes.
    Lost,
}

impl Direction {
    /// Feeds the payload of one segment whose first byte has relative sequence number `seq`;
    /// `whole` is false when the capture cut it short. Calls `on` with each whole packet.
    pub fn feed(
        &mut self,
        seq: u32,
        payload: &[u8],
        whole: bool,
        on: &mut dyn FnMut(&[u8]),
    ) -> Fed {
        let held = self.reasm.buffered();
        let (mut packets, mut lost) = (0usize, false);
        self.reasm
            .feed(seq, payload, whole, frame_len, &mut |piece| match piece {
                crate::reasm::Piece::Message(m, _) => {
                    packets += 1;
                    on(m)
                }
                crate::reasm::Piece::Lost => lost = true,
            });
        if packets > 0 {
            Fed::Packets
        } else if lost {
            Fed::Lost
        } else if self.reasm.buffered() > held {
            if held == 0 {
                Fed::Starts
            } else {
                Fed::Continues
            }
        } else {
            Fed::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECT_V5: &[u8] =
        b"\x10\x1c\x00\x04MQTT\x05\x02\x00\x02\x08\x11\x00\x00\x00\x3c\x21\x00\x14\x00\x07v5-slow";

    #[test]
    fn a_connect_gives_its_version_keep_alive_and_properties() {
        assert!(starts_connect(CONNECT_V5));
        let p = Packet::parse(CONNECT_V5).unwrap();
        assert_eq!((p.kind(), p.remaining), (kind::CONNECT, 28));
        let c = Connect::parse(p.body).unwrap();
        assert_eq!(
            (c.version, c.keep_alive, c.client_id),
            (5, 2, &b"v5-slow"[..])
        );
        let props: Vec<_> = properties(c.properties.unwrap()).collect();
        assert_eq!(
            props,
            [(0x11, PropValue::Number(60)), (0x21, PropValue::Number(20))]
        );
    }

    #[test]
    fn packets_split_over_segments_and_packed_in_one_come_out_whole() {
        let mut d = Direction::default();
        let mut got = Vec::new();
        let stream = [CONNECT_V5, b"\xc0\x00", b"\xe0\x02\x04\x00"].concat();
        let mut on = |m: &[u8]| got.push(m.to_vec());
        assert_eq!(d.feed(1, &stream[..10], true, &mut on), Fed::Starts);
        assert_eq!(d.feed(11, &stream[10..20], true, &mut on), Fed::Continues);
        assert_eq!(d.feed(21, &stream[20..], true, &mut on), Fed::Packets);
        // A retransmission changes nothing.
        assert_eq!(d.feed(21, &stream[20..], true, &mut on), Fed::Nothing);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], CONNECT_V5);
        assert_eq!(disconnect_reason(&got[2][2..]).0, 0x04);
    }

    #[test]
    fn broken_lengths_and_cut_fields_end_cleanly() {
        // A remaining length that never ends, a type-0 byte, a length past the 256 KiB bound.
        for bad in [
            &b"\x30\xff\xff\xff\xff\x01"[..],
            b"\x00\x00",
            b"\x30\xff\xff\xff\x7f",
        ] {
            let mut d = Direction::default();
            assert_eq!(
                d.feed(1, bad, true, &mut |_| panic!("no packet")),
                Fed::Lost
            );
        }
        // Cut CONNECT bodies parse to None or to the fields before the cut, never panic.
        for n in 0..CONNECT_V5.len() {
            let _ = Connect::parse(&CONNECT_V5[2..n.max(2)]);
            let _ = Packet::parse(&CONNECT_V5[..n]);
        }
        assert_eq!(properties(b"\x11\x00\x00").count(), 0);
        assert_eq!(reason_text(0x8D), Some("Keep Alive timeout"));
    }
}
