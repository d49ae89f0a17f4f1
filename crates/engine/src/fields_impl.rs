//! Field values of a [`Frame`], by field id: the bridge from dissection and stream analysis to
//! the names users type. Presence rules follow what tshark 4.0.17 shows.

use crate::tcp_flags::flags_str;
use crate::Frame;
use keepsight_fields::ids::*;
use keepsight_fields::{FieldId, Packet, Value};
use keepsight_tcp::{flag, ConnectionEvent};
use keepsight_wire::{Link, Network, TcpFlags, TcpOption, Transport};

impl Packet for Frame<'_> {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        let data = self.record.data;
        match field {
            FRAME => sink(Value::Bytes(data)),
            FRAME_NUMBER => sink(Value::UInt(self.number as u64)),
            // Frames without a time stamp (pcapng simple packet blocks) have no time fields.
            FRAME_TIME
            | FRAME_TIME_EPOCH
            | FRAME_TIME_DELTA
            | FRAME_TIME_DELTA_DISPLAYED
            | FRAME_TIME_RELATIVE
                if self.record.ts_ns.is_none() => {}
            FRAME_TIME | FRAME_TIME_EPOCH if self.record.invalid_frac_ns.is_some() => {
                let t = self.time_stamp();
                sink(if field == FRAME_TIME {
                    Value::AbsNsTime(t)
                } else {
                    Value::RelNsTime(t)
                })
            }
            FRAME_TIME => sink(Value::AbsTime(self.ts_ns)),
            FRAME_TIME_EPOCH => sink(Value::RelTime(self.ts_ns)),
            FRAME_TIME_DELTA => sink(self.time_since(self.time_delta_ns)),
            FRAME_TIME_DELTA_DISPLAYED => sink(self.time_since(self.time_delta_displayed_ns)),
            FRAME_TIME_RELATIVE => sink(self.time_since(self.time_relative_ns)),
            FRAME_LEN => sink(Value::UInt(self.record.orig_len as u64)),
            FRAME_CAP_LEN => sink(Value::UInt(data.len() as u64)),
            FRAME_PROTOCOLS => {
                let p = self.protocols();
                sink(Value::Str(&p))
            }
            // Only pcapng has interfaces; tshark shows no interface id for classic pcap.
            FRAME_INTERFACE_ID if self.pcapng && !self.is_custom_block() => {
                sink(Value::UInt(self.record.interface_id as u64))
            }
            FRAME_MARKED | FRAME_IGNORED => sink(Value::Bool(false)),
            FRAME_COMMENT => self.record.comments().for_each(|c| sink(Value::Str(c))),
            _ => match keepsight_fields::protocol_of(field) {
                "eth" | "vlan" | "sll" | "null" => self.visit_link(field, sink, data),
                "ip" | "ipv6" => self.visit_ip(field, sink, data),
                "arp" => {
                    let d = &self.dissection;
                    if d.network == Network::None && d.ethertype == 0x0806 {
                        // The ARP dissector takes its header and addresses (28 bytes for
                        // Ethernet/IPv4), never the Ethernet padding after them.
                        let off = (d.link_len as usize).min(data.len());
                        let arp = &data[off..];
                        let len = match arp {
                            [_, _, _, _, hln, pln, ..] => 8 + 2 * (*hln as usize + *pln as usize),
                            _ => arp.len(),
                        };
                        sink(Value::Bytes(&arp[..len.min(arp.len())]))
                    }
                }
                "icmp" | "icmpv6" => {
                    let d = &self.dissection;
                    let (want_v6, proto) = if field == ICMP {
                        (false, 1)
                    } else {
                        (true, 58)
                    };
                    let is_v6 = matches!(d.network, Network::Ipv6 { .. });
                    let unfragmented = !d.has_problem(keepsight_wire::Problem::Fragment);
                    if let Some(r) = self.reassembled {
                        if is_v6 == want_v6 && r.proto == proto {
                            sink(Value::Bytes(r.data))
                        }
                        return;
                    }
                    if let (
                        Network::Ipv4 { offset, header_len }
                        | Network::Ipv6 {
                            offset, header_len, ..
                        },
                        Transport::None,
                    ) = (d.network, d.transport)
                    {
                        if is_v6 == want_v6 && d.ip_proto == proto && unfragmented {
                            let start = (offset as usize + header_len as usize).min(data.len());
                            let end = ip_end(d, data, start);
                            sink(Value::Bytes(&data[start..end]))
                        }
                    }
                }
                "tcp" => self.visit_tcp(field, sink, data),
                "udp" => self.visit_udp(field, sink, data),
                "data" => {
                    if let Some(t) = &self.tls {
                        for plain in t.decrypted_app_data() {
                            match field {
                                DATA | DATA_DATA => sink(Value::Bytes(plain)),
                                DATA_LEN => sink(Value::UInt(plain.len() as u64)),
                                _ => {}
                            }
                        }
                    }
                    for binary in self.ws_binary_payloads() {
                        match field {
                            DATA | DATA_DATA => sink(Value::Bytes(binary)),
                            DATA_LEN => sink(Value::UInt(binary.len() as u64)),
                            _ => {}
                        }
                    }
                    let payload = self.app_payload();
                    if !payload.is_empty() {
                        match field {
                            DATA | DATA_DATA => sink(Value::Bytes(payload)),
                            DATA_LEN => sink(Value::UInt(payload.len() as u64)),
                            _ => {}
                        }
                    }
                }
                "tls" => self.visit_tls(field, sink),
                "http2" => self.visit_http2(field, sink),
                "websocket" => self.visit_websocket(field, sink),
                "fix" | "smpp" | "amqp" | "resp" => self.visit_app(field, sink),
                "mqtt" => self.visit_mqtt(field, sink),
                "_ws" => self.visit_expert(field, sink),
                _ => {}
            },
        }
    }
}

/// What follows an Ethernet frame's payload, split as tshark 4.0.17 splits it: zero padding
/// up to 60 bytes, an undecoded trailer, and a frame check sequence it assumes is there when the
/// frame is 64 bytes or more and at least 4 bytes remain.
pub(crate) struct EthTrailer<'a> {
    pub padding: &'a [u8],
    pub trailer: &'a [u8],
    pub fcs: Option<u32>,
    /// The frame has a VLAN tag: the trailer is `vlan.trailer`, not `eth.trailer`.
    pub tagged: bool,
    /// Bytes that should have been zero padding are not ("Didn't find padding of zeros").
    pub padding_bad: bool,
}

impl<'a> Frame<'a> {
    /// The Ethernet trailer: bytes after the IP packet (or ARP message) that the frame still
    /// carries. `None` for other link types and payloads, and when nothing follows.
    pub(crate) fn eth_trailer(&self) -> Option<EthTrailer<'a>> {
        let d = &self.dissection;
        let data = self.record.data;
        if d.link != Link::Ethernet {
            return None;
        }
        let start = match d.network {
            Network::Ipv4 { .. } | Network::Ipv6 { .. } => d.ip_end as usize,
            Network::None if d.ethertype == 0x0806 => {
                let arp = data.get(d.link_len as usize..)?;
                match arp {
                    [_, _, _, _, hln, pln, ..] => {
                        d.link_len as usize + 8 + 2 * (*hln as usize + *pln as usize)
                    }
                    _ => return None,
                }
            }
            Network::None => return None,
        };
        let pkt_len = self.record.orig_len as usize;
        let mut reported = pkt_len.checked_sub(start).filter(|&n| n > 0)?;
        let captured = data.get(start..).unwrap_or(&[]);
        let mut len = captured.len().min(reported);
        let maybe_padded = pkt_len >= 60 && start < 60;
        let mut pad = 0;
        if maybe_padded {
            pad = (60 - start).min(len);
            if captured[..pad].iter().any(|&b| b != 0) {
                pad = 0;
            }
            len -= pad;
            reported -= pad;
        }
        let mut fcs = None;
        // Below a VLAN tag the trailer is the VLAN dissector's, which assumes no FCS.
        let tagged = d.vlan_count > 0;
        if !tagged && pkt_len >= 64 && reported >= 4 {
            if len < reported {
                reported -= 4;
                len = len.min(reported);
            } else {
                len -= 4;
                let b = &captured[pad + len..pad + len + 4];
                fcs = Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            }
        }
        let trailer = &captured[pad..pad + len];
        Some(EthTrailer {
            padding: &captured[..pad],
            trailer,
            fcs,
            tagged,
            padding_bad: maybe_padded && pad == 0 && !trailer.is_empty(),
        })
    }
}

impl Frame<'_> {
    /// `_ws.expert.*` and `_ws.malformed`: one occurrence per expert item, in tshark's order.
    /// Only texts that carry a number are formatted, and only when asked for.
    fn visit_expert(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        let mut malformed = false;
        crate::expert::for_each_item(self, &mut |item| match field {
            _WS_EXPERT => sink(Value::Bytes(&[])),
            _WS_EXPERT_MESSAGE => sink(Value::Str(&item.summary.text())),
            _WS_EXPERT_SEVERITY => sink(Value::UInt(item.severity.value().into())),
            _WS_EXPERT_GROUP => sink(Value::UInt(item.group.value().into())),
            _WS_MALFORMED => malformed |= item.group == crate::expert::Group::Malformed,
            _ => {}
        });
        if malformed {
            sink(Value::Bytes(&[]));
        }
    }
}

impl Frame<'_> {
    /// Payload handed to no higher dissector (`data`). Two rules of tshark 4.0, both checked on
    /// tests/corpus/crafted/payload-*.pcap:
    /// - `tcp.no_subdissector_on_error` (on by default) keeps the payload of a segment flagged
    ///   as a (plain) retransmission or out-of-order segment from any dissector, whether or not
    ///   the segment was captured whole.
    /// - When the whole segment was captured, it goes through TCP reassembly
    ///   (`tcp.desegment_tcp_streams`), which also drops a *spurious* retransmission (already
    ///   acknowledged data). A segment cut by the snap length skips reassembly, so there a
    ///   spurious retransmission's captured bytes still reach `data`.
    ///
    /// A fast retransmission carries neither flag in tshark's own bookkeeping, so its payload is
    /// shown like new data.
    fn app_payload(&self) -> &[u8] {
        if self.is_custom_block() {
            return self.record.data;
        }
        // TLS and HTTP/2 take the payload of their streams, even a segment that only
        // continues a record or frame.
        if self.tls.is_some()
            || self.h2.is_some()
            || self.app.is_some()
            || self.mqtt.is_some()
            || self.ws.is_some()
        {
            return &[];
        }
        match (self.dissection.transport, self.tcp.as_ref()) {
            (Transport::Udp { .. }, _) => self.dissection.payload(self.record.data),
            // TCP in this frame, or in the datagram its fragment completes.
            (_, Some(t)) => {
                let payload = self.tcp_payload();
                // A reassembled datagram is always whole.
                let whole = self
                    .tcp_len()
                    .is_some_and(|l| payload.len() as u64 >= u64::from(l));
                let dropped = if whole {
                    flag::RETRANSMISSION | flag::OUT_OF_ORDER | flag::SPURIOUS_RETRANSMISSION
                } else {
                    flag::RETRANSMISSION | flag::OUT_OF_ORDER
                };
                if t.flags.has(dropped) {
                    &[]
                } else {
                    payload
                }
            }
            (Transport::Tcp { .. }, None) => self.dissection.payload(self.record.data),
            (Transport::None, None) => self.fragment_payload(),
        }
    }

    /// `data` of an IP fragment: the UDP payload (or the whole datagram of a protocol tshark
    /// hands to `data`) on the frame that completes a datagram, the piece's own bytes on the
    /// others. TCP (see [`Frame::app_payload`]) and ICMP inside fragments are not `data`.
    fn fragment_payload(&self) -> &[u8] {
        let d = &self.dissection;
        match self.reassembled {
            Some(r) => match r.proto {
                17 => self.udp_bytes().map_or(&[], |b| &b[8..]),
                6 | 1 | 58 => &[],
                _ => r.data,
            },
            None => d.fragment(self.record.data).map_or(&[], |f| f.data),
        }
    }

    fn is_custom_block(&self) -> bool {
        self.record.link_type == keepsight_capture::linktype::PCAPNG_CUSTOM_BLOCK
    }

    /// `frame.protocols`, e.g. `eth:ethertype:ip:tcp:data`.
    pub fn protocols(&self) -> String {
        let mut s = String::with_capacity(40);
        self.push_protocols(&mut s);
        s
    }

    /// Appends `frame.protocols` to `out` (for printers that reuse one buffer).
    pub fn push_protocols(&self, out: &mut String) {
        let start = out.len();
        let mut s = Protocols { out, start };
        let s = &mut s;
        let d = &self.dissection;

        match d.link {
            Link::Ethernet => {
                s.push_str("eth:ethertype");
                for &tpid in &d.vlan_tpids[..(d.vlan_count as usize).min(2)] {
                    s.push_str(if tpid == 0x88a8 {
                        ":ieee8021ad:ethertype"
                    } else {
                        ":vlan:ethertype"
                    });
                }
            }
            Link::Sll => s.push_str("sll:ethertype"),
            Link::Sll2 => s.push_str("sll:ethertype"),
            Link::Null => s.push_str("null"),
            // LINKTYPE_RAW shows a "raw" layer; LINKTYPE_IPV4/IPV6 go straight to IP.
            Link::Raw if matches!(self.record.link_type, 228 | 229) => {}
            Link::Raw => s.push_str("raw"),
            Link::Unknown => {
                if self.record.link_type == keepsight_capture::linktype::PCAPNG_CUSTOM_BLOCK {
                    s.push_str("data");
                }
                return;
            }
        }
        match d.network {
            Network::Ipv4 { .. } => s.push_str(":ip"),
            Network::Ipv6 { ext_headers, .. } => {
                s.push_str(":ipv6");
                for &h in d.ipv6_ext.iter().take(ext_headers as usize) {
                    s.push_str(match h {
                        0 => ":ipv6.hopopts",
                        43 => ":ipv6.routing",
                        44 => ":ipv6.fraghdr",
                        60 => ":ipv6.dstopts",
                        51 => ":ah",
                        _ => ":ipv6.ext",
                    });
                }
            }
            Network::None => s.push_str(match d.ethertype {
                0x0806 => ":arp",
                _ if d.ethertype != 0 || d.link == Link::Ethernet => ":data",
                _ => "",
            }),
        }
        if s.starts_with(':') {
            s.remove(0);
        }
        if d.network == Network::None {
            return;
        }
        match d.transport {
            Transport::Tcp { .. } => s.push_str(":tcp"),
            Transport::Udp { .. } => s.push_str(":udp"),
            Transport::None => {
                let fragment = d.has_problem(keepsight_wire::Problem::Fragment);
                match self.reassembled {
                    Some(r) if r.proto == 17 => {
                        if self.udp_bytes().is_some() {
                            s.push_str(":udp");
                        }
                    }
                    // TCP in a datagram too short for its header is not dissected.
                    Some(r) if r.proto == 6 => {
                        if self.tcp.is_some() {
                            s.push_str(":tcp");
                        }
                    }
                    Some(r) => s.push_str(match r.proto {
                        1 => ":icmp",
                        58 => ":icmpv6",
                        _ => ":data",
                    }),
                    None if fragment => {
                        if !self.fragment_payload().is_empty() {
                            s.push_str(":data");
                        }
                        return;
                    }
                    None => s.push_str(match d.ip_proto {
                        1 => ":icmp",
                        58 => ":icmpv6",
                        _ => ":data",
                    }),
                }
                // A reassembled UDP or TCP datagram goes on to `data` like an unfragmented one.
                if self
                    .reassembled
                    .is_none_or(|r| r.proto != 17 && r.proto != 6)
                {
                    return;
                }
            }
        }
        if let Some(t) = &self.tls {
            for _ in 0..t.layers() {
                s.push_str(":tls");
            }
            for _ in t.decrypted_app_data() {
                s.push_str(":data");
            }
        }
        self.app_protocols(|p| s.push_str(p));
        self.ws_protocols(|p| s.push_str(p));
        if let Some(h) = &self.h2 {
            if h.role() == keepsight_h2::SegmentRole::Frames {
                s.push_str(":http2");
            }
            if h.has_grpc() {
                s.push_str(":grpc:protobuf");
            }
            if h.has_text() {
                s.push_str(":data-text-lines");
            }
        }
        if let Some(m) = &self.mqtt {
            if m.role() == crate::mqtt::MqttRole::Packets {
                s.push_str(":mqtt");
            }
            if self.mqtt_has_text() {
                s.push_str(":data-text-lines");
            }
        }
        if !self.app_payload().is_empty() {
            s.push_str(":data");
        }
    }

    /// `http2.*`: the frames this frame's segment completed, one occurrence each.
    fn visit_http2(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        use keepsight_h2::frame::flags;
        use keepsight_h2::FrameType;
        let Some(h) = &self.h2 else {
            return;
        };
        for item in h.items() {
            if field == HTTP2 {
                // tshark's -T fields prints the layer's name for each occurrence.
                sink(Value::Str("http2"));
                continue;
            }
            let Some(f) = item.frame else {
                if field == HTTP2_MAGIC {
                    sink(Value::Str("PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n"));
                }
                continue;
            };
            let hd = f.header;
            let ty = hd.ty;
            let data_or_headers = matches!(ty, FrameType::DATA | FrameType::HEADERS);
            // tshark 4.0.17 reads a pad length in CONTINUATION and PUSH_PROMISE too.
            let paddable =
                data_or_headers || matches!(ty, FrameType::CONTINUATION | FrameType::PUSH_PROMISE);
            match field {
                HTTP2_LENGTH => sink(Value::UInt(hd.length.into())),
                HTTP2_TYPE => sink(Value::UInt(ty.0.into())),
                HTTP2_FLAGS => sink(Value::UInt(hd.flags.into())),
                HTTP2_R => sink(Value::UInt(u64::from(hd.reserved) << 31)),
                HTTP2_STREAMID => sink(Value::UInt(hd.stream_id.into())),
                HTTP2_FLAGS_END_STREAM if data_or_headers => {
                    sink(Value::Bool(hd.has(flags::END_STREAM)))
                }
                HTTP2_FLAGS_PADDED if paddable => sink(Value::Bool(hd.has(flags::PADDED))),
                HTTP2_FLAGS_EH
                    if matches!(
                        ty,
                        FrameType::HEADERS | FrameType::PUSH_PROMISE | FrameType::CONTINUATION
                    ) =>
                {
                    sink(Value::Bool(hd.has(flags::END_HEADERS)))
                }
                HTTP2_FLAGS_PRIORITY if ty == FrameType::HEADERS => {
                    sink(Value::Bool(hd.has(flags::PRIORITY)))
                }
                HTTP2_FLAGS_ACK_SETTINGS if ty == FrameType::SETTINGS => {
                    sink(Value::Bool(hd.has(flags::ACK)))
                }
                HTTP2_FLAGS_ACK_PING if ty == FrameType::PING => {
                    sink(Value::Bool(hd.has(flags::ACK)))
                }
                HTTP2_PAD_LENGTH if paddable => {
                    sink(Value::UInt(f.pad_length().unwrap_or(0).into()))
                }
                HTTP2_EXCLUSIVE | HTTP2_STREAM_DEPENDENCY | HTTP2_HEADERS_WEIGHT => {
                    if let Some(p) = f.priority() {
                        sink(match field {
                            HTTP2_EXCLUSIVE => Value::Bool(p.exclusive),
                            HTTP2_STREAM_DEPENDENCY => Value::UInt(p.dependency.into()),
                            _ => Value::UInt(p.weight.into()),
                        })
                    }
                }
                // tshark 4.0.17 leaves the padding in the data (only the pad length octet out).
                HTTP2_DATA_DATA if ty == FrameType::DATA => {
                    let skip = usize::from(f.pad_length().is_some());
                    if let Some(d) = f.payload.get(skip..).filter(|d| !d.is_empty()) {
                        sink(Value::Bytes(d))
                    }
                }
                HTTP2_RST_STREAM_ERROR => {
                    if let Some(e) = f.rst_stream_error() {
                        sink(Value::UInt(e.0.into()))
                    }
                }
                HTTP2_SETTINGS_ID => f.settings().for_each(|s| sink(Value::UInt(s.id.into()))),
                HTTP2_SETTINGS_HEADER_TABLE_SIZE
                | HTTP2_SETTINGS_ENABLE_PUSH
                | HTTP2_SETTINGS_MAX_CONCURRENT_STREAMS
                | HTTP2_SETTINGS_INITIAL_WINDOW_SIZE
                | HTTP2_SETTINGS_MAX_FRAME_SIZE
                | HTTP2_SETTINGS_MAX_HEADER_LIST_SIZE
                | HTTP2_SETTINGS_EXTENDED_CONNECT
                | HTTP2_SETTINGS_UNKNOWN => {
                    for s in f.settings() {
                        let of = match s.id {
                            1 => HTTP2_SETTINGS_HEADER_TABLE_SIZE,
                            2 => HTTP2_SETTINGS_ENABLE_PUSH,
                            3 => HTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                            4 => HTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
                            5 => HTTP2_SETTINGS_MAX_FRAME_SIZE,
                            6 => HTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                            8 => HTTP2_SETTINGS_EXTENDED_CONNECT,
                            _ => HTTP2_SETTINGS_UNKNOWN,
                        };
                        if of == field {
                            sink(Value::UInt(s.value.into()))
                        }
                    }
                }
                HTTP2_PUSH_PROMISE_PROMISED_STREAM_ID => {
                    if let Some(p) = f.promised_stream_id() {
                        sink(Value::UInt(p.into()))
                    }
                }
                HTTP2_PING | HTTP2_PONG => {
                    if let Some(p) = f.ping() {
                        if f.is_ack() == (field == HTTP2_PONG) {
                            sink(Value::Bytes(&p))
                        }
                    }
                }
                HTTP2_GOAWAY_LAST_STREAM_ID | HTTP2_GOAWAY_ERROR | HTTP2_GOAWAY_ADDATA => {
                    if let Some(g) = f.goaway() {
                        match field {
                            HTTP2_GOAWAY_LAST_STREAM_ID => {
                                sink(Value::UInt(g.last_stream_id.into()))
                            }
                            HTTP2_GOAWAY_ERROR => sink(Value::UInt(g.error.0.into())),
                            _ if !g.debug.is_empty() => sink(Value::Bytes(g.debug)),
                            _ => {}
                        }
                    }
                }
                HTTP2_WINDOW_UPDATE_WINDOW_SIZE_INCREMENT => {
                    if let Some(w) = f.window_size_increment() {
                        sink(Value::UInt(w.into()))
                    }
                }
                HTTP2_HEADER_COUNT
                | HTTP2_HEADER_LENGTH
                | HTTP2_HEADER_NAME
                | HTTP2_HEADER_VALUE
                | HTTP2_HEADERS_METHOD
                | HTTP2_HEADERS_PATH
                | HTTP2_HEADERS_STATUS
                | HTTP2_HEADERS_AUTHORITY
                | HTTP2_HEADERS_SCHEME
                | HTTP2_HEADERS_CONTENT_TYPE => {
                    let Some(list) = item.headers else {
                        continue;
                    };
                    match field {
                        HTTP2_HEADER_COUNT => sink(Value::UInt(list.iter().count() as u64)),
                        HTTP2_HEADER_LENGTH => sink(Value::UInt(
                            list.iter()
                                .map(|(n, v)| (n.len() + v.len() + 8) as u64)
                                .sum(),
                        )),
                        HTTP2_HEADER_NAME => list.iter().for_each(|(n, _)| sink(Value::Str(n))),
                        HTTP2_HEADER_VALUE => list.iter().for_each(|(_, v)| sink(Value::Str(v))),
                        HTTP2_HEADERS_STATUS => {
                            for (n, v) in list.iter() {
                                if let (":status", Ok(code)) = (n, v.parse::<u16>()) {
                                    sink(Value::UInt(code.into()))
                                }
                            }
                        }
                        _ => {
                            let want = match field {
                                HTTP2_HEADERS_METHOD => ":method",
                                HTTP2_HEADERS_PATH => ":path",
                                HTTP2_HEADERS_AUTHORITY => ":authority",
                                HTTP2_HEADERS_SCHEME => ":scheme",
                                _ => "content-type",
                            };
                            for (n, v) in list.iter() {
                                if n == want {
                                    sink(Value::Str(v))
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// `tls.*`: the records this frame completed, each read as tshark reads it without keys.
    fn visit_tls(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        use keepsight_tls::record::{handshake_type, Hello};
        use keepsight_tls::ContentType;
        /// TLS 1.3's Encrypted Extensions message, where the server's ALPN choice goes.
        const ENCRYPTED_EXTENSIONS: u8 = 8;
        let Some(t) = &self.tls else {
            return;
        };
        if field == TLS {
            // One occurrence per TLS layer: a reassembled record, then the rest of the segment;
            // none on a segment that only continues a record (tshark's TCP keeps it).
            if t.layers() == 0 {
                return;
            }
            if let Some(a) = t.assembled {
                sink(Value::Bytes(a));
            }
            if t.assembled.is_none() || t.after_assembled {
                sink(Value::Bytes(self.tcp_payload()));
            }
            return;
        }
        for (r, ctx, plain) in t.records_opened() {
            let ty = r.content_type();
            if let Some((inner, body)) = plain {
                // A decrypted record shows what tshark shows with the key log: the inner
                // content type and the messages or alert inside.
                match field {
                    TLS_RECORD_CONTENT_TYPE => sink(Value::UInt(inner.0.into())),
                    TLS_RECORD_OPAQUE_TYPE if ctx.opaque => sink(Value::UInt(ty.0.into())),
                    TLS_RECORD_VERSION => sink(Value::UInt(r.version().into())),
                    TLS_RECORD_LENGTH => sink(Value::UInt(r.length().into())),
                    TLS_APP_DATA if inner == ContentType::APPLICATION_DATA => {
                        sink(Value::Bytes(r.fragment()))
                    }
                    TLS_ALERT_MESSAGE_LEVEL | TLS_ALERT_MESSAGE_DESC
                        if inner == ContentType::ALERT =>
                    {
                        if let Some((level, desc)) = keepsight_tls::record::alert_in(body) {
                            let v = if field == TLS_ALERT_MESSAGE_LEVEL {
                                level
                            } else {
                                desc
                            };
                            sink(Value::UInt(v.into()))
                        }
                    }
                    TLS_HANDSHAKE_EXTENSIONS_ALPN_STR if inner == ContentType::HANDSHAKE => {
                        for h in keepsight_tls::record::handshakes_in(body) {
                            if h.msg_type == ENCRYPTED_EXTENSIONS {
                                Hello::encrypted_extensions(h.body)
                                    .alpn()
                                    .for_each(|n| sink(Value::Str(&String::from_utf8_lossy(n))))
                            }
                        }
                    }
                    TLS_HANDSHAKE_TYPE | TLS_HANDSHAKE_LENGTH
                        if inner == ContentType::HANDSHAKE =>
                    {
                        for h in keepsight_tls::record::handshakes_in(body) {
                            sink(Value::UInt(if field == TLS_HANDSHAKE_TYPE {
                                h.msg_type.into()
                            } else {
                                h.length.into()
                            }))
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match field {
                TLS_RECORD_CONTENT_TYPE if !ctx.opaque => sink(Value::UInt(ty.0.into())),
                TLS_RECORD_OPAQUE_TYPE if ctx.opaque => sink(Value::UInt(ty.0.into())),
                TLS_RECORD_VERSION => sink(Value::UInt(r.version().into())),
                TLS_RECORD_LENGTH => sink(Value::UInt(r.length().into())),
                TLS_APP_DATA if ty == ContentType::APPLICATION_DATA => {
                    sink(Value::Bytes(r.fragment()))
                }
                TLS_ALERT_MESSAGE_LEVEL | TLS_ALERT_MESSAGE_DESC
                    if ty == ContentType::ALERT && !ctx.encrypted =>
                {
                    if let Some((level, desc)) = r.alert() {
                        let v = if field == TLS_ALERT_MESSAGE_LEVEL {
                            level
                        } else {
                            desc
                        };
                        sink(Value::UInt(v.into()))
                    }
                }
                TLS_HANDSHAKE_TYPE
                | TLS_HANDSHAKE_LENGTH
                | TLS_HANDSHAKE_VERSION
                | TLS_HANDSHAKE_CIPHERSUITE
                | TLS_HANDSHAKE_EXTENSIONS_SERVER_NAME
                | TLS_HANDSHAKE_EXTENSIONS_ALPN_STR
                | TLS_HANDSHAKE_EXTENSIONS_SUPPORTED_VERSION
                    if ty == ContentType::HANDSHAKE && !ctx.encrypted =>
                {
                    for h in r.handshakes() {
                        match field {
                            TLS_HANDSHAKE_TYPE => sink(Value::UInt(h.msg_type.into())),
                            TLS_HANDSHAKE_LENGTH => sink(Value::UInt(h.length.into())),
                            _ => {}
                        }
                        let client = h.msg_type == handshake_type::CLIENT_HELLO;
                        if !client && h.msg_type != handshake_type::SERVER_HELLO {
                            continue;
                        }
                        let Some(hello) = Hello::parse(h.body, client) else {
                            continue;
                        };
                        match field {
                            TLS_HANDSHAKE_VERSION => sink(Value::UInt(hello.version.into())),
                            TLS_HANDSHAKE_CIPHERSUITE => {
                                hello.suites().for_each(|s| sink(Value::UInt(s.into())))
                            }
                            TLS_HANDSHAKE_EXTENSIONS_SERVER_NAME => hello
                                .server_names()
                                .for_each(|n| sink(Value::Str(&String::from_utf8_lossy(n)))),
                            TLS_HANDSHAKE_EXTENSIONS_ALPN_STR => hello
                                .alpn()
                                .for_each(|n| sink(Value::Str(&String::from_utf8_lossy(n)))),
                            TLS_HANDSHAKE_EXTENSIONS_SUPPORTED_VERSION => hello
                                .supported_versions()
                                .for_each(|v| sink(Value::UInt(v.into()))),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn visit_link(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>), data: &[u8]) {
        let d = &self.dissection;
        match d.link {
            Link::Ethernet if data.len() >= 14 => {
                let dst: [u8; 6] = data[0..6].try_into().unwrap_or_default();
                let src: [u8; 6] = data[6..12].try_into().unwrap_or_default();
                match field {
                    // The Ethernet dissector is handed the whole frame, padding and trailer
                    // included.
                    ETH => sink(proto(data, 14)),
                    ETH_DST => sink(Value::Ether(dst)),
                    ETH_SRC => sink(Value::Ether(src)),
                    ETH_ADDR => {
                        sink(Value::Ether(dst));
                        sink(Value::Ether(src));
                    }
                    ETH_TYPE => sink(Value::UInt(u16::from_be_bytes([data[12], data[13]]) as u64)),
                    ETH_PADDING | ETH_TRAILER | ETH_FCS => {
                        if let Some(t) = self.eth_trailer() {
                            match field {
                                ETH_PADDING if !t.padding.is_empty() => {
                                    sink(Value::Bytes(t.padding))
                                }
                                ETH_TRAILER if !t.trailer.is_empty() && !t.tagged => {
                                    sink(Value::Bytes(t.trailer))
                                }
                                ETH_FCS => {
                                    if let Some(fcs) = t.fcs {
                                        sink(Value::UInt(fcs.into()))
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    VLAN_TRAILER => {
                        if let Some(t) = self.eth_trailer().filter(|t| t.tagged) {
                            let inner = d.vlan_tpids[(d.vlan_count as usize).clamp(1, 2) - 1];
                            if !t.trailer.is_empty() && inner != 0x88a8 {
                                sink(Value::Bytes(t.trailer))
                            }
                        }
                    }
                    VLAN | VLAN_ID | VLAN_PRIORITY | VLAN_ETYPE => {
                        let n = (d.vlan_count as usize).min(2);
                        for (&off, &tpid) in d.vlan_offsets[..n].iter().zip(&d.vlan_tpids[..n]) {
                            // 802.1ad service tags are a protocol of their own in tshark.
                            if tpid == 0x88a8 {
                                continue;
                            }
                            let off = off as usize;
                            let tci = u16::from_be_bytes([data[off], data[off + 1]]);
                            match field {
                                VLAN => sink(proto(&data[off..], 4)),
                                VLAN_ID => sink(Value::UInt((tci & 0x0fff) as u64)),
                                VLAN_PRIORITY => sink(Value::UInt((tci >> 13) as u64)),
                                _ => sink(Value::UInt(u16::from_be_bytes([
                                    data[off + 2],
                                    data[off + 3],
                                ]) as u64)),
                            }
                        }
                    }
                    _ => {}
                }
            }
            Link::Sll if data.len() >= 16 => match field {
                SLL => sink(proto(data, 16)),
                SLL_PKTTYPE => sink(Value::UInt(u16::from_be_bytes([data[0], data[1]]) as u64)),
                SLL_ETYPE => sink(Value::UInt(d.ethertype as u64)),
                _ => {}
            },
            Link::Sll2 if data.len() >= 20 => match field {
                SLL => sink(proto(data, 20)),
                SLL_PKTTYPE => sink(Value::UInt(data[10] as u64)),
                SLL_ETYPE => sink(Value::UInt(d.ethertype as u64)),
                SLL_IFINDEX => {
                    sink(Value::UInt(
                        u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as u64,
                    ))
                }
                _ => {}
            },
            Link::Null if data.len() >= 4 => match field {
                NULL => sink(proto(data, 4)),
                NULL_FAMILY => {
                    let raw = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                    let fam = if self.record.link_type == 108 || raw & 0xffff_0000 != 0 {
                        raw.swap_bytes()
                    } else {
                        raw
                    };
                    sink(Value::UInt(fam as u64))
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn visit_ip(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>), data: &[u8]) {
        let d = &self.dissection;
        if let (Some(h), Network::Ipv4 { offset, header_len }) = (d.ipv4(data), d.network) {
            let off = offset as usize;
            let ip_end = ip_end(d, data, off);
            match field {
                IP => sink(proto(&data[off..ip_end], header_len as usize)),
                IP_VERSION => sink(Value::UInt(4)),
                IP_HDR_LEN => sink(Value::UInt(h.header_len() as u64)),
                IP_DSFIELD => sink(Value::UInt(h.dscp_ecn() as u64)),
                IP_LEN => sink(Value::UInt(h.total_len() as u64)),
                IP_ID => sink(Value::UInt(h.ident() as u64)),
                IP_FLAGS => sink(Value::UInt(h.flags() as u64)),
                IP_FLAGS_RB => sink(Value::Bool(h.flags() & 4 != 0)),
                IP_FLAGS_DF => sink(Value::Bool(h.dont_fragment())),
                IP_FLAGS_MF => sink(Value::Bool(h.more_fragments())),
                // tshark 4.0 shows the raw 13-bit field (8-byte units).
                IP_FRAG_OFFSET => sink(Value::UInt((h.frag_offset() / 8) as u64)),
                IP_TTL => sink(Value::UInt(h.ttl() as u64)),
                IP_PROTO => sink(Value::UInt(h.protocol() as u64)),
                IP_CHECKSUM => sink(Value::UInt(h.checksum() as u64)),
                IP_SRC => sink(Value::Ipv4(h.src())),
                IP_DST => sink(Value::Ipv4(h.dst())),
                IP_ADDR => {
                    sink(Value::Ipv4(h.src()));
                    sink(Value::Ipv4(h.dst()));
                }
                IP_FRAGMENT
                | IP_FRAGMENT_COUNT
                | IP_REASSEMBLED_LENGTH
                | IP_FRAGMENT_OVERLAP
                | IP_FRAGMENT_OVERLAP_CONFLICT => self.visit_reassembly(field, sink),
                _ => {}
            }
        } else if let (
            Some(h),
            Network::Ipv6 {
                offset, header_len, ..
            },
        ) = (d.ipv6(data), d.network)
        {
            let off = offset as usize;
            let ip_end = ip_end(d, data, off);
            match field {
                IPV6 => {
                    // A fragment that does not complete a datagram keeps its fragment header out
                    // of tshark's ipv6 item (it is a protocol of its own there); the last
                    // fragment, where tshark reassembles, has it in.
                    let mut item = header_len as usize;
                    if d.has_problem(keepsight_wire::Problem::Fragment) && item >= 48 {
                        let fh = off + item - 8;
                        if data.get(fh + 3).is_some_and(|b| b & 1 == 1) {
                            item -= 8;
                        }
                    }
                    sink(proto(&data[off..ip_end], item))
                }
                // tshark's IPv6 dissector also fills in `ip.version`.
                IPV6_VERSION | IP_VERSION => sink(Value::UInt(6)),
                IPV6_TCLASS => sink(Value::UInt(h.traffic_class() as u64)),
                IPV6_FLOW => sink(Value::UInt(h.flow_label() as u64)),
                IPV6_PLEN => sink(Value::UInt(h.payload_len() as u64)),
                IPV6_NXT => sink(Value::UInt(h.next_header() as u64)),
                IPV6_HLIM => sink(Value::UInt(h.hop_limit() as u64)),
                IPV6_SRC => sink(Value::Ipv6(h.src())),
                IPV6_DST => sink(Value::Ipv6(h.dst())),
                IPV6_ADDR => {
                    sink(Value::Ipv6(h.src()));
                    sink(Value::Ipv6(h.dst()));
                }
                IPV6_FRAGHDR_NXT | IPV6_FRAGHDR_OFFSET | IPV6_FRAGHDR_MORE | IPV6_FRAGHDR_IDENT => {
                    let at = d.ipv6_fraghdr as usize;
                    if let Some(fh) = data.get(at..at + 8).filter(|_| at != 0) {
                        let of = u16::from_be_bytes([fh[2], fh[3]]);
                        sink(match field {
                            IPV6_FRAGHDR_NXT => Value::UInt(fh[0] as u64),
                            IPV6_FRAGHDR_OFFSET => Value::UInt((of >> 3) as u64),
                            IPV6_FRAGHDR_MORE => Value::Bool(of & 1 != 0),
                            _ => {
                                Value::UInt(u32::from_be_bytes([fh[4], fh[5], fh[6], fh[7]]) as u64)
                            }
                        })
                    }
                }
                IPV6_FRAGMENT
                | IPV6_FRAGMENT_COUNT
                | IPV6_REASSEMBLED_LENGTH
                | IPV6_FRAGMENT_OVERLAP
                | IPV6_FRAGMENT_OVERLAP_CONFLICT => self.visit_reassembly(field, sink),
                _ => {}
            }
        }
    }

    /// `ip[v6].fragment` (one per listed frame), `.fragment.count`, `.reassembled.length`,
    /// `.fragment.overlap[.conflict]` (one per such piece), on the frame that completes a
    /// datagram (tshark's single pass shows them there only).
    fn visit_reassembly(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        let Some(r) = self.reassembled else { return };
        match field {
            IP_FRAGMENT | IPV6_FRAGMENT => r.frames.iter().for_each(|&f| sink(Value::FrameNum(f))),
            IP_FRAGMENT_COUNT | IPV6_FRAGMENT_COUNT => sink(Value::UInt(r.count as u64)),
            IP_REASSEMBLED_LENGTH | IPV6_REASSEMBLED_LENGTH => {
                sink(Value::UInt(r.data.len() as u64))
            }
            IP_FRAGMENT_OVERLAP | IPV6_FRAGMENT_OVERLAP => {
                (0..r.overlaps).for_each(|_| sink(Value::Bool(true)))
            }
            IP_FRAGMENT_OVERLAP_CONFLICT | IPV6_FRAGMENT_OVERLAP_CONFLICT => {
                (0..r.conflicts).for_each(|_| sink(Value::Bool(true)))
            }
            _ => {}
        }
    }

    fn visit_udp(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>), data: &[u8]) {
        let _ = data;
        let Some(bytes) = self.udp_bytes() else {
            return;
        };
        let Some(h) = keepsight_wire::UdpHeader::new(bytes) else {
            return;
        };
        match field {
            UDP => sink(proto(bytes, 8)),
            UDP_SRCPORT => sink(Value::UInt(h.src_port() as u64)),
            UDP_DSTPORT => sink(Value::UInt(h.dst_port() as u64)),
            UDP_PORT => {
                sink(Value::UInt(h.src_port() as u64));
                sink(Value::UInt(h.dst_port() as u64));
            }
            UDP_LENGTH => sink(Value::UInt(h.length() as u64)),
            UDP_CHECKSUM => sink(Value::UInt(h.checksum() as u64)),
            UDP_STREAM => {
                if let Some(s) = self.udp_stream {
                    sink(Value::UInt(s as u64))
                }
            }
            UDP_PAYLOAD => {
                let p = &bytes[8..];
                if !p.is_empty() {
                    sink(Value::Bytes(p))
                }
            }
            _ => {}
        }
    }

    fn visit_tcp(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>), data: &[u8]) {
        let _ = data;
        let Some(t) = self.tcp.as_ref() else { return };
        let Some(h) = self.tcp_header() else { return };
        let flags = h.flags();
        let a = t.flags;
        let uint = |v: u32| Value::UInt(v as u64);
        let bit = |b: u16| Value::Bool(flags.has(b));
        match field {
            TCP => sink(proto(h.bytes(), h.header_len())),
            TCP_SRCPORT => sink(uint(h.src_port() as u32)),
            TCP_DSTPORT => sink(uint(h.dst_port() as u32)),
            TCP_PORT => {
                sink(uint(h.src_port() as u32));
                sink(uint(h.dst_port() as u32));
            }
            TCP_STREAM => sink(uint(t.stream)),
            TCP_COMPLETENESS => sink(uint(t.completeness as u32)),
            TCP_LEN => {
                if let Some(l) = self.tcp_len() {
                    sink(uint(l))
                }
            }
            TCP_SEQ => sink(uint(t.seq)),
            TCP_SEQ_RAW => sink(uint(h.seq())),
            TCP_NXTSEQ => sink(uint(t.nxtseq)),
            TCP_ACK => sink(uint(t.ack)),
            TCP_ACK_RAW => sink(uint(h.ack())),
            TCP_HDR_LEN => sink(uint(h.header_len() as u32)),
            TCP_FLAGS => sink(uint(flags.0 as u32)),
            TCP_FLAGS_RES => sink(bit(TcpFlags::RES)),
            TCP_FLAGS_AE => sink(bit(TcpFlags::AE)),
            TCP_FLAGS_CWR => sink(bit(TcpFlags::CWR)),
            TCP_FLAGS_ECE => sink(bit(TcpFlags::ECE)),
            TCP_FLAGS_URG => sink(bit(TcpFlags::URG)),
            TCP_FLAGS_ACK => sink(bit(TcpFlags::ACK)),
            TCP_FLAGS_PUSH => sink(bit(TcpFlags::PSH)),
            TCP_FLAGS_RESET => sink(bit(TcpFlags::RST)),
            TCP_FLAGS_SYN => sink(bit(TcpFlags::SYN)),
            TCP_FLAGS_FIN => sink(bit(TcpFlags::FIN)),
            TCP_FLAGS_STR => {
                let mut buf = [0u8; 36];
                let s = flags_str(flags.0, &mut buf);
                sink(Value::Str(s))
            }
            TCP_WINDOW_SIZE_VALUE => sink(uint(h.window() as u32)),
            TCP_WINDOW_SIZE => sink(uint(t.window_size)),
            TCP_WINDOW_SIZE_SCALEFACTOR => {
                if let Some(f) = t.window_scalefactor {
                    sink(Value::Int(f as i64))
                }
            }
            TCP_CHECKSUM => sink(uint(h.checksum() as u32)),
            TCP_URGENT_POINTER => sink(uint(h.urgent_pointer() as u32)),
            TCP_OPTIONS => {
                let o = h.option_bytes();
                if !o.is_empty() {
                    sink(Value::Bytes(o))
                }
            }
            TCP_OPTIONS_MSS_VAL
            | TCP_OPTIONS_WSCALE_SHIFT
            | TCP_OPTIONS_WSCALE_MULTIPLIER
            | TCP_OPTIONS_SACK_PERM
            | TCP_OPTIONS_SACK_LE
            | TCP_OPTIONS_SACK_RE
            | TCP_OPTIONS_TIMESTAMP_TSVAL
            | TCP_OPTIONS_TIMESTAMP_TSECR => {
                // SACK edges are shown relative to the peer's base sequence number.
                let base = h.ack().wrapping_sub(t.ack);
                for o in h.options() {
                    match (field, o) {
                        (TCP_OPTIONS_MSS_VAL, TcpOption::Mss(v)) => sink(uint(v as u32)),
                        (TCP_OPTIONS_WSCALE_SHIFT, TcpOption::WindowScale(s)) => {
                            sink(uint(s as u32))
                        }
                        (TCP_OPTIONS_WSCALE_MULTIPLIER, TcpOption::WindowScale(s)) => {
                            sink(uint(1u32 << s.min(14)))
                        }
                        (TCP_OPTIONS_SACK_PERM, TcpOption::SackPermitted) => {
                            sink(Value::Bytes(&[4, 2]))
                        }
                        (TCP_OPTIONS_SACK_LE | TCP_OPTIONS_SACK_RE, TcpOption::Sack(blocks)) => {
                            for b in blocks.chunks_exact(8) {
                                let i = if field == TCP_OPTIONS_SACK_LE { 0 } else { 4 };
                                let edge = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                                sink(uint(edge.wrapping_sub(base)))
                            }
                        }
                        (TCP_OPTIONS_TIMESTAMP_TSVAL, TcpOption::Timestamps { tsval, .. }) => {
                            sink(uint(tsval))
                        }
                        (TCP_OPTIONS_TIMESTAMP_TSECR, TcpOption::Timestamps { tsecr, .. }) => {
                            sink(uint(tsecr))
                        }
                        _ => {}
                    }
                }
            }
            TCP_ANALYSIS => {
                if t.has_analysis {
                    sink(Value::Present)
                }
            }
            TCP_ANALYSIS_FLAGS => {
                if !a.is_empty() {
                    sink(Value::Present)
                }
            }
            TCP_ANALYSIS_RETRANSMISSION => {
                if a.has(flag::ANY_RETRANSMISSION) {
                    sink(Value::Present)
                }
            }
            TCP_ANALYSIS_DUPLICATE_ACK => {
                // Two occurrences in tshark: the flag item and the expert item share the name.
                if a.has(flag::DUPLICATE_ACK) && t.dupack_num != 0 {
                    sink(Value::Present);
                    sink(Value::Present);
                }
            }
            TCP_ANALYSIS_DUPLICATE_ACK_NUM => {
                if t.dupack_num != 0 {
                    sink(uint(t.dupack_num))
                }
            }
            TCP_ANALYSIS_DUPLICATE_ACK_FRAME => {
                if t.dupack_num != 0 {
                    sink(Value::FrameNum(t.dupack_frame))
                }
            }
            TCP_ANALYSIS_ACKS_FRAME => {
                if t.acks_frame != 0 {
                    sink(Value::FrameNum(t.acks_frame))
                }
            }
            TCP_ANALYSIS_ACK_RTT => {
                if t.acks_frame != 0 && t.ack_rtt_ns != 0 {
                    sink(self.time_since(t.ack_rtt_ns))
                }
            }
            TCP_ANALYSIS_INITIAL_RTT => {
                if t.initial_rtt_ns != 0 {
                    sink(Value::RelTime(t.initial_rtt_ns))
                }
            }
            TCP_ANALYSIS_BYTES_IN_FLIGHT => {
                if t.bytes_in_flight != 0 {
                    sink(uint(t.bytes_in_flight))
                }
            }
            TCP_ANALYSIS_PUSH_BYTES_SENT => {
                if let Some(v) = t.push_bytes_sent {
                    if t.bytes_in_flight != 0 {
                        sink(uint(v))
                    }
                }
            }
            TCP_ANALYSIS_RTO => {
                if t.rto_ns != 0 {
                    sink(self.time_since(t.rto_ns))
                }
            }
            TCP_ANALYSIS_RTO_FRAME => {
                if t.rto_ns != 0 {
                    sink(Value::FrameNum(t.rto_frame))
                }
            }
            TCP_CONNECTION_SYN => conn(t.connection, ConnectionEvent::SYN, sink),
            TCP_CONNECTION_SYNACK => conn(t.connection, ConnectionEvent::SYNACK, sink),
            TCP_CONNECTION_FIN => conn(t.connection, ConnectionEvent::FIN, sink),
            TCP_CONNECTION_FIN_ACTIVE => conn(t.connection, ConnectionEvent::FIN_ACTIVE, sink),
            TCP_CONNECTION_FIN_PASSIVE => conn(t.connection, ConnectionEvent::FIN_PASSIVE, sink),
            TCP_CONNECTION_RST => conn(t.connection, ConnectionEvent::RST, sink),
            TCP_TIME_RELATIVE => sink(self.time_since(t.time_relative_ns)),
            TCP_TIME_DELTA => sink(self.time_since(t.time_delta_ns)),
            TCP_PAYLOAD => {
                let p = self.tcp_payload();
                if !p.is_empty() {
                    sink(Value::Bytes(p))
                }
            }
            other => {
                // Analysis flag fields map one-to-one to bits.
                let bit = match other {
                    TCP_ANALYSIS_FAST_RETRANSMISSION => flag::FAST_RETRANSMISSION,
                    TCP_ANALYSIS_SPURIOUS_RETRANSMISSION => flag::SPURIOUS_RETRANSMISSION,
                    TCP_ANALYSIS_OUT_OF_ORDER => flag::OUT_OF_ORDER,
                    TCP_ANALYSIS_REUSED_PORTS => flag::REUSED_PORTS,
                    TCP_ANALYSIS_LOST_SEGMENT => flag::LOST_PACKET,
                    TCP_ANALYSIS_ACK_LOST_SEGMENT => flag::ACK_LOST_PACKET,
                    TCP_ANALYSIS_WINDOW_UPDATE => flag::WINDOW_UPDATE,
                    TCP_ANALYSIS_WINDOW_FULL => flag::WINDOW_FULL,
                    TCP_ANALYSIS_KEEP_ALIVE => flag::KEEP_ALIVE,
                    TCP_ANALYSIS_KEEP_ALIVE_ACK => flag::KEEP_ALIVE_ACK,
                    TCP_ANALYSIS_ZERO_WINDOW => flag::ZERO_WINDOW,
                    TCP_ANALYSIS_ZERO_WINDOW_PROBE => flag::ZERO_WINDOW_PROBE,
                    TCP_ANALYSIS_ZERO_WINDOW_PROBE_ACK => flag::ZERO_WINDOW_PROBE_ACK,
                    _ => 0,
                };
                if bit != 0 && a.has(bit) {
                    sink(Value::Present)
                }
            }
        }
    }
}

/// A protocol value whose item is the first `item_len` bytes of `tvb` (see [`Value::Protocol`]).
fn proto(tvb: &[u8], item_len: usize) -> Value<'_> {
    Value::Protocol {
        item: &tvb[..item_len.min(tvb.len())],
        tvb,
    }
}

/// End of the IP packet within the captured bytes: the IP dissectors hand their layer data up
/// to the header's length field, so Ethernet padding and trailers are not part of `ip`/`ipv6`.
fn ip_end(d: &keepsight_wire::Dissection, data: &[u8], off: usize) -> usize {
    (d.ip_end as usize).clamp(off, data.len().max(off))
}

fn conn(ev: ConnectionEvent, bit: u8, sink: &mut dyn FnMut(Value<'_>)) {
    if ev.has(bit) {
        sink(Value::Present)
    }
}

/// `frame.protocols` being appended to a buffer that may hold text before it.
struct Protocols<'o> {
    out: &'o mut String,
    start: usize,
}

impl Protocols<'_> {
    fn push_str(&mut self, p: &str) {
        self.out.push_str(p);
    }

    fn starts_with(&self, c: char) -> bool {
        self.out[self.start..].starts_with(c)
    }

    fn remove(&mut self, i: usize) {
        self.out.remove(self.start + i);
    }
}
