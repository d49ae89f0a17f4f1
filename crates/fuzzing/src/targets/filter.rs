//! The display-filter compiler: any text compiles or is refused with an error naming a place
//! in it; a compiled filter evaluates against packets that answer every field, and compiles
//! again from its canonical text to a filter with the same matches, fields and canonical text.

use keepsight_fields::{lookup, FieldId, FieldType, Packet, Value};
use keepsight_filter::Filter;

/// Answers every registered field with a plausible value of its type (two for `*.port` and
/// `*.addr`, none at all when `empty`), so every evaluation path runs.
struct AnyPacket {
    empty: bool,
}

const BYTES: &[u8] = b"\x02\x00\x00\x00\x00\x01xxabcxx\x01\xff\x00";

impl Packet for AnyPacket {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        if self.empty {
            return;
        }
        let def = field.def();
        let times = if def.name.ends_with("port") || def.name.ends_with("addr") {
            2
        } else {
            1
        };
        for i in 0..times {
            sink(match def.ftype {
                FieldType::Protocol | FieldType::Bytes => Value::Bytes(&BYTES[i..]),
                FieldType::None => Value::Present,
                FieldType::Bool => Value::Bool(i == 0),
                FieldType::UInt(_) => Value::UInt(7777 + i as u64),
                FieldType::Int(_) => Value::Int(-1),
                FieldType::Float => Value::Float(0.5),
                FieldType::String => Value::Str("eth:ethertype:ip:tcp"),
                FieldType::Ipv4 => Value::Ipv4([10, 0, 0, 1 + i as u8]),
                FieldType::Ipv6 => {
                    Value::Ipv6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
                }
                FieldType::Ether => Value::Ether([2, 0, 0, 0, 0, 1]),
                FieldType::AbsTime => Value::AbsTime(1_700_000_000_000_000_000),
                FieldType::RelTime => Value::RelTime(45_000_000_000),
                FieldType::FrameNum => Value::FrameNum(3),
            });
        }
    }
}

pub(super) fn filter(data: &[u8]) {
    let Ok(expr) = std::str::from_utf8(data) else {
        return;
    };
    let _ = lookup(expr);
    match Filter::compile(expr) {
        Ok(f) => {
            let full = f.matches(&AnyPacket { empty: false });
            let none = f.matches(&AnyPacket { empty: true });
            assert_eq!(f.as_str(), expr);
            assert!(
                f.fields().count() <= expr.len(),
                "more fields than characters"
            );
            // Compile -> canonical text -> compile: the same filter, and a fixed point.
            let canonical = f.canonical();
            let again = Filter::compile(&canonical).unwrap_or_else(|e| {
                panic!("{expr:?} compiled, its canonical text {canonical:?} does not: {e}")
            });
            assert_eq!(
                again.canonical(),
                canonical,
                "canonical text of {expr:?} is no fixed point"
            );
            assert_eq!(
                again.matches(&AnyPacket { empty: false }),
                full,
                "{expr:?} vs {canonical:?}"
            );
            assert_eq!(
                again.matches(&AnyPacket { empty: true }),
                none,
                "{expr:?} vs {canonical:?}"
            );
            let mut fields: Vec<_> = f.fields().collect();
            let mut fields_again: Vec<_> = again.fields().collect();
            fields.sort();
            fields_again.sort();
            assert_eq!(
                fields, fields_again,
                "{expr:?} and {canonical:?} read other fields"
            );
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an empty error for {expr:?}");
        }
    }
}
