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

mod registry;
pub mod render;

pub use registry::{all_fields, ids, lookup, protocol_of, FieldDef, FieldId, FieldType, IntBase};

/// One value of one field occurrence, borrowed from the packet for the duration of a visit.
///
/// Times are nanoseconds: [`Value::AbsTime`] since the Unix epoch, [`Value::RelTime`] a signed
/// duration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A presence-only field (tshark's `FT_NONE`, e.g. `tcp.analysis.keep_alive`).
    Present,
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    /// Raw bytes: byte fields (`tcp.payload`) and protocol fields (`tcp`, `frame`) whose value is
    /// the bytes that layer spans.
    Bytes(&'a [u8]),
    Str(&'a str),
    Ipv4([u8; 4]),
    Ipv6([u8; 16]),
    Ether([u8; 6]),
    AbsTime(i64),
    RelTime(i64),
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
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>));

    /// True when the field has at least one occurrence.
    fn has(&self, field: FieldId) -> bool {
        let mut found = false;
        self.visit(field, &mut |_| found = true);
        found
    }
}
