//! The application protocols (`keepsight-apps`: FIX, Redis RESP, AMQP 0-9-1, SMPP, STOMP,
//! ISO 8583): each direction's framing and liveness events must not depend on how the bytes
//! are split into segments; a message length is at least one byte; messages handed out are
//! exactly the bytes fed, in order.
//!
//! Layout: `[protocol]` then segments as [`crate::input::SegmentSpec`] lays them out (the
//! sender and payload are used). `protocol` 0 lets [`keepsight_apps::recognize`] pick from the
//! first payload, otherwise it picks from [`PROTOCOLS`].

use crate::input::{piece_lengths, Reader, SegmentSpec};
use keepsight_apps::{message_len, recognize, Framing, Protocol, Session};

/// Every protocol, in the order the layout's byte picks them.
pub(super) const PROTOCOLS: [Protocol; 6] = [
    Protocol::Fix,
    Protocol::Redis,
    Protocol::Amqp,
    Protocol::Smpp,
    Protocol::Stomp,
    Protocol::Iso8583,
];

/// Events (as text) and messages of one direction's bytes fed in pieces of `lengths`.
fn run(
    protocol: Protocol,
    dir: usize,
    bytes: &[u8],
    lengths: &[usize],
) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut session = Session::new(protocol);
    let mut events = Vec::new();
    let mut messages = Vec::new();
    let mut at = 0;
    for &n in lengths {
        session.feed_messages(
            dir,
            at as u32,
            &bytes[at..at + n],
            true,
            &mut |e| events.push(format!("{e:?}")),
            &mut |m, end| messages.push((m.to_vec(), end)),
        );
        at += n;
    }
    let mut next = 0u32;
    for (m, end) in &messages {
        assert_eq!(
            *end,
            next.wrapping_add(m.len() as u32),
            "message end is not after its bytes"
        );
        let from = next as usize;
        assert_eq!(
            &bytes[from..from + m.len()],
            &m[..],
            "message is not the bytes fed"
        );
        next = *end;
    }
    (events, messages.into_iter().map(|(m, _)| m).collect())
}

pub(super) fn apps(data: &[u8]) {
    let mut r = Reader::new(data);
    let pick = usize::from(r.byte()) % (PROTOCOLS.len() + 1);
    let segments = SegmentSpec::parse_all(r.rest());
    let first = segments
        .iter()
        .find(|s| !s.payload.is_empty())
        .map_or(&[][..], |s| s.payload);
    let protocol = match pick {
        0 => match recognize(first) {
            Some(p) => p,
            None => return,
        },
        k => PROTOCOLS[k - 1],
    };
    for dir in 0..2 {
        let bytes: Vec<u8> = segments
            .iter()
            .filter(|s| usize::from(s.from_server) == dir)
            .flat_map(|s| s.payload.iter().copied())
            .collect();
        let whole = run(protocol, dir, &bytes, &[bytes.len()]);
        let split = run(protocol, dir, &bytes, &piece_lengths(&bytes, bytes.len()));
        assert_eq!(
            whole, split,
            "{protocol:?} direction {dir} depends on how bytes are split"
        );
        if let Framing::Len(n) = message_len(protocol, &bytes) {
            assert!(n >= 1, "a message of no bytes");
        }
    }
    // Both directions together, interleaved as sent.
    let mut session = Session::new(protocol);
    let mut seq = [0u32; 2];
    for s in &segments {
        let dir = usize::from(s.from_server);
        session.feed(dir, seq[dir], s.payload, true, &mut |e| {
            let _ = format!("{e:?}");
        });
        seq[dir] = seq[dir].wrapping_add(s.payload.len() as u32);
    }
}
