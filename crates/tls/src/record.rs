//! Zero-copy views of TLS records (RFC 8446 §5.1, RFC 5246 §6.2), handshake messages and the
//! hello extensions visible in clear.

/// Bytes of a record header: content type, version, length.
pub const HEADER_LEN: usize = 5;

/// The largest record length accepted: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows
/// (TLS 1.3 allows 256); anything longer is not a TLS record.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// A record's content type (the byte on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentType(pub u8);

impl ContentType {
    /// `change_cipher_spec` (20).
    pub const CHANGE_CIPHER_SPEC: ContentType = ContentType(20);
    /// `alert` (21).
    pub const ALERT: ContentType = ContentType(21);
    /// `handshake` (22).
    pub const HANDSHAKE: ContentType = ContentType(22);
    /// `application_data` (23); in TLS 1.3 every encrypted record has this outer type.
    pub const APPLICATION_DATA: ContentType = ContentType(23);
    /// `heartbeat` (24, RFC 6520).
    pub const HEARTBEAT: ContentType = ContentType(24);
}

/// True when `h` (at least [`HEADER_LEN`] bytes) is a plausible record header: a known content
/// type, major version 3, a minor version up to 4 and a length within [`MAX_RECORD_LEN`].
#[inline]
pub fn header_ok(h: &[u8]) -> bool {
    h.len() >= HEADER_LEN
        && (20..=24).contains(&h[0])
        && h[1] == 3
        && h[2] <= 4
        && usize::from(u16::from_be_bytes([h[3], h[4]])) <= MAX_RECORD_LEN
}

/// True when a stream's first payload opens a TLS handshake: a handshake record whose first
/// message is a Client Hello (1) or Server Hello (2). This is how a stream is recognized as
/// TLS on any port.
pub fn starts_handshake(payload: &[u8]) -> bool {
    header_ok(payload) && payload[0] == 22 && matches!(payload.get(HEADER_LEN), Some(1 | 2))
}

/// One whole record: header and fragment.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    bytes: &'a [u8],
}

impl<'a> Record<'a> {
    /// The record at the start of `b` and what follows it; `None` when `b` does not hold a
    /// whole, plausible record.
    pub fn split(b: &'a [u8]) -> Option<(Record<'a>, &'a [u8])> {
        if !header_ok(b) {
            return None;
        }
        let end = HEADER_LEN + usize::from(u16::from_be_bytes([b[3], b[4]]));
        (b.len() >= end).then(|| (Record { bytes: &b[..end] }, &b[end..]))
    }

    /// Every whole record at the start of `b`, in order (stops at the first partial one).
    pub fn all(mut b: &'a [u8]) -> impl Iterator<Item = Record<'a>> {
        std::iter::from_fn(move || {
            let (r, rest) = Record::split(b)?;
            b = rest;
            Some(r)
        })
    }

    /// Header and fragment.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// `tls.record.content_type` (or `opaque_type`).
    pub fn content_type(&self) -> ContentType {
        ContentType(self.bytes[0])
    }
    /// `tls.record.version` (legacy_record_version).
    pub fn version(&self) -> u16 {
        u16::from_be_bytes([self.bytes[1], self.bytes[2]])
    }
    /// `tls.record.length`: the fragment's length.
    pub fn length(&self) -> u16 {
        u16::from_be_bytes([self.bytes[3], self.bytes[4]])
    }
    /// The fragment after the header.
    pub fn fragment(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// The handshake messages of a cleartext handshake record (each with as much of its body
    /// as the record holds).
    pub fn handshakes(&self) -> impl Iterator<Item = Handshake<'a>> {
        handshakes_in(self.fragment())
    }

    /// A cleartext alert's level and description.
    pub fn alert(&self) -> Option<(u8, u8)> {
        alert_in(self.fragment())
    }
}

/// The handshake messages in `b`, a cleartext handshake record's fragment or a decrypted
/// handshake record's plaintext (each with as much of its body as `b` holds).
pub fn handshakes_in(b: &[u8]) -> impl Iterator<Item = Handshake<'_>> {
    let mut b = b;
    {
        std::iter::from_fn(move || {
            if b.len() < 4 {
                return None;
            }
            let len = u32::from_be_bytes([0, b[1], b[2], b[3]]);
            let end = (4 + len as usize).min(b.len());
            let h = Handshake {
                msg_type: b[0],
                length: len,
                body: &b[4..end],
            };
            b = &b[end..];
            Some(h)
        })
    }
}

/// An alert's level and description from its (clear or decrypted) body.
pub fn alert_in(b: &[u8]) -> Option<(u8, u8)> {
    match b {
        [level, desc, ..] => Some((*level, *desc)),
        _ => None,
    }
}

/// One handshake message (RFC 8446 §4).
#[derive(Clone, Copy, Debug)]
pub struct Handshake<'a> {
    /// `tls.handshake.type`.
    pub msg_type: u8,
    /// `tls.handshake.length` as the header says.
    pub length: u32,
    /// The body, cut at the record's end.
    pub body: &'a [u8],
}

/// Handshake message types this crate reads.
pub mod handshake_type {
    /// `client_hello`.
    pub const CLIENT_HELLO: u8 = 1;
    /// `server_hello`.
    pub const SERVER_HELLO: u8 = 2;
}

/// The Server Hello random that makes it a Hello Retry Request (RFC 8446 §4.1.3: the
/// SHA-256 of "HelloRetryRequest").
pub const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

impl Handshake<'_> {
    /// The name tshark's Info column gives this message: a Server Hello carrying the Hello
    /// Retry Request random is a "Hello Retry Request".
    pub fn name(&self) -> &'static str {
        if self.msg_type == handshake_type::SERVER_HELLO
            && self.body.get(2..34) == Some(&HELLO_RETRY_REQUEST_RANDOM[..])
        {
            return "Hello Retry Request";
        }
        handshake_name(self.msg_type)
    }
}

/// The clear parts of a Client Hello or Server Hello.
#[derive(Clone, Copy, Debug)]
pub struct Hello<'a> {
    /// legacy_version (`tls.handshake.version`).
    pub version: u16,
    /// Cipher suites, two bytes each (one for a Server Hello).
    pub cipher_suites: &'a [u8],
    /// The extensions block (type, length, data ...).
    pub extensions: &'a [u8],
    /// True for a Client Hello.
    pub client: bool,
}

impl<'a> Hello<'a> {
    /// Reads a Client Hello (`client`) or Server Hello body; `None` when it is cut before the
    /// cipher suites.
    pub fn parse(body: &'a [u8], client: bool) -> Option<Hello<'a>> {
        let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
        let mut at = 2 + 32;
        let sid = usize::from(*body.get(at)?);
        at += 1 + sid;
        let cipher_suites = if client {
            let n = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
            at += 2;
            let cs = body.get(at..at + n)?;
            at += n;
            let comp = usize::from(*body.get(at)?);
            at += 1 + comp;
            cs
        } else {
            let cs = body.get(at..at + 2)?;
            at += 3;
            cs
        };
        let extensions = match body.get(at..at + 2) {
            Some(l) => {
                let n = usize::from(u16::from_be_bytes([l[0], l[1]]));
                let start = at + 2;
                &body[start.min(body.len())..(start + n).min(body.len())]
            }
            None => &[],
        };
        Some(Hello {
            version,
            cipher_suites,
            extensions,
            client,
        })
    }

    /// The extensions of a TLS 1.3 Encrypted Extensions message (decrypted), read as a
    /// Server Hello's (no version, no suites).
    pub fn encrypted_extensions(body: &'a [u8]) -> Hello<'a> {
        let n = body
            .get(..2)
            .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
        Hello {
            version: 0x0304,
            cipher_suites: &[],
            extensions: body.get(2..(2 + n).min(body.len())).unwrap_or(&[]),
            client: false,
        }
    }

    /// Cipher suites in order.
    pub fn suites(&self) -> impl Iterator<Item = u16> + 'a {
        self.cipher_suites
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }

    /// Extensions in order: type and data.
    pub fn extensions(&self) -> impl Iterator<Item = (u16, &'a [u8])> {
        let mut b = self.extensions;
        std::iter::from_fn(move || {
            if b.len() < 4 {
                return None;
            }
            let t = u16::from_be_bytes([b[0], b[1]]);
            let n = usize::from(u16::from_be_bytes([b[2], b[3]]));
            let end = (4 + n).min(b.len());
            let data = &b[4..end];
            b = &b[end..];
            Some((t, data))
        })
    }

    /// Host names of the server_name extension (0).
    pub fn server_names(&self) -> impl Iterator<Item = &'a [u8]> {
        self.extension_data(0).flat_map(|d| {
            let mut b = d.get(2..).unwrap_or(&[]);
            std::iter::from_fn(move || {
                let n = usize::from(u16::from_be_bytes([*b.get(1)?, *b.get(2)?]));
                let name = b.get(3..3 + n)?;
                b = &b[3 + n..];
                Some(name)
            })
        })
    }

    /// Protocol names of the ALPN extension (16).
    pub fn alpn(&self) -> impl Iterator<Item = &'a [u8]> {
        self.extension_data(16).flat_map(|d| {
            let mut b = d.get(2..).unwrap_or(&[]);
            std::iter::from_fn(move || {
                let n = usize::from(*b.first()?);
                let name = b.get(1..1 + n)?;
                b = &b[1 + n..];
                Some(name)
            })
        })
    }

    /// Versions of the supported_versions extension (43): the client's list, or the one the
    /// server chose.
    pub fn supported_versions(&self) -> impl Iterator<Item = u16> + 'a {
        let client = self.client;
        self.extension_data(43).flat_map(move |d| {
            let list = if client { d.get(1..).unwrap_or(&[]) } else { d };
            list.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
        })
    }

    fn extension_data(&self, t: u16) -> impl Iterator<Item = &'a [u8]> {
        self.extensions()
            .filter(move |&(et, _)| et == t)
            .map(|(_, d)| d)
    }

    /// The version this Server Hello settles: supported_versions when present, else
    /// legacy_version.
    pub fn negotiated_version(&self) -> u16 {
        self.supported_versions().next().unwrap_or(self.version)
    }
}

/// The name tshark 4.0.17 gives a handshake message type in the Info column.
pub fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "Hello Request",
        1 => "Client Hello",
        2 => "Server Hello",
        3 => "Hello Verify Request",
        4 => "New Session Ticket",
        5 => "End of Early Data",
        6 => "Hello Retry Request",
        8 => "Encrypted Extensions",
        11 => "Certificate",
        12 => "Server Key Exchange",
        13 => "Certificate Request",
        14 => "Server Hello Done",
        15 => "Certificate Verify",
        16 => "Client Key Exchange",
        20 => "Finished",
        22 => "Certificate Status",
        24 => "Key Update",
        _ => "Unknown Handshake Message",
    }
}

/// The short protocol name tshark shows for a version (`TLSv1.3`).
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "TLS",
    }
}

/// Alert level names (RFC 5246 §7.2).
pub fn alert_level_name(l: u8) -> &'static str {
    match l {
        1 => "Warning",
        2 => "Fatal",
        _ => "Unknown",
    }
}

/// Alert description names as tshark spells them.
pub fn alert_description_name(d: u8) -> &'static str {
    match d {
        0 => "Close Notify",
        10 => "Unexpected Message",
        20 => "Bad Record MAC",
        21 => "Decryption Failed",
        22 => "Record Overflow",
        30 => "Decompression Failure",
        40 => "Handshake Failure",
        41 => "No Certificate",
        42 => "Bad Certificate",
        43 => "Unsupported Certificate",
        44 => "Certificate Revoked",
        45 => "Certificate Expired",
        46 => "Certificate Unknown",
        47 => "Illegal Parameter",
        48 => "Unknown CA",
        49 => "Access Denied",
        50 => "Decode Error",
        51 => "Decrypt Error",
        60 => "Export Restriction",
        70 => "Protocol Version",
        71 => "Insufficient Security",
        80 => "Internal Error",
        86 => "Inappropriate Fallback",
        90 => "User Canceled",
        100 => "No Renegotiation",
        109 => "Missing Extension",
        110 => "Unsupported Extension",
        111 => "Certificate Unobtainable",
        112 => "Unrecognized Name",
        113 => "Bad Certificate Status Response",
        114 => "Bad Certificate Hash Value",
        115 => "Unknown PSK Identity",
        116 => "Certificate Required",
        120 => "No application Protocol",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_coalesced_records_and_stops_at_a_partial_one() {
        let b = [
            23, 3, 3, 0, 2, 0xaa, 0xbb, 21, 3, 3, 0, 2, 1, 0, 23, 3, 3, 0, 9, 1,
        ];
        let recs: Vec<_> = Record::all(&b).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].content_type(), ContentType::APPLICATION_DATA);
        assert_eq!(recs[1].alert(), Some((1, 0)));
        assert_eq!(recs[1].version(), 0x0303);
    }

    #[test]
    fn refuses_lying_lengths_and_other_protocols() {
        assert!(!header_ok(&[23, 3, 3, 0xff, 0xff]));
        assert!(!header_ok(b"GET / HTTP/1.1"));
        assert!(!starts_handshake(&[22, 3, 1, 0, 5, 11, 0, 0, 1, 0]));
        assert!(starts_handshake(&[22, 3, 1, 0, 5, 1, 0, 0, 1, 0]));
        assert!(Record::split(&[22, 3, 1, 0, 5, 1]).is_none());
    }

    #[test]
    fn a_cut_hello_yields_nothing_rather_than_panicking() {
        for n in 0..60 {
            let body = vec![3u8; n];
            let _ = Hello::parse(&body, true).map(|h| h.server_names().count());
            let _ = Hello::parse(&body, false).map(|h| h.negotiated_version());
        }
    }
}
