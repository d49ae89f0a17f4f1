//! The table of known fields. Names, types and display bases follow tshark 4.0.17
//! (`tshark -G fields`), so that `-e NAME` and filter expressions mean what users expect.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Index of a field in the registry. Stable for the life of the process, cheap to copy and
/// compare: filters and printers resolve names to ids once, before reading packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u16);

/// The value type of a field, after tshark's `FT_*` types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// A protocol (`tcp`, `frame`): present when the layer is, its value is the layer's bytes.
    Protocol,
    /// Presence only (`FT_NONE`).
    None,
    /// A flag bit; filters compare it with `1`/`0` or `True`/`False`.
    Bool,
    /// Unsigned integer of the given bit width (8, 16, 24, 32, 64).
    UInt(u8),
    /// Signed integer of the given bit width.
    Int(u8),
    /// A floating-point number (tshark's `FT_DOUBLE`); no registered field has this type yet,
    /// but filter literals and arithmetic can produce it.
    Float,
    /// Raw bytes, printed as hex and compared byte-wise (payloads, options).
    Bytes,
    /// Text (`http.request.method`), compared as bytes.
    String,
    /// An IPv4 address; filters accept CIDR forms (`ip.addr == 10.0.0.0/8`).
    Ipv4,
    /// An IPv6 address; filters accept prefix forms.
    Ipv6,
    /// A 6-byte Ethernet MAC address.
    Ether,
    /// A point in time (ns since the epoch), printed as a local date and time (`frame.time`).
    AbsTime,
    /// A signed duration in ns, printed as seconds with 9 decimals.
    RelTime,
    /// The number of another frame, shown as a link in Wireshark.
    FrameNum,
}

/// How integers are printed (tshark's `BASE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntBase {
    /// Plain decimal (ports, lengths, counters).
    Dec,
    /// `0x` followed by as many hex digits as the field's width needs (`0x0018` for 16 bits).
    Hex,
}

/// A registered field.
#[derive(Debug)]
pub struct FieldDef {
    /// The filter name, e.g. `tcp.analysis.keep_alive`.
    pub name: &'static str,
    /// What its values are; decides how filter literals next to it are read.
    pub ftype: FieldType,
    /// How `-T fields` prints integer values (ignored for other types).
    pub base: IntBase,
    /// One line saying what the field holds, shown by `--help`-style listings and "did you mean".
    pub blurb: &'static str,
}

impl FieldDef {
    /// The protocol a field belongs to: the part of its name before the first dot.
    pub fn protocol(&self) -> &'static str {
        self.name.split('.').next().unwrap_or(self.name)
    }
}

/// The protocol of every field, indexed like the registry, computed once: producers dispatch on
/// it for every value they are asked for, so it must not cost a string scan each time.
pub fn protocol_of(id: FieldId) -> &'static str {
    static PROTOCOLS: OnceLock<Vec<&'static str>> = OnceLock::new();
    PROTOCOLS.get_or_init(|| FIELDS.iter().map(FieldDef::protocol).collect())[id.0 as usize]
}

impl FieldId {
    /// The field's registry entry (name, type, base, blurb), found by index, not by name.
    pub fn def(self) -> &'static FieldDef {
        &FIELDS[self.0 as usize]
    }
    /// The filter name (`tcp.stream`), for messages and output headers.
    pub fn name(self) -> &'static str {
        self.def().name
    }
}

/// Looks a field up by its filter name.
pub fn lookup(name: &str) -> Option<FieldId> {
    static INDEX: OnceLock<HashMap<&'static str, FieldId>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            FIELDS
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name, FieldId(i as u16)))
                .collect()
        })
        .get(name)
        .copied()
}

/// The `--list-fields` table: one field a line, its name, type and description separated by
/// tabs, in registry order.
pub fn write_field_list(out: &mut impl std::io::Write) -> std::io::Result<()> {
    for def in FIELDS {
        writeln!(out, "{}\t{:?}\t{}", def.name, def.ftype, def.blurb)?;
    }
    Ok(())
}

/// Every registered field, in registry order.
pub fn all_fields() -> impl Iterator<Item = (FieldId, &'static FieldDef)> {
    FIELDS
        .iter()
        .enumerate()
        .map(|(i, f)| (FieldId(i as u16), f))
}

use FieldType as T;
use IntBase::{Dec, Hex};

const fn f(name: &'static str, ftype: FieldType, base: IntBase, blurb: &'static str) -> FieldDef {
    FieldDef {
        name,
        ftype,
        base,
        blurb,
    }
}

/// Declares the field table and, for each entry, a constant in [`ids`] so producers can match on
/// ids without string lookups.
macro_rules! fields {
    ($( $konst:ident = $name:literal : $ty:expr, $base:expr, $blurb:literal; )*) => {
        static FIELDS: &[FieldDef] = &[ $( f($name, $ty, $base, $blurb), )* ];
        /// Field ids as constants, one per registered field.
        pub mod ids {
            use super::FieldId;
            #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
            #[repr(u16)]
            enum Index { $( $konst, )* }
            $(
                #[doc = concat!("`", $name, "`: ", $blurb)]
                pub const $konst: FieldId = FieldId(Index::$konst as u16);
            )*
        }
    };
}

fields! {
    FRAME = "frame": T::Protocol, Dec, "The whole frame";
    FRAME_NUMBER = "frame.number": T::UInt(32), Dec, "Frame number, from 1";
    FRAME_TIME = "frame.time": T::AbsTime, Dec, "Absolute capture time";
    FRAME_TIME_EPOCH = "frame.time_epoch": T::RelTime, Dec, "Capture time as seconds since the Unix epoch";
    FRAME_TIME_DELTA = "frame.time_delta": T::RelTime, Dec, "Time since the previous captured frame";
    FRAME_TIME_DELTA_DISPLAYED = "frame.time_delta_displayed": T::RelTime, Dec, "Time since the previous displayed frame";
    FRAME_TIME_RELATIVE = "frame.time_relative": T::RelTime, Dec, "Time since the first frame";
    FRAME_LEN = "frame.len": T::UInt(32), Dec, "Frame length on the wire";
    FRAME_CAP_LEN = "frame.cap_len": T::UInt(32), Dec, "Frame length as captured";
    FRAME_PROTOCOLS = "frame.protocols": T::String, Dec, "Protocols in the frame, e.g. eth:ethertype:ip:tcp";
    FRAME_INTERFACE_ID = "frame.interface_id": T::UInt(32), Dec, "Capture interface index (pcapng)";
    FRAME_MARKED = "frame.marked": T::Bool, Dec, "Frame is marked";
    FRAME_IGNORED = "frame.ignored": T::Bool, Dec, "Frame is ignored";
    FRAME_COMMENT = "frame.comment": T::String, Dec, "pcapng packet comment (one occurrence per comment)";

    ETH = "eth": T::Protocol, Dec, "Ethernet";
    ETH_DST = "eth.dst": T::Ether, Dec, "Destination MAC address";
    ETH_SRC = "eth.src": T::Ether, Dec, "Source MAC address";
    ETH_ADDR = "eth.addr": T::Ether, Dec, "Source or destination MAC address";
    ETH_TYPE = "eth.type": T::UInt(16), Hex, "EtherType";
    ETH_PADDING = "eth.padding": T::Bytes, Dec, "Ethernet zero padding up to 60 bytes after the IP packet";
    ETH_TRAILER = "eth.trailer": T::Bytes, Dec, "Bytes after the IP packet that are not zero padding or the FCS";
    ETH_FCS = "eth.fcs": T::UInt(32), Hex, "Frame check sequence (assumed on frames of 64 bytes or more with 4 spare bytes)";

    VLAN = "vlan": T::Protocol, Dec, "802.1Q virtual LAN";
    VLAN_PRIORITY = "vlan.priority": T::UInt(16), Dec, "802.1Q priority";
    VLAN_ID = "vlan.id": T::UInt(16), Dec, "VLAN identifier";
    VLAN_ETYPE = "vlan.etype": T::UInt(16), Hex, "EtherType after the VLAN tag";
    VLAN_TRAILER = "vlan.trailer": T::Bytes, Dec, "Bytes after the IP packet of a VLAN-tagged frame that are not zero padding";

    SLL = "sll": T::Protocol, Dec, "Linux cooked capture";
    SLL_PKTTYPE = "sll.pkttype": T::UInt(16), Dec, "Linux packet type (0 to us, 4 sent by us, ...)";
    SLL_ETYPE = "sll.etype": T::UInt(16), Hex, "Protocol carried (EtherType)";
    SLL_IFINDEX = "sll.ifindex": T::UInt(32), Dec, "Interface index (SLL2)";

    NULL = "null": T::Protocol, Dec, "BSD loopback / null encapsulation";
    NULL_FAMILY = "null.family": T::UInt(32), Dec, "Address family of the BSD loopback header";

    ARP = "arp": T::Protocol, Dec, "Address Resolution Protocol (present only; its fields are not dissected)";

    IP = "ip": T::Protocol, Dec, "Internet Protocol version 4";
    IP_VERSION = "ip.version": T::UInt(8), Dec, "IP version";
    IP_HDR_LEN = "ip.hdr_len": T::UInt(8), Dec, "IPv4 header length in bytes";
    IP_DSFIELD = "ip.dsfield": T::UInt(8), Hex, "Differentiated services field";
    IP_LEN = "ip.len": T::UInt(16), Dec, "IPv4 total length";
    IP_ID = "ip.id": T::UInt(16), Hex, "IPv4 identification";
    IP_FLAGS = "ip.flags": T::UInt(8), Hex, "IPv4 flags";
    IP_FLAGS_RB = "ip.flags.rb": T::Bool, Dec, "Reserved bit";
    IP_FLAGS_DF = "ip.flags.df": T::Bool, Dec, "Don't fragment";
    IP_FLAGS_MF = "ip.flags.mf": T::Bool, Dec, "More fragments";
    IP_FRAG_OFFSET = "ip.frag_offset": T::UInt(16), Dec, "Fragment offset in bytes";
    IP_TTL = "ip.ttl": T::UInt(8), Dec, "Time to live";
    IP_PROTO = "ip.proto": T::UInt(8), Dec, "Protocol carried";
    IP_CHECKSUM = "ip.checksum": T::UInt(16), Hex, "IPv4 header checksum";
    IP_SRC = "ip.src": T::Ipv4, Dec, "Source IPv4 address";
    IP_DST = "ip.dst": T::Ipv4, Dec, "Destination IPv4 address";
    IP_ADDR = "ip.addr": T::Ipv4, Dec, "Source or destination IPv4 address";
    IP_FRAGMENT = "ip.fragment": T::FrameNum, Dec, "Frames whose fragments made the datagram reassembled here";
    IP_FRAGMENT_COUNT = "ip.fragment.count": T::UInt(32), Dec, "Fragments of the datagram reassembled here";
    IP_REASSEMBLED_LENGTH = "ip.reassembled.length": T::UInt(32), Dec, "Payload length of the datagram reassembled here";
    IP_FRAGMENT_OVERLAP = "ip.fragment.overlap": T::Bool, Dec, "A fragment overlaps an earlier one (one per such fragment)";
    IP_FRAGMENT_OVERLAP_CONFLICT = "ip.fragment.overlap.conflict": T::Bool, Dec, "Overlapping bytes differ (one per such fragment)";

    IPV6 = "ipv6": T::Protocol, Dec, "Internet Protocol version 6";
    IPV6_VERSION = "ipv6.version": T::UInt(8), Dec, "IP version";
    IPV6_TCLASS = "ipv6.tclass": T::UInt(32), Hex, "Traffic class";
    IPV6_FLOW = "ipv6.flow": T::UInt(24), Hex, "Flow label";
    IPV6_PLEN = "ipv6.plen": T::UInt(16), Dec, "Payload length";
    IPV6_NXT = "ipv6.nxt": T::UInt(8), Dec, "Next header";
    IPV6_HLIM = "ipv6.hlim": T::UInt(8), Dec, "Hop limit";
    IPV6_SRC = "ipv6.src": T::Ipv6, Dec, "Source IPv6 address";
    IPV6_DST = "ipv6.dst": T::Ipv6, Dec, "Destination IPv6 address";
    IPV6_ADDR = "ipv6.addr": T::Ipv6, Dec, "Source or destination IPv6 address";
    IPV6_FRAGHDR_NXT = "ipv6.fraghdr.nxt": T::UInt(8), Dec, "Fragment header: next header";
    IPV6_FRAGHDR_OFFSET = "ipv6.fraghdr.offset": T::UInt(16), Dec, "Fragment header: offset in 8-byte units";
    IPV6_FRAGHDR_MORE = "ipv6.fraghdr.more": T::Bool, Dec, "Fragment header: more fragments";
    IPV6_FRAGHDR_IDENT = "ipv6.fraghdr.ident": T::UInt(32), Hex, "Fragment header: identification";
    IPV6_FRAGMENT = "ipv6.fragment": T::FrameNum, Dec, "Frames whose fragments made the datagram reassembled here";
    IPV6_FRAGMENT_COUNT = "ipv6.fragment.count": T::UInt(32), Dec, "Fragments of the datagram reassembled here";
    IPV6_REASSEMBLED_LENGTH = "ipv6.reassembled.length": T::UInt(32), Dec, "Payload length of the datagram reassembled here";
    IPV6_FRAGMENT_OVERLAP = "ipv6.fragment.overlap": T::Bool, Dec, "A fragment overlaps an earlier one (one per such fragment)";
    IPV6_FRAGMENT_OVERLAP_CONFLICT = "ipv6.fragment.overlap.conflict": T::Bool, Dec, "Overlapping bytes differ (one per such fragment)";

    ICMP = "icmp": T::Protocol, Dec, "Internet Control Message Protocol (present only; its fields are not dissected)";
    ICMPV6 = "icmpv6": T::Protocol, Dec, "ICMPv6 (present only; its fields are not dissected)";

    TCP = "tcp": T::Protocol, Dec, "Transmission Control Protocol (header and payload)";
    TCP_SRCPORT = "tcp.srcport": T::UInt(16), Dec, "Source port";
    TCP_DSTPORT = "tcp.dstport": T::UInt(16), Dec, "Destination port";
    TCP_PORT = "tcp.port": T::UInt(16), Dec, "Source or destination port";
    TCP_STREAM = "tcp.stream": T::UInt(32), Dec, "Stream index, numbered as Wireshark does";
    TCP_COMPLETENESS = "tcp.completeness": T::UInt(8), Dec, "Conversation completeness so far (1 SYN, 2 SYN-ACK, 4 ACK, 8 data, 16 FIN, 32 RST)";
    TCP_LEN = "tcp.len": T::UInt(32), Dec, "Segment length: IP payload length minus TCP header length";
    TCP_SEQ = "tcp.seq": T::UInt(32), Dec, "Relative sequence number";
    TCP_SEQ_RAW = "tcp.seq_raw": T::UInt(32), Dec, "Sequence number as on the wire";
    TCP_NXTSEQ = "tcp.nxtseq": T::UInt(32), Dec, "Relative sequence number after this segment";
    TCP_ACK = "tcp.ack": T::UInt(32), Dec, "Relative acknowledgment number";
    TCP_ACK_RAW = "tcp.ack_raw": T::UInt(32), Dec, "Acknowledgment number as on the wire";
    TCP_HDR_LEN = "tcp.hdr_len": T::UInt(8), Dec, "TCP header length in bytes";
    TCP_FLAGS = "tcp.flags": T::UInt(16), Hex, "TCP flags (12 bits)";
    TCP_FLAGS_RES = "tcp.flags.res": T::Bool, Dec, "Reserved flag bits";
    TCP_FLAGS_AE = "tcp.flags.ae": T::Bool, Dec, "Accurate ECN flag";
    TCP_FLAGS_CWR = "tcp.flags.cwr": T::Bool, Dec, "Congestion window reduced";
    TCP_FLAGS_ECE = "tcp.flags.ece": T::Bool, Dec, "ECN echo";
    TCP_FLAGS_URG = "tcp.flags.urg": T::Bool, Dec, "Urgent";
    TCP_FLAGS_ACK = "tcp.flags.ack": T::Bool, Dec, "Acknowledgment";
    TCP_FLAGS_PUSH = "tcp.flags.push": T::Bool, Dec, "Push";
    TCP_FLAGS_RESET = "tcp.flags.reset": T::Bool, Dec, "Reset";
    TCP_FLAGS_SYN = "tcp.flags.syn": T::Bool, Dec, "Syn";
    TCP_FLAGS_FIN = "tcp.flags.fin": T::Bool, Dec, "Fin";
    TCP_FLAGS_STR = "tcp.flags.str": T::String, Dec, "Flags as letters, e.g. ·······AP···";
    TCP_WINDOW_SIZE_VALUE = "tcp.window_size_value": T::UInt(16), Dec, "Window field as on the wire";
    TCP_WINDOW_SIZE = "tcp.window_size": T::UInt(32), Dec, "Window size after scaling";
    TCP_WINDOW_SIZE_SCALEFACTOR = "tcp.window_size_scalefactor": T::Int(32), Dec, "Window scale multiplier (-1 unknown, -2 no scaling)";
    TCP_CHECKSUM = "tcp.checksum": T::UInt(16), Hex, "TCP checksum";
    TCP_URGENT_POINTER = "tcp.urgent_pointer": T::UInt(16), Dec, "Urgent pointer";
    TCP_OPTIONS = "tcp.options": T::Bytes, Dec, "TCP options bytes";
    TCP_OPTIONS_MSS_VAL = "tcp.options.mss_val": T::UInt(16), Dec, "Maximum segment size option";
    TCP_OPTIONS_WSCALE_SHIFT = "tcp.options.wscale.shift": T::UInt(8), Dec, "Window scale shift count";
    TCP_OPTIONS_WSCALE_MULTIPLIER = "tcp.options.wscale.multiplier": T::UInt(16), Dec, "Window scale multiplier";
    TCP_OPTIONS_SACK_PERM = "tcp.options.sack_perm": T::Protocol, Dec, "SACK permitted option (its bytes, 0402)";
    TCP_OPTIONS_SACK_LE = "tcp.options.sack_le": T::UInt(32), Dec, "SACK left edge (relative)";
    TCP_OPTIONS_SACK_RE = "tcp.options.sack_re": T::UInt(32), Dec, "SACK right edge (relative)";
    TCP_OPTIONS_TIMESTAMP_TSVAL = "tcp.options.timestamp.tsval": T::UInt(32), Dec, "Timestamp value";
    TCP_OPTIONS_TIMESTAMP_TSECR = "tcp.options.timestamp.tsecr": T::UInt(32), Dec, "Timestamp echo reply";
    TCP_ANALYSIS = "tcp.analysis": T::None, Dec, "This frame has TCP analysis information";
    TCP_ANALYSIS_FLAGS = "tcp.analysis.flags": T::None, Dec, "This frame has at least one TCP analysis flag";
    TCP_ANALYSIS_RETRANSMISSION = "tcp.analysis.retransmission": T::None, Dec, "Suspected retransmission";
    TCP_ANALYSIS_FAST_RETRANSMISSION = "tcp.analysis.fast_retransmission": T::None, Dec, "Suspected fast retransmission";
    TCP_ANALYSIS_SPURIOUS_RETRANSMISSION = "tcp.analysis.spurious_retransmission": T::None, Dec, "Suspected spurious retransmission (data already acknowledged)";
    TCP_ANALYSIS_OUT_OF_ORDER = "tcp.analysis.out_of_order": T::None, Dec, "Suspected out-of-order segment";
    TCP_ANALYSIS_REUSED_PORTS = "tcp.analysis.reused_ports": T::None, Dec, "A new connection reuses the ports of an earlier one";
    TCP_ANALYSIS_LOST_SEGMENT = "tcp.analysis.lost_segment": T::None, Dec, "Previous segment not captured";
    TCP_ANALYSIS_ACK_LOST_SEGMENT = "tcp.analysis.ack_lost_segment": T::None, Dec, "ACKed segment that was not captured";
    TCP_ANALYSIS_WINDOW_UPDATE = "tcp.analysis.window_update": T::None, Dec, "Window update";
    TCP_ANALYSIS_WINDOW_FULL = "tcp.analysis.window_full": T::None, Dec, "The receiver's window is now full";
    TCP_ANALYSIS_KEEP_ALIVE = "tcp.analysis.keep_alive": T::None, Dec, "TCP keep-alive segment (0 or 1 byte at next sequence - 1)";
    TCP_ANALYSIS_KEEP_ALIVE_ACK = "tcp.analysis.keep_alive_ack": T::None, Dec, "ACK to a TCP keep-alive segment";
    TCP_ANALYSIS_DUPLICATE_ACK = "tcp.analysis.duplicate_ack": T::None, Dec, "Duplicate ACK";
    TCP_ANALYSIS_DUPLICATE_ACK_NUM = "tcp.analysis.duplicate_ack_num": T::UInt(32), Dec, "Duplicate ACK number";
    TCP_ANALYSIS_DUPLICATE_ACK_FRAME = "tcp.analysis.duplicate_ack_frame": T::FrameNum, Dec, "Frame of the ACK this one duplicates";
    TCP_ANALYSIS_ZERO_WINDOW = "tcp.analysis.zero_window": T::None, Dec, "Zero window";
    TCP_ANALYSIS_ZERO_WINDOW_PROBE = "tcp.analysis.zero_window_probe": T::None, Dec, "Zero window probe";
    TCP_ANALYSIS_ZERO_WINDOW_PROBE_ACK = "tcp.analysis.zero_window_probe_ack": T::None, Dec, "ACK to a zero window probe";
    TCP_ANALYSIS_ACKS_FRAME = "tcp.analysis.acks_frame": T::FrameNum, Dec, "The segment this frame acknowledges";
    TCP_ANALYSIS_ACK_RTT = "tcp.analysis.ack_rtt": T::RelTime, Dec, "Time until the segment was acknowledged";
    TCP_ANALYSIS_INITIAL_RTT = "tcp.analysis.initial_rtt": T::RelTime, Dec, "Handshake round-trip time (SYN to ACK)";
    TCP_ANALYSIS_BYTES_IN_FLIGHT = "tcp.analysis.bytes_in_flight": T::UInt(32), Dec, "Unacknowledged bytes in this direction";
    TCP_ANALYSIS_PUSH_BYTES_SENT = "tcp.analysis.push_bytes_sent": T::UInt(32), Dec, "Bytes sent since the last PSH";
    TCP_ANALYSIS_RTO = "tcp.analysis.rto": T::RelTime, Dec, "Time before this segment was retransmitted";
    TCP_ANALYSIS_RTO_FRAME = "tcp.analysis.rto_frame": T::FrameNum, Dec, "Frame the RTO is measured from";
    TCP_CONNECTION_SYN = "tcp.connection.syn": T::None, Dec, "Connection establish request (SYN)";
    TCP_CONNECTION_SYNACK = "tcp.connection.synack": T::None, Dec, "Connection establish acknowledge (SYN+ACK)";
    TCP_CONNECTION_FIN = "tcp.connection.fin": T::None, Dec, "Connection finish (FIN)";
    TCP_CONNECTION_FIN_ACTIVE = "tcp.connection.fin_active": T::None, Dec, "This frame starts closing the connection";
    TCP_CONNECTION_FIN_PASSIVE = "tcp.connection.fin_passive": T::None, Dec, "This frame answers the closing of the connection";
    TCP_CONNECTION_RST = "tcp.connection.rst": T::None, Dec, "Connection reset (RST)";
    TCP_TIME_RELATIVE = "tcp.time_relative": T::RelTime, Dec, "Time since the first frame of this stream";
    TCP_TIME_DELTA = "tcp.time_delta": T::RelTime, Dec, "Time since the previous frame of this stream";
    TCP_PAYLOAD = "tcp.payload": T::Bytes, Dec, "Segment payload bytes (as captured)";

    UDP = "udp": T::Protocol, Dec, "User Datagram Protocol";
    UDP_SRCPORT = "udp.srcport": T::UInt(16), Dec, "Source port";
    UDP_DSTPORT = "udp.dstport": T::UInt(16), Dec, "Destination port";
    UDP_PORT = "udp.port": T::UInt(16), Dec, "Source or destination port";
    UDP_LENGTH = "udp.length": T::UInt(16), Dec, "UDP length including header";
    UDP_CHECKSUM = "udp.checksum": T::UInt(16), Hex, "UDP checksum";
    UDP_STREAM = "udp.stream": T::UInt(32), Dec, "UDP stream index";
    UDP_PAYLOAD = "udp.payload": T::Bytes, Dec, "Datagram payload bytes";

    // HTTP/1.x: values come from keepsight-http's analysis of the whole capture (as tshark -2
    // shows them: a request knows its response frame).
    HTTP = "http": T::Protocol, Dec, "Hypertext Transfer Protocol (frames where an HTTP message ends)";
    HTTP_REQUEST = "http.request": T::None, Dec, "This frame ends an HTTP request";
    HTTP_RESPONSE = "http.response": T::None, Dec, "This frame ends an HTTP response";
    HTTP_REQUEST_METHOD = "http.request.method": T::String, Dec, "Request method";
    HTTP_REQUEST_URI = "http.request.uri": T::String, Dec, "Request target";
    HTTP_REQUEST_VERSION = "http.request.version": T::String, Dec, "Request HTTP version";
    HTTP_RESPONSE_VERSION = "http.response.version": T::String, Dec, "Response HTTP version";
    HTTP_RESPONSE_CODE = "http.response.code": T::UInt(16), Dec, "Response status code";
    HTTP_RESPONSE_PHRASE = "http.response.phrase": T::String, Dec, "Response reason phrase";
    HTTP_CONNECTION = "http.connection": T::String, Dec, "Connection header value";
    HTTP_CONTENT_LENGTH = "http.content_length": T::UInt(64), Dec, "Content-Length header value";
    HTTP_TRANSFER_ENCODING = "http.transfer_encoding": T::String, Dec, "Transfer-Encoding header value";
    HTTP_HOST = "http.host": T::String, Dec, "Host header value";
    HTTP_REQUEST_IN = "http.request_in": T::FrameNum, Dec, "Frame of the request this response answers";
    HTTP_RESPONSE_IN = "http.response_in": T::FrameNum, Dec, "Frame of the response to this request";
    HTTP_TIME = "http.time": T::RelTime, Dec, "Time from the request to this response";

    // TLS record layer, without keys: what a record stream shows in clear (keepsight-tls).
    TLS = "tls": T::Protocol, Dec, "Transport Layer Security (frames that complete TLS records)";
    TLS_RECORD_CONTENT_TYPE = "tls.record.content_type": T::UInt(8), Dec, "Record content type (20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data, 24 heartbeat)";
    TLS_RECORD_OPAQUE_TYPE = "tls.record.opaque_type": T::UInt(8), Dec, "Outer content type of a TLS 1.3 encrypted record (always 23)";
    TLS_RECORD_VERSION = "tls.record.version": T::UInt(16), Hex, "Record layer version";
    TLS_RECORD_LENGTH = "tls.record.length": T::UInt(16), Dec, "Record fragment length";
    TLS_HANDSHAKE_TYPE = "tls.handshake.type": T::UInt(8), Dec, "Handshake message type (1 Client Hello, 2 Server Hello, ...)";
    TLS_HANDSHAKE_LENGTH = "tls.handshake.length": T::UInt(24), Dec, "Handshake message length";
    TLS_HANDSHAKE_VERSION = "tls.handshake.version": T::UInt(16), Hex, "Hello legacy_version";
    TLS_HANDSHAKE_CIPHERSUITE = "tls.handshake.ciphersuite": T::UInt(16), Hex, "Cipher suite offered (Client Hello) or chosen (Server Hello)";
    TLS_HANDSHAKE_EXTENSIONS_SERVER_NAME = "tls.handshake.extensions_server_name": T::String, Dec, "Server Name Indication host name";
    TLS_HANDSHAKE_EXTENSIONS_ALPN_STR = "tls.handshake.extensions_alpn_str": T::String, Dec, "ALPN protocol offered or chosen";
    TLS_HANDSHAKE_EXTENSIONS_SUPPORTED_VERSION = "tls.handshake.extensions.supported_version": T::UInt(16), Hex, "Version in supported_versions (the one a Server Hello settles)";
    TLS_ALERT_MESSAGE_LEVEL = "tls.alert_message.level": T::UInt(8), Dec, "Cleartext alert level (1 warning, 2 fatal)";
    TLS_ALERT_MESSAGE_DESC = "tls.alert_message.desc": T::UInt(8), Dec, "Cleartext alert description (0 close_notify, ...)";
    TLS_APP_DATA = "tls.app_data": T::Bytes, Dec, "Encrypted application data (with TLS 1.3: every encrypted record)";

    // HTTP/2 on TCP ports decoded as http2 (`-d tcp.port==N,http2`; keepsight-h2): one
    // occurrence per frame (per item for `http2`, which the connection preface has too).
    HTTP2 = "http2": T::Protocol, Dec, "HyperText Transfer Protocol 2 (one per frame or connection preface)";
    HTTP2_MAGIC = "http2.magic": T::String, Dec, "Client connection preface";
    HTTP2_LENGTH = "http2.length": T::UInt(24), Dec, "Frame payload length";
    HTTP2_TYPE = "http2.type": T::UInt(8), Dec, "Frame type (0 DATA, 1 HEADERS, 3 RST_STREAM, 4 SETTINGS, 6 PING, 7 GOAWAY, 8 WINDOW_UPDATE, ...)";
    HTTP2_FLAGS = "http2.flags": T::UInt(8), Hex, "Frame flags";
    HTTP2_FLAGS_END_STREAM = "http2.flags.end_stream": T::Bool, Dec, "END_STREAM (DATA, HEADERS)";
    HTTP2_FLAGS_EH = "http2.flags.eh": T::Bool, Dec, "END_HEADERS (HEADERS)";
    HTTP2_FLAGS_PADDED = "http2.flags.padded": T::Bool, Dec, "PADDED (DATA, HEADERS)";
    HTTP2_FLAGS_PRIORITY = "http2.flags.priority": T::Bool, Dec, "PRIORITY (HEADERS)";
    HTTP2_FLAGS_ACK_SETTINGS = "http2.flags.ack.settings": T::Bool, Dec, "ACK (SETTINGS)";
    HTTP2_FLAGS_ACK_PING = "http2.flags.ack.ping": T::Bool, Dec, "ACK (PING)";
    HTTP2_R = "http2.r": T::UInt(32), Hex, "Reserved bit before the stream identifier";
    HTTP2_STREAMID = "http2.streamid": T::UInt(32), Dec, "Stream identifier (0: the connection)";
    HTTP2_PAD_LENGTH = "http2.pad_length": T::UInt(16), Dec, "Pad length (DATA, HEADERS; 0 when not padded)";
    HTTP2_EXCLUSIVE = "http2.exclusive": T::Bool, Dec, "Exclusive stream dependency (HEADERS with priority, PRIORITY)";
    HTTP2_STREAM_DEPENDENCY = "http2.stream_dependency": T::UInt(32), Dec, "Stream dependency";
    HTTP2_HEADERS_WEIGHT = "http2.headers.weight": T::UInt(8), Dec, "Priority weight as sent";
    HTTP2_DATA_DATA = "http2.data.data": T::Bytes, Dec, "DATA frame payload without padding";
    HTTP2_HEADER_COUNT = "http2.header.count": T::UInt(32), Dec, "Header fields in a decoded header block";
    HTTP2_HEADER_LENGTH = "http2.header.length": T::UInt(32), Dec, "Decoded header block length (name + value + 8 per field)";
    HTTP2_HEADER_NAME = "http2.header.name": T::String, Dec, "Header field name (HPACK-decoded)";
    HTTP2_HEADER_VALUE = "http2.header.value": T::String, Dec, "Header field value (HPACK-decoded)";
    HTTP2_HEADERS_METHOD = "http2.headers.method": T::String, Dec, ":method";
    HTTP2_HEADERS_PATH = "http2.headers.path": T::String, Dec, ":path (gRPC: /service/method)";
    HTTP2_HEADERS_STATUS = "http2.headers.status": T::UInt(16), Dec, ":status";
    HTTP2_HEADERS_AUTHORITY = "http2.headers.authority": T::String, Dec, ":authority";
    HTTP2_HEADERS_SCHEME = "http2.headers.scheme": T::String, Dec, ":scheme";
    HTTP2_HEADERS_CONTENT_TYPE = "http2.headers.content_type": T::String, Dec, "content-type";
    HTTP2_RST_STREAM_ERROR = "http2.rst_stream.error": T::UInt(32), Dec, "RST_STREAM error code";
    HTTP2_SETTINGS_ID = "http2.settings.id": T::UInt(16), Dec, "Setting identifier";
    HTTP2_SETTINGS_HEADER_TABLE_SIZE = "http2.settings.header_table_size": T::UInt(32), Dec, "SETTINGS_HEADER_TABLE_SIZE";
    HTTP2_SETTINGS_ENABLE_PUSH = "http2.settings.enable_push": T::UInt(32), Dec, "SETTINGS_ENABLE_PUSH";
    HTTP2_SETTINGS_MAX_CONCURRENT_STREAMS = "http2.settings.max_concurrent_streams": T::UInt(32), Dec, "SETTINGS_MAX_CONCURRENT_STREAMS";
    HTTP2_SETTINGS_INITIAL_WINDOW_SIZE = "http2.settings.initial_window_size": T::UInt(32), Dec, "SETTINGS_INITIAL_WINDOW_SIZE";
    HTTP2_SETTINGS_MAX_FRAME_SIZE = "http2.settings.max_frame_size": T::UInt(32), Dec, "SETTINGS_MAX_FRAME_SIZE";
    HTTP2_SETTINGS_MAX_HEADER_LIST_SIZE = "http2.settings.max_header_list_size": T::UInt(32), Dec, "SETTINGS_MAX_HEADER_LIST_SIZE";
    HTTP2_SETTINGS_EXTENDED_CONNECT = "http2.settings.extended_connect": T::UInt(32), Dec, "SETTINGS_ENABLE_CONNECT_PROTOCOL";
    HTTP2_SETTINGS_UNKNOWN = "http2.settings.unknown": T::UInt(32), Dec, "Value of a setting with an unregistered identifier";
    HTTP2_PUSH_PROMISE_PROMISED_STREAM_ID = "http2.push_promise.promised_stream_id": T::UInt(32), Dec, "Promised stream";
    HTTP2_PING = "http2.ping": T::Bytes, Dec, "PING opaque data";
    HTTP2_PONG = "http2.pong": T::Bytes, Dec, "PING ACK opaque data";
    HTTP2_GOAWAY_LAST_STREAM_ID = "http2.goaway.last_stream_id": T::UInt(32), Dec, "GOAWAY last stream processed";
    HTTP2_GOAWAY_ERROR = "http2.goaway.error": T::UInt(32), Dec, "GOAWAY error code (0 NO_ERROR, 11 ENHANCE_YOUR_CALM, ...)";
    HTTP2_GOAWAY_ADDATA = "http2.goaway.addata": T::Bytes, Dec, "GOAWAY debug data (gRPC: too_many_pings, max_age)";
    HTTP2_WINDOW_UPDATE_WINDOW_SIZE_INCREMENT = "http2.window_update.window_size_increment": T::UInt(32), Dec, "Window size increment";

    // FIX on segments that start with `8=FIX` (tshark's heuristic) or on ports decoded as fix
    // (keepsight-apps parses them): one occurrence per message; every tag value is its text as
    // sent (tshark's FT_STRING).
    FIX = "fix": T::Protocol, Dec, "Financial Information eXchange (one per message)";
    FIX_BEGINSTRING = "fix.BeginString": T::String, Dec, "BeginString (tag 8)";
    FIX_BODYLENGTH = "fix.BodyLength": T::String, Dec, "BodyLength (tag 9)";
    FIX_MSGTYPE = "fix.MsgType": T::String, Dec, "MsgType (tag 35)";
    FIX_MSGSEQNUM = "fix.MsgSeqNum": T::String, Dec, "MsgSeqNum (tag 34)";
    FIX_SENDERCOMPID = "fix.SenderCompID": T::String, Dec, "SenderCompID (tag 49)";
    FIX_TARGETCOMPID = "fix.TargetCompID": T::String, Dec, "TargetCompID (tag 56)";
    FIX_SENDINGTIME = "fix.SendingTime": T::String, Dec, "SendingTime (tag 52)";
    FIX_POSSDUPFLAG = "fix.PossDupFlag": T::String, Dec, "PossDupFlag (tag 43)";
    FIX_ENCRYPTMETHOD = "fix.EncryptMethod": T::String, Dec, "EncryptMethod (tag 98)";
    FIX_HEARTBTINT = "fix.HeartBtInt": T::String, Dec, "HeartBtInt (tag 108)";
    FIX_TESTREQID = "fix.TestReqID": T::String, Dec, "TestReqID (tag 112)";
    FIX_BEGINSEQNO = "fix.BeginSeqNo": T::String, Dec, "BeginSeqNo (tag 7)";
    FIX_ENDSEQNO = "fix.EndSeqNo": T::String, Dec, "EndSeqNo (tag 16)";
    FIX_NEWSEQNO = "fix.NewSeqNo": T::String, Dec, "NewSeqNo (tag 36)";
    FIX_GAPFILLFLAG = "fix.GapFillFlag": T::String, Dec, "GapFillFlag (tag 123)";
    FIX_TEXT = "fix.Text": T::String, Dec, "Text (tag 58)";
    FIX_CLORDID = "fix.ClOrdID": T::String, Dec, "ClOrdID (tag 11)";
    FIX_ORDERID = "fix.OrderID": T::String, Dec, "OrderID (tag 37)";
    FIX_EXECID = "fix.ExecID": T::String, Dec, "ExecID (tag 17)";
    FIX_EXECTYPE = "fix.ExecType": T::String, Dec, "ExecType (tag 150)";
    FIX_ORDSTATUS = "fix.OrdStatus": T::String, Dec, "OrdStatus (tag 39)";
    FIX_ORDTYPE = "fix.OrdType": T::String, Dec, "OrdType (tag 40)";
    FIX_SIDE = "fix.Side": T::String, Dec, "Side (tag 54)";
    FIX_SYMBOL = "fix.Symbol": T::String, Dec, "Symbol (tag 55)";
    FIX_ORDERQTY = "fix.OrderQty": T::String, Dec, "OrderQty (tag 38)";
    FIX_TRANSACTTIME = "fix.TransactTime": T::String, Dec, "TransactTime (tag 60)";
    FIX_CHECKSUM = "fix.CheckSum": T::String, Dec, "CheckSum (tag 10)";
    FIX_CHECKSUM_GOOD = "fix.checksum_good": T::Bool, Dec, "The CheckSum matches the message";
    FIX_CHECKSUM_BAD = "fix.checksum_bad": T::Bool, Dec, "The CheckSum does not match the message";

    // SMPP on segments that open a PDU tshark's heuristic accepts, or on ports decoded as smpp:
    // one occurrence per PDU.
    SMPP = "smpp": T::Protocol, Dec, "Short Message Peer to Peer (one per PDU; tshark prints its summary)";
    SMPP_COMMAND_LENGTH = "smpp.command_length": T::UInt(32), Dec, "Total length of the PDU";
    SMPP_COMMAND_ID = "smpp.command_id": T::UInt(32), Hex, "Operation (0x00000015 enquire_link; bit 31: response)";
    SMPP_COMMAND_STATUS = "smpp.command_status": T::UInt(32), Hex, "Result (responses only; 0 Ok)";
    SMPP_SEQUENCE_NUMBER = "smpp.sequence_number": T::UInt(32), Dec, "Pairs a response with its request";
    SMPP_SYSTEM_ID = "smpp.system_id": T::String, Dec, "System ID (bind and bind response; absent when empty)";
    SMPP_PASSWORD = "smpp.password": T::String, Dec, "Password (bind; absent when empty)";
    SMPP_SYSTEM_TYPE = "smpp.system_type": T::String, Dec, "System type (bind; absent when empty)";
    SMPP_INTERFACE_VERSION = "smpp.interface_version": T::UInt(8), Dec, "SMPP version the ESME speaks (52: 3.4)";
    SMPP_ADDR_TON = "smpp.addr_ton": T::UInt(8), Hex, "Type of number of the address range (bind)";
    SMPP_ADDR_NPI = "smpp.addr_npi": T::UInt(8), Hex, "Numbering plan of the address range (bind)";
    SMPP_ADDRESS_RANGE = "smpp.address_range": T::String, Dec, "Address range (bind; absent when empty)";

    // AMQP 0-9-1 on TCP port 5672 or ports decoded as amqp: one occurrence per frame.
    AMQP = "amqp": T::Protocol, Dec, "Advanced Message Queuing Protocol (one per frame)";
    AMQP_TYPE = "amqp.type": T::UInt(8), Dec, "Frame type (1 method, 2 content header, 3 content body, 8 heartbeat)";
    AMQP_CHANNEL = "amqp.channel": T::UInt(16), Dec, "Channel (0: the connection)";
    AMQP_LENGTH = "amqp.length": T::UInt(32), Dec, "Frame payload length";
    AMQP_METHOD_CLASS = "amqp.method.class": T::UInt(16), Dec, "Method class (10 Connection, 20 Channel, 60 Basic, ...)";
    AMQP_METHOD_METHOD = "amqp.method.method": T::UInt(16), Dec, "Method within its class (Connection: 30 Tune, 50 Close, ...)";
    AMQP_METHOD_ARGUMENTS = "amqp.method.arguments": T::None, Dec, "Method arguments (every method frame)";
    AMQP_METHOD_ARGUMENTS_VERSION_MAJOR = "amqp.method.arguments.version_major": T::UInt(8), Dec, "Connection.Start protocol major version";
    AMQP_METHOD_ARGUMENTS_VERSION_MINOR = "amqp.method.arguments.version_minor": T::UInt(8), Dec, "Connection.Start protocol minor version";
    AMQP_METHOD_ARGUMENTS_SERVER_PROPERTIES = "amqp.method.arguments.server_properties": T::None, Dec, "Connection.Start server properties table";
    AMQP_METHOD_ARGUMENTS_MECHANISMS = "amqp.method.arguments.mechanisms": T::Bytes, Dec, "Connection.Start security mechanisms";
    AMQP_METHOD_ARGUMENTS_LOCALES = "amqp.method.arguments.locales": T::Bytes, Dec, "Connection.Start locales";
    AMQP_METHOD_ARGUMENTS_CLIENT_PROPERTIES = "amqp.method.arguments.client_properties": T::None, Dec, "Connection.Start-Ok client properties table";
    AMQP_METHOD_ARGUMENTS_MECHANISM = "amqp.method.arguments.mechanism": T::String, Dec, "Connection.Start-Ok chosen mechanism";
    AMQP_METHOD_ARGUMENTS_RESPONSE = "amqp.method.arguments.response": T::Bytes, Dec, "Connection.Start-Ok security response";
    AMQP_METHOD_ARGUMENTS_LOCALE = "amqp.method.arguments.locale": T::String, Dec, "Connection.Start-Ok chosen locale";
    AMQP_METHOD_ARGUMENTS_CHANNEL_MAX = "amqp.method.arguments.channel_max": T::UInt(16), Dec, "Connection.Tune/Tune-Ok highest channel";
    AMQP_METHOD_ARGUMENTS_FRAME_MAX = "amqp.method.arguments.frame_max": T::UInt(32), Dec, "Connection.Tune/Tune-Ok largest frame";
    AMQP_METHOD_ARGUMENTS_HEARTBEAT = "amqp.method.arguments.heartbeat": T::UInt(16), Dec, "Connection.Tune/Tune-Ok heartbeat interval in seconds (0: off)";
    AMQP_METHOD_ARGUMENTS_VIRTUAL_HOST = "amqp.method.arguments.virtual_host": T::String, Dec, "Connection.Open virtual host";
    AMQP_METHOD_ARGUMENTS_CAPABILITIES = "amqp.method.arguments.capabilities": T::String, Dec, "Connection.Open capabilities (reserved in 0-9-1)";
    AMQP_METHOD_ARGUMENTS_INSIST = "amqp.method.arguments.insist": T::Bool, Dec, "Connection.Open insist bit (reserved in 0-9-1)";
    AMQP_METHOD_ARGUMENTS_KNOWN_HOSTS = "amqp.method.arguments.known_hosts": T::String, Dec, "Connection.Open-Ok known hosts (reserved in 0-9-1)";
    AMQP_METHOD_ARGUMENTS_REPLY_CODE = "amqp.method.arguments.reply_code": T::UInt(16), Dec, "Connection.Close reply code (200: normal)";
    AMQP_METHOD_ARGUMENTS_REPLY_TEXT = "amqp.method.arguments.reply_text": T::String, Dec, "Connection.Close reply text";
    AMQP_METHOD_ARGUMENTS_CLASS_ID = "amqp.method.arguments.class_id": T::UInt(16), Dec, "Connection.Close class of the failing method";
    AMQP_METHOD_ARGUMENTS_METHOD_ID = "amqp.method.arguments.method_id": T::UInt(16), Dec, "Connection.Close failing method";

    // Redis RESP on TCP port 6379 or ports decoded as resp: one occurrence per value, arrays
    // before their elements.
    RESP = "resp": T::Protocol, Dec, "REdis Serialization Protocol (one per message)";
    RESP_STRING = "resp.string": T::String, Dec, "Simple string (+OK, +PONG)";
    RESP_ERROR = "resp.error": T::String, Dec, "Error (-ERR ...)";
    RESP_BULK_STRING = "resp.bulk_string": T::None, Dec, "Bulk string";
    RESP_BULK_STRING_VALUE = "resp.bulk_string.value": T::Bytes, Dec, "Bulk string bytes";
    RESP_BULK_STRING_LENGTH = "resp.bulk_string.length": T::Int(32), Dec, "Bulk string length (-1: null)";
    RESP_INTEGER = "resp.integer": T::Int(64), Dec, "Integer";
    RESP_ARRAY = "resp.array": T::None, Dec, "Array";
    RESP_ARRAY_LENGTH = "resp.array.length": T::Int(64), Dec, "Array length (-1: null)";

    // MQTT on TCP port 1883 or ports decoded as mqtt: one occurrence per packet (packets
    // reassembled across segments), MQTT 5 properties when the connection's CONNECT said 5.
    MQTT = "mqtt": T::Protocol, Dec, "MQ Telemetry Transport Protocol (one per packet)";
    MQTT_HDRFLAGS = "mqtt.hdrflags": T::UInt(8), Hex, "Header flags: packet type and flags";
    MQTT_MSGTYPE = "mqtt.msgtype": T::UInt(8), Dec, "Packet type (1 CONNECT, 2 CONNACK, 3 PUBLISH, 12 PINGREQ, 13 PINGRESP, 14 DISCONNECT)";
    MQTT_HDR_RESERVED = "mqtt.hdr_reserved": T::UInt(8), Dec, "Flags nibble of a packet other than PUBLISH";
    MQTT_DUPFLAG = "mqtt.dupflag": T::Bool, Dec, "PUBLISH DUP flag";
    MQTT_QOS = "mqtt.qos": T::UInt(8), Dec, "PUBLISH QoS level";
    MQTT_RETAIN = "mqtt.retain": T::Bool, Dec, "PUBLISH retain flag";
    MQTT_LEN = "mqtt.len": T::UInt(64), Dec, "Remaining length";
    MQTT_PROTO_LEN = "mqtt.proto_len": T::UInt(16), Dec, "CONNECT protocol name length";
    MQTT_PROTONAME = "mqtt.protoname": T::String, Dec, "CONNECT protocol name (MQTT, MQIsdp)";
    MQTT_VER = "mqtt.ver": T::UInt(8), Dec, "CONNECT protocol level (3: 3.1, 4: 3.1.1, 5)";
    MQTT_CONFLAGS = "mqtt.conflags": T::UInt(8), Hex, "CONNECT flags";
    MQTT_CONFLAG_UNAME = "mqtt.conflag.uname": T::Bool, Dec, "CONNECT user name flag";
    MQTT_CONFLAG_PASSWD = "mqtt.conflag.passwd": T::Bool, Dec, "CONNECT password flag";
    MQTT_CONFLAG_RETAIN = "mqtt.conflag.retain": T::Bool, Dec, "CONNECT will retain flag";
    MQTT_CONFLAG_QOS = "mqtt.conflag.qos": T::UInt(8), Dec, "CONNECT will QoS";
    MQTT_CONFLAG_WILLFLAG = "mqtt.conflag.willflag": T::Bool, Dec, "CONNECT will flag";
    MQTT_CONFLAG_CLEANSESS = "mqtt.conflag.cleansess": T::Bool, Dec, "CONNECT clean session / clean start flag";
    MQTT_CONFLAG_RESERVED = "mqtt.conflag.reserved": T::Bool, Dec, "CONNECT reserved flag";
    MQTT_KALIVE = "mqtt.kalive": T::UInt(16), Dec, "CONNECT keep-alive in seconds (0: off)";
    MQTT_CLIENTID_LEN = "mqtt.clientid_len": T::UInt(16), Dec, "CONNECT client id length";
    MQTT_CLIENTID = "mqtt.clientid": T::String, Dec, "CONNECT client id";
    MQTT_WILLTOPIC_LEN = "mqtt.willtopic_len": T::UInt(16), Dec, "CONNECT will topic length";
    MQTT_WILLTOPIC = "mqtt.willtopic": T::String, Dec, "CONNECT will topic";
    MQTT_WILLMSG_LEN = "mqtt.willmsg_len": T::UInt(16), Dec, "CONNECT will message length";
    MQTT_WILLMSG = "mqtt.willmsg": T::Bytes, Dec, "CONNECT will message";
    MQTT_USERNAME_LEN = "mqtt.username_len": T::UInt(16), Dec, "CONNECT user name length";
    MQTT_USERNAME = "mqtt.username": T::String, Dec, "CONNECT user name";
    MQTT_PASSWD_LEN = "mqtt.passwd_len": T::UInt(16), Dec, "CONNECT password length";
    MQTT_PASSWD = "mqtt.passwd": T::String, Dec, "CONNECT password";
    MQTT_CONACK_FLAGS = "mqtt.conack.flags": T::UInt(8), Hex, "CONNACK acknowledge flags";
    MQTT_CONACK_FLAGS_RESERVED = "mqtt.conack.flags.reserved": T::Bool, Dec, "CONNACK reserved flags";
    MQTT_CONACK_FLAGS_SP = "mqtt.conack.flags.sp": T::Bool, Dec, "CONNACK session present";
    MQTT_CONACK_VAL = "mqtt.conack.val": T::UInt(8), Dec, "CONNACK return code, MQTT 3.1/3.1.1 (0 accepted, 5 not authorized)";
    MQTT_CONNACK_REASON_CODE = "mqtt.connack.reason_code": T::UInt(8), Dec, "CONNACK reason code, MQTT 5 (0 success, 135 not authorized)";
    MQTT_PUBACK_REASON_CODE = "mqtt.puback.reason_code": T::UInt(8), Dec, "PUBACK reason code (MQTT 5)";
    MQTT_PUBREC_REASON_CODE = "mqtt.pubrec.reason_code": T::UInt(8), Dec, "PUBREC reason code (MQTT 5)";
    MQTT_PUBREL_REASON_CODE = "mqtt.pubrel.reason_code": T::UInt(8), Dec, "PUBREL reason code (MQTT 5)";
    MQTT_PUBCOMP_REASON_CODE = "mqtt.pubcomp.reason_code": T::UInt(8), Dec, "PUBCOMP reason code (MQTT 5)";
    MQTT_SUBACK_REASON_CODE = "mqtt.suback.reason_code": T::UInt(8), Dec, "SUBACK reason code per topic (MQTT 5)";
    MQTT_UNSUBACK_REASON_CODE = "mqtt.unsuback.reason_code": T::UInt(8), Dec, "UNSUBACK reason code per topic (MQTT 5)";
    MQTT_DISCONNECT_REASON_CODE = "mqtt.disconnect.reason_code": T::UInt(8), Dec, "DISCONNECT reason code (MQTT 5; 4 with will, 141 keep alive timeout, 142 session taken over)";
    MQTT_AUTH_REASON_CODE = "mqtt.auth.reason_code": T::UInt(8), Dec, "AUTH reason code (MQTT 5)";
    MQTT_MSGID = "mqtt.msgid": T::UInt(16), Dec, "Packet identifier";
    MQTT_TOPIC_LEN = "mqtt.topic_len": T::UInt(16), Dec, "Topic length";
    MQTT_TOPIC = "mqtt.topic": T::String, Dec, "Topic (PUBLISH) or topic filter (SUBSCRIBE, UNSUBSCRIBE)";
    MQTT_MSG = "mqtt.msg": T::Bytes, Dec, "PUBLISH application message";
    MQTT_SUB_QOS = "mqtt.sub.qos": T::UInt(8), Dec, "SUBSCRIBE requested QoS (MQTT 3.1.1)";
    MQTT_SUBACK_QOS = "mqtt.suback.qos": T::UInt(8), Dec, "SUBACK granted QoS (MQTT 3.1.1)";
    MQTT_SUBSCRIPTION_OPTIONS = "mqtt.subscription_options": T::UInt(8), Hex, "SUBSCRIBE options (MQTT 5)";
    MQTT_SUBSCRIPTION_OPTIONS_QOS = "mqtt.subscription_options_qos": T::UInt(8), Dec, "SUBSCRIBE options: QoS";
    MQTT_SUBSCRIPTION_OPTIONS_NL = "mqtt.subscription_options_nl": T::Bool, Dec, "SUBSCRIBE options: no local";
    MQTT_SUBSCRIPTION_OPTIONS_RAP = "mqtt.subscription_options_rap": T::Bool, Dec, "SUBSCRIBE options: retain as published";
    MQTT_SUBSCRIPTION_OPTIONS_RETAIN = "mqtt.subscription_options_retain": T::UInt(8), Dec, "SUBSCRIBE options: retain handling";
    MQTT_SUBSCRIPTION_OPTIONS_RESERVED = "mqtt.subscription_options_reserved": T::UInt(8), Hex, "SUBSCRIBE options: reserved bits";
    MQTT_PROPERTIES = "mqtt.properties": T::None, Dec, "MQTT 5 properties";
    MQTT_PROPERTY_LEN = "mqtt.property_len": T::UInt(64), Dec, "MQTT 5 properties length";
    MQTT_PROPERTY_ID = "mqtt.property_id": T::UInt(8), Hex, "MQTT 5 property identifier";
    MQTT_PROP_NUMBER = "mqtt.prop_number": T::UInt(32), Dec, "MQTT 5 numeric property value (Session Expiry, Receive Maximum, Server Keep Alive, ...)";
    MQTT_PROPERTY_CONTENT_TYPE = "mqtt.property.content_type": T::String, Dec, "MQTT 5 Content Type";
    MQTT_PROPERTY_MAX_QOS = "mqtt.property.max_qos": T::UInt(8), Dec, "MQTT 5 Maximum QoS";
    MQTT_PROPERTY_TOPIC_ALIAS = "mqtt.property.topic_alias": T::UInt(16), Dec, "MQTT 5 Topic Alias";
    MQTT_PROP_STRING_LEN = "mqtt.prop_string_len": T::UInt(32), Dec, "MQTT 5 string property length";
    MQTT_PROP_STRING = "mqtt.prop_string": T::String, Dec, "MQTT 5 string property (Reason String, Assigned Client Identifier, ...)";
    MQTT_PROP_KEY_LEN = "mqtt.prop_key_len": T::UInt(32), Dec, "MQTT 5 User Property key length";
    MQTT_PROP_KEY = "mqtt.prop_key": T::String, Dec, "MQTT 5 User Property key";
    MQTT_PROP_VALUE_LEN = "mqtt.prop_value_len": T::UInt(32), Dec, "MQTT 5 User Property value length";
    MQTT_PROP_VALUE = "mqtt.prop_value": T::String, Dec, "MQTT 5 User Property value";

    DATA = "data": T::Protocol, Dec, "Payload not decoded by a higher protocol";
    DATA_DATA = "data.data": T::Bytes, Dec, "Payload bytes";
    DATA_LEN = "data.len": T::UInt(32), Dec, "Payload length";

    // Expert information: one occurrence per item a frame raises (keepsight_engine::expert).
    _WS_EXPERT = "_ws.expert": T::Protocol, Dec, "Expert information: present once per item the frame raises";
    _WS_EXPERT_MESSAGE = "_ws.expert.message": T::String, Dec, "Expert item text, e.g. TCP keep-alive segment";
    _WS_EXPERT_SEVERITY = "_ws.expert.severity": T::UInt(32), Dec, "Expert severity: Error, Warning, Note, Chat, Comment";
    _WS_EXPERT_GROUP = "_ws.expert.group": T::UInt(32), Dec, "Expert group: Sequence, Malformed, Protocol, ...";
    _WS_MALFORMED = "_ws.malformed": T::Protocol, Dec, "Malformed packet (an expert item of group Malformed)";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_list_has_one_tab_separated_line_per_field() {
        let mut out = Vec::new();
        write_field_list(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), all_fields().count());
        assert!(text.starts_with("frame\tProtocol\tThe whole frame\nframe.number\tUInt(32)\t"));
        assert!(text.lines().all(|l| l.split('\t').count() == 3));
    }

    #[test]
    fn names_are_unique_and_ids_match_the_table() {
        let mut seen = std::collections::HashSet::new();
        for (id, def) in all_fields() {
            assert!(seen.insert(def.name), "duplicate field {}", def.name);
            assert_eq!(lookup(def.name), Some(id));
        }
        assert_eq!(ids::TCP_STREAM.name(), "tcp.stream");
        assert_eq!(ids::DATA_LEN.name(), "data.len");
        assert_eq!(lookup("tcp.lenn"), None);
    }
}
