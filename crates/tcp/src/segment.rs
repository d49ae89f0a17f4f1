//! A TCP segment as the analyses see it: the header values, the payload and what the tracker
//! concluded about it, in one borrowed view.
//!
//! The capture engine builds one per TCP frame (`Frame::segment`) without copying the payload;
//! the analyses (`keepsight-diagnose`, `keepsight-http`) take it by reference, and their tests
//! build it by hand.

use crate::AnalysisFlags;
use keepsight_wire::TcpFlags;
use std::net::SocketAddr;

/// One tracked TCP segment, borrowing its payload from the capture record.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Frame number, from 1.
    pub frame: u32,
    /// Absolute capture time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// `tcp.stream`, as tshark numbers it (port reuse already split into separate streams).
    pub stream: u32,
    /// Sender's address and port.
    pub src: SocketAddr,
    /// Receiver's address and port.
    pub dst: SocketAddr,
    /// The header's flags.
    pub flags: TcpFlags,
    /// Relative sequence number (`tcp.seq`).
    pub seq: u32,
    /// Relative acknowledgement number (`tcp.ack`; the raw field when ACK is not set).
    pub ack: u32,
    /// `tcp.len`, from the IP length; `payload` may be shorter when the snap length cut it.
    pub len: u32,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Receive window scaled by the sender's shift when known (`tcp.window_size`).
    pub window: u32,
    /// IPv4 TTL or IPv6 hop limit (0 when the frame has neither).
    pub ttl: u8,
    /// tshark's `tcp.analysis.*` flags for this segment.
    pub analysis: AnalysisFlags,
}
