//! One TCP conversation built from the input ([`crate::input::SegmentSpec`]: who sends, what,
//! when, FIN/RST, capture gaps) and handed, as the engine would, to the HTTP/1 analysis and to
//! diagnose (heartbeats, TLS records, HTTP/2, the application protocols, close causes). Both
//! must finish and render their text and JSON; HTTP/1 must not report more messages than
//! the bytes could hold.

use crate::input::SegmentSpec;
use keepsight_tcp::{AnalysisFlags, Segment};
use keepsight_wire::TcpFlags;
use std::net::SocketAddr;

const START_NS: i64 = 1_700_000_000_000_000_000;

/// Feeds every segment of the conversation in `data` to `each`, with a handshake first.
fn conversation(data: &[u8], mut each: impl FnMut(&Segment<'_>)) -> i64 {
    let client: SocketAddr = "10.0.0.1:40000".parse().expect("address");
    let server: SocketAddr = "10.0.0.2:80".parse().expect("address");
    let mut frame = 0u32;
    let mut ts = START_NS;
    // Next relative sequence number of each side (client, server).
    let mut next = [0u32; 2];
    let mut emit = |from_server: bool, flags: u16, payload: &[u8], ts: i64, next: &mut [u32; 2]| {
        frame += 1;
        let (src, dst, me) = if from_server {
            (server, client, 1)
        } else {
            (client, server, 0)
        };
        let seg = Segment {
            frame,
            ts_ns: ts,
            stream: 0,
            src,
            dst,
            flags: TcpFlags(flags),
            seq: next[me],
            ack: next[1 - me],
            len: payload.len() as u32,
            payload,
            window: 65_535,
            ttl: 64,
            analysis: AnalysisFlags::default(),
        };
        each(&seg);
        let used = payload.len() as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        next[me] = next[me].wrapping_add(used);
    };
    emit(false, TcpFlags::SYN, &[], ts, &mut next);
    emit(
        true,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
        ts + 1_000,
        &mut next,
    );
    ts += 2_000;
    emit(false, TcpFlags::ACK, &[], ts, &mut next);
    for s in SegmentSpec::parse_all(data) {
        ts += 1_000_000 << s.step;
        let me = usize::from(s.from_server);
        if s.gap_before {
            next[me] = next[me].wrapping_add(1_000);
        }
        let mut flags = TcpFlags::ACK;
        if !s.payload.is_empty() {
            flags |= TcpFlags::PSH;
        }
        if s.fin {
            flags |= TcpFlags::FIN;
        }
        if s.rst {
            flags |= TcpFlags::RST;
        }
        emit(s.from_server, flags, s.payload, ts, &mut next);
    }
    ts
}

pub(super) fn http_exchange(data: &[u8]) {
    let mut analyzer = keepsight_http::Analyzer::new(keepsight_http::Options {
        keep_all_messages: true,
    });
    conversation(data, |s| analyzer.segment(s));
    let report = analyzer.finish();
    let text = keepsight_http::text::render_text(&report, "fuzz", true, 50);
    let json = serde_json::to_string(&keepsight_http::json::Document::new(&report))
        .expect("the HTTP report serializes");
    assert!(!text.is_empty() && json.starts_with('{'));
    // A request line is at least `GET / HTTP/1.1\r\n\r\n` long (18 bytes), a status line
    // `HTTP/1.1 200\r\n\r\n` (16): more messages than that would be invented.
    let bytes = data.len();
    let messages: usize = report.connections.iter().map(|c| c.messages.len()).sum();
    assert!(
        messages <= bytes / 16 + 1,
        "{messages} messages from {bytes} bytes"
    );
}

pub(super) fn diagnose_stream(data: &[u8]) {
    let mut d = keepsight_diagnose::Diagnoser::new(keepsight_diagnose::Options::default());
    let end = conversation(data, |s| {
        d.on_segment(s);
    });
    let report = d.finish(end);
    let text = report.render_text(20);
    let json = serde_json::to_string(&report).expect("the diagnosis serializes");
    assert!(!text.is_empty() && json.starts_with('{'));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_reaches_the_http_analysis() {
        let mut data = Vec::new();
        for (from_server, payload) in [
            (false, &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..]),
            (true, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
        ] {
            SegmentSpec {
                from_server,
                fin: false,
                rst: false,
                gap_before: false,
                step: 3,
                payload,
            }
            .write(&mut data);
        }
        let mut analyzer = keepsight_http::Analyzer::new(keepsight_http::Options {
            keep_all_messages: true,
        });
        conversation(&data, |s| analyzer.segment(s));
        let report = analyzer.finish();
        let messages: usize = report.connections.iter().map(|c| c.messages.len()).sum();
        assert_eq!(messages, 2);
    }
}
