//! IP fragment reassembly, the way tshark 4.0.17 does it by default for IPv4 and IPv6: pieces
//! are kept per datagram, keyed like tshark's tables: IPv4 by (source, destination,
//! identification, protocol, VLAN id), IPv6 by (source, destination, identification) — so an
//! IPv6 datagram is reassembled across VLANs and capture interfaces, an IPv4 one not across
//! VLANs (checked with tshark on `tests/corpus/fmt/multi-if-tsresol.pcapng`). The datagram is handed up in the frame whose piece completes it (the last piece seen
//! and no hole from 0 to its end).
//!
//! Memory is bounded: at most [`MAX_PENDING`] datagrams and [`MAX_PENDING_BYTES`] bytes wait
//! for their missing pieces; past either cap, or [`MAX_AGE_NS`] of capture time after its first
//! piece, the oldest datagram is dropped (tshark never drops, so a datagram whose pieces span
//! more than that is not reassembled here). A completed datagram leaves the table at once; its
//! bytes live in one buffer reused for every datagram, so unfragmented traffic never reaches
//! this module and fragmented traffic allocates only for pieces still waiting.

use keepsight_wire::Fragment;
use std::collections::HashMap;

/// Datagrams waiting for pieces, at most.
pub const MAX_PENDING: usize = 1024;
/// Bytes held in waiting pieces, at most.
pub const MAX_PENDING_BYTES: usize = 8 << 20;
/// Capture time after a datagram's first piece when it is given up (Linux's default
/// `ipfrag_time` is 30 s; this is looser so that a slow capture still reassembles).
pub const MAX_AGE_NS: i64 = 120_000_000_000;
/// Largest datagram payload an IP header can describe (IPv6 offset + length), bounding a piece.
const MAX_DATAGRAM: u32 = 65_535 + 8;

/// Which datagram a piece belongs to, as tshark's reassembly tables key it. IPv6 leaves
/// `protocol` and `vlan` at 0, so its datagrams are joined across VLANs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct DatagramKey {
    ipv6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    identification: u32,
    protocol: u8,
    vlan: u16,
}

/// One fragment as it arrived, kept until its datagram is complete.
struct Piece {
    frame: u32,
    /// Byte offset of `data` in the datagram's payload.
    offset: u32,
    data: Vec<u8>,
}

struct Pending {
    first_ts: i64,
    /// In arrival order.
    pieces: Vec<Piece>,
    /// Length of the datagram payload, once the piece without "more fragments" has come.
    total: Option<u32>,
    bytes: usize,
}

/// What the frame that completes a datagram gets.
#[derive(Clone, Copy, Debug)]
pub struct Reassembled<'a> {
    /// IPv4 protocol or IPv6 next header of the datagram.
    pub proto: u8,
    /// The datagram's payload (the transport header and what follows).
    pub data: &'a [u8],
    /// The frames whose pieces made it, in offset order (`ip.fragment`/`ipv6.fragment`),
    /// without pieces whose overlap conflicts with bytes already placed (tshark lists those
    /// apart).
    pub frames: &'a [u32],
    /// For each of `frames`: where its piece starts in the datagram and how many bytes it
    /// brought (tshark's `[Frame: N, payload: A-B (L bytes)]`).
    pub spans: &'a [(u32, u32)],
    /// Pieces, duplicates and overlaps included (`ip.fragment.count`).
    pub count: u32,
    /// Pieces overlapping earlier ones (`ip.fragment.overlap`), and of those, pieces whose
    /// overlapping bytes differ (`ip.fragment.overlap.conflict`).
    pub overlaps: u32,
    /// Of the overlapping pieces, those whose bytes disagree with what was already placed:
    /// a sign of an evasion attempt or a broken middlebox.
    pub conflicts: u32,
}

#[derive(Default)]
pub(crate) struct Reassembler {
    table: HashMap<DatagramKey, Pending>,
    bytes: usize,
    /// The last completed datagram, reused.
    buf: Vec<u8>,
    frames: Vec<u32>,
    spans: Vec<(u32, u32)>,
    proto: u8,
    count: u32,
    overlaps: u32,
    conflicts: u32,
}

impl Reassembler {
    /// Adds one piece seen in `frame` at capture time `ts_ns`. True when it completes its
    /// datagram; [`Reassembler::last`] then has it until the next call.
    pub(crate) fn add(&mut self, frame: u32, ts_ns: i64, f: &Fragment<'_>) -> bool {
        // A piece cut by the snap length cannot be used: tshark does not reassemble either.
        if f.data.len() < f.reported_len as usize || f.offset + f.reported_len > MAX_DATAGRAM {
            return false;
        }
        self.expire(ts_ns);
        let key = DatagramKey {
            ipv6: f.ipv6,
            src: f.src,
            dst: f.dst,
            identification: f.id,
            protocol: if f.ipv6 { 0 } else { f.proto },
            vlan: if f.ipv6 { 0 } else { f.vlan },
        };
        let p = self.table.entry(key).or_insert_with(|| Pending {
            first_ts: ts_ns,
            pieces: Vec::new(),
            total: None,
            bytes: 0,
        });
        p.pieces.push(Piece {
            frame,
            offset: f.offset,
            data: f.data.to_vec(),
        });
        p.bytes += f.data.len();
        self.bytes += f.data.len();
        if !f.more {
            p.total = Some(f.offset + f.data.len() as u32);
        }
        let done = match p.total {
            Some(total) => {
                // Overlaps resolve as in tshark: pieces in offset order (ties in arrival
                // order), each contributing only the bytes past what is already there.
                let mut order: Vec<usize> = (0..p.pieces.len()).collect();
                order.sort_by_key(|&i| p.pieces[i].offset);
                let mut covered = 0u32;
                for &i in &order {
                    let piece = &p.pieces[i];
                    if piece.offset > covered {
                        break;
                    }
                    covered = covered.max(piece.offset + piece.data.len() as u32);
                }
                if covered >= total {
                    self.buf.clear();
                    self.buf.resize(total as usize, 0);
                    self.frames.clear();
                    self.spans.clear();
                    let mut pos = 0usize;
                    self.overlaps = 0;
                    self.conflicts = 0;
                    for &i in &order {
                        let Piece {
                            frame: fr,
                            offset: off,
                            ref data,
                        } = p.pieces[i];
                        let off = off as usize;
                        let end = (off + data.len()).min(total as usize);
                        let mut conflict = false;
                        if off < pos {
                            // tshark flags a piece that overlaps bytes already placed, and a
                            // conflict when those bytes differ; it then leaves a conflicting
                            // piece out of its `ip.fragment` list (still counting it).
                            self.overlaps += 1;
                            let same = pos.min(end);
                            conflict = self.buf[off..same] != data[..same - off];
                            self.conflicts += conflict as u32;
                        }
                        if end > pos {
                            self.buf[pos..end].copy_from_slice(&data[pos - off..end - off]);
                            pos = end;
                        }
                        if !conflict {
                            self.frames.push(fr);
                            self.spans.push((off as u32, data.len() as u32));
                        }
                    }
                    self.count = order.len() as u32;
                    self.proto = f.proto;
                    true
                } else {
                    false
                }
            }
            None => false,
        };
        if done {
            if let Some(p) = self.table.remove(&key) {
                self.bytes -= p.bytes;
            }
        }
        while self.table.len() > MAX_PENDING || self.bytes > MAX_PENDING_BYTES {
            if !self.drop_oldest() {
                break;
            }
        }
        done
    }

    /// The datagram completed by the last successful [`Reassembler::add`].
    pub(crate) fn last(&self) -> Reassembled<'_> {
        Reassembled {
            proto: self.proto,
            data: &self.buf,
            frames: &self.frames,
            spans: &self.spans,
            count: self.count,
            overlaps: self.overlaps,
            conflicts: self.conflicts,
        }
    }

    /// Datagrams waiting for pieces.
    pub(crate) fn pending(&self) -> usize {
        self.table.len()
    }

    fn expire(&mut self, now: i64) {
        if self.table.is_empty() {
            return;
        }
        let before = self.table.len();
        let mut freed = 0;
        self.table.retain(|_, p| {
            let keep = now.saturating_sub(p.first_ts) <= MAX_AGE_NS;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        if self.table.len() != before {
            self.bytes -= freed;
        }
    }

    fn drop_oldest(&mut self) -> bool {
        let Some(key) = self
            .table
            .iter()
            .min_by_key(|(_, p)| (p.first_ts, p.pieces.first().map_or(0, |x| x.frame)))
            .map(|(k, _)| *k)
        else {
            return false;
        };
        if let Some(p) = self.table.remove(&key) {
            self.bytes -= p.bytes;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(id: u32, offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            ipv6: false,
            src: [1; 16],
            dst: [2; 16],
            id,
            proto: 17,
            offset,
            more,
            data,
            reported_len: data.len() as u32,
            vlan: 0,
        }
    }

    #[test]
    fn out_of_order_overlapping_and_missing_pieces() {
        let mut r = Reassembler::default();
        // Last piece first, then the first: a hole remains until the middle comes.
        assert!(!r.add(1, 0, &piece(7, 16, false, b"QRSTUVWX")));
        assert!(!r.add(2, 0, &piece(7, 0, true, b"abcdefgh")));
        assert_eq!(r.pending(), 1);
        // The middle overlaps the first piece: the first one's bytes stay.
        assert!(r.add(3, 0, &piece(7, 4, true, b"zzzzIJKLMNOP")));
        let d = r.last();
        assert_eq!(d.data, b"abcdefghIJKLMNOPQRSTUVWX");
        assert_eq!(d.frames, &[2, 1]);
        assert_eq!((d.count, d.overlaps, d.conflicts), (3, 1, 1));
        assert_eq!(r.pending(), 0);
        // A datagram whose last piece never comes stays pending, then is dropped by age.
        assert!(!r.add(4, 0, &piece(8, 0, true, b"abcdefgh")));
        assert!(!r.add(5, MAX_AGE_NS + 1, &piece(9, 0, true, b"abcdefgh")));
        assert_eq!(r.pending(), 1);
        assert_eq!(r.bytes, 8);
    }

    #[test]
    fn pending_datagrams_are_capped() {
        let mut r = Reassembler::default();
        let data = [0u8; 8];
        for id in 0..(MAX_PENDING as u32 + 10) {
            assert!(!r.add(id + 1, 0, &piece(id, 0, true, &data)));
        }
        assert_eq!(r.pending(), MAX_PENDING);
        assert_eq!(r.bytes, MAX_PENDING * 8);
    }
}
