//! Turns an engine frame into the segments `keepsight-diagnose` and `keepsight-http` consume.
//!
//! Shared by the analysis commands and the views that show the diagnosis (heartbeat period,
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

/// The HTTP analyzer's view of a TCP frame, `None` for anything else.
pub fn http_segment<'a>(frame: &'a Frame<'a>) -> Option<keepsight_http::Segment<'a>> {
    let tcp = frame.tcp.as_ref()?;
    let (src, dst) = frame.endpoints()?;
    let h = frame.tcp_header()?;
    Some(keepsight_http::Segment {
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
        keep_alive: tcp.flags.0 & keepsight_engine::tcp::flag::KEEP_ALIVE != 0,
    })
}
