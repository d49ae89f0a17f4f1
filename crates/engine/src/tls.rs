//! TLS records per frame: which streams are TLS (recognized by their first payload, on any
//! port) and, for each of their segments, the records it completed, as tshark 4.0.17 shows
//! them after its TCP reassembly. Streams that are not TLS cost one vector slot each.
//!
//! With a key log ([`TlsTracker::set_keylog`]) each TLS stream also gets a
//! [`Decryptor`]: every record a frame completes is decrypted when its secrets are logged, and
//! the stream's application data gets a sequence space of its own ([`PlainPosition`]), so the
//! HTTP analysis can read an HTTPS stream as it reads a cleartext one.

use keepsight_tls::record::starts_handshake;
use keepsight_tls::{
    ContentType, Decryptor, Direction, KeyLog, Opened, Record, RecordContext, SegmentRole, Session,
};
use std::sync::Arc;

/// What decryption made of one record of a frame (in the order of [`FrameTls::records`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenedRecord {
    /// The record was decrypted (else it was clear, or could not be decrypted).
    pub decrypted: bool,
    /// The plaintext's content type (TLS 1.3: the inner type).
    pub content_type: u8,
    /// Where its plaintext sits: in [`FrameTls::app`] for application data, else in
    /// [`FrameTls::other`].
    pub start: u32,
    /// End of the plaintext (exclusive).
    pub end: u32,
}

/// A frame's place in its decrypted stream's own sequence space: application data bytes
/// only, numbered from 1 after the SYN as TCP numbers its relative sequence; a FIN takes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainPosition {
    /// The sequence number of this frame's first application byte.
    pub seq: u32,
    /// The other direction's application data received so far (its next sequence number).
    pub ack: u32,
}

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
    /// With a key log: what decryption made of this frame's records (one reference, so a
    /// frame without a key log carries no more than a pointer for it).
    pub decrypted: Option<&'a Decrypted>,
}

/// What decryption made of one frame's records (reused by the tracker from frame to frame).
#[derive(Debug, Default)]
pub struct Decrypted {
    /// One entry per record of [`FrameTls::records`].
    opened: Vec<OpenedRecord>,
    /// The decrypted application data of the frame's records, concatenated.
    app: Vec<u8>,
    /// The plaintext of the other decrypted records (handshake messages, alerts).
    other: Vec<u8>,
    /// The decrypted application data goes to tshark's `data` (no application protocol
    /// dissector takes it: not HTTP by ALPN, port 443 or its first bytes).
    app_is_data: bool,
    /// On the frame whose payload made its stream TLS: its place in the application-data
    /// sequence space (nothing decrypted before it).
    first_plain: Option<PlainPosition>,
    /// A decrypted close_notify alert in this frame: its sender's application data ends
    /// here, as with a FIN on a cleartext stream.
    close_notify: bool,
}

impl Decrypted {
    fn clear(&mut self) {
        self.opened.clear();
        self.app.clear();
        self.other.clear();
        self.app_is_data = false;
        self.first_plain = None;
        self.close_notify = false;
    }
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

    /// One entry per record of [`FrameTls::records`] with a key log; empty without one.
    pub fn opened(&self) -> &'a [OpenedRecord] {
        self.decrypted.map_or(&[], |d| &d.opened)
    }

    /// The decrypted application data of this frame's records, concatenated.
    pub fn app(&self) -> &'a [u8] {
        self.decrypted.map_or(&[], |d| &d.app)
    }

    /// The stream's decrypted application data goes to tshark's `data` (no application
    /// protocol dissector takes it: not HTTP by ALPN, port 443 or its first bytes).
    pub fn app_is_data(&self) -> bool {
        self.decrypted.is_some_and(|d| d.app_is_data)
    }

    /// A decrypted close_notify alert is in this frame: its sender's application data ends
    /// here, as with a FIN on a cleartext stream.
    pub fn close_notify(&self) -> bool {
        self.decrypted.is_some_and(|d| d.close_notify)
    }

    /// On the frame whose payload made its stream TLS, with a key log: its place in the
    /// application-data sequence space.
    pub fn first_plain(&self) -> Option<PlainPosition> {
        self.decrypted.and_then(|d| d.first_plain)
    }

    /// [`FrameTls::records`], each with its decrypted content type and plaintext when a key
    /// log opened it.
    pub fn records_opened(
        &self,
    ) -> impl Iterator<Item = (Record<'a>, RecordContext, Option<(ContentType, &'a [u8])>)> + 'a
    {
        let this = *self;
        self.records().enumerate().map(move |(i, (r, ctx))| {
            let plain = this
                .opened()
                .get(i)
                .filter(|o| o.decrypted)
                .map(|o| (ContentType(o.content_type), this.plaintext(o)));
            (r, ctx, plain)
        })
    }

    /// The decrypted application data of each of this frame's records that has some: what
    /// tshark hands to `data` when no application protocol takes it.
    pub fn decrypted_app_data(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let this = *self;
        let opened = match self.decrypted {
            Some(d) if d.app_is_data => &d.opened[..],
            _ => &[],
        };
        opened
            .iter()
            .filter(|o| {
                o.decrypted && o.content_type == ContentType::APPLICATION_DATA.0 && o.end > o.start
            })
            .map(move |o| this.plaintext(o))
    }

    /// The plaintext of a record of [`FrameTls::opened`].
    pub fn plaintext(&self, r: &OpenedRecord) -> &'a [u8] {
        let Some(d) = self.decrypted else {
            return &[];
        };
        let buf = if r.content_type == ContentType::APPLICATION_DATA.0 {
            &d.app
        } else {
            &d.other
        };
        buf.get(r.start as usize..r.end as usize).unwrap_or(&[])
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
    /// With a key log: the stream's decryption state.
    decryptor: Option<Box<Decryptor>>,
    /// The frame whose records made the decryptor note why it could not decrypt (0: none).
    note_frame: u32,
    /// Per direction: application bytes decrypted so far, and 1 once a FIN was sent.
    plain_len: [u32; 2],
    fin: [u32; 2],
    /// Decided at the first decrypted application data: an application protocol tshark
    /// dissects (HTTP) takes it, so it is not `data`.
    app_taken: Option<bool>,
}

/// Every stream's TLS state, indexed by `tcp.stream`.
#[derive(Default)]
pub(crate) struct TlsTracker {
    /// Per stream: undecided, not TLS, or 2 + the index of its [`TlsStream`].
    slots: Vec<u32>,
    streams: Vec<TlsStream>,
    keys: Option<Arc<KeyLog>>,
    /// The current frame's decryption results (reused from frame to frame).
    decrypted: Decrypted,
    /// Where records are decrypted, for every stream.
    scratch: Vec<u8>,
}

impl TlsTracker {
    /// False for a stream already known not to be TLS: the one check its segments pay.
    #[inline]
    pub(crate) fn may_be_tls(&self, stream: u32) -> bool {
        self.slots.get(stream as usize) != Some(&NOT_TLS)
    }

    /// Decrypts TLS streams recognized from now on with the secrets of `keys`.
    pub(crate) fn set_keylog(&mut self, keys: Arc<KeyLog>) {
        self.keys = Some(keys);
    }

    /// Why decryption left records of TLS stream `stream` encrypted, if it did.
    pub(crate) fn decryption_note(&self, stream: u32) -> Option<&str> {
        let slot = *self.slots.get(stream as usize)?;
        if slot < 2 {
            return None;
        }
        self.streams[(slot - 2) as usize].decryptor.as_ref()?.note()
    }

    /// Every TLS stream (by `tcp.stream`) with records decryption left encrypted: the frame
    /// where that was first met, and why.
    pub(crate) fn decryption_notes(&self) -> impl Iterator<Item = (u32, u32, &str)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, &slot)| {
            let t = self.streams.get(slot.checked_sub(2)? as usize)?;
            let note = t.decryptor.as_ref()?.note()?;
            Some((i as u32, t.note_frame, note))
        })
    }

    /// For a frame of a decrypted TLS stream from `src`: its place in the stream's
    /// application-data sequence space before its own records are counted; a FIN is
    /// counted after.
    pub(crate) fn plain_position(
        &mut self,
        stream: u32,
        src: ([u8; 16], u16),
        fin: bool,
    ) -> Option<PlainPosition> {
        let slot = *self.slots.get(stream as usize)?;
        if slot < 2 {
            return None;
        }
        let t = &mut self.streams[(slot - 2) as usize];
        t.decryptor.as_ref()?;
        let dir = usize::from(src != t.first_sender);
        let pos = PlainPosition {
            seq: 1 + t.plain_len[dir] + t.fin[dir],
            ack: 1 + t.plain_len[1 - dir] + t.fin[1 - dir],
        };
        if fin {
            t.fin[dir] = 1;
        }
        Some(pos)
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn segment<'a>(
        &'a mut self,
        frame: u32,
        stream: u32,
        src: ([u8; 16], u16),
        dst_port: u16,
        seq: u32,
        payload: &'a [u8],
    ) -> Option<FrameTls<'a>> {
        let i = stream as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, UNDECIDED);
        }
        let mut first_plain = None;
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
                    decryptor: self.keys.as_ref().map(|_| Box::new(Decryptor::new())),
                    note_frame: 0,
                    plain_len: [0; 2],
                    fin: [0; 2],
                    app_taken: None,
                });
                self.slots[i] = self.streams.len() as u32 + 1;
                if self.keys.is_some() {
                    first_plain = Some(PlainPosition { seq: 1, ack: 1 });
                }
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
        let Some(keys) = self.keys.as_deref() else {
            for r in pushed.records(&t.dirs[dir], payload) {
                t.session.observe(dir, &r);
            }
            return Some(frame_tls(t, dir, start, &pushed, payload, None));
        };
        let out = &mut self.decrypted;
        out.clear();
        out.first_plain = first_plain;
        for r in pushed.records(&t.dirs[dir], payload) {
            t.session.observe(dir, &r);
            let Some(dec) = t.decryptor.as_mut() else {
                continue;
            };
            let opened = match dec.record(keys, dir, &r, &mut self.scratch) {
                Opened::Plain { content_type, data } => {
                    let buf = if content_type == ContentType::APPLICATION_DATA {
                        &mut out.app
                    } else {
                        &mut out.other
                    };
                    let start = buf.len() as u32;
                    buf.extend_from_slice(data);
                    OpenedRecord {
                        decrypted: true,
                        content_type: content_type.0,
                        start,
                        end: buf.len() as u32,
                    }
                }
                Opened::Clear | Opened::Opaque => OpenedRecord {
                    decrypted: false,
                    content_type: r.content_type().0,
                    start: 0,
                    end: 0,
                },
            };
            out.opened.push(opened);
        }
        if t.note_frame == 0 && t.decryptor.as_ref().is_some_and(|d| d.note().is_some()) {
            t.note_frame = frame;
        }
        t.plain_len[dir] = t.plain_len[dir].wrapping_add(out.app.len() as u32);
        out.close_notify = out.opened.iter().any(|o| {
            o.decrypted
                && o.content_type == ContentType::ALERT.0
                && out.other.get(o.start as usize + 1) == Some(&0)
        });
        if out.close_notify {
            t.fin[dir] = 1;
        }
        if t.app_taken.is_none() && !out.app.is_empty() {
            let alpn = t.decryptor.as_ref().and_then(|d| d.alpn());
            t.app_taken = Some(
                alpn.is_some_and(|a| a.starts_with(b"http/") || a.starts_with(b"h2"))
                    || src.1 == 443
                    || dst_port == 443
                    || looks_like_http(&out.app),
            );
        }
        out.app_is_data = t.app_taken == Some(false);
        Some(frame_tls(
            t,
            dir,
            start,
            &pushed,
            payload,
            Some(&self.decrypted),
        ))
    }
}

/// The frame's TLS layer from what its segment did to stream `t`'s direction `dir`.
fn frame_tls<'a>(
    t: &'a TlsStream,
    dir: usize,
    start: Session,
    pushed: &keepsight_tls::Pushed,
    payload: &'a [u8],
    decrypted: Option<&'a Decrypted>,
) -> FrameTls<'a> {
    let d = &t.dirs[dir];
    FrameTls {
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
        decrypted,
    }
}

/// The first bytes of an HTTP/1 request or response, as tshark's HTTP-over-TLS heuristic
/// takes them: a status line, or a request line (a method, then ` HTTP/1.x` at its end). A
/// bare `GET ` is not enough.
fn looks_like_http(b: &[u8]) -> bool {
    if b.starts_with(b"HTTP/1.") {
        return true;
    }
    let line = match b.windows(2).position(|w| w == b"\r\n") {
        Some(end) => &b[..end],
        None => return false,
    };
    keepsight_http::starts_with_method(line)
        && (line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
}
