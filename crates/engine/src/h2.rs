//! HTTP/2 frames per frame, on TCP streams decoded as `http2` (tshark's `-d
//! tcp.port==N,http2`): each direction's in-order payload cut into frames
//! (`keepsight-h2`), header blocks decoded in order, and the gRPC streams (content type
//! `application/grpc`) noted so their DATA reads as tshark's gRPC. Streams on other ports
//! cost nothing: the engine asks for this layer only when a decode-as rule matches.

use keepsight_h2::frame::{FrameHeader, HEADER_LEN};
use keepsight_h2::preface::{starts_preface, CLIENT_PREFACE};
use keepsight_h2::{
    Direction, FrameType, HeaderBlocks, HeaderList, HeadersOutcome, InOrder, Item, SegmentRole,
};
use std::ops::Range;

/// One item of a frame's HTTP/2 layer, with its place in [`FrameH2`]'s bytes.
#[derive(Clone, Debug)]
struct H2Item {
    /// `None` for the connection preface.
    header: Option<FrameHeader>,
    /// The item's bytes (frame header included).
    bytes: Range<usize>,
    /// The decoded header list of the block this frame belongs to, and the frame's place in
    /// the block.
    headers: Option<(usize, usize)>,
    body: Body,
}

/// What tshark hands a DATA frame's payload to, by the content type its sender declared on
/// the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Body {
    /// Not a DATA frame, or no dissector for its content type.
    #[default]
    Other,
    /// `application/grpc…`: tshark's gRPC (and protobuf) dissectors.
    Grpc,
    /// `text/plain`: tshark's line-based text dissector.
    TextPlain,
}

/// The header fields one frame of a header block carries (tshark attributes each field to the
/// frame its representation ends in).
#[derive(Clone, Copy, Debug)]
pub struct HeaderFields<'a> {
    /// The whole block's decoded list.
    pub list: &'a HeaderList,
    /// The frame's place in the block (0: HEADERS or PUSH_PROMISE).
    pub fragment: usize,
}

impl<'a> HeaderFields<'a> {
    /// The frame's fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.list.fragment(self.fragment)
    }

    /// The first value of `name` among the frame's fields.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// An HTTP/2 item as the field readers and columns see it.
#[derive(Clone, Copy, Debug)]
pub struct H2View<'a> {
    /// The frame; `None` for the connection preface ("Magic").
    pub frame: Option<keepsight_h2::Frame<'a>>,
    /// The item's bytes, frame header included (the `http2` protocol field).
    pub bytes: &'a [u8],
    /// The header fields of a HEADERS, PUSH_PROMISE or CONTINUATION frame, once its block
    /// was decoded in this segment.
    pub headers: Option<HeaderFields<'a>>,
    /// Where a non-empty DATA frame's payload goes.
    pub body: Body,
}

/// The HTTP/2 layer of one frame: a reference to the tracker's current layer, so a `Frame`
/// carries one pointer for it.
#[derive(Clone, Copy, Debug)]
pub struct FrameH2<'a> {
    layer: &'a Layer,
}

/// The current segment's items, in buffers reused from segment to segment.
#[derive(Debug, Default)]
struct Layer {
    dir: u8,
    role: SegmentRole,
    items: Vec<H2Item>,
    bytes: Vec<u8>,
    lists: Vec<HeaderList>,
}

impl<'a> FrameH2<'a> {
    /// Which direction of the stream sent it (0: the side that sent the first payload).
    pub fn dir(&self) -> u8 {
        self.layer.dir
    }

    /// What the segment did to the frame stream.
    pub fn role(&self) -> SegmentRole {
        self.layer.role
    }

    /// The items this segment completed, in order.
    pub fn items(&self) -> impl Iterator<Item = H2View<'a>> + 'a {
        let layer = self.layer;
        let (bytes, lists) = (&layer.bytes, &layer.lists);
        layer.items.iter().map(move |it| {
            let b = &bytes[it.bytes.clone()];
            H2View {
                frame: it.header.map(|header| keepsight_h2::Frame {
                    header,
                    payload: &b[HEADER_LEN..],
                }),
                bytes: b,
                headers: it.headers.map(|(i, fragment)| HeaderFields {
                    list: &lists[i],
                    fragment,
                }),
                body: it.body,
            }
        })
    }

    /// True when a DATA frame here went to tshark's gRPC dissector.
    pub fn has_grpc(&self) -> bool {
        self.layer.items.iter().any(|i| i.body == Body::Grpc)
    }

    /// True when a DATA frame here went to tshark's line-based text dissector.
    pub fn has_text(&self) -> bool {
        self.layer.items.iter().any(|i| i.body == Body::TextPlain)
    }
}

/// The streams whose content type is remembered per direction: enough for every call in
/// flight.
const BODIES_KEPT: usize = 256;

#[derive(Default)]
struct DirState {
    order: InOrder,
    frames: Option<Direction>,
    blocks: HeaderBlocks,
    /// The frames of the header block being received: their item in the current segment's
    /// layer, or `None` for a frame of an earlier segment.
    block_items: Vec<Option<usize>>,
    /// Streams whose DATA goes to a dissector, by the content type this side declared.
    bodies: Vec<(u32, Body)>,
}

struct H2Stream {
    first_sender: ([u8; 16], u16),
    dirs: [DirState; 2],
}

/// Notes what `stream`'s DATA from this side goes to (the latest header block decides).
fn remember_body(bodies: &mut Vec<(u32, Body)>, stream: u32, kind: Body) {
    bodies.retain(|(sid, _)| *sid != stream);
    if kind == Body::Other {
        return;
    }
    if bodies.len() == BODIES_KEPT {
        bodies.remove(0);
    }
    bodies.push((stream, kind));
}

/// Every decoded-as-HTTP/2 stream's state, indexed by `tcp.stream`, and the current frame's
/// layer (buffers reused from frame to frame).
#[derive(Default)]
pub(crate) struct H2Tracker {
    /// Per stream: 0 none yet, else 1 + the index of its [`H2Stream`].
    slots: Vec<u32>,
    streams: Vec<H2Stream>,
    layer: Layer,
}

impl H2Tracker {
    /// A segment without payload that ends direction `src` of `stream` (FIN) or the whole
    /// stream (RST): the frame buffers are freed.
    pub(crate) fn end(&mut self, stream: u32, src: ([u8; 16], u16), rst: bool) {
        let Some(&slot) = self.slots.get(stream as usize) else {
            return;
        };
        if slot == 0 {
            return;
        }
        let s = &mut self.streams[(slot - 1) as usize];
        let dir = usize::from(src != s.first_sender);
        for (i, d) in s.dirs.iter_mut().enumerate() {
            if rst || i == dir {
                if let Some(f) = &mut d.frames {
                    f.release();
                }
            }
        }
    }

    /// Feeds one payload segment of `stream` from `src` at sequence number `seq`; the
    /// frame's HTTP/2 layer when it completes or begins frames.
    pub(crate) fn segment<'a>(
        &'a mut self,
        stream: u32,
        src: ([u8; 16], u16),
        seq: u32,
        payload: &[u8],
    ) -> Option<FrameH2<'a>> {
        let i = stream as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, 0);
        }
        if self.slots[i] == 0 {
            self.streams.push(H2Stream {
                first_sender: src,
                dirs: [DirState::default(), DirState::default()],
            });
            self.slots[i] = self.streams.len() as u32;
        }
        let s = &mut self.streams[(self.slots[i] - 1) as usize];
        let dir = usize::from(src != s.first_sender);
        let d = &mut s.dirs[dir];
        let data = d.order.take(seq, payload)?;
        if data.is_empty() {
            return None;
        }
        let frames = d.frames.get_or_insert_with(|| {
            if starts_preface(data) {
                Direction::client()
            } else {
                Direction::server()
            }
        });
        let layer = &mut self.layer;
        let (items, bytes, lists) = (&mut layer.items, &mut layer.bytes, &mut layer.lists);
        items.clear();
        bytes.clear();
        lists.clear();
        let DirState {
            blocks,
            block_items,
            bodies,
            ..
        } = d;
        // Frames of a block begun in an earlier segment are no longer in the layer.
        block_items.iter_mut().for_each(|i| *i = None);
        let role = frames.push(data, |item| {
            let start = bytes.len();
            let index = items.len();
            let mut it = H2Item {
                header: None,
                bytes: 0..0,
                headers: None,
                body: Body::Other,
            };
            match item {
                Item::Magic => bytes.extend_from_slice(CLIENT_PREFACE),
                Item::Frame(f) => {
                    let h = f.header;
                    let mut raw = [0u8; HEADER_LEN];
                    raw[..3].copy_from_slice(&h.length.to_be_bytes()[1..]);
                    raw[3] = h.ty.0;
                    raw[4] = h.flags;
                    let sid = h.stream_id | (u32::from(h.reserved) << 31);
                    raw[5..].copy_from_slice(&sid.to_be_bytes());
                    bytes.extend_from_slice(&raw);
                    bytes.extend_from_slice(f.payload);
                    it.header = Some(h);
                    match h.ty {
                        FrameType::HEADERS | FrameType::PUSH_PROMISE => {
                            block_items.clear();
                            block_items.push(Some(index));
                        }
                        FrameType::CONTINUATION => block_items.push(Some(index)),
                        _ => {}
                    }
                    if let HeadersOutcome::Decoded(list) = blocks.on_frame(&f) {
                        let kind = match list.get("content-type") {
                            Some(c) if c.starts_with("application/grpc") => Body::Grpc,
                            Some("text/plain") => Body::TextPlain,
                            _ => Body::Other,
                        };
                        if h.ty != FrameType::PUSH_PROMISE {
                            remember_body(bodies, list.stream_id, kind);
                        }
                        for (k, slot) in block_items.iter().enumerate() {
                            match slot {
                                Some(i) if *i == index => it.headers = Some((lists.len(), k)),
                                Some(i) => items[*i].headers = Some((lists.len(), k)),
                                None => {}
                            }
                        }
                        block_items.clear();
                        lists.push(list);
                    }
                    if h.ty == FrameType::DATA && f.data().is_some_and(|d| !d.is_empty()) {
                        it.body = bodies
                            .iter()
                            .find(|(sid, _)| *sid == h.stream_id)
                            .map_or(Body::Other, |&(_, b)| b);
                    }
                }
            }
            it.bytes = start..bytes.len();
            items.push(it);
        });
        if role == SegmentRole::Lost {
            return None;
        }
        self.layer.dir = dir as u8;
        self.layer.role = role;
        Some(FrameH2 { layer: &self.layer })
    }
}
