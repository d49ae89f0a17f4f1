//! One direction of an HTTP/2 connection: cuts its in-order bytes into frames, whatever the
//! boundaries of the pieces they arrive in (TCP segments, TLS records). Frames wholly inside a
//! piece are handed out as slices of it; only a frame split across pieces is copied, and at
//! most [`MAX_HELD_PAYLOAD`] octets of its payload are kept, so memory per direction is
//! bounded whatever the frame headers claim.

use crate::frame::{Frame, FrameHeader, HEADER_LEN};
use crate::preface::CLIENT_PREFACE;

/// The most payload octets kept of a frame split across pieces; the rest is skipped and the
/// frame is handed out [`Frame::truncated`]. RFC 9113's largest frame is 16 MiB; gRPC and
/// browsers send at most 16 KiB unless the peer raised SETTINGS_MAX_FRAME_SIZE.
pub const MAX_HELD_PAYLOAD: usize = 1 << 20;

/// Turns sequence-numbered TCP segments into in-order bytes: data already taken is skipped,
/// and a gap (lost or uncaptured data) ends the byte stream, since frame boundaries cannot be
/// found again after it.
#[derive(Clone, Copy, Debug, Default)]
pub struct InOrder {
    next_seq: Option<u32>,
    gap: bool,
}

impl InOrder {
    /// The bytes of `payload` (at sequence number `seq`) not taken before; `None` after a gap.
    pub fn take<'a>(&mut self, seq: u32, payload: &'a [u8]) -> Option<&'a [u8]> {
        if self.gap {
            return None;
        }
        let skip = match self.next_seq {
            None => 0,
            Some(n) => {
                let ahead = seq.wrapping_sub(n) as i32;
                if ahead > 0 {
                    self.gap = true;
                    return None;
                }
                ahead.unsigned_abs() as usize
            }
        };
        let end = seq.wrapping_add(payload.len() as u32);
        if skip < payload.len() {
            self.next_seq = Some(end);
        }
        Some(payload.get(skip..).unwrap_or_default())
    }

    /// True once a gap ended the byte stream.
    pub fn has_gap(&self) -> bool {
        self.gap
    }
}

/// What a direction's bytes yield, in order.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    /// The client connection preface (tshark's "Magic").
    Magic,
    /// A frame.
    Frame(Frame<'a>),
}

/// What one piece of bytes did to the frame stream, as tshark's TCP reassembly shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SegmentRole {
    /// It completed at least one item.
    Frames,
    /// It started a frame that later pieces continue, and completed none.
    Starts,
    /// It only continued a frame begun earlier (or brought nothing new).
    #[default]
    Continues,
    /// The direction is not a frame stream (the preface did not match).
    Lost,
}

/// The frame reassembler of one direction.
#[derive(Clone, Debug, Default)]
pub struct Direction {
    /// Octets of the client preface still expected before the first frame.
    preface_left: u8,
    /// The begun frame: its header and the payload kept so far.
    partial: Vec<u8>,
    /// Octets of the begun frame consumed so far (header included; more than `partial` holds
    /// when its payload is being skipped).
    consumed: usize,
    lost: bool,
}

impl Direction {
    /// The client's direction: the connection preface comes first.
    pub fn client() -> Direction {
        Direction {
            preface_left: CLIENT_PREFACE.len() as u8,
            ..Direction::default()
        }
    }

    /// The server's direction (or a client's after the preface was seen elsewhere): frames
    /// from the first octet.
    pub fn server() -> Direction {
        Direction::default()
    }

    /// True once the direction stopped being a frame stream.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Octets held for a frame begun and not finished.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Frees the buffers once the direction has ended (its FIN, or a reset).
    pub fn release(&mut self) {
        self.partial = Vec::new();
        self.consumed = 0;
    }

    /// Feeds the next in-order bytes; `each` is called with every item they complete.
    pub fn push(&mut self, data: &[u8], mut each: impl FnMut(Item<'_>)) -> SegmentRole {
        if self.lost {
            return SegmentRole::Lost;
        }
        let fresh = self.partial.is_empty() && self.preface_left == 0;
        let mut at = 0;
        let mut items = 0usize;
        if self.preface_left > 0 {
            let from = CLIENT_PREFACE.len() - usize::from(self.preface_left);
            let take = usize::from(self.preface_left).min(data.len());
            if data[..take] != CLIENT_PREFACE[from..from + take] {
                self.lost = true;
                self.release();
                return SegmentRole::Lost;
            }
            self.preface_left -= take as u8;
            at = take;
            if self.preface_left > 0 {
                return if from == 0 {
                    SegmentRole::Starts
                } else {
                    SegmentRole::Continues
                };
            }
            each(Item::Magic);
            items += 1;
        }
        if self.consumed > 0 {
            at += self.continue_partial(&data[at..], &mut each, &mut items);
            if self.consumed > 0 {
                return self.role(items, fresh);
            }
        }
        // Whole frames straight from the piece, without copying.
        while let Some(h) = FrameHeader::parse(&data[at..]) {
            let end = at + HEADER_LEN + h.length as usize;
            if end > data.len() {
                break;
            }
            each(Item::Frame(Frame {
                header: h,
                payload: &data[at + HEADER_LEN..end],
            }));
            items += 1;
            at = end;
        }
        if at < data.len() {
            at += self.continue_partial(&data[at..], &mut each, &mut items);
            debug_assert_eq!(at, data.len());
        }
        let started_here = fresh && items == 0;
        self.role(items, started_here)
    }

    fn role(&self, items: usize, started_here: bool) -> SegmentRole {
        if items > 0 {
            SegmentRole::Frames
        } else if started_here {
            SegmentRole::Starts
        } else {
            SegmentRole::Continues
        }
    }

    /// Adds `data` to the begun frame (starting one when none is); hands it out when whole.
    /// Returns the octets taken.
    fn continue_partial(
        &mut self,
        data: &[u8],
        each: &mut impl FnMut(Item<'_>),
        items: &mut usize,
    ) -> usize {
        let mut at = 0;
        if self.consumed < HEADER_LEN {
            let take = (HEADER_LEN - self.consumed).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            self.consumed += take;
            at = take;
            if self.consumed < HEADER_LEN {
                return at;
            }
        }
        let Some(h) = FrameHeader::parse(&self.partial) else {
            return at;
        };
        let total = HEADER_LEN + h.length as usize;
        let take = (total - self.consumed).min(data.len() - at);
        let room = (HEADER_LEN + MAX_HELD_PAYLOAD).saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&data[at..at + take.min(room)]);
        self.consumed += take;
        at += take;
        if self.consumed == total {
            each(Item::Frame(Frame {
                header: h,
                payload: &self.partial[HEADER_LEN..],
            }));
            *items += 1;
            self.partial.clear();
            if self.partial.capacity() > 64 * 1024 {
                self.partial = Vec::new();
            }
            self.consumed = 0;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameType;

    fn frame(ty: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        b.push(ty);
        b.push(flags);
        b.extend(sid.to_be_bytes());
        b.extend(payload);
        b
    }

    fn stream() -> Vec<u8> {
        let mut s = CLIENT_PREFACE.to_vec();
        s.extend(frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        s.extend(frame(6, 0, 0, b"pingpong"));
        s.extend(frame(0, 1, 1, &[7u8; 40]));
        s.extend(frame(7, 0, 0, b"\0\0\0\x01\0\0\0\x0bbye"));
        s
    }

    fn items(cuts: &[usize]) -> (Vec<String>, Vec<SegmentRole>) {
        let s = stream();
        let mut d = Direction::client();
        let mut got = Vec::new();
        let mut roles = Vec::new();
        let mut prev = 0;
        for &c in cuts.iter().chain([s.len()].iter()) {
            let role = d.push(&s[prev..c], |i| {
                got.push(match i {
                    Item::Magic => "Magic".to_string(),
                    Item::Frame(f) => format!("{}:{}", f.header.ty.name(), f.payload.len()),
                })
            });
            roles.push(role);
            prev = c;
        }
        (got, roles)
    }

    #[test]
    fn same_frames_whatever_the_piece_boundaries() {
        let want = items(&[]).0;
        assert_eq!(
            want,
            ["Magic", "SETTINGS:6", "PING:8", "DATA:40", "GOAWAY:11"]
        );
        let s = stream();
        for a in 1..s.len() {
            for b in a..s.len() {
                assert_eq!(items(&[a, b]).0, want, "cut at {a}, {b}");
            }
        }
        let every: Vec<usize> = (1..s.len()).collect();
        assert_eq!(items(&every).0, want);
    }

    #[test]
    fn roles_follow_tsharks_reassembly() {
        // Magic + SETTINGS (39 octets), 3 octets of PING (starts), the rest.
        let (_, roles) = items(&[39, 42, 45]);
        assert_eq!(
            roles,
            [
                SegmentRole::Frames,
                SegmentRole::Starts,
                SegmentRole::Continues,
                SegmentRole::Frames
            ]
        );
    }

    #[test]
    fn a_wrong_preface_loses_the_direction() {
        let mut d = Direction::client();
        assert_eq!(d.push(b"GET / HTTP/1.1\r\n", |_| {}), SegmentRole::Lost);
        assert!(d.is_lost());
    }

    #[test]
    fn a_huge_frame_keeps_bounded_memory_and_arrives_truncated() {
        let mut d = Direction::server();
        let mut h = frame(0, 0, 1, &[]);
        h[..3].copy_from_slice(&[0xff, 0xff, 0xff]);
        let mut seen = None;
        d.push(&h, |_| panic!("not whole yet"));
        let chunk = vec![0u8; 65536];
        let mut left = 0xff_ffff;
        while left > 0 {
            let n = left.min(chunk.len());
            d.push(&chunk[..n], |i| {
                if let Item::Frame(f) = i {
                    seen = Some((f.header.ty, f.payload.len(), f.truncated()));
                }
            });
            assert!(d.pending() <= HEADER_LEN + MAX_HELD_PAYLOAD);
            left -= n;
        }
        assert_eq!(seen, Some((FrameType::DATA, MAX_HELD_PAYLOAD, true)));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn in_order_skips_old_bytes_and_stops_at_a_gap() {
        let mut o = InOrder::default();
        assert_eq!(o.take(100, b"abcd"), Some(&b"abcd"[..]));
        assert_eq!(o.take(102, b"cdef"), Some(&b"ef"[..]));
        assert_eq!(o.take(100, b"ab"), Some(&b""[..]));
        assert_eq!(o.take(110, b"zz"), None);
        assert!(o.has_gap());
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use crate::headers::HeaderBlocks;

    /// Hostile input: plausible frame headers with lying lengths and random header blocks,
    /// in random pieces. Nothing panics and memory stays bounded.
    #[test]
    fn random_frames_in_random_pieces_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let mut bytes = Vec::new();
            while bytes.len() < 4000 {
                let len = (next() % 300) as usize;
                let ty = (next() % 11) as u8;
                let lie = next() % 8 == 0;
                let said = if lie {
                    (next() % 0x100_0000) as u32
                } else {
                    len as u32
                };
                bytes.extend(&said.to_be_bytes()[1..]);
                bytes.push(ty);
                bytes.push(next() as u8);
                bytes.extend(((next() % 6) as u32).to_be_bytes());
                bytes.extend((0..len).map(|_| next() as u8));
            }
            let mut d = Direction::server();
            let mut blocks = HeaderBlocks::default();
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + 1 + (next() % 500) as usize).min(bytes.len());
                d.push(&bytes[at..end], |i| {
                    if let Item::Frame(f) = i {
                        let _ = (f.goaway(), f.ping(), f.settings().count(), f.priority());
                        let _ = (f.data(), f.window_size_increment(), f.rst_stream_error());
                        let _ = blocks.on_frame(&f);
                    }
                });
                assert!(d.pending() <= HEADER_LEN + MAX_HELD_PAYLOAD);
                at = end;
            }
        }
    }
}
