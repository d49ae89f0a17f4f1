//! One direction of a TLS stream: cuts the in-order TCP payload into records, whatever the
//! segment boundaries. Records wholly inside a segment are handed out as slices of it; only a
//! record split across segments is copied (once, up to [`MAX_RECORD_LEN`] bytes), so memory
//! per direction is bounded by one record.

use crate::record::{header_ok, Record, HEADER_LEN, MAX_RECORD_LEN};
use std::ops::Range;

/// What one segment did to the record stream, as tshark's TCP reassembly shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentRole {
    /// It completed at least one record.
    Records,
    /// It started a record that later segments continue, and completed none: tshark's
    /// "[TCP segment of a reassembled PDU]" with the TLS layer called.
    Starts,
    /// It only continued a record begun earlier: TCP alone, with the reassembly note.
    Continues,
    /// The direction is not a record stream any more (data lost, or bytes that are no record):
    /// nothing is dissected.
    Lost,
}

/// The records one segment completed: an assembled record (begun in an earlier segment) held
/// by the [`Direction`], then whole records in the segment's own payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// A record completed from earlier segments (read it with [`Direction::assembled`]).
    pub assembled: bool,
    /// The whole records that start in this payload, as a range of it.
    pub whole: Range<usize>,
    /// Bytes of the payload after the assembled record (whole records and a new partial one).
    pub after_assembled: bool,
    /// How tshark would show the segment.
    pub role: SegmentRole,
}

impl Pushed {
    /// The completed records in order: the assembled one (from `dir`), then those in
    /// `payload`.
    pub fn records<'a>(
        &self,
        dir: &'a Direction,
        payload: &'a [u8],
    ) -> impl Iterator<Item = Record<'a>> {
        let first = if self.assembled {
            Record::split(&dir.done).map(|(r, _)| r)
        } else {
            None
        };
        first
            .into_iter()
            .chain(Record::all(&payload[self.whole.clone()]))
    }
}

/// The record reassembler of one direction.
#[derive(Clone, Debug, Default)]
pub struct Direction {
    /// The sequence number expected next (`None` before the first payload).
    next_seq: Option<u32>,
    /// The begun record's bytes so far.
    partial: Vec<u8>,
    /// The record the last segment completed from `partial`.
    done: Vec<u8>,
    lost: bool,
    /// The first bytes where a record header should have been, when that is what ended the
    /// record stream (not a gap).
    bad_header: Option<[u8; HEADER_LEN]>,
}

impl Direction {
    /// A direction whose first payload is at `seq`.
    pub fn new() -> Direction {
        Direction::default()
    }

    /// The record completed from earlier segments by the last [`Direction::push`] that
    /// reported `assembled`.
    pub fn assembled(&self) -> Option<Record<'_>> {
        Record::split(&self.done).map(|(r, _)| r)
    }

    /// Frees the buffers once the direction has ended (its FIN, or a reset): a record begun
    /// and not finished by then never will be. Later segments (retransmissions) are
    /// skipped as data already taken.
    pub fn release(&mut self) {
        self.partial = Vec::new();
        self.done = Vec::new();
    }

    /// True once the direction stopped being a record stream.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// The five bytes found where a record header should have been, when bytes that are no
    /// record (not missing data) ended the record stream: an unknown content type or version,
    /// or a length beyond what TLS allows.
    pub fn bad_header(&self) -> Option<[u8; HEADER_LEN]> {
        self.bad_header
    }

    /// Bytes of a record begun and not finished.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// The whole length (header included) of the record begun and not finished, once its
    /// header is in; 0 otherwise.
    pub fn pending_record_len(&self) -> usize {
        match self.partial.get(3..HEADER_LEN) {
            Some(l) => HEADER_LEN + usize::from(u16::from_be_bytes([l[0], l[1]])),
            None => 0,
        }
    }

    /// Feeds the payload of one segment at raw sequence number `seq`. Data already seen is
    /// skipped; a gap (lost or uncaptured data) or bytes that are no record header end the
    /// record stream of this direction, since record boundaries cannot be found again
    /// without keys.
    pub fn push(&mut self, seq: u32, payload: &[u8]) -> Pushed {
        let lost = Pushed {
            assembled: false,
            whole: 0..0,
            after_assembled: false,
            role: SegmentRole::Lost,
        };
        if self.lost {
            return lost;
        }
        let skip = match self.next_seq {
            None => 0,
            Some(n) => {
                let ahead = seq.wrapping_sub(n) as i32;
                if ahead > 0 {
                    self.lose();
                    return lost;
                }
                (-(ahead as i64)) as usize
            }
        };
        if skip >= payload.len() {
            // A retransmission of bytes already taken.
            return Pushed {
                role: SegmentRole::Continues,
                ..lost
            };
        }
        let data = &payload[skip..];
        self.next_seq = Some(seq.wrapping_add(payload.len() as u32));
        let mut at = 0;
        let mut assembled = false;
        let started_fresh = self.partial.is_empty();
        // Complete the begun record: its header first, then as much body as it says.
        while !self.partial.is_empty() {
            let take = self.need().min(data.len() - at);
            self.partial.extend_from_slice(&data[at..at + take]);
            at += take;
            if self.partial.len() >= HEADER_LEN && !header_ok(&self.partial) {
                let header = self.partial[..HEADER_LEN].try_into().ok();
                self.lose();
                self.bad_header = header;
                return lost;
            }
            if self.need() == 0 {
                std::mem::swap(&mut self.partial, &mut self.done);
                self.partial.clear();
                assembled = true;
            } else if at == data.len() {
                return Pushed {
                    role: SegmentRole::Continues,
                    ..lost
                };
            }
        }
        let start = at;
        let mut b = &data[at..];
        while let Some((r, rest)) = Record::split(b) {
            at += r.bytes().len();
            b = rest;
        }
        let whole = (skip + start)..(skip + at);
        if !b.is_empty() {
            if b.len() >= HEADER_LEN && !header_ok(b) {
                // Lost after this push, but the record it assembled stays readable through
                // `Pushed::records` (emptying `done` here dropped it: found by the
                // tls_records fuzz target, a record missing only when split across segments).
                self.lost = true;
                self.partial = Vec::new();
                self.bad_header = b[..HEADER_LEN].try_into().ok();
                return Pushed {
                    assembled,
                    whole,
                    after_assembled: assembled,
                    role: if assembled || start != at {
                        SegmentRole::Records
                    } else {
                        SegmentRole::Lost
                    },
                };
            }
            self.partial.extend_from_slice(b);
        }
        let complete = assembled || start != at;
        Pushed {
            assembled,
            whole,
            after_assembled: assembled && start < data.len(),
            role: if complete {
                SegmentRole::Records
            } else if started_fresh {
                SegmentRole::Starts
            } else {
                SegmentRole::Continues
            },
        }
    }

    /// Bytes still missing from the begun record (header first).
    fn need(&self) -> usize {
        let p = &self.partial;
        if p.len() < HEADER_LEN {
            return HEADER_LEN - p.len();
        }
        let len = HEADER_LEN + usize::from(u16::from_be_bytes([p[3], p[4]]));
        debug_assert!(len <= HEADER_LEN + MAX_RECORD_LEN);
        len.saturating_sub(p.len())
    }

    fn lose(&mut self) {
        self.lost = true;
        self.partial = Vec::new();
        self.done = Vec::new();
    }
}

/// What is wrong with `h`, five bytes where a record header should have been that
/// [`header_ok`] refused: a length beyond [`MAX_RECORD_LEN`], or no record header at all.
pub fn bad_header_reason(h: &[u8; HEADER_LEN]) -> String {
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    if (20..=24).contains(&h[0]) && h[1] == 3 && h[2] <= 4 {
        return format!(
            "a record header claims {len} bytes, more than TLS allows ({MAX_RECORD_LEN})"
        );
    }
    let hex: Vec<String> = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("bytes that are no TLS record header ({})", hex.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Vec<u8> {
        let mut s = vec![22, 3, 3, 0, 4, 2, 0, 0, 0];
        s.extend([20, 3, 3, 0, 1, 1]);
        s.extend([23, 3, 3, 0, 30]);
        s.extend([7u8; 30]);
        s.extend([21, 3, 3, 0, 2, 1, 0]);
        s
    }

    fn lengths(cuts: &[usize]) -> (Vec<u16>, Vec<SegmentRole>) {
        let s = stream();
        let mut d = Direction::new();
        let mut got = Vec::new();
        let mut roles = Vec::new();
        let mut prev = 0;
        for &c in cuts.iter().chain([s.len()].iter()) {
            let seg = &s[prev..c];
            let p = d.push(1000 + prev as u32, seg);
            got.extend(p.records(&d, seg).map(|r| r.length()));
            roles.push(p.role);
            prev = c;
        }
        (got, roles)
    }

    #[test]
    fn same_records_whatever_the_segment_boundaries() {
        let want = vec![4, 1, 30, 2];
        let s = stream();
        for a in 1..s.len() {
            for b in a..s.len() {
                assert_eq!(lengths(&[a, b]).0, want, "cut at {a}, {b}");
            }
        }
        let every_byte: Vec<usize> = (1..s.len()).collect();
        assert_eq!(lengths(&every_byte).0, want);
    }

    #[test]
    fn roles_follow_tsharks_reassembly() {
        // 9 + 6 = 15 bytes: two records; then 3 bytes of the 35-byte record (starts), 20
        // bytes (continues), the rest with the alert (records).
        let (_, roles) = lengths(&[15, 18, 38]);
        assert_eq!(
            roles,
            vec![
                SegmentRole::Records,
                SegmentRole::Starts,
                SegmentRole::Continues,
                SegmentRole::Records
            ]
        );
    }

    #[test]
    fn a_gap_or_garbage_ends_the_record_stream() {
        let s = stream();
        let mut d = Direction::new();
        d.push(0, &s[..10]);
        assert_eq!(d.push(20, &s[20..]).role, SegmentRole::Lost);
        assert_eq!(d.bad_header(), None, "a gap is no bad header");
        let mut d = Direction::new();
        d.push(0, &s[..3]);
        assert_eq!(d.push(3, b"HTTP/1.1 200").role, SegmentRole::Lost);
        assert!(d.is_lost());
        // Its header's length is "HT": 18,516 bytes, more than TLS allows.
        assert_eq!(d.bad_header(), Some([22, 3, 3, b'H', b'T']));
        assert!(bad_header_reason(&[22, 3, 3, b'H', b'T']).contains("18516 bytes"));
        let mut d = Direction::new();
        d.push(0, &s[..15]);
        assert_eq!(d.push(15, b"GET / HTTP/1.1").role, SegmentRole::Lost);
        assert_eq!(d.bad_header(), Some(*b"GET /"));
        assert_eq!(
            bad_header_reason(b"GET /"),
            "bytes that are no TLS record header (47 45 54 20 2f)"
        );
    }

    #[test]
    fn a_released_direction_holds_nothing_and_skips_old_bytes() {
        let s = stream();
        let mut d = Direction::new();
        d.push(0, &s[..20]);
        assert!(d.pending() > 0);
        d.release();
        assert_eq!((d.pending(), d.pending_record_len()), (0, 0));
        assert_eq!(d.push(0, &s[..20]).role, SegmentRole::Continues);
    }

    #[test]
    fn retransmitted_bytes_are_taken_once() {
        let s = stream();
        let mut d = Direction::new();
        let p = d.push(0, &s[..12]);
        assert_eq!(p.records(&d, &s[..12]).count(), 1);
        let p = d.push(0, &s[..20]);
        assert_eq!(
            p.records(&d, &s[..20]).count(),
            1,
            "the CCS completes, once"
        );
        let p = d.push(0, &s[..20]);
        assert_eq!(p.records(&d, &s[..20]).count(), 0);
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use crate::record::{Hello, Record};
    use crate::session::Session;

    /// Hostile input: a valid-looking handshake start, then random bytes in random pieces,
    /// with lying lengths, repeats and gaps. Nothing panics, memory stays within one record.
    #[test]
    fn random_bytes_in_random_pieces_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let mut bytes = vec![22, 3, 1, 0, 40, 1];
            let n = (next() % 3000) as usize;
            bytes.extend((0..n).map(|_| {
                // Mostly plausible record headers' bytes, so records do get parsed.
                match next() % 4 {
                    0 => 22 + (next() % 3) as u8,
                    1 => 3,
                    _ => next() as u8,
                }
            }));
            let mut d = Direction::new();
            let mut s = Session::default();
            let mut seq = 0u32;
            let mut at = 0;
            while at < bytes.len() {
                let take = 1 + (next() % 200) as usize;
                let end = (at + take).min(bytes.len());
                // Now and then resend old bytes or skip ahead.
                let (start, s_seq) = match next() % 10 {
                    0 => (
                        at.saturating_sub(5),
                        seq.wrapping_sub((at - at.saturating_sub(5)) as u32),
                    ),
                    1 => (at, seq.wrapping_add(3)),
                    _ => (at, seq),
                };
                let seg = &bytes[start..end];
                let p = d.push(s_seq, seg);
                for r in p.records(&d, seg) {
                    let ctx = s.observe(0, &r);
                    let _ = (ctx, r.alert(), r.handshakes().count());
                    for h in r.handshakes() {
                        if let Some(hello) = Hello::parse(h.body, h.msg_type == 1) {
                            let _ = hello.server_names().count() + hello.alpn().count();
                            let _ = hello.supported_versions().count() + hello.suites().count();
                        }
                    }
                }
                assert!(d.pending() <= crate::record::HEADER_LEN + crate::record::MAX_RECORD_LEN);
                seq = seq.wrapping_add((end - at) as u32);
                at = end;
            }
            let _ = Record::all(&bytes).count();
        }
    }
}
