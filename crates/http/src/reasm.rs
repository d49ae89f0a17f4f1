//! One direction of a TCP connection turned back into a byte stream.
//!
//! Why not trust capture order: retransmissions repeat bytes, segments overlap, arrive out of
//! order, and the capture may miss some. A keep-alive probe is one old byte (`seq = next - 1`)
//! that a naive concatenation inserts into the stream; here it is simply older than `next` and
//! dropped, like any retransmission. Bytes that never show up are handed on as an explicit gap so
//! the HTTP parser knows it lost sync instead of parsing garbage.
//!
//! Memory: out-of-order segments wait in a map bounded by [`OOO_LIMIT`] bytes; when it is full
//! (or the peer acknowledges bytes the capture never saw) the hole is declared a gap.

use std::collections::BTreeMap;

/// Bytes of out-of-order data kept per direction before a hole is declared lost.
pub(crate) const OOO_LIMIT: usize = 256 * 1024;

/// What the reassembler hands on, in stream order.
pub(crate) enum Piece<'a> {
    Data {
        bytes: &'a [u8],
        frame: u32,
        ts_ns: i64,
    },
    /// `n` bytes the capture does not have.
    Gap { n: u64 },
}

/// `a < b` in sequence space.
#[inline]
pub(crate) fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[derive(Default)]
pub(crate) struct Reassembler {
    /// Next expected sequence number; `None` until the first segment.
    pub next: Option<u32>,
    ooo: BTreeMap<u32, (u32, i64, Vec<u8>)>,
    ooo_bytes: usize,
}

impl Reassembler {
    /// Takes one segment. `seq` is the sequence number of the first payload byte (after a SYN's
    /// own number), `len` is `tcp.len`; `payload` may be shorter than `len` (snap length).
    pub(crate) fn segment(
        &mut self,
        seq: u32,
        len: u32,
        payload: &[u8],
        frame: u32,
        ts_ns: i64,
        out: &mut impl FnMut(Piece<'_>),
    ) {
        let next = *self.next.get_or_insert(seq);
        if len == 0 {
            return;
        }
        let end = seq.wrapping_add(len);
        if !seq_lt(next, end) {
            // Entirely old: retransmission, keep-alive probe.
            return;
        }
        if seq_lt(next, seq) {
            // A hole before this segment: keep it for later (bounded).
            if self.ooo_bytes + payload.len() > OOO_LIMIT {
                self.skip_hole(out);
                // The hole is gone; this segment may now be in order (or still ahead).
                if let Some(n) = self.next {
                    if seq_lt(n, seq) {
                        out(Piece::Gap {
                            n: u64::from(seq.wrapping_sub(n)),
                        });
                        self.next = Some(seq);
                    }
                }
                return self.segment(seq, len, payload, frame, ts_ns, out);
            }
            let mut stored = payload.to_vec();
            // A short capture of an out-of-order segment: remember the missing tail as zero
            // bytes would be a lie; keep only what we have and let the gap appear later.
            stored.truncate(len as usize);
            let keep = match self.ooo.get(&seq) {
                Some((_, _, old)) => stored.len() > old.len(),
                None => true,
            };
            if keep {
                if let Some((_, _, old)) = self.ooo.insert(seq, (frame, ts_ns, stored)) {
                    self.ooo_bytes -= old.len();
                }
                self.ooo_bytes += payload.len().min(len as usize);
            }
            return;
        }
        self.deliver(seq, len, payload, frame, ts_ns, out);
        self.drain(out);
    }

    /// Bytes `[seq, seq+len)` with `seq <= next < seq+len`.
    fn deliver(
        &mut self,
        seq: u32,
        len: u32,
        payload: &[u8],
        frame: u32,
        ts_ns: i64,
        out: &mut impl FnMut(Piece<'_>),
    ) {
        let next = self.next.unwrap_or(seq);
        let skip = next.wrapping_sub(seq) as usize;
        let fresh = len as usize - skip;
        let have = payload.len().saturating_sub(skip).min(fresh);
        if have > 0 {
            out(Piece::Data {
                bytes: &payload[skip..skip + have],
                frame,
                ts_ns,
            });
        }
        if have < fresh {
            out(Piece::Gap {
                n: (fresh - have) as u64,
            });
        }
        self.next = Some(seq.wrapping_add(len));
    }

    /// Hands on waiting segments that are now in order.
    fn drain(&mut self, out: &mut impl FnMut(Piece<'_>)) {
        while let Some(n) = self.next {
            let Some((&s, _)) = self.ooo.iter().next() else {
                break;
            };
            if seq_lt(n, s) {
                break;
            }
            let (frame, ts, bytes) = self.ooo.remove(&s).expect("key just seen");
            self.ooo_bytes -= bytes.len();
            let len = bytes.len() as u32;
            if seq_lt(n, s.wrapping_add(len)) {
                self.deliver(s, len, &bytes, frame, ts, out);
            }
        }
    }

    /// Declares the first hole lost: a gap up to the first waiting segment, then drains.
    fn skip_hole(&mut self, out: &mut impl FnMut(Piece<'_>)) {
        let (Some(n), Some((&s, _))) = (self.next, self.ooo.iter().next()) else {
            return;
        };
        if seq_lt(n, s) {
            out(Piece::Gap {
                n: u64::from(s.wrapping_sub(n)),
            });
            self.next = Some(s);
        }
        self.drain(out);
    }

    /// The peer acknowledged up to `ack`: bytes before it that we never saw were lost by the
    /// capture, not the network, so waiting for them is pointless.
    pub(crate) fn peer_ack(&mut self, ack: u32, out: &mut impl FnMut(Piece<'_>)) {
        while let (Some(n), Some((&s, _))) = (self.next, self.ooo.iter().next()) {
            if seq_lt(n, ack) && !seq_lt(ack, s) {
                self.skip_hole(out);
            } else {
                break;
            }
        }
    }

    /// End of the direction (FIN, RST, end of capture): everything still waiting is handed on
    /// with gaps in between.
    pub(crate) fn flush(&mut self, out: &mut impl FnMut(Piece<'_>)) {
        while !self.ooo.is_empty() {
            self.skip_hole(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(segs: &[(u32, &[u8])]) -> (Vec<u8>, u64) {
        let mut r = Reassembler::default();
        let mut data = Vec::new();
        let mut gaps = 0;
        let mut out = |p: Piece<'_>| match p {
            Piece::Data { bytes, .. } => data.extend_from_slice(bytes),
            Piece::Gap { n, .. } => gaps += n,
        };
        for (i, (seq, b)) in segs.iter().enumerate() {
            r.segment(*seq, b.len() as u32, b, i as u32, 0, &mut out);
        }
        r.flush(&mut out);
        (data, gaps)
    }

    #[test]
    fn in_order_retransmission_overlap_and_probe() {
        let (d, g) = run(&[
            (1, b"hello "),
            (1, b"hello "),   // retransmission
            (4, b"lo world"), // overlap
            (11, b"d"),       // keep-alive probe style: one old byte
            (12, b"!"),
        ]);
        assert_eq!(d, b"hello world!");
        assert_eq!(g, 0);
    }

    #[test]
    fn out_of_order_is_put_back() {
        let (d, g) = run(&[(1, b"ab"), (5, b"ef"), (3, b"cd"), (7, b"g")]);
        assert_eq!(d, b"abcdefg");
        assert_eq!(g, 0);
    }

    #[test]
    fn hole_becomes_gap_at_flush() {
        let (d, g) = run(&[(1, b"ab"), (6, b"fg")]);
        assert_eq!(d, b"abfg");
        assert_eq!(g, 3);
    }

    #[test]
    fn sequence_wraps() {
        let s = u32::MAX - 1;
        let (d, g) = run(&[
            (s, b"ab"),
            (s.wrapping_add(4), b"ef"),
            (s.wrapping_add(2), b"cd"),
        ]);
        assert_eq!(d, b"abcdef");
        assert_eq!(g, 0);
    }

    #[test]
    fn peer_ack_declares_capture_loss() {
        let mut r = Reassembler::default();
        let mut data = Vec::new();
        let mut gaps = 0;
        let mut out = |p: Piece<'_>| match p {
            Piece::Data { bytes, .. } => data.extend_from_slice(bytes),
            Piece::Gap { n, .. } => gaps += n,
        };
        r.segment(1, 2, b"ab", 1, 0, &mut out);
        r.segment(10, 2, b"jk", 2, 0, &mut out);
        r.peer_ack(12, &mut out);
        assert_eq!(gaps, 7);
        assert_eq!(data, b"abjk");
    }
}
