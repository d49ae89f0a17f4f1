//! Turns an engine frame into the segment `keepsight-diagnose` consumes.
//!
//! Shared by `keepsight diagnose` and the views that show the diagnosis (heartbeat period,
//! findings), so the mapping from frames to segments exists once.

use keepsight_diagnose::Segment;
use keepsight_engine::Frame;

/// The diagnosis segment for a TCP frame, `None` for anything else.
pub fn diagnose_segment<'a>(frame: &Frame<'a>) -> Option<Segment<'a>> {
    let tcp = frame.tcp.as_ref()?;
    let (src, dst) = frame.endpoints()?;
    let h = frame.tcp_header()?;
    Some(Segment {
        frame: frame.number,
        ts_ns: frame.ts_ns,
        stream: tcp.stream,
        src,
        dst,
        flags: h.flags().0,
        seq: tcp.seq,
        ack: tcp.ack,
        len: frame.tcp_len().unwrap_or(0),
        payload: frame.tcp_payload(),
        window: tcp.window_size,
        ttl: frame.ttl().unwrap_or(0),
        analysis: tcp.flags.0,
    })
}
