//! SMPP 3.4 / 5.0: PDUs of `command_length(4) command_id(4) command_status(4)
//! sequence_number(4)` and a body, all big-endian. Either side may send `enquire_link`
//! (0x00000015), answered by `enquire_link_resp` (0x80000015); `unbind` (0x00000006) ends the
//! session. The protocol declares no interval: each side's enquire_link timer is its own.

use crate::event::{Event, Framing};

const HEADER_LEN: usize = 16;
/// PDUs longer than this are not SMPP (the longest, submit_multi with its destinations and a
/// 64 KiB message_payload TLV, stays well below it).
const MAX_PDU: usize = 70_000;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
const UNBIND: u32 = 0x0000_0006;
/// bind_receiver, bind_transmitter, bind_transceiver: what an ESME sends first.
const BINDS: [u32; 3] = [0x0000_0001, 0x0000_0002, 0x0000_0009];

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The payload opens an SMPP bind: its length is plausible, its status 0, and it is followed
/// by a NUL-terminated printable system_id.
pub(crate) fn starts_bind(p: &[u8]) -> bool {
    if p.len() < HEADER_LEN + 1 {
        return false;
    }
    let len = u32_at(p, 0) as usize;
    if !(HEADER_LEN + 4..=512).contains(&len) || !BINDS.contains(&u32_at(p, 4)) {
        return false;
    }
    if u32_at(p, 8) != 0 {
        return false;
    }
    let body = &p[HEADER_LEN..p.len().min(len)];
    match body.iter().position(|&c| c == 0) {
        Some(n) => n <= 16 && body[..n].iter().all(|c| c.is_ascii_graphic()),
        None => false,
    }
}

pub(crate) fn frame_len(b: &[u8]) -> Framing {
    if b.len() < 4 {
        return Framing::More;
    }
    let len = u32_at(b, 0) as usize;
    if !(HEADER_LEN..=MAX_PDU).contains(&len) {
        return Framing::Broken;
    }
    Framing::Len(len)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State;

impl State {
    pub(crate) fn on_message(&mut self, _dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        on(match u32_at(m, 4) {
            ENQUIRE_LINK => Event::Probe,
            ENQUIRE_LINK_RESP => Event::Reply,
            UNBIND => Event::Goodbye { text: None },
            _ => Event::Message,
        });
    }
}
