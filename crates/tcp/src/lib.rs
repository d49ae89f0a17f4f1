//! TCP stream tracking and analysis, with tshark 4.0.17's rules.
//!
//! [`Tracker::process`] takes one TCP segment at a time, in file order, and returns what
//! Wireshark would show for it: the `tcp.stream` index (0-based, in order of first appearance,
//! a new index when a SYN with a new initial sequence number reuses the ports), relative
//! sequence numbers, per-stream times, and the `tcp.analysis.*` flags (keep-alive, keep-alive
//! ACK, retransmission, fast and spurious retransmission, out-of-order, lost segment, ACKed
//! unseen segment, duplicate ACK, zero window and its probes, window update/full, reused ports)
//! with tshark's precedence. The rules are those of Wireshark's `packet-tcp.c` as shipped in
//! 4.0.x, checked frame by frame against tshark 4.0.17 by the differential tests.
//!
//! Memory is bounded by the number of connections and, per connection, by the unacknowledged
//! segment list (capped as Wireshark caps it); nothing is kept per packet. A stream of one
//! segment (a SYN flood's, a scan's) is kept as that segment, ~40 bytes, and analysed in full
//! only when a second comes; a stream whose ports a later stream reuses can get no more
//! segments and is dropped. [`FirstSegments`] lets the analyses downstream do the same.
//!
//! It also owns [`Segment`], a TCP segment as the analyses downstream see it (header values,
//! payload, tracker results), so every consumer reads the same view.
//!
//! What this crate is not: it does not parse packets (it takes already-extracted header
//! values, [`SegmentHeader`]) and it does not reassemble payloads.

mod analysis;
mod segment;
mod single;
mod tracker;

pub use analysis::{flag, AnalysisFlags};
pub use keepsight_wire::TcpFlags;
pub use segment::Segment;
pub use single::{EndpointPair, FirstSegment, FirstSegments, Held};
pub use tracker::{Addr, ConnectionEvent, SegmentHeader, TcpInfo, Tracker};
