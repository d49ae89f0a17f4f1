//! Streams of one segment: most streams of a SYN flood or a scan never get a second one. An
//! analysis that keeps per-stream state can keep such a stream as that segment (56 bytes)
//! instead ([`FirstSegments`]), and build the state by feeding it the segment again when a
//! second one comes or at the end: the same result as keeping the full state all along.

use crate::analysis::AnalysisFlags;
use crate::segment::Segment;
use keepsight_wire::TcpFlags;
use std::net::{IpAddr, SocketAddr};

/// Two addresses in 16 bytes (two `SocketAddr`s take 64): IPv4 inline, IPv6 (rarer) boxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointPair {
    /// Two IPv4 endpoints.
    #[allow(missing_docs)]
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        src_port: u16,
        dst_port: u16,
    },
    /// Any other pair.
    V6(Box<[SocketAddr; 2]>),
}

impl EndpointPair {
    /// The pair `[src, dst]`.
    pub fn of(src: SocketAddr, dst: SocketAddr) -> EndpointPair {
        match (src, dst) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => EndpointPair::V4 {
                src: s.ip().octets(),
                dst: d.ip().octets(),
                src_port: s.port(),
                dst_port: d.port(),
            },
            _ => EndpointPair::V6(Box::new([src, dst])),
        }
    }

    /// `[src, dst]` as given to [`EndpointPair::of`].
    pub fn get(&self) -> [SocketAddr; 2] {
        match self {
            EndpointPair::V4 {
                src,
                dst,
                src_port,
                dst_port,
            } => [
                SocketAddr::new(IpAddr::from(*src), *src_port),
                SocketAddr::new(IpAddr::from(*dst), *dst_port),
            ],
            EndpointPair::V6(b) => **b,
        }
    }
}

/// A stream's only segment so far, without payload (it has none).
#[derive(Debug, Clone)]
pub struct FirstSegment {
    stream: u32,
    frame: u32,
    ts_ns: i64,
    ends: EndpointPair,
    seq: u32,
    ack: u32,
    window: u32,
    analysis: AnalysisFlags,
    flags: TcpFlags,
    ttl: u8,
}

impl FirstSegment {
    /// Whether `seg` can be kept this way as its stream's first segment: nothing in it but
    /// header values (no payload, no FIN or RST, which end the stream).
    pub fn fits(seg: &Segment<'_>) -> bool {
        seg.len == 0 && seg.payload.is_empty() && !seg.flags.fin() && !seg.flags.rst()
    }

    fn new(seg: &Segment<'_>) -> FirstSegment {
        FirstSegment {
            stream: seg.stream,
            frame: seg.frame,
            ts_ns: seg.ts_ns,
            ends: EndpointPair::of(seg.src, seg.dst),
            seq: seg.seq,
            ack: seg.ack,
            window: seg.window,
            analysis: seg.analysis,
            flags: seg.flags,
            ttl: seg.ttl,
        }
    }

    /// The segment again (its payload was empty).
    pub fn segment(&self) -> Segment<'static> {
        let [src, dst] = self.ends.get();
        Segment {
            frame: self.frame,
            ts_ns: self.ts_ns,
            stream: self.stream,
            src,
            dst,
            flags: self.flags,
            seq: self.seq,
            ack: self.ack,
            len: 0,
            payload: &[],
            window: self.window,
            ttl: self.ttl,
            analysis: self.analysis,
        }
    }
}

/// The one-segment streams, in stream order (a stream's first segment comes in the order the
/// tracker numbers streams); `None` once a second segment made one a full stream.
#[derive(Default)]
pub struct FirstSegments {
    items: Vec<Option<FirstSegment>>,
    /// Stream numbers of `items`, for the binary search.
    streams: Vec<u32>,
}

impl FirstSegments {
    /// Keeps `seg` as a new stream's only segment, unless its number is out of order (then the
    /// caller keeps the stream in full).
    pub fn push(&mut self, seg: &Segment<'_>) -> bool {
        if self.streams.last().is_some_and(|&l| l >= seg.stream) {
            return false;
        }
        self.streams.push(seg.stream);
        self.items.push(Some(FirstSegment::new(seg)));
        true
    }

    /// Takes the stream's one segment, if it is kept here.
    pub fn take(&mut self, stream: u32) -> Option<FirstSegment> {
        if self.streams.last().is_none_or(|&l| l < stream) {
            return None;
        }
        let i = self.streams.binary_search(&stream).ok()?;
        self.items[i].take()
    }

    /// Every stream still of one segment, in stream order, left in place.
    pub fn iter(&self) -> impl Iterator<Item = &FirstSegment> + '_ {
        self.items.iter().flatten()
    }

    /// Takes out, in stream order, the kept segments `expired` accepts, and forgets the
    /// streams that grew past one segment: a caller that runs for days (`keepsight watch`)
    /// keeps the list as short as the one-segment streams still of interest. Walks the list.
    pub fn take_expired(
        &mut self,
        mut expired: impl FnMut(&FirstSegment) -> bool,
    ) -> Vec<FirstSegment> {
        let mut out = Vec::new();
        let mut kept = 0;
        for i in 0..self.items.len() {
            match self.items[i].take() {
                None => {}
                Some(f) if expired(&f) => out.push(f),
                Some(f) => {
                    self.items[kept] = Some(f);
                    self.streams[kept] = self.streams[i];
                    kept += 1;
                }
            }
        }
        self.items.truncate(kept);
        self.streams.truncate(kept);
        out
    }

    /// Every stream still of one segment, in stream order.
    pub fn drain(&mut self) -> impl Iterator<Item = FirstSegment> + '_ {
        self.streams = Vec::new();
        self.items.drain(..).flatten()
    }
}

/// What an analysis that keeps one-segment streams ([`FirstSegments`]) did with a segment, so
/// that analyses fed the same segments after it can leave those streams to it instead of
/// keeping a second copy of each (a SYN flood's million one-segment streams).
#[derive(Debug, Clone)]
pub enum Held {
    /// The segment is its stream's first, kept as the stream: nothing to do with it yet.
    Kept,
    /// The segment is its stream's second: the first, given back, comes before it.
    Replayed(FirstSegment),
    /// Any other segment: handled as usual.
    Fed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnalysisFlags;
    use keepsight_wire::TcpFlags;

    fn syn(stream: u32, ts_ns: i64) -> Segment<'static> {
        Segment {
            frame: stream + 1,
            ts_ns,
            stream,
            src: "10.0.0.2:40000".parse().unwrap(),
            dst: "10.0.0.1:80".parse().unwrap(),
            flags: TcpFlags(TcpFlags::SYN),
            seq: 0,
            ack: 0,
            len: 0,
            payload: &[],
            window: 64240,
            ttl: 64,
            analysis: AnalysisFlags(0),
        }
    }

    #[test]
    fn take_expired_keeps_order_and_forgets_grown_streams() {
        let mut f = FirstSegments::default();
        for s in 0..6 {
            assert!(f.push(&syn(s, i64::from(s) * 10)));
        }
        // Streams 1 and 4 got a second segment.
        assert!(f.take(1).is_some() && f.take(4).is_some());
        let expired: Vec<u32> = f
            .take_expired(|s| s.segment().ts_ns < 25)
            .iter()
            .map(|s| s.segment().stream)
            .collect();
        assert_eq!(expired, [0, 2]);
        let left: Vec<u32> = f.iter().map(|s| s.segment().stream).collect();
        assert_eq!(left, [3, 5]);
        assert_eq!((f.items.len(), f.streams.len()), (2, 2));
        // Still found by number, and new streams still come after.
        assert!(f.take(5).is_some());
        assert!(f.push(&syn(9, 90)));
    }
}
