//! ISO 8583:1987 over TCP with the common 2-byte big-endian length prefix: a 4-digit MTI, a
//! binary primary bitmap (bit 1: a secondary bitmap follows), then the fields present, numeric
//! ones as ASCII digits (the layout of the common ASCII packagers). Network management: an
//! 0800 request with field 70 (network management information code) 301 is an echo test,
//! answered by an 0810 with 70 = 301; 70 = 002 signs off. The protocol declares no interval.
//!
//! Field 70 is found by skipping fields 2–69 with the 1987 table of their lengths; a message
//! that uses a field whose length this table cannot tell, or that ends early, is a plain
//! message (it still proves its sender alive).

use crate::event::{Event, Framing};

/// Longest message accepted (the prefix allows 65535; real ones are a few hundred bytes).
const MAX_LEN: usize = 8192;

/// How a field's length is written.
#[derive(Clone, Copy)]
enum Len {
    /// Exactly this many bytes.
    Fixed(u16),
    /// A 2-digit length, then the value.
    Ll,
    /// A 3-digit length, then the value.
    Lll,
}

use Len::{Fixed as F, Ll, Lll};

/// Fields 2 to 69 of ISO 8583:1987 (index 0 is field 2), ASCII numerics, binary 52 and 64.
const FIELDS_2_TO_69: [Len; 68] = [
    Ll, // 2 PAN
    F(6),
    F(12),
    F(12),
    F(12),
    F(10),
    F(8),
    F(8),
    F(8),
    F(6), // 3..11
    F(6),
    F(4),
    F(4),
    F(4),
    F(4),
    F(4),
    F(4),
    F(3),
    F(3),
    F(3), // 12..21
    F(3),
    F(3),
    F(3),
    F(2),
    F(2),
    F(1),
    F(9),
    F(9),
    F(9),
    F(9), // 22..31
    Ll,
    Ll,
    Ll,
    Ll,
    Lll,
    F(12),
    F(6),
    F(2),
    F(3),
    F(8), // 32..41
    F(15),
    F(40),
    Ll,
    Ll,
    Lll,
    Lll,
    Lll,
    F(3),
    F(3),
    F(3), // 42..51
    F(8),
    F(16),
    Lll,
    Lll,
    Lll,
    Lll,
    Lll,
    Lll,
    Lll,
    Lll, // 52..61
    Lll,
    Lll,
    F(8),
    F(1),
    F(1),
    F(2),
    F(3),
    F(3), // 62..69
];

fn digits(b: &[u8]) -> Option<usize> {
    b.iter().try_fold(0usize, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + usize::from(c - b'0'))
    })
}

/// The payload opens an ISO 8583 message: a 2-byte length that fits, then an MTI of 4 digits
/// (version 0-2, class 1-9), the whole message in this payload.
pub(crate) fn starts_message(p: &[u8]) -> bool {
    if p.len() < 2 + 4 + 8 {
        return false;
    }
    let len = usize::from(u16::from_be_bytes([p[0], p[1]]));
    (12..=MAX_LEN).contains(&len)
        && matches!(p[2], b'0'..=b'2')
        && matches!(p[3], b'1'..=b'9')
        && p[4..6].iter().all(u8::is_ascii_digit)
        && p.len() >= len + 2
}

pub(crate) fn frame_len(b: &[u8]) -> Framing {
    if b.len() < 2 {
        return Framing::More;
    }
    let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
    if !(4..=MAX_LEN).contains(&len) {
        return Framing::Broken;
    }
    Framing::Len(2 + len)
}

/// Field 70's value, when the message has it and fields 2-69 can be skipped.
fn field_70(m: &[u8]) -> Option<&[u8]> {
    let primary = m.get(4..12)?;
    if primary[0] & 0x80 == 0 {
        return None;
    }
    let secondary = m.get(12..20)?;
    // Field 70 is bit 6 of the secondary bitmap (fields 65..128).
    if secondary[0] & 0x04 == 0 {
        return None;
    }
    let mut at = 20;
    let present = |field: usize| {
        let bit = field - 1;
        let map = if bit < 64 { primary } else { secondary };
        map[(bit % 64) / 8] & (0x80 >> (bit % 8)) != 0
    };
    for field in 2..70 {
        if !present(field) {
            continue;
        }
        let n = match FIELDS_2_TO_69[field - 2] {
            Len::Fixed(n) => usize::from(n),
            Len::Ll => {
                let n = digits(m.get(at..at + 2)?)?;
                at += 2;
                n
            }
            Len::Lll => {
                let n = digits(m.get(at..at + 3)?)?;
                at += 3;
                n
            }
        };
        at += n;
    }
    m.get(at..at + 3)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State;

impl State {
    pub(crate) fn on_message(&mut self, _dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        let body = &m[2..];
        let mti = body.get(..4).unwrap_or_default();
        let code = field_70(body);
        on(match (mti, code) {
            (b"0800", Some(b"301")) => Event::Probe,
            (b"0810", Some(b"301")) => Event::Reply,
            (b"0800", Some(b"002")) => Event::Goodbye { text: None },
            _ => Event::Message,
        });
    }
}
