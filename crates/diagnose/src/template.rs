//! Message templates: what a heartbeat whose bytes change every beat keeps from one beat to the
//! next, learned from its structure.
//!
//! Real heartbeats carry a sequence number, a send time or a random id (FIX's MsgSeqNum and
//! SendingTime, a JSON `{"seq":41,"ts":...}`, a binary header followed by a counter), so no two
//! beats have the same bytes. What stays is the structure: the length (within a band), the fixed
//! bytes, and where the variable fields sit. A [`Template`] holds exactly that, in a fixed-size
//! structure (no allocation), and a [`Shape`] is one message seen the same way:
//!
//! * **Text** messages (mostly printable ASCII; FIX's SOH delimiter counts as text) are
//!   normalized before they are compared: a run of ASCII digits becomes one token, whatever its
//!   length (so `seq=9` and `seq=10` look alike and the bytes after them stay aligned), and so
//!   does an alphanumeric run of at least [`ID_MIN_LEN`] characters with a digit in it (a hex or
//!   base-36 id, a UUID group: the same token, since a random hex id is now and then all
//!   digits). Timestamps are digit runs between punctuation, so they normalize away too.
//! * **Binary** messages are compared byte for byte at equal length; bytes that differ between
//!   beats (a counter's low bytes, a timestamp, a random id) are masked as the template learns
//!   them, as long as enough bytes stay fixed ([`Template::absorb`]).
//!
//! Only the first [`VIEW_BYTES`] bytes (of the normalized form, for text) are compared position
//! by position; for text, normalized bytes up to [`SCAN_LIMIT`] enter a hash of the rest, and a
//! message longer than that is bounded by its length band; a binary message's bytes past the
//! view are bounded by its (equal) length only. A message longer than [`MAX_TEMPLATE_LEN`] is never a
//! heartbeat: a beat is small, and the bound keeps the work per message constant.

/// Payloads up to this size may be heartbeat probes or replies with identical bytes every
/// beat; longer ones (up to [`MAX_TEMPLATE_LEN`]) only as beats of a template.
pub(crate) const MAX_BEAT_LEN: u32 = 64;
/// Bytes of a payload kept as its signature (exact for payloads up to this size).
pub(crate) const SIG_BYTES: usize = 8;

/// Messages up to this size may be heartbeats recognized by their template. Beyond the 64 bytes
/// of an exact payload ([`MAX_BEAT_LEN`]): a FIX Heartbeat is ~80 bytes, an ISO
/// 8583 echo test 100-200, a JSON ping with an id and a time 60-150.
pub(crate) const MAX_TEMPLATE_LEN: u32 = 512;
/// Normalized bytes compared position by position (a bit of the mask each).
pub(crate) const VIEW_BYTES: usize = 64;
/// Normalized bytes of a message that make its shape (view and tail); the rest is only its
/// length.
pub(crate) const SCAN_LIMIT: usize = 128;
/// An alphanumeric run at least this long, mixing digits and letters, is an id.
pub(crate) const ID_MIN_LEN: usize = 6;

/// Bytes a binary beat may newly mask once its template has seen three beats.
pub(crate) const MASK_GROWTH: u32 = 2;

/// Token standing for a variable field (a digit run, an id) in a normalized text message.
const VARIABLE: u8 = 0x1c;
/// Token standing for a byte that is neither printable nor a text delimiter.
const OTHER: u8 = 0x1e;

/// One message as templates see it: its length and its normalized leading bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The message's length on the wire.
    pub len: u32,
    pub text: bool,
    /// Bytes of the normalized form read (at most [`SCAN_LIMIT`]).
    pub norm_len: u16,
    /// The message went on beyond [`SCAN_LIMIT`] normalized bytes.
    pub cut: bool,
    /// The first [`VIEW_BYTES`] of the normalized form (`min(norm_len, VIEW_BYTES)` are valid).
    pub view: [u8; VIEW_BYTES],
    /// FNV-1a of the normalized bytes after the view.
    pub tail: u64,
    /// Distinct byte values among the raw bytes read, up to [`MIN_DISTINCT`].
    pub distinct: u8,
}

/// Distinct byte values a message longer than an exact beat needs to be a template: one byte
/// repeated (`qqqq…`, zeros) is filler, a throughput or echo test, not a protocol's message,
/// which has a header and fields.
pub(crate) const MIN_DISTINCT: u8 = 4;

fn printable(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || matches!(b, b'\r' | b'\n' | b'\t' | 0x01)
}

impl Shape {
    /// The shape of a message of `len` bytes whose captured bytes are `payload` (possibly cut).
    pub(crate) fn of(len: u32, payload: &[u8]) -> Shape {
        let raw = &payload[..payload
            .len()
            .min(MAX_TEMPLATE_LEN as usize)
            .min(len as usize)];
        let head = &raw[..raw.len().min(SCAN_LIMIT)];
        let printable_n = head.iter().filter(|&&b| printable(b)).count();
        // Text: at most one byte in eight is something else (a binary length prefix).
        let text = !head.is_empty() && printable_n * 8 >= head.len() * 7;
        let mut s = Shape {
            len,
            text,
            norm_len: 0,
            cut: false,
            view: [0; VIEW_BYTES],
            tail: 0xcbf2_9ce4_8422_2325,
            distinct: 0,
        };
        let mut seen = [head.first().copied().unwrap_or(0); MIN_DISTINCT as usize];
        for &b in head {
            let n = s.distinct as usize;
            if n < seen.len() && !seen[..n].contains(&b) {
                seen[n] = b;
                s.distinct += 1;
            }
        }
        if !text {
            // Binary: the view, then only the length (fields past the view may vary too, and
            // an equal length with a quarter of the view fixed is already specific).
            let n = head.len().min(VIEW_BYTES);
            s.view[..n].copy_from_slice(&head[..n]);
            s.norm_len = n as u16;
            return s;
        }
        let mut i = 0;
        while i < raw.len() {
            if s.norm_len as usize == SCAN_LIMIT {
                s.cut = true;
                break;
            }
            let b = raw[i];
            if b.is_ascii_alphanumeric() {
                let start = i;
                let (mut digits, mut letters) = (0usize, 0usize);
                while i < raw.len() && raw[i].is_ascii_alphanumeric() {
                    if raw[i].is_ascii_digit() {
                        digits += 1;
                    } else {
                        letters += 1;
                    }
                    i += 1;
                }
                let run = &raw[start..i];
                if digits > 0 && (letters == 0 || run.len() >= ID_MIN_LEN) {
                    s.push(VARIABLE);
                } else {
                    // Words stay, each digit run inside them (`v2`, `node7`) is one token.
                    let mut j = 0;
                    while j < run.len() && (s.norm_len as usize) < SCAN_LIMIT {
                        if run[j].is_ascii_digit() {
                            while j < run.len() && run[j].is_ascii_digit() {
                                j += 1;
                            }
                            s.push(VARIABLE);
                        } else {
                            s.push(run[j]);
                            j += 1;
                        }
                    }
                }
                continue;
            }
            s.push(if printable(b) { b } else { OTHER });
            i += 1;
        }
        s
    }

    #[inline]
    fn push(&mut self, b: u8) {
        let at = self.norm_len as usize;
        if at >= SCAN_LIMIT {
            self.cut = true;
            return;
        }
        if at < VIEW_BYTES {
            self.view[at] = b;
        } else {
            self.tail = (self.tail ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.norm_len += 1;
    }

    /// Bytes of the view that are valid.
    pub(crate) fn view_len(&self) -> usize {
        (self.norm_len as usize).min(VIEW_BYTES)
    }

    /// Whether a message of this shape may be a heartbeat's beat when it is longer than
    /// `exact_max` bytes (see [`MIN_DISTINCT`]).
    pub(crate) fn may_be_beat(&self, exact_max: u32) -> bool {
        self.len <= exact_max || self.distinct >= MIN_DISTINCT
    }
}

/// Whether a message starts like an HTTP request or response head: HTTP has its own analysis,
/// and a keep-alive connection's repeated requests are not heartbeats, so such a message is
/// never a template (checked before its shape is built: HTTP is most of the small payloads a
/// busy capture holds).
pub(crate) fn is_http_head(raw: &[u8]) -> bool {
    keepsight_http::starts_like_message(raw)
}

/// The structure shared by the beats of one heartbeat candidate (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template {
    pub shape: Shape,
    /// View positions whose bytes changed between beats.
    pub mask: u64,
    /// Beats that matched after the first (saturating).
    pub absorbed: u16,
    /// The length band of the beats seen.
    pub len_min: u32,
    pub len_max: u32,
    /// Some beat differed from the first one in its leading bytes or length (it matched by
    /// template, not by identical bytes); set by the caller, which tried those first.
    pub varied: bool,
}

impl Template {
    pub(crate) fn new(shape: Shape) -> Template {
        Template {
            shape,
            mask: 0,
            absorbed: 0,
            len_min: shape.len,
            len_max: shape.len,
            varied: false,
        }
    }

    /// Whether `s` is another beat of this template; if so the template learns from it (its
    /// length band widens, its differing bytes are masked). Text is compared after
    /// normalization and must then be identical (`PING` and `PONG` are two messages); a binary
    /// message must keep at least a quarter of its compared bytes (and 4) fixed: two unrelated
    /// binary messages of one length share far fewer. Once two beats have shown which bytes
    /// vary, a beat may add at most [`MASK_GROWTH`] more (a counter carrying into its next byte):
    /// a message that differs in bytes the beats always shared is another message.
    pub(crate) fn absorb(&mut self, s: &Shape) -> bool {
        let t = &self.shape;
        if s.text != t.text || s.norm_len != t.norm_len || s.tail != t.tail || s.cut != t.cut {
            return false;
        }
        if t.text {
            // Longer than the scan: the rest is judged by its length only, within 25 %.
            if s.cut && s.len.abs_diff(t.len) * 4 > t.len {
                return false;
            }
        } else if s.len != t.len {
            return false;
        }
        let n = t.view_len();
        let mut diff = 0u64;
        for i in 0..n {
            if s.view[i] != t.view[i] {
                diff |= 1 << i;
            }
        }
        let mask = self.mask | diff;
        let fixed = n - mask.count_ones() as usize;
        let grown = (mask & !self.mask).count_ones();
        if grown > 0
            && (t.text || fixed < (n / 4).max(4) || self.absorbed >= 2 && grown > MASK_GROWTH)
        {
            return false;
        }
        self.mask = mask;
        self.absorbed = self.absorbed.saturating_add(1);
        self.len_min = self.len_min.min(s.len);
        self.len_max = self.len_max.max(s.len);
        true
    }

    /// The fixed bytes the template starts with, up to `SIG_BYTES`, as a signature that
    /// identifies the template across the connections to one service.
    pub(crate) fn key_bytes(&self) -> ([u8; SIG_BYTES], u8) {
        let mut b = [0u8; SIG_BYTES];
        let n = self.shape.view_len().min(b.len());
        for (i, out) in b.iter_mut().enumerate().take(n) {
            if self.mask & (1 << i) == 0 {
                *out = self.shape.view[i];
            }
        }
        (b, n as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpl(first: &[u8]) -> Template {
        Template::new(Shape::of(first.len() as u32, first))
    }

    fn absorbs(t: &mut Template, m: &[u8]) -> bool {
        t.absorb(&Shape::of(m.len() as u32, m))
    }

    #[test]
    fn text_beats_with_counters_times_and_ids_share_a_template() {
        let mut t =
            tmpl(b"{\"type\":\"ping\",\"seq\":9,\"ts\":1796647532.702618,\"id\":\"a3f9c2e1\"}");
        assert!(absorbs(
            &mut t,
            b"{\"type\":\"ping\",\"seq\":10,\"ts\":1796647535.2,\"id\":\"0b7d41ff\"}"
        ));
        // FIX: the same message type with its own MsgSeqNum and SendingTime each time.
        let mut f = tmpl(b"8=FIX.4.4\x019=57\x0135=0\x0134=12\x0149=SRV\x0156=CLI\x0152=20261207-18:40:01.123\x0110=201\x01");
        assert!(absorbs(
            &mut f,
            b"8=FIX.4.4\x019=58\x0135=0\x0134=133\x0149=SRV\x0156=CLI\x0152=20261207-18:40:03.124\x0110=017\x01"
        ));
        // Another message type is another template.
        assert!(!absorbs(
            &mut f,
            b"8=FIX.4.4\x019=58\x0135=1\x0134=134\x0149=SRV\x0156=CLI\x01112=TEST\x0110=017\x01"
        ));
    }

    #[test]
    fn different_text_is_not_absorbed() {
        let mut t = tmpl(b"PING server-1\r\n");
        assert!(!absorbs(&mut t, b"QUIT server-1\r\n"));
        assert!(!absorbs(&mut t, b"SET key value\r\n"));
        assert!(!absorbs(&mut t, b"PONG server-1\r\n"));
        assert!(absorbs(&mut t, b"PING server-1\r\n"));
    }

    #[test]
    fn binary_counters_are_masked_but_random_bytes_are_not_a_template() {
        let beat = |seq: u32, ts: u64, id: [u8; 16]| {
            let mut m = vec![0xbe, 0xa7, 0x00, 0x01];
            m.extend_from_slice(&seq.to_be_bytes());
            m.extend_from_slice(&ts.to_be_bytes());
            m.extend_from_slice(&id);
            m
        };
        let mut t = tmpl(&beat(1, 1_796_647_532_702, [7; 16]));
        assert!(absorbs(&mut t, &beat(2, 1_796_647_535_207, [0x31; 16])));
        assert!(absorbs(&mut t, &beat(3, 1_796_647_537_702, [0xc4; 16])));
        assert!(t.mask != 0);
        // Same length, other header: not this template.
        let mut other = beat(4, 1_796_647_540_000, [1; 16]);
        other[..4].copy_from_slice(&[0x17, 0x03, 0x03, 0x00]);
        assert!(!absorbs(&mut t, &other));
        // Random data of one length share almost no byte.
        let r1: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let r2: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(40_503) >> 3) as u8 ^ 0x5a)
            .collect();
        let mut rt = tmpl(&r1);
        assert!(!absorbs(&mut rt, &r2));
    }

    #[test]
    fn filler_is_no_long_beat() {
        assert!(!Shape::of(200, &[b'q'; 200]).may_be_beat(64));
        assert!(Shape::of(20, &[b'q'; 20]).may_be_beat(64));
        assert!(Shape::of(90, b"{\"type\":\"heartbeat\",\"seq\":1234}").may_be_beat(64));
    }

    #[test]
    fn http_heads_are_recognized() {
        assert!(is_http_head(
            b"GET /api/v1/items?id=3 HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
        assert!(is_http_head(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_http_head(b"PING\r\n"));
    }
}
