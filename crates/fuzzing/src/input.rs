//! How the targets read structure out of flat fuzz bytes, and the inverse the seed writer uses,
//! so corpus files made from real captures mean to the targets what they meant on the wire.

/// Reads fields off the front of a byte string; short reads give what is left.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// One byte, 0 when none is left.
    pub fn byte(&mut self) -> u8 {
        let (&b, rest) = self.rest.split_first().unwrap_or((&0, &[]));
        self.rest = rest;
        b
    }

    /// A little-endian u16 (missing bytes read as 0).
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = b;
        a
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
}

/// One TCP segment of a two-sided conversation, as the `http_exchange` and `diagnose_stream`
/// targets read them: `[flags][len: u16 le][payload]`, repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSpec<'a> {
    /// Sent by the server (the side that answered the SYN).
    pub from_server: bool,
    /// The sender closes (FIN) after this payload.
    pub fin: bool,
    /// The sender resets (RST) after this payload.
    pub rst: bool,
    /// 1,000 bytes of this direction were lost before this segment (a capture gap).
    pub gap_before: bool,
    /// Milliseconds since the previous segment: `2^step` (0 ..= 32 s).
    pub step: u8,
    /// The payload.
    pub payload: &'a [u8],
}

impl SegmentSpec<'_> {
    /// Bits of the flags byte.
    const SERVER: u8 = 1;
    const FIN: u8 = 2;
    const RST: u8 = 4;
    const GAP: u8 = 8;

    /// Parses the whole input into segments.
    pub fn parse_all(data: &[u8]) -> Vec<SegmentSpec<'_>> {
        let mut r = Reader::new(data);
        let mut out = Vec::new();
        while !r.is_empty() {
            let flags = r.byte();
            let len = usize::from(r.u16());
            out.push(SegmentSpec {
                from_server: flags & Self::SERVER != 0,
                fin: flags & Self::FIN != 0,
                rst: flags & Self::RST != 0,
                gap_before: flags & Self::GAP != 0,
                step: (flags >> 4).min(15),
                payload: r.take(len),
            });
        }
        out
    }

    /// Appends this segment in the layout [`SegmentSpec::parse_all`] reads.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut flags = self.step.min(15) << 4;
        for (on, bit) in [
            (self.from_server, Self::SERVER),
            (self.fin, Self::FIN),
            (self.rst, Self::RST),
            (self.gap_before, Self::GAP),
        ] {
            if on {
                flags |= bit;
            }
        }
        let len = self.payload.len().min(usize::from(u16::MAX));
        out.push(flags);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&self.payload[..len]);
    }
}

/// Deterministic piece lengths for feeding `len` bytes to a reassembler in parts: derived
/// from the data itself, so a crash reproduces from the input alone. Every length is at least
/// 1 and they sum to `len`.
pub fn piece_lengths(data: &[u8], len: usize) -> Vec<usize> {
    // FNV-1a of the data seeds a xorshift; small and large pieces both occur.
    let mut x = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let cap = match x % 4 {
            0 => 1,
            1 => 3,
            2 => 17,
            _ => 700,
        };
        let n = (1 + (x >> 8) as usize % cap).min(left);
        out.push(n);
        left -= n;
    }
    out
}
