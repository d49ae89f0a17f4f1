//! Frames cut from one direction's in-order bytes: a frame split across segments is held
//! until it is whole, several frames in one segment come out one by one, each payload
//! unmasked. Memory is bounded: a frame longer than [`Direction::MAX_FRAME`] is skipped
//! (its header is still reported, without its payload) instead of buffered.

use crate::frame::{unmask, FrameHeader};

/// A frame completed by the bytes just pushed.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// The frame's header.
    pub header: FrameHeader,
    /// The unmasked payload; empty when the frame was too long to keep ([`Item::whole`]).
    pub payload: &'a [u8],
    /// False when the payload was skipped for its size.
    pub whole: bool,
}

/// What a pushed segment did to the frame stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SegmentRole {
    /// It completed at least one frame.
    #[default]
    Frames,
    /// It only began or continued a frame that ends later (tshark: "[TCP segment of a
    /// reassembled PDU]").
    Partial,
}

/// One direction's frame cutter.
#[derive(Debug, Default)]
pub struct Direction {
    buf: Vec<u8>,
    /// A frame too long to keep: its header and the payload bytes still to pass.
    skipping: Option<(FrameHeader, u64)>,
}

impl Direction {
    /// The longest frame (header included) whose payload is kept for display.
    pub const MAX_FRAME: u64 = 1 << 20;

    /// Feeds the next in-order bytes; `each` sees every frame they complete, in order.
    pub fn push(&mut self, mut data: &[u8], mut each: impl FnMut(Item<'_>)) -> SegmentRole {
        let mut completed = false;
        if let Some((header, left)) = &mut self.skipping {
            let n = (*left).min(data.len() as u64);
            *left -= n;
            data = &data[n as usize..];
            if *left == 0 {
                each(Item {
                    header: *header,
                    payload: &[],
                    whole: false,
                });
                completed = true;
                self.skipping = None;
            }
        }
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while self.skipping.is_none() {
            let Some(h) = FrameHeader::parse(&self.buf[start..]) else {
                break;
            };
            let have = (self.buf.len() - start) as u64;
            let total = h.frame_len();
            if have >= total {
                let end = start + total as usize;
                let payload = &mut self.buf[start + h.header_len..end];
                if let Some(key) = h.masking_key {
                    unmask(payload, key, 0);
                }
                each(Item {
                    header: h,
                    payload,
                    whole: true,
                });
                completed = true;
                start = end;
            } else if total > Self::MAX_FRAME {
                self.skipping = Some((h, total - have));
                start = self.buf.len();
            } else {
                break;
            }
        }
        self.buf.drain(..start);
        if completed {
            SegmentRole::Frames
        } else {
            SegmentRole::Partial
        }
    }

    /// Frees the buffer (the direction ended).
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.skipping = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Opcode;

    fn cut(dir: &mut Direction, data: &[u8]) -> (SegmentRole, Vec<(u8, Vec<u8>, bool)>) {
        let mut out = Vec::new();
        let role = dir.push(data, |i| {
            out.push((i.header.opcode.0, i.payload.to_vec(), i.whole));
        });
        (role, out)
    }

    #[test]
    fn split_and_joined_frames() {
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let ping = [0x89, 0x00];
        let mut d = Direction::default();
        let (role, f) = cut(&mut d, &hello[..3]);
        assert_eq!((role, f.len()), (SegmentRole::Partial, 0));
        let mut rest = hello[3..].to_vec();
        rest.extend_from_slice(&ping);
        rest.push(0x8a);
        let (role, f) = cut(&mut d, &rest);
        assert_eq!(role, SegmentRole::Frames);
        assert_eq!(
            f,
            vec![(1, b"Hello".to_vec(), true), (Opcode::PING.0, vec![], true)]
        );
        let (_, f) = cut(&mut d, &[0x01, b'x']);
        assert_eq!(f, vec![(10, b"x".to_vec(), true)]);
    }

    #[test]
    fn a_frame_too_long_to_keep_is_skipped_with_bounded_memory() {
        let mut d = Direction::default();
        let mut head = vec![0x82, 0x7f];
        head.extend_from_slice(&(3u64 << 20).to_be_bytes());
        let (role, f) = cut(&mut d, &head);
        assert_eq!((role, f.len()), (SegmentRole::Partial, 0));
        let chunk = vec![0u8; 1 << 16];
        for _ in 0..47 {
            assert_eq!(cut(&mut d, &chunk).1.len(), 0);
            assert!(d.buf.capacity() < 1 << 17);
        }
        let mut last = chunk.clone();
        last.extend_from_slice(&[0x89, 0x00]);
        let (_, f) = cut(&mut d, &last);
        assert_eq!(f, vec![(2, vec![], false), (9, vec![], true)]);
    }
}
