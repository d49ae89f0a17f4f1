//! Which of two alternating messages is the heartbeat probe.
//!
//! A probe and its reply alternate, so each looks like the answer to the other: probe → reply
//! takes the reply latency, reply → next probe the rest of the period. When replies take more
//! than half the period, reply → probe is the quicker exchange and latency alone would flip the
//! roles (the server's PONG taken for the probe, its slow replies for late beats). What does not
//! change with latency is who opens the exchange: on a connection seen from its handshake, the
//! first of the two messages is the probe, its sender the prober, and that holds for the whole
//! connection, whatever the replies do later. The prober also spoke first: the connection's
//! first small payload is its (which keeps a capture that cut the first probe's bytes, so that
//! the first message *recognized* is a reply, from swapping the roles).

use crate::stream::{Candidate, Stream};

/// The candidate in the other direction than `(dir, cand)` that forms an alternating pair with
/// it (each one's most frequent answer is the other) and came first on a connection whose start
/// the capture shows: that one opened the exchange, so it is the probe.
pub(crate) fn opener<'a>(
    s: &'a Stream,
    dir: usize,
    cand: &Candidate,
) -> Option<(usize, &'a Candidate)> {
    if s.client.is_none_or(|(_, how)| how != "handshake") {
        // Mid-connection, the first message seen may be a reply to one sent before the capture.
        return None;
    }
    let peer = 1 - dir;
    if s.first_small_dir != Some(peer as u8) {
        return None;
    }
    s.dirs[peer]
        .cands
        .iter()
        .find(|p| {
            cand.reply_sig() == Some(p.sig)
                && p.reply_sig() == Some(cand.sig)
                && p.first.ts < cand.first.ts
        })
        .map(|p| (peer, p))
}
