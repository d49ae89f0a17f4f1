//! Header blocks of one direction: HEADERS or PUSH_PROMISE plus their CONTINUATION frames,
//! decoded with HPACK (the `loona-hpack` crate) under fixed bounds, so a hostile peer (an
//! "HPACK bomb": a huge dynamic table, many references to one large entry, endless
//! CONTINUATION) costs bounded memory and yields a note instead of a header list.

use crate::frame::{flags, Frame, FrameType};
use std::ops::Range;

/// The largest dynamic table a peer may ask for (RFC 7541 §6.3 size updates); beyond it the
/// direction's headers are no longer decoded. The HPACK default is 4096 octets.
pub const MAX_TABLE_SIZE: usize = 64 * 1024;
/// The largest header block (HEADERS + CONTINUATION) assembled.
pub const MAX_BLOCK: usize = 256 * 1024;
/// The most header octets kept of one list (each field counted as name + value + 32, as
/// RFC 9113's SETTINGS_MAX_HEADER_LIST_SIZE counts them).
pub const MAX_LIST_SIZE: usize = 64 * 1024;
/// The most header fields kept of one list (tshark stops after 200 as well).
pub const MAX_FIELDS: usize = 200;

/// A decoded header list: names and values in one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderList {
    text: String,
    fields: Vec<(Range<usize>, Range<usize>)>,
    /// Stream the block belongs to.
    pub stream_id: u32,
    /// Fields dropped past [`MAX_FIELDS`] or [`MAX_LIST_SIZE`] (the decoder still ran over
    /// them, keeping its table in step); once one is dropped, all later ones are.
    pub dropped: usize,
    /// For each frame of the block (HEADERS or PUSH_PROMISE, then each CONTINUATION), the
    /// fields whose representation ends in it, as tshark attributes them.
    pub fragments: Vec<Range<usize>>,
}

impl HeaderList {
    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(|(n, v)| (&self.text[n.clone()], &self.text[v.clone()]))
    }

    /// The fields of the block's `k`-th frame (see [`HeaderList::fragments`]).
    pub fn fragment(&self, k: usize) -> impl Iterator<Item = (&str, &str)> + '_ {
        let r = self.fragments.get(k).cloned().unwrap_or(0..0);
        self.fields[r]
            .iter()
            .map(|(n, v)| (&self.text[n.clone()], &self.text[v.clone()]))
    }

    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Number of fields kept.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when no field was kept.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The list's size as RFC 9113 counts it (name + value + 32 per field).
    fn size(&self) -> usize {
        self.text.len() + 32 * self.fields.len()
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        if self.fields.len() >= MAX_FIELDS
            || self.size() + name.len() + value.len() + 32 > MAX_LIST_SIZE
        {
            self.dropped += 1;
            return;
        }
        let n0 = self.text.len();
        self.text.push_str(&String::from_utf8_lossy(name));
        let n1 = self.text.len();
        self.text.push_str(&String::from_utf8_lossy(value));
        self.fields.push((n0..n1, n1..self.text.len()));
    }
}

/// What a frame did to its direction's header blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadersOutcome {
    /// The frame carries no header block.
    NoBlock,
    /// The block goes on in CONTINUATION frames.
    Pending,
    /// The block is complete and decoded.
    Decoded(HeaderList),
    /// The block could not be decoded: why. Once a block fails, the direction's dynamic table
    /// is out of step with the sender's, so later blocks fail too.
    Failed(String),
}

/// The HPACK decoder and the header block being assembled, for one direction.
pub struct HeaderBlocks {
    decoder: loona_hpack::Decoder<'static>,
    block: Vec<u8>,
    /// Where each frame's fragment ends in `block`.
    fragment_ends: Vec<usize>,
    block_stream: u32,
    in_block: bool,
    broken: Option<String>,
}

impl Default for HeaderBlocks {
    fn default() -> Self {
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(MAX_TABLE_SIZE);
        HeaderBlocks {
            decoder,
            block: Vec::new(),
            fragment_ends: Vec::new(),
            block_stream: 0,
            in_block: false,
            broken: None,
        }
    }
}

impl std::fmt::Debug for HeaderBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderBlocks")
            .field("block", &self.block.len())
            .field("broken", &self.broken)
            .finish()
    }
}

impl HeaderBlocks {
    /// Takes the next frame of the direction (every frame, in order: header blocks must be
    /// decoded in the order they were sent).
    pub fn on_frame(&mut self, f: &Frame<'_>) -> HeadersOutcome {
        let ty = f.header.ty;
        let Some(fragment) = f.header_block_fragment() else {
            return HeadersOutcome::NoBlock;
        };
        if ty == FrameType::CONTINUATION {
            if !self.in_block || f.header.stream_id != self.block_stream {
                return self.fail("CONTINUATION without a header block begun on its stream".into());
            }
        } else {
            self.block.clear();
            self.fragment_ends.clear();
            self.block_stream = f.header.stream_id;
        }
        if let Some(why) = &self.broken {
            self.in_block = !f.header.has(flags::END_HEADERS);
            return HeadersOutcome::Failed(why.clone());
        }
        if f.truncated() || self.block.len() + fragment.len() > MAX_BLOCK {
            return self.fail(format!(
                "header block on stream {} longer than {MAX_BLOCK} octets: headers of this \
                 direction are no longer decoded",
                f.header.stream_id
            ));
        }
        if !f.header.has(flags::END_HEADERS) {
            self.block.extend_from_slice(fragment);
            self.fragment_ends.push(self.block.len());
            self.in_block = true;
            return HeadersOutcome::Pending;
        }
        self.in_block = false;
        let mut list = HeaderList {
            stream_id: self.block_stream,
            ..HeaderList::default()
        };
        let block = if self.fragment_ends.is_empty() {
            fragment
        } else {
            self.block.extend_from_slice(fragment);
            &self.block[..]
        };
        self.fragment_ends.push(block.len());
        let result = self.decoder.decode_with_cb(block, |n, v| list.push(&n, &v));
        list.fragments = attribute(block, &self.fragment_ends, list.fields.len());
        self.fragment_ends.clear();
        self.block.clear();
        if self.block.capacity() > 64 * 1024 {
            self.block = Vec::new();
        }
        match result {
            Ok(()) => HeadersOutcome::Decoded(list),
            Err(e) => self.fail(format!(
                "HPACK error on stream {}: {e}; headers of this direction are no longer decoded",
                f.header.stream_id
            )),
        }
    }

    /// The reason header blocks of this direction are no longer decoded, once they are not.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    fn fail(&mut self, why: String) -> HeadersOutcome {
        self.block = Vec::new();
        self.in_block = false;
        self.broken.get_or_insert(why.clone());
        HeadersOutcome::Failed(why)
    }
}

/// For each fragment (ending at `ends`), the range of the first `kept` fields whose
/// representation ends in it. When the block cannot be walked, every field goes to the last.
fn attribute(block: &[u8], ends: &[usize], kept: usize) -> Vec<Range<usize>> {
    let mut out = vec![0..0; ends.len()];
    let field_ends = field_ends(block);
    let Some(field_ends) = field_ends.filter(|e| e.len() >= kept) else {
        if let Some(last) = out.last_mut() {
            *last = 0..kept;
        }
        return out;
    };
    let mut field = 0;
    for (k, &end) in ends.iter().enumerate() {
        let first = field;
        while field < kept && field_ends[field] <= end {
            field += 1;
        }
        out[k] = first..field;
    }
    out
}

/// Where each header field's representation ends in an HPACK block (RFC 7541 §6), size
/// updates skipped; `None` when the block is malformed.
fn field_ends(block: &[u8]) -> Option<Vec<usize>> {
    fn int(b: &[u8], at: &mut usize, prefix: u8) -> Option<u64> {
        let max = (1u64 << prefix) - 1;
        let mut v = u64::from(*b.get(*at)?) & max;
        *at += 1;
        if v < max {
            return Some(v);
        }
        let mut shift = 0;
        loop {
            let c = *b.get(*at)?;
            *at += 1;
            v = v.checked_add(u64::from(c & 0x7f).checked_shl(shift)?)?;
            shift += 7;
            if c & 0x80 == 0 || shift > 56 {
                return (c & 0x80 == 0).then_some(v);
            }
        }
    }
    fn string(b: &[u8], at: &mut usize) -> Option<()> {
        let len = int(b, at, 7)?;
        *at = at.checked_add(usize::try_from(len).ok()?)?;
        (*at <= b.len()).then_some(())
    }
    let mut ends = Vec::new();
    let mut at = 0;
    while at < block.len() {
        let first = block[at];
        if first & 0x80 != 0 {
            int(block, &mut at, 7)?;
        } else if first & 0xe0 == 0x20 {
            int(block, &mut at, 5)?;
            continue;
        } else {
            let prefix = if first & 0x40 != 0 { 6 } else { 4 };
            if int(block, &mut at, prefix)? == 0 {
                string(block, &mut at)?;
            }
            string(block, &mut at)?;
        }
        ends.push(at);
    }
    Some(ends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameHeader, HEADER_LEN};

    fn frame(ty: u8, fl: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        b.push(ty);
        b.push(fl);
        b.extend(sid.to_be_bytes());
        b.extend(payload);
        b
    }

    fn feed(h: &mut HeaderBlocks, b: &[u8]) -> HeadersOutcome {
        let f = Frame {
            header: FrameHeader::parse(b).unwrap(),
            payload: &b[HEADER_LEN..],
        };
        h.on_frame(&f)
    }

    /// RFC 7541 C.3.1: a request without Huffman coding.
    const C31: &[u8] = &[
        0x82, 0x86, 0x84, 0x41, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c,
        0x65, 0x2e, 0x63, 0x6f, 0x6d,
    ];

    #[test]
    fn a_block_split_over_continuation_decodes_like_a_whole_one() {
        let mut h = HeaderBlocks::default();
        assert_eq!(
            feed(&mut h, &frame(1, 0, 1, &C31[..5])),
            HeadersOutcome::Pending
        );
        let HeadersOutcome::Decoded(l) = feed(&mut h, &frame(9, 4, 1, &C31[5..])) else {
            panic!("not decoded")
        };
        let got: Vec<_> = l.iter().collect();
        assert_eq!(
            got,
            [
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ]
        );
        assert_eq!((l.stream_id, l.get(":path")), (1, Some("/")));
        // :method, :scheme and :path end in the 5-octet HEADERS fragment; :authority, whose
        // literal begins there, in the CONTINUATION, as tshark shows them.
        assert_eq!(l.fragments, vec![0..3, 3..4]);
        assert_eq!(
            l.fragment(1).next(),
            Some((":authority", "www.example.com"))
        );
        // The dynamic table now holds :authority (index 62).
        let HeadersOutcome::Decoded(l) = feed(&mut h, &frame(1, 4, 3, &[0x82, 0xbe])) else {
            panic!()
        };
        assert_eq!(l.get(":authority"), Some("www.example.com"));
    }

    #[test]
    fn a_bomb_keeps_bounded_memory_and_says_so() {
        // One 4000-octet value put in the table, then referenced 10000 times in one block.
        let mut h = HeaderBlocks::default();
        let mut b = vec![0x40, 1, b'x', 0x7f, 0xa1, 0x1e]; // literal, value length 4000
        b.extend(std::iter::repeat_n(b'v', 4000));
        assert!(matches!(
            feed(&mut h, &frame(1, 4, 1, &b)),
            HeadersOutcome::Decoded(_)
        ));
        let refs = vec![0xbe; 10_000];
        let HeadersOutcome::Decoded(l) = feed(&mut h, &frame(1, 4, 3, &refs)) else {
            panic!()
        };
        assert!(l.len() <= MAX_FIELDS && l.size() <= MAX_LIST_SIZE);
        assert_eq!(l.len() + l.dropped, 10_000);
        // A table size update past the bound, and an index past the table: notes, not panics.
        let out = feed(&mut h, &frame(1, 4, 5, &[0x3f, 0xe1, 0xff, 0x07, 0x82]));
        assert!(
            matches!(out, HeadersOutcome::Failed(ref w) if w.contains("HPACK")),
            "{out:?}"
        );
        assert!(matches!(
            feed(&mut h, &frame(1, 4, 7, &[0x82])),
            HeadersOutcome::Failed(_)
        ));
        let mut h = HeaderBlocks::default();
        assert!(matches!(
            feed(&mut h, &frame(1, 4, 1, &[0xff, 0x70])),
            HeadersOutcome::Failed(_)
        ));
    }

    #[test]
    fn endless_continuation_stops_at_the_block_bound() {
        let mut h = HeaderBlocks::default();
        feed(&mut h, &frame(1, 0, 1, &[0x82]));
        let chunk = vec![0x82; 16384];
        let mut failed = false;
        for _ in 0..(MAX_BLOCK / chunk.len() + 2) {
            if let HeadersOutcome::Failed(w) = feed(&mut h, &frame(9, 0, 1, &chunk)) {
                assert!(w.contains("longer than"));
                failed = true;
                break;
            }
        }
        assert!(failed);
        assert!(h.block.capacity() <= MAX_BLOCK);
        assert!(matches!(
            feed(&mut h, &frame(9, 4, 3, &[0x82])),
            HeadersOutcome::Failed(_)
        ));
    }
}
