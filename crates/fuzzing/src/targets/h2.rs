//! HTTP/2 (`keepsight-h2`): frames cut from one direction's bytes must be the same however the
//! bytes are split; each frame header re-encoded must give back the nine octets it was read
//! from (a second, independent writer of RFC 9113 §4.1); every frame's accessors and the
//! HPACK decoder run on every frame, with the header lists within their bounds.
//!
//! Layout: `[side]` then the bytes; bit 0 of `side` makes it the client's direction (the
//! connection preface first).

use crate::input::{piece_lengths, Reader};
use keepsight_h2::headers::{MAX_FIELDS, MAX_LIST_SIZE};
use keepsight_h2::{Direction, FrameHeader, HeaderBlocks, HeadersOutcome, Item};

/// RFC 9113 §4.1, written here from the RFC rather than from the parser.
fn encode(h: &FrameHeader) -> [u8; 9] {
    let len = h.length.to_be_bytes();
    let sid = (u32::from(h.reserved) << 31 | h.stream_id).to_be_bytes();
    [
        len[1], len[2], len[3], h.ty.0, h.flags, sid[0], sid[1], sid[2], sid[3],
    ]
}

/// One item as seen: `None` for the preface, else the frame's header, payload and truncation.
type Seen = Option<(FrameHeader, Vec<u8>, bool)>;

fn items(client: bool, stream: &[u8], lengths: &[usize]) -> (Vec<Seen>, bool) {
    let mut dir = if client {
        Direction::client()
    } else {
        Direction::server()
    };
    let mut out = Vec::new();
    let mut at = 0;
    for &n in lengths {
        dir.push(&stream[at..at + n], |item| {
            out.push(match item {
                Item::Magic => None,
                Item::Frame(f) => Some((f.header, f.payload.to_vec(), f.truncated())),
            })
        });
        at += n;
    }
    (out, dir.is_lost())
}

pub(super) fn h2_frames(data: &[u8]) {
    let mut r = Reader::new(data);
    let client = r.byte() & 1 != 0;
    let stream = r.rest();
    let whole = items(client, stream, &[stream.len()]);
    let split = items(client, stream, &piece_lengths(stream, stream.len()));
    assert_eq!(whole, split, "the frames depend on how the bytes are split");
    let mut blocks = HeaderBlocks::default();
    let mut at = 0usize;
    for seen in &whole.0 {
        let Some((header, payload, truncated)) = seen else {
            at += keepsight_h2::preface::CLIENT_PREFACE.len();
            continue;
        };
        let wire = &stream[at..at + 9];
        assert_eq!(
            encode(header),
            wire,
            "header re-encoded differs from the wire"
        );
        assert_eq!(FrameHeader::parse(wire).as_ref(), Some(header));
        let len = header.length as usize;
        assert!(payload.len() <= len, "more payload than the header says");
        assert_eq!(*truncated, payload.len() < len);
        if !truncated {
            assert_eq!(
                payload[..],
                stream[at + 9..at + 9 + len],
                "payload is not the wire's"
            );
        }
        at += 9 + len;
        let f = keepsight_h2::Frame {
            header: *header,
            payload,
        };
        let _ = f.pad_length();
        let _ = f.data();
        let _ = f.priority();
        let _ = f.header_block_fragment();
        let _ = f.promised_stream_id();
        let _ = f.rst_stream_error().map(|e| e.name());
        let _ = f.settings().count();
        let _ = f.ping();
        let _ = f.is_ack();
        let _ = f.goaway();
        let _ = f.window_size_increment();
        let _ = header.ty.name();
        if let HeadersOutcome::Decoded(list) = blocks.on_frame(&f) {
            assert!(
                list.len() <= MAX_FIELDS,
                "{} header fields kept",
                list.len()
            );
            // The bound is on the octets received; kept as text, each invalid UTF-8 octet
            // becomes three (U+FFFD).
            let size: usize = list.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
            assert!(
                size <= 3 * MAX_LIST_SIZE,
                "a header list of {size} bytes kept"
            );
        }
    }
    let _ = blocks.broken();
}
