//! FIX tag=value: `8=BeginString␁9=BodyLength␁…␁10=CheckSum␁`, fields separated by SOH (0x01).
//! Session messages (FIX Session Protocol): Logon `35=A` (108 HeartBtInt, 141 ResetSeqNumFlag),
//! Heartbeat `35=0` (112 TestReqID when it answers a TestRequest), TestRequest `35=1`,
//! ResendRequest `35=2` (7 BeginSeqNo, 16 EndSeqNo), SequenceReset `35=4` (36 NewSeqNo, 123
//! GapFillFlag), Logout `35=5` (58 Text); every message carries 34 MsgSeqNum (43 PossDupFlag on
//! resent ones).

use crate::event::{Event, Framing, Scope};

const SOH: u8 = 1;
/// `10=NNN␁`.
const TRAILER_LEN: usize = 7;
/// BeginString is `FIX.4.x` or `FIXT.1.1`: its field ends well within this.
const MAX_BEGIN_STRING: usize = 16;

/// The payload opens a FIX message: BeginString and a BodyLength.
pub(crate) fn starts_message(p: &[u8]) -> bool {
    p.starts_with(b"8=FIX") && matches!(frame_len(p), Framing::Len(_))
}

/// The length of the FIX message at the start of `b`, from its BodyLength.
pub(crate) fn frame_len(b: &[u8]) -> Framing {
    const BEGIN: &[u8] = b"8=FIX";
    if !b[..b.len().min(BEGIN.len())].eq(&BEGIN[..b.len().min(BEGIN.len())]) {
        return Framing::Broken;
    }
    let Some(soh) = b.iter().take(MAX_BEGIN_STRING).position(|&c| c == SOH) else {
        return if b.len() < MAX_BEGIN_STRING {
            Framing::More
        } else {
            Framing::Broken
        };
    };
    let rest = &b[soh + 1..];
    const BODY_LENGTH: &[u8] = b"9=";
    if rest.len() < BODY_LENGTH.len() {
        return Framing::More;
    }
    if !rest.starts_with(BODY_LENGTH) {
        return Framing::Broken;
    }
    let mut n: usize = 0;
    for (i, &c) in rest[2..].iter().enumerate() {
        match c {
            b'0'..=b'9' if i < 9 => n = n * 10 + usize::from(c - b'0'),
            SOH if i > 0 => return Framing::Len(soh + 1 + 2 + i + 1 + n + TRAILER_LEN),
            _ => return Framing::Broken,
        }
    }
    Framing::More
}

/// The `tag=value` fields of a message (a value may not contain SOH: the raw data fields that
/// may are not session fields).
fn fields(m: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    m.split(|&c| c == SOH).filter_map(|f| {
        let eq = f.iter().position(|&c| c == b'=')?;
        let tag = number(&f[..eq])?;
        u32::try_from(tag).ok().map(|t| (t, &f[eq + 1..]))
    })
}

/// A non-negative decimal number of at most 18 digits.
fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    v.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

/// The checksum is the sum of every byte before `10=`, modulo 256, written as 3 digits.
fn checksum_ok(m: &[u8]) -> bool {
    let (body, trailer) = m.split_at(m.len() - TRAILER_LEN);
    let sum = body.iter().fold(0u8, |s, &c| s.wrapping_add(c));
    trailer.starts_with(b"10=")
        && trailer[6] == SOH
        && number(&trailer[3..6]).is_some_and(|v| v == u64::from(sum))
}

/// Appends one FIX message to `out`: `8=begin_string`, the BodyLength of `body`, the body's
/// `tag=value` fields in the order given, and the CheckSum, both computed as the FIX Session
/// Protocol defines them (BodyLength counts the bytes after its own field up to and including
/// the SOH before `10=`; CheckSum is the sum of every byte before `10=`, modulo 256).
pub fn encode(begin_string: &str, body: &[(u32, &[u8])], out: &mut Vec<u8>) {
    let start = out.len();
    let body_len: usize = body
        .iter()
        .map(|(tag, value)| decimal_len(u64::from(*tag)) + 1 + value.len() + 1)
        .sum();
    out.extend_from_slice(b"8=");
    out.extend_from_slice(begin_string.as_bytes());
    out.push(SOH);
    out.extend_from_slice(b"9=");
    push_decimal(out, body_len as u64);
    out.push(SOH);
    for (tag, value) in body {
        push_decimal(out, u64::from(*tag));
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(SOH);
    }
    let sum = out[start..].iter().fold(0u8, |s, &c| s.wrapping_add(c));
    out.extend_from_slice(b"10=");
    out.extend_from_slice(&[b'0' + sum / 100, b'0' + sum / 10 % 10, b'0' + sum % 10, SOH]);
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let len = decimal_len(n);
    let at = out.len();
    out.resize(at + len, b'0');
    let mut rest = n;
    for slot in out[at..].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// The value of the first field `tag` of a whole message whose CheckSum is right; `None` when
/// the field is absent or the message garbled (an engine ignores a garbled message).
pub fn field(m: &[u8], tag: u32) -> Option<&[u8]> {
    if m.len() < TRAILER_LEN || !checksum_ok(m) {
        return None;
    }
    fields(&m[..m.len() - TRAILER_LEN]).find_map(|(t, v)| (t == tag).then_some(v))
}

/// Per direction: the next MsgSeqNum expected.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    expected: [Option<u64>; 2],
}

impl State {
    /// One whole message sent in direction `dir`.
    pub(crate) fn on_message(&mut self, dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        if m.len() < TRAILER_LEN || !checksum_ok(m) {
            // A garbled message is ignored by the receiving engine (FIX Session Protocol,
            // "Message Recovery"): it proves nothing, not even that its sender is alive.
            return;
        }
        let mut msg_type: &[u8] = b"";
        let (mut seq, mut poss_dup, mut reset_flag, mut gap_fill) = (None, false, false, false);
        let (mut interval, mut test_req, mut text) = (None, false, None);
        let (mut begin, mut end, mut new_seq) = (0, 0, None);
        for (tag, v) in fields(&m[..m.len() - TRAILER_LEN]) {
            match tag {
                35 => msg_type = v,
                34 => seq = number(v),
                43 => poss_dup = v == b"Y",
                141 => reset_flag = v == b"Y",
                123 => gap_fill = v == b"Y",
                108 => interval = number(v),
                112 => test_req = true,
                58 => text = Some(v),
                7 => begin = number(v).unwrap_or(0),
                16 => end = number(v).unwrap_or(0),
                36 => new_seq = number(v),
                _ => {}
            }
        }
        let logon = msg_type == b"A";
        let seq_reset = msg_type == b"4";
        if logon && reset_flag {
            self.expected[dir] = Some(1);
        }
        // A SequenceReset in reset mode moves the number without being numbered in sequence.
        let checked = !poss_dup && (!seq_reset || gap_fill);
        if let (Some(s), true) = (seq, checked) {
            match self.expected[dir] {
                Some(e) if s != e => {
                    on(Event::SequenceGap {
                        expected: e,
                        received: s,
                    });
                    if s > e {
                        self.expected[dir] = Some(s + 1);
                    }
                }
                _ => self.expected[dir] = Some(s + 1),
            }
        }
        if seq_reset {
            if let Some(n) = new_seq {
                self.expected[dir] = Some(n);
            }
        }
        let ev = match msg_type {
            b"A" => match interval {
                Some(secs) => Event::Interval {
                    ms: secs.saturating_mul(1000),
                    scope: Scope::Both,
                },
                None => Event::Message,
            },
            b"0" if test_req => Event::Reply,
            b"0" => Event::Beat,
            b"1" => Event::Probe,
            b"2" => Event::ResendRequest { begin, end },
            b"5" => Event::Goodbye { text },
            _ => Event::Message,
        };
        on(ev);
    }
}
