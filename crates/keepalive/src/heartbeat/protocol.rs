//! The heartbeat wire format (see the crate documentation for the description).

use std::fmt;

/// Type byte of an application frame: followed by a 4-byte big-endian length and the payload.
pub const APP_FRAME: u8 = 0x02;
/// Default probe byte, as in the incident captures.
pub const DEFAULT_PROBE: u8 = 0x01;
/// Default reply byte (`A`), as in the incident captures.
pub const DEFAULT_REPLY: u8 = 0x41;
/// Default largest application payload accepted (1 MiB): a peer cannot make us buffer more.
pub const DEFAULT_MAX_APP_LEN: u32 = 1 << 20;

/// The bytes that identify heartbeats on a connection. Both ends must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    /// The byte a probe consists of.
    pub probe: u8,
    /// The byte a reply consists of.
    pub reply: u8,
    /// The largest application payload accepted, so a peer cannot make us buffer without bound.
    pub max_app_len: u32,
}

impl Default for Wire {
    fn default() -> Self {
        Wire {
            probe: DEFAULT_PROBE,
            reply: DEFAULT_REPLY,
            max_app_len: DEFAULT_MAX_APP_LEN,
        }
    }
}

impl Wire {
    /// Checks that the probe, the reply and the application type byte can be told apart.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.probe == self.reply {
            return Err(ProtocolError::Config(format!(
                "probe and reply are both {:02x}; they must differ or every probe would be answered forever",
                self.probe
            )));
        }
        for (name, b) in [("probe", self.probe), ("reply", self.reply)] {
            if b == APP_FRAME {
                return Err(ProtocolError::Config(format!(
                    "{name} byte {b:02x} is reserved for application frames"
                )));
            }
        }
        Ok(())
    }

    /// Appends an application frame carrying `payload` to `out`.
    pub fn encode_app(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        if payload.len() as u64 > u64::from(self.max_app_len) {
            return Err(ProtocolError::TooLong {
                len: payload.len() as u64,
                max: self.max_app_len,
            });
        }
        out.push(APP_FRAME);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        Ok(())
    }
}

/// Parses a probe or reply byte given as two hex digits (`01`, `41`, `0x41`).
pub fn parse_hex_byte(s: &str) -> Result<u8, crate::ParseError> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    if digits.len() != 2 {
        return Err(crate::ParseError::new(
            "byte",
            s,
            "expected two hex digits, e.g. `01` or `41`",
        ));
    }
    u8::from_str_radix(digits, 16).map_err(|_| {
        crate::ParseError::new("byte", s, "expected two hex digits, e.g. `01` or `41`")
    })
}

/// One decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The peer asks whether we are alive; answer with a reply.
    Probe,
    /// The answer to our oldest unanswered probe.
    Reply,
    /// An application message, carried but not interpreted.
    App(&'a [u8]),
}

/// Why a byte stream is not valid heartbeat protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A byte that is neither probe, reply nor application frame type.
    UnexpectedByte {
        /// The byte received.
        byte: u8,
        /// Its position in the connection's byte stream, to find it in a capture.
        offset: u64,
    },
    /// An application frame longer than allowed.
    TooLong {
        /// The length the frame announced.
        len: u64,
        /// The limit ([`Wire::max_app_len`]).
        max: u32,
    },
    /// Probe/reply bytes that cannot work together.
    Config(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnexpectedByte { byte, offset } => write!(
                f,
                "unexpected byte {byte:02x} at stream offset {offset}: not the probe, the reply, nor an application frame ({APP_FRAME:02x}); do both ends use the same --probe/--reply?"
            ),
            ProtocolError::TooLong { len, max } => {
                write!(f, "application frame of {len} bytes exceeds the limit of {max} bytes")
            }
            ProtocolError::Config(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Incremental decoder. Holds only the unfinished part of an application frame, so an idle
/// connection costs no buffer.
#[derive(Debug)]
pub struct Decoder {
    wire: Wire,
    partial: Vec<u8>,
    offset: u64,
}

impl Decoder {
    /// A decoder at the start of a connection's byte stream.
    pub fn new(wire: Wire) -> Self {
        Decoder {
            wire,
            partial: Vec::new(),
            offset: 0,
        }
    }

    /// Decodes every complete frame in `data`, in order, keeping any unfinished application
    /// frame for the next call.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), ProtocolError> {
        while !data.is_empty() {
            if !self.partial.is_empty() {
                let taken = self.continue_partial(data)?;
                data = &data[taken..];
                if self.partial_complete() {
                    on_frame(Frame::App(&self.partial[5..]));
                    self.partial = Vec::new();
                }
                continue;
            }
            let byte = data[0];
            if byte == self.wire.probe {
                on_frame(Frame::Probe);
                data = &data[1..];
                self.offset += 1;
            } else if byte == self.wire.reply {
                on_frame(Frame::Reply);
                data = &data[1..];
                self.offset += 1;
            } else if byte == APP_FRAME {
                if data.len() >= 5 {
                    let len = self.check_len(&data[1..5])?;
                    if data.len() >= 5 + len {
                        on_frame(Frame::App(&data[5..5 + len]));
                        data = &data[5 + len..];
                        self.offset += 5 + len as u64;
                        continue;
                    }
                }
                self.partial.push(APP_FRAME);
                self.offset += 1;
                data = &data[1..];
            } else {
                return Err(ProtocolError::UnexpectedByte {
                    byte,
                    offset: self.offset,
                });
            }
        }
        Ok(())
    }

    fn check_len(&self, header: &[u8]) -> Result<usize, ProtocolError> {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        if len > self.wire.max_app_len {
            return Err(ProtocolError::TooLong {
                len: len.into(),
                max: self.wire.max_app_len,
            });
        }
        Ok(len as usize)
    }

    fn partial_complete(&self) -> bool {
        self.partial.len() >= 5
            && self.partial.len()
                == 5 + u32::from_be_bytes([
                    self.partial[1],
                    self.partial[2],
                    self.partial[3],
                    self.partial[4],
                ]) as usize
    }

    /// Moves bytes of an unfinished application frame from `data`; returns how many.
    fn continue_partial(&mut self, data: &[u8]) -> Result<usize, ProtocolError> {
        let mut taken = 0;
        if self.partial.len() < 5 {
            let n = (5 - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..n]);
            taken += n;
            if self.partial.len() < 5 {
                self.offset += taken as u64;
                return Ok(taken);
            }
            let len = self.check_len(&self.partial[1..5])?;
            self.partial.reserve_exact(len);
        }
        let total = 5 + u32::from_be_bytes([
            self.partial[1],
            self.partial[2],
            self.partial[3],
            self.partial[4],
        ]) as usize;
        let n = (total - self.partial.len()).min(data.len() - taken);
        self.partial.extend_from_slice(&data[taken..taken + n]);
        taken += n;
        self.offset += taken as u64;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(stream: &[u8], piece: usize) -> Result<Vec<String>, ProtocolError> {
        let mut d = Decoder::new(Wire::default());
        let mut seen = Vec::new();
        for chunk in stream.chunks(piece) {
            d.feed(chunk, |f| {
                seen.push(match f {
                    Frame::Probe => "P".to_string(),
                    Frame::Reply => "R".to_string(),
                    Frame::App(p) => format!("A{}", String::from_utf8_lossy(p)),
                })
            })?;
        }
        Ok(seen)
    }

    #[test]
    fn bare_incident_bytes_and_app_frames_in_any_split() {
        let wire = Wire::default();
        let mut stream = vec![0x01, 0x41];
        wire.encode_app(b"hello", &mut stream).unwrap();
        stream.push(0x01);
        wire.encode_app(b"", &mut stream).unwrap();
        stream.push(0x41);
        for piece in 1..=stream.len() {
            assert_eq!(
                decode_in_pieces(&stream, piece).unwrap(),
                ["P", "R", "Ahello", "P", "A", "R"],
                "split every {piece} bytes"
            );
        }
    }

    #[test]
    fn rejects_garbage_and_oversize() {
        let err = decode_in_pieces(&[0x01, 0x41, 0x7f], 3).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::UnexpectedByte {
                byte: 0x7f,
                offset: 2
            }
        );
        let mut big = vec![APP_FRAME];
        big.extend_from_slice(&(DEFAULT_MAX_APP_LEN + 1).to_be_bytes());
        for piece in [1, 2, 5] {
            assert!(matches!(
                decode_in_pieces(&big, piece),
                Err(ProtocolError::TooLong { .. })
            ));
        }
    }

    #[test]
    fn wire_validation_and_hex() {
        assert!(Wire {
            probe: 1,
            reply: 1,
            ..Wire::default()
        }
        .validate()
        .is_err());
        assert!(Wire {
            probe: 2,
            reply: 0x41,
            ..Wire::default()
        }
        .validate()
        .is_err());
        assert_eq!(parse_hex_byte("41").unwrap(), 0x41);
        assert_eq!(parse_hex_byte("0x01").unwrap(), 1);
        assert!(parse_hex_byte("1").is_err());
        assert!(parse_hex_byte("zz").is_err());
    }
}
