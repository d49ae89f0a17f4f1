//! Any string must either compile or be rejected with an error, and a compiled filter must
//! evaluate, without panicking, stack overflow or runaway memory.
//!
//! Run: `cd crates/filter/fuzz && cargo +nightly fuzz run compile_and_match -- -max_len=256`
//! (seed ideas: the lines of tests/filters/accept.txt and reject.txt).
#![no_main]

use keepsight_fields::{lookup, FieldId, FieldType, Packet, Value};
use keepsight_filter::Filter;
use libfuzzer_sys::fuzz_target;

/// Answers every registered field with one plausible value of its type (two for `*.port` and
/// `*.addr`), so every evaluation path runs.
struct AnyPacket;

const BYTES: &[u8] = b"\x02\x00\x00\x00\x00\x01xxabcxx\x01\xff\x00";

impl Packet for AnyPacket {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        let def = field.def();
        let times = if def.name.ends_with("port") || def.name.ends_with("addr") { 2 } else { 1 };
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
                FieldType::Ipv6 => Value::Ipv6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                FieldType::Ether => Value::Ether([2, 0, 0, 0, 0, 1]),
                FieldType::AbsTime => Value::AbsTime(1_700_000_000_000_000_000),
                FieldType::RelTime => Value::RelTime(45_000_000_000),
                FieldType::FrameNum => Value::FrameNum(3),
            });
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = std::str::from_utf8(data) else { return };
    if let Ok(f) = Filter::compile(expr) {
        let _ = f.matches(&AnyPacket);
        let _ = f.fields().count();
    } else if let Err(e) = Filter::compile(expr) {
        let _ = e.to_string();
    }
    let _ = lookup(expr);
});
