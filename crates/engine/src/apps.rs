//! The application layers tshark dissects segment by segment on these captures: FIX (a
//! segment that starts with `8=FIX`, tshark's heuristic), SMPP (a segment that opens a PDU its
//! heuristic accepts) and AMQP 0-9-1 (TCP port 5672), each also on ports decoded as it
//! (`-d tcp.port==N,fix|smpp|amqp`), and Redis RESP (port 6379 or `-d tcp.port==N,resp`). The messages are read with keepsight-apps' parsers, the
//! same ones liveness analysis uses.
//!
//! A frame's layer is its segment's payload and the protocol: messages are found again when a
//! field is asked for, so the layer costs nothing per packet beyond a prefix test, and a stream
//! without these protocols pays only that test. Only messages whole in one segment are
//! dissected; a segment whose first message continues in a later one keeps its TCP view.

use keepsight_apps::{amqp, fix, redis, smpp};

/// An application protocol of this layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    /// FIX tag=value.
    Fix,
    /// SMPP 3.4 / 5.0.
    Smpp,
    /// AMQP 0-9-1.
    Amqp,
    /// Redis RESP (tshark's `resp`).
    Resp,
}

/// The TCP port tshark dissects as AMQP without being told.
pub const AMQP_PORT: u16 = 5672;
/// The TCP port tshark dissects as RESP (Redis) without being told.
pub const RESP_PORT: u16 = 6379;

/// One frame's application layer: its segment's payload, read as `kind`.
#[derive(Clone, Copy, Debug)]
pub struct FrameApp<'a> {
    /// The protocol.
    pub kind: AppKind,
    /// The segment's payload, which starts with a whole message.
    pub payload: &'a [u8],
    /// The segment goes to the port the protocol was found on (decoded-as or well-known):
    /// what tshark's RESP calls a request.
    pub to_server: bool,
}

impl<'a> FrameApp<'a> {
    /// The whole messages at the start of the payload, in order (for AMQP, the protocol header
    /// counts as one).
    pub fn messages(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let kind = self.kind;
        let mut rest = self.payload;
        std::iter::from_fn(move || {
            let n = message_len(kind, rest)?;
            let (m, r) = rest.split_at(n);
            rest = r;
            Some(m)
        })
    }
}

fn message_len(kind: AppKind, b: &[u8]) -> Option<usize> {
    match kind {
        AppKind::Fix => fix::message_len(b),
        AppKind::Smpp => smpp::pdu_len(b),
        AppKind::Amqp => amqp::unit_len(b),
        AppKind::Resp => redis::message_len(b),
    }
}

/// The layer of a segment on a port decoded as `kind`; `to_server` when it goes to that port.
pub(crate) fn decoded_as(kind: AppKind, payload: &[u8], to_server: bool) -> Option<FrameApp<'_>> {
    message_len(kind, payload)?;
    Some(FrameApp {
        kind,
        payload,
        to_server,
    })
}

/// The layer tshark finds without being told: AMQP and RESP on their ports, then FIX and
/// SMPP by their heuristics (a cheap prefix test first). `ports` are (source, destination).
#[inline]
pub(crate) fn recognized(ports: (u16, u16), payload: &[u8]) -> Option<FrameApp<'_>> {
    let on = |port| ports.0 == port || ports.1 == port;
    let kind = if on(AMQP_PORT) {
        AppKind::Amqp
    } else if on(RESP_PORT) {
        return decoded_as(AppKind::Resp, payload, ports.1 == RESP_PORT);
    } else if payload.starts_with(b"8=FIX") {
        AppKind::Fix
    } else if payload.first() == Some(&0) && smpp::looks_like_pdu(payload) {
        AppKind::Smpp
    } else {
        return None;
    };
    decoded_as(kind, payload, false)
}
