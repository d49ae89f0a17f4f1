//! TLS records per frame: which streams are TLS (recognized by their first payload, on any
//! port) and, for each of their segments, the records it completed, as tshark 4.0.17 shows
//! them after its TCP reassembly. Streams that are not TLS cost one vector slot each.

use keepsight_tls::record::starts_handshake;
use keepsight_tls::{Direction, Record, RecordContext, SegmentRole, Session};

/// The TLS layer of one frame.
#[derive(Clone, Copy, Debug)]
pub struct FrameTls<'a> {
    /// Which direction of the stream sent it (0: the side that sent the first payload).
    pub dir: u8,
    /// The session before this frame's records.
    pub start: Session,
    /// A record this frame completed that began in an earlier segment.
    pub assembled: Option<&'a [u8]>,
    /// The whole records that start in this frame's payload.
    pub whole: &'a [u8],
    /// Bytes of the payload follow the assembled record (tshark dissects them as a second
    /// TLS layer).
    pub after_assembled: bool,
    /// What the segment did to the record stream.
    pub role: SegmentRole,
}

impl<'a> FrameTls<'a> {
    /// The records this frame completed, in order, each with how to read it.
    pub fn records(&self) -> impl Iterator<Item = (Record<'a>, RecordContext)> + 'a {
        let mut session = self.start;
        let dir = usize::from(self.dir);
        let first = self
            .assembled
            .and_then(|b| Record::split(b).map(|(r, _)| r));
        first
            .into_iter()
            .chain(Record::all(self.whole))
            .map(move |r| {
                let ctx = session.observe(dir, &r);
                (r, ctx)
            })
    }

    /// How many times tshark's TLS dissector runs on the frame (`tls` in `frame.protocols`):
    /// once for a reassembled record, once more for the bytes after it.
    pub fn layers(&self) -> usize {
        match self.role {
            SegmentRole::Records if self.assembled.is_some() => {
                1 + usize::from(self.after_assembled)
            }
            SegmentRole::Records => 1,
            SegmentRole::Starts => 1,
            SegmentRole::Continues | SegmentRole::Lost => 0,
        }
    }
}

const UNDECIDED: u32 = 0;
const NOT_TLS: u32 = 1;

/// One TLS stream's record reassemblers and session.
struct TlsStream {
    /// The side that sent the first payload: direction 0.
    first_sender: ([u8; 16], u16),
    dirs: [Direction; 2],
    session: Session,
}

/// Every stream's TLS state, indexed by `tcp.stream`.
#[derive(Default)]
pub(crate) struct TlsTracker {
    /// Per stream: undecided, not TLS, or 2 + the index of its [`TlsStream`].
    slots: Vec<u32>,
    streams: Vec<TlsStream>,
}

impl TlsTracker {
    /// False for a stream already known not to be TLS: the one check its segments pay.
    #[inline]
    pub(crate) fn may_be_tls(&self, stream: u32) -> bool {
        self.slots.get(stream as usize) != Some(&NOT_TLS)
    }

    /// A segment without payload that ends direction `src` of `stream` (FIN) or the whole
    /// stream (RST): its record buffers are freed, so ended TLS streams hold no memory.
    pub(crate) fn end(&mut self, stream: u32, src: ([u8; 16], u16), rst: bool) {
        let Some(&slot) = self.slots.get(stream as usize) else {
            return;
        };
        if slot < 2 {
            return;
        }
        let t = &mut self.streams[(slot - 2) as usize];
        if rst {
            t.dirs.iter_mut().for_each(Direction::release);
        } else {
            t.dirs[usize::from(src != t.first_sender)].release();
        }
    }

    /// Feeds one in-order, whole payload segment of stream `stream` from `src` at relative
    /// sequence number `seq`; the frame's TLS layer when the stream is TLS.
    pub(crate) fn segment<'a>(
        &'a mut self,
        stream: u32,
        src: ([u8; 16], u16),
        seq: u32,
        payload: &'a [u8],
    ) -> Option<FrameTls<'a>> {
        let i = stream as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, UNDECIDED);
        }
        let slot = match self.slots[i] {
            NOT_TLS => return None,
            UNDECIDED => {
                if !starts_handshake(payload) {
                    self.slots[i] = NOT_TLS;
                    return None;
                }
                self.streams.push(TlsStream {
                    first_sender: src,
                    dirs: [Direction::new(), Direction::new()],
                    session: Session::default(),
                });
                self.slots[i] = self.streams.len() as u32 + 1;
                self.streams.len() - 1
            }
            s => (s - 2) as usize,
        };
        let t = &mut self.streams[slot];
        let dir = usize::from(src != t.first_sender);
        let start = t.session;
        let pushed = t.dirs[dir].push(seq, payload);
        if pushed.role == SegmentRole::Lost {
            return None;
        }
        for r in pushed.records(&t.dirs[dir], payload) {
            t.session.observe(dir, &r);
        }
        let d = &t.dirs[dir];
        Some(FrameTls {
            dir: dir as u8,
            start,
            assembled: if pushed.assembled {
                d.assembled().map(|r| r.bytes())
            } else {
                None
            },
            whole: &payload[pushed.whole.clone()],
            after_assembled: pushed.after_assembled,
            role: pushed.role,
        })
    }
}
