//! AMQP 0-9-1: after the client's 8-byte protocol header (`AMQP␀␀␉␁`), frames of
//! `type(1) channel(2) size(4) payload(size) 0xCE`. Type 1 is a method (class and method ids,
//! then arguments), 8 a heartbeat. The server proposes a heartbeat interval in Connection.Tune
//! (class 10, method 30: channel-max, frame-max, heartbeat in seconds) and the client settles it
//! in Connection.TuneOk (method 31); 0 turns heartbeats off. Connection.Close (method 50)
//! carries a reply code and text.

use crate::event::{Event, Framing, Scope};

/// The client's protocol header for AMQP 0-9-1.
pub const HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";
const FRAME_END: u8 = 0xCE;
const FRAME_METHOD: u8 = 1;
const FRAME_HEARTBEAT: u8 = 8;
/// Class id of the connection methods.
pub const CONNECTION: u16 = 10;
/// Connection.Start (server → client: versions, mechanisms, locales).
pub const START: u16 = 10;
/// Connection.StartOk (client → server: properties, mechanism, response, locale).
pub const START_OK: u16 = 11;
/// Connection.Tune (server → client: channel-max, frame-max, heartbeat).
pub const TUNE: u16 = 30;
/// Connection.TuneOk (client → server: the values it settles on).
pub const TUNE_OK: u16 = 31;
/// Connection.Open (client → server: virtual host).
pub const OPEN: u16 = 40;
/// Connection.OpenOk (server → client).
pub const OPEN_OK: u16 = 41;
/// Connection.Close (either side: reply code and text).
pub const CLOSE: u16 = 50;
/// Connection.CloseOk.
pub const CLOSE_OK: u16 = 51;

pub(crate) fn starts_header(p: &[u8]) -> bool {
    p.starts_with(HEADER)
}

pub(crate) fn frame_len(b: &[u8]) -> Framing {
    if b.first() == Some(&b'A') {
        let n = b.len().min(HEADER.len());
        return if b[..n] != HEADER[..n] {
            Framing::Broken
        } else if n < HEADER.len() {
            Framing::More
        } else {
            Framing::Len(HEADER.len())
        };
    }
    if b.len() < 7 {
        return Framing::More;
    }
    if !matches!(b[0], 1 | 2 | 3 | 8) {
        return Framing::Broken;
    }
    let size = u32::from_be_bytes([b[3], b[4], b[5], b[6]]) as usize;
    let total = 7 + size + 1;
    if total <= b.len() && b[total - 1] != FRAME_END {
        return Framing::Broken;
    }
    Framing::Len(total)
}

/// Appends one frame: type, channel, payload size, payload, frame-end octet.
pub fn encode_frame(kind: u8, channel: u16, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
}

/// Appends a heartbeat frame (type 8, channel 0, empty payload).
pub fn encode_heartbeat(out: &mut Vec<u8>) {
    encode_frame(FRAME_HEARTBEAT, 0, &[], out);
}

/// Appends a connection-class method frame on channel 0 whose arguments are `args` (already
/// encoded in AMQP's field types).
pub fn encode_connection_method(method: u16, args: &[u8], out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(4 + args.len());
    payload.extend_from_slice(&CONNECTION.to_be_bytes());
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    encode_frame(FRAME_METHOD, 0, &payload, out);
}

/// Appends an AMQP short string (1-byte length, then at most 255 bytes).
pub fn push_short_str(out: &mut Vec<u8>, s: &[u8]) {
    let s = &s[..s.len().min(255)];
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

/// Appends an AMQP long string (4-byte length, then the bytes).
pub fn push_long_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// The class id, method id and arguments of a whole method frame; `None` for other frames.
pub fn method(m: &[u8]) -> Option<(u16, u16, &[u8])> {
    if m.first() != Some(&FRAME_METHOD) || m.len() < 8 {
        return None;
    }
    let payload = &m[7..m.len() - 1];
    Some((u16_at(payload, 0)?, u16_at(payload, 2)?, payload.get(4..)?))
}

/// Whether a whole frame is a heartbeat frame.
pub fn is_heartbeat(m: &[u8]) -> bool {
    m.first() == Some(&FRAME_HEARTBEAT)
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State;

impl State {
    pub(crate) fn on_message(&mut self, _dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        if m.starts_with(HEADER) {
            return on(Event::Message);
        }
        let payload = &m[7..m.len() - 1];
        let ev = match m[0] {
            FRAME_HEARTBEAT => Event::Beat,
            FRAME_METHOD if u16_at(payload, 0) == Some(CONNECTION) => {
                match u16_at(payload, 2) {
                    // channel-max (2), frame-max (4), heartbeat (2).
                    Some(TUNE | TUNE_OK) => match u16_at(payload, 10) {
                        Some(secs) => Event::Interval {
                            ms: u64::from(secs) * 1000,
                            scope: Scope::Both,
                        },
                        None => Event::Message,
                    },
                    Some(CLOSE) => {
                        let text = payload
                            .get(6)
                            .and_then(|&n| payload.get(7..7 + usize::from(n)));
                        Event::Goodbye { text }
                    }
                    _ => Event::Message,
                }
            }
            _ => Event::Message,
        };
        on(ev);
    }
}
