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

/// Field `n`'s value (2 ≤ n ≤ 70) in a message body (MTI first, no length prefix), when the
/// message has it and the fields before it can be skipped with the 1987 table.
pub fn field(m: &[u8], n: usize) -> Option<&[u8]> {
    if !(2..=70).contains(&n) {
        return None;
    }
    let primary = m.get(4..12)?;
    let has_secondary = primary[0] & 0x80 != 0;
    let secondary = if has_secondary {
        m.get(12..20)?
    } else {
        &[0u8; 8][..]
    };
    let present = |field: usize| {
        let bit = field - 1;
        let map = if bit < 64 { primary } else { secondary };
        map[(bit % 64) / 8] & (0x80 >> (bit % 8)) != 0
    };
    if !present(n) {
        return None;
    }
    let mut at = if has_secondary { 20 } else { 12 };
    for field in 2..=n.min(69) {
        if !present(field) {
            continue;
        }
        let len = match FIELDS_2_TO_69[field - 2] {
            Len::Fixed(len) => usize::from(len),
            Len::Ll => {
                let len = digits(m.get(at..at + 2)?)?;
                at += 2;
                len
            }
            Len::Lll => {
                let len = digits(m.get(at..at + 3)?)?;
                at += 3;
                len
            }
        };
        if field == n {
            return m.get(at..at + len);
        }
        at += len;
    }
    // Field 70 (network management information code) is 3 digits.
    m.get(at..at + 3)
}

/// Appends a network-management message to `out`, 2-byte length prefix included: MTI `mti`
/// (`0800` request, `0810` response), field 7 (transmission date and time, `MMDDhhmmss`),
/// field 11 (system trace audit number, 6 digits, the number that pairs a response with its
/// request), field 39 (response code) when given, and field 70 (`301` echo test, `002`
/// sign-off). Numeric fields are ASCII digits, the bitmaps binary, as the common packagers
/// write them.
pub fn encode_network(
    mti: &[u8; 4],
    transmitted: &[u8; 10],
    stan: u32,
    response_code: Option<&[u8; 2]>,
    code: &[u8; 3],
    out: &mut Vec<u8>,
) {
    let mut primary = [0u8; 8];
    let mut secondary = [0u8; 8];
    let mut set = |field: usize| {
        let bit = field - 1;
        let map = if bit < 64 {
            &mut primary
        } else {
            &mut secondary
        };
        map[(bit % 64) / 8] |= 0x80 >> (bit % 8);
    };
    set(1);
    set(7);
    set(11);
    if response_code.is_some() {
        set(39);
    }
    set(70);
    let start = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(mti);
    out.extend_from_slice(&primary);
    out.extend_from_slice(&secondary);
    out.extend_from_slice(transmitted);
    let stan = stan % 1_000_000;
    for div in [100_000, 10_000, 1_000, 100, 10, 1] {
        out.push(b'0' + (stan / div % 10) as u8);
    }
    if let Some(rc) = response_code {
        out.extend_from_slice(rc);
    }
    out.extend_from_slice(code);
    let len = (out.len() - start - 2) as u16;
    out[start..start + 2].copy_from_slice(&len.to_be_bytes());
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State;

impl State {
    pub(crate) fn on_message(&mut self, _dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        let body = &m[2..];
        let mti = body.get(..4).unwrap_or_default();
        let code = field(body, 70);
        on(match (mti, code) {
            (b"0800", Some(b"301")) => Event::Probe,
            (b"0810", Some(b"301")) => Event::Reply,
            (b"0800", Some(b"002")) => Event::Goodbye { text: None },
            _ => Event::Message,
        });
    }
}
