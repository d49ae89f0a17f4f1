//! Zero-copy views of HTTP/2 frames (RFC 9113 §4 and §6): the 9-octet header and, per type,
//! the payload's parts. A view never fails on a short or lying payload: each accessor returns
//! `None` (or an empty slice) for what is not there.

/// Length of a frame header.
pub const HEADER_LEN: usize = 9;

/// The type octet of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameType(pub u8);

impl FrameType {
    /// DATA (0).
    pub const DATA: FrameType = FrameType(0);
    /// HEADERS (1).
    pub const HEADERS: FrameType = FrameType(1);
    /// PRIORITY (2).
    pub const PRIORITY: FrameType = FrameType(2);
    /// RST_STREAM (3).
    pub const RST_STREAM: FrameType = FrameType(3);
    /// SETTINGS (4).
    pub const SETTINGS: FrameType = FrameType(4);
    /// PUSH_PROMISE (5).
    pub const PUSH_PROMISE: FrameType = FrameType(5);
    /// PING (6).
    pub const PING: FrameType = FrameType(6);
    /// GOAWAY (7).
    pub const GOAWAY: FrameType = FrameType(7);
    /// WINDOW_UPDATE (8).
    pub const WINDOW_UPDATE: FrameType = FrameType(8);
    /// CONTINUATION (9).
    pub const CONTINUATION: FrameType = FrameType(9);

    /// The name tshark 4.0.17 shows in the Info column (`UNKNOWN` for other types).
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "DATA",
            1 => "HEADERS",
            2 => "PRIORITY",
            3 => "RST_STREAM",
            4 => "SETTINGS",
            5 => "PUSH_PROMISE",
            6 => "PING",
            7 => "GOAWAY",
            8 => "WINDOW_UPDATE",
            9 => "CONTINUATION",
            10 => "ALTSVC",
            12 => "ORIGIN",
            16 => "PRIORITY_UPDATE",
            _ => "UNKNOWN",
        }
    }
}

/// Flag bits, whose meaning depends on the frame type.
pub mod flags {
    /// DATA, HEADERS: the sender's last frame on the stream.
    pub const END_STREAM: u8 = 0x01;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x01;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends in this frame.
    pub const END_HEADERS: u8 = 0x04;
    /// DATA, HEADERS, PUSH_PROMISE: a pad length octet leads the payload.
    pub const PADDED: u8 = 0x08;
    /// HEADERS: stream dependency and weight follow.
    pub const PRIORITY: u8 = 0x20;
}

/// An error code of RST_STREAM and GOAWAY (RFC 9113 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// NO_ERROR (0): a graceful shutdown.
    pub const NO_ERROR: ErrorCode = ErrorCode(0);
    /// PROTOCOL_ERROR (1).
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(1);
    /// CANCEL (8).
    pub const CANCEL: ErrorCode = ErrorCode(8);
    /// ENHANCE_YOUR_CALM (11): the peer is generating excessive load (gRPC: too many pings).
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(11);

    /// The code's name in RFC 9113 (`UNKNOWN` past the registered ones).
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NO_ERROR",
            1 => "PROTOCOL_ERROR",
            2 => "INTERNAL_ERROR",
            3 => "FLOW_CONTROL_ERROR",
            4 => "SETTINGS_TIMEOUT",
            5 => "STREAM_CLOSED",
            6 => "FRAME_SIZE_ERROR",
            7 => "REFUSED_STREAM",
            8 => "CANCEL",
            9 => "COMPRESSION_ERROR",
            10 => "CONNECT_ERROR",
            11 => "ENHANCE_YOUR_CALM",
            12 => "INADEQUATE_SECURITY",
            13 => "HTTP_1_1_REQUIRED",
            _ => "UNKNOWN",
        }
    }
}

/// The fixed header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub length: u32,
    /// Frame type.
    pub ty: FrameType,
    /// Flag bits.
    pub flags: u8,
    /// The reserved bit before the stream identifier.
    pub reserved: bool,
    /// Stream identifier (31 bits); 0 for the connection.
    pub stream_id: u32,
}

impl FrameHeader {
    /// Reads a header from the first 9 octets of `b`.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        let sid = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        Some(FrameHeader {
            length: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            ty: FrameType(h[3]),
            flags: h[4],
            reserved: sid >> 31 == 1,
            stream_id: sid & 0x7fff_ffff,
        })
    }

    /// True when flag bit `bit` is set.
    pub fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }
}

/// One frame: its header and its payload (possibly cut short when the frame was too large to
/// keep whole; [`Frame::truncated`] says so).
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The header.
    pub header: FrameHeader,
    /// The payload bytes held (all of them unless truncated).
    pub payload: &'a [u8],
}

/// A setting of a SETTINGS frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Identifier (1 HEADER_TABLE_SIZE … 6 MAX_HEADER_LIST_SIZE, 8 ENABLE_CONNECT_PROTOCOL).
    pub id: u16,
    /// Value.
    pub value: u32,
}

/// A GOAWAY frame's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAway<'a> {
    /// The highest stream the sender may have processed; streams above it were not.
    pub last_stream_id: u32,
    /// Why the connection ends.
    pub error: ErrorCode,
    /// Opaque debug data (gRPC servers put `too_many_pings` or `max_age` here).
    pub debug: &'a [u8],
}

/// The priority fields of a HEADERS (with PRIORITY flag) or PRIORITY frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The dependency is exclusive.
    pub exclusive: bool,
    /// The stream depended on.
    pub dependency: u32,
    /// Weight minus one, as sent.
    pub weight: u8,
}

impl<'a> Frame<'a> {
    /// True when the payload held is shorter than the header's length.
    pub fn truncated(&self) -> bool {
        (self.payload.len() as u64) < u64::from(self.header.length)
    }

    /// The pad length of a padded DATA, HEADERS or PUSH_PROMISE frame.
    pub fn pad_length(&self) -> Option<u8> {
        let padded_type = matches!(
            self.header.ty,
            FrameType::DATA | FrameType::HEADERS | FrameType::PUSH_PROMISE
        );
        if padded_type && self.header.has(flags::PADDED) {
            self.payload.first().copied()
        } else {
            None
        }
    }

    /// The payload without the pad length octet and the padding.
    fn unpadded(&self) -> &'a [u8] {
        match self.pad_length() {
            Some(pad) => {
                let body = &self.payload[1..];
                &body[..body.len().saturating_sub(usize::from(pad))]
            }
            None => self.payload,
        }
    }

    /// DATA: the data, without padding.
    pub fn data(&self) -> Option<&'a [u8]> {
        (self.header.ty == FrameType::DATA).then(|| self.unpadded())
    }

    /// HEADERS: the priority fields, when the PRIORITY flag is set; PRIORITY: its fields.
    pub fn priority(&self) -> Option<Priority> {
        let b = match self.header.ty {
            FrameType::HEADERS if self.header.has(flags::PRIORITY) => self.unpadded(),
            FrameType::PRIORITY => self.payload,
            _ => return None,
        };
        let d: [u8; 4] = b.get(..4)?.try_into().ok()?;
        let d = u32::from_be_bytes(d);
        Some(Priority {
            exclusive: d >> 31 == 1,
            dependency: d & 0x7fff_ffff,
            weight: *b.get(4)?,
        })
    }

    /// HEADERS, PUSH_PROMISE, CONTINUATION: the header block fragment this frame carries.
    pub fn header_block_fragment(&self) -> Option<&'a [u8]> {
        match self.header.ty {
            FrameType::HEADERS => {
                let b = self.unpadded();
                let skip = if self.header.has(flags::PRIORITY) {
                    5
                } else {
                    0
                };
                Some(b.get(skip..).unwrap_or_default())
            }
            FrameType::PUSH_PROMISE => Some(self.unpadded().get(4..).unwrap_or_default()),
            FrameType::CONTINUATION => Some(self.payload),
            _ => None,
        }
    }

    /// PUSH_PROMISE: the promised stream.
    pub fn promised_stream_id(&self) -> Option<u32> {
        if self.header.ty != FrameType::PUSH_PROMISE {
            return None;
        }
        let b: [u8; 4] = self.unpadded().get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b) & 0x7fff_ffff)
    }

    /// RST_STREAM: the error code.
    pub fn rst_stream_error(&self) -> Option<ErrorCode> {
        if self.header.ty != FrameType::RST_STREAM {
            return None;
        }
        let b: [u8; 4] = self.payload.get(..4)?.try_into().ok()?;
        Some(ErrorCode(u32::from_be_bytes(b)))
    }

    /// SETTINGS: the settings in order (none for an ACK).
    pub fn settings(&self) -> impl Iterator<Item = Setting> + 'a {
        let b = if self.header.ty == FrameType::SETTINGS {
            self.payload
        } else {
            &[]
        };
        b.chunks_exact(6).map(|c| Setting {
            id: u16::from_be_bytes([c[0], c[1]]),
            value: u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
        })
    }

    /// PING: the 8 opaque octets.
    pub fn ping(&self) -> Option<[u8; 8]> {
        if self.header.ty != FrameType::PING {
            return None;
        }
        self.payload.get(..8)?.try_into().ok()
    }

    /// PING or SETTINGS: the ACK flag.
    pub fn is_ack(&self) -> bool {
        matches!(self.header.ty, FrameType::PING | FrameType::SETTINGS)
            && self.header.has(flags::ACK)
    }

    /// GOAWAY: last stream, error and debug data.
    pub fn goaway(&self) -> Option<GoAway<'a>> {
        if self.header.ty != FrameType::GOAWAY {
            return None;
        }
        let b = self.payload;
        let last: [u8; 4] = b.get(..4)?.try_into().ok()?;
        let err: [u8; 4] = b.get(4..8)?.try_into().ok()?;
        Some(GoAway {
            last_stream_id: u32::from_be_bytes(last) & 0x7fff_ffff,
            error: ErrorCode(u32::from_be_bytes(err)),
            debug: &b[8..],
        })
    }

    /// WINDOW_UPDATE: the window size increment (31 bits).
    pub fn window_size_increment(&self) -> Option<u32> {
        if self.header.ty != FrameType::WINDOW_UPDATE {
            return None;
        }
        let b: [u8; 4] = self.payload.get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b) & 0x7fff_ffff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ty: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        b.push(ty);
        b.push(flags);
        b.extend(sid.to_be_bytes());
        b.extend(payload);
        b
    }

    fn view(b: &[u8]) -> Frame<'_> {
        let header = FrameHeader::parse(b).unwrap();
        Frame {
            header,
            payload: &b[HEADER_LEN..],
        }
    }

    #[test]
    fn each_type_reads_its_fields() {
        let g = frame(7, 0, 0, b"\x80\0\0\x05\0\0\0\x0btoo_many_pings");
        let g = view(&g);
        let ga = g.goaway().unwrap();
        assert_eq!(
            (ga.last_stream_id, ga.error),
            (5, ErrorCode::ENHANCE_YOUR_CALM)
        );
        assert_eq!(ga.debug, b"too_many_pings");
        assert_eq!(ga.error.name(), "ENHANCE_YOUR_CALM");

        let p = frame(6, 1, 0, b"12345678");
        assert_eq!(view(&p).ping(), Some(*b"12345678"));
        assert!(view(&p).is_ack());

        let s = frame(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0]);
        let got: Vec<_> = view(&s).settings().map(|s| (s.id, s.value)).collect();
        assert_eq!(got, vec![(3, 100), (4, 65536)]);

        let w = frame(8, 0, 1, &[0x80, 0, 0x10, 0]);
        assert_eq!(view(&w).window_size_increment(), Some(4096));
        let r = frame(3, 0, 1, &[0, 0, 0, 8]);
        assert_eq!(view(&r).rst_stream_error(), Some(ErrorCode::CANCEL));

        // Padded HEADERS with priority: pad length 2, dependency, weight, block, padding.
        let h = frame(1, 0x2c, 3, &[2, 0x80, 0, 0, 1, 15, 0x82, 0x84, 0, 0]);
        let h = view(&h);
        assert_eq!(h.header_block_fragment(), Some(&[0x82, 0x84][..]));
        let pr = h.priority().unwrap();
        assert_eq!((pr.exclusive, pr.dependency, pr.weight), (true, 1, 15));
        let d = frame(0, 0x09, 1, &[1, b'h', b'i', 0]);
        assert_eq!(view(&d).data(), Some(&b"hi"[..]));
        let pp = frame(5, 0x04, 1, &[0, 0, 0, 2, 0x82]);
        assert_eq!(view(&pp).promised_stream_id(), Some(2));
        assert_eq!(view(&pp).header_block_fragment(), Some(&[0x82][..]));
    }

    #[test]
    fn short_or_lying_payloads_read_as_absent() {
        let g = frame(7, 0, 0, b"\0\0");
        assert_eq!(view(&g).goaway(), None);
        let d = frame(0, 0x08, 1, &[200, 1]);
        assert_eq!(view(&d).data(), Some(&[][..]));
        let h = frame(1, 0x20, 1, &[1]);
        assert_eq!(view(&h).header_block_fragment(), Some(&[][..]));
        assert_eq!(view(&h).priority(), None);
        assert_eq!(view(&frame(6, 0, 0, b"123")).ping(), None);
        assert_eq!(FrameType(200).name(), "UNKNOWN");
    }
}
