//! The field model: every named packet field keepsight knows (`frame.number`, `tcp.stream`,
//! `tcp.analysis.keep_alive`, ...), its type, and how its values are read from one packet.
//!
//! This crate is the meeting point of the analyzer's layers. Readers of packets (the `-T fields`
//! printer, the display-filter engine, JSON output) ask a [`Packet`] for the values of a
//! [`FieldId`] and never look at raw bytes themselves; producers of packets (the capture
//! pipeline) implement [`Packet`]. Names, types and value rendering follow tshark 4.0.17 so that
//! users' habits and scripts carry over.
//!
//! What this crate is not: it does not parse packets or track streams (see `keepsight-wire` and
//! `keepsight-tcp`), and it does not parse filter expressions (see `keepsight-filter`).

pub mod nstime;
mod registry;
pub mod render;
mod values;

pub use nstime::NsTime;

pub use registry::{
    all_fields, ids, lookup, protocol_of, write_field_list, FieldDef, FieldId, FieldType, IntBase,
};

/// The number a display filter means by `name` for an integer field with tshark value strings
/// (`ip.proto == "TCP"` is 6, `eth.type == "IPv4"` 0x0800): the first entry of the field's
/// table whose text equals `name` ignoring ASCII case, as tshark 4.0.17 picks it. `None` when
/// the field has no table or no entry matches.
pub fn value_named(field: FieldId, name: &str) -> Option<u64> {
    values::table(field)?
        .iter()
        .find(|(_, text)| text.eq_ignore_ascii_case(name))
        .map(|&(v, _)| u64::from(v))
}

/// The text tshark shows for value `v` of an integer field with value strings (`ip.proto` 6
/// is `TCP`): the table's first entry for it.
pub fn value_text(field: FieldId, v: u64) -> Option<&'static str> {
    values::table(field)?
        .iter()
        .find(|&&(n, _)| u64::from(n) == v)
        .map(|&(_, text)| text)
}

/// True when tshark 4.0.17 reads this bare (unquoted) word as one of its field or protocol
/// names rather than as a value name: `eth.type == arp` compares with the ARP protocol (and is
/// refused), `eth.type == ARP` and `eth.type == "arp"` mean 0x0806.
pub fn is_tshark_field_name(word: &str) -> bool {
    values::SHADOWED.contains(&word)
}

/// True when tshark has value strings for this field (so a filter may name its values).
pub fn has_value_names(field: FieldId) -> bool {
    values::table(field).is_some()
}

/// One value of one field occurrence, borrowed from the packet for the duration of a visit.
///
/// Times are nanoseconds: [`Value::AbsTime`] since the Unix epoch, [`Value::RelTime`] a signed
/// duration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A presence-only field (tshark's `FT_NONE`, e.g. `tcp.analysis.keep_alive`).
    Present,
    /// A flag bit's state (`tcp.flags.syn`).
    Bool(bool),
    /// Any unsigned integer field, whatever its width.
    UInt(u64),
    /// Any signed integer field, whatever its width.
    Int(i64),
    /// A floating-point field.
    Float(f64),
    /// Raw bytes: byte fields (`tcp.payload`), and protocol fields whose two extents coincide
    /// (`frame`, `data`).
    Bytes(&'a [u8]),
    /// A protocol field (`eth`, `ip`, `tcp`), which tshark 4.0 gives two extents starting at the
    /// same byte. `item` is the protocol's own tree item, its header (`ip`: `ip.hdr_len` bytes,
    /// `tcp`: `tcp.hdr_len`, `eth`: 14): what slices, `len()`, `==` and ordering see. `tvb` is
    /// the data the layer was handed, header to the end of the layer (`ip`: to `ip.len`, Ethernet
    /// padding excluded; `eth`: the whole frame): what `contains` and `matches` search. `item`
    /// is a prefix of `tvb`.
    Protocol {
        /// The protocol's header bytes.
        item: &'a [u8],
        /// The layer's bytes from its header to its end.
        tvb: &'a [u8],
    },
    /// Text borrowed from the packet or an analysis.
    Str(&'a str),
    /// An IPv4 address in network byte order.
    Ipv4([u8; 4]),
    /// An IPv6 address in network byte order.
    Ipv6([u8; 16]),
    /// A MAC address.
    Ether([u8; 6]),
    /// A point in time, ns since the Unix epoch.
    AbsTime(i64),
    /// A signed duration in ns (`frame.time_delta`, `tcp.time_relative`).
    RelTime(i64),
    /// An absolute time whose fraction is outside 0..10⁹ ns (a broken capture writer), kept
    /// as tshark keeps it; ordinary times are [`Value::AbsTime`].
    AbsNsTime(NsTime),
    /// A relative time computed from such a time stamp, as tshark computes it; ordinary
    /// durations are [`Value::RelTime`].
    RelNsTime(NsTime),
    /// A frame number reference (`tcp.analysis.acks_frame`, `http.response_in`).
    FrameNum(u32),
}

/// Something whose fields can be read: one dissected, analysed packet.
///
/// `visit` calls `sink` once per occurrence of `field` in the packet, in protocol-tree order
/// (`tcp.port` gives the source port, then the destination port). A field that is absent produces
/// no call. Implementations must not allocate on the common path: the sink receives borrowed
/// values.
pub trait Packet {
    /// Calls `sink` with each occurrence of `field`, in protocol-tree order; see the trait.
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>));

    /// True when the field has at least one occurrence.
    fn has(&self, field: FieldId) -> bool {
        let mut found = false;
        self.visit(field, &mut |_| found = true);
        found
    }
}
