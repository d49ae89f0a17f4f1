//! One direction's bytes cut into messages: in order, each message handed out whole, with at
//! most one partial message buffered.

use crate::event::Framing;

/// The longest message a direction may buffer; a longer one (or a length field claiming one)
/// ends the analysis of that direction, so a stream's memory stays bounded.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// What the framing hands out.
pub(crate) enum Piece<'a> {
    /// One whole message, and the sequence number just after its last byte.
    Message(&'a [u8], u32),
    /// The direction can no longer be framed; nothing more follows.
    Lost,
}

/// One direction's framing state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reassembly {
    /// Relative sequence number of the next byte expected.
    next: Option<u32>,
    /// The start of a message whose end has not arrived.
    partial: Vec<u8>,
    lost: bool,
}

impl Reassembly {
    /// Feeds a segment's payload; retransmitted bytes (before `next`) are skipped, a gap (bytes
    /// the capture never showed) loses the direction.
    pub(crate) fn feed(
        &mut self,
        seq: u32,
        payload: &[u8],
        whole: bool,
        framing: fn(&[u8]) -> Framing,
        on: &mut dyn FnMut(Piece<'_>),
    ) {
        if self.lost || payload.is_empty() {
            return;
        }
        let mut data = payload;
        if let Some(next) = self.next {
            let ahead = seq.wrapping_sub(next) as i32;
            if ahead > 0 {
                return self.lose(on);
            }
            let skip = next.wrapping_sub(seq) as usize;
            if skip >= data.len() {
                return;
            }
            data = &data[skip..];
        }
        let end = seq.wrapping_add(payload.len() as u32);
        self.next = Some(end);
        // The sequence number of data's first byte.
        let base = end.wrapping_sub(data.len() as u32);
        if self.partial.is_empty() {
            if let Some(rest) = self.frames(data, base, framing, on) {
                self.partial.extend_from_slice(rest);
            }
        } else {
            // The buffered start of a message, completed by this segment: framed again from
            // its start (a length-prefixed protocol tells its length from the header alone).
            let mut buf = std::mem::take(&mut self.partial);
            let base = base.wrapping_sub(buf.len() as u32);
            buf.extend_from_slice(data);
            if let Some(rest) = self.frames(&buf, base, framing, on) {
                let used = buf.len() - rest.len();
                buf.drain(..used);
                if buf.is_empty() && buf.capacity() > 4096 {
                    // A large message passed: an idle stream keeps no large buffer.
                    buf = Vec::new();
                }
                self.partial = buf;
            }
        }
        if self.partial.len() > MAX_MESSAGE {
            return self.lose(on);
        }
        if !whole {
            self.lose(on);
        }
    }

    /// Hands out the whole messages at the start of `data`, whose first byte has sequence
    /// number `base`; returns the incomplete rest, or `None` when the direction was lost.
    fn frames<'d>(
        &mut self,
        mut data: &'d [u8],
        mut base: u32,
        framing: fn(&[u8]) -> Framing,
        on: &mut dyn FnMut(Piece<'_>),
    ) -> Option<&'d [u8]> {
        while !data.is_empty() {
            match framing(data) {
                Framing::Len(n) if n <= data.len() => {
                    base = base.wrapping_add(n as u32);
                    on(Piece::Message(&data[..n], base));
                    data = &data[n..];
                }
                Framing::Len(n) if n > MAX_MESSAGE => {
                    self.lose(on);
                    return None;
                }
                Framing::Len(_) | Framing::More => return Some(data),
                Framing::Broken => {
                    self.lose(on);
                    return None;
                }
            }
        }
        Some(data)
    }

    /// Bytes held for a message not complete yet.
    pub(crate) fn buffered(&self) -> usize {
        self.partial.len()
    }

    fn lose(&mut self, on: &mut dyn FnMut(Piece<'_>)) {
        if !self.lost {
            self.lost = true;
            self.partial = Vec::new();
            on(Piece::Lost);
        }
    }
}
