//! AMQP 0-9-1: after the client's 8-byte protocol header (`AMQP␀␀␉␁`), frames of
//! `type(1) channel(2) size(4) payload(size) 0xCE`. Type 1 is a method (class and method ids,
//! then arguments), 8 a heartbeat. The server proposes a heartbeat interval in Connection.Tune
//! (class 10, method 30: channel-max, frame-max, heartbeat in seconds) and the client settles it
//! in Connection.TuneOk (method 31); 0 turns heartbeats off. Connection.Close (method 50)
//! carries a reply code and text.

use crate::event::{Event, Framing, Scope};

/// The client's protocol header for AMQP 0-9-1.
const HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";
const FRAME_END: u8 = 0xCE;
const FRAME_METHOD: u8 = 1;
const FRAME_HEARTBEAT: u8 = 8;
const CONNECTION: u16 = 10;
const TUNE: u16 = 30;
const TUNE_OK: u16 = 31;
const CLOSE: u16 = 50;

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
