//! A message's signature (its length and first bytes), and what a protocol module says a
//! message is: the vocabulary heartbeat discovery and the protocol watches share, below both.

use crate::template::SIG_BYTES;

/// A payload's signature: its length and up to [`SIG_BYTES`] first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Sig {
    pub len: u32,
    pub n: u8,
    pub b: [u8; SIG_BYTES],
}

impl Sig {
    #[inline]
    pub(crate) fn of(len: u32, payload: &[u8]) -> Sig {
        let mut n = payload.len().min(SIG_BYTES).min(len as usize);
        // A client's WebSocket ping/pong is masked with a fresh random key each time: only its
        // 2-byte frame header is stable, so that is the signature.
        if n >= 2 && matches!(payload[0], 0x89 | 0x8A) && payload[1] & 0x80 != 0 {
            n = 2;
        }
        let mut b = [0u8; SIG_BYTES];
        b[..n].copy_from_slice(&payload[..n]);
        Sig { len, n: n as u8, b }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.b[..self.n as usize]
    }

    pub(crate) fn hex(&self) -> String {
        self.bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// True when the full payload `bytes` (as given by the user) has this signature; the
    /// signature's own bytes may be fewer when the capture cut the payload.
    pub(crate) fn is(&self, bytes: &[u8]) -> bool {
        self.len as usize == bytes.len() && bytes.starts_with(self.bytes())
    }
}

/// What a protocol module says a message is (see `Stream::on_known_message`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Known {
    /// A heartbeat probe (FIX Heartbeat or TestRequest, AMQP heartbeat frame, SMPP
    /// enquire_link …): `name` names the heartbeat in the report (its `probe_hex`) and joins
    /// the beats of one kind; `len` is the message's length.
    Probe {
        name: Sig,
        len: u32,
        declared_period_ns: Option<i64>,
    },
    /// The answer to the peer's probe (enquire_link_resp, PONG, a Heartbeat echoing 112).
    Reply { name: Sig, len: u32 },
    /// Any other message of the protocol.
    Other { len: u32 },
}
