//! One WebSocket frame: its header (RFC 6455 §5.2), the payload's unmasking, and the body of
//! a Close frame (§5.5.1).

/// A frame's opcode (4 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opcode(pub u8);

impl Opcode {
    /// A fragment continuing a message.
    pub const CONTINUATION: Opcode = Opcode(0);
    /// A text message (UTF-8).
    pub const TEXT: Opcode = Opcode(1);
    /// A binary message.
    pub const BINARY: Opcode = Opcode(2);
    /// The closing handshake: an optional status code and reason.
    pub const CLOSE: Opcode = Opcode(8);
    /// A ping, which the peer must answer with a pong carrying the same payload.
    pub const PING: Opcode = Opcode(9);
    /// A pong (an answer, or an unsolicited heartbeat).
    pub const PONG: Opcode = Opcode(10);

    /// tshark's name for the opcode (its Info column and `-V` tree).
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "Continuation",
            1 => "Text",
            2 => "Binary",
            8 => "Connection Close",
            9 => "Ping",
            10 => "Pong",
            _ => "Unknown Opcode",
        }
    }
}

/// The fixed part of a frame before its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// The three reserved bits, as the low bits (RSV1 is 4: per-message compression).
    pub rsv: u8,
    /// The opcode.
    pub opcode: Opcode,
    /// The payload is masked (client-to-server frames must be).
    pub masked: bool,
    /// The 7-bit length field as sent (126 and 127 announce an extended length).
    pub length7: u8,
    /// The payload length.
    pub payload_len: u64,
    /// The masking key, when masked.
    pub masking_key: Option<[u8; 4]>,
    /// Header bytes before the payload (2 to 14).
    pub header_len: usize,
}

impl FrameHeader {
    /// Reads a header from the start of `b`; `None` while `b` is too short to hold it.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let (&b0, &b1) = (b.first()?, b.get(1)?);
        let length7 = b1 & 0x7f;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut at) = match length7 {
            126 => (
                u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)),
                4,
            ),
            127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
            n => (u64::from(n), 2),
        };
        let masking_key = if masked {
            let k: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
            at += 4;
            Some(k)
        } else {
            None
        };
        Some(FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: Opcode(b0 & 0x0f),
            masked,
            length7,
            payload_len,
            masking_key,
            header_len: at,
        })
    }

    /// The whole frame's length, header included (saturating for lying 64-bit lengths).
    pub fn frame_len(&self) -> u64 {
        self.payload_len.saturating_add(self.header_len as u64)
    }
}

/// XORs `payload` with `key` in place, `payload` starting `offset` bytes into the frame's
/// payload (a payload unmasked piece by piece keeps the key's phase).
pub fn unmask(payload: &mut [u8], key: [u8; 4], offset: u64) {
    let phase = (offset % 4) as usize;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[(phase + i) % 4];
    }
}

/// The body of a Close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseBody<'a> {
    /// The status code, when the body has one (2 bytes or more).
    pub code: Option<u16>,
    /// The reason after the code (UTF-8 by the RFC; kept as sent).
    pub reason: &'a [u8],
}

impl<'a> CloseBody<'a> {
    /// Reads an unmasked Close payload.
    pub fn parse(payload: &'a [u8]) -> CloseBody<'a> {
        match payload {
            [a, b, reason @ ..] => CloseBody {
                code: Some(u16::from_be_bytes([*a, *b])),
                reason,
            },
            _ => CloseBody {
                code: None,
                reason: &[],
            },
        }
    }
}

/// The registered meaning of a close status code (RFC 6455 §7.4.1, as tshark names them).
pub fn close_code_name(code: u16) -> &'static str {
    match code {
        1000 => "Normal Closure",
        1001 => "Going Away",
        1002 => "Protocol error",
        1003 => "Unsupported Data",
        1004 => "---Reserved----",
        1005 => "No Status Rcvd",
        1006 => "Abnormal Closure",
        1007 => "Invalid frame payload data",
        1008 => "Policy Violation",
        1009 => "Message Too Big",
        1010 => "Mandatory Ext.",
        1011 => "Internal Server",
        1012 => "Service Restart",
        1013 => "Try Again Later",
        1014 => "Bad Gateway",
        1015 => "TLS handshake",
        _ => "Unknown",
    }
}

/// True for the codes that end a connection without a fault: 1000 (done) and 1001 (an end
/// point going away: a server restarting, a browser leaving the page).
pub fn close_code_is_normal(code: u16) -> bool {
    matches!(code, 1000 | 1001)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_each_length_form_and_their_masks() {
        // A masked "Hello" (RFC 6455 §5.7).
        let f = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = FrameHeader::parse(&f).unwrap();
        assert!(h.fin && h.masked && h.opcode == Opcode::TEXT);
        assert_eq!((h.payload_len, h.header_len), (5, 6));
        let mut p = f[6..].to_vec();
        unmask(&mut p, h.masking_key.unwrap(), 0);
        assert_eq!(p, b"Hello");
        // Unmasked in two pieces keeps the key's phase.
        let mut a = f[6..8].to_vec();
        let mut b = f[8..].to_vec();
        unmask(&mut a, h.masking_key.unwrap(), 0);
        unmask(&mut b, h.masking_key.unwrap(), 2);
        assert_eq!([a, b].concat(), b"Hello");
        let h = FrameHeader::parse(&[0x82, 0x7e, 0x01, 0x00]).unwrap();
        assert_eq!((h.payload_len, h.header_len, h.length7), (256, 4, 126));
        let h = FrameHeader::parse(&[0x02, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!((h.payload_len, h.header_len, h.fin), (65536, 10, false));
        let lying = FrameHeader::parse(&[
            0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4,
        ])
        .unwrap();
        assert_eq!(lying.frame_len(), u64::MAX);
    }

    #[test]
    fn short_headers_wait_for_more_bytes() {
        for b in [
            &[][..],
            &[0x81],
            &[0x81, 0x85, 1, 2, 3],
            &[0x82, 0x7e, 1],
            &[0x82, 0x7f, 0, 0, 0],
        ] {
            assert_eq!(FrameHeader::parse(b), None, "{b:?}");
        }
    }

    #[test]
    fn close_bodies() {
        let c = CloseBody::parse(b"\x03\xe8bye");
        assert_eq!((c.code, c.reason), (Some(1000), &b"bye"[..]));
        assert_eq!(CloseBody::parse(b"").code, None);
        assert_eq!(CloseBody::parse(b"\x03").code, None);
        assert!(close_code_is_normal(1001) && !close_code_is_normal(1011));
        assert_eq!(close_code_name(1011), "Internal Server");
    }
}
